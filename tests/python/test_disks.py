"""Disks as resources of their own through the official SDK: CreateDisk (blank or from a snapshot),
AttachDisk, DetachDisk, DeleteDisk, ResizeDisk and DescribeDisks (docs/api/FACTS.md §4.14-4.16).

The rules run on the fake-driver server, once per signature algorithm where that is cheap; the
disk files there are real qcow2 chains, so content and virtual size are checked from the host.
Offline changes only: the fake driver cannot hot-plug.

One real guest (QEMU) shows that a disk attached to a Stopped instance is what the guest finds
as its data disk at the next start; hot-plug and live resize of a Running guest go through QMP.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from types import SimpleNamespace

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

import labkit
from labkit import REGION

GIB = 1024 ** 3


def expect(call, request, code, status):
    e = labkit.sdk_error(call, request)
    assert isinstance(e, AlibabaCloudException), repr(e)
    assert (e.code, e.status_code) == (code, status), f"{e.code} {e.status_code}: {e.message}"
    assert e.request_id and e.data.get("Message")
    return e


def disk_ids(disks) -> set[str]:
    return {d.disk_id for d in disks}


def virtual_size(lab, disk_id) -> int:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", labkit.disk_row(lab, disk_id)["path"]],
                         capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)["virtual-size"]


def create_disk(client, **kw) -> str:
    return client.create_disk(m.CreateDiskRequest(region_id=REGION, **kw)).body.disk_id


def attach(client, instance_id, disk_id, **kw):
    client.attach_disk(m.AttachDiskRequest(instance_id=instance_id, disk_id=disk_id, **kw))


def detach(client, instance_id, disk_id):
    client.detach_disk(m.DetachDiskRequest(instance_id=instance_id, disk_id=disk_id))


def delete_disk(client, disk_id):
    client.delete_disk(m.DeleteDiskRequest(disk_id=disk_id))


def restart_fake(client, instance_id):
    client.start_instance(m.StartInstanceRequest(instance_id=instance_id))
    labkit.wait_status(client, instance_id, "Running", timeout=30)
    client.stop_instance(m.StopInstanceRequest(instance_id=instance_id, force_stop=True))
    labkit.wait_status(client, instance_id, "Stopped", timeout=30)


@pytest.fixture
def fake_ecs(fake_lab, algorithm):
    return fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])


@pytest.fixture(scope="module")
def zone_id(fake_lab):
    return fake_lab.client().describe_zones(m.DescribeZonesRequest(region_id=REGION)).body.zones.zone[0].zone_id


@pytest.fixture(scope="module")
def host(fake_lab):
    """A Stopped fake instance that ran once, without data disks, plus a second one (`other`)."""
    client = fake_lab.client()
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name="disks-host")
    other = labkit.create_instance(client, fake_lab.image_id, instance_name="disks-other")
    yield SimpleNamespace(instance_id=iid, other=other, system=labkit.instance_disks(client, iid)[0])
    labkit.force_delete(client, iid)
    labkit.force_delete(client, other)


@pytest.fixture(scope="module")
def source(fake_lab):
    """Snapshots of a fake instance's system disk and of its 2 GiB data disk (pattern 9 at 0)."""
    client = fake_lab.client()
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name="disks-source",
                               data_disk=[m.RunInstancesRequestDataDisk(size=2)])
    system, (data,) = labkit.instance_disks(client, iid)
    labkit.disk_write(fake_lab, data, 9, "0", "64k")
    ns = SimpleNamespace(instance_id=iid, system_snap=labkit.snapshot_now(client, system, snapshot_name="src-sys"),
                         data_snap=labkit.snapshot_now(client, data, snapshot_name="src-data"))
    yield ns
    labkit.force_delete(client, iid)


# ---- CreateDisk ----------------------------------------------------------------------------------


