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
import time
import warnings

import pytest
from alibabacloud_ecs20140526 import models as m

import labkit
from conftest import TEST_DRIVER, driver_server  # noqa: F401 (TEST_DRIVER: the libvirt pass reruns this module)
from labkit import REGION


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
    with driver_server(prerequisites, "ecslab-metadata") as lab:
        yield lab


def test_each_guest_reads_its_own_metadata_and_runs_its_user_data(md_lab):
    ecs = md_lab.client()
    _, vsw, sg = labkit.make_network(md_lab, "10.88.0.0/16", "10.88.3.0/24", "v2")
    encoded = base64.b64encode(USER_DATA.encode()).decode()
    asker = labkit.run_instance(ecs, md_lab.image_id, v_switch_id=vsw, security_group_id=sg,
                                host_name="md-asker", user_data=encoded)
    quiet = labkit.run_instance(ecs, md_lab.image_id, v_switch_id=vsw, security_group_id=sg,
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


# Run through Cloud Assistant in the tiny guest: what a read of the instance id answers, without and with a token.
PROBE = r"""MD=http://100.100.100.200
plain=$(timeout 5 wget -q -O - $MD/latest/meta-data/instance-id 2>&1) && echo "plain=$plain" || echo "plain=refused"
tok=$(printf 'PUT /latest/api/token HTTP/1.0\r\nX-aliyun-ecs-metadata-token-ttl-seconds: 30\r\n\r\n' \
    | timeout 5 nc 100.100.100.200 80 | tail -n 1)
with=$(timeout 5 wget -q -O - --header "X-aliyun-ecs-metadata-token: $tok" $MD/latest/meta-data/instance-id 2>&1) \
    && echo "token=$with" || echo "token=refused"
"""


def probe(ecs, instance_id: str) -> dict[str, str]:
    row, _ = labkit.run_command(ecs, instance_id, PROBE, timeout=30)
    assert row.invocation_status == "Success", (row.invocation_status, labkit.command_output(row))
    return dict(line.split("=", 1) for line in labkit.command_output(row).split() if "=" in line)


def metadata_options(ecs, instance_id: str) -> tuple[str, str]:
    row = labkit.describe(ecs, instance_id)
    return row.metadata_options.http_endpoint, row.metadata_options.http_tokens


def test_http_tokens_and_endpoint_as_on_ecs(md_lab):
    """RunInstances HttpTokens=required: the guest's plain reads are refused, token reads answered;
    ModifyInstanceMetadataOptions turns normal mode back on, then the endpoint off; DescribeInstances shows it."""
    ecs = md_lab.client()
    v2 = md_lab.client("v2")
    _, vsw, _ = labkit.make_network(md_lab, "10.89.0.0/16", "10.89.1.0/24")
    bad = labkit.sdk_error(ecs.run_instances, m.RunInstancesRequest(
        region_id=REGION, image_id=md_lab.image_id, instance_type="ecs.lab.tiny", v_switch_id=vsw,
        http_tokens="sometimes"))
    assert (bad.code, bad.status_code) == ("InvalidParameter", 400), bad
    iid = labkit.run_instance(ecs, md_lab.image_id, v_switch_id=vsw, http_tokens="required", http_endpoint="enabled")
    assert metadata_options(v2, iid) == ("enabled", "required")
    # The boot-time plain read of vmtest-userdata is refused too.
    assert "VMTEST-META unreachable" in labkit.wait_console(ecs, iid, "VMTEST-META", timeout=180)
    assert probe(ecs, iid) == {"plain": "refused", "token": iid}

    v2.modify_instance_metadata_options(m.ModifyInstanceMetadataOptionsRequest(
        region_id=REGION, instance_id=iid, http_endpoint="enabled", http_tokens="optional"))
    assert metadata_options(ecs, iid) == ("enabled", "optional")
    assert probe(ecs, iid) == {"plain": iid, "token": iid}, "in effect at once, no restart"

    ecs.modify_instance_metadata_options(m.ModifyInstanceMetadataOptionsRequest(
        region_id=REGION, instance_id=iid, http_endpoint="disabled"))
    assert metadata_options(v2, iid) == ("disabled", "optional"), "HttpTokens left out stays as it was"
    assert probe(ecs, iid) == {"plain": "refused", "token": "refused"}

    for request, code, status in (
        (m.ModifyInstanceMetadataOptionsRequest(region_id=REGION, instance_id=iid), "MissingParameter", 400),
        (m.ModifyInstanceMetadataOptionsRequest(region_id=REGION, instance_id=iid, http_endpoint="off"),
         "InvalidParameter", 400),
        (m.ModifyInstanceMetadataOptionsRequest(region_id=REGION, instance_id=iid, http_endpoint="enabled",
                                                http_put_response_hop_limit=2), "InvalidParameter", 400),
        (m.ModifyInstanceMetadataOptionsRequest(region_id=REGION, instance_id="i-nothere", http_endpoint="enabled"),
         "InvalidInstanceId.NotFound", 404),
    ):
        err = labkit.sdk_error(v2.modify_instance_metadata_options, request)
        assert (err.code, err.status_code) == (code, status), (request.to_map(), err)
    labkit.force_delete(ecs, iid)


def root_hash(ecs, instance_id: str) -> str:
    row, _ = labkit.run_command(ecs, instance_id, "grep '^root:' /etc/shadow | cut -d: -f2", timeout=30)
    return labkit.command_output(row).strip() if row.invocation_status == "Success" else ""


def wait_for_password(ecs, instance_id: str, password: str, timeout: float = 120) -> None:
    """Until the guest's /etc/shadow holds a SHA-512 crypt hash of `password` for root."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    deadline = time.monotonic() + timeout
    while True:
        got = root_hash(ecs, instance_id)
        if got.startswith("$6$") and crypt.crypt(password, got) == got:
            return
        assert time.monotonic() < deadline, f"root's password in {instance_id} is not {password!r}: {got!r}"
        time.sleep(1)


def test_a_password_reaches_the_guest_at_each_boot(md_lab):
    """RunInstances' Password, then ModifyInstanceAttribute's after a restart, through the guest agent
    (the guest has no cloud-init): the guest's shadow entry verifies the password, the server keeps only a hash."""
    ecs = md_lab.client()
    first, second = "Lab-Pass-2026!", "Second#Pass9"
    iid = labkit.run_instance(ecs, md_lab.image_id, password=first)
    labkit.wait_status(ecs, iid, "Running", timeout=120)
    wait_for_password(ecs, iid, first)
    ecs.stop_instance(m.StopInstanceRequest(instance_id=iid))
    labkit.wait_status(ecs, iid, "Stopped", timeout=120)
    ecs.modify_instance_attribute(m.ModifyInstanceAttributeRequest(instance_id=iid, password=second))
    ecs.start_instance(m.StartInstanceRequest(instance_id=iid))
    labkit.wait_status(ecs, iid, "Running", timeout=120)
    wait_for_password(ecs, iid, second)
    stores = list(md_lab.data_dir.glob("*.db*"))
    assert stores and not any(p.encode() in f.read_bytes() for f in stores for p in (first, second))
    labkit.force_delete(ecs, iid)
