//! The fast tier for networking (issue 11's control plane): VPC 2016-04-28 (VPCs, vSwitches) and
//! ECS's security groups through the whole API in process (see `lab/`), every error path with its
//! code and HTTP status, tenancy, and the product table finding two products under one version.

mod lab;

use ecslab_api::auth::rpc_v1;
use ecslab_core::store::AccessKey;
use lab::{assert_error, assert_ok, encode_query, Lab, Reply, ECS};
use serde_json::Value;

const VPC: &str = "2016-04-28";
const ZONE: &str = "local-a";

async fn vpc(lab: &Lab, action: &str, params: &[(&str, &str)]) -> Reply {
    lab.rpc(VPC, action, params).await
}

async fn ecs(lab: &Lab, action: &str, params: &[(&str, &str)]) -> Reply {
    lab.rpc(ECS, action, params).await
}

async fn create_vpc(lab: &Lab, cidr: &str) -> String {
    let reply = vpc(lab, "CreateVpc", &[("CidrBlock", cidr)]).await;
    assert_ok(&reply)["VpcId"].as_str().unwrap().to_string()
}

async fn create_vswitch(lab: &Lab, vpc_id: &str, cidr: &str) -> String {
    let reply = vpc(lab, "CreateVSwitch", &[("VpcId", vpc_id), ("ZoneId", ZONE), ("CidrBlock", cidr)]).await;
    assert_ok(&reply)["VSwitchId"].as_str().unwrap().to_string()
}

async fn create_group(lab: &Lab, vpc_id: Option<&str>) -> String {
    let mut params = vec![("SecurityGroupName", "web")];
    if let Some(v) = vpc_id {
        params.push(("VpcId", v));
    }
    let reply = ecs(lab, "CreateSecurityGroup", &params).await;
    assert_ok(&reply)["SecurityGroupId"].as_str().unwrap().to_string()
}

async fn rules(lab: &Lab, group: &str, direction: Option<&str>) -> Vec<Value> {
    let mut params = vec![("SecurityGroupId", group)];
    if let Some(d) = direction {
        params.push(("Direction", d));
    }
    let reply = ecs(lab, "DescribeSecurityGroupAttribute", &params).await;
    assert_ok(&reply)["Permissions"]["Permission"].as_array().unwrap().clone()
}

/// A call signed by a second account of the same server.
async fn as_other(lab: &Lab, version: &str, action: &str, params: &[(&str, &str)]) -> Reply {
    let (key_id, secret) = ("LTAIfasttierother0002", "fast-tier-other-secret-0123");
    if lab.cloud.store().access_key(key_id).await.unwrap().is_none() {
        let key = AccessKey {
            access_key_id: key_id.into(),
            access_key_secret: secret.into(),
            account_id: "2000000000000002".into(),
            enabled: true,
            user_id: None,
            user_name: None,
        };
        lab.cloud.store().create_account(&key.account_id, "other", &key).await.unwrap();
    }
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (k, v) in [
        ("Action", action.to_string()),
        ("Version", version.to_string()),
        ("Format", "JSON".to_string()),
        ("RegionId", lab.region.clone()),
        ("AccessKeyId", key_id.to_string()),
        ("SignatureMethod", "HMAC-SHA1".to_string()),
        ("SignatureVersion", "1.0".to_string()),
        ("SignatureNonce", uuid::Uuid::new_v4().to_string()),
        ("Timestamp", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ] {
        pairs.push((k.to_string(), v));
    }
    let signature = rpc_v1::sign(secret, &rpc_v1::string_to_sign("GET", &pairs));
    pairs.push(("Signature".into(), signature));
    let request = http::Request::get(format!("/?{}", encode_query(&pairs)))
        .header("host", "fast-tier")
        .body(axum::body::Body::empty())
        .unwrap();
    lab.send(request).await
}

// ---- VPCs -------------------------------------------------------------------------------------

#[tokio::test]
async fn create_and_describe_vpcs() {
    let lab = Lab::new().await;
    let reply = vpc(&lab, "CreateVpc", &[("VpcName", "lab-net"), ("Description", "first")]).await;
    let body = assert_ok(&reply);
    let vpc_id = body["VpcId"].as_str().unwrap().to_string();
    assert!(vpc_id.starts_with("vpc-"), "{}", reply.text);
    assert!(body["VRouterId"].as_str().unwrap().starts_with("vrt-"));
    let route_table = body["RouteTableId"].as_str().unwrap().to_string();
    assert!(route_table.starts_with("vtb-"));

    let reply = vpc(&lab, "DescribeVpcs", &[("VpcId", &vpc_id)]).await;
    let body = assert_ok(&reply);
    assert_eq!(
        (body["TotalCount"].as_u64(), body["PageNumber"].as_u64(), body["PageSize"].as_u64()),
        (Some(1), Some(1), Some(10))
    );
    let v = &body["Vpcs"]["Vpc"][0];
    assert_eq!(v["CidrBlock"], "172.16.0.0/12", "the default block");
    assert_eq!(v["Status"], "Available");
    assert_eq!(v["IsDefault"], false);
    assert_eq!(v["VpcName"], "lab-net");
    assert_eq!(v["Description"], "first");
    assert_eq!(v["RegionId"], "local");
    assert_eq!(v["RouterTableIds"]["RouterTableIds"][0], route_table.as_str());
    assert_eq!(v["VSwitchIds"]["VSwitchId"].as_array().unwrap().len(), 0);

    for cidr in ["10.0.0.0/8", "192.168.0.0/16", "192.168.10.0/24"] {
        create_vpc(&lab, cidr).await;
    }
    let listed = |params: Vec<(&'static str, String)>| {
        let lab = &lab;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reply = vpc(lab, "DescribeVpcs", &params).await;
            assert_ok(&reply).clone()
        }
    };
    let page = listed(vec![("PageSize", "3".into()), ("PageNumber", "2".into())]).await;
    assert_eq!((page["TotalCount"].as_u64(), page["Vpcs"]["Vpc"].as_array().unwrap().len()), (Some(4), 1));
    let named = listed(vec![("VpcName", "lab-net".into())]).await;
    assert_eq!(named["TotalCount"], 1);
    assert_eq!(listed(vec![("IsDefault", "true".into())]).await["TotalCount"], 0);

    let xml = lab.rpc(VPC, "DescribeVpcs", &[("Format", "XML")]).await;
    assert_eq!(xml.status, 200, "{}", xml.text);
    let doc = roxmltree::Document::parse(&xml.text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "DescribeVpcsResponse");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("VpcId")).count(), 4);
}

