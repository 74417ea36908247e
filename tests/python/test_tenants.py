"""Issue 13's tenants: `ecslab admin accounts create` and isolation between accounts.

A fake-driver server of its own. The admin makes two accounts with the CLI (through the API's
private `ecslab-admin` product). Account A creates one of everything (image, instance, disk,
snapshot, VPC, vSwitch, security group, key pair, Cloud Assistant command and invocation, MTS
pipeline and job, an ECD image-change record, an export task, a PAI-DSW snapshot). Account B's
key then sees none of it: every listing comes back empty, and every action of every product,
enumerated from the product modules' sources (`crates/api/src/*/parse.rs`), called with A's ids
answers a NotFound code, never a permission error. A's resources are intact afterwards.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from alibabacloud_tea_openapi import utils_models as open_api_models

import labkit
from labkit import REGION

API_SRC = labkit.ROOT / "crates" / "api" / "src"
ECS, VPC, MTS, ECD = "2014-05-26", "2016-04-28", "2014-06-18", "2020-09-30"
# Product module -> the RPC version it serves (the sources are the list of actions).
MODULES = {"ecs/parse.rs": ECS, "security_groups/parse.rs": ECS, "instance_network/mod.rs": ECS,
           "key_pairs/parse.rs": ECS, "cloud_assistant/parse.rs": ECS, "vnc/parse.rs": ECS, "vpc/parse.rs": VPC,
           "mts/parse.rs": MTS, "ecd/parse.rs": ECD}
ARM = re.compile(r'^\s*"([A-Z][A-Za-z]+)"\s*=>', re.M)

# Actions that list: B gets an empty list (TotalCount 0), with and without A's ids as filters.
LISTINGS = {"DescribeInstances", "DescribeInstanceStatus", "DescribeImages", "DescribeTasks", "DescribeSnapshots",
            "DescribeDisks", "DescribeSecurityGroups", "DescribeNetworkInterfaces", "DescribeKeyPairs",
            "DescribeCommands", "DescribeInvocations", "DescribeInvocationResults", "DescribeVpcs",
            "DescribeVSwitches", "QuerySnapshotJobList", "QueryPipelineList", "DescribeDesktops",
            "DescribeCloudAssistantStatus"}
# Actions that name no resource of an account (catalogues, or creating from nothing).
NO_ID = {"DescribeInstanceTypes", "DescribeRegions", "DescribeZones", "CreateVpc", "CreateKeyPair",
         "ImportKeyPair", "CreateCommand", "AddPipeline", "ImportImage"}
# Actions that skip names they do not find (DeleteKeyPairs, as ECS): B's call succeeds and
# deletes nothing (test_owner_still_has_everything checks A's pair).
ABSENT_IS_SKIPPED = {"DeleteKeyPairs"}
# Lists in a listing's reply that may hold something for B: the ids it asked for that do not exist.
NOT_LISTED = re.compile(r"NonExist", re.I)


def actions() -> list[tuple[str, str]]:
    found = []
    for module, version in MODULES.items():
        text = (API_SRC / module).read_text()
        found += [(version, a) for a in ARM.findall(text)]
    return sorted(set(found))


@dataclasses.dataclass
class Account:
    account_id: str
    key_id: str
    secret: str


def cli(lab, *args, key_id=None, secret=None):
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=key_id or lab.access_key_id,
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret or lab.access_key_secret, ECSLAB_ENDPOINT=lab.endpoint)
    return subprocess.run([str(labkit.server_binary()), *args], env=env, capture_output=True, text=True, timeout=60)


def create_account(lab, name) -> Account:
    out = cli(lab, "admin", "accounts", "create", name)
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)
    assert set(key) == {"AccountId", "AccessKeyId", "AccessKeySecret"}, key
    return Account(key["AccountId"], key["AccessKeyId"], key["AccessKeySecret"])


def as_account(lab, account: Account):
    return dataclasses.replace(lab, access_key_id=account.key_id, access_key_secret=account.secret)


def rpc(lab, version, action, query=None, algorithm=None):
    """Any RPC action through the official SDK's generic call_api; (status, body or error)."""
    from darabonba.exceptions import DaraException
    client = lab.client(algorithm)
    try:
        body = labkit.call_action(client, action, {k: str(v) for k, v in (query or {}).items()}, version=version)
        return body["statusCode"], body["body"]
    except DaraException as e:
        return e.status_code if hasattr(e, "status_code") else e.statusCode, {"Code": e.code, "Message": e.message}


