//! PAI-DSW's reply bodies as typed structs: the field names and shapes the SDK's models read
//! (PascalCase, plain JSON arrays, no ECS list wrapping).

use ecslab_core::store::{InstanceSnapshotRecord, Tag};
use serde::Serialize;

/// The reply of each PAI-DSW action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PaiReply {
    /// CreateInstanceSnapshot and DeleteInstanceSnapshot.
    Ids(SnapshotIds),
    /// GetInstanceSnapshot.
    Snapshot(Box<Snapshot>),
    /// ListInstanceSnapshot.
    List(SnapshotList),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotIds {
    pub instance_id: String,
    pub snapshot_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotList {
    pub total_count: i64,
    pub snapshots: Vec<Snapshot>,
}

/// GetInstanceSnapshot's fields, also each item of ListInstanceSnapshot.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Snapshot {
    pub instance_id: String,
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub status: String,
    pub image_id: String,
    pub image_url: String,
    pub reason_code: String,
    pub reason_message: String,
    pub gmt_create_time: String,
    pub gmt_modified_time: String,
    pub labels: Vec<Label>,
    pub exclude_paths: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Label {
    pub key: String,
    pub value: String,
}

impl From<InstanceSnapshotRecord> for Snapshot {
    fn from(s: InstanceSnapshotRecord) -> Snapshot {
        Snapshot {
            instance_id: s.instance_id,
            snapshot_id: s.snapshot_id,
            snapshot_name: s.name,
            status: s.status.to_string(),
            image_id: s.image_id,
            image_url: s.image_url,
            reason_code: s.reason_code,
            reason_message: s.reason_message,
            gmt_create_time: s.created_at,
            gmt_modified_time: s.updated_at,
            labels: s.labels.into_iter().map(Label::from).collect(),
            exclude_paths: s.exclude_paths,
        }
    }
}

impl From<Tag> for Label {
    fn from(t: Tag) -> Label {
        Label { key: t.key, value: t.value }
    }
}
