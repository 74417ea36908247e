//! PAI-DSW instance snapshots: one row per CreateInstanceSnapshot, carrying its lifecycle
//! (Creating → Pushing → Saved, or Failed with a reason) and what it made (an ImageId).

use crate::records::{decode_column, parse_json_column};
use crate::{db, to_json, InstanceSnapshotStatus, Result, Store, StoreError, Tag};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSnapshotRecord {
    pub snapshot_id: String,
    pub account_id: String,
    pub instance_id: String,
    pub name: String,
    pub description: String,
    pub image_url: String,
    pub image_id: String,
    pub overwrite: bool,
    pub exclude_paths: Vec<String>,
    pub labels: Vec<Tag>,
    pub status: InstanceSnapshotStatus,
    pub reason_code: String,
    pub reason_message: String,
    /// UTC, RFC 3339 with milliseconds (they order the list).
    pub created_at: String,
    pub updated_at: String,
}

impl InstanceSnapshotRecord {
    fn from_row(r: &SqliteRow) -> std::result::Result<InstanceSnapshotRecord, StoreError> {
        let snapshot_id: String = r.get("snapshot_id");
        Ok(InstanceSnapshotRecord {
            exclude_paths: parse_json_column(r, "exclude_paths", &snapshot_id)?,
            labels: parse_json_column(r, "labels", &snapshot_id)?,
            account_id: r.get("account_id"),
            instance_id: r.get("instance_id"),
            name: r.get("name"),
            description: r.get("description"),
            image_url: r.get("image_url"),
            image_id: r.get("image_id"),
            overwrite: r.get::<i64, _>("overwrite") != 0,
            status: decode_column(r, "status", &snapshot_id)?,
            reason_code: r.get("reason_code"),
            reason_message: r.get("reason_message"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
            snapshot_id,
        })
    }
}

impl Store {
    pub async fn insert_instance_snapshot(&self, s: &InstanceSnapshotRecord) -> Result<()> {
        self.write(sqlx::query(
            "INSERT INTO instance_snapshots (snapshot_id, account_id, instance_id, name, description, image_url,
                image_id, overwrite, exclude_paths, labels, status, reason_code, reason_message, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.snapshot_id)
        .bind(&s.account_id)
        .bind(&s.instance_id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.image_url)
        .bind(&s.image_id)
        .bind(s.overwrite)
        .bind(to_json(&s.exclude_paths))
        .bind(to_json(&s.labels))
        .bind(s.status)
        .bind(&s.reason_code)
        .bind(&s.reason_message)
        .bind(&s.created_at)
        .bind(&s.updated_at)
        )
        .await
        .map_err(db("inserting an instance snapshot"))?;
        Ok(())
    }

    pub async fn instance_snapshot(
        &self,
        account_id: &str,
        instance_id: &str,
        snapshot_id: &str,
    ) -> Result<Option<InstanceSnapshotRecord>> {
        let row = sqlx::query(
            "SELECT * FROM instance_snapshots WHERE account_id = ? AND instance_id = ? AND snapshot_id = ?",
        )
        .bind(account_id)
        .bind(instance_id)
        .bind(snapshot_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading an instance snapshot"))?;
        row.as_ref().map(InstanceSnapshotRecord::from_row).transpose()
    }

    /// An instance's snapshots, oldest first.
    pub async fn instance_snapshots(
        &self,
        account_id: &str,
        instance_id: &str,
    ) -> Result<Vec<InstanceSnapshotRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM instance_snapshots WHERE account_id = ? AND instance_id = ? ORDER BY created_at, snapshot_id",
        )
        .bind(account_id)
        .bind(instance_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing instance snapshots"))?;
        rows.iter().map(InstanceSnapshotRecord::from_row).collect()
    }

    /// Instance snapshots of every account still being made (to resume after a restart).
    pub async fn unfinished_instance_snapshots(&self) -> Result<Vec<InstanceSnapshotRecord>> {
        let rows = sqlx::query("SELECT * FROM instance_snapshots WHERE status IN (?, ?)")
            .bind(InstanceSnapshotStatus::Creating)
            .bind(InstanceSnapshotStatus::Pushing)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing unfinished instance snapshots"))?;
        rows.iter().map(InstanceSnapshotRecord::from_row).collect()
    }

    /// Whether an image was made by an instance snapshot (its own task finishes it).
    pub async fn image_made_by_instance_snapshot(&self, image_id: &str) -> Result<bool> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instance_snapshots WHERE image_id = ?")
            .bind(image_id)
            .fetch_one(self.reader())
            .await
            .map_err(db("looking up an image's instance snapshot"))?;
        Ok(count > 0)
    }

    pub async fn set_instance_snapshot_status(
        &self,
        snapshot_id: &str,
        status: InstanceSnapshotStatus,
        reason_code: &str,
        reason_message: &str,
        updated_at: &str,
    ) -> Result<()> {
        self.write(sqlx::query(
            "UPDATE instance_snapshots SET status = ?, reason_code = ?, reason_message = ?, updated_at = ?
             WHERE snapshot_id = ?",
        )
        .bind(status)
        .bind(reason_code)
        .bind(reason_message)
        .bind(updated_at)
        .bind(snapshot_id)
        )
        .await
        .map_err(db("updating an instance snapshot"))?;
        Ok(())
    }

    pub async fn delete_instance_snapshot(&self, snapshot_id: &str) -> Result<()> {
        self.write(sqlx::query("DELETE FROM instance_snapshots WHERE snapshot_id = ?").bind(snapshot_id))
            .await
            .map_err(db("deleting an instance snapshot"))?;
        Ok(())
    }
}
