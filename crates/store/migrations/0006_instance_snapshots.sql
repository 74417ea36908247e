-- PAI-DSW instance snapshots: an instance's system disk saved into an image (and optionally
-- pushed to an OCI registry). Status: Creating, Pushing, Saved, Failed (docs/API.md).
CREATE TABLE IF NOT EXISTS instance_snapshots (
    snapshot_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    image_url TEXT NOT NULL DEFAULT '',
    image_id TEXT NOT NULL DEFAULT '',
    overwrite INTEGER NOT NULL DEFAULT 0,
    exclude_paths TEXT NOT NULL DEFAULT '[]',
    labels TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    reason_code TEXT NOT NULL DEFAULT '',
    reason_message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instance_snapshots_instance ON instance_snapshots(account_id, instance_id);
CREATE INDEX IF NOT EXISTS instance_snapshots_image ON instance_snapshots(image_id);