#[tokio::test]
async fn vpc_cidr_rules_and_bad_input() {
    let lab = Lab::new().await;
    for cidr in [
        "100.64.0.0/10",
        "100.64.1.0/24",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "10.0.0.0/29",
        "10.0.0.0/7",
        "10.0.0.1/8",
        "ten/8",
    ] {
        assert_error(
            &vpc(&lab, "CreateVpc", &[("CidrBlock", cidr)]).await,
            400,
            "InvalidCidrBlock.Malformed",
        );
    }
    // Custom (non-RFC 1918) blocks outside the forbidden ones are allowed, as on the real service.
    create_vpc(&lab, "47.100.0.0/16").await;
    assert_error(&vpc(&lab, "CreateVpc", &[("VpcName", "https://x")]).await, 400, "InvalidVpcName.Malformed");
    assert_error(
        &vpc(&lab, "CreateVpc", &[("Description", &"d".repeat(257))]).await,
        400,
        "InvalidVpcDiscription.Malformed",
    );
    assert_error(&vpc(&lab, "CreateVpc", &[("EnableIpv6", "true")]).await, 400, "InvalidParameter");
    assert_error(&vpc(&lab, "CreateVpc", &[("UserCidr", "10.0.0.0/8")]).await, 400, "InvalidParameter");
    assert_error(&vpc(&lab, "CreateVpc", &[("DryRun", "true")]).await, 400, "DryRunOperation");
    assert_error(
        &vpc(&lab, "CreateVpc", &[("DryRun", "true"), ("CidrBlock", "127.0.0.0/8")]).await,
        400,
        "InvalidCidrBlock.Malformed",
    );
    assert_error(&vpc(&lab, "DescribeVpcs", &[("PageSize", "51")]).await, 400, "InvalidParameter");
    assert_error(&vpc(&lab, "DescribeVpcs", &[("DryRun", "true")]).await, 400, "DryRunOperation");
    let one = assert_ok(&vpc(&lab, "DescribeVpcs", &[]).await)["TotalCount"].clone();
    assert_eq!(one, 1, "neither DryRun nor a refusal created anything");
    assert_error(&vpc(&lab, "ModifyVpcAttribute", &[]).await, 400, "MissingParameter");
    assert_error(
        &vpc(&lab, "ModifyVpcAttribute", &[("VpcId", "vpc-nope")]).await,
        404,
        "InvalidVpcId.NotFound",
    );
    assert_error(&vpc(&lab, "DeleteVpc", &[("VpcId", "vpc-nope")]).await, 404, "InvalidVpcId.NotFound");
    assert_error(&vpc(&lab, "DeleteVpc", &[]).await, 400, "MissingParameter");
    assert_error(&vpc(&lab, "CreateRouteTable", &[]).await, 404, "InvalidAction.NotFound");
}

#[tokio::test]
async fn client_token_makes_create_vpc_idempotent() {
    let lab = Lab::new().await;
    let first = vpc(&lab, "CreateVpc", &[("ClientToken", "tok-1"), ("CidrBlock", "10.0.0.0/16")]).await;
    let again = vpc(&lab, "CreateVpc", &[("ClientToken", "tok-1"), ("CidrBlock", "10.0.0.0/16")]).await;
    assert_eq!(assert_ok(&first)["VpcId"], assert_ok(&again)["VpcId"]);
    let other = vpc(&lab, "CreateVpc", &[("ClientToken", "tok-1"), ("CidrBlock", "10.1.0.0/16")]).await;
    assert_error(&other, 400, "IdempotentParameterMismatch");
    assert_eq!(assert_ok(&vpc(&lab, "DescribeVpcs", &[]).await)["TotalCount"], 1);
    // DeleteVpc with a ClientToken: the retry gets the first (successful) reply again.
    let id = assert_ok(&first)["VpcId"].as_str().unwrap().to_string();
    assert_ok(&vpc(&lab, "DeleteVpc", &[("VpcId", &id), ("ClientToken", "del-1")]).await);
    assert_ok(&vpc(&lab, "DeleteVpc", &[("VpcId", &id), ("ClientToken", "del-1")]).await);
    assert_error(&vpc(&lab, "DeleteVpc", &[("VpcId", &id)]).await, 404, "InvalidVpcId.NotFound");
}

