//! Image changes of instances (ReplaceSystemDisk, RebuildDesktops) and their records.
//!
//! A change is two rows written together: a record (`image_records`, Status 0) and an
//! operation (`operations`, on the old system disk) that makes boots and other disk work wait.
//! The switch to the new system disk is one transaction (old disk row out, new disk row in, the
//! instance's image, the record's success), so a crash leaves either the old disk or the new one,
//! never both or neither.

use crate::records::decode_column;
use crate::{db, insert_disk, DiskRecord, ImageChangeStatus, OperationRecord, OperationStep, Result, Store};
use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// One image change of one instance (an ECD desktop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChangeRecord {
    /// Monotonic: newer changes have larger numbers.
    pub seq: i64,
    pub account_id: String,
    pub instance_id: String,
    pub image_id: String,
    pub image_name: String,
    pub new_image_id: String,
    pub new_image_name: String,
    pub status: ImageChangeStatus,
    pub reason: String,
    /// UTC with milliseconds (`2022-03-03T02:43:44.851Z`).
    pub update_time: String,
}

impl ImageChangeRecord {
    fn from_row(r: &SqliteRow) -> Result<ImageChangeRecord> {
        let seq: i64 = r.get("seq");
        Ok(ImageChangeRecord {
            status: decode_column(r, "status", &seq.to_string())?,
            seq,
            account_id: r.get("account_id"),
            instance_id: r.get("instance_id"),
            image_id: r.get("image_id"),
            image_name: r.get("image_name"),
            new_image_id: r.get("new_image_id"),
            new_image_name: r.get("new_image_name"),
            reason: r.get("reason"),
            update_time: r.get("update_time"),
        })
    }
}

