//! The files behind new disks: a private base (an overlay of the image for a system disk, blank
//! for a data disk, or a standalone copy of a snapshot) under an empty writable top. RunInstances,
//! CreateDisk and image changes all make disks this way, so it is written once, here.

use super::Disks;
use crate::ids::new_id;
use crate::requests::CreateInstances;
use crate::{chain, Error, Result};
use ecslab_store::{now_rfc3339, DiskRecord, DiskStatus, DiskType, ImageRecord, SnapshotRecord};
use std::path::{Path, PathBuf};

impl Disks {
    /// The disks of a new instance, with their files: the system disk over `image`, the image's
    /// data disks copied from their snapshots, the requested data disks blank. Overlays are O(1)
    /// in image size, and the layout snapshots build on.
    pub(crate) async fn create_instance_disks(
        &self,
        account_id: &str,
        instance_id: &str,
        image: &ImageRecord,
        system_gib: i64,
        req: &CreateInstances,
    ) -> Result<Vec<DiskRecord>> {
        let mut disks: Vec<DiskRecord> = Vec::new();
        let mut plan = vec![PlannedDisk {
            disk_type: DiskType::System,
            size_gib: system_gib,
            delete_with_instance: true,
            name: String::new(),
            description: String::new(),
            category: req.system_disk_category.clone(),
            snapshot: None,
        }];
        // An image made from an instance brings that instance's data disks along (as ECS does).
        for mapping in self.store.image_disks(&image.image_id).await? {
            if mapping.disk_type != DiskType::Data {
                continue;
            }
            let snapshot = self.store.snapshot_by_id(&mapping.snapshot_id).await?.ok_or_else(|| {
                Error::internal(format!(
                    "image {} names a missing snapshot {}",
                    image.image_id, mapping.snapshot_id
                ))
            })?;
            plan.push(PlannedDisk {
                disk_type: DiskType::Data,
                size_gib: mapping.size_gib,
                delete_with_instance: true,
                name: String::new(),
                description: String::new(),
                category: req.system_disk_category.clone(),
                snapshot: Some(snapshot),
            });
        }
        for d in &req.data_disks {
            plan.push(PlannedDisk {
                disk_type: DiskType::Data,
                size_gib: d.size_gib,
                delete_with_instance: d.delete_with_instance,
                name: d.name.clone(),
                description: d.description.clone(),
                category: d.category.clone(),
                snapshot: None,
            });
        }
        for (index, planned) in plan.into_iter().enumerate() {
            let mut disk = self.new_disk_record(
                account_id,
                planned.disk_type,
                planned.size_gib,
                planned.name,
                planned.description,
                planned.category,
            );
            let created = match &planned.snapshot {
                Some(snapshot) => self.create_disk_layers_from_snapshot(&disk, snapshot).await,
                None => {
                    let backing = (planned.disk_type == DiskType::System).then(|| PathBuf::from(&image.path));
                    self.create_disk_layers(&disk, backing.as_deref()).await
                }
            };
            if let Err(e) = created {
                remove_disk_files(&disks);
                return Err(e);
            }
            disk.instance_id = Some(instance_id.to_string());
            disk.device_index = index as i64;
            disk.status = DiskStatus::InUse;
            // RunInstances/CreateInstance `Tag.N` tag "the instance, cloud disks, and primary ENI" (SDK model).
            disk.tags = req.tags.clone();
            disk.attached_at = disk.created_at.clone();
            disk.ever_attached = true;
            disk.delete_with_instance = planned.delete_with_instance;
            disk.image_id =
                if planned.disk_type == DiskType::System { image.image_id.clone() } else { String::new() };
            disk.source_snapshot_id = planned.snapshot.map(|s| s.snapshot_id).unwrap_or_default();
            disks.push(disk);
        }
        Ok(disks)
    }

    /// A disk whose base is a private copy of a snapshot (its chain made standalone).
    pub(crate) async fn create_disk_layers_from_snapshot(
        &self,
        disk: &DiskRecord,
        snapshot: &SnapshotRecord,
    ) -> Result<()> {
        let _chain = self.chain_lock.lock().await;
        let qemu_img = &self.config.qemu_img;
        let (base, top) = (Path::new(&disk.base_path), Path::new(&disk.path));
        chain::materialize(qemu_img, Path::new(&snapshot.path), None, base).await?;
        let result = async {
            if disk.size_gib > snapshot.source_disk_size {
                chain::resize(qemu_img, base, disk.size_gib).await?;
            }
            chain::create(qemu_img, top, Some(base), None).await
        }
        .await;
        if result.is_err() {
            chain::remove_quietly(base);
        }
        result
    }

    /// A detached, Available disk record with fresh layer paths (files not created yet).
    pub(crate) fn new_disk_record(
        &self,
        account_id: &str,
        disk_type: DiskType,
        size_gib: i64,
        name: String,
        description: String,
        category: String,
    ) -> DiskRecord {
        let now = now_rfc3339();
        DiskRecord {
            disk_id: new_id("d"),
            account_id: account_id.to_string(),
            instance_id: None,
            disk_type,
            device_index: 0,
            name,
            description,
            category,
            size_gib,
            path: self.config.new_layer_path().display().to_string(),
            status: DiskStatus::Available,
            image_id: String::new(),
            delete_with_instance: false,
            zone_id: self.config.zone_id.clone(),
            created_at: now,
            attached_at: String::new(),
            base_path: self.config.new_layer_path().display().to_string(),
            parent_snapshot_id: String::new(),
            source_snapshot_id: String::new(),
            ever_attached: false,
            ever_used: false,
            portable: disk_type == DiskType::Data,
            tags: Vec::new(),
        }
    }

    /// Create a disk's base (over `backing`, or blank) and its empty top.
    pub(crate) async fn create_disk_layers(&self, disk: &DiskRecord, backing: Option<&Path>) -> Result<()> {
        let qemu_img = &self.config.qemu_img;
        let (base, top) = (Path::new(&disk.base_path), Path::new(&disk.path));
        chain::create(qemu_img, base, backing, Some(disk.size_gib)).await?;
        if let Err(e) = chain::create(qemu_img, top, Some(base), Some(disk.size_gib)).await {
            chain::remove_quietly(base);
            return Err(e);
        }
        Ok(())
    }
}

/// Remove a disk's own files (its top and base; snapshot files belong to the snapshots).
pub(crate) fn remove_disk_files(disks: &[DiskRecord]) {
    for disk in disks {
        chain::remove_quietly(Path::new(&disk.path));
        if !disk.base_path.is_empty() {
            chain::remove_quietly(Path::new(&disk.base_path));
        }
    }
}

/// One disk RunInstances makes: the system disk, an image's data disk, or a requested one.
struct PlannedDisk {
    disk_type: DiskType,
    size_gib: i64,
    delete_with_instance: bool,
    name: String,
    description: String,
    category: String,
    /// Copied from this snapshot (an image's data disk), else blank or over the image.
    snapshot: Option<SnapshotRecord>,
}
