"""The web console (issue 14) at /console/, driven in headless Debian chromium through playwright-core
(tests/python/console_driver.mjs, a JSON-lines driver this test talks to), on the `lab` server (a real guest):

- the page and noVNC's modules are served from the binary with a strict CSP;
- sign-in from the keyboard with the admin AccessKey pair: kept in sessionStorage only, never in the URL, a
  cookie or the server's log;
- the grid shows the test guest's blue screen (pixels read back from the page's <img>) and asks only for
  changed frames: DescribeScreens (private version `ecslab-console`) through the official SDK's generic call
  with both signature algorithms sends a frame, then none for the same hash; bad input gets its code;
- the instance page's interactive console (noVNC over DescribeInstanceVncUrl's WebSocket) shows the screen and
  takes keyboard input: a command typed into a shell on the guest's screen (tty1, started from the serial shell,
  as the tiny guest has no getty there) prints its lines, checked through GetInstanceScreenshot;
- snapshots created from the disk's snapshot tree appear there, the second nested under the first, and in
  DescribeSnapshots; DescribeSnapshotTree (`ecslab-console`) gives the same parent links;
- keyboard focus is visible, and a 400 px wide window has no horizontal scroll and one column.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
import uuid
import urllib.request
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models as m
from PIL import Image

import labkit
from labkit import REGION

DRIVER = Path(__file__).resolve().parent / "console_driver.mjs"
PLAYWRIGHT = labkit.ROOT / "console" / "node_modules" / "playwright-core"
CONSOLE_VERSION = "ecslab-console"


class Browser:
    """The Node driver: one JSON command per line in, one JSON answer per line out."""

    def __init__(self):
        self.process = subprocess.Popen(["node", str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def __call__(self, op: str, **args) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the browser driver exited: {self.process.stderr.read()[-3000:]}")
        answer = json.loads(line)
        assert answer.pop("ok"), f"{op}: {answer}"
        return answer

    def close(self):
        try:
            self.process.stdin.write('{"op": "quit"}\n')
            self.process.stdin.close()
            self.process.wait(timeout=20)
        except Exception:
            self.process.kill()


@pytest.fixture(scope="module")
def browser():
    if not PLAYWRIGHT.is_dir() or not shutil.which("node") or not Path("/usr/bin/chromium").exists():
        pytest.fail("the console's browser tests need node, /usr/bin/chromium and console/node_modules: "
                    "run scripts/setup (scripts/build-console)", pytrace=False)
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def guest(lab):
    with labkit.running_guest(lab, "console-guest") as iid:
        yield iid


def screens(client, query: dict) -> dict:
    return labkit.call_action(client, "DescribeScreens", query, version=CONSOLE_VERSION)["body"]


def screenshot(client, iid: str) -> Image.Image:
    shot = client.get_instance_screenshot(m.GetInstanceScreenshotRequest(region_id=REGION, instance_id=iid)).body
    return Image.open(io.BytesIO(base64.b64decode(shot.screenshot))).convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    """The share of pixels that differ clearly (JPEG noise aside)."""
    pa, pb = a.tobytes(), b.tobytes()
    changed = sum(1 for i in range(0, len(pa), 3) if max(abs(pa[i + k] - pb[i + k]) for k in range(3)) > 80)
    return changed / (a.width * a.height)


def test_files_are_served_with_a_strict_policy(lab):
    base = f"http://{lab.endpoint}/console/"
    with urllib.request.urlopen(base, timeout=10) as r:
        page = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert '<script type="module" src="app.js">' in page
    for path, kind in (("app.js", "javascript"), ("api.js", "javascript"), ("style.css", "text/css"),
                       ("novnc/core/rfb.js", "javascript")):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            assert kind in r.headers["Content-Type"], (path, r.headers["Content-Type"])
            assert len(r.read()) > 500, path
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "missing.js", timeout=10)
    assert e.value.code == 404


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_describe_screens_sends_only_changed_frames(lab, guest, algorithm):
    client = lab.client(dict(labkit.ALGORITHMS)[algorithm])
    first = screens(client, {"Screen.1.InstanceId": guest})
    assert first["Unchanged"] == [] and first["Unavailable"] == []
    [frame] = first["Screens"]
    assert frame["InstanceId"] == guest and len(frame["Hash"]) == 16
    img = Image.open(io.BytesIO(base64.b64decode(frame["Screenshot"])))
    assert img.format == "JPEG" and img.size == (720, 400)
    # The same frame again: nothing but the id comes back.
    again = screens(client, {"Screen.1.InstanceId": guest, "Screen.1.Hash": frame["Hash"]})
    assert again["Screens"] == [] and again["Unchanged"] == [guest], again
    # A stale hash gets the frame.
    stale = screens(client, {"Screen.1.InstanceId": guest, "Screen.1.Hash": "0123456789abcdef"})
    assert [s["Hash"] for s in stale["Screens"]] == [frame["Hash"]]
    # An unknown instance is listed as unavailable with GetInstanceScreenshot's code, the rest still served.
    mixed = screens(client, {"Screen.1.InstanceId": "i-doesnotexist", "Screen.2.InstanceId": guest,
                             "Screen.2.Hash": frame["Hash"]})
    assert [(u["InstanceId"], u["Code"]) for u in mixed["Unavailable"]] == [("i-doesnotexist",
                                                                               "InvalidInstanceId.NotFound")]
    assert mixed["Unchanged"] == [guest]
    for query, code in (({}, "MissingParameter"),
                        ({"Screen.1.InstanceId": guest, "Screen.1.Hash": "nothex"}, "InvalidParameter"),
                        ({"Screen.1.InstanceId": guest, "Screen.1.Size": "big"}, "InvalidParameter"),
                        ({"Screen.101.InstanceId": guest}, "InvalidParameter")):
        e = labkit.sdk_error(labkit.call_action, client, "DescribeScreens", query, version=CONSOLE_VERSION)
        assert (e.status_code, e.code) == (400, code), (query, e.code, e.message)


def test_the_console_in_a_browser(lab, guest, browser):
    client = lab.client()
    opened = browser("open", url=f"http://{lab.endpoint}/console/")
    assert opened["title"] == "ecslab console"

    # ---- sign in from the keyboard; the secret stays in the session storage --------------------------
    signed = browser("signIn", accessKeyId=lab.access_key_id, accessKeySecret=lab.access_key_secret, region=REGION)
    assert lab.access_key_secret not in signed["url"] and lab.access_key_id not in signed["url"]
    assert signed["stored"] and all(k.startswith("ecslab.") for k in signed["stored"]), signed
    assert signed["cookies"] == 0

    # ---- the grid: the guest's blue screen, then no frame while nothing changes --------------------
    cell = browser("gridScreen", instanceId=guest)
    assert (cell["width"], cell["height"]) == (720, 400)
    assert cell["fraction"] > 0.5, cell
    assert "Running" in cell["text"] and guest in cell["text"]
    assert cell["frames"] >= 1
    quiet = browser("gridFrames", seconds=4)
    assert quiet["frames"] == 0, "an unchanged screen was sent again"

    # ---- keyboard focus is visible; a narrow window collapses to one column -------------------------
    walk = [s for s in browser("focusWalk", presses=5)["seen"] if s["tag"] != "BODY"]  # BODY: the wrap-around
    assert len(walk) >= 3 and all(s["outline"] for s in walk), walk
    narrow = browser("narrow", width=400)
    assert narrow["scrollWidth"] <= 400 and len(narrow["columns"].split()) == 1, narrow
    browser("narrow", width=1280)

    # ---- a screenshot job of the guest: its frames on the instance page, read back from the bucket ---------
    job_id, frame_names = screenshot_job(lab, guest)

    # ---- one instance: the interactive console shows the screen and takes keys ------------------------
    browser("openInstance", instanceId=guest)
    shown_frames = browser("jobFrames", jobId=job_id)
    assert [f["object"] for f in shown_frames["frames"]] == frame_names, shown_frames
    assert all((f["width"], f["height"]) == (720, 400) and f["fraction"] > 0.5 for f in shown_frames["frames"])
    assert shown_frames["caption"].startswith(f"{len(frame_names)} of {len(frame_names)} image(s)")
    shown = browser("openConsole")
    assert shown["fraction"] > 0.5, shown
    # The test guest's shell is on its serial port; give its screen (tty1) a shell too, as a getty would.
    labkit.type_on_serial(lab, guest, "setsid sh -i </dev/tty1 >/dev/tty1 2>&1 &")
    time.sleep(1)
    before = screenshot(client, guest)
    browser("type", text="clear; for n in 1 2 3 4 5 6 7 8; do echo VMTEST-CONSOLE-TYPED-$n-XXXXXXXXXXXXXXXXXXXXXXXX; done")
    after = screenshot(client, guest)
    changed = difference(before, after)
    assert changed > 0.001, f"typing changed only {changed:.4%} of the screen"

    # ---- a snapshot made from the disk's list appears there and in the API -------------------------
    first = browser("createSnapshot", name="console-snap-1")
    labkit.wait_snapshot(client, first["snapshotId"])
    second = browser("createSnapshot", name="console-snap-2")
    labkit.wait_snapshot(client, second["snapshotId"])
    assert browser("ancestors", snapshotId=first["snapshotId"]) == {"ancestors": [], "now": False}
    nested = browser("ancestors", snapshotId=second["snapshotId"])
    assert nested == {"ancestors": [first["snapshotId"]], "now": True}, "the second snapshot is under the first"
    made = [first["snapshotId"], second["snapshotId"]]
    snapshots = labkit.list_snapshots(client, snapshot_ids=json.dumps(made))
    assert sorted(s.snapshot_name for s in snapshots) == ["console-snap-1", "console-snap-2"]
    disk_id = snapshots[0].source_disk_id
    tree = labkit.call_action(client, "DescribeSnapshotTree", {"DiskId": disk_id}, version=CONSOLE_VERSION)["body"]
    assert tree["DiskId"] == disk_id
    assert [(n["SnapshotId"], n["ParentSnapshotId"]) for n in tree["Snapshots"]] == [(made[0], ""), (made[1], made[0])]
    assert tree["CurrentParentSnapshotId"] == made[1]
    narrow = browser("narrow", width=400)
    assert narrow["scrollWidth"] <= 400 and len(narrow["columns"].split()) == 1, narrow

    # ---- no secret reached the server's log ------------------------------------------------------
    assert lab.access_key_secret not in lab.log_path.read_text(errors="replace")


def screenshot_job(lab, instance_id: str) -> tuple[str, list[str]]:
    """An MTS job of three frames of the instance's screen, named by their time ({SnapshotTime}: only the job's own
    record knows them); returns its id and the frames' object names as the bucket holds them, oldest first."""
    from alibabacloud_mts20140618 import models as mm
    from test_mts import bucket, mts_client, out, wait_job

    folder, shots = uuid.uuid4().hex[:8], bucket(lab, "console-shots")
    job = mts_client(lab, "acs3").submit_snapshot_job(mm.SubmitSnapshotJobRequest(
        input=json.dumps({"InstanceId": instance_id}),
        snapshot_config=json.dumps({"OutputFile": out("console-shots", folder + "/{FileName}-{Count}-at-{SnapshotTime}.jpg"),
                                    "Interval": "1", "Num": "3"}),
    )).body.snapshot_job
    done = wait_job(mts_client(lab, "v2"), job.id)
    assert (done.state, done.count) == ("Success", "3"), done.to_map()
    written = sorted((shots / folder).iterdir(), key=lambda p: p.stem.split("-")[-3])
    assert len(written) == 3 and all(p.name.startswith(instance_id) for p in written)
    return job.id, [f"{folder}/{p.name}" for p in written]


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_job_frames_through_the_sdk(lab, guest, algorithm):
    """DescribeJobFrames gives a job's newest frames as JPEG, MaxFrames bounds them, and a frame deleted from the
    bucket since is listed as Gone; bad input and unknown jobs get their codes."""
    client = lab.client(dict(labkit.ALGORITHMS)[algorithm])
    job_id, names = screenshot_job(lab, guest)
    frames = labkit.call_action(client, "DescribeJobFrames", {"JobId": job_id}, version=CONSOLE_VERSION)["body"]
    assert (frames["JobId"], frames["TotalCount"]) == (job_id, 3)
    assert [(f["Kind"], f["Bucket"], f["Object"]) for f in frames["Frames"]] == [("Frame", "console-shots", n) for n in names]
    for f in frames["Frames"]:
        img = Image.open(io.BytesIO(base64.b64decode(f["Image"])))
        assert img.format == "JPEG" and img.size == (720, 400) and f["Missing"] == ""
        assert base64.b64decode(f["Image"]) == (lab.data_dir / "buckets" / "console-shots" / f["Object"]).read_bytes()
    (lab.data_dir / "buckets" / "console-shots" / names[-1]).unlink()
    newest = labkit.call_action(client, "DescribeJobFrames", {"JobId": job_id, "MaxFrames": "2"},
                                version=CONSOLE_VERSION)["body"]
    assert [f["Object"] for f in newest["Frames"]] == names[1:] and newest["TotalCount"] == 3
    assert (newest["Frames"][1]["Image"], newest["Frames"][1]["Missing"]) == ("", "Gone")
    for params, status, code in (({}, 400, "MissingParameter"),
                                 ({"JobId": job_id, "MaxFrames": "0"}, 400, "InvalidParameter"),
                                 ({"JobId": job_id, "MaxFrames": "51"}, 400, "InvalidParameter"),
                                 ({"JobId": "0" * 32}, 404, "InvalidParameter.ResourceNotFound")):
        e = labkit.sdk_error(labkit.call_action, client, "DescribeJobFrames", params, version=CONSOLE_VERSION)
        assert (e.status_code, e.code) == (status, code), (params, e.code, e.message)


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_describe_screens_is_authorized_as_get_instance_screenshot(fake_lab, algorithm):
    """A RAM user may read a screen through DescribeScreens exactly where ecs:GetInstanceScreenshot allows it;
    another account's instance and disk are NotFound to the console's actions."""
    from alibabacloud_ram20150501 import models as ram_models
    from test_ram import ram_client
    from test_tenants import as_account, create_account

    account = create_account(fake_lab, f"console-{algorithm}-{uuid.uuid4().hex[:8]}")
    tenant = as_account(fake_lab, account)
    root = tenant.client()
    image_id = labkit.import_image(tenant, labkit.server_binary(), labkit.guest_image(), "console-image",
                                  bucket=f"console-{uuid.uuid4().hex[:8]}")
    allowed, other = (labkit.run_instance(root, image_id) for _ in range(2))
    ram = ram_client(fake_lab, account.key_id, account.secret, None)
    ram.create_user(ram_models.CreateUserRequest(user_name="viewer"))
    policy = json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "ecs:GetInstanceScreenshot",
        "Resource": f"acs:ecs:*:{account.account_id}:instance/{allowed}"}]})
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name="screens", policy_document=policy))
    ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="Custom", policy_name="screens", user_name="viewer"))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="viewer")).body.access_key
    viewer = labkit.make_client(fake_lab.endpoint, key.access_key_id, key.access_key_secret,
                                dict(labkit.ALGORITHMS)[algorithm])
    reply = screens(viewer, {"Screen.1.InstanceId": allowed})
    assert {s["InstanceId"] for s in reply["Screens"]} | {u["InstanceId"] for u in reply["Unavailable"]} == {allowed}
    for query in ({"Screen.1.InstanceId": other}, {"Screen.1.InstanceId": allowed, "Screen.2.InstanceId": other}):
        e = labkit.sdk_error(labkit.call_action, viewer, "DescribeScreens", query, version=CONSOLE_VERSION)
        assert (e.status_code, e.code) == (403, "Forbidden.RAM"), (e.code, e.message)
        assert "GetInstanceScreenshot" in e.message
    # A job's frames need what MTS's job listing needs, whichever job is asked for.
    e = labkit.sdk_error(labkit.call_action, viewer, "DescribeJobFrames", {"JobId": "0" * 32}, version=CONSOLE_VERSION)
    assert (e.status_code, e.code) == (403, "Forbidden.RAM") and "mts:QuerySnapshotJobList" in e.message, e.message
    # Another account's instance and disk are NotFound, as ones that never existed.
    foreign = labkit.run_instance(fake_lab.client(), fake_lab.image_id)
    foreign_disk = labkit.instance_disks(fake_lab.client(), foreign)[0]
    tenant_root = labkit.make_client(fake_lab.endpoint, account.key_id, account.secret,
                                     dict(labkit.ALGORITHMS)[algorithm])
    reply = screens(tenant_root, {"Screen.1.InstanceId": foreign})
    assert reply["Screens"] == [] and [u["Code"] for u in reply["Unavailable"]] == ["InvalidInstanceId.NotFound"]
    e = labkit.sdk_error(labkit.call_action, tenant_root, "DescribeSnapshotTree", {"DiskId": foreign_disk},
                         version=CONSOLE_VERSION)
    assert (e.status_code, e.code) == (404, "InvalidDiskId.NotFound"), (e.code, e.message)
    foreign_job = labkit.call_action(fake_lab.client(), "SubmitSnapshotJob", {
        "Input": json.dumps({"InstanceId": foreign}),
        "SnapshotConfig": json.dumps({"OutputFile": {"Bucket": "console-foreign", "Location": "oss-local",
                                                     "Object": "{Count}.jpg"}})}, version="2014-06-18")
    e = labkit.sdk_error(labkit.call_action, tenant_root, "DescribeJobFrames",
                         {"JobId": foreign_job["body"]["SnapshotJob"]["Id"]}, version=CONSOLE_VERSION)
    assert (e.status_code, e.code) == (404, "InvalidParameter.ResourceNotFound"), (e.code, e.message)
    labkit.force_delete(fake_lab.client(), foreign)
    for iid in (allowed, other):
        labkit.force_delete(root, iid)
