"""Accounts, their keys, and every action of every product: what test_tenants.py and test_ram_matrix.py share.

- `actions()`: every RPC action of every product as (version, action), read from the product modules' sources
  (`crates/api/src/*/parse.rs`), so a new action is covered without editing a list; `PAI_ACTIONS` the REST ones.
- `create_account` (the `ecslab admin accounts create` CLI), `as_key` / `as_account` (the same server seen with
  another key), `rpc` / `ok` (any RPC action through the official SDK's generic `call_api`, either signature),
  `pai` (the PAI-DSW REST SDK's client).
- `id_params`: every parameter name by which an action names a resource, filled with given ids, plus harmless
  fillers for whatever else an action checks before it looks anything up, so one query parses for every action.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import time

from alibabacloud_tea_openapi import utils_models as open_api_models

import labkit
from labkit import REGION

API_SRC = labkit.ROOT / "crates" / "api" / "src"
ECS, VPC, MTS, ECD, RAM = "2014-05-26", "2016-04-28", "2014-06-18", "2020-09-30", "2015-05-01"
# Product module -> the RPC version it serves (the sources are the list of actions).
MODULES = {"ecs/parse.rs": ECS, "security_groups/parse.rs": ECS, "instance_network/mod.rs": ECS,
           "key_pairs/parse.rs": ECS, "cloud_assistant/parse.rs": ECS, "vnc/parse.rs": ECS,
           "vpc/parse.rs": VPC,
           "mts/parse.rs": MTS, "ecd/parse.rs": ECD}
ARM = re.compile(r'^\s*"([A-Z][A-Za-z]+)"\s*=>', re.M)
# The RAM service code of each RPC version (actions are `{code}:{Action}`).
RAM_CODES = {ECS: "ecs", VPC: "vpc", MTS: "mts", ECD: "ecd", RAM: "ram"}
# PAI-DSW's REST actions (routes in crates/api/src/paidsw/parse.rs), RAM code `paidsw`.
PAI_ROUTE = re.compile(r'=>\s*[({]\s*\(?\s*"([A-Z][A-Za-z]+)"')
PAI_RAM_CODE = "paidsw"


def actions() -> list[tuple[str, str]]:
    found = []
    for module, version in MODULES.items():
        text = (API_SRC / module).read_text()
        found += [(version, a) for a in ARM.findall(text)]
    return sorted(set(found))


def ram_actions() -> list[tuple[str, str]]:
    """RAM's own actions (crates/api/src/ram/parse.rs): account-level, so apart from `actions()`."""
    return sorted({(RAM, a) for a in ARM.findall((API_SRC / "ram" / "parse.rs").read_text())} - {(RAM, "Active"),
                  (RAM, "Inactive"), (RAM, "System"), (RAM, "Custom")})


def pai_actions() -> list[str]:
    return sorted(set(PAI_ROUTE.findall((API_SRC / "paidsw" / "parse.rs").read_text())))


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


def as_key(lab, key_id: str, secret: str):
    return dataclasses.replace(lab, access_key_id=key_id, access_key_secret=secret)


def as_account(lab, account: Account):
    return as_key(lab, account.key_id, account.secret)


def rpc(lab, version, action, query=None, algorithm=None):
    """Any RPC action through the official SDK's generic call_api; (status, body or error). An error's body is
    {"Code", "Message"} and, when the reply has one, "AccessDeniedDetail" as the SDK parsed it."""
    from darabonba.exceptions import DaraException
    client = lab.client(algorithm)
    try:
        body = labkit.call_action(client, action, {k: str(v) for k, v in (query or {}).items()}, version=version)
        return body["statusCode"], body["body"]
    except DaraException as e:
        return sdk_error(e)


def sdk_error(e) -> tuple[int, dict]:
    """(status, {"Code", "Message", "AccessDeniedDetail"?}) of an SDK exception."""
    status = e.status_code if hasattr(e, "status_code") else e.statusCode
    body = {"Code": e.code, "Message": e.message}
    detail = getattr(e, "access_denied_detail", None)
    if detail:
        body["AccessDeniedDetail"] = detail
    return status, body


def ok(lab, version, action, query=None):
    status, body = rpc(lab, version, action, query)
    assert status == 200, (action, body)
    return body


def pai(lab, algorithm=None):
    from alibabacloud_pai_dsw20220101.client import Client as PaiClient
    kwargs = dict(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret, region_id=REGION,
                  endpoint=lab.endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return PaiClient(open_api_models.Config(**kwargs))


def id_params(ids: dict) -> dict:
    """Every way an action names a resource, all filled with the given ids, plus harmless fillers for the
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
        "StartTime": time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() - 3600)),
        "EndTime": time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime()),
        "Input": json.dumps({"Bucket": "ecslab-images", "Location": "oss-local", "Object": "none.mp4"}),
        "SnapshotConfig": json.dumps({"OutputFile": {"Bucket": "ecslab-images", "Location": "oss-local",
                                                      "Object": "b.jpg"}, "Time": "1000"}),
    }
