"""Issue 13's RAM 2015-05-01 through the official `alibabacloud-ram20150501` SDK, both signature algorithms.

On the fake-driver server. Each test works in accounts of its own, made with `ecslab admin accounts create` (as
test_tenants.py does), so listings hold only what the test made. Covered: users (Create, Get, Update, List with
Marker/MaxItems, Delete and its DeleteConflict codes), access keys (a key made by CreateAccessKey signs an ECS
request; Inactive it is refused with InvalidAccessKeyId.Inactive, deleted with InvalidAccessKeyId.NotFound),
groups and memberships, custom and system policies (versions, the version limit and RotateStrategy,
DeleteConflict), attaching to users, groups and roles, roles (trust policy, MaxSessionDuration, ARN), and one
account's RAM entities invisible to another (EntityNotExist, never a permission error).
"""

from __future__ import annotations

import json
import uuid

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi import utils_models as open_api_models

import labkit
from accountkit import create_account

SNAP_ONLY = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "ecs:CreateSnapshot", "Resource": "*"}]})
DENY_ALL = json.dumps({"Version": "1", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})


def trust(account_id: str) -> str:
    return json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{account_id}:root"]}}]})


def ram_client(lab, key_id: str, secret: str, algorithm: str | None) -> RamClient:
    kwargs = dict(access_key_id=key_id, access_key_secret=secret, endpoint=lab.endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return RamClient(open_api_models.Config(**kwargs))


@pytest.fixture
def tenant(fake_lab, algorithm):
    """A fresh account and a RAM client signed with its root key, for the algorithm under test."""
    account = create_account(fake_lab, f"ram-{algorithm}-{uuid.uuid4().hex[:8]}")
    return account, ram_client(fake_lab, account.key_id, account.secret, dict(labkit.ALGORITHMS)[algorithm])


def fails(call, request, code: str, status: int):
    e = labkit.sdk_error(call, request)
    assert (e.code, e.status_code) == (code, status), f"{e.code} {e.status_code}: {e.message}"
    return e


def test_users_are_created_read_updated_and_deleted(tenant):
    _, ram = tenant
    created = ram.create_user(ram_models.CreateUserRequest(
        user_name="alice", display_name="Alice Ops", mobile_phone="86-18600008888", email="alice@example.com",
        comments="on call")).body.user
    assert len(created.user_id) == 16 and created.user_id.isdigit(), created.user_id
    assert (created.user_name, created.display_name, created.mobile_phone, created.email, created.comments) == (
        "alice", "Alice Ops", "86-18600008888", "alice@example.com", "on call")
    assert created.create_date.endswith("Z")

    got = ram.get_user(ram_models.GetUserRequest(user_name="ALICE")).body.user
    assert (got.user_id, got.user_name) == (created.user_id, "alice"), "names match without regard to case"

    fails(ram.create_user, ram_models.CreateUserRequest(user_name="Alice"), "EntityAlreadyExists.User", 409)
    fails(ram.create_user, ram_models.CreateUserRequest(user_name="al ice"),
          "InvalidParameter.UserName.InvalidChars", 400)
    fails(ram.create_user, ram_models.CreateUserRequest(user_name="a" * 65), "InvalidParameter.UserName.Length", 400)
    fails(ram.create_user, ram_models.CreateUserRequest(user_name="bob", email="bob"),
          "InvalidParameter.Email.Format", 400)
    fails(ram.create_user, ram_models.CreateUserRequest(), "MissingParameter", 400)

    updated = ram.update_user(ram_models.UpdateUserRequest(
        user_name="alice", new_user_name="alice2", new_display_name="Alice Two")).body.user
    assert (updated.user_id, updated.user_name, updated.display_name, updated.email) == (
        created.user_id, "alice2", "Alice Two", "alice@example.com")
    fails(ram.get_user, ram_models.GetUserRequest(user_name="alice"), "EntityNotExist.User", 404)
    ram.create_user(ram_models.CreateUserRequest(user_name="carol"))
    fails(ram.update_user, ram_models.UpdateUserRequest(user_name="carol", new_user_name="Alice2"),
          "EntityAlreadyExists.User", 409)

    ram.delete_user(ram_models.DeleteUserRequest(user_name="alice2"))
    fails(ram.get_user, ram_models.GetUserRequest(user_name="alice2"), "EntityNotExist.User", 404)
    fails(ram.delete_user, ram_models.DeleteUserRequest(user_name="alice2"), "EntityNotExist.User", 404)


def test_list_users_pages_with_marker(tenant):
    _, ram = tenant
    names = [f"user-{i}" for i in range(5)]
    for name in reversed(names):
        ram.create_user(ram_models.CreateUserRequest(user_name=name))
    seen, marker, pages = [], None, 0
    while True:
        body = ram.list_users(ram_models.ListUsersRequest(max_items=2, marker=marker)).body
        pages += 1
        seen += [u.user_name for u in body.users.user]
        assert len(body.users.user) <= 2
        if not body.is_truncated:
            assert not body.marker
            break
        assert body.marker
        marker = body.marker
    assert (seen, pages) == (names, 3)
    whole = ram.list_users(ram_models.ListUsersRequest()).body
    assert ([u.user_name for u in whole.users.user], whole.is_truncated) == (names, False)
    fails(ram.list_users, ram_models.ListUsersRequest(max_items=1001), "InvalidParameter", 400)
    fails(ram.list_users, ram_models.ListUsersRequest(marker="!!"), "InvalidParameter.Marker", 400)


def test_access_keys_sign_requests_until_disabled_or_deleted(fake_lab, tenant, algorithm):
    account, ram = tenant
    ram.create_user(ram_models.CreateUserRequest(user_name="ci"))
    # Read-only ECS rights, so the key keeps its use once every action is authorized.
    ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess", user_name="ci"))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="ci")).body.access_key
    assert key.status == "Active" and key.access_key_id.startswith("LTAI") and len(key.access_key_secret) == 30
    ecs = fake_lab.client(dict(labkit.ALGORITHMS)[algorithm], access_key_id=key.access_key_id,
                          access_key_secret=key.access_key_secret)
    regions = ecs.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    assert [r.region_id for r in regions] == [labkit.REGION]

    listed = ram.list_access_keys(ram_models.ListAccessKeysRequest(user_name="ci")).body.access_keys.access_key
    assert [(k.access_key_id, k.status) for k in listed] == [(key.access_key_id, "Active")]
    assert "AccessKeySecret" not in listed[0].to_map(), "the secret is shown only once"

    ram.update_access_key(ram_models.UpdateAccessKeyRequest(
        user_name="ci", user_access_key_id=key.access_key_id, status="Inactive"))
    e = labkit.sdk_error(ecs.describe_regions, ecs_models.DescribeRegionsRequest())
    assert e.code == "InvalidAccessKeyId.Inactive", f"{e.code}: {e.message}"
    listed = ram.list_access_keys(ram_models.ListAccessKeysRequest(user_name="ci")).body.access_keys.access_key
    assert [k.status for k in listed] == ["Inactive"]
    ram.update_access_key(ram_models.UpdateAccessKeyRequest(
        user_name="ci", user_access_key_id=key.access_key_id, status="Active"))
    assert ecs.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    fails(ram.update_access_key, ram_models.UpdateAccessKeyRequest(
        user_name="ci", user_access_key_id=key.access_key_id, status="Paused"), "InvalidParameter.Status", 400)

    second = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="ci")).body.access_key
    fails(ram.create_access_key, ram_models.CreateAccessKeyRequest(user_name="ci"),
          "LimitExceeded.User.AccessKey", 409)
    fails(ram.create_access_key, ram_models.CreateAccessKeyRequest(user_name="nobody"), "EntityNotExist.User", 404)
    ram.detach_policy_from_user(ram_models.DetachPolicyFromUserRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess", user_name="ci"))
    fails(ram.delete_user, ram_models.DeleteUserRequest(user_name="ci"), "DeleteConflict.User.AccessKey", 409)

    for k in (key, second):
        ram.delete_access_key(ram_models.DeleteAccessKeyRequest(user_name="ci", user_access_key_id=k.access_key_id))
    e = labkit.sdk_error(ecs.describe_regions, ecs_models.DescribeRegionsRequest())
    assert (e.code, e.status_code) == ("InvalidAccessKeyId.NotFound", 404), f"{e.code}: {e.message}"
    fails(ram.delete_access_key, ram_models.DeleteAccessKeyRequest(user_name="ci", user_access_key_id=key.access_key_id),
          "EntityNotExist.User.AccessKey", 404)
    assert ram.list_access_keys(ram_models.ListAccessKeysRequest(user_name="ci")).body.access_keys.access_key == []
    ram.delete_user(ram_models.DeleteUserRequest(user_name="ci"))


def test_custom_and_system_policies_and_their_versions(tenant):
    _, ram = tenant
    policy = ram.create_policy(ram_models.CreatePolicyRequest(
        policy_name="snap-only", policy_document=SNAP_ONLY, description="snapshots only")).body.policy
    assert (policy.policy_name, policy.policy_type, policy.default_version, policy.description) == (
        "snap-only", "Custom", "v1", "snapshots only")
    got = ram.get_policy(ram_models.GetPolicyRequest(policy_type="Custom", policy_name="snap-only")).body
    assert (got.policy.attachment_count, got.default_policy_version.version_id) == (0, "v1")
    assert got.default_policy_version.is_default_version is True
    assert json.loads(got.default_policy_version.policy_document) == json.loads(SNAP_ONLY)

    system = ram.get_policy(ram_models.GetPolicyRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess")).body
    assert system.policy.policy_type == "System" and system.policy.default_version == "v1"
    statements = json.loads(system.default_policy_version.policy_document)["Statement"]
    assert any("ecs:Describe*" in json.dumps(s) for s in statements), statements

    fails(ram.create_policy, ram_models.CreatePolicyRequest(policy_name="snap-only", policy_document=SNAP_ONLY),
          "EntityAlreadyExists.Policy", 409)
    fails(ram.create_policy, ram_models.CreatePolicyRequest(policy_name="bad", policy_document='{"Version":"1"}'),
          "MalformedPolicyDocument", 400)
    fails(ram.create_policy, ram_models.CreatePolicyRequest(policy_name="snap_only", policy_document=SNAP_ONLY),
          "InvalidParameter.PolicyName.InvalidChars", 400)
    fails(ram.get_policy, ram_models.GetPolicyRequest(policy_type="Custom", policy_name="nope"),
          "EntityNotExist.Policy", 404)
    fails(ram.get_policy, ram_models.GetPolicyRequest(policy_type="System", policy_name="snap-only"),
          "EntityNotExist.Policy", 404)
    fails(ram.get_policy, ram_models.GetPolicyRequest(policy_type="Mine", policy_name="snap-only"),
          "InvalidParameter.PolicyType.InvalidValue", 400)

    v2 = ram.create_policy_version(ram_models.CreatePolicyVersionRequest(
        policy_name="snap-only", policy_document=DENY_ALL, set_as_default=True)).body.policy_version
    assert (v2.version_id, v2.is_default_version) == ("v2", True)
    got = ram.get_policy(ram_models.GetPolicyRequest(policy_type="Custom", policy_name="snap-only")).body
    assert got.policy.default_version == "v2"
    assert json.loads(got.default_policy_version.policy_document) == json.loads(DENY_ALL)
    for n in (3, 4, 5):
        v = ram.create_policy_version(ram_models.CreatePolicyVersionRequest(
            policy_name="snap-only", policy_document=SNAP_ONLY)).body.policy_version
        assert (v.version_id, v.is_default_version) == (f"v{n}", False)
    fails(ram.create_policy_version, ram_models.CreatePolicyVersionRequest(
        policy_name="snap-only", policy_document=SNAP_ONLY), "LimitExceeded.Policy.Version", 409)
    fails(ram.create_policy_version, ram_models.CreatePolicyVersionRequest(
        policy_name="snap-only", policy_document="not json"), "MalformedPolicyDocument", 400)
    rotated = ram.create_policy_version(ram_models.CreatePolicyVersionRequest(
        policy_name="snap-only", policy_document=SNAP_ONLY,
        rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded")).body.policy_version
    assert rotated.version_id == "v6"
    fails(ram.delete_policy, ram_models.DeletePolicyRequest(policy_name="snap-only"),
          "DeleteConflict.Policy.Version", 409)

    listed = ram.list_policies(ram_models.ListPoliciesRequest(policy_type="Custom")).body
    assert [(p.policy_name, p.default_version) for p in listed.policies.policy] == [("snap-only", "v2")]
    systems = ram.list_policies(ram_models.ListPoliciesRequest(policy_type="System")).body.policies.policy
    assert {"AdministratorAccess", "AliyunECSFullAccess", "AliyunECSReadOnlyAccess",
            "AliyunVPCFullAccess"} <= {p.policy_name for p in systems}
    assert all(p.policy_type == "System" for p in systems)
    seen, marker = [], None
    while True:
        body = ram.list_policies(ram_models.ListPoliciesRequest(max_items=3, marker=marker)).body
        seen += [(p.policy_type, p.policy_name) for p in body.policies.policy]
        if not body.is_truncated:
            break
        marker = body.marker
    assert seen == [("System", p.policy_name) for p in systems] + [("Custom", "snap-only")]

    ram.delete_policy(ram_models.DeletePolicyRequest(policy_name="snap-only", cascading_delete=True))
    fails(ram.get_policy, ram_models.GetPolicyRequest(policy_type="Custom", policy_name="snap-only"),
          "EntityNotExist.Policy", 404)


def test_attachments_groups_and_delete_conflicts(tenant):
    _, ram = tenant
    ram.create_user(ram_models.CreateUserRequest(user_name="dev"))
    ram.create_policy(ram_models.CreatePolicyRequest(
        policy_name="snap-only", policy_document=SNAP_ONLY, description="snapshots only"))

    def attach_user(policy_type, name, user="dev"):
        return ram_models.AttachPolicyToUserRequest(policy_type=policy_type, policy_name=name, user_name=user)

    ram.attach_policy_to_user(attach_user("System", "AliyunECSReadOnlyAccess"))
    ram.attach_policy_to_user(attach_user("Custom", "snap-only"))
    attached = ram.list_policies_for_user(
        ram_models.ListPoliciesForUserRequest(user_name="dev")).body.policies.policy
    assert sorted((p.policy_type, p.policy_name, p.default_version) for p in attached) == [
        ("Custom", "snap-only", "v1"), ("System", "AliyunECSReadOnlyAccess", "v1")]
    assert {p.policy_name: p.description for p in attached}["snap-only"] == "snapshots only"
    assert all(p.attach_date.endswith("Z") for p in attached)
    fails(ram.attach_policy_to_user, attach_user("Custom", "snap-only"), "EntityAlreadyExists.User.Policy", 409)
    fails(ram.attach_policy_to_user, attach_user("Custom", "nope"), "EntityNotExist.Policy", 404)
    fails(ram.attach_policy_to_user, attach_user("System", "NoSuchSystemPolicy"), "EntityNotExist.Policy", 404)
    fails(ram.attach_policy_to_user, attach_user("Custom", "snap-only", "ghost"), "EntityNotExist.User", 404)
    got = ram.get_policy(ram_models.GetPolicyRequest(policy_type="Custom", policy_name="snap-only")).body.policy
    assert got.attachment_count == 1
    fails(ram.delete_policy, ram_models.DeletePolicyRequest(policy_name="snap-only"), "DeleteConflict.Policy.User", 409)
    fails(ram.delete_user, ram_models.DeleteUserRequest(user_name="dev"), "DeleteConflict.User.Policy", 409)
    for policy_type, name in (("System", "AliyunECSReadOnlyAccess"), ("Custom", "snap-only")):
        ram.detach_policy_from_user(ram_models.DetachPolicyFromUserRequest(
            policy_type=policy_type, policy_name=name, user_name="dev"))
    fails(ram.detach_policy_from_user, ram_models.DetachPolicyFromUserRequest(
        policy_type="Custom", policy_name="snap-only", user_name="dev"), "EntityNotExist.User.Policy", 404)
    assert ram.list_policies_for_user(
        ram_models.ListPoliciesForUserRequest(user_name="dev")).body.policies.policy == []

    group = ram.create_group(ram_models.CreateGroupRequest(group_name="ops", comments="night shift")).body.group
    assert group.group_id.startswith("g-") and (group.group_name, group.comments) == ("ops", "night shift")
    fails(ram.create_group, ram_models.CreateGroupRequest(group_name="OPS"), "EntityAlreadyExists.Group", 409)
    ram.attach_policy_to_group(ram_models.AttachPolicyToGroupRequest(
        policy_type="Custom", policy_name="snap-only", group_name="ops"))
    fails(ram.attach_policy_to_group, ram_models.AttachPolicyToGroupRequest(
        policy_type="Custom", policy_name="snap-only", group_name="ops"), "EntityAlreadyExists.Group.Policy", 409)
    fails(ram.delete_policy, ram_models.DeletePolicyRequest(policy_name="snap-only"),
          "DeleteConflict.Policy.Group", 409)
    ram.add_user_to_group(ram_models.AddUserToGroupRequest(user_name="dev", group_name="ops"))
    fails(ram.add_user_to_group, ram_models.AddUserToGroupRequest(user_name="dev", group_name="ops"),
          "EntityAlreadyExists.User.Group", 409)
    fails(ram.add_user_to_group, ram_models.AddUserToGroupRequest(user_name="dev", group_name="nope"),
          "EntityNotExist.Group", 404)
    groups = ram.list_groups_for_user(ram_models.ListGroupsForUserRequest(user_name="dev")).body.groups.group
    assert [(g.group_name, g.group_id, g.comments) for g in groups] == [("ops", group.group_id, "night shift")]
    assert groups[0].join_date.endswith("Z")
    fails(ram.delete_user, ram_models.DeleteUserRequest(user_name="dev"), "DeleteConflict.User.Group", 409)
    ram.remove_user_from_group(ram_models.RemoveUserFromGroupRequest(user_name="dev", group_name="ops"))
    fails(ram.remove_user_from_group, ram_models.RemoveUserFromGroupRequest(user_name="dev", group_name="ops"),
          "EntityNotExist.User.Group", 404)
    assert ram.list_groups_for_user(ram_models.ListGroupsForUserRequest(user_name="dev")).body.groups.group == []
    ram.detach_policy_from_group(ram_models.DetachPolicyFromGroupRequest(
        policy_type="Custom", policy_name="snap-only", group_name="ops"))
    fails(ram.detach_policy_from_group, ram_models.DetachPolicyFromGroupRequest(
        policy_type="Custom", policy_name="snap-only", group_name="ops"), "EntityNotExist.Group.Policy", 404)
    ram.delete_policy(ram_models.DeletePolicyRequest(policy_name="snap-only"))
    ram.delete_user(ram_models.DeleteUserRequest(user_name="dev"))


def test_roles(tenant):
    account, ram = tenant
    role = ram.create_role(ram_models.CreateRoleRequest(
        role_name="EcsAdmin", assume_role_policy_document=trust(account.account_id), description="ops role",
        max_session_duration=7200)).body.role
    assert len(role.role_id) == 19 and role.role_id.isdigit(), role.role_id
    assert role.arn == f"acs:ram::{account.account_id}:role/ecsadmin"
    assert (role.role_name, role.description, role.max_session_duration) == ("EcsAdmin", "ops role", 7200)
    assert json.loads(role.assume_role_policy_document) == json.loads(trust(account.account_id))
    got = ram.get_role(ram_models.GetRoleRequest(role_name="ecsadmin")).body.role
    assert (got.role_id, got.arn, got.max_session_duration) == (role.role_id, role.arn, 7200)

    fails(ram.create_role, ram_models.CreateRoleRequest(
        role_name="ECSADMIN", assume_role_policy_document=trust(account.account_id)), "EntityAlreadyExists.Role", 409)
    fails(ram.create_role, ram_models.CreateRoleRequest(role_name="r2", assume_role_policy_document=SNAP_ONLY),
          "MalformedPolicyDocument", 400)
    fails(ram.create_role, ram_models.CreateRoleRequest(
        role_name="r2", assume_role_policy_document=trust(account.account_id), max_session_duration=100),
        "InvalidParameter.MaxSessionDuration", 400)
    fails(ram.create_role, ram_models.CreateRoleRequest(
        role_name="r/2", assume_role_policy_document=trust(account.account_id)),
        "InvalidParameter.RoleName.InvalidChars", 400)
    default = ram.create_role(ram_models.CreateRoleRequest(
        role_name="r2", assume_role_policy_document=trust(account.account_id))).body.role
    assert default.max_session_duration == 3600

    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunECSFullAccess", role_name="EcsAdmin"))
    fails(ram.attach_policy_to_role, ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunECSFullAccess", role_name="EcsAdmin"),
        "EntityAlreadyExists.Role.Policy", 409)
    fails(ram.delete_role, ram_models.DeleteRoleRequest(role_name="EcsAdmin"), "DeleteConflict.Role.Policy", 409)
    ram.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunECSFullAccess", role_name="EcsAdmin"))
    fails(ram.detach_policy_from_role, ram_models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunECSFullAccess", role_name="EcsAdmin"),
        "EntityNotExist.Role.Policy", 404)
    ram.delete_role(ram_models.DeleteRoleRequest(role_name="EcsAdmin"))
    fails(ram.get_role, ram_models.GetRoleRequest(role_name="EcsAdmin"), "EntityNotExist.Role", 404)


def test_accounts_do_not_see_each_others_ram(fake_lab, tenant, algorithm):
    a, ram_a = tenant
    b = create_account(fake_lab, f"ram-b-{algorithm}-{uuid.uuid4().hex[:8]}")
    ram_b = ram_client(fake_lab, b.key_id, b.secret, dict(labkit.ALGORITHMS)[algorithm])
    ram_a.create_user(ram_models.CreateUserRequest(user_name="shared"))
    ram_a.create_group(ram_models.CreateGroupRequest(group_name="team"))
    ram_a.create_policy(ram_models.CreatePolicyRequest(policy_name="mine", policy_document=SNAP_ONLY))
    ram_a.create_role(ram_models.CreateRoleRequest(role_name="ops", assume_role_policy_document=trust(a.account_id)))
    key = ram_a.create_access_key(ram_models.CreateAccessKeyRequest(user_name="shared")).body.access_key

    fails(ram_b.get_user, ram_models.GetUserRequest(user_name="shared"), "EntityNotExist.User", 404)
    fails(ram_b.list_access_keys, ram_models.ListAccessKeysRequest(user_name="shared"), "EntityNotExist.User", 404)
    fails(ram_b.delete_access_key, ram_models.DeleteAccessKeyRequest(
        user_name="shared", user_access_key_id=key.access_key_id), "EntityNotExist.User", 404)
    fails(ram_b.get_policy, ram_models.GetPolicyRequest(policy_type="Custom", policy_name="mine"),
          "EntityNotExist.Policy", 404)
    fails(ram_b.get_role, ram_models.GetRoleRequest(role_name="ops"), "EntityNotExist.Role", 404)
    fails(ram_b.attach_policy_to_user, ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AdministratorAccess", user_name="shared"), "EntityNotExist.User", 404)
    fails(ram_b.add_user_to_group, ram_models.AddUserToGroupRequest(user_name="shared", group_name="team"),
          "EntityNotExist.User", 404)
    assert ram_b.list_users(ram_models.ListUsersRequest()).body.users.user == []
    assert ram_b.list_policies(ram_models.ListPoliciesRequest(policy_type="Custom")).body.policies.policy == []

    # The same names are free in B, and B's entities are B's own.
    b_user = ram_b.create_user(ram_models.CreateUserRequest(user_name="shared")).body.user
    a_user = ram_a.get_user(ram_models.GetUserRequest(user_name="shared")).body.user
    assert b_user.user_id != a_user.user_id
    ram_b.create_policy(ram_models.CreatePolicyRequest(policy_name="mine", policy_document=DENY_ALL))
    a_doc = ram_a.get_policy(ram_models.GetPolicyRequest(policy_type="Custom", policy_name="mine")).body
    assert json.loads(a_doc.default_policy_version.policy_document) == json.loads(SNAP_ONLY)
    b_role = ram_b.create_role(ram_models.CreateRoleRequest(
        role_name="ops", assume_role_policy_document=trust(b.account_id))).body.role
    assert b_role.arn == f"acs:ram::{b.account_id}:role/ops"
    assert [k.access_key_id for k in ram_a.list_access_keys(
        ram_models.ListAccessKeysRequest(user_name="shared")).body.access_keys.access_key] == [key.access_key_id]
    assert ram_b.list_access_keys(
        ram_models.ListAccessKeysRequest(user_name="shared")).body.access_keys.access_key == []
