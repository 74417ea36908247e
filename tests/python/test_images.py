"""ImportImage / DescribeImages / DeleteImage through the SDK (both signature algorithms), against
the fake-driver server: an import is real (qemu-img), but no VM boots. The source file is put into
the server's local bucket directory (DATA_DIR/buckets/<bucket>/<object>), as `ecslab images
import` does."""

from __future__ import annotations

import shutil
import time
import uuid

import pytest
from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION

BUCKET = "pytest-images"


@pytest.fixture(scope="module")
def bucket_object(fake_lab):
    """The guest image as an object in a local bucket of the fake lab."""
    _, image = labkit.check_prerequisites()
    target = fake_lab.data_dir / "buckets" / BUCKET / "guest.qcow2"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, target)
    return target.name


@pytest.fixture
def fake_ecs(fake_lab, algorithm):
    return fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])


def import_request(name, obj, **kw):
    return m.ImportImageRequest(
        region_id=REGION, image_name=name, description="imported by pytest",
        disk_device_mapping=[m.ImportImageRequestDiskDeviceMapping(ossbucket=BUCKET, ossobject=obj, format="qcow2")],
        **kw)


def describe_image(client, image_id):
    body = client.describe_images(m.DescribeImagesRequest(
        region_id=REGION, image_id=image_id, status="Creating,Waiting,Available,CreateFailed")).body
    assert body.images is not None
    return body.images.image


def wait_available(client, image_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        (image,) = describe_image(client, image_id)
        if image.status == "Available":
            return image
        assert image.status in ("Creating", "Waiting"), image.to_map()
        assert time.monotonic() < deadline, f"{image_id} still {image.status}"
        time.sleep(0.2)


def test_import_describe_delete(fake_lab, fake_ecs, algorithm, bucket_object):
    name = f"pytest-{algorithm}-{uuid.uuid4().hex[:6]}"
    reply = fake_ecs.import_image(import_request(name, bucket_object)).body
    assert reply.image_id.startswith("m-") and reply.region_id == REGION and reply.task_id
    image = wait_available(fake_ecs, reply.image_id)
    assert image.image_name == name
    assert image.description == "imported by pytest"
    assert image.progress == "100%"
    assert image.size >= 1
    assert image.image_owner_alias == "self"
    (mapping,) = image.disk_device_mappings.disk_device_mapping
    assert (mapping.import_ossbucket, mapping.import_ossobject) == (BUCKET, bucket_object)

    # The default status filter (Available) and the name filter find it.
    listed = fake_ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, image_name=name)).body
    assert [i.image_id for i in listed.images.image] == [reply.image_id]

    e = labkit.sdk_error(fake_ecs.import_image, import_request(name, bucket_object))
    assert e.code == "InvalidImageName.Duplicated"

    # An image some instance's disk is based on cannot go; once the instance is gone it can.
    iid = labkit.create_instance(fake_ecs, reply.image_id, instance_name=f"uses-{algorithm}")
    e = labkit.sdk_error(fake_ecs.delete_image, m.DeleteImageRequest(region_id=REGION, image_id=reply.image_id))
    assert (e.code, e.status_code) == ("ImageUsedByInstance", 403)
    fake_ecs.delete_instance(m.DeleteInstanceRequest(instance_id=iid))

    fake_ecs.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=reply.image_id))
    assert describe_image(fake_ecs, reply.image_id) == []
    e = labkit.sdk_error(fake_ecs.run_instances, m.RunInstancesRequest(
        region_id=REGION, image_id=reply.image_id, instance_type="ecs.lab.tiny"))
    assert (e.code, e.status_code) == ("InvalidImageId.NotFound", 404)
    e = labkit.sdk_error(fake_ecs.delete_image, m.DeleteImageRequest(region_id=REGION, image_id=reply.image_id))
    assert (e.code, e.status_code) == ("InvalidImageId.NotFound", 404)


def test_import_client_token(fake_ecs, algorithm, bucket_object):
    token = uuid.uuid4().hex
    name = f"token-{algorithm}-{token[:6]}"
    first = fake_ecs.import_image(import_request(name, bucket_object, client_token=token)).body.image_id
    try:
        assert fake_ecs.import_image(import_request(name, bucket_object, client_token=token)).body.image_id == first
        e = labkit.sdk_error(fake_ecs.import_image, import_request(name + "x", bucket_object, client_token=token))
        assert e.code == "IdempotentParameterMismatch"
        wait_available(fake_ecs, first)
    finally:
        wait_available(fake_ecs, first)
        fake_ecs.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=first))


