//! ECS 2014-05-26 security groups, served beside the `ecs` module under the same version (the
//! product table tries each product of a version until one knows the action), so networking
//! grows without touching ECS's instance code. CreateSecurityGroup, Authorize/Revoke
//! SecurityGroup(Egress), DescribeSecurityGroups, DescribeSecurityGroupAttribute,
//! DeleteSecurityGroup. The rules live in `ecslab_core::network::security_groups`.

mod parse;
mod reply;
mod resources;

pub use parse::parse;
pub use reply::SecurityGroupReply;

use reply::{Group, GroupAttribute, GroupList, GroupPage, Permission, PermissionList};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::network::{CreateSecurityGroup, Networks, RuleDirection, RuleSpec, SecurityGroupFilter};
use ecslab_core::requests::Paging;
use ecslab_core::{Cloud, Error, Result};
use std::sync::Arc;

/// One parsed security group request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityGroupRequest {
    Create(CreateSecurityGroup),
    Authorize { group_id: String, rules: Vec<RuleSpec> },
    Revoke { group_id: String, rules: Vec<RuleSpec> },
    RevokeById { group_id: String, direction: RuleDirection, rule_ids: Vec<String> },
    Describe { filter: SecurityGroupFilter, paging: Paging, dry_run: bool },
    Attribute { group_id: String, direction: Option<RuleDirection> },
    Delete { group_id: String },
}

/// Security groups in the server's table of products (ECS's version).
pub struct SecurityGroups;

impl Product for SecurityGroups {
    const VERSION: &'static str = crate::ecs::VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = SecurityGroupRequest;
    type Response = SecurityGroupReply;

    fn resources(request: &SecurityGroupRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    fn honours_client_token(request: &SecurityGroupRequest) -> bool {
        matches!(request, SecurityGroupRequest::Create(_) | SecurityGroupRequest::Authorize { .. })
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: SecurityGroupRequest,
    ) -> std::result::Result<SecurityGroupReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud.networks(), account, request).await?)
    }
}

impl RpcProduct for SecurityGroups {
    fn parse(action: &str, params: &Params) -> Option<Result<SecurityGroupRequest>> {
        parse(action, params)
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(
    networks: &Networks,
    account: &str,
    request: SecurityGroupRequest,
) -> Result<SecurityGroupReply> {
    Ok(match request {
        SecurityGroupRequest::Create(req) => SecurityGroupReply::Create {
            security_group_id: networks.create_security_group(account, req).await?,
        },
        SecurityGroupRequest::Authorize { group_id, rules } => {
            networks.authorize(account, &group_id, &rules).await?;
            SecurityGroupReply::Empty {}
        }
        SecurityGroupRequest::Revoke { group_id, rules } => {
            networks.revoke(account, &group_id, &rules).await?;
            SecurityGroupReply::Empty {}
        }
        SecurityGroupRequest::RevokeById { group_id, direction, rule_ids } => {
            networks.revoke_by_id(account, &group_id, direction, &rule_ids).await?;
            SecurityGroupReply::Empty {}
        }
        SecurityGroupRequest::Describe { filter, paging, dry_run } => {
            if dry_run {
                return Err(Error::DryRunOperation);
            }
            let page = networks.describe_security_groups(account, &filter, &paging).await?;
            let security_group = page
                .items
                .into_iter()
                .map(|listed| {
                    let g = listed.group;
                    Group {
                        security_group_id: g.security_group_id,
                        security_group_name: g.name,
                        description: g.description,
                        vpc_id: g.vpc_id,
                        creation_time: ecslab_core::network::creation_time(&g.created_at),
                        security_group_type: g.group_type.to_string(),
                        rule_count: listed.rule_count,
                        group_to_group_rule_count: listed.group_rule_count,
                        ecs_count: 0,
                        resource_group_id: String::new(),
                        service_managed: false,
                        tags: Vec::new().into(),
                    }
                })
                .collect();
            SecurityGroupReply::Describe(GroupPage {
                region_id: networks.region_id().to_string(),
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                next_token: page.next_token,
                security_groups: GroupList { security_group },
            })
        }
        SecurityGroupRequest::Attribute { group_id, direction } => {
            let view = networks.security_group_attribute(account, &group_id, direction).await?;
            let permission = view
                .rules
                .into_iter()
                .map(|(r, peer_name)| {
                    let ingress = r.direction == RuleDirection::Ingress;
                    let pick = |mine: bool, value: &str| if mine { value.to_string() } else { String::new() };
                    Permission {
                        security_group_rule_id: r.rule_id,
                        direction: r.direction.to_string(),
                        ip_protocol: r.ip_protocol.to_string(),
                        port_range: r.port_range,
                        source_cidr_ip: pick(ingress, &r.peer_cidr),
                        source_group_id: pick(ingress, &r.peer_group_id),
                        source_group_name: pick(ingress, &peer_name),
                        dest_cidr_ip: pick(!ingress, &r.peer_cidr),
                        dest_group_id: pick(!ingress, &r.peer_group_id),
                        dest_group_name: pick(!ingress, &peer_name),
                        policy: r.policy.to_string(),
                        priority: r.priority.to_string(),
                        nic_type: "intranet",
                        description: r.description,
                        create_time: ecslab_core::network::creation_time(&r.created_at),
                    }
                })
                .collect();
            let g = view.group;
            SecurityGroupReply::Attribute(GroupAttribute {
                region_id: networks.region_id().to_string(),
                security_group_id: g.security_group_id,
                security_group_name: g.name,
                description: g.description,
                vpc_id: g.vpc_id,
                inner_access_policy: "Accept",
                permissions: PermissionList { permission },
            })
        }
        SecurityGroupRequest::Delete { group_id } => {
            networks.delete_security_group(account, &group_id).await?;
            SecurityGroupReply::Empty {}
        }
    })
}
