//! Routing PAI-DSW's REST paths and parsing their parameters (pure, unit tested).

use crate::params::Params;
use ecslab_core::instance_snapshots::{CreateInstanceSnapshot, InstanceSnapshotListing, SnapshotSortKey};
use ecslab_core::store::Tag;
use ecslab_core::{Error, Result};
use serde_json::Value;

/// One parsed PAI-DSW request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaiRequest {
    CreateInstanceSnapshot(CreateInstanceSnapshot),
    GetInstanceSnapshot { instance_id: String, snapshot_id: String },
    ListInstanceSnapshot { instance_id: String, listing: InstanceSnapshotListing },
    DeleteInstanceSnapshot { instance_id: String, snapshot_id: String },
}

/// Every PAI-DSW path starts with this.
pub(crate) const PATH_PREFIX: &str = "/api/v2/instances/";

/// The action a method and raw path name, with the request parsed; `None` when no route
/// matches. Path segments arrive percent-encoded (RFC 3986) and are decoded here.
/// The action name is known from the route even when the parameters do not parse.
pub fn route(
    method: &str,
    raw_path: &str,
    query: &Params,
    body: &[u8],
) -> Option<(&'static str, Result<PaiRequest>)> {
    let rest = raw_path.strip_prefix(PATH_PREFIX)?;
    let segments: Vec<String> = rest.split('/').map(decode).collect::<Option<_>>()?;
    Some(match (method, segments.as_slice()) {
        ("POST", [instance_id, s]) if s == "snapshots" => {
            ("CreateInstanceSnapshot", create(instance_id, body))
        }
        ("GET", [instance_id, s]) if s == "snapshots" => ("ListInstanceSnapshot", list(instance_id, query)),
        ("GET", [instance_id, s, snapshot_id]) if s == "snapshots" => (
            "GetInstanceSnapshot",
            ids(instance_id, snapshot_id).map(|(instance_id, snapshot_id)| PaiRequest::GetInstanceSnapshot {
                instance_id,
                snapshot_id,
            }),
        ),
        ("DELETE", [instance_id, s, snapshot_id]) if s == "snapshots" => (
            "DeleteInstanceSnapshot",
            ids(instance_id, snapshot_id).map(|(instance_id, snapshot_id)| {
                PaiRequest::DeleteInstanceSnapshot { instance_id, snapshot_id }
            }),
        ),
        _ => return None,
    })
}

fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(|s| s.into_owned())
}

fn ids(instance_id: &str, snapshot_id: &str) -> Result<(String, String)> {
    Ok((required("InstanceId", instance_id)?, required("SnapshotId", snapshot_id)?))
}

fn required(name: &str, value: &str) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::missing(name));
    }
    Ok(value.to_string())
}

fn create(instance_id: &str, body: &[u8]) -> Result<PaiRequest> {
    let instance_id = required("InstanceId", instance_id)?;
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Error::invalid("body", format!("The request body is not valid JSON: {e}.")))?
    };
    let Value::Object(fields) = body else {
        return Err(Error::invalid("body", "The request body must be a JSON object."));
    };
    let text = |name: &str| -> Result<Option<String>> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(name, format!("{name} must be a string."))),
        }
    };
    let name = text("SnapshotName")?.ok_or_else(|| Error::missing("SnapshotName"))?;
    let name_ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(Error::invalid(
            "SnapshotName",
            format!("SnapshotName {name:?} must be 1-128 lowercase letters, digits and hyphens."),
        ));
    }
    let image_url = text("ImageUrl")?.ok_or_else(|| Error::missing("ImageUrl"))?;
    if image_url.trim().is_empty() || image_url.len() > 512 {
        return Err(Error::invalid("ImageUrl", "ImageUrl must be 1-512 characters."));
    }
    let description = text("SnapshotDescription")?.unwrap_or_default();
    if description.chars().count() > 1024 {
        return Err(Error::invalid(
            "SnapshotDescription",
            "SnapshotDescription is longer than 1024 characters.",
        ));
    }
    let overwrite = match fields.get("Overwrite") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(Error::invalid("Overwrite", "Overwrite must be true or false.")),
    };
    let exclude_paths = match fields.get("ExcludePaths") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() <= 100 => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::invalid("ExcludePaths", "ExcludePaths must be a list of strings."))?,
        Some(_) => {
            return Err(Error::invalid("ExcludePaths", "ExcludePaths must be a list of at most 100 paths."))
        }
    };
    let labels = match fields.get("Labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() <= 20 => items
            .iter()
            .map(|v| {
                let key = v.get("Key").and_then(Value::as_str).filter(|k| !k.is_empty())?;
                let value = v.get("Value").and_then(Value::as_str).unwrap_or_default();
                Some(Tag { key: key.to_string(), value: value.to_string() })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                Error::invalid("Labels", "Each label needs a non-empty string Key and a string Value.")
            })?,
        Some(_) => return Err(Error::invalid("Labels", "Labels must be a list of at most 20 {Key, Value}.")),
    };
    Ok(PaiRequest::CreateInstanceSnapshot(CreateInstanceSnapshot {
        instance_id,
        name,
        image_url,
        description,
        overwrite,
        exclude_paths,
        labels,
    }))
}

