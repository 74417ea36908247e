//! STS 2015-04-01: AssumeRole hands out temporary credentials for a role of the account, GetCallerIdentity says who
//! signed, and every request signed with an `STS.` key is proven by its SecurityToken here.
//!
//! The rules are Alibaba Cloud's: the root key may not assume roles (NoPermission, "Roles may not be assumed by
//! root accounts"); a RAM user or a role session may, when its own policies allow `sts:AssumeRole` on the role
//! (the pipeline's authorization step) and the role's trust policy names it (checked here, NoPermission otherwise,
//! the same answer as for a role that does not exist); DurationSeconds is 900 up to the role's MaxSessionDuration;
//! RoleSessionName is 2 to 64 of letters, digits and `.@-_`; the inline Policy (a session policy, 2,048 characters
//! at most) only narrows what the role allows. A session acts in the role's account. Trust policy conditions see
//! acs:CurrentTime and sts:ExternalId (not the caller's address: the pipeline's authorization step checks that one).
//! Roles of another account cannot be assumed: the caller's policies may not name another account's resource.

pub mod token;

use crate::ram::Ram;
use crate::{Error, Identity, Principal, Result};
use chrono::{DateTime, TimeZone, Utc};
use ecslab_iam::{
    Action, Arn, AssumingPrincipal, AttachedPolicy, ContextValue, PolicySource, RequestContext, Resource,
    TrustPolicy,
};
use ecslab_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
pub use token::{SessionClaims, SessionCredentials, SessionKey, TokenError, STS_KEY_PREFIX};

/// The shortest session STS grants, in seconds.
pub const MIN_DURATION_SECS: i64 = 900;
/// A session's length when AssumeRole names none.
pub const DEFAULT_DURATION_SECS: i64 = 3600;

/// AssumeRole's parameters, checked for shape by the API layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub duration_secs: Option<i64>,
    pub policy: Option<String>,
    /// For trust policies that require `sts:ExternalId`.
    pub external_id: Option<String>,
}

/// What AssumeRole returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    pub credentials: SessionCredentials,
    pub expiration: DateTime<Utc>,
    /// `acs:ram::{account}:role/{role}/{session}`.
    pub arn: String,
    /// `{role id}:{session}`.
    pub assumed_role_id: String,
}

/// What GetCallerIdentity returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account_id: String,
    pub user_id: String,
    pub arn: String,
    /// `Account`, `RAMUser` or `AssumedRoleUser`.
    pub identity_type: &'static str,
    pub principal_id: String,
    pub role_id: Option<String>,
}

/// The STS service.
#[derive(Debug)]
pub struct Sts {
    key: SessionKey,
    /// Each session's inline policy, parsed at its first request: by the session's `STS.` key id, with its expiry.
    session_policies: Mutex<HashMap<String, (i64, Arc<AttachedPolicy>)>>,
}

/// Sessions whose parsed policy is kept; past this, expired sessions are dropped (all of them, if none expired).
const SESSION_POLICY_CACHE: usize = 4096;

fn no_permission(message: &str) -> Error {
    Error::rejected("NoPermission", message)
}

