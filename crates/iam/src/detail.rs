//! What a denial says to the caller: the `AccessDeniedDetail` object current Alibaba services put in a 403
//! (Forbidden.RAM on ECS, NoPermission elsewhere), and the diagnostic that RAM's DecodeDiagnosticMessage returns
//! for its EncodedDiagnosticMessage.
//!
//! Why here: the field names and their words (SubUser, AssumedRoleUser; ImplicitDeny, ExplicitDeny;
//! AccountLevelIdentityBasedPolicy, SessionPolicy) belong to RAM, not to any one product, and they are derived
//! from a `Denial` alone. How the diagnostic is encoded into EncodedDiagnosticMessage (and whether it is sealed)
//! is the API layer's choice; this crate gives the decoded form.

use serde::Serialize;

use crate::context::{Caller, RequestContext};
use crate::eval::{Denial, NoPermissionType, PolicyType};

/// The principal types RAM names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthPrincipalType {
    /// The root account (never denied inside its account; present for completeness).
    Account,
    SubUser,
    AssumedRoleUser,
}

/// `AccessDeniedDetail` as ECS and the other products put it in a 403 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessDeniedDetail {
    pub policy_type: PolicyType,
    pub auth_principal_owner_id: String,
    pub auth_principal_type: AuthPrincipalType,
    pub auth_principal_display_name: String,
    pub no_permission_type: NoPermissionType,
    pub auth_action: String,
    /// Filled by the API layer (the encoded `Diagnostic`).
    pub encoded_diagnostic_message: String,
}

/// The decoded diagnostic (DecodeDiagnosticMessage's DecodedDiagnosticMessage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Diagnostic {
    pub explicit_deny: bool,
    pub no_permission_policy_type: PolicyType,
    pub auth_action: String,
    pub auth_resource: String,
    pub auth_principal: DiagnosticPrincipal,
    /// The Deny statement of an ExplicitDeny: `policy name#statement index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_statement: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiagnosticPrincipal {
    pub auth_principal_type: AuthPrincipalType,
    pub auth_principal_owner_id: String,
    pub auth_principal_display_name: String,
}

fn principal(ctx: &RequestContext) -> DiagnosticPrincipal {
    let (kind, name) = match &ctx.caller {
        Caller::Root => (AuthPrincipalType::Account, ctx.account_id.clone()),
        Caller::RamUser { user_name, .. } => (AuthPrincipalType::SubUser, user_name.clone()),
        Caller::AssumedRole { role_name, session_name } => {
            (AuthPrincipalType::AssumedRoleUser, format!("{role_name}:{session_name}"))
        }
    };
    DiagnosticPrincipal {
        auth_principal_type: kind,
        auth_principal_owner_id: ctx.account_id.clone(),
        auth_principal_display_name: name,
    }
}

impl Denial {
    pub fn access_denied_detail(&self, ctx: &RequestContext) -> AccessDeniedDetail {
        let p = principal(ctx);
        AccessDeniedDetail {
            policy_type: self.policy_type,
            auth_principal_owner_id: p.auth_principal_owner_id,
            auth_principal_type: p.auth_principal_type,
            auth_principal_display_name: p.auth_principal_display_name,
            no_permission_type: self.no_permission_type,
            auth_action: ctx.action.to_string(),
            encoded_diagnostic_message: String::new(),
        }
    }

    pub fn diagnostic(&self, ctx: &RequestContext) -> Diagnostic {
        Diagnostic {
            explicit_deny: self.no_permission_type == NoPermissionType::ExplicitDeny,
            no_permission_policy_type: self.policy_type,
            auth_action: ctx.action.to_string(),
            auth_resource: self.resource.clone(),
            auth_principal: principal(ctx),
            matched_statement: self.statement.as_ref().map(|s| format!("{}#{}", s.policy_name, s.statement)),
        }
    }
}
