//! Parameters → [`SecurityGroupRequest`], one function per action. Pure: no state, no I/O.
//! Rules come as `Permissions.N.*` or as the older flat parameters, never both.

use super::SecurityGroupRequest;
use crate::params::{check_description, check_name, Params};
use ecslab_core::network::security_groups::{rule, RawRule};
use ecslab_core::network::{CreateSecurityGroup, RuleDirection, RuleSpec, SecurityGroupFilter};
use ecslab_core::{Error, Result};
use std::collections::BTreeMap;

/// Parse one security group action. `None` when the action is not one of them.
pub fn parse(action: &str, p: &Params) -> Option<Result<SecurityGroupRequest>> {
    Some(match action {
        "CreateSecurityGroup" => create(p),
        "AuthorizeSecurityGroup" => rules(p, RuleDirection::Ingress, true),
        "RevokeSecurityGroup" => rules(p, RuleDirection::Ingress, false),
        "AuthorizeSecurityGroupEgress" => rules(p, RuleDirection::Egress, true),
        "RevokeSecurityGroupEgress" => rules(p, RuleDirection::Egress, false),
        "DescribeSecurityGroups" => describe(p),
        "DescribeSecurityGroupAttribute" => attribute(p),
        "DeleteSecurityGroup" => delete(p),
        _ => return None,
    })
}

/// Rule fields ecslab does not implement (flat or inside `Permissions.N`).
const UNSUPPORTED_RULE_FIELDS: &[&str] = &[
    "SourcePortRange",
    "Ipv6SourceCidrIp",
    "Ipv6DestCidrIp",
    "SourcePrefixListId",
    "DestPrefixListId",
    "PortRangeListId",
    "SourceGroupOwnerAccount",
    "SourceGroupOwnerId",
    "DestGroupOwnerAccount",
    "DestGroupOwnerId",
];

/// The rule fields a request can carry, flat or per permission.
const RULE_FIELDS: &[&str] = &[
    "IpProtocol",
    "PortRange",
    "SourceCidrIp",
    "DestCidrIp",
    "SourceGroupId",
    "DestGroupId",
    "Policy",
    "Priority",
    "Description",
    "NicType",
];

fn create(p: &Params) -> Result<SecurityGroupRequest> {
    p.refuse(&["ResourceGroupId", "Tag", "ServiceManaged"])?;
    let name = p.opt_str("SecurityGroupName").unwrap_or_default();
    if !name.is_empty() {
        check_name(&name, "InvalidSecurityGroupName.Malformed", "SecurityGroupName")?;
    }
    let description = p.opt_str("Description").unwrap_or_default();
    check_description(&description)?;
    match p.opt_str("SecurityGroupType").map(|t| t.to_ascii_lowercase()).as_deref() {
        None | Some("normal") => {}
        Some("enterprise") => {
            return Err(Error::invalid("SecurityGroupType", "ecslab creates normal security groups only."));
        }
        Some(other) => {
            return Err(Error::invalid(
                "SecurityGroupType",
                format!("{other:?} is not normal or enterprise."),
            ))
        }
    }
    Ok(SecurityGroupRequest::Create(CreateSecurityGroup {
        vpc_id: p.opt_str("VpcId"),
        name,
        description,
        dry_run: p.bool_or("DryRun", false)?,
    }))
}

fn raw_rule(fields: &BTreeMap<String, String>, direction: RuleDirection) -> Result<RuleSpec> {
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let (cidr, group) = match direction {
        RuleDirection::Ingress => ("SourceCidrIp", "SourceGroupId"),
        RuleDirection::Egress => ("DestCidrIp", "DestGroupId"),
    };
    let (other_cidr, other_group) = match direction {
        RuleDirection::Ingress => ("DestCidrIp", "DestGroupId"),
        RuleDirection::Egress => ("SourceCidrIp", "SourceGroupId"),
    };
    for name in [other_cidr, other_group] {
        if get(name).is_some() {
            return Err(Error::invalid(
                name,
                format!("ecslab does not implement {name} in a {direction} rule."),
            ));
        }
    }
    rule(
        direction,
        &RawRule {
            ip_protocol: get("IpProtocol"),
            port_range: get("PortRange"),
            cidr: get(cidr),
            group_id: get(group),
            policy: get("Policy"),
            priority: get("Priority"),
            description: get("Description"),
            nic_type: get("NicType"),
        },
    )
}

