//! The `libvirt` driver: the same VMs as the [`qemu`](crate::qemu) driver, run by a libvirtd
//! (local `qemu:///system` or remote `qemu+ssh://`, `qemu+tcp://`), so operators see and manage
//! ecslab's instances with virsh and virt-manager.
//!
//! Each instance is a persistent domain named after its instance id. Its XML
//! ([`domain_xml`]) is generated from the [`VmSpec`] and redefined at every start, because the
//! files of a disk's chain change under snapshots and resets and ecslab's records are the truth.
//!
//! States come from libvirt's lifecycle events, not from polling: one process-wide event loop
//! thread (`events`) runs the callbacks, which update the per-VM bookkeeping of intents and send
//! [`VmEvent`]s (`intent`). Stop causes follow the qemu driver: a stop we asked for (`kill`) is
//! `Killed`, a guest poweroff (libvirt's `SHUTDOWN` event with detail `guest`, or after our ACPI
//! request) is `GuestShutdown`, anything else (`virsh destroy`, a killed or crashed QEMU) is
//! `Vanished`.
//!
//! Every libvirt call blocks (it is an RPC to libvirtd), so each runs on tokio's blocking pool
//! (`LibvirtDriver::call`). The connection is opened lazily and reopened after libvirtd
//! restarts (`connection`), and every VM believed running is checked on reconnecting.
//!
//! Disk work on a running VM goes through libvirt, so its live XML always shows the real backing
//! chain (`block_jobs`, with `overlay` and `agent`); offline chain work stays with the domain
//! layer (qemu-img), which is why the domain is redefined before each start. Screenshots take
//! the fastest route the connection allows (`screen`).
//!
//! This module holds the configuration, the driver and the lifecycle half of its
//! [`Hypervisor`] impl; the other methods delegate to the module of their concern.
//!
//! ```text
//!  start ──define XML (same UUID)──► virDomainCreate ──► Running
//!  adopt ──lookup by name──► virDomainGetInfo
//!  STOPPED event + recorded intent ──► Stopped { GuestShutdown | Killed | Vanished }
//! ```

mod agent;
mod block_jobs;
mod connection;
pub mod domain_xml;
mod events;
mod intent;
mod overlay;
mod screen;

use crate::log_tail::read_tail;
use crate::{DiskOverlay, DiskSpec, Frame, Hypervisor, PowerState, ProgressFn, VmError, VmEvent, VmSpec};
use async_trait::async_trait;
use connection::Link;
use domain_xml::{QemuUser, RunFiles};
use intent::{Shared, VmState};
use std::io;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;
use virt::sys;

/// How long `kill` waits for libvirt's STOPPED event after `virDomainDestroy` returned.
const STOP_EVENT_WAIT: Duration = Duration::from_secs(15);

/// How to reach libvirt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtConfig {
    /// `qemu:///system`, `qemu+tcp://host/system`, `qemu+ssh://user@host/system`, ...
    pub uri: String,
    /// Who QEMU runs as. Default: the server's own uid:gid, files never relabelled.
    pub qemu_user: QemuUser,
    /// Take screenshots with a QMP pass-through `screendump` into the run directory (fast, needs
    /// the libvirt host's files) instead of libvirt's stream. Default: on for local URIs.
    pub qmp_screendump: bool,
}

impl LibvirtConfig {
    /// A config for `uri` with the defaults that suit it.
    pub fn for_uri(uri: &str) -> LibvirtConfig {
        LibvirtConfig { uri: uri.to_string(), qemu_user: QemuUser::current(), qmp_screendump: is_local(uri) }
    }
}

impl Default for LibvirtConfig {
    fn default() -> Self {
        LibvirtConfig::for_uri("qemu:///system")
    }
}

/// Whether a libvirt URI names this machine (no host part, e.g. `qemu:///system`).
fn is_local(uri: &str) -> bool {
    uri.split_once("://").is_some_and(|(scheme, rest)| !scheme.contains('+') && rest.starts_with('/'))
}

