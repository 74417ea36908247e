//! RAM's rows (migration 0021): users, their access keys, groups and memberships, custom policies and their
//! versions, roles, and the attachments of policies to users, groups and roles.
//!
//! Why every write is one transaction that checks and then writes: the rules RAM enforces between entities
//! (a name unique in its account without regard to case, an attachment only of a policy and to a principal that
//! exist, a user deleted only when it holds no key, group or policy, a policy only when nothing uses it) must
//! hold against racing requests, so the check and the write share the writer's `BEGIN IMMEDIATE`. A refusal is a
//! typed [`RamRefusal`] the domain maps to RAM's codes; nothing is written then. Everything takes the account:
//! another account's entity is simply absent.

use crate::{db, now_rfc3339, Result, Store};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

/// The three kinds of principal a policy is attached to (the words `ram_attachments.principal_type` stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RamPrincipalKind {
    User,
    Group,
    Role,
}

impl RamPrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RamPrincipalKind::User => "User",
            RamPrincipalKind::Group => "Group",
            RamPrincipalKind::Role => "Role",
        }
    }

    /// The table, id column and name column of this kind's entities.
    fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            RamPrincipalKind::User => ("ram_users", "user_id", "user_name"),
            RamPrincipalKind::Group => ("ram_groups", "group_id", "group_name"),
            RamPrincipalKind::Role => ("ram_roles", "role_id", "role_name"),
        }
    }

    fn missing(self) -> RamRefusal {
        match self {
            RamPrincipalKind::User => RamRefusal::NoSuchUser,
            RamPrincipalKind::Group => RamRefusal::NoSuchGroup,
            RamPrincipalKind::Role => RamRefusal::NoSuchRole,
        }
    }
}

/// RAM's PolicyType: an embedded system policy or a custom policy of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RamPolicyType {
    System,
    Custom,
}

impl RamPolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            RamPolicyType::System => "System",
            RamPolicyType::Custom => "Custom",
        }
    }

    fn from_stored(word: &str) -> RamPolicyType {
        if word == "System" {
            RamPolicyType::System
        } else {
            RamPolicyType::Custom
        }
    }
}

/// Why a RAM write was refused (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamRefusal {
    UserExists,
    NoSuchUser,
    GroupExists,
    NoSuchGroup,
    RoleExists,
    NoSuchRole,
    PolicyExists,
    NoSuchPolicy,
    NoSuchAccessKey,
    /// The user already has the most access keys RAM allows.
    AccessKeyLimit,
    /// The policy is already attached to that principal.
    AlreadyAttached(RamPrincipalKind),
    /// The policy is not attached to that principal.
    NotAttached(RamPrincipalKind),
    AlreadyMember,
    NotMember,
    /// DeleteUser while the user still holds these.
    UserHasAccessKeys,
    UserInGroups,
    UserHasPolicies,
    /// DeletePolicy while it is attached to a principal of this kind.
    PolicyAttached(RamPrincipalKind),
    /// DeletePolicy while it has versions besides its default one.
    PolicyHasVersions,
    /// DeleteRole while policies are attached to it.
    RoleHasPolicies,
    /// CreatePolicyVersion over the version limit without a rotation.
    VersionLimit,
}

/// The outcome of a RAM write that may be refused.
pub type RamOutcome<T> = std::result::Result<T, RamRefusal>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamUserRow {
    pub user_id: String,
    pub user_name: String,
    pub display_name: String,
    pub mobile_phone: String,
    pub email: String,
    pub comments: String,
    pub created_at: String,
    pub updated_at: String,
}

