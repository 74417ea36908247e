"""The hostile probe: what an attacker or a careless client throws at a server, and what must hold.

Starts its own fake-driver server (and a second one for kill -9), sends every group of hostile
input below, counts the statuses seen per group and checks the invariants the API promises:

- no reply is a 5xx other than 503 ServiceUnavailable, or 501/505 for what is not HTTP/1.x (and no reply at all is
  never fine);
- every reply is the product's envelope: JSON that parses, or XML that parses when Format=XML,
  with a RequestId;
- under 50 concurrent clients no error other than Throttling;
- nothing acknowledged is lost by kill -9;
- slow clients are cut off and do not starve the others.

Prints a Markdown table (requests, statuses, invariant breaches per group) and exits 1 on any breach.
The suite's own tests cover each class separately; this is the run whose figures go in the note.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import labkit  # noqa: E402
from alibabacloud_ecs20140526 import models as ecs_models  # noqa: E402

ECS_ACTIONS = [
    "RunInstances", "CreateInstance", "StartInstance", "StopInstance", "RebootInstance", "DeleteInstance",
    "DescribeInstances", "DescribeInstanceStatus", "DescribeInstanceTypes", "GetInstanceScreenshot",
    "GetInstanceConsoleOutput", "ImportImage", "DescribeImages", "DeleteImage", "ExportImage",
    "DescribeTaskAttribute", "DescribeTasks", "CreateSnapshot", "CreateImage", "DescribeSnapshots",
    "DeleteSnapshot", "ResetDisk", "CreateDisk", "AttachDisk", "DetachDisk", "DeleteDisk", "ResizeDisk",
    "DescribeDisks", "DescribeRegions", "DescribeZones", "ReplaceSystemDisk",
]
OTHER_ACTIONS = [
    ("2014-06-18", "SubmitSnapshotJob"), ("2014-06-18", "QuerySnapshotJobList"), ("2014-06-18", "AddPipeline"),
    ("2014-06-18", "QueryPipelineList"), ("2020-09-30", "DescribeDesktops"), ("2020-09-30", "RebuildDesktops"),
    ("2020-09-30", "DescribeImageModifiedRecords"),
]
PARAM_NAMES = [
    "InstanceId", "InstanceIds", "DiskId", "SnapshotId", "ImageId", "InstanceType", "InstanceName", "Description",
    "DiskName", "SnapshotName", "ImageName", "Size", "SystemDisk.Size", "DataDisk.1.Size", "PageSize", "PageNumber",
    "MaxResults", "NextToken", "Tag.1.Key", "Tag.1.Value", "Amount", "Force", "ForceStop", "DryRun", "ClientToken",
    "OSSBucket", "OSSObject", "DiskDeviceMapping.1.OSSBucket", "DiskDeviceMapping.1.OSSObject",
    "DiskDeviceMapping.1.Format", "Format", "RegionId", "ZoneId", "Status", "DesktopId.1", "Name", "UserData",
    "Input", "SnapshotConfig", "PipelineId", "JobIds", "TaskId", "TaskIds", "NewSize", "Category", "Wildcard",
]
NASTY_VALUES = [
    "", " ", "\x00", "\x01ctl\x01", "\uffff", "\ufffe", "\x1b[31m", "a" * 70000, "-1", "0", "99999999999999999999",
    "1e309", "NaN", "true", "null", "[]", "{}", '{"a":', "../../../../etc/passwd", "/etc/shadow", "..%2f..%2f",
    "%00", "i-" + "9" * 40, "m-' OR 1=1 --", "<x>&amp;</x>", "]]>", "\ud7ff\ue000", "é中文🙂", "\r\nX-Injected: 1",
    "*", "%", "_", "Tag.1.Key", "s-" * 3000,
]


class Tally:
    """Statuses and invariant breaches, per group."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.breaches: dict[str, list[str]] = collections.defaultdict(list)

    def seen(self, group: str, status: int | str, code: str | None = None):
        with self.lock:
            self.statuses[group][status] += 1
            if code:
                self.codes[group][code] += 1

    def breach(self, group: str, what: str):
        with self.lock:
            if len(self.breaches[group]) < 20:
                self.breaches[group].append(what)

    def breach_count(self) -> int:
        return sum(len(v) for v in self.breaches.values())


