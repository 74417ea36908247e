-- ecslab metadata. Times are RFC 3339 UTC strings; lists and maps are JSON text.
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    access_key_secret TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    access_key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_seen_at ON nonces(seen_at);
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    size_gib INTEGER NOT NULL DEFAULT 0,
    virtual_size_bytes INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT 'qcow2',
    platform TEXT NOT NULL DEFAULT 'Others Linux',
    architecture TEXT NOT NULL DEFAULT 'x86_64',
    os_type TEXT NOT NULL DEFAULT 'linux',
    import_bucket TEXT NOT NULL DEFAULT '',
    import_object TEXT NOT NULL DEFAULT '',
    failure_reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_account ON images(account_id);
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    host_name TEXT NOT NULL DEFAULT '',
    instance_type TEXT NOT NULL,
    image_id TEXT NOT NULL,
    status TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 1,
    ever_started INTEGER NOT NULL DEFAULT 0,
    zone_id TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    operation_locks TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS instances_account ON instances(account_id);
CREATE TABLE IF NOT EXISTS disks (
    disk_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    instance_id TEXT,
    disk_type TEXT NOT NULL,
    device_index INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT 'cloud_essd',
    size_gib INTEGER NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    image_id TEXT NOT NULL DEFAULT '',
    delete_with_instance INTEGER NOT NULL DEFAULT 1,
    zone_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attached_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS disks_instance ON disks(instance_id);
CREATE TABLE IF NOT EXISTS idempotency (
    account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    client_token TEXT NOT NULL,
    params_digest TEXT NOT NULL,
    response TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, action, client_token)
);
