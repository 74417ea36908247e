"""scripts/bench section "CreateSnapshot and the live disk chain" (issue 3): how long a live CreateSnapshot takes on a
running instance, against libvirt's `virsh snapshot-create-as --disk-only` on a domain of the same kind, and how fast
the disk reads after 64 snapshots, against the same data with no snapshots and against a 64-deep qcow2 chain (what
libvirt's external snapshots leave behind).

Run by scripts/bench (which builds ecslab, starts the server and exports ECSLAB_ENDPOINT, the admin key, BENCH_TMP,
BENCH_N, ...). Prints the Markdown section on stdout; progress goes to stderr.

Part 1, latency. Per data-disk size (1 GiB, 20 GiB): an ecslab instance (ecs.lab.tiny, RunInstances
DataDisk.1.Size=S) and a transient libvirt domain of the same kind (TCG, 1 vCPU, 128 MiB, qcow2 overlay of the same
image, blank S GiB qcow2 data disk) run side by side. WARMUP + N rounds; each round first writes 1 MiB from each guest
into its data disk (at a new offset, untimed), then, in a rotating order:

  ecslab CreateSnapshot   lean signed V1-RPC GET (benchlib.RpcClient) until the SnapshotId is parsed; then
                          DescribeSnapshots every 20 ms until the snapshot is `accomplished` (reported separately,
                          from the same start). One creation runs per disk, so the next call waits for that.
  virsh                   `virsh -c qemu:///system snapshot-create-as DOM NAME --disk-only --no-metadata --atomic
                          --diskspec vda,snapshot=no --diskspec vdb,snapshot=external,file=...` as a new process.
  libvirt API             python3-libvirt snapshotCreateXML, same snapshot, on a connection opened once (optional).

Both libvirt paths stack a new overlay on the domain's data disk each time: its chain grows by two files a round.

Part 2, reads after 64 snapshots. One ecslab instance with two 1 GiB data disks. The guest writes the same 4 MiB
chunk k into both disks (offset 1 MiB + 4k MiB), then the first disk gets a CreateSnapshot (waited for); 64 times,
plus a last chunk after the 64th snapshot, so every layer held data. The second disk never gets a snapshot. On the
host, the same layout is built with qemu-io/qemu-img twice: as a 65-file chain (a layer per snapshot, what
`virsh snapshot-create-as` leaves) and as one file. Reads are timed with `qemu-img bench -U` on each disk's live top
file (path from DATA/ecslab.db, table disks), interleaved, median of BENCH_READ_REPS runs; and inside guests with
`dd iflag=direct` over the serial shell (the ecslab instance for its two disks; a bare QEMU with the same arguments
for the two host-built files, attached read-only).
"""
import base64
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(os.environ.get("BENCH_N", "50"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
READ_REPS = int(os.environ.get("BENCH_READ_REPS", "9"))
TMP = os.environ["BENCH_TMP"]
GUEST_DIR = os.environ["GUEST_DIR"]
DATA_DIR = os.environ["ECSLAB_DATA_DIR"]
DOMAIN_PREFIX = os.environ.get("BENCH_DOMAIN_PREFIX", f"ecslab-bench-{os.getpid()}-")
LIBVIRT_URI = "qemu:///system"
BOOT_TIMEOUT = 120.0
MARKER = "VMTEST-GUEST-READY"

SIZES_GIB = [1, 20]
QUOTA = 64            # ecslab's default --snapshot-quota (per disk); scripts/bench starts the server with defaults
KEEP_MAX = QUOTA - 4  # part 1 deletes the oldest snapshot beyond this many (only when WARMUP + N > 60)
DELETE_SAMPLES = 3    # DeleteSnapshot calls timed at the end of part 1 (oldest snapshots first)
POLL_S = 0.02
LAYERS = 64           # part 2: snapshots before the read test
CHUNK_MIB = 4
READ_DISK_GIB = 1
SEQ_COUNT = 2048      # 1 MiB requests (the 1 GiB disk read twice), depth 4
RAND_COUNT = 20000    # 4 KiB requests, depth 1
RAND_STRIDE_PAGES = 40009  # prime: offsets k * 40009 pages wrap around the device, every page at most once

QEMU_BIN = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"


def load_libvirt():
    try:
        import libvirt  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import libvirt  # noqa: F401
        except ImportError as e:
            bl.log(f"libvirt API path skipped: {e}")
            return None
    import libvirt
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt


# --- guests -----------------------------------------------------------------------------------------------------------

class Serial:
    """The guest's root shell on a UNIX socket: send a command line, wait for its end marker (the marker is split in
    the typed line, so the terminal's echo of the line does not match)."""

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
                time.sleep(0.1)
        self.buf = b""
        self.n = 0

    def send(self, cmd):
        self.n += 1
        self.sock.sendall(f'{cmd}; echo "CMD""DONE-{self.n} $?"\n'.encode())
        return self.n

    def wait(self, tag, timeout=120):
        needle = f"CMDDONE-{tag} ".encode()
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(needle)
            if i >= 0:
                j = self.buf.find(b"\n", i)
                if j >= 0:
                    status = self.buf[i + len(needle):j].strip()
                    out = self.buf[:i]
                    self.buf = self.buf[j + 1:]
                    if status != b"0":
                        raise RuntimeError(f"guest command {tag} exited {status!r}: {out[-500:]!r}")
                    return out.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"guest command {tag} did not finish")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("serial socket closed")
            self.buf += chunk

    def run(self, cmd, timeout=120):
        t0 = time.perf_counter()
        out = self.wait(self.send(cmd), timeout)
        return time.perf_counter() - t0, out

    def close(self):
        self.sock.close()


def wait(what, check, timeout=BOOT_TIMEOUT, interval=0.25):
    deadline = time.monotonic() + timeout
    while True:
        r = check()
        if r:
            return r
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def file_has(path, marker):
    try:
        with open(path, errors="replace") as f:
            return marker in f.read()
    except OSError:
        return False


def import_image():
    out = subprocess.run([os.environ["ECSLAB_BIN"], "images", "import", "--name", f"bench-snapshots-{os.getpid()}",
                          "--data-dir", DATA_DIR, "--endpoint", os.environ["ECSLAB_ENDPOINT"],
                          os.path.join(GUEST_DIR, "guest.qcow2")], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def ecslab_run(client, image_id, data_sizes):
    params = {"ImageId": image_id, "InstanceType": "ecs.lab.tiny", "Amount": "1"}
    for k, size in enumerate(data_sizes, 1):
        params[f"DataDisk.{k}.Size"] = str(size)
    r = client.call("RunInstances", params)
    return r["InstanceIdSets"]["InstanceIdSet"][0]


def ecslab_ready(client, iid):
    def check():
        out = client.call("GetInstanceConsoleOutput", {"InstanceId": iid}).get("ConsoleOutput", "")
        return MARKER in base64.b64decode(out).decode("utf-8", "replace")
    return check


def ecslab_data_disks(client, iid):
    """Data disk ids in device order (DataDisk.1, DataDisk.2, ...)."""
    disks = client.call("DescribeDisks", {"InstanceId": iid, "PageSize": "100"})["Disks"]["Disk"]
    data = sorted((d for d in disks if d["Type"] == "data"), key=lambda d: d.get("Device", ""))
    return [d["DiskId"] for d in data]


def guest_devices(serial):
    """virtio serial number -> /dev/vdX inside the guest."""
    _, out = serial.run("for d in /sys/block/vd*; do echo \"DEV ${d##*/} $(cat $d/serial)\"; done")
    return {m.group(2): "/dev/" + m.group(1) for m in re.finditer(r"^DEV (vd\w+) (\S+)", out.replace("\r", ""), re.M)}


def device_of(devices, disk_id):
    return devices[disk_id[:20]]  # virtio-blk serials are cut to 20 bytes (crates/vmm/src/qemu/argv.rs)


def disk_top(disk_id):
    db = sqlite3.connect(f"file:{os.path.join(DATA_DIR, 'ecslab.db')}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT path FROM disks WHERE disk_id = ?", (disk_id,)).fetchone()[0]
    finally:
        db.close()


def chain_depth(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", path], check=True,
                         capture_output=True, text=True).stdout
    return len(json.loads(out))


def libvirt_start(name, data_gib):
    d = os.path.join(TMP, name)
    os.makedirs(d)
    os.chmod(d, 0o755)
    base = os.path.join(d, "base.qcow2")
    shutil.copyfile(os.path.join(GUEST_DIR, "guest.qcow2"), base)  # a copy: build/ may not be readable by libvirt-qemu
    os.chmod(base, 0o644)
    sysdisk, data = os.path.join(d, "sys.qcow2"), os.path.join(d, "data.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", sysdisk], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", data, f"{data_gib}G"], check=True)
    sock, log = os.path.join(d, "serial.sock"), os.path.join(d, "serial.log")
    xml = f"""<domain type='qemu'>
  <name>{DOMAIN_PREFIX}{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <emulator>{QEMU_BIN}</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{sysdisk}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{data}'/><target dev='vdb' bus='virtio'/></disk>
    <serial type='unix'><source mode='bind' path='{sock}'/><log file='{log}'/><target port='0'/></serial>
    <video><model type='vga'/></video>
  </devices>
</domain>
"""
    xml_path = os.path.join(d, "domain.xml")
    with open(xml_path, "w") as f:
        f.write(xml)
    subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "create", xml_path], check=True, stdout=subprocess.DEVNULL)
    return {"name": DOMAIN_PREFIX + name, "dir": d, "sock": sock, "log": log, "data": data}