def test_create_blank_disk(fake_lab, fake_ecs, algorithm, zone_id):
    disk_id = create_disk(fake_ecs, size=2, disk_name=f"blank-{algorithm}", description="made by pytest",
                          disk_category="cloud_ssd", zone_id=zone_id)
    disk = labkit.describe_disk(fake_ecs, disk_id)
    assert (disk.size, disk.status, disk.type, disk.category) == (2, "Available", "data", "cloud_ssd")
    assert (disk.disk_name, disk.description, disk.zone_id, disk.region_id) == (
        f"blank-{algorithm}", "made by pytest", zone_id, REGION)
    assert (disk.portable, disk.delete_with_instance, disk.instance_id, disk.device, disk.source_snapshot_id) == (
        True, False, "", "", "")
    assert virtual_size(fake_lab, disk_id) == 2 * GIB
    assert labkit.disk_holds(fake_lab, disk_id, 0, "0", "1M")
    delete_disk(fake_ecs, disk_id)
    assert labkit.describe_disk(fake_ecs, disk_id) is None
    expect(fake_ecs.delete_disk, m.DeleteDiskRequest(disk_id=disk_id), "InvalidDiskId.NotFound", 404)


def test_create_disk_errors(fake_ecs, source):
    C = m.CreateDiskRequest
    for request, code, status in [
        (C(region_id=REGION, disk_name="no-size"), "MissingParameter", 400),
        (C(region_id=REGION, size=0), "InvalidSize.ValueNotSupported", 400),
        (C(region_id=REGION, size=32769), "InvalidSize.ValueNotSupported", 400),
        (C(region_id=REGION, size=1, zone_id="nowhere-z"), "InvalidZoneId.NotFound", 404),
        (C(region_id=REGION, snapshot_id="s-doesnotexist"), "InvalidSnapshotId.NotFound", 404),
        (C(region_id=REGION, snapshot_id=source.system_snap), "InvalidSnapshotId.NotDataDiskSnapshot", 403),
        (C(region_id=REGION, snapshot_id=source.data_snap, size=1), "InvalidDiskSize.TooSmall", 403),
        (C(region_id=REGION, size=1, disk_name="1bad"), "InvalidDiskName.Malformed", 400),
        (C(region_id=REGION, size=1, description="http://x"), "InvalidDescription.Malformed", 400),
    ]:
        e = expect(fake_ecs.create_disk, request, code, status)
        if code == "MissingParameter":
            assert "SnapshotId" in e.message and "Size" in e.message
    assert labkit.list_disks(fake_ecs, disk_name="no-size") == []


def test_create_disk_from_snapshot(fake_lab, fake_ecs, source):
    same = create_disk(fake_ecs, snapshot_id=source.data_snap, disk_name="from-snap")
    bigger = create_disk(fake_ecs, snapshot_id=source.data_snap, size=3, disk_name="from-snap-3")
    try:
        for disk_id, size in [(same, 2), (bigger, 3)]:
            disk = labkit.wait_disk_status(fake_ecs, disk_id, "Available")
            assert (disk.size, disk.source_snapshot_id, disk.type) == (size, source.data_snap, "data")
            assert virtual_size(fake_lab, disk_id) == size * GIB
            assert labkit.disk_holds(fake_lab, disk_id, 9, "0", "64k")
            assert labkit.disk_holds(fake_lab, disk_id, 0, "64k", "64k")
        assert disk_ids(labkit.list_disks(fake_ecs, snapshot_id=source.data_snap)) == {same, bigger}
        (snap,) = labkit.list_snapshots(fake_ecs, snapshot_ids=json.dumps([source.data_snap]))
        assert snap.usage == "disk"
        assert source.data_snap in {s.snapshot_id for s in labkit.list_snapshots(fake_ecs, usage="disk")}
        # A disk made from a snapshot is a disk of its own: writing to it leaves the snapshot alone.
        labkit.disk_write(fake_lab, same, 1, "0", "64k")
        assert labkit.disk_holds(fake_lab, bigger, 9, "0", "64k")
    finally:
        for disk_id in (same, bigger):
            labkit.wait_disk_status(fake_ecs, disk_id, "Available")
            delete_disk(fake_ecs, disk_id)


def test_create_disk_client_token(fake_ecs, algorithm):
    token = f"pytest-disk-{algorithm}-{uuid.uuid4().hex}"
    name = f"idem-disk-{algorithm}"
    first = create_disk(fake_ecs, size=1, disk_name=name, client_token=token)
    try:
        assert create_disk(fake_ecs, size=1, disk_name=name, client_token=token) == first
        e = labkit.sdk_error(create_disk, fake_ecs, size=2, disk_name=name, client_token=token)
        assert (e.code, e.status_code) == ("IdempotentParameterMismatch", 400), f"{e.code} {e.status_code}"
        assert [d.disk_id for d in labkit.list_disks(fake_ecs, disk_name=name)] == [first]
    finally:
        delete_disk(fake_ecs, first)


