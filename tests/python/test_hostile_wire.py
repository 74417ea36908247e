"""Hostile wire input through the official SDKs and raw signed requests (issue 15, classes 4-6),
on a server of its own (`--driver fake`, short header-read timeout):

- user text with characters XML 1.0 cannot carry (U+0001, NUL, U+FFFF) is stored as sent (JSON
  gives it back exactly) and every `Format=XML` reply stays well-formed: U+FFFD takes their place;
- replay: a ROA V1 request (PAI-DSW route) replayed byte for byte is refused
  (SignatureNonceUsed), also after a server restart; a request without a nonce is refused
  (MissingSignatureNonce) in every scheme;
- slow clients: 200 slow-loris connections while SDK calls keep their normal latency, and each
  slow connection closed within the header-read timeout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import socket
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from email.utils import formatdate

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_mts20140618 import models as mts_models
from alibabacloud_mts20140618.client import Client as MtsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

import labkit
from labkit import REGION

HEADER_READ_TIMEOUT = 3
HOSTILE = "a\x01b\x00c\uffffd\x1fe\ufffef\x0bg"
# What an XML reply carries instead: every character XML 1.0 forbids becomes U+FFFD.
HOSTILE_IN_XML = "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg"
PAI_VERSION = "2022-01-01"
MTS_VERSION = "2014-06-18"


def serve_args(lab_endpoint: str, data_dir) -> list[str]:
    return [str(labkit.server_binary()), "serve", "--listen", lab_endpoint, "--data-dir", str(data_dir),
            "--accel", "tcg", "--region", REGION, "--driver", "fake",
            "--header-read-timeout-secs", str(HEADER_READ_TIMEOUT)]


@pytest.fixture(scope="module")
def wire_lab(prerequisites):
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-pywire",
                              extra_args=["--header-read-timeout-secs", str(HEADER_READ_TIMEOUT)])
    yield lab
    labkit.stop_server(lab)


def restart(lab) -> None:
    """SIGTERM the server and start it again on the same data dir and port."""
    lab.process.send_signal(signal.SIGTERM)
    lab.process.wait(timeout=15)
    log = open(lab.log_path, "ab")
    lab.process = subprocess.Popen(serve_args(lab.endpoint, lab.data_dir), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    log.close()
    port = int(lab.endpoint.rsplit(":", 1)[1])
    deadline = time.monotonic() + 30
    while not labkit._port_open(port):
        assert lab.process.poll() is None and time.monotonic() < deadline, lab.log_tail()
        time.sleep(0.05)


def rpc(lab, action: str, params: dict, version: str = labkit.ECS_VERSION) -> labkit.RawReply:
    return labkit.send_rpc(lab, labkit.rpc_params(lab, action, {"Version": version, **params}))


def xml_of(reply: labkit.RawReply) -> ET.Element:
    assert reply.content_type == "text/xml;charset=utf-8", (reply.status, reply.content_type, reply.body[:200])
    return ET.fromstring(reply.body)  # raises on anything not well-formed


def mts_client(lab, algorithm: str | None) -> MtsClient:
    kwargs = dict(access_key_id=lab.access_key_id, access_key_secret=lab.access_key_secret,
                  region_id=REGION, endpoint=lab.endpoint, protocol="http")
    if algorithm:
        kwargs["signature_algorithm"] = algorithm
    return MtsClient(open_api_models.Config(**kwargs))


# ---- class 4: XML replies are well-formed whatever is stored -----------------------------------


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_disk_description_with_control_characters(wire_lab, algorithm):
    client = wire_lab.client(dict(labkit.ALGORITHMS)[algorithm])
    description = f"{HOSTILE} {algorithm}"
    disk_id = client.create_disk(ecs_models.CreateDiskRequest(
        region_id=REGION, size=1, disk_name=f"hostile-{algorithm}", description=description)).body.disk_id
    # JSON keeps the exact value, through the SDK.
    disks = client.describe_disks(ecs_models.DescribeDisksRequest(
        region_id=REGION, disk_ids=json.dumps([disk_id]))).body.disks.disk
    assert [d.description for d in disks] == [description]
    # XML: one well-formed document, U+FFFD in place of each forbidden character.
    root = xml_of(rpc(wire_lab, "DescribeDisks", {"RegionId": REGION, "Format": "XML"}))
    assert root.tag == "DescribeDisksResponse"
    described = {d.findtext("DiskId"): d.findtext("Description") for d in root.iter("Disk")}
    assert described[disk_id] == f"{HOSTILE_IN_XML} {algorithm}"


def test_mts_pipeline_name_with_control_characters(wire_lab):
    client = mts_client(wire_lab, None)
    name = f"p{HOSTILE}"
    pipeline = client.add_pipeline(mts_models.AddPipelineRequest(name=name)).body.pipeline
    listed = client.query_pipeline_list(mts_models.QueryPipelineListRequest(pipeline_ids=pipeline.id)).body
    assert [p.name for p in listed.pipeline_list.pipeline] == [name]
    root = xml_of(rpc(wire_lab, "QueryPipelineList", {"PipelineIds": pipeline.id, "Format": "XML"}, MTS_VERSION))
    assert [p.findtext("Name") for p in root.iter("Pipeline")] == [f"p{HOSTILE_IN_XML}"]


def test_error_messages_quoting_control_characters_stay_well_formed(wire_lab):
    # A parameter name and values with control characters, echoed by the error message.
    for action, params in [
        ("StartInstance", {"InstanceId": f"i-{HOSTILE}"}),
        ("DescribeInstances", {"RegionId": f"r{HOSTILE}"}),
        (f"Describe{HOSTILE}", {}),
        ("DescribeInstances", {"RegionId": REGION, "PageSize": f"1{HOSTILE}"}),
        ("DescribeInstances", {"RegionId": REGION, f"Tag.1.Key{HOSTILE}": "x", "MaxResults": f"x{HOSTILE}"}),
    ]:
        reply = rpc(wire_lab, action, {**params, "Format": "XML"})
        assert 400 <= reply.status < 500, (action, params, reply.status, reply.body)
        root = xml_of(reply)
        assert root.tag == "Error" and root.findtext("Code") and root.findtext("RequestId"), reply.body
        # The same error in JSON carries the exact characters wherever it quotes them.
        reply = rpc(wire_lab, action, params)
        assert reply.json()["Code"] == root.findtext("Code")


# ---- class 5: replay ----------------------------------------------------------------------------


def roa_request(lab, method: str, path: str, *, action: str, nonce: str | None) -> bytes:
    """A ROA V1 (`acs AK:sig`, HMAC-SHA1) request as bytes, signed here as the SDK's v2 mode signs."""
    headers = {
        "accept": "application/json",
        "date": formatdate(usegmt=True),
        "x-acs-signature-method": "HMAC-SHA1",
        "x-acs-signature-version": "1.0",
        "x-acs-version": PAI_VERSION,
        "x-acs-action": action,
    }
    if nonce is not None:
        headers["x-acs-signature-nonce"] = nonce
    acs = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-acs-"))
    string_to_sign = f"{method}\n{headers['accept']}\n\n\n{headers['date']}\n{acs}{path}"
    signature = base64.b64encode(hmac.new(lab.access_key_secret.encode(), string_to_sign.encode(),
                                          hashlib.sha1).digest()).decode()
    headers["authorization"] = f"acs {lab.access_key_id}:{signature}"
    headers["host"] = lab.endpoint
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\nconnection: close\r\n\r\n").encode()