def ok(lab, version, action, query=None):
    status, body = rpc(lab, version, action, query)
    assert status == 200, (action, body)
    return body


@pytest.fixture(scope="module")
def tenants(prerequisites):
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-pyten",
                              extra_args=["--stop-grace-secs", "5"])
    try:
        a, b = create_account(lab, "team-a"), create_account(lab, "team-b")
        yield lab, a, b
    finally:
        labkit.stop_server(lab)


def test_accounts_create(tenants):
    lab, a, b = tenants
    assert re.fullmatch(r"\d{16}", a.account_id) and re.fullmatch(r"\d{16}", b.account_id)
    assert len({a.account_id, b.account_id, "1000000000000001"}) == 3
    assert a.key_id.startswith("LTAI") and a.key_id != b.key_id

    dup = cli(lab, "admin", "accounts", "create", "team-a")
    assert dup.returncode != 0 and "409 EntityAlreadyExists.Account" in dup.stderr, dup.stderr
    assert dup.stdout == ""
    for bad in ["Team", "team_a", "-a", "a-", "a--b", "x" * 51]:
        out = cli(lab, "admin", "accounts", "create", "--", bad)
        assert out.returncode != 0 and "400 InvalidParameter.AccountName" in out.stderr, (bad, out.stderr)
    # Only the server admin's key may create accounts.
    refused = cli(lab, "admin", "accounts", "create", "team-c", key_id=a.key_id, secret=a.secret)
    assert refused.returncode != 0 and "403 Forbidden.AdminOnly" in refused.stderr, refused.stderr
    # The same through the SDK, both signature algorithms.
    for _, algorithm in labkit.ALGORITHMS:
        status, body = rpc(as_account(lab, b), "ecslab-admin", "CreateAccount", {"AccountName": "x"}, algorithm)
        assert (status, body["Code"]) == (403, "Forbidden.AdminOnly")
        status, body = rpc(lab, "ecslab-admin", "CreateAccount", {"AccountName": "team-a"}, algorithm)
        assert (status, body["Code"]) == (409, "EntityAlreadyExists.Account")
    helped = subprocess.run([str(labkit.server_binary()), "admin", "accounts", "create", "--help"],
                            capture_output=True, text=True)
    assert "lowercase letters, digits and hyphens" in helped.stdout and "--endpoint" in helped.stdout


