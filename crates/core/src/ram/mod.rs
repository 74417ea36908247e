//! RAM 2015-05-01: an account's users and their access keys, groups, custom policies beside the system ones,
//! roles, and what is attached to whom; and the policies that apply to a caller, for the authorization step.
//!
//! Why one service with a cache: every request of a RAM user or role session is authorized against its identity
//! policies, so [`Ram::identity_policies`] must not read and parse them from the store each time. It keeps them
//! parsed per (account, user or role); every RAM write that could change them (attachments, policy versions and
//! deletions, group memberships, user and role deletion) drops the account's entries after it committed. A load
//! that raced with such a write is not kept (a generation counter), so the cache never holds what the store no
//! longer says. The rules without state (names, limits, codes) are in `rules.rs`; the queries in the store.

pub mod rules;

use crate::principal::Identity;
use crate::{Error, Result};
use base64::Engine;
use ecslab_iam::{system_policy, AttachedPolicy, PolicySource, TrustPolicy};
use ecslab_store::{
    now_rfc3339, NewPolicyVersion, RamGroupRow, RamIdentityKey, RamMembershipRow, RamPolicyType,
    RamPolicyVersionRow, RamPrincipalKind, RamRoleRow, RamUserChange, RamUserKeyRow, RamUserRow, Store,
};
use rules::{check_name, check_text, refusal, NameKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use ecslab_store::{RamPolicyType as PolicyType, RamPrincipalKind as PrincipalKind};

/// When RAM shows the system policies as created (they are not the account's; RAM shows a fixed date too).
pub const SYSTEM_POLICY_DATE: &str = "2015-05-01T00:00:00Z";

/// The parsed policies of one caller, shared with every request that reads them.
pub type IdentityPolicies = Arc<[Arc<AttachedPolicy>]>;

/// CreateUser's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    pub user_name: String,
    pub display_name: String,
    pub mobile_phone: String,
    pub email: String,
    pub comments: String,
}

/// A page of ListUsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<RamUserRow>,
    /// The Marker of the next page when the list was cut.
    pub next_marker: Option<String>,
}

/// An access key's status as RAM names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }

    pub fn of(enabled: bool) -> AccessKeyStatus {
        if enabled {
            AccessKeyStatus::Active
        } else {
            AccessKeyStatus::Inactive
        }
    }
}

/// A key CreateAccessKey made: the only time its secret is shown.
#[derive(Clone)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub status: AccessKeyStatus,
    pub created_at: String,
}

impl std::fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccessKey").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// A policy, system or custom, as GetPolicy and ListPolicies show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    pub policy_type: PolicyType,
    pub policy_name: String,
    pub description: String,
    pub default_version: String,
    pub created_at: String,
    pub updated_at: String,
    pub attachment_count: i64,
}

/// A page of ListPolicies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPage {
    pub policies: Vec<PolicyView>,
    pub next_marker: Option<String>,
}

/// A policy attached to a principal (ListPoliciesForUser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicyView {
    pub policy_type: PolicyType,
    pub policy_name: String,
    pub description: String,
    pub default_version: String,
    pub attach_date: String,
}

/// CreateRole's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRole {
    pub role_name: String,
    pub assume_role_policy_document: String,
    pub description: String,
    pub max_session_duration: Option<i64>,
}

/// A role as GetRole and STS read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub role_id: String,
    pub role_name: String,
    /// `acs:ram::{account}:role/{lower-case name}`.
    pub arn: String,
    pub description: String,
    pub assume_role_policy_document: String,
    /// Seconds, 3600..=43200.
    pub max_session_duration: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl RoleRecord {
    fn from_row(account_id: &str, row: RamRoleRow) -> RoleRecord {
        RoleRecord {
            arn: rules::role_arn(account_id, &row.role_name),
            role_id: row.role_id,
            role_name: row.role_name,
            description: row.description,
            assume_role_policy_document: row.assume_role_policy_document,
            max_session_duration: row.max_session_duration,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Default)]
struct PolicyCache {
    /// Incremented by every invalidation; a load started under an older generation is not stored.
    generation: u64,
    entries: HashMap<(String, RamIdentityKey), IdentityPolicies>,
}

/// The RAM service.
pub struct Ram {
    store: Store,
    cache: Mutex<PolicyCache>,
}

fn encode_marker(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_marker(marker: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::rejected("InvalidParameter.Marker", "The Marker is not one this list returned.")
        })
}