# ---- AttachDisk / DetachDisk / DeleteDisk ----------------------------------------------------------


def test_attach_detach_delete(fake_lab, fake_ecs, host):
    iid = host.instance_id
    disk_id = create_disk(fake_ecs, size=1, disk_name="attach-me")
    try:
        A = m.AttachDiskRequest
        expect(fake_ecs.attach_disk, A(instance_id="i-doesnotexist", disk_id=disk_id), "InvalidInstanceId.NotFound", 404)
        expect(fake_ecs.attach_disk, A(instance_id=iid, disk_id="d-doesnotexist"), "InvalidDiskId.NotFound", 404)
        expect(fake_ecs.attach_disk, A(instance_id=iid, disk_id=host.system), "InvalidDisk.InUse", 404)

        attach(fake_ecs, iid, disk_id)
        disk = labkit.describe_disk(fake_ecs, disk_id)
        assert (disk.status, disk.instance_id, disk.delete_with_instance) == ("In_use", iid, False)
        assert disk.device.startswith("/dev/xvd") and disk.device != "/dev/xvda", disk.device
        assert disk_ids(labkit.list_disks(fake_ecs, instance_id=iid)) == {host.system, disk_id}

        expect(fake_ecs.attach_disk, A(instance_id=iid, disk_id=disk_id), "InvalidDisk.InUse", 404)
        expect(fake_ecs.attach_disk, A(instance_id=host.other, disk_id=disk_id), "InvalidDisk.InUse", 404)
        expect(fake_ecs.delete_disk, m.DeleteDiskRequest(disk_id=disk_id), "IncorrectDiskStatus", 403)
        D = m.DetachDiskRequest
        expect(fake_ecs.detach_disk, D(instance_id=iid, disk_id=host.system), "DiskTypeViolation", 403)
        expect(fake_ecs.detach_disk, D(instance_id=host.other, disk_id=disk_id), "DependencyViolation", 403)
        expect(fake_ecs.detach_disk, D(instance_id="i-doesnotexist", disk_id=disk_id), "InvalidInstanceId.NotFound", 404)

        # Attached while the instance is Stopped: not used until the instance starts.
        expect(fake_ecs.create_snapshot, m.CreateSnapshotRequest(disk_id=disk_id), "IncorrectDiskStatus.NeverUsed", 403)
        restart_fake(fake_ecs, iid)
        snap = labkit.snapshot_now(fake_ecs, disk_id)

        detach(fake_ecs, iid, disk_id)
        disk = labkit.describe_disk(fake_ecs, disk_id)
        assert (disk.status, disk.instance_id, disk.device) == ("Available", "", "")
        assert disk_ids(labkit.list_disks(fake_ecs, instance_id=iid)) == {host.system}
        expect(fake_ecs.detach_disk, D(instance_id=iid, disk_id=disk_id), "InvalidDisk.AlreadyDetached", 404)
        # ResetDisk needs the disk In_use (attached, instance Stopped).
        expect(fake_ecs.reset_disk, m.ResetDiskRequest(disk_id=disk_id, snapshot_id=snap), "IncorrectDiskStatus", 403)

        delete_disk(fake_ecs, disk_id)
        assert labkit.list_disks(fake_ecs, disk_ids=json.dumps([disk_id])) == []
        # The disk's snapshot stays.
        (kept,) = labkit.list_snapshots(fake_ecs, snapshot_ids=json.dumps([snap]))
        assert kept.source_disk_id == disk_id
        fake_ecs.delete_snapshot(m.DeleteSnapshotRequest(snapshot_id=snap))
    finally:
        disk = labkit.describe_disk(fake_ecs, disk_id)
        if disk is not None:
            if disk.status == "In_use":
                detach(fake_ecs, disk.instance_id, disk_id)
            delete_disk(fake_ecs, disk_id)



def tag_pairs(resource) -> list[tuple[str, str]]:
    return sorted((t.tag_key, t.tag_value) for t in resource.tags.tag)


