-- MTS (2014-06-18): pipelines and snapshot jobs. Jobs are the queue: workers claim the oldest
-- `Submitted` row by a conditional update, so a restart finds every job where it was left.
CREATE TABLE IF NOT EXISTS mts_pipelines (
    pipeline_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    speed TEXT NOT NULL,
    speed_level INTEGER NOT NULL DEFAULT 1,
    role TEXT NOT NULL DEFAULT '',
    -- The NotifyConfig JSON object as given (Topic, QueueName, MqTopic, MqTag).
    notify_config TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mts_pipelines_account ON mts_pipelines(account_id);

CREATE TABLE IF NOT EXISTS mts_snapshot_jobs (
    -- Submission order: the queue order and the list order.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    pipeline_id TEXT NOT NULL DEFAULT '',
    -- Submitted (queued), Snapshoting, Success, Fail.
    state TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL DEFAULT 0,
    tile_count INTEGER NOT NULL DEFAULT 0,
    user_data TEXT NOT NULL DEFAULT '',
    -- The typed job (input and SnapshotConfig) as the domain serialized it.
    spec TEXT NOT NULL,
    sync INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT '',
    -- Webhook delivery: '' (none), pending, delivered, failed.
    notify_state TEXT NOT NULL DEFAULT '',
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    mns_message_id TEXT NOT NULL DEFAULT '',
    mns_error_code TEXT NOT NULL DEFAULT '',
    mns_error_message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS mts_jobs_account ON mts_snapshot_jobs(account_id, seq);
CREATE INDEX IF NOT EXISTS mts_jobs_state ON mts_snapshot_jobs(state, seq);
