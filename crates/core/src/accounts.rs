//! Tenants: creating an account with its root access key, for the server admin only.
//!
//! An account's name follows RAM's account alias rules: 1 to 50 characters, lowercase letters,
//! digits and hyphens, no hyphen first or last, no two hyphens in a row. The caller must be the
//! server's admin account's root key (`ADMIN_ACCOUNT_ID`, whose root key `ecslab serve` writes on first
//! start); every other account is refused with `Forbidden.AdminOnly`. Isolation needs nothing
//! here: every row carries its account, and every lookup filters by it (see `lookup.rs`).

use crate::{Error, Principal, Result};
use ecslab_store::{AccountCreation, Store, ADMIN_ACCOUNT_ID};
use rand::distributions::Alphanumeric;
use rand::Rng;

/// A new account and its root key, returned once (the secret is not shown again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub account_id: String,
    pub account_name: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

/// Refuse every caller but the server admin's account's root key (not even a RAM user of the admin account with
/// AdministratorAccess: making tenants is not a RAM action).
pub fn require_admin(caller: &Principal) -> Result<()> {
    if caller.account_id == ADMIN_ACCOUNT_ID && caller.is_root() {
        Ok(())
    } else {
        Err(Error::rejected(
            "Forbidden.AdminOnly",
            "This action is reserved to the server's admin key (admin-credentials.json).",
        ))
    }
}

/// Check an account name against RAM's account alias rules.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |detail: &str| Error::rejected("InvalidParameter.AccountName", detail.to_string());
    if name.is_empty() || name.chars().count() > 50 {
        return Err(invalid("The AccountName must be 1 to 50 characters long."));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(invalid("The AccountName may contain only lowercase letters, digits and hyphens (-)."));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(invalid(
            "The AccountName cannot start or end with a hyphen (-) or contain consecutive hyphens.",
        ));
    }
    Ok(())
}

/// Create an account named `name` with a fresh root key, as the caller `caller_account`.
pub async fn create(store: &Store, caller: &Principal, name: &str) -> Result<NewAccount> {
    require_admin(caller)?;
    validate_name(name)?;
    let access_key_id = format!("LTAI{}", random_string(20));
    let access_key_secret = random_string(30);
    match store.create_named_account(name, &access_key_id, &access_key_secret).await? {
        AccountCreation::Created { account_id } => {
            Ok(NewAccount { account_id, account_name: name.to_string(), access_key_id, access_key_secret })
        }
        AccountCreation::NameTaken => Err(Error::rejected(
            "EntityAlreadyExists.Account",
            format!("The account name \"{name}\" is already used by another account."),
        )),
    }
}

pub(crate) fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn names_follow_the_account_alias_rules() {
        for good in ["a", "team-a", "lab2", &"x".repeat(50), "a-b-c"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Team", "team_a", "-a", "a-", "a--b", "tëam", "a b", &"x".repeat(51)] {
            assert_eq!(validate_name(bad).unwrap_err().code(), "InvalidParameter.AccountName", "{bad}");
        }
    }

    #[test]
    fn only_the_admin_accounts_root_key_passes() {
        let caller = |account: &str, identity: Identity| Principal {
            account_id: account.into(),
            access_key_id: "LTAIx".into(),
            identity,
        };
        assert!(require_admin(&caller(ADMIN_ACCOUNT_ID, Identity::Root)).is_ok());
        let other = caller("1000000000000002", Identity::Root);
        assert_eq!(require_admin(&other).unwrap_err().code(), "Forbidden.AdminOnly");
        let user = Identity::User { user_id: "1".into(), user_name: "ops".into() };
        assert_eq!(require_admin(&caller(ADMIN_ACCOUNT_ID, user)).unwrap_err().code(), "Forbidden.AdminOnly");
    }
}
