//! The resources each MTS request acts on, for RAM (`acs:mts:{region}:{account}:pipeline/{id}`): MTS's RAM rules
//! grant most actions service-wide, so only what names a pipeline names it (SubmitSnapshotJob with PipelineId,
//! QueryPipelineList); AddPipeline names `pipeline/*`; the job listing is checked account-wide.

use super::MtsRequest;
use crate::product::ResourceName;

/// The resources of one parsed MTS request.
pub fn resources(request: &MtsRequest) -> Vec<ResourceName> {
    match request {
        MtsRequest::SubmitSnapshotJob(job) => {
            job.pipeline_id.iter().map(|id| ResourceName::new("pipeline", id)).collect()
        }
        MtsRequest::QuerySnapshotJobList(_) => Vec::new(),
        MtsRequest::AddPipeline(_) => vec![ResourceName::any("pipeline")],
        MtsRequest::QueryPipelineList { pipeline_ids } => {
            pipeline_ids.iter().map(|id| ResourceName::new("pipeline", id)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    #[test]
    fn pipeline_listing_names_each_pipeline() {
        let params = Params::from_pairs([("PipelineIds".to_string(), "p1,p2".to_string())]);
        let request = super::super::parse::parse("QueryPipelineList", &params).unwrap().unwrap();
        let got: Vec<String> = super::resources(&request).iter().map(|r| r.relative()).collect();
        assert_eq!(got, ["pipeline/p1", "pipeline/p2"]);
    }
}
