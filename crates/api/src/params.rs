//! Typed access to RPC parameters. Every getter turns a bad value into the right Alibaba error
//! (`MissingParameter`, `InvalidParameter`, or an action-specific code), so no handler ever
//! unwraps user input.
//!
//! Conventions handled here (docs/api/FACTS.md §2.1, docs/api/WIRE.md): lists as `Name.1`, `Name.2`; lists of
//! structs as `Name.N.Field`; JSON-array strings (`InstanceIds`); booleans as `true`/`True`.

use ecslab_core::requests::Paging;
use ecslab_core::store::Tag;
use ecslab_core::{Error, Result};
use std::collections::BTreeMap;

/// Parameters that belong to the protocol, not to any action.
const COMMON: &[&str] = &[
    "Action",
    "Version",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "Format",
    "SecurityToken",
    "OwnerId",
    "OwnerAccount",
    "ResourceOwnerId",
    "ResourceOwnerAccount",
    "CallerParentId",
];

/// The action parameters of one request (protocol parameters removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        let map = pairs.into_iter().filter(|(k, _)| !COMMON.contains(&k.as_str())).collect();
        Params { map }
    }

    /// The parameters as sorted pairs (for idempotency digests).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A parameter that may be absent; an empty value counts as absent, as ECS does.
    pub fn opt_str(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    pub fn str(&self, name: &str) -> Result<String> {
        self.opt_str(name).ok_or_else(|| Error::missing(name))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Error::invalid(name, format!("Expected true or false, got {v:?}."))),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool> {
        Ok(self.opt_bool(name)?.unwrap_or(default))
    }

    /// An integer parameter within `min..=max`.
    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                Ok(n) => Err(Error::invalid(name, format!("{n} is out of range {min}..{max}."))),
                Err(_) => Err(Error::invalid(name, format!("Expected an integer, got {v:?}."))),
            },
        }
    }

    /// A JSON array of strings such as `InstanceIds=["i-a","i-b"]`, at most `max` long.
    pub fn json_list(&self, name: &str, max: usize) -> Result<Option<Vec<String>>> {
        let Some(raw) = self.opt_str(name) else { return Ok(None) };
        let list: Vec<String> = serde_json::from_str(&raw)
            .map_err(|_| Error::invalid(name, "Expected a JSON array of strings, e.g. [\"i-a\",\"i-b\"]."))?;
        if list.len() > max {
            return Err(Error::invalid(name, format!("At most {max} items are allowed.")));
        }
        Ok(Some(list))
    }

    /// The values of `Name.1`, `Name.2`, ... in index order.
    pub fn repeat_list(&self, name: &str, max: usize) -> Result<Vec<String>> {
        let mut items: Vec<(usize, String)> = Vec::new();
        let prefix = format!("{name}.");
        for (key, value) in &self.map {
            if let Some(index) = key.strip_prefix(&prefix) {
                let n: usize =
                    index.parse().map_err(|_| Error::invalid(key, "The list index must be a number."))?;
                if n == 0 || n > max {
                    return Err(Error::invalid(key, format!("The list index must be between 1 and {max}.")));
                }
                items.push((n, value.clone()));
            }
        }
        items.sort();
        Ok(items.into_iter().map(|(_, v)| v).collect())
    }

    /// Struct lists `Name.N.Field`: one map of fields per index, in index order.
    pub fn struct_list(&self, name: &str, max: usize) -> Result<Vec<BTreeMap<String, String>>> {
        let mut items: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
        let prefix = format!("{name}.");
        for (key, value) in &self.map {
            let Some(rest) = key.strip_prefix(&prefix) else { continue };
            let Some((index, field)) = rest.split_once('.') else { continue };
            let n: usize =
                index.parse().map_err(|_| Error::invalid(key, "The list index must be a number."))?;
            if n == 0 || n > max {
                return Err(Error::invalid(key, format!("The list index must be between 1 and {max}.")));
            }
            items.entry(n).or_default().insert(field.to_string(), value.clone());
        }
        Ok(items.into_values().collect())
    }

    /// `Tag.N.Key` / `Tag.N.Value` (N 1-20), validated as ECS does.
    pub fn tags(&self) -> Result<Vec<Tag>> {
        let mut tags: Vec<Tag> = Vec::new();
        for fields in self.struct_list("Tag", 20)? {
            let key = fields.get("Key").or_else(|| fields.get("key")).cloned().unwrap_or_default();
            let value = fields.get("Value").or_else(|| fields.get("value")).cloned().unwrap_or_default();
            let bad_text = |s: &str| s.starts_with("http://") || s.starts_with("https://");
            if key.is_empty()
                || key.chars().count() > 128
                || key.starts_with("acs:")
                || key.starts_with("aliyun")
                || bad_text(&key)
            {
                return Err(Error::rejected(
                    "InvalidTagKey.Malformed",
                    "The specified Tag.n.Key is not valid.",
                ));
            }
            if value.chars().count() > 128 || bad_text(&value) {
                return Err(Error::rejected(
                    "InvalidTagValue.Malformed",
                    "The specified Tag.n.Value is not valid.",
                ));
            }
            if tags.iter().any(|t| t.key == key) {
                return Err(Error::rejected("Duplicate.TagKey", "The Tag.N.Key contain duplicate key."));
            }
            tags.push(Tag { key, value });
        }
        Ok(tags)
    }

    /// Refuse parameters ecslab does not implement (a name, or a list `Name.N…`), unless absent,
    /// empty or `false`: nothing sent is ignored in silence.
    pub fn refuse(&self, names: &[&str]) -> Result<()> {
        for (key, value) in &self.map {
            let named = names
                .iter()
                .find(|n| key == *n || key.strip_prefix(*n).is_some_and(|rest| rest.starts_with('.')));
            if let Some(name) = named {
                if !value.is_empty() && !value.eq_ignore_ascii_case("false") {
                    return Err(Error::invalid(
                        key,
                        format!("ecslab does not implement {name}; leave it out."),
                    ));
                }
            }
        }
        Ok(())
    }

    /// ECS's two paging styles: NextToken/MaxResults wins over PageNumber/PageSize.
    pub fn paging(&self, max_page_size: i64) -> Result<Paging> {
        let token = self.opt_str("NextToken");
        let max_results = self.opt_int("MaxResults", 1, max_page_size)?;
        if token.is_some() || max_results.is_some() {
            return Ok(Paging::Token { next_token: token, max_results: max_results.unwrap_or(10) as u32 });
        }
        let number = self.opt_int("PageNumber", 1, i32::MAX as i64)?.unwrap_or(1) as u32;
        let size = self.opt_int("PageSize", 1, max_page_size)?.unwrap_or(10) as u32;
        Ok(Paging::Pages { number, size })
    }
}

