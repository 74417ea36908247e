//! RAM replies as typed structs, in the shapes of the `alibabacloud-ram20150501` SDK's models: one entity under
//! its name (`User`, `Group`, `Role`, `Policy`, `AccessKey`), lists wrapped twice (`Users.User[]`,
//! `Policies.Policy[]`), and `IsTruncated` with `Marker` on the paged lists.

use serde::Serialize;

/// The reply of each RAM action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum RamReply {
    #[serde(rename_all = "PascalCase")]
    User { user: UserItem },
    #[serde(rename_all = "PascalCase")]
    Users {
        is_truncated: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        marker: Option<String>,
        users: UserList,
    },
    #[serde(rename_all = "PascalCase")]
    NewAccessKey { access_key: NewAccessKeyItem },
    #[serde(rename_all = "PascalCase")]
    AccessKeys { access_keys: AccessKeyList },
    #[serde(rename_all = "PascalCase")]
    Group { group: GroupItem },
    #[serde(rename_all = "PascalCase")]
    Groups { groups: GroupList },
    #[serde(rename_all = "PascalCase")]
    Policy { policy: PolicyItem },
    #[serde(rename_all = "PascalCase")]
    PolicyWithVersion { policy: PolicyItem, default_policy_version: PolicyVersionItem },
    #[serde(rename_all = "PascalCase")]
    Policies {
        is_truncated: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        marker: Option<String>,
        policies: PolicyList,
    },
    #[serde(rename_all = "PascalCase")]
    PolicyVersion { policy_version: PolicyVersionItem },
    #[serde(rename_all = "PascalCase")]
    AttachedPolicies { policies: AttachedPolicyList },
    #[serde(rename_all = "PascalCase")]
    Role { role: RoleItem },
    /// Updates, deletions, attachments: RequestId only.
    Empty {},
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserItem {
    pub user_id: String,
    pub user_name: String,
    pub display_name: String,
    pub mobile_phone: String,
    pub email: String,
    pub comments: String,
    pub create_date: String,
    pub update_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserList {
    pub user: Vec<UserItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewAccessKeyItem {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub status: &'static str,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyItem {
    pub access_key_id: String,
    pub status: &'static str,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyList {
    pub access_key: Vec<AccessKeyItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupItem {
    pub group_id: String,
    pub group_name: String,
    pub comments: String,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MembershipItem {
    pub group_id: String,
    pub group_name: String,
    pub comments: String,
    pub join_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupList {
    pub group: Vec<MembershipItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyItem {
    pub policy_name: String,
    pub policy_type: &'static str,
    pub description: String,
    pub default_version: String,
    pub create_date: String,
    pub update_date: String,
    pub attachment_count: i64,
    /// GetPolicy only: the default version's document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_document: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyList {
    pub policy: Vec<PolicyItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersionItem {
    pub version_id: String,
    pub is_default_version: bool,
    pub policy_document: String,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPolicyItem {
    pub policy_name: String,
    pub policy_type: &'static str,
    pub description: String,
    pub default_version: String,
    pub attach_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPolicyList {
    pub policy: Vec<AttachedPolicyItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleItem {
    pub role_id: String,
    pub role_name: String,
    pub arn: String,
    pub description: String,
    pub assume_role_policy_document: String,
    pub max_session_duration: i64,
    pub create_date: String,
    pub update_date: String,
}
