"""SSH key pairs and instance guest settings (issue 12), through the official SDK with both signature
algorithms on the fake-driver server: CreateKeyPair (RSA 2048, PKCS#1 PEM returned once, the fingerprint
`ssh-keygen -l -E md5` computes), ImportKeyPair (RSA and ed25519), DescribeKeyPairs (wildcards, fingerprint,
paging, IncludePublicKey), DeleteKeyPairs (refused while attached), AttachKeyPair/DetachKeyPair (per-instance
results); RunInstances with KeyPairName, Password, HostName and UserData; DescribeUserData;
ModifyInstanceAttribute; ReplaceSystemDisk's KeyPairName and Password. The password is stored only as a
SHA-512 crypt hash. Codes and HTTP statuses as the SDK raises them.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

from alibabacloud_ecs20140526 import models as m

import labkit
from labkit import REGION


def expect(call, request, status: int, code: str):
    e = labkit.sdk_error(call, request)
    assert (e.status_code, e.code) == (status, code), f"{e.status_code} {e.code}: {e.message}"
    return e


def unique(prefix: str = "kp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ssh_keygen(*args: str) -> str:
    return subprocess.run(["ssh-keygen", *args], check=True, capture_output=True, text=True).stdout.strip()


def md5_of(path: Path) -> str:
    """`ssh-keygen -l -E md5` of a key file, without its `MD5:` prefix."""
    out = ssh_keygen("-l", "-E", "md5", "-f", str(path))  # "2048 MD5:aa:bb:... comment (RSA)"
    field = out.split()[1]
    assert field.startswith("MD5:"), out
    return field[len("MD5:"):]


def new_key(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"id_{kind}_{uuid.uuid4().hex[:6]}"
    extra = ["-b", "3072"] if kind == "rsa" else []
    ssh_keygen("-q", "-t", kind, *extra, "-N", "", "-C", "test@ecslab", "-f", str(path))
    return path


def listed(ecs, **kw):
    return ecs.describe_key_pairs(m.DescribeKeyPairsRequest(region_id=REGION, **kw)).body


def test_create_key_pair_returns_the_private_key_once(fake_ecs, tmp_path):
    name = unique()
    body = fake_ecs.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name=name)).body
    assert body.key_pair_name == name and body.key_pair_id.startswith("kp-")
    assert body.private_key_body.startswith("-----BEGIN RSA PRIVATE KEY-----\n"), body.private_key_body[:40]
    private = tmp_path / "created"
    private.write_text(body.private_key_body)
    private.chmod(0o600)
    assert ssh_keygen("-l", "-f", str(private)).split()[0] == "2048"
    # ECS's fingerprint is RFC 4716's: the MD5 ssh-keygen shows for the same key.
    assert body.key_pair_finger_print == md5_of(private)
    assert len(body.key_pair_finger_print.split(":")) == 16

    [item] = listed(fake_ecs, key_pair_name=name, include_public_key=True).key_pairs.key_pair
    assert (item.key_pair_name, item.key_pair_finger_print) == (name, body.key_pair_finger_print)
    derived = ssh_keygen("-y", "-f", str(private)).split()[:2]
    assert item.public_key.split()[:2] == derived, "the stored public half is the private key's"
    assert len(item.creation_time) == len("2026-01-01T00:00Z") and item.creation_time.endswith("Z")
    raw = labkit.call_action(fake_ecs, "DescribeKeyPairs", {"RegionId": REGION, "KeyPairName": name})["body"]
    assert "PrivateKeyBody" not in json.dumps(raw) and "PublicKey" not in raw["KeyPairs"]["KeyPair"][0]

    expect(fake_ecs.create_key_pair, m.CreateKeyPairRequest(region_id=REGION, key_pair_name=name), 400,
           "KeyPair.AlreadyExist")
    for bad in ["1abc", "a", "http://abc", "a b"]:
        expect(fake_ecs.create_key_pair, m.CreateKeyPairRequest(region_id=REGION, key_pair_name=bad), 400,
               "InvalidKeyPairName.Malformed")
    expect(fake_ecs.create_key_pair, m.CreateKeyPairRequest(region_id=REGION), 400, "MissingParameter")


def test_import_rsa_and_ed25519(fake_ecs, tmp_path):
    for kind in ["rsa", "ed25519"]:
        key = new_key(tmp_path, kind)
        public = key.with_suffix(".pub").read_text().strip()
        name = unique(kind)
        body = fake_ecs.import_key_pair(m.ImportKeyPairRequest(region_id=REGION, key_pair_name=name,
                                                               public_key_body=public)).body
        assert body.key_pair_name == name
        assert body.key_pair_finger_print == md5_of(key.with_suffix(".pub")), kind
        [item] = listed(fake_ecs, key_pair_name=name, include_public_key=True).key_pairs.key_pair
        assert item.public_key == public, "the OpenSSH line, comment included"
        expect(fake_ecs.import_key_pair, m.ImportKeyPairRequest(region_id=REGION, key_pair_name=name,
                                                                public_key_body=public), 400, "KeyPair.AlreadyExist")
    for bad in ["ssh-rsa", "hello world", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"]:
        expect(fake_ecs.import_key_pair, m.ImportKeyPairRequest(region_id=REGION, key_pair_name=unique(),
                                                                public_key_body=bad), 400,
               "InvalidPublicKeyBody.Malformed")
    expect(fake_ecs.import_key_pair, m.ImportKeyPairRequest(region_id=REGION, key_pair_name=unique()), 400,
           "MissingParameter")
    e = expect(fake_ecs.import_key_pair, m.ImportKeyPairRequest(region_id=REGION, key_pair_name=unique(),
                                                                public_key_body="x", resource_group_id="rg-1"),
               400, "InvalidParameter")
    assert "ResourceGroupId" in e.message


def test_describe_key_pairs_filters_and_pages(fake_ecs, tmp_path):
    stem = uuid.uuid4().hex[:6]
    names = [f"Ssh{stem}Key{n}" for n in range(5)]
    prints = {}
    for name in names:
        public = new_key(tmp_path, "ed25519").with_suffix(".pub").read_text()
        prints[name] = fake_ecs.import_key_pair(m.ImportKeyPairRequest(
            region_id=REGION, key_pair_name=name, public_key_body=public)).body.key_pair_finger_print

    def names_of(**kw):
        return [k.key_pair_name for k in listed(fake_ecs, page_size=50, **kw).key_pairs.key_pair]

    assert names_of(key_pair_name=f"Ssh{stem}*") == names, "creation order"
    assert names_of(key_pair_name=f"*{stem}Key3") == [names[3]]
    assert names_of(key_pair_name=f"*{stem}K*") == names
    assert names_of(key_pair_name=names[2]) == [names[2]]
    assert names_of(key_pair_name=f"Ssh{stem}") == [], "no wildcard: the exact name"
    assert names_of(key_pair_finger_print=prints[names[4]]) == [names[4]]
    assert names_of(key_pair_finger_print="MD5:" + prints[names[1]].upper()) == [names[1]]

    pages = []
    for number in (1, 2, 3):
        body = listed(fake_ecs, key_pair_name=f"Ssh{stem}*", page_number=number, page_size=2)
        assert (body.total_count, body.page_number, body.page_size) == (5, number, 2)
        pages.append([k.key_pair_name for k in body.key_pairs.key_pair])
    assert pages == [names[0:2], names[2:4], names[4:5]]
    expect(fake_ecs.describe_key_pairs, m.DescribeKeyPairsRequest(region_id=REGION, page_size=51), 400,
           "InvalidParameter")


def test_attach_detach_and_delete(fake_lab, fake_ecs):
    name, other = unique(), unique()
    for n in (name, other):
        fake_ecs.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name=n))
    first = labkit.create_instance(fake_ecs, fake_lab.image_id)
    second = labkit.create_instance(fake_ecs, fake_lab.image_id)
    try:
        ids = json.dumps([first, second, "i-nothere"])
        body = fake_ecs.attach_key_pair(m.AttachKeyPairRequest(region_id=REGION, key_pair_name=name,
                                                               instance_ids=ids)).body
        assert (body.key_pair_name, body.total_count, body.fail_count) == (name, "3", "1")
        results = {r.instance_id: r for r in body.results.result}
        assert (results[first].success, results[first].code) == ("true", "200")
        assert (results["i-nothere"].success, results["i-nothere"].code) == ("false", "InvalidInstanceId.NotFound")
        assert labkit.describe(fake_ecs, first).key_pair_name == name
        assert labkit.describe(fake_ecs, second).key_pair_name == name
        filtered = labkit.list_instances(fake_ecs, key_pair_name=name)
        assert {i.instance_id for i in filtered} == {first, second}, "DescribeInstances' KeyPairName filter"

        e = expect(fake_ecs.delete_key_pairs, m.DeleteKeyPairsRequest(region_id=REGION,
                                                                      key_pair_names=json.dumps([other, name])),
                   400, "InvalidParameter.KeypairAlreadyAttachedInstance")
        assert name in e.message
        assert len(listed(fake_ecs, key_pair_name=other).key_pairs.key_pair) == 1, "all or nothing"

        # A new pair replaces the old one; detaching a pair the instance does not have fails for it.
        fake_ecs.attach_key_pair(m.AttachKeyPairRequest(region_id=REGION, key_pair_name=other,
                                                        instance_ids=json.dumps([second])))
        assert labkit.describe(fake_ecs, second).key_pair_name == other
        body = fake_ecs.detach_key_pair(m.DetachKeyPairRequest(region_id=REGION, key_pair_name=name,
                                                               instance_ids=json.dumps([first, second]))).body
        assert (body.total_count, body.fail_count) == ("2", "1")
        results = {r.instance_id: r for r in body.results.result}
        assert results[first].success == "true"
        assert (results[second].success, results[second].code) == ("false", "InvalidParameter.KeyPairNotAttached")
        assert labkit.describe(fake_ecs, first).key_pair_name == ""

        fake_ecs.delete_key_pairs(m.DeleteKeyPairsRequest(region_id=REGION, key_pair_names=json.dumps([name])))
        assert listed(fake_ecs, key_pair_name=name).total_count == 0
        for call, req in [
            (fake_ecs.attach_key_pair, m.AttachKeyPairRequest(region_id=REGION, key_pair_name=name,
                                                              instance_ids=json.dumps([first]))),
            (fake_ecs.detach_key_pair, m.DetachKeyPairRequest(region_id=REGION, key_pair_name=name,
                                                              instance_ids=json.dumps([first]))),
        ]:
            expect(call, req, 404, "InvalidKeyPairName.NotFound")
        expect(fake_ecs.attach_key_pair, m.AttachKeyPairRequest(region_id=REGION, key_pair_name=other,
                                                                instance_ids=first), 400, "InvalidParameter")
        expect(fake_ecs.delete_key_pairs, m.DeleteKeyPairsRequest(region_id=REGION, key_pair_names=other), 400,
               "InvalidKeyPairNames.ValueNotSupported")
    finally:
        for instance_id in (first, second):
            labkit.force_delete(fake_ecs, instance_id)
    # Deleting its instance frees a pair.
    fake_ecs.delete_key_pairs(m.DeleteKeyPairsRequest(region_id=REGION, key_pair_names=json.dumps([other])))


def stored_bytes(lab) -> bytes:
    """Everything the store holds on disk (the database and its write-ahead log)."""
    return b"".join(p.read_bytes() for p in Path(lab.data_dir).glob("ecslab.db*"))


def test_run_instances_stores_what_the_guest_is_given(fake_lab, fake_ecs):
    name = unique()
    fake_ecs.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name=name))
    password = f"Pw{uuid.uuid4().hex[:10]}!"
    script = "#!/bin/sh\necho user-data-ran > /tmp/marker\n"
    user_data = base64.b64encode(script.encode()).decode()
    instance_id = labkit.run_instance(fake_ecs, fake_lab.image_id, key_pair_name=name, password=password,
                                      host_name="web-1.lab", user_data=user_data)
    try:
        got = fake_ecs.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=instance_id)).body
        assert (got.instance_id, got.user_data, got.region_id) == (instance_id, user_data, REGION)
        assert base64.b64decode(got.user_data).decode() == script
        inst = labkit.describe(fake_ecs, instance_id)
        assert (inst.key_pair_name, inst.host_name) == (name, "web-1.lab")
        attribute = fake_ecs.describe_instance_attribute(
            m.DescribeInstanceAttributeRequest(instance_id=instance_id)).body
        assert attribute.host_name == "web-1.lab"
        stored = stored_bytes(fake_lab)
        assert password.encode() not in stored, "the password is never stored in plain text"
        assert b"$6$" in stored, "a SHA-512 crypt hash is"
        e = expect(fake_ecs.delete_key_pairs, m.DeleteKeyPairsRequest(region_id=REGION,
                                                                      key_pair_names=json.dumps([name])),
                   400, "InvalidParameter.KeypairAlreadyAttachedInstance")
        assert instance_id in e.message
    finally:
        labkit.force_delete(fake_ecs, instance_id)
    none = labkit.create_instance(fake_ecs, fake_lab.image_id)
    try:
        got = fake_ecs.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=none)).body
        assert got.user_data == "" and labkit.describe(fake_ecs, none).key_pair_name == ""
    finally:
        labkit.force_delete(fake_ecs, none)
    expect(fake_ecs.describe_user_data, m.DescribeUserDataRequest(region_id=REGION, instance_id="i-nothere"), 404,
           "InvalidInstanceId.NotFound")


def test_run_instances_refuses_bad_guest_settings(fake_lab, fake_ecs):
    def refused(status: int, code: str, **kw):
        req = m.RunInstancesRequest(region_id=REGION, image_id=fake_lab.image_id, instance_type="ecs.lab.tiny",
                                    **kw)
        expect(fake_ecs.run_instances, req, status, code)

    refused(404, "InvalidKeyPairName.NotFound", key_pair_name=unique())
    refused(400, "InvalidKeyPairName.Malformed", key_pair_name="9x")
    for weak in ["Short1!", "alllowercase1", "NoDigitsOrSpecials", "Has space1A", "A" * 20 + "a1!" + "b" * 10]:
        refused(400, "InvalidPassword.Malformed", password=weak)
    refused(400, "InvalidParameter.Conflict", password="Good1234!", password_inherit=True)
    refused(400, "InvalidUserData.NotBase64", user_data="not base64!")
    limit = 32 * 1024
    refused(400, "InvalidUserData.SizeExceeded", user_data=base64.b64encode(b"x" * (limit + 1)).decode())
    for bad in ["-web", "web..lab", "web_1", "a"]:
        refused(400, "InvalidHostName.Malformed", host_name=bad)
    # 32 KiB decoded is the limit, not the encoded length (about 43 KiB here); DryRun stores nothing.
    req = m.RunInstancesRequest(region_id=REGION, image_id=fake_lab.image_id, instance_type="ecs.lab.tiny",
                                user_data=base64.b64encode(b"x" * limit).decode(), dry_run=True)
    expect(fake_ecs.run_instances, req, 400, "DryRunOperation")


def test_modify_instance_attribute(fake_lab, fake_ecs):
    instance_id = labkit.create_instance(fake_ecs, fake_lab.image_id)  # Stopped
    try:
        before = stored_bytes(fake_lab).count(b"$6$")
        # MIME-style wrapped base64 (several lines) is taken, and kept as given.
        user_data = base64.encodebytes(b"#!/bin/sh\n" + b"true\n" * 40).decode()
        assert user_data.count("\n") > 2
        fake_ecs.modify_instance_attribute(m.ModifyInstanceAttributeRequest(
            instance_id=instance_id, instance_name="renamed", description="new words", host_name="db-2",
            password="NewPass123!", user_data=user_data))
        inst = labkit.describe(fake_ecs, instance_id)
        assert (inst.instance_name, inst.description, inst.host_name) == ("renamed", "new words", "db-2")
        got = fake_ecs.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=instance_id)).body
        assert got.user_data == user_data
        stored = stored_bytes(fake_lab)
        assert b"NewPass123!" not in stored and stored.count(b"$6$") > before

        fake_ecs.start_instance(m.StartInstanceRequest(instance_id=instance_id))
        labkit.wait_status(fake_ecs, instance_id, "Running")
        # Running: the name, host name and password change (in effect after a restart); user data needs Stopped.
        fake_ecs.modify_instance_attribute(m.ModifyInstanceAttributeRequest(
            instance_id=instance_id, host_name="db-3", password="Other123!"))
        assert labkit.describe(fake_ecs, instance_id).host_name == "db-3"
        expect(fake_ecs.modify_instance_attribute, m.ModifyInstanceAttributeRequest(
            instance_id=instance_id, user_data=user_data), 403, "IncorrectInstanceStatus")
        for kw, code in [({"password": "weak"}, "InvalidPassword.Malformed"),
                         ({"host_name": "-bad"}, "InvalidHostName.Malformed"),
                         ({"user_data": "%%%"}, "InvalidUserData.NotBase64"),
                         ({"instance_name": "1bad"}, "InvalidInstanceName.Malformed"),
                         ({"deletion_protection": True}, "InvalidParameter")]:
            expect(fake_ecs.modify_instance_attribute,
                   m.ModifyInstanceAttributeRequest(instance_id=instance_id, **kw), 400, code)
        expect(fake_ecs.modify_instance_attribute,
               m.ModifyInstanceAttributeRequest(instance_id="i-nothere", instance_name="abc"), 404,
               "InvalidInstanceId.NotFound")
    finally:
        labkit.force_delete(fake_ecs, instance_id)


def test_replace_system_disk_gives_the_new_disk_its_key_and_password(fake_lab, fake_ecs):
    old, new = unique(), unique()
    for n in (old, new):
        fake_ecs.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name=n))
    instance_id = labkit.create_instance(fake_ecs, fake_lab.image_id, key_pair_name=old)
    try:
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(
            instance_id=instance_id, image_id=fake_lab.image_id, key_pair_name=unique()), 404,
            "InvalidKeyPairName.NotFound")
        expect(fake_ecs.replace_system_disk, m.ReplaceSystemDiskRequest(
            instance_id=instance_id, image_id=fake_lab.image_id, password="weak"), 400, "InvalidPassword.Malformed")
        assert labkit.describe(fake_ecs, instance_id).key_pair_name == old, "a refused change changes nothing"
        fake_ecs.replace_system_disk(m.ReplaceSystemDiskRequest(
            instance_id=instance_id, image_id=fake_lab.image_id, key_pair_name=new, password="Replaced123!"))
        assert labkit.describe(fake_ecs, instance_id).key_pair_name == new
        assert b"Replaced123!" not in stored_bytes(fake_lab)
    finally:
        labkit.force_delete(fake_ecs, instance_id)


def test_a_real_guest_boots_with_its_settings(lab, ecs, cleanup):
    """On the driver under test: RunInstances with a key pair, password, host name and user data boots a real
    guest; AttachKeyPair on the Running instance is accepted (in effect at the next boot, as on ECS);
    the settings read back while it runs."""
    name, other = unique(), unique()
    for n in (name, other):
        ecs.create_key_pair(m.CreateKeyPairRequest(region_id=REGION, key_pair_name=n))
    user_data = base64.b64encode(b"#!/bin/sh\necho hello\n").decode()
    instance_id = labkit.run_instance(ecs, lab.image_id, key_pair_name=name, password="RealGuest123!",
                                      host_name="real-guest", user_data=user_data)
    cleanup.append(instance_id)
    labkit.wait_status(ecs, instance_id, "Running", timeout=120)
    labkit.wait_console(ecs, instance_id, "VMTEST-GUEST-READY")
    got = ecs.describe_user_data(m.DescribeUserDataRequest(region_id=REGION, instance_id=instance_id)).body
    assert got.user_data == user_data
    body = ecs.attach_key_pair(m.AttachKeyPairRequest(region_id=REGION, key_pair_name=other,
                                                      instance_ids=json.dumps([instance_id]))).body
    assert (body.total_count, body.fail_count) == ("1", "0")
    inst = labkit.describe(ecs, instance_id)
    assert (inst.status, inst.key_pair_name, inst.host_name) == ("Running", other, "real-guest")
    assert b"RealGuest123!" not in stored_bytes(lab)
