"""What the SDK never sends but other clients do, checked with requests signed here by hand:
`Format=XML` replies, GET and form-POST RPC requests, and the anti-replay checks (nonce reuse,
timestamps outside the 15-minute window) for both RPC HMAC-SHA1 and ACS3-HMAC-SHA256."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

import labkit
from labkit import REGION


@pytest.fixture(scope="module")
def listed(lab):
    """One Stopped instance, so that the XML list has an element in it."""
    client = lab.client()
    iid = labkit.create_instance(client, lab.image_id, instance_name="wire-xml")
    yield iid
    labkit.force_delete(client, iid)


def error_of(reply: labkit.RawReply) -> tuple[int, str]:
    assert reply.content_type.startswith("application/json"), reply.content_type
    return reply.status, reply.json()["Code"]


def test_xml_success(lab, listed):
    params = labkit.rpc_params(lab, "DescribeInstances", {
        "RegionId": REGION, "Format": "XML", "InstanceIds": json.dumps([listed])})
    reply = labkit.send_rpc(lab, params)
    assert reply.status == 200, reply.body
    assert reply.content_type.startswith("text/xml"), reply.content_type
    assert reply.body.startswith(b"<?xml"), reply.body[:80]
    root = ET.fromstring(reply.body)
    assert root.tag == "DescribeInstancesResponse"
    assert root.findtext("RequestId")
    assert root.findtext("TotalCount") == "1"
    instances = root.findall("./Instances/Instance")
    assert len(instances) == 1
    assert instances[0].findtext("InstanceId") == listed
    assert instances[0].findtext("Status") == "Stopped"
    assert instances[0].findtext("InstanceName") == "wire-xml"


def test_xml_format_is_case_insensitive(lab):
    reply = labkit.send_rpc(lab, labkit.rpc_params(lab, "DescribeRegions", {"Format": "xml"}))
    assert reply.status == 200
    root = ET.fromstring(reply.body)
    assert root.tag == "DescribeRegionsResponse"
    assert [r.text for r in root.iter("RegionId")] == [REGION]


def test_xml_error(lab):
    params = labkit.rpc_params(lab, "StartInstance", {"InstanceId": "i-doesnotexist", "Format": "XML"})
    reply = labkit.send_rpc(lab, params)
    assert reply.status == 404
    # The SDK parses an error as XML only when the Content-Type is exactly this.
    assert reply.content_type == "text/xml;charset=utf-8"
    root = ET.fromstring(reply.body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidInstanceId.NotFound"
    assert root.findtext("RequestId") and root.findtext("HostId") and root.findtext("Message")


def test_xml_error_before_authentication(lab):
    """A bad signature is refused in the format asked for too."""
    params = labkit.rpc_params(lab, "DescribeRegions", {"Format": "XML"}, secret="wrong-secret")
    reply = labkit.send_rpc(lab, params)
    assert reply.status == 400
    assert reply.content_type == "text/xml;charset=utf-8"
    root = ET.fromstring(reply.body)
    assert (root.tag, root.findtext("Code")) == ("Error", "SignatureDoesNotMatch")
    assert "server string to sign is:GET&%2F&" in root.findtext("Message")


def test_json_is_the_default(lab):
    params = labkit.rpc_params(lab, "DescribeRegions")
    del params["Format"]
    params["Signature"] = labkit.rpc_sign({k: v for k, v in params.items() if k != "Signature"}, lab.access_key_secret)
    reply = labkit.send_rpc(lab, params)
    assert reply.status == 200
    assert reply.content_type.startswith("application/json")
    assert reply.json()["Regions"]["Region"][0]["RegionId"] == REGION


def test_form_post(lab):
    """Parameters in an x-www-form-urlencoded body are signed and used like query ones."""
    params = labkit.rpc_params(lab, "DescribeInstances", {"RegionId": REGION, "PageSize": "1"}, method="POST")
    reply = labkit.send_rpc(lab, params, method="POST")
    assert reply.status == 200, reply.body
    assert reply.json()["PageSize"] == 1


def test_rpc_nonce_reuse(lab):
    params = labkit.rpc_params(lab, "DescribeRegions", {"RegionId": REGION})
    first = labkit.send_rpc(lab, params)
    assert first.status == 200, first.body
    again = labkit.send_rpc(lab, params)
    assert error_of(again) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize("skew", [timedelta(minutes=-20), timedelta(minutes=20)], ids=["past", "future"])
def test_rpc_timestamp_outside_window(lab, skew):
    params = labkit.rpc_params(lab, "DescribeRegions", {"RegionId": REGION}, timestamp=labkit.utc_timestamp(skew))
    assert error_of(labkit.send_rpc(lab, params)) == (400, "InvalidTimeStamp.Expired")


def test_rpc_timestamp_inside_window(lab):
    params = labkit.rpc_params(lab, "DescribeRegions", {"RegionId": REGION},
                               timestamp=labkit.utc_timestamp(timedelta(minutes=-10)))
    assert labkit.send_rpc(lab, params).status == 200


def test_rpc_malformed_timestamp(lab):
    params = labkit.rpc_params(lab, "DescribeRegions", {"RegionId": REGION}, timestamp="yesterday")
    assert error_of(labkit.send_rpc(lab, params)) == (400, "InvalidTimeStamp.Format")


def test_acs3_nonce_reuse(lab):
    query = {"RegionId": REGION}
    headers = labkit.acs3_headers(lab, "DescribeRegions", query)
    first = labkit.send_acs3(lab, query, headers)
    assert first.status == 200, first.body
    assert first.json()["Regions"]["Region"][0]["RegionId"] == REGION
    assert error_of(labkit.send_acs3(lab, query, headers)) == (400, "SignatureNonceUsed")


def test_acs3_expired_date(lab):
    query = {"RegionId": REGION}
    headers = labkit.acs3_headers(lab, "DescribeRegions", query, date=labkit.utc_timestamp(timedelta(minutes=-20)))
    assert error_of(labkit.send_acs3(lab, query, headers)) == (400, "InvalidTimeStamp.Expired")


def test_nonce_is_per_signature_not_per_request_content(lab):
    """The nonce alone identifies a replay: a different, validly signed request that reuses a
    nonce already seen is refused too."""
    nonce = uuid.uuid4().hex
    first = labkit.send_rpc(lab, labkit.rpc_params(lab, "DescribeRegions", {"RegionId": REGION}, nonce=nonce))
    assert first.status == 200
    other = labkit.send_rpc(lab, labkit.rpc_params(lab, "DescribeZones", {"RegionId": REGION}, nonce=nonce))
    assert error_of(other) == (400, "SignatureNonceUsed")