def libvirt_destroy(name):
    subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "destroy", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class BareVm:
    """A bare QEMU with ecslab's machine arguments (crates/vmm/src/qemu/argv.rs: pc, TCG, 1 vCPU, 128 MiB, virtio
    disks, serial on a listening socket), for reading host-built files from a guest. Data disks are read-only."""

    def __init__(self, name, data_files):
        d = os.path.join(TMP, name)
        os.makedirs(d)
        sysdisk = os.path.join(d, "sys.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(GUEST_DIR, "guest.qcow2"),
                        "-F", "qcow2", sysdisk], check=True)
        self.sock, self.log = os.path.join(d, "serial.sock"), os.path.join(d, "serial.log")
        args = [QEMU_BIN, "-nodefaults", "-no-user-config", "-machine", "pc", "-accel", "tcg", "-m", "128",
                "-smp", "1", "-display", "none", "-vga", "std",
                "-chardev", f"socket,id=serial0,path={self.sock},server=on,wait=off,logfile={self.log}",
                "-serial", "chardev:serial0",
                "-drive", f"file={sysdisk},if=none,id=sys,format=qcow2",
                "-device", "virtio-blk-pci,drive=sys,bootindex=0"]
        for serial, path in data_files:
            args += ["-drive", f"file={path},if=none,id={serial},format=qcow2,readonly=on",
                     "-device", f"virtio-blk-pci,drive={serial},serial={serial}"]
        with open(os.path.join(d, "qemu.err"), "w") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        self.err = os.path.join(d, "qemu.err")

    def ready(self):
        if self.proc.poll() is not None:
            with open(self.err) as f:
                raise RuntimeError(f"bare QEMU exited with {self.proc.returncode}: {f.read().strip()}")
        return file_has(self.log, MARKER)

    def stop(self):
        bl.stop_process(self.proc)


