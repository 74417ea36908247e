//! The `libvirt` driver: the same VMs as the [`qemu`](crate::qemu) driver, run by a libvirtd
//! (local `qemu:///system` or remote `qemu+ssh://`, `qemu+tcp://`), so operators see and manage
//! ecslab's instances with virsh and virt-manager.
//!
//! Each instance is a persistent domain named after its instance id. Its XML
//! ([`domain_xml`]) is generated from the [`VmSpec`] and redefined at every start, because the
//! files of a disk's chain change under snapshots and resets and ecslab's records are the truth.
//!
//! States come from libvirt's lifecycle events, not from polling: one process-wide event loop
//! thread ([`events`]) runs the callbacks, which update the per-VM bookkeeping and send
//! [`VmEvent`]s. Stop causes follow the qemu driver: a stop we asked for (`kill`) is `Killed`, a
//! guest poweroff (libvirt's `SHUTDOWN` event with detail `guest`, or after our ACPI request) is
//! `GuestShutdown`, anything else (`virsh destroy`, a killed or crashed QEMU) is `Vanished`.
//!
//! Every libvirt call blocks (it is an RPC to libvirtd), so each runs on tokio's blocking pool
//! ([`LibvirtDriver::call`]). The connection is opened lazily and reopened after libvirtd
//! restarts: by the next call, or sooner by a reconnect thread that the connection-close
//! callback starts, which re-registers the event callbacks; on reconnecting, every VM believed
//! running is checked, so a stop that happened while no events could arrive is still reported.
//!
//! Disk work goes through libvirt, so its live XML always shows the real backing chain:
//! external disk-only snapshots with `NO_METADATA` (libvirt keeps no snapshot objects that
//! could disagree with ecslab's) on overlays ecslab writes itself ([`overlay`], `REUSE_EXT`),
//! taken with the guest's filesystems frozen when it runs a guest agent ([`agent`]),
//! `virDomainBlockCommit` of an intermediate layer, device attach/detach (live and config) and
//! `virDomainBlockResize`. Offline chain work stays with the domain layer (qemu-img), which is
//! why the domain is redefined before each start.

mod agent;
pub mod domain_xml;
mod events;
mod overlay;
mod screen;

use crate::{
    DiskOverlay, DiskSpec, Frame, Hypervisor, PowerState, ProgressFn, StopCause, VmError, VmEvent, VmSpec,
};
use async_trait::async_trait;
use domain_xml::{LiveDisk, QemuUser, RunFiles};
use events::DomainEvent;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;
use virt::sys;

/// How long `kill` waits for libvirt's STOPPED event after `virDomainDestroy` returned.
const STOP_EVENT_WAIT: Duration = Duration::from_secs(15);
/// How long a merge job may run before it is given up.
const JOB_LIMIT: Duration = Duration::from_secs(3600);
/// How long the guest gets to release a hot-unplugged disk.
const UNPLUG_LIMIT: Duration = Duration::from_secs(30);
/// A reset this soon after another one (or after our own reset) belongs to the same reboot.
const RESET_DEBOUNCE: Duration = Duration::from_secs(2);
/// How soon after the connection closed the first reconnect is tried, and the longest wait
/// between tries (doubling in between).
const RECONNECT_FIRST_DELAY: Duration = Duration::from_millis(200);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(5);
/// How often block jobs and hot-unplugs are looked at.
const POLL: Duration = Duration::from_millis(100);

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

/// What the driver knows and intends about one domain. Shared with the event thread.
#[derive(Debug)]
struct VmState {
    /// Known after `start` or `adopt`; `None` for domains only heard of through events.
    run_dir: Option<PathBuf>,
    display: bool,
    shutdown_requested: bool,
    kill_requested: bool,
    /// libvirt said the guest itself shut down (SHUTDOWN event, detail `guest`).
    guest_shutdown_seen: bool,
    /// When we last reset it, and when the last reset was reported.
    our_reset_at: Option<Instant>,
    last_reset_at: Option<Instant>,
    /// We are removing it (DeleteInstance): its UNDEFINED event is expected.
    forgetting: bool,
    /// `true` once its stop was reported (or it never ran); `kill` waits on this.
    stopped: watch::Sender<bool>,
}

impl VmState {
    fn new() -> VmState {
        VmState {
            run_dir: None,
            display: false,
            shutdown_requested: false,
            kill_requested: false,
            guest_shutdown_seen: false,
            our_reset_at: None,
            last_reset_at: None,
            forgetting: false,
            stopped: watch::channel(true).0,
        }
    }

    /// The domain runs (again): forget the intents of the previous run.
    fn mark_running(&mut self) {
        self.shutdown_requested = false;
        self.kill_requested = false;
        self.guest_shutdown_seen = false;
        self.stopped.send_replace(false);
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }
}

