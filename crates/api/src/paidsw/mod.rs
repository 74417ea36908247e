//! PAI-DSW 2022-01-01: instance snapshots, the one ROA (REST) product. Requests are routed by
//! method and path, not by Action: `POST|GET /api/v2/instances/{InstanceId}/snapshots` and
//! `GET|DELETE /api/v2/instances/{InstanceId}/snapshots/{SnapshotId}`. Bodies are JSON; replies
//! carry PAI's envelope (`Success`, `Code`, `Message`, `HttpStatusCode` besides `RequestId`),
//! see [`crate::envelope::roa_success`]. The `Status` lifecycle is documented in
//! [`ecslab_core::instance_snapshots`] and docs/API.md.

mod parse;
mod reply;
mod resources;

pub use parse::{route, PaiRequest};
pub use reply::{PaiReply, Snapshot, SnapshotIds, SnapshotList};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RestProduct};
use ecslab_core::Cloud;
use std::sync::Arc;

pub const VERSION: &str = "2022-01-01";

/// PAI-DSW in the server's table of products.
pub struct PaiDsw;

impl Product for PaiDsw {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "paidsw";
    type Request = PaiRequest;
    type Response = PaiReply;

    fn resources(request: &PaiRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    async fn execute(cloud: &Arc<Cloud>, call: &Call, request: PaiRequest) -> Result<PaiReply, ApiError> {
        let account = call.account();
        execute(cloud, account, request).await
    }
}

impl RestProduct for PaiDsw {
    const PATH_PREFIX: &'static str = parse::PATH_PREFIX;

    fn route(
        method: &str,
        raw_path: &str,
        query: &Params,
        body: &[u8],
    ) -> Option<(&'static str, ecslab_core::Result<PaiRequest>)> {
        route(method, raw_path, query, body)
    }
}

/// Execute one parsed PAI-DSW request.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: PaiRequest) -> Result<PaiReply, ApiError> {
    Ok(match request {
        PaiRequest::CreateInstanceSnapshot(req) => {
            let record = cloud.instance_snapshots().create_instance_snapshot(account, req).await?;
            PaiReply::Ids(SnapshotIds { instance_id: record.instance_id, snapshot_id: record.snapshot_id })
        }
        PaiRequest::GetInstanceSnapshot { instance_id, snapshot_id } => {
            let record =
                cloud.instance_snapshots().instance_snapshot(account, &instance_id, &snapshot_id).await?;
            PaiReply::Snapshot(Box::new(record.into()))
        }
        PaiRequest::ListInstanceSnapshot { instance_id, listing } => {
            let page =
                cloud.instance_snapshots().list_instance_snapshots(account, &instance_id, &listing).await?;
            PaiReply::List(SnapshotList {
                total_count: page.total_count,
                snapshots: page.snapshots.into_iter().map(Snapshot::from).collect(),
            })
        }
        PaiRequest::DeleteInstanceSnapshot { instance_id, snapshot_id } => {
            cloud.instance_snapshots().delete_instance_snapshot(account, &instance_id, &snapshot_id).await?;
            PaiReply::Ids(SnapshotIds { instance_id, snapshot_id })
        }
    })
}