fn store_outcome<T>(outcome: ecslab_store::RamOutcome<T>) -> Result<T> {
    outcome.map_err(refusal)
}

impl Ram {
    pub fn new(store: Store) -> Ram {
        Ram { store, cache: Mutex::new(PolicyCache::default()) }
    }

    // ---- for authorization and STS ----------------------------------------------------------------

    /// The parsed policies that apply to `identity` in `account_id`: a user's own and its groups', a role's;
    /// none for the root key. Cached until a RAM write of the account could change them.
    pub async fn identity_policies(&self, account_id: &str, identity: &Identity) -> Result<IdentityPolicies> {
        let key = match identity {
            Identity::Root => return Ok(Arc::from(Vec::new())),
            Identity::User { user_id, .. } => RamIdentityKey::User { user_id: user_id.clone() },
            Identity::Role { role_id, .. } => RamIdentityKey::Role { role_id: role_id.clone() },
        };
        let cache_key = (account_id.to_owned(), key);
        let generation = {
            let cache = self.lock();
            if let Some(hit) = cache.entries.get(&cache_key) {
                return Ok(hit.clone());
            }
            cache.generation
        };
        let rows = self.store.identity_policy_rows(account_id, &cache_key.1).await?;
        let mut parsed = Vec::with_capacity(rows.len());
        for row in rows {
            let policy = match (row.policy_type, row.document) {
                (RamPolicyType::System, _) => system_policy(&row.policy_name).cloned(),
                (RamPolicyType::Custom, Some(text)) => {
                    Some(AttachedPolicy::parse(&row.policy_name, PolicySource::Custom, &text).map_err(
                        |e| Error::internal(format!("stored policy {} does not parse: {e}", row.policy_name)),
                    )?)
                }
                (RamPolicyType::Custom, None) => None,
            };
            parsed.extend(policy.map(Arc::new));
        }
        let policies: IdentityPolicies = Arc::from(parsed);
        let mut cache = self.lock();
        if cache.generation == generation {
            cache.entries.insert(cache_key, policies.clone());
        }
        Ok(policies)
    }

