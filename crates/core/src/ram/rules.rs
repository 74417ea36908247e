//! RAM's rules that need no state: the shape of names and texts, the limits, the ids RAM gives, the role ARN,
//! and RAM's code for each refusal of the store.
//!
//! Why apart from the service: they are pure and table-tested, and the codes are API semantics clients branch
//! on, so each is written once here (RAM's API reference: `InvalidParameter.<Name>.Length` / `.InvalidChars`,
//! `EntityNotExist.*`, `EntityAlreadyExists.*`, `DeleteConflict.*`, `LimitExceeded.*`).

use crate::accounts::random_string;
use crate::{Error, Result};
use ecslab_iam::IamError;
use ecslab_store::{RamPrincipalKind, RamRefusal};
use rand::Rng;

/// RAM allows two access keys per user.
pub const MAX_ACCESS_KEYS_PER_USER: i64 = 2;
/// RAM keeps at most five versions of a custom policy.
pub const MAX_POLICY_VERSIONS: usize = 5;
/// MaxSessionDuration's range and default (seconds).
pub const SESSION_DURATION_RANGE: std::ops::RangeInclusive<i64> = 3600..=43200;
pub const DEFAULT_SESSION_DURATION: i64 = 3600;
/// ListUsers' and ListPolicies' MaxItems: 1 to 1000, 100 when absent.
pub const MAX_ITEMS_RANGE: std::ops::RangeInclusive<i64> = 1..=1000;
pub const DEFAULT_MAX_ITEMS: i64 = 100;

/// Which name a rule checks, for its codes and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    User,
    Group,
    Role,
    Policy,
}

impl NameKind {
    fn codes(self) -> (&'static str, &'static str, &'static str) {
        match self {
            NameKind::User => {
                ("UserName", "InvalidParameter.UserName.Length", "InvalidParameter.UserName.InvalidChars")
            }
            NameKind::Group => {
                ("GroupName", "InvalidParameter.GroupName.Length", "InvalidParameter.GroupName.InvalidChars")
            }
            NameKind::Role => {
                ("RoleName", "InvalidParameter.RoleName.Length", "InvalidParameter.RoleName.InvalidChars")
            }
            NameKind::Policy => (
                "PolicyName",
                "InvalidParameter.PolicyName.Length",
                "InvalidParameter.PolicyName.InvalidChars",
            ),
        }
    }
}

/// User, group and role names: 1 to 64 letters, digits, `.`, `_` and `-`. Policy names: 1 to 128 letters, digits
/// and `-`.
pub fn check_name(kind: NameKind, name: &str) -> Result<()> {
    let (label, length_code, chars_code) = kind.codes();
    let (max, allowed, described): (usize, fn(char) -> bool, &str) = match kind {
        NameKind::Policy => {
            (128, |c| c.is_ascii_alphanumeric() || c == '-', "letters, digits and hyphens (-)")
        }
        _ => (
            64,
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
            "letters, digits, periods (.), underscores (_) and hyphens (-)",
        ),
    };
    let len = name.chars().count();
    if len == 0 || len > max {
        return Err(Error::rejected(length_code, format!("The {label} must be 1 to {max} characters long.")));
    }
    if !name.chars().all(allowed) {
        return Err(Error::rejected(chars_code, format!("The {label} may contain only {described}.")));
    }
    Ok(())
}

/// A free text (DisplayName, Comments, Description) of at most `max` characters.
pub fn check_text(label: &'static str, code: &'static str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::rejected(code, format!("The {label} must be at most {max} characters long.")));
    }
    Ok(())
}

/// RAM's MobilePhone: `<country code>-<number>`, digits only, such as `86-18600008888`.
pub fn check_mobile_phone(value: &str) -> Result<()> {
    let ok = value.split_once('-').is_some_and(|(cc, n)| is_digits(cc, 1, 4) && is_digits(n, 4, 15));
    if ok {
        Ok(())
    } else {
        Err(Error::rejected(
            "InvalidParameter.MobilePhone.Format",
            "The MobilePhone must be <country code>-<number>, such as 86-18600008888.",
        ))
    }
}

fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// An Email: one `@` between a non-empty local part and a domain with a dot, no spaces.
pub fn check_email(value: &str) -> Result<()> {
    let ok = value.len() <= 128
        && !value.contains(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && !domain.split('.').any(str::is_empty)
        });
    if ok {
        Ok(())
    } else {
        Err(Error::rejected("InvalidParameter.Email.Format", "The Email is not a valid email address."))
    }
}

/// A policy or trust document RAM refused, with the reason.
pub fn document_error(e: IamError) -> Error {
    Error::rejected(e.code(), e.to_string())
}

/// A RAM user's id: a 16-digit number, as RAM gives.
pub fn new_user_id() -> String {
    rand::thread_rng().gen_range(1_000_000_000_000_000u64..10_000_000_000_000_000).to_string()
}

/// A RAM role's id: a 19-digit number, as RAM gives.
pub fn new_role_id() -> String {
    rand::thread_rng().gen_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000).to_string()
}

/// A group's id: `g-` and 16 letters and digits, as RAM's GetGroup shows.
pub fn new_group_id() -> String {
    format!("g-{}", random_string(16))
}

/// A user's new access key: `LTAI` and 20 characters, and a 30-character secret (as the accounts' root keys).
pub fn new_access_key() -> (String, String) {
    (format!("LTAI{}", random_string(20)), random_string(30))
}

/// A role's ARN: RAM writes the name in lower case.
pub fn role_arn(account_id: &str, role_name: &str) -> String {
    format!("acs:ram::{account_id}:role/{}", role_name.to_lowercase())
}

