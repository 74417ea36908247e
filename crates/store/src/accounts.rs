//! Accounts (tenants) beyond the server's own: the admin account `serve` makes on first start,
//! and the ones `ecslab admin accounts create` asks for. An account's name is unique; its id is
//! the next 16-digit number after the highest one held, chosen and written in one transaction.

use crate::{db, now_rfc3339, Result, Store};

/// The account `ecslab serve` creates on first start, whose root key is the server admin's.
pub const ADMIN_ACCOUNT_ID: &str = "1000000000000001";

/// What creating a named account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCreation {
    /// The account and its root key were stored under this id.
    Created { account_id: String },
    /// An account already has this name; nothing was written.
    NameTaken,
}

impl Store {
    /// Create an account named `name` with one root access key, unless the name is taken.
    pub async fn create_named_account(
        &self,
        name: &str,
        access_key_id: &str,
        access_key_secret: &str,
    ) -> Result<AccountCreation> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading account names"))?;
        if taken > 0 {
            return Ok(AccountCreation::NameTaken);
        }
        let highest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(CAST(account_id AS INTEGER)) FROM accounts")
                .fetch_one(&mut *tx)
                .await
                .map_err(db("reading account ids"))?;
        let base: i64 = ADMIN_ACCOUNT_ID.parse().unwrap_or(1_000_000_000_000_001);
        let account_id = (highest.unwrap_or(base - 1).max(base - 1) + 1).to_string();
        insert_account_and_key(&mut tx, &account_id, name, access_key_id, access_key_secret).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(AccountCreation::Created { account_id })
    }
}

/// An account row and its root access key (inside the caller's write transaction).
pub(crate) async fn insert_account_and_key(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    account_id: &str,
    name: &str,
    access_key_id: &str,
    access_key_secret: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)")
        .bind(account_id)
        .bind(name)
        .bind(now_rfc3339())
        .execute(&mut **tx)
        .await
        .map_err(db("inserting an account"))?;
    sqlx::query(
        "INSERT INTO access_keys (access_key_id, access_key_secret, account_id, enabled, created_at)
         VALUES (?, ?, ?, 1, ?)",
    )
    .bind(access_key_id)
    .bind(access_key_secret)
    .bind(account_id)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await
    .map_err(db("inserting an access key"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccessKey;

    #[tokio::test]
    async fn names_are_unique_and_ids_follow_the_admin() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).await.unwrap();
        let admin = AccessKey {
            access_key_id: "LTAIadmin".into(),
            access_key_secret: "s".into(),
            account_id: ADMIN_ACCOUNT_ID.into(),
            enabled: true,
            user_id: None,
            user_name: None,
        };
        store.create_account(ADMIN_ACCOUNT_ID, "admin", &admin).await.unwrap();
        let a = store.create_named_account("team-a", "LTAIa", "sa").await.unwrap();
        assert_eq!(a, AccountCreation::Created { account_id: "1000000000000002".into() });
        let b = store.create_named_account("team-b", "LTAIb", "sb").await.unwrap();
        assert_eq!(b, AccountCreation::Created { account_id: "1000000000000003".into() });
        assert_eq!(
            store.create_named_account("team-a", "LTAIc", "sc").await.unwrap(),
            AccountCreation::NameTaken
        );
        assert_eq!(
            store.create_named_account("admin", "LTAId", "sd").await.unwrap(),
            AccountCreation::NameTaken
        );
        assert!(store.access_key("LTAIc").await.unwrap().is_none());
        assert_eq!(store.access_key("LTAIb").await.unwrap().unwrap().account_id, "1000000000000003");
    }
}

impl Store {
    /// The account that owns `bucket`: `account_id` claims it when no account has yet (one
    /// transaction, so two first users cannot both win). Not for the admin, who claims nothing.
    pub async fn claim_bucket(&self, bucket: &str, account_id: &str) -> Result<String> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        sqlx::query("INSERT OR IGNORE INTO bucket_owners (bucket, account_id, claimed_at) VALUES (?, ?, ?)")
            .bind(bucket)
            .bind(account_id)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await
            .map_err(db("claiming a bucket"))?;
        let owner: String = sqlx::query_scalar("SELECT account_id FROM bucket_owners WHERE bucket = ?")
            .bind(bucket)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading a bucket's owner"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(owner)
    }
}

#[cfg(test)]
mod bucket_owner_tests {
    use super::*;

    #[tokio::test]
    async fn the_first_user_owns_a_bucket() {
        let store = Store::open_in_memory().await.unwrap();
        assert_eq!(store.claim_bucket("media", "2").await.unwrap(), "2");
        assert_eq!(store.claim_bucket("media", "3").await.unwrap(), "2", "a later user does not take it");
        assert_eq!(store.claim_bucket("media", "2").await.unwrap(), "2");
        assert_eq!(store.claim_bucket("other", "3").await.unwrap(), "3");
    }
}
