//! The encodings every signature scheme is built from.
//!
//! Signatures are computed over *canonical* text, never over the bytes on the
//! wire, so the server has to undo the client's transport encoding exactly
//! (form-decoding, where `+` is a space) and then re-apply the one encoding the
//! signature defines (RFC 3986, where a space is `%20`). Getting either step
//! slightly wrong makes every request with a space, `*`, `~` or non-ASCII value
//! fail, so both live here, once, with their tests.

use std::borrow::Cow;

use http::HeaderValue;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything except the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~`.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// RFC 3986 percent-encoding as the Alibaba Cloud signatures define it:
/// UTF-8 bytes, upper-case hex, space → `%20`, `*` → `%2A`, `~` kept.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// `application/x-www-form-urlencoded` decoding of a query string or form
/// body: split on `&`, skip empty pieces, split each at the first `=` (a bare
/// `k` means an empty value), `+` is a space, `%XX` decoded, invalid UTF-8
/// replaced by U+FFFD. Order and duplicates are kept.
pub fn form_decode(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A header value as text. Values are almost always visible ASCII; anything
/// else (obs-text) is decoded lossily rather than rejected, so a strange header
/// makes the signature mismatch instead of failing differently.
pub fn header_text(v: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(v.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_follows_rfc3986() {
        assert_eq!(percent_encode("a b*c~d-e_f.g"), "a%20b%2Ac~d-e_f.g");
        assert_eq!(percent_encode("/:=&+%"), "%2F%3A%3D%26%2B%25");
        assert_eq!(percent_encode("快"), "%E5%BF%AB");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn form_decode_handles_plus_empty_and_bare_keys() {
        let got = form_decode(b"a=1+2&&b=&c&d=x%2By%3D&e=%zz&a=again");
        let want = [("a", "1 2"), ("b", ""), ("c", ""), ("d", "x+y="), ("e", "%zz"), ("a", "again")];
        let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn form_decode_is_lossy_not_panicky() {
        let got = form_decode(b"k=%FF%FE&%C3=v");
        assert_eq!(got[0].1, "\u{FFFD}\u{FFFD}");
        assert_eq!(got[1].0, "\u{FFFD}");
    }
}
