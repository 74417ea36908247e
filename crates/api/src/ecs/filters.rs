//! The Describe* filters of ECS (DescribeInstances, DescribeDisks, DescribeSnapshots,
//! DescribeImages): each word parsed into the typed value the store filters on, with ECS's codes
//! for a word it does not know.

use crate::params::Params;
use ecslab_core::requests::{
    DiskFilter, ImageFilter, ImageOwnerAlias, InstanceFilter, SnapshotFilter, SnapshotUsage, TagFilter,
};
use ecslab_core::{DiskStatus, DiskType, Error, ImageStatus, InstanceStatus, Result, SnapshotStatus};
use std::fmt::Display;

pub(super) fn instance_filter(p: &Params) -> Result<InstanceFilter> {
    let status =
        match p.opt_str("Status") {
            None => None,
            Some(s) => Some(s.parse::<InstanceStatus>().map_err(|_| {
                Error::rejected("InvalidStatus.NotFound", "The specified Status is not found")
            })?),
        };
    Ok(InstanceFilter {
        instance_ids: p.json_list("InstanceIds", 100)?,
        status,
        name_pattern: p.opt_str("InstanceName"),
        tags: tag_filters(p)?,
        image_id: p.opt_str("ImageId"),
        instance_type: p.opt_str("InstanceType"),
        zone_id: p.opt_str("ZoneId"),
        key_pair_name: p.opt_str("KeyPairName"),
    })
}

/// `Tag.N.Key` with an optional `Tag.N.Value`, as Describe filters take them.
pub(super) fn tag_filters(p: &Params) -> Result<Vec<TagFilter>> {
    let mut tags = Vec::new();
    for fields in p.struct_list("Tag", 20)? {
        match fields.get("Key").cloned().filter(|k| !k.is_empty()) {
            Some(key) => tags.push(TagFilter { key, value: fields.get("Value").cloned() }),
            None => {
                return Err(Error::rejected(
                    "InvalidTag.Mismatch",
                    "The specified Tag.n.Key and Tag.n.Value are not match.",
                ))
            }
        }
    }
    Ok(tags)
}

pub(super) fn snapshot_filter(p: &Params) -> Result<SnapshotFilter> {
    let status =
        match p.opt_str("Status").as_deref() {
            None | Some("all") => None,
            Some(s) => Some(s.parse::<SnapshotStatus>().map_err(|_| {
                Error::rejected("InvalidStatus.NotFound", "The specified Status is not found")
            })?),
        };
    let only_automatic = match p.opt_str("SnapshotType").as_deref() {
        None | Some("all" | "user") => false,
        Some("auto") => true,
        Some(_) => {
            return Err(Error::rejected(
                "InvalidSnapshotType.NotFound",
                "The specfied SnapshotType is not found",
            ))
        }
    };
    let source_disk_type = match p.opt_str("SourceDiskType") {
        None => None,
        Some(t) => Some(word_ignoring_case(DiskType::ALL, &t).ok_or_else(|| {
            Error::rejected("InvalidSourceDiskType", "The specifed SourceDiskType is not valid")
        })?),
    };
    let usage = match p.opt_str("Usage") {
        None => None,
        Some(u) => Some(
            u.parse::<SnapshotUsage>()
                .map_err(|_| Error::rejected("InvalidUsage", "The specifed Usage is not valid"))?,
        ),
    };
    let (mut created_after, mut created_before) = (None, None);
    for fields in p.struct_list("Filter", 2)? {
        let value = fields.get("Value").cloned().unwrap_or_default();
        match fields.get("Key").map(String::as_str) {
            Some("CreationStartTime") => created_after = Some(filter_time(&value, ":00Z")?),
            Some("CreationEndTime") => created_before = Some(filter_time(&value, ":59Z")?),
            _ => {
                return Err(Error::rejected(
                    "InvalidFilterKey.NotFound",
                    "The specified Filter.N.Key is not supported.",
                ))
            }
        }
    }
    let snapshot_ids = p.json_list("SnapshotIds", 100).map_err(|_| {
        Error::rejected(
            "InvalidSnapshotIds.Malformed",
            "The amount of specified specified snapshot Ids exceeds the limit.",
        )
    })?;
    Ok(SnapshotFilter {
        instance_id: p.opt_str("InstanceId"),
        disk_id: p.opt_str("DiskId"),
        snapshot_ids,
        name: p.opt_str("SnapshotName"),
        status,
        source_disk_type,
        usage,
        tags: tag_filters(p)?,
        created_after,
        created_before,
        only_automatic,
    })
}

