"""HTTP fuzz (issue 13, Fuzzing): at least 10,000 requests against a running fake-driver server,
signed here by hand with RPC HMAC-SHA1 and ACS3-HMAC-SHA256 (and ROA HMAC-SHA1 for PAI-DSW) over
keep-alive connections from several threads: every action of every SDK this project drives, with
parameter names from the SDK's own request models and values that are sometimes valid and mostly
hostile (huge, unicode, control characters, repeated, negative and huge numbers, broken JSON, odd
percent-encodings), random extra headers, bad signatures, PAI-DSW REST paths, and raw malformed
HTTP on a socket.

Asserted for every reply: no 5xx (the wire front's 501/505 for a raw request it cannot frame
aside), and a well-formed envelope (JSON or, for Format=XML, XML) carrying a RequestId, which the
`x-acs-request-id` header repeats; errors carry Code and Message. Afterwards
the server is alive, still answers DescribeRegions through the SDK, and its log has no panic.

Deterministic: request n is built from random.Random(SEED, n) alone, whatever thread sends it;
the seed is printed (ECSLAB_FUZZ_SEED to change it, ECSLAB_FUZZ_REQUESTS for the count,
ECSLAB_FUZZ_THREADS for the senders).

Traffic: only to the server on loopback. Values that a server could read as a host are defused
(see `defuse`): no `://` and no `host.name/...` or `host:port/...`, so no value can name a
registry, webhook or bucket endpoint elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import socket
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import labkit
from conftest import _serve
from labkit import REGION

SEED = int(os.environ.get("ECSLAB_FUZZ_SEED", "20261313"))
REQUESTS = int(os.environ.get("ECSLAB_FUZZ_REQUESTS", "10000"))
RAW_SHARE = 0.04  # of REQUESTS: raw malformed HTTP on a fresh socket
THREADS = int(os.environ.get("ECSLAB_FUZZ_THREADS", "6"))

# (SDK package, API version) of every RPC product the server serves, plus ecslab's own admin product.
RPC_PRODUCTS = [
    ("alibabacloud_ecs20140526", "2014-05-26"),
    ("alibabacloud_vpc20160428", "2016-04-28"),
    ("alibabacloud_mts20140618", "2014-06-18"),
    ("alibabacloud_ecd20200930", "2020-09-30"),
    ("alibabacloud_ram20150501", "2015-05-01"),
    ("alibabacloud_sts20150401", "2015-04-01"),
]
ADMIN = ("ecslab-admin", ["CreateAccount"])
PAI_VERSION = "2022-01-01"


def sdk_actions(package: str) -> dict[str, list[str]]:
    """Every action of an SDK (from its client) with the parameter names its request model reads."""
    module = __import__(package)
    root = Path(module.__file__).parent
    actions = set(re.findall(r"action = '([A-Za-z0-9]+)'", (root / "client.py").read_text()))
    out = {}
    for action in sorted(actions):
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", action).lower()
        model = root / "models" / f"_{snake}_request.py"
        names = sorted(set(re.findall(r"m\.get\('([^']+)'\)", model.read_text()))) if model.exists() else []
        out[action] = names
    return out


# ---- values ------------------------------------------------------------------------------------------------

UNICODE = ["快速实例", "Ünïcödé", "🔥💥", "\u202eevil", "\u200b", "ｆｕｌｌ", "é" * 300, "\ufeffbom", "\U0010ffff",
           "a\u0000b", "line\r\nbreak", "tab\there", "\x7f\x1b[31m"]
NUMBERS = ["-1", "0", "-0", "1", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
           "9223372036854775808", "-9223372036854775809", "99999999999999999999999999", "1e9", "1.5", "NaN",
           "Infinity", "0x10", " 7 ", "+3", "007", "١٢٣"]
JSONISH = ["[", "]", "{}", "[]", '["a"', '["i-1","i-2"]', '[1,2,3]', '{"a":', '[' + '"x",' * 200 + '"y"]',
           "[" * 64 + "]" * 64,
           '{"Key":"k","Value":"v"}', "null", "true", '"str"', '[null]', "[" * 5000]
ODD = ["", " ", "%", "%%", "%zz", "%00", "%FF%FE", "+", "&", "=", "==", "a=b&c=d", "?", "#", "../../etc/passwd",
       "..", "' OR 1=1 --", "<script>x</script>", "${jndi}", "\\", "*", "?*", "true", "True", "FALSE", "yes",
       "local", "local-a", "cn-hangzhou", "i-", "i-0000000000000000", "sg-x", "vpc-x", "vsw-x", "d-x", "s-x",
       "m-x", "key-x", "ecs.t5-lc1m1.small", "cloud_essd", "PayAsYouGo", "Running", "Stopped", "VPC", "tcp",
       "22/22", "-1/-1", "0.0.0.0/0", "127.0.0.1", "::1", "10.0.0.0/8", "2026-12-06T12:00:00Z", "ssh-rsa AAAA"]


def defuse(value: str) -> str:
    """Make a value unable to name a remote host: no scheme, no `host.tld/...` or `host:port/...` head."""
    value = value.replace("://", ":_/")
    head, slash, tail = value.partition("/")
    if slash and ("." in head or ":" in head or head.lower() == "localhost"):
        head = head.replace(".", "_").replace(":", "_") + "_"
    return head + slash + tail


def value(rng: random.Random, valid: list[str]) -> str:
    kind = rng.random()
    if kind < 0.2 and valid:
        v = rng.choice(valid)
    elif kind < 0.35:
        v = rng.choice(NUMBERS)
    elif kind < 0.5:
        v = rng.choice(UNICODE)
    elif kind < 0.62:
        v = rng.choice(JSONISH)
    elif kind < 0.8:
        v = rng.choice(ODD)
    elif kind < 0.86:
        v = rng.choice("aZ9-_.") * rng.choice([129, 257, 1025, 4097, 20000])  # over every length limit
    elif kind < 0.93:
        v = "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 40)))
    else:
        v = "".join(rng.choice("abcxyz-_.:/ ") for _ in range(rng.randrange(1, 30)))
    return defuse(v)


def params_for(rng: random.Random, names: list[str], valid: list[str]) -> list[tuple[str, str]]:
    """Some of the action's parameters (some as `Name.N` / `Name.N.Field` lists), plus junk names."""
    pairs = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
        name = rng.choice(names) if names and rng.random() < 0.85 else rng.choice(
            ["RegionId", "InstanceId", "Tag", "PageSize", "MaxResults", "NextToken", "DryRun", "ClientToken", "x",
             "Format", "Action", "", "a.b.c", "Tag.0.Key", "Tag.999999999999.Key", "SecurityGroupIds.1"])
        shape = rng.random()
        if shape < 0.15:
            name = f"{name}.{rng.choice(['1', '2', '0', '-1', '21', '101', 'x', '1.Key', '1.Value', '3.Field'])}"
        id_like = name.endswith(("Id", "Ids", "Name", "Type")) and rng.random() < 0.4
        pairs.append((name, rng.choice(valid) if id_like else value(rng, valid)))
        if rng.random() < 0.05:
            pairs.append((name, value(rng, valid)))  # repeated
    if rng.random() < 0.7:
        pairs.append(("RegionId", rng.choice([REGION, REGION, "cn-beijing", "", "x" * 300])))
    return pairs