def envelope_code(reply: labkit.RawReply) -> tuple[str | None, str | None]:
    """(RequestId, Code) of a reply, or raises ValueError when it is not a well-formed envelope. A request
    asking for XML may get JSON when the server could not read it far enough to see Format."""
    if reply.body.lstrip().startswith(b"<"):
        root = ET.fromstring(reply.body)
        rid = root.findtext("RequestId")
        return rid, root.findtext("Code")
    body = json.loads(reply.body)
    if not isinstance(body, dict):
        raise ValueError("the JSON body is not an object")
    return body.get("RequestId") or body.get("requestId"), body.get("Code")


# HTTP's own answers to requests that are not HTTP/1.x as the server speaks it.
PROTOCOL_5XX = {501, 505}


def check(tally: Tally, group: str, reply: labkit.RawReply, what: str):
    code = None
    try:
        rid, code = envelope_code(reply)
        if not rid:
            tally.breach(group, f"{what}: no RequestId in {reply.body[:120]!r}")
    except (ValueError, ET.ParseError) as e:
        tally.breach(group, f"{what}: status {reply.status}, body does not parse ({e}): {reply.body[:120]!r}")
    protocol_answer = group == "malformed-http" and reply.status in PROTOCOL_5XX
    if reply.status >= 500 and reply.status != 503 and not protocol_answer:
        tally.breach(group, f"{what}: status {reply.status} {code}: {reply.body[:200]!r}")
    tally.seen(group, reply.status, code)


# ---- groups ---------------------------------------------------------------------------------------------


def fuzz(lab: labkit.Lab, tally: Tally, rounds: int, rng: random.Random):
    """Every action with random hostile parameters, both signature schemes, JSON and XML."""
    for i in range(rounds):
        if rng.random() < 0.8:
            version, action = labkit.ECS_VERSION, rng.choice(ECS_ACTIONS)
        else:
            version, action = rng.choice(OTHER_ACTIONS)
        params = {rng.choice(PARAM_NAMES): rng.choice(NASTY_VALUES) for _ in range(rng.randint(1, 5))}
        params = {k: v for k, v in params.items() if k != "Format"}
        xml = rng.random() < 0.4
        params["Version"] = version
        if xml:
            params["Format"] = "XML"
        try:
            if rng.random() < 0.5:
                reply = labkit.send_rpc(lab, labkit.rpc_params(lab, action, params, method="POST"), method="POST")
            else:
                query = dict(params)
                query.pop("Version")
                headers = labkit.acs3_headers(lab, action, query, version=version)
                reply = labkit.send_acs3(lab, query, headers)
        except (OSError, ValueError) as e:
            # A value the client library itself cannot put on the wire (NUL in a header) is no probe.
            tally.seen("fuzz", f"client:{type(e).__name__}")
            continue
        check(tally, "fuzz", reply, f"{action} {sorted(params)}")