/// A `Filter.N.Value` time (`yyyy-MM-ddTHH:mmZ`, or with seconds) as a full RFC 3339 time, so
/// it compares correctly with creation times; `seconds` completes a minute-precision value.
pub(super) fn filter_time(value: &str, seconds: &str) -> Result<String> {
    let minute = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%MZ").is_ok();
    let second = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ").is_ok();
    match (minute, second) {
        (true, _) => Ok(format!("{}{seconds}", &value[..value.len() - 1])),
        (_, true) => Ok(value.to_string()),
        _ => Err(Error::invalid("Filter.N.Value", "Expected a UTC time like 2026-11-23T01:02Z.")),
    }
}

pub(super) fn disk_filter(p: &Params) -> Result<DiskFilter> {
    let disk_type = match p.opt_str("DiskType").as_deref() {
        None | Some("all") => None,
        Some(t) => Some(t.parse::<DiskType>().map_err(|_| {
            Error::rejected("InvalidDiskType.ValueNotSupported", "The specified DiskType is not supported.")
        })?),
    };
    let status = match p.opt_str("Status") {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("all") => None,
        Some(s) => Some(word_ignoring_case(DiskStatus::ALL, &s).ok_or_else(|| {
            Error::rejected("InvalidStatus.ValueNotSupported", "The specified disk status is not supported.")
        })?),
    };
    let disk_ids = p.json_list("DiskIds", 100).map_err(|e| match e {
        Error::InvalidParameter { detail, .. } if detail.starts_with("At most") => {
            Error::rejected("InvalidDiskIds.Malformed", "The amount of specified disk Ids exceeds the limit.")
        }
        _ => Error::rejected(
            "InvalidParameter.DiskIds",
            "The specified DiskIds is not a JSON array of disk ids.",
        ),
    })?;
    Ok(DiskFilter {
        disk_ids,
        instance_id: p.opt_str("InstanceId"),
        disk_type,
        status,
        name: p.opt_str("DiskName"),
        snapshot_id: p.opt_str("SnapshotId"),
        portable: p.opt_bool("Portable")?,
        tags: tag_filters(p)?,
    })
}

pub(super) fn image_filter(p: &Params) -> Result<ImageFilter> {
    let statuses = p
        .opt_str("Status")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|s| {
            s.parse::<ImageStatus>()
                .map_err(|_| Error::invalid("Status", format!("Unknown image status {s:?}.")))
        })
        .collect::<Result<Vec<_>>>()?;
    let owner_alias = match p.opt_str("ImageOwnerAlias") {
        None => None,
        Some(alias) => Some(alias.parse::<ImageOwnerAlias>().map_err(|_| {
            Error::rejected(
                "InvalidImageOwnerAlias.ValueNotSupported",
                "The specified ImageOwnerAlias is not supported.",
            )
        })?),
    };
    Ok(ImageFilter {
        image_ids: p.opt_str("ImageId").map(|s| s.split(',').map(|x| x.trim().to_string()).collect()),
        name: p.opt_str("ImageName"),
        statuses,
        owner_alias,
        snapshot_id: p.opt_str("SnapshotId"),
        tags: tag_filters(p)?,
    })
}

/// The value of `all` whose word is `word` ignoring ASCII case.
pub(super) fn word_ignoring_case<T: Copy + Display>(all: &[T], word: &str) -> Option<T> {
    all.iter().copied().find(|v| v.to_string().eq_ignore_ascii_case(word))
}