/// Names (InstanceName, ImageName, DiskName): 2-128 characters, starting with a letter; letters,
/// digits, `:`, `_`, `.`, `-`; not starting with `http://` or `https://`.
pub fn check_name(value: &str, code: &'static str, label: &str) -> Result<()> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic());
    let rest_ok = value.chars().all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'));
    let len = value.chars().count();
    if first_ok && rest_ok && (2..=128).contains(&len) && !value.starts_with("http") {
        Ok(())
    } else {
        Err(Error::rejected(
            code,
            format!(
                "The specified {label} is wrongly formed: use 2-128 characters, starting with a letter, \
                 with letters, digits, ':', '_', '.' or '-'."
            ),
        ))
    }
}

/// Descriptions: empty, or 2-256 characters not starting with `http://` or `https://`.
pub fn check_description(value: &str) -> Result<()> {
    let len = value.chars().count();
    if (len == 0 || (2..=256).contains(&len))
        && !value.starts_with("http://")
        && !value.starts_with("https://")
    {
        Ok(())
    } else {
        Err(Error::rejected("InvalidDescription.Malformed", "The specified description is wrongly formed."))
    }
}

/// Parameters from pairs, for the parsers' unit tests.
#[cfg(test)]
pub(crate) fn test_params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::test_params as params;

    #[test]
    fn protocol_parameters_are_not_action_parameters() {
        let p = params(&[("Action", "X"), ("Signature", "s"), ("InstanceId", "i-1")]);
        assert_eq!(p.iter().count(), 1);
    }

    #[test]
    fn booleans_accept_python_capitals() {
        let p = params(&[("A", "True"), ("B", "false"), ("C", "yes")]);
        assert_eq!(p.opt_bool("A").unwrap(), Some(true));
        assert_eq!(p.opt_bool("B").unwrap(), Some(false));
        assert_eq!(p.opt_bool("C").unwrap_err().code(), "InvalidParameter");
        assert_eq!(p.opt_bool("D").unwrap(), None);
    }

    #[test]
    fn integers_are_range_checked() {
        let p = params(&[("Amount", "0"), ("Size", "abc"), ("Ok", "5")]);
        assert!(p.opt_int("Amount", 1, 100).is_err());
        assert!(p.opt_int("Size", 1, 100).is_err());
        assert_eq!(p.opt_int("Ok", 1, 100).unwrap(), Some(5));
    }

    #[test]
    fn lists_in_all_three_shapes() {
        let p = params(&[
            ("InstanceIds", "[\"i-a\", \"i-b\"]"),
            ("InstanceId.2", "i-2"),
            ("InstanceId.1", "i-1"),
            ("DataDisk.1.Size", "5"),
            ("DataDisk.2.Size", "6"),
            ("DataDisk.2.DiskName", "two"),
        ]);
        assert_eq!(p.json_list("InstanceIds", 100).unwrap().unwrap(), vec!["i-a", "i-b"]);
        assert_eq!(p.repeat_list("InstanceId", 100).unwrap(), vec!["i-1", "i-2"]);
        let disks = p.struct_list("DataDisk", 16).unwrap();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[1]["DiskName"], "two");
        assert!(params(&[("InstanceIds", "i-a")]).json_list("InstanceIds", 100).is_err());
        assert!(params(&[("DataDisk.17.Size", "1")]).struct_list("DataDisk", 16).is_err());
    }

    #[test]
    fn tags_are_validated() {
        let ok = params(&[("Tag.1.Key", "env"), ("Tag.1.Value", "ci test")]).tags().unwrap();
        assert_eq!(ok, vec![Tag { key: "env".into(), value: "ci test".into() }]);
        let dup = params(&[("Tag.1.Key", "a"), ("Tag.2.Key", "a")]).tags().unwrap_err();
        assert_eq!(dup.code(), "Duplicate.TagKey");
        let bad = params(&[("Tag.1.Key", "acs:x")]).tags().unwrap_err();
        assert_eq!(bad.code(), "InvalidTagKey.Malformed");
    }

    #[test]
    fn names() {
        assert!(check_name("web-01", "C", "name").is_ok());
        assert!(check_name("1web", "C", "name").is_err());
        assert!(check_name("w", "C", "name").is_err());
        assert!(check_name("has space", "C", "name").is_err());
    }
}
