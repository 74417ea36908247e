"""scripts/bench section "Instance networking": what a real network costs, against the same guests on QEMU's
plain user-mode networking (the peer, measured in the same run by a second server started with `--network user`).

Run by scripts/bench, which exports ECSLAB_BIN, GUEST_DIR, BENCH_TMP, BENCH_N, BENCH_WARMUP. The section starts its
own two `ecslab serve --driver qemu --accel tcg` (namespaces, and `--network user`), imports the test guest into
each, and puts the guests in one VPC with one security group that opens 80/tcp and 5001/tcp to 0.0.0.0/0. Guests
run busybox (docs/GUEST.md): `nc -l -p 5001 >/dev/null` is the receiving end, driven over the serial console.

Cases:
  RunInstances → Running, and → the guest's DHCP lease on serial (VMTEST-NET), both networks, 3 instances each
  TCP host → guest at the public address (proxy vs QEMU hostfwd): MiB/s sending 16 MiB into `nc -l`, 3 rounds
  TCP guest → guest at the private address (namespaces only; user mode has no path between guests): MiB/s of
    `dd if=/dev/zero bs=64k count=128 | nc PEER 5001` timed in the guest by busybox `time`, 3 rounds
  AuthorizeSecurityGroup → rule holds: ms from the call's answer until a new connection to the public address is
    accepted (namespaces; user mode cannot change rules live), N rounds of revoke + authorize
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(os.environ.get("BENCH_N", "50"))
TMP = os.environ["BENCH_TMP"]
GUEST = os.path.join(os.environ["GUEST_DIR"], "guest.qcow2")
BIN = os.environ["ECSLAB_BIN"]
ZONE = "local-a"
BOOTS = 3
ROUNDS = 3
MIB = 16


class Server:
    """One `ecslab serve` of this section, with its client, image and network."""

    def __init__(self, name, extra):
        self.data = os.path.join(TMP, name)
        os.makedirs(self.data, exist_ok=True)
        port = bl.free_port()
        self.endpoint = f"127.0.0.1:{port}"
        log = open(os.path.join(TMP, f"{name}-server.log"), "wb")
        env = dict(os.environ, ECSLAB_LOG=os.environ.get("ECSLAB_LOG", "warn"))
        self.proc = subprocess.Popen([BIN, "serve", "--listen", self.endpoint, "--data-dir", self.data,
                                      "--driver", "qemu", "--accel", "tcg", "--region", "local",
                                      "--stop-grace-secs", "3", *extra], stdout=log, stderr=subprocess.STDOUT, env=env)
        creds_path = os.path.join(self.data, "admin-credentials.json")
        deadline = time.monotonic() + 60
        while not (os.path.exists(creds_path) and bl.port_open(port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ecslab serve ({name}) did not come up")
            time.sleep(0.05)
        creds = json.load(open(creds_path))
        env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=creds["AccessKeyId"],
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=creds["AccessKeySecret"])
        out = subprocess.run([BIN, "images", "import", "--name", "bench", "--data-dir", self.data, "--endpoint",
                              self.endpoint, GUEST], env=env, capture_output=True, text=True, timeout=300, check=True)
        self.image_id = out.stdout.strip()
        self.ecs = bl.RpcClient(self.endpoint, creds["AccessKeyId"], creds["AccessKeySecret"])
        self.vpc = bl.RpcClient(self.endpoint, creds["AccessKeyId"], creds["AccessKeySecret"], version="2016-04-28")
        vpc_id = self.vpc.call("CreateVpc", {"CidrBlock": "10.9.0.0/16"})["VpcId"]
        self.vswitch = self.vpc.call("CreateVSwitch", {"VpcId": vpc_id, "ZoneId": ZONE,
                                                       "CidrBlock": "10.9.1.0/24"})["VSwitchId"]
        self.group = self.ecs.call("CreateSecurityGroup", {"VpcId": vpc_id})["SecurityGroupId"]
        for port in (80, 5001):
            self.authorize(port)
        self.instances = []

    def rule(self, port):
        return {"SecurityGroupId": self.group, "IpProtocol": "tcp", "PortRange": f"{port}/{port}",
                "SourceCidrIp": "0.0.0.0/0"}

    def authorize(self, port):
        self.ecs.call("AuthorizeSecurityGroup", self.rule(port))

    def revoke(self, port):
        self.ecs.call("RevokeSecurityGroup", self.rule(port))

    def run(self):
        """RunInstances; returns (instance id, seconds to Running, seconds to the DHCP lease on serial)."""
        t0 = time.monotonic()
        iid = self.ecs.call("RunInstances", {"ImageId": self.image_id, "InstanceType": "ecs.lab.tiny",
                                             "VSwitchId": self.vswitch, "SecurityGroupId": self.group,
                                             "InternetMaxBandwidthOut": "1"})["InstanceIdSets"]["InstanceIdSet"][0]
        self.instances.append(iid)
        running = None
        while True:
            status = self.describe(iid)["Status"]
            if status == "Running" and running is None:
                running = time.monotonic() - t0
            if running is not None and "VMTEST-NET ip=" in self.console(iid):
                return iid, running, time.monotonic() - t0
            if time.monotonic() - t0 > 300:
                raise SystemExit(f"{iid} not up within 300 s")
            time.sleep(0.1)

    def describe(self, iid):
        return self.ecs.call("DescribeInstances", {"InstanceIds": json.dumps([iid])})["Instances"]["Instance"][0]

    def console(self, iid):
        out = self.ecs.call("GetInstanceConsoleOutput", {"InstanceId": iid, "RemoveSymbols": "true"})
        import base64
        return base64.b64decode(out.get("ConsoleOutput") or "").decode("utf-8", "replace")

    def type(self, iid, line):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(os.path.join(self.data, "vms", iid, "serial.sock"))
            s.sendall(line.encode() + b"\n")
            time.sleep(0.3)

    def wait_console(self, iid, pattern, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.console(iid))
            if m:
                return m
            time.sleep(0.2)
        raise SystemExit(f"{pattern!r} not on {iid}'s console")

    def close(self):
        for iid in self.instances:
            try:
                self.ecs.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            except Exception as e:  # the server's own cleanup below covers it
                bl.log(f"deleting {iid}: {e}")
        bl.stop_process(self.proc)


def host_to_guest(server, iid, public_ip):
    """MiB/s of sending MIB MiB from the host to `nc -l -p 5001` in the guest through the public address."""
    rates = []
    chunk = b"\0" * 65536
    for _ in range(ROUNDS):
        server.type(iid, "nc -l -p 5001 >/dev/null; echo NC-DONE-$((6*7))")
        time.sleep(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection((public_ip, 5001), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        t0 = time.perf_counter()
        for _ in range(MIB * 16):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the guest's nc closes once it has read everything
        rates.append(MIB / (time.perf_counter() - t0))
        sock.close()
        server.wait_console(iid, r"NC-DONE-42")
        time.sleep(0.5)
    return rates


def guest_to_guest(server, sender, receiver, receiver_ip):
    rates = []
    for k in range(ROUNDS):
        server.type(receiver, "nc -l -p 5001 >/dev/null")
        time.sleep(1)
        server.type(sender, f"time sh -c 'dd if=/dev/zero bs=64k count={MIB * 16} 2>/dev/null | nc {receiver_ip} 5001'"
                            f"; echo G2G-{k}-$((6*7))")
        text = server.wait_console(sender, rf"real\s+(\d+)m\s*([0-9.]+)s[\s\S]*G2G-{k}-42", timeout=180)
        seconds = int(text.group(1)) * 60 + float(text.group(2))
        rates.append(MIB / max(seconds, 1e-3))
    return rates


def rule_latency(server, public_ip):
    """ms from AuthorizeSecurityGroup's answer until a connection to the public address on 80 is accepted."""
    out = []
    for _ in range(N):
        server.revoke(80)
        server.authorize(80)
        t0 = time.perf_counter()
        while True:
            try:
                socket.create_connection((public_ip, 80), timeout=1).close()
                break
            except OSError:
                if time.perf_counter() - t0 > 10:
                    raise SystemExit("the rule did not hold within 10 s")
        out.append(time.perf_counter() - t0)
    return bl.summary(out)


