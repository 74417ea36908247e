"""S3-compatible buckets (`ecslab serve --buckets-config`) against a real S3-protocol server on
loopback: moto's server, started here, with objects put and read back through boto3.

One ecslab server (qemu driver) is started for this module with a buckets config naming:
`s3-media` (videos), `s3-frames` (job outputs), `s3-images` (ImportImage sources), `s3-nobucket`
(a remote bucket that does not exist) and `s3-down` (an endpoint nothing listens on).
Through the official SDKs, both signature algorithms: an MTS job whose input video and output
frames live in S3, frames of a real guest's screen written to S3, ImportImage of the guest image
from S3 (the instance that captures the screen boots from that image), name escapes refused
before anything reaches the store, and an unreachable endpoint failing cleanly and quickly.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_mts20140618 import models as mm
from botocore.config import Config as BotoConfig
from PIL import Image

import labkit
from labkit import REGION
from test_mts import make_video, mean_red, mts_client, out, wait_job

ACCESS_KEY, SECRET_KEY = "testing-ak", "testing-sk"
REMOTE = {"s3-media": "lab-media", "s3-frames": "lab-frames", "s3-images": "lab-images"}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """`moto_server` on a free loopback port; yields (endpoint, boto3 client) with the buckets made."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.fail("moto_server is missing: pip install -r tests/python/requirements.txt", pytrace=False)
    port = labkit.free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto_server.log", "wb")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not labkit._port_open(port):
            assert proc.poll() is None, "moto_server exited"
            assert time.monotonic() < deadline, "moto_server did not come up in 30 s"
            time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                          config=BotoConfig(s3={"addressing_style": "path"}))
        for remote in REMOTE.values():
            s3.create_bucket(Bucket=remote)
        yield endpoint, s3
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def s3lab(moto, prerequisites, tmp_path_factory):
    endpoint, _ = moto
    dead_port = labkit.free_port()  # bound and released: nothing listens there
    common = {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "allow_http": True}
    config = {"buckets": {
        **{name: {"endpoint": endpoint, "bucket": remote, **common} for name, remote in REMOTE.items()},
        "s3-nobucket": {"endpoint": endpoint, "bucket": "never-created", **common},
        "s3-down": {"endpoint": f"http://127.0.0.1:{dead_port}", "bucket": "lab-frames", **common,
                    "connect_timeout_secs": 2},
    }}
    path = tmp_path_factory.mktemp("s3cfg") / "buckets.json"
    path.write_text(json.dumps(config))
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, extra_args=["--stop-grace-secs", "5", "--buckets-config", str(path)],
                              name="ecslab-pys3")
    try:
        yield lab
    finally:
        labkit.stop_server(lab)