def test_disk_tags_round_trip(fake_ecs, algorithm):
    T = m.CreateDiskRequestTag
    disk_id = create_disk(fake_ecs, size=1, disk_name=f"tagged-{algorithm}",
                          tag=[T(key="team", value="storage"), T(key="env", value="")])
    other = create_disk(fake_ecs, size=1, disk_name=f"untagged-{algorithm}")
    try:
        assert tag_pairs(labkit.describe_disk(fake_ecs, disk_id)) == [("env", ""), ("team", "storage")]
        assert tag_pairs(labkit.describe_disk(fake_ecs, other)) == []
        # DescribeDisks Tag.N: the key, and the value when given, must match (as DescribeSnapshots).
        F = m.DescribeDisksRequestTag
        both = json.dumps([disk_id, other])
        assert disk_ids(labkit.list_disks(fake_ecs, disk_ids=both, tag=[F(key="team")])) == {disk_id}
        assert disk_ids(labkit.list_disks(fake_ecs, disk_ids=both, tag=[F(key="team", value="storage")])) == {disk_id}
        assert labkit.list_disks(fake_ecs, disk_ids=both, tag=[F(key="team", value="compute")]) == []
        assert labkit.list_disks(fake_ecs, disk_ids=both, tag=[F(key="team"), F(key="missing")]) == []
        expect(fake_ecs.create_disk, m.CreateDiskRequest(region_id=REGION, size=1, tag=[T(key="acs:x", value="v")]),
               "InvalidTagKey.Malformed", 400)
    finally:
        delete_disk(fake_ecs, disk_id)
        delete_disk(fake_ecs, other)


def test_instance_tags_reach_its_disks(fake_lab):
    """RunInstances/CreateInstance Tag.N tag "the instance, cloud disks, and primary ENI" (SDK model)."""
    client = fake_lab.client()
    extra = None
    iid = labkit.create_instance(client, fake_lab.image_id, instance_name="disks-tagged",
                                 tag=[m.CreateInstanceRequestTag(key="owner", value="pytest")],
                                 data_disk=[m.CreateInstanceRequestDataDisk(size=1)])
    try:
        disks = labkit.list_disks(client, instance_id=iid)
        assert len(disks) == 2
        assert all(tag_pairs(d) == [("owner", "pytest")] for d in disks), [tag_pairs(d) for d in disks]
        # A disk made afterwards and attached keeps its own tags (none).
        extra = create_disk(client, size=1)
        attach(client, iid, extra)
        assert tag_pairs(labkit.describe_disk(client, extra)) == []
    finally:
        client.delete_instance(m.DeleteInstanceRequest(instance_id=iid, force=True))
        if extra is not None and labkit.describe_disk(client, extra) is not None:
            delete_disk(client, extra)


def test_mount_instances_agree_with_attachment(fake_ecs, host):
    iid = host.instance_id
    disk_id = create_disk(fake_ecs, size=1, disk_name="mount-info")
    try:
        disk = labkit.describe_disk(fake_ecs, disk_id)
        assert disk.mount_instance_num == 0 and not disk.mount_instances.mount_instance
        attach(fake_ecs, iid, disk_id)
        disk = labkit.describe_disk(fake_ecs, disk_id)
        assert disk.mount_instance_num == 1
        (mount,) = disk.mount_instances.mount_instance
        assert (mount.instance_id, mount.device, mount.attached_time) == (iid, disk.device, disk.attached_time)
        assert mount.attached_time
        (attachment,) = disk.attachments.attachment
        assert (attachment.instance_id, attachment.device) == (iid, disk.device)
        detach(fake_ecs, iid, disk_id)
        disk = labkit.describe_disk(fake_ecs, disk_id)
        assert disk.mount_instance_num == 0 and not disk.mount_instances.mount_instance
    finally:
        disk = labkit.describe_disk(fake_ecs, disk_id)
        if disk is not None and disk.status == "In_use":
            detach(fake_ecs, disk.instance_id, disk_id)
        delete_disk(fake_ecs, disk_id)


def test_delete_with_instance(fake_lab):
    client = fake_lab.client()
    iid = labkit.create_instance(client, fake_lab.image_id, instance_name="disks-dwi")
    goes = create_disk(client, size=1, disk_name="goes-with-instance")
    stays = create_disk(client, size=1, disk_name="stays")
    attach(client, iid, goes, delete_with_instance=True)
    attach(client, iid, stays, delete_with_instance=False)
    flags = {d.disk_id: d.delete_with_instance for d in labkit.list_disks(client, instance_id=iid, disk_type="data")}
    assert flags == {goes: True, stays: False}
    client.delete_instance(m.DeleteInstanceRequest(instance_id=iid, force=True))
    assert labkit.describe_disk(client, goes) is None
    disk = labkit.describe_disk(client, stays)
    assert (disk.status, disk.instance_id) == ("Available", "")
    delete_disk(client, stays)


