"""Hostile image files (issue 15, class 1) through the official SDK, both signature algorithms,
on the fake-driver server (imports and exports are real qemu-img work; no VM boots).

Every file is made here with qemu-img or by hand and put into the server's local bucket
directory. ImportImage must refuse, synchronously and with InvalidParameter.Format 400, every
file that is not the format it claims or that names another file (the OSSA-2024-001 class:
a qcow2 whose external data file is the server's admin-credentials.json); nothing may be left
behind (no image record, no file under DATA/images). Good qcow2, raw and VHD files still import.
An image file tampered with on disk is never exported into a bucket."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION

BUCKET = "ecslab-images"
ALL_STATUSES = "Creating,Waiting,Available,CreateFailed,UnAvailable,Deprecated"


@pytest.fixture
def client(fake_lab, algorithm):
    return fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])


@pytest.fixture
def bucket(fake_lab) -> Path:
    path = fake_lab.data_dir / "buckets" / BUCKET
    path.mkdir(parents=True, exist_ok=True)
    return path


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def import_request(obj: str, fmt: str, name: str | None = None) -> m.ImportImageRequest:
    return m.ImportImageRequest(
        region_id=REGION, image_name=name or f"hostile-{uuid.uuid4().hex[:8]}",
        disk_device_mapping=[m.ImportImageRequestDiskDeviceMapping(ossbucket=BUCKET, ossobject=obj, format=fmt)])


def images_named(client, name: str) -> list:
    body = client.describe_images(m.DescribeImagesRequest(region_id=REGION, image_name=name, status=ALL_STATUSES)).body
    return body.images.image if body.images else []


def image_files(lab) -> set[str]:
    return {p.name for p in (lab.data_dir / "images").iterdir()} if (lab.data_dir / "images").is_dir() else set()


def wait_status(client, image_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        (image,) = client.describe_images(m.DescribeImagesRequest(
            region_id=REGION, image_id=image_id, status=ALL_STATUSES)).body.images.image
        if image.status in ("Available", "CreateFailed"):
            return image
        assert time.monotonic() < deadline, f"{image_id} still {image.status}"
        time.sleep(0.1)


# Each hostile file: (how to make it in `bucket`, the Format claimed, words the message must hold).
def set_data_file_name(path: Path, name: str) -> None:
    """Rewrite the data-file header extension of a qcow2 (v3) to `name`. `qemu-img create -o
    data_file=X` would create (truncate) X, so the real target is only ever written by hand."""
    data = bytearray(path.read_bytes())
    header_length = struct.unpack(">I", data[100:104])[0]
    at, extensions = header_length, []
    while True:
        kind, length = struct.unpack(">II", data[at:at + 8])
        if kind == 0:
            break
        extensions.append((kind, bytes(data[at + 8:at + 8 + length])))
        at += 8 + (length + 7) // 8 * 8
    out = b""
    for kind, value in extensions:
        value = name.encode() if kind == 0x44415441 else value
        out += struct.pack(">II", kind, len(value)) + value + b"\0" * (-len(value) % 8)
    out += b"\0" * 8
    data[header_length:header_length + len(out)] = out
    path.write_bytes(bytes(data))


def data_file_on_credentials(bucket: Path, data_dir: Path) -> str:
    path = bucket / f"evil-{uuid.uuid4().hex[:6]}.qcow2"
    scratch = bucket / f".scratch-{uuid.uuid4().hex[:6]}"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={scratch},data_file_raw=on", str(path), "1M")
    scratch.unlink()
    set_data_file_name(path, str(data_dir / "admin-credentials.json"))
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", "-f", "qcow2", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["format-specific"]["data"]["data-file"] == str(data_dir / "admin-credentials.json")
    return path.name


def backing_on_credentials(bucket: Path, data_dir: Path) -> str:
    path = bucket / f"backing-{uuid.uuid4().hex[:6]}.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", str(data_dir / "admin-credentials.json"), "-F", "raw",
             str(path), "1M")
    return path.name


def vmdk_descriptor(bucket: Path, data_dir: Path) -> str:
    path = bucket / f"desc-{uuid.uuid4().hex[:6]}.vmdk"
    path.write_text("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
                    f"createType=\"monolithicFlat\"\nRW 8 FLAT \"{data_dir / 'admin-credentials.json'}\" 0\n")
    return path.name


def good_qcow2(bucket: Path, data_dir: Path) -> str:
    path = bucket / f"good-{uuid.uuid4().hex[:6]}.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(path), "1M")
    return path.name


def vmdk_sparse(bucket: Path, data_dir: Path) -> str:
    path = bucket / f"sparse-{uuid.uuid4().hex[:6]}.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", str(path), "1M")
    return path.name


def vhd_differencing(bucket: Path, data_dir: Path) -> str:
    """A dynamic VHD turned into a differencing disk whose parent is the credentials file."""
    path = bucket / f"diff-{uuid.uuid4().hex[:6]}.vhd"
    qemu_img("create", "-q", "-f", "vpc", str(path), "1M")
    data = bytearray(path.read_bytes())
    for footer in (0, len(data) - 512):
        data[footer + 60:footer + 64] = struct.pack(">I", 4)
    header = struct.unpack(">Q", data[16:24])[0]
    name = str(data_dir / "admin-credentials.json").encode("utf-16-be")
    data[header + 64:header + 64 + len(name)] = name
    data[header + 576:header + 580] = b"W2ku"
    path.write_bytes(bytes(data))
    return path.name


HOSTILE = [
    ("data-file-qcow2", data_file_on_credentials, "qcow2", "external data file"),
    ("data-file-claimed-raw", data_file_on_credentials, "RAW", "not RAW"),
    ("backing-file", backing_on_credentials, "qcow2", "backing file"),
    ("vmdk-descriptor-raw", vmdk_descriptor, "RAW", "VMDK descriptor"),
    ("qcow2-claimed-raw", good_qcow2, "RAW", "Set Format to QCOW2"),
    ("qcow2-claimed-vhd", good_qcow2, "VHD", "not VHD"),
    ("vmdk-claimed-qcow2", vmdk_sparse, "qcow2", "VMDK"),
    ("vhd-differencing", vhd_differencing, "VHD", "differencing"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_files_are_refused_and_leave_nothing(fake_lab, client, bucket, case):
    _, make, fmt, words = case
    obj = make(bucket, fake_lab.data_dir)
    files_before = image_files(fake_lab)
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    e = labkit.sdk_error(client.import_image, import_request(obj, fmt, name))
    assert (e.code, e.status_code) == ("InvalidParameter.Format", 400), (e.code, e.message)
    assert obj in e.message and words in e.message, e.message
    # The admin's secret never appears in what the client sees.
    secret = json.loads((fake_lab.data_dir / "admin-credentials.json").read_text())["AccessKeySecret"]
    assert secret not in e.message
    assert images_named(client, name) == []
    assert image_files(fake_lab) == files_before


@pytest.mark.parametrize("fmt,suffix", [("qcow2", "qcow2"), ("raw", "raw"), ("vpc", "vhd")])
def test_good_files_still_import(fake_lab, client, bucket, fmt, suffix):
    path = bucket / f"ok-{uuid.uuid4().hex[:6]}.{suffix}"
    qemu_img("create", "-q", "-f", fmt, str(path), "2M")
    claimed = "VHD" if fmt == "vpc" else fmt
    image_id = client.import_image(import_request(path.name, claimed)).body.image_id
    image = wait_status(client, image_id)
    assert image.status == "Available", image.to_map()
    assert f"{image_id}.qcow2" in image_files(fake_lab)
    client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id))


def test_a_tampered_image_file_is_never_exported(fake_lab, client, bucket, algorithm):
    """ExportImage is the other half of the probe's attack: even an image file replaced on disk
    by a qcow2 whose data file is the credentials file is not converted into a bucket."""
    path = bucket / f"victim-{uuid.uuid4().hex[:6]}.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(path), "1M")
    image_id = client.import_image(import_request(path.name, "qcow2")).body.image_id
    assert wait_status(client, image_id).status == "Available"
    image_file = fake_lab.data_dir / "images" / f"{image_id}.qcow2"
    evil = bucket / data_file_on_credentials(bucket, fake_lab.data_dir)
    shutil.copyfile(evil, image_file)
    exports = fake_lab.data_dir / "buckets" / "hostile-exports"
    exports.mkdir(parents=True, exist_ok=True)
    task_id = client.export_image(m.ExportImageRequest(
        region_id=REGION, image_id=image_id, ossbucket="hostile-exports", ossprefix=f"{algorithm}/",
        image_format="raw")).body.task_id
    deadline = time.monotonic() + 60
    while True:
        task = client.describe_task_attribute(m.DescribeTaskAttributeRequest(region_id=REGION, task_id=task_id)).body
        if task.task_status != "Processing":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert task.task_status == "Failed", task.to_map()
    secret = json.loads((fake_lab.data_dir / "admin-credentials.json").read_text())["AccessKeySecret"].encode()
    written = [p for p in exports.rglob("*") if p.is_file()]
    assert all(secret not in p.read_bytes() for p in written), written
    assert not list((exports / algorithm).glob(f"{image_id}*")) if (exports / algorithm).exists() else True
    client.delete_image(m.DeleteImageRequest(region_id=REGION, image_id=image_id, force=True))


@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
def test_mts_playlists_cannot_make_ffmpeg_read_host_files(fake_lab, algorithm, kind):
    """A playlist in a bucket names a host file: FFmpeg's input is limited to plain video files,
    so the job fails with MTS's content code; a normal video in the same bucket still works."""
    from test_mts import make_video, mts_client, out
    from alibabacloud_mts20140618 import models as mm

    client = mts_client(fake_lab, algorithm)
    media = fake_lab.data_dir / "buckets" / "hostile-media"
    media.mkdir(parents=True, exist_ok=True)
    (fake_lab.data_dir / "buckets" / "hostile-thumbs").mkdir(parents=True, exist_ok=True)
    tag = f"{algorithm}-{kind}-{uuid.uuid4().hex[:6]}"
    host_file = fake_lab.data_dir / "admin-credentials.json"
    name, text = {
        "hls": (f"{tag}.m3u8", f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{host_file}\n#EXT-X-ENDLIST\n"),
        "ffconcat": (f"{tag}.txt", f"ffconcat version 1.0\nfile '{host_file}'\n"),
    }[kind]
    (media / name).write_text(text)
    job = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "hostile-media", "Location": "oss-local", "Object": name}),
        snapshot_config=json.dumps({"OutputFile": out("hostile-thumbs", f"{tag}/bad.jpg"), "Time": "0"}),
    )).body.snapshot_job
    assert (job.state, job.code) == ("Fail", "InvalidParameter.ResourceContentBad"), job.to_map()
    assert not (fake_lab.data_dir / "buckets" / "hostile-thumbs" / tag / "bad.jpg").exists()
    make_video(media / f"{tag}.mp4")
    good = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "hostile-media", "Location": "oss-local", "Object": f"{tag}.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("hostile-thumbs", f"{tag}/ok.jpg"), "Time": "1000"}),
    )).body.snapshot_job
    assert (good.state, good.code) == ("Success", ""), good.to_map()
    assert (fake_lab.data_dir / "buckets" / "hostile-thumbs" / tag / "ok.jpg").stat().st_size > 0
