"""scripts/bench section "Sustained capture" (issue 5): N running instances (default 10), one frame per second each for
a minute, the way a user would ask for it: one asynchronous MTS SubmitSnapshotJob per instance with Interval=1 Num=60,
all submitted at once, frames written as JPEG objects into a local bucket.

Measured, in one run:
  on time      every frame's write time (the object file's mtime, ns) against its job's schedule. The runner sleeps
               until start + (k-1) x Interval, so the schedule of a job is anchored at the earliest frame that fits
               it: anchor = min_k(t_k - (k-1) s), lateness_k = t_k - anchor - (k-1) s >= 0. Reported: p50/p99/max of
               the lateness, and of the gap between consecutive frames minus 1 s; frames written vs N x 60.
  CPU          utime+stime from /proc/<pid>/stat of the ecslab server and of every QEMU of this data dir, summed
               over the capture (first submit to last job finished), divided by the frames written. Also net of the
               idle rate measured just before with the same guests and the same API polling: what capturing adds.
  API latency  DescribeInstances (lean signed V1 RPC, one keep-alive connection) every 0.25 s, idle (the guests
               running, no job) and during the capture: p50 and p99 and their ratios.

The section starts its own ecslab server (the binary scripts/bench built, ECSLAB_BIN) with --mts-workers
N + 2 so that all N jobs run at once (the default is 4), in a data dir under BENCH_TMP, and removes its instances,
its server and their QEMUs at the end. Instances are ecs.lab.tiny (1 vCPU, 128 MiB, the test guest), TCG.

Environment: BENCH_CAPTURE_INSTANCES (default 10), BENCH_CAPTURE_FRAMES (Num, default 60), BENCH_CAPTURE_IDLE_SECS
(default 60, as long as the capture so that both latency samples are alike), BENCH_BOOT_TIMEOUT (s, default 300). If fewer than N guests reach their READY marker in time, the
run goes on with those that did and says so.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = os.environ["BENCH_TMP"]
GUEST_DIR = os.environ["GUEST_DIR"]
BIN = os.environ["ECSLAB_BIN"]
WANTED = int(os.environ.get("BENCH_CAPTURE_INSTANCES", "10"))
FRAMES = int(os.environ.get("BENCH_CAPTURE_FRAMES", "60"))
IDLE_SECS = float(os.environ.get("BENCH_CAPTURE_IDLE_SECS", "60"))
BOOT_TIMEOUT = float(os.environ.get("BENCH_BOOT_TIMEOUT", "300"))
POLL = 0.25            # DescribeInstances pacing, idle and during the run
INTERVAL = 1           # s between frames
BUCKET = "bench-frames"
MARKER = "VMTEST-GUEST-READY"
MTS_VERSION = "2014-06-18"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DATA = os.path.join(TMP, "capture-data")


# --- our own server -------------------------------------------------------------------------------------------------

class Server:
    def __init__(self):
        os.makedirs(DATA, exist_ok=True)
        self.port = bl.free_port()
        env = dict(os.environ, ECSLAB_LOG=os.environ.get("ECSLAB_LOG", "warn"))
        self.log = open(os.path.join(TMP, "capture-server.log"), "wb")
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", DATA,
                                      "--accel", "tcg", "--mts-workers", str(WANTED + 2)], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        creds = os.path.join(DATA, "admin-credentials.json")
        deadline = time.monotonic() + 60
        while not (os.path.exists(creds) and bl.port_open(self.port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"capture server did not start; see {self.log.name}")
            time.sleep(0.1)
        time.sleep(0.2)
        c = json.load(open(creds))
        self.ak, self.sk = c["AccessKeyId"], c["AccessKeySecret"]
        self.endpoint = f"127.0.0.1:{self.port}"

    def client(self, version="2014-05-26"):
        return bl.RpcClient(self.endpoint, self.ak, self.sk, version=version)

    def stop(self):
        bl.stop_process(self.proc, timeout=20)
        for pid in qemu_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.log.close()


def qemu_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if not f.read().startswith("qemu-system"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if (DATA + "/").encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds of the server and the QEMUs between start() and stop(); a process gone meanwhile keeps its last
    reading (none should go)."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def read(self):
        return {"server": cpu_seconds(self.server_pid) or 0.0,
                "qemu": {pid: cpu_seconds(pid) for pid in qemu_pids()}}

    def start(self):
        self.t0, self.r0 = time.monotonic(), self.read()

    def stop(self):
        r1, t1 = self.read(), time.monotonic()
        qemu = sum((r1["qemu"].get(pid) or v) - v for pid, v in self.r0["qemu"].items() if v is not None)
        return {"secs": t1 - self.t0, "server": r1["server"] - self.r0["server"], "qemu": qemu,
                "qemus": len(self.r0["qemu"])}


# --- API latency poller ---------------------------------------------------------------------------------------------

class Poller(threading.Thread):
    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.samples, self.errors = client, [], 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t0 = time.perf_counter()
            try:
                self.client.call("DescribeInstances", {"PageSize": "100"})
                self.samples.append(time.perf_counter() - t0)
            except Exception:  # noqa: BLE001
                self.errors += 1
            self.halt.wait(max(0.0, POLL - (time.perf_counter() - t0)))

    def finish(self):
        self.halt.set()
        self.join()
        return self.samples


# --- the run --------------------------------------------------------------------------------------------------------

def import_image(server):
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=server.ak, ALIBABA_CLOUD_ACCESS_KEY_SECRET=server.sk)
    out = subprocess.run([BIN, "images", "import", "--name", "bench-capture", "--data-dir", DATA, "--endpoint",
                          server.endpoint, os.path.join(GUEST_DIR, "guest.qcow2")], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def console_ready(ecs, iid):
    try:
        out = ecs.call("GetInstanceConsoleOutput", {"InstanceId": iid}).get("ConsoleOutput", "")
    except bl.ApiError:
        return False
    return MARKER in base64.b64decode(out).decode("utf-8", "replace")


def boot(ecs, image_id):
    r = ecs.call("RunInstances", {"ImageId": image_id, "InstanceType": "ecs.lab.tiny", "Amount": str(WANTED)})
    ids = r["InstanceIdSets"]["InstanceIdSet"]
    t0 = time.monotonic()
    ready = set()
    while time.monotonic() - t0 < BOOT_TIMEOUT and len(ready) < len(ids):
        for iid in ids:
            if iid not in ready and console_ready(ecs, iid):
                ready.add(iid)
        time.sleep(1)
    boot_secs = time.monotonic() - t0
    bl.log(f"{len(ready)}/{len(ids)} guests READY after {boot_secs:.0f} s")
    return ids, [i for i in ids if i in ready], boot_secs


def submit_jobs(mts, iids):
    jobs = {}
    for iid in iids:
        config = {"OutputFile": {"Bucket": BUCKET, "Location": "oss-local", "Object": f"{iid}/{{Count}}.jpg"},
                  "Interval": str(INTERVAL), "Num": str(FRAMES)}
        r = mts.call("SubmitSnapshotJob", {"Input": json.dumps({"InstanceId": iid}),
                                           "SnapshotConfig": json.dumps(config)})
        jobs[r["SnapshotJob"]["Id"]] = {"iid": iid, "submitted": time.time()}
    return jobs


def wait_jobs(mts, jobs, timeout):
    deadline = time.monotonic() + timeout
    ids = list(jobs)
    while True:
        done = {}
        for k in range(0, len(ids), 10):
            r = mts.call("QuerySnapshotJobList", {"SnapshotJobIds": ",".join(ids[k:k + 10])})
            for j in r["SnapshotJobList"]["SnapshotJob"]:
                done[j["Id"]] = j
        if all(done.get(i, {}).get("State") in ("Success", "Fail") for i in ids):
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs not finished after {timeout} s: "
                               f"{[(i, done.get(i, {}).get('State')) for i in ids]}")
        time.sleep(0.5)


def frame_times(iid):
    """Write times (s, wall clock) of frames 1..FRAMES of one job; None where a frame is missing."""
    out = []
    for k in range(1, FRAMES + 1):
        try:
            out.append(os.stat(os.path.join(DATA, "buckets", BUCKET, iid, f"{k:05}.jpg")).st_mtime_ns / 1e9)
        except OSError:
            out.append(None)
    return out


def schedule_stats(jobs):
    lateness, gaps, starts, written = [], [], [], 0
    for job in jobs.values():
        times = frame_times(job["iid"])
        have = [(k, t) for k, t in enumerate(times) if t is not None]
        written += len(have)
        if not have:
            continue
        anchor = min(t - k * INTERVAL for k, t in have)
        lateness += [t - anchor - k * INTERVAL for k, t in have]
        gaps += [abs((t2 - t1) - INTERVAL * (k2 - k1)) for (k1, t1), (k2, t2) in zip(have, have[1:])]
        starts.append(have[0][1] - job["submitted"])
    return {"lateness": lateness, "gaps": gaps, "starts": starts, "written": written}


def main():
    facts = bl.machine_facts(ROOT)
    load_start = bl.loadavg()
    t_start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = Server()
    ids = []
    try:
        ecs, mts = server.client(), server.client(MTS_VERSION)
        bl.log("importing the guest image")
        image_id = import_image(server)
        os.makedirs(os.path.join(DATA, "buckets", BUCKET), exist_ok=True)
        bl.log(f"booting {WANTED} x ecs.lab.tiny under TCG")
        ids, ready, boot_secs = boot(ecs, image_id)
        if not ready:
            raise RuntimeError("no guest reached READY")
        time.sleep(5)   # let the last boots settle
        cpu = CpuMeter(server.proc.pid)

        bl.log(f"idle: {IDLE_SECS:.0f} s of DescribeInstances every {POLL} s")
        poller = Poller(server.client())
        cpu.start()
        poller.start()
        time.sleep(IDLE_SECS)
        idle_lat = poller.finish()
        idle_cpu = cpu.stop()

        bl.log(f"capture: {len(ready)} jobs, Interval={INTERVAL} Num={FRAMES}")
        poller = Poller(server.client())
        poller.start()
        cpu.start()
        load_before = bl.loadavg()
        jobs = submit_jobs(mts, ready)
        final = wait_jobs(mts, jobs, timeout=FRAMES * INTERVAL * 3 + 120)
        run_cpu = cpu.stop()
        run_lat = poller.finish()
        load_during = bl.loadavg()
        stats = schedule_stats(jobs)
        states = {}
        for j in final.values():
            key = j["State"] + (f" {j['Code']}" if j.get("Code") else "")
            states[key] = states.get(key, 0) + 1
    finally:
        for iid in ids:
            try:
                server.client().call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            except Exception as e:  # noqa: BLE001
                bl.log(f"DeleteInstance {iid}: {e}")
        server.stop()

    facts.update(load_start=load_start, load_end=bl.loadavg(), load_before=load_before, load_during=load_during,
                 runtime=time.monotonic() - t_start, boot_secs=boot_secs, booted=len(ids), ready=len(ready),
                 poll_errors=poller.errors)
    print(render(facts, idle_cpu, run_cpu, idle_lat, run_lat, stats, states))


# --- Markdown -------------------------------------------------------------------------------------------------------

def render(facts, idle_cpu, run_cpu, idle_lat, run_lat, stats, states):
    n, expected = facts["ready"], facts["ready"] * FRAMES
    frames = max(stats["written"], 1)
    late = bl.summary(stats["lateness"]) if stats["lateness"] else None
    gaps = bl.summary(stats["gaps"]) if stats["gaps"] else None
    idle_rate = (idle_cpu["server"] + idle_cpu["qemu"]) / idle_cpu["secs"]
    total = run_cpu["server"] + run_cpu["qemu"]
    net = total - idle_rate * run_cpu["secs"]
    idle_server_rate = idle_cpu["server"] / idle_cpu["secs"]
    net_server = run_cpu["server"] - idle_server_rate * run_cpu["secs"]
    il, rl = bl.summary(idle_lat), bl.summary(run_lat)
    over = lambda lim: sum(1 for x in stats["lateness"] if x > lim)  # noqa: E731
    ms = bl.fmt_ms
    who = (f"{n} instances" if n == WANTED else
           f"**{n} of the {WANTED} instances asked for** (the others did not reach READY within "
           f"{BOOT_TIMEOUT:.0f} s)")
    lines = [
        "## Sustained capture",
        "",
        f"{who} (ecs.lab.tiny: 1 vCPU, 128 MiB, the test guest under TCG), one frame per second each for "
        f"{FRAMES} s: one asynchronous MTS `SubmitSnapshotJob` per instance (`Interval=1`, `Num={FRAMES}`, 720x400 "
        f"JPEG into a local bucket), all submitted together, `--mts-workers {WANTED + 2}` so that every job "
        f"runs at once (default `--mts-captures` = {facts['cores']} CPUs).",
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['host_hypervisor'] or 'bare metal'} guest, kernel "
        f"{facts['kernel']}, {facts['qemu']}. {facts['date']}, commit {facts['commit']}. Load average at start "
        f"{facts['load_start']}, before the capture {facts['load_before']}, at its end {facts['load_during']}; "
        f"{facts['booted']} guests booted to READY in {facts['boot_secs']:.0f} s. Command: `{os.environ.get('BENCH_COMMAND', 'scripts/bench --only capture')}`.",
        "",
        "### Frames on time",
        "",
        "| | value |",
        "|---|---|",
        f"| frames written / expected | {stats['written']} / {expected} |",
        f"| jobs | {', '.join(f'{v} {k}' for k, v in sorted(states.items()))} |",
    ]
    if late:
        lines += [
            f"| lateness vs the job's schedule, p50 / p99 / max (ms) | {ms(late['p50'])} / {ms(late['p99'])} / "
            f"{ms(late['max'])} |",
            f"| frames later than 100 ms / 500 ms | {over(0.1)} / {over(0.5)} |",
            f"| gap between consecutive frames minus 1 s, p50 / p99 / max (ms) | {ms(gaps['p50'])} / "
            f"{ms(gaps['p99'])} / {ms(gaps['max'])} |",
            f"| submit → first frame written, p50 / max (ms) | {ms(bl.percentile(stats['starts'], 50) * 1000)} / "
            f"{ms(max(stats['starts']) * 1000)} |",
        ]
    lines += [
        "",
        "### CPU per frame",
        "",
        "| | server | QEMU (all guests) | total |",
        "|---|---|---|---|",
        f"| idle, guests running (CPU s per s, {idle_cpu['secs']:.0f} s) | {idle_cpu['server'] / idle_cpu['secs']:.3f} | "
        f"{idle_cpu['qemu'] / idle_cpu['secs']:.3f} | {idle_rate:.3f} |",
        f"| capture ({run_cpu['secs']:.0f} s), CPU s | {run_cpu['server']:.2f} | {run_cpu['qemu']:.2f} | {total:.2f} |",
        f"| **per frame, all CPU of the run** (ms) | {run_cpu['server'] / frames * 1000:.1f} | "
        f"{run_cpu['qemu'] / frames * 1000:.1f} | {total / frames * 1000:.1f} |",
        f"| **per frame, net of the idle rate** (ms) | {net_server / frames * 1000:.1f} | "
        f"{(net - net_server) / frames * 1000:.1f} | {net / frames * 1000:.1f} |",
        "",
        "### API latency meanwhile (DescribeInstances)",
        "",
        "| | n | p50 (ms) | p99 (ms) |",
        "|---|---|---|---|",
        f"| idle | {il['n']} | {ms(il['p50'])} | {ms(il['p99'])} |",
        f"| during the capture | {rl['n']} | {ms(rl['p50'])} | {ms(rl['p99'])} |",
        f"| ratio during / idle | | {rl['p50'] / il['p50']:.2f} | {rl['p99'] / il['p99']:.2f} |",
        "",
        "### Findings (computed from this run)",
        "",
        f"- {stats['written']} of {expected} frames written"
        + (f"; 99 % of them within {ms(late['p99'])} ms of their job's schedule (max {ms(late['max'])} ms), "
           f"{over(0.5)} later than half the 1 s interval." if late else "."),
        f"- Capturing costs {net / frames * 1000:.1f} ms of CPU per frame beyond the idle load "
        f"({total / frames * 1000:.1f} ms counting everything), i.e. {net / run_cpu['secs'] * 100:.0f} % of one "
        f"core for {n} frames per second.",
        f"- DescribeInstances during the capture vs idle: p50 x{rl['p50'] / il['p50']:.2f}, p99 "
        f"x{rl['p99'] / il['p99']:.2f} (a p99 of ~{min(il['n'], rl['n'])} calls rests on its "
        f"{round((min(il['n'], rl['n']) - 1) * 0.01) + 1} slowest calls, so it also moves with whatever else the "
        "shared machine runs).",
        "",
        "### Method notes",
        "",
        "- Frame time = the JPEG object's mtime (ns; the object is renamed into place once written, so this is when "
        "it was complete). The runner sleeps until `start + (k-1) s` before capture k (no drift accumulates), so a "
        "job's schedule is anchored at the earliest frame that fits it, `anchor = min_k(t_k - (k-1) s)`, and "
        "lateness = `t_k - anchor - (k-1) s` (0 for the most punctual frame). This is jitter, not capture latency: a "
        "constant delay of every frame is in the anchor.",
        "- CPU = utime + stime of the server process (all threads) and of every QEMU whose command line names this "
        "run's data dir, from `/proc/<pid>/stat`, between the first SubmitSnapshotJob and the last job's end as "
        "QuerySnapshotJobList (every 0.5 s) saw it. The idle rate is measured just before over "
        f"{idle_cpu['secs']:.0f} s with the same guests and the same DescribeInstances polling, so the net figure is "
        "what capturing adds (screendump in QEMU, scaling and libjpeg-turbo in the server, the job bookkeeping).",
        f"- DescribeInstances every {POLL} s on one keep-alive connection (signed V1 RPC, `benchlib.RpcClient`), from "
        f"the same 2-core machine; {facts['poll_errors']} failed calls. The guests run under TCG on the same cores, "
        f"so the capture competes with {n} emulated CPUs as well as with the API.",
        f"- Run time of the section {facts['runtime']:.0f} s. Everything is on one shared 2-core VM: compare the "
        "ratios within this run, not the absolute numbers across runs.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
