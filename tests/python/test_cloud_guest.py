"""Issue 12's "A real cloud guest", end to end: the Debian 12 cloud image (scripts/build-cloud-guest) on the driver
under test (scripts/test runs this file on qemu and again on libvirt), through the official SDKs.

One guest per driver for every step, because a Debian boot under TCG takes about a minute. Both signature
algorithms: setup calls (key pair, VPC, security group, RunInstances) go out as ACS3-HMAC-SHA256, the checks (user
data, Cloud Assistant, snapshot, screenshot) as RPC HMAC-SHA1.

1. CreateKeyPair: PrivateKeyBody (PEM), KeyPairFingerPrint = MD5 of the public key's wire form (what
   `ssh-keygen -l -E md5` prints). A VPC, a vSwitch and a security group with 22/tcp open to 0.0.0.0/0.
2. RunInstances with KeyPairName, HostName, InternetMaxBandwidthOut and a UserData shell script that writes a marker
   holding the instance id the guest reads from SMBIOS. Running; the login prompt on the serial console.
3. GetInstanceScreenshot: the VGA console shows text (the login prompt), not a uniform screen.
4. SSH as root with the returned private key to PublicIpAddress:22 (paramiko, bounded retry while sshd starts):
   cloud-init chose the AliYun datasource by itself (cloud-id), the host name is HostName, the marker is there.
   DescribeUserData gives back the UserData as sent.
5. RunCommand `cat /etc/os-release; id` -> Success, ExitCode 0 and the output; `exit 3` -> Failed, ExitCode 3;
   `sleep 60` with Timeout 5 -> Timeout (ExecutionTimeout) within seconds, and the sleep is gone from the guest.
6. CreateSnapshot of the system disk while the guest writes: qemu-guest-agent's journal shows the freeze
   ("guest-fsfreeze called"; qemu-ga 7.2 logs no line for the thaw), and the writer goes on afterwards (thawed).

Skipped when the cloud image has not been built (scripts/build-cloud-guest; cached per machine) or with
ECSLAB_SKIP_CLOUD_GUEST=1. ECSLAB_CLOUD_GUEST=path/to/image.qcow2 tests another image.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models as m
from cryptography.hazmat.primitives import serialization

import labkit
from conftest import TEST_DRIVER, driver_server
from labkit import REGION

HOST_NAME = "cloud-e2e"
BOOT_TIMEOUT = 600  # seconds: a Debian boot under TCG on a busy 2-core machine


def cloud_image() -> Path | None:
    """ECSLAB_CLOUD_GUEST (a qcow2), else scripts/build-cloud-guest's cached output; None when not built or
    ECSLAB_SKIP_CLOUD_GUEST=1."""
    if os.environ.get("ECSLAB_SKIP_CLOUD_GUEST") == "1":
        return None
    if path := os.environ.get("ECSLAB_CLOUD_GUEST"):
        return Path(path) if Path(path).is_file() else None
    out = subprocess.run([str(labkit.ROOT / "scripts" / "build-cloud-guest"), "--path"], capture_output=True,
                         text=True, check=True).stdout.strip()
    image = Path(out) / "cloud.qcow2"
    return image if image.is_file() else None


@pytest.fixture(scope="module")
def cloud_lab(prerequisites):
    image = cloud_image()
    if image is None:
        pytest.skip("the Debian cloud guest is not built (scripts/build-cloud-guest, cached per machine) "
                    "or ECSLAB_SKIP_CLOUD_GUEST=1")
    started = time.monotonic()
    try:
        with driver_server(prerequisites, "ecslab-cloud") as lab:
            lab.extra["cloud_image_id"] = labkit.import_image(lab, prerequisites[0], image, "debian-12-cloud")
            yield lab
    finally:
        print(f"\n[test_cloud_guest] driver {TEST_DRIVER}: module took {time.monotonic() - started:.0f} s")


def ssh_banner(ip: str) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=3) as s:
            s.settimeout(5)
            return s.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


def wait_until(what: str, check, timeout: float, every: float = 2):
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(every)


class Guest:
    """An SSH session as root with the key pair's private key."""

    def __init__(self, ip: str, key):
        import paramiko

        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(ip, 22, username="root", pkey=key, timeout=20, banner_timeout=60, auth_timeout=60,
                            allow_agent=False, look_for_keys=False)

    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        _, out, err = self.client.exec_command(command, timeout=timeout)
        text = out.read().decode(errors="replace") + err.read().decode(errors="replace")
        return out.channel.recv_exit_status(), text

    def close(self):
        self.client.close()


