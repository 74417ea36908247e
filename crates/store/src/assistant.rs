//! Cloud Assistant rows: commands, invocations and each invocation's run on one instance
//! (migration `0016_cloud_assistant.sql`). A run's status only moves forward: every update
//! names the statuses it may move from, so a StopInvocation and a finishing process cannot
//! both win.

use crate::records::{decode_column, parse_json_column};
use crate::{db, to_json, Result, RunStatus, Store};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    pub command_id: String,
    pub account_id: String,
    pub name: String,
    pub description: String,
    pub command_type: String,
    /// The script, Base64.
    pub content: String,
    pub working_dir: String,
    pub username: String,
    pub timeout_secs: i64,
    pub enable_parameter: bool,
    pub parameter_names: Vec<String>,
    /// False for RunCommand's own command without KeepCommand (not listed).
    pub kept: bool,
    pub invoke_times: i64,
    pub created_at: String,
}

impl CommandRecord {
    fn from_row(r: &SqliteRow) -> Result<CommandRecord> {
        let command_id: String = r.get("command_id");
        Ok(CommandRecord {
            parameter_names: parse_json_column(r, "parameter_names", &command_id)?,
            command_id,
            account_id: r.get("account_id"),
            name: r.get("name"),
            description: r.get("description"),
            command_type: r.get("command_type"),
            content: r.get("content"),
            working_dir: r.get("working_dir"),
            username: r.get("username"),
            timeout_secs: r.get("timeout_secs"),
            enable_parameter: r.get("enable_parameter"),
            kept: r.get("kept"),
            invoke_times: r.get("invoke_times"),
            created_at: r.get("created_at"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationRecord {
    pub invoke_id: String,
    pub account_id: String,
    pub command_id: String,
    pub command_name: String,
    pub command_type: String,
    pub command_description: String,
    /// The script that runs (placeholders replaced), Base64.
    pub content: String,
    pub parameters: BTreeMap<String, String>,
    pub working_dir: String,
    pub username: String,
    pub timeout_secs: i64,
    pub created_at: String,
}

impl InvocationRecord {
    fn from_row(r: &SqliteRow) -> Result<InvocationRecord> {
        let invoke_id: String = r.get("invoke_id");
        Ok(InvocationRecord {
            parameters: parse_json_column(r, "parameters", &invoke_id)?,
            invoke_id,
            account_id: r.get("account_id"),
            command_id: r.get("command_id"),
            command_name: r.get("command_name"),
            command_type: r.get("command_type"),
            command_description: r.get("command_description"),
            content: r.get("content"),
            working_dir: r.get("working_dir"),
            username: r.get("username"),
            timeout_secs: r.get("timeout_secs"),
            created_at: r.get("created_at"),
        })
    }
}

/// One invocation's run on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub invoke_id: String,
    pub instance_id: String,
    pub account_id: String,
    /// The instance's place in the request's InstanceId.N.
    pub position: i64,
    pub status: RunStatus,
    /// The process in the guest, once started.
    pub pid: Option<i64>,
    pub exit_code: Option<i64>,
    /// Base64 of the kept output.
    pub output: String,
    pub dropped: i64,
    pub error_code: String,
    pub error_info: String,
    pub start_time: String,
    pub finish_time: String,
    pub stop_time: String,
}

impl RunRecord {
    /// A run not started yet.
    pub fn pending(invoke_id: &str, instance_id: &str, account_id: &str, position: i64) -> RunRecord {
        RunRecord {
            invoke_id: invoke_id.to_string(),
            instance_id: instance_id.to_string(),
            account_id: account_id.to_string(),
            position,
            status: RunStatus::Pending,
            pid: None,
            exit_code: None,
            output: String::new(),
            dropped: 0,
            error_code: String::new(),
            error_info: String::new(),
            start_time: String::new(),
            finish_time: String::new(),
            stop_time: String::new(),
        }
    }

    fn from_row(r: &SqliteRow) -> Result<RunRecord> {
        let invoke_id: String = r.get("invoke_id");
        Ok(RunRecord {
            status: decode_column(r, "status", &invoke_id)?,
            invoke_id,
            instance_id: r.get("instance_id"),
            account_id: r.get("account_id"),
            position: r.get("position"),
            pid: r.get("pid"),
            exit_code: r.get("exit_code"),
            output: r.get("output"),
            dropped: r.get("dropped"),
            error_code: r.get("error_code"),
            error_info: r.get("error_info"),
            start_time: r.get("start_time"),
            finish_time: r.get("finish_time"),
            stop_time: r.get("stop_time"),
        })
    }
}

/// How a run ends (or moves on): the fields a status change writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunUpdate {
    pub pid: Option<i64>,
    pub exit_code: Option<i64>,
    pub output: Option<(String, i64)>,
    pub error: Option<(String, String)>,
    pub start_time: Option<String>,
    pub finish_time: Option<String>,
    pub stop_time: Option<String>,
}

impl Store {
    pub async fn insert_command(&self, c: &CommandRecord) -> Result<()> {
        self.write(
            sqlx::query(
                "INSERT INTO commands (command_id, account_id, name, description, command_type, content,
                 working_dir, username, timeout_secs, enable_parameter, parameter_names, kept, invoke_times,
                 created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.command_id)
            .bind(&c.account_id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.command_type)
            .bind(&c.content)
            .bind(&c.working_dir)
            .bind(&c.username)
            .bind(c.timeout_secs)
            .bind(c.enable_parameter)
            .bind(to_json(&c.parameter_names))
            .bind(c.kept)
            .bind(c.invoke_times)
            .bind(&c.created_at),
        )
        .await
        .map_err(db("inserting a command"))?;
        Ok(())
    }

    pub async fn command(&self, account_id: &str, command_id: &str) -> Result<Option<CommandRecord>> {
        let row = sqlx::query("SELECT * FROM commands WHERE account_id = ? AND command_id = ?")
            .bind(account_id)
            .bind(command_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a command"))?;
        row.as_ref().map(CommandRecord::from_row).transpose()
    }

    /// An account's kept commands, oldest first.
    pub async fn commands(&self, account_id: &str) -> Result<Vec<CommandRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM commands WHERE account_id = ? AND kept = 1 ORDER BY created_at, command_id",
        )
        .bind(account_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing commands"))?;
        rows.iter().map(CommandRecord::from_row).collect()
    }

    /// ModifyCommand: the fields given replace the stored ones.
    pub async fn update_command(&self, c: &CommandRecord) -> Result<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE commands SET name = ?, description = ?, content = ?, working_dir = ?, username = ?,
                     timeout_secs = ?, parameter_names = ? WHERE account_id = ? AND command_id = ?",
                )
                .bind(&c.name)
                .bind(&c.description)
                .bind(&c.content)
                .bind(&c.working_dir)
                .bind(&c.username)
                .bind(c.timeout_secs)
                .bind(to_json(&c.parameter_names))
                .bind(&c.account_id)
                .bind(&c.command_id),
            )
            .await
            .map_err(db("updating a command"))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_command(&self, account_id: &str, command_id: &str) -> Result<bool> {
        let done = self
            .write(
                sqlx::query("DELETE FROM commands WHERE account_id = ? AND command_id = ?")
                    .bind(account_id)
                    .bind(command_id),
            )
            .await
            .map_err(db("deleting a command"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Record an invocation with its runs (and count it on its command), in one transaction.
    pub async fn insert_invocation(&self, i: &InvocationRecord, runs: &[RunRecord]) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        sqlx::query(
            "INSERT INTO invocations (invoke_id, account_id, command_id, command_name, command_type,
             command_description, content, parameters, working_dir, username, timeout_secs, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&i.invoke_id)
        .bind(&i.account_id)
        .bind(&i.command_id)
        .bind(&i.command_name)
        .bind(&i.command_type)
        .bind(&i.command_description)
        .bind(&i.content)
        .bind(to_json(&i.parameters))
        .bind(&i.working_dir)
        .bind(&i.username)
        .bind(i.timeout_secs)
        .bind(&i.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting an invocation"))?;
        for r in runs {
            sqlx::query(
                "INSERT INTO invocation_instances (invoke_id, instance_id, account_id, position, status, error_code,
                 error_info, finish_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.invoke_id)
            .bind(&r.instance_id)
            .bind(&r.account_id)
            .bind(r.position)
            .bind(r.status)
            .bind(&r.error_code)
            .bind(&r.error_info)
            .bind(&r.finish_time)
            .execute(&mut *tx)
            .await
            .map_err(db("inserting an invocation's instance"))?;
        }
        sqlx::query("UPDATE commands SET invoke_times = invoke_times + 1 WHERE command_id = ?")
            .bind(&i.command_id)
            .execute(&mut *tx)
            .await
            .map_err(db("counting an invocation"))?;
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn invocation(&self, account_id: &str, invoke_id: &str) -> Result<Option<InvocationRecord>> {
        let row = sqlx::query("SELECT * FROM invocations WHERE account_id = ? AND invoke_id = ?")
            .bind(account_id)
            .bind(invoke_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading an invocation"))?;
        row.as_ref().map(InvocationRecord::from_row).transpose()
    }

    /// An account's invocations, oldest first.
    pub async fn invocations(&self, account_id: &str) -> Result<Vec<InvocationRecord>> {
        let rows = sqlx::query("SELECT * FROM invocations WHERE account_id = ? ORDER BY created_at, rowid")
            .bind(account_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing invocations"))?;
        rows.iter().map(InvocationRecord::from_row).collect()
    }

    /// An invocation's runs, in the request's instance order.
    pub async fn runs(&self, invoke_id: &str) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query("SELECT * FROM invocation_instances WHERE invoke_id = ? ORDER BY position")
            .bind(invoke_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing an invocation's instances"))?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// Every run of every account that is not over (to resume after a restart).
    pub async fn open_runs(&self) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM invocation_instances WHERE status IN (?, ?, ?) ORDER BY invoke_id, position",
        )
        .bind(RunStatus::Pending)
        .bind(RunStatus::Running)
        .bind(RunStatus::Stopping)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing open runs"))?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    pub async fn run(&self, invoke_id: &str, instance_id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query("SELECT * FROM invocation_instances WHERE invoke_id = ? AND instance_id = ?")
            .bind(invoke_id)
            .bind(instance_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a run"))?;
        row.as_ref().map(RunRecord::from_row).transpose()
    }

    /// Move a run to `to` (with the fields in `update`) if it is in one of `from`; false when
    /// it was not (someone else moved it first).
    pub async fn transition_run(
        &self,
        invoke_id: &str,
        instance_id: &str,
        from: &[RunStatus],
        to: RunStatus,
        update: &RunUpdate,
    ) -> Result<bool> {
        let placeholders = vec!["?"; from.len()].join(", ");
        let sql = format!(
            "UPDATE invocation_instances SET status = ?,
             pid = COALESCE(?, pid), exit_code = COALESCE(?, exit_code),
             output = COALESCE(?, output), dropped = COALESCE(?, dropped),
             error_code = COALESCE(?, error_code), error_info = COALESCE(?, error_info),
             start_time = COALESCE(?, start_time), finish_time = COALESCE(?, finish_time),
             stop_time = COALESCE(?, stop_time)
             WHERE invoke_id = ? AND instance_id = ? AND status IN ({placeholders})"
        );
        let mut query = sqlx::query(&sql)
            .bind(to)
            .bind(update.pid)
            .bind(update.exit_code)
            .bind(update.output.as_ref().map(|o| o.0.clone()))
            .bind(update.output.as_ref().map(|o| o.1))
            .bind(update.error.as_ref().map(|e| e.0.clone()))
            .bind(update.error.as_ref().map(|e| e.1.clone()))
            .bind(update.start_time.clone())
            .bind(update.finish_time.clone())
            .bind(update.stop_time.clone())
            .bind(invoke_id)
            .bind(instance_id);
        for status in from {
            query = query.bind(*status);
        }
        let done = self.write(query).await.map_err(db("moving a run"))?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_move_forward_only_from_the_statuses_named() {
        let store = Store::open_in_memory().await.unwrap();
        let invocation = InvocationRecord {
            invoke_id: "t-1".into(),
            account_id: "a".into(),
            command_id: "c-1".into(),
            command_name: "n".into(),
            command_type: "RunShellScript".into(),
            command_description: String::new(),
            content: "aWQ=".into(),
            parameters: BTreeMap::from([("name".into(), "x".into())]),
            working_dir: String::new(),
            username: String::new(),
            timeout_secs: 60,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        store.insert_invocation(&invocation, &[RunRecord::pending("t-1", "i-1", "a", 0)]).await.unwrap();
        assert_eq!(store.invocation("a", "t-1").await.unwrap().unwrap(), invocation);
        assert!(store.invocation("b", "t-1").await.unwrap().is_none(), "another account sees nothing");
        let started = RunUpdate { pid: Some(42), start_time: Some("s".into()), ..Default::default() };
        assert!(store
            .transition_run("t-1", "i-1", &[RunStatus::Pending], RunStatus::Running, &started)
            .await
            .unwrap());
        assert_eq!(store.open_runs().await.unwrap().len(), 1);
        let done = RunUpdate { exit_code: Some(3), output: Some(("aGk=".into(), 0)), ..Default::default() };
        assert!(store
            .transition_run("t-1", "i-1", &[RunStatus::Running], RunStatus::Failed, &done)
            .await
            .unwrap());
        // A late stop finds the run over.
        assert!(!store
            .transition_run("t-1", "i-1", &[RunStatus::Running], RunStatus::Stopping, &RunUpdate::default())
            .await
            .unwrap());
        let run = store.run("t-1", "i-1").await.unwrap().unwrap();
        assert_eq!(
            (run.status, run.pid, run.exit_code, run.output.as_str()),
            (RunStatus::Failed, Some(42), Some(3), "aGk=")
        );
        assert!(store.open_runs().await.unwrap().is_empty());
    }
}
