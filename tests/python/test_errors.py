"""Error codes and HTTP statuses as the official SDK sees them (both signature algorithms).

The SDK raises `alibabacloud_tea_openapi.exceptions.ClientException` for 4xx (ServerException for
5xx, ThrottlingException when `x-acs-retry-after` is set); all have `.code`, `.status_code`,
`.message` ("code: <status>, <Message> request id: <id>"), `.request_id` and `.data` (the whole
error envelope).
"""

from __future__ import annotations

import re
import uuid

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ClientException

import labkit
from labkit import REGION


def expect(call, request, code, status):
    e = labkit.sdk_error(call, request)
    assert isinstance(e, AlibabaCloudException), repr(e)
    assert (e.code, e.status_code) == (code, status), f"{e.code} {e.status_code}: {e.message}"
    assert e.request_id and e.data.get("RequestId") == e.request_id
    assert e.data.get("HostId") and e.data.get("Message")
    return e


@pytest.fixture(scope="module")
def running(lab):
    """A Running instance shared by this module (state-changing tests must not touch it)."""
    client = lab.client()
    iid = labkit.run_instance(client, lab.image_id, instance_name="errors-running")
    labkit.wait_status(client, iid, "Running")
    yield iid
    labkit.force_delete(client, iid)


@pytest.fixture(scope="module")
def stopped(lab):
    client = lab.client()
    iid = labkit.create_instance(client, lab.image_id, instance_name="errors-stopped")
    yield iid
    labkit.force_delete(client, iid)


@pytest.fixture(scope="module")
def headless(lab):
    """A Running instance of the type without a display."""
    client = lab.client()
    iid = labkit.run_instance(client, lab.image_id, instance_type="ecs.lab-headless.tiny",
                              instance_name="errors-headless")
    labkit.wait_status(client, iid, "Running")
    yield iid
    labkit.force_delete(client, iid)


def test_missing_parameter(ecs):
    e = expect(ecs.start_instance, m.StartInstanceRequest(), "MissingParameter", 400)
    assert '"InstanceId"' in e.message
    e = expect(ecs.run_instances, m.RunInstancesRequest(region_id=REGION, instance_type="ecs.lab.tiny"),
               "MissingParameter", 400)
    assert '"ImageId"' in e.message


def test_instance_not_found(ecs):
    for call, req in [
        (ecs.start_instance, m.StartInstanceRequest(instance_id="i-doesnotexist")),
        (ecs.stop_instance, m.StopInstanceRequest(instance_id="i-doesnotexist")),
        (ecs.delete_instance, m.DeleteInstanceRequest(instance_id="i-doesnotexist", force=True)),
        (ecs.get_instance_screenshot, m.GetInstanceScreenshotRequest(region_id=REGION, instance_id="i-doesnotexist")),
    ]:
        expect(call, req, "InvalidInstanceId.NotFound", 404)


def test_start_a_running_instance(ecs, running):
    expect(ecs.start_instance, m.StartInstanceRequest(instance_id=running), "IncorrectInstanceStatus", 403)
    assert labkit.describe(ecs, running).status == "Running"


def test_delete_running_without_force(ecs, running):
    expect(ecs.delete_instance, m.DeleteInstanceRequest(instance_id=running), "IncorrectInstanceStatus", 403)
    assert labkit.describe(ecs, running).status == "Running"


def test_reboot_a_stopped_instance(ecs, stopped):
    expect(ecs.reboot_instance, m.RebootInstanceRequest(instance_id=stopped), "IncorrectInstanceStatus", 403)


def test_dry_run_of_a_state_change(ecs, stopped):
    expect(ecs.start_instance, m.StartInstanceRequest(instance_id=stopped, dry_run=True), "DryRunOperation", 400)
    assert labkit.describe(ecs, stopped).status == "Stopped"


def test_screenshot_of_a_stopped_instance(ecs, stopped):
    expect(ecs.get_instance_screenshot, m.GetInstanceScreenshotRequest(region_id=REGION, instance_id=stopped),
           "IncorrectInstanceStatus", 405)


def test_stop_a_stopped_instance(ecs, stopped):
    expect(ecs.stop_instance, m.StopInstanceRequest(instance_id=stopped), "IncorrectInstanceStatus", 403)


def test_screenshot_of_a_headless_instance(ecs, headless):
    e = expect(ecs.get_instance_screenshot, m.GetInstanceScreenshotRequest(region_id=REGION, instance_id=headless),
               "NotSupported", 405)
    assert headless in e.message


def test_unknown_instance_type(lab, ecs):
    expect(ecs.run_instances, m.RunInstancesRequest(region_id=REGION, image_id=lab.image_id, instance_type="ecs.g7.huge"),
           "InvalidInstanceType.ValueNotSupported", 400)


