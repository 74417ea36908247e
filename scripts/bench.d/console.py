"""scripts/bench section "Web console grid" (issue 14): what the console's grid costs the server. N running test
guests (default 10) on a server of its own; the server's CPU (utime+stime from /proc/<pid>/stat, as a percentage of
one core) over BENCH_CONSOLE_SECS (default 60) with no page open, then over as long with a headless chromium page
(tests/python/console_driver.mjs, playwright-core) showing the grid of all N screens at about 1 frame/s
(DescribeScreens, only changed frames sent). The peer is the idle run with the same guests in the same run; the
target is under 5 % of one core for the page.

Reuses the "Sustained capture" section's server, boot and CPU helpers (capture.py) with its own data dir.
Environment: BENCH_CONSOLE_INSTANCES (default 10), BENCH_CONSOLE_SECS (default 60), BENCH_BOOT_TIMEOUT.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import capture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WANTED = int(os.environ.get("BENCH_CONSOLE_INSTANCES", "10"))
SECS = float(os.environ.get("BENCH_CONSOLE_SECS", "60"))
DRIVER = os.path.join(ROOT, "tests", "python", "console_driver.mjs")

capture.DATA = os.path.join(os.environ["BENCH_TMP"], "console-data")
capture.WANTED = WANTED


class Page:
    """The console in headless chromium, through the test driver's JSON lines."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, op, **args):
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if not answer.pop("ok"):
            raise RuntimeError(f"{op}: {answer}")
        return answer

    def close(self):
        self.proc.stdin.write('{"op": "quit"}\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def server_cpu(pid, secs):
    t0, c0 = time.monotonic(), capture.cpu_seconds(pid)
    time.sleep(secs)
    t1, c1 = time.monotonic(), capture.cpu_seconds(pid)
    return (c1 - c0) / (t1 - t0) * 100


def main():
    started = time.monotonic()
    load_start = bl.loadavg()
    server = capture.Server()
    page = None
    try:
        ecs = server.client()
        image_id = capture.import_image(server)
        ids, ready, boot_secs = capture.boot(ecs, image_id)
        time.sleep(3)
        idle = server_cpu(server.proc.pid, SECS)
        bl.log(f"idle: {idle:.2f} % of one core")
        page = Page()
        page("open", url=f"http://{server.endpoint}/console/")
        page("signIn", accessKeyId=server.ak, accessKeySecret=server.sk, region="local")
        shown = [page("gridScreen", instanceId=iid, timeoutMs=60000) for iid in ready]
        blue = sum(1 for s in shown if s["fraction"] > 0.5)
        t0 = time.monotonic()
        c0 = capture.cpu_seconds(server.proc.pid)
        frames = page("gridFrames", seconds=SECS)["frames"]
        grid = (capture.cpu_seconds(server.proc.pid) - c0) / (time.monotonic() - t0) * 100
        bl.log(f"grid: {grid:.2f} % of one core, {frames} frames")
        page.close()
        page = None
        for iid in ids:
            try:
                ecs.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            except bl.ApiError:
                pass
    finally:
        if page is not None:
            page.proc.kill()
        server.stop()
    facts = bl.machine_facts(ROOT)
    n = len(ready)
    verdict = "under" if grid - idle < 5 else "over"
    lines = [
        "## Web console grid",
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores, kernel {facts['kernel']}, {facts['qemu']}. {facts['date']}, "
        f"commit {facts['commit']}. Load average at start {load_start}, at the end {bl.loadavg()}. Command: "
        f"`{os.environ.get('BENCH_COMMAND', 'scripts/bench --only console')}`.",
        "",
        "### Server CPU, % of one core",
        "",
        "| | server CPU |",
        "|---|---|",
        f"| {n} running guests, no page open ({SECS:.0f} s) | {idle:.2f} % |",
        f"| the same, a headless page showing the grid of {n} ({SECS:.0f} s) | {grid:.2f} % |",
        "",
        "### Findings (computed from this run)",
        "",
        f"- The grid adds {grid - idle:.2f} % of one core for {n} screens polled at 1 frame/s ({verdict} the 5 % "
        f"target); {blue}/{n} cells showed the guest's blue screen; {frames} frames crossed the wire in {SECS:.0f} s "
        f"(unchanged screens send none; the test guests' screens are static).",
        "",
        "### Method notes",
        "",
        f"- utime+stime of the server process from `/proc/<pid>/stat`; {n} ecs.lab.tiny guests under TCG booted in "
        f"{boot_secs:.0f} s; the page is headless Debian chromium through playwright-core, so its own CPU and "
        "QEMU's screendumps are not in the figure (QEMU's share is the capture section's subject).",
        "- The server binary: " + (f"`BENCH_ECSLAB_BIN={os.path.relpath(os.environ['BENCH_ECSLAB_BIN'], ROOT)}`" if os.environ.get("BENCH_ECSLAB_BIN")
                                   else "the release build scripts/bench made")
        + (" (a debug build: ecslab's own crates unoptimized, its dependencies at opt-level 2; a release build costs "
           "less)." if "/debug/" in os.environ.get("BENCH_ECSLAB_BIN", "") else "."),
        f"- Run time of the section {time.monotonic() - started:.0f} s, on a shared 2-core VM: compare within this run.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