# ---- signing (docs/api/FACTS.md §3) ------------------------------------------------------------------------

def pct(s: str) -> str:
    return urllib.parse.quote(s, safe="-_.~")


def rpc_string_to_sign(method: str, pairs: list[tuple[str, str]]) -> str:
    canonical = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in pairs))
    return f"{method}&{pct('/')}&{pct(canonical)}"


def hmac_b64(key: str, text: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()).decode()


def encode_pairs(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in pairs)


def acs3_authorization(ak: str, secret: str, method: str, path: str, query: str, headers: dict, body: bytes):
    signed = sorted(h for h in headers if h == "host" or h.startswith("x-acs-") or h == "content-type")
    decoded = urllib.parse.parse_qsl(query, keep_blank_values=True)
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in decoded))
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    canonical = "\n".join([method, path or "/", canonical_query, canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={';'.join(signed)},Signature={signature}"


def roa_authorization(ak: str, secret: str, method: str, path: str, query: str, headers: dict) -> str:
    fixed = [headers.get(h, "") for h in ("accept", "content-md5", "content-type", "date")]
    acs = "".join(f"{k}:{v}\n" for k, v in sorted((k, v) for k, v in headers.items() if k.startswith("x-acs-")))
    decoded = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    resource = path + ("?" + "&".join(k if v == "" else f"{k}={v}" for k, v in decoded) if decoded else "")
    to_sign = f"{method}\n" + "\n".join(fixed) + "\n" + acs + resource
    return f"acs {ak}:{hmac_b64(secret, to_sign)}"


def now_iso(rng: random.Random) -> str:
    skew = timedelta(0) if rng.random() < 0.95 else timedelta(minutes=rng.choice([-60, 30, -100000]))
    return (datetime.now(timezone.utc) + skew).strftime("%Y-%m-%dT%H:%M:%SZ")


RANDOM_HEADERS = [("x-acs-foo", "bar"), ("accept", "application/xml"), ("accept", "*/*"),
                  ("x-forwarded-for", "1.2.3.4"),
                  ("user-agent", "fuzz/" + "u" * 3000), ("content-type", "application/json"),
                  ("content-type", "text/plain; charset=utf-16"), ("accept-encoding", "gzip, br"),
                  ("x-acs-security-token", "tok"), ("cookie", "a=b"), ("expect", "100-continue"),
                  ("x-acs-action", "DeleteInstance"), ("x-acs-version", "1999-01-01"), ("range", "bytes=0-1"),
                  ("x-acs-accesskey-id", "other"), ("origin", "null"), ("x-junk", "ü"), ("connection", "keep-alive")]


class Request:
    """One HTTP request to send: method, target, headers, body, and what the reply is expected to carry."""

    def __init__(self, method: str, target: str, headers: dict, body: bytes = b"", *, bad: bool = False):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.bad = bad  # signed wrongly on purpose


def build(n: int, lab, catalog) -> Request:
    rng = random.Random(f"{SEED}-{n}")
    ak, secret = lab.access_key_id, lab.access_key_secret
    kind = rng.random()
    if kind < 0.09:
        return build_pai(rng, lab)
    version, action, names = pick_action(rng, catalog)
    pairs = params_for(rng, names, catalog["valid"])
    if rng.random() < 0.03:
        pairs.append(("Format", rng.choice(["XML", "xml", "JSON", "yaml", ""])))
    headers = {"host": lab.endpoint}
    extra = rng.sample(RANDOM_HEADERS, rng.choice([0, 0, 0, 1, 2, 4]))
    bad = rng.random() < 0.08  # a bad signature of some kind
    nonce = f"{SEED}-{n}-{rng.getrandbits(48):x}"
    if kind < 0.55:
        method = rng.choice(["GET", "GET", "POST"])
        signed = [("Action", action), ("Version", version), ("AccessKeyId", ak), ("SignatureMethod", "HMAC-SHA1"),
                  ("SignatureVersion", "1.0"), ("SignatureNonce", nonce), ("Timestamp", now_iso(rng)),
                  ("Format", "JSON")]
        if any(k == "Format" for k, _ in pairs):
            signed = [p for p in signed if p[0] != "Format"]
        signed += pairs
        signature = hmac_b64(secret + "&", rpc_string_to_sign(method, signed))
        if bad:
            signature = rng.choice([signature[:-2] + "AA", "", "%%%", signature + "x", "A" * 5000])
            if rng.random() < 0.3:
                signed = [p for p in signed if p[0] != rng.choice(["SignatureNonce", "Timestamp", "AccessKeyId"])]
        encoded = encode_pairs(signed + [("Signature", signature)])
        headers.update(extra)
        if method == "GET":
            return Request("GET", "/?" + encoded, headers, bad=bad)
        headers["content-type"] = "application/x-www-form-urlencoded"
        return Request("POST", "/", headers, encoded.encode(), bad=bad)
    # ACS3, the SDK default: parameters in the query.
    query = encode_pairs(pairs)
    headers.update({"x-acs-action": action, "x-acs-version": version, "x-acs-date": now_iso(rng),
                    "x-acs-signature-nonce": nonce, "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()})
    for k, v in extra:
        headers.setdefault(k, v)
    headers["authorization"] = acs3_authorization(ak, secret, "POST", "/", query, headers, b"")
    if bad:
        corrupt = rng.choice(["sig", "ak", "alg", "drop", "junk"])
        auth = headers["authorization"]
        headers["authorization"] = {
            "sig": auth[:-3] + "000",
            "ak": auth.replace(f"Credential={ak}", "Credential=LTAInotakey"),
            "alg": auth.replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", 1),
            "drop": auth.split(",Signature=")[0],
            "junk": rng.choice(["", "ACS3-", "Bearer x", "acs", "acs :", "ACS3-HMAC-SHA256 ,,,,=,="]),
        }[corrupt]
    return Request("POST", "/?" + query if query else "/", headers, bad=bad)


def pick_action(rng: random.Random, catalog) -> tuple[str, str, list[str]]:
    if rng.random() < 0.03:
        return ADMIN[0], rng.choice(ADMIN[1] + ["Nope"]), ["AccountName", "Name"]
    if rng.random() < 0.03:
        return rng.choice(["2014-05-26", "", "9999-99-99", "ecslab"]), rng.choice(["", "X" * 500, "Describe*"]), []
    # Mostly the actions the server implements (found by the probe), the others answer InvalidAction.
    pool = catalog["served"] if rng.random() < 0.8 and catalog["served"] else catalog["all"]
    version, action = rng.choice(pool)
    return version, action, catalog["params"][(version, action)]


def build_pai(rng: random.Random, lab) -> Request:
    """PAI-DSW's REST routes (ACS3 or ROA V1 signed), with hostile ids, queries and JSON bodies."""
    instance = defuse(rng.choice(["dsw-fuzz", "dsw-" + "9" * 20, "", "..", "%2e%2e", "a b", "%zz", "快", "i%2Fx"]))
    instance = instance if instance.startswith("%") else pct(instance)
    tail = rng.choice(["snapshots", "snapshots/" + pct(defuse(rng.choice(ODD) or "x")), "snapshots/", "", "x/y/z",
                       "snapshots/s-1/extra", "idleinstanceculler"])
    path = f"/api/v2/instances/{instance}/{tail}"
    if rng.random() < 0.05:
        path = rng.choice(["/api/v2/instances", "/api/v2/"])
    method = rng.choice(["GET", "POST", "DELETE", "PUT"])
    query = encode_pairs([(rng.choice(["PageNumber", "PageSize", "SortBy", "Order", "x", "Labels"]),
                           value(rng, ["1", "10"])) for _ in range(rng.choice([0, 1, 3]))])
    fields = {"SnapshotName": rng.choice(["s-1", value(rng, [])]),
              "ImageUrl": defuse(rng.choice(["img:v1", value(rng, [])])),
              "ExcludePaths": rng.choice([["/tmp/x"], [value(rng, [])] * 3, "nope", None, 5]),
              "Labels": rng.choice([[{"Key": "k", "Value": "v"}], [{"Key": value(rng, [])}], {}, None]),
              "Overwrite": rng.choice([True, False, "yes", 1, None])}
    body_kind = rng.random()
    if method in ("POST", "PUT") and body_kind < 0.7:
        sent = {k: v for k, v in fields.items() if rng.random() < 0.8}
        body = json.dumps(sent, ensure_ascii=rng.random() < 0.5).encode()
    elif method in ("POST", "PUT") and body_kind < 0.85:
        body = rng.choice([b"{", b"[]", b"null", b"\xff\xfe", b'{"SnapshotName":' + b"[" * 3000, b"x" * 70000])
    else:
        body = b""
    headers = {"host": lab.endpoint, "accept": "application/json", "x-acs-action": rng.choice(
        ["CreateInstanceSnapshot", "ListInstanceSnapshot", "GetInstanceSnapshot", "DeleteInstanceSnapshot", "Nope"]),
        "x-acs-version": rng.choice([PAI_VERSION, PAI_VERSION, "2019-01-01"]),
        "x-acs-signature-nonce": f"{SEED}-{rng.getrandbits(64):x}"}
    if body:
        headers["content-type"] = "application/json"
    if rng.random() < 0.5:
        headers.update({"x-acs-date": now_iso(rng), "x-acs-content-sha256": hashlib.sha256(body).hexdigest()})
        headers["authorization"] = acs3_authorization(lab.access_key_id, lab.access_key_secret, method, path, query,
                                                      headers, body)
    else:
        headers.update({"date": datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"),
                        "x-acs-signature-method": "HMAC-SHA1", "x-acs-signature-version": "1.0"})
        headers["authorization"] = roa_authorization(lab.access_key_id, lab.access_key_secret, method, path, query,
                                                     headers)
    bad = rng.random() < 0.06
    if bad:
        headers["authorization"] = headers["authorization"][:-4] + "AAAA"
    return Request(method, path + ("?" + query if query else ""), headers, body, bad=bad)


def raw_request(n: int, lab) -> bytes:
    """Malformed HTTP, sent as bytes on a fresh socket."""
    rng = random.Random(f"{SEED}-raw-{n}")
    host = f"Host: {lab.endpoint}\r\n".encode()
    choices = [
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n" + host + b"\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"Content-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n" + host + b"\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"X: " + b"y" * 70000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"".join(b"H%d: v\r\n" % i for i in range(200)) + b"\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"Bad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"X: \x00\x01\x7f\r\n\r\n",
        b"G\xffT / HTTP/1.1\r\n" + host + b"\r\n",
        b"GET /?Action=DescribeRegions&%zz=%%% HTTP/1.1\r\n" + host + b"\r\n",
        b"GET http://127.0.0.1/ HTTP/1.1\r\n" + host + b"\r\n",
        b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),  # a TLS ClientHello
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ]
    data = rng.choice(choices)
    if rng.random() < 0.3:  # flip some bytes of it
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 6)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        data = bytes(buf)
    return data


# ---- checks --------------------------------------------------------------------------------------------------

def envelope_problem(status: int, content_type: str, body: bytes, header_id: str | None) -> str | None:
    """Why a reply is not a well-formed envelope whose RequestId the x-acs-request-id header repeats, or None."""
    if content_type.startswith("text/xml") or content_type.startswith("application/xml"):
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return f"XML that does not parse ({e})"
        if not root.findtext("RequestId"):
            return "XML without RequestId"
        return None if header_id == root.findtext("RequestId") else f"x-acs-request-id {header_id!r}"
    if not content_type.startswith("application/json"):
        return f"content-type {content_type!r}"
    try:
        doc = json.loads(body)
    except ValueError as e:
        return f"JSON that does not parse ({e})"
    if not isinstance(doc, dict) or not isinstance(doc.get("RequestId"), str) or not doc["RequestId"]:
        return "JSON without RequestId"
    if status >= 400 and not (doc.get("Code") and isinstance(doc.get("Message"), str)):
        return "an error without Code and Message"
    return None if header_id == doc["RequestId"] else f"x-acs-request-id {header_id!r}"


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.codes: Counter = Counter()
        self.failures: list[str] = []
        self.closed = 0  # raw requests the server answered by closing the connection

    def record(self, what: str, status: int, content_type: str, body: bytes, header_id: str | None, *,
               raw: bool = False):
        problem = None
        allowed_5xx = {501, 505} if raw else set()
        if status >= 500 and status not in allowed_5xx:
            problem = f"status {status}"
        else:
            problem = envelope_problem(status, content_type, body, header_id)
        code = ""
        if content_type.startswith("application/json"):
            try:
                code = json.loads(body).get("Code", "") or ""
            except (ValueError, AttributeError):
                pass
        with self.lock:
            self.statuses[status] += 1
            self.codes[code or ("OK" if status < 400 else "?")] += 1
            if problem and len(self.failures) < 30:
                self.failures.append(f"{what}: {problem}; {status} {content_type} {body[:300]!r}")


def send_all(lab, catalog, indices: list[int], results: Results) -> None:
    conn = None
    for n in indices:
        req = build(n, lab, catalog)
        for attempt in (1, 2):
            if conn is None:
                conn = http.client.HTTPConnection(lab.host, lab.port, timeout=30)
            try:
                conn.putrequest(req.method, req.target, skip_host=True, skip_accept_encoding=True)
                for k, v in req.headers.items():
                    conn.putheader(k, v.encode("utf-8") if isinstance(v, str) else v)
                conn.putheader("content-length", str(len(req.body)))
                conn.endheaders(req.body)
                resp = conn.getresponse()
                body = resp.read()
                results.record(f"#{n} {req.method} {req.target[:120]}", resp.status,
                               resp.getheader("content-type", ""), body, resp.getheader("x-acs-request-id"))
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
                break
            except (http.client.HTTPException, ConnectionError, socket.timeout) as e:
                conn.close()
                conn = None
                if attempt == 2:
                    with results.lock:
                        results.failures.append(f"#{n} {req.method} {req.target[:120]}: no reply ({e!r})")
    if conn is not None:
        conn.close()


def send_raw(lab, n: int, results: Results) -> None:
    data = raw_request(n, lab)
    with socket.create_connection((lab.host, lab.port), timeout=30) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse (and close) before reading everything
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    reply = b"".join(chunks)
    if not reply:
        with results.lock:
            results.closed += 1  # closing a connection that sent nothing parseable is a fine answer
        return
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0])
    if not m:
        with results.lock:
            results.failures.append(f"raw #{n} {data[:60]!r}: reply is not HTTP: {reply[:200]!r}")
        return
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(fields.get("content-length", len(body)))
    results.record(f"raw #{n} {data[:60]!r}", int(m.group(1)), fields.get("content-type", ""), body[:length],
                   fields.get("x-acs-request-id"), raw=True)


