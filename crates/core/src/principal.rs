//! Who is calling: the principal a request's access key proves, in the account that owns it.
//!
//! Why a type of its own: authentication (the API's signature step) finds it once per request and everything after
//! it (the authorization step, STS's AssumeRole and GetCallerIdentity, the products scoped by account) reads it,
//! so its shape is the contract between them. The account's root key, a RAM user's key and an STS session's
//! temporary key are the three kinds, as on Alibaba Cloud.

use ecslab_iam::{AttachedPolicy, Caller};
use std::sync::Arc;

/// The identity behind an access key.
#[derive(Debug, Clone)]
pub enum Identity {
    /// The account's root key: passes every check inside its own account.
    Root,
    /// A RAM user of the account.
    User { user_id: String, user_name: String },
    /// An STS session of a role of the account (AssumeRole's temporary key and SecurityToken).
    Role {
        role_id: String,
        role_name: String,
        session_name: String,
        /// AssumeRole's inline `Policy`, which narrows the session below the role's own policies.
        session_policy: Option<Arc<AttachedPolicy>>,
        /// When the session's credentials expire (seconds since the epoch).
        expires_at: i64,
    },
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    /// The access key that signed the request (an `STS.` key for a session).
    pub access_key_id: String,
    pub identity: Identity,
}

impl Principal {
    /// The caller as the policy evaluator names it.
    pub fn caller(&self) -> Caller {
        match &self.identity {
            Identity::Root => Caller::Root,
            Identity::User { user_id, user_name } => {
                Caller::RamUser { user_id: user_id.clone(), user_name: user_name.clone() }
            }
            Identity::Role { role_name, session_name, .. } => {
                Caller::AssumedRole { role_name: role_name.clone(), session_name: session_name.clone() }
            }
        }
    }

    /// Whether this is the account's root key.
    pub fn is_root(&self) -> bool {
        matches!(self.identity, Identity::Root)
    }
}
