//! Images made from a live or stopped instance: CreateImage with InstanceId, and the
//! point-in-time capture PAI-DSW instance snapshots build on.
//!
//! Like ECS, an image of an instance is made of snapshots of its disks. They are all taken at
//! the same point in time (one transaction in the running VM, see
//! [`Disks::snapshot_disks_at_one_point`](crate::disks::Disks)), then the system disk's snapshot chain is flattened
//! into the image file, which new instances overlay. Data disks stay snapshots: RunInstances
//! copies them into the new instance's data disks. The image's Progress covers both parts:
//! 0-50 % while the snapshots finish, 50-100 % while the system disk is flattened.

use super::ImageBuilds;
use crate::ids::new_id;
use crate::images::device_name;
use crate::requests::{CreateImage, CreateSnapshot};
use crate::{Error, Result};
use ecslab_store::{
    DiskRecord, DiskType, ImageDiskRecord, ImageRecord, ImageStatus, InstanceRecord, SnapshotStatus,
};
use std::sync::Arc;
use std::time::Duration;

/// Which disks of an instance an image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiskSelection {
    /// Every disk attached (ECS CreateImage).
    All,
    /// The system disk only (PAI-DSW instance snapshots).
    SystemOnly,
}

impl ImageBuilds {
    /// CreateImage with InstanceId: answers at once with the ImageId (`Creating`).
    pub(crate) async fn create_image_from_instance(
        self: &Arc<Self>,
        account_id: &str,
        instance_id: &str,
        req: CreateImage,
        selection: DiskSelection,
    ) -> Result<String> {
        let image_id = new_id("m");
        let name = self.images.unused_image_name(account_id, req.name.clone(), &image_id).await?;
        let (instance, disks) = self.capturable_disks(account_id, instance_id, selection).await?;
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        let mappings = self.capture_disks(account_id, &instance, disks, &image_id).await?;
        let record = ImageRecord {
            description: req.description,
            platform: req.platform,
            architecture: req.architecture,
            source_snapshot_id: mappings[0].snapshot_id.clone(),
            source_instance_id: instance.instance_id.clone(),
            tags: req.tags,
            ..self.images.new_image_record(account_id, &image_id, name)
        };
        self.store.insert_image_with_disks(&record, &mappings).await?;
        tracing::info!(image_id = %image_id, instance_id, disks = mappings.len(), "image creation from an instance started");
        self.clone().spawn_build(record);
        Ok(image_id)
    }

    /// The instance and the disks an image of it will hold (system disk first), after ECS's
    /// checks: Running or Stopped, not locked, every disk snapshottable now.
    pub(crate) async fn capturable_disks(
        &self,
        account_id: &str,
        instance_id: &str,
        selection: DiskSelection,
    ) -> Result<(InstanceRecord, Vec<DiskRecord>)> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        self.disks.check_instance_for_disk_change(&instance)?;
        let mut disks = self.store.instance_disks(instance_id).await?;
        disks.sort_by_key(|d| (d.disk_type != DiskType::System, d.device_index));
        if selection == DiskSelection::SystemOnly {
            disks.retain(|d| d.disk_type == DiskType::System);
        }
        if disks.first().is_none_or(|d| d.disk_type != DiskType::System) {
            return Err(Error::internal(format!("instance {instance_id} has no system disk")));
        }
        for disk in &disks {
            self.disks.check_snapshot_rules(disk).await?;
        }
        Ok((instance, disks))
    }

    /// Snapshot the disks at one point in time, for image `image_id`. Returns the image's disk
    /// mappings, system disk first.
    pub(crate) async fn capture_disks(
        self: &Arc<Self>,
        account_id: &str,
        instance: &InstanceRecord,
        disks: Vec<DiskRecord>,
        image_id: &str,
    ) -> Result<Vec<ImageDiskRecord>> {
        let requests: Vec<(DiskRecord, CreateSnapshot)> = disks
            .iter()
            .map(|disk| {
                let request = CreateSnapshot {
                    disk_id: disk.disk_id.clone(),
                    name: format!("image-{image_id}-{}", disk.disk_type),
                    description: format!("Created by ecslab for image {image_id}."),
                    retention_days: 0,
                    tags: Vec::new(),
                };
                (disk.clone(), request)
            })
            .collect();
        let snapshot_ids =
            self.disks.snapshot_disks_at_one_point(account_id, Some(instance), requests).await?;
        Ok(disks
            .iter()
            .zip(snapshot_ids)
            .enumerate()
            .map(|(index, (disk, snapshot_id))| ImageDiskRecord {
                image_id: image_id.to_string(),
                device: device_name(index as i64),
                disk_type: disk.disk_type,
                size_gib: disk.size_gib,
                snapshot_id,
            })
            .collect())
    }

    /// Wait until every snapshot an image is made of is accomplished, reporting their mean
    /// progress as the first half of the image's. Fails when one of them failed or vanished.
    pub(crate) async fn wait_for_image_snapshots(
        &self,
        image: &ImageRecord,
    ) -> std::result::Result<(), String> {
        let mut snapshot_ids: Vec<String> = self
            .store
            .image_disks(&image.image_id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|d| d.snapshot_id)
            .collect();
        if snapshot_ids.is_empty() {
            snapshot_ids.push(image.source_snapshot_id.clone());
        }
        let weighted = !image.source_instance_id.is_empty();
        let mut last_reported = -1;
        loop {
            let mut total = 0;
            let mut done = true;
            for id in &snapshot_ids {
                let snapshot = self
                    .store
                    .snapshot_by_id(id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("the snapshot {id} of the image is gone"))?;
                match snapshot.status {
                    SnapshotStatus::Accomplished => total += 100,
                    SnapshotStatus::Failed => {
                        return Err(format!(
                            "the snapshot {id} of disk {} failed: {}",
                            snapshot.source_disk_id, snapshot.failure_reason
                        ))
                    }
                    SnapshotStatus::Progressing => {
                        done = false;
                        total += snapshot.progress;
                    }
                }
            }
            if done {
                return Ok(());
            }
            let pct = total / snapshot_ids.len() as i64 / 2;
            if weighted && pct != last_reported {
                last_reported = pct;
                let _ = self
                    .store
                    .update_image_progress(&image.image_id, ImageStatus::Creating, pct, 0, 0, "")
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn devices_are_named_like_ecs() {
        assert_eq!(super::device_name(0), "/dev/xvda");
        assert_eq!(super::device_name(2), "/dev/xvdc");
    }
}
