//! Typed, validated requests the API layer hands to the domain. Parsing from query parameters
//! happens in the API crate; what arrives here is already well-formed, and the domain checks
//! the rules that need state (does the image exist, is the instance Stopped, ...).

use crate::InstanceStatus;
use ecslab_store::Tag;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDiskRequest {
    pub size_gib: i64,
    pub delete_with_instance: bool,
    pub name: String,
    pub description: String,
    pub category: String,
}

/// RunInstances and CreateInstance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInstances {
    pub image_id: String,
    pub instance_type: String,
    pub instance_name: Option<String>,
    pub description: String,
    pub host_name: String,
    pub amount: u32,
    pub unique_suffix: bool,
    pub system_disk_size_gib: Option<i64>,
    pub system_disk_category: String,
    pub data_disks: Vec<DataDiskRequest>,
    pub tags: Vec<Tag>,
    pub zone_id: Option<String>,
    pub dry_run: bool,
    /// RunInstances starts them; CreateInstance leaves them Stopped.
    pub start: bool,
    /// VSwitchId, SecurityGroupId(s), PrivateIpAddress, InternetMaxBandwidthOut.
    pub network: crate::network::InstanceNetwork,
}

/// A tag filter: a key, and optionally the value it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: Option<String>,
}

impl TagFilter {
    /// Whether `tags` hold this key (with this value, if the filter names one).
    pub fn matches(&self, tags: &[Tag]) -> bool {
        tags.iter().any(|t| t.key == self.key && self.value.as_ref().is_none_or(|v| v == &t.value))
    }
}

/// The two paging styles ECS offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    Pages { number: u32, size: u32 },
    Token { next_token: Option<String>, max_results: u32 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub instance_ids: Option<Vec<String>>,
    pub status: Option<InstanceStatus>,
    /// `*` matches any run of characters.
    pub name_pattern: Option<String>,
    pub tags: Vec<TagFilter>,
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    pub zone_id: Option<String>,
}

/// ImportImage with one disk image taken from a local bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportImage {
    pub name: Option<String>,
    pub description: String,
    pub platform: String,
    pub architecture: String,
    pub os_type: String,
    pub bucket: String,
    pub object: String,
    /// `qcow2`, `raw` or `vhd` (lowercase).
    pub format: String,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    pub image_ids: Option<Vec<String>>,
    pub name: Option<String>,
    /// Empty means the ECS default, `Available`.
    pub statuses: Vec<String>,
    pub owner_alias: Option<String>,
    /// Images holding this snapshot.
    pub snapshot_id: Option<String>,
    pub tags: Vec<TagFilter>,
}

/// CreateSnapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSnapshot {
    pub disk_id: String,
    pub name: String,
    pub description: String,
    /// Days until the snapshot is released automatically; 0 keeps it.
    pub retention_days: i64,
    pub tags: Vec<Tag>,
}

/// DescribeSnapshots filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    pub instance_id: Option<String>,
    pub disk_id: Option<String>,
    pub snapshot_ids: Option<Vec<String>>,
    pub name: Option<String>,
    /// `progressing`, `accomplished`, `failed`; None for all.
    pub status: Option<String>,
    /// `system` or `data`.
    pub source_disk_type: Option<String>,
    /// `image`, `disk`, `image_disk` or `none`.
    pub usage: Option<String>,
    pub tags: Vec<TagFilter>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    /// `SnapshotType=auto`: only automatic snapshots, which ecslab never takes.
    pub only_automatic: bool,
}

/// CreateDisk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDisk {
    pub size_gib: Option<i64>,
    pub snapshot_id: Option<String>,
    pub name: String,
    pub description: String,
    pub category: String,
    pub zone_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// DescribeDisks filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskFilter {
    pub disk_ids: Option<Vec<String>>,
    pub instance_id: Option<String>,
    /// `system` or `data`.
    pub disk_type: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    pub snapshot_id: Option<String>,
    pub portable: Option<bool>,
    pub tags: Vec<TagFilter>,
}

/// CreateImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateImage {
    pub snapshot_id: Option<String>,
    /// DiskDeviceMapping.N entries of DiskType `data`: (SnapshotId, Size in GiB if given).
    pub data_snapshots: Vec<(String, Option<i64>)>,
    pub instance_id: Option<String>,
    pub name: Option<String>,
    pub description: String,
    pub platform: String,
    pub architecture: String,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}
