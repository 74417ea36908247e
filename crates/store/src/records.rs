//! Row types of the store: plain data, with statuses as the enums of `states.rs`.

use crate::{DiskStatus, DiskType, ImageStatus, InstanceStatus, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub account_id: String,
    pub enabled: bool,
    /// The RAM user whose key this is; `None` for the account's root key.
    pub user_id: Option<String>,
    /// That user's name (`None` for the root key, or a user that no longer exists).
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationLock {
    pub reason: String,
    pub message: String,
}

impl OperationLock {
    /// The lock reason that stops every operation but deletion (`ecslab admin lock`).
    pub const SECURITY: &'static str = "security";

    pub fn is_security(&self) -> bool {
        self.reason == Self::SECURITY
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub image_id: String,
    pub account_id: String,
    pub name: String,
    pub description: String,
    pub status: ImageStatus,
    pub progress: i64,
    pub size_gib: i64,
    pub virtual_size_bytes: i64,
    pub path: String,
    pub format: String,
    pub platform: String,
    pub architecture: String,
    pub os_type: String,
    pub import_bucket: String,
    pub import_object: String,
    pub failure_reason: String,
    pub created_at: String,
    /// The snapshot the image was created from ('' for imports).
    pub source_snapshot_id: String,
    /// The instance the image was created from ('' otherwise).
    pub source_instance_id: String,
    /// Deleted with Force while disks or snapshots still read its file: invisible to users,
    /// the file is removed with its last reader.
    pub deleted: bool,
    /// ImportImage / CreateImage `Tag.N`.
    pub tags: Vec<Tag>,
}

impl ImageRecord {
    pub(crate) fn from_row(r: &SqliteRow) -> Result<ImageRecord, StoreError> {
        let image_id: String = r.get("image_id");
        Ok(ImageRecord {
            status: decode_column(r, "status", &image_id)?,
            tags: parse_json_column(r, "tags", &image_id)?,
            image_id,
            account_id: r.get("account_id"),
            name: r.get("name"),
            description: r.get("description"),
            progress: r.get("progress"),
            size_gib: r.get("size_gib"),
            virtual_size_bytes: r.get("virtual_size_bytes"),
            path: r.get("path"),
            format: r.get("format"),
            platform: r.get("platform"),
            architecture: r.get("architecture"),
            os_type: r.get("os_type"),
            import_bucket: r.get("import_bucket"),
            import_object: r.get("import_object"),
            failure_reason: r.get("failure_reason"),
            created_at: r.get("created_at"),
            source_snapshot_id: r.get("source_snapshot_id"),
            source_instance_id: r.get("source_instance_id"),
            deleted: r.get::<i64, _>("deleted") != 0,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub instance_id: String,
    pub account_id: String,
    pub name: String,
    pub description: String,
    pub host_name: String,
    pub instance_type: String,
    pub image_id: String,
    pub status: InstanceStatus,
    /// Incremented by every change of status, operation locks or image; compared nowhere (see
    /// `Store::transition_instance`).
    pub generation: i64,
    pub ever_started: bool,
    pub zone_id: String,
    pub tags: Vec<Tag>,
    pub operation_locks: Vec<OperationLock>,
    pub created_at: String,
    pub started_at: String,
}

impl InstanceRecord {
    /// Whether a security lock holds the instance (then only deletion is allowed).
    pub fn locked_for_security(&self) -> bool {
        self.operation_locks.iter().any(OperationLock::is_security)
    }

    pub(crate) fn from_row(r: &SqliteRow) -> Result<InstanceRecord, StoreError> {
        let instance_id: String = r.get("instance_id");
        let tags = parse_json_column(r, "tags", &instance_id)?;
        let operation_locks = parse_json_column(r, "operation_locks", &instance_id)?;
        Ok(InstanceRecord {
            account_id: r.get("account_id"),
            name: r.get("name"),
            description: r.get("description"),
            host_name: r.get("host_name"),
            instance_type: r.get("instance_type"),
            image_id: r.get("image_id"),
            status: decode_column(r, "status", &instance_id)?,
            generation: r.get("generation"),
            ever_started: r.get::<i64, _>("ever_started") != 0,
            zone_id: r.get("zone_id"),
            tags,
            operation_locks,
            created_at: r.get("created_at"),
            started_at: r.get("started_at"),
            instance_id,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskRecord {
    pub disk_id: String,
    pub account_id: String,
    pub instance_id: Option<String>,
    pub disk_type: DiskType,
    pub device_index: i64,
    pub name: String,
    pub description: String,
    pub category: String,
    pub size_gib: i64,
    pub path: String,
    pub status: DiskStatus,
    pub image_id: String,
    pub delete_with_instance: bool,
    pub zone_id: String,
    pub created_at: String,
    pub attached_at: String,
    /// The private base file below `path` (empty for disks created before snapshots existed).
    pub base_path: String,
    /// The snapshot whose content `base_path` holds ('' for none).
    pub parent_snapshot_id: String,
    /// The snapshot this disk was created from ('' for none).
    pub source_snapshot_id: String,
    pub ever_attached: bool,
    /// Whether an instance ever ran with this disk attached.
    pub ever_used: bool,
    pub portable: bool,
    /// CreateDisk `Tag.N`, or the `Tag.N` of the RunInstances/CreateInstance call that made the disk.
    pub tags: Vec<Tag>,
}

impl DiskRecord {
    pub(crate) fn from_row(r: &SqliteRow) -> Result<DiskRecord, StoreError> {
        let disk_id: String = r.get("disk_id");
        Ok(DiskRecord {
            status: decode_column(r, "status", &disk_id)?,
            disk_type: decode_column(r, "disk_type", &disk_id)?,
            tags: parse_json_column(r, "tags", &disk_id)?,
            disk_id,
            account_id: r.get("account_id"),
            instance_id: r.get("instance_id"),
            device_index: r.get("device_index"),
            name: r.get("name"),
            description: r.get("description"),
            category: r.get("category"),
            size_gib: r.get("size_gib"),
            path: r.get("path"),
            image_id: r.get("image_id"),
            delete_with_instance: r.get::<i64, _>("delete_with_instance") != 0,
            zone_id: r.get("zone_id"),
            created_at: r.get("created_at"),
            attached_at: r.get("attached_at"),
            base_path: r.get("base_path"),
            parent_snapshot_id: r.get("parent_snapshot_id"),
            source_snapshot_id: r.get("source_snapshot_id"),
            ever_attached: r.get::<i64, _>("ever_attached") != 0,
            ever_used: r.get::<i64, _>("ever_used") != 0,
            portable: r.get::<i64, _>("portable") != 0,
        })
    }
}

/// A column holding one of the store's enums; a word outside the enum is a corrupt row.
pub(crate) fn decode_column<T>(r: &SqliteRow, column: &'static str, key: &str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    r.try_get(column).map_err(|e| StoreError::Corrupt {
        what: column,
        key: key.to_string(),
        detail: e.to_string(),
    })
}

pub(crate) fn parse_json_column<T: serde::de::DeserializeOwned>(
    r: &SqliteRow,
    column: &'static str,
    key: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(&r.get::<String, _>(column)).map_err(|e| StoreError::Corrupt {
        what: column,
        key: key.to_string(),
        detail: e.to_string(),
    })
}