def test_locked_instance_refuses_disk_changes(fake_lab, host):
    client = fake_lab.client()
    attached = create_disk(client, size=1, disk_name="locked-attached")
    spare = create_disk(client, size=1, disk_name="locked-spare")
    attach(client, host.instance_id, attached)
    labkit.admin(fake_lab, "lock", host.instance_id)
    try:
        expect(client.attach_disk, m.AttachDiskRequest(instance_id=host.instance_id, disk_id=spare),
               "InstanceLockedForSecurity", 403)
        expect(client.detach_disk, m.DetachDiskRequest(instance_id=host.instance_id, disk_id=attached),
               "InstanceLockedForSecurity", 403)
        assert labkit.describe_disk(client, attached).status == "In_use"
    finally:
        labkit.admin(fake_lab, "unlock", host.instance_id)
    detach(client, host.instance_id, attached)
    for disk_id in (attached, spare):
        delete_disk(client, disk_id)


def test_device_names_survive_restarts(fake_lab):
    """A disk keeps its Device while it stays attached, across restarts and other disks' detaching."""
    client = fake_lab.client()
    iid = labkit.create_instance(client, fake_lab.image_id, instance_name="disks-order")
    first, second, third = (create_disk(client, size=1, disk_name=f"order-{n}") for n in range(3))
    try:
        attach(client, iid, first)
        attach(client, iid, second)

        def devices():
            return {d.disk_id: d.device for d in labkit.list_disks(client, instance_id=iid)}

        before = devices()
        assert len(set(before.values())) == 3 and before[first] < before[second], before
        assert sorted(before.values())[0] == "/dev/xvda"
        restart_fake(client, iid)
        assert devices() == before
        restart_fake(client, iid)
        assert devices() == before

        detach(client, iid, first)
        restart_fake(client, iid)
        after = devices()
        assert first not in after and after[second] == before[second]
        attach(client, iid, third)
        after = devices()
        assert after[second] == before[second] and len(set(after.values())) == 3, after
        restart_fake(client, iid)
        assert devices() == after
    finally:
        labkit.force_delete(client, iid)
        for disk_id in (first, second, third):
            if labkit.describe_disk(client, disk_id) is not None:
                delete_disk(client, disk_id)


# ---- ResizeDisk ------------------------------------------------------------------------------------


def test_resize_disk(fake_lab, fake_ecs, host):
    disk_id = create_disk(fake_ecs, size=1, disk_name="resize-me")
    try:
        labkit.disk_write(fake_lab, disk_id, 3, "0", "64k")
        fake_ecs.resize_disk(m.ResizeDiskRequest(disk_id=disk_id, new_size=2))
        assert labkit.describe_disk(fake_ecs, disk_id).size == 2
        assert virtual_size(fake_lab, disk_id) == 2 * GIB
        assert labkit.disk_holds(fake_lab, disk_id, 3, "0", "64k")
        assert labkit.disk_holds(fake_lab, disk_id, 0, "1G", "64k")

        # Grow only: the same size or a smaller one is refused (400 as docs/API.md has it; docs/api/FACTS.md
        # has no ResizeDisk table).
        for new_size in (2, 1):
            expect(fake_ecs.resize_disk, m.ResizeDiskRequest(disk_id=disk_id, new_size=new_size),
                   "InvalidDiskSize.TooSmall", 400)
        assert labkit.describe_disk(fake_ecs, disk_id).size == 2
        expect(fake_ecs.resize_disk, m.ResizeDiskRequest(disk_id="d-doesnotexist", new_size=5), "InvalidDiskId.NotFound", 404)
        expect(fake_ecs.resize_disk, m.ResizeDiskRequest(disk_id=disk_id), "MissingParameter", 400)

        # Attached to a Stopped instance: resized offline too, content kept.
        attach(fake_ecs, host.instance_id, disk_id)
        fake_ecs.resize_disk(m.ResizeDiskRequest(disk_id=disk_id, new_size=3))
        disk = labkit.describe_disk(fake_ecs, disk_id)
        assert (disk.size, disk.status) == (3, "In_use")
        assert virtual_size(fake_lab, disk_id) == 3 * GIB
        assert labkit.disk_holds(fake_lab, disk_id, 3, "0", "64k")
        detach(fake_ecs, host.instance_id, disk_id)
    finally:
        delete_disk(fake_ecs, disk_id)


