//! The statuses, steps and kinds (a disk's type) the store persists, as enums.
//!
//! Each is stored in a TEXT column through sqlx's type support, as exactly the word the API
//! shows (or, for internal steps, the word earlier versions wrote), so databases written before
//! these enums existed read back unchanged. `Display` and `Serialize` give the same word, so
//! renderers put them on the wire as they are. A word outside an enum reads as a corrupt row.
//! The one exception is [`ImageChangeStatus`], which ECD shows as a number: it is stored and
//! serialized as that number.

use serde::Serialize;

/// Write `ALL`, `as_str`, `Display`, `FromStr`, `Serialize` and `Deserialize` (the exact word)
/// for an enum from its list of (variant, word) pairs. Exported: the domain's request words
/// (filters, formats) are written the same way.
#[macro_export]
macro_rules! words {
    ($name:ident, $what:literal, [$($variant:ident => $word:literal),+ $(,)?]) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored and shown for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let word = <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                word.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::string::String;
            fn from_str(s: &str) -> ::std::result::Result<Self, ::std::string::String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s))
            }
        }
    };
}

/// An instance's status (the state machine that moves it lives in the domain crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum InstanceStatus {
    Pending,
    Starting,
    Running,
    Stopping,
    Stopped,
}

words!(InstanceStatus, "instance status", [
    Pending => "Pending",
    Starting => "Starting",
    Running => "Running",
    Stopping => "Stopping",
    Stopped => "Stopped",
]);

impl InstanceStatus {
    /// Whether a VM process is expected to exist (or be coming up) in this status.
    pub fn expects_process(self) -> bool {
        !matches!(self, InstanceStatus::Stopped)
    }

    /// Whether an operation is under way (the status will change without a new request).
    pub fn is_transitional(self) -> bool {
        matches!(self, InstanceStatus::Pending | InstanceStatus::Starting | InstanceStatus::Stopping)
    }
}

/// A disk's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum DiskStatus {
    /// Its content is being written (CreateDisk from a snapshot).
    Creating,
    /// Not attached.
    Available,
    /// Attached to an instance.
    #[sqlx(rename = "In_use")]
    InUse,
    Attaching,
    Detaching,
    /// ResetDisk is putting a snapshot's content back.
    ReIniting,
}

words!(DiskStatus, "disk status", [
    Creating => "Creating",
    Available => "Available",
    InUse => "In_use",
    Attaching => "Attaching",
    Detaching => "Detaching",
    ReIniting => "ReIniting",
]);

impl DiskStatus {
    /// Whether an instance holds the disk (attached or on its way in or out).
    pub fn is_attached(self) -> bool {
        matches!(self, DiskStatus::InUse | DiskStatus::Attaching | DiskStatus::Detaching)
    }
}

/// Whether a disk is an instance's system disk or a data disk (DiskType, SourceDiskType and
/// an image's DiskDeviceMapping.N.Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum DiskType {
    System,
    Data,
}

words!(DiskType, "disk type", [
    System => "system",
    Data => "data",
]);

/// Whether the instance's metadata service answers it at all (ECS's HttpEndpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum MetadataEndpoint {
    #[default]
    Enabled,
    Disabled,
}

words!(MetadataEndpoint, "metadata endpoint", [
    Enabled => "enabled",
    Disabled => "disabled",
]);

/// Whether reads of the instance's metadata need a session token (ECS's HttpTokens:
/// security-hardening mode forced, or normal mode allowed too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum MetadataTokens {
    #[default]
    Optional,
    Required,
}

words!(MetadataTokens, "metadata tokens", [
    Optional => "optional",
    Required => "required",
]);

/// A disk snapshot's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum SnapshotStatus {
    Progressing,
    Accomplished,
    Failed,
}

words!(SnapshotStatus, "snapshot status", [
    Progressing => "progressing",
    Accomplished => "accomplished",
    Failed => "failed",
]);

/// An image's status (DescribeImages' words; ecslab writes Creating, Available and
/// CreateFailed, the others are accepted as filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum ImageStatus {
    Creating,
    Waiting,
    Available,
    UnAvailable,
    CreateFailed,
    Deprecated,
}

words!(ImageStatus, "image status", [
    Creating => "Creating",
    Waiting => "Waiting",
    Available => "Available",
    UnAvailable => "UnAvailable",
    CreateFailed => "CreateFailed",
    Deprecated => "Deprecated",
]);

/// An ECS task's status (ecslab writes Processing, Finished and Failed; the others are
/// DescribeTasks filter words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum TaskStatus {
    Processing,
    Finished,
    Failed,
    Waiting,
    Deleted,
    Paused,
    Cancelled,
}

