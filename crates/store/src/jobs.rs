//! MTS pipelines and snapshot jobs.
//!
//! The job table is also the work queue: [`Store::claim_next_snapshot_job`] moves the oldest
//! `Submitted` job to `Snapshoting` in one conditional statement, so concurrent workers never
//! take the same job, and after a restart every job is still where it was left.

use crate::records::decode_column;
use crate::{
    db, now_rfc3339, JobOutputKind, JobState, NotifyState, PipelineState, Result, Store, StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRecord {
    pub pipeline_id: String,
    pub account_id: String,
    pub name: String,
    pub state: PipelineState,
    pub speed: String,
    pub speed_level: i64,
    pub role: String,
    /// The NotifyConfig JSON object as given.
    pub notify_config: String,
    pub created_at: String,
}

impl PipelineRecord {
    fn from_row(r: &SqliteRow) -> Result<PipelineRecord> {
        let pipeline_id: String = r.get("pipeline_id");
        Ok(PipelineRecord {
            state: decode_column(r, "state", &pipeline_id)?,
            pipeline_id,
            account_id: r.get("account_id"),
            name: r.get("name"),
            speed: r.get("speed"),
            speed_level: r.get("speed_level"),
            role: r.get("role"),
            notify_config: r.get("notify_config"),
            created_at: r.get("created_at"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotJobRecord {
    pub seq: i64,
    pub job_id: String,
    pub account_id: String,
    pub pipeline_id: String,
    pub state: JobState,
    pub code: String,
    pub message: String,
    pub count: i64,
    pub tile_count: i64,
    pub user_data: String,
    /// The domain's serialized job (input and SnapshotConfig).
    pub spec: String,
    pub sync: bool,
    pub created_at: String,
    pub finished_at: String,
    /// Webhook delivery.
    pub notify_state: NotifyState,
    pub notify_attempts: i64,
    pub mns_message_id: String,
    pub mns_error_code: String,
    pub mns_error_message: String,
}

/// One object a snapshot job wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutputRecord {
    pub job_id: String,
    pub kind: JobOutputKind,
    pub bucket: String,
    pub object_key: String,
}

impl SnapshotJobRecord {
    fn from_row(r: &SqliteRow) -> Result<SnapshotJobRecord> {
        let job_id: String = r.get("job_id");
        Ok(SnapshotJobRecord {
            state: decode_column(r, "state", &job_id)?,
            notify_state: decode_column(r, "notify_state", &job_id)?,
            seq: r.get("seq"),
            job_id,
            account_id: r.get("account_id"),
            pipeline_id: r.get("pipeline_id"),
            code: r.get("code"),
            message: r.get("message"),
            count: r.get("count"),
            tile_count: r.get("tile_count"),
            user_data: r.get("user_data"),
            spec: r.get("spec"),
            sync: r.get::<i64, _>("sync") != 0,
            created_at: r.get("created_at"),
            finished_at: r.get("finished_at"),
            notify_attempts: r.get("notify_attempts"),
            mns_message_id: r.get("mns_message_id"),
            mns_error_code: r.get("mns_error_code"),
            mns_error_message: r.get("mns_error_message"),
        })
    }
}

/// What QuerySnapshotJobList filters on (every field optional) and how much it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotJobListFilter {
    pub state: Option<String>,
    pub pipeline_id: Option<String>,
    /// Inclusive bounds on `created_at` (`YYYY-MM-DDThh:mm:ssZ`, which sorts as text).
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    /// Only jobs at or before this position in the list (the page token's job).
    pub max_seq: Option<i64>,
    pub limit: i64,
}

const JOB_COLUMNS: &str = "seq, job_id, account_id, pipeline_id, state, code, message, count, tile_count,
    user_data, spec, sync, created_at, finished_at, notify_state, notify_attempts, mns_message_id,
    mns_error_code, mns_error_message";

impl Store {
    // ---- pipelines -----------------------------------------------------------------------------

    pub async fn insert_pipeline(&self, p: &PipelineRecord) -> Result<()> {
        self.write(
            sqlx::query(
                "INSERT INTO mts_pipelines (pipeline_id, account_id, name, state, speed, speed_level, role,
                notify_config, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&p.pipeline_id)
            .bind(&p.account_id)
            .bind(&p.name)
            .bind(p.state)
            .bind(&p.speed)
            .bind(p.speed_level)
            .bind(&p.role)
            .bind(&p.notify_config)
            .bind(&p.created_at),
        )
        .await
        .map_err(db("inserting a pipeline"))?;
        Ok(())
    }

    pub async fn pipeline(&self, account_id: &str, pipeline_id: &str) -> Result<Option<PipelineRecord>> {
        let row = sqlx::query("SELECT * FROM mts_pipelines WHERE account_id = ? AND pipeline_id = ?")
            .bind(account_id)
            .bind(pipeline_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a pipeline"))?;
        row.as_ref().map(PipelineRecord::from_row).transpose()
    }

    /// A pipeline by id alone, for background work (notifications) that already knows it exists.
    pub async fn pipeline_by_id(&self, pipeline_id: &str) -> Result<Option<PipelineRecord>> {
        let row = sqlx::query("SELECT * FROM mts_pipelines WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a pipeline"))?;
        row.as_ref().map(PipelineRecord::from_row).transpose()
    }

    // ---- snapshot jobs ------------------------------------------------------------------------

    /// Insert a job; returns it with its queue position.
    pub async fn insert_snapshot_job(&self, job: &SnapshotJobRecord) -> Result<SnapshotJobRecord> {
        let row = self
            .write_returning(
                sqlx::query(&format!(
            "INSERT INTO mts_snapshot_jobs (job_id, account_id, pipeline_id, state, code, message, count,
                tile_count, user_data, spec, sync, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {JOB_COLUMNS}"
        ))
                .bind(&job.job_id)
                .bind(&job.account_id)
                .bind(&job.pipeline_id)
                .bind(job.state)
                .bind(&job.code)
                .bind(&job.message)
                .bind(job.count)
                .bind(job.tile_count)
                .bind(&job.user_data)
                .bind(&job.spec)
                .bind(job.sync as i64)
                .bind(&job.created_at),
            )
            .await
            .map_err(db("inserting a snapshot job"))?
            .ok_or_else(|| StoreError::Corrupt {
                what: "snapshot job",
                key: job.job_id.clone(),
                detail: "INSERT … RETURNING gave no row".into(),
            })?;
        SnapshotJobRecord::from_row(&row)
    }

    pub async fn snapshot_job(&self, account_id: &str, job_id: &str) -> Result<Option<SnapshotJobRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM mts_snapshot_jobs WHERE account_id = ? AND job_id = ?"
        ))
        .bind(account_id)
        .bind(job_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a snapshot job"))?;
        row.as_ref().map(SnapshotJobRecord::from_row).transpose()
    }

    pub async fn snapshot_job_by_id(&self, job_id: &str) -> Result<Option<SnapshotJobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM mts_snapshot_jobs WHERE job_id = ?"))
            .bind(job_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a snapshot job"))?;
        row.as_ref().map(SnapshotJobRecord::from_row).transpose()
    }

    /// An account's jobs, newest first, filtered; at most `filter.limit` rows.
    pub async fn snapshot_jobs(
        &self,
        account_id: &str,
        filter: &SnapshotJobListFilter,
    ) -> Result<Vec<SnapshotJobRecord>> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM mts_snapshot_jobs
             WHERE account_id = ?
               AND (? = '' OR state = ?)
               AND (? = '' OR pipeline_id = ?)
               AND (? = '' OR created_at >= ?)
               AND (? = '' OR created_at <= ?)
               AND (? = 0 OR seq <= ?)
             ORDER BY seq DESC LIMIT ?"
        ))
        .bind(account_id)
        .bind(opt(&filter.state))
        .bind(opt(&filter.state))
        .bind(opt(&filter.pipeline_id))
        .bind(opt(&filter.pipeline_id))
        .bind(opt(&filter.created_from))
        .bind(opt(&filter.created_from))
        .bind(opt(&filter.created_to))
        .bind(opt(&filter.created_to))
        .bind(filter.max_seq.unwrap_or(0))
        .bind(filter.max_seq.unwrap_or(0))
        .bind(filter.limit)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing snapshot jobs"))?;
        rows.iter().map(SnapshotJobRecord::from_row).collect()
    }

    /// Take the oldest queued job (of any account): `Submitted` → `Snapshoting`, atomically.
    pub async fn claim_next_snapshot_job(&self) -> Result<Option<SnapshotJobRecord>> {
        let row = self
            .write_returning(
                sqlx::query(&format!(
                    "UPDATE mts_snapshot_jobs SET state = ?1
             WHERE seq = (SELECT seq FROM mts_snapshot_jobs WHERE state = ?2 ORDER BY seq LIMIT 1)
               AND state = ?2
             RETURNING {JOB_COLUMNS}"
                ))
                .bind(JobState::Snapshoting)
                .bind(JobState::Submitted),
            )
            .await
            .map_err(db("claiming a snapshot job"))?;
        row.as_ref().map(SnapshotJobRecord::from_row).transpose()
    }

    /// Record progress of a running job.
    pub async fn update_snapshot_job_counts(&self, job_id: &str, count: i64, tile_count: i64) -> Result<()> {
        self.write(
            sqlx::query("UPDATE mts_snapshot_jobs SET count = ?, tile_count = ? WHERE job_id = ?")
                .bind(count)
                .bind(tile_count)
                .bind(job_id),
        )
        .await
        .map_err(db("updating a snapshot job"))?;
        Ok(())
    }

    /// Note an object a job wrote (once per name).
    pub async fn add_snapshot_job_output(&self, output: &JobOutputRecord) -> Result<()> {
        self.write(
            sqlx::query(
                "INSERT INTO mts_job_outputs (job_id, kind, bucket, object_key) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (job_id, bucket, object_key) DO NOTHING",
            )
            .bind(&output.job_id)
            .bind(output.kind)
            .bind(&output.bucket)
            .bind(&output.object_key),
        )
        .await
        .map_err(db("noting a snapshot job's output"))?;
        Ok(())
    }

    /// The objects a job wrote, in the order it wrote them.
    pub async fn snapshot_job_outputs(&self, job_id: &str) -> Result<Vec<JobOutputRecord>> {
        let rows = sqlx::query(
            "SELECT job_id, kind, bucket, object_key FROM mts_job_outputs WHERE job_id = ? ORDER BY rowid",
        )
        .bind(job_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing a snapshot job's outputs"))?;
        rows.iter()
            .map(|r| {
                let job_id: String = r.get("job_id");
                Ok(JobOutputRecord {
                    kind: decode_column(r, "kind", &job_id)?,
                    job_id,
                    bucket: r.get("bucket"),
                    object_key: r.get("object_key"),
                })
            })
            .collect()
    }

    /// Finish a job (`Success` or `Fail`) unless it already finished; `notify` marks a webhook
    /// delivery as pending in the same statement, so a crash cannot lose it. Returns whether
    /// this call finished it.
    pub async fn finish_snapshot_job(
        &self,
        job_id: &str,
        state: JobState,
        code: &str,
        message: &str,
        counts: (i64, i64),
        notify: bool,
    ) -> Result<bool> {
        let done = self.write(sqlx::query(
            "UPDATE mts_snapshot_jobs SET state = ?, code = ?, message = ?, count = ?, tile_count = ?,
                finished_at = ?, notify_state = ?
             WHERE job_id = ? AND state IN (?, ?)",
        )
        .bind(state)
        .bind(code)
        .bind(message)
        .bind(counts.0)
        .bind(counts.1)
        .bind(now_rfc3339())
        .bind(if notify { NotifyState::Pending } else { NotifyState::None })
        .bind(job_id)
        .bind(JobState::Submitted)
        .bind(JobState::Snapshoting)
        )
        .await
        .map_err(db("finishing a snapshot job"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Jobs of every account in `state` (for the work a restart has to do).
    pub async fn snapshot_jobs_in_state(&self, state: JobState) -> Result<Vec<SnapshotJobRecord>> {
        let rows =
            sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM mts_snapshot_jobs WHERE state = ? ORDER BY seq"))
                .bind(state)
                .fetch_all(self.reader())
                .await
                .map_err(db("listing snapshot jobs by state"))?;
        rows.iter().map(SnapshotJobRecord::from_row).collect()
    }

    /// Jobs whose webhook message is still to be delivered.
    pub async fn snapshot_jobs_to_notify(&self) -> Result<Vec<SnapshotJobRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM mts_snapshot_jobs WHERE notify_state = ? ORDER BY seq"
        ))
        .bind(NotifyState::Pending)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing undelivered notifications"))?;
        rows.iter().map(SnapshotJobRecord::from_row).collect()
    }

    /// Record one delivery attempt of a job's webhook message.
    pub async fn record_snapshot_notification(
        &self,
        job_id: &str,
        notify_state: NotifyState,
        message_id: &str,
        error_code: &str,
        error_message: &str,
    ) -> Result<()> {
        self.write(
            sqlx::query(
                "UPDATE mts_snapshot_jobs SET notify_state = ?, notify_attempts = notify_attempts + 1,
                mns_message_id = ?, mns_error_code = ?, mns_error_message = ?
             WHERE job_id = ?",
            )
            .bind(notify_state)
            .bind(message_id)
            .bind(error_code)
            .bind(error_message)
            .bind(job_id),
        )
        .await
        .map_err(db("recording a notification"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, account: &str) -> SnapshotJobRecord {
        SnapshotJobRecord {
            seq: 0,
            job_id: id.into(),
            account_id: account.into(),
            pipeline_id: String::new(),
            state: JobState::Submitted,
            code: String::new(),
            message: String::new(),
            count: 0,
            tile_count: 0,
            user_data: String::new(),
            spec: "{}".into(),
            sync: false,
            created_at: now_rfc3339(),
            finished_at: String::new(),
            notify_state: NotifyState::None,
            notify_attempts: 0,
            mns_message_id: String::new(),
            mns_error_code: String::new(),
            mns_error_message: String::new(),
        }
    }

    #[tokio::test]
    async fn the_queue_hands_out_each_job_once_in_order() {
        let store = Store::open_in_memory().await.unwrap();
        store.insert_snapshot_job(&job("a", "1")).await.unwrap();
        store.insert_snapshot_job(&job("b", "2")).await.unwrap();
        assert_eq!(store.claim_next_snapshot_job().await.unwrap().unwrap().job_id, "a");
        assert_eq!(store.claim_next_snapshot_job().await.unwrap().unwrap().job_id, "b");
        assert!(store.claim_next_snapshot_job().await.unwrap().is_none());
        assert!(store.finish_snapshot_job("a", JobState::Success, "", "", (3, 0), true).await.unwrap());
        assert!(!store.finish_snapshot_job("a", JobState::Fail, "X", "", (3, 0), false).await.unwrap());
        let pending = store.snapshot_jobs_to_notify().await.unwrap();
        assert_eq!(pending.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(), vec!["a"]);
    }

    #[tokio::test]
    async fn listing_is_per_account_newest_first_and_filtered() {
        let store = Store::open_in_memory().await.unwrap();
        for id in ["a", "b", "c"] {
            store.insert_snapshot_job(&job(id, "1")).await.unwrap();
        }
        store.insert_snapshot_job(&job("x", "2")).await.unwrap();
        let all = SnapshotJobListFilter { limit: 10, ..Default::default() };
        let ids: Vec<String> =
            store.snapshot_jobs("1", &all).await.unwrap().into_iter().map(|j| j.job_id).collect();
        assert_eq!(ids, vec!["c", "b", "a"]);
        store.claim_next_snapshot_job().await.unwrap();
        let running =
            SnapshotJobListFilter { state: Some("Snapshoting".into()), limit: 10, ..Default::default() };
        assert_eq!(store.snapshot_jobs("1", &running).await.unwrap()[0].job_id, "a");
        assert!(store.snapshot_job("2", "a").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn outputs_are_listed_in_writing_order_once_per_name() {
        let store = Store::open_in_memory().await.unwrap();
        store.insert_snapshot_job(&job("a", "1")).await.unwrap();
        let output = |kind, key: &str| JobOutputRecord {
            job_id: "a".into(),
            kind,
            bucket: "shots".into(),
            object_key: key.into(),
        };
        for (kind, key) in [
            (JobOutputKind::Frame, "f/00002.jpg"),
            (JobOutputKind::Frame, "f/00001.jpg"),
            (JobOutputKind::Frame, "f/00002.jpg"),
            (JobOutputKind::Index, "f/index.vtt"),
        ] {
            store.add_snapshot_job_output(&output(kind, key)).await.unwrap();
        }
        let got = store.snapshot_job_outputs("a").await.unwrap();
        assert_eq!(
            got,
            vec![
                output(JobOutputKind::Frame, "f/00002.jpg"),
                output(JobOutputKind::Frame, "f/00001.jpg"),
                output(JobOutputKind::Index, "f/index.vtt")
            ]
        );
        assert!(store.snapshot_job_outputs("b").await.unwrap().is_empty());
    }
}