def signatures(lab: labkit.Lab, tally: Tally):
    """Tampered, replayed, stale and nonce-less requests on the RPC and ACS3 schemes."""
    group = "signatures"
    p = labkit.rpc_params(lab, "DescribeRegions")
    first = labkit.send_rpc(lab, p)
    check(tally, group, first, "rpc fresh")
    if first.status != 200:
        tally.breach(group, f"a fresh RPC request failed: {first.status}")
    replay = labkit.send_rpc(lab, p)
    check(tally, group, replay, "rpc replay")
    if replay.status == 200:
        tally.breach(group, "an RPC request was replayed byte for byte")
    tampered = dict(labkit.rpc_params(lab, "DescribeRegions"), RegionId="other")
    r = labkit.send_rpc(lab, tampered)
    check(tally, group, r, "rpc tampered")
    if r.status == 200:
        tally.breach(group, "a tampered RPC request was accepted")
    nonceless = labkit.rpc_params(lab, "DescribeRegions")
    nonceless.pop("SignatureNonce")
    nonceless.pop("Signature")
    nonceless["Signature"] = labkit.rpc_sign(nonceless, lab.access_key_secret)
    r = labkit.send_rpc(lab, nonceless)
    check(tally, group, r, "rpc without nonce")
    r2 = labkit.send_rpc(lab, nonceless)
    check(tally, group, r2, "rpc without nonce, again")
    if r.status == 200 and r2.status == 200:
        tally.breach(group, "an RPC request without SignatureNonce was replayed")
    for minutes in (-20, 20, -24 * 60):
        p = labkit.rpc_params(lab, "DescribeRegions",
                              timestamp=labkit.utc_timestamp(labkit.timedelta(minutes=minutes)))
        r = labkit.send_rpc(lab, p)
        check(tally, group, r, f"rpc at {minutes} min")
        if r.status == 200:
            tally.breach(group, f"a request {minutes} minutes off was accepted")
    headers = labkit.acs3_headers(lab, "DescribeRegions", {})
    first = labkit.send_acs3(lab, {}, headers)
    check(tally, group, first, "acs3 fresh")
    again = labkit.send_acs3(lab, {}, headers)
    check(tally, group, again, "acs3 replay")
    if again.status == 200:
        tally.breach(group, "an ACS3 request was replayed byte for byte")
    for bad_key in ("LTAI" + "x" * 20, "", "a" * 5000, "\x01"):
        p = labkit.rpc_params(lab, "DescribeRegions")
        p["AccessKeyId"] = bad_key
        p.pop("Signature")
        p["Signature"] = labkit.rpc_sign(p, lab.access_key_secret)
        r = labkit.send_rpc(lab, p)
        check(tally, group, r, f"rpc key {bad_key[:8]!r}")
        if r.status == 200:
            tally.breach(group, "an unknown access key was accepted")