#[tokio::test]
async fn modify_vpc_keeps_its_vswitches_inside() {
    let lab = Lab::new().await;
    let vpc_id = create_vpc(&lab, "192.168.0.0/16").await;
    create_vswitch(&lab, &vpc_id, "192.168.200.0/24").await;
    let modify = |params: Vec<(&'static str, &'static str)>| {
        let (lab, vpc_id) = (&lab, vpc_id.clone());
        async move {
            let mut all = vec![("VpcId", vpc_id.as_str())];
            all.extend(params);
            vpc(lab, "ModifyVpcAttribute", &all).await
        }
    };
    assert_error(&modify(vec![("CidrBlock", "192.168.0.0/24")]).await, 400, "InvalidCidrBlock.Malformed");
    assert_error(&modify(vec![("CidrBlock", "100.64.0.0/16")]).await, 400, "InvalidCidrBlock.Malformed");
    assert_error(&modify(vec![("VpcName", "http://n")]).await, 400, "InvalidVpcName.Malformed");
    assert_error(&modify(vec![("EnableIPv6", "true")]).await, 400, "InvalidParameter");
    assert_ok(
        &modify(vec![("CidrBlock", "192.168.128.0/17"), ("VpcName", "renamed"), ("Description", "now")])
            .await,
    );
    assert_ok(&modify(vec![("CidrBlock", "192.0.0.0/8")]).await);
    let body = assert_ok(&vpc(&lab, "DescribeVpcs", &[("VpcId", &vpc_id)]).await).clone();
    let v = &body["Vpcs"]["Vpc"][0];
    assert_eq!(
        (v["CidrBlock"].as_str(), v["VpcName"].as_str(), v["Description"].as_str()),
        (Some("192.0.0.0/8"), Some("renamed"), Some("now"))
    );
}

// ---- vSwitches --------------------------------------------------------------------------------

