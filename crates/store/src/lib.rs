//! ecslab's metadata store. Every resource row carries the `account_id` of the access key that
//! created it, and every read takes the account, so tenants never see each other's resources.
//!
//! SQLite (WAL) under the data directory is the default. Queries are plain runtime-checked
//! `sqlx` calls in a portable SQL subset, so a PostgreSQL pool can be added behind the same
//! methods for several API servers sharing one store.

mod accounts;
pub use accounts::{AccountCreation, ADMIN_ACCOUNT_ID};
mod assistant;
pub use assistant::{CommandRecord, InvocationRecord, RunRecord, RunUpdate};
mod disk_snapshot_pages;
pub use disk_snapshot_pages::{DiskQuery, SnapshotQuery, SnapshotUse, UsedSnapshot};
mod image_disks;
mod image_pages;
pub use image_pages::ImageQuery;
mod instance_snapshots;
pub use image_disks::ImageDiskRecord;
pub use instance_snapshots::InstanceSnapshotRecord;
mod image_records;
pub use image_records::*;
mod jobs;
pub use jobs::*;
mod key_pairs;
pub use key_pairs::{
    AttributeChange, GuestSettings, InstanceSettings, KeyDelivery, KeyPairBinding, KeyPairDeletion,
    KeyPairInsert, KeyPairRecord, SettingsChange, KEY_PAIR_QUOTA,
};
mod listing;
pub use listing::{wildcard_to_glob, InstanceQuery, ListedPage, PageWindow};
mod interfaces;
pub use interfaces::{AddressRefusal, InterfaceQuery, NetworkInterfaceRecord, NewInterface, PickAddress};
mod networks;
pub use networks::{
    ListedSecurityGroup, ListedVpc, RulesAdded, RulesRemoved, SecurityGroupDeletion, SecurityGroupQuery,
    SecurityGroupRecord, SecurityGroupRuleRecord, VSwitchDeletion, VSwitchQuery, VSwitchRecord, VpcChange,
    VpcDeletion, VpcQuery, VpcRecord,
};
mod ram;
pub use ram::{
    NewPolicyVersion, RamAttachmentRow, RamGroupRow, RamIdentityKey, RamIdentityPolicyRow, RamMembershipRow,
    RamOutcome, RamPolicyRow, RamPolicyType, RamPolicyVersionRow, RamPrincipalKind, RamRefusal, RamRoleRow,
    RamUserChange, RamUserKeyRow, RamUserRow,
};
mod records;
mod snapshots;
mod states;
pub use snapshots::{OperationRecord, SnapshotAdmission, SnapshotRecord};
pub use states::*;
mod tasks;
pub use tasks::TaskRecord;
mod writer;

pub use records::*;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;

/// Errors of the store. The message names the table or key involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}")]
    Db {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("corrupt {what} in row {key}: {detail}")]
    Corrupt { what: &'static str, key: String, detail: String },
}

type Result<T> = std::result::Result<T, StoreError>;

fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Db { context, source }
}

/// Why a new instance was not stored (then nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceRefusal {
    /// Its interface's addresses cannot be had.
    Address(AddressRefusal),
    /// Its key pair was deleted after the request was checked.
    KeyPairGone,
}

/// The result of claiming a ClientToken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenClaim {
    /// First use: go ahead, then call [`Store::finish_token`] (or [`Store::release_token`] on error).
    New,
    /// The same token and parameters already succeeded: answer with this stored response.
    Replay(String),
    /// The same token and parameters are still being processed.
    InProgress,
    /// The token was used with other parameters.
    Mismatch,
}

/// A handle to the metadata store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// `query_only` connections for reads, concurrent with each other and with the writer.
    reader: SqlitePool,
    /// The one connection every write goes through (see `writer.rs`).
    writer: SqlitePool,
}

/// How long SQLite's busy handler waits for a lock held by another process.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Concurrent readers.
const READERS: u32 = 8;

