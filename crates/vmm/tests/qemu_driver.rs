//! Real-VM tests of the qemu driver: QEMU under TCG booting the VMTEST guest built by
//! `scripts/build-guest-image` (found in `$ECSLAB_GUEST_DIR`, default `<workspace>/build/guest`).
//! A missing guest fails the tests: they are the proof that the driver works, so they never skip.
//!
//! Each test has its own run directory and a guard that SIGKILLs its QEMU even when the test fails.
//! At most [`MAX_VMS`] tests run a VM at a time, so boots on a 2-core machine stay near 3-5 s.

use ecslab_vmm::qemu::{QemuConfig, QemuDriver};
use ecslab_vmm::{Accel, DiskSpec, Frame, Hypervisor, PowerState, StopCause, VmError, VmEvent, VmSpec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, Semaphore, SemaphorePermit};

const MAX_VMS: usize = 2;
const READY: &str = "VMTEST-GUEST-READY";
const SYSLINUX: &str = "SYSLINUX 6";
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

static VM_SLOTS: Semaphore = Semaphore::const_new(MAX_VMS);

fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("ECSLAB_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/guest"));
    let image = dir.join("guest.qcow2");
    assert!(
        image.is_file(),
        "the test guest {} is missing: run scripts/build-guest-image (or point ECSLAB_GUEST_DIR at its output)",
        image.display()
    );
    dir.canonicalize().unwrap()
}

/// A VM's files in a temp dir, and a guard that kills its QEMU when the test ends.
struct TestVm {
    spec: VmSpec,
    _dir: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
}

impl TestVm {
    /// A VM booting from a fresh qcow2 overlay of `image` in the guest directory.
    async fn new(vm_id: &str, image: &str, display: bool) -> TestVm {
        let base = guest_dir().join(image);
        assert!(base.is_file(), "{} is missing: run scripts/build-guest-image", base.display());
        let slot = VM_SLOTS.acquire().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("system.qcow2");
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(&disk)
            .status()
            .unwrap();
        assert!(status.success(), "qemu-img create failed");
        let spec = VmSpec {
            vm_id: vm_id.into(),
            run_dir: dir.path().join("run"),
            vcpus: 1,
            memory_mib: 128,
            display,
            disks: vec![DiskSpec { disk_id: "d-system".into(), path: disk }],
            nics: Vec::new(),
            accel: Accel::Tcg,
        };
        TestVm { spec, _dir: dir, _slot: slot }
    }

    fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.spec.run_dir.join("qemu.pid")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let run_dir = self.spec.run_dir.to_str().unwrap().as_bytes();
        cmdline.windows(run_dir.len()).any(|w| w == run_dir).then_some(pid)
    }

    /// The (process group, session) of the VM's QEMU.
    fn pgrp_and_session(&self) -> (i32, i32) {
        pgrp_and_session(&format!("/proc/{}/stat", self.pid().expect("QEMU is running")))
    }

    fn kill_from_outside(&self) -> i32 {
        let pid = self.pid().expect("QEMU is running");
        assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
        pid
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

fn pgrp_and_session(stat_path: &str) -> (i32, i32) {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    // After "pid (comm)": state, ppid, pgrp, session.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

fn driver() -> QemuDriver {
    QemuDriver::new(QemuConfig::default())
}

fn console_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Wait until the serial console shows `needle` `times` times; returns the console.
async fn wait_console(driver: &QemuDriver, vm_id: &str, needle: &str, times: usize) -> String {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let console = console_text(&driver.console_output(vm_id, 1 << 20).await.unwrap());
        if console.matches(needle).count() >= times {
            return console;
        }
        assert!(Instant::now() < deadline, "no {needle:?} (x{times}) on the console; it has:\n{console}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next event for `vm_id`.
async fn next_event(events: &mut broadcast::Receiver<VmEvent>, vm_id: &str) -> VmEvent {
    let wait = async {
        loop {
            match events.recv().await.unwrap() {
                VmEvent::Stopped { vm_id: id, .. } | VmEvent::Reset { vm_id: id } if id != vm_id => continue,
                event => return event,
            }
        }
    };
    tokio::time::timeout(STOP_TIMEOUT, wait).await.expect("no event from the driver")
}

async fn next_stop(events: &mut broadcast::Receiver<VmEvent>, vm_id: &str) -> StopCause {
    match next_event(events, vm_id).await {
        VmEvent::Stopped { cause, .. } => cause,
        other => panic!("expected Stopped, got {other:?}"),
    }
}

fn blue_fraction(frame: &Frame) -> f64 {
    let blue = frame.rgb.chunks_exact(3).filter(|p| p[2] > 100 && p[0] < 80 && p[1] < 80).count();
    blue as f64 / (frame.width * frame.height) as f64
}

/// Time `n` screenshots; returns (p50, max) in milliseconds.
async fn time_screenshots(driver: &QemuDriver, vm_id: &str, n: usize) -> (f64, f64) {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let begun = Instant::now();
        driver.screenshot(vm_id).await.unwrap();
        times.push(begun.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[n - 1])
}

#[tokio::test]
async fn boots_paints_the_screen_and_obeys_the_power_button() {
    let vm = TestVm::new("i-boot", "guest.qcow2", true).await;
    let driver = driver();
    let mut events = driver.events();
    let begun = Instant::now();
    driver.start(&vm.spec).await.unwrap();
    let started = begun.elapsed();
    wait_console(&driver, "i-boot", READY, 1).await;
    eprintln!("timing: start() {:?}, start to READY {:?}", started, begun.elapsed());
    assert_eq!(driver.power_state("i-boot").await.unwrap(), PowerState::Running);

    let frame = driver.screenshot("i-boot").await.unwrap();
    assert_eq!((frame.width, frame.height), (720, 400));
    let blue = blue_fraction(&frame);
    assert!(blue > 0.5, "only {:.0}% of the screen is blue", blue * 100.0);
    let (p50, max) = time_screenshots(&driver, "i-boot", 30).await;
    eprintln!("timing: screenshot 720x400 (screendump + read + parse) p50 {p50:.1} ms, max {max:.1} ms");

    driver.request_shutdown("i-boot").await.unwrap();
    assert_eq!(next_stop(&mut events, "i-boot").await, StopCause::GuestShutdown);
    assert_eq!(driver.power_state("i-boot").await.unwrap(), PowerState::Off);
    assert!(vm.pid().is_none(), "QEMU is gone");
    let console = console_text(&driver.console_output("i-boot", 4096).await.unwrap());
    assert!(console.contains("VMTEST-POWEROFF"), "{console}");
    assert!(!vm.spec.run_dir.join("qmp.sock").exists());
}

#[tokio::test]
async fn kill_reports_killed_is_idempotent_and_the_vm_starts_again() {
    let vm = TestVm::new("i-kill", "guest.qcow2", true).await;
    let driver = driver();
    let mut events = driver.events();
    driver.start(&vm.spec).await.unwrap();
    let ours = pgrp_and_session("/proc/self/stat");
    let (pgrp, session) = vm.pgrp_and_session();
    assert!(pgrp != ours.0 && session != ours.1, "a Ctrl-C to the server must not reach the VM");
    wait_console(&driver, "i-kill", READY, 1).await;
    let err = driver.start(&vm.spec).await.unwrap_err();
    assert!(matches!(err, VmError::StartFailed { .. }), "{err}");

    driver.kill("i-kill").await.unwrap();
    assert_eq!(next_stop(&mut events, "i-kill").await, StopCause::Killed);
    assert!(vm.pid().is_none());
    assert_eq!(driver.power_state("i-kill").await.unwrap(), PowerState::Off);
    driver.kill("i-kill").await.unwrap();
    assert!(matches!(driver.screenshot("i-kill").await, Err(VmError::NotRunning { .. })));

    // The console log carries on across restarts.
    driver.start(&vm.spec).await.unwrap();
    wait_console(&driver, "i-kill", READY, 2).await;
    driver.kill("i-kill").await.unwrap();
    assert_eq!(next_stop(&mut events, "i-kill").await, StopCause::Killed);
}

#[tokio::test]
async fn a_process_killed_from_outside_vanishes() {
    let vm = TestVm::new("i-vanish", "guest.qcow2", true).await;
    let driver = driver();
    let mut events = driver.events();
    driver.start(&vm.spec).await.unwrap();
    vm.kill_from_outside();
    assert_eq!(next_stop(&mut events, "i-vanish").await, StopCause::Vanished);
    assert_eq!(driver.power_state("i-vanish").await.unwrap(), PowerState::Off);
    assert!(!vm.spec.run_dir.join("qemu.pid").exists(), "stale pid file cleaned");
}

#[tokio::test]
async fn a_restarted_server_adopts_the_running_vm() {
    let vm = TestVm::new("i-adopt", "guest.qcow2", true).await;
    let first = driver();
    first.start(&vm.spec).await.unwrap();
    wait_console(&first, "i-adopt", READY, 1).await;
    drop(first);

    let second = driver();
    let mut events = second.events();
    let begun = Instant::now();
    assert_eq!(second.adopt(&vm.spec).await.unwrap(), PowerState::Running);
    eprintln!("timing: adopt {:?}", begun.elapsed());
    assert_eq!(second.adopt(&vm.spec).await.unwrap(), PowerState::Running, "adopting twice is harmless");
    let frame = second.screenshot("i-adopt").await.unwrap();
    assert!(blue_fraction(&frame) > 0.5);
    assert!(console_text(&second.console_output("i-adopt", 1 << 16).await.unwrap()).contains(READY));

    second.request_shutdown("i-adopt").await.unwrap();
    assert_eq!(next_stop(&mut events, "i-adopt").await, StopCause::GuestShutdown);
}

#[tokio::test]
async fn adopting_a_vm_whose_process_died_gives_off() {
    let vm = TestVm::new("i-dead", "guest.qcow2", true).await;
    let first = driver();
    first.start(&vm.spec).await.unwrap();
    drop(first);
    let pid = vm.kill_from_outside();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while vm.pid().is_some() {
        assert!(Instant::now() < deadline, "pid {pid} survived SIGKILL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(vm.spec.run_dir.join("qmp.sock").exists(), "SIGKILL leaves the socket behind");

    let second = driver();
    assert_eq!(second.adopt(&vm.spec).await.unwrap(), PowerState::Off);
    assert!(!vm.spec.run_dir.join("qmp.sock").exists(), "adopt cleans stale sockets");
    assert!(!vm.spec.run_dir.join("qemu.pid").exists(), "adopt cleans a stale pid file");
    assert_eq!(second.power_state("i-dead").await.unwrap(), PowerState::Off);
}

#[tokio::test]
async fn a_vm_without_display_has_no_screenshot() {
    let vm = TestVm::new("i-nodisp", "guest.qcow2", false).await;
    let driver = driver();
    driver.start(&vm.spec).await.unwrap();
    let err = driver.screenshot("i-nodisp").await.unwrap_err();
    assert!(matches!(err, VmError::NoDisplay { .. }), "{err}");
    driver.kill("i-nodisp").await.unwrap();
}

#[tokio::test]
async fn guest_reboots_are_reported_and_host_buttons_work() {
    let vm = TestVm::new("i-reboot", "guest.qcow2", true).await;
    let driver = driver();
    let mut events = driver.events();
    driver.start(&vm.spec).await.unwrap();
    wait_console(&driver, "i-reboot", READY, 1).await;
    driver.wake_up("i-reboot").await.unwrap();

    // Type into the guest's serial shell. A client must keep reading: while it does not, QEMU holds
    // back the guest's serial output (and console.log with it). A reboot takes the guest 10 s or
    // more to READY under TCG, so the new boot is recognised by its first lines.
    let serial = tokio::net::UnixStream::connect(vm.spec.run_dir.join("serial.sock")).await.unwrap();
    let (mut serial_out, mut serial_in) = serial.into_split();
    let _drain = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while serial_out.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    serial_in.write_all(b"\nreboot -f\n").await.unwrap();
    assert_eq!(next_event(&mut events, "i-reboot").await, VmEvent::Reset { vm_id: "i-reboot".into() });
    wait_console(&driver, "i-reboot", SYSLINUX, 2).await;

    // A host reset is not a guest reboot: no event, and the guest boots again.
    driver.reset("i-reboot").await.unwrap();
    wait_console(&driver, "i-reboot", SYSLINUX, 3).await;
    assert_eq!(driver.power_state("i-reboot").await.unwrap(), PowerState::Running);
    driver.kill("i-reboot").await.unwrap();
    assert_eq!(
        next_event(&mut events, "i-reboot").await,
        VmEvent::Stopped { vm_id: "i-reboot".into(), cause: StopCause::Killed }
    );
}

#[tokio::test]
async fn a_failed_start_carries_qemu_message() {
    let dir = tempfile::tempdir().unwrap();
    let spec = VmSpec {
        vm_id: "i-fail".into(),
        run_dir: dir.path().join("run"),
        vcpus: 1,
        memory_mib: 128,
        display: true,
        disks: vec![DiskSpec { disk_id: "d-missing".into(), path: dir.path().join("missing.qcow2") }],
        nics: Vec::new(),
        accel: Accel::Tcg,
    };
    let driver = driver();
    match driver.start(&spec).await {
        Err(VmError::StartFailed { reason, .. }) => {
            assert!(reason.contains("Could not open") && reason.contains("missing.qcow2"), "{reason}")
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert!(!spec.run_dir.join("qmp.sock").exists(), "a failed start leaves no socket");
    assert_eq!(driver.power_state("i-fail").await.unwrap(), PowerState::Off);
}

/// The screenshot benchmark's case: a 1920x1080 frame (a boot sector paints left half blue, right
/// half yellow).
#[tokio::test]
async fn full_hd_screenshots_are_fast() {
    let vm = TestVm::new("i-fullhd", "gfx-1920x1080.qcow2", true).await;
    let driver = driver();
    driver.start(&vm.spec).await.unwrap();
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let frame = loop {
        let frame = driver.screenshot("i-fullhd").await.unwrap();
        if frame.width == 1920 && frame.pixel(1900, 1000) == (255, 255, 0) {
            break frame;
        }
        assert!(Instant::now() < deadline, "the screen never became 1920x1080 yellow/blue: {frame:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((frame.height, frame.pixel(10, 10)), (1080, (0, 0, 255)));
    let (p50, max) = time_screenshots(&driver, "i-fullhd", 30).await;
    eprintln!("timing: screenshot 1920x1080 (screendump + read + parse) p50 {p50:.1} ms, max {max:.1} ms");
    driver.kill("i-fullhd").await.unwrap();
}

#[tokio::test]
async fn the_guest_agent_runs_processes_and_freezes_filesystems() {
    let vm = TestVm::new("i-agent", "guest.qcow2", false).await;
    let driver = driver();
    driver.start(&vm.spec).await.unwrap();
    wait_console(&driver, "i-agent", READY, 1).await;
    let agent = ecslab_vmm::GuestAgent::new(&driver, "i-agent");
    agent.ping().await.unwrap();
    assert!(agent.info().await.unwrap().version.starts_with("7."));
    // A process with input, output and an exit code; its status is kept until read.
    let pid =
        agent.exec("/bin/sh", &["-c".into(), "cat; exit 5".into()], Some(b"stdin\n".to_vec())).await.unwrap();
    let status = loop {
        let status = agent.exec_status(pid).await.unwrap();
        if status.exited {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((status.exitcode, status.out_data.as_deref()), (Some(5), Some(&b"stdin\n"[..])));
    assert!(matches!(agent.exec_status(pid).await, Err(VmError::Agent { .. })), "read once, then forgotten");
    // Freeze and thaw the root filesystem.
    let limit = Duration::from_secs(20);
    assert_eq!(agent.fsfreeze_freeze(limit).await.unwrap(), 1);
    assert_eq!(agent.fsfreeze_status().await.unwrap(), ecslab_vmm::guest_agent::GuestFsfreezeStatus::frozen);
    assert_eq!(agent.fsfreeze_thaw(limit).await.unwrap(), 1);
    // A password set from its crypt hash lands in the guest's /etc/shadow.
    agent.set_user_password_hash("root", "$6$vmtest$abc").await.unwrap();
    let pid = agent.exec("/bin/sh", &["-c".into(), "grep ^root: /etc/shadow".into()], None).await.unwrap();
    let shadow = loop {
        let status = agent.exec_status(pid).await.unwrap();
        if status.exited {
            break String::from_utf8(status.out_data.unwrap_or_default()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(shadow.starts_with("root:$6$vmtest$abc:"), "{shadow}");
    // A command the agent does not know is refused, not hung on.
    let refused = driver.agent_command("i-agent", "guest-no-such", serde_json::json!({}), limit).await;
    assert!(matches!(refused, Err(VmError::Agent { .. })), "{refused:?}");
    driver.kill("i-agent").await.unwrap();
    assert!(matches!(agent.ping().await, Err(VmError::NotRunning { .. })));
}
