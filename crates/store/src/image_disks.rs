//! The disks an image holds (DescribeImages' DiskDeviceMappings) and what still reads an
//! image's file: the rows that decide whether DeleteImage may remove it.

use crate::records::decode_column;
use crate::{db, DiskType, ImageRecord, Result, Store};
use sqlx::Row;

/// One disk of an image: the system disk (whose content is the image file) or a data disk
/// (whose content is the snapshot taken with the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDiskRecord {
    pub image_id: String,
    /// `/dev/xvda` for the system disk, `/dev/xvdb`... for data disks, in attachment order.
    pub device: String,
    pub disk_type: DiskType,
    pub size_gib: i64,
    pub snapshot_id: String,
}

impl Store {
    /// Insert an image and its disk mappings atomically.
    pub async fn insert_image_with_disks(
        &self,
        image: &ImageRecord,
        disks: &[ImageDiskRecord],
    ) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        sqlx::query(
            "INSERT INTO images (image_id, account_id, name, description, status, progress, size_gib,
                virtual_size_bytes, path, format, platform, architecture, os_type, import_bucket, import_object,
                failure_reason, created_at, source_snapshot_id, source_instance_id, deleted, tags)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&image.image_id)
        .bind(&image.account_id)
        .bind(&image.name)
        .bind(&image.description)
        .bind(image.status)
        .bind(image.progress)
        .bind(image.size_gib)
        .bind(image.virtual_size_bytes)
        .bind(&image.path)
        .bind(&image.format)
        .bind(&image.platform)
        .bind(&image.architecture)
        .bind(&image.os_type)
        .bind(&image.import_bucket)
        .bind(&image.import_object)
        .bind(&image.failure_reason)
        .bind(&image.created_at)
        .bind(&image.source_snapshot_id)
        .bind(&image.source_instance_id)
        .bind(image.deleted)
        .bind(crate::to_json(&image.tags))
        .execute(&mut *tx)
        .await
        .map_err(db("inserting an image"))?;
        for disk in disks {
            sqlx::query(
                "INSERT INTO image_disks (image_id, device, disk_type, size_gib, snapshot_id) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&disk.image_id)
            .bind(&disk.device)
            .bind(disk.disk_type)
            .bind(disk.size_gib)
            .bind(&disk.snapshot_id)
            .execute(&mut *tx)
            .await
            .map_err(db("inserting an image disk"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    /// The disk mappings of every image of an account, each image's system disk first, in one
    /// query (DescribeImages lists them without a query per image).
    pub async fn image_disks_of_account(&self, account_id: &str) -> Result<Vec<ImageDiskRecord>> {
        let rows = sqlx::query(
            "SELECT d.* FROM image_disks d JOIN images i ON i.image_id = d.image_id
             WHERE i.account_id = ? ORDER BY d.image_id, d.device",
        )
        .bind(account_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing image disks"))?;
        rows.iter().map(image_disk).collect()
    }

    /// The disk mappings of an image, system disk first.
    pub async fn image_disks(&self, image_id: &str) -> Result<Vec<ImageDiskRecord>> {
        let rows = sqlx::query("SELECT * FROM image_disks WHERE image_id = ? ORDER BY device")
            .bind(image_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing image disks"))?;
        rows.iter().map(image_disk).collect()
    }

    /// Forget which snapshot an image was made from (the snapshot was only a means).
    pub async fn clear_image_source_snapshot(&self, image_id: &str) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        for statement in [
            "UPDATE images SET source_snapshot_id = '' WHERE image_id = ?",
            "UPDATE image_disks SET snapshot_id = '' WHERE image_id = ?",
        ] {
            sqlx::query(statement)
                .bind(image_id)
                .execute(&mut *tx)
                .await
                .map_err(db("updating an image's snapshots"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    /// Hide an image from users (DeleteImage with Force while its file is still read).
    pub async fn mark_image_deleted(&self, image_id: &str) -> Result<()> {
        self.write(sqlx::query("UPDATE images SET deleted = 1 WHERE image_id = ?").bind(image_id))
            .await
            .map_err(db("hiding an image"))?;
        Ok(())
    }

    /// Remove an image row and its disk mappings.
    pub async fn remove_image(&self, image_id: &str) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        for table in ["image_disks", "images"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE image_id = ?"))
                .bind(image_id)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting an image"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    /// Images deleted with Force whose files may now be collectable.
    pub async fn deleted_images(&self) -> Result<Vec<ImageRecord>> {
        let rows = sqlx::query("SELECT * FROM images WHERE deleted = 1")
            .fetch_all(self.reader())
            .await
            .map_err(db("listing deleted images"))?;
        rows.iter().map(ImageRecord::from_row).collect()
    }

    /// Snapshot files (kept or deleted-but-still-chained) whose chain ends in this image file.
    pub async fn snapshots_on_image_file(&self, image_path: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM snapshots WHERE image_path = ?")
            .bind(image_path)
            .fetch_one(self.reader())
            .await
            .map_err(db("counting snapshots on an image"))
    }
}

/// An `image_disks` row.
pub(crate) fn image_disk(r: &sqlx::sqlite::SqliteRow) -> Result<ImageDiskRecord> {
    let image_id: String = r.get("image_id");
    let device: String = r.get("device");
    Ok(ImageDiskRecord {
        disk_type: decode_column(r, "disk_type", &format!("{image_id} {device}"))?,
        image_id,
        device,
        size_gib: r.get("size_gib"),
        snapshot_id: r.get("snapshot_id"),
    })
}