#[tokio::test]
async fn vswitch_rules_counts_and_deletion_order() {
    let lab = Lab::new().await;
    let vpc_id = create_vpc(&lab, "192.168.0.0/16").await;
    let vsw = create_vswitch(&lab, &vpc_id, "192.168.1.0/24").await;
    assert!(vsw.starts_with("vsw-"));
    let small = create_vswitch(&lab, &vpc_id, "192.168.2.0/29").await;
    let create = |cidr: &'static str, zone: &'static str| {
        let (lab, vpc_id) = (&lab, vpc_id.clone());
        async move {
            vpc(lab, "CreateVSwitch", &[("VpcId", &vpc_id), ("ZoneId", zone), ("CidrBlock", cidr)]).await
        }
    };
    assert_error(&create("192.168.1.128/25", ZONE).await, 400, "InvalidCidrBlock.Overlapped");
    assert_error(&create("192.168.0.0/22", ZONE).await, 400, "InvalidCidrBlock.Overlapped");
    assert_error(&create("10.0.0.0/24", ZONE).await, 400, "InvalidParameter");
    assert_error(&create("192.168.3.0/30", ZONE).await, 400, "InvalidCirdrBlock.MaskLength");
    assert_error(&create("192.168.0.0/15", ZONE).await, 400, "InvalidCirdrBlock.MaskLength");
    assert_error(&create("192.168.3.7/24", ZONE).await, 400, "InvalidCidrBlock.Malformed");
    assert_error(&create("192.168.3.0/24", "local-z").await, 404, "InvalidZoneId.NotFound");
    let reply =
        vpc(&lab, "CreateVSwitch", &[("VpcId", "vpc-nope"), ("ZoneId", ZONE), ("CidrBlock", "10.0.0.0/24")])
            .await;
    assert_error(&reply, 404, "InvalidVpcId.NotFound");
    assert_error(
        &vpc(&lab, "CreateVSwitch", &[("VpcId", &vpc_id), ("ZoneId", ZONE)]).await,
        400,
        "MissingParameter",
    );
    let named = vpc(
        &lab,
        "CreateVSwitch",
        &[("VpcId", &vpc_id), ("ZoneId", ZONE), ("CidrBlock", "192.168.9.0/24"), ("VSwitchName", "http://x")],
    )
    .await;
    assert_error(&named, 400, "InvalidVSwitchName.Malformed");

    let body = assert_ok(&vpc(&lab, "DescribeVSwitches", &[("VpcId", &vpc_id)]).await).clone();
    assert_eq!(body["TotalCount"], 2);
    let listed = body["VSwitches"]["VSwitch"].as_array().unwrap();
    let by_id = |id: &str| listed.iter().find(|v| v["VSwitchId"] == id).unwrap().clone();
    let big = by_id(&vsw);
    assert_eq!(big["AvailableIpAddressCount"], 252, "a /24 minus the first and last three addresses");
    assert_eq!(big["CidrBlock"], "192.168.1.0/24");
    assert_eq!(big["Status"], "Available");
    assert_eq!(big["ZoneId"], ZONE);
    assert_eq!(big["IsDefault"], false);
    assert!(big["RouteTable"]["RouteTableId"].as_str().unwrap().starts_with("vtb-"));
    assert_eq!(by_id(&small)["AvailableIpAddressCount"], 4, "a /29 keeps 4 of its 8");
    let one =
        assert_ok(&vpc(&lab, "DescribeVSwitches", &[("VSwitchId", &small)]).await)["TotalCount"].clone();
    assert_eq!(one, 1);
    let v = assert_ok(&vpc(&lab, "DescribeVpcs", &[("VpcId", &vpc_id)]).await).clone();
    assert_eq!(v["Vpcs"]["Vpc"][0]["VSwitchIds"]["VSwitchId"].as_array().unwrap().len(), 2);

    assert_ok(
        &vpc(
            &lab,
            "ModifyVSwitchAttribute",
            &[("VSwitchId", &vsw), ("VSwitchName", "front"), ("Description", "web tier")],
        )
        .await,
    );
    let renamed = assert_ok(&vpc(&lab, "DescribeVSwitches", &[("VSwitchName", "front")]).await).clone();
    assert_eq!(renamed["VSwitches"]["VSwitch"][0]["Description"], "web tier");
    assert_error(
        &vpc(&lab, "ModifyVSwitchAttribute", &[("VSwitchId", "vsw-nope")]).await,
        404,
        "InvalidVSwitchId.NotFound",
    );

    assert_error(&vpc(&lab, "DeleteVpc", &[("VpcId", &vpc_id)]).await, 400, "DependencyViolation");
    assert_error(
        &vpc(&lab, "DeleteVSwitch", &[("VSwitchId", &vsw), ("DryRun", "true")]).await,
        400,
        "DryRunOperation",
    );
    assert_ok(&vpc(&lab, "DeleteVSwitch", &[("VSwitchId", &vsw)]).await);
    assert_error(&vpc(&lab, "DeleteVSwitch", &[("VSwitchId", &vsw)]).await, 404, "InvalidVSwitchId.NotFound");
    // The freed block can be used again.
    let again = create_vswitch(&lab, &vpc_id, "192.168.1.0/25").await;
    for id in [&again, &small] {
        assert_ok(&vpc(&lab, "DeleteVSwitch", &[("VSwitchId", id)]).await);
    }
    assert_ok(&vpc(&lab, "DeleteVpc", &[("VpcId", &vpc_id)]).await);
    assert_error(
        &vpc(&lab, "DescribeVpcs", &[("VpcId", &vpc_id), ("PageSize", "0")]).await,
        400,
        "InvalidParameter",
    );
    assert_eq!(assert_ok(&vpc(&lab, "DescribeVpcs", &[("VpcId", &vpc_id)]).await)["TotalCount"], 0);
}

#[tokio::test]
async fn another_accounts_networks_are_not_found() {
    let lab = Lab::new().await;
    let vpc_id = create_vpc(&lab, "10.0.0.0/16").await;
    let vsw = create_vswitch(&lab, &vpc_id, "10.0.1.0/24").await;
    let sg = create_group(&lab, Some(&vpc_id)).await;
    assert_eq!(assert_ok(&as_other(&lab, VPC, "DescribeVpcs", &[]).await)["TotalCount"], 0);
    assert_eq!(assert_ok(&as_other(&lab, VPC, "DescribeVSwitches", &[]).await)["TotalCount"], 0);
    assert_error(
        &as_other(&lab, VPC, "DeleteVpc", &[("VpcId", &vpc_id)]).await,
        404,
        "InvalidVpcId.NotFound",
    );
    assert_error(
        &as_other(&lab, VPC, "DeleteVSwitch", &[("VSwitchId", &vsw)]).await,
        404,
        "InvalidVSwitchId.NotFound",
    );
    let reply = as_other(
        &lab,
        VPC,
        "CreateVSwitch",
        &[("VpcId", &vpc_id), ("ZoneId", ZONE), ("CidrBlock", "10.0.2.0/24")],
    )
    .await;
    assert_error(&reply, 404, "InvalidVpcId.NotFound");
    assert_error(
        &as_other(&lab, ECS, "CreateSecurityGroup", &[("VpcId", &vpc_id)]).await,
        404,
        "InvalidVpcId.NotFound",
    );
    assert_error(
        &as_other(&lab, ECS, "DescribeSecurityGroupAttribute", &[("SecurityGroupId", &sg)]).await,
        404,
        "InvalidSecurityGroupId.NotFound",
    );
    assert_error(
        &as_other(&lab, ECS, "DeleteSecurityGroup", &[("SecurityGroupId", &sg)]).await,
        404,
        "InvalidSecurityGroupId.NotFound",
    );
    let rule = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "22/22"),
        ("SourceCidrIp", "0.0.0.0/0"),
    ];
    assert_error(
        &as_other(&lab, ECS, "AuthorizeSecurityGroup", &rule).await,
        404,
        "InvalidSecurityGroupId.NotFound",
    );
    assert_eq!(assert_ok(&as_other(&lab, ECS, "DescribeSecurityGroups", &[]).await)["TotalCount"], 0);
    // The other account's default VPC is its own.
    let theirs = assert_ok(&as_other(&lab, ECS, "CreateSecurityGroup", &[]).await)["SecurityGroupId"].clone();
    assert!(theirs.as_str().unwrap().starts_with("sg-"));
    assert_eq!(assert_ok(&vpc(&lab, "DescribeVpcs", &[("IsDefault", "true")]).await)["TotalCount"], 0);
}