# ---- DescribeDisks -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inventory(fake_lab):
    """An instance with a system disk and two data disks (`inv-a`, `inv-b`), and a free disk `inv-free`."""
    client = fake_lab.client()
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name="disks-inventory",
                               data_disk=[m.RunInstancesRequestDataDisk(size=1, disk_name="inv-a"),
                                          m.RunInstancesRequestDataDisk(size=2, disk_name="inv-b")])
    system, data = labkit.instance_disks(client, iid)
    free = create_disk(client, size=1, disk_name="inv-free")
    yield SimpleNamespace(instance_id=iid, system=system, data=data, free=free, all=[system, *data, free])
    labkit.force_delete(client, iid)
    delete_disk(client, free)


def test_describe_disks_filters(fake_ecs, inventory):
    inv = inventory
    everything = json.dumps(inv.all)
    body = fake_ecs.describe_disks(m.DescribeDisksRequest(region_id=REGION, instance_id=inv.instance_id)).body
    assert body.disks is not None and body.total_count == 3
    assert disk_ids(body.disks.disk) == {inv.system, *inv.data}
    by_id = {d.disk_id: d for d in body.disks.disk}
    assert [by_id[d].device for d in (inv.system, *inv.data)] == ["/dev/xvda", "/dev/xvdb", "/dev/xvdc"]
    assert [by_id[d].disk_name for d in inv.data] == ["inv-a", "inv-b"]
    assert [by_id[d].size for d in inv.data] == [1, 2]

    def found(**filters):
        return disk_ids(labkit.list_disks(fake_ecs, disk_ids=everything, **filters))

    assert found() == set(inv.all)
    assert found(disk_type="system") == {inv.system}
    assert found(disk_type="data") == {*inv.data, inv.free}
    assert found(disk_type="all") == set(inv.all)
    assert found(status="In_use") == {inv.system, *inv.data}
    assert found(status="Available") == {inv.free}
    assert found(status="All") == set(inv.all)
    assert found(disk_name="inv-free") == {inv.free}
    assert found(instance_id=inv.instance_id, disk_type="data") == set(inv.data)
    assert found(portable=True) | found(portable=False) == set(inv.all)
    assert not found(portable=True) & found(portable=False)
    assert inv.free in found(portable=True)
    assert disk_ids(labkit.list_disks(fake_ecs, disk_ids=json.dumps([inv.free, "d-nope"]))) == {inv.free}
    empty = fake_ecs.describe_disks(m.DescribeDisksRequest(region_id=REGION, disk_ids="[]")).body
    assert empty.disks is not None and empty.disks.disk == [] and empty.total_count == 0


def test_describe_disks_paging(fake_ecs, inventory):
    mine = dict(region_id=REGION, disk_ids=json.dumps(inventory.all))
    pages = [fake_ecs.describe_disks(m.DescribeDisksRequest(page_number=n, page_size=3, **mine)).body for n in (1, 2)]
    assert [len(p.disks.disk) for p in pages] == [3, 1]
    assert [(p.total_count, p.page_number, p.page_size) for p in pages] == [(4, 1, 3), (4, 2, 3)]
    assert disk_ids(pages[0].disks.disk) | disk_ids(pages[1].disks.disk) == set(inventory.all)

    first = fake_ecs.describe_disks(m.DescribeDisksRequest(max_results=3, **mine)).body
    assert len(first.disks.disk) == 3 and first.next_token
    second = fake_ecs.describe_disks(m.DescribeDisksRequest(max_results=3, next_token=first.next_token, **mine)).body
    assert len(second.disks.disk) == 1 and not second.next_token
    assert disk_ids(first.disks.disk) | disk_ids(second.disks.disk) == set(inventory.all)


