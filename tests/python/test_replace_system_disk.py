"""ECS ReplaceSystemDisk through the official SDK (docs/api/FACTS.md §4.9), both signature algorithms.

The rules, the disk bookkeeping (new DiskId, old disk released, its snapshots kept with their
SourceDiskId and still usable by CreateImage, data disks untouched, ClientToken) and a failed
change run on the fake-driver server: its disk chains are real qcow2 files, so the tests write a
marker into the old system disk from the host and read the new one. On the real QEMU server a
guest's system disk is replaced by another image and the instance boots that image: the test
guest is replaced by the graphics test disk (docs/GUEST.md), which prints `VMTEST-GFX-READY` on
the serial console instead of the guest's banner.

The record each change leaves is read through ECD's DescribeImageModifiedRecords (test_ecd.py
covers ECD itself).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import pytest
from alibabacloud_ecd20200930 import models as ecd_models
from alibabacloud_ecd20200930.client import Client as EcdClient
from alibabacloud_ecs20140526 import models as m
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

import labkit
from labkit import REGION

MARKER = 0x5A
GFX_READY = "VMTEST-GFX-READY"
GUEST_READY = "VMTEST-GUEST-READY"


def ecd_client(lab, algorithm: str | None = None) -> EcdClient:
    kwargs = dict(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret,
                  region_id=REGION, endpoint=lab.endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return EcdClient(open_api_models.Config(**kwargs))


def records(lab, desktop_id: str, **kw):
    body = ecd_client(lab).describe_image_modified_records(ecd_models.DescribeImageModifiedRecordsRequest(
        region_id=REGION, desktop_id=desktop_id, max_results=100, **kw)).body
    return body.image_modified_records


def wait_record_done(lab, desktop_id: str, count: int, timeout: float = 120):
    """Wait until the instance has `count` records and the newest is no longer changing."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(lab, desktop_id)
        if len(found) >= count and found[0].status != 0:
            return found[0]
        assert time.monotonic() < deadline, f"records of {desktop_id}: {[r.to_map() for r in found]}"
        time.sleep(0.1)


def expect(call, request, code, status):
    e = labkit.sdk_error(call, request)
    assert isinstance(e, AlibabaCloudException), repr(e)
    assert (e.code, e.status_code) == (code, status), f"{e.code} {e.status_code}: {e.message}"
    assert e.request_id and e.message
    return e


def image_path(lab, image_id: str) -> str:
    db = sqlite3.connect(f"file:{lab.data_dir / 'ecslab.db'}?mode=ro", uri=True, timeout=10)
    try:
        (path,) = db.execute("SELECT path FROM images WHERE image_id = ?", (image_id,)).fetchone()
    finally:
        db.close()
    return path


def import_variant(lab, file, name: str) -> str:
    return labkit.import_image(lab, labkit.server_binary(), file, f"{name}-{uuid.uuid4().hex[:8]}")


def corrupt_image(lab, name: str) -> str:
    """An Available image whose file was damaged afterwards (its qcow2 header overwritten)."""
    image_id = import_variant(lab, labkit.guest_image(), name)
    with open(image_path(lab, image_id), "r+b") as f:
        f.write(b"\xde\xad\xbe\xef" * 4096)
    return image_id


@pytest.fixture
def fake_ecs(fake_lab, algorithm):
    return fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])


@pytest.fixture(scope="module")
def second_image(fake_lab):
    """A second image on the fake server (same content, another ImageId and name)."""
    return import_variant(fake_lab, labkit.guest_image(), "second")


# ---- rules ---------------------------------------------------------------------------------------


