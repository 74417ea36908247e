//! Typed, validated requests the API layer hands to the domain. Parsing from query parameters
//! happens in the API crate; what arrives here is already well-formed, and the domain checks
//! the rules that need state (does the image exist, is the instance Stopped, ...). A parameter
//! that takes one of a closed set of words arrives as an enum (the store's statuses and
//! [`DiskType`], or the ones here), never as the word.

use crate::InstanceStatus;
use ecslab_store::{DiskStatus, DiskType, ImageStatus, SnapshotStatus, SnapshotUse, Tag};

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
    pub network: InstanceNetwork,
    /// KeyPairName, Password, UserData.
    pub guest: GuestRequest,
}

/// What a request asks the guest to be given (RunInstances, ReplaceSystemDisk); checked by the
/// parser, the key pair's existence by the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestRequest {
    pub key_pair_name: Option<String>,
    pub password: Option<crate::guest_settings::Password>,
    pub user_data: Option<crate::guest_settings::UserData>,
    /// HttpEndpoint and HttpTokens (RunInstances only; `None`: enabled, optional).
    pub metadata: MetadataOptions,
}

/// The metadata service's options for an instance (RunInstances, ModifyInstanceMetadataOptions); `None` leaves an
/// option as it is (or, for a new instance, at its default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetadataOptions {
    pub http_endpoint: Option<ecslab_store::MetadataEndpoint>,
    pub http_tokens: Option<ecslab_store::MetadataTokens>,
}

/// Where RunInstances puts an instance on the network (parsed; the network service checks it against the records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceNetwork {
    pub vswitch_id: Option<String>,
    /// SecurityGroupId or SecurityGroupIds.N (empty: the VPC's default group).
    pub security_group_ids: Vec<String>,
    pub private_ip: Option<std::net::Ipv4Addr>,
    /// InternetMaxBandwidthOut (Mbit/s): a public address when above 0.
    pub internet_max_bandwidth_out: u32,
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
    /// KeyPairName: instances bound to this key pair.
    pub key_pair_name: Option<String>,
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
    /// Not `vmdk`.
    pub format: DiskImageFormat,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    pub image_ids: Option<Vec<String>>,
    pub name: Option<String>,
    /// Empty means the ECS default, `Available`.
    pub statuses: Vec<ImageStatus>,
    pub owner_alias: Option<ImageOwnerAlias>,
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
    /// None for all.
    pub status: Option<SnapshotStatus>,
    pub source_disk_type: Option<DiskType>,
    pub usage: Option<SnapshotUsage>,
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
    pub disk_type: Option<DiskType>,
    pub status: Option<DiskStatus>,
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

use ecslab_store::words;

/// A snapshot's ECS `Usage`: what was made from it (DescribeSnapshots shows it and filters on
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotUsage {
    /// Images (that are not deleted) and disks.
    ImageDisk,
    /// Images only.
    Image,
    /// Disks only.
    Disk,
    /// Nothing.
    None,
}

words!(SnapshotUsage, "snapshot usage", [
    ImageDisk => "image_disk",
    Image => "image",
    Disk => "disk",
    None => "none",
]);

impl SnapshotUsage {
    /// What the snapshot was made into, in the store's terms.
    pub fn to_use(self) -> SnapshotUse {
        let (by_images, by_disks) = match self {
            SnapshotUsage::ImageDisk => (true, true),
            SnapshotUsage::Image => (true, false),
            SnapshotUsage::Disk => (false, true),
            SnapshotUsage::None => (false, false),
        };
        SnapshotUse { by_images, by_disks }
    }

    /// The usage of a snapshot made into `used`.
    pub fn of(used: SnapshotUse) -> SnapshotUsage {
        match (used.by_images, used.by_disks) {
            (true, true) => SnapshotUsage::ImageDisk,
            (true, false) => SnapshotUsage::Image,
            (false, true) => SnapshotUsage::Disk,
            (false, false) => SnapshotUsage::None,
        }
    }
}

/// A disk image file's format, as ImportImage (`qcow2`, `raw`, `vhd`) and ExportImage (also
/// `vmdk`) name it, in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskImageFormat {
    Qcow2,
    Raw,
    Vhd,
    Vmdk,
}

words!(DiskImageFormat, "image format", [
    Qcow2 => "qcow2",
    Raw => "raw",
    Vhd => "vhd",
    Vmdk => "vmdk",
]);

impl DiskImageFormat {
    /// qemu-img's name for the format.
    pub fn qemu_name(self) -> &'static str {
        match self {
            DiskImageFormat::Vhd => "vpc",
            other => other.as_str(),
        }
    }
}

/// DescribeImages' `ImageOwnerAlias`. ecslab holds only the account's own images (`self`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageOwnerAlias {
    System,
    OwnImages,
    Others,
    Marketplace,
}

words!(ImageOwnerAlias, "image owner alias", [
    System => "system",
    OwnImages => "self",
    Others => "others",
    Marketplace => "marketplace",
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_usage_words_and_uses_round_trip() {
        for &usage in SnapshotUsage::ALL {
            assert_eq!(usage.as_str().parse::<SnapshotUsage>(), Ok(usage));
            assert_eq!(serde_json::to_value(usage).unwrap(), serde_json::json!(usage.as_str()));
            assert_eq!(SnapshotUsage::of(usage.to_use()), usage);
        }
        assert!("Image".parse::<SnapshotUsage>().is_err(), "the words are exact");
        for &alias in ImageOwnerAlias::ALL {
            assert_eq!(alias.as_str().parse::<ImageOwnerAlias>(), Ok(alias));
        }
        for &format in DiskImageFormat::ALL {
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(serde_json::from_str::<DiskImageFormat>(&json).unwrap(), format);
        }
        assert_eq!(DiskImageFormat::Vhd.qemu_name(), "vpc");
        assert_eq!(DiskImageFormat::Vmdk.qemu_name(), "vmdk");
    }
}
