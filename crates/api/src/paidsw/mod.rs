//! PAI-DSW 2022-01-01: instance snapshots, the one ROA (REST) product. Requests are routed by
//! method and path, not by Action: `POST|GET /api/v2/instances/{InstanceId}/snapshots` and
//! `GET|DELETE /api/v2/instances/{InstanceId}/snapshots/{SnapshotId}`. Bodies are JSON; replies
//! carry PAI's envelope (`Success`, `Code`, `Message`, `HttpStatusCode` besides `RequestId`),
//! see [`crate::envelope::roa_success`]. The `Status` lifecycle is documented in
//! [`ecslab_core::instance_snapshots`] and docs/API.md.

mod parse;

pub use parse::{route, PaiRequest};

use crate::envelope::ApiError;
use ecslab_core::store::InstanceSnapshotRecord;
use ecslab_core::Cloud;
use serde_json::{json, Value};
use std::sync::Arc;

pub const VERSION: &str = "2022-01-01";

/// Execute one parsed PAI-DSW request.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: PaiRequest) -> Result<Value, ApiError> {
    Ok(match request {
        PaiRequest::CreateInstanceSnapshot(req) => {
            let record = cloud.create_instance_snapshot(account, req).await?;
            json!({ "InstanceId": record.instance_id, "SnapshotId": record.snapshot_id })
        }
        PaiRequest::GetInstanceSnapshot { instance_id, snapshot_id } => {
            snapshot(&cloud.instance_snapshot(account, &instance_id, &snapshot_id).await?)
        }
        PaiRequest::ListInstanceSnapshot { instance_id, listing } => {
            let page = cloud.list_instance_snapshots(account, &instance_id, &listing).await?;
            json!({
                "TotalCount": page.total_count,
                "Snapshots": page.snapshots.iter().map(snapshot).collect::<Vec<_>>(),
            })
        }
        PaiRequest::DeleteInstanceSnapshot { instance_id, snapshot_id } => {
            cloud.delete_instance_snapshot(account, &instance_id, &snapshot_id).await?;
            json!({ "InstanceId": instance_id, "SnapshotId": snapshot_id })
        }
    })
}

/// GetInstanceSnapshot's fields, also each item of ListInstanceSnapshot.
fn snapshot(s: &InstanceSnapshotRecord) -> Value {
    json!({
        "InstanceId": s.instance_id,
        "SnapshotId": s.snapshot_id,
        "SnapshotName": s.name,
        "Status": s.status,
        "ImageId": s.image_id,
        "ImageUrl": s.image_url,
        "ReasonCode": s.reason_code,
        "ReasonMessage": s.reason_message,
        "GmtCreateTime": s.created_at,
        "GmtModifiedTime": s.updated_at,
        "Labels": s.labels.iter().map(|l| json!({ "Key": l.key, "Value": l.value })).collect::<Vec<_>>(),
        "ExcludePaths": s.exclude_paths,
    })
}