/// Why the domain stopped, from our intents and libvirt's STOPPED detail.
fn stop_cause(state: &VmState, detail: i32) -> StopCause {
    if state.kill_requested {
        StopCause::Killed
    } else if detail == sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN as i32
        && (state.guest_shutdown_seen || state.shutdown_requested)
    {
        StopCause::GuestShutdown
    } else {
        StopCause::Vanished
    }
}

fn stopped_detail_name(detail: i32) -> &'static str {
    match detail as u32 {
        sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN => "shutdown",
        sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED => "destroyed (virsh destroy or a kill from outside ecslab)",
        sys::VIR_DOMAIN_EVENT_STOPPED_CRASHED => "crashed",
        sys::VIR_DOMAIN_EVENT_STOPPED_FAILED => "failed (QEMU died: killed from outside or crashed)",
        sys::VIR_DOMAIN_EVENT_STOPPED_MIGRATED => "migrated away",
        sys::VIR_DOMAIN_EVENT_STOPPED_SAVED => "saved",
        _ => "other",
    }
}

/// Driver state the event thread needs: the VMs and the event channel.
struct Shared {
    vms: Mutex<HashMap<String, VmState>>,
    events: broadcast::Sender<VmEvent>,
}

impl Shared {
    fn vms(&self) -> MutexGuard<'_, HashMap<String, VmState>> {
        self.vms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Apply one libvirt event; runs on the event-loop thread.
    fn on_event(&self, event: DomainEvent) {
        let mut vms = self.vms();
        match event {
            DomainEvent::Reboot { name } => {
                let state = vms.entry(name.clone()).or_insert_with(VmState::new);
                let now = Instant::now();
                let ours = state.our_reset_at.is_some_and(|at| now.duration_since(at) < RESET_DEBOUNCE);
                let follow_up = state.last_reset_at.is_some_and(|at| now.duration_since(at) < RESET_DEBOUNCE);
                state.last_reset_at = Some(now);
                if !ours && !follow_up {
                    let _ = self.events.send(VmEvent::Reset { vm_id: name });
                }
            }
            DomainEvent::Lifecycle { name, event, detail } => {
                tracing::debug!(vm_id = %name, event, detail, "libvirt lifecycle event");
                match event as u32 {
                    sys::VIR_DOMAIN_EVENT_STARTED => {
                        let state = vms.entry(name.clone()).or_insert_with(VmState::new);
                        if state.is_stopped() {
                            tracing::warn!(vm_id = %name, "domain started outside ecslab (virsh start?)");
                            state.mark_running();
                        }
                    }
                    sys::VIR_DOMAIN_EVENT_SHUTDOWN => {
                        let state = vms.entry(name).or_insert_with(VmState::new);
                        if detail == sys::VIR_DOMAIN_EVENT_SHUTDOWN_GUEST as i32 {
                            state.guest_shutdown_seen = true;
                        }
                    }
                    sys::VIR_DOMAIN_EVENT_STOPPED => {
                        let state = vms.entry(name.clone()).or_insert_with(VmState::new);
                        if state.is_stopped() {
                            return;
                        }
                        let cause = stop_cause(state, detail);
                        if cause == StopCause::Vanished {
                            tracing::warn!(
                                vm_id = %name,
                                how = stopped_detail_name(detail),
                                "VM process vanished without a guest shutdown (killed from outside or crashed)"
                            );
                        } else {
                            tracing::info!(vm_id = %name, ?cause, "VM stopped");
                        }
                        state.stopped.send_replace(true);
                        let _ = self.events.send(VmEvent::Stopped { vm_id: name, cause });
                    }
                    sys::VIR_DOMAIN_EVENT_UNDEFINED
                        if vms.get(&name).is_some_and(|s| !s.forgetting && s.run_dir.is_some()) =>
                    {
                        tracing::warn!(
                            vm_id = %name,
                            "domain undefined outside ecslab; it is defined again at its next start"
                        );
                    }
                    sys::VIR_DOMAIN_EVENT_SUSPENDED | sys::VIR_DOMAIN_EVENT_RESUMED => {
                        tracing::info!(vm_id = %name, event, detail, "domain paused or resumed");
                    }
                    _ => {}
                }
            }
        }
    }
}

/// An open connection with its callbacks.
struct Link {
    conn: Connect,
    closed: Arc<AtomicBool>,
    _registration: events::Registration,
}

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

/// Numbers snapshot names (libvirt wants a name even without metadata).
static NEXT_SNAPSHOT: AtomicU64 = AtomicU64::new(0);
/// Numbers screendump files.
static NEXT_SHOT: AtomicU64 = AtomicU64::new(0);