def test_rules(fake_lab, fake_ecs, second_image):
    client = fake_lab.client()
    stopped = labkit.run_then_stop(client, fake_lab.image_id, instance_name="rsd-rules")
    running = labkit.run_instance(client, fake_lab.image_id, instance_name="rsd-running")
    try:
        labkit.wait_status(client, running, "Running", timeout=30)
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(instance_id=stopped),
               "MissingParameter", 400)
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(instance_id="i-doesnotexist",
               image_id=second_image), "InvalidInstanceId.NotFound", 404)
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(instance_id=stopped,
               image_id="m-doesnotexist"), "InvalidImageId.NotFound", 404)
        e = expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(instance_id=running,
                   image_id=second_image), "IncorrectInstanceStatus", 403)
        assert "status" in e.message
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(
            instance_id=stopped, image_id=second_image, system_disk=m.ReplaceSystemDiskRequestSystemDisk(size=501)),
            "InvalidSystemDiskSize.MoreThanMaxSize", 404)
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(
            instance_id=stopped, image_id=second_image, system_disk=m.ReplaceSystemDiskRequestSystemDisk(size=0)),
            "InvalidSystemDiskSize.ValueNotSupported", 400)
        # An image deleted with Force is gone for new disks, even while an instance still reads it.
        hidden = import_variant(fake_lab, labkit.guest_image(), "hidden")
        reader = labkit.create_instance(client, hidden, instance_name="rsd-reader")
        try:
            client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=hidden, force=True))
            expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(instance_id=stopped, image_id=hidden),
                   "InvalidImageId.NotFound", 404)
        finally:
            labkit.force_delete(client, reader)
        # Nothing above changed anything.
        assert records(fake_lab, stopped) == []
        assert labkit.describe(client, stopped).image_id == fake_lab.image_id
    finally:
        labkit.force_delete(client, stopped)
        labkit.force_delete(client, running)


def test_refused_while_a_snapshot_of_the_system_disk_is_created(fake_lab, fake_ecs, second_image):
    """CreateSnapshot answers once the point in time is taken; merging what changed (here 256 MiB)
    into the disk's base runs after that, and the snapshot is `progressing` meanwhile."""
    client = fake_lab.client()
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name="rsd-snapshotting")
    try:
        system, _ = labkit.instance_disks(client, iid)
        labkit.disk_write(fake_lab, system, MARKER, "0", "256M")
        snapshot_id = labkit.create_snapshot(client, system)
        e = expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(instance_id=iid, image_id=second_image),
                   "DiskCreatingSnapshot", 403)
        assert "snapshot" in e.message
        assert labkit.wait_snapshot(client, snapshot_id).status == "accomplished"
        fake_ecs.replace_system_disk(m.ReplaceSystemDiskRequest(instance_id=iid, image_id=second_image))
        assert wait_record_done(fake_lab, iid, 1).status == 1
    finally:
        labkit.force_delete(client, iid)


# ---- the change ------------------------------------------------------------------------------------


def test_replace_keeps_snapshots_and_data_disks(fake_lab, fake_ecs, algorithm, second_image):
    client = fake_lab.client()
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name=f"rsd-{algorithm}",
                               data_disk=[m.RunInstancesRequestDataDisk(size=1)])
    made_image = None
    try:
        old_system, (data,) = labkit.instance_disks(client, iid)
        labkit.disk_write(fake_lab, old_system, MARKER, "1M", "64k")
        snapshot_id = labkit.snapshot_now(client, old_system, snapshot_name=f"before-{algorithm}")

        token = str(uuid.uuid4())
        request = m.ReplaceSystemDiskRequest(instance_id=iid, image_id=second_image, client_token=token,
                                             password_inherit=True,
                                             system_disk=m.ReplaceSystemDiskRequestSystemDisk(size=3))
        new_system = fake_ecs.replace_system_disk(request).body.disk_id
        assert new_system.startswith("d-") and new_system != old_system
        # The same ClientToken and parameters answer the first reply again, and change nothing more.
        assert fake_ecs.replace_system_disk(request).body.disk_id == new_system

        done = wait_record_done(fake_lab, iid, 1)
        assert (done.status, done.image_id, done.new_image_id) == (1, fake_lab.image_id, second_image)
        assert done.image_name == "vmtest-guest" and done.new_image_name.startswith("second-")
        assert len(records(fake_lab, iid)) == 1

        system_now, data_now = labkit.instance_disks(client, iid)
        assert (system_now, data_now) == (new_system, [data])
        disk = labkit.describe_disk(client, new_system)
        assert (disk.status, disk.size, disk.image_id, disk.type) == ("In_use", 3, second_image, "system")
        assert disk.device == "/dev/xvda"
        assert labkit.describe_disk(client, old_system) is None, "the old system disk is released"
        assert labkit.describe(client, iid).image_id == second_image
        assert not labkit.disk_holds(fake_lab, new_system, MARKER, "1M", "64k"), "the new disk comes from the image"

        # The old disk's snapshot is kept, still names its disk, and still makes an image.
        (snap,) = labkit.list_snapshots(client, snapshot_ids=json.dumps([snapshot_id]))
        assert (snap.source_disk_id, snap.status, snap.source_disk_type) == (old_system, "accomplished", "system")
        assert snapshot_id in {s.snapshot_id for s in labkit.list_snapshots(client, disk_id=old_system)}
        made_image = client.create_image(m.CreateImageRequest(
            region_id=REGION, snapshot_id=snapshot_id, image_name=f"from-kept-{algorithm}-{uuid.uuid4().hex[:6]}")).body.image_id
        deadline = time.monotonic() + 120
        while True:
            (image,) = client.describe_images(m.DescribeImagesRequest(
                region_id=REGION, image_id=made_image, status="Creating,Available,CreateFailed")).body.images.image
            if image.status != "Creating":
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert image.status == "Available"
        from_snapshot = labkit.create_instance(client, made_image, instance_name=f"from-kept-{algorithm}")
        try:
            restored, _ = labkit.instance_disks(client, from_snapshot)
            assert labkit.disk_holds(fake_lab, restored, MARKER, "1M", "64k"), "the kept snapshot lost its content"
        finally:
            labkit.force_delete(client, from_snapshot)
    finally:
        labkit.force_delete(client, iid)


