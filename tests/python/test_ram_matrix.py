"""Issue 13's evaluation through the official SDKs: every action of every product × four cases, and real policies.

A fake-driver server of its own. The account's root key makes RAM users with the official RAM SDK
(`alibabacloud-ram20150501`: CreateUser, CreateAccessKey, CreatePolicy, AttachPolicyToUser, CreatePolicyVersion).
Every action of every product (ECS's modules, VPC, MTS, ECD and RAM over RPC, enumerated from the product sources by
accountkit; PAI-DSW's routes through its REST SDK) is then called with made-up ids by each user:

- `allow`: a policy allowing a list of actions, each by its exact RAM name, on `*`;
- `deny`: `Allow * on *` plus `Deny` of that list;
- `mismatch`: the list allowed only on `acs:*:*:*:nomatch/*`, which no request's resource is;
- `scoped`: the list allowed on `acs:*:*:<account>:*` (every resource of the account: the ARNs carry it).

Two phases: the list is half of the actions, then the other half (CreatePolicyVersion, SetAsDefault), so every
action is once inside the list and once outside: allowed (any reply but a permission error, e.g. NotFound for a
made-up id) and denied for lack of an Allow (403, the product's code, AccessDeniedDetail with ImplicitDeny and
AuthAction `{code}:{Action}`), denied by an explicit Deny (ExplicitDeny) and allowed beside it, refused on a
resource that does not match (ImplicitDeny, its EncodedDiagnosticMessage naming the ARN the product built, checked
for one action of each kind), allowed on the account's resources. Each request's signature
alternates between ACS3 and V2 across the phases. Then the real-world cases: AliyunECSReadOnlyAccess,
CreateSnapshot on one disk, an `ecs:tag/team` condition, `acs:SourceIp`, and the root key.

STS's two actions are not in the matrix: GetCallerIdentity needs no permission (any caller gets an answer), and
AssumeRole's own refusal of a made-up role is NoPermission too, so "allowed" could not be told from "denied" by the
code; tests/python/test_sts.py covers both (a user without sts:AssumeRole is refused with AccessDeniedDetail, one
with AliyunSTSAssumeRoleAccess gets credentials).
"""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi import utils_models as open_api_models

import labkit
from accountkit import (ECS, PAI_RAM_CODE, RAM, RAM_CODES, actions, as_key, id_params, pai, pai_actions, ram_actions,
                        rpc, sdk_error)
from labkit import REGION

# The code a denial answers with, per RAM code (crates/api/src/*/mod.rs `DENIED_CODE`).
DENIED_CODES = {"ecs": "Forbidden.RAM", "vpc": "Forbidden.RAM", "mts": "Forbidden.RAM", "ecd": "Forbidden.RAM",
                "paidsw": "Forbidden.RAM", "ram": "NoPermission"}
MADE_UP = {"InstanceId": "i-ramnone00000001", "DiskId": "d-ramnone00000001", "SnapshotId": "s-ramnone00000001",
           "ImageId": "m-ramnone00000001", "VpcId": "vpc-ramnone0000001", "VSwitchId": "vsw-ramnone000001",
           "SecurityGroupId": "sg-ramnone00000001", "KeyPairName": "ram-none-pair", "CommandId": "c-ramnone0000001",
           "InvokeId": "t-ramnone0000001", "PipelineId": "ramnone0000000000000000000000001",
           "SnapshotJobId": "ramnone0000000000000000000000002", "TaskId": "t-ramnonetask0001"}
