"""Issue 14's metrics on the driver under test (ECSLAB_TEST_DRIVER=libvirt for the libvirt pass):
`/metrics` (Prometheus text, bearer token) and DescribeInstanceMonitorData, from the same samples
of a real running guest's QEMU process.

One server of its own with `--metrics-token` and `--monitor-interval-secs 2` (so points appear
within seconds; the API's Period stays 60 s at least) and `--mts-workers 1`; one running guest.
/metrics: 401 without or with a wrong bearer, 200 with the right one, parsed by prometheus_client;
request counter and latency histogram of DescribeInstances; the guest's CPU seconds rising, its
RSS plausible, its NIC's bytes (DHCP at least) and the public part of them; instances by status;
snapshots in flight around a CreateSnapshot; the MTS queue around SubmitSnapshotJob.
DescribeInstanceMonitorData through the ECS SDK, both algorithms: CPU > 0, consistent with
/metrics, and ecslab's MemoryRSS beside /metrics' RSS; its parameter codes; another account's
instance. The fake-driver server, started without a token, answers 404 on /metrics.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_mts20140618 import models as mm
from prometheus_client.parser import text_string_to_metric_families

import labkit
from conftest import TEST_DRIVER, driver_server
from labkit import REGION
from test_mts import mts_client, out, wait_job
from test_tenants import as_account, create_account

TOKEN = "scrape-me-7f3a"
INTERVAL = 2
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def mlab(prerequisites):
    extra = ("--metrics-token", TOKEN, "--monitor-interval-secs", str(INTERVAL), "--mts-workers", "1")
    with driver_server(prerequisites, "ecslab-metrics", extra) as lab:
        yield lab


@pytest.fixture(scope="module")
def guest(mlab):
    client = mlab.client()
    iid = labkit.run_instance(client, mlab.image_id, instance_name="metrics-guest")
    labkit.wait_status(client, iid, "Running", timeout=120)
    labkit.wait_console(client, iid, "VMTEST-GUEST-READY", timeout=120)
    return iid


def get(lab, token: str | None):
    request = urllib.request.Request(f"http://{lab.endpoint}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def scrape(lab) -> dict[tuple[str, tuple], float]:
    """Every sample of an authorized scrape, keyed by (name, sorted labels)."""
    status, text, headers = get(lab, TOKEN)
    assert status == 200, text
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_bearer_token(mlab):
    for token in (None, "wrong", TOKEN[:-1], TOKEN + "x"):
        status, text, headers = get(mlab, token)
        assert status == 401, (token, text)
        assert json.loads(text)["Code"] == "Unauthorized" and headers["WWW-Authenticate"] == "Bearer"
    assert get(mlab, TOKEN)[0] == 200


def test_no_token_no_route(fake_lab):
    status, text, _ = get(fake_lab, TOKEN)
    body = json.loads(text)
    assert status == 404 and body["Code"] == "InvalidApi.NotFound" and body["RequestId"], text


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_request_counter_and_histogram(mlab, algorithm):
    client = mlab.client(dict(labkit.ALGORITHMS)[algorithm])
    before = scrape(mlab)
    calls = 3
    for _ in range(calls):
        client.describe_instances(m.DescribeInstancesRequest(region_id=REGION))
    after = scrape(mlab)
    name = "ecslab_api_requests_total"
    assert value(after, name, action="DescribeInstances", status="200") - \
        value(before, name, action="DescribeInstances", status="200") == calls
    # Every action's histogram: cumulative buckets, +Inf = count = the action's requests.
    actions = {dict(labels)["action"] for (n, labels) in after if n == name}
    assert "DescribeInstances" in actions
    for action in actions:
        buckets = sorted(((float(dict(labels)["le"]), v) for (n, labels), v in after.items()
                          if n == "ecslab_api_request_duration_seconds_bucket" and dict(labels)["action"] == action))
        counts = [v for _, v in buckets]
        assert counts == sorted(counts) and buckets[-1][0] == float("inf")
        count = value(after, "ecslab_api_request_duration_seconds_count", action=action)
        total = sum(v for (n, labels), v in after.items() if n == name and dict(labels)["action"] == action)
        assert buckets[-1][1] == count == total, action
        assert value(after, "ecslab_api_request_duration_seconds_sum", action=action) > 0


def test_instance_usage(mlab, guest):
    first = scrape(mlab)
    time.sleep(3)
    second = scrape(mlab)
    running = [(dict(labels)["account_id"], v) for (n, labels), v in second.items()
               if n == "ecslab_instances" and dict(labels)["status"] == "Running"]
    assert [v for _, v in running] == [1.0], running
    account = running[0][0]
    labels = dict(instance_id=guest, account_id=account)
    cpu1 = value(first, "ecslab_instance_cpu_seconds_total", **labels)
    cpu2 = value(second, "ecslab_instance_cpu_seconds_total", **labels)
    assert 0 < cpu1 < cpu2, (cpu1, cpu2)
    rss = value(second, "ecslab_instance_memory_rss_bytes", **labels)
    # ecs.lab.tiny has 128 MiB; QEMU itself (TCG's translation cache, devices) adds to it.
    assert 10 * MIB < rss < 128 * MIB + 512 * MIB, rss
    # Its NIC sits in a VPC namespace: at least its DHCP exchange each way (two packets of 300+ bytes);
    # what went through its public address is a part of that.
    for direction in ("received", "sent"):
        nic = value(second, "ecslab_instance_nic_bytes_total", direction=direction, **labels)
        public = ("ecslab_instance_public_bytes_total", tuple(sorted(dict(direction=direction, **labels).items())))
        assert nic > 600 and public in second and 0 <= second[public] <= nic, (direction, nic, second.get(public))
    began = time.monotonic()
    scrape(mlab)
    print(f"metrics: guest CPU {(cpu2 - cpu1) / 3 * 100:.1f}% over 3 s, RSS {rss / MIB:.0f} MiB, "
          f"scrape {1000 * (time.monotonic() - began):.1f} ms")


def test_snapshots_in_flight(mlab, guest):
    client = mlab.client()
    assert value(scrape(mlab), "ecslab_snapshots_in_flight") == 0
    system_disk, _ = labkit.instance_disks(client, guest)
    snapshot_id = labkit.create_snapshot(client, system_disk)
    seen = []
    deadline = time.monotonic() + 120
    while True:
        gauge = value(scrape(mlab), "ecslab_snapshots_in_flight")
        (snap,) = labkit.list_snapshots(client, snapshot_ids=json.dumps([snapshot_id]))
        seen.append((gauge, snap.status))
        # Progressing after the scrape means progressing during it: the gauge must have counted it.
        if snap.status == "progressing":
            assert gauge == 1, seen
        else:
            assert snap.status == "accomplished", seen
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    assert value(scrape(mlab), "ecslab_snapshots_in_flight") == 0


def test_mts_queue_depth(mlab, guest):
    client = mts_client(mlab, "acs3")
    (mlab.data_dir / "buckets" / "metrics-shots").mkdir(parents=True, exist_ok=True)
    pipeline = client.add_pipeline(mm.AddPipelineRequest(name="metrics")).body.pipeline
    jobs = [client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"InstanceId": guest}),
        snapshot_config=json.dumps({"OutputFile": out("metrics-shots", f"{n}/{{Count}}.jpg"),
                                    "Interval": "1", "Num": "3"}),
        pipeline_id=pipeline.id)).body.snapshot_job.id for n in range(3)]
    now = scrape(mlab)
    queued, running = value(now, "ecslab_mts_jobs", state="queued"), value(now, "ecslab_mts_jobs", state="running")
    # One worker, three jobs of 3 frames 1 s apart: at least the last one is still waiting.
    assert running <= 1 and queued >= 1 and queued + running <= 3, (queued, running)
    for job in jobs:
        assert wait_job(client, job, timeout=120).state == "Success"
    done = scrape(mlab)
    assert value(done, "ecslab_mts_jobs", state="queued") == value(done, "ecslab_mts_jobs", state="running") == 0


def minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_describe_instance_monitor_data(mlab, guest, algorithm):
    client = mlab.client(dict(labkit.ALGORITHMS)[algorithm])
    time.sleep(2 * INTERVAL + 1)  # at least two samples since the guest runs
    now = datetime.now(timezone.utc)
    start, end = minute(now) - timedelta(minutes=5), minute(now) + timedelta(minutes=1)
    body = client.describe_instance_monitor_data(m.DescribeInstanceMonitorDataRequest(
        instance_id=guest, start_time=iso(start), end_time=iso(end), period=60)).body
    points = body.monitor_data.instance_monitor_data
    assert points, body.to_map()
    stamps = [datetime.strptime(p.time_stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) for p in points]
    assert stamps == sorted(stamps) and all(start <= s < end and s.second == 0 for s in stamps), stamps
    assert all(p.instance_id == guest for p in points)
    latest = points[-1]
    assert 0 < latest.cpu <= 100, latest.to_map()
    assert latest.bpsread is not None and latest.bpswrite is not None and latest.bpsread >= 0
    # Both drivers ask QEMU (query-blockstats) on this host: the guest's disk requests per second.
    assert latest.iopsread is not None and latest.iopswrite is not None and latest.iopsread >= 0
    print(f"monitor data ({algorithm}): {latest.to_map()}")
    # Consistent with /metrics: a point holds at least one pair of samples INTERVAL apart, so
    # the CPU time it shows is at most what the process has used in all.
    total = value(scrape(mlab), "ecslab_instance_cpu_seconds_total", instance_id=guest,
                  account_id=account_of(mlab, guest))
    assert total >= latest.cpu / 100 * 1 * INTERVAL * 0.9, (total, latest.cpu)
    # Memory: ECS's model has no field for it, so the SDK's generic call shows ecslab's MemoryRSS,
    # the mean resident size of the same QEMU process /metrics reports.
    raw = labkit.call_action(client, "DescribeInstanceMonitorData", {
        "InstanceId": guest, "StartTime": iso(start), "EndTime": iso(end), "Period": "60"})
    memory = raw["body"]["MonitorData"]["InstanceMonitorData"][-1]["MemoryRSS"]
    rss = value(scrape(mlab), "ecslab_instance_memory_rss_bytes", instance_id=guest,
                account_id=account_of(mlab, guest))
    assert 10 * MIB < memory < 128 * MIB + 512 * MIB and rss / 2 < memory < rss * 2, (memory, rss)
    # Period 600 and 3600 aggregate the same samples.
    for period in (600, 3600):
        wide = client.describe_instance_monitor_data(m.DescribeInstanceMonitorDataRequest(
            instance_id=guest, start_time=iso(now.replace(minute=0, second=0, microsecond=0)),
            end_time=iso(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)),
            period=period)).body.monitor_data.instance_monitor_data
        assert wide and 0 < wide[-1].cpu <= 100, period


def account_of(lab, instance_id: str) -> str:
    for (n, labels), _ in scrape(lab).items():
        if n == "ecslab_instance_cpu_seconds_total" and dict(labels)["instance_id"] == instance_id:
            return dict(labels)["account_id"]
    raise AssertionError(f"{instance_id} not in /metrics")


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_monitor_data_errors(mlab, guest, algorithm):
    client = mlab.client(dict(labkit.ALGORITHMS)[algorithm])
    now = minute(datetime.now(timezone.utc))

    def error(start, end, period=None, instance_id=guest, on=client):
        e = labkit.sdk_error(on.describe_instance_monitor_data, m.DescribeInstanceMonitorDataRequest(
            instance_id=instance_id, start_time=start, end_time=end, period=period))
        return e.code, e.status_code

    hour = iso(now - timedelta(hours=1))
    assert error(hour, iso(now), 300) == ("InvalidPeriod.ValueNotSupported", 400)
    assert error(hour, iso(now), 30) == ("InvalidPeriod.ValueNotSupported", 400)
    assert error("2026-13-01T00:00:00Z", iso(now)) == ("InvalidStartTime.Malformed", 400)
    assert error(hour, "yesterday") == ("InvalidEndTime.Malformed", 400)
    assert error(iso(now), hour) == ("InvalidParameter.EndTime", 400)
    assert error(iso(now - timedelta(days=31)), iso(now - timedelta(days=31) + timedelta(hours=1))) == \
        ("InvalidStartTime.TooEarly", 400)
    assert error(iso(now - timedelta(minutes=401)), iso(now)) == ("InvalidParameter.TooManyDataQueried", 400)
    assert error(hour, iso(now), instance_id="i-doesnotexist") == ("InvalidInstanceId.NotFound", 404)
    # 400 points exactly is allowed.
    ok = client.describe_instance_monitor_data(m.DescribeInstanceMonitorDataRequest(
        instance_id=guest, start_time=iso(now - timedelta(minutes=400)), end_time=iso(now)))
    assert ok.body.monitor_data is not None
    # Another account's instance is one that does not exist.
    other = create_account(mlab, f"metrics-{algorithm}")
    other_client = as_account(mlab, other).client(dict(labkit.ALGORITHMS)[algorithm])
    assert error(hour, iso(now), on=other_client) == ("InvalidInstanceId.NotFound", 404)
