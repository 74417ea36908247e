"""PAI-DSW 2022-01-01 instance snapshots (ROA) through the official SDK
`alibabacloud_pai_dsw20220101`, both signature algorithms (ACS3-HMAC-SHA256 and ROA HMAC-SHA1).

End to end on a real guest: a marker and a folder written into the running instance's root
filesystem, CreateInstanceSnapshot with that folder in ExcludePaths and an ImageUrl naming a
Debian `docker-registry` on loopback; the status goes Creating → Pushing → Saved; a new instance
from the ImageId has the marker and not the folder; the registry holds a KubeVirt containerDisk
(the qcow2 under /disk/) whose bytes match the image; Overwrite=false refuses the existing tag."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from alibabacloud_pai_dsw20220101 import models as pm
from alibabacloud_pai_dsw20220101.client import Client as PaiClient
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION

READY = "VMTEST-GUEST-READY"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def pai_client(lab, algorithm=None):
    kwargs = dict(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret, region_id=REGION,
                  endpoint=lab.endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return PaiClient(open_api_models.Config(**kwargs))


@pytest.fixture(scope="module")
def registry():
    work = Path(tempfile.mkdtemp(prefix="ecslab-registry-"))
    process, address = labkit.start_registry(work)
    yield address
    process.terminate()
    process.wait(timeout=10)


def snapshot_request(name, image_url, **kw):
    return pm.CreateInstanceSnapshotRequest(snapshot_name=name, image_url=image_url, **kw)


def wait_snapshot(pai, instance_id, snapshot_id, timeout=240):
    """Poll GetInstanceSnapshot until Saved or Failed; returns the body and the statuses seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        body = pai.get_instance_snapshot(instance_id, snapshot_id).body
        if not seen or seen[-1] != body.status:
            seen.append(body.status)
        if body.status in ("Saved", "Failed"):
            return body, seen
        assert body.status in ("Creating", "Pushing"), body.to_map()
        assert time.monotonic() < deadline, f"{snapshot_id} still {body.status}"
        time.sleep(0.1)


def pull_container_disk(address, repository, tag):
    """Fetch the manifest and the one layer over the registry API; returns the qcow2 bytes
    under /disk/ and the tar member's metadata."""
    status, raw, _ = labkit.registry_get(address, f"/v2/{repository}/manifests/{tag}", OCI_MANIFEST)
    assert status == 200, raw
    manifest = json.loads(raw)
    (layer,) = manifest["layers"]
    status, blob, _ = labkit.registry_get(address, f"/v2/{repository}/blobs/{layer['digest']}")
    assert status == 200
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        disks = [t for t in tar.getmembers() if t.isfile() and t.name.lstrip("./").startswith("disk/")]
        assert len(disks) == 1, [t.name for t in tar.getmembers()]
        member = disks[0]
        return tar.extractfile(member).read(), member


