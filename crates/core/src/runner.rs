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
//! The crash-safety tests kill the server between two persisted steps: [`crash_point`] is the
//! one place such a kill is injected, at the [`CrashPoint`] named by `ECSLAB_CRASH_AT`.

use crate::disks::{CreateSnapshotOp, Disks, ResetDiskOp};
use crate::exports::Exports;
use crate::image_changes::{ImageChangeOp, ImageChanges};
use crate::images::ImageBuilds;
use crate::instance_snapshots::InstanceSnapshots;
use crate::mts::ScreenshotJobs;
use crate::{Error, Result};
use ecslab_store::{
    DiskRecord, DiskStatus, ImageRecord, ImageStatus, InstanceSnapshotRecord, OperationKind, OperationRecord,
    Store, TaskRecord,
};
use serde::{Deserialize, Serialize};
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

/// A payload type of the `operations` table, tied to its kind.
pub(crate) trait OperationPayload: Serialize + for<'de> Deserialize<'de> {
    const KIND: OperationKind;
}

impl OperationPayload for CreateSnapshotOp {
    const KIND: OperationKind = OperationKind::CreateSnapshot;
}

impl OperationPayload for ResetDiskOp {
    const KIND: OperationKind = OperationKind::ResetDisk;
}

impl OperationPayload for ImageChangeOp {
    const KIND: OperationKind = OperationKind::ImageChange;
}

/// The stored form of an operation's payload.
pub(crate) fn encode<T: OperationPayload>(payload: &T) -> Result<String> {
    serde_json::to_string(payload).map_err(Error::internal)
}

/// A persisted operation's payload, typed by the kind stored beside it: the one place a kind
/// word decides how a payload reads.
#[derive(Debug, Clone)]
pub(crate) enum Operation {
    CreateSnapshot(CreateSnapshotOp),
    ResetDisk(ResetDiskOp),
    ImageChange(ImageChangeOp),
}

impl Operation {
    pub(crate) fn decode(record: &OperationRecord) -> Result<Operation> {
        fn read<T: OperationPayload>(record: &OperationRecord) -> Result<T> {
            serde_json::from_str(&record.payload).map_err(|e| {
                Error::internal(format!(
                    "corrupt {} payload of operation {}: {e}",
                    T::KIND,
                    record.operation_id
                ))
            })
        }
        Ok(match record.kind {
            OperationKind::CreateSnapshot => Operation::CreateSnapshot(read(record)?),
            OperationKind::ResetDisk => Operation::ResetDisk(read(record)?),
            OperationKind::ImageChange => Operation::ImageChange(read(record)?),
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

/// A point between two persisted steps where the crash-safety tests kill the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    SnapshotAfterFreeze,
    SnapshotAfterCommit,
    SnapshotAfterSealHeader,
    DeleteAfterRebase,
    DeleteAfterRemoveFile,
    ResetAfterBuild,
    ResetAfterSwitch,
    InstanceSnapshotAfterFlatten,
    InstanceSnapshotAfterExclude,
    InstanceSnapshotAfterAvailable,
    ImageChangeBeforeBuild,
    ImageChangeAfterSwitch,
}

impl CrashPoint {
    /// The name `ECSLAB_CRASH_AT` takes.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::SnapshotAfterFreeze => "snapshot-after-freeze",
            CrashPoint::SnapshotAfterCommit => "snapshot-after-commit",
            CrashPoint::SnapshotAfterSealHeader => "snapshot-after-seal-header",
            CrashPoint::DeleteAfterRebase => "delete-after-rebase",
            CrashPoint::DeleteAfterRemoveFile => "delete-after-remove-file",
            CrashPoint::ResetAfterBuild => "reset-after-build",
            CrashPoint::ResetAfterSwitch => "reset-after-switch",
            CrashPoint::InstanceSnapshotAfterFlatten => "instance-snapshot-after-flatten",
            CrashPoint::InstanceSnapshotAfterExclude => "instance-snapshot-after-exclude",
            CrashPoint::InstanceSnapshotAfterAvailable => "instance-snapshot-after-available",
            CrashPoint::ImageChangeBeforeBuild => "image-change-before-build",
            CrashPoint::ImageChangeAfterSwitch => "image-change-after-switch",
        }
    }
}

/// Abort the process here if the operator (a test) asked to crash at `point`, as if killed with
/// SIGKILL between two steps of the work.
pub(crate) fn crash_point(point: CrashPoint) {
    if std::env::var("ECSLAB_CRASH_AT").is_ok_and(|p| p == point.name()) {
        tracing::warn!(point = point.name(), "injected crash");
        std::process::abort();
    }
}