# ---- the test ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_lab(prerequisites):
    """A fake-driver server of its own: the fuzz creates and deletes at random, so it shares no server."""
    yield from _serve(prerequisites, driver="fake", extra_args=["--stop-grace-secs", "5"], name="ecslab-pyfuzz")


def catalog_of(lab, results: Results) -> dict:
    """Every SDK action with its parameter names, and which of them the server serves (one probe each)."""
    params, every = {}, []
    for package, version in RPC_PRODUCTS:
        for action, names in sdk_actions(package).items():
            params[(version, action)] = names
            every.append((version, action))
    for action in ADMIN[1]:
        params[(ADMIN[0], action)] = []
        every.append((ADMIN[0], action))
    served = []
    conn = http.client.HTTPConnection(lab.host, lab.port, timeout=30)
    for version, action in every:
        p = labkit.rpc_params(lab, action, {"Version": version})
        conn.request("GET", "/?" + urllib.parse.urlencode(p, quote_via=urllib.parse.quote))
        resp = conn.getresponse()
        body = resp.read()
        results.record(f"probe {version} {action}", resp.status, resp.getheader("content-type", ""), body,
                       resp.getheader("x-acs-request-id"))
        if json.loads(body).get("Code") not in ("InvalidAction.NotFound", "InvalidVersion"):
            served.append((version, action))
    conn.close()
    # Real ids, so that some requests get past the lookups into the code behind them.
    vpc_id, vswitch_id, group_id = labkit.make_network(lab, "10.13.0.0/16", "10.13.1.0/24")
    instance_id = labkit.create_instance(lab.client(), lab.image_id, instance_name="fuzz-target",
                                         v_switch_id=vswitch_id, security_group_id=group_id)
    valid = [REGION, f"{REGION}-a", lab.image_id, "ecs.lab.tiny", "10", "1", "true", "false", vpc_id, vswitch_id,
             group_id, instance_id, json.dumps([instance_id]), json.dumps([lab.image_id]), "fuzz-name"]
    return {"params": params, "all": every, "served": served, "valid": valid, "probed": len(every)}