/// The time format of image-change records: UTC with milliseconds.
pub fn now_millis() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Store {
    /// Start an image change: insert its record (Status 0) and its operation on the old system
    /// disk in one transaction, unless another operation holds that disk. The operation's payload
    /// is made by `payload_for` from the record's seq. Returns the seq, or `None` when the disk is
    /// busy.
    pub async fn begin_image_change(
        &self,
        record: &ImageChangeRecord,
        operation: &OperationRecord,
        payload_for: impl FnOnce(i64) -> String,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO image_records (account_id, instance_id, image_id, image_name, new_image_id,
                new_image_name, status, reason, update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(&record.account_id)
        .bind(&record.instance_id)
        .bind(&record.image_id)
        .bind(&record.image_name)
        .bind(&record.new_image_id)
        .bind(&record.new_image_name)
        .bind(record.status)
        .bind(&record.reason)
        .bind(&record.update_time)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("inserting an image record"))?;
        let inserted = sqlx::query(
            "INSERT INTO operations (operation_id, kind, disk_id, step, payload, created_at)
             SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM operations WHERE disk_id = ?)",
        )
        .bind(&operation.operation_id)
        .bind(operation.kind)
        .bind(&operation.disk_id)
        .bind(operation.step)
        .bind(payload_for(seq))
        .bind(&operation.created_at)
        .bind(&operation.disk_id)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting an image-change operation"))?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await.map_err(db("rollback"))?;
            return Ok(None);
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(seq))
    }

    /// Put the new system disk in place of the old one, in one transaction: the old disk's row
    /// goes, the new one is attached in its slot, the instance runs the new image, the record
    /// says success and the operation moves to `next_step`. Returns `false` (and changes
    /// nothing) when the new disk's image was deleted meanwhile: once the new disk's row is in,
    /// DeleteImage sees it and refuses.
    pub async fn switch_system_disk(
        &self,
        old_disk_id: &str,
        new_disk: &DiskRecord,
        record_seq: i64,
        operation_id: &str,
        next_step: OperationStep,
    ) -> Result<bool> {
        let instance_id = new_disk.instance_id.clone().unwrap_or_default();
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        // A write first, so the transaction holds the write lock before it reads.
        sqlx::query("DELETE FROM disks WHERE disk_id = ?")
            .bind(old_disk_id)
            .execute(&mut *tx)
            .await
            .map_err(db("releasing the old system disk"))?;
        let image_exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM images WHERE image_id = ? AND deleted = 0")
                .bind(&new_disk.image_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db("checking the new system disk's image"))?;
        if image_exists == 0 {
            tx.rollback().await.map_err(db("rollback"))?;
            return Ok(false);
        }
        insert_disk(&mut tx, new_disk).await?;
        sqlx::query("UPDATE instances SET image_id = ?, generation = generation + 1 WHERE instance_id = ?")
            .bind(&new_disk.image_id)
            .bind(&instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db("changing an instance's image"))?;
        sqlx::query("UPDATE image_records SET status = ?, reason = '', update_time = ? WHERE seq = ?")
            .bind(ImageChangeStatus::Succeeded)
            .bind(now_millis())
            .bind(record_seq)
            .execute(&mut *tx)
            .await
            .map_err(db("recording a finished image change"))?;
        sqlx::query("UPDATE operations SET step = ? WHERE operation_id = ?")
            .bind(next_step)
            .bind(operation_id)
            .execute(&mut *tx)
            .await
            .map_err(db("advancing an image change"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(true)
    }

    /// Set a record's status (and reason), stamping its UpdateTime.
    pub async fn set_image_record_status(
        &self,
        seq: i64,
        status: ImageChangeStatus,
        reason: &str,
    ) -> Result<()> {
        self.write(
            sqlx::query("UPDATE image_records SET status = ?, reason = ?, update_time = ? WHERE seq = ?")
                .bind(status)
                .bind(reason)
                .bind(now_millis())
                .bind(seq),
        )
        .await
        .map_err(db("updating an image record"))?;
        Ok(())
    }

    /// Up to `limit` records of an instance, newest first, older than `before_seq` if given.
    pub async fn image_records_page(
        &self,
        account_id: &str,
        instance_id: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ImageChangeRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM image_records WHERE account_id = ? AND instance_id = ? AND seq < ?
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(account_id)
        .bind(instance_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing image records"))?;
        rows.iter().map(ImageChangeRecord::from_row).collect()
    }

    pub async fn count_image_records(&self, account_id: &str, instance_id: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM image_records WHERE account_id = ? AND instance_id = ?")
            .bind(account_id)
            .bind(instance_id)
            .fetch_one(self.reader())
            .await
            .map_err(db("counting image records"))
    }

    /// Records still Status 0 (changing), for the recovery after a restart.
    pub async fn changing_image_records(&self) -> Result<Vec<ImageChangeRecord>> {
        let rows = sqlx::query("SELECT * FROM image_records WHERE status = ? ORDER BY seq")
            .bind(ImageChangeStatus::Changing)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing unfinished image records"))?;
        rows.iter().map(ImageChangeRecord::from_row).collect()
    }

    /// The value of a server-wide secret; `candidate()` becomes it when none exists yet (the
    /// first writer wins, so every server sharing the store agrees). Once it exists this is one
    /// read: no candidate is made and nothing is written.
    pub async fn server_secret(&self, name: &str, candidate: impl FnOnce() -> String) -> Result<String> {
        let existing: Option<String> = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a server secret"))?;
        if let Some(value) = existing {
            return Ok(value);
        }
        self.write(
            sqlx::query("INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?, ?)")
                .bind(name)
                .bind(candidate()),
        )
        .await
        .map_err(db("creating a server secret"))?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(self.reader())
            .await
            .map_err(db("reading a server secret"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OperationKind;

    fn record(instance_id: &str) -> ImageChangeRecord {
        ImageChangeRecord {
            seq: 0,
            account_id: "acc".into(),
            instance_id: instance_id.into(),
            image_id: "m-old".into(),
            image_name: "old".into(),
            new_image_id: "m-new".into(),
            new_image_name: "new".into(),
            status: ImageChangeStatus::Changing,
            reason: String::new(),
            update_time: now_millis(),
        }
    }

    fn payload(seq: i64) -> String {
        format!("{{\"record_seq\":{seq}}}")
    }

    fn operation(id: &str, disk_id: &str) -> OperationRecord {
        OperationRecord {
            operation_id: id.into(),
            kind: OperationKind::ImageChange,
            disk_id: disk_id.into(),
            step: OperationStep::Build,
            payload: "{}".into(),
            created_at: now_millis(),
        }
    }

    #[tokio::test]
    async fn one_change_per_disk_and_newest_first_paging() {
        let store = Store::open_in_memory().await.unwrap();
        let first =
            store.begin_image_change(&record("i-1"), &operation("op-1", "d-1"), payload).await.unwrap();
        assert!(first.is_some());
        let busy =
            store.begin_image_change(&record("i-1"), &operation("op-2", "d-1"), payload).await.unwrap();
        assert_eq!(busy, None, "a second change of the same disk must wait");
        assert_eq!(
            store.count_image_records("acc", "i-1").await.unwrap(),
            1,
            "a refused change leaves no record"
        );
        assert_eq!(store.operations().await.unwrap()[0].payload, payload(first.unwrap()));
        store.finish_operation("op-1").await.unwrap();
        let mut seqs = vec![first.unwrap()];
        for n in 0..4 {
            let op = operation(&format!("op-x{n}"), "d-1");
            seqs.push(store.begin_image_change(&record("i-1"), &op, payload).await.unwrap().unwrap());
            store.finish_operation(&op.operation_id).await.unwrap();
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        let page = store.image_records_page("acc", "i-1", None, 2).await.unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![seqs[4], seqs[3]]);
        let next = store.image_records_page("acc", "i-1", Some(seqs[3]), 10).await.unwrap();
        assert_eq!(next.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![seqs[2], seqs[1], seqs[0]]);
        assert!(store.image_records_page("other", "i-1", None, 10).await.unwrap().is_empty());
        store.set_image_record_status(seqs[0], ImageChangeStatus::Failed, "broken").await.unwrap();
        let changing = store.changing_image_records().await.unwrap();
        assert_eq!(changing.len(), 4);
        assert!(changing.iter().all(|r| r.seq != seqs[0]));
    }

    fn new_disk(disk_id: &str, image_id: &str) -> DiskRecord {
        DiskRecord {
            disk_id: disk_id.into(),
            account_id: "acc".into(),
            instance_id: Some("i-1".into()),
            disk_type: crate::DiskType::System,
            device_index: 0,
            name: String::new(),
            description: String::new(),
            category: "cloud_essd".into(),
            size_gib: 1,
            path: "/top".into(),
            status: crate::DiskStatus::InUse,
            image_id: image_id.into(),
            delete_with_instance: true,
            zone_id: "z".into(),
            created_at: now_millis(),
            attached_at: now_millis(),
            base_path: "/base".into(),
            parent_snapshot_id: String::new(),
            source_snapshot_id: String::new(),
            ever_attached: true,
            ever_used: false,
            portable: false,
            tags: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_switch_refuses_an_image_deleted_meanwhile() {
        let store = Store::open_in_memory().await.unwrap();
        let seq = store
            .begin_image_change(&record("i-1"), &operation("op-1", "d-old"), payload)
            .await
            .unwrap()
            .unwrap();
        let switched = store
            .switch_system_disk("d-old", &new_disk("d-new", "m-gone"), seq, "op-1", OperationStep::Cleanup)
            .await;
        assert!(!switched.unwrap());
        assert!(store.disk_by_id("d-new").await.unwrap().is_none());
        store.write(sqlx::query("INSERT INTO images (image_id, account_id, name, status, path, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind("m-new")
            .bind("acc")
            .bind("new")
            .bind("Available")
            .bind("/m-new.qcow2")
            .bind(now_millis())
            )
            .await
            .unwrap();
        store.write(sqlx::query("UPDATE images SET deleted = 1 WHERE image_id = 'm-new'")).await.unwrap();
        let disk = new_disk("d-new", "m-new");
        let force_deleted = store.switch_system_disk("d-old", &disk, seq, "op-1", OperationStep::Cleanup);
        assert!(!force_deleted.await.unwrap(), "an image deleted with Force is gone for new disks");
        store.write(sqlx::query("UPDATE images SET deleted = 0 WHERE image_id = 'm-new'")).await.unwrap();
        assert!(store
            .switch_system_disk("d-old", &new_disk("d-new", "m-new"), seq, "op-1", OperationStep::Cleanup)
            .await
            .unwrap());
        assert_eq!(store.disk_by_id("d-new").await.unwrap().unwrap().image_id, "m-new");
        let listed = store.image_records_page("acc", "i-1", None, 10).await.unwrap();
        assert_eq!(listed[0].status, ImageChangeStatus::Succeeded);
        assert_eq!(store.operations().await.unwrap()[0].step, OperationStep::Cleanup);
    }

    #[tokio::test]
    async fn server_secret_is_created_once() {
        let store = Store::open_in_memory().await.unwrap();
        assert_eq!(store.server_secret("k", || "first".into()).await.unwrap(), "first");
        assert_eq!(store.server_secret("k", || "second".into()).await.unwrap(), "first");
    }

    #[test]
    fn update_time_has_milliseconds() {
        let t = now_millis();
        assert_eq!(t.len(), "2022-03-03T02:43:44.851Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.');
    }
}