    /// A role by name (without regard to case), `None` when the account has none.
    pub async fn role(&self, account_id: &str, role_name: &str) -> Result<Option<RoleRecord>> {
        Ok(self.store.ram_role(account_id, role_name).await?.map(|r| RoleRecord::from_row(account_id, r)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PolicyCache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drop the account's cached policies after a write that could change them.
    fn changed(&self, account_id: &str) {
        let mut cache = self.lock();
        cache.generation += 1;
        cache.entries.retain(|(account, _), _| account != account_id);
    }

    // ---- users --------------------------------------------------------------------------------------

    pub async fn create_user(&self, account_id: &str, new: NewUser) -> Result<RamUserRow> {
        check_name(NameKind::User, &new.user_name)?;
        check_user_texts(&new.display_name, &new.comments)?;
        if !new.mobile_phone.is_empty() {
            rules::check_mobile_phone(&new.mobile_phone)?;
        }
        if !new.email.is_empty() {
            rules::check_email(&new.email)?;
        }
        let now = now_rfc3339();
        let row = RamUserRow {
            user_id: rules::new_user_id(),
            user_name: new.user_name,
            display_name: new.display_name,
            mobile_phone: new.mobile_phone,
            email: new.email,
            comments: new.comments,
            created_at: now.clone(),
            updated_at: now,
        };
        store_outcome(self.store.insert_ram_user(account_id, &row).await?)?;
        Ok(row)
    }

    pub async fn get_user(&self, account_id: &str, user_name: &str) -> Result<RamUserRow> {
        check_name(NameKind::User, user_name)?;
        self.store
            .ram_user(account_id, user_name)
            .await?
            .ok_or_else(|| refusal(ecslab_store::RamRefusal::NoSuchUser))
    }

    pub async fn update_user(
        &self,
        account_id: &str,
        user_name: &str,
        change: RamUserChange,
    ) -> Result<RamUserRow> {
        check_name(NameKind::User, user_name)?;
        if let Some(new_name) = &change.user_name {
            check_name(NameKind::User, new_name)?;
        }
        check_user_texts(
            change.display_name.as_deref().unwrap_or(""),
            change.comments.as_deref().unwrap_or(""),
        )?;
        if let Some(phone) = change.mobile_phone.as_deref() {
            rules::check_mobile_phone(phone)?;
        }
        if let Some(email) = change.email.as_deref() {
            rules::check_email(email)?;
        }
        store_outcome(self.store.update_ram_user(account_id, user_name, &change).await?)
    }

    /// ListUsers: `max_items` users after the Marker, in name order.
    pub async fn list_users(
        &self,
        account_id: &str,
        marker: Option<&str>,
        max_items: i64,
    ) -> Result<UserPage> {
        let after = marker.map(decode_marker).transpose()?;
        let mut users = self.store.list_ram_users(account_id, after.as_deref(), max_items + 1).await?;
        let next_marker = if users.len() as i64 > max_items {
            users.truncate(max_items as usize);
            users.last().map(|u| encode_marker(&u.user_name))
        } else {
            None
        };
        Ok(UserPage { users, next_marker })
    }

    pub async fn delete_user(&self, account_id: &str, user_name: &str) -> Result<()> {
        check_name(NameKind::User, user_name)?;
        store_outcome(self.store.delete_ram_user(account_id, user_name).await?)?;
        self.changed(account_id);
        Ok(())
    }

    // ---- access keys --------------------------------------------------------------------------------

    pub async fn create_access_key(&self, account_id: &str, user_name: &str) -> Result<NewAccessKey> {
        check_name(NameKind::User, user_name)?;
        let (access_key_id, access_key_secret) = rules::new_access_key();
        let row = store_outcome(
            self.store
                .insert_user_access_key(
                    account_id,
                    user_name,
                    &access_key_id,
                    &access_key_secret,
                    rules::MAX_ACCESS_KEYS_PER_USER,
                )
                .await?,
        )?;
        Ok(NewAccessKey {
            access_key_id,
            access_key_secret,
            status: AccessKeyStatus::of(row.enabled),
            created_at: row.created_at,
        })
    }

    pub async fn list_access_keys(&self, account_id: &str, user_name: &str) -> Result<Vec<RamUserKeyRow>> {
        check_name(NameKind::User, user_name)?;
        store_outcome(self.store.user_access_keys(account_id, user_name).await?)
    }

    pub async fn update_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<()> {
        check_name(NameKind::User, user_name)?;
        let enabled = status == AccessKeyStatus::Active;
        store_outcome(
            self.store.change_user_access_key(account_id, user_name, access_key_id, Some(enabled)).await?,
        )
    }

    pub async fn delete_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<()> {
        check_name(NameKind::User, user_name)?;
        store_outcome(self.store.change_user_access_key(account_id, user_name, access_key_id, None).await?)
    }

    // ---- groups -------------------------------------------------------------------------------------

    pub async fn create_group(
        &self,
        account_id: &str,
        group_name: &str,
        comments: &str,
    ) -> Result<RamGroupRow> {
        check_name(NameKind::Group, group_name)?;
        check_text("Comments", "InvalidParameter.Comments.Length", comments, 128)?;
        let now = now_rfc3339();
        let row = RamGroupRow {
            group_id: rules::new_group_id(),
            group_name: group_name.to_owned(),
            comments: comments.to_owned(),
            created_at: now.clone(),
            updated_at: now,
        };
        store_outcome(self.store.insert_ram_group(account_id, &row).await?)?;
        Ok(row)
    }

    /// AddUserToGroup (`join`) or RemoveUserFromGroup.
    pub async fn change_membership(
        &self,
        account_id: &str,
        user_name: &str,
        group_name: &str,
        join: bool,
    ) -> Result<()> {
        check_name(NameKind::User, user_name)?;
        check_name(NameKind::Group, group_name)?;
        store_outcome(self.store.change_membership(account_id, user_name, group_name, join).await?)?;
        self.changed(account_id);
        Ok(())
    }

    pub async fn groups_for_user(&self, account_id: &str, user_name: &str) -> Result<Vec<RamMembershipRow>> {
        check_name(NameKind::User, user_name)?;
        store_outcome(self.store.groups_for_user(account_id, user_name).await?)
    }

    // ---- policies -----------------------------------------------------------------------------------

    pub async fn create_policy(
        &self,
        account_id: &str,
        policy_name: &str,
        document: &str,
        description: &str,
    ) -> Result<PolicyView> {
        check_name(NameKind::Policy, policy_name)?;
        check_text("Description", "InvalidParameter.Description.Length", description, 1024)?;
        AttachedPolicy::parse(policy_name, PolicySource::Custom, document).map_err(rules::document_error)?;
        let row = store_outcome(
            self.store.insert_custom_policy(account_id, policy_name, description, document).await?,
        )?;
        Ok(custom_view(row))
    }

    /// GetPolicy: the policy and its default version.
    pub async fn get_policy(
        &self,
        account_id: &str,
        policy_type: PolicyType,
        policy_name: &str,
    ) -> Result<(PolicyView, RamPolicyVersionRow)> {
        check_name(NameKind::Policy, policy_name)?;
        let missing = || refusal(ecslab_store::RamRefusal::NoSuchPolicy);
        match policy_type {
            PolicyType::System => {
                let policy =
                    ecslab_iam::SYSTEM_POLICIES.iter().find(|p| p.name == policy_name).ok_or_else(missing)?;
                let counts = self.store.system_policy_attachments(account_id).await?;
                let view = system_view(policy, &counts);
                let version = RamPolicyVersionRow {
                    version_id: view.default_version.clone(),
                    document: policy.document.to_owned(),
                    created_at: SYSTEM_POLICY_DATE.to_owned(),
                    is_default: true,
                };
                Ok((view, version))
            }
            PolicyType::Custom => {
                let (row, version) =
                    self.store.custom_policy(account_id, policy_name).await?.ok_or_else(missing)?;
                Ok((custom_view(row), version))
            }
        }
    }

    /// ListPolicies: system policies, then custom ones, each by name; `kind` keeps one type.
    pub async fn list_policies(
        &self,
        account_id: &str,
        kind: Option<PolicyType>,
        marker: Option<&str>,
        max_items: i64,
    ) -> Result<PolicyPage> {
        let after = marker.map(decode_marker).transpose()?;
        let mut all = Vec::new();
        if kind != Some(PolicyType::Custom) {
            let counts = self.store.system_policy_attachments(account_id).await?;
            let mut system: Vec<PolicyView> =
                ecslab_iam::SYSTEM_POLICIES.iter().map(|p| system_view(p, &counts)).collect();
            system.sort_by(|a, b| a.policy_name.cmp(&b.policy_name));
            all.extend(system);
        }
        if kind != Some(PolicyType::System) {
            all.extend(self.store.custom_policies(account_id).await?.into_iter().map(custom_view));
        }
        let key = |p: &PolicyView| format!("{}:{}", p.policy_type.as_str(), p.policy_name);
        let start = match &after {
            None => 0,
            Some(after) => all.iter().position(|p| key(p) == *after).map(|i| i + 1).ok_or_else(|| {
                Error::rejected("InvalidParameter.Marker", "The Marker is not one this list returned.")
            })?,
        };
        let mut policies: Vec<PolicyView> = all.into_iter().skip(start).collect();
        let next_marker = if policies.len() as i64 > max_items {
            policies.truncate(max_items as usize);
            policies.last().map(|p| encode_marker(&key(p)))
        } else {
            None
        };
        Ok(PolicyPage { policies, next_marker })
    }

    pub async fn delete_policy(&self, account_id: &str, policy_name: &str, cascade: bool) -> Result<()> {
        check_name(NameKind::Policy, policy_name)?;
        store_outcome(self.store.delete_custom_policy(account_id, policy_name, cascade).await?)?;
        self.changed(account_id);
        Ok(())
    }

    pub async fn create_policy_version(
        &self,
        account_id: &str,
        policy_name: &str,
        document: &str,
        set_as_default: bool,
        rotate: bool,
    ) -> Result<RamPolicyVersionRow> {
        check_name(NameKind::Policy, policy_name)?;
        AttachedPolicy::parse(policy_name, PolicySource::Custom, document).map_err(rules::document_error)?;
        let new = NewPolicyVersion {
            policy_name,
            document,
            set_as_default,
            rotate,
            max_versions: rules::MAX_POLICY_VERSIONS,
        };
        let version = store_outcome(self.store.insert_policy_version(account_id, &new).await?)?;
        self.changed(account_id);
        Ok(version)
    }

    /// AttachPolicyTo{User,Group,Role} (`attach`) or their Detach counterparts.
    pub async fn change_attachment(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal_name: &str,
        policy_type: PolicyType,
        policy_name: &str,
        attach: bool,
    ) -> Result<()> {
        check_name(principal_name_kind(kind), principal_name)?;
        check_name(NameKind::Policy, policy_name)?;
        if policy_type == PolicyType::System && system_policy(policy_name).is_none() {
            return Err(refusal(ecslab_store::RamRefusal::NoSuchPolicy));
        }
        store_outcome(
            self.store
                .change_attachment(account_id, kind, principal_name, policy_type, policy_name, attach)
                .await?,
        )?;
        self.changed(account_id);
        Ok(())
    }

    /// ListPoliciesFor{User,...}: the policies attached to the principal itself.
    pub async fn policies_for(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal_name: &str,
    ) -> Result<Vec<AttachedPolicyView>> {
        check_name(principal_name_kind(kind), principal_name)?;
        let rows = store_outcome(self.store.attachments_of(account_id, kind, principal_name).await?)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (description, default_version) = match (row.policy_type, row.custom) {
                    (RamPolicyType::Custom, Some(custom)) => custom,
                    _ => (
                        ecslab_iam::SYSTEM_POLICIES
                            .iter()
                            .find(|p| p.name == row.policy_name)
                            .map(|p| p.description.to_owned())
                            .unwrap_or_default(),
                        "v1".to_owned(),
                    ),
                };
                AttachedPolicyView {
                    policy_type: row.policy_type,
                    policy_name: row.policy_name,
                    description,
                    default_version,
                    attach_date: row.attached_at,
                }
            })
            .collect())
    }

