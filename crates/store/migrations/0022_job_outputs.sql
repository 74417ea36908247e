-- What each MTS snapshot job wrote, in order, so the web console can show a job's frames: their names may hold
-- {SnapshotTime}, which nothing else keeps. A name written twice (a template without {Count}) is listed once.
CREATE TABLE IF NOT EXISTS mts_job_outputs (
    job_id TEXT NOT NULL REFERENCES mts_snapshot_jobs(job_id),
    kind TEXT NOT NULL,
    bucket TEXT NOT NULL,
    object_key TEXT NOT NULL,
    UNIQUE (job_id, bucket, object_key)
);
CREATE INDEX IF NOT EXISTS mts_job_outputs_job ON mts_job_outputs(job_id);