def send_raw(lab, data: bytes) -> tuple[int, dict]:
    host, port = lab.endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_roa_replay_is_refused_also_after_a_restart(wire_lab):
    path = "/api/v2/instances/dsw-nothere0000001/snapshots"
    request = roa_request(wire_lab, "GET", path, action="ListInstanceSnapshot", nonce=uuid.uuid4().hex)
    status, body = send_raw(wire_lab, request)
    # Authenticated, then routed: the instance does not exist.
    assert (status, body["Code"]) == (404, "InstanceNotFound"), body
    status, body = send_raw(wire_lab, request)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed"), body
    restart(wire_lab)
    status, body = send_raw(wire_lab, request)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed"), body
    # A fresh nonce still works after the restart.
    fresh = roa_request(wire_lab, "GET", path, action="ListInstanceSnapshot", nonce=uuid.uuid4().hex)
    assert send_raw(wire_lab, fresh)[1]["Code"] == "InstanceNotFound"


def test_roa_without_nonce_is_refused(wire_lab):
    path = "/api/v2/instances/dsw-nothere0000001/snapshots"
    for nonce in (None, ""):
        status, body = send_raw(wire_lab, roa_request(wire_lab, "GET", path, action="ListInstanceSnapshot",
                                                      nonce=nonce))
        assert (status, body["Code"]) == (400, "MissingSignatureNonce"), body
        assert "x-acs-signature-nonce" in body["Message"] and body["RequestId"]