    // ---- roles --------------------------------------------------------------------------------------

    pub async fn create_role(&self, account_id: &str, new: NewRole) -> Result<RoleRecord> {
        check_name(NameKind::Role, &new.role_name)?;
        check_text("Description", "InvalidParameter.Description.Length", &new.description, 1024)?;
        TrustPolicy::parse(&new.assume_role_policy_document).map_err(rules::document_error)?;
        let duration = new.max_session_duration.unwrap_or(rules::DEFAULT_SESSION_DURATION);
        if !rules::SESSION_DURATION_RANGE.contains(&duration) {
            return Err(Error::rejected(
                "InvalidParameter.MaxSessionDuration",
                "The MaxSessionDuration must be 3600 to 43200 seconds.",
            ));
        }
        let now = now_rfc3339();
        let row = RamRoleRow {
            role_id: rules::new_role_id(),
            role_name: new.role_name,
            description: new.description,
            assume_role_policy_document: new.assume_role_policy_document,
            max_session_duration: duration,
            created_at: now.clone(),
            updated_at: now,
        };
        store_outcome(self.store.insert_ram_role(account_id, &row).await?)?;
        Ok(RoleRecord::from_row(account_id, row))
    }

    pub async fn get_role(&self, account_id: &str, role_name: &str) -> Result<RoleRecord> {
        check_name(NameKind::Role, role_name)?;
        self.role(account_id, role_name).await?.ok_or_else(|| refusal(ecslab_store::RamRefusal::NoSuchRole))
    }