// ---- security groups --------------------------------------------------------------------------

#[tokio::test]
async fn security_groups_use_the_default_vpc_when_none_is_named() {
    let lab = Lab::new().await;
    let first = create_group(&lab, None).await;
    let second = create_group(&lab, None).await;
    let defaults = assert_ok(&vpc(&lab, "DescribeVpcs", &[("IsDefault", "true")]).await).clone();
    assert_eq!(defaults["TotalCount"], 1, "one default VPC, made on first use");
    let default = &defaults["Vpcs"]["Vpc"][0];
    assert_eq!(default["CidrBlock"], "172.16.0.0/12");
    assert_eq!(default["IsDefault"], true);
    let groups = assert_ok(
        &ecs(&lab, "DescribeSecurityGroups", &[("VpcId", default["VpcId"].as_str().unwrap())]).await,
    )
    .clone();
    assert_eq!(groups["TotalCount"], 2);
    let listed = groups["SecurityGroups"]["SecurityGroup"].as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|g| g["SecurityGroupId"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(listed[0]["SecurityGroupType"], "normal");
    assert_eq!(listed[0]["SecurityGroupName"], "web");
    assert_eq!(listed[0]["RuleCount"], 0);
    assert_error(
        &vpc(&lab, "DeleteVpc", &[("VpcId", default["VpcId"].as_str().unwrap())]).await,
        400,
        "DependencyViolation",
    );

    assert_error(
        &ecs(&lab, "CreateSecurityGroup", &[("VpcId", "vpc-nope")]).await,
        404,
        "InvalidVpcId.NotFound",
    );
    assert_error(
        &ecs(&lab, "CreateSecurityGroup", &[("SecurityGroupType", "enterprise")]).await,
        400,
        "InvalidParameter",
    );
    assert_error(
        &ecs(&lab, "CreateSecurityGroup", &[("SecurityGroupName", "9lives")]).await,
        400,
        "InvalidSecurityGroupName.Malformed",
    );
    assert_error(&ecs(&lab, "CreateSecurityGroup", &[("DryRun", "true")]).await, 400, "DryRunOperation");
    let page = assert_ok(&ecs(&lab, "DescribeSecurityGroups", &[("MaxResults", "1")]).await).clone();
    assert_eq!(page["SecurityGroups"]["SecurityGroup"].as_array().unwrap().len(), 1);
    let token = page["NextToken"].as_str().unwrap().to_string();
    let next =
        assert_ok(&ecs(&lab, "DescribeSecurityGroups", &[("MaxResults", "1"), ("NextToken", &token)]).await)
            .clone();
    assert_eq!(next["SecurityGroups"]["SecurityGroup"][0]["SecurityGroupId"], second.as_str());
    let by_ids = format!("[\"{second}\"]");
    assert_eq!(
        assert_ok(&ecs(&lab, "DescribeSecurityGroups", &[("SecurityGroupIds", &by_ids)]).await)["TotalCount"],
        1
    );
    assert_eq!(
        assert_ok(&ecs(&lab, "DescribeSecurityGroups", &[("SecurityGroupName", "w*")]).await)["TotalCount"],
        2
    );
}

#[tokio::test]
async fn rules_are_added_once_listed_by_direction_and_revoked() {
    let lab = Lab::new().await;
    let sg = create_group(&lab, None).await;
    let peer = create_group(&lab, None).await;
    let flat = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "22/22"),
        ("SourceCidrIp", "10.0.0.0/8"),
        ("Priority", "5"),
        ("Description", "ssh"),
    ];
    assert_ok(&ecs(&lab, "AuthorizeSecurityGroup", &flat).await);
    // The same rule again (any case, another priority) is accepted and not added twice.
    let again = [
        ("SecurityGroupId", sg.as_str()),
        ("Permissions.1.IpProtocol", "TCP"),
        ("Permissions.1.PortRange", "22/22"),
        ("Permissions.1.SourceCidrIp", "10.0.0.0/8"),
        ("Permissions.1.Priority", "9"),
    ];
    assert_ok(&ecs(&lab, "AuthorizeSecurityGroup", &again).await);
    let listed = [
        ("SecurityGroupId", sg.as_str()),
        ("Permissions.1.IpProtocol", "ICMP"),
        ("Permissions.1.PortRange", "-1/-1"),
        ("Permissions.1.SourceGroupId", peer.as_str()),
        ("Permissions.1.Policy", "drop"),
        ("Permissions.2.IpProtocol", "udp"),
        ("Permissions.2.PortRange", "53/53"),
        ("Permissions.2.SourceCidrIp", "192.168.1.7"),
    ];
    assert_ok(&ecs(&lab, "AuthorizeSecurityGroup", &listed).await);
    let egress = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "all"),
        ("PortRange", "-1/-1"),
        ("DestCidrIp", "0.0.0.0/0"),
    ];
    assert_ok(&ecs(&lab, "AuthorizeSecurityGroupEgress", &egress).await);

    let all = rules(&lab, &sg, None).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let ingress = rules(&lab, &sg, Some("ingress")).await;
    assert_eq!(ingress.len(), 3);
    let ssh = &ingress[0];
    assert_eq!(
        (ssh["IpProtocol"].as_str(), ssh["PortRange"].as_str(), ssh["SourceCidrIp"].as_str()),
        (Some("TCP"), Some("22/22"), Some("10.0.0.0/8"))
    );
    assert_eq!(
        (ssh["Priority"].as_str(), ssh["Policy"].as_str(), ssh["Direction"].as_str()),
        (Some("5"), Some("Accept"), Some("ingress"))
    );
    assert_eq!(ssh["Description"], "ssh");
    assert!(ssh["SecurityGroupRuleId"].as_str().unwrap().starts_with("sgr-"));
    assert_eq!(ingress[1]["SourceGroupId"], peer.as_str());
    assert_eq!(ingress[1]["SourceGroupName"], "web");
    assert_eq!(ingress[1]["Policy"], "Drop");
    assert_eq!(ingress[2]["SourceCidrIp"], "192.168.1.7/32");
    let out = rules(&lab, &sg, Some("egress")).await;
    assert_eq!(
        (out.len(), out[0]["DestCidrIp"].as_str(), out[0]["IpProtocol"].as_str()),
        (1, Some("0.0.0.0/0"), Some("ALL"))
    );
    let groups = assert_ok(&ecs(&lab, "DescribeSecurityGroups", &[("SecurityGroupId", &sg)]).await).clone();
    let g = &groups["SecurityGroups"]["SecurityGroup"][0];
    assert_eq!((g["RuleCount"].as_u64(), g["GroupToGroupRuleCount"].as_u64()), (Some(4), Some(1)));

    // The peer is named by a rule: it cannot go until the rule does.
    assert_error(
        &ecs(&lab, "DeleteSecurityGroup", &[("SecurityGroupId", &peer)]).await,
        403,
        "DependencyViolation",
    );
    // Revoking a rule that does not exist succeeds and removes nothing.
    let absent = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "80/80"),
        ("SourceCidrIp", "0.0.0.0/0"),
    ];
    assert_ok(&ecs(&lab, "RevokeSecurityGroup", &absent).await);
    assert_eq!(rules(&lab, &sg, None).await.len(), 4);
    let by_fields = [
        ("SecurityGroupId", sg.as_str()),
        ("Permissions.1.IpProtocol", "icmp"),
        ("Permissions.1.PortRange", "-1/-1"),
        ("Permissions.1.SourceGroupId", peer.as_str()),
        ("Permissions.1.Policy", "Drop"),
    ];
    assert_ok(&ecs(&lab, "RevokeSecurityGroup", &by_fields).await);
    assert_ok(&ecs(&lab, "DeleteSecurityGroup", &[("SecurityGroupId", &peer)]).await);
    // By rule id: an unknown id (or an egress rule's id given to the ingress action) fails whole.
    let egress_id = out[0]["SecurityGroupRuleId"].as_str().unwrap().to_string();
    let ssh_id = ssh["SecurityGroupRuleId"].as_str().unwrap().to_string();
    let reply = ecs(
        &lab,
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", &sg),
            ("SecurityGroupRuleId.1", &ssh_id),
            ("SecurityGroupRuleId.2", &egress_id),
        ],
    )
    .await;
    assert_error(&reply, 400, "InvalidParam.SecurityGroupRuleId");
    assert_eq!(rules(&lab, &sg, None).await.len(), 3);
    assert_ok(
        &ecs(&lab, "RevokeSecurityGroup", &[("SecurityGroupId", &sg), ("SecurityGroupRuleId.1", &ssh_id)])
            .await,
    );
    assert_ok(&ecs(&lab, "RevokeSecurityGroupEgress", &egress).await);
    let left = rules(&lab, &sg, None).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["PortRange"], "53/53");
    assert_ok(&ecs(&lab, "DeleteSecurityGroup", &[("SecurityGroupId", &sg)]).await);
    assert_error(
        &ecs(&lab, "DescribeSecurityGroupAttribute", &[("SecurityGroupId", &sg)]).await,
        404,
        "InvalidSecurityGroupId.NotFound",
    );
}

