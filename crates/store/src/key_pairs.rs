//! SSH key pairs and what an instance's guest is given (issue 12): the rows behind CreateKeyPair,
//! ImportKeyPair, DescribeKeyPairs, DeleteKeyPairs, AttachKeyPair/DetachKeyPair, the instance
//! settings RunInstances and ModifyInstanceAttribute write (key pair, password hash, user data),
//! and [`Store::guest_settings`], the one read the metadata service makes.
//!
//! Rules that join rows (a pair is deleted only while no instance uses it, attached only to
//! instances of its account, at most [`KEY_PAIR_QUOTA`] per account) are checked inside the one
//! `BEGIN IMMEDIATE` write transaction that makes the change, so racing requests cannot break them.

use crate::records::decode_column;
use crate::{db, MetadataEndpoint, MetadataTokens, Result, Store};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use std::collections::HashMap;

/// Key pairs an account may hold in a region (ECS: 500).
pub const KEY_PAIR_QUOTA: i64 = 500;

/// One key pair: its public half only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairRecord {
    pub account_id: String,
    pub key_pair_name: String,
    pub key_pair_id: String,
    /// As ECS shows it: the MD5 fingerprint of RFC 4716, colon-separated lowercase hex.
    pub finger_print: String,
    /// The OpenSSH line `<algorithm> <base64>[ <comment>]`.
    pub public_key: String,
    pub created_at: String,
}

impl KeyPairRecord {
    fn from_row(r: &SqliteRow) -> KeyPairRecord {
        KeyPairRecord {
            account_id: r.get("account_id"),
            key_pair_name: r.get("key_pair_name"),
            key_pair_id: r.get("key_pair_id"),
            finger_print: r.get("finger_print"),
            public_key: r.get("public_key"),
            created_at: r.get("created_at"),
        }
    }
}

/// What inserting a key pair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPairInsert {
    Inserted,
    /// The account already has a pair of that name.
    NameTaken,
    /// The account holds [`KEY_PAIR_QUOTA`] pairs.
    QuotaReached,
}

/// What DeleteKeyPairs did: nothing at all when one of the pairs is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPairDeletion {
    Deleted { count: u64 },
    InUse { key_pair_name: String, instance_id: String },
}

/// How attaching or detaching went for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPairBinding {
    Done,
    /// No such instance in the account.
    NoInstance,
    /// Detach: the instance is not bound to this pair.
    NotBound,
}

/// What an instance's guest is given at boot, as stored (the password only as a hash).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceSettings {
    pub key_pair_name: Option<String>,
    /// SHA-512 crypt (`$6$...`).
    pub password_hash: Option<String>,
    /// Base64, as the caller gave it.
    pub user_data: Option<String>,
    pub http_endpoint: MetadataEndpoint,
    pub http_tokens: MetadataTokens,
}

/// A change to an instance's settings: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub key_pair_name: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
    pub user_data: Option<Option<String>>,
    pub http_endpoint: Option<MetadataEndpoint>,
    pub http_tokens: Option<MetadataTokens>,
}

impl SettingsChange {
    pub fn is_empty(&self) -> bool {
        self.key_pair_name.is_none()
            && self.password_hash.is_none()
            && self.user_data.is_none()
            && self.http_endpoint.is_none()
            && self.http_tokens.is_none()
    }
}

/// ModifyInstanceAttribute's changes to the instance row: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub host_name: Option<String>,
}

impl AttributeChange {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.description.is_none() && self.host_name.is_none()
    }
}

/// A key pair change waiting for the guest agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDelivery {
    /// The attached pair's public key (None: detached).
    pub wanted: Option<String>,
    /// The key the guest was given last (by cloud-init at first boot or the agent since).
    pub delivered: Option<String>,
}

/// Everything the metadata service tells a guest about itself, found by instance id alone (the
/// service knows the instance from the network interface a request came in on, not from an
/// access key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSettings {
    pub instance_id: String,
    pub host_name: String,
    pub image_id: String,
    pub key_pair_name: Option<String>,
    /// The OpenSSH line of the attached pair (None when none is attached or it was deleted).
    pub public_key: Option<String>,
    /// Base64 as given.
    pub user_data: Option<String>,
    pub password_hash: Option<String>,
    pub http_endpoint: MetadataEndpoint,
    pub http_tokens: MetadataTokens,
}

