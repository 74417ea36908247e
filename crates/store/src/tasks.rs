//! ECS tasks (a TaskId for long work such as ExportImage), persisted so their outcome survives
//! restarts and unfinished ones are resumed.

use crate::records::decode_column;
use crate::{db, Result, Store, TaskStatus};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub task_id: String,
    pub account_id: String,
    /// The ECS action that started it, e.g. `ExportImage`.
    pub action: String,
    pub resource_id: String,
    pub status: TaskStatus,
    pub progress: i64,
    pub payload: String,
    pub failure_code: String,
    pub failure_message: String,
    pub created_at: String,
    pub finished_at: String,
}

impl TaskRecord {
    fn from_row(r: &SqliteRow) -> Result<TaskRecord> {
        let task_id: String = r.get("task_id");
        Ok(TaskRecord {
            status: decode_column(r, "status", &task_id)?,
            task_id,
            account_id: r.get("account_id"),
            action: r.get("action"),
            resource_id: r.get("resource_id"),
            progress: r.get("progress"),
            payload: r.get("payload"),
            failure_code: r.get("failure_code"),
            failure_message: r.get("failure_message"),
            created_at: r.get("created_at"),
            finished_at: r.get("finished_at"),
        })
    }
}

impl Store {
    pub async fn insert_task(&self, task: &TaskRecord) -> Result<()> {
        self.write(sqlx::query(
            "INSERT INTO tasks (task_id, account_id, action, resource_id, status, progress, payload, failure_code,
                failure_message, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&task.task_id)
        .bind(&task.account_id)
        .bind(&task.action)
        .bind(&task.resource_id)
        .bind(task.status)
        .bind(task.progress)
        .bind(&task.payload)
        .bind(&task.failure_code)
        .bind(&task.failure_message)
        .bind(&task.created_at)
        .bind(&task.finished_at)
        )
        .await
        .map_err(db("inserting a task"))?;
        Ok(())
    }

    pub async fn task(&self, account_id: &str, task_id: &str) -> Result<Option<TaskRecord>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE account_id = ? AND task_id = ?")
            .bind(account_id)
            .bind(task_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a task"))?;
        row.as_ref().map(TaskRecord::from_row).transpose()
    }

    /// An account's tasks, newest first.
    pub async fn tasks(&self, account_id: &str) -> Result<Vec<TaskRecord>> {
        let rows =
            sqlx::query("SELECT * FROM tasks WHERE account_id = ? ORDER BY created_at DESC, task_id DESC")
                .bind(account_id)
                .fetch_all(self.reader())
                .await
                .map_err(db("listing tasks"))?;
        rows.iter().map(TaskRecord::from_row).collect()
    }

    /// Tasks of every account still processing (to resume after a restart).
    pub async fn processing_tasks(&self) -> Result<Vec<TaskRecord>> {
        let rows = sqlx::query("SELECT * FROM tasks WHERE status = ?")
            .bind(TaskStatus::Processing)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing processing tasks"))?;
        rows.iter().map(TaskRecord::from_row).collect()
    }

    pub async fn set_task_progress(&self, task_id: &str, progress: i64) -> Result<()> {
        self.write(
            sqlx::query("UPDATE tasks SET progress = ? WHERE task_id = ? AND status = ?")
                .bind(progress)
                .bind(task_id)
                .bind(TaskStatus::Processing),
        )
        .await
        .map_err(db("updating a task"))?;
        Ok(())
    }

    /// Finish a task: `Finished`, or `Failed` with a code and message.
    pub async fn finish_task(
        &self,
        task_id: &str,
        status: TaskStatus,
        failure_code: &str,
        failure_message: &str,
        finished_at: &str,
    ) -> Result<()> {
        self.write(
            sqlx::query(
                "UPDATE tasks SET status = ?, progress = CASE WHEN ? THEN 100 ELSE progress END,
                failure_code = ?, failure_message = ?, finished_at = ? WHERE task_id = ?",
            )
            .bind(status)
            .bind(status == TaskStatus::Finished)
            .bind(failure_code)
            .bind(failure_message)
            .bind(finished_at)
            .bind(task_id),
        )
        .await
        .map_err(db("finishing a task"))?;
        Ok(())
    }
}