def median(xs):
    return bl.percentile(xs, 50)


def main():
    facts = bl.machine_facts(ROOT)
    facts["load_start"] = bl.loadavg()
    results = {}
    for mode, extra in (("namespaces", []), ("user", ["--network", "user"])):
        server = Server(f"net-{mode}", extra)
        try:
            boots = [server.run() for _ in range(BOOTS)]
            first, second = boots[0][0], boots[1][0]
            public = server.describe(first)["PublicIpAddress"]["IpAddress"][0]
            private = server.describe(second)["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0]
            results[mode] = {
                "running": [b[1] for b in boots],
                "lease": [b[2] for b in boots],
                "host_to_guest": host_to_guest(server, first, public),
            }
            if mode == "namespaces":
                results[mode]["guest_to_guest"] = guest_to_guest(server, first, second, private)
                results[mode]["rule"] = rule_latency(server, public)
        finally:
            server.close()
    facts["load_end"] = bl.loadavg()
    print(render(facts, results))


def render(facts, r):
    ns, user = r["namespaces"], r["user"]
    rule = ns["rule"]
    lines = [
        "## Instance networking",
        "",
        f"Two servers in the same run, `--driver qemu --accel tcg`: one with ecslab's network (a namespace per VPC, "
        f"taps, dnsmasq, nftables, the public-address proxy) and the peer with `--network user` (QEMU's user-mode "
        f"networking with hostfwd). Guests: the test guest (busybox), {BOOTS} per server in one VPC and one security "
        f"group opening 80/tcp and 5001/tcp. Throughput sends {MIB} MiB into busybox `nc -l` ({ROUNDS} rounds); TCG "
        f"guests make it CPU-bound, so compare the two columns, not the absolute numbers.",
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['host_hypervisor'] or 'bare metal'} guest, kernel "
        f"{facts['kernel']}, {facts['qemu']}. {facts['date']}, commit {facts['commit']}. Load average at start "
        f"{facts['load_start']}, at the end {facts['load_end']}. "
        f"Command: `{os.environ.get('BENCH_COMMAND', 'scripts/bench --only network')}`.",
        "",
        "| case | ecslab network (median) | user-mode peer (median) | ratio |",
        "|---|---|---|---|",
        f"| RunInstances → Running (s) | {median(ns['running']):.2f} | {median(user['running']):.2f} | "
        f"x{median(ns['running']) / median(user['running']):.2f} |",
        f"| RunInstances → DHCP lease on serial (s) | {median(ns['lease']):.2f} | {median(user['lease']):.2f} | "
        f"x{median(ns['lease']) / median(user['lease']):.2f} |",
        f"| TCP host → guest at the public address (MiB/s) | {median(ns['host_to_guest']):.1f} | "
        f"{median(user['host_to_guest']):.1f} | x{median(ns['host_to_guest']) / median(user['host_to_guest']):.2f} |",
        f"| TCP guest → guest at the private address (MiB/s) | {median(ns['guest_to_guest']):.1f} | no path | - |",
        "",
        f"AuthorizeSecurityGroup → rule holds (a new connection to the public address accepted after the call "
        f"answered; {rule['n']} rounds of revoke + authorize): p50 {bl.fmt_ms(rule['p50'])} ms, p99 "
        f"{bl.fmt_ms(rule['p99'])} ms. The rule is applied before the call answers; this is the proxy's next accept. "
        f"The user-mode peer cannot change a rule without a restart.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
