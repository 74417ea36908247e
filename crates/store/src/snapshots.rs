//! Disks, snapshots and persisted chain operations.

use crate::records::parse_json_column;
use crate::{
    db, now_rfc3339, to_json, DiskRecord, DiskStatus, DiskType, OperationKind, OperationStep, Result,
    SnapshotStatus, Store, Tag,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub snapshot_id: String,
    pub account_id: String,
    pub source_disk_id: String,
    pub source_disk_type: DiskType,
    pub source_disk_size: i64,
    pub name: String,
    pub description: String,
    pub status: SnapshotStatus,
    pub progress: i64,
    pub path: String,
    pub parent_snapshot_id: String,
    pub image_path: String,
    pub retention_days: i64,
    pub tags: Vec<Tag>,
    pub deleted: bool,
    pub failure_reason: String,
    pub created_at: String,
    pub updated_at: String,
}

impl SnapshotRecord {
    pub(crate) fn from_row(r: &SqliteRow) -> Result<SnapshotRecord> {
        let snapshot_id: String = r.get("snapshot_id");
        Ok(SnapshotRecord {
            tags: parse_json_column(r, "tags", &snapshot_id)?,
            account_id: r.get("account_id"),
            source_disk_id: r.get("source_disk_id"),
            source_disk_type: crate::records::decode_column(r, "source_disk_type", &snapshot_id)?,
            source_disk_size: r.get("source_disk_size"),
            name: r.get("name"),
            description: r.get("description"),
            status: crate::records::decode_column(r, "status", &snapshot_id)?,
            progress: r.get("progress"),
            path: r.get("path"),
            parent_snapshot_id: r.get("parent_snapshot_id"),
            image_path: r.get("image_path"),
            retention_days: r.get("retention_days"),
            deleted: r.get::<i64, _>("deleted") != 0,
            failure_reason: r.get("failure_reason"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
            snapshot_id,
        })
    }
}

/// A multi-step operation in flight. `payload` is the operation's own JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRecord {
    pub operation_id: String,
    pub kind: OperationKind,
    pub disk_id: String,
    pub step: OperationStep,
    pub payload: String,
    pub created_at: String,
}

/// Why a snapshot could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotAdmission {
    Inserted,
    /// Another snapshot of the disk is still progressing.
    InProgress,
    /// The disk already has `quota` manual snapshots.
    QuotaExceeded,
}

pub(crate) const SNAPSHOT_COLUMNS: &str =
    "snapshot_id, account_id, source_disk_id, source_disk_type, source_disk_size, name,
    description, status, progress, path, parent_snapshot_id, image_path, retention_days, tags, deleted,
    failure_reason, created_at, updated_at";

impl Store {
    // ---- disks ---------------------------------------------------------------------------------

