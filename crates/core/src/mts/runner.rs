//! Running snapshot jobs: the bounded worker pool, one job from its source to the objects it
//! writes, and what a restart does.
//!
//! The store's job table is the queue, so nothing is lost across restarts: queued jobs are
//! still `Submitted` and run; a job that was `Snapshoting` when the server stopped is failed
//! with `InternalError.ServerRestart` (its frames were tied to a moment that has passed).
//! Two limits keep many jobs fair and the API responsive: at most `workers` jobs run at once
//! (FIFO), and at most `captures` frame grabs/decodes/encodes happen at once across all jobs
//! (a FIFO semaphore, so jobs interleave frame by frame).

use super::capture::{self, Sheet};
use super::codes;
use super::spec::{self, Cue, FrameType, JobInput, NameValues, SnapshotJobSpec};
use super::ScreenshotJobs;
use crate::buckets::ObjectFile;
use crate::{Error, InstanceStatus, Result};
use ecslab_store::{JobOutputKind, JobOutputRecord, JobState, SnapshotJobRecord};
use ecslab_vmm::Frame;
use image::RgbImage;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The synchronous mode's limit (MTS: 5 s), past which the job fails with `SnapshotTimeOut`.
pub const SYNC_LIMIT: Duration = Duration::from_secs(5);
/// How far past the first snapshot time the black-frame filter looks (MTS: the first 5 s).
const BLACK_WINDOW_MS: u64 = 5000;
const BLACK_STEP_MS: u64 = 500;

