//! Trust policies (a role's AssumeRolePolicyDocument): who may assume the role. Same grammar as a policy, but a
//! statement names a `Principal` instead of a `Resource`:
//! `{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"RAM": ["acs:ram::<account-id>:root"]}}`.
//!
//! Why apart from `document`: the principal forms and their meaning are the trust policy's own (RAM's CreateRole
//! page and "Policy elements", Principal): `RAM` names an account (`acs:ram::A:root`, or the bare account ID: any
//! RAM identity of A that its own policies allow to call sts:AssumeRole), a user (`acs:ram::A:user/N`) or a role
//! (`acs:ram::A:role/N`, its sessions); `Service` a cloud service (`ecs.aliyuncs.com`); `Federated` an identity
//! provider (`acs:ram::A:saml-provider/P`). User and role names match without regard to case (RAM writes role
//! ARNs in lower case). Assuming a role takes both: the caller's own policies must allow `sts:AssumeRole` on the
//! role's ARN (`evaluate`), and the role's trust policy must allow the caller (`TrustPolicy::allows`); a Deny in
//! the trust policy wins as anywhere.

use serde_json::Value;

use crate::condition::Condition;
use crate::context::{RequestContext, Resource};
use crate::document::{self, Actions, Common, DocumentKind, Effect};
use crate::error::{IamError, StatementIndex};
use crate::Arn;

/// One entry of a trust statement's Principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedPrincipal {
    /// Any identity of the account (`acs:ram::A:root` or `A`).
    Account(String),
    User {
        account: String,
        name: String,
    },
    Role {
        account: String,
        name: String,
    },
    Service(String),
    Federated(String),
}

/// Who asks to assume the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssumingPrincipal {
    /// An account's root key.
    Root {
        account: String,
    },
    User {
        account: String,
        name: String,
    },
    /// A session of another role (role chaining).
    Role {
        account: String,
        name: String,
    },
    Service(String),
}

impl AssumingPrincipal {
    fn account(&self) -> Option<&str> {
        match self {
            AssumingPrincipal::Root { account }
            | AssumingPrincipal::User { account, .. }
            | AssumingPrincipal::Role { account, .. } => Some(account),
            AssumingPrincipal::Service(_) => None,
        }
    }
}