#[tokio::test]
async fn bad_rules_get_ecs_codes() {
    let lab = Lab::new().await;
    let sg = create_group(&lab, None).await;
    let other_vpc = create_vpc(&lab, "10.0.0.0/8").await;
    let elsewhere = create_group(&lab, Some(&other_vpc)).await;
    let rule = |extra: &[(&'static str, &'static str)]| {
        let mut params = vec![("SecurityGroupId", sg.clone())];
        params.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        params
    };
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "AuthorizeSecurityGroup",
            rule(&[("IpProtocol", "icmp"), ("PortRange", "22/22"), ("SourceCidrIp", "0.0.0.0/0")]),
            400,
            "OperationDenied",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[("IpProtocol", "gre"), ("PortRange", "-1/-1"), ("SourceCidrIp", "0.0.0.0/0")]),
            400,
            "InvalidIpProtocol.ValueNotSupported",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[("IpProtocol", "tcp"), ("PortRange", "0/22"), ("SourceCidrIp", "0.0.0.0/0")]),
            400,
            "InvalidPortRange.Malformed",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceCidrIp", "1.2.3.4/8")]),
            400,
            "InvalidSourceCidrIp.Malformed",
        ),
        (
            "AuthorizeSecurityGroupEgress",
            rule(&[("IpProtocol", "tcp"), ("PortRange", "22/22"), ("DestCidrIp", "300.0.0.0/8")]),
            400,
            "InvalidDestCidrIp.Malformed",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Policy", "reject"),
            ]),
            400,
            "InvalidPolicy.Malformed",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Priority", "0"),
            ]),
            400,
            "InvalidPriority.Malformed",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[("IpProtocol", "tcp"), ("PortRange", "22/22")]),
            400,
            "MissingParameter.Source",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", "sg-nope")]),
            404,
            "InvalidSourceGroupId.NotFound",
        ),
        (
            "AuthorizeSecurityGroupEgress",
            rule(&[("IpProtocol", "tcp"), ("PortRange", "22/22"), ("DestGroupId", "sg-nope")]),
            404,
            "InvalidDestGroupId.NotFound",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("SourcePortRange", "1/2"),
            ]),
            400,
            "InvalidParameter",
        ),
        (
            "AuthorizeSecurityGroup",
            rule(&[
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("NicType", "internet"),
            ]),
            400,
            "InvalidNicType.ValueNotSupported",
        ),
        ("AuthorizeSecurityGroup", vec![("IpProtocol", "tcp".into())], 400, "MissingParameter"),
        (
            "AuthorizeSecurityGroup",
            vec![
                ("SecurityGroupId", "sg-nope".into()),
                ("IpProtocol", "tcp".into()),
                ("PortRange", "1/2".into()),
                ("SourceCidrIp", "0.0.0.0/0".into()),
            ],
            404,
            "InvalidSecurityGroupId.NotFound",
        ),
        (
            "RevokeSecurityGroup",
            vec![
                ("SecurityGroupId", "sg-nope".into()),
                ("IpProtocol", "tcp".into()),
                ("PortRange", "1/2".into()),
                ("SourceCidrIp", "0.0.0.0/0".into()),
            ],
            404,
            "InvalidSecurityGroupId.NotFound",
        ),
        ("DescribeSecurityGroupAttribute", rule(&[("Direction", "up")]), 400, "InvalidParameter"),
        (
            "DeleteSecurityGroup",
            vec![("SecurityGroupId", "sg-nope".into())],
            404,
            "InvalidSecurityGroupId.NotFound",
        ),
    ];
    for (action, params, status, code) in &cases {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_error(&ecs(&lab, action, &params).await, *status, code);
    }
    let own = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "22/22"),
        ("SourceGroupId", sg.as_str()),
    ];
    assert_error(&ecs(&lab, "AuthorizeSecurityGroup", &own).await, 403, "InvalidParamter.Conflict");
    let across = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "22/22"),
        ("SourceGroupId", elsewhere.as_str()),
    ];
    assert_error(&ecs(&lab, "AuthorizeSecurityGroup", &across).await, 400, "InvalidSourceGroupId.Mismatch");
    assert!(rules(&lab, &sg, None).await.is_empty(), "no refused rule was kept");

    // At most 200 rules per group.
    for batch in 0..2 {
        let mut params: Vec<(String, String)> = vec![("SecurityGroupId".into(), sg.clone())];
        for n in 1..=100 {
            let port = batch * 100 + n;
            for (field, value) in [
                ("IpProtocol", "tcp".to_string()),
                ("PortRange", format!("{port}/{port}")),
                ("SourceCidrIp", "0.0.0.0/0".into()),
            ] {
                params.push((format!("Permissions.{n}.{field}"), value));
            }
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_ok(&ecs(&lab, "AuthorizeSecurityGroup", &params).await);
    }
    let one_more = [
        ("SecurityGroupId", sg.as_str()),
        ("IpProtocol", "udp"),
        ("PortRange", "1/1"),
        ("SourceCidrIp", "0.0.0.0/0"),
    ];
    assert_error(&ecs(&lab, "AuthorizeSecurityGroup", &one_more).await, 403, "AuthorizationLimitExceed");
    assert_eq!(rules(&lab, &sg, None).await.len(), 200);
}

