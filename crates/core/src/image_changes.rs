//! Changing an instance's image: ECS ReplaceSystemDisk and ECD RebuildDesktops, and the record
//! every change leaves (ECD DescribeImageModifiedRecords).
//!
//! A change gives the instance a new system disk (new DiskId, an overlay on the new image, laid
//! out like RunInstances' disks) and releases the old one. The old disk's files go, its
//! snapshots stay: a snapshot's file chains to its parent snapshot and the image, never to the
//! disk (see [`crate::chain`]), so it stays restorable and keeps its SourceDiskId.
//!
//! The work is a persisted operation on the old system disk (the `operations` table, like the
//! snapshot work), so boots, snapshots and deletions of that instance wait for it, and a record
//! (Status 0) written in the same transaction. Steps:
//!
//! 1. `stop` (RebuildDesktops of a Running desktop only): power the instance off.
//! 2. `build`: check the image file, create the new disk's files. A failure here (unreadable or
//!    corrupt image, image deleted midway) removes them: the record says Status 2 with the reason
//!    and the instance keeps its old disk.
//! 3. switch (one store transaction): old disk row out, new one in the same slot, the instance's
//!    ImageId, the record's Status 1, the operation at `cleanup`.
//! 4. `cleanup`: remove the old disk's files; then start the desktop again if step 1 stopped it.
//!
//! After a crash, [`ImageChanges::resume`] fails a change that had not switched (Reason
//! says the server restarted; nothing of the old disk was touched) and finishes one that had.

use crate::config::CloudConfig;
use crate::disks::Disks;
use crate::ids::new_id;
use crate::images::Images;
use crate::instances::Instances;
use crate::work::{crash_point, encode, CrashPoint, ImageChangeOp, NewDisk};
use crate::{chain, Error, InstanceStatus, Result};
use ecslab_store::{
    now_millis, DiskRecord, DiskStatus, DiskType, ImageChangeRecord, ImageChangeStatus, InstanceRecord,
    OperationKind, OperationRecord, OperationStep, Store,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest system disk (GiB), as on ECS.
pub const MAX_SYSTEM_DISK_GIB: i64 = 500;

/// What to change an instance's image to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    pub instance_id: String,
    pub image_id: String,
    /// The new system disk's size; default: the old disk's size, or the image's if larger.
    pub system_disk_size_gib: Option<i64>,
    /// ReplaceSystemDisk's KeyPairName and Password: the new system disk's guest gets them (they
    /// replace the instance's; what is left out stays).
    pub guest: crate::requests::GuestRequest,
}

/// How the caller wants a change run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeMode {
    /// ECS ReplaceSystemDisk: the instance must be Stopped.
    ReplaceSystemDisk,
    /// ECD RebuildDesktops: a Running desktop is stopped, rebuilt and started again.
    RebuildDesktop,
}

/// One page of an instance's image-change records, newest first.
#[derive(Debug, Clone)]
pub struct ImageRecordPage {
    pub records: Vec<ImageChangeRecord>,
    pub total_count: i64,
    /// The seq to continue below, when more records follow.
    pub next_before: Option<i64>,
}

/// Image changes of instances and their records.
pub struct ImageChanges {
    store: Store,
    config: Arc<CloudConfig>,
    instances: Arc<Instances>,
    images: Arc<Images>,
    disks: Arc<Disks>,
}

impl ImageChanges {
    pub(crate) fn new(
        store: Store,
        config: Arc<CloudConfig>,
        instances: Arc<Instances>,
        images: Arc<Images>,
        disks: Arc<Disks>,
    ) -> ImageChanges {
        ImageChanges { store, config, instances, images, disks }
    }