/// What every handle of the driver and its reconnect thread share.
struct Inner {
    config: LibvirtConfig,
    link: Mutex<Option<Link>>,
    shared: Arc<Shared>,
    /// The driver itself, for the reconnect thread (which must not keep it alive).
    me: Weak<Inner>,
    /// A reconnect thread runs.
    reconnecting: AtomicBool,
}

/// The libvirt driver. Cheap to share; dropping it closes the connection and leaves the
/// domains running.
pub struct LibvirtDriver {
    inner: Arc<Inner>,
}

fn lv_error(vm_id: &str, call: &str, e: &virt::error::Error) -> VmError {
    VmError::Libvirt { vm_id: vm_id.to_string(), call: call.to_string(), reason: e.message().to_string() }
}

fn is_code(e: &virt::error::Error, code: ErrorNumber) -> bool {
    e.code().is(code)
}

impl LibvirtDriver {
    /// A driver for `config.uri`. Nothing is contacted until the first call, so a server can
    /// start while libvirtd is still coming up.
    pub fn new(config: LibvirtConfig) -> LibvirtDriver {
        let shared = Arc::new(Shared::new(broadcast::channel(256).0));
        let inner = Arc::new_cyclic(|me| Inner {
            config,
            link: Mutex::new(None),
            shared,
            me: me.clone(),
            reconnecting: AtomicBool::new(false),
        });
        LibvirtDriver { inner }
    }

    /// Connect now (to fail early on a wrong URI or a stopped libvirtd).
    pub async fn connect(&self) -> Result<(), VmError> {
        self.call("-", |inner| inner.connection().map(drop)).await
    }

    /// Run blocking libvirt work on tokio's blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        vm_id: &str,
        work: impl FnOnce(&Inner) -> Result<T, VmError> + Send + 'static,
    ) -> Result<T, VmError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(|e| VmError::Libvirt {
            vm_id: vm_id.to_string(),
            call: "blocking task".into(),
            reason: e.to_string(),
        })?
    }

    fn remember(&self, spec: &VmSpec) {
        self.inner.shared.with_state(&spec.vm_id, |state| {
            state.run_dir = Some(spec.run_dir.clone());
            state.display = spec.display;
            state.forgetting = false;
        });
    }

    /// Wait until the stop of `vm_id` was reported; false on timeout.
    async fn wait_stopped(&self, vm_id: &str, limit: Duration) -> bool {
        let mut rx = self.inner.shared.with_state(vm_id, |state| state.stopped.subscribe());
        tokio::time::timeout(limit, rx.wait_for(|stopped| *stopped)).await.is_ok_and(|r| r.is_ok())
    }
}

/// Map libvirt's domain state to ours: a domain shutting down still runs.
fn power_state_of(state: &Enum<DomainState, sys::virDomainState>) -> PowerState {
    match state {
        Enum::Known(DomainState::Running | DomainState::Blocked | DomainState::Shutdown) => {
            PowerState::Running
        }
        Enum::Known(DomainState::Paused | DomainState::PMSuspended) => PowerState::Suspended,
        _ => PowerState::Off,
    }
}

fn domain_power(vm_id: &str, dom: &Domain) -> Result<PowerState, VmError> {
    let info = dom.info().map_err(|e| lv_error(vm_id, "virDomainGetInfo", &e))?;
    Ok(power_state_of(&info.state))
}

/// The last `max_bytes` of the console log. virtlogd rolls the log over at its `max_size`
/// (`console.log` → `console.log.1`), so a short current file is completed from the previous one.
fn read_console(log: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    let current = read_tail(log, max_bytes)?;
    if current.len() >= max_bytes {
        return Ok(current);
    }
    let mut rotated = log.as_os_str().to_os_string();
    rotated.push(".1");
    let mut out = read_tail(Path::new(&rotated), max_bytes - current.len())?;
    out.extend_from_slice(&current);
    Ok(out)
}

