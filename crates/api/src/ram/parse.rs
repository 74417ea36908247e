//! Parameters → [`RamRequest`], one function per action. Pure: no state, no I/O. The rules on names and texts
//! are the domain's (`ecslab_core::ram::rules`); here only presence and the closed vocabularies (PolicyType,
//! Status, RotateStrategy). Tags and resource groups are not implemented: sent, they are refused, never ignored.

use super::RamRequest;
use crate::params::Params;
use ecslab_core::ram::rules::{DEFAULT_MAX_ITEMS, MAX_ITEMS_RANGE};
use ecslab_core::ram::{AccessKeyStatus, NewRole, NewUser, PolicyType, PrincipalKind};
use ecslab_core::store::RamUserChange;
use ecslab_core::{Error, Result};

/// Parse one RAM action. `None` when the action is not one of them.
pub fn parse(action: &str, p: &Params) -> Option<Result<RamRequest>> {
    use PrincipalKind::{Group, Role, User};
    Some(match action {
        "CreateUser" => create_user(p),
        "GetUser" => p.str("UserName").map(|user_name| RamRequest::GetUser { user_name }),
        "UpdateUser" => update_user(p),
        "ListUsers" => listing(p).map(|(marker, max_items)| RamRequest::ListUsers { marker, max_items }),
        "DeleteUser" => p.str("UserName").map(|user_name| RamRequest::DeleteUser { user_name }),
        "CreateAccessKey" => p.str("UserName").map(|user_name| RamRequest::CreateAccessKey { user_name }),
        "ListAccessKeys" => p.str("UserName").map(|user_name| RamRequest::ListAccessKeys { user_name }),
        "UpdateAccessKey" => update_access_key(p),
        "DeleteAccessKey" => access_key(p)
            .map(|(user_name, access_key_id)| RamRequest::DeleteAccessKey { user_name, access_key_id }),
        "CreateGroup" => create_group(p),
        "AddUserToGroup" => membership(p, true),
        "RemoveUserFromGroup" => membership(p, false),
        "ListGroupsForUser" => p.str("UserName").map(|user_name| RamRequest::ListGroupsForUser { user_name }),
        "CreatePolicy" => create_policy(p),
        "GetPolicy" => get_policy(p),
        "ListPolicies" => list_policies(p),
        "DeletePolicy" => delete_policy(p),
        "CreatePolicyVersion" => create_policy_version(p),
        "AttachPolicyToUser" => attachment(p, User, true),
        "DetachPolicyFromUser" => attachment(p, User, false),
        "AttachPolicyToGroup" => attachment(p, Group, true),
        "DetachPolicyFromGroup" => attachment(p, Group, false),
        "AttachPolicyToRole" => attachment(p, Role, true),
        "DetachPolicyFromRole" => attachment(p, Role, false),
        "ListPoliciesForUser" => {
            p.str("UserName").map(|user_name| RamRequest::ListPoliciesForUser { user_name })
        }
        "CreateRole" => create_role(p),
        "GetRole" => p.str("RoleName").map(|role_name| RamRequest::GetRole { role_name }),
        "DeleteRole" => p.str("RoleName").map(|role_name| RamRequest::DeleteRole { role_name }),
        _ => return None,
    })
}

fn text(p: &Params, name: &str) -> String {
    p.opt_str(name).unwrap_or_default()
}

fn create_user(p: &Params) -> Result<RamRequest> {
    Ok(RamRequest::CreateUser(NewUser {
        user_name: p.str("UserName")?,
        display_name: text(p, "DisplayName"),
        mobile_phone: text(p, "MobilePhone"),
        email: text(p, "Email"),
        comments: text(p, "Comments"),
    }))
}

fn update_user(p: &Params) -> Result<RamRequest> {
    Ok(RamRequest::UpdateUser {
        user_name: p.str("UserName")?,
        change: RamUserChange {
            user_name: p.opt_str("NewUserName"),
            display_name: p.opt_str("NewDisplayName"),
            mobile_phone: p.opt_str("NewMobilePhone"),
            email: p.opt_str("NewEmail"),
            comments: p.opt_str("NewComments"),
        },
    })
}

/// Marker and MaxItems (1 to 1000, 100 when absent).
fn listing(p: &Params) -> Result<(Option<String>, i64)> {
    let max_items =
        p.opt_int("MaxItems", *MAX_ITEMS_RANGE.start(), *MAX_ITEMS_RANGE.end())?.unwrap_or(DEFAULT_MAX_ITEMS);
    Ok((p.opt_str("Marker"), max_items))
}

fn access_key(p: &Params) -> Result<(String, String)> {
    Ok((p.str("UserName")?, p.str("UserAccessKeyId")?))
}

fn update_access_key(p: &Params) -> Result<RamRequest> {
    let (user_name, access_key_id) = access_key(p)?;
    let status = match p.str("Status")?.as_str() {
        "Active" => AccessKeyStatus::Active,
        "Inactive" => AccessKeyStatus::Inactive,
        other => {
            return Err(Error::rejected(
                "InvalidParameter.Status",
                format!("The Status must be Active or Inactive, not {other:?}."),
            ))
        }
    };
    Ok(RamRequest::UpdateAccessKey { user_name, access_key_id, status })
}

fn create_group(p: &Params) -> Result<RamRequest> {
    Ok(RamRequest::CreateGroup { group_name: p.str("GroupName")?, comments: text(p, "Comments") })
}

fn membership(p: &Params, join: bool) -> Result<RamRequest> {
    Ok(RamRequest::Membership { user_name: p.str("UserName")?, group_name: p.str("GroupName")?, join })
}

