//! Paging of Describe* results, shared by every list action. The resource lists (instances,
//! disks, snapshots, images) are filtered and cut in SQL: [`window`] says which rows the store
//! reads and [`page_of`] answers with them. Small lists (tasks, desktops) are cut here by
//! [`paginate`].
//!
//! NextToken is opaque to clients: it encodes the sort key of the last item returned, so it
//! stays valid and stable while items are created (they sort after the existing ones) or
//! deleted (the next page starts after where the last item sorted, whether or not it still
//! exists).

use crate::requests::Paging;
use crate::{Error, Result};
use base64::Engine;
use ecslab_store::{ListedPage, PageWindow};

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
}

fn encode_token(last_key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{last_key}"))
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("after:").map(str::to_string)
}

/// Cut one page out of `items`, which are filtered and sorted ascending by `key_of` (a string
/// that orders items the way the list does, unique per item, such as `created_at|id`).
pub fn paginate<T>(items: Vec<T>, paging: &Paging, key_of: impl Fn(&T) -> String) -> Result<Page<T>> {
    let total_count = items.len();
    match paging {
        Paging::Pages { number, size } => {
            let start = (*number as usize - 1).saturating_mul(*size as usize);
            let items: Vec<T> = items.into_iter().skip(start).take(*size as usize).collect();
            Ok(Page { items, total_count, page_number: *number, page_size: *size, next_token: String::new() })
        }
        Paging::Token { next_token, max_results } => {
            let start = match next_token {
                None => 0,
                Some(token) => {
                    let last = decode_token(token).ok_or_else(|| {
                        Error::invalid("NextToken", "The NextToken is not one this server issued.")
                    })?;
                    items.iter().position(|item| key_of(item) > last).unwrap_or(items.len())
                }
            };
            let page: Vec<T> = items.into_iter().skip(start).take(*max_results as usize).collect();
            let more = start + page.len() < total_count;
            let next_token = match (more, page.last()) {
                (true, Some(last)) => encode_token(&key_of(last)),
                _ => String::new(),
            };
            Ok(Page { items: page, total_count, page_number: 1, page_size: *max_results, next_token })
        }
    }
}

/// The sort key of an item listed by creation time, as NextToken carries it.
pub fn sort_key(created_at: &str, id: &str) -> String {
    format!("{created_at}|{id}")
}

/// The rows a page asks the store for (lists paged in SQL, in `created_at, id` order).
pub fn window(paging: &Paging) -> Result<PageWindow> {
    window_with(paging, BareKeys::Refused)
}

/// As [`window`], for DescribeDisks and DescribeSnapshots, which took a token whose key has no
/// `|` before they were paged in SQL (as the rows whose `created_at|id` sorts after the key) and
/// still do: the key is read as `(key, "")`, which picks the same rows whenever no `created_at`
/// is a proper prefix of the key (no token this server issues has such a key).
pub fn window_with_bare_keys(paging: &Paging) -> Result<PageWindow> {
    window_with(paging, BareKeys::Accepted)
}

/// Whether a NextToken key without the `created_at|id` separator is refused.
#[derive(Clone, Copy)]
enum BareKeys {
    Refused,
    Accepted,
}

fn window_with(paging: &Paging, bare_keys: BareKeys) -> Result<PageWindow> {
    Ok(match paging {
        Paging::Pages { number, size } => PageWindow::Offset {
            offset: u64::from(number.saturating_sub(1)).saturating_mul(u64::from(*size)),
            limit: u64::from(*size),
        },
        Paging::Token { next_token, max_results } => {
            let key = match next_token {
                None => None,
                Some(token) => {
                    let forged =
                        || Error::invalid("NextToken", "The NextToken is not one this server issued.");
                    let last = decode_token(token).ok_or_else(forged)?;
                    match (last.split_once('|'), bare_keys) {
                        (Some((created_at, id)), _) => Some((created_at.to_string(), id.to_string())),
                        (None, BareKeys::Accepted) => Some((last, String::new())),
                        (None, BareKeys::Refused) => return Err(forged()),
                    }
                }
            };
            PageWindow::After { key, limit: u64::from(*max_results) }
        }
    })
}

