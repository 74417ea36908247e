//! Screenshot jobs, MTS-style (SubmitSnapshotJob / QuerySnapshotJobList, plus the minimal
//! pipelines they can name): series of real screenshots of an instance's screen, or frames of a
//! video object decoded with FFmpeg, written as JPEG objects into local buckets.
//!
//! Why a job system and not a loop in the request: a series of snapshots takes as long as its
//! schedule, so, as on MTS, only the synchronous mode (one image, neither Interval nor Num)
//! answers after the work; everything else is queued, persisted, and run by a bounded pool of
//! workers (`runner.rs`) whose progress clients poll or receive by webhook (`notify.rs`).
//!
//! - `spec.rs`: the typed request and its pure rules (mode, schedule, names, WebVTT).
//! - `capture.rs`: FFmpeg decoding, scaling, sprite sheets.
//! - `runner.rs`: workers, one job end to end, restart handling.
//! - `codes.rs`: MTS's failure codes.
//!
//! The engine is its own service, [`ScreenshotJobs`], holding only what it needs (the store, the
//! buckets, the hypervisor for screen grabs, its limits and worker state); the cloud owns one
//! and hands it out through `Cloud::screenshot_jobs`, so nothing here depends on the cloud.

mod capture;
pub mod codes;
pub mod notify;
pub mod outputs;
mod runner;
pub mod spec;

pub use runner::SYNC_LIMIT;
pub use spec::{NewPipeline, SnapshotJobQuery, SnapshotJobSpec, SubmitSnapshotJob};

use crate::buckets::Buckets;
use crate::config::MtsConfig;
use crate::{Error, Result};
use ecslab_store::{
    now_rfc3339, JobState, NotifyState, PipelineRecord, PipelineState, SnapshotJobListFilter,
    SnapshotJobRecord, Store,
};
use ecslab_vmm::Hypervisor;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// The screenshot-job service: MTS's actions and the workers that run its jobs.
pub struct ScreenshotJobs {
    store: Store,
    buckets: Arc<Buckets>,
    /// Used only to grab an instance's screen.
    hypervisor: Arc<dyn Hypervisor>,
    config: MtsConfig,
    /// JPEG quality of every image a job writes (the cloud's screenshot quality).
    jpeg_quality: u8,
    /// Wakes an idle worker when a job is queued.
    wake: Notify,
    /// At most `config.captures` frame grabs/decodes/encodes at once, FIFO across jobs.
    captures: Semaphore,
    /// The webhook client.
    http: reqwest::Client,
}

impl std::fmt::Debug for ScreenshotJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScreenshotJobs(workers={}, captures={})", self.config.workers, self.config.captures)
    }
}

/// A job with its parsed request, for rendering.
#[derive(Debug, Clone)]
pub struct SnapshotJobView {
    pub record: SnapshotJobRecord,
    pub spec: SnapshotJobSpec,
}

/// One page of QuerySnapshotJobList.
#[derive(Debug, Clone)]
pub struct SnapshotJobPage {
    pub jobs: Vec<SnapshotJobView>,
    pub non_existent: Vec<String>,
    pub next_page_token: String,
}

/// A 32-character lowercase hex id, MTS's id shape for jobs, pipelines and messages.
pub fn new_hex_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether `id` has MTS's id shape (32 hex characters).
pub fn is_hex_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn view(record: SnapshotJobRecord) -> Result<SnapshotJobView> {
    let spec = serde_json::from_str(&record.spec)
        .map_err(|e| Error::internal(format!("job {} has an unreadable spec: {e}", record.job_id)))?;
    Ok(SnapshotJobView { record, spec })
}

impl ScreenshotJobs {
    /// The service, not yet started (see `start`): no worker runs until then.
    pub(crate) fn new(
        store: Store,
        buckets: Arc<Buckets>,
        hypervisor: Arc<dyn Hypervisor>,
        config: MtsConfig,
        jpeg_quality: u8,
    ) -> ScreenshotJobs {
        ScreenshotJobs {
            store,
            buckets,
            hypervisor,
            jpeg_quality,
            wake: Notify::new(),
            captures: Semaphore::new(config.captures.max(1)),
            config,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
        }
    }