@pytest.fixture(scope="module")
def world(tenants):
    """Account A's resources, one of each kind; their ids by the parameter names that take them."""
    lab, a, _ = tenants
    la = as_account(lab, a)
    image_id = labkit.import_image(la, labkit.server_binary(), labkit.guest_image(), "a-image")
    vpc_id, vsw_id, sg_id = labkit.make_network(la, "10.0.0.0/16", "10.0.1.0/24")
    key_name = "a-key"
    ok(la, ECS, "CreateKeyPair", {"KeyPairName": key_name})
    instance_id = ok(la, ECS, "RunInstances", {"ImageId": image_id, "InstanceType": "ecs.lab.tiny",
                                               "VSwitchId": vsw_id, "SecurityGroupId": sg_id,
                                               "KeyPairName": key_name})["InstanceIdSets"]["InstanceIdSet"][0]
    labkit.wait_status(la.client(), instance_id, "Running")
    command_id = ok(la, ECS, "CreateCommand", {"Name": "a-cmd", "Type": "RunShellScript",
                                               "CommandContent": base64.b64encode(b"echo a").decode()})["CommandId"]
    invoke_id = ok(la, ECS, "InvokeCommand", {"CommandId": command_id,
                                              "InstanceId.1": instance_id})["InvokeId"]
    # The fake driver snapshots stopped instances only (a live snapshot needs QEMU).
    ok(la, ECS, "StopInstance", {"InstanceId": instance_id, "ForceStop": "true"})
    labkit.wait_status(la.client(), instance_id, "Stopped")
    system_disk = labkit.instance_disks(la.client(), instance_id)[0]
    disk_id = ok(la, ECS, "CreateDisk", {"ZoneId": f"{REGION}-a", "Size": "20"})["DiskId"]
    snapshot_id = labkit.snapshot_now(la.client(), system_disk)
    pai_snapshot_id = pai_snapshot(la, instance_id)
    pipeline_id = ok(la, MTS, "AddPipeline", {"Name": "a-pipe"})["Pipeline"]["Id"]
    job_id = ok(la, MTS, "SubmitSnapshotJob", {
        "PipelineId": pipeline_id,
        "Input": json.dumps({"Bucket": "ecslab-images", "Location": "oss-local", "Object": "none.mp4"}),
        "SnapshotConfig": json.dumps({"OutputFile": {"Bucket": "ecslab-images", "Location": "oss-local",
                                                      "Object": "a-{Count}.jpg"}, "Time": "1000", "Num": "2"})})[
        "SnapshotJob"]["Id"]
    ok(la, ECD, "RebuildDesktops", {"DesktopId.1": instance_id, "ImageId": image_id})
    task_id = ok(la, ECS, "ExportImage", {"ImageId": image_id, "OSSBucket": "ecslab-images",
                                          "OSSPrefix": "a-export"})["TaskId"]
    ids = {"InstanceId": instance_id, "DiskId": disk_id, "SnapshotId": snapshot_id, "ImageId": image_id,
           "VpcId": vpc_id, "VSwitchId": vsw_id, "SecurityGroupId": sg_id, "KeyPairName": key_name,
           "CommandId": command_id, "InvokeId": invoke_id, "PipelineId": pipeline_id, "SnapshotJobId": job_id,
           "TaskId": task_id, "SystemDiskId": system_disk, "PaiSnapshotId": pai_snapshot_id}
    return la, ids


def id_params(ids: dict) -> dict:
    """Every way an action names a resource, all filled with A's ids, plus harmless fillers for the
    other parameters an action checks before it looks anything up."""
    i = ids
    return {
        "InstanceId": i["InstanceId"], "InstanceId.1": i["InstanceId"], "InstanceIds": json.dumps([i["InstanceId"]]),
        "DesktopId.1": i["InstanceId"], "DesktopId": i["InstanceId"], "DiskId": i["DiskId"], "DiskIds": json.dumps([i["DiskId"]]),
        "SnapshotId": i["SnapshotId"], "SnapshotIds": json.dumps([i["SnapshotId"]]), "ImageId": i["ImageId"],
        "VpcId": i["VpcId"], "VSwitchId": i["VSwitchId"], "SecurityGroupId": i["SecurityGroupId"],
        "KeyPairName": i["KeyPairName"],
        "KeyPairNames": json.dumps([i["KeyPairName"]]), "CommandId": i["CommandId"], "InvokeId": i["InvokeId"],
        "PipelineId": i["PipelineId"], "PipelineIds": i["PipelineId"], "SnapshotJobIds": i["SnapshotJobId"],
        "TaskId": i["TaskId"], "TaskIds": i["TaskId"],
        # fillers
        "InstanceType": "ecs.lab.tiny", "ZoneId": f"{REGION}-a", "Size": "30", "IpProtocol": "tcp",
        "PortRange": "22/22", "CidrBlock": "10.0.2.0/24",
        "Type": "RunShellScript", "CommandContent": base64.b64encode(b"echo b").decode(), "Name": "b",
        "OSSBucket": "ecslab-images", "OSSPrefix": "b", "Device": "/dev/xvdb", "NewSize": "40",
        "HttpEndpoint": "enabled",
        "Input": json.dumps({"Bucket": "ecslab-images", "Location": "oss-local", "Object": "none.mp4"}),
        "SnapshotConfig": json.dumps({"OutputFile": {"Bucket": "ecslab-images", "Location": "oss-local",
                                                      "Object": "b.jpg"}, "Time": "1000"}),
    }