words!(TaskStatus, "task status", [
    Processing => "Processing",
    Finished => "Finished",
    Failed => "Failed",
    Waiting => "Waiting",
    Deleted => "Deleted",
    Paused => "Paused",
    Cancelled => "Cancelled",
]);

/// Where a Cloud Assistant invocation stands on one instance: ECS's per-instance
/// `InvocationStatus` words (ecslab writes all but Invalid and Scheduled, which it never needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum RunStatus {
    /// Accepted, not yet started in the guest.
    Pending,
    Running,
    /// StopInvocation asked; the process is being killed.
    Stopping,
    /// Exited with 0.
    Success,
    /// Exited with another code.
    Failed,
    /// Killed when its Timeout ran out.
    Timeout,
    /// Never reached the guest (instance not running, no agent answering).
    Aborted,
    /// Could not go on (user or directory missing, instance stopped under it).
    Error,
    /// Killed by StopInvocation.
    Terminated,
    /// Stopped before it started.
    Cancelled,
}

words!(RunStatus, "invocation run status", [
    Pending => "Pending",
    Running => "Running",
    Stopping => "Stopping",
    Success => "Success",
    Failed => "Failed",
    Timeout => "Timeout",
    Aborted => "Aborted",
    Error => "Error",
    Terminated => "Terminated",
    Cancelled => "Cancelled",
]);

impl RunStatus {
    /// Whether the run is over (nothing more happens to it).
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running | RunStatus::Stopping)
    }
}

/// A PAI-DSW instance snapshot's status: Creating → Pushing → Saved, or Failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum InstanceSnapshotStatus {
    Creating,
    Pushing,
    Saved,
    Failed,
}

words!(InstanceSnapshotStatus, "instance snapshot status", [
    Creating => "Creating",
    Pushing => "Pushing",
    Saved => "Saved",
    Failed => "Failed",
]);

impl InstanceSnapshotStatus {
    /// Whether the snapshot is still being made.
    pub fn is_unfinished(self) -> bool {
        matches!(self, InstanceSnapshotStatus::Creating | InstanceSnapshotStatus::Pushing)
    }
}

/// An MTS snapshot job's state (MTS spells `Snapshoting` so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum JobState {
    /// Queued.
    Submitted,
    /// Taken by a worker (or run synchronously).
    Snapshoting,
    Success,
    Fail,
}

words!(JobState, "snapshot job state", [
    Submitted => "Submitted",
    Snapshoting => "Snapshoting",
    Success => "Success",
    Fail => "Fail",
]);

/// What a snapshot job wrote into a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum JobOutputKind {
    /// One snapshot, a JPEG.
    Frame,
    /// A sprite sheet of several snapshots (TileOut), a JPEG.
    Sheet,
    /// The WebVTT index of the snapshots.
    Index,
}

words!(JobOutputKind, "snapshot job output kind", [
    Frame => "Frame",
    Sheet => "Sheet",
    Index => "Index",
]);

/// Where the webhook message of a finished job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum NotifyState {
    /// No message to send (stored as the empty word).
    #[sqlx(rename = "")]
    None,
    Pending,
    Delivered,
    Failed,
}

words!(NotifyState, "notification state", [
    None => "",
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
]);

/// An MTS pipeline's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum PipelineState {
    Active,
    Paused,
}

words!(PipelineState, "pipeline state", [
    Active => "Active",
    Paused => "Paused",
]);

/// Where an image change (ReplaceSystemDisk, RebuildDesktops) stands, as its record keeps it:
/// stored, and shown by DescribeImageModifiedRecords, as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i64)]
pub enum ImageChangeStatus {
    Changing = 0,
    Succeeded = 1,
    Failed = 2,
}

impl ImageChangeStatus {
    /// Every value, in declaration order.
    pub const ALL: &'static [ImageChangeStatus] =
        &[ImageChangeStatus::Changing, ImageChangeStatus::Succeeded, ImageChangeStatus::Failed];

    /// The number stored and shown for this value.
    pub fn number(self) -> i64 {
        self as i64
    }
}

impl Serialize for ImageChangeStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.number())
    }
}

/// What a persisted multi-step operation (the `operations` table) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum OperationKind {
    CreateSnapshot,
    ResetDisk,
    /// ReplaceSystemDisk or RebuildDesktops.
    ImageChange,
}

words!(OperationKind, "operation kind", [
    CreateSnapshot => "create_snapshot",
    ResetDisk => "reset_disk",
    ImageChange => "image_change",
]);