def test_rpc_and_acs3_without_nonce_are_refused(wire_lab):
    params = labkit.rpc_params(wire_lab, "DescribeRegions")
    del params["SignatureNonce"]
    params["Signature"] = labkit.rpc_sign({k: v for k, v in params.items() if k != "Signature"},
                                          wire_lab.access_key_secret)
    reply = labkit.send_rpc(wire_lab, params)
    assert (reply.status, reply.json()["Code"]) == (400, "MissingSignatureNonce"), reply.body
    headers = labkit.acs3_headers(wire_lab, "DescribeRegions", {})
    del headers["x-acs-signature-nonce"]
    reply = labkit.send_acs3(wire_lab, {}, headers)
    assert (reply.status, reply.json()["Code"]) == (400, "MissingSignatureNonce"), reply.body


def test_rpc_replay_is_refused_after_a_restart(wire_lab):
    params = labkit.rpc_params(wire_lab, "DescribeRegions")
    assert labkit.send_rpc(wire_lab, params).status == 200
    restart(wire_lab)
    reply = labkit.send_rpc(wire_lab, params)
    assert (reply.status, reply.json()["Code"]) == (400, "SignatureNonceUsed")


# ---- class 6: slow clients ----------------------------------------------------------------------


def loris(endpoint: str, kind: str, results: list, index: int) -> None:
    """One slow client: silent, blank lines, half a request line at 1 byte/s, or headers byte by byte."""
    host, port = endpoint.rsplit(":", 1)
    drip = {"silent": b"", "blank": b"\r\n" * 100, "half": b"GET /?Action=DescribeRegions&Version=2014-05-26",
            "headers": b"GET / HTTP/1.1\r\nHost: loris\r\nX-Slow: " + b"a" * 50}[kind]
    opened = time.monotonic()
    got = b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.settimeout(1.0 if kind == "half" else 0.3)
        sent = 0
        while time.monotonic() - opened < 30:
            if sent < len(drip):
                try:
                    s.sendall(drip[sent:sent + 1])
                    sent += 1
                except OSError:
                    break
            try:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            except socket.timeout:
                continue
            except OSError:
                break
    results[index] = (kind, time.monotonic() - opened, got)


def test_slow_loris_does_not_starve_sdk_calls(wire_lab):
    kinds = ["silent", "blank", "half", "headers"]
    results: list = [None] * 200
    threads = [threading.Thread(target=loris, args=(wire_lab.endpoint, kinds[i % 4], results, i))
               for i in range(200)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    latencies = []
    for i in range(30):
        client = wire_lab.client(dict(labkit.ALGORITHMS)["v2" if i % 2 else "acs3"])
        t0 = time.monotonic()
        client.describe_regions(ecs_models.DescribeRegionsRequest())
        latencies.append(time.monotonic() - t0)
    for t in threads:
        t.join(timeout=40)
    latencies.sort()
    assert latencies[int(len(latencies) * 0.95)] < 1.0, latencies
    for kind, open_for, got in results:
        assert HEADER_READ_TIMEOUT - 0.5 <= open_for < HEADER_READ_TIMEOUT + 4, (kind, open_for)
        if kind == "silent":
            assert got == b""
        else:
            assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), (kind, got[:200])
            assert json.loads(got.partition(b"\r\n\r\n")[2])["Code"] == "RequestTimeout"