def listing_filters(ids: dict) -> dict:
    p = id_params(ids)
    keep = ["InstanceIds", "InstanceId", "InstanceId.1", "DesktopId.1", "DiskIds", "SnapshotIds", "ImageId",
            "VpcId", "VSwitchId", "SecurityGroupId", "KeyPairName", "CommandId", "InvokeId", "PipelineIds",
            "SnapshotJobIds", "TaskIds"]
    return {k: p[k] for k in keep}


def leaked(body, path="") -> list[str]:
    """What a listing shows: non-empty lists (but the ids it did not find) and non-zero counts."""
    found = []
    if isinstance(body, dict):
        for k, v in body.items():
            if k == "TotalCount" and str(v) not in ("0", ""):
                found.append(f"{path}{k}={v}")
            elif not NOT_LISTED.search(k):
                found += leaked(v, f"{path}{k}.")
    elif isinstance(body, list):
        if body:
            found.append(f"{path[:-1]}={body!r}"[:200])
    return found


def test_actions_are_classified():
    every = {a for _, a in actions()}
    assert len(every) > 60, every
    assert not (LISTINGS | NO_ID) - every, (LISTINGS | NO_ID) - every


@pytest.mark.parametrize("version, action", [va for va in actions() if va[1] in LISTINGS])
def test_listing_is_empty_for_another_account(tenants, world, version, action):
    lab, _, b = tenants
    la, ids = world
    lb = as_account(lab, b)
    for query in ({}, listing_filters(ids)):
        status, body = rpc(lb, version, action, query)
        if status == 200:
            assert not leaked(body), (action, query, leaked(body))
        elif not query and body["Code"] == "MissingParameter":
            continue  # this listing needs ids (QueryPipelineList): the filtered call covers it
        else:
            assert "NotFound" in body["Code"] or "NotExist" in body["Code"], (action, status, body)
    # The owner sees its resources there (the listing works and would show them).
    seen = [leaked(body) for q in ({}, listing_filters(ids), {"InstanceId.1": ids["InstanceId"]})
            for status, body in [rpc(la, version, action, q)] if status == 200]
    assert any(seen), (action, seen)


@pytest.mark.parametrize("version, action", [va for va in actions() if va[1] not in LISTINGS | NO_ID])
def test_action_on_another_accounts_ids_is_not_found(tenants, world, version, action):
    lab, _, b = tenants
    _, ids = world
    query = id_params(ids)
    query["Egress" in action and "DestCidrIp" or "SourceCidrIp"] = "10.9.0.0/16"
    status, body = rpc(as_account(lab, b), version, action, query)
    if action in ABSENT_IS_SKIPPED:
        assert status == 200 and set(body) == {"RequestId"}, (action, body)
        return
    assert status != 200, (action, body)
    assert re.search(r"NotFound|NotExist", body["Code"]), (action, status, body)
    assert status in (400, 404), (action, status, body)


ID_KEYS = ["InstanceId", "InstanceId.1", "InstanceIds", "DesktopId.1", "DesktopId", "DiskId", "DiskIds", "SnapshotId",
           "SnapshotIds", "ImageId", "VpcId", "VSwitchId", "SecurityGroupId", "KeyPairName", "KeyPairNames",
           "CommandId", "InvokeId", "PipelineId", "PipelineIds", "SnapshotJobIds", "TaskId", "TaskIds"]


def never_existed(value: str) -> str:
    """An id of the same shape that no account has (JSON lists keep their shape)."""
    if value.startswith("["):
        return json.dumps([never_existed(v) for v in json.loads(value)])
    head, _, tail = value.rpartition("-")
    return f"{head}-{'z' * len(tail)}" if head else "z" * len(value)


