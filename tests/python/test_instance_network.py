"""Instances on the network, as records (issue 11), through the official SDKs with both signature
algorithms on the fake-driver server: RunInstances/CreateInstance with VSwitchId, SecurityGroupIds,
PrivateIpAddress and InternetMaxBandwidthOut; the default VPC, vSwitch and security group made on
first use; what DescribeInstances, DescribeInstanceAttribute and DescribeNetworkInterfaces show; JoinSecurityGroup,
LeaveSecurityGroup, AllocatePublicIpAddress; DeleteVSwitch and DeleteSecurityGroup refused while
instances use them. Codes and HTTP statuses as the SDK raises them.
"""

from __future__ import annotations

import ipaddress
import uuid

from alibabacloud_ecs20140526 import models as m
from alibabacloud_vpc20160428 import models as v

import labkit
from labkit import REGION

ZONE = f"{REGION}-a"


def expect(call, request, status: int, code: str):
    e = labkit.sdk_error(call, request)
    assert (e.status_code, e.code) == (status, code), f"{e.status_code} {e.code}: {e.message}"
    return e


def network(vpc, ecs, cidr: str = "10.20.0.0/16", vsw_cidr: str = "10.20.1.0/24"):
    """A new VPC with one vSwitch and one security group: (vpc_id, vswitch_id, group_id)."""
    vpc_id = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, cidr_block=cidr)).body.vpc_id
    vsw = vpc.create_vswitch(v.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=ZONE,
                                                    cidr_block=vsw_cidr)).body.v_switch_id
    sg = ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id)).body
    return vpc_id, vsw, sg.security_group_id


def create(ecs, image_id: str, **kw) -> str:
    return labkit.create_instance(ecs, image_id, instance_name=f"net-{uuid.uuid4().hex[:6]}", **kw)


def interface_of(ecs, instance_id: str):
    body = ecs.describe_network_interfaces(m.DescribeNetworkInterfacesRequest(
        region_id=REGION, instance_id=instance_id)).body
    assert body.total_count == 1, body.to_map()
    return body.network_interface_sets.network_interface_set[0]


def test_instances_get_addresses_in_their_vswitch(fake_lab, fake_ecs, vpc):
    vpc_id, vsw, sg = network(vpc, fake_ecs)
    first = create(fake_ecs, fake_lab.image_id, v_switch_id=vsw, security_group_id=sg)
    second = labkit.run_instance(fake_ecs, fake_lab.image_id, v_switch_id=vsw, security_group_ids=[sg],
                                 private_ip_address="10.20.1.50", internet_max_bandwidth_out=5)
    a, b = labkit.describe(fake_ecs, first), labkit.describe(fake_ecs, second)
    assert (a.vpc_attributes.vpc_id, a.vpc_attributes.v_switch_id) == (vpc_id, vsw)
    assert a.vpc_attributes.private_ip_address.ip_address == ["10.20.1.1"], "the lowest free address"
    assert b.vpc_attributes.private_ip_address.ip_address == ["10.20.1.50"]
    assert a.security_group_ids.security_group_id == [sg] == b.security_group_ids.security_group_id
    assert a.public_ip_address.ip_address == [] and a.internet_max_bandwidth_out == 0
    public = b.public_ip_address.ip_address
    assert len(public) == 1 and ipaddress.ip_address(public[0]) in ipaddress.ip_network("127.16.0.0/12")
    assert b.internet_max_bandwidth_out == 5
    nic = a.network_interfaces.network_interface[0]
    assert nic.network_interface_id.startswith("eni-") and nic.type == "Primary"
    assert nic.mac_address.startswith("00:16:3e:") and nic.primary_ip_address == "10.20.1.1"
    assert nic.mac_address != b.network_interfaces.network_interface[0].mac_address

    attribute = fake_ecs.describe_instance_attribute(m.DescribeInstanceAttributeRequest(instance_id=second)).body
    assert (attribute.instance_id, attribute.status) == (second, b.status)
    assert attribute.vpc_attributes.vpc_id == vpc_id and attribute.vpc_attributes.v_switch_id == vsw
    assert attribute.vpc_attributes.private_ip_address.ip_address == ["10.20.1.50"]
    assert attribute.public_ip_address.ip_address == public and attribute.internet_max_bandwidth_out == 5
    assert attribute.security_group_ids.security_group_id == [sg]
    expect(fake_ecs.describe_instance_attribute, m.DescribeInstanceAttributeRequest(instance_id="i-nothere"), 404,
           "InvalidInstanceId.NotFound")

    listed = interface_of(fake_ecs, first)
    assert (listed.network_interface_id, listed.mac_address, listed.private_ip_address) == \
        (nic.network_interface_id, nic.mac_address, "10.20.1.1")
    assert (listed.vpc_id, listed.v_switch_id, listed.instance_id) == (vpc_id, vsw, first)
    assert listed.security_group_ids.security_group_id == [sg]
    by_vsw = fake_ecs.describe_network_interfaces(m.DescribeNetworkInterfacesRequest(
        region_id=REGION, v_switch_id=vsw)).body
    assert {n.instance_id for n in by_vsw.network_interface_sets.network_interface_set} == {first, second}

    available = vpc.describe_vswitches(v.DescribeVSwitchesRequest(region_id=REGION, v_switch_id=vsw)).body
    assert available.v_switches.v_switch[0].available_ip_address_count == 252


