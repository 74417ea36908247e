//! MTS 2014-06-18: screenshot jobs (SubmitSnapshotJob, QuerySnapshotJobList) and the minimal
//! pipelines they can name (AddPipeline, QueryPipelineList). Parsing each action into a typed
//! [`MtsRequest`] is pure and unit tested; executing runs it against the [`Cloud`]. Same shape as
//! the `ecs` module; see docs/adding-an-action.md.

mod parse;
mod render;
mod resources;

pub use parse::parse;
pub use render::MtsReply;

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::mts::{NewPipeline, SnapshotJobQuery, SubmitSnapshotJob};
use ecslab_core::{Cloud, Result};
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

/// MTS in the server's table of products.
pub struct Mts;

impl Product for Mts {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "mts";
    type Request = MtsRequest;
    type Response = MtsReply;

    fn resources(request: &MtsRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: MtsRequest,
    ) -> std::result::Result<MtsReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud, account, request).await?)
    }
}

impl RpcProduct for Mts {
    fn parse(action: &str, params: &Params) -> Option<Result<MtsRequest>> {
        parse(action, params)
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: MtsRequest) -> Result<MtsReply> {
    Ok(match request {
        MtsRequest::SubmitSnapshotJob(req) => {
            let job = cloud.screenshot_jobs().submit_snapshot_job(account, *req).await?;
            MtsReply::SubmitSnapshotJob { snapshot_job: Box::new(render::job(&job)) }
        }
        MtsRequest::QuerySnapshotJobList(query) => {
            let page = cloud.screenshot_jobs().query_snapshot_jobs(account, &query).await?;
            MtsReply::QuerySnapshotJobList(render::job_page(&page))
        }
        MtsRequest::AddPipeline(req) => {
            let pipeline = cloud.screenshot_jobs().add_pipeline(account, req).await?;
            MtsReply::AddPipeline { pipeline: render::pipeline(&pipeline) }
        }
        MtsRequest::QueryPipelineList { pipeline_ids } => {
            let (found, missing) = cloud.screenshot_jobs().query_pipelines(account, &pipeline_ids).await?;
            MtsReply::QueryPipelineList {
                pipeline_list: render::PipelineList {
                    pipeline: found.iter().map(render::pipeline).collect(),
                },
                non_exist_pids: render::Strings { string: missing },
            }
        }
    })
}
