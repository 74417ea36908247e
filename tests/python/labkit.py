"""Helpers shared by the ecslab SDK tests: starting a server, SDK clients, waiting, signing raw
RPC requests by hand, and cleaning up VMs.

Nothing here builds anything: the server binary and the guest image must exist already
(`cargo build`, `scripts/build-guest-image`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

# The SDK reads HTTP(S)_PROXY on every call and ignores NO_PROXY: 127.0.0.1 would go to a proxy.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)

from alibabacloud_ecs20140526 import models as ecs_models  # noqa: E402
from alibabacloud_ecs20140526.client import Client as EcsClient  # noqa: E402
from alibabacloud_tea_openapi import utils_models as open_api_models  # noqa: E402
from darabonba.runtime import RuntimeOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REGION = "local"
ECS_VERSION = "2014-05-26"
# (pytest id, Config.signature_algorithm): the SDK default is ACS3-HMAC-SHA256, 'v2' is RPC HMAC-SHA1.
ALGORITHMS = [("acs3", None), ("v2", "v2")]


def server_binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return Path(os.environ.get("ECSLAB_BIN") or target / "debug" / "ecslab")


def guest_image() -> Path:
    return Path(os.environ.get("ECSLAB_GUEST_DIR") or ROOT / "build" / "guest") / "guest.qcow2"


def check_prerequisites() -> tuple[Path, Path]:
    """The server binary and the guest image, or a clear failure naming how to get them."""
    binary, image = server_binary(), guest_image()
    problems = []
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        problems.append(f"ecslab binary not found at {binary}: run `cargo build` (or set ECSLAB_BIN)")
    if not image.is_file():
        problems.append(f"guest image not found at {image}: run `scripts/build-guest-image` (or set ECSLAB_GUEST_DIR)")
    if problems:
        raise RuntimeError("; ".join(problems))
    return binary, image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """One running `ecslab serve` with an imported guest image."""

    endpoint: str
    access_key_id: str
    access_key_secret: str
    data_dir: Path
    image_id: str = ""
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    driver: str = "qemu"
    extra: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.endpoint.split(":")[0]

    @property
    def port(self) -> int:
        return int(self.endpoint.split(":")[1])

    def client(self, algorithm: str | None = None, *, access_key_id: str | None = None,
               access_key_secret: str | None = None) -> EcsClient:
        return make_client(self.endpoint, access_key_id or self.access_key_id,
                           access_key_secret or self.access_key_secret, algorithm)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def make_client(endpoint: str, ak: str, secret: str, algorithm: str | None) -> EcsClient:
    kwargs = dict(access_key_id=ak, access_key_secret=secret, region_id=REGION,
                  endpoint=endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return EcsClient(open_api_models.Config(**kwargs))


def vpc_client(lab: Lab, algorithm: str | None = None):
    """A VPC 2016-04-28 client (`alibabacloud_vpc20160428`) of `lab`: same endpoint and keys as ECS."""
    from alibabacloud_vpc20160428.client import Client as VpcClient
    kwargs = dict(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret, region_id=REGION,
                  endpoint=lab.endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return VpcClient(open_api_models.Config(**kwargs))


def make_network(lab: Lab, cidr: str, vswitch_cidr: str, algorithm: str | None = None) -> tuple[str, str, str]:
    """A VPC, a vSwitch in the region's zone and a security group in the VPC (through the SDKs); their ids."""
    from alibabacloud_vpc20160428 import models as vpc_models
    vpc = vpc_client(lab, algorithm)
    vpc_id = vpc.create_vpc(vpc_models.CreateVpcRequest(region_id=REGION, cidr_block=cidr)).body.vpc_id
    vsw = vpc.create_vswitch(vpc_models.CreateVSwitchRequest(region_id=REGION, vpc_id=vpc_id, zone_id=f"{REGION}-a",
                                                             cidr_block=vswitch_cidr)).body.v_switch_id
    sg = lab.client(algorithm).create_security_group(
        ecs_models.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id)).body.security_group_id
    return vpc_id, vsw, sg


