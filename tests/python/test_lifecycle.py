"""An instance's whole life through the official SDK, once per signature algorithm, on a real
QEMU guest: RunInstances → Running, serial console, a real screenshot, Stop, Start (second boot
seen on the data disk), Reboot (third boot), DeleteInstance(Force)."""

from __future__ import annotations

import base64
import io
import json
import re
import time

from alibabacloud_ecs20140526 import models as m
from PIL import Image

import labkit
from labkit import REGION


def data_counts(console: str) -> list[int]:
    """The boot counter the guest keeps on its data disk, one per boot, as printed on serial."""
    return [int(n) for n in re.findall(r"VMTEST-DATA dev=\S+ count=(\d+)", console)]


def blue_fraction(img: Image.Image) -> float:
    """docs/GUEST.md: a pixel is blue when b >= 128, r < 96 and g < 96."""
    rgb = img.convert("RGB")
    data = rgb.tobytes()
    blue = sum(1 for i in range(0, len(data), 3) if data[i + 2] >= 128 and data[i] < 96 and data[i + 1] < 96)
    return blue / (rgb.width * rgb.height)


def test_lifecycle(lab, ecs, algorithm, cleanup):
    name = f"lifecycle-{algorithm}"

    # ---- RunInstances with a 1 GiB data disk and a tag ----------------------------------------
    run = ecs.run_instances(m.RunInstancesRequest(
        region_id=REGION, image_id=lab.image_id, instance_type="ecs.lab.tiny", instance_name=name,
        amount=1, system_disk=m.RunInstancesRequestSystemDisk(size="1", category="cloud_essd"),
        data_disk=[m.RunInstancesRequestDataDisk(size=1, disk_name="bootlog", delete_with_instance=True)],
        tag=[m.RunInstancesRequestTag(key="suite", value=f"lifecycle-{algorithm}")],
    ))
    assert run.status_code == 200
    assert run.body.request_id
    ids = run.body.instance_id_sets.instance_id_set
    assert len(ids) == 1 and ids[0].startswith("i-")
    iid = ids[0]
    cleanup.append(iid)

    seen: list[str] = []
    inst = labkit.wait_status(ecs, iid, "Running", timeout=60, seen=seen)
    # RunInstances answers before the VM is up: the first status seen is a transitional one.
    assert seen[0] in ("Pending", "Starting"), seen
    assert set(seen) <= {"Pending", "Starting", "Running"}, seen
    assert inst.instance_name == name
    assert inst.instance_type == "ecs.lab.tiny"
    assert inst.image_id == lab.image_id
    assert inst.region_id == REGION
    assert (inst.cpu, inst.memory) == (1, 128)
    assert [(t.tag_key, t.tag_value) for t in inst.tags.tag] == [("suite", f"lifecycle-{algorithm}")]
    assert inst.start_time, "a started instance has a StartTime"

    # The tag filter finds it, and the status API agrees.
    tagged = labkit.list_instances(ecs, tag=[m.DescribeInstancesRequestTag(key="suite", value=f"lifecycle-{algorithm}")])
    assert [i.instance_id for i in tagged] == [iid]
    statuses = ecs.describe_instance_status(m.DescribeInstanceStatusRequest(region_id=REGION, instance_id=[iid])).body
    assert [(s.instance_id, s.status) for s in statuses.instance_statuses.instance_status] == [(iid, "Running")]

    # ---- serial console: the guest booted, found its blank data disk and wrote boot #1 ----------
    console = labkit.wait_console(ecs, iid, "VMTEST-GUEST-READY", timeout=120)
    assert "VMTEST-GUEST-BANNER" in console
    assert data_counts(console) == [1], console[-2000:]
    raw = ecs.get_instance_console_output(m.GetInstanceConsoleOutputRequest(
        region_id=REGION, instance_id=iid, remove_symbols=False)).body
    assert raw.last_update_time and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", raw.last_update_time)
    assert b"VMTEST-GUEST-READY" in base64.b64decode(raw.console_output)

    # ---- screenshot: a base64 JPEG of the real 720x400 VGA text screen, painted blue ---------------
    shot = ecs.get_instance_screenshot(m.GetInstanceScreenshotRequest(
        region_id=REGION, instance_id=iid, wake_up=True)).body
    assert shot.instance_id == iid
    assert not shot.screenshot.startswith("data:")
    jpeg = base64.b64decode(shot.screenshot, validate=True)
    assert jpeg[:3] == b"\xff\xd8\xff", jpeg[:8]
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG"
    assert img.size == (720, 400)
    blue = blue_fraction(img)
    assert blue > 0.5, f"only {blue:.1%} of the screen is blue"

    # ---- StopInstance (graceful: ACPI power button, the guest powers off) ---------------------------
    stop = ecs.stop_instance(m.StopInstanceRequest(instance_id=iid))
    assert stop.status_code == 200 and stop.body.request_id
    seen = []
    inst = labkit.wait_status(ecs, iid, "Stopped", timeout=30, seen=seen)
    assert set(seen) <= {"Running", "Stopping", "Stopped"}, seen
    assert inst.stopped_mode == "KeepCharging"

    # ---- StartInstance: a second boot; the data disk kept the first one's log ---------------------
    ecs.start_instance(m.StartInstanceRequest(instance_id=iid))
    labkit.wait_status(ecs, iid, "Running", timeout=60)
    console = labkit.wait_console(ecs, iid, "VMTEST-GUEST-READY stage=ext4 mode=bios data=/dev/vdb count=2", timeout=120)
    assert data_counts(console) == [1, 2], data_counts(console)

    # ---- RebootInstance: graceful with acs3, ForceStop (QMP reset) with v2 -------------------------
    ecs.reboot_instance(m.RebootInstanceRequest(instance_id=iid, force_stop=(algorithm == "v2")))
    labkit.wait_status(ecs, iid, "Running", timeout=60)
    console = labkit.wait_console(ecs, iid, "data=/dev/vdb count=3", timeout=120)
    assert data_counts(console) == [1, 2, 3], data_counts(console)

    # ---- DeleteInstance(Force) of the Running instance ----------------------------------------------
    delete = ecs.delete_instance(m.DeleteInstanceRequest(instance_id=iid, force=True))
    assert delete.status_code == 200 and delete.body.request_id
    body = ecs.describe_instances(m.DescribeInstancesRequest(region_id=REGION, instance_ids=json.dumps([iid]))).body
    assert body.instances is not None and body.instances.instance == []
    assert body.total_count == 0
    assert iid not in [i.instance_id for i in labkit.list_instances(ecs)]
    deadline = time.monotonic() + 10
    while labkit.qemu_pids_for(lab.data_dir / "vms" / iid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert labkit.qemu_pids_for(lab.data_dir / "vms" / iid) == [], "the VM process outlived DeleteInstance"
