"""scripts/bench section "DescribeInstances at 1,000 instances": what a listing costs as the
account grows, against the same call at 10 instances, against a filtered call in the same run, while writers commit,
and against moto's EC2 DescribeInstances at 1,000 instances on loopback (an external peer, when moto is installed).

Run by scripts/bench, which exports ECSLAB_BIN, GUEST_DIR, BENCH_TMP, BENCH_N, BENCH_WARMUP. The section starts its
own `ecslab serve --driver fake` (no VMs: the listing is store work, and fake instances cost nothing to keep), imports
the test guest as the image, and creates instances with CreateInstance (Stopped, each with its system disk).

Cases, each WARMUP + N signed V1-RPC GETs on one keep-alive connection (benchlib.RpcClient), timed until the JSON is
parsed:
  unfiltered, first page    DescribeInstances (PageSize=10, the default), and PageSize=100
  unfiltered, middle page   PageNumber=50 PageSize=10; and NextToken after 500 instances, MaxResults=10
  filtered                  InstanceIds=[one id]; InstanceName=bench-007* (10 matches)
  under load                the first-page, middle-page and filtered cases again while 8 threads loop
                            CreateInstance + DeleteInstance(Force) on their own connections
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(os.environ.get("BENCH_N", "50"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
TMP = os.environ["BENCH_TMP"]
GUEST = os.path.join(os.environ["GUEST_DIR"], "guest.qcow2")
BIN = os.environ["ECSLAB_BIN"]
SMALL, LARGE = 10, 1000
WRITERS = 8
PEER_N = 10


def start_server():
    proc, endpoint, creds = bl.start_fake_server(BIN, TMP, "listing")
    data = os.path.join(TMP, "listing")
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=creds["AccessKeyId"],
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=creds["AccessKeySecret"])
    out = subprocess.run([BIN, "images", "import", "--name", "bench", "--data-dir", data, "--endpoint", endpoint,
                          GUEST], env=env, capture_output=True, text=True, timeout=300, check=True)
    image_id = out.stdout.strip()
    return proc, endpoint, creds, image_id


def create(client, image_id, k):
    return client.call("CreateInstance", {"ImageId": image_id, "InstanceType": "ecs.lab.tiny",
                                          "InstanceName": f"bench-{k:04}"})["InstanceId"]


def cases(client, ids, token_at_500):
    yield "unfiltered, first page (PageSize=10)", {}
    yield "unfiltered, first page (PageSize=100)", {"PageSize": "100"}
    if len(ids) >= LARGE:
        yield "unfiltered, middle page (PageNumber=50, PageSize=10)", {"PageNumber": "50", "PageSize": "10"}
        yield "unfiltered, NextToken after 500 (MaxResults=10)", {"MaxResults": "10", "NextToken": token_at_500}
    yield "filtered, InstanceIds=[one]", {"InstanceIds": json.dumps([ids[len(ids) // 2]])}
    yield "filtered, InstanceName=bench-007* (10 matches)", {"InstanceName": "bench-007*"}


def measure(client, params, expect_total=None):
    def call():
        return client.call("DescribeInstances", params)
    samples, last = bl.timed(call, N, WARMUP)
    if expect_total is not None:
        assert last["TotalCount"] == expect_total, (params, last["TotalCount"], expect_total)
    return bl.summary(samples)


def token_after(client, count):
    token = ""
    for _ in range(count // 100):
        params = {"MaxResults": "100"}
        if token:
            params["NextToken"] = token
        token = client.call("DescribeInstances", params)["NextToken"]
    return token


def writers_loop(endpoint, creds, image_id, stop, counts):
    client = bl.RpcClient(endpoint, creds["AccessKeyId"], creds["AccessKeySecret"])
    k = 0
    while not stop.is_set():
        iid = client.call("CreateInstance", {"ImageId": image_id, "InstanceType": "ecs.lab.tiny",
                                             "InstanceName": f"churn-{threading.get_ident()}-{k}"})["InstanceId"]
        client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
        k += 1
        counts.append(2)


def moto_peer():
    """moto's EC2 DescribeInstances at 1,000 instances on loopback, or None when moto/boto3 are missing."""
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    try:
        import boto3  # noqa: F401
    except ImportError:
        return None
    if not os.path.exists(exe):
        return None
    port = bl.free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not bl.port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        import boto3
        ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        for _ in range(LARGE // 100):
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=100, MaxCount=100, InstanceType="t2.micro")
        out = {}
        first = lambda: ec2.describe_instances(MaxResults=10)  # noqa: E731
        one_id = ec2.describe_instances(MaxResults=5)["Reservations"][0]["Instances"][0]["InstanceId"]
        filtered = lambda: ec2.describe_instances(InstanceIds=[one_id])  # noqa: E731
        # moto answers an unfiltered page in seconds at this size: fewer rounds keep the run short.
        rounds = min(N, PEER_N)
        out["first"] = bl.summary(bl.timed(first, rounds, 1)[0])
        out["filtered"] = bl.summary(bl.timed(filtered, N, WARMUP)[0])
        out["rounds"] = rounds
        return out
    except Exception as e:  # the peer is optional: report why it is missing
        bl.log(f"moto peer skipped: {e}")
        return None
    finally:
        bl.stop_process(proc)