// ---- the product table ------------------------------------------------------------------------

#[tokio::test]
async fn two_products_share_ecs_version_and_unknown_actions_stay_unknown() {
    let lab = Lab::new().await;
    // ECS's own actions still reach the ECS product, security groups the other one.
    assert_ok(&ecs(&lab, "DescribeRegions", &[]).await);
    assert_ok(&ecs(&lab, "DescribeSecurityGroups", &[]).await);
    // A third product of the version (instances' network interfaces) answers its own actions.
    let reply = ecs(&lab, "JoinSecurityGroup", &[("SecurityGroupId", "sg-1"), ("InstanceId", "i-1")]).await;
    assert_error(&reply, 404, "InvalidInstanceId.NotFound");
    let reply =
        ecs(&lab, "ModifyInstanceVpcAttribute", &[("InstanceId", "i-1"), ("VSwitchId", "vsw-1")]).await;
    assert_error(&reply, 404, "InvalidAction.NotFound");
    // Each version knows only its own actions.
    assert_error(&vpc(&lab, "DescribeSecurityGroups", &[]).await, 404, "InvalidAction.NotFound");
    assert_error(&ecs(&lab, "DescribeVpcs", &[]).await, 404, "InvalidAction.NotFound");
    assert_error(&lab.rpc("2016-04-29", "DescribeVpcs", &[]).await, 400, "InvalidVersion");
    // The RegionId check applies to the new products too.
    assert_error(
        &vpc(&lab, "DescribeVpcs", &[("RegionId", "cn-nowhere")]).await,
        404,
        "InvalidRegionId.NotFound",
    );
    // Both signature schemes reach them.
    assert_ok(&lab.acs3(VPC, "DescribeVpcs", &[]).await);
    assert_ok(&lab.acs3(ECS, "DescribeSecurityGroups", &[]).await);
}

