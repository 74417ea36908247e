"""scripts/bench section "GetInstanceScreenshot": ecslab's GetInstanceScreenshot end to end against libvirt's
`virsh screenshot` + JPEG conversion, at 720x400 (VGA text), 1024x768 and 1920x1080 (VBE graphics), in one run.

Run by scripts/bench (which builds ecslab, starts the server and exports ECSLAB_ENDPOINT, the admin key, BENCH_TMP,
BENCH_N, ...). Prints the Markdown section on stdout; progress goes to stderr.

Per resolution, an ecslab instance and a transient libvirt domain of the same image (qcow2 overlay, TCG, 1 vCPU,
128 MiB, machine pc, VGA) run side by side and the paths are measured interleaved, round by round, so that
background load hits them alike:

  ecslab (lean client)  signed V1-RPC GET built by hand (HMAC-SHA1), http.client keep-alive, response read, JSON
                        parsed, base64 decoded -> JPEG bytes. Timer covers all of it.
  ecslab (official SDK) alibabacloud_ecs20140526 Client.get_instance_screenshot (V3 signature) + base64 decode.
  virsh screenshot      `virsh -c qemu:///system screenshot DOM FILE` as a new process (what users run), then read
                        FILE (PNG with QEMU 7.2), decode with Pillow and encode JPEG quality 85 -> JPEG bytes.
  libvirt API           python3-libvirt virDomainScreenshot on an open connection + stream read, same Pillow
                        conversion (optional: skipped when python3-libvirt is missing).

The same rotation also times the profile steps (where ecslab's time goes): QMP screendump on a third, bare QEMU with
ecslab's display arguments (PPM to /dev/shm as ecslab does; PNG as libvirt does), an HTTP round trip of a trivial
signed call (DescribeRegions), the client-side JSON + base64 decode, `virsh domstate` (spawn + connect), the
libvirt stream alone, the Pillow conversion alone and libjpeg-turbo's encode of the frame. ecslab's Rust
post-processing steps are timed afterwards by scripts/bench.d/encode-bench (same crate versions as ecslab).
"""
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

from PIL import Image, features  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(os.environ.get("BENCH_N", "50"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
TMP = os.environ["BENCH_TMP"]
GUEST_DIR = os.environ["GUEST_DIR"]
DOMAIN_PREFIX = os.environ.get("BENCH_DOMAIN_PREFIX", f"ecslab-bench-{os.getpid()}-")
QUALITY = 85  # ecslab's CloudConfig::jpeg_quality default
LIBVIRT_URI = "qemu:///system"
BOOT_TIMEOUT = 120.0

CASES = [
    # label, image file, width, height, serial marker
    ("720x400 text", "guest.qcow2", 720, 400, "VMTEST-GUEST-READY"),
    ("1024x768 graphics", "gfx-1024x768.qcow2", 1024, 768, "VMTEST-GFX-READY 1024x768"),
    ("1920x1080 graphics", "gfx-1920x1080.qcow2", 1920, 1080, "VMTEST-GFX-READY 1920x1080"),
]

# What ecslab gives QEMU for the display (crates/vmm/src/qemu/argv.rs push_machine), for the profile's bare QEMU.
QEMU_ARGS = ["-nodefaults", "-no-user-config", "-machine", "pc", "-accel", "tcg", "-m", "128", "-smp", "1",
             "-display", "none", "-vga", "std"]


def load_libvirt():
    try:
        import libvirt  # noqa: F401
    except ImportError:
        # python3-libvirt is a Debian package; its C module is built for the system CPython 3.11.
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import libvirt  # noqa: F401
        except ImportError as e:
            bl.log(f"libvirt API variant skipped: {e}")
            return None
    import libvirt
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt


# --- the paths being measured ----------------------------------------------------------------------------------------

def to_jpeg(image_bytes):
    im = Image.open(io.BytesIO(image_bytes))
    if im.mode != "RGB":
        im = im.convert("RGB")
    out = io.BytesIO()
    im.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def ecslab_lean(client, instance_id):
    body = client.raw("GetInstanceScreenshot", {"InstanceId": instance_id})
    return base64.b64decode(json.loads(body)["Screenshot"])


def make_sdk():
    from alibabacloud_ecs20140526 import models as ecs_models
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.models import Config

    cfg = Config(access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                 access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                 endpoint=os.environ["ECSLAB_ENDPOINT"], protocol="http", region_id="local")
    client = Client(cfg)

    def shot(instance_id):
        req = ecs_models.GetInstanceScreenshotRequest(region_id="local", instance_id=instance_id)
        return base64.b64decode(client.get_instance_screenshot(req).body.screenshot)
    return shot


def virsh_shot(domain, path):
    subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "screenshot", domain, path], check=True,
                   stdout=subprocess.DEVNULL)
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return to_jpeg(data)


