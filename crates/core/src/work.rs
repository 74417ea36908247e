//! The persisted forms of long work, below every service that does such work: the typed
//! payloads of the `operations` table, tied to their kinds and decoded in one place, and the
//! points between two persisted steps where the crash-safety tests kill the server
//! ([`crash_point`], the one place such a kill is injected, at the [`CrashPoint`] named by
//! `ECSLAB_CRASH_AT`). The services write these; the runner reads them back at start.

use crate::{Error, Result};
use ecslab_store::{OperationKind, OperationRecord};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The persisted state of one CreateSnapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CreateSnapshotOp {
    pub(crate) snapshot_id: String,
    pub(crate) disk_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) top: PathBuf,
    pub(crate) new_top: PathBuf,
    pub(crate) base: PathBuf,
    /// The disk's parent snapshot when the point in time was taken (what `base` held).
    pub(crate) parent_snapshot_id: String,
    /// The file S's header will name: the parent's file, the image, or none.
    pub(crate) parent_file: Option<PathBuf>,
}

/// The persisted state of one ResetDisk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResetDiskOp {
    pub(crate) disk_id: String,
    pub(crate) snapshot_id: String,
    pub(crate) old_top: PathBuf,
    pub(crate) old_base: PathBuf,
    pub(crate) new_top: PathBuf,
    pub(crate) new_base: PathBuf,
}

/// The persisted state of one image change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageChangeOp {
    pub(crate) record_seq: i64,
    pub(crate) account_id: String,
    pub(crate) instance_id: String,
    pub(crate) old_disk_id: String,
    pub(crate) old_top: PathBuf,
    pub(crate) old_base: PathBuf,
    pub(crate) new_disk: NewDisk,
    pub(crate) image_id: String,
    /// The desktop was Running: stop it first, start it again at the end.
    pub(crate) restart: bool,
}

/// The new system disk, decided when the change is accepted (its id is the API's answer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NewDisk {
    pub(crate) disk_id: String,
    pub(crate) top: PathBuf,
    pub(crate) base: PathBuf,
    pub(crate) size_gib: i64,
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