/// UpdateUser's changes: `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RamUserChange {
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub mobile_phone: Option<String>,
    pub email: Option<String>,
    pub comments: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamUserKeyRow {
    pub access_key_id: String,
    pub enabled: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamGroupRow {
    pub group_id: String,
    pub group_name: String,
    pub comments: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A group a user is in (ListGroupsForUser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamMembershipRow {
    pub group: RamGroupRow,
    pub joined_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamRoleRow {
    pub role_id: String,
    pub role_name: String,
    pub description: String,
    pub assume_role_policy_document: String,
    pub max_session_duration: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A custom policy with the number of principals it is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamPolicyRow {
    pub policy_name: String,
    pub description: String,
    pub default_version: String,
    pub created_at: String,
    pub updated_at: String,
    pub attachment_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamPolicyVersionRow {
    pub version_id: String,
    pub document: String,
    pub created_at: String,
    pub is_default: bool,
}

/// A policy attached to one principal; for a custom policy, its description and default version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamAttachmentRow {
    pub policy_type: RamPolicyType,
    pub policy_name: String,
    pub attached_at: String,
    /// `(description, default_version)` of a custom policy.
    pub custom: Option<(String, String)>,
}

/// Which identity's policies to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RamIdentityKey {
    User { user_id: String },
    Role { role_id: String },
}

/// One policy that applies to an identity; a custom one with its default version's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamIdentityPolicyRow {
    pub policy_type: RamPolicyType,
    pub policy_name: String,
    pub document: Option<String>,
}

/// A new custom policy version: the policy, its document, and what to do at the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicyVersion<'a> {
    pub policy_name: &'a str,
    pub document: &'a str,
    pub set_as_default: bool,
    /// Delete the oldest non-default version when the policy holds `max_versions` already.
    pub rotate: bool,
    pub max_versions: usize,
}

type Tx = Transaction<'static, Sqlite>;

fn user_row(r: &SqliteRow) -> RamUserRow {
    RamUserRow {
        user_id: r.get("user_id"),
        user_name: r.get("user_name"),
        display_name: r.get("display_name"),
        mobile_phone: r.get("mobile_phone"),
        email: r.get("email"),
        comments: r.get("comments"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn group_row(r: &SqliteRow) -> RamGroupRow {
    RamGroupRow {
        group_id: r.get("group_id"),
        group_name: r.get("group_name"),
        comments: r.get("comments"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn role_row(r: &SqliteRow) -> RamRoleRow {
    RamRoleRow {
        role_id: r.get("role_id"),
        role_name: r.get("role_name"),
        description: r.get("description"),
        assume_role_policy_document: r.get("assume_role_policy_document"),
        max_session_duration: r.get("max_session_duration"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

const USER_COLUMNS: &str =
    "user_id, user_name, display_name, mobile_phone, email, comments, created_at, updated_at";
const POLICY_COLUMNS: &str = "p.policy_name, p.description, p.default_version, p.created_at, p.updated_at,
     (SELECT COUNT(*) FROM ram_attachments a WHERE a.account_id = p.account_id AND a.policy_type = 'Custom'
        AND a.policy_name = p.policy_name) AS attachment_count";

fn policy_row(r: &SqliteRow) -> RamPolicyRow {
    RamPolicyRow {
        policy_name: r.get("policy_name"),
        description: r.get("description"),
        default_version: r.get("default_version"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        attachment_count: r.get("attachment_count"),
    }
}

/// The id of a user, group or role named `name` (without regard to case), inside a transaction.
async fn principal_id(
    tx: &mut Tx,
    account: &str,
    kind: RamPrincipalKind,
    name: &str,
) -> Result<Option<String>> {
    let (table, id, name_column) = kind.table();
    sqlx::query_scalar(&format!(
        "SELECT {id} FROM {table} WHERE account_id = ? AND {name_column} = ? COLLATE NOCASE"
    ))
    .bind(account)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db("reading a RAM principal"))
}

async fn count(tx: &mut Tx, sql: &str, binds: &[&str]) -> Result<i64> {
    let mut query = sqlx::query_scalar(sql);
    for b in binds {
        query = query.bind(*b);
    }
    query.fetch_one(&mut **tx).await.map_err(db("counting RAM rows"))
}

async fn custom_policy_exists(tx: &mut Tx, account: &str, name: &str) -> Result<bool> {
    Ok(count(
        tx,
        "SELECT COUNT(*) FROM ram_policies WHERE account_id = ? AND policy_name = ?",
        &[account, name],
    )
    .await?
        > 0)
}

impl Store {
    // ---- users ---------------------------------------------------------------------------------

    /// CreateUser: the row, unless the account has a user of that name.
    pub async fn insert_ram_user(&self, account: &str, user: &RamUserRow) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if principal_id(&mut tx, account, RamPrincipalKind::User, &user.user_name).await?.is_some() {
            return Ok(Err(RamRefusal::UserExists));
        }
        sqlx::query(
            "INSERT INTO ram_users (user_id, account_id, user_name, display_name, mobile_phone, email, comments,
                created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.user_id)
        .bind(account)
        .bind(&user.user_name)
        .bind(&user.display_name)
        .bind(&user.mobile_phone)
        .bind(&user.email)
        .bind(&user.comments)
        .bind(&user.created_at)
        .bind(&user.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a RAM user"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// A user by name (without regard to case).
    pub async fn ram_user(&self, account: &str, user_name: &str) -> Result<Option<RamUserRow>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM ram_users WHERE account_id = ? AND user_name = ? COLLATE NOCASE"
        ))
        .bind(account)
        .bind(user_name)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a RAM user"))?;
        Ok(row.as_ref().map(user_row))
    }

    /// UpdateUser: the changed row, unless the user is missing or its new name is taken by another user.
    pub async fn update_ram_user(
        &self,
        account: &str,
        user_name: &str,
        change: &RamUserChange,
    ) -> Result<RamOutcome<RamUserRow>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let Some(user_id) = principal_id(&mut tx, account, RamPrincipalKind::User, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        if let Some(new_name) = &change.user_name {
            let holder = principal_id(&mut tx, account, RamPrincipalKind::User, new_name).await?;
            if holder.is_some_and(|id| id != user_id) {
                return Ok(Err(RamRefusal::UserExists));
            }
        }
        let row = sqlx::query(&format!(
            "UPDATE ram_users SET user_name = COALESCE(?, user_name), display_name = COALESCE(?, display_name),
                mobile_phone = COALESCE(?, mobile_phone), email = COALESCE(?, email),
                comments = COALESCE(?, comments), updated_at = ?
             WHERE account_id = ? AND user_id = ? RETURNING {USER_COLUMNS}"
        ))
        .bind(&change.user_name)
        .bind(&change.display_name)
        .bind(&change.mobile_phone)
        .bind(&change.email)
        .bind(&change.comments)
        .bind(now_rfc3339())
        .bind(account)
        .bind(&user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("updating a RAM user"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(user_row(&row)))
    }

    /// ListUsers: up to `limit` users after the name `after`, in name order (without regard to case).
    pub async fn list_ram_users(
        &self,
        account: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RamUserRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM ram_users
             WHERE account_id = ? AND (? IS NULL OR user_name > ? COLLATE NOCASE)
             ORDER BY user_name COLLATE NOCASE LIMIT ?"
        ))
        .bind(account)
        .bind(after)
        .bind(after)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing RAM users"))?;
        Ok(rows.iter().map(user_row).collect())
    }

    /// DeleteUser: refused while the user holds access keys, groups or policies. Returns the deleted user's id.
    pub async fn delete_ram_user(&self, account: &str, user_name: &str) -> Result<RamOutcome<String>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let Some(user_id) = principal_id(&mut tx, account, RamPrincipalKind::User, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        let id = user_id.as_str();
        if count(
            &mut tx,
            "SELECT COUNT(*) FROM access_keys WHERE account_id = ? AND user_id = ?",
            &[account, id],
        )
        .await?
            > 0
        {
            return Ok(Err(RamRefusal::UserHasAccessKeys));
        }
        if count(
            &mut tx,
            "SELECT COUNT(*) FROM ram_group_members WHERE account_id = ? AND user_id = ?",
            &[account, id],
        )
        .await?
            > 0
        {
            return Ok(Err(RamRefusal::UserInGroups));
        }
        let attached = "SELECT COUNT(*) FROM ram_attachments
                        WHERE account_id = ? AND principal_type = 'User' AND principal_id = ?";
        if count(&mut tx, attached, &[account, id]).await? > 0 {
            return Ok(Err(RamRefusal::UserHasPolicies));
        }
        sqlx::query("DELETE FROM ram_users WHERE account_id = ? AND user_id = ?")
            .bind(account)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a RAM user"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(user_id))
    }

    // ---- access keys ---------------------------------------------------------------------------

    /// CreateAccessKey: a new enabled key of the user, unless it holds `max_keys` already.
    pub async fn insert_user_access_key(
        &self,
        account: &str,
        user_name: &str,
        access_key_id: &str,
        access_key_secret: &str,
        max_keys: i64,
    ) -> Result<RamOutcome<RamUserKeyRow>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let Some(user_id) = principal_id(&mut tx, account, RamPrincipalKind::User, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        let held = count(
            &mut tx,
            "SELECT COUNT(*) FROM access_keys WHERE account_id = ? AND user_id = ?",
            &[account, &user_id],
        )
        .await?;
        if held >= max_keys {
            return Ok(Err(RamRefusal::AccessKeyLimit));
        }
        let created_at = now_rfc3339();
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, access_key_secret, account_id, enabled, created_at, user_id)
             VALUES (?, ?, ?, 1, ?, ?)",
        )
        .bind(access_key_id)
        .bind(access_key_secret)
        .bind(account)
        .bind(&created_at)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a user's access key"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(RamUserKeyRow { access_key_id: access_key_id.to_owned(), enabled: true, created_at }))
    }

    /// ListAccessKeys: the user's keys, oldest first.
    pub async fn user_access_keys(
        &self,
        account: &str,
        user_name: &str,
    ) -> Result<RamOutcome<Vec<RamUserKeyRow>>> {
        let Some(user) = self.ram_user(account, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        let rows = sqlx::query(
            "SELECT access_key_id, enabled, created_at FROM access_keys WHERE account_id = ? AND user_id = ?
             ORDER BY created_at, access_key_id",
        )
        .bind(account)
        .bind(&user.user_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing a user's access keys"))?;
        Ok(Ok(rows
            .iter()
            .map(|r| RamUserKeyRow {
                access_key_id: r.get(0),
                enabled: r.get::<i64, _>(1) != 0,
                created_at: r.get(2),
            })
            .collect()))
    }

    /// UpdateAccessKey (`Some(enabled)`) or DeleteAccessKey (`None`) of one of the user's keys.
    pub async fn change_user_access_key(
        &self,
        account: &str,
        user_name: &str,
        access_key_id: &str,
        enabled: Option<bool>,
    ) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let Some(user_id) = principal_id(&mut tx, account, RamPrincipalKind::User, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        let query = match enabled {
            Some(on) => sqlx::query(
                "UPDATE access_keys SET enabled = ? WHERE account_id = ? AND user_id = ? AND access_key_id = ?",
            )
            .bind(i64::from(on)),
            None => sqlx::query("DELETE FROM access_keys WHERE account_id = ? AND user_id = ? AND access_key_id = ?"),
        };
        let done = query
            .bind(account)
            .bind(&user_id)
            .bind(access_key_id)
            .execute(&mut *tx)
            .await
            .map_err(db("changing a user's access key"))?;
        if done.rows_affected() == 0 {
            return Ok(Err(RamRefusal::NoSuchAccessKey));
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    // ---- groups --------------------------------------------------------------------------------

    /// CreateGroup: the row, unless the account has a group of that name.
    pub async fn insert_ram_group(&self, account: &str, group: &RamGroupRow) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if principal_id(&mut tx, account, RamPrincipalKind::Group, &group.group_name).await?.is_some() {
            return Ok(Err(RamRefusal::GroupExists));
        }
        sqlx::query(
            "INSERT INTO ram_groups (group_id, account_id, group_name, comments, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&group.group_id)
        .bind(account)
        .bind(&group.group_name)
        .bind(&group.comments)
        .bind(&group.created_at)
        .bind(&group.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a RAM group"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// AddUserToGroup (`join`) or RemoveUserFromGroup.
    pub async fn change_membership(
        &self,
        account: &str,
        user_name: &str,
        group_name: &str,
        join: bool,
    ) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let Some(user_id) = principal_id(&mut tx, account, RamPrincipalKind::User, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        let Some(group_id) = principal_id(&mut tx, account, RamPrincipalKind::Group, group_name).await?
        else {
            return Ok(Err(RamRefusal::NoSuchGroup));
        };
        let done = if join {
            sqlx::query(
                "INSERT OR IGNORE INTO ram_group_members (account_id, group_id, user_id, joined_at) VALUES (?, ?, ?, ?)",
            )
            .bind(account)
            .bind(&group_id)
            .bind(&user_id)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query("DELETE FROM ram_group_members WHERE account_id = ? AND group_id = ? AND user_id = ?")
                .bind(account)
                .bind(&group_id)
                .bind(&user_id)
                .execute(&mut *tx)
                .await
        }
        .map_err(db("changing a group membership"))?;
        if done.rows_affected() == 0 {
            return Ok(Err(if join { RamRefusal::AlreadyMember } else { RamRefusal::NotMember }));
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// ListGroupsForUser: the user's groups, in the order joined.
    pub async fn groups_for_user(
        &self,
        account: &str,
        user_name: &str,
    ) -> Result<RamOutcome<Vec<RamMembershipRow>>> {
        let Some(user) = self.ram_user(account, user_name).await? else {
            return Ok(Err(RamRefusal::NoSuchUser));
        };
        let rows = sqlx::query(
            "SELECT g.group_id, g.group_name, g.comments, g.created_at, g.updated_at, m.joined_at
             FROM ram_group_members m JOIN ram_groups g ON g.group_id = m.group_id
             WHERE m.account_id = ? AND m.user_id = ? ORDER BY m.joined_at, g.group_name",
        )
        .bind(account)
        .bind(&user.user_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing a user's groups"))?;
        Ok(Ok(rows
            .iter()
            .map(|r| RamMembershipRow { group: group_row(r), joined_at: r.get("joined_at") })
            .collect()))
    }

    // ---- roles ---------------------------------------------------------------------------------

    /// CreateRole: the row, unless the account has a role of that name.
    pub async fn insert_ram_role(&self, account: &str, role: &RamRoleRow) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if principal_id(&mut tx, account, RamPrincipalKind::Role, &role.role_name).await?.is_some() {
            return Ok(Err(RamRefusal::RoleExists));
        }
        sqlx::query(
            "INSERT INTO ram_roles (role_id, account_id, role_name, description, assume_role_policy_document,
                max_session_duration, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&role.role_id)
        .bind(account)
        .bind(&role.role_name)
        .bind(&role.description)
        .bind(&role.assume_role_policy_document)
        .bind(role.max_session_duration)
        .bind(&role.created_at)
        .bind(&role.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a RAM role"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// A role by name (without regard to case).
    pub async fn ram_role(&self, account: &str, role_name: &str) -> Result<Option<RamRoleRow>> {
        let row = sqlx::query(
            "SELECT role_id, role_name, description, assume_role_policy_document, max_session_duration, created_at,
                updated_at FROM ram_roles WHERE account_id = ? AND role_name = ? COLLATE NOCASE",
        )
        .bind(account)
        .bind(role_name)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a RAM role"))?;
        Ok(row.as_ref().map(role_row))
    }

    /// DeleteRole: refused while policies are attached. Returns the deleted role's id.
    pub async fn delete_ram_role(&self, account: &str, role_name: &str) -> Result<RamOutcome<String>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let Some(role_id) = principal_id(&mut tx, account, RamPrincipalKind::Role, role_name).await? else {
            return Ok(Err(RamRefusal::NoSuchRole));
        };
        let attached = "SELECT COUNT(*) FROM ram_attachments
                        WHERE account_id = ? AND principal_type = 'Role' AND principal_id = ?";
        if count(&mut tx, attached, &[account, &role_id]).await? > 0 {
            return Ok(Err(RamRefusal::RoleHasPolicies));
        }
        sqlx::query("DELETE FROM ram_roles WHERE account_id = ? AND role_id = ?")
            .bind(account)
            .bind(&role_id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a RAM role"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(role_id))
    }

    // ---- custom policies -----------------------------------------------------------------------

    /// CreatePolicy: the policy and its version v1 (the default), unless the name is taken.
    pub async fn insert_custom_policy(
        &self,
        account: &str,
        policy_name: &str,
        description: &str,
        document: &str,
    ) -> Result<RamOutcome<RamPolicyRow>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if custom_policy_exists(&mut tx, account, policy_name).await? {
            return Ok(Err(RamRefusal::PolicyExists));
        }
        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO ram_policies (account_id, policy_name, description, default_version, created_at, updated_at)
             VALUES (?, ?, ?, 'v1', ?, ?)",
        )
        .bind(account)
        .bind(policy_name)
        .bind(description)
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting a custom policy"))?;
        insert_version(&mut tx, account, policy_name, "v1", document, &now).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(RamPolicyRow {
            policy_name: policy_name.to_owned(),
            description: description.to_owned(),
            default_version: "v1".to_owned(),
            created_at: now.clone(),
            updated_at: now,
            attachment_count: 0,
        }))
    }

    /// A custom policy and its default version.
    pub async fn custom_policy(
        &self,
        account: &str,
        policy_name: &str,
    ) -> Result<Option<(RamPolicyRow, RamPolicyVersionRow)>> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS}, v.document AS document, v.created_at AS version_created_at
             FROM ram_policies p JOIN ram_policy_versions v ON v.account_id = p.account_id
               AND v.policy_name = p.policy_name AND v.version_id = p.default_version
             WHERE p.account_id = ? AND p.policy_name = ?"
        ))
        .bind(account)
        .bind(policy_name)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a custom policy"))?;
        Ok(row.map(|r| {
            let policy = policy_row(&r);
            let version = RamPolicyVersionRow {
                version_id: policy.default_version.clone(),
                document: r.get("document"),
                created_at: r.get("version_created_at"),
                is_default: true,
            };
            (policy, version)
        }))
    }

    /// The account's custom policies, by name.
    pub async fn custom_policies(&self, account: &str) -> Result<Vec<RamPolicyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.account_id = ? ORDER BY p.policy_name"
        ))
        .bind(account)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing custom policies"))?;
        Ok(rows.iter().map(policy_row).collect())
    }

    /// How many principals of the account each system policy is attached to (absent: none).
    pub async fn system_policy_attachments(&self, account: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT policy_name, COUNT(*) FROM ram_attachments WHERE account_id = ? AND policy_type = 'System'
             GROUP BY policy_name",
        )
        .bind(account)
        .fetch_all(self.reader())
        .await
        .map_err(db("counting system policy attachments"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// DeletePolicy: refused while attached or with versions besides the default, unless `cascade` (RAM's
    /// CascadingDelete), which detaches it from everything and deletes every version with it.
    pub async fn delete_custom_policy(
        &self,
        account: &str,
        policy_name: &str,
        cascade: bool,
    ) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if !custom_policy_exists(&mut tx, account, policy_name).await? {
            return Ok(Err(RamRefusal::NoSuchPolicy));
        }
        if !cascade {
            for kind in [RamPrincipalKind::User, RamPrincipalKind::Group, RamPrincipalKind::Role] {
                let attached =
                    "SELECT COUNT(*) FROM ram_attachments WHERE account_id = ? AND policy_type = 'Custom'
                                AND policy_name = ? AND principal_type = ?";
                if count(&mut tx, attached, &[account, policy_name, kind.as_str()]).await? > 0 {
                    return Ok(Err(RamRefusal::PolicyAttached(kind)));
                }
            }
            let others = "SELECT COUNT(*) FROM ram_policy_versions v JOIN ram_policies p
                            ON p.account_id = v.account_id AND p.policy_name = v.policy_name
                          WHERE v.account_id = ? AND v.policy_name = ? AND v.version_id != p.default_version";
            if count(&mut tx, others, &[account, policy_name]).await? > 0 {
                return Ok(Err(RamRefusal::PolicyHasVersions));
            }
        }
        for sql in [
            "DELETE FROM ram_attachments WHERE account_id = ? AND policy_type = 'Custom' AND policy_name = ?",
            "DELETE FROM ram_policy_versions WHERE account_id = ? AND policy_name = ?",
            "DELETE FROM ram_policies WHERE account_id = ? AND policy_name = ?",
        ] {
            sqlx::query(sql)
                .bind(account)
                .bind(policy_name)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a custom policy"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// CreatePolicyVersion: the next version `v{n}`, the default when asked; at the limit, the oldest
    /// non-default version is deleted first when `rotate`, else the request is refused.
    pub async fn insert_policy_version(
        &self,
        account: &str,
        new: &NewPolicyVersion<'_>,
    ) -> Result<RamOutcome<RamPolicyVersionRow>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        let name = new.policy_name;
        let default: Option<String> = sqlx::query_scalar(
            "SELECT default_version FROM ram_policies WHERE account_id = ? AND policy_name = ?",
        )
        .bind(account)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a custom policy"))?;
        let Some(default) = default else { return Ok(Err(RamRefusal::NoSuchPolicy)) };
        let versions: Vec<String> = sqlx::query_scalar(
            "SELECT version_id FROM ram_policy_versions WHERE account_id = ? AND policy_name = ?
             ORDER BY CAST(SUBSTR(version_id, 2) AS INTEGER)",
        )
        .bind(account)
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing policy versions"))?;
        if versions.len() >= new.max_versions {
            let oldest = versions.iter().find(|v| **v != default);
            match (new.rotate, oldest) {
                (true, Some(oldest)) => {
                    sqlx::query(
                        "DELETE FROM ram_policy_versions WHERE account_id = ? AND policy_name = ? AND version_id = ?",
                    )
                    .bind(account)
                    .bind(name)
                    .bind(oldest)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("deleting a policy version"))?;
                }
                _ => return Ok(Err(RamRefusal::VersionLimit)),
            }
        }
        let highest = versions
            .iter()
            .filter_map(|v| v.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()))
            .max()
            .unwrap_or(0);
        let version_id = format!("v{}", highest + 1);
        let now = now_rfc3339();
        insert_version(&mut tx, account, name, &version_id, new.document, &now).await?;
        sqlx::query(
            "UPDATE ram_policies SET default_version = CASE WHEN ? THEN ? ELSE default_version END, updated_at = ?
             WHERE account_id = ? AND policy_name = ?",
        )
        .bind(new.set_as_default)
        .bind(&version_id)
        .bind(&now)
        .bind(account)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db("updating a custom policy"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(RamPolicyVersionRow {
            version_id,
            document: new.document.to_owned(),
            created_at: now,
            is_default: new.set_as_default,
        }))
    }

    // ---- attachments ---------------------------------------------------------------------------

    /// AttachPolicyTo{User,Group,Role} (`attach`) or the Detach counterparts. A system policy's existence is the
    /// caller's to check (they are not stored); a custom one must exist in the account.
    pub async fn change_attachment(
        &self,
        account: &str,
        kind: RamPrincipalKind,
        principal_name: &str,
        policy_type: RamPolicyType,
        policy_name: &str,
        attach: bool,
    ) -> Result<RamOutcome<()>> {
        let mut tx = self.begin_write().await.map_err(db("begin"))?;
        if policy_type == RamPolicyType::Custom
            && !custom_policy_exists(&mut tx, account, policy_name).await?
        {
            return Ok(Err(RamRefusal::NoSuchPolicy));
        }
        let Some(principal) = principal_id(&mut tx, account, kind, principal_name).await? else {
            return Ok(Err(kind.missing()));
        };
        let done = if attach {
            sqlx::query(
                "INSERT OR IGNORE INTO ram_attachments (account_id, principal_type, principal_id, policy_type,
                    policy_name, attached_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(account)
            .bind(kind.as_str())
            .bind(&principal)
            .bind(policy_type.as_str())
            .bind(policy_name)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "DELETE FROM ram_attachments WHERE account_id = ? AND principal_type = ? AND principal_id = ?
                   AND policy_type = ? AND policy_name = ?",
            )
            .bind(account)
            .bind(kind.as_str())
            .bind(&principal)
            .bind(policy_type.as_str())
            .bind(policy_name)
            .execute(&mut *tx)
            .await
        }
        .map_err(db("changing a policy attachment"))?;
        if done.rows_affected() == 0 {
            return Ok(Err(if attach {
                RamRefusal::AlreadyAttached(kind)
            } else {
                RamRefusal::NotAttached(kind)
            }));
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(Ok(()))
    }

    /// ListPoliciesFor{User,...}: the policies attached to one principal directly, in the order attached.
    pub async fn attachments_of(
        &self,
        account: &str,
        kind: RamPrincipalKind,
        principal_name: &str,
    ) -> Result<RamOutcome<Vec<RamAttachmentRow>>> {
        let (table, id, name_column) = kind.table();
        let principal: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {id} FROM {table} WHERE account_id = ? AND {name_column} = ? COLLATE NOCASE"
        ))
        .bind(account)
        .bind(principal_name)
        .fetch_optional(self.reader())
        .await
        .map_err(db("reading a RAM principal"))?;
        let Some(principal) = principal else { return Ok(Err(kind.missing())) };
        let rows = sqlx::query(
            "SELECT a.policy_type, a.policy_name, a.attached_at, p.description, p.default_version
             FROM ram_attachments a LEFT JOIN ram_policies p ON a.policy_type = 'Custom'
               AND p.account_id = a.account_id AND p.policy_name = a.policy_name
             WHERE a.account_id = ? AND a.principal_type = ? AND a.principal_id = ?
             ORDER BY a.attached_at, a.policy_type, a.policy_name",
        )
        .bind(account)
        .bind(kind.as_str())
        .bind(&principal)
        .fetch_all(self.reader())
        .await
        .map_err(db("listing attached policies"))?;
        Ok(Ok(rows
            .iter()
            .map(|r| {
                let description: Option<String> = r.get(3);
                let default_version: Option<String> = r.get(4);
                RamAttachmentRow {
                    policy_type: RamPolicyType::from_stored(r.get::<&str, _>(0)),
                    policy_name: r.get(1),
                    attached_at: r.get(2),
                    custom: description.zip(default_version),
                }
            })
            .collect()))
    }

    /// Every policy that applies to an identity: a user's own and its groups', or a role's; a custom policy with
    /// its default version's document. The same policy reached twice is listed once.
    pub async fn identity_policy_rows(
        &self,
        account: &str,
        who: &RamIdentityKey,
    ) -> Result<Vec<RamIdentityPolicyRow>> {
        let (principals, id) = match who {
            RamIdentityKey::User { user_id } => (
                "(a.principal_type = 'User' AND a.principal_id = ?1) OR (a.principal_type = 'Group' AND a.principal_id IN
                   (SELECT group_id FROM ram_group_members WHERE account_id = ?2 AND user_id = ?1))",
                user_id,
            ),
            RamIdentityKey::Role { role_id } => ("(a.principal_type = 'Role' AND a.principal_id = ?1)", role_id),
        };
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT a.policy_type, a.policy_name, v.document
             FROM ram_attachments a
             LEFT JOIN ram_policies p ON a.policy_type = 'Custom' AND p.account_id = a.account_id
               AND p.policy_name = a.policy_name
             LEFT JOIN ram_policy_versions v ON v.account_id = p.account_id AND v.policy_name = p.policy_name
               AND v.version_id = p.default_version
             WHERE a.account_id = ?2 AND ({principals})
             ORDER BY a.policy_type, a.policy_name"
        ))
        .bind(id)
        .bind(account)
        .fetch_all(self.reader())
        .await
        .map_err(db("reading an identity's policies"))?;
        Ok(rows
            .iter()
            .map(|r| RamIdentityPolicyRow {
                policy_type: RamPolicyType::from_stored(r.get::<&str, _>(0)),
                policy_name: r.get(1),
                document: r.get(2),
            })
            .collect())
    }
}

async fn insert_version(
    tx: &mut Tx,
    account: &str,
    policy_name: &str,
    version_id: &str,
    document: &str,
    created_at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ram_policy_versions (account_id, policy_name, version_id, document, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(account)
    .bind(policy_name)
    .bind(version_id)
    .bind(document)
    .bind(created_at)
    .execute(&mut **tx)
    .await
    .map_err(db("inserting a policy version"))?;
    Ok(())
}