    pub async fn delete_role(&self, account_id: &str, role_name: &str) -> Result<()> {
        check_name(NameKind::Role, role_name)?;
        store_outcome(self.store.delete_ram_role(account_id, role_name).await?)?;
        self.changed(account_id);
        Ok(())
    }
}

fn principal_name_kind(kind: PrincipalKind) -> NameKind {
    match kind {
        RamPrincipalKind::User => NameKind::User,
        RamPrincipalKind::Group => NameKind::Group,
        RamPrincipalKind::Role => NameKind::Role,
    }
}

fn check_user_texts(display_name: &str, comments: &str) -> Result<()> {
    check_text("DisplayName", "InvalidParameter.DisplayName.Length", display_name, 128)?;
    check_text("Comments", "InvalidParameter.Comments.Length", comments, 128)
}

fn custom_view(row: ecslab_store::RamPolicyRow) -> PolicyView {
    PolicyView {
        policy_type: PolicyType::Custom,
        policy_name: row.policy_name,
        description: row.description,
        default_version: row.default_version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        attachment_count: row.attachment_count,
    }
}

fn system_view(policy: &ecslab_iam::SystemPolicy, counts: &[(String, i64)]) -> PolicyView {
    PolicyView {
        policy_type: PolicyType::System,
        policy_name: policy.name.to_owned(),
        description: policy.description.to_owned(),
        default_version: "v1".to_owned(),
        created_at: SYSTEM_POLICY_DATE.to_owned(),
        updated_at: SYSTEM_POLICY_DATE.to_owned(),
        attachment_count: counts.iter().find(|(n, _)| n == policy.name).map_or(0, |(_, c)| *c),
    }
}

#[cfg(test)]
mod tests;
