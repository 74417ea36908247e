-- Long ECS tasks with a TaskId (ExportImage): DescribeTaskAttribute / DescribeTasks read them.
-- status: Processing, Finished, Failed; progress 0-100.
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    -- What the task works on, as JSON (e.g. the bucket, object and format of an export).
    payload TEXT NOT NULL DEFAULT '{}',
    failure_code TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    finished_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_account ON tasks(account_id);
