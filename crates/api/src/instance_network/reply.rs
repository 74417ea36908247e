//! Replies of the instance-network actions as typed structs, in the shapes of the ECS SDK's
//! models (`NetworkInterfaceSets.NetworkInterfaceSet[]`).

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InterfaceReply {
    #[serde(rename_all = "PascalCase")]
    Allocated {
        ip_address: String,
    },
    Describe(InterfacePage),
    /// JoinSecurityGroup, LeaveSecurityGroup: RequestId only.
    Empty {},
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfacePage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub network_interface_sets: InterfaceSets,
}

#[derive(Debug, Serialize)]
pub struct InterfaceSets {
    #[serde(rename = "NetworkInterfaceSet")]
    pub items: Vec<InterfaceSet>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfaceSet {
    pub network_interface_id: String,
    pub status: &'static str,
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub instance_id: String,
    pub vpc_id: String,
    pub v_switch_id: String,
    pub zone_id: String,
    pub mac_address: String,
    pub private_ip_address: String,
    pub private_ip_sets: PrivateIpSets,
    pub security_group_ids: SecurityGroupIds,
    pub creation_time: String,
    pub delete_on_release: bool,
}

#[derive(Debug, Serialize)]
pub struct PrivateIpSets {
    #[serde(rename = "PrivateIpSet")]
    pub items: Vec<PrivateIpSet>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrivateIpSet {
    pub private_ip_address: String,
    pub primary: bool,
}

#[derive(Debug, Serialize)]
pub struct SecurityGroupIds {
    #[serde(rename = "SecurityGroupId")]
    pub items: Vec<String>,
}
