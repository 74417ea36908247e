//! Real-VM tests of the libvirt driver: the VMTEST guest (TCG) run as a libvirt domain, through
//! the system libvirtd (`qemu:///system`, or `$ECSLAB_LIBVIRT_URI`) and, for the remote path,
//! through a second libvirtd that listens on loopback TCP only (`qemu+tcp://127.0.0.1:PORT/system`)
//! and runs in its own mount namespace, so it has its own state, domains and virtlogd, as another
//! host would; disk paths and the screenshot stream cross the TCP connection. The `qemu+ssh://`
//! transport is tested the same way through an sshd of the test's own on loopback (key login
//! as root, `?keyfile=...&no_verify=1`) in front of the system libvirtd.
//!
//! The tests need a running libvirtd (scripts/test starts one); without it they fail, since they
//! are the proof that the driver works. Domain names carry the test process id, so parallel runs
//! on one libvirtd do not collide, and a guard destroys and undefines each domain.

use ecslab_vmm::libvirt::{LibvirtConfig, LibvirtDriver};
use ecslab_vmm::{Accel, DiskOverlay, DiskSpec, Frame, Hypervisor, PowerState, StopCause, VmEvent, VmSpec};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, Semaphore, SemaphorePermit};

const READY: &str = "VMTEST-GUEST-READY";
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Two TCG guests at a time keep boots quick on a 2-core machine.
static VM_SLOTS: Semaphore = Semaphore::const_new(2);

fn uri() -> String {
    std::env::var("ECSLAB_LIBVIRT_URI").unwrap_or_else(|_| "qemu:///system".into())
}

fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("ECSLAB_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/guest"));
    assert!(dir.join("guest.qcow2").is_file(), "run scripts/build-guest-image first");
    dir.canonicalize().unwrap()
}

fn qemu_img(args: &[&str]) {
    let status = Command::new("qemu-img").args(args).status().unwrap();
    assert!(status.success(), "qemu-img {args:?} failed");
}