# RAM's own actions name made-up users, groups, policies, roles and keys (the matrix users are never named).
RAM_QUERY = {"UserName": "ram-none-user", "GroupName": "ram-none-group", "PolicyName": "ram-none-policy",
             "PolicyType": "Custom", "RoleName": "ram-none-role", "UserAccessKeyId": "LTAIramnone0000000000001",
             "Status": "Inactive",
             "PolicyDocument": json.dumps({"Version": "1", "Statement": [
                 {"Effect": "Allow", "Action": "ecs:DescribeRegions", "Resource": "*"}]}),
             "AssumeRolePolicyDocument": json.dumps({"Version": "1", "Statement": [
                 {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::1000000000000001:root"]}}]})}
# What some actions need beside id_params to get past their parse (authorization comes after it); None removes
# a filler the action refuses.
EXTRA = {"ImportImage": {"DiskDeviceMapping.1.OSSBucket": "ecslab-images",
                         "DiskDeviceMapping.1.OSSObject": "ram-none.qcow2"},
         "ImportKeyPair": {
             "PublicKeyBody": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFmZ0ZV0cCn3d8Q0X4cP0pH0iGq3Y2lmJ8w2wE5mQ1Zb ram"},
         "DescribeNetworkInterfaces": {"Type": None}}
USERS = ("allow", "deny", "mismatch", "scoped")


def document(*statements) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def allow(action, resource="*", condition=None):
    s = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        s["Condition"] = condition
    return s


def ram_client(lab):
    from alibabacloud_ram20150501.client import Client as RamClient
    return RamClient(open_api_models.Config(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret,
                                            region_id=REGION, endpoint=lab.endpoint, protocol="http"))


def make_user(ram, lab, name: str, policy_text: str | None = None, system_policy: str | None = None):
    """A RAM user with a key and one policy (a custom one named after the user, or a system one); the lab as it."""
    from alibabacloud_ram20150501 import models as rm
    ram.create_user(rm.CreateUserRequest(user_name=name))
    key = ram.create_access_key(rm.CreateAccessKeyRequest(user_name=name)).body.access_key
    if policy_text is not None:
        ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=policy_text))
        ram.attach_policy_to_user(rm.AttachPolicyToUserRequest(policy_type="Custom", policy_name=name, user_name=name))
    if system_policy is not None:
        ram.attach_policy_to_user(rm.AttachPolicyToUserRequest(policy_type="System", policy_name=system_policy,
                                                               user_name=name))
    return as_key(lab, key.access_key_id, key.access_key_secret)


def set_policy(ram, name: str, text: str):
    from alibabacloud_ram20150501 import models as rm
    ram.create_policy_version(rm.CreatePolicyVersionRequest(policy_name=name, policy_document=text,
                                                            set_as_default=True))


@pytest.fixture(scope="module")
def matrix_lab(prerequisites):
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-pyram", extra_args=["--stop-grace-secs", "5"])
    try:
        yield lab, ram_client(lab)
    finally:
        labkit.stop_server(lab)


# ---- the matrix ------------------------------------------------------------------------------------------------


def every_action() -> list[tuple[str, str | None, str]]:
    """(RAM code, RPC version or None for PAI-DSW's REST routes, action) for every action of every product."""
    rpc_actions = actions() + ram_actions()
    return [(RAM_CODES[v], v, a) for v, a in rpc_actions] + [(PAI_RAM_CODE, None, a) for a in pai_actions()]


def rpc_query(version: str, action: str) -> dict:
    if version == RAM:
        return dict(RAM_QUERY)
    query = id_params(MADE_UP)
    query["DestCidrIp" if "Egress" in action else "SourceCidrIp"] = "10.9.0.0/16"
    for key, value in EXTRA.get(action, {}).items():
        if value is None:
            query.pop(key)
        else:
            query[key] = value
    return query


def call_pai(lab, action: str, algorithm):
    from alibabacloud_pai_dsw20220101 import models as pm
    from darabonba.exceptions import DaraException
    client, instance_id, snapshot_id = pai(lab, algorithm), "dsw-ramnone0000001", "snp-ramnone000001"
    calls = {
        "CreateInstanceSnapshot": lambda: client.create_instance_snapshot(
            instance_id, pm.CreateInstanceSnapshotRequest(snapshot_name="ram", image_url="ram-none:v1")),
        "GetInstanceSnapshot": lambda: client.get_instance_snapshot(instance_id, snapshot_id),
        "ListInstanceSnapshot": lambda: client.list_instance_snapshot(instance_id, pm.ListInstanceSnapshotRequest()),
        "DeleteInstanceSnapshot": lambda: client.delete_instance_snapshot(instance_id, snapshot_id),
    }
    try:
        reply = calls[action]()
        return reply.status_code, reply.body.to_map()
    except DaraException as e:
        return sdk_error(e)


def call(lab, item, algorithm):
    code, version, action = item
    if version is None:
        return call_pai(lab, action, algorithm)
    return rpc(lab, version, action, rpc_query(version, action), algorithm)


def is_denial(status, body) -> bool:
    return status == 403 and ("AccessDeniedDetail" in body or body.get("Code") in set(DENIED_CODES.values()))


def check_denied(item, status, body, kind: str, user: str) -> str | None:
    """None when the reply is the product's denial of kind `kind` for this action and user; else what is wrong."""
    code, _, action = item
    detail = body.get("AccessDeniedDetail") or {}
    wanted = (403, DENIED_CODES[code], kind, f"{code}:{action}", "SubUser", user)
    got = (status, body.get("Code"), detail.get("NoPermissionType"), detail.get("AuthAction"),
           detail.get("AuthPrincipalType"), detail.get("AuthPrincipalDisplayName"))
    if got != wanted or not detail.get("EncodedDiagnosticMessage") or not detail.get("AuthPrincipalOwnerId"):
        return f"{user} {action}: wanted {wanted}, got {got} {body}"
    return None


def check_allowed(item, status, body, user: str) -> str | None:
    """None when the action ran: a success, the NotFound of a made-up id, or a name a repeated creation already
    took or still uses (never a permission error)."""
    code = body.get("Code", "")
    ran = status == 200 or (status in (400, 404, 409) and re.search(r"NotFound|NotExist|AlreadyExist|DeleteConflict", code))
    if is_denial(status, body) or not ran:
        return f"{user} {item[2]}: wanted the action to run (200, a NotFound, an AlreadyExist or a DeleteConflict), got {status} {body}"
    return None


def diagnostic(body) -> dict:
    """The decoded EncodedDiagnosticMessage of a denial (URL-safe base64 of RAM's diagnostic JSON)."""
    text = body["AccessDeniedDetail"]["EncodedDiagnosticMessage"]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


# The resource a mismatch denial names first, for a few actions: the ARNs the products build, end to end.
FIRST_RESOURCE = {
    "CreateSnapshot": f"acs:ecs:{REGION}:{{account}}:disk/{MADE_UP['DiskId']}",
    "RunInstances": f"acs:ecs:{REGION}:{{account}}:instance/*",
    "DescribeRegions": "acs:ecs:*:{account}:*",
    "AttachKeyPair": f"acs:ecs:{REGION}:{{account}}:keypair/{MADE_UP['KeyPairName']}",
    "InvokeCommand": f"acs:ecs:{REGION}:{{account}}:command/{MADE_UP['CommandId']}",
    "CreateVSwitch": f"acs:vpc:{REGION}:{{account}}:vpc/{MADE_UP['VpcId']}",
    "SubmitSnapshotJob": f"acs:mts:{REGION}:{{account}}:pipeline/{MADE_UP['PipelineId']}",
    "RebuildDesktops": f"acs:ecd:{REGION}:{{account}}:desktop/{MADE_UP['InstanceId']}",
    "GetInstanceSnapshot": f"acs:paidsw:{REGION}:{{account}}:instance/dsw-ramnone0000001",
    "CreateUser": "acs:ram::{account}:user/ram-none-user",
}


def phase_policies(listed: list[str]) -> dict[str, str]:
    return {
        "allow": document(allow(listed)),
        "deny": document(allow("*"), {"Effect": "Deny", "Action": listed, "Resource": "*"}),
        "mismatch": document(allow(listed, "acs:*:*:*:nomatch/*")),
        "scoped": document(allow(listed, "acs:*:*:{account}:*")),
    }


def test_every_action_four_ways(matrix_lab):
    lab, ram = matrix_lab
    items = every_action()
    assert len(items) > 70 and {i[0] for i in items} == set(DENIED_CODES), items
    halves = [items[0::2], items[1::2]]
    names = [[f"{c}:{a}" for c, _, a in half] for half in halves]
    # The account id (for `scoped`) from a first denial's AuthPrincipalOwnerId (an action of the second half).
    first = phase_policies(names[0])
    users = {"allow": make_user(ram, lab, "matrix-allow", first["allow"])}
    status, body = call(users["allow"], halves[1][0], None)
    assert status == 403, body
    account = body["AccessDeniedDetail"]["AuthPrincipalOwnerId"]
    for user in USERS[1:]:
        users[user] = make_user(ram, lab, f"matrix-{user}", first[user].replace("{account}", account))

    problems, checked_resources = [], set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for phase, half in enumerate(halves):
            if phase:
                for user, text in phase_policies(names[phase]).items():
                    set_policy(ram, f"matrix-{user}", text.replace("{account}", account))
            listed = {i[2] for i in half}
            jobs = []
            for n, item in enumerate(items):
                algorithm = ("v2", None)[(n + phase) % 2]
                for user in USERS:
                    jobs.append((item, user, pool.submit(call, users[user], item, algorithm)))
            for item, user, job in jobs:
                status, body = job.result()
                inside, name = item[2] in listed, f"matrix-{user}"
                if user == "allow" or user == "scoped":
                    p = check_allowed(item, status, body, name) if inside else \
                        check_denied(item, status, body, "ImplicitDeny", name)
                elif user == "deny":
                    p = check_denied(item, status, body, "ExplicitDeny", name) if inside else \
                        check_allowed(item, status, body, name)
                else:
                    p = check_denied(item, status, body, "ImplicitDeny", name)
                    wanted = FIRST_RESOURCE.get(item[2], "").replace("{account}", account)
                    if not p and wanted and diagnostic(body)["AuthResource"] != wanted:
                        p = f"{name} {item[2]}: denied on {diagnostic(body)['AuthResource']}, wanted {wanted}"
                    checked_resources.add(item[2])
                if p:
                    problems.append(f"phase {phase}: {p}")
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} in all)"
    assert set(FIRST_RESOURCE) <= checked_resources, set(FIRST_RESOURCE) - checked_resources


# ---- real-world policies ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instances(matrix_lab):
    """Two stopped instances of the root key, tagged team=a and team=b; their system disks."""
    lab, _ = matrix_lab
    client = lab.client()
    out = {}
    for team in ("a", "b"):
        instance_id = labkit.run_instance(client, lab.image_id, tag=[ecs_models.RunInstancesRequestTag(
            key="team", value=team)])
        labkit.wait_status(client, instance_id, "Running")
        client.stop_instance(ecs_models.StopInstanceRequest(instance_id=instance_id, force_stop=True))
        labkit.wait_status(client, instance_id, "Stopped")
        out[team] = (instance_id, labkit.instance_disks(client, instance_id)[0])
    return out


def sdk(call_, *args):
    """(status, body or error) of one typed SDK call."""
    from darabonba.exceptions import DaraException
    try:
        reply = call_(*args)
        return reply.status_code, reply.body.to_map()
    except DaraException as e:
        return sdk_error(e)


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["acs3", "v2"])
def test_read_only_system_policy(matrix_lab, instances, algorithm):
    lab, ram = matrix_lab
    name = f"readonly-{algorithm or 'acs3'}"
    user = make_user(ram, lab, name, system_policy="AliyunECSReadOnlyAccess").client(algorithm)
    status, body = sdk(user.describe_instances, ecs_models.DescribeInstancesRequest(region_id=REGION))
    assert status == 200 and body["TotalCount"] >= 2, body
    status, body = sdk(user.create_snapshot, ecs_models.CreateSnapshotRequest(disk_id=instances["a"][1]))
    assert check_denied(("ecs", ECS, "CreateSnapshot"), status, body, "ImplicitDeny", name) is None, body


def test_create_snapshot_on_one_disk(matrix_lab, instances):
    """As RAM's example policy for snapshots: CreateSnapshot on one disk and on any new snapshot."""
    lab, ram = matrix_lab
    disk_a, disk_b = instances["a"][1], instances["b"][1]
    text = document(allow("ecs:CreateSnapshot", [f"acs:ecs:*:*:disk/{disk_a}", "acs:ecs:*:*:snapshot/*"]))
    user = make_user(ram, lab, "one-disk", text).client("v2")
    status, body = sdk(user.create_snapshot, ecs_models.CreateSnapshotRequest(disk_id=disk_a))
    assert status == 200 and body["SnapshotId"].startswith("s-"), body
    status, body = sdk(user.create_snapshot, ecs_models.CreateSnapshotRequest(disk_id=disk_b))
    assert check_denied(("ecs", ECS, "CreateSnapshot"), status, body, "ImplicitDeny", "one-disk") is None, body
    # The disk alone is not enough: CreateSnapshot also acts on the snapshot it makes.
    set_policy(ram, "one-disk", document(allow("ecs:CreateSnapshot", f"acs:ecs:*:*:disk/{disk_a}")))
    status, body = sdk(user.create_snapshot, ecs_models.CreateSnapshotRequest(disk_id=disk_a))
    assert check_denied(("ecs", ECS, "CreateSnapshot"), status, body, "ImplicitDeny", "one-disk") is None, body


def test_tag_condition(matrix_lab, instances):
    lab, ram = matrix_lab
    text = document(allow(["ecs:DescribeInstanceAttribute", "ecs:CreateSnapshot"], "*",
                          {"StringEquals": {"ecs:tag/team": "a"}}))
    user = make_user(ram, lab, "team-a", text).client()
    status, body = sdk(user.describe_instance_attribute,
                       ecs_models.DescribeInstanceAttributeRequest(instance_id=instances["a"][0]))
    assert status == 200 and body["InstanceId"] == instances["a"][0], body
    status, body = sdk(user.describe_instance_attribute,
                       ecs_models.DescribeInstanceAttributeRequest(instance_id=instances["b"][0]))
    assert check_denied(("ecs", ECS, "DescribeInstanceAttribute"), status, body, "ImplicitDeny", "team-a") is None
    # CreateSnapshot acts on the disk (tagged like its instance) and on `snapshot/*`, which has no tags: the
    # condition cannot hold for the new snapshot, so a tag condition alone never allows it (as on ECS).
    status, body = sdk(user.create_snapshot, ecs_models.CreateSnapshotRequest(disk_id=instances["a"][1]))
    assert check_denied(("ecs", ECS, "CreateSnapshot"), status, body, "ImplicitDeny", "team-a") is None, body


@pytest.mark.parametrize("net, allowed", [("127.0.0.0/8", True), ("10.0.0.0/8", False)])
def test_source_ip(matrix_lab, net, allowed):
    lab, ram = matrix_lab
    name = f"from-{net.split('.')[0]}"
    text = document(allow("ecs:DescribeInstances", "*", {"IpAddress": {"acs:SourceIp": net}}))
    user = make_user(ram, lab, name, text).client()
    status, body = sdk(user.describe_instances, ecs_models.DescribeInstancesRequest(region_id=REGION))
    if allowed:
        assert status == 200, body
    else:
        assert check_denied(("ecs", ECS, "DescribeInstances"), status, body, "ImplicitDeny", name) is None, body


def test_root_key_passes_every_check(matrix_lab):
    lab, _ = matrix_lab
    items = every_action()
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda ni: call(lab, ni[1], ("v2", None)[ni[0] % 2]), enumerate(items)))
    problems = [check_allowed(item, s, b, "root") for item, (s, b) in zip(items, replies)]
    assert not any(problems), [p for p in problems if p]


def test_request_tag_condition_on_run_instances(matrix_lab):
    """`ecs:tag/team` on a creation reads the tags the request sets (Tag.N), the new instance having none yet."""
    lab, ram = matrix_lab
    text = document(allow("ecs:RunInstances", "*", {"StringEquals": {"ecs:tag/team": "a"}}))
    user = make_user(ram, lab, "runs-team-a", text).client("v2")

    def run(team):
        tags = [ecs_models.RunInstancesRequestTag(key="team", value=team)] if team else None
        return sdk(user.run_instances, ecs_models.RunInstancesRequest(
            region_id=REGION, image_id=lab.image_id, instance_type="ecs.lab.tiny", tag=tags))

    status, body = run("a")
    assert status == 200 and len(body["InstanceIdSets"]["InstanceIdSet"]) == 1, body
    for team in ("b", None):
        status, body = run(team)
        assert check_denied(("ecs", ECS, "RunInstances"), status, body, "ImplicitDeny", "runs-team-a") is None, body