    /// Accept an image change and start it in the background. Returns the new system disk's id.
    pub async fn change_image(
        self: &Arc<Self>,
        account_id: &str,
        change: ImageChange,
        mode: ChangeMode,
    ) -> Result<String> {
        let instance = crate::lookup::instance(&self.store, account_id, &change.instance_id).await?;
        if instance.locked_for_security() {
            return Err(Error::InstanceLockedForSecurity { instance_id: instance.instance_id.clone() });
        }
        let old_disk = self.system_disk(&instance).await?;
        self.check_disk_free_for_change(&instance, &old_disk).await?;
        let restart = match (mode, instance.status) {
            (_, InstanceStatus::Stopped) => false,
            (ChangeMode::RebuildDesktop, InstanceStatus::Running) => true,
            _ => {
                return Err(Error::IncorrectInstanceStatus {
                    instance_id: instance.instance_id.clone(),
                    status: instance.status.to_string(),
                })
            }
        };
        let image = self.images.available_image(account_id, &change.image_id).await?;
        let settings = crate::guest_settings::settings_change(&self.store, account_id, &change.guest).await?;
        let size_gib = new_system_disk_size(image.size_gib, old_disk.size_gib, change.system_disk_size_gib)?;
        let old_image_name = match self.store.image(account_id, &instance.image_id).await? {
            Some(old) => old.name,
            None => String::new(),
        };
        let new_disk = NewDisk {
            disk_id: new_id("d"),
            top: self.config.new_layer_path(),
            base: self.config.new_layer_path(),
            size_gib,
        };
        let record = ImageChangeRecord {
            seq: 0,
            account_id: account_id.to_string(),
            instance_id: instance.instance_id.clone(),
            image_id: instance.image_id.clone(),
            image_name: old_image_name,
            new_image_id: image.image_id.clone(),
            new_image_name: image.name.clone(),
            status: ImageChangeStatus::Changing,
            reason: String::new(),
            update_time: now_millis(),
        };
        let mut op = ImageChangeOp {
            record_seq: 0,
            account_id: account_id.to_string(),
            instance_id: instance.instance_id.clone(),
            old_disk_id: old_disk.disk_id.clone(),
            old_top: PathBuf::from(&old_disk.path),
            old_base: PathBuf::from(&old_disk.base_path),
            new_disk,
            image_id: image.image_id.clone(),
            restart,
        };
        let operation = OperationRecord {
            operation_id: new_id("op"),
            kind: OperationKind::ImageChange,
            disk_id: old_disk.disk_id.clone(),
            step: if restart { OperationStep::Stop } else { OperationStep::Build },
            payload: String::new(),
            created_at: ecslab_store::now_rfc3339(),
        };
        // Paths that are not UTF-8 cannot be persisted: refuse before anything is written, so
        // the payload below always serializes.
        encode(&op)?;
        let payload_for = |seq| to_payload(&ImageChangeOp { record_seq: seq, ..op.clone() });
        let Some(seq) = self.store.begin_image_change(&record, &operation, payload_for).await? else {
            return Err(disk_busy());
        };
        op.record_seq = seq;
        // Accepted: the instance boots the new disk only once the change is done, with these.
        self.store.change_instance_settings(account_id, &op.instance_id, &settings).await?;
        tracing::info!(
            instance_id = %op.instance_id,
            old_disk = %op.old_disk_id,
            new_disk = %op.new_disk.disk_id,
            image_id = %op.image_id,
            restart,
            "image change accepted"
        );
        let new_disk_id = op.new_disk.disk_id.clone();
        let cloud = self.clone();
        tokio::spawn(async move { cloud.drive_image_change(operation.operation_id, op).await });
        Ok(new_disk_id)
    }

    async fn system_disk(&self, instance: &InstanceRecord) -> Result<DiskRecord> {
        self.store
            .instance_disks(&instance.instance_id)
            .await?
            .into_iter()
            .find(|d| d.disk_type == DiskType::System)
            .ok_or_else(|| Error::internal(format!("instance {} has no system disk", instance.instance_id)))
    }

    /// ECS refuses a change while a snapshot of the system disk is being created; a change
    /// while another one runs finds the instance in the middle of it (ECD's `Rebuilding`).
    async fn check_disk_free_for_change(&self, instance: &InstanceRecord, disk: &DiskRecord) -> Result<()> {
        let operations = self.store.operations().await?;
        match operations.iter().find(|o| o.disk_id == disk.disk_id) {
            None => Ok(()),
            Some(o) if o.kind == OperationKind::ImageChange => Err(Error::IncorrectInstanceStatus {
                instance_id: instance.instance_id.clone(),
                status: "Rebuilding".into(),
            }),
            Some(_) => Err(Error::rejected(
                "DiskCreatingSnapshot",
                "The operation is denied due to a snapshot of the specified disk is not completed yet.",
            )),
        }
    }

