//! Security group replies as typed structs, in ECS's shapes (`SecurityGroups.SecurityGroup[]`,
//! `Permissions.Permission[]`; Priority a string, as the SDK's model reads it).

use serde::Serialize;

use crate::ecs::render::Tags;

/// The reply of each security group action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SecurityGroupReply {
    #[serde(rename_all = "PascalCase")]
    Create {
        security_group_id: String,
    },
    Describe(GroupPage),
    Attribute(GroupAttribute),
    /// Authorize*, Revoke*, DeleteSecurityGroup: RequestId only.
    Empty {},
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupPage {
    pub region_id: String,
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub security_groups: GroupList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupList {
    pub security_group: Vec<Group>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    pub security_group_id: String,
    pub security_group_name: String,
    pub description: String,
    pub vpc_id: String,
    pub creation_time: String,
    pub security_group_type: String,
    pub rule_count: i64,
    pub group_to_group_rule_count: i64,
    /// Instances in the group: none until instances join groups (the data path).
    pub ecs_count: i64,
    pub resource_group_id: String,
    pub service_managed: bool,
    pub tags: Tags,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupAttribute {
    pub region_id: String,
    pub security_group_id: String,
    pub security_group_name: String,
    pub description: String,
    pub vpc_id: String,
    pub inner_access_policy: &'static str,
    pub permissions: PermissionList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionList {
    pub permission: Vec<Permission>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    pub security_group_rule_id: String,
    pub direction: String,
    pub ip_protocol: String,
    pub port_range: String,
    pub source_cidr_ip: String,
    pub source_group_id: String,
    pub source_group_name: String,
    pub dest_cidr_ip: String,
    pub dest_group_id: String,
    pub dest_group_name: String,
    pub policy: String,
    pub priority: String,
    pub nic_type: &'static str,
    pub description: String,
    pub create_time: String,
}
