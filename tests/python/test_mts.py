"""MTS 2014-06-18 screenshot jobs through the official SDK (alibabacloud_mts20140618), once per
signature algorithm: frames of a video made here with FFmpeg, a real guest's screen, pipelines,
QuerySnapshotJobList (ids, unknown ids, State, paging), and MTS's request error codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest
from alibabacloud_mts20140618 import models as mm
from alibabacloud_mts20140618.client import Client as MtsClient
from alibabacloud_tea_openapi import utils_models as open_api_models
from PIL import Image

import labkit
from labkit import REGION


def mts_client(lab, algorithm_name: str) -> MtsClient:
    kwargs = dict(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret,
                  region_id=REGION, endpoint=lab.endpoint, protocol="http")
    algorithm = dict(labkit.ALGORITHMS)[algorithm_name]
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return MtsClient(open_api_models.Config(**kwargs))


def bucket(lab, name: str):
    path = lab.data_dir / "buckets" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_video(path) -> None:
    """6 s at 160x120; the red level is 50 per elapsed second (black in the first)."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is missing: run scripts/setup", pytrace=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=160x120:r=10:d=6,format=rgb24,geq=r='min(255\\,floor(T)*50)':g=0:b=0",
                    "-c:v", "mpeg4", "-q:v", "2", "-g", "10", "-pix_fmt", "yuv420p", str(path)], check=True)


def mean_red(path) -> float:
    img = Image.open(path).convert("RGB")
    data = img.tobytes()
    return sum(data[0::3]) / (img.width * img.height)


def out(bucket_name: str, obj: str) -> dict:
    return {"Bucket": bucket_name, "Location": "oss-local", "Object": obj}


def wait_job(client: MtsClient, job_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        body = client.query_snapshot_job_list(mm.QuerySnapshotJobListRequest(snapshot_job_ids=job_id)).body
        job = body.snapshot_job_list.snapshot_job[0]
        if job.state in ("Success", "Fail"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job.state}")
        time.sleep(0.2)


def test_video_jobs(lab, algorithm):
    client = mts_client(lab, algorithm)
    tag = f"{algorithm}-{uuid.uuid4().hex[:6]}"
    make_video(bucket(lab, "sdk-media") / f"{tag}/clip.mp4")
    thumbs = bucket(lab, "sdk-thumbs")

    pipeline = client.add_pipeline(mm.AddPipelineRequest(name=f"p-{tag}")).body.pipeline
    assert len(pipeline.id) == 32 and pipeline.state == "Active"
    listed = client.query_pipeline_list(mm.QueryPipelineListRequest(pipeline_ids=f"{pipeline.id},nope")).body
    assert [p.id for p in listed.pipeline_list.pipeline] == [pipeline.id]
    assert listed.non_exist_pids.string == ["nope"]

    # Synchronous: the image is there when the SDK returns.
    sync = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "sdk-media", "Location": "oss-local", "Object": f"{tag}/clip.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("sdk-thumbs", f"{tag}/sync.jpg"), "Time": "3500",
                                    "Width": "80", "FrameType": "normal"}),
        user_data=json.dumps({"k": tag}),
    )).body.snapshot_job
    assert (sync.state, sync.count, sync.code) == ("Success", "1", ""), sync.to_map()
    assert json.loads(sync.user_data) == {"k": tag}
    assert sync.snapshot_config.output_file.object == f"{tag}/sync.jpg"
    assert sync.snapshot_config.width == "80"
    img = Image.open(thumbs / tag / "sync.jpg")
    assert img.format == "JPEG" and img.size == (80, 60)
    assert abs(mean_red(thumbs / tag / "sync.jpg") - 150) < 12

    # Asynchronous, in the pipeline: Submitted/Snapshoting, then Success with Count.
    job = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "sdk-media", "Location": "oss-local", "Object": f"{tag}/clip.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("sdk-thumbs", f"{tag}/{{Count}}.jpg"), "Time": "1500",
                                    "Interval": "1", "Num": "3", "FrameType": "normal"}),
        pipeline_id=pipeline.id,
    )).body.snapshot_job
    assert job.state in ("Submitted", "Snapshoting", "Success")
    assert job.pipeline_id == pipeline.id
    done = wait_job(client, job.id)
    assert (done.state, done.count) == ("Success", "3")
    assert sorted(p.name for p in (thumbs / tag).glob("0*.jpg")) == ["00001.jpg", "00002.jpg", "00003.jpg"]
    for n, red in enumerate([50, 100, 150], start=1):
        assert abs(mean_red(thumbs / tag / f"{n:05}.jpg") - red) < 12

    # QuerySnapshotJobList: unknown ids apart; filters; paging.
    unknown = "f" * 32
    body = client.query_snapshot_job_list(mm.QuerySnapshotJobListRequest(
        snapshot_job_ids=f"{sync.id},{unknown}", maximum_page_size=10)).body
    assert [j.id for j in body.snapshot_job_list.snapshot_job] == [sync.id]
    assert body.non_exist_snapshot_job_ids.string == [unknown]
    in_pipeline = client.query_snapshot_job_list(mm.QuerySnapshotJobListRequest(
        pipeline_id=pipeline.id, state="Success")).body.snapshot_job_list.snapshot_job
    assert [j.id for j in in_pipeline] == [job.id]
    first = client.query_snapshot_job_list(mm.QuerySnapshotJobListRequest(maximum_page_size=1)).body
    assert len(first.snapshot_job_list.snapshot_job) == 1 and len(first.next_page_token) == 32
    second = client.query_snapshot_job_list(mm.QuerySnapshotJobListRequest(
        maximum_page_size=1, next_page_token=first.next_page_token)).body
    assert second.snapshot_job_list.snapshot_job[0].id != first.snapshot_job_list.snapshot_job[0].id

    # A job that fails: the object is missing.
    missing = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "sdk-media", "Location": "oss-local", "Object": f"{tag}/none.mp4"}),
        snapshot_config=json.dumps({"OutputFile": out("sdk-thumbs", f"{tag}/none.jpg")}),
    )).body.snapshot_job
    assert (missing.state, missing.code) == ("Fail", "InvalidParameter.ResourceNotFound")


