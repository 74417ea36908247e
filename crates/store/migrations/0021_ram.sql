-- RAM and STS (issue 13): the people and roles of an account, their policies, and what is attached to whom.
-- Everything is scoped by account_id: a RAM user, group, custom policy or role belongs to exactly one account, and
-- names are unique within it (RAM compares user, group and role names without regard to case).
-- An access key with a user_id is that RAM user's; without one it is the account's root key.
ALTER TABLE access_keys ADD COLUMN user_id TEXT;
CREATE INDEX IF NOT EXISTS access_keys_user ON access_keys(account_id, user_id);

CREATE TABLE IF NOT EXISTS ram_users (
    user_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    mobile_phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    comments TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ram_users_name ON ram_users(account_id, user_name COLLATE NOCASE);

CREATE TABLE IF NOT EXISTS ram_groups (
    group_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    group_name TEXT NOT NULL,
    comments TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ram_groups_name ON ram_groups(account_id, group_name COLLATE NOCASE);

CREATE TABLE IF NOT EXISTS ram_group_members (
    account_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS ram_group_members_user ON ram_group_members(user_id);

-- Custom policies; the system policies are embedded in ecslab-iam and never stored.
CREATE TABLE IF NOT EXISTS ram_policies (
    account_id TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    default_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account_id, policy_name)
);
CREATE TABLE IF NOT EXISTS ram_policy_versions (
    account_id TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    -- "v1", "v2", ...
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, policy_name, version_id)
);

-- A policy attached to a user, group or role, by the principal's id (a rename keeps it) and the policy's type and
-- name (System or Custom, as RAM names them).
CREATE TABLE IF NOT EXISTS ram_attachments (
    account_id TEXT NOT NULL,
    principal_type TEXT NOT NULL CHECK (principal_type IN ('User', 'Group', 'Role')),
    principal_id TEXT NOT NULL,
    policy_type TEXT NOT NULL CHECK (policy_type IN ('System', 'Custom')),
    policy_name TEXT NOT NULL,
    attached_at TEXT NOT NULL,
    PRIMARY KEY (account_id, principal_type, principal_id, policy_type, policy_name)
);
CREATE INDEX IF NOT EXISTS ram_attachments_policy ON ram_attachments(account_id, policy_type, policy_name);

CREATE TABLE IF NOT EXISTS ram_roles (
    role_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    role_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    assume_role_policy_document TEXT NOT NULL,
    -- Seconds, 3600..43200 (RAM's MaxSessionDuration).
    max_session_duration INTEGER NOT NULL DEFAULT 3600,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ram_roles_name ON ram_roles(account_id, role_name COLLATE NOCASE);