def keys(s3, remote: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=remote, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def s3_image(s3, remote: str, key: str) -> Image.Image:
    body = s3.get_object(Bucket=remote, Key=key)["Body"].read()
    return Image.open(io.BytesIO(body))


def s3_mean_red(s3, remote: str, key: str, tmp_path: Path) -> float:
    local = tmp_path / key.replace("/", "_")
    local.write_bytes(s3.get_object(Bucket=remote, Key=key)["Body"].read())
    return mean_red(local)


def test_video_in_s3_frames_to_s3(s3lab, moto, algorithm, tmp_path):
    _, s3 = moto
    client = mts_client(s3lab, algorithm)
    tag = f"{algorithm}-{uuid.uuid4().hex[:6]}"
    video = tmp_path / "clip.mp4"
    make_video(video)
    s3.upload_file(str(video), "lab-media", f"{tag}/clip.mp4")
    source = json.dumps({"Bucket": "s3-media", "Location": "oss-local", "Object": f"{tag}/clip.mp4"})

    # Synchronous: the frame is in the S3 bucket when the SDK returns.
    sync = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=source,
        snapshot_config=json.dumps({"OutputFile": out("s3-frames", f"{tag}/sync.jpg"), "Time": "3500",
                                    "Width": "80", "FrameType": "normal"}),
    )).body.snapshot_job
    assert (sync.state, sync.count, sync.code) == ("Success", "1", ""), sync.to_map()
    img = s3_image(s3, "lab-frames", f"{tag}/sync.jpg")
    assert img.format == "JPEG" and img.size == (80, 60)
    assert abs(s3_mean_red(s3, "lab-frames", f"{tag}/sync.jpg", tmp_path) - 150) < 12

    # Asynchronous, Num=3 Interval=1, with a sprite sheet and a WebVTT index, all into S3.
    job = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=source,
        snapshot_config=json.dumps({
            "OutputFile": out("s3-frames", f"{tag}/{{Count}}.jpg"), "Time": "1500", "Interval": "1", "Num": "3",
            "FrameType": "normal", "Format": "vtt",
            "TileOut": {"Lines": "1", "Columns": "3", "CellWidth": "40", "CellHeight": "30"}, "TileOutputFile": out("s3-frames", f"{tag}/sheet.jpg")}),
    )).body.snapshot_job
    done = wait_job(client, job.id)
    assert (done.state, done.count, done.tile_count) == ("Success", "3", "1"), done.to_map()
    frames = [f"{tag}/{n:05}.jpg" for n in (1, 2, 3)]
    written = keys(s3, "lab-frames", f"{tag}/")
    assert set(frames) | {f"{tag}/sheet.jpg"} <= set(written), written
    for key, red in zip(frames, [50, 100, 150]):
        assert abs(s3_mean_red(s3, "lab-frames", key, tmp_path) - red) < 12
    sheet = s3_image(s3, "lab-frames", f"{tag}/sheet.jpg")
    assert sheet.format == "JPEG" and sheet.width >= 3 * 40 and sheet.height >= 30, sheet.size
    vtt = [k for k in written if k.endswith(".vtt")]
    assert len(vtt) == 1, written
    text = s3.get_object(Bucket="lab-frames", Key=vtt[0])["Body"].read().decode()
    assert text.startswith("WEBVTT") and text.count("-->") == 3
    # Nothing went to a local folder of that name.
    assert not (s3lab.data_dir / "buckets" / "s3-frames").exists()

    # A missing S3 object fails the job with MTS's code.
    missing = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "s3-media", "Location": "oss-local", "Object": f"{tag}/none.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("s3-frames", f"{tag}/none.jpg")}),
    )).body.snapshot_job
    assert (missing.state, missing.code) == ("Fail", "InvalidParameter.ResourceNotFound"), missing.to_map()
    assert f"s3-media/{tag}/none.mp4" in missing.message
    # So does a configured bucket whose remote bucket does not exist.
    nobucket = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=source, snapshot_config=json.dumps({"OutputFile": out("s3-nobucket", f"{tag}/x.jpg")}),
    )).body.snapshot_job
    assert (nobucket.state, nobucket.code) == ("Fail", "InvalidParameter.ResourceNotFound"), nobucket.message


def import_request(name: str, bucket: str, obj: str) -> m.ImportImageRequest:
    return m.ImportImageRequest(
        region_id=REGION, image_name=name,
        disk_device_mapping=[m.ImportImageRequestDiskDeviceMapping(ossbucket=bucket, ossobject=obj, format="qcow2")])