def test_network_parameters_are_checked(fake_lab, fake_ecs, vpc):
    _, vsw, sg = network(vpc, fake_ecs, "10.30.0.0/16", "10.30.1.0/24")
    other_vpc, _, other_sg = network(vpc, fake_ecs, "10.31.0.0/16", "10.31.1.0/24")
    image = fake_lab.image_id
    request = lambda **kw: m.CreateInstanceRequest(region_id=REGION, image_id=image,  # noqa: E731
                                                   instance_type="ecs.lab.tiny", **kw)
    expect(fake_ecs.create_instance, request(v_switch_id="vsw-nothere"), 404, "InvalidVSwitchId.NotFound")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, security_group_id="sg-nothere"), 404,
           "InvalidSecurityGroupId.NotFound")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, security_group_id=other_sg), 400,
           "InvalidSecurityGroupId.VPCMismatch")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, private_ip_address="10.31.1.5"), 400,
           "InvalidPrivateIpAddress.Mismatch")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, private_ip_address="10.30.1.255"), 400,
           "InvalidPrivateIpAddress.Mismatch")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, private_ip_address="10.30.1.x"), 400,
           "InvalidPrivateIpAddress.Malformed")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, internet_max_bandwidth_out=101), 400,
           "InvalidInternetMaxBandwidthOut.Malformed")
    taken = create(fake_ecs, image, v_switch_id=vsw, security_group_id=sg, private_ip_address="10.30.1.9")
    expect(fake_ecs.create_instance, request(v_switch_id=vsw, private_ip_address="10.30.1.9"), 400,
           "InvalidPrivateIpAddress.Duplicated")
    assert labkit.describe(fake_ecs, taken).vpc_attributes.private_ip_address.ip_address == ["10.30.1.9"]
    del other_vpc


def test_default_vpc_vswitch_and_group(fake_lab, fake_ecs, vpc):
    plain = create(fake_ecs, fake_lab.image_id)
    again = create(fake_ecs, fake_lab.image_id)
    a, b = labkit.describe(fake_ecs, plain), labkit.describe(fake_ecs, again)
    assert a.vpc_attributes.vpc_id == b.vpc_attributes.vpc_id
    assert a.vpc_attributes.v_switch_id == b.vpc_attributes.v_switch_id
    assert a.security_group_ids.security_group_id == b.security_group_ids.security_group_id
    default = vpc.describe_vpcs(v.DescribeVpcsRequest(region_id=REGION, is_default=True)).body.vpcs.vpc[0]
    assert default.vpc_id == a.vpc_attributes.vpc_id and default.cidr_block == "172.16.0.0/12"
    vsw = vpc.describe_vswitches(v.DescribeVSwitchesRequest(
        region_id=REGION, v_switch_id=a.vpc_attributes.v_switch_id)).body.v_switches.v_switch[0]
    assert (vsw.cidr_block, vsw.is_default, vsw.zone_id) == ("172.16.0.0/20", True, ZONE)
    ip = ipaddress.ip_address(a.vpc_attributes.private_ip_address.ip_address[0])
    assert ip in ipaddress.ip_network("172.16.0.0/20")
    group = fake_ecs.describe_security_group_attribute(m.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=a.security_group_ids.security_group_id[0])).body
    assert group.vpc_id == default.vpc_id and group.permissions.permission == []


def test_join_leave_allocate_and_dependencies(fake_lab, fake_ecs, vpc):
    vpc_id, vsw, sg = network(vpc, fake_ecs, "10.40.0.0/16", "10.40.1.0/24")
    second = fake_ecs.create_security_group(m.CreateSecurityGroupRequest(
        region_id=REGION, vpc_id=vpc_id)).body.security_group_id
    iid = create(fake_ecs, fake_lab.image_id, v_switch_id=vsw, security_group_id=sg)

    fake_ecs.join_security_group(m.JoinSecurityGroupRequest(region_id=REGION, instance_id=iid,
                                                            security_group_id=second))
    assert labkit.describe(fake_ecs, iid).security_group_ids.security_group_id == [sg, second]
    expect(fake_ecs.join_security_group, m.JoinSecurityGroupRequest(
        region_id=REGION, instance_id=iid, security_group_id=second), 400, "InvalidInstanceId.AlreadyExists")
    fake_ecs.leave_security_group(m.LeaveSecurityGroupRequest(region_id=REGION, instance_id=iid,
                                                              security_group_id=sg))
    assert labkit.describe(fake_ecs, iid).security_group_ids.security_group_id == [second]
    expect(fake_ecs.leave_security_group, m.LeaveSecurityGroupRequest(
        region_id=REGION, instance_id=iid, security_group_id=second), 400,
        "InvalidOperation.InstanceHasOneSecurityGroup")
    expect(fake_ecs.join_security_group, m.JoinSecurityGroupRequest(
        region_id=REGION, instance_id="i-nothere", security_group_id=sg), 404, "InvalidInstanceId.NotFound")

    ip = fake_ecs.allocate_public_ip_address(m.AllocatePublicIpAddressRequest(instance_id=iid)).body.ip_address
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.16.0.0/12")
    assert labkit.describe(fake_ecs, iid).public_ip_address.ip_address == [ip]
    assert fake_ecs.allocate_public_ip_address(m.AllocatePublicIpAddressRequest(instance_id=iid)).body.ip_address == ip, "the address it has"

    expect(vpc.delete_vswitch, v.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw), 400,
           "DependencyViolation")
    expect(fake_ecs.delete_security_group, m.DeleteSecurityGroupRequest(
        region_id=REGION, security_group_id=second), 403, "DependencyViolation")
    labkit.force_delete(fake_ecs, iid)
    assert fake_ecs.describe_network_interfaces(m.DescribeNetworkInterfacesRequest(
        region_id=REGION, instance_id=iid)).body.total_count == 0
    fake_ecs.delete_security_group(m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=second))
    fake_ecs.delete_security_group(m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=sg))
    vpc.delete_vswitch(v.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw))
    vpc.delete_vpc(v.DeleteVpcRequest(region_id=REGION, vpc_id=vpc_id))
