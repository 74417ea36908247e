//! RAM 2015-05-01 (`alibabacloud-ram20150501`), RPC on the same endpoint as ECS: users, their access keys,
//! groups, custom and system policies with their versions, roles, and attaching policies to users, groups and
//! roles. The rules live in `ecslab_core::ram`; this module parses, calls the service, and renders RAM's shapes.

mod parse;
mod reply;
mod resources;

pub use parse::parse;
pub use reply::RamReply;

use reply::{
    AccessKeyItem, AccessKeyList, AttachedPolicyItem, AttachedPolicyList, GroupItem, GroupList,
    MembershipItem, NewAccessKeyItem, PolicyItem, PolicyList, PolicyVersionItem, RoleItem, UserItem,
    UserList,
};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, ResourceName, RpcProduct};
use ecslab_core::ram::{
    AccessKeyStatus, NewRole, NewUser, PolicyType, PolicyView, PrincipalKind, RoleRecord,
};
use ecslab_core::store::{RamPolicyVersionRow, RamUserChange, RamUserRow};
use ecslab_core::{Cloud, Result};
use std::sync::Arc;

/// RAM's API version.
pub const VERSION: &str = "2015-05-01";

/// One parsed RAM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamRequest {
    CreateUser(NewUser),
    GetUser {
        user_name: String,
    },
    UpdateUser {
        user_name: String,
        change: RamUserChange,
    },
    ListUsers {
        marker: Option<String>,
        max_items: i64,
    },
    DeleteUser {
        user_name: String,
    },
    CreateAccessKey {
        user_name: String,
    },
    ListAccessKeys {
        user_name: String,
    },
    UpdateAccessKey {
        user_name: String,
        access_key_id: String,
        status: AccessKeyStatus,
    },
    DeleteAccessKey {
        user_name: String,
        access_key_id: String,
    },
    CreateGroup {
        group_name: String,
        comments: String,
    },
    /// AddUserToGroup (`join`) or RemoveUserFromGroup.
    Membership {
        user_name: String,
        group_name: String,
        join: bool,
    },
    ListGroupsForUser {
        user_name: String,
    },
    CreatePolicy {
        policy_name: String,
        document: String,
        description: String,
    },
    GetPolicy {
        policy_type: PolicyType,
        policy_name: String,
    },
    ListPolicies {
        policy_type: Option<PolicyType>,
        marker: Option<String>,
        max_items: i64,
    },
    DeletePolicy {
        policy_name: String,
        cascade: bool,
    },
    CreatePolicyVersion {
        policy_name: String,
        document: String,
        set_as_default: bool,
        rotate: bool,
    },
    /// AttachPolicyTo{User,Group,Role} (`attach`) or DetachPolicyFrom{User,Group,Role}.
    Attachment {
        kind: PrincipalKind,
        principal_name: String,
        policy_type: PolicyType,
        policy_name: String,
        attach: bool,
    },
    ListPoliciesForUser {
        user_name: String,
    },
    CreateRole(NewRole),
    GetRole {
        role_name: String,
    },
    DeleteRole {
        role_name: String,
    },
}

/// RAM in the server's table of products.
pub struct RamProduct;

impl Product for RamProduct {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "ram";
    const DENIED_CODE: &'static str = "NoPermission";
    type Request = RamRequest;
    type Response = RamReply;

    fn resources(request: &RamRequest) -> Vec<ResourceName> {
        resources::resources(request)
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: RamRequest,
    ) -> std::result::Result<RamReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud, account, request).await?)
    }
}

impl RpcProduct for RamProduct {
    fn parse(action: &str, params: &Params) -> Option<Result<RamRequest>> {
        parse(action, params)
    }
}

fn user_item(u: RamUserRow) -> UserItem {
    UserItem {
        user_id: u.user_id,
        user_name: u.user_name,
        display_name: u.display_name,
        mobile_phone: u.mobile_phone,
        email: u.email,
        comments: u.comments,
        create_date: u.created_at,
        update_date: u.updated_at,
    }
}

fn policy_item(p: PolicyView, document: Option<String>) -> PolicyItem {
    PolicyItem {
        policy_name: p.policy_name,
        policy_type: p.policy_type.as_str(),
        description: p.description,
        default_version: p.default_version,
        create_date: p.created_at,
        update_date: p.updated_at,
        attachment_count: p.attachment_count,
        policy_document: document,
    }
}

fn version_item(v: RamPolicyVersionRow) -> PolicyVersionItem {
    PolicyVersionItem {
        version_id: v.version_id,
        is_default_version: v.is_default,
        policy_document: v.document,
        create_date: v.created_at,
    }
}