fn list(instance_id: &str, query: &Params) -> Result<PaiRequest> {
    let instance_id = required("InstanceId", instance_id)?;
    let page_number = query.opt_int("PageNumber", 1, i64::from(i32::MAX))?.unwrap_or(1);
    let page_size = query.opt_int("PageSize", 1, 100)?.unwrap_or(10);
    let sort_by = match query.opt_str("SortBy").filter(|s| !s.is_empty()) {
        None => SnapshotSortKey::GmtCreateTime,
        Some(s) => match s.as_str() {
            "GmtCreateTime" | "gmtCreate" | "GmtCreate" => SnapshotSortKey::GmtCreateTime,
            "GmtModifiedTime" | "gmtModified" | "GmtModified" => SnapshotSortKey::GmtModifiedTime,
            "SnapshotName" => SnapshotSortKey::SnapshotName,
            "Status" => SnapshotSortKey::Status,
            other => {
                return Err(Error::invalid(
                    "SortBy",
                    format!(
                    "SortBy {other:?} is not one of GmtCreateTime, GmtModifiedTime, SnapshotName, Status."
                ),
                ))
            }
        },
    };
    let descending = match query.opt_str("Order").filter(|s| !s.is_empty()) {
        None => true,
        Some(o) if o.eq_ignore_ascii_case("desc") => true,
        Some(o) if o.eq_ignore_ascii_case("asc") => false,
        Some(o) => return Err(Error::invalid("Order", format!("Order {o:?} is neither ASC nor DESC."))),
    };
    Ok(PaiRequest::ListInstanceSnapshot {
        instance_id,
        listing: InstanceSnapshotListing { page_number, page_size, sort_by, descending },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_query() -> Params {
        Params::from_pairs(Vec::<(String, String)>::new())
    }

    #[test]
    fn routes_by_method_and_path() {
        let body = br#"{"SnapshotName":"s-1","ImageUrl":"img:v1","ExcludePaths":["/tmp/x"],"Labels":[{"Key":"k","Value":"v"}],"Overwrite":true}"#;
        let Some(("CreateInstanceSnapshot", Ok(PaiRequest::CreateInstanceSnapshot(req)))) =
            route("POST", "/api/v2/instances/i-1/snapshots", &no_query(), body)
        else {
            panic!("create not routed")
        };
        assert_eq!(req.instance_id, "i-1");
        assert_eq!(req.exclude_paths, vec!["/tmp/x"]);
        assert!(req.overwrite);
        assert_eq!(req.labels[0].key, "k");
        assert!(matches!(
            route("GET", "/api/v2/instances/i-1/snapshots/snp-2", &no_query(), b""),
            Some(("GetInstanceSnapshot", Ok(PaiRequest::GetInstanceSnapshot { .. })))
        ));
        assert!(matches!(
            route("DELETE", "/api/v2/instances/i%2D1/snapshots/snp-2", &no_query(), b""),
            Some(("DeleteInstanceSnapshot", Ok(PaiRequest::DeleteInstanceSnapshot { instance_id, .. })))
                if instance_id == "i-1"
        ));
        assert!(route("PUT", "/api/v2/instances/i-1/snapshots", &no_query(), b"").is_none());
        assert!(route("GET", "/api/v2/other", &no_query(), b"").is_none());
    }

    #[test]
    fn refuses_bad_bodies_with_the_field_named() {
        for (body, field) in [
            (&br#"{"ImageUrl":"x"}"#[..], "SnapshotName"),
            (br#"{"SnapshotName":"Bad_Name","ImageUrl":"x"}"#, "SnapshotName"),
            (br#"{"SnapshotName":"ok"}"#, "ImageUrl"),
            (br#"{"SnapshotName":"ok","ImageUrl":"x","ExcludePaths":"/tmp"}"#, "ExcludePaths"),
            (br#"not json"#, "body"),
        ] {
            let err =
                route("POST", "/api/v2/instances/i-1/snapshots", &no_query(), body).unwrap().1.unwrap_err();
            assert!(err.to_string().contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn lists_with_paging_and_order() {
        let query = Params::from_pairs([
            ("PageNumber".to_string(), "2".to_string()),
            ("PageSize".to_string(), "5".to_string()),
            ("Order".to_string(), "ASC".to_string()),
        ]);
        let Some(("ListInstanceSnapshot", Ok(PaiRequest::ListInstanceSnapshot { listing, .. }))) =
            route("GET", "/api/v2/instances/i-1/snapshots", &query, b"")
        else {
            panic!("list not routed")
        };
        assert_eq!((listing.page_number, listing.page_size, listing.descending), (2, 5, false));
        let bad = Params::from_pairs([("Order".to_string(), "sideways".to_string())]);
        assert!(route("GET", "/api/v2/instances/i-1/snapshots", &bad, b"").unwrap().1.is_err());
    }

    #[test]
    fn sort_by_takes_its_words_and_aliases() {
        let sort_by = |word: &str| {
            let query = Params::from_pairs([("SortBy".to_string(), word.to_string())]);
            match route("GET", "/api/v2/instances/i-1/snapshots", &query, b"").unwrap().1 {
                Ok(PaiRequest::ListInstanceSnapshot { listing, .. }) => Ok(listing.sort_by),
                Ok(_) => panic!("not a listing"),
                Err(e) => Err(e.code()),
            }
        };
        for (word, key) in [
            ("", SnapshotSortKey::GmtCreateTime),
            ("GmtCreateTime", SnapshotSortKey::GmtCreateTime),
            ("gmtCreate", SnapshotSortKey::GmtCreateTime),
            ("GmtCreate", SnapshotSortKey::GmtCreateTime),
            ("GmtModifiedTime", SnapshotSortKey::GmtModifiedTime),
            ("gmtModified", SnapshotSortKey::GmtModifiedTime),
            ("GmtModified", SnapshotSortKey::GmtModifiedTime),
            ("SnapshotName", SnapshotSortKey::SnapshotName),
            ("Status", SnapshotSortKey::Status),
        ] {
            assert_eq!(sort_by(word), Ok(key), "{word:?}");
        }
        for word in ["status", "snapshotName", "Size"] {
            assert_eq!(sort_by(word), Err("InvalidParameter"), "{word:?} is refused as before");
        }
    }
}