def outcome(status, body):
    if status == 200:
        return 200, bool(leaked(body))
    return status, body["Code"]


@pytest.mark.parametrize("version, action", [va for va in actions() if va[1] not in NO_ID])
def test_another_accounts_id_is_like_one_that_never_existed(tenants, world, version, action):
    """One of A's ids at a time, everything else a filler: B's answer is the answer for an id that
    never existed (same status and code; a listing as empty), so no lookup behind the first one
    tells B anything either."""
    lab, _, b = tenants
    _, ids = world
    lb = as_account(lab, b)
    params = id_params(ids)
    fillers = {k: v for k, v in params.items() if k not in ID_KEYS}
    fillers["Egress" in action and "DestCidrIp" or "SourceCidrIp"] = "10.9.0.0/16"
    differ = []
    for key in ID_KEYS:
        theirs = outcome(*rpc(lb, version, action, {**fillers, key: params[key]}))
        nobodys = outcome(*rpc(lb, version, action, {**fillers, key: never_existed(params[key])}))
        if theirs != nobodys or theirs[0] == 403:
            differ.append((key, theirs, nobodys))
    assert not differ, (action, differ)


def pai(lab):
    from alibabacloud_pai_dsw20220101.client import Client as PaiClient
    return PaiClient(open_api_models.Config(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret,
                                            region_id=REGION, endpoint=lab.endpoint, protocol="http"))


def pai_snapshot(la, instance_id) -> str:
    """A PAI-DSW snapshot of A's instance (its system disk saved into an image), finished."""
    from alibabacloud_pai_dsw20220101 import models as pm
    client = pai(la)
    snapshot_id = client.create_instance_snapshot(instance_id, pm.CreateInstanceSnapshotRequest(
        snapshot_name="a-dsw", image_url="a-dsw:v1")).body.snapshot_id
    deadline = time.monotonic() + 60
    while client.get_instance_snapshot(instance_id, snapshot_id).body.status not in ("Saved", "Failed"):
        assert time.monotonic() < deadline, snapshot_id
        time.sleep(0.1)
    return snapshot_id


def test_paidsw_snapshots_of_another_account(tenants, world):
    """PAI-DSW (REST): A's instance and its snapshot do not exist for B, whichever route."""
    from alibabacloud_pai_dsw20220101 import models as pm
    lab, _, b = tenants
    la, ids = world
    instance_id, snapshot_id = ids["InstanceId"], ids["PaiSnapshotId"]
    pb = pai(as_account(lab, b))
    calls = {
        "ListInstanceSnapshot": lambda i, s: pb.list_instance_snapshot(i, pm.ListInstanceSnapshotRequest()),
        "GetInstanceSnapshot": lambda i, s: pb.get_instance_snapshot(i, s),
        "DeleteInstanceSnapshot": lambda i, s: pb.delete_instance_snapshot(i, s),
        "CreateInstanceSnapshot": lambda i, s: pb.create_instance_snapshot(i, pm.CreateInstanceSnapshotRequest(
            snapshot_name="b-dsw", image_url="b-dsw:v1")),
    }
    for name, call in calls.items():
        theirs = labkit.sdk_error(call, instance_id, snapshot_id)
        nobodys = labkit.sdk_error(call, never_existed(instance_id), never_existed(snapshot_id))
        assert (theirs.status_code, theirs.code) == (nobodys.status_code, nobodys.code), name
        assert theirs.status_code == 404 and "NotFound" in theirs.code, (name, theirs.code)
    assert pai(la).get_instance_snapshot(instance_id, snapshot_id).body.snapshot_id == snapshot_id