impl Sts {
    pub(crate) async fn new(store: &Store) -> Result<Sts> {
        let secret = store
            .server_secret("sts-session-key", || {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut bytes);
                hex::encode(bytes)
            })
            .await?;
        Ok(Sts { key: SessionKey::new(secret), session_policies: Mutex::new(HashMap::new()) })
    }

    /// The principal and the access key secret of a request signed with an `STS.` key and its SecurityToken.
    pub fn authenticate(&self, access_key_id: &str, token: Option<&str>) -> Result<(Principal, String)> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::rejected("MissingSecurityToken", "SecurityToken is mandatory for this action.")
        })?;
        let claims = self.key.open(token, access_key_id, Utc::now().timestamp()).map_err(|e| match e {
            TokenError::Malformed => {
                Error::rejected("InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.")
            }
            TokenError::MismatchWithAccessKey => Error::rejected(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            ),
            TokenError::Expired => {
                Error::rejected("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
            }
        })?;
        let session_policy = match &claims.policy {
            None => None,
            Some(text) => Some(self.session_policy(access_key_id, claims.expires_at, text)?),
        };
        let principal = Principal {
            account_id: claims.account_id,
            access_key_id: access_key_id.to_owned(),
            identity: Identity::Role {
                role_id: claims.role_id,
                role_name: claims.role_name,
                session_name: claims.session_name,
                session_policy,
                expires_at: claims.expires_at,
            },
        };
        Ok((principal, self.key.secret_for(access_key_id)))
    }

    /// A session's inline policy, parsed once per session (a token's claims never change: they are signed).
    fn session_policy(
        &self,
        access_key_id: &str,
        expires_at: i64,
        text: &str,
    ) -> Result<Arc<AttachedPolicy>> {
        let mut cache = self.session_policies.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, policy)) = cache.get(access_key_id) {
            return Ok(policy.clone());
        }
        let policy = Arc::new(
            AttachedPolicy::parse("SessionPolicy", PolicySource::Session, text).map_err(Error::internal)?,
        );
        if cache.len() >= SESSION_POLICY_CACHE {
            let now = Utc::now().timestamp();
            cache.retain(|_, (expiry, _)| *expiry > now);
            if cache.len() >= SESSION_POLICY_CACHE {
                cache.clear();
            }
        }
        cache.insert(access_key_id.to_owned(), (expires_at, policy.clone()));
        Ok(policy)
    }

    /// AssumeRole for `caller`, whose policies already allowed `sts:AssumeRole` on the role.
    pub async fn assume_role(
        &self,
        ram: &Ram,
        caller: &Principal,
        request: AssumeRole,
    ) -> Result<AssumedRole> {
        let assuming = match &caller.identity {
            Identity::Root => return Err(no_permission("Roles may not be assumed by root accounts.")),
            Identity::User { user_name, .. } => {
                AssumingPrincipal::User { account: caller.account_id.clone(), name: user_name.clone() }
            }
            Identity::Role { role_name, .. } => {
                AssumingPrincipal::Role { account: caller.account_id.clone(), name: role_name.clone() }
            }
        };
        let (account, role_name) = parse_role_arn(&request.role_arn)?;
        validate_session_name(&request.session_name)?;
        let session_policy = match &request.policy {
            None => None,
            Some(text) => {
                AttachedPolicy::parse("SessionPolicy", PolicySource::Session, text).map_err(|e| {
                    Error::rejected(
                        "InvalidParameter.PolicyGrammar",
                        format!("The parameter Policy has not passed grammar check: {e}"),
                    )
                })?;
                Some(text.clone())
            }
        };
        let refused = || {
            no_permission(
                "No permission perform sts:AssumeRole on this Role. Maybe the role has not been created or the \
                 trust policy doesn't allow you.",
            )
        };
        if account != caller.account_id {
            return Err(refused());
        }
        let role = ram.role(&account, &role_name).await?.ok_or_else(refused)?;
        let duration = request.duration_secs.unwrap_or(DEFAULT_DURATION_SECS.min(role.max_session_duration));
        if !(MIN_DURATION_SECS..=role.max_session_duration).contains(&duration) {
            return Err(Error::rejected(
                "InvalidParameter.DurationSeconds",
                format!(
                    "The Min/Max value of DurationSeconds is {MIN_DURATION_SECS}/{} seconds (the role's \
                     MaxSessionDuration).",
                    role.max_session_duration
                ),
            ));
        }
        let trust = TrustPolicy::parse(&role.assume_role_policy_document).map_err(Error::internal)?;
        let action = Action::parse("sts:AssumeRole").map_err(Error::internal)?;
        let role_arn = Arn::parse(&role.arn).map_err(Error::internal)?;
        let mut ctx = RequestContext::new(&account, caller.caller(), action)
            .resource(Resource::new(role_arn))
            .current_time(Utc::now());
        if let Some(external_id) = &request.external_id {
            ctx = ctx.value("sts:ExternalId", ContextValue::Str(external_id.clone()));
        }
        if !trust.allows(&assuming, &ctx) {
            return Err(refused());
        }
        let expires_at = Utc::now().timestamp() + duration;
        let credentials = self.key.issue(SessionClaims {
            account_id: account.clone(),
            access_key_id: String::new(),
            role_id: role.role_id.clone(),
            role_name: role.role_name.clone(),
            session_name: request.session_name.clone(),
            policy: session_policy,
            expires_at,
        });
        Ok(AssumedRole {
            credentials,
            expiration: Utc.timestamp_opt(expires_at, 0).single().unwrap_or_else(Utc::now),
            arn: format!(
                "acs:ram::{account}:role/{}/{}",
                role.role_name.to_ascii_lowercase(),
                request.session_name
            ),
            assumed_role_id: format!("{}:{}", role.role_id, request.session_name),
        })
    }

    /// Who signed the request.
    pub fn caller_identity(&self, caller: &Principal) -> CallerIdentity {
        let account = caller.account_id.clone();
        match &caller.identity {
            Identity::Root => CallerIdentity {
                user_id: account.clone(),
                arn: format!("acs:ram::{account}:root"),
                identity_type: "Account",
                principal_id: account.clone(),
                role_id: None,
                account_id: account,
            },
            Identity::User { user_id, user_name } => CallerIdentity {
                user_id: user_id.clone(),
                arn: format!("acs:ram::{account}:user/{user_name}"),
                identity_type: "RAMUser",
                principal_id: user_id.clone(),
                role_id: None,
                account_id: account,
            },
            Identity::Role { role_id, role_name, session_name, .. } => CallerIdentity {
                user_id: format!("{role_id}:{session_name}"),
                arn: format!(
                    "acs:ram::{account}:assumed-role/{}/{session_name}",
                    role_name.to_ascii_lowercase()
                ),
                identity_type: "AssumedRoleUser",
                principal_id: format!("{role_id}:{session_name}"),
                role_id: Some(role_id.clone()),
                account_id: account,
            },
        }
    }
}

