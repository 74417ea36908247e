//! The VPC product's reply bodies as typed structs: PascalCase fields, lists wrapped as the
//! SDK's models read them (`Vpcs.Vpc[]`, `VSwitchIds.VSwitchId[]`, `RouterTableIds.RouterTableIds[]`).

use serde::Serialize;

/// The reply of each VPC action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum VpcReply {
    #[serde(rename_all = "PascalCase")]
    CreateVpc {
        vpc_id: String,
        #[serde(rename = "VRouterId")]
        vrouter_id: String,
        route_table_id: String,
        resource_group_id: String,
    },
    DescribeVpcs(VpcPage),
    #[serde(rename_all = "PascalCase")]
    CreateVSwitch {
        #[serde(rename = "VSwitchId")]
        vswitch_id: String,
    },
    DescribeVSwitches(VSwitchPage),
    /// ModifyVpcAttribute, DeleteVpc, ModifyVSwitchAttribute, DeleteVSwitch: RequestId only.
    Empty {},
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub vpcs: VpcList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcList {
    pub vpc: Vec<Vpc>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpc {
    pub vpc_id: String,
    pub region_id: String,
    pub status: String,
    pub vpc_name: String,
    pub description: String,
    pub creation_time: String,
    pub cidr_block: String,
    #[serde(rename = "VRouterId")]
    pub vrouter_id: String,
    pub is_default: bool,
    pub enabled_ipv6: bool,
    pub ipv6_cidr_block: String,
    pub resource_group_id: String,
    #[serde(rename = "VSwitchIds")]
    pub vswitch_ids: VSwitchIds,
    pub router_table_ids: RouterTableIds,
    pub user_cidrs: UserCidrs,
    pub nat_gateway_ids: NatGatewayIds,
    pub secondary_cidr_blocks: SecondaryCidrBlocks,
    pub tags: Tags,
}

#[derive(Debug, Serialize)]
pub struct VSwitchIds {
    #[serde(rename = "VSwitchId")]
    pub vswitch_id: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RouterTableIds {
    #[serde(rename = "RouterTableIds")]
    pub router_table_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct UserCidrs {
    #[serde(rename = "UserCidr")]
    pub user_cidr: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct NatGatewayIds {
    #[serde(rename = "NatGatewayIds")]
    pub nat_gateway_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SecondaryCidrBlocks {
    #[serde(rename = "SecondaryCidrBlock")]
    pub secondary_cidr_block: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Tags {
    #[serde(rename = "Tag")]
    pub tag: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VSwitchPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    #[serde(rename = "VSwitches")]
    pub vswitches: VSwitchList,
}

#[derive(Debug, Serialize)]
pub struct VSwitchList {
    #[serde(rename = "VSwitch")]
    pub vswitch: Vec<VSwitch>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VSwitch {
    #[serde(rename = "VSwitchId")]
    pub vswitch_id: String,
    pub vpc_id: String,
    pub status: String,
    pub cidr_block: String,
    pub zone_id: String,
    /// The block's addresses minus the four reserved ones (and, later, those in use).
    pub available_ip_address_count: u64,
    pub description: String,
    #[serde(rename = "VSwitchName")]
    pub vswitch_name: String,
    pub creation_time: String,
    pub is_default: bool,
    pub enabled_ipv6: bool,
    pub ipv6_cidr_block: String,
    pub resource_group_id: String,
    pub route_table: RouteTable,
    pub tags: Tags,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTable {
    pub route_table_id: String,
    pub route_table_type: &'static str,
}
