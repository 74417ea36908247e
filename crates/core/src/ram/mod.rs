//! RAM: the users, groups, policies and roles of an account. (The lead's placeholder until the RAM product lands:
//! no policies can be attached yet, so a caller other than the root key has none.)

use crate::{Identity, Result};
use ecslab_iam::AttachedPolicy;
use std::sync::Arc;

/// The RAM service of the cloud.
#[derive(Debug, Default)]
pub struct Ram;

impl Ram {
    /// The identity-based policies of a caller: a user's own and its groups', or a role's.
    pub async fn identity_policies(
        &self,
        _account_id: &str,
        _identity: &Identity,
    ) -> Result<Arc<[Arc<AttachedPolicy>]>> {
        Ok(Arc::from(Vec::new()))
    }
}

impl Ram {
    /// The name of a RAM user by id.
    pub async fn user_name(&self, _account_id: &str, _user_id: &str) -> Result<Option<String>> {
        Ok(None)
    }
}

/// A role, as STS needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub role_id: String,
    pub role_name: String,
    pub arn: String,
    pub assume_role_policy_document: String,
    pub max_session_duration: i64,
}

impl Ram {
    /// A role of the account by name (case-insensitive).
    pub async fn role(&self, _account_id: &str, _role_name: &str) -> Result<Option<RoleRecord>> {
        Ok(None)
    }
}