fn role_item(r: RoleRecord) -> RoleItem {
    RoleItem {
        role_id: r.role_id,
        role_name: r.role_name,
        arn: r.arn,
        description: r.description,
        assume_role_policy_document: r.assume_role_policy_document,
        max_session_duration: r.max_session_duration,
        create_date: r.created_at,
        update_date: r.updated_at,
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: RamRequest) -> Result<RamReply> {
    let ram = cloud.ram();
    Ok(match request {
        RamRequest::CreateUser(new) => {
            RamReply::User { user: user_item(ram.create_user(account, new).await?) }
        }
        RamRequest::GetUser { user_name } => {
            RamReply::User { user: user_item(ram.get_user(account, &user_name).await?) }
        }
        RamRequest::UpdateUser { user_name, change } => {
            RamReply::User { user: user_item(ram.update_user(account, &user_name, change).await?) }
        }
        RamRequest::ListUsers { marker, max_items } => {
            let page = ram.list_users(account, marker.as_deref(), max_items).await?;
            RamReply::Users {
                is_truncated: page.next_marker.is_some(),
                marker: page.next_marker,
                users: UserList { user: page.users.into_iter().map(user_item).collect() },
            }
        }
        RamRequest::DeleteUser { user_name } => {
            ram.delete_user(account, &user_name).await?;
            RamReply::Empty {}
        }
        RamRequest::CreateAccessKey { user_name } => {
            let key = ram.create_access_key(account, &user_name).await?;
            RamReply::NewAccessKey {
                access_key: NewAccessKeyItem {
                    access_key_id: key.access_key_id,
                    access_key_secret: key.access_key_secret,
                    status: key.status.as_str(),
                    create_date: key.created_at,
                },
            }
        }
        RamRequest::ListAccessKeys { user_name } => {
            let keys = ram.list_access_keys(account, &user_name).await?;
            RamReply::AccessKeys {
                access_keys: AccessKeyList {
                    access_key: keys
                        .into_iter()
                        .map(|k| AccessKeyItem {
                            access_key_id: k.access_key_id,
                            status: AccessKeyStatus::of(k.enabled).as_str(),
                            create_date: k.created_at,
                        })
                        .collect(),
                },
            }
        }
        RamRequest::UpdateAccessKey { user_name, access_key_id, status } => {
            ram.update_access_key(account, &user_name, &access_key_id, status).await?;
            RamReply::Empty {}
        }
        RamRequest::DeleteAccessKey { user_name, access_key_id } => {
            ram.delete_access_key(account, &user_name, &access_key_id).await?;
            RamReply::Empty {}
        }
        RamRequest::CreateGroup { group_name, comments } => {
            let g = ram.create_group(account, &group_name, &comments).await?;
            RamReply::Group {
                group: GroupItem {
                    group_id: g.group_id,
                    group_name: g.group_name,
                    comments: g.comments,
                    create_date: g.created_at,
                },
            }
        }
        RamRequest::Membership { user_name, group_name, join } => {
            ram.change_membership(account, &user_name, &group_name, join).await?;
            RamReply::Empty {}
        }
        RamRequest::ListGroupsForUser { user_name } => {
            let groups = ram.groups_for_user(account, &user_name).await?;
            RamReply::Groups {
                groups: GroupList {
                    group: groups
                        .into_iter()
                        .map(|m| MembershipItem {
                            group_id: m.group.group_id,
                            group_name: m.group.group_name,
                            comments: m.group.comments,
                            join_date: m.joined_at,
                        })
                        .collect(),
                },
            }
        }
        RamRequest::CreatePolicy { policy_name, document, description } => {
            let policy = ram.create_policy(account, &policy_name, &document, &description).await?;
            RamReply::Policy { policy: policy_item(policy, None) }
        }
        RamRequest::GetPolicy { policy_type, policy_name } => {
            let (policy, version) = ram.get_policy(account, policy_type, &policy_name).await?;
            RamReply::PolicyWithVersion {
                policy: policy_item(policy, Some(version.document.clone())),
                default_policy_version: version_item(version),
            }
        }
        RamRequest::ListPolicies { policy_type, marker, max_items } => {
            let page = ram.list_policies(account, policy_type, marker.as_deref(), max_items).await?;
            RamReply::Policies {
                is_truncated: page.next_marker.is_some(),
                marker: page.next_marker,
                policies: PolicyList {
                    policy: page.policies.into_iter().map(|p| policy_item(p, None)).collect(),
                },
            }
        }
        RamRequest::DeletePolicy { policy_name, cascade } => {
            ram.delete_policy(account, &policy_name, cascade).await?;
            RamReply::Empty {}
        }
        RamRequest::CreatePolicyVersion { policy_name, document, set_as_default, rotate } => {
            let version =
                ram.create_policy_version(account, &policy_name, &document, set_as_default, rotate).await?;
            RamReply::PolicyVersion { policy_version: version_item(version) }
        }
        RamRequest::Attachment { kind, principal_name, policy_type, policy_name, attach } => {
            ram.change_attachment(account, kind, &principal_name, policy_type, &policy_name, attach).await?;
            RamReply::Empty {}
        }
        RamRequest::ListPoliciesForUser { user_name } => {
            let attached = ram.policies_for(account, PrincipalKind::User, &user_name).await?;
            RamReply::AttachedPolicies {
                policies: AttachedPolicyList {
                    policy: attached
                        .into_iter()
                        .map(|a| AttachedPolicyItem {
                            policy_name: a.policy_name,
                            policy_type: a.policy_type.as_str(),
                            description: a.description,
                            default_version: a.default_version,
                            attach_date: a.attach_date,
                        })
                        .collect(),
                },
            }
        }
        RamRequest::CreateRole(new) => {
            RamReply::Role { role: role_item(ram.create_role(account, new).await?) }
        }
        RamRequest::GetRole { role_name } => {
            RamReply::Role { role: role_item(ram.get_role(account, &role_name).await?) }
        }
        RamRequest::DeleteRole { role_name } => {
            ram.delete_role(account, &role_name).await?;
            RamReply::Empty {}
        }
    })
}