#[tokio::test]
async fn a_vpc_holds_at_most_150_vswitches() {
    let lab = Lab::new().await;
    let vpc_id = create_vpc(&lab, "10.0.0.0/8").await;
    for n in 0..150 {
        create_vswitch(&lab, &vpc_id, &format!("10.0.{n}.0/24")).await;
    }
    let reply =
        vpc(&lab, "CreateVSwitch", &[("VpcId", &vpc_id), ("ZoneId", ZONE), ("CidrBlock", "10.1.0.0/24")])
            .await;
    assert_error(&reply, 400, "QuotaExceeded.VSwitch");
    let page = assert_ok(
        &vpc(&lab, "DescribeVSwitches", &[("VpcId", &vpc_id), ("PageSize", "50"), ("PageNumber", "3")]).await,
    )
    .clone();
    assert_eq!(
        (page["TotalCount"].as_u64(), page["VSwitches"]["VSwitch"].as_array().unwrap().len()),
        (Some(150), 50)
    );
    assert_eq!(page["VSwitches"]["VSwitch"][49]["CidrBlock"], "10.0.149.0/24", "creation order across pages");
}

#[tokio::test]
async fn egress_rules_and_descriptions_get_their_own_codes() {
    let lab = Lab::new().await;
    let sg = create_group(&lab, None).await;
    let other_vpc = create_vpc(&lab, "10.0.0.0/8").await;
    let elsewhere = create_group(&lab, Some(&other_vpc)).await;
    let egress = |extra: Vec<(&'static str, String)>| {
        let mut params = vec![
            ("SecurityGroupId", sg.clone()),
            ("IpProtocol", "tcp".to_string()),
            ("PortRange", "443/443".to_string()),
        ];
        params.extend(extra);
        params
    };
    let send = |params: Vec<(&'static str, String)>, action: &'static str| {
        let lab = &lab;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ecs(lab, action, &params).await
        }
    };
    assert_error(
        &send(egress(vec![]), "AuthorizeSecurityGroupEgress").await,
        400,
        "MissingParameter.Destination",
    );
    assert_error(
        &send(egress(vec![("DestGroupId", elsewhere.clone())]), "AuthorizeSecurityGroupEgress").await,
        400,
        "InvalidDestGroupId.Mismatch",
    );
    assert_error(
        &send(
            egress(vec![("DestCidrIp", "0.0.0.0/0".into()), ("Description", "https://x".into())]),
            "AuthorizeSecurityGroupEgress",
        )
        .await,
        400,
        "InvalidSecurityGroupDiscription.Malformed",
    );
    assert_error(
        &send(egress(vec![("SourceCidrIp", "0.0.0.0/0".into())]), "AuthorizeSecurityGroupEgress").await,
        400,
        "InvalidParameter",
    );
    // Revoking an egress rule that is not there succeeds.
    assert_ok(&send(egress(vec![("DestCidrIp", "10.0.0.0/8".into())]), "RevokeSecurityGroupEgress").await);
    let reply = ecs(
        &lab,
        "RevokeSecurityGroupEgress",
        &[("SecurityGroupId", &sg), ("SecurityGroupRuleId.1", "sgr-nope")],
    )
    .await;
    assert_error(&reply, 400, "InvalidParam.SecurityGroupRuleId");
    assert!(rules(&lab, &sg, None).await.is_empty());
}