def test_a_failed_change_keeps_the_old_disk(fake_lab, fake_ecs, algorithm):
    client = fake_lab.client()
    broken = corrupt_image(fake_lab, f"broken-{algorithm}")
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name=f"rsd-fail-{algorithm}")
    try:
        old_system, _ = labkit.instance_disks(client, iid)
        labkit.disk_write(fake_lab, old_system, MARKER, "1M", "64k")
        accepted = fake_ecs.replace_system_disk(m.ReplaceSystemDiskRequest(instance_id=iid, image_id=broken)).body
        assert accepted.disk_id.startswith("d-")
        done = wait_record_done(fake_lab, iid, 1)
        assert (done.status, done.image_id, done.new_image_id) == (2, fake_lab.image_id, broken)
        assert "cannot be read" in done.reason and broken in done.reason, done.reason
        assert labkit.instance_disks(client, iid)[0] == old_system
        assert labkit.describe_disk(client, accepted.disk_id) is None
        assert labkit.describe(client, iid).image_id == fake_lab.image_id
        assert labkit.disk_holds(fake_lab, old_system, MARKER, "1M", "64k"), "the old disk lost its content"
    finally:
        labkit.force_delete(client, iid)
        client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=broken))


# ---- a real guest boots the new image ------------------------------------------------------------


@pytest.fixture(scope="module")
def gfx_image(lab):
    return import_variant(lab, labkit.guest_image().parent / "gfx-1024x768.qcow2", "gfx")


def test_replace_then_boot_runs_the_new_image(lab, ecs, algorithm, gfx_image, cleanup):
    client = lab.client()
    iid = labkit.run_instance(client, lab.image_id, instance_name=f"rsd-real-{algorithm}")
    cleanup.append(iid)
    labkit.wait_console(client, iid, GUEST_READY, timeout=180)
    assert GFX_READY not in labkit.console_text(client, iid)
    client.stop_instance(m.StopInstanceRequest(instance_id=iid))
    labkit.wait_status(client, iid, "Stopped", timeout=90)
    old_system, _ = labkit.instance_disks(client, iid)

    new_system = ecs.replace_system_disk(m.ReplaceSystemDiskRequest(instance_id=iid, image_id=gfx_image)).body.disk_id
    # Starting right away is fine: the boot waits for the change to finish.
    ecs.start_instance(m.StartInstanceRequest(instance_id=iid))
    labkit.wait_status(client, iid, "Running", timeout=120)
    labkit.wait_console(client, iid, GFX_READY, timeout=120)
    done = wait_record_done(lab, iid, 1)
    assert (done.status, done.new_image_id, done.image_id) == (1, gfx_image, lab.image_id)
    assert labkit.instance_disks(client, iid)[0] == new_system != old_system
    assert labkit.describe(client, iid).image_id == gfx_image
