//! Parameters → [`VpcRequest`], one function per action. Pure: no state, no I/O.

use super::VpcRequest;
use crate::params::Params;
use ecslab_core::network::{CreateVSwitch, CreateVpc, ModifyVpc, VSwitchFilter, VpcFilter};
use ecslab_core::requests::Paging;
use ecslab_core::{Error, Result};

/// Parse one VPC action. `None` when the action is not one ecslab implements.
pub fn parse(action: &str, p: &Params) -> Option<Result<VpcRequest>> {
    Some(match action {
        "CreateVpc" => create_vpc(p),
        "DescribeVpcs" => describe_vpcs(p),
        "ModifyVpcAttribute" => modify_vpc(p),
        "DeleteVpc" => delete_vpc(p),
        "CreateVSwitch" => create_vswitch(p),
        "DescribeVSwitches" => describe_vswitches(p),
        "ModifyVSwitchAttribute" => modify_vswitch(p),
        "DeleteVSwitch" => delete_vswitch(p),
        _ => return None,
    })
}

/// A name or description as the VPC API takes them: 1 to `max` characters, not a URL.
fn text(p: &Params, name: &str, max: usize, code: &'static str, what: &str) -> Result<Option<String>> {
    let Some(value) = p.opt_str(name) else { return Ok(None) };
    if value.chars().count() > max || value.starts_with("http://") || value.starts_with("https://") {
        return Err(Error::rejected(
            code,
            format!("Specified {what} is not valid: use 1 to {max} characters, not starting with http:// or https://."),
        ));
    }
    Ok(Some(value))
}

fn cidr(p: &Params) -> Option<String> {
    p.opt_str("CidrBlock").map(|c| c.trim().to_string())
}

/// PageNumber / PageSize (1-50, default 10): the VPC API's only paging.
fn pages(p: &Params) -> Result<Paging> {
    let number = p.opt_int("PageNumber", 1, i32::MAX as i64)?.unwrap_or(1) as u32;
    let size = p.opt_int("PageSize", 1, 50)?.unwrap_or(10) as u32;
    Ok(Paging::Pages { number, size })
}

fn create_vpc(p: &Params) -> Result<VpcRequest> {
    p.refuse(&[
        "EnableIpv6",
        "Ipv6CidrBlock",
        "Ipv6Isp",
        "Ipv6CidrMask",
        "Ipv6IpamPoolId",
        "UserCidr",
        "Ipv4IpamPoolId",
        "Ipv4CidrMask",
        "EnableDnsHostname",
        "ResourceGroupId",
        "Tag",
    ])?;
    Ok(VpcRequest::CreateVpc(CreateVpc {
        cidr_block: cidr(p),
        name: text(p, "VpcName", 128, "InvalidVpcName.Malformed", "VPC name")?.unwrap_or_default(),
        description: text(p, "Description", 256, "InvalidVpcDiscription.Malformed", "VPC description")?
            .unwrap_or_default(),
        dry_run: p.bool_or("DryRun", false)?,
    }))
}

fn describe_vpcs(p: &Params) -> Result<VpcRequest> {
    p.refuse(&["ResourceGroupId", "Tag", "VpcOwnerId", "DhcpOptionsSetId", "EnableIpv6"])?;
    let vpc_ids = p.opt_str("VpcId").map(|ids| {
        ids.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>()
    });
    if vpc_ids.as_ref().is_some_and(|ids| ids.len() > 20) {
        return Err(Error::invalid("VpcId", "At most 20 VPC IDs, separated by commas."));
    }
    Ok(VpcRequest::DescribeVpcs {
        filter: VpcFilter { vpc_ids, name: p.opt_str("VpcName"), is_default: p.opt_bool("IsDefault")? },
        paging: pages(p)?,
        dry_run: p.bool_or("DryRun", false)?,
    })
}

fn modify_vpc(p: &Params) -> Result<VpcRequest> {
    p.refuse(&["EnableIPv6", "EnableIpv6", "Ipv6CidrBlock", "Ipv6Isp", "EnableDnsHostname"])?;
    Ok(VpcRequest::ModifyVpcAttribute(ModifyVpc {
        vpc_id: p.str("VpcId")?,
        name: text(p, "VpcName", 128, "InvalidVpcName.Malformed", "VPC name")?,
        description: text(p, "Description", 256, "InvalidVpcDiscription.Malformed", "VPC description")?,
        cidr_block: cidr(p),
    }))
}

fn delete_vpc(p: &Params) -> Result<VpcRequest> {
    // ForceDelete only lets a VPC go that still holds IPv4/IPv6 gateways, which ecslab has none
    // of: with or without it the VPC must be empty.
    p.bool_or("ForceDelete", false)?;
    Ok(VpcRequest::DeleteVpc { vpc_id: p.str("VpcId")?, dry_run: p.bool_or("DryRun", false)? })
}

fn create_vswitch(p: &Params) -> Result<VpcRequest> {
    p.refuse(&["Ipv6CidrBlock", "Ipv6CidrMask", "VpcIpv6CidrBlock", "CidrMask", "Tag"])?;
    let vpc_id = p.str("VpcId")?;
    let zone_id = p.str("ZoneId")?;
    let cidr_block = cidr(p).ok_or_else(|| Error::missing("CidrBlock"))?;
    Ok(VpcRequest::CreateVSwitch(CreateVSwitch {
        vpc_id,
        zone_id,
        cidr_block,
        name: text(p, "VSwitchName", 128, "InvalidVSwitchName.Malformed", "virtual switch name")?
            .unwrap_or_default(),
        description: text(
            p,
            "Description",
            256,
            "InvalidVSwitchDiscription.Malformed",
            "virtual switch description",
        )?
        .unwrap_or_default(),
    }))
}

