-- Cloud Assistant (ECS RunCommand and friends): commands, their invocations, and each
-- invocation's run on one instance (run through the guest agent; `pid` is the process in the
-- guest, so a restarted server polls it again).
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    command_type TEXT NOT NULL,
    -- The script as given (decoded from Base64 when it came encoded), Base64 here so any bytes fit.
    content TEXT NOT NULL,
    working_dir TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    timeout_secs INTEGER NOT NULL,
    enable_parameter INTEGER NOT NULL DEFAULT 0,
    -- JSON array of the {{name}} placeholders found in the content.
    parameter_names TEXT NOT NULL DEFAULT '[]',
    -- 0: made by RunCommand without KeepCommand, hidden from DescribeCommands.
    kept INTEGER NOT NULL DEFAULT 1,
    invoke_times INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_account ON commands(account_id, created_at, command_id);

CREATE TABLE IF NOT EXISTS invocations (
    invoke_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    command_name TEXT NOT NULL,
    command_type TEXT NOT NULL,
    command_description TEXT NOT NULL DEFAULT '',
    -- The script that runs (placeholders replaced), Base64.
    content TEXT NOT NULL,
    -- JSON object of the Parameters given.
    parameters TEXT NOT NULL DEFAULT '{}',
    working_dir TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    timeout_secs INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocations_account ON invocations(account_id, created_at, invoke_id);

CREATE TABLE IF NOT EXISTS invocation_instances (
    invoke_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    -- Pending, Running, Stopping, Success, Failed, Timeout, Aborted, Error, Terminated, Cancelled.
    status TEXT NOT NULL,
    pid INTEGER,
    exit_code INTEGER,
    -- Base64 of at most 24 KiB of stdout and stderr; dropped counts the bytes cut off.
    output TEXT NOT NULL DEFAULT '',
    dropped INTEGER NOT NULL DEFAULT 0,
    error_code TEXT NOT NULL DEFAULT '',
    error_info TEXT NOT NULL DEFAULT '',
    start_time TEXT NOT NULL DEFAULT '',
    finish_time TEXT NOT NULL DEFAULT '',
    stop_time TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (invoke_id, instance_id)
);
CREATE INDEX IF NOT EXISTS invocation_instances_open ON invocation_instances(status);
