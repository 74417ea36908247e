"""Real packets between real guests (issue 11's data path), on the driver under test (scripts/test
runs this file on qemu and again on libvirt), through the official SDKs (VPC with both signature
algorithms, ECS for instances and security groups).

Two guests in VPC A (10.77.0.0/16, one security group with 80/tcp open to 0.0.0.0/0), one in VPC B
with the same CIDR. The test guest gets its address by DHCP and serves a page naming it on port 80
(docs/GUEST.md). Asserted: the DHCP address equals DescribeInstances' PrivateIpAddress; the host
fetches each page at the instance's public address (127.16.0.0/12 by default, nothing leaves the
host); A1 fetches A2's page at its private address (same group: allowed by default); B1 cannot
reach it (different VPC, isolated although the CIDRs overlap); DescribeInstanceMonitorData counts
the traffic (A2's Internet TX holds the pages the host fetched through its public address, A1's
Intranet RX the pages it fetched from A2; samples every 2 s); a revoked rule stops the host's
fetch within seconds and an authorized one brings it back; all of it survives a server restart;
DeleteVSwitch and DeleteVpc are refused while instances use them, then succeed, and the VPCs'
network namespaces are gone.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_vpc20160428 import models as v

import labkit
from conftest import TEST_DRIVER, driver_server
from labkit import REGION

ZONE = f"{REGION}-a"
CIDR, VSW_CIDR = "10.77.0.0/16", "10.77.1.0/24"
MONITOR_INTERVAL = 2


@pytest.fixture(scope="module")
def net_lab(prerequisites):
    with driver_server(prerequisites, "ecslab-net", ("--monitor-interval-secs", str(MONITOR_INTERVAL))) as lab:
        yield lab


def fetch(ip: str, timeout: float = 3) -> str:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"http://{ip}/", timeout=timeout) as r:
        return r.read().decode()


def fetch_until(ip: str, ok: bool, limit: float = 10) -> float:
    """Seconds until fetching `ip` succeeds (ok) or fails (not ok)."""
    started = time.monotonic()
    while True:
        try:
            fetch(ip, timeout=1)
            worked = True
        except OSError:
            worked = False
        if worked == ok:
            return time.monotonic() - started
        assert time.monotonic() - started < limit, f"fetching {ip} still {'fails' if ok else 'works'} after {limit} s"
        time.sleep(0.2)


def traffic(ecs, instance_id: str) -> dict[str, int]:
    """The instance's traffic fields summed over the last 20 minutes' points (kbits; bandwidth: the highest)."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    points = ecs.describe_instance_monitor_data(m.DescribeInstanceMonitorDataRequest(
        instance_id=instance_id, start_time=(now - timedelta(minutes=20)).strftime(stamp),
        end_time=(now + timedelta(minutes=1)).strftime(stamp), period=60)).body.monitor_data.instance_monitor_data
    assert points, instance_id
    sums = {"points": len(points)}
    for field in ("intranet_rx", "intranet_tx", "internet_rx", "internet_tx"):
        values = [getattr(p, field) for p in points]
        assert None not in values, (field, [p.to_map() for p in points])
        sums[field] = sum(values)
    for field in ("intranet_bandwidth", "internet_bandwidth"):
        sums[field] = max(getattr(p, field) for p in points)
    return sums


def dhcp_address(ecs, instance_id: str) -> str:
    text = labkit.wait_console(ecs, instance_id, "VMTEST-NET ip=", timeout=180)
    return re.search(r"VMTEST-NET ip=([0-9.]+)/", text).group(1)