fn policy_type(value: &str) -> Result<PolicyType> {
    match value {
        "System" => Ok(PolicyType::System),
        "Custom" => Ok(PolicyType::Custom),
        other => Err(Error::rejected(
            "InvalidParameter.PolicyType.InvalidValue",
            format!("The PolicyType must be System or Custom, not {other:?}."),
        )),
    }
}

fn create_policy(p: &Params) -> Result<RamRequest> {
    p.refuse(&["Tag"])?;
    Ok(RamRequest::CreatePolicy {
        policy_name: p.str("PolicyName")?,
        document: p.str("PolicyDocument")?,
        description: text(p, "Description"),
    })
}

fn get_policy(p: &Params) -> Result<RamRequest> {
    Ok(RamRequest::GetPolicy {
        policy_type: policy_type(&p.str("PolicyType")?)?,
        policy_name: p.str("PolicyName")?,
    })
}

fn list_policies(p: &Params) -> Result<RamRequest> {
    p.refuse(&["Tag"])?;
    let policy_type = p.opt_str("PolicyType").map(|t| policy_type(&t)).transpose()?;
    let (marker, max_items) = listing(p)?;
    Ok(RamRequest::ListPolicies { policy_type, marker, max_items })
}

fn delete_policy(p: &Params) -> Result<RamRequest> {
    Ok(RamRequest::DeletePolicy {
        policy_name: p.str("PolicyName")?,
        cascade: p.bool_or("CascadingDelete", false)?,
    })
}

fn create_policy_version(p: &Params) -> Result<RamRequest> {
    let rotate = match p.opt_str("RotateStrategy").as_deref() {
        None | Some("None") => false,
        Some("DeleteOldestNonDefaultVersionWhenLimitExceeded") => true,
        Some(other) => {
            return Err(Error::rejected(
                "InvalidParameter.RotateStrategy",
                format!("The RotateStrategy must be None or DeleteOldestNonDefaultVersionWhenLimitExceeded, not {other:?}."),
            ))
        }
    };
    Ok(RamRequest::CreatePolicyVersion {
        policy_name: p.str("PolicyName")?,
        document: p.str("PolicyDocument")?,
        set_as_default: p.bool_or("SetAsDefault", false)?,
        rotate,
    })
}

fn attachment(p: &Params, kind: PrincipalKind, attach: bool) -> Result<RamRequest> {
    p.refuse(&["ResourceGroupId"])?;
    let principal = match kind {
        PrincipalKind::User => "UserName",
        PrincipalKind::Group => "GroupName",
        PrincipalKind::Role => "RoleName",
    };
    Ok(RamRequest::Attachment {
        kind,
        principal_name: p.str(principal)?,
        policy_type: policy_type(&p.str("PolicyType")?)?,
        policy_name: p.str("PolicyName")?,
        attach,
    })
}

fn create_role(p: &Params) -> Result<RamRequest> {
    p.refuse(&["Tag", "AllowConsoleLogin"])?;
    Ok(RamRequest::CreateRole(NewRole {
        role_name: p.str("RoleName")?,
        assume_role_policy_document: p.str("AssumeRolePolicyDocument")?,
        description: text(p, "Description"),
        max_session_duration: p.opt_int("MaxSessionDuration", i64::MIN, i64::MAX)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::test_params as params;

    #[test]
    fn bad_input_gets_rams_codes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("CreateUser", &[], "MissingParameter"),
            (
                "UpdateAccessKey",
                &[("UserName", "u"), ("UserAccessKeyId", "k"), ("Status", "On")],
                "InvalidParameter.Status",
            ),
            (
                "GetPolicy",
                &[("PolicyName", "p"), ("PolicyType", "Mine")],
                "InvalidParameter.PolicyType.InvalidValue",
            ),
            ("AttachPolicyToUser", &[("UserName", "u"), ("PolicyName", "p")], "MissingParameter"),
            (
                "AttachPolicyToUser",
                &[
                    ("UserName", "u"),
                    ("PolicyName", "p"),
                    ("PolicyType", "System"),
                    ("ResourceGroupId", "rg-1"),
                ],
                "InvalidParameter",
            ),
            ("ListUsers", &[("MaxItems", "1001")], "InvalidParameter"),
            ("ListPolicies", &[("PolicyType", "All")], "InvalidParameter.PolicyType.InvalidValue"),
            (
                "CreatePolicyVersion",
                &[("PolicyName", "p"), ("PolicyDocument", "{}"), ("RotateStrategy", "Oldest")],
                "InvalidParameter.RotateStrategy",
            ),
            ("CreateRole", &[("RoleName", "r")], "MissingParameter"),
            (
                "CreatePolicy",
                &[("PolicyName", "p"), ("PolicyDocument", "{}"), ("Tag.1.Key", "k")],
                "InvalidParameter",
            ),
        ];
        for (action, pairs, code) in cases {
            let got = parse(action, &params(pairs)).expect("known action").expect_err("must fail");
            assert_eq!(got.code(), *code, "{action} {pairs:?}: {got}");
        }
        assert!(parse("DescribeInstances", &params(&[])).is_none());
    }

    #[test]
    fn lists_default_to_a_hundred_items() {
        let got = parse("ListPolicies", &params(&[("PolicyType", "Custom")])).unwrap().unwrap();
        assert_eq!(
            got,
            RamRequest::ListPolicies { policy_type: Some(PolicyType::Custom), marker: None, max_items: 100 }
        );
    }
}