def test_snapshot_to_registry_end_to_end(lab, registry, cleanup):
    ecs, pai = lab.client(), pai_client(lab)
    source = labkit.run_instance(ecs, lab.image_id)
    cleanup.append(source)
    labkit.wait_console(ecs, source, READY)
    labkit.run_guest_command(
        lab, ecs, source,
        "echo PAI-$((40+2))-MARK > /root/pai-marker; mkdir -p /root/scratch/deep; echo x > /root/scratch/deep/f; "
        "echo y > /root/scratch-keep; sync; echo WROTE-$((3+4))", "WROTE-7")

    image_url = f"{registry}/ecslab/dsw:v1"
    created = pai.create_instance_snapshot(source, snapshot_request(
        "first-snap", image_url, snapshot_description="with a marker", exclude_paths=["/root/scratch"],
        labels=[pm.CreateInstanceSnapshotRequestLabels(key="env", value="ci")])).body
    assert created.success and created.instance_id == source and created.snapshot_id.startswith("snp-")
    body, seen = wait_snapshot(pai, source, created.snapshot_id)
    assert body.status == "Saved", body.to_map()
    assert seen[-2:] == ["Pushing", "Saved"], seen
    assert body.image_url == image_url and body.exclude_paths == ["/root/scratch"]
    assert [(l.key, l.value) for l in body.labels] == [("env", "ci")]
    assert body.gmt_create_time.endswith("Z") and body.gmt_modified_time >= body.gmt_create_time
    assert labkit.describe(ecs, source).status == "Running"

    # The registry holds the containerDisk, byte for byte the image ecslab saved.
    disk_bytes, member = pull_container_disk(registry, "ecslab/dsw", "v1")
    assert (member.uid, member.gid) == (107, 107)
    assert disk_bytes == (lab.data_dir / "images" / f"{body.image_id}.qcow2").read_bytes()

    # A new instance from the ImageId: the marker is there, the excluded folder is not, the
    # file next to it (a name sharing its prefix) is.
    copy = labkit.run_instance(ecs, body.image_id)
    cleanup.append(copy)
    labkit.wait_console(ecs, copy, READY)
    console = labkit.run_guest_command(
        lab, ecs, copy,
        "cat /root/pai-marker; test -e /root/scratch || echo GONE-$((5+5)); cat /root/scratch-keep; echo END-$((6+6))",
        "END-12")
    assert "PAI-42-MARK" in console and "GONE-10" in console, console[-800:]

    # Overwrite=false on an existing tag: the snapshot fails with a clear reason.
    refused = pai.create_instance_snapshot(source, snapshot_request("second-snap", image_url, overwrite=False)).body
    body2, _ = wait_snapshot(pai, source, refused.snapshot_id)
    assert body2.status == "Failed" and body2.reason_code == "ImageTagExists", body2.to_map()
    assert "v1" in body2.reason_message

    # List: newest first by default, paging, ascending order.
    listed = pai.list_instance_snapshot(source, pm.ListInstanceSnapshotRequest()).body
    assert listed.total_count == 2
    assert [s.snapshot_id for s in listed.snapshots] == [refused.snapshot_id, created.snapshot_id]
    page2 = pai.list_instance_snapshot(source, pm.ListInstanceSnapshotRequest(page_number=2, page_size=1, order="ASC")).body
    assert [s.snapshot_id for s in page2.snapshots] == [refused.snapshot_id]

    # Delete: the copy still runs from the image, so the image stays (hidden) until it is gone.
    pai.delete_instance_snapshot(source, created.snapshot_id)
    e = labkit.sdk_error(pai.get_instance_snapshot, source, created.snapshot_id)
    assert (e.code, e.status_code) == ("SnapshotNotFound", 404)
    assert e.data.get("Success") is False and e.data.get("HttpStatusCode") == 404
    assert (lab.data_dir / "images" / f"{body.image_id}.qcow2").exists()
    labkit.force_delete(ecs, copy)
    cleanup.remove(copy)
    deadline = time.monotonic() + 30
    while (lab.data_dir / "images" / f"{body.image_id}.qcow2").exists():
        assert time.monotonic() < deadline, "the image of a deleted snapshot outlived its last instance"
        time.sleep(0.2)
    pai.delete_instance_snapshot(source, refused.snapshot_id)


@pytest.mark.parametrize("algorithm", [a for _, a in labkit.ALGORITHMS], ids=[n for n, _ in labkit.ALGORITHMS])
def test_snapshot_into_ecslab_store(fake_lab, algorithm):
    """Without a registry, ImageUrl names the image in ecslab's own store."""
    ecs, pai = fake_lab.client(algorithm), pai_client(fake_lab, algorithm)
    source = labkit.run_then_stop(ecs, fake_lab.image_id)
    name = f"lab-image:{algorithm or 'acs3'}"
    first = pai.create_instance_snapshot(source, snapshot_request("local", name)).body
    body, _ = wait_snapshot(pai, source, first.snapshot_id, timeout=60)
    assert body.status == "Saved", body.to_map()
    images = ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, image_name=name)).body.images.image
    assert [i.image_id for i in images] == [body.image_id]
    # The same name without Overwrite is refused at once; with it, the name moves on.
    e = labkit.sdk_error(pai.create_instance_snapshot, source, snapshot_request("again", name))
    assert (e.code, e.status_code) == ("ImageAlreadyExists", 400)
    second = pai.create_instance_snapshot(source, snapshot_request("again", name, overwrite=True)).body
    body2, _ = wait_snapshot(pai, source, second.snapshot_id, timeout=60)
    assert body2.status == "Saved"
    images = ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, image_name=name)).body.images.image
    assert [i.image_id for i in images] == [body2.image_id]
    # The point-in-time disk snapshots were only a means: none is left.
    assert labkit.list_snapshots(ecs, instance_id=source) == []
    for snapshot_id in (first.snapshot_id, second.snapshot_id):
        pai.delete_instance_snapshot(source, snapshot_id)
    assert pai.list_instance_snapshot(source, pm.ListInstanceSnapshotRequest()).body.total_count == 0
    labkit.force_delete(ecs, source)


