-- Into the guest (issue 12): SSH key pairs (the public half only; a created pair's private key is returned once and
-- never stored) and what an instance's guest is given at boot: its key pair, its password as a SHA-512 crypt hash,
-- its user data (base64 as given). An instance's settings are a row of their own, apart from `instances`, so the
-- instance rows stay as they were; a key pair is referenced by name within its account, as ECS does.
CREATE TABLE IF NOT EXISTS key_pairs (
    account_id TEXT NOT NULL,
    key_pair_name TEXT NOT NULL,
    key_pair_id TEXT NOT NULL,
    finger_print TEXT NOT NULL,
    -- The OpenSSH line `<algorithm> <base64>[ <comment>]`.
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, key_pair_name)
);
CREATE INDEX IF NOT EXISTS key_pairs_account_order ON key_pairs(account_id, created_at, key_pair_name);

CREATE TABLE IF NOT EXISTS instance_settings (
    instance_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    key_pair_name TEXT,
    -- `$6$...`: never the password itself.
    password_hash TEXT,
    user_data TEXT
);
CREATE INDEX IF NOT EXISTS instance_settings_key_pair ON instance_settings(account_id, key_pair_name);
