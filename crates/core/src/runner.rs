//! One runner for the long work that outlives an API call: what is persisted, how it is told
//! apart, and how a new server takes it up again.
//!
//! Work is persisted with the resource it makes, so a restart finds it where users see it:
//! multi-step chain work in the `operations` table (kind, step and a typed payload), images and
//! disks left `Creating`, unfinished PAI-DSW instance snapshots, export tasks still
//! `Processing`, screenshot jobs still queued or running. [`Runner::pending`] is the one place
//! that knows where each [`WorkKind`] lives; [`Runner::resume_all`] is the one resume loop, run
//! once at start, in an order that keeps dependencies right (an image change first, as it holds
//! its instance; snapshot merges before the images and disks built from them).
//!
//! What is persisted, and the crash points between persisted steps, live below the services in
//! [`crate::work`]; this module sits above them, as it calls each one back.

use crate::disks::Disks;
use crate::exports::Exports;
use crate::image_builds::ImageBuilds;
use crate::image_changes::ImageChanges;
use crate::instance_snapshots::InstanceSnapshots;
use crate::mts::ScreenshotJobs;
use crate::work::Operation;
use crate::Result;
use ecslab_store::{
    DiskRecord, DiskStatus, ImageRecord, ImageStatus, InstanceSnapshotRecord, OperationRecord, Store,
    TaskRecord,
};
use std::fmt;
use std::sync::Arc;

/// What kind of long work a pending item is (for logs and the resume order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    ImageChange,
    CreateSnapshot,
    ResetDisk,
    ImageBuild,
    InstanceSnapshot,
    ImageExport,
    DiskCopy,
    ScreenshotJobs,
}

impl fmt::Display for WorkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkKind::ImageChange => "image change",
            WorkKind::CreateSnapshot => "disk operation (CreateSnapshot)",
            WorkKind::ResetDisk => "disk operation (ResetDisk)",
            WorkKind::ImageBuild => "image build",
            WorkKind::InstanceSnapshot => "instance snapshot",
            WorkKind::ImageExport => "image export",
            WorkKind::DiskCopy => "disk copy from a snapshot",
            WorkKind::ScreenshotJobs => "screenshot jobs",
        })
    }
}

/// One piece of unfinished work, typed, as found at start.
#[derive(Debug)]
pub(crate) enum PendingWork {
    Operation { record: OperationRecord, operation: Operation },
    ImageBuild(ImageRecord),
    InstanceSnapshot(InstanceSnapshotRecord),
    ImageExport(TaskRecord),
    DiskCopy(DiskRecord),
}

impl PendingWork {
    pub(crate) fn kind(&self) -> WorkKind {
        match self {
            PendingWork::Operation { operation: Operation::CreateSnapshot(_), .. } => {
                WorkKind::CreateSnapshot
            }
            PendingWork::Operation { operation: Operation::ResetDisk(_), .. } => WorkKind::ResetDisk,
            PendingWork::Operation { operation: Operation::ImageChange(_), .. } => WorkKind::ImageChange,
            PendingWork::ImageBuild(_) => WorkKind::ImageBuild,
            PendingWork::InstanceSnapshot(_) => WorkKind::InstanceSnapshot,
            PendingWork::ImageExport(_) => WorkKind::ImageExport,
            PendingWork::DiskCopy(_) => WorkKind::DiskCopy,
        }
    }

    /// The resource the work makes or changes, for logs.
    fn subject(&self) -> &str {
        match self {
            PendingWork::Operation { record, .. } => &record.operation_id,
            PendingWork::ImageBuild(image) => &image.image_id,
            PendingWork::InstanceSnapshot(record) => &record.snapshot_id,
            PendingWork::ImageExport(task) => &task.task_id,
            PendingWork::DiskCopy(disk) => &disk.disk_id,
        }
    }
}

/// The services that own long work, for taking it up again.
pub(crate) struct Runner {
    pub(crate) store: Store,
    pub(crate) disks: Arc<Disks>,
    pub(crate) image_changes: Arc<ImageChanges>,
    pub(crate) image_builds: Arc<ImageBuilds>,
    pub(crate) instance_snapshots: Arc<InstanceSnapshots>,
    pub(crate) exports: Arc<Exports>,
    pub(crate) screenshot_jobs: Arc<ScreenshotJobs>,
}

impl Runner {
    /// Every unfinished piece of work, in resume order.
    pub(crate) async fn pending(&self) -> Result<Vec<PendingWork>> {
        let mut operations = Vec::new();
        for record in self.store.operations().await? {
            let operation = Operation::decode(&record)?;
            operations.push(PendingWork::Operation { record, operation });
        }
        // An image change holds its instance (and disk): settle it before anything else.
        operations.sort_by_key(|w| w.kind() != WorkKind::ImageChange);
        let mut pending = operations;
        for image in self.store.images_with_status(ImageStatus::Creating).await? {
            // An instance snapshot's image is finished by the instance snapshot's own work.
            if !self.store.image_made_by_instance_snapshot(&image.image_id).await? {
                pending.push(PendingWork::ImageBuild(image));
            }
        }
        for record in self.store.unfinished_instance_snapshots().await? {
            pending.push(PendingWork::InstanceSnapshot(record));
        }
        for task in self.store.processing_tasks().await? {
            if Exports::resumes(&task) {
                pending.push(PendingWork::ImageExport(task));
            }
        }
        for disk in self.store.all_disks().await? {
            if disk.status == DiskStatus::Creating && !disk.source_snapshot_id.is_empty() {
                pending.push(PendingWork::DiskCopy(disk));
            }
        }
        Ok(pending)
    }

    /// Take up every unfinished piece of work (at start, before the API answers).
    pub(crate) async fn resume_all(&self) -> Result<()> {
        for work in self.pending().await? {
            let kind = work.kind();
            tracing::info!(id = work.subject(), "resuming an interrupted {kind}");
            self.resume(work).await?;
        }
        self.image_changes.fail_orphaned_records().await?;
        self.disks.collect_deleted_snapshots().await;
        tracing::info!("resuming the {}", WorkKind::ScreenshotJobs);
        self.screenshot_jobs.start().await
    }

    async fn resume(&self, work: PendingWork) -> Result<()> {
        match work {
            PendingWork::Operation { record, operation } => match operation {
                Operation::CreateSnapshot(op) => self.disks.resume_snapshot(record, op).await,
                Operation::ResetDisk(op) => self.disks.resume_reset(&record, &op).await,
                Operation::ImageChange(op) => {
                    self.image_changes.resume(&record, &op).await;
                    Ok(())
                }
            },
            PendingWork::ImageBuild(image) => {
                self.image_builds.clone().spawn_build(image);
                Ok(())
            }
            PendingWork::InstanceSnapshot(record) => {
                self.instance_snapshots.clone().spawn_finish(record);
                Ok(())
            }
            PendingWork::ImageExport(task) => {
                self.exports.clone().spawn_export(task);
                Ok(())
            }
            PendingWork::DiskCopy(disk) => self.disks.resume_disk_copy(disk).await,
        }
    }
}