impl TrustedPrincipal {
    fn parse(kind: &str, text: &str) -> Option<TrustedPrincipal> {
        match kind {
            "Service" => (!text.is_empty() && !text.contains(char::is_whitespace))
                .then(|| TrustedPrincipal::Service(text.to_ascii_lowercase())),
            "Federated" => {
                let arn = Arn::parse(text).ok()?;
                (arn.service() == "ram"
                    && (arn.relative().starts_with("saml-provider/")
                        || arn.relative().starts_with("oidc-provider/")))
                .then(|| TrustedPrincipal::Federated(text.to_owned()))
            }
            "RAM" if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                Some(TrustedPrincipal::Account(text.to_owned()))
            }
            "RAM" => {
                let arn = Arn::parse(text).ok()?;
                let account = arn.account().to_owned();
                if arn.service() != "ram" || !arn.region().is_empty() || account.is_empty() {
                    return None;
                }
                match arn.relative().split_once('/') {
                    None if arn.relative() == "root" => Some(TrustedPrincipal::Account(account)),
                    Some(("user", name)) if !name.is_empty() => {
                        Some(TrustedPrincipal::User { account, name: name.to_ascii_lowercase() })
                    }
                    Some(("role", name)) if !name.is_empty() => {
                        Some(TrustedPrincipal::Role { account, name: name.to_ascii_lowercase() })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn trusts(&self, who: &AssumingPrincipal) -> bool {
        match (self, who) {
            (TrustedPrincipal::Account(a), who) => who.account() == Some(a.as_str()),
            (TrustedPrincipal::User { account, name }, AssumingPrincipal::User { account: a, name: n }) => {
                account == a && name.eq_ignore_ascii_case(n)
            }
            (TrustedPrincipal::Role { account, name }, AssumingPrincipal::Role { account: a, name: n }) => {
                account == a && name.eq_ignore_ascii_case(n)
            }
            (TrustedPrincipal::Service(s), AssumingPrincipal::Service(w)) => s.eq_ignore_ascii_case(w),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrustStatement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Actions,
    pub principals: Vec<TrustedPrincipal>,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrustPolicy {
    pub statements: Vec<TrustStatement>,
}

impl TrustPolicy {
    pub fn parse(text: &str) -> Result<TrustPolicy, IamError> {
        let values = document::statement_values(text, DocumentKind::TrustPolicy)?;
        let statements = values.iter().enumerate().map(|(i, v)| statement(i, v)).collect::<Result<_, _>>()?;
        Ok(TrustPolicy { statements })
    }

    /// Whether the trust policy lets `who` make the request in `ctx` (its action is `sts:AssumeRole`; its
    /// resource the role; conditions read the context as in any policy).
    pub fn allows(&self, who: &AssumingPrincipal, ctx: &RequestContext) -> bool {
        let role = ctx.resources.first().cloned().unwrap_or_else(|| {
            Resource::new(Arn::new("ram", "", &ctx.account_id, "role/*").expect("a role ARN is well formed"))
        });
        let applies = |s: &TrustStatement| {
            s.actions.covers(&ctx.action)
                && s.principals.iter().any(|p| p.trusts(who))
                && s.condition.as_ref().is_none_or(|c| c.holds(ctx, &role))
        };
        let applicable = |effect| self.statements.iter().any(|s| s.effect == effect && applies(s));
        !applicable(Effect::Deny) && applicable(Effect::Allow)
    }
}

fn statement(i: StatementIndex, value: &Value) -> Result<TrustStatement, IamError> {
    let obj = document::statement_object(
        i,
        value,
        &["Sid", "Effect", "Action", "NotAction", "Principal", "Condition"],
    )?;
    let Common { sid, effect, actions, condition } = document::common(i, obj)?;
    let kinds = match obj.get("Principal") {
        None => return Err(IamError::MissingPrincipal(i)),
        Some(Value::Object(kinds)) if !kinds.is_empty() => kinds,
        Some(other) => return Err(IamError::BadPrincipal(i, other.to_string())),
    };
    let mut principals = Vec::new();
    for (kind, list) in kinds {
        for text in document::strings(i, "Principal", list)? {
            let p = TrustedPrincipal::parse(kind, text)
                .ok_or_else(|| IamError::BadPrincipal(i, format!("{kind}: {text}")))?;
            principals.push(p);
        }
    }
    Ok(TrustStatement { sid, effect, actions, principals, condition })
}

#[cfg(test)]
mod tests {
    use super::{AssumingPrincipal, TrustPolicy};
    use crate::{Action, Arn, Caller, IamError, RequestContext, Resource};

    fn ctx(account: &str) -> RequestContext {
        let role = Arn::parse(&format!("acs:ram::{account}:role/ops")).unwrap();
        RequestContext::new(account, Caller::Root, Action::parse("sts:AssumeRole").unwrap())
            .resource(Resource::new(role))
    }

    /// RAM's CreateRole page: any authorized identity of the account (root), one RAM user, and a service.
    #[test]
    fn create_role_examples() {
        let account = TrustPolicy::parse(
            r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":["acs:ram::1234567890123456:root"]}}],"Version":"1"}"#,
        )
        .unwrap();
        let user = |a: &str, n: &str| AssumingPrincipal::User { account: a.into(), name: n.into() };
        assert!(account.allows(&user("1234567890123456", "alice"), &ctx("1234567890123456")));
        assert!(account.allows(
            &AssumingPrincipal::Root { account: "1234567890123456".into() },
            &ctx("1234567890123456")
        ));
        assert!(!account.allows(&user("999", "alice"), &ctx("1234567890123456")));

        let one = TrustPolicy::parse(
            r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":"acs:ram::1234567890123456:user/testuser"}}],"Version":"1"}"#,
        )
        .unwrap();
        assert!(one.allows(&user("1234567890123456", "TestUser"), &ctx("1234567890123456")));
        assert!(!one.allows(&user("1234567890123456", "other"), &ctx("1234567890123456")));

        let service = TrustPolicy::parse(
            r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":["ecs.aliyuncs.com"]}}],"Version":"1"}"#,
        )
        .unwrap();
        assert!(service.allows(&AssumingPrincipal::Service("ecs.aliyuncs.com".into()), &ctx("1")));
        assert!(!service.allows(&user("1", "alice"), &ctx("1")));
    }

    #[test]
    fn deny_and_conditions() {
        let p = TrustPolicy::parse(
            r#"{"Version":"1","Statement":[
                {"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":"1234567890123456"},
                 "Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}},
                {"Action":"sts:AssumeRole","Effect":"Deny","Principal":{"RAM":"acs:ram::1234567890123456:user/mallory"}}]}"#,
        )
        .unwrap();
        let c = ctx("1234567890123456").source_ip("10.1.1.1".parse().unwrap());
        let user = |n: &str| AssumingPrincipal::User { account: "1234567890123456".into(), name: n.into() };
        assert!(p.allows(&user("alice"), &c));
        assert!(!p.allows(&user("mallory"), &c));
        assert!(!p.allows(&user("alice"), &ctx("1234567890123456").source_ip("8.8.8.8".parse().unwrap())));
    }

    #[test]
    fn refusals() {
        let doc = |principal: &str| {
            format!(
                r#"{{"Version":"1","Statement":[{{"Action":"sts:AssumeRole","Effect":"Allow"{principal}}}]}}"#
            )
        };
        assert_eq!(TrustPolicy::parse(&doc("")).unwrap_err(), IamError::MissingPrincipal(0));
        for bad in [
            r#","Principal":"*""#,
            r#","Principal":{}"#,
            r#","Principal":{"RAM":"acs:ram::123:group/g"}"#,
            r#","Principal":{"RAM":"acs:ecs::123:root"}"#,
            r#","Principal":{"RAM":"alice"}"#,
            r#","Principal":{"AWS":"123"}"#,
        ] {
            assert!(matches!(TrustPolicy::parse(&doc(bad)), Err(IamError::BadPrincipal(0, _))), "{bad}");
        }
        assert_eq!(
            TrustPolicy::parse(&doc(r#","Principal":{"RAM":"1"},"Resource":"*""#)).unwrap_err(),
            IamError::UnknownElement(0, "Resource".into())
        );
    }
}