def start_server(binary: Path, image: Path, *, driver: str = "qemu", extra_args: list[str] = (),
                 name: str = "ecslab") -> Lab:
    """Start a server on a free port in a fresh data dir, wait for it, import the guest image."""
    # Short path: QEMU's unix sockets live under DATA_DIR/vms/<id>/ and sun_path is 107 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")
    args = [str(binary), "serve", "--listen", endpoint, "--data-dir", str(data_dir), "--accel", "tcg",
            "--region", REGION, "--driver", driver, *extra_args]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    lab = Lab(endpoint=endpoint, access_key_id="", access_key_secret="", data_dir=data_dir,
              process=process, log_path=log_path, driver=driver)
    lab.extra["serve_args"] = args
    try:
        creds_path = data_dir / "admin-credentials.json"
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ecslab serve exited with {process.returncode}:\n{lab.log_tail()}")
            if creds_path.exists() and SERVING in log_path.read_text(errors="replace") and _port_open(port):
                try:
                    creds = json.loads(creds_path.read_text())
                    break
                except ValueError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ecslab serve did not come up within 30 s:\n{lab.log_tail()}")
            time.sleep(0.05)
        lab.access_key_id = creds["AccessKeyId"]
        lab.access_key_secret = creds["AccessKeySecret"]
        lab.image_id = import_image(lab, binary, image, "vmtest-guest")
    except BaseException:
        stop_server(lab)
        raise
    return lab


# What `ecslab serve` logs once its listener is bound.
SERVING = "ecslab serving"


def _port_open(port: int) -> bool:
    """True once something listens on 127.0.0.1:port. A connect to a loopback port nobody listens on can land on
    itself (TCP simultaneous open, when the kernel picks that port as the source port): that is not a listener."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0 and s.getsockname() != s.getpeername()


def import_image(lab: Lab, binary: Path, image: Path, name: str, bucket: str | None = None) -> str:
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=lab.access_key_id,
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=lab.access_key_secret)
    out = subprocess.run(
        [str(binary), "images", "import", "--name", name, "--data-dir", str(lab.data_dir),
         "--endpoint", lab.endpoint, *(["--bucket", bucket] if bucket else []), str(image)],
        env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"ecslab images import failed ({out.returncode}): {out.stderr}\n{lab.log_tail()}")
    image_id = out.stdout.strip()
    if not image_id.startswith("m-"):
        raise RuntimeError(f"ecslab images import printed {out.stdout!r}")
    return image_id


def delete_all_instances(lab: Lab, timeout: float = 60) -> list[str]:
    """DeleteInstance(Force) every instance of the lab; waits out transitional states.
    Returns the ids it could not delete."""
    client = lab.client()
    deadline = time.monotonic() + timeout
    left: list[str] = []
    while True:
        try:
            instances = list_instances(client)
        except Exception:  # server gone: nothing more to do through the API
            return [i for i in left]
        left = []
        for inst in instances:
            if inst.status in ("Pending", "Starting"):
                left.append(inst.instance_id)
                continue
            try:
                client.delete_instance(ecs_models.DeleteInstanceRequest(instance_id=inst.instance_id, force=True))
            except Exception:
                left.append(inst.instance_id)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def list_instances(client: EcsClient, **filters) -> list:
    """Every instance matching the filters, walking NextToken pages."""
    out, token = [], None
    while True:
        req = ecs_models.DescribeInstancesRequest(region_id=REGION, max_results=100, next_token=token, **filters)
        body = client.describe_instances(req).body
        out.extend(body.instances.instance)
        token = body.next_token
        if not token:
            return out


def qemu_pids_for(data_dir: Path) -> list[int]:
    pids = []
    marker = str(data_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv0 = cmdline.split(b"\0", 1)[0]
        if b"qemu-system-x86_64" in argv0 and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_leftover_qemu(data_dir: Path) -> list[int]:
    pids = qemu_pids_for(data_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def stop_server(lab: Lab, *, keep_data: bool = False) -> dict:
    """Delete every instance, SIGTERM the server, kill leftover QEMU of its data dir."""
    report = {"undeleted": [], "killed_qemu": []}
    if lab.process is not None and lab.process.poll() is None:
        report["undeleted"] = delete_all_instances(lab)
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            lab.process.kill()
            lab.process.wait(timeout=5)
    report["killed_qemu"] = kill_leftover_qemu(lab.data_dir)
    if not keep_data and not os.environ.get("ECSLAB_KEEP_DATA"):
        shutil.rmtree(lab.data_dir, ignore_errors=True)
    return report


# ---- SDK conveniences ------------------------------------------------------------------------


def describe(client: EcsClient, instance_id: str):
    """The instance as DescribeInstances shows it, or None."""
    body = client.describe_instances(ecs_models.DescribeInstancesRequest(
        region_id=REGION, instance_ids=json.dumps([instance_id]))).body
    found = body.instances.instance
    return found[0] if found else None


def wait_status(client: EcsClient, instance_id: str, wanted: str, timeout: float = 60, seen: list | None = None):
    """Poll until the instance has status `wanted`; `seen` collects every status observed."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        inst = describe(client, instance_id)
        last = inst.status if inst else None
        if seen is not None and (not seen or seen[-1] != last):
            seen.append(last)
        if last == wanted:
            return inst
        if time.monotonic() > deadline:
            raise AssertionError(f"{instance_id} did not become {wanted} within {timeout} s (last {last}, seen {seen})")
        time.sleep(0.1)