def wait_image(client, image_id: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        (image,) = client.describe_images(m.DescribeImagesRequest(
            region_id=REGION, image_id=image_id, status="Creating,Waiting,Available,CreateFailed")).body.images.image
        if image.status in ("Available", "CreateFailed"):
            return image
        assert time.monotonic() < deadline, f"{image_id} still {image.status}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def guest_in_s3(moto, prerequisites):
    _, s3 = moto
    _, image = prerequisites
    s3.upload_file(str(image), "lab-images", "guests/guest.qcow2")
    return "guests/guest.qcow2"


def test_import_image_from_s3(s3lab, guest_in_s3, algorithm):
    ecs = s3lab.client(dict(labkit.ALGORITHMS)[algorithm])
    name = f"s3-{algorithm}-{uuid.uuid4().hex[:6]}"
    image_id = ecs.import_image(import_request(name, "s3-images", guest_in_s3)).body.image_id
    image = wait_image(ecs, image_id)
    assert image.status == "Available", image.to_map()
    (mapping,) = image.disk_device_mappings.disk_device_mapping
    assert (mapping.import_ossbucket, mapping.import_ossobject) == ("s3-images", guest_in_s3)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(labkit.guest_image())],
                                     capture_output=True, text=True, check=True).stdout)
    assert image.size == max(1, -(-info["virtual-size"] // 2**30))
    # The download used for the conversion is gone.
    assert list((s3lab.data_dir / "tmp" / "bucket-downloads").iterdir()) == []

    e = labkit.sdk_error(ecs.import_image, import_request(f"{name}-x", "s3-images", "guests/missing.qcow2"))
    assert (e.code, e.status_code) == ("InvalidOSSObject.NotFound", 404), e.message


@pytest.fixture(scope="module")
def s3_instance(s3lab, guest_in_s3):
    """A running instance booted from the guest image imported from S3."""
    ecs = s3lab.client()
    image_id = ecs.import_image(import_request("from-s3-boot", "s3-images", guest_in_s3)).body.image_id
    assert wait_image(ecs, image_id).status == "Available"
    iid = labkit.run_instance(ecs, image_id)
    labkit.wait_status(ecs, iid, "Running", timeout=90)
    labkit.wait_console(ecs, iid, "VMTEST-GUEST-READY", timeout=120)
    yield iid
    labkit.force_delete(ecs, iid)


def test_instance_screen_to_s3(s3lab, moto, s3_instance, algorithm):
    _, s3 = moto
    client = mts_client(s3lab, algorithm)
    tag = f"{algorithm}-{uuid.uuid4().hex[:6]}"
    job = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"InstanceId": s3_instance}),
        snapshot_config=json.dumps({"OutputFile": out("s3-frames", f"{tag}/{{Count}}.jpg"),
                                    "Interval": "1", "Num": "2"}),
    )).body.snapshot_job
    done = wait_job(client, job.id)
    assert (done.state, done.count) == ("Success", "2"), done.to_map()
    assert keys(s3, "lab-frames", f"{tag}/") == [f"{tag}/00001.jpg", f"{tag}/00002.jpg"]
    img = s3_image(s3, "lab-frames", f"{tag}/00002.jpg").convert("RGB")
    assert img.size == (720, 400)
    data = img.tobytes()
    blue = sum(1 for i in range(0, len(data), 3) if data[i + 2] >= 128 and data[i] < 96 and data[i + 1] < 96)
    assert blue / (img.width * img.height) > 0.5


def test_names_cannot_escape_an_s3_bucket(s3lab, moto, algorithm):
    _, s3 = moto
    before = {b: keys(s3, b, "") for b in REMOTE.values()}
    ecs = s3lab.client(dict(labkit.ALGORITHMS)[algorithm])
    for obj in ("../lab-frames/x.qcow2", "a/./b.qcow2", "/etc/passwd"):
        e = labkit.sdk_error(ecs.import_image, import_request(f"esc-{uuid.uuid4().hex[:6]}", "s3-images", obj))
        assert e.code == "InvalidOSSObject.Malformed", f"{obj}: {e.code} {e.message}"
    client = mts_client(s3lab, algorithm)
    e = labkit.sdk_error(client.submit_snapshot_job, mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "s3-media", "Location": "oss-local", "Object": "v.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("s3-frames", "a/../../lab-media/x.jpg")})))
    assert (e.code, e.status_code) == ("InvalidParameter.ObjectKeyInvalid", 400), e.message
    assert {b: keys(s3, b, "") for b in REMOTE.values()} == before


def test_unreachable_endpoint_fails_cleanly(s3lab, moto, algorithm, tmp_path):
    _, s3 = moto
    tag = f"{algorithm}-{uuid.uuid4().hex[:6]}"
    video = tmp_path / "clip.mp4"
    make_video(video)
    s3.upload_file(str(video), "lab-media", f"{tag}/clip.mp4")
    client = mts_client(s3lab, algorithm)
    started = time.monotonic()
    job = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "s3-media", "Location": "oss-local", "Object": f"{tag}/clip.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("s3-down", f"{tag}/{{Count}}.jpg"), "Interval": "1", "Num": "2"}),
    )).body.snapshot_job
    done = wait_job(client, job.id)
    assert (done.state, done.code, done.count) == ("Fail", "ServiceUnavailable", "0"), done.to_map()
    assert "s3-down" in done.message and "http://127.0.0.1:" in done.message, done.message
    assert time.monotonic() - started < 30

    ecs = s3lab.client(dict(labkit.ALGORITHMS)[algorithm])
    e = labkit.sdk_error(ecs.import_image, import_request(f"down-{tag}", "s3-down", "guest.qcow2"))
    assert (e.code, e.status_code) == ("ServiceUnavailable", 503), e.message
    assert "s3-down" in e.message
    # The server is still fine.
    assert ecs.describe_images(m.DescribeImagesRequest(region_id=REGION)).body.total_count >= 1
