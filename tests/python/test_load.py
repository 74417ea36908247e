"""Concurrent writers (issue 15, class 2): 50 official-SDK clients for a bounded time against one
fake-driver server, half signing with ACS3-HMAC-SHA256 and half with RPC HMAC-SHA1.

Each client owns its instances and only sends calls their status admits: RunInstances,
DescribeInstances (unfiltered, by one id, by several ids), DescribeDisks, StopInstance(ForceStop),
CreateSnapshot of a Stopped instance's system disk, DeleteInstance(Force). Nothing may fail except
with Throttling; SQLite's "database is locked" must never reach a client (it was a 500),
and no instance may be left in a transitional status once the load stops.
"""

from __future__ import annotations

import collections
import json
import random
import threading
import time

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from darabonba.exceptions import DaraException

import labkit

CLIENTS = 50
LOAD_SECS = 20
TRANSITIONAL = {"Pending", "Starting", "Stopping"}


@pytest.fixture(scope="module")
def load_lab(prerequisites):
    """A server of its own: the load must not disturb the shared fake server's other tests."""
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="fake", extra_args=["--stop-grace-secs", "1"],
                              name="ecslab-pyload")
    try:
        yield lab
    finally:
        labkit.stop_server(lab)


class Tally:
    """Calls and their outcomes, shared by every client thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = collections.Counter()   # action -> calls
        self.statuses = collections.Counter()  # HTTP status -> calls
        self.errors = collections.Counter()  # (action, code, status) -> calls
        self.samples: dict[tuple, str] = {}

    def call(self, action: str, fn, *args):
        try:
            result = fn(*args)
        except DaraException as e:
            with self.lock:
                self.calls[action] += 1
                self.statuses[e.status_code] += 1
                key = (action, e.code, e.status_code)
                self.errors[key] += 1
                self.samples.setdefault(key, str(e.message)[:300])
            return None
        with self.lock:
            self.calls[action] += 1
            self.statuses[200] += 1
        return result


def client_loop(lab, algorithm: str | None, seed: int, deadline: float, tally: Tally, owned: set):
    client = lab.client(algorithm)
    rng = random.Random(seed)
    mine: dict[str, dict] = {}  # instance id -> {"snapshotted": bool}

    def attribute(instance_id):
        """The instance's status, as DescribeInstances with one InstanceId shows it."""
        reply = tally.call("DescribeInstances(id)", client.describe_instances, ecs_models.DescribeInstancesRequest(
            region_id=labkit.REGION, instance_ids=json.dumps([instance_id])))
        found = reply.body.instances.instance if reply else []
        return found[0] if found else None

    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.15 and len(mine) < 4:
            reply = tally.call("RunInstances", client.run_instances, ecs_models.RunInstancesRequest(
                region_id=labkit.REGION, image_id=lab.image_id, instance_type="ecs.lab.tiny",
                instance_name=f"load-{seed}"))
            if reply:
                for instance_id in reply.body.instance_id_sets.instance_id_set:
                    mine[instance_id] = {"snapshotted": False}
                    owned.add(instance_id)
        elif roll < 0.30 and mine:
            instance_id = rng.choice(sorted(mine))
            body = attribute(instance_id)
            if body is not None and body.status in ("Running", "Stopped"):
                done = tally.call("DeleteInstance", client.delete_instance,
                                  ecs_models.DeleteInstanceRequest(instance_id=instance_id, force=True))
                if done:
                    del mine[instance_id]
        elif roll < 0.40 and mine:
            instance_id = rng.choice(sorted(mine))
            if mine[instance_id]["snapshotted"]:
                continue
            body = attribute(instance_id)
            if body is not None and body.status == "Running":
                # The fake driver snapshots stopped disks only (live snapshots need QEMU).
                tally.call("StopInstance", client.stop_instance,
                           ecs_models.StopInstanceRequest(instance_id=instance_id, force_stop=True))
            elif body is not None and body.status == "Stopped":
                disks = tally.call("DescribeDisks", client.describe_disks, ecs_models.DescribeDisksRequest(
                    region_id=labkit.REGION, instance_id=instance_id, disk_type="system"))
                if disks and disks.body.disks.disk:
                    snap = tally.call("CreateSnapshot", client.create_snapshot, ecs_models.CreateSnapshotRequest(
                        disk_id=disks.body.disks.disk[0].disk_id, snapshot_name=f"load-{seed}"))
                    if snap:
                        mine[instance_id]["snapshotted"] = True
        elif roll < 0.60 and mine:
            attribute(rng.choice(sorted(mine)))
        elif roll < 0.75 and mine:
            tally.call("DescribeInstances(ids)", client.describe_instances, ecs_models.DescribeInstancesRequest(
                region_id=labkit.REGION, instance_ids=json.dumps(sorted(mine))))
        elif roll < 0.90:
            tally.call("DescribeInstances", client.describe_instances, ecs_models.DescribeInstancesRequest(
                region_id=labkit.REGION, page_size=rng.choice([10, 50, 100])))
        else:
            tally.call("DescribeDisks", client.describe_disks, ecs_models.DescribeDisksRequest(
                region_id=labkit.REGION, page_size=50))


def all_instances(client) -> list:
    found, page = [], 1
    while True:
        body = client.describe_instances(ecs_models.DescribeInstancesRequest(
            region_id=labkit.REGION, page_number=page, page_size=100)).body
        found.extend(body.instances.instance)
        if len(found) >= body.total_count or not body.instances.instance:
            return found
        page += 1


def test_fifty_concurrent_clients_see_no_error_but_throttling(load_lab):
    tally = Tally()
    owned: set[str] = set()
    algorithms = [alg for _, alg in labkit.ALGORITHMS]
    started = time.monotonic()
    deadline = started + LOAD_SECS
    threads = [threading.Thread(target=client_loop, daemon=True,
                                args=(load_lab, algorithms[n % 2], n, deadline, tally, owned))
               for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LOAD_SECS + 60)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a client hung"

    total = sum(tally.calls.values())
    print(f"\n[load] {CLIENTS} clients, {elapsed:.1f} s, {total} calls ({total / elapsed:.0f}/s)")
    print(f"[load] calls by action: {dict(sorted(tally.calls.items()))}")
    print(f"[load] HTTP statuses: {dict(sorted(tally.statuses.items()))}")
    print(f"[load] errors: {dict(tally.errors)}")
    assert total > CLIENTS * 5, "the load did not run"
    for action in ("RunInstances", "StopInstance", "DeleteInstance", "CreateSnapshot", "DescribeInstances"):
        assert tally.calls[action] > 0, f"no {action} was sent"
    unexpected = {k: v for k, v in tally.errors.items() if k[1] != "Throttling"}
    assert not unexpected, {k: (v, tally.samples[k]) for k, v in unexpected.items()}

    log = load_lab.log_path.read_text(errors="replace")
    assert "database is locked" not in log
    assert "InternalError" not in log

    # Once the load stops, nothing stays transitional: boots finish, deletes are complete.
    client = load_lab.client()
    settle = time.monotonic() + 30
    while True:
        left = all_instances(client)
        stuck = [(i.instance_id, i.status) for i in left if i.status in TRANSITIONAL]
        if not stuck or time.monotonic() > settle:
            break
        time.sleep(0.5)
    assert not stuck, f"instances left in a transitional status: {stuck}"
    print(f"[load] {len(owned)} instances created, {len(left)} left, none transitional")
    for instance in left:
        labkit.force_delete(client, instance.instance_id)