def console_text(client: EcsClient, instance_id: str, remove_symbols: bool = True) -> str:
    body = client.get_instance_console_output(ecs_models.GetInstanceConsoleOutputRequest(
        region_id=REGION, instance_id=instance_id, remove_symbols=remove_symbols)).body
    assert body.instance_id == instance_id
    return base64.b64decode(body.console_output or "").decode("utf-8", "replace")


def wait_console(client: EcsClient, instance_id: str, needle: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = console_text(client, instance_id)
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not on {instance_id}'s console within {timeout} s; tail:\n{text[-1500:]}")
        time.sleep(0.3)


def run_instance(client: EcsClient, image_id: str, **kw) -> str:
    req = ecs_models.RunInstancesRequest(region_id=REGION, image_id=image_id,
                                         instance_type=kw.pop("instance_type", "ecs.lab.tiny"), **kw)
    ids = client.run_instances(req).body.instance_id_sets.instance_id_set
    assert len(ids) == 1, ids
    return ids[0]


def create_instance(client: EcsClient, image_id: str, **kw) -> str:
    req = ecs_models.CreateInstanceRequest(region_id=REGION, image_id=image_id,
                                           instance_type=kw.pop("instance_type", "ecs.lab.tiny"), **kw)
    return client.create_instance(req).body.instance_id


@contextlib.contextmanager
def running_guest(lab: Lab, name: str):
    """A test guest RunInstances'd on `lab`, Running and its boot finished (VMTEST-GUEST-READY on the console) for
    the `with` body; force-deleted after it."""
    client = lab.client()
    iid = run_instance(client, lab.image_id, instance_name=name)
    try:
        wait_status(client, iid, "Running", timeout=60)
        wait_console(client, iid, "VMTEST-GUEST-READY", timeout=120)
        yield iid
    finally:
        force_delete(client, iid)


def force_delete(client: EcsClient, instance_id: str, timeout: float = 60) -> None:
    """DeleteInstance(Force=True), waiting out Pending/Starting (which refuse deletion)."""
    deadline = time.monotonic() + timeout
    while True:
        inst = describe(client, instance_id)
        if inst is None:
            return
        if inst.status not in ("Pending", "Starting"):
            client.delete_instance(ecs_models.DeleteInstanceRequest(instance_id=instance_id, force=True))
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{instance_id} stayed {inst.status} for {timeout} s")
        time.sleep(0.1)


def sdk_error(call, *args, **kwargs):
    """Run an SDK call that must fail; return the exception (code, status_code, message, data)."""
    from darabonba.exceptions import DaraException
    try:
        result = call(*args, **kwargs)
    except DaraException as e:
        return e
    raise AssertionError(f"expected an error, got a success: {result!r}")


def call_action(client: EcsClient, action: str, query: dict | None = None, *, version: str = ECS_VERSION) -> dict:
    """Call any RPC action through the SDK's generic call_api (the way generated actions do)."""
    from alibabacloud_tea_openapi.utils import Utils
    params = open_api_models.Params(action=action, version=version, protocol="HTTPS", pathname="/",
                                    method="POST", auth_type="AK", style="RPC", req_body_type="formData",
                                    body_type="json")
    request = open_api_models.OpenApiRequest(query=Utils.query(query or {}))
    return client.call_api(params, request, RuntimeOptions())


# ---- disks and snapshots (docs/api/FACTS.md §4.3-4.6, §4.14-4.16) -------------------------------------------


def list_snapshots(client: EcsClient, **filters) -> list:
    """Every snapshot matching the filters, walking NextToken pages."""
    out, token = [], None
    while True:
        body = client.describe_snapshots(ecs_models.DescribeSnapshotsRequest(
            region_id=REGION, max_results=100, next_token=token, **filters)).body
        out.extend(body.snapshots.snapshot)
        token = body.next_token
        if not token:
            return out


def list_disks(client: EcsClient, **filters) -> list:
    """Every disk matching the filters, walking NextToken pages."""
    out, token = [], None
    while True:
        body = client.describe_disks(ecs_models.DescribeDisksRequest(
            region_id=REGION, max_results=100, next_token=token, **filters)).body
        out.extend(body.disks.disk)
        token = body.next_token
        if not token:
            return out


def describe_disk(client: EcsClient, disk_id: str):
    found = list_disks(client, disk_ids=json.dumps([disk_id]))
    return found[0] if found else None


def instance_disks(client: EcsClient, instance_id: str) -> tuple[str, list[str]]:
    """(system disk id, data disk ids in device order) of an instance."""
    disks = sorted(list_disks(client, instance_id=instance_id), key=lambda d: d.device)
    system = [d.disk_id for d in disks if d.type == "system"]
    assert len(system) == 1, [d.to_map() for d in disks]
    return system[0], [d.disk_id for d in disks if d.type == "data"]


def wait_disk_status(client: EcsClient, disk_id: str, wanted: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        disk = describe_disk(client, disk_id)
        if disk is not None and disk.status == wanted:
            return disk
        if time.monotonic() > deadline:
            raise AssertionError(f"{disk_id} did not become {wanted} within {timeout} s (now {disk and disk.status})")
        time.sleep(0.05)


def create_snapshot(client: EcsClient, disk_id: str, **kw) -> str:
    return client.create_snapshot(ecs_models.CreateSnapshotRequest(disk_id=disk_id, **kw)).body.snapshot_id


def wait_snapshot(client: EcsClient, snapshot_id: str, timeout: float = 120, seen: list | None = None):
    """Poll until the snapshot is no longer `progressing`; `seen` collects (Status, Progress) changes."""
    deadline = time.monotonic() + timeout
    while True:
        found = list_snapshots(client, snapshot_ids=json.dumps([snapshot_id]))
        assert len(found) == 1, f"{snapshot_id} is not listed"
        snap = found[0]
        if seen is not None and (not seen or seen[-1] != (snap.status, snap.progress)):
            seen.append((snap.status, snap.progress))
        if snap.status != "progressing":
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"{snapshot_id} still progressing after {timeout} s ({snap.progress})")
        time.sleep(0.05)


def snapshot_now(client: EcsClient, disk_id: str, **kw) -> str:
    """CreateSnapshot and wait until it is accomplished."""
    snapshot_id = create_snapshot(client, disk_id, **kw)
    snap = wait_snapshot(client, snapshot_id)
    assert (snap.status, snap.progress) == ("accomplished", "100%"), snap.to_map()
    return snapshot_id


def run_then_stop(client: EcsClient, image_id: str, **kw) -> str:
    """RunInstances, wait Running, ForceStop, wait Stopped: an instance whose disks have been used.
    Meant for the fake driver, where this takes a fraction of a second."""
    iid = run_instance(client, image_id, **kw)
    wait_status(client, iid, "Running", timeout=30)
    client.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid, force_stop=True))
    wait_status(client, iid, "Stopped", timeout=30)
    return iid


