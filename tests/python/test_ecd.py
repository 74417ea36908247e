"""ECD 2020-09-30 through the official SDK (`alibabacloud_ecd20200930`, docs/api/FACTS.md §7), both
signature algorithms: every ecslab instance is a desktop (DesktopId = InstanceId).

- DescribeDesktops: plain `Desktops[]`, the status words mapped from the instance's state, filters
  and NextToken paging.
- DescribeImageModifiedRecords: 25 changes of one Stopped desktop (each finishes in a fraction of a
  second on the fake driver) paged 10 + 10 + 5, newest first, with a NextToken that stays valid while
  a new record arrives, and is refused when forged, moved to another desktop or garbage; MaxResults
  above 100 refused; a failed change (an image whose file is damaged) has Status 2 and a Reason;
  records keep the names of images deleted since.
- RebuildDesktops on a real QEMU guest that is Running: the desktop shows `Rebuilding`, is stopped,
  gets the new image and is started again, and boots the new image (the graphics test disk prints
  `VMTEST-GFX-READY`); its data disk is kept.
"""

from __future__ import annotations

import re
import time

import pytest
from alibabacloud_ecd20200930 import models as d
from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION
from test_replace_system_disk import (GFX_READY, GUEST_READY, corrupt_image, ecd_client, expect,
                                      import_variant, wait_record_done)

UPDATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def fake_ecd(fake_lab, algorithm):
    return ecd_client(fake_lab, dict(labkit.ALGORITHMS)[algorithm])


def rebuild(ecd, desktop_ids, image_id):
    body = ecd.rebuild_desktops(d.RebuildDesktopsRequest(region_id=REGION, desktop_id=desktop_ids,
                                                         image_id=image_id)).body
    return {r.desktop_id: (r.code, r.message) for r in body.rebuild_results}


def page(ecd, desktop_id, max_results=None, next_token=None):
    return ecd.describe_image_modified_records(d.DescribeImageModifiedRecordsRequest(
        region_id=REGION, desktop_id=desktop_id, max_results=max_results, next_token=next_token)).body


@pytest.fixture(scope="module")
def history(fake_lab):
    """A Stopped desktop whose image was changed 25 times, alternating between two images:
    (desktop id, [image ids], [image names])."""
    client = fake_lab.client()
    ecd = ecd_client(fake_lab)
    images = [import_variant(fake_lab, labkit.guest_image(), f"hist-{n}") for n in (1, 2)]
    listed = client.describe_images(m.DescribeImagesRequest(
        region_id=REGION, image_id=",".join(images))).body.images.image
    by_id = {i.image_id: i.image_name for i in listed}
    names = [by_id[i] for i in images]
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name="ecd-history")
    for n in range(25):
        assert rebuild(ecd, [iid], images[n % 2]) == {iid: ("Success", "")}
        wait_record_done(fake_lab, iid, n + 1)
    yield iid, images, names
    labkit.force_delete(client, iid)


# ---- DescribeDesktops ----------------------------------------------------------------------------


def test_describe_desktops(fake_lab, fake_ecd, algorithm):
    client = fake_lab.client()
    stopped = labkit.run_then_stop(client, fake_lab.image_id, instance_name=f"desk-stopped-{algorithm}",
                                   data_disk=[m.RunInstancesRequestDataDisk(size=1)])
    running = labkit.run_instance(client, fake_lab.image_id, instance_name=f"desk-running-{algorithm}")
    try:
        labkit.wait_status(client, running, "Running", timeout=30)
        body = fake_ecd.describe_desktops(d.DescribeDesktopsRequest(
            region_id=REGION, desktop_id=[stopped, running])).body
        by_id = {x.desktop_id: x for x in body.desktops}
        assert set(by_id) == {stopped, running} and body.total_count == 2
        assert (by_id[stopped].desktop_status, by_id[running].desktop_status) == ("Stopped", "Running")
        desk = by_id[stopped]
        assert (desk.desktop_name, desk.image_id, desk.cpu, desk.memory) == (
            f"desk-stopped-{algorithm}", fake_lab.image_id, 1, 128)
        assert sorted(x.disk_type for x in desk.disks) == ["DATA", "SYSTEM"]
        system, (data,) = labkit.instance_disks(client, stopped)
        assert {x.disk_id for x in desk.disks} == {system, data}

        only_running = fake_ecd.describe_desktops(d.DescribeDesktopsRequest(
            region_id=REGION, desktop_id=[stopped, running], desktop_status="Running")).body.desktops
        assert [x.desktop_id for x in only_running] == [running]
        named = fake_ecd.describe_desktops(d.DescribeDesktopsRequest(
            region_id=REGION, desktop_name=f"desk-stopped-{algorithm}")).body.desktops
        assert [x.desktop_id for x in named] == [stopped]

        first = fake_ecd.describe_desktops(d.DescribeDesktopsRequest(
            region_id=REGION, desktop_id=[stopped, running], max_results=1)).body
        assert len(first.desktops) == 1 and first.next_token
        second = fake_ecd.describe_desktops(d.DescribeDesktopsRequest(
            region_id=REGION, desktop_id=[stopped, running], max_results=1, next_token=first.next_token)).body
        assert len(second.desktops) == 1 and not second.next_token
        assert {first.desktops[0].desktop_id, second.desktops[0].desktop_id} == {stopped, running}

        expect(fake_ecd.describe_desktops, d.DescribeDesktopsRequest(region_id=REGION, desktop_status="Flying"),
               "InvalidParameter", 400)
        expect(fake_ecd.describe_desktops, d.DescribeDesktopsRequest(region_id="elsewhere"),
               "InvalidRegionId.NotFound", 404)
    finally:
        labkit.force_delete(client, stopped)
        labkit.force_delete(client, running)