def main():
    facts = bl.machine_facts(ROOT)
    facts["load_start"] = bl.loadavg()
    proc, endpoint, creds, image_id = start_server()
    try:
        client = bl.RpcClient(endpoint, creds["AccessKeyId"], creds["AccessKeySecret"])
        ids = [create(client, image_id, k) for k in range(SMALL)]
        small = {name: measure(client, p) for name, p in cases(client, ids, "")}
        bl.log(f"{SMALL} instances measured; creating {LARGE - SMALL} more")
        t0 = time.monotonic()
        ids += [create(client, image_id, k) for k in range(SMALL, LARGE)]
        create_secs = time.monotonic() - t0
        token = token_after(client, 500)
        facts["load_idle"] = bl.loadavg()
        idle = {}
        for name, p in cases(client, ids, token):
            idle[name] = measure(client, p, LARGE if name.startswith("unfiltered") else None)
        stop, counts = threading.Event(), []
        threads = [threading.Thread(target=writers_loop, args=(endpoint, creds, image_id, stop, counts), daemon=True)
                   for _ in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(1)
        t0 = time.monotonic()
        loaded = {}
        for name, p in cases(client, ids, token):
            if name.startswith(("unfiltered, first page (PageSize=10)", "unfiltered, middle", "filtered, InstanceIds")):
                loaded[name] = measure(client, p)
        load_secs = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(60)
        writes = sum(counts)
        facts["load_end"] = bl.loadavg()
        for iid in ids:
            client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
    finally:
        bl.stop_process(proc)
    peer = moto_peer()
    print(render(facts, small, idle, loaded, writes, load_secs, create_secs, peer))


def render(facts, small, idle, loaded, writes, load_secs, create_secs, peer):
    ms = bl.fmt_ms
    first = "unfiltered, first page (PageSize=10)"
    one = "filtered, InstanceIds=[one]"
    middle = "unfiltered, middle page (PageNumber=50, PageSize=10)"
    lines = [
        "## DescribeInstances at 1,000 instances",
        "",
        f"One account, `ecslab serve --driver fake` (the listing is store work; instances from CreateInstance, "
        f"Stopped, one system disk each). Each case: {WARMUP} warm-up + {N} signed V1-RPC GETs on one keep-alive "
        f"connection, timed until the JSON is parsed. {LARGE - SMALL} CreateInstance calls took "
        f"{create_secs:.1f} s. Under load: {WRITERS} threads looping CreateInstance + DeleteInstance(Force), "
        f"{writes} writes in {load_secs:.1f} s ({writes / max(load_secs, 1e-9):.0f}/s).",
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['host_hypervisor'] or 'bare metal'} guest, kernel "
        f"{facts['kernel']}. {facts['date']}, commit {facts['commit']}. Load average at start {facts['load_start']}, "
        f"before the idle cases {facts['load_idle']}, at the end {facts['load_end']}. "
        f"Command: `{os.environ.get('BENCH_COMMAND', 'scripts/bench --only listing')}`.",
        "",
        "### Latency (ms)",
        "",
        f"| case | {SMALL} instances p50 / p99 | {LARGE} idle p50 / p99 | {LARGE} under load p50 / p99 |",
        "|---|---|---|---|",
    ]
    def pair(s):
        return f"{ms(s['p50'])} / {ms(s['p99'])}" if s else "-"

    for name, s in idle.items():
        lines.append(f"| {name} | {pair(small.get(name))} | {pair(s)} | {pair(loaded.get(name))} |")
    if peer:
        lines += [f"| moto EC2 DescribeInstances, MaxResults=10 | - | {pair(peer['first'])} | - |",
                  f"| moto EC2 DescribeInstances, InstanceIds=[one] | - | {pair(peer['filtered'])} | - |"]
    ratio = lambda a, b: a["p50"] / b["p50"]  # noqa: E731
    lines += [
        "",
        "### Ratios (p50, computed from this run)",
        "",
        f"- unfiltered first page at {LARGE} vs at {SMALL} instances: x{ratio(idle[first], small[first]):.2f}",
        f"- unfiltered first page vs filtered by one id, at {LARGE}: x{ratio(idle[first], idle[one]):.2f}",
        f"- middle page vs first page at {LARGE}: x{ratio(idle[middle], idle[first]):.2f}",
        f"- first page under load vs idle: x{ratio(loaded[first], idle[first]):.2f}",
    ]
    if peer:
        lines.append(f"- moto's EC2 first page (MaxResults=10, {peer['rounds']} rounds) vs ecslab's first page, both "
                     f"at {LARGE}: x{peer['first']['p50'] / idle[first]['p50']:.0f}; filtered by one id: "
                     f"x{peer['filtered']['p50'] / idle[one]['p50']:.1f}")
    else:
        lines.append("- moto peer not measured (moto_server or boto3 missing)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