def admin(lab: Lab, command: str, instance_id: str, reason: str = "security") -> None:
    """`ecslab admin lock|unlock` on the lab's data dir (the server reads locks on each request)."""
    out = subprocess.run([str(server_binary()), "admin", command, "--data-dir", str(lab.data_dir),
                          "--instance-id", instance_id, "--reason", reason],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"ecslab admin {command} failed ({out.returncode}): {out.stderr}")


def disk_row(lab: Lab, disk_id: str) -> dict:
    """The store's row of a disk: `path` is its top layer (the file the VM opens), `base_path` the
    layer below it. Read-only access to DATA_DIR/ecslab.db."""
    db = sqlite3.connect(f"file:{lab.data_dir / 'ecslab.db'}?mode=ro", uri=True, timeout=10)
    try:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM disks WHERE disk_id = ?", (disk_id,)).fetchone()
    finally:
        db.close()
    assert row is not None, f"no row for {disk_id}"
    return dict(row)


def disk_write(lab: Lab, disk_id: str, pattern: int, offset: str, length: str) -> None:
    """Write `length` bytes of `pattern` at `offset` into a disk whose instance is not running
    (`qemu-io` on its top layer, through the backing chain)."""
    path = disk_row(lab, disk_id)["path"]
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} {offset} {length}", path],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or not out.stdout.startswith("wrote "):
        raise AssertionError(f"qemu-io write on {path}: rc={out.returncode} {out.stdout}{out.stderr}")