@pytest.mark.parametrize("input_text, config, code, status", [
    ("{not json", {"OutputFile": out("sdk-thumbs", "x.jpg")}, "InvalidParameter.JsonFormatInvalid", 400),
    (json.dumps({"Bucket": "sdk-media", "Object": "v.mp4"}), {"Time": "1"}, "InvalidParameter.NullValue", 400),
    (json.dumps({"Bucket": "sdk-media", "Object": "v.mp4"}), {"OutputFile": out("sdk-thumbs", "../x.jpg")},
     "InvalidParameter.ObjectKeyInvalid", 400),
    (json.dumps({"Bucket": "sdk-media", "Object": "v.mp4"}), {"OutputFile": out("sdk-thumbs", "x.jpg"), "Width": "5000"},
     "InvalidParameter.OutOfRange", 400),
])
def test_request_errors(lab, algorithm, input_text, config, code, status):
    client = mts_client(lab, algorithm)
    err = labkit.sdk_error(client.submit_snapshot_job, mm.SubmitSnapshotJobRequest(
        input=input_text, snapshot_config=json.dumps(config)))
    assert (err.code, err.status_code) == (code, status), err.message


def test_instance_screen(lab, ecs, algorithm, cleanup):
    client = mts_client(lab, algorithm)
    shots = bucket(lab, "sdk-shots")
    iid = labkit.run_instance(ecs, lab.image_id)
    cleanup.append(iid)
    labkit.wait_status(ecs, iid, "Running", timeout=90)
    labkit.wait_console(ecs, iid, "VMTEST-GUEST-READY", timeout=90)

    job = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"InstanceId": iid}),
        snapshot_config=json.dumps({"OutputFile": out("sdk-shots", "{FileName}/{Count}.jpg"),
                                    "Interval": "1", "Num": "2"}),
    )).body.snapshot_job
    done = wait_job(client, job.id)
    assert (done.state, done.count) == ("Success", "2"), done.to_map()
    for n in (1, 2):
        img = Image.open(shots / iid / f"{n:05}.jpg").convert("RGB")
        assert img.size == (720, 400)
        data = img.tobytes()
        blue = sum(1 for i in range(0, len(data), 3) if data[i + 2] >= 128 and data[i] < 96 and data[i + 1] < 96)
        assert blue / (img.width * img.height) > 0.5

    labkit.force_delete(ecs, iid)
    gone = client.submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"InstanceId": iid}),
        snapshot_config=json.dumps({"OutputFile": out("sdk-shots", "gone.jpg")}),
    )).body.snapshot_job
    assert (gone.state, gone.code) == ("Fail", "InvalidParameter.ResourceNotFound")