def test_guests_on_the_network(net_lab):
    ecs = net_lab.client("v2")
    vpc_acs3, vpc_v2 = labkit.vpc_client(net_lab), labkit.vpc_client(net_lab, "v2")
    networks = {}
    for name, vpc in (("a", vpc_acs3), ("b", vpc_v2)):
        vpc_id = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, cidr_block=CIDR)).body.vpc_id
        vsw = vpc.create_vswitch(v.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=ZONE,
                                                        cidr_block=VSW_CIDR)).body.v_switch_id
        sg = ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id)).body
        networks[name] = (vpc_id, vsw, sg.security_group_id)
    open_80 = dict(region_id=REGION, ip_protocol="tcp", port_range="80/80", source_cidr_ip="0.0.0.0/0")
    for _, _, sg in networks.values():
        ecs.authorize_security_group(m.AuthorizeSecurityGroupRequest(security_group_id=sg, **open_80))

    guests = {}
    for name, net in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        _, vsw, sg = networks[net]
        guests[name] = labkit.run_instance(ecs, net_lab.image_id, v_switch_id=vsw, security_group_id=sg,
                                           internet_max_bandwidth_out=1, instance_name=f"net-{name}")
    private, public = {}, {}
    for name, iid in guests.items():
        labkit.wait_status(ecs, iid, "Running", timeout=120)
        row = labkit.describe(ecs, iid)
        private[name] = row.vpc_attributes.private_ip_address.ip_address[0]
        public[name] = row.public_ip_address.ip_address[0]
        assert dhcp_address(ecs, iid) == private[name], f"{name}: the guest's DHCP address is what ECS shows"
    assert private["a1"] != private["a2"]

    for name in ("a1", "a2", "b1"):
        page = fetch(public[name], timeout=10)
        assert f"VMTEST-HTTP ip={private[name]} " in page, page
        # The guest reads its instance id from SMBIOS (serial), as an ECS instance's "Alibaba Cloud ECS" machine.
        assert f" id={guests[name]} " in page, page

    def a1_reaches_a2():
        labkit.run_guest_command(net_lab, ecs, guests["a1"], f"timeout 8 wget -qO- http://{private['a2']}/",
                                 f"VMTEST-HTTP ip={private['a2']} ", timeout=30)

    a1_reaches_a2()
    # B1 sits in another VPC with the same CIDR: A2's address is nobody there.
    marker = labkit.run_guest_command(
        net_lab, ecs, guests["b1"], f"timeout 4 wget -qO- http://{private['a2']}/ || echo ISOLATED-$((40+2))",
        "ISOLATED-42", timeout=30)
    assert f"VMTEST-HTTP ip={private['a2']} " not in marker.split("ISOLATED")[0][-400:]

    # Traffic in DescribeInstanceMonitorData: the host fetches A2's page 20 more times through its public
    # address (22 in all), A1 fetches it 10 more times at its private address (11 in all).
    page_bits = len(fetch(public["a2"], timeout=10).encode()) * 8
    for _ in range(20):
        fetch(public["a2"], timeout=10)
    labkit.run_guest_command(
        net_lab, ecs, guests["a1"],
        f"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{private['a2']}/ >/dev/null; done; echo FETCHED-$((5+5))",
        "FETCHED-10", timeout=60)
    time.sleep(2 * MONITOR_INTERVAL + 1)
    a1, a2 = traffic(ecs, guests["a1"]), traffic(ecs, guests["a2"])
    print(f"\ntraffic (kbits): a1 {a1}, a2 {a2}")
    # The public address's TCP payload: the 22 pages and their HTTP headers, each point rounded to a kbit.
    assert 22 * page_bits / 1000 - a2["points"] <= a2["internet_tx"] <= 22 * (page_bits + 8 * 1024) / 1000, a2
    assert 0 < a2["internet_rx"] < a2["internet_tx"] and a2["internet_bandwidth"] > 0, a2
    # A1's NIC brought it the 11 pages from A2 over the private network; its one public fetch is Internet.
    assert a1["intranet_rx"] >= 11 * page_bits / 1000 - a1["points"], a1
    assert a1["intranet_tx"] > 0 and a1["intranet_bandwidth"] > 0, a1
    assert a1["internet_tx"] <= 2 * (page_bits + 8 * 1024) / 1000 < a2["internet_tx"], (a1, a2)

    _, _, sg_a = networks["a"]
    ecs.revoke_security_group(m.RevokeSecurityGroupRequest(security_group_id=sg_a, **open_80))
    closed_after = fetch_until(public["a1"], ok=False)
    ecs.authorize_security_group(m.AuthorizeSecurityGroupRequest(security_group_id=sg_a, **open_80))
    open_after = fetch_until(public["a1"], ok=True)
    print(f"\nrule revoked: host fetch fails after {closed_after:.2f} s; authorized again: works after {open_after:.2f} s")

    labkit.restart_server(net_lab)
    ecs = net_lab.client("v2")
    fetch_until(public["a1"], ok=True, limit=30)
    assert f"VMTEST-HTTP ip={private['a2']} " in fetch(public["a2"], timeout=10)
    a1_reaches_a2()

    vpc_a, vsw_a, _ = networks["a"]
    e = labkit.sdk_error(vpc_acs3.delete_vswitch, v.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw_a))
    assert (e.status_code, e.code) == (400, "DependencyViolation")
    e = labkit.sdk_error(vpc_v2.delete_vpc, v.DeleteVpcRequest(region_id=REGION, vpc_id=vpc_a))
    assert (e.status_code, e.code) == (400, "DependencyViolation")
    for iid in guests.values():
        labkit.force_delete(ecs, iid)
    for vpc_id, vsw, sg in networks.values():
        ecs.delete_security_group(m.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=sg))
        vpc_acs3.delete_vswitch(v.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw))
        vpc_v2.delete_vpc(v.DeleteVpcRequest(region_id=REGION, vpc_id=vpc_id))
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for vpc_id, _, _ in networks.values():
        assert vpc_id not in namespaces, namespaces


@pytest.mark.skipif(TEST_DRIVER == "libvirt", reason="libvirt 9.0 forwards no port of a user-mode NIC (docs/API.md)")
def test_user_mode_fallback(prerequisites):
    """`--network user` (what a server that cannot make namespaces falls back to): the guest still gets its
    PrivateIpAddress by DHCP, and its public address answers the port its rules opened before it booted."""
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="qemu", extra_args=["--stop-grace-secs", "5", "--network", "user"],
                              name="ecslab-usernet")
    try:
        ecs, vpc = lab.client(), labkit.vpc_client(lab, "v2")
        vpc_id = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, cidr_block="192.168.0.0/16")).body.vpc_id
        vsw = vpc.create_vswitch(v.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=ZONE,
                                                        cidr_block="192.168.9.0/24")).body.v_switch_id
        sg = ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id)).body
        ecs.authorize_security_group(m.AuthorizeSecurityGroupRequest(
            region_id=REGION, security_group_id=sg.security_group_id, ip_protocol="tcp", port_range="80/80",
            source_cidr_ip="0.0.0.0/0"))
        iid = labkit.run_instance(ecs, lab.image_id, v_switch_id=vsw, security_group_id=sg.security_group_id,
                                  private_ip_address="192.168.9.20", internet_max_bandwidth_out=1)
        labkit.wait_status(ecs, iid, "Running", timeout=120)
        row = labkit.describe(ecs, iid)
        assert dhcp_address(ecs, iid) == "192.168.9.20" == row.vpc_attributes.private_ip_address.ip_address[0]
        fetch_until(row.public_ip_address.ip_address[0], ok=True, limit=30)
        assert "VMTEST-HTTP ip=192.168.9.20 " in fetch(row.public_ip_address.ip_address[0], timeout=10)
        assert "user-mode networking" in lab.log_path.read_text()
    finally:
        labkit.stop_server(lab)