fn lv_error(vm_id: &str, call: &str, e: &virt::error::Error) -> VmError {
    VmError::Libvirt { vm_id: vm_id.to_string(), call: call.to_string(), reason: e.message().to_string() }
}

fn is_code(e: &virt::error::Error, code: ErrorNumber) -> bool {
    e.code().is(code)
}

fn disk_error(vm_id: &str, disk_id: &str, reason: impl Into<String>) -> VmError {
    VmError::Disk { vm_id: vm_id.to_string(), disk_id: disk_id.to_string(), reason: reason.into() }
}

fn io_error(vm_id: &str, path: &Path, source: io::Error) -> VmError {
    VmError::Io { vm_id: vm_id.to_string(), path: path.to_path_buf(), source }
}

fn path_str<'a>(vm_id: &str, path: &'a Path) -> Result<&'a str, VmError> {
    path.to_str().ok_or_else(|| VmError::StartFailed {
        vm_id: vm_id.to_string(),
        reason: format!("path {} is not UTF-8", path.display()),
    })
}

impl Inner {
    /// The open connection, reconnecting (and reconciling) when the last one closed. Blocking.
    fn connection(&self) -> Result<Connect, VmError> {
        let mut link = self.link.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(open) = link.as_ref() {
            if !open.closed.load(Ordering::SeqCst) {
                return Ok(open.conn.clone());
            }
        }
        // A link, even a closed one, means we were connected before: reconcile once reconnected.
        // It is replaced only when the new connection is up, so failed attempts in between
        // (libvirtd still down) do not lose that.
        let reconnect = link.is_some();
        let uri = self.config.uri.as_str();
        let fail = |reason: String| VmError::unreachable(uri, reason);
        events::ensure_event_loop().map_err(fail)?;
        let conn = Connect::open(Some(uri)).map_err(|e| fail(e.message().to_string()))?;
        // Notice a dead remote libvirtd within ~15 s (local connections do not support it).
        let _ = conn.set_keep_alive(5, 3);
        let closed = Arc::new(AtomicBool::new(false));
        let shared = self.shared.clone();
        let me = self.me.clone();
        let registration = events::register(
            &conn,
            || {
                let shared = shared.clone();
                Box::new(move |event| shared.on_event(event))
            },
            closed.clone(),
            Box::new(move || Inner::reconnect_in_background(me.clone())),
        )
        .map_err(|e| fail(format!("registering for domain events: {}", e.message())))?;
        tracing::info!(uri, reconnect, "connected to libvirt");
        *link = Some(Link { conn: conn.clone(), closed, _registration: registration });
        drop(link);
        if reconnect {
            self.reconcile(&conn);
        }
        Ok(conn)
    }