impl ScreenshotJobs {
    /// Start-up: fail jobs a previous server left running, start the workers, resume webhook
    /// deliveries.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<()> {
        // Read the undelivered messages first: failing interrupted jobs below queues theirs.
        let undelivered = self.store.snapshot_jobs_to_notify().await?;
        for job in self.store.snapshot_jobs_in_state(JobState::Snapshoting).await? {
            let err = codes::server_restart(job.count);
            tracing::warn!(job_id = %job.job_id, "snapshot job interrupted by a restart; failing it");
            self.finish_job(&job, Err(err), (job.count, job.tile_count)).await;
        }
        for job in undelivered {
            self.clone().spawn_delivery(job.job_id);
        }
        for _ in 0..self.config.workers.max(1) {
            self.clone().spawn_worker();
        }
        Ok(())
    }

    fn spawn_worker(self: Arc<Self>) {
        tokio::spawn(async move {
            loop {
                match self.store.claim_next_snapshot_job().await {
                    Ok(Some(job)) => self.run_queued(job).await,
                    Ok(None) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %crate::error::format_chain(&e), "claiming a snapshot job failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    async fn run_queued(self: &Arc<Self>, job: SnapshotJobRecord) {
        tracing::info!(job_id = %job.job_id, "snapshot job started");
        let mut run = match JobRun::new(self, &job) {
            Ok(run) => run,
            Err(e) => return self.finish_job(&job, Err(e), (0, 0)).await,
        };
        let result = run.run().await;
        let counts = run.counts();
        self.finish_job(&job, result, counts).await;
    }

    /// Run a synchronous job within [`SYNC_LIMIT`].
    pub(crate) async fn run_sync(self: &Arc<Self>, job: &SnapshotJobRecord) {
        let mut run = match JobRun::new(self, job) {
            Ok(run) => run,
            Err(e) => return self.finish_job(job, Err(e), (0, 0)).await,
        };
        let result = if run.cannot_finish_in_time() {
            Err(codes::timed_out(SYNC_LIMIT.as_millis()))
        } else {
            match tokio::time::timeout(SYNC_LIMIT, run.run()).await {
                Ok(result) => result,
                Err(_) => Err(codes::timed_out(SYNC_LIMIT.as_millis())),
            }
        };
        let counts = run.counts();
        self.finish_job(job, result, counts).await;
    }

    /// Record the end of a job and queue its webhook message when its pipeline has one.
    pub(crate) async fn finish_job(
        self: &Arc<Self>,
        job: &SnapshotJobRecord,
        result: Result<()>,
        counts: (i64, i64),
    ) {
        let (state, code, message) = match &result {
            Ok(()) => (JobState::Success, String::new(), String::new()),
            Err(e) => {
                if let Error::Internal { context } = e {
                    tracing::error!(job_id = %job.job_id, %context, "snapshot job failed inside ecslab");
                }
                (JobState::Fail, e.code().to_string(), e.to_string())
            }
        };
        let notify = self.webhook_of(&job.pipeline_id).await.is_some();
        match self.store.finish_snapshot_job(&job.job_id, state, &code, &message, counts, notify).await {
            Ok(true) => {
                tracing::info!(job_id = %job.job_id, %state, code = %code, count = counts.0, "snapshot job finished");
                if notify {
                    self.clone().spawn_delivery(job.job_id.clone());
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(job_id = %job.job_id, error = %e, "recording the end of a snapshot job failed")
            }
        }
    }
}

/// Where a job's frames come from, once checked.
enum Source {
    Instance {
        instance_id: String,
    },
    /// The video as a file FFmpeg can seek in (a download while the job runs, for S3 buckets).
    Video {
        file: ObjectFile,
        duration_ms: u64,
    },
}

/// One job being run: its counters, the sprite sheet being filled, the WebVTT cues so far.
struct JobRun<'a> {
    jobs: &'a ScreenshotJobs,
    job: SnapshotJobRecord,
    spec: SnapshotJobSpec,
    names: NameValues,
    count: i64,
    tile_count: i64,
    sheet: Option<Sheet>,
    /// (snapshot time, what the cue points at).
    cues: Vec<(u64, String)>,
}

impl<'a> JobRun<'a> {
    fn new(jobs: &'a ScreenshotJobs, job: &SnapshotJobRecord) -> Result<JobRun<'a>> {
        let spec: SnapshotJobSpec = serde_json::from_str(&job.spec)
            .map_err(|e| Error::internal(format!("job {} has an unreadable spec: {e}", job.job_id)))?;
        let names = NameValues::for_input(&spec.input);
        Ok(JobRun {
            jobs,
            job: job.clone(),
            spec,
            names,
            count: 0,
            tile_count: 0,
            sheet: None,
            cues: Vec::new(),
        })
    }

    fn counts(&self) -> (i64, i64) {
        (self.count, self.tile_count)
    }

    /// An instance's delay alone already exceeds the synchronous limit.
    fn cannot_finish_in_time(&self) -> bool {
        matches!(self.spec.input, JobInput::Instance { .. })
            && u128::from(self.spec.config.time_ms) >= SYNC_LIMIT.as_millis()
    }

    async fn run(&mut self) -> Result<()> {
        self.check_output_bucket(&self.spec.config.output.bucket).await?;
        if let Some(tiles) = &self.spec.config.tile_output {
            self.check_output_bucket(&tiles.bucket).await?;
        }
        match self.source().await? {
            Source::Instance { instance_id } => self.run_instance(&instance_id).await?,
            Source::Video { file, duration_ms } => self.run_video(file.path(), duration_ms).await?,
        }
        self.flush_sheet().await?;
        self.write_vtt().await
    }

    async fn source(&self) -> Result<Source> {
        match &self.spec.input {
            JobInput::Instance { instance_id } => {
                self.jobs.check_capturable(&self.job.account_id, instance_id).await?;
                Ok(Source::Instance { instance_id: instance_id.clone() })
            }
            JobInput::Video(object) => {
                let key = object.key();
                let file =
                    self.jobs.buckets.object_file(&object.bucket, &key).await.map_err(codes::from_bucket)?;
                let duration_ms =
                    capture::probe_duration_ms(file.path(), &format!("{}/{}", object.bucket, key)).await?;
                Ok(Source::Video { file, duration_ms })
            }
        }
    }

    async fn check_output_bucket(&self, bucket: &str) -> Result<()> {
        self.jobs.buckets.check_bucket(bucket).await.map_err(codes::from_bucket)
    }

    async fn run_instance(&mut self, instance_id: &str) -> Result<()> {
        let start = Instant::now();
        let times = spec::instance_times(&self.spec.config);
        for (i, t) in times.iter().enumerate() {
            tokio::time::sleep_until(start + Duration::from_millis(*t)).await;
            let frame = if i == 0 {
                self.first_instance_frame(instance_id).await?
            } else {
                self.grab(instance_id).await?
            };
            self.emit(frame, *t).await?;
        }
        Ok(())
    }

    async fn grab(&self, instance_id: &str) -> Result<Frame> {
        let _permit = self.jobs.captures.acquire().await.map_err(Error::internal)?;
        self.jobs.capture_screen(&self.job.account_id, instance_id).await
    }

    /// With BlackLevel, a black first screen is captured again every 0.5 s for up to 5 s.
    async fn first_instance_frame(&self, instance_id: &str) -> Result<Frame> {
        let first = self.grab(instance_id).await?;
        let Some(filter) = self.spec.config.black_filter() else { return Ok(first) };
        let mut waited = 0;
        let mut frame = first.clone();
        while filter.is_black(&frame.rgb) && waited < BLACK_WINDOW_MS {
            tokio::time::sleep(Duration::from_millis(BLACK_STEP_MS)).await;
            waited += BLACK_STEP_MS;
            frame = self.grab(instance_id).await?;
        }
        Ok(if filter.is_black(&frame.rgb) { first } else { frame })
    }

    async fn run_video(&mut self, path: &std::path::Path, duration_ms: u64) -> Result<()> {
        let times = spec::video_times(&self.spec.config, duration_ms);
        let frame_type = self.spec.config.frame_type.unwrap_or(FrameType::Intra);
        for (i, t) in times.iter().enumerate() {
            let found = if i == 0 {
                self.first_video_frame(path, *t, duration_ms, frame_type).await?
            } else {
                self.decode(path, *t, frame_type).await?.map(|f| (f, *t))
            };
            if let Some((frame, at)) = found {
                self.emit(frame, at).await?;
            }
        }
        if self.count == 0 && self.spec.config.is_sync() {
            return Err(codes::out_of_range_msg(&format!(
                "The specified parameter \"Time\" ({} ms) is past the end of the video ({duration_ms} ms).",
                self.spec.config.time_ms
            )));
        }
        Ok(())
    }

    async fn decode(&self, path: &std::path::Path, t: u64, frame_type: FrameType) -> Result<Option<Frame>> {
        let _permit = self.jobs.captures.acquire().await.map_err(Error::internal)?;
        capture::video_frame(path, t, frame_type).await
    }

    /// With BlackLevel, the first snapshot moves forward (0.5 s steps, up to 5 s) past black frames.
    async fn first_video_frame(
        &self,
        path: &std::path::Path,
        t: u64,
        duration_ms: u64,
        frame_type: FrameType,
    ) -> Result<Option<(Frame, u64)>> {
        let Some(first) = self.decode(path, t, frame_type).await? else { return Ok(None) };
        let Some(filter) = self.spec.config.black_filter() else { return Ok(Some((first, t))) };
        let mut at = t;
        while filter.is_black(&first.rgb) && at + BLACK_STEP_MS < (t + BLACK_WINDOW_MS).min(duration_ms) {
            at += BLACK_STEP_MS;
            if let Some(frame) = self.decode(path, at, FrameType::Normal).await? {
                if !filter.is_black(&frame.rgb) {
                    return Ok(Some((frame, at)));
                }
            }
        }
        Ok(Some((first, t)))
    }

    /// One snapshot: scale, write it (unless only sheets are kept), add it to the sheet and the
    /// index, record the progress.
    async fn emit(&mut self, frame: Frame, at_ms: u64) -> Result<()> {
        let config = &self.spec.config;
        let (width, height, quality) = (config.width, config.height, self.jobs.jpeg_quality);
        let image = tokio::task::spawn_blocking(move || capture::scale(frame, width, height))
            .await
            .map_err(Error::internal)??;
        self.count += 1;
        let values =
            NameValues { count: Some(self.count as u64), snapshot_time_ms: at_ms, ..self.names.clone() };
        let mut cue_target = None;
        if self.spec.config.keeps_cells() {
            let key = spec::expand_name(&self.spec.config.output.key(), &values);
            let jpeg = encode_blocking(image.clone(), quality).await?;
            let bucket = self.spec.config.output.bucket.clone();
            self.write(JobOutputKind::Frame, &bucket, &key, jpeg).await?;
            cue_target = Some(key);
        }
        if let Some(fragment) = self.add_to_sheet(&image, at_ms).await? {
            if self.spec.config.sprite_fragments == Some(true) || cue_target.is_none() {
                cue_target = Some(fragment);
            }
        }
        if let Some(target) = cue_target {
            self.cues.push((at_ms, target));
        }
        self.jobs.store.update_snapshot_job_counts(&self.job.job_id, self.count, self.tile_count).await?;
        Ok(())
    }

    /// Put every CellSelStep-th snapshot into the sheet; a full sheet is written. Returns the
    /// `sheet#xywh=` fragment of the cell.
    async fn add_to_sheet(&mut self, image: &RgbImage, at_ms: u64) -> Result<Option<String>> {
        let (Some(tile), Some(output)) =
            (self.spec.config.tile_out.clone(), self.spec.config.tile_output.clone())
        else {
            return Ok(None);
        };
        if (self.count - 1) % i64::from(tile.cell_sel_step.max(1)) != 0 {
            return Ok(None);
        }
        if self.sheet.is_none() {
            self.sheet = Some(Sheet::new(&tile, image.dimensions())?);
        }
        let Some(sheet) = self.sheet.as_mut() else { return Ok(None) };
        let (x, y, w, h) = sheet.add(image);
        let values = NameValues {
            tile_count: Some(self.tile_count as u64 + 1),
            snapshot_time_ms: at_ms,
            ..self.names.clone()
        };
        let sheet_key = spec::expand_name(&output.key(), &values);
        if sheet.is_full() {
            self.flush_sheet().await?;
        }
        Ok(Some(format!("{sheet_key}#xywh={x},{y},{w},{h}")))
    }

    async fn flush_sheet(&mut self) -> Result<()> {
        let (Some(sheet), Some(output)) = (self.sheet.as_mut(), self.spec.config.tile_output.clone()) else {
            return Ok(());
        };
        if sheet.is_empty() {
            return Ok(());
        }
        let image = sheet.take();
        self.tile_count += 1;
        let values = NameValues { tile_count: Some(self.tile_count as u64), ..self.names.clone() };
        let key = spec::expand_name(&output.key(), &values);
        let jpeg = encode_blocking(image, self.jobs.jpeg_quality).await?;
        self.write(JobOutputKind::Sheet, &output.bucket, &key, jpeg).await?;
        self.jobs.store.update_snapshot_job_counts(&self.job.job_id, self.count, self.tile_count).await?;
        Ok(())
    }

    /// Write one output object and note it for the job (the console lists a job's frames from these notes).
    async fn write(&self, kind: JobOutputKind, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.jobs.write_object(bucket, key, bytes).await?;
        let output = JobOutputRecord {
            job_id: self.job.job_id.clone(),
            kind,
            bucket: bucket.to_string(),
            object_key: key.to_string(),
        };
        self.jobs.store.add_snapshot_job_output(&output).await?;
        Ok(())
    }

    /// Format `vtt`: one cue per snapshot, until the next one (the last lasts one Interval).
    async fn write_vtt(&mut self) -> Result<()> {
        if !self.spec.config.wants_vtt() || self.cues.is_empty() {
            return Ok(());
        }
        let vtt_key = spec::vtt_name(&self.spec.config.output.key(), &self.names);
        let step = self.spec.config.interval_s.filter(|s| *s > 0).unwrap_or(1) * 1000;
        let cues: Vec<Cue> = self
            .cues
            .iter()
            .enumerate()
            .map(|(i, (start, target))| Cue {
                start_ms: *start,
                end_ms: self.cues.get(i + 1).map_or(start + step, |(next, _)| (*next).max(*start + 1)),
                text: spec::relative_to(&vtt_key, target),
            })
            .collect();
        let bucket = self.spec.config.output.bucket.clone();
        self.write(JobOutputKind::Index, &bucket, &vtt_key, spec::render_vtt(&cues).into_bytes()).await
    }
}

async fn encode_blocking(image: RgbImage, quality: u8) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || capture::encode(&image, quality)).await.map_err(Error::internal)?
}

impl ScreenshotJobs {
    /// An instance whose screen a job may capture: it exists in the account, is Running and
    /// has a display. Otherwise the job fails with MTS's resource codes.
    pub(crate) async fn check_capturable(&self, account_id: &str, instance_id: &str) -> Result<()> {
        let Some(instance) = self.store.instance(account_id, instance_id).await? else {
            return Err(codes::not_found(instance_id));
        };
        if instance.status != InstanceStatus::Running {
            return Err(codes::content_bad(
                instance_id,
                &format!("the instance is {}, not Running.", instance.status),
            ));
        }
        if !crate::catalog::find(&instance.instance_type).is_some_and(|t| t.display) {
            return Err(codes::content_bad(instance_id, "the instance type has no display."));
        }
        Ok(())
    }

    /// One frame of an instance's screen; a VM that stopped or vanished meanwhile fails cleanly.
    pub(crate) async fn capture_screen(&self, account_id: &str, instance_id: &str) -> Result<Frame> {
        self.check_capturable(account_id, instance_id).await?;
        match self.hypervisor.screenshot(instance_id).await {
            Ok(frame) => Ok(frame),
            Err(e) => {
                self.check_capturable(account_id, instance_id).await?;
                Err(Error::internal(format!("screendump of {instance_id}: {e}")))
            }
        }
    }

    /// Write an object into a bucket (local: temporary file, then rename; S3: one PUT). A
    /// missing bucket is `ResourceNotFound`, a refused write `PermissionDenied.ResourceAccess`.
    pub(crate) async fn write_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.buckets.put_bytes(bucket, key, bytes).await.map_err(codes::from_bucket)
    }
}