# --- the paths being measured -------------------------------------------------------------------------------------------

def ecslab_snapshot(client, disk_id, name):
    """CreateSnapshot, then poll until accomplished. Returns (snapshot id, call seconds, to-accomplished seconds)."""
    t0 = time.perf_counter()
    body = client.raw("CreateSnapshot", {"DiskId": disk_id, "SnapshotName": name})
    sid = json.loads(body)["SnapshotId"]
    t1 = time.perf_counter()
    while True:
        s = client.call("DescribeSnapshots", {"SnapshotIds": json.dumps([sid])})["Snapshots"]["Snapshot"][0]
        if s["Status"] == "accomplished":
            return sid, t1 - t0, time.perf_counter() - t0
        if s["Status"] == "failed":
            raise RuntimeError(f"snapshot {sid} failed: {s}")
        if time.perf_counter() - t0 > 120:
            raise TimeoutError(f"snapshot {sid} not accomplished after 120 s")
        time.sleep(POLL_S)


def virsh_snapshot(domain, name, file):
    subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "snapshot-create-as", domain, name, "--disk-only",
                    "--no-metadata", "--atomic", "--diskspec", "vda,snapshot=no",
                    "--diskspec", f"vdb,snapshot=external,file={file}"], check=True, stdout=subprocess.DEVNULL)


def api_snapshot(libvirt, dom, name, file):
    xml = (f"<domainsnapshot><name>{name}</name><disks><disk name='vda' snapshot='no'/>"
           f"<disk name='vdb' snapshot='external'><source file='{file}'/></disk></disks></domainsnapshot>")
    flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
             | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
    dom.snapshotCreateXML(xml, flags)


# --- part 1 ---------------------------------------------------------------------------------------------------------------

def part1_size(client, image_id, size, libvirt, lv_conn, cleanup):
    bl.log(f"{size} GiB data disk: starting an ecslab instance and a libvirt domain")
    iid = ecslab_run(client, image_id, [size])
    cleanup["instances"].append(iid)
    dom = libvirt_start(f"snap-{size}g", size)
    cleanup["domains"].append(dom["name"])
    wait(f"{MARKER} from ecslab {iid}", ecslab_ready(client, iid))
    wait(f"{MARKER} from libvirt {dom['name']}", lambda: file_has(dom["log"], MARKER))
    disk_id = ecslab_data_disks(client, iid)[0]
    ec_ser = Serial(os.path.join(DATA_DIR, "vms", iid, "serial.sock"))
    lv_ser = Serial(dom["sock"])
    ec_dev = device_of(guest_devices(ec_ser), disk_id)
    lv_dev = "/dev/vdb"
    for ser in (ec_ser, lv_ser):
        ser.run("dd if=/dev/urandom of=/tmp/p bs=1M count=1 2>/dev/null")
    lv_dom = lv_conn.lookupByName(dom["name"]) if lv_conn else None

    paths = ["ecslab", "virsh"] + (["api"] if lv_dom else [])
    samples = {p: [] for p in paths}
    accomplished = []
    deletes = []
    live = []
    rounds = WARMUP + N
    stride = max(1, (size * 1024 - 2) // rounds)  # MiB between the rounds' writes, spread over the whole disk
    for r in range(rounds):
        if r % 10 == 0:
            bl.log(f"{size} GiB: round {r + 1}/{rounds}")
        off = 1 + r * stride
        tags = [(ser, ser.send(f"dd if=/tmp/p of={dev} bs=1M count=1 seek={off} conv=fsync 2>/dev/null"))
                for ser, dev in ((ec_ser, ec_dev), (lv_ser, lv_dev))]
        for ser, tag in tags:
            ser.wait(tag)
        k = r % len(paths)
        for p in paths[k:] + paths[:k]:
            if p == "ecslab":
                sid, call_s, done_s = ecslab_snapshot(client, disk_id, f"bench-{r}")
                live.append(sid)
                if r >= WARMUP:
                    samples[p].append(call_s)
                    accomplished.append(done_s)
                while len(live) > KEEP_MAX:
                    t0 = time.perf_counter()
                    client.call("DeleteSnapshot", {"SnapshotId": live.pop(0)})
                    deletes.append(time.perf_counter() - t0)
            else:
                name = f"{p}-{r}"
                file = os.path.join(dom["dir"], f"data.{name}.qcow2")
                t0 = time.perf_counter()
                if p == "virsh":
                    virsh_snapshot(dom["name"], name, file)
                else:
                    api_snapshot(libvirt, lv_dom, name, file)
                if r >= WARMUP:
                    samples[p].append(time.perf_counter() - t0)

    ec_depth = chain_depth(disk_top(disk_id))
    lv_top = subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "domblklist", dom["name"]], check=True,
                            capture_output=True, text=True).stdout
    lv_top = next(line.split(None, 1)[1].strip() for line in lv_top.splitlines() if line.split()[:1] == ["vdb"])
    lv_depth = chain_depth(lv_top)
    n_live = len(live)
    # DeleteSnapshot, for the record: the oldest snapshots, timed (the call merges the file into its child).
    for _ in range(min(DELETE_SAMPLES, len(live))):
        t0 = time.perf_counter()
        client.call("DeleteSnapshot", {"SnapshotId": live.pop(0)})
        deletes.append(time.perf_counter() - t0)

    ec_ser.close()
    lv_ser.close()
    bl.log(f"{size} GiB: cleaning up")
    client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
    cleanup["instances"].remove(iid)
    libvirt_destroy(dom["name"])
    cleanup["domains"].remove(dom["name"])

    def head_tail(xs):
        k = min(10, len(xs))
        return bl.summary(xs[:k])["p50"], bl.summary(xs[-k:])["p50"]
    res = {p: dict(bl.summary(s), first_last=head_tail(s), over_100=sum(1 for x in s if x > 0.1))
           for p, s in samples.items()}
    res["accomplished"] = dict(bl.summary(accomplished), first_last=head_tail(accomplished))
    return {"paths": res, "ec_depth": ec_depth, "lv_depth": lv_depth, "lv_layers": rounds * (len(paths) - 1),
            "deletes": bl.summary(deletes) if deletes else None, "n_deletes": len(deletes), "n_live": n_live,
            "stride": stride}