    /// Reconnect from a thread of its own as soon as libvirtd answers again (backing off up to
    /// [`RECONNECT_MAX_DELAY`]), so lifecycle events flow again without waiting for the next
    /// API call. Stops when the driver is dropped; one such thread at a time.
    fn reconnect_in_background(me: Weak<Inner>) {
        let Some(inner) = me.upgrade() else { return };
        if inner.reconnecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let thread_me = me.clone();
        drop(inner);
        let spawned = std::thread::Builder::new().name("libvirt-reconnect".into()).spawn(move || {
            let me = thread_me;
            let mut delay = RECONNECT_FIRST_DELAY;
            let mut attempts = 0u32;
            loop {
                std::thread::sleep(delay);
                let Some(inner) = me.upgrade() else { return };
                attempts += 1;
                match inner.connection() {
                    Ok(_) => {
                        tracing::info!(uri = %inner.config.uri, attempts, "reconnected to libvirt");
                        inner.reconnecting.store(false, Ordering::SeqCst);
                        // A close between connecting and the line above found this thread still
                        // running and started none: go on unless another thread took over.
                        if !inner.link_closed() || inner.reconnecting.swap(true, Ordering::SeqCst) {
                            return;
                        }
                        delay = RECONNECT_FIRST_DELAY;
                        continue;
                    }
                    Err(e) => tracing::debug!(error = %e, attempts, "libvirt not back yet"),
                }
                delay = (delay * 2).min(RECONNECT_MAX_DELAY);
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the libvirt reconnect thread; reconnecting at the next call");
            if let Some(inner) = me.upgrade() {
                inner.reconnecting.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Whether there is no open connection (never opened, or closed by libvirt).
    fn link_closed(&self) -> bool {
        let link = self.link.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        link.as_ref().is_none_or(|open| open.closed.load(Ordering::SeqCst))
    }

    /// After a reconnect: report the stop of every VM that went away while we heard nothing.
    fn reconcile(&self, conn: &Connect) {
        let running: Vec<String> =
            self.shared.vms().iter().filter(|(_, s)| !s.is_stopped()).map(|(id, _)| id.clone()).collect();
        for vm_id in running {
            let active = conn.lookup_domain_by_name(&vm_id).and_then(|d| d.is_active()).unwrap_or(false);
            if !active {
                let detail = sys::VIR_DOMAIN_EVENT_STOPPED_FAILED as i32;
                self.shared.on_event(DomainEvent::Lifecycle {
                    name: vm_id,
                    event: sys::VIR_DOMAIN_EVENT_STOPPED as i32,
                    detail,
                });
            }
        }
    }

    /// The domain named `vm_id`, or `None` when libvirt has no such domain. Blocking.
    fn domain(&self, vm_id: &str) -> Result<Option<Domain>, VmError> {
        let conn = self.connection()?;
        match conn.lookup_domain_by_name(vm_id) {
            Ok(dom) => Ok(Some(dom)),
            Err(e) if is_code(&e, ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(lv_error(vm_id, "virDomainLookupByName", &e)),
        }
    }

    /// The domain, which must be running.
    fn running(&self, vm_id: &str) -> Result<Domain, VmError> {
        let not_running = || VmError::NotRunning { vm_id: vm_id.to_string() };
        let dom = self.domain(vm_id)?.ok_or_else(not_running)?;
        match dom.is_active() {
            Ok(true) => Ok(dom),
            Ok(false) => Err(not_running()),
            Err(e) => Err(lv_error(vm_id, "virDomainIsActive", &e)),
        }
    }

    /// The running domain's live XML and its disks as that XML shows them.
    fn live_xml_and_disks(&self, vm_id: &str, dom: &Domain) -> Result<(String, Vec<LiveDisk>), VmError> {
        let xml = dom.xml_desc(0).map_err(|e| lv_error(vm_id, "virDomainGetXMLDesc", &e))?;
        let disks = domain_xml::parse_disks(&xml).map_err(|reason| VmError::Libvirt {
            vm_id: vm_id.into(),
            call: "virDomainGetXMLDesc".into(),
            reason,
        })?;
        Ok((xml, disks))
    }

    /// The running domain's disks as its live XML shows them.
    fn live_disks(&self, vm_id: &str, dom: &Domain) -> Result<Vec<LiveDisk>, VmError> {
        Ok(self.live_xml_and_disks(vm_id, dom)?.1)
    }

    fn live_disk(&self, vm_id: &str, dom: &Domain, disk_id: &str) -> Result<Option<LiveDisk>, VmError> {
        Ok(self.live_disks(vm_id, dom)?.into_iter().find(|d| d.is(disk_id)))
    }

    fn with_state<T>(&self, vm_id: &str, f: impl FnOnce(&mut VmState) -> T) -> T {
        let mut vms = self.shared.vms();
        f(vms.entry(vm_id.to_string()).or_insert_with(VmState::new))
    }
}

impl LibvirtDriver {
    /// A driver for `config.uri`. Nothing is contacted until the first call, so a server can
    /// start while libvirtd is still coming up.
    pub fn new(config: LibvirtConfig) -> LibvirtDriver {
        let shared = Arc::new(Shared { vms: Mutex::new(HashMap::new()), events: broadcast::channel(256).0 });
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
        self.inner.with_state(&spec.vm_id, |state| {
            state.run_dir = Some(spec.run_dir.clone());
            state.display = spec.display;
            state.forgetting = false;
        });
    }

    /// Wait until the stop of `vm_id` was reported; false on timeout.
    async fn wait_stopped(&self, vm_id: &str, limit: Duration) -> bool {
        let mut rx = self.inner.with_state(vm_id, |state| state.stopped.subscribe());
        tokio::time::timeout(limit, rx.wait_for(|stopped| *stopped)).await.is_ok_and(|r| r.is_ok())
    }

    /// A screenshot, by the fastest route that works for this connection.
    fn screenshot_blocking(inner: &Inner, vm_id: &str, run_dir: Option<PathBuf>) -> Result<Frame, VmError> {
        let dom = inner.running(vm_id)?;
        if let (true, Some(run_dir)) = (inner.config.qmp_screendump, run_dir) {
            match Self::screendump_via_qmp(vm_id, &dom, &run_dir) {
                Ok(frame) => return Ok(frame),
                Err(e) => {
                    tracing::debug!(vm_id, error = %e, "QMP screendump failed; using the libvirt stream")
                }
            }
        }
        Self::screenshot_via_stream(inner, vm_id, &dom)
    }

    /// QMP pass-through (`virDomainQemuMonitorCommand`): QEMU writes an uncompressed PPM into
    /// the VM's run directory, which the server reads. Five times faster than the stream at
    /// 1080p (no PNG encode and decode), but only where the server sees the libvirt host's
    /// files. libvirt marks the domain tainted (`custom-monitor`) in its log, once.
    fn screendump_via_qmp(vm_id: &str, dom: &Domain, run_dir: &Path) -> Result<Frame, VmError> {
        let shot = NEXT_SHOT.fetch_add(1, Ordering::Relaxed);
        let path = run_dir.join(format!("shot-{}-{shot}.ppm", std::process::id()));
        let command = serde_json::json!({
            "execute": "screendump",
            "arguments": { "filename": path.to_string_lossy(), "format": "ppm" },
        });
        let result = dom.qemu_monitor_command(&command.to_string(), 0);
        let data = std::fs::read(&path);
        let _ = std::fs::remove_file(&path);
        result.map_err(|e| lv_error(vm_id, "virDomainQemuMonitorCommand(screendump)", &e))?;
        let data = data.map_err(|e| io_error(vm_id, &path, e))?;
        Frame::from_ppm(&data).map_err(|reason| VmError::Libvirt {
            vm_id: vm_id.into(),
            call: "screendump".into(),
            reason: format!("unreadable PPM: {reason}"),
        })
    }

    /// libvirt's own screenshot stream (`virDomainScreenshot`): QEMU writes a file (PNG with
    /// QEMU 7.1+) on the libvirt host and libvirtd streams it over the connection, local or remote.
    fn screenshot_via_stream(inner: &Inner, vm_id: &str, dom: &Domain) -> Result<Frame, VmError> {
        let conn = inner.connection()?;
        let stream = virt::stream::Stream::new(&conn, 0).map_err(|e| lv_error(vm_id, "virStreamNew", &e))?;
        let mime = dom.screenshot(&stream, 0, 0).map_err(|e| lv_error(vm_id, "virDomainScreenshot", &e))?;
        let mut data = Vec::with_capacity(1 << 20);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = stream.recv(&mut buf).map_err(|e| lv_error(vm_id, "virStreamRecv", &e))?;
            if n <= 0 {
                break;
            }
            data.extend_from_slice(&buf[..n as usize]);
        }
        stream.finish().map_err(|e| lv_error(vm_id, "virStreamFinish", &e))?;
        screen::decode(&data).map_err(|reason| VmError::Libvirt {
            vm_id: vm_id.into(),
            call: "virDomainScreenshot".into(),
            reason: format!("unreadable {mime} screenshot: {reason}"),
        })
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

/// The spec with absolute paths (libvirtd resolves paths on its own side).
fn absolute_spec(spec: &VmSpec) -> Result<VmSpec, VmError> {
    let absolute = |path: &Path| std::path::absolute(path).map_err(|e| io_error(&spec.vm_id, path, e));
    let mut spec = spec.clone();
    spec.run_dir = absolute(&spec.run_dir)?;
    for disk in &mut spec.disks {
        disk.path = absolute(&disk.path)?;
    }
    Ok(spec)
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

fn read_tail(path: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes as u64);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.take(max_bytes as u64).read_to_end(&mut tail)?;
    Ok(tail)
}

/// Create the run directory and remove a serial socket a previous QEMU left.
fn prepare_run_dir(vm_id: &str, run_dir: &Path) -> Result<(), VmError> {
    std::fs::create_dir_all(run_dir).map_err(|e| io_error(vm_id, run_dir, e))?;
    let socket = RunFiles::new(run_dir).serial;
    match std::fs::remove_file(&socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(vm_id, &socket, e)),
        _ => Ok(()),
    }
}

#[async_trait]
impl Hypervisor for LibvirtDriver {
    fn name(&self) -> &'static str {
        "libvirt"
    }

    async fn start(&self, spec: &VmSpec) -> Result<(), VmError> {
        let spec = absolute_spec(spec)?;
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
                inner.with_state(&id, VmState::mark_running);
                dom.create().map_err(|e| failed(e.message().to_string())).map(drop)
            })
            .await;
        if let Err(e) = result {
            self.inner.with_state(&vm_id, |state| {
                state.stopped.send_replace(true);
            });
            return Err(e);
        }
        tracing::info!(vm_id, elapsed_ms = begun.elapsed().as_millis() as u64, "VM started (libvirt)");
        Ok(())
    }

    async fn adopt(&self, spec: &VmSpec) -> Result<PowerState, VmError> {
        let spec = absolute_spec(spec)?;
        self.remember(&spec);
        let vm_id = spec.vm_id.clone();
        let id = vm_id.clone();
        let power = self
            .call(&vm_id, move |inner| match inner.domain(&id)? {
                Some(dom) => domain_power(&id, &dom),
                None => Ok(PowerState::Off),
            })
            .await?;
        self.inner.with_state(&vm_id, |state| {
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
            inner.with_state(&id, |state| state.shutdown_requested = true);
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
                inner.with_state(&id, |state| state.kill_requested = true);
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
            inner.with_state(&id, |state| state.our_reset_at = Some(Instant::now()));
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

    async fn screenshot(&self, vm_id: &str) -> Result<Frame, VmError> {
        let display = self.inner.shared.vms().get(vm_id).map(|state| state.display);
        if display == Some(false) {
            // Still say NotRunning for a stopped VM, as the qemu driver does.
            let id = vm_id.to_string();
            self.call(vm_id, move |inner| inner.running(&id).map(drop)).await?;
            return Err(VmError::NoDisplay { vm_id: vm_id.to_string() });
        }
        let id = vm_id.to_string();
        let begun = Instant::now();
        let run_dir = self.inner.shared.vms().get(vm_id).and_then(|state| state.run_dir.clone());
        let frame =
            self.call(vm_id, move |inner| LibvirtDriver::screenshot_blocking(inner, &id, run_dir)).await?;
        tracing::debug!(vm_id, elapsed_ms = begun.elapsed().as_millis() as u64, "screenshot through libvirt");
        Ok(frame)
    }

    async fn console_output(&self, vm_id: &str, max_bytes: usize) -> Result<Vec<u8>, VmError> {
        let run_dir = self.inner.shared.vms().get(vm_id).and_then(|state| state.run_dir.clone());
        let Some(run_dir) = run_dir else { return Ok(Vec::new()) };
        let log = RunFiles::new(&run_dir).console_log;
        let id = vm_id.to_string();
        self.call(vm_id, move |_| read_console(&log, max_bytes).map_err(|e| io_error(&id, &log, e))).await
    }

    fn events(&self) -> broadcast::Receiver<VmEvent> {
        self.inner.shared.events.subscribe()
    }

    async fn forget(&self, vm_id: &str) -> Result<(), VmError> {
        let id = vm_id.to_string();
        self.call(vm_id, move |inner| {
            inner.with_state(&id, |state| state.forgetting = true);
            let Some(dom) = inner.domain(&id)? else { return Ok(()) };
            if dom.is_active().unwrap_or(false) {
                inner.with_state(&id, |state| state.kill_requested = true);
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
        let id = vm_id.to_string();
        let overlays = overlays.to_vec();
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let (live_xml, disks) = inner.live_xml_and_disks(&id, &dom)?;
            let targets = domain_xml::overlay_targets(&disks, &overlays).map_err(|reason| VmError::Disk {
                vm_id: id.clone(),
                disk_id: overlays.iter().map(|o| o.disk_id.as_str()).collect::<Vec<_>>().join(","),
                reason,
            })?;
            if targets.is_empty() {
                return Ok(());
            }
            let name =
                format!("ecslab-{}-{}", std::process::id(), NEXT_SNAPSHOT.fetch_add(1, Ordering::Relaxed));
            let xml = domain_xml::snapshot_xml(&name, &disks, &targets).map_err(|reason| {
                VmError::Libvirt { vm_id: id.clone(), call: "snapshot XML".into(), reason }
            })?;
            // The overlays are written here and handed over with REUSE_EXT: twice as fast as
            // libvirt making them through a QEMU job ([`overlay`]).
            for (target, new_top) in &targets {
                let backing = disks.iter().find(|d| &d.target == target).and_then(|d| d.chain.first());
                let backing = backing.ok_or_else(|| {
                    disk_error(&id, target, format!("libvirt shows no file for disk {target}"))
                })?;
                overlay::create_overlay(new_top, backing).map_err(|e| io_error(&id, new_top, e))?;
            }
            let flags = sys::VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                | sys::VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                | sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                | sys::VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT;
            let frozen = agent::freeze(&dom, &id, domain_xml::agent_connected(&live_xml));
            let taken = dom.create_snapshot_xml(&xml, flags);
            agent::thaw(&dom, &id, &frozen);
            taken.map(drop).map_err(|e| lv_error(&id, "virDomainSnapshotCreateXML", &e))
        })
        .await
    }

    async fn commit_layer(
        &self,
        vm_id: &str,
        disk_id: &str,
        top: &Path,
        base: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(), VmError> {
        let (id, disk, top_path, base_path) =
            (vm_id.to_string(), disk_id.to_string(), top.to_path_buf(), base.to_path_buf());
        // Start the job unless the merge already happened or runs.
        let target = self
            .call(vm_id, move |inner| {
                let dom = inner.running(&id)?;
                let live = inner
                    .live_disk(&id, &dom, &disk)?
                    .ok_or_else(|| disk_error(&id, &disk, "no such disk in the VM"))?;
                if events::block_job(&dom, &live.target)
                    .map_err(|e| lv_error(&id, "virDomainGetBlockJobInfo", &e))?
                    .is_some()
                {
                    return Ok(Some(live.target));
                }
                if !live.chain.contains(&top_path) {
                    return Ok(None);
                }
                if live.chain.first() == Some(&top_path) {
                    return Err(disk_error(
                        &id,
                        &disk,
                        format!("{} is the active layer, not a frozen one", top_path.display()),
                    ));
                }
                if !live.chain.contains(&base_path) {
                    return Err(disk_error(
                        &id,
                        &disk,
                        format!("{} is not in the disk's chain", base_path.display()),
                    ));
                }
                events::block_commit(
                    &dom,
                    &live.target,
                    path_str(&id, &base_path)?,
                    path_str(&id, &top_path)?,
                )
                .map_err(|e| lv_error(&id, "virDomainBlockCommit", &e))?;
                Ok(Some(live.target))
            })
            .await?;
        let Some(target) = target else {
            progress(100);
            return Ok(());
        };
        let deadline = Instant::now() + JOB_LIMIT;
        let mut last_reported = None;
        loop {
            let (id, t) = (vm_id.to_string(), target.clone());
            let job = self
                .call(vm_id, move |inner| {
                    let dom = inner.running(&id)?;
                    events::block_job(&dom, &t).map_err(|e| lv_error(&id, "virDomainGetBlockJobInfo", &e))
                })
                .await?;
            let Some((cur, end)) = job else { break };
            let pct = cur.saturating_mul(100).checked_div(end).map_or(0, |p| p.min(100) as u8);
            if last_reported != Some(pct) {
                progress(pct);
                last_reported = Some(pct);
            }
            if Instant::now() > deadline {
                return Err(VmError::Timeout {
                    vm_id: vm_id.to_string(),
                    what: format!("finish merging {} of {disk_id}", top.display()),
                    seconds: JOB_LIMIT.as_secs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        // The job is gone: it succeeded when `top` left the chain libvirt shows (libvirt updates
        // its XML as it processes the job's completion, so give it a moment).
        let settle = Instant::now() + Duration::from_secs(5);
        loop {
            let (id, disk) = (vm_id.to_string(), disk_id.to_string());
            let chain = self
                .call(vm_id, move |inner| {
                    let dom = inner.running(&id)?;
                    Ok(inner.live_disk(&id, &dom, &disk)?.map(|d| d.chain).unwrap_or_default())
                })
                .await?;
            if !chain.iter().any(|f| f == top) {
                progress(100);
                return Ok(());
            }
            if Instant::now() > settle {
                return Err(disk_error(
                    vm_id,
                    disk_id,
                    format!(
                        "the block commit of {} ended but the layer is still in the chain",
                        top.display()
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn attach_disk(&self, vm_id: &str, disk: &DiskSpec) -> Result<(), VmError> {
        let id = vm_id.to_string();
        let mut disk = disk.clone();
        disk.path = std::path::absolute(&disk.path).map_err(|e| io_error(vm_id, &disk.path, e))?;
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let live = inner.live_disks(&id, &dom)?;
            if live.iter().any(|d| d.is(&disk.disk_id)) {
                return Ok(());
            }
            let xml = domain_xml::disk_xml(&disk, &domain_xml::free_target(&live), None)
                .map_err(|reason| disk_error(&id, &disk.disk_id, reason))?;
            let both = sys::VIR_DOMAIN_AFFECT_LIVE | sys::VIR_DOMAIN_AFFECT_CONFIG;
            if let Err(e) = dom.attach_device_flags(&xml, both) {
                // The persistent definition may have diverged (it is rewritten at the next start
                // anyway): the live attach is what counts.
                tracing::debug!(vm_id = %id, error = %e, "attaching live+config failed; attaching live only");
                dom.attach_device_flags(&xml, sys::VIR_DOMAIN_AFFECT_LIVE)
                    .map_err(|e| lv_error(&id, "virDomainAttachDeviceFlags", &e))?;
            }
            Ok(())
        })
        .await
    }

    async fn detach_disk(&self, vm_id: &str, disk_id: &str) -> Result<(), VmError> {
        let (id, disk) = (vm_id.to_string(), disk_id.to_string());
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let Some(live) = inner.live_disk(&id, &dom, &disk)? else { return Ok(()) };
            let spec =
                DiskSpec { disk_id: disk.clone(), path: live.chain.first().cloned().unwrap_or_default() };
            let xml = domain_xml::disk_xml(&spec, &live.target, None)
                .map_err(|reason| disk_error(&id, &disk, reason))?;
            let both = sys::VIR_DOMAIN_AFFECT_LIVE | sys::VIR_DOMAIN_AFFECT_CONFIG;
            if dom.detach_device_flags(&xml, both).is_err() {
                dom.detach_device_flags(&xml, sys::VIR_DOMAIN_AFFECT_LIVE)
                    .map_err(|e| lv_error(&id, "virDomainDetachDeviceFlags", &e))?;
            }
            Ok(())
        })
        .await?;
        // libvirt returns once the request is sent; the guest releases the disk in its own time.
        let deadline = Instant::now() + UNPLUG_LIMIT;
        loop {
            let (id, disk) = (vm_id.to_string(), disk_id.to_string());
            let present = self
                .call(vm_id, move |inner| {
                    let dom = inner.running(&id)?;
                    Ok(inner.live_disk(&id, &dom, &disk)?.is_some())
                })
                .await?;
            if !present {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(VmError::Timeout {
                    vm_id: vm_id.to_string(),
                    what: format!("release disk {disk_id}"),
                    seconds: UNPLUG_LIMIT.as_secs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn resize_disk(&self, vm_id: &str, disk_id: &str, size_bytes: u64) -> Result<(), VmError> {
        let (id, disk) = (vm_id.to_string(), disk_id.to_string());
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let live = inner
                .live_disk(&id, &dom, &disk)?
                .ok_or_else(|| disk_error(&id, &disk, "no such disk in the VM"))?;
            dom.block_resize(&live.target, size_bytes, sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                .map_err(|e| lv_error(&id, "virDomainBlockResize", &e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> (Shared, broadcast::Receiver<VmEvent>) {
        let (tx, rx) = broadcast::channel(16);
        (Shared { vms: Mutex::new(HashMap::new()), events: tx }, rx)
    }

    fn lifecycle(name: &str, event: u32, detail: u32) -> DomainEvent {
        DomainEvent::Lifecycle { name: name.into(), event: event as i32, detail: detail as i32 }
    }

    fn running(shared: &Shared, name: &str, setup: impl FnOnce(&mut VmState)) {
        let mut vms = shared.vms();
        let state = vms.entry(name.into()).or_insert_with(VmState::new);
        state.mark_running();
        setup(state);
    }

    #[test]
    fn stop_causes_follow_intent_and_detail() {
        use sys::*;
        let (shared, mut rx) = shared();
        type Setup = fn(&mut VmState);
        let table: [(Setup, u32, StopCause); 6] = [
            (|s| s.kill_requested = true, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, StopCause::Killed),
            (|_| {}, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, StopCause::Vanished),
            (|_| {}, VIR_DOMAIN_EVENT_STOPPED_FAILED, StopCause::Vanished),
            (|s| s.guest_shutdown_seen = true, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, StopCause::GuestShutdown),
            (|s| s.shutdown_requested = true, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, StopCause::GuestShutdown),
            (|s| s.shutdown_requested = true, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, StopCause::Vanished),
        ];
        for (setup, detail, want) in table {
            running(&shared, "i-1", setup);
            shared.on_event(lifecycle("i-1", VIR_DOMAIN_EVENT_STOPPED, detail));
            assert_eq!(rx.try_recv().unwrap(), VmEvent::Stopped { vm_id: "i-1".into(), cause: want });
            // A second STOPPED for the same run is not reported again.
            shared.on_event(lifecycle("i-1", VIR_DOMAIN_EVENT_STOPPED, detail));
            assert!(rx.try_recv().is_err());
        }
    }

    #[test]
    fn guest_shutdown_event_then_stop_is_a_guest_poweroff() {
        use sys::*;
        let (shared, mut rx) = shared();
        running(&shared, "i-2", |_| {});
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST));
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN));
        let want = VmEvent::Stopped { vm_id: "i-2".into(), cause: StopCause::GuestShutdown };
        assert_eq!(rx.try_recv().unwrap(), want);
        // Started again from outside: the next stop is reported, with fresh intents.
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_STARTED, 0));
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN));
        let want = VmEvent::Stopped { vm_id: "i-2".into(), cause: StopCause::Vanished };
        assert_eq!(rx.try_recv().unwrap(), want);
    }

    #[test]
    fn resets_are_debounced_and_ours_are_silent() {
        let (shared, mut rx) = shared();
        running(&shared, "i-3", |s| s.our_reset_at = Some(Instant::now()));
        shared.on_event(DomainEvent::Reboot { name: "i-3".into() });
        shared.on_event(DomainEvent::Reboot { name: "i-3".into() });
        assert!(rx.try_recv().is_err(), "our own reset and its follow-up are not guest resets");
        running(&shared, "i-4", |_| {});
        shared.on_event(DomainEvent::Reboot { name: "i-4".into() });
        shared.on_event(DomainEvent::Reboot { name: "i-4".into() });
        assert_eq!(rx.try_recv().unwrap(), VmEvent::Reset { vm_id: "i-4".into() });
        assert!(rx.try_recv().is_err());
    }

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
