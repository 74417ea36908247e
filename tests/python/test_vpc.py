"""Networking's control plane (issue 11) through the official SDKs, both signature algorithms, on
the fake-driver server: VPC 2016-04-28 with `alibabacloud_vpc20160428` (VPCs, vSwitches, CIDR
rules, AvailableIpAddressCount, DependencyViolation, ClientToken, DryRun) and ECS security groups
with `alibabacloud_ecs20140526` (the default VPC made on first use, rules flat and as
Permissions.N, a repeated rule not duplicated, revoke of an absent rule, DeleteSecurityGroup while
another group's rule names it). Codes and HTTP statuses are asserted as the SDK raises them.
"""

from __future__ import annotations

import uuid

from alibabacloud_ecs20140526 import models as m
from alibabacloud_vpc20160428 import models as v

import labkit
from labkit import REGION

ZONE = f"{REGION}-a"


def new_vpc(vpc, cidr: str | None = None, **kw) -> str:
    body = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, cidr_block=cidr, **kw)).body
    assert body.vpc_id.startswith("vpc-")
    return body.vpc_id


def vpc_row(vpc, vpc_id: str):
    body = vpc.describe_vpcs(v.DescribeVpcsRequest(region_id=REGION, vpc_id=vpc_id)).body
    assert body.total_count == 1
    return body.vpcs.vpc[0]


def new_vswitch(vpc, vpc_id: str, cidr: str, **kw) -> str:
    body = vpc.create_vswitch(v.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=ZONE,
                                                     cidr_block=cidr, **kw)).body
    assert body.v_switch_id.startswith("vsw-")
    return body.v_switch_id


def expect(call, request, status: int, code: str):
    e = labkit.sdk_error(call, request)
    assert (e.status_code, e.code) == (status, code), f"{e.status_code} {e.code}: {e.message}"
    return e


def test_vpc_lifecycle(vpc):
    reply = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, cidr_block="192.168.0.0/16",
                                              vpc_name=f"net-{uuid.uuid4().hex[:6]}", description="lab"))
    body = reply.body
    assert body.vrouter_id.startswith("vrt-") and body.route_table_id.startswith("vtb-")
    row = vpc_row(vpc, body.vpc_id)
    assert (row.cidr_block, row.status, row.is_default, row.vrouter_id) == ("192.168.0.0/16", "Available", False,
                                                                            body.vrouter_id)
    assert row.router_table_ids.router_table_ids == [body.route_table_id]
    assert row.region_id == REGION and row.description == "lab"

    vsw = new_vswitch(vpc, body.vpc_id, "192.168.1.0/24", v_switch_name="front")
    small = new_vswitch(vpc, body.vpc_id, "192.168.2.0/29")
    listed = vpc.describe_vswitches(v.DescribeVSwitchesRequest(region_id=REGION, vpc_id=body.vpc_id)).body
    assert listed.total_count == 2
    by_id = {s.v_switch_id: s for s in listed.v_switches.v_switch}
    assert by_id[vsw].available_ip_address_count == 252, "a /24 less its first and last three addresses"
    assert by_id[small].available_ip_address_count == 4
    assert (by_id[vsw].cidr_block, by_id[vsw].zone_id, by_id[vsw].status, by_id[vsw].v_switch_name) == (
        "192.168.1.0/24", ZONE, "Available", "front")
    assert by_id[vsw].route_table.route_table_id == body.route_table_id
    assert sorted(vpc_row(vpc, body.vpc_id).v_switch_ids.v_switch_id) == sorted([vsw, small])

    vpc.modify_vpc_attribute(v.ModifyVpcAttributeRequest(region_id=REGION, vpc_id=body.vpc_id, vpc_name="renamed",
                                                         cidr_block="192.168.0.0/17"))
    row = vpc_row(vpc, body.vpc_id)
    assert (row.vpc_name, row.cidr_block) == ("renamed", "192.168.0.0/17")
    vpc.modify_vswitch_attribute(v.ModifyVSwitchAttributeRequest(region_id=REGION, v_switch_id=vsw,
                                                                  description="web tier"))
    one = vpc.describe_vswitches(v.DescribeVSwitchesRequest(region_id=REGION, v_switch_id=vsw)).body
    assert one.v_switches.v_switch[0].description == "web tier"

    expect(vpc.delete_vpc, v.DeleteVpcRequest(region_id=REGION, vpc_id=body.vpc_id), 400, "DependencyViolation")
    for s in (vsw, small):
        vpc.delete_vswitch(v.DeleteVSwitchRequest(region_id=REGION, v_switch_id=s))
    expect(vpc.delete_vswitch, v.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw), 404,
           "InvalidVSwitchId.NotFound")
    vpc.delete_vpc(v.DeleteVpcRequest(region_id=REGION, vpc_id=body.vpc_id))
    gone = vpc.describe_vpcs(v.DescribeVpcsRequest(region_id=REGION, vpc_id=body.vpc_id)).body
    assert gone.total_count == 0 and gone.vpcs.vpc == []
    expect(vpc.delete_vpc, v.DeleteVpcRequest(region_id=REGION, vpc_id=body.vpc_id), 404, "InvalidVpcId.NotFound")


