-- Disks as a pair of files: `path` is the writable top the VM writes to, `base_path` the private
-- materialized base below it (content of `parent_snapshot_id`, or of the image, or blank).
ALTER TABLE disks ADD COLUMN base_path TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN parent_snapshot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN source_snapshot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN ever_attached INTEGER NOT NULL DEFAULT 1;
ALTER TABLE disks ADD COLUMN ever_used INTEGER NOT NULL DEFAULT 0;
ALTER TABLE disks ADD COLUMN portable INTEGER NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS snapshots (
    snapshot_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    source_disk_id TEXT NOT NULL,
    source_disk_type TEXT NOT NULL,
    source_disk_size INTEGER NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    -- The layer file holding what changed since the parent snapshot; its qcow2 header names the
    -- parent's file (or the image, or nothing) once the snapshot is accomplished.
    path TEXT NOT NULL,
    parent_snapshot_id TEXT NOT NULL DEFAULT '',
    -- The image file at the bottom of the chain ('' for data disks).
    image_path TEXT NOT NULL DEFAULT '',
    retention_days INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    -- A deleted snapshot whose file is still needed as a parent stays as a hidden row.
    deleted INTEGER NOT NULL DEFAULT 0,
    failure_reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_disk ON snapshots(source_disk_id);
CREATE INDEX IF NOT EXISTS snapshots_account ON snapshots(account_id);

-- Multi-step chain operations, persisted so a restart finishes or rolls back each one.
CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    disk_id TEXT NOT NULL,
    step TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);

ALTER TABLE images ADD COLUMN source_snapshot_id TEXT NOT NULL DEFAULT '';