def test_names_are_per_account(tenants, world):
    """A's names and address ranges do not exist for B either: B may use the same ones."""
    lab, _, b = tenants
    lb = as_account(lab, b)
    ok(lb, ECS, "CreateKeyPair", {"KeyPairName": "a-key"})
    # A bucket of its own: `ecslab-images` is A's now (test_another_accounts_bucket_does_not_exist_for_it).
    assert labkit.import_image(lb, labkit.server_binary(), labkit.guest_image(), "a-image", "b-images").startswith("m-")
    vpc_id, _, _ = labkit.make_network(lb, "10.0.0.0/16", "10.0.1.0/24")
    assert vpc_id != world[1]["VpcId"]
    ok(lb, ECS, "CreateCommand", {"Name": "a-cmd", "Type": "RunShellScript",
                                  "CommandContent": base64.b64encode(b"echo b").decode()})


def test_another_accounts_bucket_does_not_exist_for_it(tenants, world):
    """A used `ecslab-images` first (`ecslab images import` with A's key), so it is A's: to B it answers exactly as
    a bucket that does not exist, in ImportImage and SubmitSnapshotJob; the admin (the operator) still uses it."""
    lab, _, b = tenants
    lb = as_account(lab, b)

    def import_from(bucket: str):
        return rpc(lb, ECS, "ImportImage", {"ImageName": "not-mine", "DiskDeviceMapping.1.OSSBucket": bucket,
                                            "DiskDeviceMapping.1.OSSObject": "a-image.qcow2"})

    def snapshots_of(bucket: str):
        return rpc(lb, MTS, "SubmitSnapshotJob", {
            "Input": json.dumps({"Bucket": bucket, "Location": "oss-local", "Object": "none.mp4"}),
            "SnapshotConfig": json.dumps({"OutputFile": {"Bucket": "b-frames", "Location": "oss-local",
                                                          "Object": "b-{Count}.jpg"}, "Time": "1000"})})

    # ImportImage: exactly what a bucket nobody has answers.
    status, body = import_from("ecslab-images")
    assert (status, body.get("Code")) == (404, "InvalidOSSBucket.NotFound"), body
    assert (status, body["Code"]) == (lambda s, b: (s, b.get("Code")))(*import_from("nobody-has-this-bucket"))
    # SubmitSnapshotJob: refused at once (a bucket nobody has fails the job later, when it runs).
    status, body = snapshots_of("ecslab-images")
    assert (status, body.get("Code")) == (404, "InvalidParameter.ResourceNotFound"), body
    status, body = rpc(lab, ECS, "ImportImage", {"ImageName": "admin-copy", "DiskDeviceMapping.1.OSSBucket":
                                                 "ecslab-images", "DiskDeviceMapping.1.OSSObject": "a-image.qcow2"})
    assert status == 200 and body["ImageId"].startswith("m-"), body


def test_owner_still_has_everything(tenants, world):
    """Last (pytest keeps file order), after every cross-tenant call: nothing of A was touched."""
    la, ids = world
    inst = labkit.describe(la.client(), ids["InstanceId"])
    assert inst is not None and inst.status == "Stopped"
    for action, key, expected in [("DescribeDisks", "DiskIds", 1), ("DescribeSnapshots", "SnapshotIds", 1),
                                  ("DescribeKeyPairs", "KeyPairName", 1)]:
        body = ok(la, ECS, action, {key: id_params(ids)[key]})
        assert body["TotalCount"] == expected, (action, body)
    assert ok(la, VPC, "DescribeVpcs", {"VpcId": ids["VpcId"]})["TotalCount"] == 1
    assert ok(la, ECS, "DescribeSecurityGroups", {"SecurityGroupId": ids["SecurityGroupId"]})["TotalCount"] == 1
    assert ok(la, ECS, "DescribeCommands", {"CommandId": ids["CommandId"]})["TotalCount"] == 1
    assert ok(la, ECS, "DescribeInvocations", {"InvokeId": ids["InvokeId"]})["TotalCount"] == 1
    assert len(ok(la, MTS, "QueryPipelineList", {"PipelineIds": ids["PipelineId"]})["PipelineList"]["Pipeline"]) == 1
    assert ok(la, ECS, "DescribeImages", {"ImageId": ids["ImageId"]})["TotalCount"] == 1
    assert pai(la).get_instance_snapshot(ids["InstanceId"], ids["PaiSnapshotId"]).body.snapshot_id