def test_cidr_rules_and_codes(vpc):
    for cidr in ("100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "10.0.0.0/29", "10.0.0.1/8"):
        expect(vpc.create_vpc, v.CreateVpcRequest(region_id=REGION, cidr_block=cidr), 400,
               "InvalidCidrBlock.Malformed")
    expect(vpc.create_vpc, v.CreateVpcRequest(region_id=REGION, vpc_name="http://x"), 400,
           "InvalidVpcName.Malformed")
    expect(vpc.create_vpc, v.CreateVpcRequest(region_id=REGION, enable_ipv_6=True), 400, "InvalidParameter")
    expect(vpc.create_vpc, v.CreateVpcRequest(region_id=REGION, dry_run=True), 400, "DryRunOperation")
    vpc_id = new_vpc(vpc)
    assert vpc_row(vpc, vpc_id).cidr_block == "172.16.0.0/12", "the documented default"
    new_vswitch(vpc, vpc_id, "172.16.1.0/24")

    def vswitch(cidr: str, zone: str = ZONE, vpc_id: str = vpc_id):
        return v.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=zone, cidr_block=cidr)

    expect(vpc.create_vswitch, vswitch("172.16.1.128/25"), 400, "InvalidCidrBlock.Overlapped")
    expect(vpc.create_vswitch, vswitch("10.0.0.0/24"), 400, "InvalidParameter")
    expect(vpc.create_vswitch, vswitch("172.16.3.0/30"), 400, "InvalidCirdrBlock.MaskLength")
    expect(vpc.create_vswitch, vswitch("172.16.3.0/24", zone="nowhere-z"), 404, "InvalidZoneId.NotFound")
    expect(vpc.create_vswitch, vswitch("172.16.3.0/24", vpc_id="vpc-nope"), 404, "InvalidVpcId.NotFound")
    expect(vpc.modify_vpc_attribute, v.ModifyVpcAttributeRequest(region_id=REGION, vpc_id=vpc_id,
                                                                 cidr_block="172.16.128.0/17"),
           400, "InvalidCidrBlock.Malformed")
    expect(vpc.describe_vpcs, v.DescribeVpcsRequest(region_id=REGION, page_size=51), 400, "InvalidParameter")


def test_client_token_and_paging(vpc):
    token = uuid.uuid4().hex
    name = f"tok-{token[:8]}"
    first = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, client_token=token, vpc_name=name)).body.vpc_id
    again = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, client_token=token, vpc_name=name)).body.vpc_id
    assert first == again
    expect(vpc.create_vpc, v.CreateVpcRequest(region_id=REGION, client_token=token, vpc_name=name + "x"), 400,
           "IdempotentParameterMismatch")
    assert vpc.describe_vpcs(v.DescribeVpcsRequest(region_id=REGION, vpc_name=name)).body.total_count == 1
    ids = [new_vpc(vpc, "10.0.0.0/16") for _ in range(3)]
    joined = ",".join(ids)
    seen = []
    for number in (1, 2):
        page = vpc.describe_vpcs(v.DescribeVpcsRequest(region_id=REGION, vpc_id=joined, page_number=number,
                                                       page_size=2)).body
        assert (page.total_count, page.page_number, page.page_size) == (3, number, 2)
        seen += [x.vpc_id for x in page.vpcs.vpc]
    assert seen == ids, "creation order, across pages"


def permission(**kw):
    return m.AuthorizeSecurityGroupRequestPermissions(**kw)


def attribute(ecs, group_id: str, direction: str | None = None):
    return ecs.describe_security_group_attribute(m.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=group_id, direction=direction)).body