fn rules(p: &Params, direction: RuleDirection, authorize: bool) -> Result<SecurityGroupRequest> {
    p.refuse(UNSUPPORTED_RULE_FIELDS)?;
    let group_id = p.str("SecurityGroupId")?;
    let permissions = p.struct_list("Permissions", 100)?;
    for fields in &permissions {
        for key in fields.keys() {
            if UNSUPPORTED_RULE_FIELDS.contains(&key.as_str()) && !fields[key].is_empty() {
                return Err(Error::invalid(
                    &format!("Permissions.N.{key}"),
                    format!("ecslab does not implement {key}; leave it out."),
                ));
            }
        }
    }
    let flat: BTreeMap<String, String> =
        RULE_FIELDS.iter().filter_map(|k| p.opt_str(k).map(|v| (k.to_string(), v))).collect();
    let rule_ids = if authorize { Vec::new() } else { p.repeat_list("SecurityGroupRuleId", 100)? };
    if !permissions.is_empty() && !flat.is_empty() {
        return Err(Error::invalid(
            "Permissions",
            "Give the rules as Permissions.N.* or as the flat parameters, not both.",
        ));
    }
    if !rule_ids.is_empty() {
        if !permissions.is_empty() || !flat.is_empty() {
            return Err(Error::invalid("SecurityGroupRuleId", "Give rule ids or rule fields, not both."));
        }
        return Ok(SecurityGroupRequest::RevokeById { group_id, direction, rule_ids });
    }
    let specs = if permissions.is_empty() {
        vec![raw_rule(&flat, direction)?]
    } else {
        permissions.iter().map(|f| raw_rule(f, direction)).collect::<Result<Vec<_>>>()?
    };
    Ok(if authorize {
        SecurityGroupRequest::Authorize { group_id, rules: specs }
    } else {
        SecurityGroupRequest::Revoke { group_id, rules: specs }
    })
}

fn describe(p: &Params) -> Result<SecurityGroupRequest> {
    p.refuse(&[
        "Tag",
        "ResourceGroupId",
        "SecurityGroupType",
        "NetworkType",
        "ServiceManaged",
        "IsQueryEcsCount",
        "FuzzyQuery",
    ])?;
    let mut ids = p.json_list("SecurityGroupIds", 100)?;
    if let Some(one) = p.opt_str("SecurityGroupId") {
        ids.get_or_insert_with(Vec::new).push(one);
    }
    Ok(SecurityGroupRequest::Describe {
        filter: SecurityGroupFilter {
            security_group_ids: ids,
            vpc_id: p.opt_str("VpcId"),
            name_pattern: p.opt_str("SecurityGroupName"),
        },
        paging: p.paging(50)?,
        dry_run: p.bool_or("DryRun", false)?,
    })
}

fn attribute(p: &Params) -> Result<SecurityGroupRequest> {
    p.refuse(&["MaxResults", "NextToken"])?;
    let direction = match p.opt_str("Direction").map(|d| d.to_ascii_lowercase()).as_deref() {
        None | Some("all") => None,
        Some("ingress") => Some(RuleDirection::Ingress),
        Some("egress") => Some(RuleDirection::Egress),
        Some(other) => {
            return Err(Error::invalid("Direction", format!("{other:?} is not ingress, egress or all.")))
        }
    };
    match p.opt_str("NicType").map(|n| n.to_ascii_lowercase()).as_deref() {
        None | Some("intranet") => {}
        Some(other) => {
            return Err(Error::rejected(
                "InvalidNicType.ValueNotSupported",
                format!(
                    "The specified NicType {other:?} is not valid: security groups of a VPC take intranet."
                ),
            ))
        }
    }
    Ok(SecurityGroupRequest::Attribute { group_id: p.str("SecurityGroupId")?, direction })
}