fn settings_from_row(r: &SqliteRow) -> Result<InstanceSettings> {
    let instance_id: String = r.get("instance_id");
    Ok(InstanceSettings {
        key_pair_name: r.get("key_pair_name"),
        password_hash: r.get("password_hash"),
        user_data: r.get("user_data"),
        http_endpoint: decode_column(r, "http_endpoint", &instance_id)?,
        http_tokens: decode_column(r, "http_tokens", &instance_id)?,
    })
}

/// Write an instance's settings row (inside the transaction that inserts the instance); false,
/// writing nothing, when its key pair no longer exists (deleted by a racing DeleteKeyPairs).
pub(crate) async fn insert_settings(
    tx: &mut Transaction<'static, Sqlite>,
    account_id: &str,
    instance_id: &str,
    settings: &InstanceSettings,
) -> Result<bool> {
    if let Some(name) = &settings.key_pair_name {
        if !key_pair_exists(tx, account_id, name).await? {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO instance_settings (instance_id, account_id, key_pair_name, password_hash, user_data,
             http_endpoint, http_tokens, password_pending, delivered_public_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?,
             (SELECT public_key FROM key_pairs WHERE account_id = ? AND key_pair_name = ?))",
    )
    .bind(instance_id)
    .bind(account_id)
    .bind(&settings.key_pair_name)
    .bind(&settings.password_hash)
    .bind(&settings.user_data)
    .bind(settings.http_endpoint)
    .bind(settings.http_tokens)
    .bind(settings.password_hash.is_some())
    .bind(account_id)
    .bind(&settings.key_pair_name)
    .execute(&mut **tx)
    .await
    .map_err(db("inserting instance settings"))?;
    Ok(true)
}

/// Remove an instance's settings (inside the transaction that deletes the instance).
pub(crate) async fn delete_settings(tx: &mut Transaction<'static, Sqlite>, instance_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM instance_settings WHERE instance_id = ?")
        .bind(instance_id)
        .execute(&mut **tx)
        .await
        .map_err(db("deleting instance settings"))?;
    Ok(())
}

/// Set an instance's key pair (None: unbind) in a write transaction; instances made before
/// settings existed get their row here.
async fn bind_key_pair(
    tx: &mut Transaction<'static, Sqlite>,
    account_id: &str,
    instance_id: &str,
    key_pair_name: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO instance_settings (instance_id, account_id, key_pair_name, keys_pending) VALUES (?, ?, ?, 1)
         ON CONFLICT(instance_id) DO UPDATE SET key_pair_name = excluded.key_pair_name, keys_pending = 1",
    )
    .bind(instance_id)
    .bind(account_id)
    .bind(key_pair_name)
    .execute(&mut **tx)
    .await
    .map_err(db("binding a key pair"))?;
    Ok(())
}

async fn instance_exists(
    tx: &mut Transaction<'static, Sqlite>,
    account_id: &str,
    instance_id: &str,
) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM instances WHERE account_id = ? AND instance_id = ?")
        .bind(account_id)
        .bind(instance_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("finding an instance"))?
        .is_some())
}

async fn key_pair_exists(
    tx: &mut Transaction<'static, Sqlite>,
    account_id: &str,
    name: &str,
) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM key_pairs WHERE account_id = ? AND key_pair_name = ?")
        .bind(account_id)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("finding a key pair"))?
        .is_some())
}