def raw_exchange(lab: labkit.Lab, payload: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", lab.port), timeout=timeout) as s:
        try:
            s.sendall(payload)
        except OSError:
            pass  # the server may answer and close before the whole payload is sent
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and response_complete(b"".join(chunks)):
                    break
        except OSError:
            pass
        return b"".join(chunks)


def response_complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def malformed_http(lab: labkit.Lab, tally: Tally):
    """Requests that are not HTTP/1.1 as hyper would like it."""
    group = "malformed-http"
    cases = {
        "bad version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        "garbage line": b"\x00\x01\x02 nonsense\r\n\r\n",
        "long target": b"GET /?" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "huge headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(420)) + b"\r\n",
        "bad content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "two content-lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "bad chunk": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "header without colon": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        "unsigned": b"GET /?Action=DescribeRegions HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, payload in cases.items():
        data = raw_exchange(lab, payload)
        if not data:
            tally.breach(group, f"{name}: no reply at all")
            tally.seen(group, "none")
            continue
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            tally.breach(group, f"{name}: not an HTTP reply: {data[:80]!r}")
            continue
        check(tally, group, labkit.RawReply(status, "", body), name)


def slow_clients(lab: labkit.Lab, tally: Tally, connections: int, deadline_s: float):
    """Slow-loris: connections that trickle blank lines or half a request line. Measures how long the
    server keeps them and whether a normal client is served meanwhile."""
    group = "slow-clients"
    socks = []
    for i in range(connections):
        try:
            s = socket.create_connection(("127.0.0.1", lab.port), timeout=5)
        except OSError as e:
            tally.seen(group, f"connect:{type(e).__name__}")
            continue
        s.sendall(b"\r\n" if i % 2 else b"GET /?Action=Desc")
        socks.append(s)
    started = time.monotonic()
    client = lab.client()
    latencies = []
    open_socks = list(socks)
    while open_socks and time.monotonic() - started < deadline_s:
        t0 = time.monotonic()
        try:
            client.describe_regions(ecs_models.DescribeRegionsRequest())
            latencies.append(time.monotonic() - t0)
            tally.seen(group, 200)
        except Exception as e:  # noqa: BLE001 - any failure of a normal client is a breach here
            tally.breach(group, f"a normal client failed while slow clients hold connections: {e}")
        still = []
        for s in open_socks:
            try:
                s.sendall(b"\r\n")
                s.setblocking(False)
                try:
                    if s.recv(65536) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
                still.append(s)
            except OSError:
                s.close()
        open_socks = still
        time.sleep(0.5)
    held = time.monotonic() - started
    for s in open_socks:
        s.close()
    if open_socks:
        tally.breach(group, f"{len(open_socks)} of {len(socks)} slow connections still open after {held:.0f} s")
    p50 = sorted(latencies)[len(latencies) // 2] * 1000 if latencies else float("nan")
    return {"connections": len(socks), "closed_after_s": round(held, 1), "normal_p50_ms": round(p50, 1)}


def concurrent(lab: labkit.Lab, tally: Tally, clients: int, seconds: float, image_id: str):
    """50 clients at once: creates, deletes, describes, snapshots."""
    group = "concurrency"
    from darabonba.exceptions import DaraException
    stop = time.monotonic() + seconds

    def worker(n: int):
        client = lab.client(None if n % 2 else "v2")
        mine: list[str] = []
        rng = random.Random(n)
        while time.monotonic() < stop:
            op = rng.random()
            try:
                if op < 0.25 or not mine:
                    r = client.create_instance(ecs_models.CreateInstanceRequest(
                        region_id=labkit.REGION, image_id=image_id, instance_type="ecs.lab.tiny"))
                    mine.append(r.body.instance_id)
                elif op < 0.4:
                    client.delete_instance(ecs_models.DeleteInstanceRequest(instance_id=mine.pop(), force=True))
                elif op < 0.7:
                    client.describe_instances(ecs_models.DescribeInstancesRequest(
                        region_id=labkit.REGION, page_size=50))
                elif op < 0.85:
                    client.describe_disks(ecs_models.DescribeDisksRequest(
                        region_id=labkit.REGION, instance_id=rng.choice(mine)))
                else:
                    client.describe_instance_status(ecs_models.DescribeInstanceStatusRequest(
                        region_id=labkit.REGION, page_size=50))
                tally.seen(group, 200)
            except DaraException as e:
                tally.seen(group, getattr(e, "status_code", "?") or "?", e.code)
                if e.code != "Throttling":
                    tally.breach(group, f"{e.code} {getattr(e, 'status_code', '?')}: {str(e)[:160]}")
            except Exception as e:  # noqa: BLE001
                tally.breach(group, f"client error {type(e).__name__}: {str(e)[:160]}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stuck = [i.instance_id for i in labkit.list_instances(lab.client())
             if i.status not in ("Stopped", "Running")]
    if stuck:
        tally.breach(group, f"{len(stuck)} instances left in a transitional status: {stuck[:5]}")


def crafted_images(lab: labkit.Lab, tally: Tally):
    """Image files that name another file (the suite's own hostile cases, test_hostile_images.HOSTILE): each must
    be refused by ImportImage, with nothing left behind and the admin secret nowhere in the image store."""
    import test_hostile_images as hostile
    group = "crafted-images"
    bucket = lab.data_dir / "buckets" / "ecslab-images"
    bucket.mkdir(parents=True, exist_ok=True)
    client = lab.client()

    def image_ids() -> set[str]:
        return {i.image_id for i in client.describe_images(ecs_models.DescribeImagesRequest(
            region_id=labkit.REGION, page_size=100)).body.images.image}

    for name, make, fmt, _words in hostile.HOSTILE:
        obj = make(bucket, lab.data_dir)
        before = image_ids()
        reply = labkit.send_rpc(lab, labkit.rpc_params(lab, "ImportImage", {
            "RegionId": labkit.REGION, "ImageName": f"probe-{uuid.uuid4().hex[:8]}",
            "DiskDeviceMapping.1.OSSBucket": "ecslab-images", "DiskDeviceMapping.1.OSSObject": obj,
            "DiskDeviceMapping.1.Format": fmt}))
        check(tally, group, reply, name)
        if reply.status == 200:
            tally.breach(group, f"{name}: ImportImage accepted it as {reply.json().get('ImageId')}")
        if image_ids() - before:
            tally.breach(group, f"{name}: left images behind: {image_ids() - before}")
    secret = lab.access_key_secret.encode()
    for f in (lab.data_dir / "images").glob("*"):
        if secret in f.read_bytes():
            tally.breach(group, f"{f.name} holds the admin secret")


def kill9(binary: Path, image: Path, tally: Tally, rounds: int):
    """kill -9 the server while clients create instances; every acknowledged one must be there after."""
    group = "kill-9"
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-probe-k9")
    try:
        for round_no in range(rounds):
            acknowledged: list[str] = []
            stop = threading.Event()

            def worker(n: int):
                client = lab.client(None if n % 2 else "v2")
                while not stop.is_set():
                    try:
                        r = client.create_instance(ecs_models.CreateInstanceRequest(
                            region_id=labkit.REGION, image_id=lab.image_id, instance_type="ecs.lab.tiny"))
                        acknowledged.append(r.body.instance_id)
                        tally.seen(group, 200)
                    except Exception:  # noqa: BLE001 - the server is killed under them on purpose
                        tally.seen(group, "cut")
                        time.sleep(0.05)

            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            time.sleep(1.5 + round_no * 0.3)
            lab.process.send_signal(signal.SIGKILL)
            lab.process.wait()
            stop.set()
            for t in threads:
                t.join()
            restart(lab, binary)
            present = {i.instance_id for i in labkit.list_instances(lab.client())}
            lost = [i for i in acknowledged if i not in present]
            if lost:
                tally.breach(group, f"round {round_no}: {len(lost)} acknowledged instances lost: {lost[:3]}")
    finally:
        labkit.stop_server(lab)


def restart(lab: labkit.Lab, binary: Path):
    log = open(lab.log_path, "ab")
    lab.process = subprocess.Popen(
        [str(binary), "serve", "--listen", lab.endpoint, "--data-dir", str(lab.data_dir), "--region", labkit.REGION,
         "--driver", lab.driver], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 30
    while not labkit._port_open(lab.port):
        if time.monotonic() > deadline or lab.process.poll() is not None:
            raise RuntimeError(f"the server did not come back:\n{lab.log_tail()}")
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz-rounds", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--slow-connections", type=int, default=200)
    ap.add_argument("--slow-deadline", type=float, default=30)
    ap.add_argument("--kill-rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    binary, image = labkit.check_prerequisites()
    tally = Tally()
    rng = random.Random(args.seed)
    facts = {}
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-probe")
    started = time.monotonic()
    try:
        crafted_images(lab, tally)
        signatures(lab, tally)
        malformed_http(lab, tally)
        fuzz(lab, tally, args.fuzz_rounds, rng)
        facts["slow"] = slow_clients(lab, tally, args.slow_connections, args.slow_deadline)
        concurrent(lab, tally, args.clients, args.seconds, lab.image_id)
        if lab.process.poll() is not None:
            tally.breach("server", f"the server died: {lab.log_tail()}")
    finally:
        labkit.stop_server(lab)
    kill9(binary, image, tally, args.kill_rounds)
    print(f"\n## Hostile probe (seed {args.seed}, {time.monotonic() - started:.0f} s)\n")
    print("| group | requests | statuses | codes (top 5) | breaches |\n|---|---|---|---|---|")
    for group, counter in tally.statuses.items():
        total = sum(counter.values())
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=lambda kv: str(kv[0])) if v)
        codes = ", ".join(f"{k} {v}" for k, v in tally.codes[group].most_common(5))
        print(f"| {group} | {total} | {statuses} | {codes} | {len(tally.breaches[group])} |")
    if "slow" in facts:
        s = facts["slow"]
        print(f"\nSlow clients: {s['connections']} connections, all closed after {s['closed_after_s']} s; "
              f"a normal client's p50 meanwhile {s['normal_p50_ms']} ms.")
    for group, items in tally.breaches.items():
        for item in items:
            print(f"BREACH [{group}] {item}")
    return 1 if tally.breach_count() else 0


if __name__ == "__main__":
    sys.exit(main())