    /// SubmitSnapshotJob: queue an asynchronous job, or run a synchronous one to its end.
    pub async fn submit_snapshot_job(
        self: &Arc<Self>,
        account_id: &str,
        req: SubmitSnapshotJob,
    ) -> Result<SnapshotJobView> {
        let pipeline_id = req.pipeline_id.unwrap_or_default();
        if !pipeline_id.is_empty() && self.store.pipeline(account_id, &pipeline_id).await?.is_none() {
            return Err(codes::not_found(&pipeline_id));
        }
        for bucket in req.spec.buckets() {
            crate::buckets::claim(&self.store, account_id, bucket).await?.map_err(codes::from_bucket)?;
        }
        let sync = req.spec.config.is_sync();
        let record = SnapshotJobRecord {
            seq: 0,
            job_id: new_hex_id(),
            account_id: account_id.to_string(),
            pipeline_id,
            state: if sync { JobState::Snapshoting } else { JobState::Submitted },
            code: String::new(),
            message: String::new(),
            count: 0,
            tile_count: 0,
            user_data: req.user_data,
            spec: serde_json::to_string(&req.spec).map_err(Error::internal)?,
            sync,
            created_at: now_rfc3339(),
            finished_at: String::new(),
            notify_state: NotifyState::None,
            notify_attempts: 0,
            mns_message_id: String::new(),
            mns_error_code: String::new(),
            mns_error_message: String::new(),
        };
        let record = self.store.insert_snapshot_job(&record).await?;
        if sync {
            self.run_sync(&record).await;
        } else {
            self.wake.notify_one();
        }
        let fresh = self.store.snapshot_job(account_id, &record.job_id).await?.unwrap_or(record);
        view(fresh)
    }

    /// QuerySnapshotJobList: by ids (unknown ones listed apart), or filtered and paged newest
    /// first, the page token being the id of the next page's first job.
    pub async fn query_snapshot_jobs(
        &self,
        account_id: &str,
        q: &SnapshotJobQuery,
    ) -> Result<SnapshotJobPage> {
        if !q.job_ids.is_empty() {
            let mut jobs = Vec::new();
            let mut non_existent = Vec::new();
            for id in &q.job_ids {
                match self.store.snapshot_job(account_id, id).await? {
                    Some(record) => jobs.push(view(record)?),
                    None => non_existent.push(id.clone()),
                }
            }
            return Ok(SnapshotJobPage { jobs, non_existent, next_page_token: String::new() });
        }
        let max_seq = match &q.next_page_token {
            None => None,
            Some(token) => Some(
                self.store
                    .snapshot_job(account_id, token)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid("NextPageToken", "The NextPageToken is not one this server issued.")
                    })?
                    .seq,
            ),
        };
        let filter = SnapshotJobListFilter {
            state: q.state.clone(),
            pipeline_id: q.pipeline_id.clone(),
            created_from: q.created_from.clone(),
            created_to: q.created_to.clone(),
            max_seq,
            limit: i64::from(q.page_size) + 1,
        };
        let mut records = self.store.snapshot_jobs(account_id, &filter).await?;
        let next_page_token = if records.len() > q.page_size as usize {
            records.pop().map(|r| r.job_id).unwrap_or_default()
        } else {
            String::new()
        };
        let jobs = records.into_iter().map(view).collect::<Result<Vec<_>>>()?;
        Ok(SnapshotJobPage { jobs, non_existent: Vec::new(), next_page_token })
    }

    /// AddPipeline.
    pub async fn add_pipeline(&self, account_id: &str, req: NewPipeline) -> Result<PipelineRecord> {
        let config = serde_json::Value::Object(req.notify_config);
        for key in ["Topic", "QueueName"] {
            if let Some(url) = config.get(key).and_then(|v| v.as_str()) {
                let is_url = url.starts_with("http://") || url.starts_with("https://");
                if is_url && reqwest::Url::parse(url).is_err() {
                    return Err(Error::invalid("NotifyConfig", format!("{key} {url:?} is not a valid URL.")));
                }
            }
        }
        let record = PipelineRecord {
            pipeline_id: new_hex_id(),
            account_id: account_id.to_string(),
            name: req.name,
            state: PipelineState::Active,
            speed: req.speed,
            speed_level: req.speed_level,
            role: req.role,
            notify_config: config.to_string(),
            created_at: now_rfc3339(),
        };
        self.store.insert_pipeline(&record).await?;
        Ok(record)
    }

    /// QueryPipelineList: the pipelines found and the ids that were not.
    pub async fn query_pipelines(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> Result<(Vec<PipelineRecord>, Vec<String>)> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.store.pipeline(account_id, id).await? {
                Some(p) => found.push(p),
                None => missing.push(id.clone()),
            }
        }
        Ok((found, missing))
    }
}