def test_unknown_image(ecs):
    expect(ecs.run_instances, m.RunInstancesRequest(region_id=REGION, image_id="m-doesnotexist", instance_type="ecs.lab.tiny"),
           "InvalidImageId.NotFound", 404)


def test_dry_run(lab, ecs, algorithm):
    name = f"dryrun-{algorithm}"
    e = expect(ecs.run_instances, m.RunInstancesRequest(
        region_id=REGION, image_id=lab.image_id, instance_type="ecs.lab.tiny", instance_name=name, dry_run=True),
        "DryRunOperation", 400)
    assert "DryRun" in e.message
    assert labkit.list_instances(ecs, instance_name=name) == [], "DryRun created an instance"
    # DryRun still validates: a bad request gets its real error, not DryRunOperation.
    expect(ecs.run_instances, m.RunInstancesRequest(
        region_id=REGION, image_id="m-doesnotexist", instance_type="ecs.lab.tiny", dry_run=True),
        "InvalidImageId.NotFound", 404)


def test_other_region(ecs):
    expect(ecs.describe_instances, m.DescribeInstancesRequest(region_id="cn-hangzhou"), "InvalidRegionId.NotFound", 404)


def test_client_token(lab, ecs, algorithm, cleanup):
    token = f"pytest-{algorithm}-{uuid.uuid4().hex}"
    name = f"idem-{algorithm}"

    def run(instance_name):
        return ecs.run_instances(m.RunInstancesRequest(
            region_id=REGION, image_id=lab.image_id, instance_type="ecs.lab.tiny", instance_name=instance_name,
            client_token=token)).body.instance_id_sets.instance_id_set

    first = run(name)
    cleanup.extend(first)
    assert len(first) == 1
    # A retry (new nonce, new timestamp, same parameters) gets the same answer, not a new instance.
    assert run(name) == first
    e = labkit.sdk_error(run, f"{name}-other")
    assert (e.code, e.status_code) == ("IdempotentParameterMismatch", 400), f"{e.code} {e.status_code}"
    assert [i.instance_id for i in labkit.list_instances(ecs, instance_name=f"{name}*")] == first


def test_wrong_secret(lab, algorithm, monkeypatch):
    """SignatureDoesNotMatch, and the message carries the server's string to sign, which must be
    the very string the SDK signed (only the key differed)."""
    import alibabacloud_tea_openapi.utils as sdk_utils

    signed: list[bytes] = []
    real_hmac = sdk_utils.hmac

    class Spy:
        @staticmethod
        def new(key, msg=None, digestmod=None):
            signed.append(msg)
            return real_hmac.new(key, msg, digestmod)

    monkeypatch.setattr(sdk_utils, "hmac", Spy)
    client = lab.client(dict(labkit.ALGORITHMS)[algorithm], access_key_secret="not-the-secret")
    e = labkit.sdk_error(client.describe_instances, m.DescribeInstancesRequest(region_id=REGION))
    assert isinstance(e, ClientException)
    assert (e.code, e.status_code) == ("SignatureDoesNotMatch", 400)
    prefix = "Specified signature is not matched with our calculation. server string to sign is:"
    message = e.data["Message"]
    assert message.startswith(prefix), message
    server_sts = message[len(prefix):]
    assert len(signed) == 1
    client_sts = signed[0].decode() if isinstance(signed[0], bytes) else signed[0]
    assert server_sts == client_sts
    if algorithm == "acs3":
        assert re.fullmatch(r"ACS3-HMAC-SHA256\n[0-9a-f]{64}", server_sts)
    else:
        assert server_sts.startswith("POST&%2F&") and "Action%3DDescribeInstances" in server_sts


def test_unknown_access_key(lab, algorithm):
    client = lab.client(dict(labkit.ALGORITHMS)[algorithm], access_key_id="LTAInobodyhasthiskey0000")
    e = labkit.sdk_error(client.describe_instances, m.DescribeInstancesRequest(region_id=REGION))
    assert (e.code, e.status_code) == ("InvalidAccessKeyId.NotFound", 404)


def test_unknown_action(ecs):
    e = labkit.sdk_error(labkit.call_action, ecs, "LaunchMissiles", {"RegionId": REGION})
    assert (e.code, e.status_code) == ("InvalidAction.NotFound", 404)
    assert "LaunchMissiles" in e.message


def test_unknown_version(ecs):
    e = labkit.sdk_error(labkit.call_action, ecs, "DescribeRegions", {}, version="2099-01-01")
    assert (e.code, e.status_code) == ("InvalidVersion", 400)


def test_generic_call_api_succeeds(ecs):
    """The generic path the SDK's generated actions use, with a raw dict reply."""
    reply = labkit.call_action(ecs, "DescribeRegions", {"RegionId": REGION})
    assert reply["statusCode"] == 200
    assert reply["body"]["Regions"]["Region"][0]["RegionId"] == REGION
    assert re.fullmatch(r"[0-9A-F-]{36}", reply["body"]["RequestId"])