def disk_holds(lab: Lab, disk_id: str, pattern: int, offset: str, length: str) -> bool:
    """Whether the disk reads `pattern` over the range (0 = zeros, never written)."""
    path = disk_row(lab, disk_id)["path"]
    args = ["qemu-io", "-f", "qcow2", "-r", "-U", "-c", f"read -P {pattern} {offset} {length}", str(path)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    if "Pattern verification failed" in text:
        return False
    if out.returncode != 0 or not text.startswith("read "):
        raise AssertionError(f"qemu-io read on {path}: rc={out.returncode} {text.strip()}")
    return True


def disk_log(lab: Lab, disk_id: str) -> list[str]:
    """The guest's data-disk log (docs/GUEST.md) as the host reads it: the entries after the
    `VMTDATA1` header, or [] for a blank disk."""
    path = disk_row(lab, disk_id)["path"]
    with tempfile.TemporaryDirectory(prefix="ecslab-log-") as tmp:
        raw = Path(tmp) / "head.raw"
        subprocess.run(["qemu-img", "dd", "-U", "-f", "qcow2", "-O", "raw", "bs=65536", "count=1",
                        f"if={path}", f"of={raw}"], check=True, capture_output=True, timeout=60)
        text = raw.read_bytes().replace(b"\0", b"").decode("utf-8", "replace")
    if not text.startswith("VMTDATA1"):
        assert text.strip() == "", f"not a data-disk log: {text[:80]!r}"
        return []
    return [line for line in text.splitlines()[1:] if line]


# ---- raw RPC HMAC-SHA1 (docs/api/FACTS.md §3.1), for what the SDK never sends ------------------------------


def pct(s: str) -> str:
    return urllib.parse.quote(s, safe="-_.~")


def utc_timestamp(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def rpc_sign(params: dict, secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{pct('/')}&{pct(canonical)}"
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def rpc_params(lab: Lab, action: str, params: dict | None = None, *, method: str = "GET",
               timestamp: str | None = None, nonce: str | None = None, secret: str | None = None) -> dict:
    """Every parameter of a signed RPC V1 request, `Signature` included."""
    p = {
        "Action": action,
        "Version": ECS_VERSION,
        "AccessKeyId": lab.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or utc_timestamp(),
        "Format": "JSON",
    }
    p.update(params or {})
    p["Signature"] = rpc_sign(p, secret or lab.access_key_secret, method)
    return p


@dataclass
class RawReply:
    status: int
    content_type: str
    body: bytes

    def json(self):
        return json.loads(self.body)


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send_rpc(lab: Lab, params: dict, method: str = "GET") -> RawReply:
    """Send already-signed RPC params (GET: query string; POST: form body)."""
    encoded = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    if method == "GET":
        req = urllib.request.Request(f"http://{lab.endpoint}/?{encoded}", method="GET")
    else:
        req = urllib.request.Request(f"http://{lab.endpoint}/", data=encoded.encode(), method=method,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with _opener.open(req, timeout=30) as resp:
            return RawReply(resp.status, resp.headers.get("Content-Type", ""), resp.read())
    except urllib.error.HTTPError as e:
        return RawReply(e.code, e.headers.get("Content-Type", ""), e.read())


# ---- raw ACS3-HMAC-SHA256 (docs/api/FACTS.md §3.3), for replaying a request the SDK signed once ------------


def acs3_headers(lab: Lab, action: str, query: dict, *, method: str = "POST", date: str | None = None,
                 nonce: str | None = None, body: bytes = b"", version: str = ECS_VERSION) -> dict:
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "host": lab.endpoint,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or utc_timestamp(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": payload_hash,
    }
    signed = sorted(headers)
    canonical_query = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    canonical_request = "\n".join([method, "/", canonical_query, canonical_headers, ";".join(signed), payload_hash])
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    signature = hmac.new(lab.access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"ACS3-HMAC-SHA256 Credential={lab.access_key_id},"
                                f"SignedHeaders={';'.join(signed)},Signature={signature}")
    return headers


def send_acs3(lab: Lab, query: dict, headers: dict, method: str = "POST") -> RawReply:
    url = f"http://{lab.endpoint}/"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    req = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "POST" else None)
    try:
        with _opener.open(req, timeout=30) as resp:
            return RawReply(resp.status, resp.headers.get("Content-Type", ""), resp.read())
    except urllib.error.HTTPError as e:
        return RawReply(e.code, e.headers.get("Content-Type", ""), e.read())


def type_on_serial(lab: Lab, instance_id: str, line: str) -> None:
    """Type a line into the guest's root shell on its serial port (both drivers listen on
    DATA_DIR/vms/<id>/serial.sock)."""
    path = lab.data_dir / "vms" / instance_id / "serial.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        s.sendall(line.encode() + b"\n")
        time.sleep(0.3)


def run_guest_command(lab: Lab, client: EcsClient, instance_id: str, command: str, done: str,
                      timeout: float = 60) -> str:
    """Run a shell command in the guest; `done` is text its output (not the echoed command line)
    will contain. Returns the console text once it does."""
    type_on_serial(lab, instance_id, command)
    return wait_console(client, instance_id, done, timeout)


def start_registry(work_dir: Path) -> tuple[subprocess.Popen, str]:
    """Debian's docker-registry on loopback with filesystem storage under work_dir. Returns the
    process and its `host:port`."""
    port = free_port()
    config = work_dir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work_dir / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(work_dir / "registry.log", "wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 20
    while not _port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"docker-registry did not start: {(work_dir / 'registry.log').read_text()}")
        time.sleep(0.05)
    return process, f"127.0.0.1:{port}"


def registry_get(address: str, path: str, accept: str | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(f"http://{address}{path}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


# Per-instance Cloud Assistant statuses after which nothing changes.
FINAL_INVOCATION_STATUSES = {"Success", "Failed", "Timeout", "Error", "Invalid", "Aborted", "Cancelled",
                             "Terminated", "Stopped"}


def run_command(client: EcsClient, instance_id: str, content: str, timeout: int = 60):
    """RunCommand (RunShellScript) on one instance; the finished DescribeInvocationResults row and the seconds
    from the call to the final status."""
    started = time.monotonic()
    invoke_id = client.run_command(ecs_models.RunCommandRequest(
        region_id=REGION, type="RunShellScript", command_content=content, instance_id=[instance_id],
        timeout=timeout)).body.invoke_id
    assert invoke_id
    deadline = started + timeout + 60
    while True:
        body = client.describe_invocation_results(ecs_models.DescribeInvocationResultsRequest(
            region_id=REGION, invoke_id=invoke_id)).body
        rows = body.invocation.invocation_results.invocation_result
        assert len(rows) == 1 and rows[0].instance_id == instance_id, rows
        if rows[0].invocation_status in FINAL_INVOCATION_STATUSES:
            return rows[0], time.monotonic() - started
        assert time.monotonic() < deadline, f"invocation {invoke_id} ({content!r}) not finished"
        time.sleep(0.5)


def command_output(row) -> str:
    """A DescribeInvocationResults row's Output, decoded."""
    return base64.b64decode(row.output or "").decode(errors="replace")


def restart_server(lab: Lab) -> None:
    """SIGTERM the server (its VMs keep running) and start it again with the same arguments, data dir and port."""
    lab.process.send_signal(signal.SIGTERM)
    lab.process.wait(timeout=30)
    servings = lab.log_path.read_text(errors="replace").count(SERVING)
    log = open(lab.log_path, "ab")
    lab.process = subprocess.Popen(lab.extra["serve_args"], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 60
    # Ready once this start logged that it serves (the log is appended across restarts) and the port answers.
    while lab.log_path.read_text(errors="replace").count(SERVING) <= servings or not _port_open(lab.port):
        assert lab.process.poll() is None, lab.log_tail()
        assert time.monotonic() < deadline, lab.log_tail()
        time.sleep(0.1)
