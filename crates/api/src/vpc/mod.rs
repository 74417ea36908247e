//! VPC 2016-04-28 (same endpoint as ECS, RPC): VPCs and vSwitches, the control plane only (no
//! packets move yet). CreateVpc, DescribeVpcs, ModifyVpcAttribute, DeleteVpc, CreateVSwitch,
//! DescribeVSwitches, ModifyVSwitchAttribute, DeleteVSwitch. The rules live in
//! `ecslab_core::network`; this module parses, calls the `Networks` service and renders the
//! VPC API's shapes (`reply.rs`). Same shape as the `ecd` module.

mod parse;
mod reply;
mod resources;

pub use parse::parse;
pub use reply::VpcReply;

use reply::{
    KeyValue, NatGatewayIds, RouteTable, RouterTableIds, SecondaryCidrBlocks, Tags, UserCidrs, VSwitch,
    VSwitchIds, VSwitchList, VSwitchPage, Vpc, VpcList, VpcPage,
};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::network::{cidr, CreateVSwitch, CreateVpc, ModifyVpc, Networks, VSwitchFilter, VpcFilter};
use ecslab_core::requests::Paging;
use ecslab_core::{Cloud, Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

pub const VERSION: &str = "2016-04-28";

/// One parsed VPC request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcRequest {
    CreateVpc(CreateVpc),
    DescribeVpcs { filter: VpcFilter, paging: Paging, dry_run: bool },
    ModifyVpcAttribute(ModifyVpc),
    DeleteVpc { vpc_id: String, dry_run: bool },
    CreateVSwitch(CreateVSwitch),
    DescribeVSwitches { filter: VSwitchFilter, paging: Paging, dry_run: bool },
    ModifyVSwitchAttribute { vswitch_id: String, name: Option<String>, description: Option<String> },
    DeleteVSwitch { vswitch_id: String, dry_run: bool },
}

/// VPC in the server's table of products.
pub struct VpcProduct;

impl Product for VpcProduct {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "vpc";
    type Request = VpcRequest;
    type Response = VpcReply;

    fn resources(request: &VpcRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    fn honours_client_token(request: &VpcRequest) -> bool {
        matches!(
            request,
            VpcRequest::CreateVpc(_) | VpcRequest::CreateVSwitch(_) | VpcRequest::DeleteVpc { .. }
        )
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: VpcRequest,
    ) -> std::result::Result<VpcReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud.networks(), account, request).await?)
    }
}

impl RpcProduct for VpcProduct {
    fn parse(action: &str, params: &Params) -> Option<Result<VpcRequest>> {
        parse(action, params)
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(networks: &Networks, account: &str, request: VpcRequest) -> Result<VpcReply> {
    Ok(match request {
        VpcRequest::CreateVpc(req) => {
            let created = networks.create_vpc(account, req).await?;
            VpcReply::CreateVpc {
                vpc_id: created.vpc_id,
                vrouter_id: created.vrouter_id,
                route_table_id: created.route_table_id,
                resource_group_id: String::new(),
            }
        }
        VpcRequest::DescribeVpcs { filter, paging, dry_run } => {
            if dry_run {
                return Err(Error::DryRunOperation);
            }
            let page = networks.describe_vpcs(account, &filter, &paging).await?;
            let vpc = page
                .items
                .into_iter()
                .map(|listed| {
                    let v = listed.vpc;
                    Vpc {
                        region_id: networks.region_id().to_string(),
                        status: v.status.to_string(),
                        vpc_name: v.name,
                        description: v.description,
                        creation_time: ecslab_core::network::creation_time(&v.created_at),
                        cidr_block: v.cidr_block,
                        vrouter_id: v.vrouter_id,
                        is_default: v.is_default,
                        enabled_ipv6: false,
                        ipv6_cidr_block: String::new(),
                        resource_group_id: String::new(),
                        vswitch_ids: VSwitchIds { vswitch_id: listed.vswitch_ids },
                        router_table_ids: RouterTableIds { router_table_ids: vec![v.route_table_id] },
                        user_cidrs: UserCidrs { user_cidr: Vec::new() },
                        nat_gateway_ids: NatGatewayIds { nat_gateway_ids: Vec::new() },
                        secondary_cidr_blocks: SecondaryCidrBlocks { secondary_cidr_block: Vec::new() },
                        tags: Tags { tag: Vec::<KeyValue>::new() },
                        vpc_id: v.vpc_id,
                    }
                })
                .collect();
            VpcReply::DescribeVpcs(VpcPage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                vpcs: VpcList { vpc },
            })
        }
        VpcRequest::ModifyVpcAttribute(req) => {
            networks.modify_vpc(account, req).await?;
            VpcReply::Empty {}
        }
        VpcRequest::DeleteVpc { vpc_id, dry_run } => {
            networks.delete_vpc(account, &vpc_id, dry_run).await?;
            VpcReply::Empty {}
        }
        VpcRequest::CreateVSwitch(req) => {
            VpcReply::CreateVSwitch { vswitch_id: networks.create_vswitch(account, req).await? }
        }
        VpcRequest::DescribeVSwitches { filter, paging, dry_run } => {
            if dry_run {
                return Err(Error::DryRunOperation);
            }
            let page = networks.describe_vswitches(account, &filter, &paging).await?;
            // Each vSwitch uses its VPC's (system) route table.
            let mut route_tables: HashMap<String, String> = HashMap::new();
            for v in &page.items {
                if !route_tables.contains_key(&v.vpc_id) {
                    let vpc = networks.vpc(account, &v.vpc_id).await?;
                    route_tables.insert(v.vpc_id.clone(), vpc.route_table_id);
                }
            }
            let mut vswitch = Vec::with_capacity(page.items.len());
            for v in page.items {
                let net: ipnet::Ipv4Net = v.cidr_block.parse().map_err(Error::internal)?;
                vswitch.push(VSwitch {
                    status: v.status.to_string(),
                    available_ip_address_count: cidr::available_addresses(&net),
                    route_table: RouteTable {
                        route_table_id: route_tables.get(&v.vpc_id).cloned().unwrap_or_default(),
                        route_table_type: "System",
                    },
                    vswitch_id: v.vswitch_id,
                    vpc_id: v.vpc_id,
                    cidr_block: v.cidr_block,
                    zone_id: v.zone_id,
                    description: v.description,
                    vswitch_name: v.name,
                    creation_time: ecslab_core::network::creation_time(&v.created_at),
                    is_default: v.is_default,
                    enabled_ipv6: false,
                    ipv6_cidr_block: String::new(),
                    resource_group_id: String::new(),
                    tags: Tags::default(),
                });
            }
            VpcReply::DescribeVSwitches(VSwitchPage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                vswitches: VSwitchList { vswitch },
            })
        }
        VpcRequest::ModifyVSwitchAttribute { vswitch_id, name, description } => {
            networks.modify_vswitch(account, &vswitch_id, name.as_deref(), description.as_deref()).await?;
            VpcReply::Empty {}
        }
        VpcRequest::DeleteVSwitch { vswitch_id, dry_run } => {
            networks.delete_vswitch(account, &vswitch_id, dry_run).await?;
            VpcReply::Empty {}
        }
    })
}