# --- part 2 ---------------------------------------------------------------------------------------------------------------

def chunk_offset(k):
    return (1 + k * CHUNK_MIB) << 20


def build_host_chain(d):
    """The same layout as the ecslab disk, built with qemu-img/qemu-io: a 65-file chain (chunk k in layer k, what
    64 `virsh snapshot-create-as --disk-only` leave) and one file holding all 65 chunks."""
    os.makedirs(d)
    chunk = os.path.join(d, "chunk.bin")
    with open(chunk, "wb") as f:
        f.write(os.urandom(CHUNK_MIB << 20))
    flat = os.path.join(d, "flat.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", flat, f"{READ_DISK_GIB}G"], check=True)
    writes = []
    for k in range(LAYERS + 1):
        writes += ["-c", f"write -q -s {chunk} {chunk_offset(k)} {CHUNK_MIB}M"]
    subprocess.run(["qemu-io", "-f", "qcow2", *writes, flat], check=True, stdout=subprocess.DEVNULL)
    prev = None
    for k in range(LAYERS + 1):
        layer = os.path.join(d, f"layer{k:02d}.qcow2")
        cmd = ["qemu-img", "create", "-q", "-f", "qcow2"]
        cmd += ["-b", prev, "-F", "qcow2", layer] if prev else [layer, f"{READ_DISK_GIB}G"]
        subprocess.run(cmd, check=True)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -q -s {chunk} {chunk_offset(k)} {CHUNK_MIB}M", layer],
                       check=True, stdout=subprocess.DEVNULL)
        prev = layer
    return prev, flat


def bench_run(args):
    out = subprocess.run(["qemu-img", "bench", "-U", *args], check=True, capture_output=True, text=True).stdout
    m = re.search(r"Run completed in ([0-9.]+) seconds", out)
    return float(m.group(1))


def host_reads(files):
    """files: label -> top file. Returns label -> pattern -> list of seconds (READ_REPS runs)."""
    data_lo, data_len = chunk_offset(0), (LAYERS + 1) * CHUNK_MIB << 20
    data_pages = data_len // 4096
    disk_pages = (READ_DISK_GIB << 30) // 4096
    assert disk_pages % RAND_STRIDE_PAGES and data_pages % RAND_STRIDE_PAGES

    def patterns(path):
        slice_opts = (f"driver=raw,offset={data_lo},size={data_len},file.driver=qcow2,file.file.driver=file,"
                      f"file.file.filename={path}")
        return {
            "seq": ["-f", "qcow2", "-c", str(SEQ_COUNT), "-d", "4", "-s", "1M", path],
            "rand": ["-f", "qcow2", "-c", str(RAND_COUNT), "-d", "1", "-s", "4k", "-S",
                     str(RAND_STRIDE_PAGES * 4096), path],
            "rand_data": ["--image-opts", "-c", str(RAND_COUNT), "-d", "1", "-s", "4k", "-S",
                          str(RAND_STRIDE_PAGES * 4096), slice_opts],
        }
    runs = {label: patterns(path) for label, path in files.items()}
    times = {label: {p: [] for p in runs[label]} for label in files}
    labels = list(files)
    for rep in range(READ_REPS + 1):  # rep 0 warms the page cache and is dropped
        k = rep % len(labels)
        for label in labels[k:] + labels[:k]:
            for p, args in runs[label].items():
                t = bench_run(args)
                if rep:
                    times[label][p].append(t)
    return times


def guest_reads(targets, rtt):
    """targets: label -> (Serial, device). Sequential 1 MiB O_DIRECT reads of the whole device, timed on the host
    around the serial command, minus the shell round trip. Returns label -> list of seconds."""
    times = {label: [] for label in targets}
    labels = list(targets)
    count = READ_DISK_GIB * 1024
    for rep in range(READ_REPS + 1):
        k = rep % len(labels)
        for label in labels[k:] + labels[:k]:
            ser, dev = targets[label]
            t, _ = ser.run(f"dd if={dev} of=/dev/null bs=1M count={count} iflag=direct 2>/dev/null")
            if rep:
                times[label].append(t - rtt[id(ser)])
    return times


def shell_rtt(ser):
    return statistics.median(ser.run("true")[0] for _ in range(7))