pub fn now_rfc3339() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Store {
    /// Open (and create or migrate) the SQLite store at `path`.
    pub async fn open(path: &Path) -> Result<Store> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(db("parsing the database path"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer never closes, so the WAL and its index stay in place for the readers.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(db("opening the database"))?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(db("opening the database for reading"))?;
        Ok(Store { reader, writer })
    }

    /// An in-memory store for tests: one connection serves reads and writes (an in-memory
    /// database is private to its connection).
    pub async fn open_in_memory() -> Result<Store> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(db("memory db"))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db("opening the database"))?;
        migrate(&pool).await?;
        Ok(Store { reader: pool.clone(), writer: pool })
    }

    /// The pool for reads, for the store's other modules.
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Begin a write transaction: the one writer connection, `BEGIN IMMEDIATE`, busy retried.
    pub(crate) async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        writer::begin_immediate(&self.writer).await
    }

    /// Run one writing statement through the writer.
    pub(crate) async fn write(
        &self,
        statement: writer::Statement<'_>,
    ) -> std::result::Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error> {
        writer::execute(&self.writer, statement).await
    }

    /// Run one writing statement with `RETURNING` through the writer.
    pub(crate) async fn write_returning(
        &self,
        statement: writer::Statement<'_>,
    ) -> std::result::Result<Option<sqlx::sqlite::SqliteRow>, sqlx::Error> {
        writer::fetch_optional(&self.writer, statement).await
    }

    // ---- accounts and keys -------------------------------------------------------------------

    /// Create an account with one access key.
    pub async fn create_account(&self, account_id: &str, name: &str, key: &AccessKey) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        accounts::insert_account_and_key(
            &mut tx,
            account_id,
            name,
            &key.access_key_id,
            &key.access_key_secret,
        )
        .await?;
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn count_access_keys(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM access_keys")
            .fetch_one(self.reader())
            .await
            .map_err(db("counting access keys"))
    }

    pub async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        // One read per request: the key and, for a RAM user's key, the user's name (the caller's identity).
        let row = sqlx::query(
            "SELECT k.access_key_id, k.access_key_secret, k.account_id, k.enabled, k.user_id, u.user_name \
             FROM access_keys k LEFT JOIN ram_users u ON u.user_id = k.user_id AND u.account_id = k.account_id \
             WHERE k.access_key_id = ?",
        )
        .bind(access_key_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading an access key"))?;
        Ok(row.map(|r| AccessKey {
            access_key_id: r.get(0),
            access_key_secret: r.get(1),
            account_id: r.get(2),
            enabled: r.get::<i64, _>(3) != 0,
            user_id: r.get(4),
            user_name: r.get(5),
        }))
    }

    /// Record a signature nonce. Returns false when it was already used within the window.
    /// Nonces older than `window_secs` are pruned on the way.
    pub async fn claim_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        now: i64,
        window_secs: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        sqlx::query("DELETE FROM nonces WHERE seen_at < ?")
            .bind(now - window_secs)
            .execute(&mut *tx)
            .await
            .map_err(db("pruning nonces"))?;
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO nonces (access_key_id, nonce, seen_at) VALUES (?, ?, ?)")
                .bind(access_key_id)
                .bind(nonce)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db("recording a nonce"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(inserted.rows_affected() == 1)
    }

    // ---- idempotency ---------------------------------------------------------------------------

    /// Claim a ClientToken for (account, action) with a digest of the request's parameters.
    pub async fn claim_token(
        &self,
        account_id: &str,
        action: &str,
        token: &str,
        digest: &str,
    ) -> Result<TokenClaim> {
        // One transaction: the row read back is the one the insert found (a concurrent release
        // cannot slip in between).
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO idempotency (account_id, action, client_token, params_digest, response, created_at)
             VALUES (?, ?, ?, ?, NULL, ?)",
        )
        .bind(account_id)
        .bind(action)
        .bind(token)
        .bind(digest)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(db("claiming a client token"))?;
        if inserted.rows_affected() == 1 {
            tx.commit().await.map_err(db("commit"))?;
            return Ok(TokenClaim::New);
        }
        let row = sqlx::query(
            "SELECT params_digest, response FROM idempotency WHERE account_id = ? AND action = ? AND client_token = ?",
        )
        .bind(account_id)
        .bind(action)
        .bind(token)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading a client token"))?;
        tx.commit().await.map_err(db("commit"))?;
        let stored_digest: String = row.get(0);
        let response: Option<String> = row.get(1);
        Ok(match (stored_digest == digest, response) {
            (false, _) => TokenClaim::Mismatch,
            (true, Some(response)) => TokenClaim::Replay(response),
            (true, None) => TokenClaim::InProgress,
        })
    }

    pub async fn finish_token(
        &self,
        account_id: &str,
        action: &str,
        token: &str,
        response: &str,
    ) -> Result<()> {
        self.write(sqlx::query(
            "UPDATE idempotency SET response = ? WHERE account_id = ? AND action = ? AND client_token = ?",
        )
        .bind(response)
        .bind(account_id)
        .bind(action)
        .bind(token)
        )
        .await
        .map_err(db("storing an idempotent response"))?;
        Ok(())
    }

    /// Forget a claimed token whose request failed, so a retry can succeed.
    pub async fn release_token(&self, account_id: &str, action: &str, token: &str) -> Result<()> {
        self.write(sqlx::query(
            "DELETE FROM idempotency WHERE account_id = ? AND action = ? AND client_token = ? AND response IS NULL",
        )
        .bind(account_id)
        .bind(action)
        .bind(token)
        )
        .await
        .map_err(db("releasing a client token"))?;
        Ok(())
    }

    // ---- images --------------------------------------------------------------------------------

    pub async fn insert_image(&self, image: &ImageRecord) -> Result<()> {
        self.insert_image_with_disks(image, &[]).await
    }

    pub async fn image(&self, account_id: &str, image_id: &str) -> Result<Option<ImageRecord>> {
        let row = sqlx::query("SELECT * FROM images WHERE account_id = ? AND image_id = ?")
            .bind(account_id)
            .bind(image_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading an image"))?;
        row.as_ref().map(ImageRecord::from_row).transpose()
    }

    pub async fn images(&self, account_id: &str) -> Result<Vec<ImageRecord>> {
        let rows = sqlx::query("SELECT * FROM images WHERE account_id = ? ORDER BY created_at, image_id")
            .bind(account_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing images"))?;
        rows.iter().map(ImageRecord::from_row).collect()
    }

    /// Images of every account whose import had not finished (for resuming after a restart).
    pub async fn images_with_status(&self, status: ImageStatus) -> Result<Vec<ImageRecord>> {
        let rows = sqlx::query("SELECT * FROM images WHERE status = ?")
            .bind(status)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing images by status"))?;
        rows.iter().map(ImageRecord::from_row).collect()
    }

    pub async fn update_image_progress(
        &self,
        image_id: &str,
        status: ImageStatus,
        progress: i64,
        size_gib: i64,
        virtual_size_bytes: i64,
        failure_reason: &str,
    ) -> Result<()> {
        self.write(sqlx::query(
            "UPDATE images SET status = ?, progress = ?, size_gib = ?, virtual_size_bytes = ?, failure_reason = ?
             WHERE image_id = ?",
        )
        .bind(status)
        .bind(progress)
        .bind(size_gib)
        .bind(virtual_size_bytes)
        .bind(failure_reason)
        .bind(image_id)
        )
        .await
        .map_err(db("updating an image"))?;
        Ok(())
    }

    /// Number of disks (of any account) whose content depends on this image.
    pub async fn disks_using_image(&self, image_id: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM disks WHERE image_id = ?")
            .bind(image_id)
            .fetch_one(self.reader())
            .await
            .map_err(db("counting disks of an image"))
    }

    // ---- instances and disks -------------------------------------------------------------------

    /// Insert a new instance with its disks, its guest settings and, when it is on the network,
    /// its interface (its addresses picked in the same transaction). Nothing is written when the
    /// addresses cannot be had.
    pub async fn insert_instance(
        &self,
        instance: &InstanceRecord,
        disks: &[DiskRecord],
        interface: Option<&NewInterface<'_>>,
        settings: &InstanceSettings,
    ) -> Result<std::result::Result<Option<NetworkInterfaceRecord>, InstanceRefusal>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let interface = match interface {
            None => None,
            Some(new) => match interfaces::insert_interface(&mut tx, new).await? {
                Ok(record) => Some(record),
                Err(refusal) => return Ok(Err(InstanceRefusal::Address(refusal))),
            },
        };
        sqlx::query(
            "INSERT INTO instances (instance_id, account_id, name, description, host_name, instance_type, image_id,
                status, generation, ever_started, zone_id, tags, operation_locks, created_at, started_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&instance.instance_id)
        .bind(&instance.account_id)
        .bind(&instance.name)
        .bind(&instance.description)
        .bind(&instance.host_name)
        .bind(&instance.instance_type)
        .bind(&instance.image_id)
        .bind(instance.status)
        .bind(instance.generation)
        .bind(instance.ever_started)
        .bind(&instance.zone_id)
        .bind(to_json(&instance.tags))
        .bind(to_json(&instance.operation_locks))
        .bind(&instance.created_at)
        .bind(&instance.started_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting an instance"))?;
        for disk in disks {
            insert_disk(&mut tx, disk).await?;
        }
        if !key_pairs::insert_settings(&mut tx, &instance.account_id, &instance.instance_id, settings).await?
        {
            return Ok(Err(InstanceRefusal::KeyPairGone));
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(interface))
    }

    pub async fn instance(&self, account_id: &str, instance_id: &str) -> Result<Option<InstanceRecord>> {
        let row = sqlx::query("SELECT * FROM instances WHERE account_id = ? AND instance_id = ?")
            .bind(account_id)
            .bind(instance_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading an instance"))?;
        row.as_ref().map(InstanceRecord::from_row).transpose()
    }

    /// An instance by id alone, for background work that already knows it exists.
    pub async fn instance_by_id(&self, instance_id: &str) -> Result<Option<InstanceRecord>> {
        let row = sqlx::query("SELECT * FROM instances WHERE instance_id = ?")
            .bind(instance_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading an instance"))?;
        row.as_ref().map(InstanceRecord::from_row).transpose()
    }

    pub async fn instances(&self, account_id: &str) -> Result<Vec<InstanceRecord>> {
        let rows =
            sqlx::query("SELECT * FROM instances WHERE account_id = ? ORDER BY created_at, instance_id")
                .bind(account_id)
                .fetch_all(self.reader())
                .await
                .map_err(db("listing instances"))?;
        rows.iter().map(InstanceRecord::from_row).collect()
    }

    /// Every instance of every account (for adoption at start-up).
    pub async fn all_instances(&self) -> Result<Vec<InstanceRecord>> {
        let rows = sqlx::query("SELECT * FROM instances ORDER BY created_at, instance_id")
            .fetch_all(self.reader())
            .await
            .map_err(db("listing instances"))?;
        rows.iter().map(InstanceRecord::from_row).collect()
    }

    /// Move an instance to `to` if its status is one of `from`. Returns the updated record, or
    /// `None` when the status did not match (someone else changed it first).
    ///
    /// The status is the compare-and-set: the update applies only while the row is still in one
    /// of `from`. `generation` is incremented here, by [`Store::set_operation_locks`] and by
    /// [`Store::switch_system_disk`], but compared nowhere: it only tells that the row changed.
    pub async fn transition_instance(
        &self,
        instance_id: &str,
        from: &[InstanceStatus],
        to: InstanceStatus,
    ) -> Result<Option<InstanceRecord>> {
        let placeholders = vec!["?"; from.len()].join(", ");
        let sql = format!(
            "UPDATE instances SET status = ?, generation = generation + 1,
                ever_started = CASE WHEN ? THEN 1 ELSE ever_started END,
                started_at = CASE WHEN ? THEN ? ELSE started_at END
             WHERE instance_id = ? AND status IN ({placeholders}) RETURNING *"
        );
        let starts = to == InstanceStatus::Running;
        let mut query =
            sqlx::query(&sql).bind(to).bind(starts).bind(starts).bind(now_rfc3339()).bind(instance_id);
        for status in from {
            query = query.bind(*status);
        }
        // The updated row comes back from the same statement, so the caller sees exactly the
        // state it made.
        let row = self.write_returning(query).await.map_err(db("changing an instance's status"))?;
        row.as_ref().map(InstanceRecord::from_row).transpose()
    }

    pub async fn set_operation_locks(&self, instance_id: &str, locks: &[OperationLock]) -> Result<()> {
        self.write(
            sqlx::query(
                "UPDATE instances SET operation_locks = ?, generation = generation + 1 WHERE instance_id = ?",
            )
            .bind(to_json(&locks))
            .bind(instance_id),
        )
        .await
        .map_err(db("setting operation locks"))?;
        Ok(())
    }

    /// Delete an instance and the disks that go with it; returns the deleted disks.
    pub async fn delete_instance(&self, instance_id: &str) -> Result<Vec<DiskRecord>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let rows = sqlx::query("SELECT * FROM disks WHERE instance_id = ? AND delete_with_instance = 1")
            .bind(instance_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("listing disks to delete"))?;
        let disks = rows.iter().map(DiskRecord::from_row).collect::<Result<Vec<_>>>()?;
        sqlx::query("DELETE FROM disks WHERE instance_id = ? AND delete_with_instance = 1")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting disks"))?;
        sqlx::query(
            "UPDATE disks SET instance_id = NULL, status = ?, attached_at = '' WHERE instance_id = ?",
        )
        .bind(DiskStatus::Available)
        .bind(instance_id)
        .execute(&mut *tx)
        .await
        .map_err(db("detaching kept disks"))?;
        interfaces::delete_interfaces_of(&mut tx, instance_id).await?;
        key_pairs::delete_settings(&mut tx, instance_id).await?;
        sqlx::query("DELETE FROM instances WHERE instance_id = ?")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting an instance"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(disks)
    }

    /// Disks attached to an instance, in device order.
    pub async fn instance_disks(&self, instance_id: &str) -> Result<Vec<DiskRecord>> {
        let rows = sqlx::query("SELECT * FROM disks WHERE instance_id = ? ORDER BY device_index")
            .bind(instance_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing an instance's disks"))?;
        rows.iter().map(DiskRecord::from_row).collect()
    }

    pub async fn disks(&self, account_id: &str) -> Result<Vec<DiskRecord>> {
        let rows = sqlx::query("SELECT * FROM disks WHERE account_id = ? ORDER BY created_at, disk_id")
            .bind(account_id)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing disks"))?;
        rows.iter().map(DiskRecord::from_row).collect()
    }
}

pub(crate) async fn insert_disk(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    disk: &DiskRecord,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO disks (disk_id, account_id, instance_id, disk_type, device_index, name, description, category,
            size_gib, path, status, image_id, delete_with_instance, zone_id, created_at, attached_at, base_path,
            parent_snapshot_id, source_snapshot_id, ever_attached, ever_used, portable, tags)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&disk.disk_id)
    .bind(&disk.account_id)
    .bind(&disk.instance_id)
    .bind(disk.disk_type)
    .bind(disk.device_index)
    .bind(&disk.name)
    .bind(&disk.description)
    .bind(&disk.category)
    .bind(disk.size_gib)
    .bind(&disk.path)
    .bind(disk.status)
    .bind(&disk.image_id)
    .bind(disk.delete_with_instance)
    .bind(&disk.zone_id)
    .bind(&disk.created_at)
    .bind(&disk.attached_at)
    .bind(&disk.base_path)
    .bind(&disk.parent_snapshot_id)
    .bind(&disk.source_snapshot_id)
    .bind(disk.ever_attached)
    .bind(disk.ever_used)
    .bind(disk.portable)
    .bind(to_json(&disk.tags))
    .execute(&mut **tx)
    .await
    .map_err(db("inserting a disk"))?;
    Ok(())
}

async fn migrate(pool: &SqlitePool) -> Result<()> {
    sqlx::migrate!("./migrations").run(pool).await.map_err(|e| StoreError::Db {
        context: "applying migrations",
        source: sqlx::Error::Migrate(Box::new(e)),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}