/// RAM's code and message for a refused write.
pub fn refusal(r: RamRefusal) -> Error {
    use RamPrincipalKind::{Group, Role, User};
    let (code, message): (&'static str, &str) = match r {
        RamRefusal::UserExists => ("EntityAlreadyExists.User", "The user already exists."),
        RamRefusal::NoSuchUser => ("EntityNotExist.User", "The user does not exist."),
        RamRefusal::GroupExists => ("EntityAlreadyExists.Group", "The group already exists."),
        RamRefusal::NoSuchGroup => ("EntityNotExist.Group", "The group does not exist."),
        RamRefusal::RoleExists => ("EntityAlreadyExists.Role", "The role already exists."),
        RamRefusal::NoSuchRole => ("EntityNotExist.Role", "The role does not exist."),
        RamRefusal::PolicyExists => ("EntityAlreadyExists.Policy", "The policy already exists."),
        RamRefusal::NoSuchPolicy => ("EntityNotExist.Policy", "The policy does not exist."),
        RamRefusal::NoSuchAccessKey => ("EntityNotExist.User.AccessKey", "The access key does not exist."),
        RamRefusal::AccessKeyLimit => {
            ("LimitExceeded.User.AccessKey", "The user already has the maximum of 2 access keys.")
        }
        RamRefusal::AlreadyAttached(User) => {
            ("EntityAlreadyExists.User.Policy", "The policy is already attached to the user.")
        }
        RamRefusal::AlreadyAttached(Group) => {
            ("EntityAlreadyExists.Group.Policy", "The policy is already attached to the group.")
        }
        RamRefusal::AlreadyAttached(Role) => {
            ("EntityAlreadyExists.Role.Policy", "The policy is already attached to the role.")
        }
        RamRefusal::NotAttached(User) => {
            ("EntityNotExist.User.Policy", "The policy is not attached to the user.")
        }
        RamRefusal::NotAttached(Group) => {
            ("EntityNotExist.Group.Policy", "The policy is not attached to the group.")
        }
        RamRefusal::NotAttached(Role) => {
            ("EntityNotExist.Role.Policy", "The policy is not attached to the role.")
        }
        RamRefusal::AlreadyMember => ("EntityAlreadyExists.User.Group", "The user is already in the group."),
        RamRefusal::NotMember => ("EntityNotExist.User.Group", "The user is not in the group."),
        RamRefusal::UserHasAccessKeys => {
            ("DeleteConflict.User.AccessKey", "The user still has access keys; delete them first.")
        }
        RamRefusal::UserInGroups => {
            ("DeleteConflict.User.Group", "The user is still in groups; remove it from them first.")
        }
        RamRefusal::UserHasPolicies => {
            ("DeleteConflict.User.Policy", "The user still has policies attached; detach them first.")
        }
        RamRefusal::PolicyAttached(User) => {
            ("DeleteConflict.Policy.User", "The policy is still attached to a user; detach it first.")
        }
        RamRefusal::PolicyAttached(Group) => {
            ("DeleteConflict.Policy.Group", "The policy is still attached to a group; detach it first.")
        }
        RamRefusal::PolicyAttached(Role) => {
            ("DeleteConflict.Policy.Role", "The policy is still attached to a role; detach it first.")
        }
        RamRefusal::PolicyHasVersions => (
            "DeleteConflict.Policy.Version",
            "The policy has versions besides its default one; delete them first, or set CascadingDelete.",
        ),
        RamRefusal::RoleHasPolicies => {
            ("DeleteConflict.Role.Policy", "The role still has policies attached; detach them first.")
        }
        RamRefusal::VersionLimit => (
            "LimitExceeded.Policy.Version",
            "The policy already has the maximum of 5 versions; delete one, or set RotateStrategy.",
        ),
    };
    Error::rejected(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rams_rules() {
        let cases: &[(NameKind, &str, Option<&str>)] = &[
            (NameKind::User, "alice", None),
            (NameKind::User, "a.b_c-d9", None),
            (NameKind::User, &"x".repeat(64), None),
            (NameKind::User, &"x".repeat(65), Some("InvalidParameter.UserName.Length")),
            (NameKind::User, "", Some("InvalidParameter.UserName.Length")),
            (NameKind::User, "al ice", Some("InvalidParameter.UserName.InvalidChars")),
            (NameKind::User, "alice@x", Some("InvalidParameter.UserName.InvalidChars")),
            (NameKind::Group, "ops/x", Some("InvalidParameter.GroupName.InvalidChars")),
            (NameKind::Role, "ecs.role", None),
            (NameKind::Role, "r\u{e9}le", Some("InvalidParameter.RoleName.InvalidChars")),
            (NameKind::Policy, "Snap-Only-1", None),
            (NameKind::Policy, "snap_only", Some("InvalidParameter.PolicyName.InvalidChars")),
            (NameKind::Policy, &"p".repeat(128), None),
            (NameKind::Policy, &"p".repeat(129), Some("InvalidParameter.PolicyName.Length")),
        ];
        for (kind, name, code) in cases {
            let got = check_name(*kind, name).err().map(|e| e.code());
            assert_eq!(got, *code, "{kind:?} {name:?}");
        }
    }

    #[test]
    fn contacts_and_ids_have_rams_shapes() {
        assert!(check_mobile_phone("86-18600008888").is_ok());
        assert!(check_mobile_phone("18600008888").is_err());
        assert!(check_email("ops@example.com").is_ok());
        for bad in ["ops", "ops@", "@example.com", "ops@example", "o ps@example.com", "a@b@c.d"] {
            assert_eq!(check_email(bad).unwrap_err().code(), "InvalidParameter.Email.Format", "{bad}");
        }
        let user = new_user_id();
        assert_eq!(user.len(), 16);
        assert!(user.bytes().all(|b| b.is_ascii_digit()));
        let role = new_role_id();
        assert_eq!(role.len(), 19);
        assert!(role.bytes().all(|b| b.is_ascii_digit()));
        assert!(new_group_id().starts_with("g-"));
        assert_eq!(role_arn("1000000000000002", "EcsAdmin"), "acs:ram::1000000000000002:role/ecsadmin");
    }

    #[test]
    fn refusals_get_rams_codes() {
        assert_eq!(
            refusal(RamRefusal::AlreadyAttached(RamPrincipalKind::User)).code(),
            "EntityAlreadyExists.User.Policy"
        );
        assert_eq!(
            refusal(RamRefusal::NotAttached(RamPrincipalKind::Role)).code(),
            "EntityNotExist.Role.Policy"
        );
        assert_eq!(refusal(RamRefusal::PolicyHasVersions).code(), "DeleteConflict.Policy.Version");
        assert_eq!(refusal(RamRefusal::UserHasAccessKeys).code(), "DeleteConflict.User.AccessKey");
    }
}
