"""Issue 13's STS through the official `alibabacloud_sts20150401` SDK (and RAM's to set up users and roles).

A fake-driver server of its own and a fresh account made with the CLI. Its RAM user alice assumes a role that trusts
the account; the session's temporary key and SecurityToken sign ECS and STS requests with both signature algorithms;
the role's policies, intersected with AssumeRole's inline Policy, decide what the session may do. STS's refusals
carry the real codes: the root key may not assume roles, a role the caller is not trusted by (or that does not exist)
is NoPermission, and a token that is missing, forged, another session's or expired is refused. The expired token is
made here, signed with the server's own key read from its store (the only way to hold an expired token without waiting
15 minutes), so the server's expiry check, not its signature check, is what refuses it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import sqlite3

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi import utils_models as open_api_models
from darabonba.exceptions import DaraException

import labkit
from labkit import REGION
from accountkit import create_account

ALGORITHMS = [a for _, a in labkit.ALGORITHMS]


def client(cls, lab, key_id, secret, algorithm=None, token=None):
    kwargs = dict(access_key_id=key_id, access_key_secret=secret, region_id=REGION, endpoint=lab.endpoint,
                  protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    if token:
        kwargs["security_token"] = token
    return cls(open_api_models.Config(**kwargs))


def refused(call) -> DaraException:
    with pytest.raises(DaraException) as info:
        call()
    return info.value


def trust(*principals: str) -> str:
    return json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": list(principals)}}]})


@pytest.fixture(scope="module")
def sts_lab(prerequisites):
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-pysts",
                              extra_args=["--stop-grace-secs", "5"])
    try:
        account = create_account(lab, "sts-team")
        root = dict(key_id=account.key_id, secret=account.secret)
        ram = client(RamClient, lab, **root)
        alice = ram.create_user(ram_models.CreateUserRequest(user_name="alice")).body.user
        key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="alice")).body.access_key
        ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="System", policy_name="AliyunSTSAssumeRoleAccess", user_name="alice"))
        role = ram.create_role(ram_models.CreateRoleRequest(
            role_name="Viewer", assume_role_policy_document=trust(f"acs:ram::{account.account_id}:root"),
            max_session_duration=7200)).body.role
        ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
            policy_type="System", policy_name="AliyunECSReadOnlyAccess", role_name="Viewer"))
        ram.create_role(ram_models.CreateRoleRequest(
            role_name="BobOnly", assume_role_policy_document=trust(f"acs:ram::{account.account_id}:user/bob")))
        yield dict(lab=lab, account=account, root=root, alice_id=alice.user_id, role_arn=role.arn,
                   alice=dict(key_id=key.access_key_id, secret=key.access_key_secret))
    finally:
        labkit.stop_server(lab)


def assume(env, algorithm=None, **kwargs):
    sts = client(StsClient, env["lab"], **env["alice"], algorithm=algorithm)
    request = sts_models.AssumeRoleRequest(role_arn=kwargs.pop("role_arn", env["role_arn"]),
                                           role_session_name=kwargs.pop("session", "build-42"), **kwargs)
    return sts.assume_role(request).body


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_get_caller_identity_names_root_user_and_session(sts_lab, algorithm):
    env, account = sts_lab, sts_lab["account"].account_id
    me = client(StsClient, env["lab"], **env["root"], algorithm=algorithm).get_caller_identity().body
    assert (me.identity_type, me.account_id, me.arn, me.principal_id) == (
        "Account", account, f"acs:ram::{account}:root", account)
    # A RAM user needs no policy to ask who it is.
    me = client(StsClient, env["lab"], **env["alice"], algorithm=algorithm).get_caller_identity().body
    assert (me.identity_type, me.arn, me.user_id) == ("RAMUser", f"acs:ram::{account}:user/alice", env["alice_id"])
    body = assume(env, algorithm)
    creds = body.credentials
    me = client(StsClient, env["lab"], creds.access_key_id, creds.access_key_secret, algorithm,
                creds.security_token).get_caller_identity().body
    assert me.identity_type == "AssumedRoleUser"
    assert me.arn == f"acs:ram::{account}:assumed-role/viewer/build-42"
    assert me.principal_id == body.assumed_role_user.assumed_role_id == f"{me.role_id}:build-42"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_session_has_the_roles_permissions(sts_lab, algorithm):
    env, account = sts_lab, sts_lab["account"].account_id
    before = dt.datetime.now(dt.timezone.utc)
    body = assume(env, algorithm, duration_seconds=900)
    creds = body.credentials
    assert creds.access_key_id.startswith("STS.") and creds.security_token and creds.access_key_secret
    expires = dt.datetime.strptime(creds.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert 895 <= (expires - before).total_seconds() <= 905, creds.expiration
    assert body.assumed_role_user.arn == f"acs:ram::{account}:role/viewer/build-42"
    ecs = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, algorithm,
                 creds.security_token)
    assert ecs.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION)).body.total_count == 0
    # AliyunECSReadOnlyAccess does not create.
    err = refused(lambda: ecs.create_security_group(ecs_models.CreateSecurityGroupRequest(region_id=REGION)))
    assert (err.statusCode, err.code) == (403, "Forbidden.RAM"), err
    detail = err.data["AccessDeniedDetail"]
    assert detail["AuthPrincipalType"] == "AssumedRoleUser"
    assert detail["AuthPrincipalDisplayName"] == "Viewer:build-42"
    assert (detail["AuthAction"], detail["NoPermissionType"]) == ("ecs:CreateSecurityGroup", "ImplicitDeny")
    # The secret alone is not enough: without the token the STS key is refused.
    bare = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, algorithm)
    err = refused(lambda: bare.describe_regions(ecs_models.DescribeRegionsRequest()))
    assert err.code == "MissingSecurityToken", err


def test_an_inline_policy_narrows_the_session(sts_lab):
    env = sts_lab
    only_regions = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ecs:DescribeRegions", "Resource": "*"}]})
    creds = assume(env, policy=only_regions).credentials
    ecs = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, None, creds.security_token)
    assert ecs.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    err = refused(lambda: ecs.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION)))
    assert err.code == "Forbidden.RAM"
    assert err.data["AccessDeniedDetail"]["PolicyType"] == "SessionPolicy"
    # A session policy cannot grant what the role lacks.
    everything = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    creds = assume(env, policy=everything).credentials
    ecs = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, None, creds.security_token)
    err = refused(lambda: ecs.create_security_group(ecs_models.CreateSecurityGroupRequest(region_id=REGION)))
    assert err.data["AccessDeniedDetail"]["PolicyType"] == "AccountLevelIdentityBasedPolicy"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_assume_role_refusals(sts_lab, algorithm):
    env, account = sts_lab, sts_lab["account"].account_id
    root_sts = client(StsClient, env["lab"], **env["root"], algorithm=algorithm)
    err = refused(lambda: root_sts.assume_role(sts_models.AssumeRoleRequest(
        role_arn=env["role_arn"], role_session_name="root-try")))
    assert (err.statusCode, err.code) == (403, "NoPermission") and "root accounts" in err.message
    cases = [
        (dict(role_arn=f"acs:ram::{account}:role/bobonly"), 403, "NoPermission"),  # trusts bob only
        (dict(role_arn=f"acs:ram::{account}:role/nosuchrole"), 403, "NoPermission"),
        (dict(role_arn="acs:ram::1000000000000001:role/viewer"), 403, "NoPermission"),  # another account
        (dict(role_arn="arn:aws:iam::1:role/x"), 400, "InvalidParameter.RoleArn"),
        (dict(session="a"), 400, "InvalidParameter.RoleSessionName"),
        (dict(session="ninja*turtle"), 400, "InvalidParameter.RoleSessionName"),
        (dict(duration_seconds=899), 400, "InvalidParameter.DurationSeconds"),
        (dict(duration_seconds=7201), 400, "InvalidParameter.DurationSeconds"),
        (dict(policy="{not json"), 400, "InvalidParameter.PolicyGrammar"),
    ]
    for kwargs, status, code in cases:
        err = refused(lambda: assume(env, algorithm, **dict(kwargs)))
        assert (err.statusCode, err.code) == (status, code), (kwargs, err)
    assert assume(env, algorithm, duration_seconds=7200).credentials.access_key_id.startswith("STS.")


def test_a_user_without_sts_permission_is_refused(sts_lab):
    env = sts_lab
    ram = client(RamClient, env["lab"], **env["root"])
    ram.create_user(ram_models.CreateUserRequest(user_name="carol"))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="carol")).body.access_key
    sts = client(StsClient, env["lab"], key.access_key_id, key.access_key_secret)
    err = refused(lambda: sts.assume_role(sts_models.AssumeRoleRequest(
        role_arn=env["role_arn"], role_session_name="carol")))
    assert (err.statusCode, err.code) == (403, "NoPermission")
    detail = err.data["AccessDeniedDetail"]
    assert (detail["AuthAction"], detail["AuthPrincipalType"], detail["AuthPrincipalDisplayName"]) == (
        "sts:AssumeRole", "SubUser", "carol")


def server_key(lab) -> bytes:
    with sqlite3.connect(lab.data_dir / "ecslab.db") as db:
        (value,) = db.execute("SELECT value FROM server_secrets WHERE name = 'sts-session-key'").fetchone()
    return value.encode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(key: bytes, claims: dict) -> str:
    text = json.dumps(claims, separators=(",", ":"))
    mac = hmac.new(key, b"token\0" + text.encode(), hashlib.sha256).digest()
    return f"{b64(text.encode())}.{b64(mac)}"


def claims_of(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bad_tokens_are_refused_with_the_real_codes(sts_lab, algorithm):
    env = sts_lab
    creds = assume(env, algorithm).credentials
    other = assume(env, algorithm, session="other").credentials

    def with_token(token):
        ecs = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, algorithm, token)
        return refused(lambda: ecs.describe_regions(ecs_models.DescribeRegionsRequest()))

    claims = claims_of(creds.security_token)
    forged = dict(claims, role_name="Admin")
    signature = creds.security_token.split(".")[1]
    forged_token = f"{b64(json.dumps(forged).encode())}.{signature}"
    assert with_token(forged_token).code == "InvalidSecurityToken.Malformed"
    assert with_token("garbage").code == "InvalidSecurityToken.Malformed"
    assert with_token(other.security_token).code == "InvalidSecurityToken.MismatchWithAccessKey"
    # A token this server signed whose time has passed.
    expired = sign_token(server_key(env["lab"]), dict(claims, expires_at=int(dt.datetime.now().timestamp()) - 1))
    err = with_token(expired)
    assert err.code == "InvalidSecurityToken.Expired" and "Specified SecurityToken is expired." in err.message, err
    # The same forging with the expiry in the future is accepted: only the time refused it.
    fresh = sign_token(server_key(env["lab"]), dict(claims, expires_at=int(dt.datetime.now().timestamp()) + 60))
    ecs = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, algorithm, fresh)
    assert ecs.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region


def test_sessions_survive_a_restart_and_lose_a_deleted_roles_rights(sts_lab):
    env = sts_lab
    ram = client(RamClient, env["lab"], **env["root"])
    account = env["account"].account_id
    role = ram.create_role(ram_models.CreateRoleRequest(
        role_name="Temp", assume_role_policy_document=trust(f"acs:ram::{account}:root"))).body.role
    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess", role_name="Temp"))
    creds = assume(env, role_arn=role.arn).credentials
    ecs = client(EcsClient, env["lab"], creds.access_key_id, creds.access_key_secret, None, creds.security_token)
    assert ecs.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION)).body.total_count == 0
    labkit.restart_server(env["lab"])
    assert ecs.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION)).body.total_count == 0
    ram.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess", role_name="Temp"))
    ram.delete_role(ram_models.DeleteRoleRequest(role_name="Temp"))
    err = refused(lambda: ecs.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION)))
    assert (err.statusCode, err.code) == (403, "Forbidden.RAM"), err
