"""GetInstanceScreenshot throttling (ECS: at most one call per instance every 10 s, else
`Throttling`, HTTP 429). Run against a separate cheap server (`--driver fake
--screenshot-min-interval-secs 60`) so no VM has to boot."""

from __future__ import annotations

import base64
import io

import pytest
from alibabacloud_ecs20140526 import models as m
from PIL import Image

import labkit
from labkit import REGION


@pytest.fixture(scope="module")
def fake_instances(fake_lab):
    client = fake_lab.client()
    ids = [labkit.run_instance(client, fake_lab.image_id, instance_name=f"throttle-{n}") for n in range(2)]
    for iid in ids:
        labkit.wait_status(client, iid, "Running", timeout=20)
    yield ids
    for iid in ids:
        labkit.force_delete(client, iid)


def screenshot(client, iid):
    return client.get_instance_screenshot(m.GetInstanceScreenshotRequest(region_id=REGION, instance_id=iid))


def test_second_screenshot_in_a_row_is_throttled(fake_lab, fake_instances):
    client = fake_lab.client()
    first, other = fake_instances

    shot = screenshot(client, first).body
    jpeg = base64.b64decode(shot.screenshot)
    assert jpeg[:3] == b"\xff\xd8\xff"
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and img.size[0] > 0

    # Same instance again, with the other signature algorithm too: both refused.
    for algorithm in ("v2", None):
        e = labkit.sdk_error(screenshot, fake_lab.client(algorithm), first)
        assert (e.code, e.status_code) == ("Throttling", 429), f"{e.code} {e.status_code}: {e.message}"
        assert "throttling" in e.data["Message"].lower()

    # The interval is per instance: another instance is not throttled.
    assert base64.b64decode(screenshot(client, other).body.screenshot)[:3] == b"\xff\xd8\xff"


def test_throttling_does_not_mask_status_errors(fake_lab, fake_instances):
    """A Stopped instance still answers IncorrectInstanceStatus (405), not Throttling."""
    client = fake_lab.client()
    iid = labkit.create_instance(client, fake_lab.image_id, instance_name="throttle-stopped")
    try:
        for _ in range(2):
            e = labkit.sdk_error(screenshot, client, iid)
            assert (e.code, e.status_code) == ("IncorrectInstanceStatus", 405)
    finally:
        labkit.force_delete(client, iid)