# ---- DescribeImageModifiedRecords ------------------------------------------------------------------


def test_page_through_25_records(fake_lab, fake_ecd, history):
    iid, images, names = history
    first = page(fake_ecd, iid, max_results=10)
    assert first.total_count == 25 and len(first.image_modified_records) == 10 and first.next_token
    second = page(fake_ecd, iid, max_results=10, next_token=first.next_token)
    assert second.total_count == 25 and len(second.image_modified_records) == 10 and second.next_token
    third = page(fake_ecd, iid, max_results=10, next_token=second.next_token)
    assert len(third.image_modified_records) == 5 and not third.next_token
    listed = first.image_modified_records + second.image_modified_records + third.image_modified_records
    # Newest first: the 25th change (to images[0]) leads; each change starts where the older one ended.
    assert listed[0].new_image_id == images[0] and listed[-1].image_id == fake_lab.image_id
    for newer, older in zip(listed, listed[1:]):
        assert newer.image_id == older.new_image_id
        assert newer.update_time >= older.update_time
    for r in listed:
        assert r.status == 1 and r.reason == "" and UPDATE_TIME.match(r.update_time), r.to_map()
        assert {r.new_image_id: r.new_image_name}.items() <= dict(zip(images, names)).items()
    # Default page size 10; the whole history in one page of 100.
    assert len(page(fake_ecd, iid).image_modified_records) == 10
    everything = page(fake_ecd, iid, max_results=100)
    assert [r.to_map() for r in everything.image_modified_records] == [r.to_map() for r in listed]
    assert not everything.next_token


def test_next_token_is_stable_while_records_arrive(fake_lab, fake_ecd, algorithm):
    client = fake_lab.client()
    ecd = ecd_client(fake_lab)
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name=f"ecd-stable-{algorithm}")
    try:
        for n in range(3):
            rebuild(ecd, [iid], fake_lab.image_id)
            wait_record_done(fake_lab, iid, n + 1)
        first = page(fake_ecd, iid, max_results=2)
        before = [r.to_map() for r in page(fake_ecd, iid, max_results=100).image_modified_records]
        rebuild(ecd, [iid], fake_lab.image_id)
        wait_record_done(fake_lab, iid, 4)
        rest = page(fake_ecd, iid, max_results=2, next_token=first.next_token)
        assert [r.to_map() for r in rest.image_modified_records] == before[2:]
        assert rest.total_count == 4
    finally:
        labkit.force_delete(client, iid)


def test_bad_requests_are_refused_cleanly(fake_lab, fake_ecd, history):
    iid, _, _ = history
    client = fake_lab.client()
    e = expect(fake_ecd.describe_image_modified_records, d.DescribeImageModifiedRecordsRequest(
        region_id=REGION, desktop_id=iid, max_results=101), "InvalidParameter", 400)
    assert "MaxResults" in e.message
    expect(fake_ecd.describe_image_modified_records, d.DescribeImageModifiedRecordsRequest(region_id=REGION),
           "MissingParameter", 400)
    expect(fake_ecd.describe_image_modified_records, d.DescribeImageModifiedRecordsRequest(
        region_id=REGION, desktop_id="i-doesnotexist"), "InvalidDesktopId.NotFound", 404)

    token = page(fake_ecd, iid, max_results=10).next_token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (forged, "not-a-token", token + "x"):
        e = expect(fake_ecd.describe_image_modified_records, d.DescribeImageModifiedRecordsRequest(
            region_id=REGION, desktop_id=iid, next_token=bad), "InvalidParameter.NextToken", 400)
        assert "NextToken" in e.message
    other = labkit.create_instance(client, fake_lab.image_id, instance_name="ecd-other")
    try:
        expect(fake_ecd.describe_image_modified_records, d.DescribeImageModifiedRecordsRequest(
            region_id=REGION, desktop_id=other, next_token=token), "InvalidParameter.NextToken", 400)
        assert page(fake_ecd, other).total_count == 0
    finally:
        labkit.force_delete(client, other)