fn describe_vswitches(p: &Params) -> Result<VpcRequest> {
    p.refuse(&["ResourceGroupId", "Tag", "RouteTableId", "VSwitchOwnerId", "EnableIpv6"])?;
    Ok(VpcRequest::DescribeVSwitches {
        filter: VSwitchFilter {
            vswitch_ids: p.opt_str("VSwitchId").map(|id| vec![id]),
            vpc_id: p.opt_str("VpcId"),
            zone_id: p.opt_str("ZoneId"),
            name: p.opt_str("VSwitchName"),
            is_default: p.opt_bool("IsDefault")?,
        },
        paging: pages(p)?,
        dry_run: p.bool_or("DryRun", false)?,
    })
}

fn modify_vswitch(p: &Params) -> Result<VpcRequest> {
    p.refuse(&["EnableIPv6", "EnableIpv6", "Ipv6CidrBlock", "Ipv6CidrMask", "VpcIpv6CidrBlock"])?;
    Ok(VpcRequest::ModifyVSwitchAttribute {
        vswitch_id: p.str("VSwitchId")?,
        name: text(p, "VSwitchName", 128, "InvalidVSwitchName.Malformed", "virtual switch name")?,
        description: text(
            p,
            "Description",
            256,
            "InvalidVSwitchDiscription.Malformed",
            "virtual switch description",
        )?,
    })
}

fn delete_vswitch(p: &Params) -> Result<VpcRequest> {
    Ok(VpcRequest::DeleteVSwitch { vswitch_id: p.str("VSwitchId")?, dry_run: p.bool_or("DryRun", false)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::test_params as params;

    #[test]
    fn bad_input_gets_the_documented_codes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let long = "a".repeat(129);
        let cases: &[Case] = &[
            ("CreateVpc", &[("VpcName", &long)], "InvalidVpcName.Malformed"),
            ("CreateVpc", &[("VpcName", "http://x")], "InvalidVpcName.Malformed"),
            ("CreateVpc", &[("Description", "https://x")], "InvalidVpcDiscription.Malformed"),
            ("CreateVpc", &[("EnableIpv6", "true")], "InvalidParameter"),
            ("CreateVpc", &[("UserCidr", "10.0.0.0/8")], "InvalidParameter"),
            ("CreateVpc", &[("Tag.1.Key", "k")], "InvalidParameter"),
            ("CreateVpc", &[("DryRun", "maybe")], "InvalidParameter"),
            ("DescribeVpcs", &[("PageSize", "51")], "InvalidParameter"),
            ("DescribeVpcs", &[("IsDefault", "yes")], "InvalidParameter"),
            ("ModifyVpcAttribute", &[], "MissingParameter"),
            ("DeleteVpc", &[], "MissingParameter"),
            ("DeleteVpc", &[("VpcId", "vpc-1"), ("ForceDelete", "perhaps")], "InvalidParameter"),
            ("CreateVSwitch", &[("ZoneId", "z"), ("CidrBlock", "10.0.0.0/24")], "MissingParameter"),
            ("CreateVSwitch", &[("VpcId", "v"), ("CidrBlock", "10.0.0.0/24")], "MissingParameter"),
            ("CreateVSwitch", &[("VpcId", "v"), ("ZoneId", "z")], "MissingParameter"),
            (
                "CreateVSwitch",
                &[
                    ("VpcId", "v"),
                    ("ZoneId", "z"),
                    ("CidrBlock", "10.0.0.0/24"),
                    ("VSwitchName", "https://a"),
                ],
                "InvalidVSwitchName.Malformed",
            ),
            (
                "ModifyVSwitchAttribute",
                &[("VSwitchId", "v"), ("Description", &long.repeat(2))],
                "InvalidVSwitchDiscription.Malformed",
            ),
            ("DeleteVSwitch", &[], "MissingParameter"),
        ];
        for (action, pairs, code) in cases {
            let got = parse(action, &params(pairs)).expect("known action").expect_err("must fail");
            assert_eq!(got.code(), *code, "{action} {pairs:?}: {got}");
        }
        assert!(parse("CreateRouteTable", &params(&[])).is_none());
    }

    #[test]
    fn lists_and_defaults() {
        let parsed = parse("DescribeVpcs", &params(&[("VpcId", "vpc-a, vpc-b"), ("IsDefault", "false")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            parsed,
            VpcRequest::DescribeVpcs {
                filter: VpcFilter {
                    vpc_ids: Some(vec!["vpc-a".into(), "vpc-b".into()]),
                    name: None,
                    is_default: Some(false)
                },
                paging: Paging::Pages { number: 1, size: 10 },
                dry_run: false,
            }
        );
        let created = parse("CreateVpc", &params(&[("CidrBlock", " 10.0.0.0/8 "), ("EnableIpv6", "false")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            created,
            VpcRequest::CreateVpc(CreateVpc {
                cidr_block: Some("10.0.0.0/8".into()),
                ..CreateVpc::default()
            })
        );
    }
}