/// The answer for a page the store cut (see [`window`]).
pub fn page_of<T>(listed: ListedPage<T>, paging: &Paging, key_of: impl Fn(&T) -> String) -> Page<T> {
    let total_count = usize::try_from(listed.total).unwrap_or(usize::MAX);
    match paging {
        Paging::Pages { number, size } => Page {
            items: listed.items,
            total_count,
            page_number: *number,
            page_size: *size,
            next_token: String::new(),
        },
        Paging::Token { max_results, .. } => {
            let next_token = match (listed.more, listed.items.last()) {
                (true, Some(last)) => encode_token(&key_of(last)),
                _ => String::new(),
            };
            Page { items: listed.items, total_count, page_number: 1, page_size: *max_results, next_token }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("i-{i:03}")).collect()
    }

    #[allow(clippy::ptr_arg)] // the key function of a Vec<String> gets &String
    fn key(s: &String) -> String {
        s.to_string()
    }

    #[test]
    fn token_paging_survives_deleting_the_last_item_seen() {
        let items = ids(6);
        let first =
            paginate(items.clone(), &Paging::Token { next_token: None, max_results: 2 }, key).unwrap();
        let mut rest = items.clone();
        rest.retain(|i| i != "i-001");
        let next = Paging::Token { next_token: Some(first.next_token), max_results: 2 };
        assert_eq!(paginate(rest, &next, key).unwrap().items, vec!["i-002".to_string(), "i-003".to_string()]);
    }

    #[test]
    fn token_paging_walks_every_item_once() {
        let items = ids(25);
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let page =
                paginate(items.clone(), &Paging::Token { next_token: token, max_results: 10 }, key).unwrap();
            seen.extend(page.items);
            if page.next_token.is_empty() {
                break;
            }
            token = Some(page.next_token);
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn forged_tokens_are_refused() {
        let err = paginate(ids(3), &Paging::Token { next_token: Some("%%%".into()), max_results: 10 }, key)
            .unwrap_err();
        assert_eq!(err.code(), "InvalidParameter");
    }

    #[test]
    fn page_numbers_count_from_one() {
        let page = paginate(ids(25), &Paging::Pages { number: 3, size: 10 }, key).unwrap();
        assert_eq!(page.items, ids(25)[20..].to_vec());
        assert_eq!(page.total_count, 25);
    }

    #[test]
    fn store_windows_match_the_paging_style() {
        let pages = window(&Paging::Pages { number: 3, size: 10 }).unwrap();
        assert_eq!(pages, PageWindow::Offset { offset: 20, limit: 10 });
        let token = encode_token(&sort_key("2026-01-01T00:00:00Z", "i-7"));
        let after = window(&Paging::Token { next_token: Some(token), max_results: 5 }).unwrap();
        let key = Some(("2026-01-01T00:00:00Z".to_string(), "i-7".to_string()));
        assert_eq!(after, PageWindow::After { key, limit: 5 });
        let keyless = Paging::Token { next_token: Some(encode_token("no-separator")), max_results: 5 };
        assert_eq!(window(&keyless).unwrap_err().code(), "InvalidParameter");
        let bare = window_with_bare_keys(&keyless).unwrap();
        assert_eq!(bare, PageWindow::After { key: Some(("no-separator".into(), String::new())), limit: 5 });
        let forged = Paging::Token { next_token: Some("%%%".into()), max_results: 5 };
        assert_eq!(window_with_bare_keys(&forged).unwrap_err().code(), "InvalidParameter");
    }

    #[test]
    fn a_token_is_issued_only_when_rows_follow() {
        let paging = Paging::Token { next_token: None, max_results: 2 };
        let more = page_of(ListedPage { items: ids(2), total: 5, more: true }, &paging, key);
        assert_eq!((more.total_count, more.next_token.is_empty()), (5, false));
        let last = page_of(ListedPage { items: ids(2), total: 2, more: false }, &paging, key);
        assert!(last.next_token.is_empty());
    }
}
