"""CreateImage from an InstanceId through the SDK: every disk of a running instance saved at one
point in time (the system disk flattened into the image, data disks as snapshots), a Progress
that moves, DiskDeviceMappings in DescribeImages, new instances that boot with both disks'
content, and DeleteImage's Force semantics (refused while used; with Force the image is gone for
users but nothing running from it breaks, and its file goes with the last user).

The real-guest flow runs once (ACS3); the SDK's other signature (RPC HMAC-SHA1) drives the same
actions on the fake-driver server."""

from __future__ import annotations

import json
import subprocess
import time

from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION

READY = "VMTEST-GUEST-READY"


def describe_image(client, image_id, status="Creating,Waiting,Available,CreateFailed"):
    images = client.describe_images(m.DescribeImagesRequest(region_id=REGION, image_id=image_id, status=status)).body.images.image
    return images[0] if images else None


def wait_image(client, image_id, timeout=180):
    """Wait until Available; returns the image and the Progress values seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        image = describe_image(client, image_id)
        assert image is not None, f"{image_id} vanished"
        if not seen or seen[-1] != image.progress:
            seen.append(image.progress)
        if image.status == "Available":
            return image, seen
        assert image.status == "Creating", image.to_map()
        assert time.monotonic() < deadline, f"{image_id} still {image.status} {image.progress}"
        time.sleep(0.1)


def test_image_of_a_running_instance_holds_every_disk(lab, cleanup):
    ecs = lab.client()
    source = labkit.run_instance(ecs, lab.image_id, data_disk=[m.RunInstancesRequestDataDisk(size=1)])
    cleanup.append(source)
    labkit.wait_console(ecs, source, READY)
    # A marker on the root filesystem, written through the guest's own shell.
    labkit.run_guest_command(lab, ecs, source, "echo IMG-$((20+1))-MARK > /root/img-marker; sync; echo WROTE-$((1+1))",
                             "WROTE-2")

    image_id = ecs.create_image(m.CreateImageRequest(region_id=REGION, instance_id=source, image_name="whole-instance",
                                                     description="system and data disk")).body.image_id
    image, progress_seen = wait_image(ecs, image_id)
    assert progress_seen[-1] == "100%"
    assert len(progress_seen) >= 2, progress_seen  # it moved: Creating with less, then 100%
    assert labkit.describe(ecs, source).status == "Running"  # taken live, without stopping it

    mappings = sorted(image.disk_device_mappings.disk_device_mapping, key=lambda d: d.device)
    assert [(d.device, d.type) for d in mappings] == [("/dev/xvda", "system"), ("/dev/xvdb", "data")]
    assert mappings[1].size == "1"
    snapshot_ids = [d.snapshot_id for d in mappings]
    assert all(s.startswith("s-") for s in snapshot_ids), snapshot_ids
    snapshots = {s.snapshot_id: s for s in labkit.list_snapshots(ecs, instance_id=source)}
    assert set(snapshot_ids) <= set(snapshots), (snapshot_ids, list(snapshots))
    assert all(snapshots[s].status == "accomplished" for s in snapshot_ids)
    # The image's snapshots are protected while it exists (ECS's rule).
    e = labkit.sdk_error(ecs.delete_snapshot, m.DeleteSnapshotRequest(snapshot_id=snapshot_ids[1]))
    assert (e.code, e.status_code) == ("SnapshotCreatedImage", 403)
    # DescribeImages filters by a snapshot the image holds.
    by_snapshot = ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, snapshot_id=snapshot_ids[1])).body
    assert [i.image_id for i in by_snapshot.images.image] == [image_id]

    # A new instance from the image: the marker is on its root, its data disk continues the
    # source's boot log (the guest appends one line per boot: this is the second).
    copy = labkit.run_instance(ecs, image_id)
    cleanup.append(copy)
    console = labkit.wait_console(ecs, copy, READY)
    assert "count=2" in console, console[-1500:]
    labkit.run_guest_command(lab, ecs, copy, "cat /root/img-marker", "IMG-21-MARK")
    system, data = labkit.instance_disks(ecs, copy)
    assert len(data) == 1

    # DeleteImage: refused while an instance runs from it, unless Force.
    e = labkit.sdk_error(ecs.delete_image, m.DeleteImageRequest(region_id=REGION, image_id=image_id))
    assert (e.code, e.status_code) == ("ImageUsedByInstance", 403)
    assert "Force" in e.message
    ecs.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id, force=True))
    assert describe_image(ecs, image_id) is None
    e = labkit.sdk_error(labkit.run_instance, ecs, image_id)
    assert (e.code, e.status_code) == ("InvalidImageId.NotFound", 404)
    image_file = lab.data_dir / "images" / f"{image_id}.qcow2"
    assert image_file.exists()  # still read by the copy's system disk
    # The instance running from it is unharmed: it reboots from its disk.
    ecs.reboot_instance(m.RebootInstanceRequest(instance_id=copy, force_stop=True))
    labkit.wait_console(ecs, copy, "data=/dev/vdb count=3")
    time.sleep(1)  # the shell prompt follows the ready line
    labkit.run_guest_command(lab, ecs, copy, "cat /root/img-marker; echo AFTER-$((2+3))", "AFTER-5")
    assert labkit.console_text(ecs, copy).count("IMG-21-MARK") >= 2
    # With its last user gone, the file goes (the snapshots are the user's to delete now).
    labkit.force_delete(ecs, copy)
    cleanup.remove(copy)
    deadline = time.monotonic() + 30
    while image_file.exists():
        assert time.monotonic() < deadline, "the force-deleted image's file stayed after its last user left"
        time.sleep(0.2)
    ecs.delete_snapshot(m.DeleteSnapshotRequest(snapshot_id=snapshot_ids[1]))


def test_image_of_a_stopped_instance_both_signatures(fake_lab, algorithm):
    ecs = fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])
    source = labkit.run_then_stop(ecs, fake_lab.image_id)
    image_id = ecs.create_image(m.CreateImageRequest(region_id=REGION, instance_id=source,
                                                     image_name=f"stopped-{algorithm}")).body.image_id
    image, _ = wait_image(ecs, image_id, timeout=60)
    assert image.image_name == f"stopped-{algorithm}"
    assert [d.type for d in image.disk_device_mappings.disk_device_mapping] == ["system"]
    # The same name again is refused.
    e = labkit.sdk_error(ecs.create_image, m.CreateImageRequest(region_id=REGION, instance_id=source,
                                                                image_name=f"stopped-{algorithm}"))
    assert (e.code, e.status_code) == ("InvalidImageName.Duplicated", 400)
    # An unknown instance, and an instance in a state that cannot be imaged.
    e = labkit.sdk_error(ecs.create_image, m.CreateImageRequest(region_id=REGION, instance_id="i-nope"))
    assert (e.code, e.status_code) == ("InvalidInstanceId.NotFound", 404)
    # Force-delete an unused image: gone at once, file and all.
    ecs.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id, force=True))
    assert describe_image(ecs, image_id) is None
    assert not (fake_lab.data_dir / "images" / f"{image_id}.qcow2").exists()
    e = labkit.sdk_error(ecs.delete_image, m.DeleteImageRequest(region_id=REGION, image_id=image_id))
    assert (e.code, e.status_code) == ("InvalidImageId.NotFound", 404)
    labkit.force_delete(ecs, source)


def wait_task(client, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        task = client.describe_task_attribute(m.DescribeTaskAttributeRequest(region_id=REGION, task_id=task_id)).body
        if task.task_status in ("Finished", "Failed"):
            return task
        assert task.task_status == "Processing", task.to_map()
        assert time.monotonic() < deadline, f"{task_id} still {task.task_status} {task.task_process}"
        time.sleep(0.1)


def test_export_image_into_a_bucket(fake_lab, algorithm):
    ecs = fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])
    bucket = fake_lab.data_dir / "buckets" / "exports"
    bucket.mkdir(parents=True, exist_ok=True)
    image_path = fake_lab.data_dir / "images" / f"{fake_lab.image_id}.qcow2"
    for fmt in ("raw", "qcow2"):
        reply = ecs.export_image(m.ExportImageRequest(region_id=REGION, image_id=fake_lab.image_id, ossbucket="exports",
                                                      ossprefix=f"{algorithm}/", image_format=fmt)).body
        task = wait_task(ecs, reply.task_id)
        assert (task.task_status, task.task_process, task.task_action) == ("Finished", "100%", "ExportImage"), task.to_map()
        item = task.operation_progress_set.operation_progress[0]
        assert item.related_item_set.related_item[0].value == fake_lab.image_id
        exported = bucket / algorithm / f"{fake_lab.image_id}_system.{fmt}"
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(exported)], check=True,
                                         capture_output=True, text=True).stdout)
        assert info["format"] == fmt
        # Same guest-visible bytes as the image.
        subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", fmt, str(image_path), str(exported)], check=True,
                       capture_output=True)
    listed = ecs.describe_tasks(m.DescribeTasksRequest(region_id=REGION, task_action="ExportImage",
                                                       task_status="Finished")).body
    assert reply.task_id in [t.task_id for t in listed.task_set.task]
    # Bad input: the right code and status, nothing started.
    for request, code, status in [
        (m.ExportImageRequest(region_id=REGION, image_id=fake_lab.image_id, ossbucket="no-such-bucket"),
         "InvalidOSSBucket.NotFound", 404),
        (m.ExportImageRequest(region_id=REGION, image_id="m-missing", ossbucket="exports"), "InvalidImageId.NotFound", 404),
        (m.ExportImageRequest(region_id=REGION, image_id=fake_lab.image_id, ossbucket="exports", image_format="iso"),
         "InvalidImageFormat.NotSupported", 400),
        (m.ExportImageRequest(region_id=REGION, image_id=fake_lab.image_id, ossbucket="exports", ossprefix="../x"),
         "InvalidOSSObject.Malformed", 400),
    ]:
        e = labkit.sdk_error(ecs.export_image, request)
        assert (e.code, e.status_code) == (code, status), (e.code, e.status_code, e.message)
    e = labkit.sdk_error(ecs.describe_task_attribute, m.DescribeTaskAttributeRequest(region_id=REGION, task_id="t-nope"))
    assert (e.code, e.status_code) == ("InvalidTaskId.NotFound", 404)


def test_image_from_disk_device_mappings(fake_lab, algorithm):
    """CreateImage from DiskDeviceMapping.N: a system-disk snapshot plus data-disk snapshots make
    one image; RunInstances from it brings the data disks along."""
    ecs = fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])
    source = labkit.run_then_stop(ecs, fake_lab.image_id, data_disk=[m.RunInstancesRequestDataDisk(size=2)])
    system_disk, (data_disk,) = labkit.instance_disks(ecs, source)
    system_snapshot = labkit.snapshot_now(ecs, system_disk)
    data_snapshot = labkit.snapshot_now(ecs, data_disk)
    Mapping = m.CreateImageRequestDiskDeviceMapping
    image_id = ecs.create_image(m.CreateImageRequest(region_id=REGION, image_name=f"mapped-{algorithm}", disk_device_mapping=[
        Mapping(snapshot_id=system_snapshot, disk_type="system"),
        Mapping(snapshot_id=data_snapshot, disk_type="data", size=3),
    ])).body.image_id
    image, _ = wait_image(ecs, image_id, timeout=60)
    mappings = sorted(image.disk_device_mappings.disk_device_mapping, key=lambda d: d.device)
    assert [(d.type, d.snapshot_id, d.size) for d in mappings][1] == ("data", data_snapshot, "3")
    assert mappings[0].snapshot_id == system_snapshot
    copy = labkit.run_instance(ecs, image_id)
    labkit.wait_status(ecs, copy, "Running", timeout=30)
    _, copied_data = labkit.instance_disks(ecs, copy)
    assert [labkit.describe_disk(ecs, d).size for d in copied_data] == [3]
    e = labkit.sdk_error(ecs.delete_snapshot, m.DeleteSnapshotRequest(snapshot_id=data_snapshot))
    assert (e.code, e.status_code) == ("SnapshotCreatedImage", 403)
    # A data mapping naming a system-disk snapshot, and a size below the snapshot's disk.
    for mapping, code in [(Mapping(snapshot_id=system_snapshot, disk_type="data"), "InvalidSnapshotId.NotDataDiskSnapshot"),
                          (Mapping(snapshot_id=data_snapshot, disk_type="data", size=1), "InvalidSize.ValueNotSupported")]:
        e = labkit.sdk_error(ecs.create_image, m.CreateImageRequest(region_id=REGION, disk_device_mapping=[
            Mapping(snapshot_id=system_snapshot, disk_type="system"), mapping]))
        assert e.code == code and e.status_code in (400, 403), (e.code, e.status_code)
    labkit.force_delete(ecs, copy)
    ecs.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id, force=True))
    labkit.force_delete(ecs, source)