def part2(client, image_id, cleanup):
    bl.log(f"reads after {LAYERS} snapshots: starting an instance with two {READ_DISK_GIB} GiB data disks")
    iid = ecslab_run(client, image_id, [READ_DISK_GIB, READ_DISK_GIB])
    cleanup["instances"].append(iid)
    bl.log("building the host-side 65-file chain and the flat file (qemu-img/qemu-io) while it boots")
    chain_top, flat = build_host_chain(os.path.join(TMP, "chain"))
    bare = BareVm("bare-reader", [("chain65", chain_top), ("flat", flat)])
    cleanup["bare"].append(bare)
    wait(f"{MARKER} from ecslab {iid}", ecslab_ready(client, iid))
    snap_disk, plain_disk = ecslab_data_disks(client, iid)
    ser = Serial(os.path.join(DATA_DIR, "vms", iid, "serial.sock"))
    devs = guest_devices(ser)
    d_snap, d_plain = device_of(devs, snap_disk), device_of(devs, plain_disk)
    ser.run(f"dd if=/dev/urandom of=/tmp/p bs=1M count={CHUNK_MIB} 2>/dev/null")
    # The guest logs its boots at byte 0 of the first blank data disk: give the other disk the same 64 KiB.
    ser.run(f"dd if={d_snap} of={d_plain} bs=64k count=1 conv=fsync 2>/dev/null && "
            f"dd if={d_plain} of={d_snap} bs=64k count=1 conv=fsync 2>/dev/null")

    def write_chunk(k):
        seek = chunk_offset(k) >> 20
        ser.run(f"dd if=/tmp/p of={d_snap} bs=1M count={CHUNK_MIB} seek={seek} conv=fsync 2>/dev/null && "
                f"dd if=/tmp/p of={d_plain} bs=1M count={CHUNK_MIB} seek={seek} conv=fsync 2>/dev/null")
    calls, dones = [], []
    for k in range(LAYERS):
        if k % 16 == 0:
            bl.log(f"reads: snapshot {k + 1}/{LAYERS}")
        write_chunk(k)
        _, call_s, done_s = ecslab_snapshot(client, snap_disk, f"layer-{k}")
        calls.append(call_s)
        dones.append(done_s)
    write_chunk(LAYERS)
    n_snaps = len(client.call("DescribeSnapshots", {"DiskId": snap_disk, "PageSize": "100"})["Snapshots"]["Snapshot"])

    files = {"ecslab_snap": disk_top(snap_disk), "ecslab_plain": disk_top(plain_disk),
             "chain": chain_top, "flat": flat}
    depths = {label: chain_depth(path) for label, path in files.items()}
    same = {}
    for a, b in (("ecslab_snap", "ecslab_plain"), ("chain", "flat")):
        same[a] = same[b] = subprocess.run(["qemu-img", "compare", "-U", "-q", files[a], files[b]]).returncode == 0
    bl.log("reads: qemu-img bench on the four top files")
    host = host_reads(files)

    bl.log("reads: dd inside the guests")
    wait(f"{MARKER} from the bare QEMU", bare.ready)
    bser = Serial(bare.sock)
    bdevs = guest_devices(bser)
    rtt = {id(ser): shell_rtt(ser), id(bser): shell_rtt(bser)}
    guest = guest_reads({"ecslab_snap": (ser, d_snap), "ecslab_plain": (ser, d_plain),
                         "chain": (bser, bdevs["chain65"]), "flat": (bser, bdevs["flat"])}, rtt)
    ser.close()
    bser.close()
    bare.stop()
    cleanup["bare"].remove(bare)
    client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
    cleanup["instances"].remove(iid)
    return {"host": host, "guest": guest, "depths": depths, "same": same, "n_snaps": n_snaps,
            "calls": bl.summary(calls), "dones": bl.summary(dones), "rtt": rtt}


# --- main -------------------------------------------------------------------------------------------------------------

def main():
    facts = bl.machine_facts(ROOT)
    load_start = bl.loadavg()
    t_start = time.monotonic()
    client = bl.client_from_env()
    libvirt = load_libvirt()
    lv_conn = libvirt.open(LIBVIRT_URI) if libvirt else None

    bl.log("importing the guest image into ecslab")
    image_id = import_image()
    cleanup = {"instances": [], "domains": [], "bare": []}
    lat = {}
    try:
        for size in SIZES_GIB:
            lat[size] = part1_size(client, image_id, size, libvirt, lv_conn, cleanup)
        reads = part2(client, image_id, cleanup)
    finally:
        for iid in cleanup["instances"]:
            try:
                client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            except Exception as e:  # noqa: BLE001
                bl.log(f"DeleteInstance {iid}: {e}")
        for name in cleanup["domains"]:
            libvirt_destroy(name)
        for bare in cleanup["bare"]:
            bare.stop()

    facts["load_start"], facts["load_end"] = load_start, bl.loadavg()
    facts["runtime"] = time.monotonic() - t_start
    facts["libvirt_api"] = lv_conn is not None
    print(render(facts, lat, reads))


# --- Markdown ---------------------------------------------------------------------------------------------------------

PATH_NAMES = {
    "ecslab": "ecslab CreateSnapshot (signed request → SnapshotId)",
    "accomplished": "ecslab, request → `accomplished` (merge done)",
    "virsh": "`virsh snapshot-create-as --disk-only` (new process)",
    "api": "libvirt API `snapshotCreateXML` (open connection)",
}


def mibs(seconds, nbytes):
    return nbytes / (1 << 20) / seconds