def test_records_outlive_their_images(fake_lab, history):
    iid, images, names = history
    client = fake_lab.client()
    # The desktop runs images[0] now; move it back, then both history images can be deleted.
    rebuild(ecd_client(fake_lab), [iid], fake_lab.image_id)
    wait_record_done(fake_lab, iid, 26)
    for image_id in images:
        client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id))
    listed = page(ecd_client(fake_lab), iid, max_results=100).image_modified_records
    assert len(listed) == 26
    assert (listed[0].image_id, listed[0].image_name) == (images[0], names[0])
    assert (listed[1].new_image_id, listed[1].new_image_name) == (images[0], names[0])
    assert (listed[2].new_image_id, listed[2].new_image_name) == (images[1], names[1])
    assert not client.describe_images(m.DescribeImagesRequest(
        region_id=REGION, image_id=",".join(images), status="Creating,Available,CreateFailed")).body.images.image


# ---- RebuildDesktops ---------------------------------------------------------------------------------


def test_rebuild_rules_and_a_failed_change(fake_lab, fake_ecd, algorithm):
    client = fake_lab.client()
    iid = labkit.run_then_stop(client, fake_lab.image_id, instance_name=f"ecd-fail-{algorithm}")
    broken = corrupt_image(fake_lab, f"ecd-broken-{algorithm}")
    try:
        results = rebuild(fake_ecd, [iid, "i-doesnotexist"], broken)
        assert results[iid] == ("Success", "")
        assert results["i-doesnotexist"][0] == "InvalidDesktopId.NotFound"
        done = wait_record_done(fake_lab, iid, 1)
        assert (done.status, done.image_id, done.new_image_id) == (2, fake_lab.image_id, broken)
        assert done.reason and "cannot be read" in done.reason
        assert labkit.describe(client, iid).image_id == fake_lab.image_id

        expect(fake_ecd.rebuild_desktops, d.RebuildDesktopsRequest(region_id=REGION, desktop_id=[iid],
               image_id="m-doesnotexist"), "InvalidImageId.NotFound", 404)
        expect(fake_ecd.rebuild_desktops, d.RebuildDesktopsRequest(region_id=REGION, desktop_id=[iid]),
               "MissingParameter", 400)
        expect(fake_ecd.rebuild_desktops, d.RebuildDesktopsRequest(
            region_id=REGION, desktop_id=[iid] * 21, image_id=fake_lab.image_id), "InvalidParameter", 400)
    finally:
        labkit.force_delete(client, iid)
        client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=broken))


@pytest.fixture(scope="module")
def real_gfx_image(lab):
    return import_variant(lab, labkit.guest_image().parent / "gfx-1024x768.qcow2", "ecd-gfx")


def test_rebuild_a_running_desktop(lab, algorithm, real_gfx_image, cleanup):
    ecd = ecd_client(lab, dict(labkit.ALGORITHMS)[algorithm])
    client = lab.client()
    iid = labkit.run_instance(client, lab.image_id, instance_name=f"ecd-real-{algorithm}",
                              data_disk=[m.RunInstancesRequestDataDisk(size=1)])
    cleanup.append(iid)
    labkit.wait_console(client, iid, GUEST_READY, timeout=180)
    old_system, (data,) = labkit.instance_disks(client, iid)

    assert rebuild(ecd, [iid], real_gfx_image) == {iid: ("Success", "")}
    # The graceful stop of the guest takes seconds: the change is visible meanwhile.
    (desk,) = ecd.describe_desktops(d.DescribeDesktopsRequest(region_id=REGION, desktop_id=[iid])).body.desktops
    assert desk.desktop_status == "Rebuilding"
    (changing,) = page(ecd, iid).image_modified_records
    assert (changing.status, changing.new_image_id) == (0, real_gfx_image)
    # A second change while the first runs is refused for that desktop.
    code, message = rebuild(ecd, [iid], lab.image_id)[iid]
    assert code == "IncorrectDesktopStatus" and "Rebuilding" in message, message

    done = wait_record_done(lab, iid, 1, timeout=180)
    assert (done.status, done.image_id, done.new_image_id) == (1, lab.image_id, real_gfx_image)
    labkit.wait_console(client, iid, GFX_READY, timeout=180)
    deadline = time.monotonic() + 60
    while True:
        (desk,) = ecd.describe_desktops(d.DescribeDesktopsRequest(region_id=REGION, desktop_id=[iid])).body.desktops
        if desk.desktop_status == "Running":
            break
        assert time.monotonic() < deadline, desk.desktop_status
        time.sleep(0.2)
    assert desk.image_id == real_gfx_image
    system_now, data_now = labkit.instance_disks(client, iid)
    assert system_now != old_system and data_now == [data]