def libvirt_stream(conn, dom):
    st = conn.newStream(0)
    dom.screenshot(st, 0, 0)
    chunks = []
    while True:
        chunk = st.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    st.finish()
    return b"".join(chunks)


def libvirt_api_shot(conn, dom):
    return to_jpeg(libvirt_stream(conn, dom))


# --- VMs --------------------------------------------------------------------------------------------------------------

def import_images():
    ids = {}
    for _, image, *_ in CASES:
        name = "bench-" + image.replace(".qcow2", "").replace("_", "-")
        out = subprocess.run([os.environ["ECSLAB_BIN"], "images", "import", "--name", name,
                              "--data-dir", os.environ["ECSLAB_DATA_DIR"], "--endpoint", os.environ["ECSLAB_ENDPOINT"],
                              os.path.join(GUEST_DIR, image)], check=True, capture_output=True, text=True)
        ids[image] = out.stdout.strip().splitlines()[-1]
    return ids


def wait(what, check, timeout=BOOT_TIMEOUT, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        r = check()
        if r:
            return r
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def ecslab_start(client, image_id, marker):
    r = client.call("RunInstances", {"ImageId": image_id, "InstanceType": "ecs.lab.tiny", "Amount": "1"})
    iid = r["InstanceIdSets"]["InstanceIdSet"][0]

    def running():
        d = client.call("DescribeInstances", {"InstanceIds": json.dumps([iid])})
        inst = d["Instances"]["Instance"]
        return inst and inst[0]["Status"] == "Running"

    def ready():
        out = client.call("GetInstanceConsoleOutput", {"InstanceId": iid}).get("ConsoleOutput", "")
        return marker in base64.b64decode(out).decode("utf-8", "replace")
    return iid, running, ready


def libvirt_start(label, image, marker):
    name = DOMAIN_PREFIX + image.replace(".qcow2", "")
    d = os.path.join(TMP, "libvirt-" + image.replace(".qcow2", ""))
    os.makedirs(d)
    os.chmod(d, 0o755)
    base = os.path.join(d, "base.qcow2")
    shutil.copyfile(os.path.join(GUEST_DIR, image), base)  # a copy: build/ may not be readable by libvirt-qemu
    os.chmod(base, 0o644)
    disk = os.path.join(d, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", disk], check=True)
    serial = os.path.join(d, "serial.log")
    xml = f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <emulator>{shutil.which('qemu-system-x86_64')}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
    <video><model type='vga'/></video>
  </devices>
</domain>
"""
    xml_path = os.path.join(d, "domain.xml")
    with open(xml_path, "w") as f:
        f.write(xml)
    subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "create", xml_path], check=True, stdout=subprocess.DEVNULL)

    def ready():
        try:
            with open(serial, errors="replace") as f:
                return marker in f.read()
        except OSError:
            return False
    return name, ready


def libvirt_destroy(name):
    subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "destroy", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


# --- checks on the decoded JPEGs --------------------------------------------------------------------------------------

def jpeg_size(data):
    if data[:3] != b"\xff\xd8\xff":
        return None
    return Image.open(io.BytesIO(data)).size


def content_ok(data, kind):
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    if kind == "text":
        small = im.resize((w // 4, h // 4))
        raw = small.tobytes()
        px = list(zip(raw[0::3], raw[1::3], raw[2::3]))
        blue = sum(1 for r, g, b in px if b >= 128 and r < 96 and g < 96)
        return blue / len(px) > 0.5
    left, right = im.getpixel((w // 4, h // 2)), im.getpixel((3 * w // 4, h // 2))
    close = lambda a, b: all(abs(x - y) <= 40 for x, y in zip(a, b))  # noqa: E731
    return close(left, (0, 0, 255)) and close(right, (255, 255, 0))


# --- profile helpers --------------------------------------------------------------------------------------------------

class QemuProbe:
    """A bare QEMU with ecslab's display arguments and our own QMP connection, for timing QMP screendump (PPM to
    /dev/shm as ecslab asks for it, PNG as libvirt does). Runs beside the measured VMs, under the same load."""

    def __init__(self, image, marker):
        self.marker = marker
        d = os.path.join(TMP, "probe-" + image.replace(".qcow2", ""))
        os.makedirs(d)
        disk = os.path.join(d, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(GUEST_DIR, image), "-F",
                        "qcow2", disk], check=True)
        sock, self.serial = os.path.join(d, "qmp.sock"), os.path.join(d, "serial.log")
        self.proc = subprocess.Popen(["qemu-system-x86_64", *QEMU_ARGS, "-qmp", f"unix:{sock},server=on,wait=off",
                                      "-serial", f"file:{self.serial}", "-drive",
                                      f"file={disk},if=virtio,format=qcow2"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.qmp = bl.Qmp(sock)
        self.shm = f"/dev/shm/{DOMAIN_PREFIX}probe"

    def ready(self):
        try:
            with open(self.serial, errors="replace") as f:
                return self.marker in f.read()
        except OSError:
            return False

    def dump(self, fmt):
        path = f"{self.shm}.{fmt}"
        self.qmp.cmd("screendump", filename=path, **({"format": "png"} if fmt == "png" else {}))
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        return data

    def stop(self):
        try:
            self.qmp.cmd("quit")
            self.qmp.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def build_encode_bench():
    """Build encode-bench twice (jpeg-encoder with and without its simd feature); returns (bins, crate versions)."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "encode-bench")
    work = os.path.join(TMP, "encode-bench")
    shutil.copytree(src, work)
    shutil.copyfile(os.path.join(ROOT, "Cargo.lock"), os.path.join(work, "Cargo.lock"))  # ecslab's crate versions
    bins = {}
    with open(os.path.join(ROOT, "Cargo.lock")) as fh:
        has_turbo = 'name = "turbojpeg"' in fh.read()
    for variant, flags in (("simd", ["--features", "turbojpeg"] if has_turbo else []),
                           ("nosimd", ["--no-default-features"])):
        target = os.path.join(ROOT, "target", "bench-encode" + ("" if variant == "simd" else "-nosimd"))
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        for extra in (["--offline"], []):
            r = subprocess.run(["cargo", "build", "--release", "-q", *flags, *extra], cwd=work, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode == 0:
                bins[variant] = os.path.join(target, "release", "ecslab-encode-bench")
                break
        else:
            bl.log(f"encode-bench ({variant}) build failed, skipped:\n{r.stderr[-2000:]}")
    versions = {}
    try:
        lock = open(os.path.join(work, "Cargo.lock")).read()
        for crate in ("turbojpeg", "jpeg-encoder", "image", "base64", "serde_json"):
            m = re.search(r'name = "' + re.escape(crate) + r'"\nversion = "([^"]+)"', lock)
            if m:
                versions[crate] = m.group(1)
    except OSError:
        pass
    return bins, versions


def ecslab_encoder():
    """Which JPEG encoder ecslab uses, from crates/core/Cargo.toml: "turbojpeg" or "jpeg_encoder"."""
    try:
        with open(os.path.join(ROOT, "crates", "core", "Cargo.toml")) as fh:
            deps = fh.read()
    except OSError:
        return "jpeg_encoder"
    return "turbojpeg" if re.search(r"^turbojpeg\b", deps, re.M) else "jpeg_encoder"


def encoder_names(versions):
    return {
        "turbojpeg": f"turbojpeg {versions.get('turbojpeg', '')} (libjpeg-turbo)",
        "jpeg_encoder": f"jpeg-encoder {versions.get('jpeg-encoder', '')} (simd)",
        "nosimd": f"jpeg-encoder {versions.get('jpeg-encoder', '')} without `simd`",
        "image_jpeg": f"image {versions.get('image', '')}",
    }


def encode_ms(label, key, extra, rust):
    return extra[label]["nosimd"]["p50"] if key == "nosimd" else rust[label][key]["p50"]


def run_encode_bench(binary, ppms):
    out = subprocess.run([binary, str(max(N, 20)), str(QUALITY), *ppms.values()], check=True, capture_output=True,
                         text=True).stdout
    by_file = {json.loads(line)["file"]: json.loads(line) for line in out.splitlines() if line.strip()}
    return {label: by_file[ppm] for label, ppm in ppms.items()}


# --- main -------------------------------------------------------------------------------------------------------------

def main():
    facts = bl.machine_facts(ROOT)
    load_start = bl.loadavg()
    client = bl.client_from_env()
    libvirt = load_libvirt()
    lv_conn = libvirt.open(LIBVIRT_URI) if libvirt else None
    sdk_shot = make_sdk()

    bl.log("importing the guest images into ecslab")
    images = import_images()

    results = {}   # label -> path -> summary
    checks = {}    # label -> path -> (dims set, jpeg bytes p50, content ok)
    extra = {}     # label -> misc profile numbers
    ppms = {}
    instances, domains, probes = [], [], []
    try:
        for label, image, w, h, marker in CASES:
            bl.log(f"{label}: starting the ecslab instance, the libvirt domain and a bare QEMU for the profile")
            iid, ec_running, ec_ready = ecslab_start(client, images[image], marker)
            instances.append(iid)
            dom_name, lv_ready = libvirt_start(label, image, marker)
            domains.append(dom_name)
            probe = QemuProbe(image, marker)
            probes.append(probe)
            wait(f"ecslab {iid} Running", ec_running)
            wait(f"{marker} from ecslab {iid}", ec_ready, interval=0.5)
            wait(f"{marker} from libvirt {dom_name}", lv_ready)
            wait(f"{marker} from the bare QEMU", probe.ready)
            # Let the text console settle after READY (the last lines are drawn around it).
            time.sleep(1.0 if "GUEST" in marker else 0.3)
            wait("ecslab screenshot size", lambda: jpeg_size(ecslab_lean(client, iid)) == (w, h), timeout=30)
            png_path = os.path.join(TMP, "virsh-shot.png")
            wait("virsh screenshot size", lambda: jpeg_size(virsh_shot(dom_name, png_path)) == (w, h), timeout=30)
            dom = lv_conn.lookupByName(dom_name) if lv_conn else None

            # Inputs of the CPU-only profile steps.
            body = client.raw("GetInstanceScreenshot", {"InstanceId": iid})
            png = libvirt_stream(lv_conn, dom) if dom is not None else None
            if png is None:
                subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "screenshot", dom_name, png_path], check=True,
                               stdout=subprocess.DEVNULL)
                png = open(png_path, "rb").read()
            ppm = os.path.join(TMP, f"shot-{w}x{h}.ppm")
            with open(ppm, "wb") as fh:
                fh.write(probe.dump("ppm"))
            ppms[label] = ppm
            frame = Image.open(ppm)
            frame.load()

            def turbo_encode():
                out = io.BytesIO()
                frame.save(out, "JPEG", quality=QUALITY)
                return out.getvalue()

            paths = [
                ("ecslab (lean client)", lambda: ecslab_lean(client, iid)),
                ("ecslab (official SDK)", lambda: sdk_shot(iid)),
                ("virsh screenshot + Pillow JPEG", lambda: virsh_shot(dom_name, png_path)),
            ]
            if dom is not None:
                paths.append(("libvirt API + Pillow JPEG", lambda: libvirt_api_shot(lv_conn, dom)))
            steps = [
                ("describe_regions", lambda: client.call("DescribeRegions")),
                ("client_sign", lambda: client.signed_url("GetInstanceScreenshot", {"InstanceId": iid})),
                ("client_decode", lambda: base64.b64decode(json.loads(body)["Screenshot"])),
                ("qmp_ppm", lambda: probe.dump("ppm")),
                ("qmp_png", lambda: probe.dump("png")),
                ("virsh_domstate", lambda: subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, "domstate", dom_name],
                                                          check=True, stdout=subprocess.DEVNULL)),
                ("pillow_convert", lambda: to_jpeg(png)),
                ("turbo", turbo_encode),
            ]
            if dom is not None:
                steps.append(("libvirt_stream", lambda: libvirt_stream(lv_conn, dom)))
            everything = paths + steps
            samples = {name: [] for name, _ in everything}
            outputs = {name: [] for name, _ in paths}
            bl.log(f"{label}: {WARMUP} warm-ups + {N} timed calls per path and profile step, interleaved")
            for _ in range(WARMUP):
                for _, fn in everything:
                    fn()
            for i in range(N):
                k = i % len(everything)
                for name, fn in everything[k:] + everything[:k]:
                    t0 = time.perf_counter()
                    out = fn()
                    samples[name].append(time.perf_counter() - t0)
                    if name in outputs:
                        outputs[name].append(out)
            results[label] = {name: bl.summary(samples[name]) for name, _ in paths}
            extra[label] = {name: bl.summary(samples[name]) for name, _ in steps}
            extra[label].update(body_bytes=len(body), png_bytes=len(png), turbo_bytes=len(turbo_encode()))
            checks[label] = {}
            for name, outs in outputs.items():
                dims = {jpeg_size(o) for o in outs}
                sizes = sorted(len(o) for o in outs)
                checks[label][name] = (dims, sizes[len(sizes) // 2],
                                       content_ok(outs[-1], "text" if "GUEST" in marker else "gfx"))

            bl.log(f"{label}: cleaning up")
            client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            instances.remove(iid)
            libvirt_destroy(dom_name)
            domains.remove(dom_name)
            probe.stop()
            probes.remove(probe)
    finally:
        for iid in instances:
            try:
                client.call("DeleteInstance", {"InstanceId": iid, "Force": "true"})
            except Exception as e:  # noqa: BLE001
                bl.log(f"DeleteInstance {iid}: {e}")
        for name in domains:
            libvirt_destroy(name)
        for probe in probes:
            probe.stop()

    bl.log("building and running the Rust post-processing micro-benchmark (scripts/bench.d/encode-bench)")
    bins, versions = build_encode_bench()
    rust = run_encode_bench(bins["simd"], ppms) if "simd" in bins else {}
    rust_nosimd = run_encode_bench(bins["nosimd"], ppms) if "nosimd" in bins else {}
    for label in ppms:
        if label in rust_nosimd:
            extra[label]["nosimd"] = rust_nosimd[label]["jpeg_encoder"]

    facts["load_start"], facts["load_end"] = load_start, bl.loadavg()
    facts["pillow"] = f"Pillow {Image.__version__}" + (" (libjpeg-turbo)" if features.check_feature("libjpeg_turbo") else "")
    facts["libvirt_api"] = "yes" if lv_conn else "no (python3-libvirt missing)"
    print(render(facts, results, checks, extra, rust, versions))


NOTES = """
### Method notes

* **Same VMs on both sides.** Per resolution, one ecslab instance (`ecs.lab.tiny`: 1 vCPU, 128 MiB, machine `pc`,
  `-vga std`, `-display none`) and one transient libvirt domain (`virsh create`: type `qemu` = TCG, 1 vCPU, 128 MiB,
  machine `pc`, virtio disk = qcow2 overlay of the same image, `<video><model type='vga'/></video>`, serial to a
  file) run at the same time. libvirt 9.0 needs **no** `<graphics>` element for `virsh screenshot`; with QEMU 7.2 it
  asks QEMU for a PNG screendump (`image/png`). Both are measured only after the guest printed its READY marker on
  serial and a screenshot had the expected size.
* **Interleaved.** Each of the N rounds calls every path once, in a rotating order, so load from other processes on
  the machine hits all paths alike. p50/p99 are linear interpolations between closest ranks (with N = 50, p99 lies
  between the two slowest calls, so it is noisy).
* **ecslab (lean client)**: `scripts/bench.d/benchlib.py` `RpcClient`: V1 RPC signature (HMAC-SHA1) computed by hand,
  GET over one `http.client` keep-alive connection, body read, `json.loads`, `base64.b64decode`. **ecslab (official
  SDK)**: `alibabacloud_ecs20140526` `get_instance_screenshot` (ACS3-HMAC-SHA256) + base64 decode; the SDK row minus
  the lean row is the SDK's own overhead.
* **virsh**: `virsh -c qemu:///system screenshot DOM FILE` run as a new process each time (as a user or script does),
  then FILE read and converted in-process with Pillow (PNG decode, `save(..., 'JPEG', quality=85)`, libjpeg-turbo);
  this favours libvirt, since a user would typically spawn a converter too. **libvirt API**: python3-libvirt
  `virDomainScreenshot` on a connection opened once, stream read, same Pillow conversion.
* **Captured size** is read from every decoded JPEG (all N must be exactly W x H); the content of the last one is
  checked too (text: > 50 % VGA blue; graphics: left half blue, right half yellow).
* **Profile.** The profile steps run in the same rotation as the end-to-end calls, so they see the same load. QEMU's
  screendump is timed on a third, bare QEMU started beside the two VMs with ecslab's display arguments, over our own
  QMP connection (the QMP sockets of the ecslab and libvirt QEMUs are taken). The Rust steps are timed afterwards by
  `scripts/bench.d/encode-bench` on that QEMU's PPM, with the crate versions of ecslab's `Cargo.lock`, doing what
  `Frame::from_ppm` and `screen::screenshot_base64` do, with ecslab's encoder (read from `crates/core/Cargo.toml`)
  and the alternatives (jpeg-encoder is built with and without its `simd` feature); libjpeg-turbo through Pillow is
  timed on the same frame as a cross-check. "Unaccounted" is the end-to-end p50
  minus the p50s of the steps: the server's store lookup of the instance, task hand-offs (`spawn_blocking`), QMP I/O
  and noise; p50s do not add up exactly, so it can come out slightly negative.
* Tools beyond `scripts/setup`: Pillow (pip, into `.venv` only, not in `tests/python/requirements.txt`) and
  python3-libvirt (apt; the libvirt API rows are skipped without it). `scripts/bench` installs both when missing.
"""


def findings(results, extra, rust, versions):
    """A few sentences computed from this run's numbers (1920x1080 is where the target is)."""
    label = "1920x1080 graphics"
    enc_key, names = ecslab_encoder(), encoder_names(versions)
    try:
        e2e = results[label]["ecslab (lean client)"]["p50"]
        dump = extra[label]["qmp_ppm"]["p50"]
        enc = rust[label][enc_key]["p50"]
        pillow = extra[label]["turbo"]["p50"]
        rtt = extra[label]["describe_regions"]["p50"]
        virsh = results[label]["virsh screenshot + Pillow JPEG"]["p50"]
        png = extra[label]["qmp_png"]["p50"]
        conv = extra[label]["pillow_convert"]["p50"]
        spawn = extra[label]["virsh_domstate"]["p50"]
    except KeyError:
        return []
    others = {}
    for key in names:
        try:
            others[key] = encode_ms(label, key, extra, rust)
        except KeyError:
            pass
    f = bl.fmt_ms
    L = ["### Findings (computed from this run, 1920x1080)", ""]
    L.append(f"* ecslab: QEMU's PPM screendump ({f(dump)} ms) and the JPEG encode ({names[enc_key]}: {f(enc)} ms) "
             f"make {100 * (dump + enc) / e2e:.0f} % of the {f(e2e)} ms p50; HTTP + signature + auth is {f(rtt)} ms, "
             f"base64 and JSON are negligible.")
    listing = ", ".join(f"{names[k]} {f(v)} ms" for k, v in sorted(others.items(), key=lambda kv: kv[1]))
    best_key = min(others, key=others.get)
    if best_key == enc_key or others[best_key] > enc * 0.9:
        advice = (f"ecslab's encoder is the fastest measured (libjpeg-turbo through Pillow, as a cross-check: "
                  f"{f(pillow)} ms); what remains is mostly QEMU's screendump, which ecslab does not control.")
    else:
        advice = (f"Switching `crates/core/src/screen.rs` to {names[best_key]} would save about "
                  f"{f(enc - others[best_key])} ms per 1080p call.")
    L.append(f"* Encoders on the same frame: {listing}. {advice}")
    L.append(f"* libvirt: QEMU's PNG screendump alone takes {f(png)} ms (zlib), the `virsh` process spawn + connect "
             f"about {f(spawn)} ms, and the PNG-to-JPEG conversion {f(conv)} ms, of its {f(virsh)} ms p50. ecslab "
             f"avoids the PNG (PPM to tmpfs instead) and the process spawn.")
    L.append("")
    return L


# --- Markdown ---------------------------------------------------------------------------------------------------------

def render(facts, results, checks, extra, rust, versions):
    f = bl.fmt_ms
    L = []
    L.append("## GetInstanceScreenshot")
    L.append("")
    L.append(f"Command: `{os.environ.get('BENCH_COMMAND', 'scripts/bench --only screenshot')}` "
             f"(N = {N} timed calls per path and resolution after {WARMUP} warm-ups).  ")
    given = os.environ.get("BENCH_ECSLAB_BIN")
    L.append(f"Date: {facts['date']}. ecslab commit {facts['commit']}"
             + (f"; binary given by BENCH_ECSLAB_BIN, not built by this run" if given else "") + ".  ")
    L.append(f"Machine: {facts['cpu']}, {facts['cores']} cores"
             + (f" ({facts['host_hypervisor']} guest)" if facts["host_hypervisor"] else "")
             + f", Linux {facts['kernel']}, load average {facts['load_start']} at start, {facts['load_end']} at end.  ")
    L.append(f"{facts['qemu']}; {facts['libvirt']}; TCG everywhere; Python {facts['python']}, {facts['pillow']}.")
    L.append("")
    L.append("Milliseconds per call, client side, from building the request to having the JPEG bytes. "
             "JPEG quality 85 on both sides (4:2:0 chroma subsampling on both).")
    L.append("")
    L.append("| Resolution | Path | p50 ms | p99 ms | min ms | JPEG bytes (median) | Captured size |")
    L.append("|---|---|---:|---:|---:|---:|---|")
    for label, paths in results.items():
        w, h = next((c[2], c[3]) for c in CASES if c[0] == label)
        for name, s in paths.items():
            dims, size, ok = checks[label][name]
            if dims == {(w, h)}:
                cap = f"{w}x{h} in {s['n']}/{s['n']}" + ("" if ok else ", content WRONG")
            else:
                cap = "MISMATCH: " + ", ".join("x".join(map(str, d)) if d else "not a JPEG" for d in dims)
            L.append(f"| {label} | {name} | {f(s['p50'])} | {f(s['p99'])} | {f(s['min'])} | {size} | {cap} |")
    L.append("")
    L.append("Ratios, ecslab (lean client) / libvirt path (lower is better):")
    L.append("")
    L.append("| Resolution | p50 vs virsh | p99 vs virsh | p50 vs libvirt API | p50 SDK vs lean client (SDK overhead) |")
    L.append("|---|---:|---:|---:|---:|")
    for label, p in results.items():
        e, v = p["ecslab (lean client)"], p["virsh screenshot + Pillow JPEG"]
        api = p.get("libvirt API + Pillow JPEG")
        sdk = p["ecslab (official SDK)"]
        L.append(f"| {label} | {e['p50'] / v['p50']:.2f} | {e['p99'] / v['p99']:.2f} | "
                 + (f"{e['p50'] / api['p50']:.2f}" if api else "n/a")
                 + f" | {sdk['p50'] - e['p50']:+.1f} ms |")
    L.append("")
    big = results.get("1920x1080 graphics")
    if big:
        e, v = big["ecslab (lean client)"]["p50"], big["virsh screenshot + Pillow JPEG"]["p50"]
        t1 = e <= v / 3
        t2 = e < 30
        L.append(f"**Target at 1920x1080** (p50 at most a third of the libvirt path's and under 30 ms): "
                 f"ecslab p50 {f(e)} ms vs virsh p50 {f(v)} ms, a third being {f(v / 3)} ms: "
                 f"{'met' if t1 else 'MISSED'}; under 30 ms: {'met' if t2 else 'MISSED'}.")
        L.append("")
    busy = max(float(facts["load_start"].split()[0]), float(facts["load_end"].split()[0]))
    if busy > (facts["cores"] or 1):
        L.append(f"> The machine was busy during this run (load average {busy:.1f} on {facts['cores']} cores, from other "
                 f"processes plus the 3 TCG guests of each step): absolute times are inflated, the ratios much less so.")
        L.append("")

    # Profile.
    L.append("### Where the time goes")
    L.append("")
    L.append("p50 ms of each step, measured separately (see the method notes):")
    L.append("")
    labels = list(extra)
    L.append("| Step | " + " | ".join(labels) + " |")
    L.append("|---|" + "---:|" * len(labels))

    def row(name, get):
        cells = []
        for lab in labels:
            try:
                cells.append(get(lab))
            except (KeyError, TypeError):
                cells.append("n/a")
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    row("**ecslab end to end (lean client)**", lambda l: f"**{f(results[l]['ecslab (lean client)']['p50'])}**")
    row("client: build + sign the request", lambda l: f"{extra[l]['client_sign']['p50']:.3f}")
    row("HTTP round trip of a trivial signed call (DescribeRegions), incl. signing",
        lambda l: f(extra[l]["describe_regions"]["p50"]))
    row("QEMU: QMP screendump, PPM to /dev/shm (what ecslab asks for), incl. reading the file",
        lambda l: f(extra[l]["qmp_ppm"]["p50"]))
    row("server: read + parse PPM (`Frame::from_ppm`)", lambda l: f"{rust[l]['read_parse']['p50']:.2f}")
    enc_key, names = ecslab_encoder(), encoder_names(versions)
    row(f"server: JPEG encode, ecslab's encoder: {names[enc_key]}", lambda l: f"{rust[l][enc_key]['p50']:.2f}")
    row(f"server: base64 {versions.get('base64', '')} of the JPEG", lambda l: f"{rust[l]['base64']['p50']:.3f}")
    row("server: JSON body (serde_json)", lambda l: f"{rust[l]['json']['p50']:.3f}")
    row("client: JSON parse + base64 decode", lambda l: f"{extra[l]['client_decode']['p50']:.2f}")

    def rest(l):
        e = results[l]["ecslab (lean client)"]["p50"]
        parts = (extra[l]["describe_regions"]["p50"] + extra[l]["qmp_ppm"]["p50"]
                 + rust[l]["read_parse"]["p50"] + rust[l][enc_key]["p50"] + rust[l]["base64"]["p50"]
                 + rust[l]["json"]["p50"] + extra[l]["client_decode"]["p50"])
        return f"{e - parts:.1f}"
    row("unaccounted (end to end minus the round trip, screendump, server steps and client decode)", rest)
    row("response body bytes", lambda l: str(extra[l]["body_bytes"]))
    for key, name in names.items():
        if key != enc_key and (key == "nosimd" or any(key in rust[l] for l in labels if l in rust)):
            row(f"*for comparison:* JPEG encode with {name}",
                lambda l, key=key: f"{encode_ms(l, key, extra, rust):.2f}")
    row("*for comparison:* JPEG encode with libjpeg-turbo through Pillow (Python)",
        lambda l: f"{extra[l]['turbo']['p50']:.2f}")
    byte_keys = [k for k in ("turbojpeg", "jpeg_encoder", "image_jpeg") if any(k in rust[l] for l in rust)]
    row("*for comparison:* JPEG bytes " + " / ".join(names[k].split(" ")[0] for k in byte_keys) + " / Pillow",
        lambda l: " / ".join(str(rust[l][k + "_bytes"]) for k in byte_keys) + f" / {extra[l]['turbo_bytes']}")
    row("*for comparison:* QMP screendump as PNG (what libvirt asks for)", lambda l: f(extra[l]["qmp_png"]["p50"]))
    L.append("")
    L.append("libvirt path, same steps:")
    L.append("")
    L.append("| Step | " + " | ".join(labels) + " |")
    L.append("|---|" + "---:|" * len(labels))
    row("**virsh screenshot + Pillow JPEG end to end**",
        lambda l: f"**{f(results[l]['virsh screenshot + Pillow JPEG']['p50'])}**")
    row("`virsh domstate` (process spawn + connect + trivial call)", lambda l: f(extra[l]["virsh_domstate"]["p50"]))
    row("virDomainScreenshot + stream read on an open connection", lambda l: f(extra[l]["libvirt_stream"]["p50"]))
    row("PNG from libvirt, bytes", lambda l: str(extra[l]["png_bytes"]))
    row("Pillow: PNG decode + JPEG encode q85", lambda l: f(extra[l]["pillow_convert"]["p50"]))
    L.append("")
    L.extend(findings(results, extra, rust, versions))
    L.append(NOTES.strip())
    L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    main()
