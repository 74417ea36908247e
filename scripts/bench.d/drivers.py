"""scripts/bench section "Drivers side by side" (issue 6): GetInstanceScreenshot and CreateSnapshot through each of
ecslab's drivers in one run, each as a ratio against libvirt's own tools measured in the same rounds.

Run by scripts/bench (which builds ecslab, starts the qemu-driver server and exports ECSLAB_ENDPOINT, the admin key,
BENCH_TMP, BENCH_N, ...). Prints the Markdown section on stdout; progress goes to stderr.

Servers, all from the same binary, each with its own data dir and admin key:

  qemu          the server scripts/bench started (`--driver qemu`: daemonized QEMU over QMP)
  libvirt       `--driver libvirt --libvirt-uri qemu:///system` (the system libvirtd; screenshots through the QMP
                pass-through screendump, as for every local URI)
  libvirt+tcp   `--driver libvirt --libvirt-uri qemu+tcp://127.0.0.1:PORT/system`: a second libvirtd started here in
                its own mount namespace (private /run/libvirt, /var/lib/libvirt, ...; its own virtlogd), listening on
                loopback TCP only with `auth_tcp = "none"`, as crates/vmm/tests/libvirt_driver.rs does; screenshots
                cross the connection as libvirt's PNG stream, as they would from another host

Each server runs one instance (ecs.lab.tiny: TCG, 1 vCPU, 128 MiB; the VMTEST guest at 720x400 text; one 1 GiB data
disk), and one transient libvirt domain of the same kind (snapshots.libvirt_start) is the peer. WARMUP + N rounds,
paths in a rotating order each round:

  screenshot    ecslab: lean signed GET GetInstanceScreenshot (benchlib.RpcClient) → JPEG bytes.
                peer: `virsh -c qemu:///system screenshot DOM FILE` (a new process) + PNG→JPEG q85 (Pillow).
  snapshot      every guest first writes 1 MiB into its data disk (untimed). ecslab: CreateSnapshot until the
                SnapshotId is parsed, then DescribeSnapshots every 20 ms until `accomplished` (from the same start).
                peer: `virsh snapshot-create-as DOM --disk-only --no-metadata --atomic` of the data disk.

Ratios are p50 / peer p50 of the same run (< 1: faster than the peer).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import snapshots as sn  # noqa: E402  (guests, serial shell, snapshot paths)
import screenshot as ss  # noqa: E402  (screenshot paths)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(os.environ.get("BENCH_N", "50"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
TMP = os.environ["BENCH_TMP"]
GUEST_DIR = os.environ["GUEST_DIR"]
ECSLAB = os.environ["ECSLAB_BIN"]
DATA_GIB = 1


def wait_port(port, what, proc, log, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        if bl.port_open(port):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log, errors="replace") as f:
                raise RuntimeError(f"{what} did not listen on {port}: {f.read()[-2000:]}")
        time.sleep(0.1)


class TcpLibvirtd:
    """A private libvirtd on loopback TCP (see the module doc). Stopped by stop()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lvtcp-", dir=TMP)
        self.port = bl.free_port()
        conf = os.path.join(self.dir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write(f'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "127.0.0.1"\ntcp_port = "{self.port}"\n'
                    f'auth_tcp = "none"\nlog_outputs = "3:file:{self.dir}/libvirtd.log"\n')
        script = (
            "set -e\n"
            "for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt/qemu; do\n"
            "  mkdir -p $d; mount -t tmpfs ecslab-bench $d\n"
            "done\n"
            "mkdir -p /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu\n"
            f"virtlogd -d -p {self.dir}/virtlogd.pid\n"
            f"exec libvirtd --listen -f {conf} -p {self.dir}/libvirtd.pid\n")
        self.log = os.path.join(self.dir, "stderr.log")
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        wait_port(self.port, "the loopback libvirtd", self.proc, self.log)
        self.uri = f"qemu+tcp://127.0.0.1:{self.port}/system"

    def stop(self):
        bl.stop_process(self.proc)
        try:
            with open(os.path.join(self.dir, "virtlogd.pid")) as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass


class Server:
    """One ecslab server: the one scripts/bench started (driver qemu), or one started here on a libvirt URI."""

    def __init__(self, label, uri=None):
        self.label, self.proc = label, None
        if uri is None:
            self.data, self.endpoint = os.environ["ECSLAB_DATA_DIR"], os.environ["ECSLAB_ENDPOINT"]
            self.client = bl.client_from_env()
            self.key = (os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"])
            return
        self.data = os.path.join(TMP, f"data-{label.replace('+', '-')}")
        os.makedirs(self.data)
        port = bl.free_port()
        self.endpoint = f"127.0.0.1:{port}"
        log = os.path.join(TMP, f"server-{label.replace('+', '-')}.log")
        env = dict(os.environ, ECSLAB_LOG=os.environ.get("ECSLAB_LOG", "warn"))
        with open(log, "w") as out:
            self.proc = subprocess.Popen([ECSLAB, "serve", "--listen", self.endpoint, "--data-dir", self.data,
                                          "--accel", "tcg", "--driver", "libvirt", "--libvirt-uri", uri],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        creds = os.path.join(self.data, "admin-credentials.json")
        sn.wait(f"{label} server credentials", lambda: os.path.exists(creds) and os.path.getsize(creds) > 0, 30, 0.1)
        wait_port(port, f"ecslab serve ({label})", self.proc, log)
        with open(creds) as f:
            key = json.load(f)
        self.key = (key["AccessKeyId"], key["AccessKeySecret"])
        self.client = bl.RpcClient(self.endpoint, *self.key)

    def import_image(self):
        out = subprocess.run([ECSLAB, "images", "import", "--name", f"bench-drivers-{os.getpid()}",
                              "--data-dir", self.data, "--endpoint", self.endpoint,
                              os.path.join(GUEST_DIR, "guest.qcow2")], capture_output=True, text=True,
                             env=dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=self.key[0],
                                      ALIBABA_CLOUD_ACCESS_KEY_SECRET=self.key[1]))
        if out.returncode != 0:
            raise RuntimeError(f"images import on {self.label} failed: {out.stderr.strip()}")
        return out.stdout.strip().splitlines()[-1]

    def stop(self):
        bl.stop_process(self.proc, timeout=20)


def run(servers, peer):
    """The measurement rounds. servers: list of (Server, instance id, data disk id, serial, device)."""
    cases = [s.label for s, *_ in servers] + ["peer"]
    shots = {c: [] for c in cases}
    creates = {c: [] for c in cases}
    accomplished = {c: [] for c in cases}
    sizes = {}
    shot_file = os.path.join(TMP, "drivers-peer.png")
    rounds = WARMUP + N
    for r in range(rounds):
        if r % 10 == 0:
            bl.log(f"drivers: round {r + 1}/{rounds}")
        timed = r >= WARMUP
        k = r % len(cases)
        order = cases[k:] + cases[:k]
        # Screenshots.
        for c in order:
            t0 = time.perf_counter()
            if c == "peer":
                jpeg = ss.virsh_shot(peer["name"], shot_file)
            else:
                server, iid = next((s, i) for s, i, *_ in servers if s.label == c)
                jpeg = ss.ecslab_lean(server.client, iid)
            if timed:
                shots[c].append(time.perf_counter() - t0)
            sizes[c] = len(jpeg)
        # A 1 MiB write into every guest's data disk (untimed), then the snapshots.
        off = 1 + r * 16
        tags = [(ser, ser.send(f"dd if=/tmp/p of={dev} bs=1M count=1 seek={off} conv=fsync 2>/dev/null"))
                for *_, ser, dev in servers] + [(peer["serial"], peer["serial"].send(
                    f"dd if=/tmp/p of=/dev/vdb bs=1M count=1 seek={off} conv=fsync 2>/dev/null"))]
        for ser, tag in tags:
            ser.wait(tag)
        for c in order:
            if c == "peer":
                name = f"peer-{r}"
                t0 = time.perf_counter()
                sn.virsh_snapshot(peer["name"], name, os.path.join(peer["dir"], f"data.{name}.qcow2"))
                if timed:
                    creates[c].append(time.perf_counter() - t0)
            else:
                server, disk_id = next((s, d) for s, _, d, *_ in servers if s.label == c)
                _, call_s, done_s = sn.ecslab_snapshot(server.client, disk_id, f"bench-{r}")
                if timed:
                    creates[c].append(call_s)
                    accomplished[c].append(done_s)
    return {"shots": {c: bl.summary(v) for c, v in shots.items()},
            "creates": {c: bl.summary(v) for c, v in creates.items()},
            "accomplished": {c: bl.summary(v) for c, v in accomplished.items() if v},
            "jpeg_bytes": sizes}


def main():
    facts = bl.machine_facts(ROOT)
    load_start = bl.loadavg()
    t_start = time.monotonic()
    servers, instances, serials = [], [], []
    peer, tcp = None, None
    try:
        servers.append(Server("qemu"))
        servers.append(Server("libvirt", "qemu:///system"))
        try:
            tcp = TcpLibvirtd()
            servers.append(Server("libvirt+tcp", tcp.uri))
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            bl.log(f"qemu+tcp loopback skipped: {e}")
            tcp = None
        started = []
        for server in servers:
            bl.log(f"{server.label}: importing the guest image and running an instance")
            iid = sn.ecslab_run(server.client, server.import_image(), [DATA_GIB])
            instances.append((server, iid))
            started.append((server, iid))
        peer = sn.libvirt_start("drivers-peer", DATA_GIB)
        for server, iid in started:
            sn.wait(f"{sn.MARKER} from {server.label} {iid}", sn.ecslab_ready(server.client, iid))
        sn.wait(f"{sn.MARKER} from the peer domain", lambda: sn.file_has(peer["log"], sn.MARKER))
        rows = []
        for server, iid in started:
            disk_id = sn.ecslab_data_disks(server.client, iid)[0]
            ser = sn.Serial(os.path.join(server.data, "vms", iid, "serial.sock"))
            serials.append(ser)
            dev = sn.device_of(sn.guest_devices(ser), disk_id)
            ser.run("dd if=/dev/urandom of=/tmp/p bs=1M count=1 2>/dev/null")
            rows.append((server, iid, disk_id, ser, dev))
        peer["serial"] = sn.Serial(peer["sock"])
        serials.append(peer["serial"])
        peer["serial"].run("dd if=/dev/urandom of=/tmp/p bs=1M count=1 2>/dev/null")
        results = run(rows, peer)
    finally:
        for ser in serials:
            ser.close()
        for server, iid in instances:
            try:
                server.client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            except Exception as e:  # noqa: BLE001
                bl.log(f"DeleteInstance {iid} on {server.label}: {e}")
        if peer:
            sn.libvirt_destroy(peer["name"])
        for server in servers:
            server.stop()
        if tcp:
            tcp.stop()
    facts["load_start"], facts["load_end"] = load_start, bl.loadavg()
    facts["runtime"] = time.monotonic() - t_start
    fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", "/run/libvirt"], capture_output=True,
                            text=True).stdout.strip() or "?"
    facts["run_fs"] = "tmpfs" if fstype == "tmpfs" else f"a disk file system ({fstype})"
    print(render(facts, results, [s.label for s in servers]))


NAMES = {
    "qemu": "ecslab, `--driver qemu`",
    "libvirt": "ecslab, `--driver libvirt`, `qemu:///system`",
    "libvirt+tcp": "ecslab, `--driver libvirt`, `qemu+tcp://127.0.0.1/system` (loopback)",
}


def render(facts, res, labels):
    f = bl.fmt_ms
    out = ["## Drivers side by side", ""]
    cmd = os.environ.get("BENCH_COMMAND", "scripts/bench --only drivers")
    out.append(f"`{cmd}`, {facts['date']}, commit {facts['commit']}. {facts['cpu']}, {facts['cores']} cores"
               f"{' (' + facts['host_hypervisor'] + ' guest)' if facts['host_hypervisor'] else ''}, "
               f"{facts['qemu']}, {facts['libvirt']}. Load average {facts['load_start']} at the start, "
               f"{facts['load_end']} at the end; {facts['runtime']:.0f} s. N = {N} timed rounds after {WARMUP} "
               "warm-up rounds, all paths interleaved in a rotating order each round. Guests: TCG, 1 vCPU, "
               f"128 MiB, 720x400 text screen, a {DATA_GIB} GiB data disk.")
    out.append("")
    peer_shot = res["shots"]["peer"]["p50"]
    out.append("### GetInstanceScreenshot (720x400), ms")
    out.append("")
    out.append("| path | p50 | p99 | max | JPEG bytes | p50 / peer p50 |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for c in labels + ["peer"]:
        s = res["shots"][c]
        name = NAMES.get(c, "peer: `virsh screenshot` (new process) + PNG→JPEG q85")
        out.append(f"| {name} | {f(s['p50'])} | {f(s['p99'])} | {f(s['max'])} | {res['jpeg_bytes'][c]} | "
                   f"{s['p50'] / peer_shot:.2f} |")
    out.append("")
    peer_snap = res["creates"]["peer"]["p50"]
    out.append("### CreateSnapshot of a running instance's data disk, ms")
    out.append("")
    out.append("| path | request → SnapshotId p50 | p99 | p50 / peer p50 | request → `accomplished` p50 | p99 |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for c in labels + ["peer"]:
        s = res["creates"][c]
        a = res["accomplished"].get(c)
        name = NAMES.get(c, "peer: `virsh snapshot-create-as --disk-only --no-metadata` (new process)")
        done = f"{f(a['p50'])} | {f(a['p99'])}" if a else "n/a | n/a"
        out.append(f"| {name} | {f(s['p50'])} | {f(s['p99'])} | {s['p50'] / peer_snap:.2f} | {done} |")
    out.append("")
    out.append("### Findings (computed from this run)")
    out.append("")
    q = res["shots"].get("qemu", {}).get("p50")
    for c in labels:
        if c == "qemu" or q is None:
            continue
        out.append(f"- Screenshot through {NAMES[c]}: {f(res['shots'][c]['p50'])} ms p50, "
                   f"{res['shots'][c]['p50'] / q:.2f}x the qemu driver; CreateSnapshot "
                   f"{f(res['creates'][c]['p50'])} ms p50, {res['creates'][c]['p50'] / res['creates']['qemu']['p50']:.2f}x "
                   "the qemu driver.")
    out.append("")
    out.append("### Method notes")
    out.append("")
    out.append("- One ecslab server per driver, all from the same release build; the instances and the peer domain run "
               "at the same time and every round visits every path, so background load hits them alike.")
    out.append("- The libvirt driver's local screenshots are a QMP pass-through `screendump` (PPM into the run "
               "directory); over `qemu+tcp` they are libvirt's PNG stream (`virDomainScreenshot`), decoded and "
               "re-encoded as JPEG by the server. The peer always runs `virsh screenshot` against the system libvirtd.")
    out.append("- The qemu driver's CreateSnapshot is one QMP `transaction`; the libvirt driver's is "
               "`virDomainSnapshotCreateXML` (disk-only, no metadata, atomic, `REUSE_EXT` on an empty overlay the server "
               "wrote); neither freezes the guest's file "
               "systems here, since these guests run no guest agent (both drivers see that without asking it). "
               "`accomplished` adds the block commit of the "
               "frozen layer (QMP `block-commit` or `virDomainBlockCommit`) and the header seal.")
    out.append(f"- libvirt writes the domain's status XML under `/run/libvirt/qemu` at every snapshot. Here "
               f"`/run/libvirt` of the system libvirtd is on {facts['run_fs']}; the loopback libvirtd has tmpfs over "
               "its state directories (its own mount namespace). A gap between the two libvirt rows in CreateSnapshot "
               "is that file system, not the transport; the peer shares the system libvirtd's.")
    out.append("- Method and code: [`scripts/bench.d/drivers.py`](../scripts/bench.d/drivers.py).")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
