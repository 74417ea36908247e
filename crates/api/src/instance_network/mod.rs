//! ECS 2014-05-26 actions on instances' network interfaces, served beside `ecs` and
//! `security_groups` under the same version: JoinSecurityGroup, LeaveSecurityGroup,
//! AllocatePublicIpAddress, DescribeNetworkInterfaces. RunInstances' network parameters are
//! parsed with the rest of RunInstances (`ecs/parse.rs`); the rules live in
//! `ecslab_core::network::interfaces`.

mod reply;
mod resources;

pub use reply::InterfaceReply;

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::network::Networks;
use ecslab_core::requests::Paging;
use ecslab_core::store::InterfaceQuery;
use ecslab_core::{Cloud, Result};
use reply::{InterfacePage, InterfaceSet, InterfaceSets, PrivateIpSet, PrivateIpSets, SecurityGroupIds};
use std::sync::Arc;

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceRequest {
    Join { instance_id: String, group_id: String },
    Leave { instance_id: String, group_id: String },
    AllocatePublicIp { instance_id: String },
    Describe { query: InterfaceQuery, paging: Paging },
}

/// The instance-network actions in the server's table of products (ECS's version).
pub struct InstanceNetwork;

impl Product for InstanceNetwork {
    const VERSION: &'static str = crate::ecs::VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = InterfaceRequest;
    type Response = InterfaceReply;

    fn resources(request: &InterfaceRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: InterfaceRequest,
    ) -> std::result::Result<InterfaceReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud.networks(), account, request).await?)
    }
}

impl RpcProduct for InstanceNetwork {
    fn parse(action: &str, params: &Params) -> Option<Result<InterfaceRequest>> {
        parse(action, params)
    }
}

/// Parse one action's parameters; `None` when the action is not one of these.
pub fn parse(action: &str, p: &Params) -> Option<Result<InterfaceRequest>> {
    let parsed = match action {
        "JoinSecurityGroup" => {
            membership(p).map(|(instance_id, group_id)| InterfaceRequest::Join { instance_id, group_id })
        }
        "LeaveSecurityGroup" => {
            membership(p).map(|(instance_id, group_id)| InterfaceRequest::Leave { instance_id, group_id })
        }
        "AllocatePublicIpAddress" => allocate(p),
        "DescribeNetworkInterfaces" => describe(p),
        _ => return None,
    };
    Some(parsed)
}

fn membership(p: &Params) -> Result<(String, String)> {
    p.refuse(&["NetworkInterfaceId"])?;
    Ok((p.str("InstanceId")?, p.str("SecurityGroupId")?))
}

fn allocate(p: &Params) -> Result<InterfaceRequest> {
    p.refuse(&["IpAddress", "VlanId"])?;
    Ok(InterfaceRequest::AllocatePublicIp { instance_id: p.str("InstanceId")? })
}

fn describe(p: &Params) -> Result<InterfaceRequest> {
    p.refuse(&[
        "Tag",
        "ResourceGroupId",
        "ServiceManaged",
        "Type",
        "Status",
        "NetworkInterfaceName",
        "Ipv6Address",
    ])?;
    let ids = p.repeat_list("NetworkInterfaceId", 100)?;
    let private_ip = match p.opt_str("PrimaryIpAddress") {
        Some(ip) => Some(ip),
        None => p.repeat_list("PrivateIpAddress", 1)?.pop(),
    };
    Ok(InterfaceRequest::Describe {
        query: InterfaceQuery {
            network_interface_ids: (!ids.is_empty()).then_some(ids),
            instance_id: p.opt_str("InstanceId"),
            vpc_id: p.opt_str("VpcId"),
            vswitch_id: p.opt_str("VSwitchId"),
            security_group_id: p.opt_str("SecurityGroupId"),
            private_ip,
        },
        paging: p.paging(500)?,
    })
}

/// Run a parsed request for an account.
pub async fn execute(
    networks: &Networks,
    account: &str,
    request: InterfaceRequest,
) -> Result<InterfaceReply> {
    Ok(match request {
        InterfaceRequest::Join { instance_id, group_id } => {
            networks.join_security_group(account, &instance_id, &group_id).await?;
            InterfaceReply::Empty {}
        }
        InterfaceRequest::Leave { instance_id, group_id } => {
            networks.leave_security_group(account, &instance_id, &group_id).await?;
            InterfaceReply::Empty {}
        }
        InterfaceRequest::AllocatePublicIp { instance_id } => InterfaceReply::Allocated {
            ip_address: networks.allocate_public_ip(account, &instance_id).await?,
        },
        InterfaceRequest::Describe { query, paging } => {
            let page = networks.describe_network_interfaces(account, &query, &paging).await?;
            let items = page
                .items
                .into_iter()
                .map(|n| InterfaceSet {
                    network_interface_id: n.network_interface_id,
                    status: "InUse",
                    kind: "Primary",
                    instance_id: n.instance_id,
                    vpc_id: n.vpc_id,
                    v_switch_id: n.vswitch_id,
                    zone_id: n.zone_id,
                    mac_address: n.mac,
                    private_ip_address: n.private_ip.clone(),
                    private_ip_sets: PrivateIpSets {
                        items: vec![PrivateIpSet { private_ip_address: n.private_ip, primary: true }],
                    },
                    security_group_ids: SecurityGroupIds { items: n.security_group_ids },
                    creation_time: ecslab_core::network::creation_time(&n.created_at),
                    delete_on_release: true,
                })
                .collect();
            InterfaceReply::Describe(InterfacePage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                next_token: page.next_token,
                network_interface_sets: InterfaceSets { items },
            })
        }
    })
}