    pub async fn insert_disk(&self, disk: &DiskRecord) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        crate::insert_disk(&mut tx, disk).await?;
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn disk(&self, account_id: &str, disk_id: &str) -> Result<Option<DiskRecord>> {
        let row = sqlx::query("SELECT * FROM disks WHERE account_id = ? AND disk_id = ?")
            .bind(account_id)
            .bind(disk_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a disk"))?;
        row.as_ref().map(DiskRecord::from_row).transpose()
    }

    /// Every disk of every account (for chain maintenance).
    pub async fn all_disks(&self) -> Result<Vec<DiskRecord>> {
        let rows = sqlx::query("SELECT * FROM disks ORDER BY created_at, disk_id")
            .fetch_all(self.reader())
            .await
            .map_err(db("listing disks"))?;
        rows.iter().map(DiskRecord::from_row).collect()
    }

    pub async fn disk_by_id(&self, disk_id: &str) -> Result<Option<DiskRecord>> {
        let row = sqlx::query("SELECT * FROM disks WHERE disk_id = ?")
            .bind(disk_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a disk"))?;
        row.as_ref().map(DiskRecord::from_row).transpose()
    }

    /// Point a disk at new files (after a snapshot or a reset).
    pub async fn set_disk_files(
        &self,
        disk_id: &str,
        path: &str,
        base_path: &str,
        parent_snapshot_id: &str,
    ) -> Result<()> {
        self.write(
            sqlx::query("UPDATE disks SET path = ?, base_path = ?, parent_snapshot_id = ? WHERE disk_id = ?")
                .bind(path)
                .bind(base_path)
                .bind(parent_snapshot_id)
                .bind(disk_id),
        )
        .await
        .map_err(db("updating a disk's files"))?;
        Ok(())
    }

    pub async fn set_disk_status(&self, disk_id: &str, status: DiskStatus) -> Result<()> {
        self.write(sqlx::query("UPDATE disks SET status = ? WHERE disk_id = ?").bind(status).bind(disk_id))
            .await
            .map_err(db("updating a disk's status"))?;
        Ok(())
    }

    pub async fn set_disk_size(&self, disk_id: &str, size_gib: i64) -> Result<()> {
        self.write(
            sqlx::query("UPDATE disks SET size_gib = ? WHERE disk_id = ?").bind(size_gib).bind(disk_id),
        )
        .await
        .map_err(db("resizing a disk"))?;
        Ok(())
    }

    /// Attach (`Some(instance)`) or detach (`None`) a disk, with its device slot and status.
    pub async fn set_disk_attachment(
        &self,
        disk_id: &str,
        instance_id: Option<&str>,
        device_index: i64,
        status: DiskStatus,
        delete_with_instance: bool,
    ) -> Result<()> {
        let attached_at = if instance_id.is_some() { now_rfc3339() } else { String::new() };
        self.write(sqlx::query(
            "UPDATE disks SET instance_id = ?, device_index = ?, status = ?, attached_at = ?, delete_with_instance = ?,
                ever_attached = CASE WHEN ? IS NULL THEN ever_attached ELSE 1 END
             WHERE disk_id = ?",
        )
        .bind(instance_id)
        .bind(device_index)
        .bind(status)
        .bind(attached_at)
        .bind(delete_with_instance)
        .bind(instance_id)
        .bind(disk_id)
        )
        .await
        .map_err(db("attaching a disk"))?;
        Ok(())
    }

    /// Record that an instance ran with its disks attached (ECS's "never used" rule).
    pub async fn mark_disks_used(&self, instance_id: &str) -> Result<()> {
        self.write(sqlx::query("UPDATE disks SET ever_used = 1 WHERE instance_id = ?").bind(instance_id))
            .await
            .map_err(db("marking disks used"))?;
        Ok(())
    }

    pub async fn delete_disk(&self, disk_id: &str) -> Result<()> {
        self.write(sqlx::query("DELETE FROM disks WHERE disk_id = ?").bind(disk_id))
            .await
            .map_err(db("deleting a disk"))?;
        Ok(())
    }

    /// Disks of any account created from this snapshot whose copy has not finished.
    pub async fn disks_from_snapshot(&self, snapshot_id: &str) -> Result<Vec<DiskRecord>> {
        let rows = sqlx::query("SELECT * FROM disks WHERE source_snapshot_id = ?")
            .bind(snapshot_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing disks of a snapshot"))?;
        rows.iter().map(DiskRecord::from_row).collect()
    }

    pub async fn images_from_snapshot(&self, snapshot_id: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM images WHERE source_snapshot_id = ?1 AND deleted = 0)
                  + (SELECT COUNT(*) FROM image_disks d JOIN images i ON i.image_id = d.image_id
                     WHERE d.snapshot_id = ?1 AND i.deleted = 0)",
        )
        .bind(snapshot_id)
        .fetch_one(self.reader())
        .await
        .map_err(db("counting images of a snapshot"))
    }

    // ---- snapshots -----------------------------------------------------------------------------

    /// Insert a progressing snapshot and its creation operation, unless the disk already has a
    /// snapshot in progress or `quota` manual snapshots.
    pub async fn insert_snapshot(
        &self,
        snapshot: &SnapshotRecord,
        operation: &OperationRecord,
        quota: i64,
    ) -> Result<SnapshotAdmission> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let in_progress: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM snapshots WHERE source_disk_id = ? AND status = ?")
                .bind(&snapshot.source_disk_id)
                .bind(SnapshotStatus::Progressing)
                .fetch_one(&mut *tx)
                .await
                .map_err(db("counting snapshots in progress"))?;
        if in_progress > 0 {
            return Ok(SnapshotAdmission::InProgress);
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM snapshots WHERE source_disk_id = ? AND deleted = 0")
                .bind(&snapshot.source_disk_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db("counting snapshots"))?;
        if count >= quota {
            return Ok(SnapshotAdmission::QuotaExceeded);
        }
        sqlx::query(&format!(
            "INSERT INTO snapshots ({SNAPSHOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&snapshot.snapshot_id)
        .bind(&snapshot.account_id)
        .bind(&snapshot.source_disk_id)
        .bind(snapshot.source_disk_type)
        .bind(snapshot.source_disk_size)
        .bind(&snapshot.name)
        .bind(&snapshot.description)
        .bind(snapshot.status)
        .bind(snapshot.progress)
        .bind(&snapshot.path)
        .bind(&snapshot.parent_snapshot_id)
        .bind(&snapshot.image_path)
        .bind(snapshot.retention_days)
        .bind(to_json(&snapshot.tags))
        .bind(snapshot.deleted)
        .bind(&snapshot.failure_reason)
        .bind(&snapshot.created_at)
        .bind(&snapshot.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a snapshot"))?;
        insert_operation(&mut tx, operation).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(SnapshotAdmission::Inserted)
    }

    pub async fn snapshot(&self, account_id: &str, snapshot_id: &str) -> Result<Option<SnapshotRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE account_id = ? AND snapshot_id = ? AND deleted = 0"
        ))
        .bind(account_id)
        .bind(snapshot_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a snapshot"))?;
        row.as_ref().map(SnapshotRecord::from_row).transpose()
    }

    /// A snapshot by id, hidden (deleted) ones included.
    pub async fn snapshot_by_id(&self, snapshot_id: &str) -> Result<Option<SnapshotRecord>> {
        let row = sqlx::query(&format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE snapshot_id = ?"))
            .bind(snapshot_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a snapshot"))?;
        row.as_ref().map(SnapshotRecord::from_row).transpose()
    }

    /// Visible snapshots of an account, oldest first.
    pub async fn snapshots(&self, account_id: &str) -> Result<Vec<SnapshotRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE account_id = ? AND deleted = 0 ORDER BY created_at, snapshot_id"
        ))
        .bind(account_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing snapshots"))?;
        rows.iter().map(SnapshotRecord::from_row).collect()
    }

    /// Visible snapshots of one disk of an account, oldest first.
    pub async fn disk_snapshots(&self, account_id: &str, disk_id: &str) -> Result<Vec<SnapshotRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE account_id = ? AND source_disk_id = ? AND deleted = 0 \
             ORDER BY created_at, snapshot_id"
        ))
        .bind(account_id)
        .bind(disk_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing a disk's snapshots"))?;
        rows.iter().map(SnapshotRecord::from_row).collect()
    }

