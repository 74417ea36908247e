//! MTS 2014-06-18: screenshot jobs (SubmitSnapshotJob, QuerySnapshotJobList) and the minimal
//! pipelines they can name (AddPipeline, QueryPipelineList). Parsing each action into a typed
//! [`MtsRequest`] is pure and unit tested; executing runs it against the [`Cloud`]. Same shape as
//! the `ecs` module; see docs/adding-an-action.md.

mod parse;
mod render;

pub use parse::parse;

use crate::envelope::ApiError;
use crate::params::Params;
use ecslab_core::mts::{NewPipeline, SnapshotJobQuery, SubmitSnapshotJob};
use ecslab_core::{Cloud, Result};
use serde_json::{json, Value};
use std::sync::Arc;

pub const VERSION: &str = "2014-06-18";

/// One parsed MTS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtsRequest {
    SubmitSnapshotJob(Box<SubmitSnapshotJob>),
    QuerySnapshotJobList(SnapshotJobQuery),
    AddPipeline(NewPipeline),
    QueryPipelineList { pipeline_ids: Vec<String> },
}

/// Route, parse and execute one MTS action (the server's step 3-4 for this product).
pub async fn dispatch(
    cloud: &Arc<Cloud>,
    account: &str,
    action: &str,
    params: &Params,
) -> std::result::Result<Value, ApiError> {
    let request = crate::server::parsed_rpc(cloud, action, params, parse(action, params))?;
    Ok(execute(cloud, account, request).await?)
}

/// Run a parsed request for an account; returns the response body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: MtsRequest) -> Result<Value> {
    Ok(match request {
        MtsRequest::SubmitSnapshotJob(req) => {
            let job = cloud.submit_snapshot_job(account, *req).await?;
            json!({ "SnapshotJob": render::job(&job) })
        }
        MtsRequest::QuerySnapshotJobList(query) => {
            let page = cloud.query_snapshot_jobs(account, &query).await?;
            render::job_page(&page)
        }
        MtsRequest::AddPipeline(req) => {
            let pipeline = cloud.add_pipeline(account, req).await?;
            json!({ "Pipeline": render::pipeline(&pipeline) })
        }
        MtsRequest::QueryPipelineList { pipeline_ids } => {
            let (found, missing) = cloud.query_pipelines(account, &pipeline_ids).await?;
            json!({
                "PipelineList": { "Pipeline": found.iter().map(render::pipeline).collect::<Vec<_>>() },
                "NonExistPids": { "String": missing },
            })
        }
    })
}