    /// Run a change to the end (or to its failure): stop (a Running desktop only), build, switch,
    /// clean up.
    async fn drive_image_change(self: Arc<Self>, operation_id: String, op: ImageChangeOp) {
        let switched = async {
            if op.restart {
                self.stop_for_change(&op).await?;
                if let Err(e) =
                    self.store.set_operation_step(&operation_id, OperationStep::Build, &to_payload(&op)).await
                {
                    tracing::error!(error = %e, "recording an image-change step failed");
                }
            }
            self.build_new_system_disk(&op).await?;
            self.switch_system_disk(&operation_id, &op).await
        }
        .await;
        match switched {
            Ok(()) => self.finish_image_change(&operation_id, &op).await,
            Err(e) => self.fail_image_change(&operation_id, &op, &reason_of(&e)).await,
        }
    }

    /// Step 1: a Running desktop is powered off (gracefully, then forced after the grace time).
    async fn stop_for_change(self: &Arc<Self>, op: &ImageChangeOp) -> Result<()> {
        let deadline = Instant::now() + self.config.stop_grace + Duration::from_secs(120);
        loop {
            let instance = self
                .store
                .instance_by_id(&op.instance_id)
                .await?
                .ok_or_else(|| Error::rejected("ImageChange.Failed", "The desktop was deleted."))?;
            match instance.status {
                InstanceStatus::Stopped => return Ok(()),
                InstanceStatus::Running => {
                    // The status may change between the read and the request (the guest powers
                    // itself off, someone else stops it): look again rather than give up.
                    if let Err(e) = self
                        .instances
                        .stop_instance(&instance.account_id, &op.instance_id, false, false)
                        .await
                    {
                        tracing::info!(instance_id = %op.instance_id, error = %e.detail(), "stopping the desktop for its rebuild; retrying");
                    }
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(Error::rejected(
                    "ImageChange.Failed",
                    format!("The desktop did not stop in time (it is {}).", instance.status),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Step 2: the new disk's files, over the new image's file (checked first).
    async fn build_new_system_disk(&self, op: &ImageChangeOp) -> Result<()> {
        let gone = || {
            Error::rejected(
                "ImageChange.Failed",
                format!("The image {} was deleted before the change finished.", op.image_id),
            )
        };
        let image =
            self.store.image(&op.account_id, &op.image_id).await?.filter(|i| !i.deleted).ok_or_else(gone)?;
        let image_path = PathBuf::from(&image.path);
        if !image_path.is_file() {
            return Err(gone());
        }
        check_image_file(&self.config.qemu_img, &image_path).await.map_err(|detail| {
            tracing::warn!(image_id = %op.image_id, %detail, "the image file cannot be read");
            Error::rejected(
                "ImageChange.Failed",
                format!("The image {} cannot be read (its file is damaged): {detail}", op.image_id),
            )
        })?;
        crash_point(CrashPoint::ImageChangeBeforeBuild);
        let qemu_img = &self.config.qemu_img;
        let NewDisk { top, base, size_gib, .. } = &op.new_disk;
        chain::remove_quietly(top);
        chain::remove_quietly(base);
        chain::create(qemu_img, base, Some(&image_path), Some(*size_gib)).await?;
        chain::create(qemu_img, top, Some(base), Some(*size_gib)).await?;
        if !chain::is_valid(qemu_img, top).await {
            return Err(Error::rejected(
                "ImageChange.Failed",
                format!("The new system disk over image {} does not open.", op.image_id),
            ));
        }
        Ok(())
    }

    /// Step 3: one transaction puts the new disk in the old one's place.
    async fn switch_system_disk(&self, operation_id: &str, op: &ImageChangeOp) -> Result<()> {
        let old = self
            .store
            .disk_by_id(&op.old_disk_id)
            .await?
            .ok_or_else(|| Error::internal(format!("the old system disk {} vanished", op.old_disk_id)))?;
        let now = ecslab_store::now_rfc3339();
        let new = DiskRecord {
            disk_id: op.new_disk.disk_id.clone(),
            account_id: old.account_id.clone(),
            instance_id: Some(op.instance_id.clone()),
            disk_type: DiskType::System,
            device_index: old.device_index,
            name: String::new(),
            description: String::new(),
            category: old.category.clone(),
            size_gib: op.new_disk.size_gib,
            path: op.new_disk.top.display().to_string(),
            status: DiskStatus::InUse,
            image_id: op.image_id.clone(),
            delete_with_instance: true,
            zone_id: old.zone_id.clone(),
            created_at: now.clone(),
            attached_at: now,
            base_path: op.new_disk.base.display().to_string(),
            parent_snapshot_id: String::new(),
            source_snapshot_id: String::new(),
            ever_attached: true,
            ever_used: false,
            portable: false,
            tags: old.tags.clone(),
        };
        if !self
            .store
            .switch_system_disk(&op.old_disk_id, &new, op.record_seq, operation_id, OperationStep::Cleanup)
            .await?
        {
            return Err(Error::rejected(
                "ImageChange.Failed",
                format!("The image {} was deleted before the change finished.", op.image_id),
            ));
        }
        crash_point(CrashPoint::ImageChangeAfterSwitch);
        tracing::info!(instance_id = %op.instance_id, old_disk = %op.old_disk_id, new_disk = %new.disk_id, image_id = %op.image_id, "system disk replaced");
        Ok(())
    }

    /// Step 4: the old disk's files go (its snapshots stay); a rebuilt desktop starts again.
    async fn finish_image_change(self: &Arc<Self>, operation_id: &str, op: &ImageChangeOp) {
        chain::remove_quietly(&op.old_top);
        chain::remove_quietly(&op.old_base);
        if let Err(e) = self.store.finish_operation(operation_id).await {
            tracing::error!(error = %e, "finishing an image change failed");
        }
        self.disks.collect_deleted_snapshots().await;
        if op.restart {
            self.start_after_change(op).await;
        }
    }

    /// A failed change: the new files go, the record says why, the old disk stays in place.
    async fn fail_image_change(self: &Arc<Self>, operation_id: &str, op: &ImageChangeOp, reason: &str) {
        tracing::warn!(instance_id = %op.instance_id, image_id = %op.image_id, %reason, "image change failed; the instance keeps its system disk");
        chain::remove_quietly(&op.new_disk.top);
        chain::remove_quietly(&op.new_disk.base);
        if let Err(e) =
            self.store.set_image_record_status(op.record_seq, ImageChangeStatus::Failed, reason).await
        {
            tracing::error!(error = %e, "recording a failed image change failed");
        }
        if let Err(e) = self.store.finish_operation(operation_id).await {
            tracing::error!(error = %e, "finishing a failed image change failed");
        }
        if op.restart {
            self.start_after_change(op).await;
        }
    }

    /// A rebuilt desktop comes back: in the background, once a stop still under way (after a
    /// restart, the adopted VM may still be shutting down) has ended, it is started again.
    async fn start_after_change(self: &Arc<Self>, op: &ImageChangeOp) {
        let cloud = self.clone();
        let instance_id = op.instance_id.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + cloud.config.stop_grace + Duration::from_secs(60);
            loop {
                let Ok(Some(instance)) = cloud.store.instance_by_id(&instance_id).await else { return };
                match instance.status {
                    InstanceStatus::Stopped => {
                        if let Err(e) =
                            cloud.instances.start_instance(&instance.account_id, &instance_id, false).await
                        {
                            tracing::warn!(%instance_id, error = %e.detail(), "starting the desktop after its image change failed");
                        }
                        return;
                    }
                    InstanceStatus::Stopping if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    // Started by someone else meanwhile, or stuck: leave it.
                    _ => return,
                }
            }
        });
    }

    /// After a restart: a change that had not switched fails (its new files are removed, the old
    /// disk was never touched); one that had switched is finished.
    pub(crate) async fn resume(self: &Arc<Self>, operation: &OperationRecord, op: &ImageChangeOp) {
        if operation.step == OperationStep::Cleanup {
            self.finish_image_change(&operation.operation_id, op).await;
        } else {
            self.fail_image_change(
                &operation.operation_id,
                op,
                "The change was interrupted by a server restart; the desktop keeps its previous system disk.",
            )
            .await;
        }
    }

    /// After every interrupted change was resumed: a record still changing has lost its
    /// operation (a record is only ever written with one), so it fails.
    pub(crate) async fn fail_orphaned_records(&self) -> Result<()> {
        for record in self.store.changing_image_records().await? {
            tracing::warn!(seq = record.seq, instance_id = %record.instance_id, "an image record without its operation; failing it");
            self.store
                .set_image_record_status(
                    record.seq,
                    ImageChangeStatus::Failed,
                    "The change was interrupted by a server restart.",
                )
                .await?;
        }
        Ok(())
    }

    /// DescribeImageModifiedRecords: an instance's records, newest first, below `before_seq`.
    pub async fn image_change_records(
        &self,
        account_id: &str,
        instance_id: &str,
        before_seq: Option<i64>,
        max_results: i64,
    ) -> Result<ImageRecordPage> {
        crate::lookup::instance(&self.store, account_id, instance_id).await?;
        let mut records =
            self.store.image_records_page(account_id, instance_id, before_seq, max_results + 1).await?;
        let more = records.len() as i64 > max_results;
        records.truncate(max_results as usize);
        let next_before = if more { records.last().map(|r| r.seq) } else { None };
        let total_count = self.store.count_image_records(account_id, instance_id).await?;
        Ok(ImageRecordPage { records, total_count, next_before })
    }

    /// Instances of this account whose image is being changed right now (ECD `Rebuilding`).
    pub async fn instances_changing_image(&self, account_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .changing_image_records()
            .await?
            .into_iter()
            .filter(|r| r.account_id == account_id)
            .map(|r| r.instance_id)
            .collect())
    }
}

/// The new system disk's size: as asked (at least the image's), else the old disk's size or the
/// image's if that is larger.
fn new_system_disk_size(image_gib: i64, old_gib: i64, asked: Option<i64>) -> Result<i64> {
    let image_gib = image_gib.max(1);
    match asked {
        Some(size) if size > MAX_SYSTEM_DISK_GIB => Err(Error::rejected(
            "InvalidSystemDiskSize.MoreThanMaxSize",
            format!(
                "The specified SystemDisk.Size {size} is more than the maximum {MAX_SYSTEM_DISK_GIB} GiB."
            ),
        )),
        Some(size) if size < image_gib => Err(Error::rejected(
            "InvalidSystemDiskSize.LessThanImageSize",
            format!("The specified SystemDisk.Size {size} is less than the image size {image_gib}."),
        )),
        Some(size) => Ok(size),
        None => Ok(old_gib.max(image_gib)),
    }
}

fn disk_busy() -> Error {
    Error::rejected(
        "IncorrectDiskStatus",
        "The system disk is being changed by a previous request; retry when it is done.",
    )
}

/// `qemu-img check` reads every metadata structure of the image: a damaged or unreadable file
/// fails here, before anything of the instance is touched.
async fn check_image_file(qemu_img: &Path, image: &Path) -> std::result::Result<(), String> {
    let out = tokio::process::Command::new(qemu_img)
        .args(["check", "-q", "-U", "-f", "qcow2"])
        .arg(image)
        .output()
        .await
        .map_err(|e| format!("running qemu-img: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("qemu-img check failed");
    Err(first.trim().trim_start_matches("qemu-img: ").to_string())
}

/// The Reason a failed change shows: the public message of a rejection, a generic one otherwise.
fn reason_of(e: &Error) -> String {
    match e {
        Error::Internal { context } => {
            tracing::error!(%context, "image change failed inside ecslab");
            "The change failed inside ecslab; the desktop keeps its previous system disk.".into()
        }
        other => other.to_string(),
    }
}

fn to_payload(op: &ImageChangeOp) -> String {
    encode(op).expect("checked when the change was accepted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_disk_size_rules() {
        assert_eq!(new_system_disk_size(1, 20, None).unwrap(), 20);
        assert_eq!(new_system_disk_size(30, 20, None).unwrap(), 30);
        assert_eq!(new_system_disk_size(1, 20, Some(5)).unwrap(), 5);
        let small = new_system_disk_size(10, 20, Some(5)).unwrap_err();
        assert_eq!(small.code(), "InvalidSystemDiskSize.LessThanImageSize");
        let big = new_system_disk_size(1, 20, Some(501)).unwrap_err();
        assert_eq!(big.code(), "InvalidSystemDiskSize.MoreThanMaxSize");
    }
}