def test_describe_disks_bad_values(fake_ecs):
    R = m.DescribeDisksRequest
    for request, code, status in [
        (R(region_id=REGION, disk_type="root"), "InvalidDiskType.ValueNotSupported", 400),
        (R(region_id=REGION, status="Broken"), "InvalidStatus.ValueNotSupported", 400),
        (R(region_id=REGION, disk_ids="d-1,d-2"), "InvalidParameter.DiskIds", 400),
        (R(region_id=REGION, disk_ids=json.dumps([f"d-{n}" for n in range(101)])), "InvalidDiskIds.Malformed", 403),
    ]:
        expect(fake_ecs.describe_disks, request, code, status)


# ---- a real guest ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guest(lab):
    """A real instance created without data disks, with a blank 1 GiB disk attached while it was
    Stopped and never started, then started once: Running, its first boot READY. `before_start`
    is the disk as DescribeDisks showed it then, `snapshot_before_start` CreateSnapshot's error."""
    client = lab.client()
    iid = labkit.create_instance(client, lab.image_id, instance_name="disks-guest")
    disk_id = create_disk(client, size=1, disk_name="guest-log")
    try:
        attach(client, iid, disk_id, delete_with_instance=True)
        before_start = labkit.describe_disk(client, disk_id)
        never_used = labkit.sdk_error(client.create_snapshot, m.CreateSnapshotRequest(disk_id=disk_id))
        client.start_instance(m.StartInstanceRequest(instance_id=iid))
        labkit.wait_status(client, iid, "Running", timeout=60)
        console = labkit.wait_console(client, iid, "VMTEST-GUEST-READY", timeout=120)
        yield SimpleNamespace(instance_id=iid, disk=disk_id, before_start=before_start,
                              snapshot_before_start=never_used, console=console)
    finally:
        labkit.force_delete(client, iid)
        if labkit.describe_disk(client, disk_id) is not None:
            delete_disk(client, disk_id)


def test_attached_disk_is_the_guests_data_disk(lab, guest):
    disk = guest.before_start
    assert (disk.status, disk.instance_id, disk.device, disk.delete_with_instance) == (
        "In_use", guest.instance_id, "/dev/xvdb", True)
    e = guest.snapshot_before_start
    assert (e.code, e.status_code) == ("IncorrectDiskStatus.NeverUsed", 403), f"{e.code} {e.status_code}"
    assert "VMTEST-GUEST-READY stage=ext4 mode=bios data=/dev/vdb count=1" in guest.console, guest.console[-1500:]
    # The guest's boot entry is on the attached disk (read from the host through its chain).
    assert labkit.disk_log(lab, guest.disk) == ["1 boot mode=bios stage=ext4"]


def test_hot_plug_into_a_running_guest(lab, guest):
    client = lab.client()
    assert labkit.describe(client, guest.instance_id).status == "Running"
    disk_id = create_disk(client, size=1, disk_name="hot-plug")
    try:
        attach(client, guest.instance_id, disk_id)
        disk = labkit.wait_disk_status(client, disk_id, "In_use", timeout=30)
        assert disk.instance_id == guest.instance_id and disk.device not in ("", "/dev/xvda", "/dev/xvdb")
        detach(client, guest.instance_id, disk_id)
        labkit.wait_disk_status(client, disk_id, "Available", timeout=60)
        assert labkit.describe(client, guest.instance_id).status == "Running"
    finally:
        disk = labkit.describe_disk(client, disk_id)
        if disk is not None and disk.status == "Available":
            delete_disk(client, disk_id)


def test_live_resize_of_a_running_guest(lab, guest):
    client = lab.client()
    assert labkit.describe(client, guest.instance_id).status == "Running"
    client.resize_disk(m.ResizeDiskRequest(disk_id=guest.disk, new_size=2))
    assert labkit.describe_disk(client, guest.disk).size == 2
    assert virtual_size(lab, guest.disk) == 2 * GIB


def test_detached_disk_keeps_the_guests_log(lab, guest):
    client = lab.client()
    client.stop_instance(m.StopInstanceRequest(instance_id=guest.instance_id))
    labkit.wait_status(client, guest.instance_id, "Stopped", timeout=60)
    detach(client, guest.instance_id, guest.disk)
    disk = labkit.describe_disk(client, guest.disk)
    assert (disk.status, disk.instance_id, disk.device) == ("Available", "", "")
    assert labkit.disk_log(lab, guest.disk) == ["1 boot mode=bios stage=ext4"]
    delete_disk(client, guest.disk)
    assert labkit.describe_disk(client, guest.disk) is None