    /// Every snapshot row, hidden ones included (for chain maintenance).
    pub async fn all_snapshots(&self) -> Result<Vec<SnapshotRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots ORDER BY created_at, snapshot_id"
        ))
        .fetch_all(self.reader())
        .await
        .map_err(db("listing snapshots"))?;
        rows.iter().map(SnapshotRecord::from_row).collect()
    }

    pub async fn set_snapshot_progress(
        &self,
        snapshot_id: &str,
        status: SnapshotStatus,
        progress: i64,
        reason: &str,
    ) -> Result<()> {
        self.write(sqlx::query(
            "UPDATE snapshots SET status = ?, progress = ?, failure_reason = ?, updated_at = ? WHERE snapshot_id = ?",
        )
        .bind(status)
        .bind(progress)
        .bind(reason)
        .bind(now_rfc3339())
        .bind(snapshot_id)
        )
        .await
        .map_err(db("updating a snapshot"))?;
        Ok(())
    }

    /// Raise a progressing snapshot's Progress; never touches a finished one (progress reports
    /// can arrive late).
    pub async fn raise_snapshot_progress(&self, snapshot_id: &str, progress: i64) -> Result<()> {
        self.write(
            sqlx::query(
                "UPDATE snapshots SET progress = ?, updated_at = ?
             WHERE snapshot_id = ? AND status = ? AND progress < ?",
            )
            .bind(progress)
            .bind(now_rfc3339())
            .bind(snapshot_id)
            .bind(SnapshotStatus::Progressing)
            .bind(progress),
        )
        .await
        .map_err(db("updating a snapshot's progress"))?;
        Ok(())
    }

    pub async fn set_snapshot_parent(&self, snapshot_id: &str, parent_snapshot_id: &str) -> Result<()> {
        self.write(
            sqlx::query("UPDATE snapshots SET parent_snapshot_id = ? WHERE snapshot_id = ?")
                .bind(parent_snapshot_id)
                .bind(snapshot_id),
        )
        .await
        .map_err(db("re-parenting a snapshot"))?;
        Ok(())
    }

    pub async fn mark_snapshot_deleted(&self, snapshot_id: &str) -> Result<()> {
        self.write(
            sqlx::query("UPDATE snapshots SET deleted = 1, updated_at = ? WHERE snapshot_id = ?")
                .bind(now_rfc3339())
                .bind(snapshot_id),
        )
        .await
        .map_err(db("hiding a snapshot"))?;
        Ok(())
    }

    /// The last step of CreateSnapshot, in one transaction: the snapshot gets its parent and
    /// becomes `accomplished` (or, when it had been reported failed, hidden), the disk's base now
    /// stands for it, and its operation is finished. Nobody sees an accomplished snapshot whose
    /// disk still has an operation running (a CreateSnapshot then would be refused).
    pub async fn seal_snapshot(
        &self,
        snapshot_id: &str,
        parent_snapshot_id: &str,
        disk_id: &str,
        operation_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let now = now_rfc3339();
        sqlx::query(
            "UPDATE snapshots SET parent_snapshot_id = ?1, updated_at = ?2,
                deleted = CASE WHEN status = ?4 THEN 1 ELSE deleted END,
                progress = CASE WHEN status = ?4 THEN progress ELSE 100 END,
                failure_reason = CASE WHEN status = ?4 THEN failure_reason ELSE '' END,
                status = CASE WHEN status = ?4 THEN status ELSE ?5 END
             WHERE snapshot_id = ?3",
        )
        .bind(parent_snapshot_id)
        .bind(&now)
        .bind(snapshot_id)
        .bind(SnapshotStatus::Failed)
        .bind(SnapshotStatus::Accomplished)
        .execute(&mut *tx)
        .await
        .map_err(db("sealing a snapshot"))?;
        sqlx::query("UPDATE disks SET parent_snapshot_id = ? WHERE disk_id = ?")
            .bind(snapshot_id)
            .bind(disk_id)
            .execute(&mut *tx)
            .await
            .map_err(db("updating a disk's parent snapshot"))?;
        sqlx::query("DELETE FROM operations WHERE operation_id = ?")
            .bind(operation_id)
            .execute(&mut *tx)
            .await
            .map_err(db("finishing an operation"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn remove_snapshot_row(&self, snapshot_id: &str) -> Result<()> {
        self.write(sqlx::query("DELETE FROM snapshots WHERE snapshot_id = ?").bind(snapshot_id))
            .await
            .map_err(db("deleting a snapshot"))?;
        Ok(())
    }

    // ---- operations ----------------------------------------------------------------------------

    pub async fn insert_operation(&self, operation: &OperationRecord) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        insert_operation(&mut tx, operation).await?;
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn set_operation_step(
        &self,
        operation_id: &str,
        step: OperationStep,
        payload: &str,
    ) -> Result<()> {
        self.write(
            sqlx::query("UPDATE operations SET step = ?, payload = ? WHERE operation_id = ?")
                .bind(step)
                .bind(payload)
                .bind(operation_id),
        )
        .await
        .map_err(db("advancing an operation"))?;
        Ok(())
    }

    pub async fn finish_operation(&self, operation_id: &str) -> Result<()> {
        self.write(sqlx::query("DELETE FROM operations WHERE operation_id = ?").bind(operation_id))
            .await
            .map_err(db("finishing an operation"))?;
        Ok(())
    }

    pub async fn operations(&self) -> Result<Vec<OperationRecord>> {
        let rows = sqlx::query("SELECT * FROM operations ORDER BY created_at, operation_id")
            .fetch_all(self.reader())
            .await
            .map_err(db("listing operations"))?;
        rows.iter()
            .map(|r| {
                let operation_id: String = r.get("operation_id");
                Ok(OperationRecord {
                    kind: crate::records::decode_column(r, "kind", &operation_id)?,
                    step: crate::records::decode_column(r, "step", &operation_id)?,
                    operation_id,
                    disk_id: r.get("disk_id"),
                    payload: r.get("payload"),
                    created_at: r.get("created_at"),
                })
            })
            .collect()
    }

    pub async fn disk_has_operation(&self, disk_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operations WHERE disk_id = ?")
            .bind(disk_id)
            .fetch_one(self.reader())
            .await
            .map_err(db("looking for operations"))?;
        Ok(n > 0)
    }
}

async fn insert_operation(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, op: &OperationRecord) -> Result<()> {
    sqlx::query("INSERT INTO operations (operation_id, kind, disk_id, step, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(&op.operation_id)
        .bind(op.kind)
        .bind(&op.disk_id)
        .bind(op.step)
        .bind(&op.payload)
        .bind(&op.created_at)
        .execute(&mut **tx)
        .await
        .map_err(db("inserting an operation"))?;
    Ok(())
}
