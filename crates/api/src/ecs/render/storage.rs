//! Disks, snapshots and images as DescribeDisks, DescribeSnapshots and DescribeImages show them.

use super::*;

wrapped!(ImageList, "Image", Image);
wrapped!(DiskDeviceMappings, "DiskDeviceMapping", DiskDeviceMapping);
wrapped!(SnapshotList, "Snapshot", Snapshot);
wrapped!(DiskList, "Disk", Disk);
wrapped!(MountInstances, "MountInstance", Attachment);
wrapped!(OperationLocks, "OperationLock", String);
wrapped!(Attachments, "Attachment", Attachment);

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePage {
    pub region_id: String,
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub images: ImageList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub image_id: String,
    pub image_name: String,
    pub image_family: &'static str,
    pub image_version: &'static str,
    pub description: String,
    pub status: String,
    pub progress: String,
    pub size: i64,
    pub creation_time: String,
    pub architecture: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    #[serde(rename = "OSName")]
    pub os_name: String,
    #[serde(rename = "OSNameEn")]
    pub os_name_en: String,
    pub platform: String,
    pub image_owner_alias: &'static str,
    pub is_copied: bool,
    pub is_self_shared: &'static str,
    pub is_subscribed: bool,
    pub is_support_cloudinit: bool,
    pub is_support_io_optimized: bool,
    pub usage: &'static str,
    pub tags: Tags,
    pub disk_device_mappings: DiskDeviceMappings,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskDeviceMapping {
    pub device: String,
    pub size: String,
    pub snapshot_id: String,
    #[serde(rename = "Type")]
    pub disk_type: String,
    pub format: String,
    #[serde(rename = "ImportOSSBucket")]
    pub import_oss_bucket: String,
    #[serde(rename = "ImportOSSObject")]
    pub import_oss_object: String,
    pub progress: String,
    pub remain_time: u32,
}

pub fn images(cloud: &Cloud, page: Page<ImageDetails>) -> ImagePage {
    let list: Vec<Image> = page
        .items
        .iter()
        .map(|details| {
            let i = &details.image;
            let mappings: Vec<DiskDeviceMapping> = details
                .disks
                .iter()
                .map(|d| {
                    let system = d.disk_type == DiskType::System;
                    DiskDeviceMapping {
                        device: d.device.clone(),
                        size: d.size_gib.to_string(),
                        snapshot_id: d.snapshot_id.clone(),
                        disk_type: d.disk_type.to_string(),
                        format: if system { i.format.clone() } else { "qcow2".to_string() },
                        import_oss_bucket: if system { i.import_bucket.clone() } else { String::new() },
                        import_oss_object: if system { i.import_object.clone() } else { String::new() },
                        progress: format!("{}%", i.progress),
                        remain_time: 0,
                    }
                })
                .collect();
            Image {
                image_id: i.image_id.clone(),
                image_name: i.name.clone(),
                image_family: "",
                image_version: "",
                description: i.description.clone(),
                status: i.status.to_string(),
                progress: format!("{}%", i.progress),
                size: i.size_gib,
                creation_time: i.created_at.clone(),
                architecture: i.architecture.clone(),
                os_type: i.os_type.clone(),
                os_name: i.platform.clone(),
                os_name_en: i.platform.clone(),
                platform: i.platform.clone(),
                image_owner_alias: "self",
                is_copied: false,
                is_self_shared: "",
                is_subscribed: false,
                is_support_cloudinit: false,
                is_support_io_optimized: true,
                usage: "instance",
                tags: tags(&i.tags),
                disk_device_mappings: mappings.into(),
            }
        })
        .collect();
    ImagePage {
        region_id: cloud.region_id().to_string(),
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        images: list.into(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub snapshots: SnapshotList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Snapshot {
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub description: String,
    pub status: String,
    pub progress: String,
    pub remain_time: u32,
    pub creation_time: String,
    pub last_modified_time: String,
    pub source_disk_id: String,
    pub source_disk_size: String,
    pub source_disk_type: String,
    pub source_storage_type: &'static str,
    pub usage: SnapshotUsage,
    pub snapshot_type: &'static str,
    pub retention_days: i64,
    pub instant_access: bool,
    pub instant_access_retention_days: u32,
    pub category: &'static str,
    pub encrypted: bool,
    #[serde(rename = "KMSKeyId")]
    pub kms_key_id: &'static str,
    pub product_code: &'static str,
    #[serde(rename = "SnapshotSN")]
    pub snapshot_sn: String,
    pub resource_group_id: &'static str,
    pub available: bool,
    pub region_id: String,
    pub snapshot_link_id: String,
    pub source_region_id: &'static str,
    pub source_snapshot_id: &'static str,
    pub failure_reason: String,
    pub tags: Tags,
}

pub fn snapshots(cloud: &Cloud, page: Page<ListedSnapshot>) -> SnapshotPage {
    let mut list = Vec::with_capacity(page.items.len());
    for ListedSnapshot { snapshot: s, usage } in &page.items {
        let usage = *usage;
        list.push(Snapshot {
            snapshot_id: s.snapshot_id.clone(),
            snapshot_name: s.name.clone(),
            description: s.description.clone(),
            status: s.status.to_string(),
            progress: format!("{}%", s.progress),
            remain_time: if s.status == ecslab_core::SnapshotStatus::Progressing { 1 } else { 0 },
            creation_time: s.created_at.clone(),
            last_modified_time: s.updated_at.clone(),
            source_disk_id: s.source_disk_id.clone(),
            source_disk_size: s.source_disk_size.to_string(),
            source_disk_type: s.source_disk_type.to_string(),
            source_storage_type: "disk",
            usage,
            snapshot_type: "user",
            retention_days: s.retention_days,
            instant_access: false,
            instant_access_retention_days: 0,
            category: "standard",
            encrypted: false,
            kms_key_id: "",
            product_code: "",
            snapshot_sn: s.snapshot_id.clone(),
            resource_group_id: "",
            available: s.status == ecslab_core::SnapshotStatus::Accomplished,
            region_id: cloud.region_id().to_string(),
            snapshot_link_id: format!("sl-{}", s.source_disk_id.trim_start_matches("d-")),
            source_region_id: "",
            source_snapshot_id: "",
            failure_reason: s.failure_reason.clone(),
            tags: tags(&s.tags),
        });
    }
    SnapshotPage {
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        next_token: page.next_token,
        snapshots: list.into(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub disks: DiskList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Disk {
    pub disk_id: String,
    pub disk_name: String,
    pub description: String,
    #[serde(rename = "Type")]
    pub disk_type: String,
    pub category: String,
    pub size: i64,
    pub status: String,
    pub instance_id: String,
    pub device: String,
    pub zone_id: String,
    pub region_id: String,
    pub image_id: String,
    pub source_snapshot_id: String,
    pub portable: bool,
    pub delete_with_instance: bool,
    pub delete_auto_snapshot: bool,
    pub enable_auto_snapshot: bool,
    pub enable_automated_snapshot_policy: bool,
    pub auto_snapshot_policy_id: &'static str,
    pub disk_charge_type: &'static str,
    pub creation_time: String,
    pub attached_time: String,
    pub detached_time: &'static str,
    pub expired_time: &'static str,
    pub encrypted: bool,
    #[serde(rename = "KMSKeyId")]
    pub kms_key_id: &'static str,
    pub performance_level: &'static str,
    pub serial_number: String,
    pub mount_instance_num: u32,
    pub mount_instances: MountInstances,
    pub operation_locks: OperationLocks,
    pub tags: Tags,
    pub attachments: Attachments,
}

/// One attachment of a disk: `Attachments.Attachment` and `MountInstances.MountInstance` carry the
/// same three fields (SDK model), and a disk has at most one while ecslab has no multi-attach.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    pub instance_id: String,
    pub device: String,
    pub attached_time: String,
}

pub fn disks(cloud: &Cloud, page: Page<DiskRecord>) -> DiskPage {
    let list: Vec<Disk> = page
        .items
        .iter()
        .map(|d| {
            let attached = d.status.is_attached();
            let instance_id =
                if attached { d.instance_id.clone().unwrap_or_default() } else { String::new() };
            let device = if attached { device_name(d.device_index) } else { String::new() };
            let attachments = if attached {
                vec![Attachment {
                    instance_id: instance_id.clone(),
                    device: device.clone(),
                    attached_time: d.attached_at.clone(),
                }]
            } else {
                Vec::new()
            };
            Disk {
                disk_id: d.disk_id.clone(),
                disk_name: d.name.clone(),
                description: d.description.clone(),
                disk_type: d.disk_type.to_string(),
                category: d.category.clone(),
                size: d.size_gib,
                status: d.status.to_string(),
                instance_id,
                device,
                zone_id: d.zone_id.clone(),
                region_id: cloud.region_id().to_string(),
                image_id: d.image_id.clone(),
                source_snapshot_id: d.source_snapshot_id.clone(),
                portable: d.portable,
                delete_with_instance: d.delete_with_instance,
                delete_auto_snapshot: true,
                enable_auto_snapshot: false,
                enable_automated_snapshot_policy: false,
                auto_snapshot_policy_id: "",
                disk_charge_type: "PostPaid",
                creation_time: d.created_at.clone(),
                attached_time: d.attached_at.clone(),
                detached_time: "",
                expired_time: "2099-12-31T15:59Z",
                encrypted: false,
                kms_key_id: "",
                performance_level: "PL1",
                serial_number: d.disk_id.clone(),
                mount_instance_num: attachments.len() as u32,
                mount_instances: attachments.clone().into(),
                operation_locks: Vec::new().into(),
                tags: tags(&d.tags),
                attachments: attachments.into(),
            }
        })
        .collect();
    DiskPage {
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        next_token: page.next_token,
        disks: list.into(),
    }
}

/// `/dev/xvda`, `/dev/xvdb`, ... by device slot, as ECS names them.
fn device_name(index: i64) -> String {
    let letter = (b'a' + (index.clamp(0, 25) as u8)) as char;
    format!("/dev/xvd{letter}")
}
