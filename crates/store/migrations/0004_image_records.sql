-- Image changes of instances (ECS ReplaceSystemDisk, ECD RebuildDesktops), listed by ECD
-- DescribeImageModifiedRecords. Names are copied, not joined: a record outlives the images it
-- names. `seq` is monotonic, the keyset of the newest-first paging.
CREATE TABLE IF NOT EXISTS image_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    image_name TEXT NOT NULL,
    new_image_id TEXT NOT NULL,
    new_image_name TEXT NOT NULL,
    -- 0 changing, 1 succeeded, 2 failed (with reason).
    status INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    -- UTC with milliseconds, e.g. 2022-03-03T02:43:44.851Z.
    update_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS image_records_instance ON image_records(account_id, instance_id, seq);

-- Server-wide secrets (e.g. the key that signs DescribeImageModifiedRecords NextTokens), created
-- once and shared by every API server of this store.
CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
