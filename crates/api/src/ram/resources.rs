//! The RAM resources each RAM action names, for the authorization step: RAM's own entities are global (no region),
//! `acs:ram::{account}:user/{name}`, `group/{name}`, `policy/{name}`, `role/{name}`; a listing names every entity of
//! its kind (`user/*`). Attaching names both the principal and the policy, as RAM's authorization table does.

use super::RamRequest;
use crate::product::ResourceName;
use ecslab_core::ram::PrincipalKind;

fn ram(kind: &'static str, name: &str) -> ResourceName {
    ResourceName::global("ram", kind, name)
}

/// The resources of one parsed RAM request.
pub fn resources(request: &RamRequest) -> Vec<ResourceName> {
    match request {
        RamRequest::CreateUser(user) => vec![ram("user", &user.user_name)],
        RamRequest::GetUser { user_name }
        | RamRequest::UpdateUser { user_name, .. }
        | RamRequest::DeleteUser { user_name }
        | RamRequest::CreateAccessKey { user_name }
        | RamRequest::ListAccessKeys { user_name }
        | RamRequest::UpdateAccessKey { user_name, .. }
        | RamRequest::DeleteAccessKey { user_name, .. }
        | RamRequest::ListGroupsForUser { user_name }
        | RamRequest::ListPoliciesForUser { user_name } => vec![ram("user", user_name)],
        RamRequest::ListUsers { .. } => vec![ram("user", "*")],
        RamRequest::CreateGroup { group_name, .. } => vec![ram("group", group_name)],
        RamRequest::Membership { user_name, group_name, .. } => {
            vec![ram("group", group_name), ram("user", user_name)]
        }
        RamRequest::CreatePolicy { policy_name, .. }
        | RamRequest::GetPolicy { policy_name, .. }
        | RamRequest::DeletePolicy { policy_name, .. }
        | RamRequest::CreatePolicyVersion { policy_name, .. } => vec![ram("policy", policy_name)],
        RamRequest::ListPolicies { .. } => vec![ram("policy", "*")],
        RamRequest::Attachment { kind, principal_name, policy_name, .. } => {
            let principal = match kind {
                PrincipalKind::User => "user",
                PrincipalKind::Group => "group",
                PrincipalKind::Role => "role",
            };
            vec![ram(principal, principal_name), ram("policy", policy_name)]
        }
        RamRequest::CreateRole(role) => vec![ram("role", &role.role_name)],
        RamRequest::GetRole { role_name } | RamRequest::DeleteRole { role_name } => {
            vec![ram("role", role_name)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecslab_core::ram::PolicyType;

    #[test]
    fn attaching_names_the_principal_and_the_policy() {
        let request = RamRequest::Attachment {
            kind: PrincipalKind::Role,
            principal_name: "Ops".into(),
            policy_type: PolicyType::System,
            policy_name: "AliyunECSFullAccess".into(),
            attach: true,
        };
        assert_eq!(
            resources(&request),
            vec![
                ResourceName::global("ram", "role", "Ops"),
                ResourceName::global("ram", "policy", "AliyunECSFullAccess")
            ]
        );
        assert_eq!(
            resources(&RamRequest::ListUsers { marker: None, max_items: 100 }),
            vec![ram("user", "*")]
        );
    }
}