fn delete(p: &Params) -> Result<SecurityGroupRequest> {
    Ok(SecurityGroupRequest::Delete { group_id: p.str("SecurityGroupId")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::test_params as params;

    #[test]
    fn bad_input_gets_the_documented_codes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let sg = ("SecurityGroupId", "sg-1");
        let cases: &[Case] = &[
            ("CreateSecurityGroup", &[("SecurityGroupType", "enterprise")], "InvalidParameter"),
            ("CreateSecurityGroup", &[("SecurityGroupName", "1bad")], "InvalidSecurityGroupName.Malformed"),
            ("CreateSecurityGroup", &[("Description", "http://x")], "InvalidDescription.Malformed"),
            ("CreateSecurityGroup", &[("Tag.1.Key", "k")], "InvalidParameter"),
            ("AuthorizeSecurityGroup", &[("IpProtocol", "tcp")], "MissingParameter"),
            (
                "AuthorizeSecurityGroup",
                &[sg, ("PortRange", "22/22"), ("SourceCidrIp", "0.0.0.0/0")],
                "MissingParameter",
            ),
            (
                "AuthorizeSecurityGroup",
                &[sg, ("IpProtocol", "tcp"), ("PortRange", "22/22")],
                "MissingParameter.Source",
            ),
            (
                "AuthorizeSecurityGroupEgress",
                &[sg, ("IpProtocol", "tcp"), ("PortRange", "22/22")],
                "MissingParameter.Destination",
            ),
            (
                "AuthorizeSecurityGroup",
                &[
                    sg,
                    ("IpProtocol", "tcp"),
                    ("PortRange", "22/22"),
                    ("SourceCidrIp", "0.0.0.0/0"),
                    ("Permissions.1.IpProtocol", "udp"),
                ],
                "InvalidParameter",
            ),
            (
                "AuthorizeSecurityGroup",
                &[
                    sg,
                    ("Permissions.1.IpProtocol", "tcp"),
                    ("Permissions.1.PortRange", "1/2"),
                    ("Permissions.1.SourceCidrIp", "1.2.3.4"),
                    ("Permissions.1.SourcePortRange", "1/2"),
                ],
                "InvalidParameter",
            ),
            (
                "AuthorizeSecurityGroup",
                &[
                    sg,
                    ("IpProtocol", "tcp"),
                    ("PortRange", "22/22"),
                    ("SourceCidrIp", "0.0.0.0/0"),
                    ("Ipv6SourceCidrIp", "::/0"),
                ],
                "InvalidParameter",
            ),
            (
                "AuthorizeSecurityGroup",
                &[sg, ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("DestCidrIp", "0.0.0.0/0")],
                "InvalidParameter",
            ),
            ("AuthorizeSecurityGroup", &[sg, ("Permissions.101.IpProtocol", "tcp")], "InvalidParameter"),
            (
                "RevokeSecurityGroup",
                &[sg, ("SecurityGroupRuleId.1", "sgr-1"), ("IpProtocol", "tcp")],
                "InvalidParameter",
            ),
            ("DescribeSecurityGroups", &[("SecurityGroupIds", "sg-1")], "InvalidParameter"),
            ("DescribeSecurityGroups", &[("PageSize", "51")], "InvalidParameter"),
            ("DescribeSecurityGroupAttribute", &[sg, ("Direction", "sideways")], "InvalidParameter"),
            ("DescribeSecurityGroupAttribute", &[sg, ("MaxResults", "10")], "InvalidParameter"),
            ("DescribeSecurityGroupAttribute", &[], "MissingParameter"),
            ("DeleteSecurityGroup", &[], "MissingParameter"),
        ];
        for (action, pairs, code) in cases {
            let got = parse(action, &params(pairs)).expect("known action").expect_err("must fail");
            assert_eq!(got.code(), *code, "{action} {pairs:?}: {got}");
        }
        assert!(parse("JoinSecurityGroup", &params(&[])).is_none());
    }

    #[test]
    fn flat_and_listed_rules_parse_alike() {
        let flat = parse(
            "AuthorizeSecurityGroup",
            &params(&[
                ("SecurityGroupId", "sg-1"),
                ("IpProtocol", "TCP"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "10.0.0.0/8"),
            ]),
        )
        .unwrap()
        .unwrap();
        let listed = parse(
            "AuthorizeSecurityGroup",
            &params(&[
                ("SecurityGroupId", "sg-1"),
                ("Permissions.1.IpProtocol", "tcp"),
                ("Permissions.1.PortRange", "22/22"),
                ("Permissions.1.SourceCidrIp", "10.0.0.0/8"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(flat, listed);
    }
}
