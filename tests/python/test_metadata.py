"""The instance metadata service at 100.100.100.200 (issue 12), from inside real guests, on the driver under
test (scripts/test runs this file on qemu and again on libvirt), through the official SDK.

Two tiny test guests in one VPC. At boot the guest asks the metadata service who it is and fetches its
`/latest/user-data`, running it when it is a script (scripts/guest/vmtest-userdata, docs/GUEST.md). Asserted:
each guest is told its own instance id (the service knows the asker by its source address, which the filter
pins to its own tap); the script given as UserData runs, its exit status is reported, and from inside it the
guest reads items under both versions, gets a token in security-hardening mode (PUT /latest/api/token), reads
with it, and is refused with a forged one; the other guest, without UserData, has none; DescribeUserData gives
the UserData back as it was sent.
"""

from __future__ import annotations

import base64
import re

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_vpc20160428 import models as v

import labkit
from conftest import LIBVIRT_URI, TEST_DRIVER
from labkit import REGION

ZONE = f"{REGION}-a"

# Runs in the guest (busybox sh). The token request is raw HTTP through nc: busybox wget cannot PUT.
USER_DATA = r"""#!/bin/sh
MD=http://100.100.100.200
get() { timeout 5 wget -q -O - "$@"; }
echo "VMTEST-UD host=$(get $MD/latest/meta-data/hostname) vsw=$(get $MD/2016-01-01/meta-data/vswitch-id)"
tok=$(printf 'PUT /latest/api/token HTTP/1.0\r\nX-aliyun-ecs-metadata-token-ttl-seconds: 60\r\n\r\n' \
    | timeout 5 nc 100.100.100.200 80 | tail -n 1)
echo "VMTEST-UD token-read=$(get --header "X-aliyun-ecs-metadata-token: $tok" $MD/latest/meta-data/instance-id)"
if get --header "X-aliyun-ecs-metadata-token: forged" $MD/latest/meta-data/instance-id >/dev/null 2>&1; then
    echo "VMTEST-UD forged=accepted"
else
    echo "VMTEST-UD forged=refused"
fi
exit 7
"""


@pytest.fixture(scope="module")
def md_lab(prerequisites):
    binary, image = prerequisites
    extra = ["--stop-grace-secs", "5"]
    if TEST_DRIVER == "libvirt":
        extra += ["--libvirt-uri", LIBVIRT_URI]
    lab = labkit.start_server(binary, image, driver=TEST_DRIVER, extra_args=extra, name="ecslab-metadata")
    try:
        yield lab
    finally:
        labkit.stop_server(lab)


def test_each_guest_reads_its_own_metadata_and_runs_its_user_data(md_lab):
    ecs = md_lab.client()
    vpc = labkit.vpc_client(md_lab, "v2")
    vpc_id = vpc.create_vpc(v.CreateVpcRequest(region_id=REGION, cidr_block="10.88.0.0/16")).body.vpc_id
    vsw = vpc.create_vswitch(v.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=ZONE,
                                                    cidr_block="10.88.3.0/24")).body.v_switch_id
    sg = ecs.create_security_group(m.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id)).body
    encoded = base64.b64encode(USER_DATA.encode()).decode()
    asker = labkit.run_instance(ecs, md_lab.image_id, v_switch_id=vsw, security_group_id=sg.security_group_id,
                                host_name="md-asker", user_data=encoded)
    quiet = labkit.run_instance(ecs, md_lab.image_id, v_switch_id=vsw, security_group_id=sg.security_group_id,
                                host_name="md-quiet")

    text = labkit.wait_console(ecs, asker, "VMTEST-USERDATA", timeout=180)
    assert f"VMTEST-META id={asker}\n" in text.replace("\r", ""), text[-2000:]
    assert "VMTEST-USERDATA ran rc=7" in text, "the script ran and its exit status is reported"
    assert f"VMTEST-UD host=md-asker vsw={vsw}" in text, "items under latest/ and 2016-01-01/"
    assert f"VMTEST-UD token-read={asker}" in text, "a token from PUT /latest/api/token reads"
    assert "VMTEST-UD forged=refused" in text, "a forged token is refused"

    other = labkit.wait_console(ecs, quiet, "VMTEST-USERDATA", timeout=180).replace("\r", "")
    assert f"VMTEST-META id={quiet}\n" in other, "each guest is told its own id"
    assert asker not in other
    assert "VMTEST-USERDATA none" in other

    got = ecs.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=asker)).body
    assert (got.instance_id, got.user_data) == (asker, encoded)
    empty = ecs.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=quiet)).body
    assert not empty.user_data
    for iid in (asker, quiet):
        labkit.force_delete(ecs, iid)
    assert re.match(r"^i-", asker)