def test_http_fuzz(fuzz_lab):
    lab = fuzz_lab
    print(f"\nHTTP fuzz: seed {SEED} (ECSLAB_FUZZ_SEED), {REQUESTS} requests, {THREADS} threads")
    started = time.monotonic()
    results = Results()
    catalog = catalog_of(lab, results)
    assert len(catalog["served"]) >= 50, f"the probe found only {len(catalog['served'])} served actions"
    raw_count = int(REQUESTS * RAW_SHARE)
    http_count = REQUESTS - raw_count - catalog["probed"]
    slices = [list(range(t, http_count, THREADS)) for t in range(THREADS)]
    threads = [threading.Thread(target=send_all, args=(lab, catalog, s, results)) for s in slices]
    threads.append(threading.Thread(target=lambda: [send_raw(lab, n, results) for n in range(raw_count)]))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    answered = sum(results.statuses.values())
    print(f"{answered + results.closed} requests in {elapsed:.1f} s ({catalog['probed']} probes, "
          f"{len(catalog['served'])} actions served, {results.closed} raw ones closed without a reply); "
          f"statuses {dict(sorted(results.statuses.items()))}; top codes {results.codes.most_common(12)}")
    assert not results.failures, "\n".join(results.failures)
    assert answered + results.closed == max(REQUESTS, catalog["probed"] + raw_count)
    assert answered >= 0.95 * REQUESTS

    # The server is alive and still serves an SDK call; its log has no panic.
    assert lab.process.poll() is None, lab.log_tail()
    regions = lab.client().describe_regions(labkit.ecs_models.DescribeRegionsRequest()).body.regions.region
    assert [r.region_id for r in regions] == [REGION]
    log = lab.log_path.read_text(errors="replace")
    assert "panicked" not in log and "RUST_BACKTRACE" not in log, log[-3000:]
