//! The evaluation: a request against the policies that apply to its caller, as RAM's "Policy evaluation logic"
//! describes it for identity-based and session policies.
//!
//! Why one pure function: every product's every action goes through it, so it must be cheap (patterns pre-parsed,
//! one small allocation for the decision) and obviously right. The order, per resource:
//! 1. the root account's key passes, inside its own account;
//! 2. an applicable Deny in any identity-based policy (the user's and its groups', or the role's): ExplicitDeny;
//! 3. an applicable Deny in the session policy (AssumeRole's inline Policy): ExplicitDeny;
//! 4. no applicable Allow in the identity-based policies: ImplicitDeny;
//! 5. a session policy and no applicable Allow in it: ImplicitDeny (a session policy only narrows the role);
//! 6. Allow, naming the identity statement that allowed it.
//!
//! A request on several resources is allowed only when each is; the first resource denied decides. A resource of
//! another account is never allowed (ImplicitDeny): there are no cross-account resource policies here, and the
//! tenancy layer answers NotFound before it gets this far.

use crate::arn::Arn;
use crate::context::{Caller, RequestContext, Resource};
use crate::document::{DocumentKind, Effect, PolicyDocument};
use crate::error::IamError;

/// Where a policy came from, for AccessDeniedDetail and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// One of the embedded system policies (`AliyunECSFullAccess`, ...).
    System,
    /// A custom policy of the account.
    Custom,
    /// The inline `Policy` of an STS AssumeRole.
    Session,
}

/// A policy attached to the caller (to the user, one of its groups, or the role), or a session's inline policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedPolicy {
    pub name: String,
    pub source: PolicySource,
    pub document: PolicyDocument,
}

impl AttachedPolicy {
    /// Parse a policy's text with the limits of its source (a session policy's 2,048 characters, else 6,144).
    pub fn parse(name: &str, source: PolicySource, text: &str) -> Result<AttachedPolicy, IamError> {
        let kind = match source {
            PolicySource::Session => DocumentKind::SessionPolicy,
            PolicySource::System | PolicySource::Custom => DocumentKind::Policy,
        };
        Ok(AttachedPolicy { name: name.to_owned(), source, document: PolicyDocument::parse_as(text, kind)? })
    }
}

/// The policies that apply to one caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policies<'a> {
    /// The user's and its groups' policies, or the assumed role's.
    pub identity: &'a [&'a AttachedPolicy],
    /// The session policy of an assumed-role session that was given one.
    pub session: Option<&'a AttachedPolicy>,
}

/// The kind of policy that decided, with the names RAM's DecodeDiagnosticMessage uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PolicyType {
    AccountLevelIdentityBasedPolicy,
    SessionPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum NoPermissionType {
    ImplicitDeny,
    ExplicitDeny,
}

/// A statement that decided: which policy, which statement (0-based) and its Sid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    pub policy_name: String,
    pub policy_source: PolicySource,
    pub statement: usize,
    pub sid: Option<String>,
}

/// Why a request is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The account's root key, inside its own account.
    Root,
    /// The identity statement that allowed the last resource checked.
    Statement(StatementRef),
}

/// Why a request is denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub no_permission_type: NoPermissionType,
    pub policy_type: PolicyType,
    /// The Deny statement for an ExplicitDeny; none for an ImplicitDeny.
    pub statement: Option<StatementRef>,
    /// The resource that was denied.
    pub resource: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(Grant),
    Denied(Denial),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// Decide one request.
pub fn evaluate(ctx: &RequestContext, policies: Policies<'_>) -> Decision {
    if ctx.resources.is_empty() {
        let account_wide = Arn::new(ctx.action.service(), "*", &ctx.account_id, "*");
        return match account_wide {
            Ok(arn) => evaluate_one(ctx, policies, &Resource::new(arn)),
            Err(_) => {
                denied(NoPermissionType::ImplicitDeny, PolicyType::AccountLevelIdentityBasedPolicy, None, "*")
            }
        };
    }
    let mut last = Decision::Allowed(Grant::Root);
    for resource in &ctx.resources {
        last = evaluate_one(ctx, policies, resource);
        if !last.is_allowed() {
            return last;
        }
    }
    last
}

fn evaluate_one(ctx: &RequestContext, policies: Policies<'_>, resource: &Resource) -> Decision {
    let arn = &resource.arn;
    let identity = PolicyType::AccountLevelIdentityBasedPolicy;
    if !arn.account().is_empty() && arn.account() != ctx.account_id {
        return denied(NoPermissionType::ImplicitDeny, identity, None, arn.as_str());
    }
    if ctx.caller == Caller::Root {
        return Decision::Allowed(Grant::Root);
    }
    if let Some(s) = first_applicable(ctx, policies.identity.iter().copied(), Effect::Deny, arn, resource) {
        return denied(NoPermissionType::ExplicitDeny, identity, Some(s), arn.as_str());
    }
    let session = PolicyType::SessionPolicy;
    if let Some(s) = first_applicable(ctx, policies.session, Effect::Deny, arn, resource) {
        return denied(NoPermissionType::ExplicitDeny, session, Some(s), arn.as_str());
    }
    let Some(allow) = first_applicable(ctx, policies.identity.iter().copied(), Effect::Allow, arn, resource)
    else {
        return denied(NoPermissionType::ImplicitDeny, identity, None, arn.as_str());
    };
    if policies.session.is_some()
        && first_applicable(ctx, policies.session, Effect::Allow, arn, resource).is_none()
    {
        return denied(NoPermissionType::ImplicitDeny, session, None, arn.as_str());
    }
    Decision::Allowed(Grant::Statement(allow))
}

fn first_applicable<'a>(
    ctx: &RequestContext,
    policies: impl IntoIterator<Item = &'a AttachedPolicy>,
    effect: Effect,
    arn: &Arn,
    resource: &Resource,
) -> Option<StatementRef> {
    for policy in policies {
        for (i, s) in policy.document.statements.iter().enumerate() {
            if s.effect == effect && s.applies(ctx, arn, resource) {
                return Some(StatementRef {
                    policy_name: policy.name.clone(),
                    policy_source: policy.source,
                    statement: i,
                    sid: s.sid.clone(),
                });
            }
        }
    }
    None
}

fn denied(
    kind: NoPermissionType,
    policy_type: PolicyType,
    statement: Option<StatementRef>,
    resource: &str,
) -> Decision {
    Decision::Denied(Denial {
        no_permission_type: kind,
        policy_type,
        statement,
        resource: resource.to_owned(),
    })
}
