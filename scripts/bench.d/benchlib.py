"""Shared helpers for scripts/bench sections: a lean ECS RPC client, a QMP client, statistics, machine facts and
the docs/BENCHMARKS.md section writer. Standard library only (sections import Pillow themselves).

`python benchlib.py write-section DOC SECTION_MD` replaces, in DOC, the `## <title>` section whose title is the
first `## ` line of SECTION_MD (up to the next `## ` heading), or appends it.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- ECS RPC client, signature V1 (HMAC-SHA1), hand-rolled ---------------------------------------------------------

def percent_encode(s):
    # RFC 3986: unreserved characters stay, everything else %XY upper case; space -> %20, * -> %2A.
    return urllib.parse.quote(str(s), safe="-_.~")


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class RpcClient:
    """Keep-alive HTTP/1.1 client for ECS RPC actions, signing each request by hand (docs/api/FACTS.md 3.1).

    `call` returns the parsed JSON reply. The connection is reopened only after a failure."""

    def __init__(self, endpoint, access_key_id, access_key_secret, version="2014-05-26", region="local"):
        host, _, port = endpoint.partition(":")
        self.host, self.port = host, int(port or 80)
        self.ak, self.key = access_key_id, (access_key_secret + "&").encode()
        self.version, self.region = version, region
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def signed_url(self, action, params):
        q = {
            "AccessKeyId": self.ak,
            "Action": action,
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "Version": self.version,
        }
        q.update(params)
        canon = "&".join(percent_encode(k) + "=" + percent_encode(v) for k, v in sorted(q.items()))
        string_to_sign = "GET&%2F&" + percent_encode(canon)
        sig = base64.b64encode(hmac.new(self.key, string_to_sign.encode(), hashlib.sha1).digest()).decode()
        return "/?" + canon + "&Signature=" + percent_encode(sig)

    def raw(self, action, params=None):
        """One signed GET; returns the response body bytes (raises ApiError on a non-2xx answer)."""
        url = self.signed_url(action, params or {})
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self._connect()
                self.conn.request("GET", url, headers={"Accept": "application/json"})
                resp = self.conn.getresponse()
                body = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn = None
                if attempt:
                    raise
        if resp.status // 100 != 2:
            raise ApiError(resp.status, body)
        return body

    def call(self, action, params=None):
        return json.loads(self.raw(action, params))


def client_from_env():
    return RpcClient(os.environ["ECSLAB_ENDPOINT"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                     os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"])


# --- QMP ------------------------------------------------------------------------------------------------------------

class Qmp:
    """Minimal synchronous QMP client over a UNIX socket."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(f"QMP {name}: {r['error']}")

    def close(self):
        self.sock.close()


# --- statistics -----------------------------------------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds; a process already gone is left alone."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_fake_server(binary, tmp, name):
    """`ecslab serve --driver fake` on a free loopback port with its data dir under `tmp`; waits until it answers.
    Returns (process, endpoint, the admin credentials)."""
    data = os.path.join(tmp, name)
    os.makedirs(data, exist_ok=True)
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    log_file = open(os.path.join(tmp, f"{name}-server.log"), "wb")
    env = dict(os.environ, ECSLAB_LOG=os.environ.get("ECSLAB_LOG", "warn"))
    proc = subprocess.Popen([binary, "serve", "--listen", endpoint, "--data-dir", data, "--driver", "fake",
                             "--region", "local"], stdout=log_file, stderr=subprocess.STDOUT, env=env)
    creds_path = os.path.join(data, "admin-credentials.json")
    deadline = time.monotonic() + 60
    while not (os.path.exists(creds_path) and port_open(port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("ecslab serve --driver fake did not come up")
        time.sleep(0.05)
    return proc, endpoint, json.load(open(creds_path))


def percentile(samples, p):
    """Linear interpolation between closest ranks (numpy's default); p in [0, 100]."""
    s = sorted(samples)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(samples_s):
    ms = [x * 1000.0 for x in samples_s]
    return {"n": len(ms), "p50": percentile(ms, 50), "p99": percentile(ms, 99), "min": min(ms), "max": max(ms),
            "mean": sum(ms) / len(ms)}


def timed(fn, n, warmup):
    """Run fn warmup times, then n timed times; returns (list of seconds, last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return out, result


def fmt_ms(x):
    if x != x:  # nan
        return "n/a"
    if x < 1:
        return f"{x:.2f}"
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


# --- machine facts --------------------------------------------------------------------------------------------------

def _run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_facts(root):
    cpu = ""
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    fam = {k: v for k, v in (l.split(":", 1) for l in _run(["lscpu"]).splitlines() if ":" in l)}
    family = fam.get("CPU family", "").strip()
    model = fam.get("Model", "").strip()
    if family:
        cpu += f" (family {family}, model {model})"
    virt = fam.get("Hypervisor vendor", "").strip()
    qemu = _run(["qemu-system-x86_64", "--version"]).splitlines()[:1]
    libvirt = _run(["libvirtd", "--version"])
    commit = _run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"])
    dirty = _run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "crates", "Cargo.lock"])
    return {
        "cpu": cpu or platform.processor(),
        "host_hypervisor": virt,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "qemu": qemu[0] if qemu else "?",
        "libvirt": libvirt.replace("libvirtd (libvirt) ", "libvirt ") or "?",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (crates modified)" if dirty else ""),
        "python": platform.python_version(),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --- docs/BENCHMARKS.md ---------------------------------------------------------------------------------------------

DOC_HEADER = """# Benchmarks

Produced by [`scripts/bench`](../scripts/bench) (helpers in [`scripts/bench.d/`](../scripts/bench.d)). Each `## `
section below is rewritten by `scripts/bench --only <section>`; text outside the sections is kept. Numbers are from
the machine named in each section and are noisy on a shared 2-core VM: compare paths measured in the same run, not
runs against each other.

"""


def write_section(doc_path, section_md_path):
    with open(section_md_path) as f:
        section = f.read().rstrip("\n") + "\n"
    m = re.search(r"^## (.+)$", section, re.M)
    if not m:
        raise SystemExit(f"{section_md_path}: no '## ' heading")
    title = m.group(1).strip()
    try:
        with open(doc_path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = DOC_HEADER
    pattern = re.compile(r"^## " + re.escape(title) + r"[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: section + "\n", doc, count=1)
    else:
        doc = doc.rstrip("\n") + "\n\n" + section
    doc = doc.rstrip("\n") + "\n"
    with open(doc_path, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "write-section":
        write_section(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