def render(facts, lat, reads):
    f = bl.fmt_ms
    L = ["## CreateSnapshot and the live disk chain", ""]
    L.append(f"Command: `{os.environ.get('BENCH_COMMAND', 'scripts/bench --only snapshots')}` "
             f"(N = {N} timed snapshots per path and disk size after {WARMUP} warm-ups; reads: {READ_REPS} runs "
             f"per file and pattern, BENCH_READ_REPS). Section runtime {facts['runtime']:.0f} s.  ")
    given = os.environ.get("BENCH_ECSLAB_BIN")
    L.append(f"Date: {facts['date']}. ecslab commit {facts['commit']}"
             + ("; binary given by BENCH_ECSLAB_BIN, not built by this run" if given else "") + ".  ")
    L.append(f"Machine: {facts['cpu']}, {facts['cores']} cores"
             + (f" ({facts['host_hypervisor']} guest)" if facts["host_hypervisor"] else "")
             + f", Linux {facts['kernel']}, load average {facts['load_start']} at start, {facts['load_end']} at end.  ")
    L.append(f"{facts['qemu']}; {facts['libvirt']}; TCG everywhere; Python {facts['python']}.")
    L.append("")
    L.append("### CreateSnapshot on a running instance")
    L.append("")
    L.append("Milliseconds per call, client side. Before each round both guests wrote 1 MiB into their data disk "
             "(`dd ... conv=fsync`, untimed), so every snapshot holds data. The libvirt calls are complete when they "
             "return; ecslab answers after the live point in time and merges in the background, so its time to "
             "`accomplished` is listed too (polled every 20 ms). The last two columns are the p50 of the first and "
             "of the last 10 timed calls: the libvirt domain's chain is about 10 and about 2N files deep then.")
    L.append("")
    L.append("| Data disk | Path | p50 ms | p99 ms | min ms | max ms | p50 first 10 | p50 last 10 |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for size, r in lat.items():
        for p in ("ecslab", "accomplished", "virsh", "api"):
            s = r["paths"].get(p)
            if not s:
                continue
            a, b = s["first_last"]
            L.append(f"| {size} GiB | {PATH_NAMES[p]} | {f(s['p50'])} | {f(s['p99'])} | {f(s['min'])} | "
                     f"{f(s['max'])} | {f(a)} | {f(b)} |")
    L.append("")
    L.append("Disk chain the running VM reads through at the end (files, `qemu-img info -U --backing-chain`):")
    L.append("")
    L.append("| Data disk | ecslab: snapshots kept | ecslab: live chain | libvirt: overlays added | libvirt: live chain |")
    L.append("|---|---:|---:|---:|---:|")
    for size, r in lat.items():
        L.append(f"| {size} GiB | {r['n_live']} | {r['ec_depth']} | {r['lv_layers']} | {r['lv_depth']} |")
    L.append("")
    L.append("Ratios (lower is better for ecslab):")
    L.append("")
    L.append("| Data disk | ecslab p50 / virsh p50 | ecslab p99 / virsh p99 | ecslab p50 / API p50 | "
             "ecslab accomplished p50 / virsh p50 |")
    L.append("|---|---:|---:|---:|---:|")
    for size, r in lat.items():
        e, v, a, acc = (r["paths"].get(k) for k in ("ecslab", "virsh", "api", "accomplished"))
        L.append(f"| {size} GiB | {e['p50'] / v['p50']:.2f} | {e['p99'] / v['p99']:.2f} | "
                 + (f"{e['p50'] / a['p50']:.2f}" if a else "n/a") + f" | {acc['p50'] / v['p50']:.2f} |")
    L.append("")
    small, big = lat[SIZES_GIB[0]]["paths"]["ecslab"], lat[SIZES_GIB[-1]]["paths"]["ecslab"]
    p99_ok = all(r["paths"]["ecslab"]["p99"] < 100 for r in lat.values())
    growth = big["p50"] / small["p50"]
    L.append(f"**Target** (ecslab p99 under 100 ms, not growing with disk size): p99 "
             + ", ".join(f"{f(r['paths']['ecslab']['p99'])} ms at {s} GiB" for s, r in lat.items())
             + f": {'met' if p99_ok else 'MISSED'} (calls over 100 ms: "
             + ", ".join(f"{r['paths']['ecslab']['over_100']} of {r['paths']['ecslab']['n']} at {s} GiB"
                         for s, r in lat.items())
             + f"); p50 {f(big['p50'])} ms at {SIZES_GIB[-1]} GiB vs "
             f"{f(small['p50'])} ms at {SIZES_GIB[0]} GiB (x{growth:.2f}): "
             f"{'met' if growth <= 1.25 else 'MISSED'} (counted as met up to x1.25, the run-to-run noise here).")
    L.append("")
    dels = [(s, r) for s, r in lat.items() if r["deletes"]]
    if dels:
        L.append("DeleteSnapshot, for the record (not a target): "
                 + "; ".join(f"{s} GiB: p50 {f(r['deletes']['p50'])} ms, max {f(r['deletes']['max'])} ms over "
                             f"{r['n_deletes']} calls" for s, r in dels)
                 + ". At this commit the call merges the deleted snapshot's file into its child before it answers "
                 "(`qemu-img rebase`, which reads through the whole virtual disk), hence the growth with disk size.")
        L.append("")
    busy = max(float(facts["load_start"].split()[0]), float(facts["load_end"].split()[0]))
    if busy > (facts["cores"] or 1):
        L.append(f"> The machine was busy during this run (load average {busy:.1f} on {facts['cores']} cores, from "
                 f"other processes plus the 2-3 TCG guests of each step): absolute times are inflated and p99 is noisy.")
        L.append("")

    # Part 2.
    h, g, dep = reads["host"], reads["guest"], reads["depths"]
    seq_bytes = SEQ_COUNT << 20
    data_bytes = (LAYERS + 1) * CHUNK_MIB << 20
    cols = [("ecslab_snap", f"ecslab disk, {reads['n_snaps']} snapshots"), ("ecslab_plain", "ecslab disk, none"),
            ("chain", f"qemu-img chain, {LAYERS} overlays"), ("flat", "qemu-img, one file")]
    L.append(f"### Reads after {LAYERS} snapshots")
    L.append("")
    L.append(f"{READ_DISK_GIB} GiB data disks holding {LAYERS + 1} chunks of {CHUNK_MIB} MiB "
             f"({data_bytes >> 20} MiB, {100 * data_bytes / (READ_DISK_GIB << 30):.0f} % of the disk; the rest was "
             "never written). ecslab: two data disks of one running instance got the same guest writes; the first "
             f"had a CreateSnapshot after each of the first {LAYERS} chunks, the second none. qemu-img: the same "
             f"layout built on the host, once as a chain of {LAYERS + 1} files (chunk k in layer k, what {LAYERS} "
             "`virsh snapshot-create-as --disk-only` leave) and once as one file. Throughput of the best of "
             f"{READ_REPS} runs (the machine is shared; the best run is the one least disturbed); the ratios are "
             "given for the best and for the median run.")
    L.append("")
    L.append("| | " + " | ".join(c[1] for c in cols) + " | **ecslab: snapshots / none** (best; median) | "
             f"chain: {LAYERS} overlays / one file (best; median) |")
    L.append("|---|" + "---:|" * (len(cols) + 2))
    L.append("| files the reader opens (live chain) | " + " | ".join(str(dep[c]) for c, _ in cols) + " | | |")
    L.append("| same content as its pair (`qemu-img compare -U`) | "
             + " | ".join("yes" if reads["same"][c] else "NO" for c, _ in cols) + " | | |")
    ratios = {}

    def row(key, name, times, work, unit):
        best = {c: work / min(times[c]) for c, _ in cols}
        med = {c: work / statistics.median(times[c]) for c, _ in cols}
        r1 = (best["ecslab_snap"] / best["ecslab_plain"], med["ecslab_snap"] / med["ecslab_plain"])
        r2 = (best["chain"] / best["flat"], med["chain"] / med["flat"])
        ratios[key] = (r1, r2)
        L.append(f"| {name} ({unit}) | " + " | ".join(f"{best[c]:.0f}" for c, _ in cols)
                 + f" | **{r1[0]:.2f}**; {r1[1]:.2f} | {r2[0]:.2f}; {r2[1]:.2f} |")
    row("seq", f"host, sequential 1 MiB, 4 in flight, whole disk x{SEQ_COUNT >> 10}",
        {c: h[c]["seq"] for c, _ in cols}, seq_bytes / (1 << 20), "MiB/s")
    row("rand", "host, random 4 KiB, 1 in flight, whole disk", {c: h[c]["rand"] for c, _ in cols}, RAND_COUNT, "IOPS")
    row("rand_data", f"host, random 4 KiB, 1 in flight, within the written {data_bytes >> 20} MiB",
        {c: h[c]["rand_data"] for c, _ in cols}, RAND_COUNT, "IOPS")
    row("guest", f"guest, `dd bs=1M iflag=direct`, whole disk", {c: g[c] for c, _ in cols},
        (READ_DISK_GIB << 30) / (1 << 20), "MiB/s")
    L.append("")
    worst_best = min(r[0][0] for r in ratios.values())
    worst_med = min(r[0][1] for r in ratios.values())
    L.append(f"**Target** (read throughput after {LAYERS} snapshots at least 0.8 of the same disk with none): "
             f"lowest ecslab ratio {worst_best:.2f} on the best runs, {worst_med:.2f} on the medians: "
             f"{'met' if worst_best >= 0.8 else 'MISSED'}"
             + ("" if (worst_best >= 0.8) == (worst_med >= 0.8) else " (the medians say otherwise: noise)") + ".")
    L.append("")
    L.append(f"While building it: {LAYERS} CreateSnapshot calls with {CHUNK_MIB} MiB (x2 disks) written before each, "
             f"p50 {f(reads['calls']['p50'])} ms, p99 {f(reads['calls']['p99'])} ms; to accomplished p50 "
             f"{f(reads['dones']['p50'])} ms, p99 {f(reads['dones']['p99'])} ms.")
    L.append("")
    L.extend(findings(lat, reads, ratios))
    L.append(NOTES.strip())
    L.append("")
    return "\n".join(L)


def findings(lat, reads, ratios):
    f = bl.fmt_ms
    L = ["### Findings (computed from this run)", ""]
    for size, r in lat.items():
        e, acc, v = r["paths"]["ecslab"], r["paths"]["accomplished"], r["paths"]["virsh"]
        api = r["paths"].get("api")
        L.append(f"* {size} GiB: ecslab answers in {f(e['p50'])} ms p50 ({f(e['p99'])} ms p99), "
                 f"{v['p50'] / e['p50']:.1f}x faster than `virsh` ({f(v['p50'])} ms)"
                 + (f" and {api['p50'] / e['p50']:.1f}x faster than the libvirt API ({f(api['p50'])} ms)" if api else "")
                 + f"; the snapshot is usable (`accomplished`) after {f(acc['p50'])} ms p50. The VM still reads through "
                 f"{r['ec_depth']} files with {r['n_live']} snapshots kept, against {r['lv_depth']} for the libvirt "
                 f"domain after {r['lv_layers']} snapshots.")
        for p in ("virsh", "api"):
            s = r["paths"].get(p)
            if s:
                a, b = s["first_last"]
                if b > 1.2 * a:
                    L.append(f"  The libvirt path slows down as its chain grows: `{p}` p50 {f(a)} ms over the first "
                             f"10 calls, {f(b)} ms over the last 10.")
        a, b = e["first_last"]
        L.append(f"  ecslab's first 10 vs last 10 calls: p50 {f(a)} vs {f(b)} ms.")
    a_small, a_big = (lat[SIZES_GIB[0]]["paths"]["accomplished"]["p50"],
                      lat[SIZES_GIB[-1]]["paths"]["accomplished"]["p50"])
    c_small, c_big = lat[SIZES_GIB[0]]["paths"]["ecslab"]["p50"], lat[SIZES_GIB[-1]]["paths"]["ecslab"]["p50"]
    L.append(f"* Disk size: the API call takes {f(c_small)} ms at {SIZES_GIB[0]} GiB and {f(c_big)} ms at "
             f"{SIZES_GIB[-1]} GiB (p50); the time to `accomplished` goes from {f(a_small)} to {f(a_big)} ms"
             + (": the background merge (`block-commit` of the frozen layer) walks the whole virtual disk, the live "
                "point in time does not." if a_big > 1.25 * a_small else "."))
    r = ratios
    L.append(f"* Reads: after {reads['n_snaps']} snapshots the ecslab disk reads like the one never snapshotted "
             f"(best-run ratios {r['seq'][0][0]:.2f} sequential, {r['rand'][0][0]:.2f} random, "
             f"{r['rand_data'][0][0]:.2f} random within the data, {r['guest'][0][0]:.2f} in the guest; the spread "
             f"around 1 is mostly this machine's noise): its VM opens {reads['depths']['ecslab_snap']} files, like the "
             f"disk without snapshots. The {LAYERS}-overlay "
             f"chain libvirt would leave reads at {r['seq'][1][0]:.2f} (sequential), {r['rand'][1][0]:.2f} (random) "
             f"and {r['rand_data'][1][0]:.2f} (random within the data) of one file: a read of a cluster that is not "
             "in the top layer is looked up layer by layer, and never-written clusters go through all "
             f"{reads['depths']['chain']} files."
             + (f" In the guest the chain reads at {r['guest'][1][0]:.2f} of one file: there a 1 MiB request costs "
                "more in TCG's device emulation than in the chain lookups, so the chain's share is smaller."
                if r["guest"][1][0] > r["seq"][1][0] else f" In the guest: {r['guest'][1][0]:.2f}."))
    L.append("")
    return L


NOTES = """
### Method notes

* **Same VMs on both sides.** Per disk size, one ecslab instance (`ecs.lab.tiny`: 1 vCPU, 128 MiB, machine `pc`,
  TCG, virtio disks; RunInstances `DataDisk.1.Size` = 1 or 20) and one transient libvirt domain (`virsh create`: type
  `qemu` = TCG, 1 vCPU, 128 MiB, machine `pc`, virtio system disk = qcow2 overlay of the same image, blank qcow2 data
  disk of the same size, serial on a UNIX socket) run at the same time, both booted to the guest's READY marker.
* **Interleaved.** Each round writes 1 MiB of random bytes from each guest into its data disk (`dd if=/tmp/p
  of=/dev/vdX bs=1M seek=... conv=fsync` over the serial shell, offsets spread over the whole disk, untimed), then
  runs each path once in a rotating order. The next ecslab call waits until the previous snapshot is `accomplished`
  (one creation per disk at a time, as in ECS), so no merge overlaps a libvirt call. p50/p99 are linear
  interpolations between closest ranks; with N = 50, p99 lies between the two slowest calls and is noisy.
* **ecslab**: `benchlib.RpcClient` (V1 signature by hand, one keep-alive connection), CreateSnapshot `DiskId` +
  `SnapshotName`, timed until the reply is parsed. What the call does inside: a QMP `transaction` of
  `blockdev-snapshot-sync` (QEMU creates the new top layer; no guest pause), store updates, then the answer; the
  frozen layer's merge into the disk's base (`block-commit` of an intermediate layer) runs after the answer and
  ends in `accomplished`.
* **virsh**: `virsh -c qemu:///system snapshot-create-as DOM NAME --disk-only --no-metadata --atomic --diskspec
  vda,snapshot=no --diskspec vdb,snapshot=external,file=...` as a new process (what a script runs). The `--diskspec`
  options limit it to the data disk, as ecslab's CreateSnapshot of one disk does (without them libvirt would also
  snapshot the system disk). A name is given because the default name (the current second) collides when two
  snapshots are taken within a second. **libvirt API**: python3-libvirt `snapshotCreateXML` with the same disks and
  flags (DISK_ONLY | NO_METADATA | ATOMIC) on a connection opened once. Both libvirt paths run on the same domain,
  so its chain grows by two overlays a round.
* **Quota.** `scripts/bench` starts the server with the default `--snapshot-quota` (64 per disk) and passes no
  extra arguments, so the section deletes the oldest snapshot whenever a disk would keep more than 60 (only when
  WARMUP + N > 60). After the timed rounds it deletes the 3 oldest snapshots of each disk, timed, for the record.
* **Reads, host side.** `qemu-img bench -U` (shared lock, the instance keeps running) on each disk's live top file
  (`disks.path` in `DATA/ecslab.db`), default cache mode (host page cache, warm: a first untimed pass is dropped),
  the four files interleaved, BENCH_READ_REPS (default 9) runs each: sequential = 2048 requests of 1 MiB,
  4 in flight (the disk read twice); random = 20000 requests of 4 KiB, 1 in flight, at offsets k x 40009 pages
  wrapping around the device (a fixed scattered order, each 4 KiB page at most once); "within the written data" is
  the same over a `raw` node with `offset`/`size` that exposes only the range the chunks cover. The files are all on
  the same filesystem; with a warm page cache the numbers measure QEMU's qcow2 lookups through the chain, not the
  storage. `qemu-img compare -U` checks that each pair reads the same.
* **Best run.** On this shared 2-core machine a run is often descheduled for a while (the same read of the same
  file varied up to 3x between runs, both ways, while this section was written), so the table shows each read's
  best run, the closest to its own cost; the ratio of the medians is printed beside it.
* **Reads, guest side.** `dd if=/dev/vdX of=/dev/null bs=1M count=1024 iflag=direct` typed on the serial shell,
  timed on the host from sending the line to its end marker, minus the shell's round trip (median of 7 `true`),
  BENCH_READ_REPS runs each, interleaved. The ecslab disks are read in the ecslab instance; the host-built
  chain and file in a bare QEMU started with the same machine arguments (read-only `-drive`s). Random reads in the
  guest are left out: busybox has no tool for them, and a shell loop of `dd` spends its time in process start-up
  under TCG, not in the disk.
"""


if __name__ == "__main__":
    main()
