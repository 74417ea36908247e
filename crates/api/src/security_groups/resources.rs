//! The resources each security-group request acts on, for RAM (`acs:ecs:{region}:{account}:securitygroup/{id}`).
//!
//! Why here: RAM decides on these names. As in ECS's RAM rules, a rule change names its group and, for a rule
//! whose other end is a group (SourceGroupId / DestGroupId), that group too; creating a group in a VPC names the
//! VPC (a VPC resource, `acs:vpc:…:vpc/{id}`).

use super::SecurityGroupRequest;
use crate::product::ResourceName;
use ecslab_core::network::{RuleEnd, RuleSpec};

/// The resources of one parsed security-group request.
pub fn resources(request: &SecurityGroupRequest) -> Vec<ResourceName> {
    let group = |id: &str| ResourceName::new("securitygroup", id);
    match request {
        SecurityGroupRequest::Create(create) => {
            let mut names = vec![ResourceName::any("securitygroup")];
            names.extend(create.vpc_id.iter().map(|id| ResourceName::of("vpc", "vpc", id)));
            names
        }
        SecurityGroupRequest::Authorize { group_id, rules }
        | SecurityGroupRequest::Revoke { group_id, rules } => {
            let mut names = vec![group(group_id)];
            for other in rules.iter().filter_map(other_group) {
                if !names.iter().any(|n| n.id() == other) {
                    names.push(group(other));
                }
            }
            names
        }
        SecurityGroupRequest::RevokeById { group_id, .. }
        | SecurityGroupRequest::Attribute { group_id, .. }
        | SecurityGroupRequest::Delete { group_id } => vec![group(group_id)],
        SecurityGroupRequest::Describe { .. } => vec![ResourceName::any("securitygroup")],
    }
}

fn other_group(rule: &RuleSpec) -> Option<&str> {
    match &rule.end {
        RuleEnd::Group(id) => Some(id),
        RuleEnd::Cidr(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    fn names(action: &str, params: &[(&str, &str)]) -> Vec<String> {
        let params = Params::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let request = super::super::parse(action, &params).expect("a group action").expect("parses");
        super::resources(&request)
            .iter()
            .map(|r| format!("{}:{}", r.service().unwrap_or("ecs"), r.relative()))
            .collect()
    }

    #[test]
    fn a_rule_naming_another_group_names_both() {
        let got = names(
            "AuthorizeSecurityGroup",
            &[
                ("SecurityGroupId", "sg-1"),
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceGroupId", "sg-2"),
            ],
        );
        assert_eq!(got, ["ecs:securitygroup/sg-1", "ecs:securitygroup/sg-2"]);
        let cidr = names(
            "AuthorizeSecurityGroup",
            &[
                ("SecurityGroupId", "sg-1"),
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "10.0.0.0/8"),
            ],
        );
        assert_eq!(cidr, ["ecs:securitygroup/sg-1"]);
    }

    #[test]
    fn creating_in_a_vpc_names_the_vpc() {
        assert_eq!(
            names("CreateSecurityGroup", &[("VpcId", "vpc-1")]),
            ["ecs:securitygroup/*", "vpc:vpc/vpc-1"]
        );
        assert_eq!(names("DeleteSecurityGroup", &[("SecurityGroupId", "sg-1")]), ["ecs:securitygroup/sg-1"]);
    }
}