/// `acs:ram::{account}:role/{name}` → (account, name).
pub fn parse_role_arn(text: &str) -> Result<(String, String)> {
    let wrong = || Error::rejected("InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.");
    let arn = Arn::parse(text).map_err(|_| wrong())?;
    let name = arn.relative().strip_prefix("role/").ok_or_else(wrong)?;
    let account_ok = !arn.account().is_empty() && arn.account().bytes().all(|b| b.is_ascii_digit());
    if arn.service() != "ram" || !account_ok || name.is_empty() || name.contains(['*', '?', '/']) {
        return Err(wrong());
    }
    Ok((arn.account().to_owned(), name.to_owned()))
}

/// RoleSessionName: 2 to 64 letters, digits and `.@-_`.
pub fn validate_session_name(name: &str) -> Result<()> {
    let ok = (2..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::rejected(
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed: 2 to 64 characters of letters, digits, '.', '@', '-' \
             and '_'.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_and_session_names_follow_sts() {
        assert_eq!(
            parse_role_arn("acs:ram::1000000000000002:role/Ops").unwrap(),
            ("1000000000000002".to_string(), "Ops".to_string())
        );
        for bad in
            ["", "ops", "acs:ecs::1:role/x", "acs:ram::1:user/x", "acs:ram::x:role/a", "acs:ram::1:role/*"]
        {
            assert_eq!(parse_role_arn(bad).unwrap_err().code(), "InvalidParameter.RoleArn", "{bad}");
        }
        assert!(validate_session_name("alice@example.com").is_ok());
        for bad in ["a", "has space", "ninja*", &"x".repeat(65)] {
            assert_eq!(validate_session_name(bad).unwrap_err().code(), "InvalidParameter.RoleSessionName");
        }
    }

    #[tokio::test]
    async fn a_session_policy_is_parsed_once_per_session() {
        let sts = Sts::new(&Store::open_in_memory().await.unwrap()).await.unwrap();
        let claims = SessionClaims {
            account_id: "1000000000000002".into(),
            access_key_id: String::new(),
            role_id: "300000000000000001".into(),
            role_name: "ops".into(),
            session_name: "alice".into(),
            policy: Some(
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#
                    .into(),
            ),
            expires_at: Utc::now().timestamp() + 900,
        };
        let policy_of = |creds: &SessionCredentials| match sts
            .authenticate(&creds.access_key_id, Some(&creds.security_token))
            .unwrap()
            .0
            .identity
        {
            Identity::Role { session_policy, .. } => session_policy.unwrap(),
            other => panic!("not a role session: {other:?}"),
        };
        let (first, second) = (sts.key.issue(claims.clone()), sts.key.issue(claims));
        assert!(
            Arc::ptr_eq(&policy_of(&first), &policy_of(&first)),
            "the same session reuses its parsed policy"
        );
        assert!(!Arc::ptr_eq(&policy_of(&first), &policy_of(&second)), "each session has its own");
    }
}