@pytest.mark.parametrize("algorithm", [a for _, a in labkit.ALGORITHMS], ids=[n for n, _ in labkit.ALGORITHMS])
def test_bad_requests(fake_lab, algorithm):
    ecs, pai = fake_lab.client(algorithm), pai_client(fake_lab, algorithm)
    e = labkit.sdk_error(pai.create_instance_snapshot, "i-missing", snapshot_request("s", "img:v1"))
    assert (e.code, e.status_code) == ("InstanceNotFound", 404)
    source = labkit.run_then_stop(ecs, fake_lab.image_id)
    for request, field in [
        (snapshot_request("Upper_Case", "img:v1"), "SnapshotName"),
        (snapshot_request("ok", "img:v1", exclude_paths=["relative/path"]), "ExcludePaths"),
        (snapshot_request("ok", "img:v1", exclude_paths=["/root/../etc"]), "ExcludePaths"),
        (snapshot_request("ok", ""), "ImageUrl"),
    ]:
        e = labkit.sdk_error(pai.create_instance_snapshot, source, request)
        assert (e.code, e.status_code) == ("ValidationError", 400), (field, e.code, e.message)
        assert field in e.message
    e = labkit.sdk_error(pai.list_instance_snapshot, source, pm.ListInstanceSnapshotRequest(order="sideways"))
    assert (e.code, e.status_code) == ("ValidationError", 400)
    e = labkit.sdk_error(pai.delete_instance_snapshot, source, "snp-unknown")
    assert (e.code, e.status_code) == ("SnapshotNotFound", 404)
    labkit.force_delete(ecs, source)


def test_exclude_paths_on_a_disk_without_ext_filesystem_fails_clearly(fake_lab):
    """A system disk ecslab cannot edit (no ext2/3/4 filesystem on it): the snapshot fails with
    a ReasonCode saying so, never silently keeps the paths."""
    ecs, pai = fake_lab.client(), pai_client(fake_lab)
    bucket = fake_lab.data_dir / "buckets" / "blank-disks"
    bucket.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(bucket / "blank.qcow2"), "64M"], check=True)
    image_id = ecs.import_image(m.ImportImageRequest(
        region_id=REGION, image_name="blank-disk",
        disk_device_mapping=[m.ImportImageRequestDiskDeviceMapping(ossbucket="blank-disks", ossobject="blank.qcow2",
                                                                   format="qcow2")])).body.image_id
    deadline = time.monotonic() + 30
    while ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, image_id=image_id)).body.images.image == []:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    source = labkit.run_then_stop(ecs, image_id)
    reply = pai.create_instance_snapshot(source, snapshot_request("blank", "blank-snap:v1",
                                                                  exclude_paths=["/root/secret"])).body
    body, _ = wait_snapshot(pai, source, reply.snapshot_id, timeout=60)
    assert (body.status, body.reason_code) == ("Failed", "UnsupportedFilesystem"), body.to_map()
    assert "/root/secret" in body.reason_message
    # What it made is released: no image named after it.
    images = ecs.describe_images(m.DescribeImagesRequest(region_id=REGION, image_name="blank-snap:v1")).body.images.image
    assert images == []
    pai.delete_instance_snapshot(source, reply.snapshot_id)
    labkit.force_delete(ecs, source)