impl Store {
    /// Insert a key pair unless its name is taken or the account is at its quota.
    pub async fn insert_key_pair(&self, pair: &KeyPairRecord) -> Result<KeyPairInsert> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if key_pair_exists(&mut tx, &pair.account_id, &pair.key_pair_name).await? {
            return Ok(KeyPairInsert::NameTaken);
        }
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM key_pairs WHERE account_id = ?")
            .bind(&pair.account_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("counting key pairs"))?;
        if held >= KEY_PAIR_QUOTA {
            return Ok(KeyPairInsert::QuotaReached);
        }
        sqlx::query(
            "INSERT INTO key_pairs (account_id, key_pair_name, key_pair_id, finger_print, public_key, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&pair.account_id)
        .bind(&pair.key_pair_name)
        .bind(&pair.key_pair_id)
        .bind(&pair.finger_print)
        .bind(&pair.public_key)
        .bind(&pair.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a key pair"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(KeyPairInsert::Inserted)
    }

    /// One key pair of an account.
    pub async fn key_pair(&self, account_id: &str, name: &str) -> Result<Option<KeyPairRecord>> {
        let row = sqlx::query("SELECT * FROM key_pairs WHERE account_id = ? AND key_pair_name = ?")
            .bind(account_id)
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a key pair"))?;
        Ok(row.as_ref().map(KeyPairRecord::from_row))
    }

    /// An account's key pairs in list order (creation time, then name). At most
    /// [`KEY_PAIR_QUOTA`] rows, so lists are filtered and paged by the caller.
    pub async fn key_pairs(&self, account_id: &str) -> Result<Vec<KeyPairRecord>> {
        let rows =
            sqlx::query("SELECT * FROM key_pairs WHERE account_id = ? ORDER BY created_at, key_pair_name")
                .bind(account_id)
                .fetch_all(self.reader())
                .await
                .map_err(db("listing key pairs"))?;
        Ok(rows.iter().map(KeyPairRecord::from_row).collect())
    }

    /// Delete the named pairs that exist (absent names are skipped); nothing is deleted when
    /// one of them is bound to an instance.
    pub async fn delete_key_pairs(&self, account_id: &str, names: &[String]) -> Result<KeyPairDeletion> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        for name in names {
            let user: Option<String> = sqlx::query_scalar(
                "SELECT instance_id FROM instance_settings WHERE account_id = ? AND key_pair_name = ?
                 ORDER BY instance_id LIMIT 1",
            )
            .bind(account_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("finding a key pair's instances"))?;
            if let Some(instance_id) = user {
                return Ok(KeyPairDeletion::InUse { key_pair_name: name.clone(), instance_id });
            }
        }
        let mut count = 0;
        for name in names {
            count += sqlx::query("DELETE FROM key_pairs WHERE account_id = ? AND key_pair_name = ?")
                .bind(account_id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a key pair"))?
                .rows_affected();
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(KeyPairDeletion::Deleted { count })
    }

    /// Bind a key pair to instances (replacing what they had). `None` when the pair does not
    /// exist; else one outcome per instance, in the order given.
    pub async fn attach_key_pair(
        &self,
        account_id: &str,
        name: &str,
        instance_ids: &[String],
    ) -> Result<Option<Vec<KeyPairBinding>>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !key_pair_exists(&mut tx, account_id, name).await? {
            return Ok(None);
        }
        let mut outcomes = Vec::with_capacity(instance_ids.len());
        for instance_id in instance_ids {
            if instance_exists(&mut tx, account_id, instance_id).await? {
                bind_key_pair(&mut tx, account_id, instance_id, Some(name)).await?;
                outcomes.push(KeyPairBinding::Done);
            } else {
                outcomes.push(KeyPairBinding::NoInstance);
            }
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(outcomes))
    }

    /// Unbind a key pair from instances bound to it. `None` when the pair does not exist.
    pub async fn detach_key_pair(
        &self,
        account_id: &str,
        name: &str,
        instance_ids: &[String],
    ) -> Result<Option<Vec<KeyPairBinding>>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !key_pair_exists(&mut tx, account_id, name).await? {
            return Ok(None);
        }
        let mut outcomes = Vec::with_capacity(instance_ids.len());
        for instance_id in instance_ids {
            if !instance_exists(&mut tx, account_id, instance_id).await? {
                outcomes.push(KeyPairBinding::NoInstance);
                continue;
            }
            let bound: Option<Option<String>> =
                sqlx::query_scalar("SELECT key_pair_name FROM instance_settings WHERE instance_id = ?")
                    .bind(instance_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("reading an instance's key pair"))?;
            if bound.flatten().as_deref() == Some(name) {
                bind_key_pair(&mut tx, account_id, instance_id, None).await?;
                outcomes.push(KeyPairBinding::Done);
            } else {
                outcomes.push(KeyPairBinding::NotBound);
            }
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(outcomes))
    }