/// Create the run directory and remove a serial socket a previous QEMU left.
fn prepare_run_dir(vm_id: &str, run_dir: &Path) -> Result<(), VmError> {
    std::fs::create_dir_all(run_dir).map_err(|e| VmError::io(vm_id, run_dir, e))?;
    let socket = RunFiles::new(run_dir).serial;
    match std::fs::remove_file(&socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(VmError::io(vm_id, &socket, e)),
        _ => Ok(()),
    }
}

#[async_trait]
impl Hypervisor for LibvirtDriver {
    fn name(&self) -> &'static str {
        "libvirt"
    }

    async fn start(&self, spec: &VmSpec) -> Result<(), VmError> {
        let spec = spec.absolute()?;
        let vm_id = spec.vm_id.clone();
        let failed = |reason: String| VmError::StartFailed { vm_id: spec.vm_id.clone(), reason };
        // Checked before anything touches libvirt or the run directory.
        domain_xml::domain_xml(&spec, None, &self.inner.config.qemu_user).map_err(failed)?;
        prepare_run_dir(&vm_id, &spec.run_dir)?;
        self.remember(&spec);
        let begun = Instant::now();
        let id = vm_id.clone();
        let spec = spec.clone();
        let result = self
            .call(&vm_id, move |inner| {
                let failed = |reason: String| VmError::StartFailed { vm_id: id.clone(), reason };
                let uuid = match inner.domain(&id)? {
                    Some(dom) if dom.is_active().unwrap_or(false) => {
                        return Err(failed("it is already running".into()));
                    }
                    Some(dom) => {
                        Some(dom.uuid_string().map_err(|e| lv_error(&id, "virDomainGetUUIDString", &e))?)
                    }
                    None => None,
                };
                let xml = domain_xml::domain_xml(&spec, uuid.as_deref(), &inner.config.qemu_user)
                    .map_err(failed)?;
                let conn = inner.connection()?;
                let dom = conn
                    .define_domain_xml(&xml)
                    .map_err(|e| failed(format!("defining the domain: {}", e.message())))?;
                // Running from here on as far as events go: a guest that powers off at once
                // must still be reported.
                inner.shared.with_state(&id, VmState::mark_running);
                dom.create().map_err(|e| failed(e.message().to_string())).map(drop)
            })
            .await;
        if let Err(e) = result {
            self.inner.shared.with_state(&vm_id, |state| {
                state.stopped.send_replace(true);
            });
            return Err(e);
        }
        tracing::info!(vm_id, elapsed_ms = begun.elapsed().as_millis() as u64, "VM started (libvirt)");
        Ok(())
    }

    async fn adopt(&self, spec: &VmSpec) -> Result<PowerState, VmError> {
        let spec = spec.absolute()?;
        self.remember(&spec);
        let vm_id = spec.vm_id.clone();
        let id = vm_id.clone();
        let power = self
            .call(&vm_id, move |inner| match inner.domain(&id)? {
                Some(dom) => domain_power(&id, &dom),
                None => Ok(PowerState::Off),
            })
            .await?;
        self.inner.shared.with_state(&vm_id, |state| {
            if power == PowerState::Off {
                state.stopped.send_replace(true);
            } else if state.is_stopped() {
                state.mark_running();
            }
        });
        if power != PowerState::Off {
            tracing::info!(vm_id, ?power, "adopted a running libvirt domain");
        }
        Ok(power)
    }

    async fn power_state(&self, vm_id: &str) -> Result<PowerState, VmError> {
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| match inner.domain(&id)? {
            Some(dom) => domain_power(&id, &dom),
            None => Ok(PowerState::Off),
        })
        .await
    }

    async fn request_shutdown(&self, vm_id: &str) -> Result<(), VmError> {
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            inner.shared.with_state(&id, |state| state.shutdown_requested = true);
            match dom.shutdown_flags(sys::VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) {
                Ok(()) => Ok(()),
                Err(e) if is_code(&e, ErrorNumber::OperationInvalid) => {
                    Err(VmError::NotRunning { vm_id: id })
                }
                Err(e) => Err(lv_error(&id, "virDomainShutdownFlags", &e)),
            }
        })
        .await
    }

    async fn kill(&self, vm_id: &str) -> Result<(), VmError> {
        let id = vm_id.to_string();
        let destroyed = self
            .call(vm_id, move |inner| {
                let Some(dom) = inner.domain(&id)? else { return Ok(false) };
                if !dom.is_active().unwrap_or(false) {
                    return Ok(false);
                }
                inner.shared.with_state(&id, |state| state.kill_requested = true);
                // SIGTERM, then SIGKILL after libvirt's own grace period.
                match dom.destroy() {
                    Ok(()) => Ok(true),
                    Err(e) if is_code(&e, ErrorNumber::OperationInvalid) => Ok(true),
                    Err(e) => Err(lv_error(&id, "virDomainDestroy", &e)),
                }
            })
            .await?;
        if destroyed && !self.wait_stopped(vm_id, STOP_EVENT_WAIT).await {
            return Err(VmError::Timeout {
                vm_id: vm_id.to_string(),
                what: "be reported stopped by libvirt".into(),
                seconds: STOP_EVENT_WAIT.as_secs(),
            });
        }
        Ok(())
    }

    async fn reset(&self, vm_id: &str) -> Result<(), VmError> {
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            inner.shared.with_state(&id, |state| state.our_reset_at = Some(Instant::now()));
            dom.reset().map(drop).map_err(|e| lv_error(&id, "virDomainReset", &e))
        })
        .await
    }

    async fn wake_up(&self, vm_id: &str) -> Result<(), VmError> {
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            // Refused when the guest is not suspended: nothing to wake.
            let _ = dom.pm_wakeup(0);
            let mut keys = [42u32]; // KEY_LEFTSHIFT
            dom.send_key(sys::VIR_KEYCODE_SET_LINUX, 0, keys.as_mut_ptr(), keys.len() as i32, 0)
                .map_err(|e| lv_error(&id, "virDomainSendKey", &e))
        })
        .await
    }

    async fn agent_command(
        &self,
        vm_id: &str,
        command: &str,
        arguments: serde_json::Value,
        limit: Duration,
    ) -> Result<serde_json::Value, VmError> {
        let (id, command) = (vm_id.to_string(), command.to_string());
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            agent::command(&dom, &id, &command, arguments, limit)
        })
        .await
    }

    async fn screenshot(&self, vm_id: &str) -> Result<Frame, VmError> {
        self.screenshot_live(vm_id).await
    }

    async fn vnc_connect(&self, vm_id: &str) -> Result<tokio::net::UnixStream, VmError> {
        // The socket is a file on the libvirt host: only a local libvirtd's is reachable.
        if !is_local(&self.inner.config.uri) {
            return Err(VmError::Unsupported {
                driver: "libvirt",
                what: "reach the VNC socket of a remote host",
            });
        }
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| inner.running(&id).map(drop)).await?;
        let (display, run_dir) = match self.inner.shared.vms().get(vm_id) {
            Some(state) => (state.display, state.run_dir.clone()),
            None => (false, None),
        };
        let Some(run_dir) = run_dir else { return Err(VmError::NotRunning { vm_id: vm_id.to_string() }) };
        if !display {
            return Err(VmError::NoDisplay { vm_id: vm_id.to_string() });
        }
        let socket = RunFiles::new(&run_dir).vnc;
        tokio::net::UnixStream::connect(&socket).await.map_err(|e| VmError::io(vm_id, &socket, e))
    }

    async fn console_output(&self, vm_id: &str, max_bytes: usize) -> Result<Vec<u8>, VmError> {
        let run_dir = self.inner.shared.vms().get(vm_id).and_then(|state| state.run_dir.clone());
        let Some(run_dir) = run_dir else { return Ok(Vec::new()) };
        let log = RunFiles::new(&run_dir).console_log;
        let id = vm_id.to_string();
        self.call(vm_id, move |_| read_console(&log, max_bytes).map_err(|e| VmError::io(&id, &log, e))).await
    }

    fn events(&self) -> broadcast::Receiver<VmEvent> {
        self.inner.shared.events.subscribe()
    }

    async fn forget(&self, vm_id: &str) -> Result<(), VmError> {
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| {
            inner.shared.with_state(&id, |state| state.forgetting = true);
            let Some(dom) = inner.domain(&id)? else { return Ok(()) };
            if dom.is_active().unwrap_or(false) {
                inner.shared.with_state(&id, |state| state.kill_requested = true);
                let _ = dom.destroy();
            }
            let flags = sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | sys::VIR_DOMAIN_UNDEFINE_NVRAM
                | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;
            match dom.undefine_flags(flags) {
                Ok(()) => Ok(()),
                Err(e) if is_code(&e, ErrorNumber::NoDomain) => Ok(()),
                Err(e) => Err(lv_error(&id, "virDomainUndefineFlags", &e)),
            }
        })
        .await?;
        self.inner.shared.vms().remove(vm_id);
        tracing::info!(vm_id, "libvirt domain undefined");
        Ok(())
    }

    async fn snapshot_disks(&self, vm_id: &str, overlays: &[DiskOverlay]) -> Result<(), VmError> {
        self.snapshot_disks_live(vm_id, overlays).await
    }

    async fn commit_layer(
        &self,
        vm_id: &str,
        disk_id: &str,
        top: &Path,
        base: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(), VmError> {
        self.commit_layer_live(vm_id, disk_id, top, base, progress).await
    }

    async fn attach_disk(&self, vm_id: &str, disk: &DiskSpec) -> Result<(), VmError> {
        self.attach_disk_live(vm_id, disk).await
    }

    async fn detach_disk(&self, vm_id: &str, disk_id: &str) -> Result<(), VmError> {
        self.detach_disk_live(vm_id, disk_id).await
    }

    async fn resize_disk(&self, vm_id: &str, disk_id: &str, size_bytes: u64) -> Result<(), VmError> {
        self.resize_disk_live(vm_id, disk_id, size_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_uris() {
        assert!(is_local("qemu:///system") && is_local("qemu:///session"));
        assert!(!is_local("qemu+tcp://127.0.0.1/system") && !is_local("qemu+ssh://h/system"));
        assert!(!is_local("qemu://host/system") && !is_local("garbage"));
        assert!(
            LibvirtConfig::default().qmp_screendump
                && !LibvirtConfig::for_uri("qemu+ssh://h/system").qmp_screendump
        );
    }

    #[test]
    fn power_states() {
        assert_eq!(power_state_of(&Enum::Known(DomainState::Running)), PowerState::Running);
        assert_eq!(power_state_of(&Enum::Known(DomainState::Shutdown)), PowerState::Running);
        assert_eq!(power_state_of(&Enum::Known(DomainState::Paused)), PowerState::Suspended);
        assert_eq!(power_state_of(&Enum::Known(DomainState::PMSuspended)), PowerState::Suspended);
        assert_eq!(power_state_of(&Enum::Known(DomainState::Shutoff)), PowerState::Off);
        assert_eq!(power_state_of(&Enum::Known(DomainState::Crashed)), PowerState::Off);
    }

    #[test]
    fn console_is_completed_from_the_rotated_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        assert!(read_console(&log, 10).unwrap().is_empty());
        std::fs::write(dir.path().join("console.log.1"), b"0123456789").unwrap();
        std::fs::write(&log, b"abc").unwrap();
        assert_eq!(read_console(&log, 6).unwrap(), b"789abc");
        assert_eq!(read_console(&log, 2).unwrap(), b"bc");
    }
}