def ssh_login(ip: str, key) -> Guest | None:
    """A session, or None while sshd is not ready: cloud-init restarts sshd during first boot (its ssh and
    set-passwords modules), so a connection made then can be reset, and a guest going down for a reboot can close
    one in the middle of the key exchange (paramiko's EOFError)."""
    import paramiko
    try:
        return Guest(ip, key)
    except (paramiko.SSHException, OSError, EOFError):
        return None


def screen_has_text(jpeg: bytes) -> tuple[bool, str]:
    """Text on the VGA console: some bright pixels (glyphs), most dark (background), more than a few colours."""
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg)).convert("L")
    pixels = img.tobytes()  # one byte per pixel in mode "L"
    bright = sum(1 for p in pixels if p >= 128) / len(pixels)
    levels = len(set(pixels))
    summary = f"{img.width}x{img.height}, bright {bright:.2%}, {levels} grey levels"
    return 0.001 < bright < 0.5 and levels >= 8, summary


def test_debian_cloud_guest_end_to_end(cloud_lab):
    import paramiko

    acs3, v2 = cloud_lab.client(), cloud_lab.client("v2")
    timings = {}

    # ---- 1. key pair, network, security group ----------------------------------------------------------
    pair = acs3.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name="cloud-e2e-key")).body
    assert pair.key_pair_name == "cloud-e2e-key"
    assert pair.private_key_body.startswith("-----BEGIN "), pair.private_key_body[:40]
    # PKCS#1 ("BEGIN RSA PRIVATE KEY", what ECS returns) or PKCS#8: cryptography reads both.
    key = paramiko.RSAKey(key=serialization.load_pem_private_key(pair.private_key_body.encode(), None))
    assert pair.key_pair_finger_print == ":".join(f"{b:02x}" for b in hashlib.md5(key.asbytes()).digest())

    _, vsw, sg_id = labkit.make_network(cloud_lab, "10.88.0.0/16", "10.88.1.0/24")
    acs3.authorize_security_group(m.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=sg_id, ip_protocol="tcp", port_range="22/22",
        source_cidr_ip="0.0.0.0/0"))

    # ---- 2. RunInstances with the key pair and a user-data script ---------------------------------------
    script = ("#!/bin/sh\n"
              "echo \"ECSLAB-MARKER $(cat /sys/class/dmi/id/product_serial)\" > /root/ecslab-marker\n")
    user_data = base64.b64encode(script.encode()).decode()
    t0 = time.monotonic()
    iid = labkit.run_instance(acs3, cloud_lab.extra["cloud_image_id"], instance_type="ecs.lab.small",
                              v_switch_id=vsw, security_group_id=sg_id, internet_max_bandwidth_out=1,
                              key_pair_name="cloud-e2e-key", host_name=HOST_NAME, user_data=user_data,
                              instance_name="debian-cloud-e2e")
    row = labkit.wait_status(acs3, iid, "Running", timeout=180)
    public_ip = row.public_ip_address.ip_address[0]
    assert row.key_pair_name == "cloud-e2e-key"
    labkit.wait_console(v2, iid, f"{HOST_NAME} login:", timeout=BOOT_TIMEOUT)
    timings["login prompt"] = time.monotonic() - t0

    # ---- 3. the screenshot shows the console's text ----------------------------------------------------
    # getty on tty1 starts with the serial one: give it a few seconds (and respect the screenshot throttle).
    def screenshot_with_text():
        shot = v2.get_instance_screenshot(m.GetInstanceScreenshotRequest(region_id=REGION, instance_id=iid)).body
        has_text, summary = screen_has_text(base64.b64decode(shot.screenshot, validate=True))
        screens.append(summary)
        return has_text

    screens: list[str] = []
    try:
        wait_until("console text on the screenshot", screenshot_with_text, 30, every=3)
    except AssertionError as e:
        raise AssertionError(f"{e}; screenshots seen: {screens}") from None

    # ---- 4. SSH with the key pair: cloud-init, host name, user data ------------------------------------
    wait_until(f"sshd at {public_ip}:22", lambda: ssh_banner(public_ip), BOOT_TIMEOUT)
    timings["sshd"] = time.monotonic() - t0
    guest = wait_until("an SSH login as root with the key pair", lambda: ssh_login(public_ip, key), BOOT_TIMEOUT)
    try:
        marker = wait_until("the user-data marker", lambda: guest.run("cat /root/ecslab-marker 2>/dev/null")[1],
                            BOOT_TIMEOUT)
        timings["user data ran"] = time.monotonic() - t0
        assert marker.strip() == f"ECSLAB-MARKER {iid}"
        assert guest.run("cat /run/cloud-init/cloud-id")[1].strip() == "aliyun"
        assert guest.run("hostname")[1].strip() == HOST_NAME
        body = v2.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=iid)).body
        assert (body.instance_id, body.user_data) == (iid, user_data)

        # ---- 5. Cloud Assistant over the guest agent ---------------------------------------------------
        ok, _ = labkit.run_command(v2, iid, "cat /etc/os-release; id")
        output = base64.b64decode(ok.output).decode()
        assert (ok.invocation_status, ok.exit_code) == ("Success", 0), (ok.invocation_status, ok.error_code, output)
        assert 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in output and "uid=0(root)" in output, output

        failed, _ = labkit.run_command(v2, iid, "echo before-exit; exit 3")
        assert (failed.invocation_status, failed.exit_code, failed.error_code) == ("Failed", 3, "ExitCodeNonzero")
        assert "before-exit" in base64.b64decode(failed.output).decode()

        slow, took = labkit.run_command(v2, iid, "sleep 60", timeout=5)
        assert (slow.invocation_status, slow.error_code) == ("Timeout", "ExecutionTimeout"), slow.to_map()
        assert took < 40, f"a 5 s Timeout took {took:.0f} s to show"
        assert guest.run("pgrep -x sleep -a | grep 'sleep 60' || echo none")[1].strip() == "none"

        # ---- 6. a snapshot while the guest writes freezes its file systems ----------------------------
        guest.run("nohup sh -c 'while :; do date +%s.%N >> /root/writes; sleep 0.2; done' >/dev/null 2>&1 &")
        wait_until("the writer", lambda: guest.run("test -s /root/writes && echo yes")[1].strip() == "yes", 30, 0.5)
        system_disk = labkit.instance_disks(v2, iid)[0]
        snap = labkit.snapshot_now(v2, system_disk, snapshot_name="cloud-e2e-while-writing")
        assert snap.startswith("s-")
        journal = guest.run("journalctl -u qemu-guest-agent --no-pager -o cat")[1]
        assert "guest-fsfreeze called" in journal, journal[-2000:]
        lines_before = int(guest.run("wc -l < /root/writes")[1])
        time.sleep(2)
        assert int(guest.run("wc -l < /root/writes")[1]) > lines_before, "the guest stopped writing: not thawed?"
    finally:
        guest.close()

    # ---- 7. AttachKeyPair while Running takes effect at the next boot, as on ECS (through the guest agent) ----
    other = acs3.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name="cloud-e2e-key-2")).body
    other_key = paramiko.RSAKey(key=serialization.load_pem_private_key(other.private_key_body.encode(), None))
    attached = v2.attach_key_pair(m.AttachKeyPairRequest(region_id=REGION, key_pair_name="cloud-e2e-key-2",
                                                         instance_ids=json.dumps([iid]))).body
    assert (attached.total_count, attached.fail_count) == ("1", "0"), attached.to_map()
    t0 = time.monotonic()
    acs3.reboot_instance(m.RebootInstanceRequest(instance_id=iid))
    renewed = wait_until("an SSH login with the newly attached key pair", lambda: ssh_login(public_ip, other_key),
                         BOOT_TIMEOUT)
    timings["reboot until the new key logs in"] = time.monotonic() - t0
    try:
        assert renewed.run("cat /root/ecslab-marker")[1].strip() == f"ECSLAB-MARKER {iid}"
    finally:
        renewed.close()
    assert ssh_login(public_ip, key) is None, "the replaced key pair no longer logs in"

    print(f"\n[test_cloud_guest] driver {TEST_DRIVER}: " + ", ".join(f"{k} {t:.0f} s" for k, t in timings.items()))
    labkit.force_delete(acs3, iid)
    e = labkit.sdk_error(acs3.describe_instance_attribute,
                         m.DescribeInstanceAttributeRequest(instance_id=iid))
    assert e.code == "InvalidInstanceId.NotFound", json.dumps(e.data)