@pytest.mark.parametrize("obj, code", [
    ("missing.qcow2", "InvalidOSSObject.NotFound"),
    ("../../admin-credentials.json", "InvalidOSSObject.Malformed"),
    ("/etc/passwd", "InvalidOSSObject.Malformed"),
])
def test_import_bad_objects(fake_ecs, obj, code):
    e = labkit.sdk_error(fake_ecs.import_image, import_request(f"bad-{uuid.uuid4().hex[:6]}", obj))
    assert e.code == code, f"{e.code}: {e.message}"


def test_import_dry_run(fake_lab, bucket_object):
    client = fake_lab.client()
    name = f"dryrun-{uuid.uuid4().hex[:6]}"
    try:
        e = labkit.sdk_error(client.import_image, import_request(name, bucket_object, dry_run=True))
        assert (e.code, e.status_code) == ("DryRunOperation", 400)
    finally:
        for image in client.describe_images(m.DescribeImagesRequest(
                region_id=REGION, image_name=name, status="Creating,Waiting,Available,CreateFailed")).body.images.image:
            wait_available(client, image.image_id)
            client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image.image_id))


def tag_pairs(image) -> list[tuple[str, str]]:
    return sorted((t.tag_key, t.tag_value) for t in image.tags.tag)


def test_import_tags_round_trip(fake_lab, fake_ecs, algorithm, bucket_object):
    name = f"tagged-{algorithm}-{uuid.uuid4().hex[:6]}"
    T = m.ImportImageRequestTag
    image_id = fake_ecs.import_image(import_request(
        name, bucket_object, tag=[T(key="team", value="images"), T(key="env", value="")])).body.image_id
    try:
        image = wait_available(fake_ecs, image_id)
        assert tag_pairs(image) == [("env", ""), ("team", "images")]

        # DescribeImages Tag.N: the key, and the value when given, must match; the lab's untagged
        # image, asked for by id too, is left out.
        def listed(*tags):
            body = fake_ecs.describe_images(m.DescribeImagesRequest(
                region_id=REGION, image_id=f"{image_id},{fake_lab.image_id}",
                tag=[m.DescribeImagesRequestTag(key=k, value=v) for k, v in tags])).body
            return [i.image_id for i in body.images.image]
        assert listed(("team", None)) == [image_id]
        assert listed(("team", "images"), ("env", "")) == [image_id]
        assert listed(("team", "other")) == []
        e = labkit.sdk_error(fake_ecs.import_image, import_request(
            name + "x", bucket_object, tag=[T(key="aliyun-x", value="v")]))
        assert (e.code, e.status_code) == ("InvalidTagKey.Malformed", 400)
    finally:
        wait_available(fake_ecs, image_id)
        fake_ecs.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id))


def test_create_image_tags_round_trip(fake_lab):
    """CreateImage Tag.N, from an instance and from a snapshot: both end on the image."""
    client = fake_lab.client()
    source = labkit.run_then_stop(client, fake_lab.image_id, instance_name="images-tagged")
    made, snapshot = [], None
    try:
        T = m.CreateImageRequestTag
        made.append(client.create_image(m.CreateImageRequest(
            region_id=REGION, instance_id=source, image_name=f"of-instance-{uuid.uuid4().hex[:6]}",
            tag=[T(key="from", value="instance")])).body.image_id)
        assert tag_pairs(wait_available(client, made[-1])) == [("from", "instance")]
        system, _ = labkit.instance_disks(client, source)
        snapshot = labkit.snapshot_now(client, system)
        made.append(client.create_image(m.CreateImageRequest(
            region_id=REGION, snapshot_id=snapshot, image_name=f"of-snapshot-{uuid.uuid4().hex[:6]}",
            tag=[T(key="from", value="snapshot")])).body.image_id)
        assert tag_pairs(wait_available(client, made[-1])) == [("from", "snapshot")]
    finally:
        for image_id in made:
            wait_available(client, image_id)
            client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id, force=True))
        labkit.force_delete(client, source)
        if snapshot is not None:
            client.delete_snapshot(m.DeleteSnapshotRequest(snapshot_id=snapshot))