fn virsh(uri: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("virsh").arg("-c").arg(uri).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A test VM: its files in a temp dir, a unique domain name, and cleanup of the domain.
struct TestVm {
    spec: VmSpec,
    uri: String,
    dir: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
}

impl TestVm {
    async fn new(name: &str, uri: &str, data_disk: bool) -> TestVm {
        TestVm::with_image(name, uri, "guest.qcow2", data_disk).await
    }

    async fn with_image(name: &str, uri: &str, image: &str, data_disk: bool) -> TestVm {
        let slot = VM_SLOTS.acquire().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.qcow2");
        let image = guest_dir().join(image);
        qemu_img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            image.to_str().unwrap(),
            system.to_str().unwrap(),
        ]);
        let mut disks = vec![DiskSpec { disk_id: "d-system".into(), path: system }];
        if data_disk {
            let base = dir.path().join("data-base.qcow2");
            let top = dir.path().join("data-top.qcow2");
            qemu_img(&["create", "-q", "-f", "qcow2", base.to_str().unwrap(), "64M"]);
            qemu_img(&[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "qcow2",
                "-b",
                base.to_str().unwrap(),
                top.to_str().unwrap(),
            ]);
            disks.push(DiskSpec { disk_id: "d-data".into(), path: top });
        }
        let spec = VmSpec {
            vm_id: format!("i-lvtest-{}-{name}", std::process::id()),
            run_dir: dir.path().join("run"),
            vcpus: 1,
            memory_mib: 128,
            display: true,
            disks,
            nics: Vec::new(),
            accel: Accel::Tcg,
        };
        TestVm { spec, uri: uri.to_string(), dir, _slot: slot }
    }

    fn id(&self) -> &str {
        &self.spec.vm_id
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        let _ = virsh(&self.uri, &["destroy", &self.spec.vm_id]);
        let _ = virsh(&self.uri, &["undefine", &self.spec.vm_id]);
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Wait until something listens on 127.0.0.1:`port`; on timeout, fail with `log`'s content.
fn wait_listening(port: u16, limit: Duration, what: &str, log: &Path) {
    let deadline = Instant::now() + limit;
    // A connect to a port nobody listens on can land on itself (simultaneous open): that is no listener.
    while !std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
    {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        assert!(Instant::now() < deadline, "{what} did not listen: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn driver_for(uri: &str) -> LibvirtDriver {
    LibvirtDriver::new(LibvirtConfig::for_uri(uri))
}

async fn wait_console(driver: &LibvirtDriver, vm_id: &str, needle: &str) -> String {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let console =
            String::from_utf8_lossy(&driver.console_output(vm_id, 1 << 20).await.unwrap()).into_owned();
        if console.contains(needle) {
            return console;
        }
        assert!(Instant::now() < deadline, "no {needle:?} on the console; it has:\n{console}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn next_stop(events: &mut broadcast::Receiver<VmEvent>, vm_id: &str) -> StopCause {
    let wait = async {
        loop {
            if let VmEvent::Stopped { vm_id: id, cause } = events.recv().await.unwrap() {
                if id == vm_id {
                    return cause;
                }
            }
        }
    };
    tokio::time::timeout(EVENT_TIMEOUT, wait).await.expect("no Stopped event from the driver")
}

fn blue_fraction(frame: &Frame) -> f64 {
    let blue = frame.rgb.chunks_exact(3).filter(|p| p[2] > 100 && p[0] < 80 && p[1] < 80).count();
    blue as f64 / (frame.width * frame.height) as f64
}

async fn wait_blue_screen(driver: &LibvirtDriver, vm_id: &str) -> Frame {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let frame = driver.screenshot(vm_id).await.unwrap();
        if blue_fraction(&frame) > 0.5 {
            return frame;
        }
        assert!(Instant::now() < deadline, "the screen never turned blue: {frame:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Time `n` screenshots; (p50, max) in ms.
async fn time_screenshots(driver: &LibvirtDriver, vm_id: &str, n: usize) -> (f64, f64) {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let begun = Instant::now();
        driver.screenshot(vm_id).await.unwrap();
        times.push(begun.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[n - 1])
}

#[tokio::test(flavor = "multi_thread")]
async fn boots_paints_the_screen_obeys_the_power_button_and_is_undefined_on_forget() {
    let vm = TestVm::new("life", &uri(), false).await;
    let driver = driver_for(&uri());
    let mut events = driver.events();
    driver.start(&vm.spec).await.unwrap();
    assert_eq!(driver.power_state(vm.id()).await.unwrap(), PowerState::Running);
    let (ok, xml) = virsh(&vm.uri, &["dumpxml", vm.id()]);
    assert!(ok && xml.contains("<serial>d-system</serial>"), "{xml}");
    wait_console(&driver, vm.id(), READY).await;
    let frame = wait_blue_screen(&driver, vm.id()).await;
    assert_eq!((frame.width, frame.height), (720, 400));
    let (p50, max) = time_screenshots(&driver, vm.id(), 20).await;
    eprintln!("timing: libvirt screenshot 720x400 (local: QMP pass-through screendump) p50 {p50:.1} ms, max {max:.1} ms");
    driver.wake_up(vm.id()).await.unwrap();

    driver.request_shutdown(vm.id()).await.unwrap();
    assert_eq!(next_stop(&mut events, vm.id()).await, StopCause::GuestShutdown);
    assert_eq!(driver.power_state(vm.id()).await.unwrap(), PowerState::Off);
    assert!(wait_console(&driver, vm.id(), "VMTEST-POWEROFF").await.contains(READY));
    let (_, state) = virsh(&vm.uri, &["domstate", vm.id()]);
    assert!(state.contains("shut off"), "the persistent domain stays defined: {state}");

    // Started again (redefined from the spec), then killed.
    driver.start(&vm.spec).await.unwrap();
    driver.kill(vm.id()).await.unwrap();
    assert_eq!(next_stop(&mut events, vm.id()).await, StopCause::Killed);
    driver.kill(vm.id()).await.unwrap();
    driver.forget(vm.id()).await.unwrap();
    let (exists, _) = virsh(&vm.uri, &["domstate", vm.id()]);
    assert!(!exists, "forget undefines the domain");
    driver.forget(vm.id()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn adoption_and_a_domain_destroyed_from_outside() {
    let vm = TestVm::new("adopt", &uri(), false).await;
    let first = driver_for(&uri());
    first.start(&vm.spec).await.unwrap();
    drop(first);
    // A new server process: the domain is found by name and reported running.
    let driver = driver_for(&uri());
    let mut events = driver.events();
    assert_eq!(driver.adopt(&vm.spec).await.unwrap(), PowerState::Running);
    wait_console(&driver, vm.id(), READY).await;
    let (ok, out) = virsh(&vm.uri, &["destroy", vm.id()]);
    assert!(ok, "{out}");
    assert_eq!(next_stop(&mut events, vm.id()).await, StopCause::Vanished);
    assert_eq!(driver.adopt(&vm.spec).await.unwrap(), PowerState::Off);
    assert!(matches!(driver.screenshot(vm.id()).await, Err(ecslab_vmm::VmError::NotRunning { .. })));
}

fn backing_of(file: &Path) -> Option<PathBuf> {
    let out = Command::new("qemu-img").args(["info", "-U", "--output=json"]).arg(file).output().unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["full-backing-filename"].as_str().or(info["backing-filename"].as_str()).map(PathBuf::from)
}

#[tokio::test(flavor = "multi_thread")]
async fn live_snapshot_commit_hotplug_and_resize() {
    let vm = TestVm::new("disks", &uri(), true).await;
    let driver = driver_for(&uri());
    driver.start(&vm.spec).await.unwrap();
    wait_console(&driver, vm.id(), READY).await;
    let top = vm.spec.disks[1].path.clone();
    let base = vm.dir.path().join("data-base.qcow2");
    let new_top = vm.dir.path().join("data-top-2.qcow2");

    // Freeze: the data disk goes on writing to a new overlay (written by the driver, taken over
    // by libvirt).
    let overlay =
        DiskOverlay { disk_id: "d-data".into(), current_top: top.clone(), new_top: new_top.clone() };
    driver.snapshot_disks(vm.id(), std::slice::from_ref(&overlay)).await.unwrap();
    assert_eq!(backing_of(&new_top), Some(top.clone()));
    driver.snapshot_disks(vm.id(), &[overlay]).await.unwrap(); // already taken: nothing to do
    let (_, snapshots) = virsh(&vm.uri, &["snapshot-list", "--name", vm.id()]);
    assert!(snapshots.trim().is_empty(), "libvirt keeps no snapshot metadata: {snapshots:?}");
    // The test guest runs qemu-ga on the agent channel (started before READY): libvirt holds
    // the connection, the snapshot froze through it, and everything is thawed again.
    let (_, xml) = virsh(&vm.uri, &["dumpxml", vm.id()]);
    assert!(xml.contains("name='org.qemu.guest_agent.0' state='connected'"), "{xml}");
    let agent = ecslab_vmm::GuestAgent::new(&driver, vm.id());
    assert_eq!(agent.fsfreeze_status().await.unwrap(), ecslab_vmm::guest_agent::GuestFsfreezeStatus::thawed);
    // Agent commands pass through libvirt (virDomainQemuAgentCommand): a process in the guest.
    agent.ping().await.unwrap();
    let pid = agent.exec("/bin/sh", &["-c".into(), "echo agent; exit 4".into()], None).await.unwrap();
    let status = loop {
        let status = agent.exec_status(pid).await.unwrap();
        if status.exited {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((status.exitcode, status.out_data.as_deref()), (Some(4), Some(&b"agent\n"[..])));

    // Merge the frozen layer into base; the new top then reads through base.
    let seen = std::sync::Mutex::new(Vec::new());
    let report = |pct: u8| seen.lock().unwrap().push(pct);
    driver.commit_layer(vm.id(), "d-data", &top, &base, &report).await.unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&100));
    assert_eq!(backing_of(&new_top), Some(base.clone()));
    let (_, xml) = virsh(&vm.uri, &["dumpxml", vm.id()]);
    assert!(!xml.contains("data-top.qcow2"), "libvirt's view follows the chain:\n{xml}");
    // Idempotent: the layer is gone, so this is done at once.
    driver.commit_layer(vm.id(), "d-data", &top, &base, &report).await.unwrap();

    // Hot-plug, grow and unplug a third disk.
    let extra = vm.dir.path().join("extra.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", extra.to_str().unwrap(), "32M"]);
    let disk = DiskSpec { disk_id: "d-extra".into(), path: extra.clone() };
    driver.attach_disk(vm.id(), &disk).await.unwrap();
    let (_, blk) = virsh(&vm.uri, &["domblklist", vm.id()]);
    assert!(blk.contains("extra.qcow2"), "{blk}");
    driver.resize_disk(vm.id(), "d-extra", 64 << 20).await.unwrap();
    let (_, info) = virsh(&vm.uri, &["domblkinfo", vm.id(), "vdc"]);
    assert!(info.contains("67108864"), "{info}");
    driver.detach_disk(vm.id(), "d-extra").await.unwrap();
    let (_, blk) = virsh(&vm.uri, &["domblklist", vm.id()]);
    assert!(!blk.contains("extra.qcow2"), "{blk}");
    driver.kill(vm.id()).await.unwrap();
}

/// A second libvirtd in its own mount namespace (private /run/libvirt, /var/lib/libvirt,
/// /var/cache/libvirt, /var/log/libvirt and /etc/libvirt/qemu on tmpfs, its own virtlogd),
/// listening on 127.0.0.1 TCP only with `auth_tcp = "none"`. Killed when dropped.
struct RemoteLibvirtd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl RemoteLibvirtd {
    fn start() -> RemoteLibvirtd {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("libvirtd.conf");
        std::fs::write(
            &conf,
            format!(
                "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"{port}\"\nauth_tcp = \"none\"\nlog_outputs = \"3:file:{}\"\n",
                dir.path().join("libvirtd.log").display()
            ),
        )
        .unwrap();
        let script = format!(
            "set -e\n\
             for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt/qemu; do\n\
               mkdir -p $d; mount -t tmpfs ecslab-test $d\n\
             done\n\
             mkdir -p /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu\n\
             virtlogd -d -p {dir}/virtlogd.pid\n\
             exec libvirtd --listen -f {conf} -p {dir}/libvirtd.pid\n",
            dir = dir.path().display(),
            conf = conf.display()
        );
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("unshare + libvirtd");
        let remote = RemoteLibvirtd { child, dir, port };
        let log = remote.dir.path().join("stderr.log");
        wait_listening(port, Duration::from_secs(30), "the loopback libvirtd", &log);
        remote
    }

    fn uri(&self) -> String {
        format!("qemu+tcp://127.0.0.1:{}/system", self.port)
    }
}

impl Drop for RemoteLibvirtd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("virtlogd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn boot_and_screenshot_through_a_tcp_libvirtd() {
    let remote = RemoteLibvirtd::start();
    let vm = TestVm::new("remote", &remote.uri(), false).await;
    let driver = driver_for(&remote.uri());
    let mut events = driver.events();
    driver.connect().await.unwrap();
    driver.start(&vm.spec).await.unwrap();
    let (_, local) = virsh(&uri(), &["domstate", vm.id()]);
    assert!(!local.contains("running"), "the domain lives on the other libvirtd only");
    wait_console(&driver, vm.id(), READY).await;
    let frame = wait_blue_screen(&driver, vm.id()).await;
    assert_eq!((frame.width, frame.height), (720, 400));
    let (p50, max) = time_screenshots(&driver, vm.id(), 20).await;
    eprintln!("timing: libvirt screenshot 720x400 over qemu+tcp (stream + PNG decode) p50 {p50:.1} ms, max {max:.1} ms");
    driver.kill(vm.id()).await.unwrap();
    assert_eq!(next_stop(&mut events, vm.id()).await, StopCause::Killed);
    driver.forget(vm.id()).await.unwrap();
}

/// The benchmark case: a 1920x1080 frame (left half blue, right half yellow) through the stream.
#[tokio::test(flavor = "multi_thread")]
async fn full_hd_screenshots_through_libvirt() {
    let vm = TestVm::with_image("fullhd", &uri(), "gfx-1920x1080.qcow2", false).await;
    let driver = driver_for(&uri());
    driver.start(&vm.spec).await.unwrap();
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let frame = loop {
        let frame = driver.screenshot(vm.id()).await.unwrap();
        if frame.width == 1920 && frame.pixel(1900, 1000) == (255, 255, 0) {
            break frame;
        }
        assert!(Instant::now() < deadline, "the screen never became 1920x1080 yellow/blue: {frame:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((frame.height, frame.pixel(10, 10)), (1080, (0, 0, 255)));
    let (p50, max) = time_screenshots(&driver, vm.id(), 20).await;
    eprintln!(
        "timing: libvirt screenshot 1920x1080 (QMP pass-through screendump) p50 {p50:.1} ms, max {max:.1} ms"
    );
    // The stream, as remote connections take it: same picture.
    let streaming =
        LibvirtDriver::new(LibvirtConfig { qmp_screendump: false, ..LibvirtConfig::for_uri(&uri()) });
    assert_eq!(streaming.adopt(&vm.spec).await.unwrap(), PowerState::Running);
    // The guest may still be painting when the first yellow pixel shows: compare once the screen stands still.
    let mut matched = false;
    for _ in 0..10 {
        let (before, streamed) =
            (driver.screenshot(vm.id()).await.unwrap(), streaming.screenshot(vm.id()).await.unwrap());
        let after = driver.screenshot(vm.id()).await.unwrap();
        if before == after {
            assert_eq!(streamed, after, "the stream and QMP's screendump disagree on a still screen");
            matched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(matched, "the 1920x1080 screen never stood still");
    let (p50, max) = time_screenshots(&streaming, vm.id(), 20).await;
    eprintln!("timing: libvirt screenshot 1920x1080 (virDomainScreenshot stream + PNG decode) p50 {p50:.1} ms, max {max:.1} ms");
    driver.kill(vm.id()).await.unwrap();
}

/// An sshd of its own on loopback (own host key, config and authorized key, root login by key
/// only), for the `qemu+ssh://` transport. Killed when dropped.
struct LoopbackSshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl LoopbackSshd {
    fn start() -> LoopbackSshd {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        for key in ["host_key", "client_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f", &path(key)])
                .status()
                .expect("ssh-keygen (openssh-client)");
            assert!(status.success());
        }
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).unwrap();
        // libvirt runs this instead of `ssh` (`?command=`): the throw-away host key stays out of
        // the user's known_hosts.
        std::fs::write(
            path("ssh"),
            "#!/bin/sh\nexec ssh -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(path("ssh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let port = free_port();
        std::fs::write(
            path("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\n",
                path("host_key"),
                path("authorized_keys"),
                path("sshd.pid")
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap(); // sshd's privilege separation directory
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", &path("sshd_config")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(path("sshd.log")).unwrap())
            .spawn()
            .expect("/usr/sbin/sshd (openssh-server, installed by scripts/setup)");
        let log = path("sshd.log");
        let sshd = LoopbackSshd { child, dir, port };
        wait_listening(port, Duration::from_secs(10), "sshd", Path::new(&log));
        sshd
    }

    /// The system libvirtd, reached through ssh: `?keyfile=` picks the key, `?no_verify=1`
    /// accepts the throw-away host key, `?command=` runs ssh through the wrapper above.
    fn uri(&self) -> String {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        format!(
            "qemu+ssh://root@127.0.0.1:{}/system?keyfile={}&no_verify=1&command={}",
            self.port,
            path("client_key"),
            path("ssh")
        )
    }
}

impl Drop for LoopbackSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn boot_snapshot_and_screenshot_through_qemu_ssh() {
    let sshd = LoopbackSshd::start();
    let (ok, out) = virsh(&sshd.uri(), &["uri"]);
    assert!(ok, "virsh over ssh: {out}");
    let vm = TestVm::new("ssh", &uri(), true).await;
    let driver = driver_for(&sshd.uri());
    let mut events = driver.events();
    driver.connect().await.unwrap();
    driver.start(&vm.spec).await.unwrap();
    let (_, state) = virsh(&uri(), &["domstate", vm.id()]);
    assert!(state.contains("running"), "the domain runs on the libvirtd behind ssh: {state}");
    wait_console(&driver, vm.id(), READY).await;
    let frame = wait_blue_screen(&driver, vm.id()).await;
    assert_eq!((frame.width, frame.height), (720, 400));
    let (p50, max) = time_screenshots(&driver, vm.id(), 10).await;
    eprintln!("timing: libvirt screenshot 720x400 over qemu+ssh (stream + PNG decode) p50 {p50:.1} ms, max {max:.1} ms");
    let new_top = vm.dir.path().join("data-top-2.qcow2");
    let overlay = DiskOverlay {
        disk_id: "d-data".into(),
        current_top: vm.spec.disks[1].path.clone(),
        new_top: new_top.clone(),
    };
    driver.snapshot_disks(vm.id(), &[overlay]).await.unwrap();
    assert_eq!(backing_of(&new_top), Some(vm.spec.disks[1].path.clone()));
    driver.kill(vm.id()).await.unwrap();
    assert_eq!(next_stop(&mut events, vm.id()).await, StopCause::Killed);
    driver.forget(vm.id()).await.unwrap();
}