def test_security_groups(fake_ecs, vpc):
    ecs = fake_ecs
    vpc_id = new_vpc(vpc, "10.0.0.0/8")
    sg = ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id,
                                                                security_group_name="web")).body.security_group_id
    peer = ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION,
                                                                  vpc_id=vpc_id)).body.security_group_id
    assert sg.startswith("sg-")
    # Flat parameters, then the same rule as Permissions.N (another case): accepted, not added twice.
    ecs.authorize_security_group(m.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=sg, ip_protocol="tcp", port_range="22/22", source_cidr_ip="10.0.0.0/8",
        priority="7", description="ssh"))
    ecs.authorize_security_group(m.AuthorizeSecurityGroupRequest(region_id=REGION, security_group_id=sg, permissions=[
        permission(ip_protocol="TCP", port_range="22/22", source_cidr_ip="10.0.0.0/8"),
        permission(ip_protocol="icmp", port_range="-1/-1", source_group_id=peer, policy="drop"),
    ]))
    ecs.authorize_security_group_egress(m.AuthorizeSecurityGroupEgressRequest(
        region_id=REGION, security_group_id=sg, ip_protocol="all", port_range="-1/-1", dest_cidr_ip="0.0.0.0/0"))
    body = attribute(ecs, sg)
    assert (body.security_group_id, body.vpc_id, body.security_group_name) == (sg, vpc_id, "web")
    rules = body.permissions.permission
    assert [(r.direction, r.ip_protocol, r.port_range) for r in rules] == [
        ("ingress", "TCP", "22/22"), ("ingress", "ICMP", "-1/-1"), ("egress", "ALL", "-1/-1")]
    assert (rules[0].source_cidr_ip, rules[0].priority, rules[0].policy, rules[0].description) == (
        "10.0.0.0/8", "7", "Accept", "ssh")
    assert (rules[1].source_group_id, rules[1].policy) == (peer, "Drop")
    assert rules[2].dest_cidr_ip == "0.0.0.0/0"
    assert [r.direction for r in attribute(ecs, sg, "egress").permissions.permission] == ["egress"]
    listed = ecs.describe_security_groups(m.DescribeSecurityGroupsRequest(region_id=REGION, vpc_id=vpc_id)).body
    counts = {g.security_group_id: (g.rule_count, g.group_to_group_rule_count, g.security_group_type)
              for g in listed.security_groups.security_group}
    assert counts == {sg: (3, 1, "normal"), peer: (0, 0, "normal")}

    def authorize(**kw):
        return m.AuthorizeSecurityGroupRequest(region_id=REGION, security_group_id=sg, **kw)

    expect(ecs.authorize_security_group, authorize(ip_protocol="icmp", port_range="22/22", source_cidr_ip="0.0.0.0/0"),
           400, "OperationDenied")
    expect(ecs.authorize_security_group, authorize(ip_protocol="gre", port_range="-1/-1", source_cidr_ip="0.0.0.0/0"),
           400, "InvalidIpProtocol.ValueNotSupported")
    expect(ecs.authorize_security_group, authorize(ip_protocol="tcp", port_range="0/80", source_cidr_ip="0.0.0.0/0"),
           400, "InvalidPortRange.Malformed")
    expect(ecs.authorize_security_group, authorize(ip_protocol="tcp", port_range="80/80", source_cidr_ip="1.2.3.4/8"),
           400, "InvalidSourceCidrIp.Malformed")
    expect(ecs.authorize_security_group, authorize(ip_protocol="tcp", port_range="80/80", source_group_id="sg-nope"),
           404, "InvalidSourceGroupId.NotFound")
    expect(ecs.authorize_security_group, authorize(ip_protocol="tcp", port_range="80/80",
                                                   source_cidr_ip="0.0.0.0/0", priority="101"),
           400, "InvalidPriority.Malformed")
    expect(ecs.describe_security_group_attribute,
           m.DescribeSecurityGroupAttributeRequest(region_id=REGION, security_group_id="sg-nope"),
           404, "InvalidSecurityGroupId.NotFound")

    # Revoking a rule that is not there succeeds and changes nothing.
    ecs.revoke_security_group(m.RevokeSecurityGroupRequest(region_id=REGION, security_group_id=sg, ip_protocol="udp",
                                                           port_range="53/53", source_cidr_ip="0.0.0.0/0"))
    assert len(attribute(ecs, sg).permissions.permission) == 3
    expect(ecs.delete_security_group, m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=peer),
           403, "DependencyViolation")
    ecs.revoke_security_group(m.RevokeSecurityGroupRequest(region_id=REGION, security_group_id=sg, permissions=[
        m.RevokeSecurityGroupRequestPermissions(ip_protocol="ICMP", port_range="-1/-1", source_group_id=peer,
                                                policy="Drop")]))
    ecs.delete_security_group(m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=peer))
    expect(vpc.delete_vpc, v.DeleteVpcRequest(region_id=REGION, vpc_id=vpc_id), 400, "DependencyViolation")
    ecs.delete_security_group(m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=sg))
    vpc.delete_vpc(v.DeleteVpcRequest(region_id=REGION, vpc_id=vpc_id))


def test_security_group_without_vpc_uses_the_default_vpc(fake_ecs, vpc):
    first = fake_ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION)).body.security_group_id
    second = fake_ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION)).body.security_group_id
    defaults = vpc.describe_vpcs(v.DescribeVpcsRequest(region_id=REGION, is_default=True)).body
    assert defaults.total_count == 1, "one default VPC per account, made on first use"
    default = defaults.vpcs.vpc[0]
    assert (default.is_default, default.cidr_block, default.status) == (True, "172.16.0.0/12", "Available")
    groups = fake_ecs.describe_security_groups(m.DescribeSecurityGroupsRequest(
        region_id=REGION, security_group_ids=f'["{first}","{second}"]')).body.security_groups.security_group
    assert {g.vpc_id for g in groups} == {default.vpc_id}
    expect(fake_ecs.create_security_group, m.CreateSecurityGroupRequest(region_id=REGION, vpc_id="vpc-nope"), 404,
           "InvalidVpcId.NotFound")
    for group in (first, second):
        fake_ecs.delete_security_group(m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=group))