    /// The settings of an account's instances (those without a row are absent from the map).
    pub async fn instance_settings(
        &self,
        account_id: &str,
        instance_ids: &[String],
    ) -> Result<HashMap<String, InstanceSettings>> {
        if instance_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; instance_ids.len()].join(",");
        let sql =
            format!("SELECT * FROM instance_settings WHERE account_id = ? AND instance_id IN ({marks})");
        let mut query = sqlx::query(&sql).bind(account_id);
        for id in instance_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.reader()).await.map_err(db("reading instance settings"))?;
        rows.iter().map(|r| Ok((r.get::<String, _>("instance_id"), settings_from_row(r)?))).collect()
    }

    /// Change an instance's settings (fields left `None` in `change` stay as they are).
    pub async fn change_instance_settings(
        &self,
        account_id: &str,
        instance_id: &str,
        change: &SettingsChange,
    ) -> Result<()> {
        self.modify_instance(account_id, instance_id, &AttributeChange::default(), change).await
    }

    /// ModifyInstanceAttribute: the instance's own fields and its settings in one transaction.
    pub async fn modify_instance(
        &self,
        account_id: &str,
        instance_id: &str,
        attributes: &AttributeChange,
        change: &SettingsChange,
    ) -> Result<()> {
        if change.is_empty() && attributes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        sqlx::query(
            "UPDATE instances SET name = COALESCE(?, name), description = COALESCE(?, description),
                 host_name = COALESCE(?, host_name)
             WHERE account_id = ? AND instance_id = ?",
        )
        .bind(&attributes.name)
        .bind(&attributes.description)
        .bind(&attributes.host_name)
        .bind(account_id)
        .bind(instance_id)
        .execute(&mut *tx)
        .await
        .map_err(db("changing an instance's attributes"))?;
        if !change.is_empty() {
            let current = sqlx::query("SELECT * FROM instance_settings WHERE instance_id = ?")
                .bind(instance_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading instance settings"))?
                .map(|r| settings_from_row(&r))
                .transpose()?
                .unwrap_or_default();
            let next = InstanceSettings {
                key_pair_name: change.key_pair_name.clone().unwrap_or(current.key_pair_name),
                password_hash: change.password_hash.clone().unwrap_or(current.password_hash),
                user_data: change.user_data.clone().unwrap_or(current.user_data),
                http_endpoint: change.http_endpoint.unwrap_or(current.http_endpoint),
                http_tokens: change.http_tokens.unwrap_or(current.http_tokens),
            };
            sqlx::query(
                "INSERT INTO instance_settings (instance_id, account_id, key_pair_name, password_hash, user_data,
                     http_endpoint, http_tokens, password_pending)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(instance_id) DO UPDATE SET key_pair_name = excluded.key_pair_name,
                     password_hash = excluded.password_hash, user_data = excluded.user_data,
                     http_endpoint = excluded.http_endpoint, http_tokens = excluded.http_tokens,
                     password_pending = MAX(password_pending, excluded.password_pending),
                     keys_pending = MAX(keys_pending, ?)",
            )
            .bind(instance_id)
            .bind(account_id)
            .bind(&next.key_pair_name)
            .bind(&next.password_hash)
            .bind(&next.user_data)
            .bind(next.http_endpoint)
            .bind(next.http_tokens)
            .bind(matches!(change.password_hash, Some(Some(_))))
            .bind(change.key_pair_name.is_some())
            .execute(&mut *tx)
            .await
            .map_err(db("changing instance settings"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    /// The password hash waiting to be set in the instance's guest (by its agent, at boot).
    pub async fn pending_password(&self, instance_id: &str) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT password_hash FROM instance_settings
             WHERE instance_id = ? AND password_pending = 1 AND password_hash IS NOT NULL",
        )
        .bind(instance_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a pending password"))
    }

    /// When the instance's key pair changed since its guest last got one: the key it should have
    /// (None: none) and the key it has.
    pub async fn pending_keys(&self, instance_id: &str) -> Result<Option<KeyDelivery>> {
        let row = sqlx::query(
            "SELECT k.public_key AS wanted, s.delivered_public_key AS delivered
             FROM instance_settings s
             LEFT JOIN key_pairs k ON k.account_id = s.account_id AND k.key_pair_name = s.key_pair_name
             WHERE s.instance_id = ? AND s.keys_pending = 1",
        )
        .bind(instance_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading pending keys"))?;
        Ok(row.map(|r| KeyDelivery { wanted: r.get("wanted"), delivered: r.get("delivered") }))
    }

    /// The guest has `wanted` now (and not the key it had): no longer pending, unless the pair
    /// changed meanwhile.
    pub async fn keys_delivered(&self, instance_id: &str, wanted: Option<&str>) -> Result<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE instance_settings SET keys_pending = 0, delivered_public_key = ?
                     WHERE instance_id = ? AND COALESCE(?, '') = COALESCE((SELECT k.public_key FROM key_pairs k
                         WHERE k.account_id = instance_settings.account_id
                           AND k.key_pair_name = instance_settings.key_pair_name), '')",
                )
                .bind(wanted)
                .bind(instance_id)
                .bind(wanted),
            )
            .await
            .map_err(db("marking keys delivered"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The guest has `hash` now: no longer pending, unless the password changed meanwhile.
    pub async fn password_applied(&self, instance_id: &str, hash: &str) -> Result<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE instance_settings SET password_pending = 0 WHERE instance_id = ? AND password_hash = ?",
                )
                .bind(instance_id)
                .bind(hash),
            )
            .await
            .map_err(db("marking a password applied"))?;
        Ok(done.rows_affected() == 1)
    }

    /// What the metadata service gives an instance's guest; `None` when no such instance exists.
    /// No account filter: the caller found the instance by its network interface.
    pub async fn guest_settings(&self, instance_id: &str) -> Result<Option<GuestSettings>> {
        let row = sqlx::query(
            "SELECT i.instance_id, i.host_name, i.image_id, s.key_pair_name, s.password_hash, s.user_data,
                    COALESCE(s.http_endpoint, 'enabled') AS http_endpoint,
                    COALESCE(s.http_tokens, 'optional') AS http_tokens, k.public_key
             FROM instances i
             LEFT JOIN instance_settings s ON s.instance_id = i.instance_id
             LEFT JOIN key_pairs k ON k.account_id = i.account_id AND k.key_pair_name = s.key_pair_name
             WHERE i.instance_id = ?",
        )
        .bind(instance_id)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading guest settings"))?;
        row.map(|r| {
            let instance_id: String = r.get("instance_id");
            Ok(GuestSettings {
                host_name: r.get("host_name"),
                image_id: r.get("image_id"),
                key_pair_name: r.get("key_pair_name"),
                public_key: r.get("public_key"),
                user_data: r.get("user_data"),
                password_hash: r.get("password_hash"),
                http_endpoint: decode_column(&r, "http_endpoint", &instance_id)?,
                http_tokens: decode_column(&r, "http_tokens", &instance_id)?,
                instance_id,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstanceRecord, InstanceStatus};

    fn instance(account: &str, id: &str) -> InstanceRecord {
        InstanceRecord {
            instance_id: id.into(),
            account_id: account.into(),
            name: id.into(),
            description: String::new(),
            host_name: format!("host-{id}"),
            instance_type: "ecs.t6-c1m1.large".into(),
            image_id: "m-1".into(),
            status: InstanceStatus::Stopped,
            generation: 1,
            ever_started: false,
            zone_id: "local-a".into(),
            tags: Vec::new(),
            operation_locks: Vec::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: String::new(),
        }
    }

    fn pair(account: &str, name: &str) -> KeyPairRecord {
        KeyPairRecord {
            account_id: account.into(),
            key_pair_name: name.into(),
            key_pair_id: format!("kp-{name}"),
            finger_print: "00:11".into(),
            public_key: format!("ssh-ed25519 AAAA{name}"),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn guest_settings_follow_the_instance_and_its_pair() {
        let store = Store::open_in_memory().await.unwrap();
        assert_eq!(store.guest_settings("i-none").await.unwrap(), None);
        let settings = InstanceSettings {
            key_pair_name: Some("kp".into()),
            password_hash: Some("$6$salt$hash".into()),
            user_data: Some("ZWNobyBoaQ==".into()),
            http_endpoint: MetadataEndpoint::Enabled,
            http_tokens: MetadataTokens::Required,
        };
        store.insert_key_pair(&pair("acc", "kp")).await.unwrap();
        store.insert_instance(&instance("acc", "i-1"), &[], None, &settings).await.unwrap().unwrap();
        store
            .insert_instance(&instance("acc", "i-2"), &[], None, &InstanceSettings::default())
            .await
            .unwrap()
            .unwrap();
        let got = store.guest_settings("i-1").await.unwrap().unwrap();
        assert_eq!(
            got,
            GuestSettings {
                instance_id: "i-1".into(),
                host_name: "host-i-1".into(),
                image_id: "m-1".into(),
                key_pair_name: Some("kp".into()),
                public_key: Some("ssh-ed25519 AAAAkp".into()),
                user_data: Some("ZWNobyBoaQ==".into()),
                password_hash: Some("$6$salt$hash".into()),
                http_endpoint: MetadataEndpoint::Enabled,
                http_tokens: MetadataTokens::Required,
            }
        );
        let bare = store.guest_settings("i-2").await.unwrap().unwrap();
        assert_eq!((bare.key_pair_name, bare.public_key, bare.user_data), (None, None, None));
        assert_eq!(
            (bare.http_endpoint, bare.http_tokens),
            (MetadataEndpoint::Enabled, MetadataTokens::Optional)
        );
        // The first boot's key is the one cloud-init installs: nothing pending.
        assert_eq!(store.pending_keys("i-1").await.unwrap(), None);
        // A new password is pending until the guest has it; a newer one stays pending.
        assert_eq!(store.pending_password("i-1").await.unwrap().as_deref(), Some("$6$salt$hash"));
        assert_eq!(store.pending_password("i-2").await.unwrap(), None);
        assert!(!store.password_applied("i-1", "$6$other").await.unwrap());
        assert!(store.password_applied("i-1", "$6$salt$hash").await.unwrap());
        assert_eq!(store.pending_password("i-1").await.unwrap(), None);
        let newer =
            SettingsChange { password_hash: Some(Some("$6$new$h".into())), ..SettingsChange::default() };
        store.change_instance_settings("acc", "i-1", &newer).await.unwrap();
        assert_eq!(store.pending_password("i-1").await.unwrap().as_deref(), Some("$6$new$h"));
        // Metadata options change alone, leaving the rest.
        let change =
            SettingsChange { http_endpoint: Some(MetadataEndpoint::Disabled), ..SettingsChange::default() };
        store.change_instance_settings("acc", "i-1", &change).await.unwrap();
        let changed = store.guest_settings("i-1").await.unwrap().unwrap();
        assert_eq!(
            (changed.http_endpoint, changed.http_tokens),
            (MetadataEndpoint::Disabled, MetadataTokens::Required)
        );
        assert_eq!(changed.user_data.as_deref(), Some("ZWNobyBoaQ=="));
        assert_eq!(
            store.pending_password("i-1").await.unwrap().as_deref(),
            Some("$6$new$h"),
            "still pending"
        );

        // The pair in use cannot go; detached it can, and the guest no longer gets it.
        // A pair that is gone refuses the instance, which is then not stored at all.
        let missing = InstanceSettings { key_pair_name: Some("gone".into()), ..InstanceSettings::default() };
        let refused = store.insert_instance(&instance("acc", "i-3"), &[], None, &missing).await.unwrap();
        assert!(matches!(refused, Err(crate::InstanceRefusal::KeyPairGone)), "{refused:?}");
        assert_eq!(store.guest_settings("i-3").await.unwrap(), None);
        let names = vec!["kp".to_string()];
        assert_eq!(
            store.delete_key_pairs("acc", &names).await.unwrap(),
            KeyPairDeletion::InUse { key_pair_name: "kp".into(), instance_id: "i-1".into() }
        );
        let ids = vec!["i-1".to_string(), "i-2".to_string(), "i-x".to_string()];
        assert_eq!(
            store.detach_key_pair("acc", "kp", &ids).await.unwrap(),
            Some(vec![KeyPairBinding::Done, KeyPairBinding::NotBound, KeyPairBinding::NoInstance])
        );
        assert_eq!(
            store.delete_key_pairs("acc", &names).await.unwrap(),
            KeyPairDeletion::Deleted { count: 1 }
        );
        assert_eq!(store.guest_settings("i-1").await.unwrap().unwrap().key_pair_name, None);
        // The detached key waits for the guest agent to take it away, once.
        let pending = store.pending_keys("i-1").await.unwrap().unwrap();
        assert_eq!((pending.wanted, pending.delivered.as_deref()), (None, Some("ssh-ed25519 AAAAkp")));
        assert!(store.keys_delivered("i-1", None).await.unwrap());
        assert_eq!(store.pending_keys("i-1").await.unwrap(), None);
        // Another account's pair of the same name is not found; settings go with the instance.
        store.insert_key_pair(&pair("other", "kp")).await.unwrap();
        assert_eq!(store.attach_key_pair("acc", "kp", &ids).await.unwrap(), None);
        store.delete_instance("i-1").await.unwrap();
        assert_eq!(store.guest_settings("i-1").await.unwrap(), None);
        assert!(!store.instance_settings("acc", &ids).await.unwrap().contains_key("i-1"));
    }

    #[tokio::test]
    async fn names_are_unique_per_account() {
        let store = Store::open_in_memory().await.unwrap();
        assert_eq!(store.insert_key_pair(&pair("a", "k")).await.unwrap(), KeyPairInsert::Inserted);
        assert_eq!(store.insert_key_pair(&pair("a", "k")).await.unwrap(), KeyPairInsert::NameTaken);
        assert_eq!(store.insert_key_pair(&pair("b", "k")).await.unwrap(), KeyPairInsert::Inserted);
        assert_eq!(store.key_pairs("a").await.unwrap().len(), 1);
    }
}