/// Where a persisted operation stands. Each kind uses some of the steps:
/// CreateSnapshot freeze → commit → seal (or parked at failed, to be retried);
/// ResetDisk build → switch; an image change (stop →) build → cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum OperationStep {
    Freeze,
    Commit,
    Seal,
    Failed,
    Build,
    Switch,
    Stop,
    Cleanup,
}

words!(OperationStep, "operation step", [
    Freeze => "freeze",
    Commit => "commit",
    Seal => "seal",
    Failed => "failed",
    Build => "build",
    Switch => "switch",
    Stop => "stop",
    Cleanup => "cleanup",
]);

/// A VPC's or vSwitch's status. Creation is synchronous here, so ecslab writes Available; Pending
/// is the word the real service shows while it configures one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum NetworkStatus {
    Pending,
    Available,
}

words!(NetworkStatus, "network status", [
    Pending => "Pending",
    Available => "Available",
]);

/// Which traffic a security group rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum RuleDirection {
    Ingress,
    Egress,
}

words!(RuleDirection, "rule direction", [
    Ingress => "ingress",
    Egress => "egress",
]);

/// What a security group rule does with matching traffic (ECS writes `Accept` / `Drop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
pub enum RulePolicy {
    Accept,
    Drop,
}

words!(RulePolicy, "rule policy", [
    Accept => "Accept",
    Drop => "Drop",
]);

/// The protocol a security group rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "UPPERCASE")]
pub enum IpProtocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

words!(IpProtocol, "IP protocol", [
    Tcp => "TCP",
    Udp => "UDP",
    Icmp => "ICMP",
    All => "ALL",
]);

/// A security group's type (only `normal` is created; `enterprise` is refused at the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum SecurityGroupType {
    Normal,
    Enterprise,
}

words!(SecurityGroupType, "security group type", [
    Normal => "normal",
    Enterprise => "enterprise",
]);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::fmt;
    use std::str::FromStr;

    use sqlx::{Row, SqlitePool};

    /// The word of every value is the same through Display, FromStr, serde and sqlx (both ways).
    async fn round_trips<T>(pool: &SqlitePool, all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + Serialize + Send + Unpin + 'static,
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>,
    {
        for &value in all {
            let word = value.to_string();
            assert!(word.parse::<T>().ok() == Some(value), "{word}");
            assert_eq!(serde_json::to_value(value).unwrap(), serde_json::Value::String(word.clone()));
            let row = sqlx::query("SELECT ?, ?").bind(value).bind(&word).fetch_one(pool).await.unwrap();
            assert_eq!(row.get::<String, _>(0), word, "stored as its word");
            assert_eq!(row.get::<T, _>(1), value, "read from its word");
        }
    }

    #[tokio::test]
    async fn every_word_round_trips() {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        round_trips(&pool, InstanceStatus::ALL).await;
        round_trips(&pool, DiskStatus::ALL).await;
        round_trips(&pool, DiskType::ALL).await;
        round_trips(&pool, MetadataEndpoint::ALL).await;
        round_trips(&pool, MetadataTokens::ALL).await;
        round_trips(&pool, SnapshotStatus::ALL).await;
        round_trips(&pool, ImageStatus::ALL).await;
        round_trips(&pool, TaskStatus::ALL).await;
        round_trips(&pool, RunStatus::ALL).await;
        round_trips(&pool, InstanceSnapshotStatus::ALL).await;
        round_trips(&pool, JobState::ALL).await;
        round_trips(&pool, JobOutputKind::ALL).await;
        round_trips(&pool, NotifyState::ALL).await;
        round_trips(&pool, PipelineState::ALL).await;
        round_trips(&pool, OperationKind::ALL).await;
        round_trips(&pool, OperationStep::ALL).await;
        round_trips(&pool, NetworkStatus::ALL).await;
        round_trips(&pool, RuleDirection::ALL).await;
        round_trips(&pool, RulePolicy::ALL).await;
        round_trips(&pool, IpProtocol::ALL).await;
        round_trips(&pool, SecurityGroupType::ALL).await;
    }

    #[tokio::test]
    async fn image_change_statuses_are_their_numbers() {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        for (&status, number) in ImageChangeStatus::ALL.iter().zip(0i64..) {
            assert_eq!(status.number(), number);
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(number));
            let row = sqlx::query("SELECT ?, ?").bind(status).bind(number).fetch_one(&pool).await.unwrap();
            assert_eq!(row.get::<i64, _>(0), number, "stored as its number");
            assert_eq!(row.get::<ImageChangeStatus, _>(1), status, "read from its number");
        }
    }
}
