//! The `qemu` driver: QEMU processes launched directly and controlled over QMP.
//!
//! VMs outlive the server. Each VM runs as a daemonized QEMU whose files sit in the VM's run
//! directory (pid file, QMP and serial sockets, console log; see [`RunPaths`]). A restarted server
//! calls [`Hypervisor::adopt`] with the same spec and reconnects through the pid file and QMP socket.
//!
//! Per running VM the driver holds one QMP connection (`qmp.rs`: a connection task that multiplexes
//! commands by id and forwards events) and one watcher (`monitor.rs`) that turns events and the end of
//! the process into [`VmEvent`]s. Dropping the driver closes the connections and leaves the VMs
//! running.
//!
//! Callers serialize the operations on one VM: two concurrent `start`s of the same VM would race on
//! its run directory. The domain layer does it with conditional status changes in the store (a
//! start is admitted only by the one request that moves the instance into `Starting`). The driver knows a VM's run
//! directory only after `start` or `adopt`; `console_output` of a VM it never saw is empty.
//!
//! ```text
//!  start ──launch (-daemonize -S)──► QMP connect ──► cont ──► Running
//!  adopt ──pid file + /proc check──► QMP connect ──► query-status
//!  QMP EOF ──► wait for the pid to go ──► Stopped { GuestShutdown | Killed | Vanished }
//! ```

mod agent;
mod argv;
mod blockdev;
mod monitor;
mod process;
mod qmp;

pub use argv::{drive_node_name, file_node_name, qemu_args, RunPaths};
pub use qmp::{QmpClient, QmpError, QmpEvent};

use crate::log_tail::read_tail;
use crate::{Frame, Hypervisor, PowerState, VmError, VmEvent, VmSpec};
use async_trait::async_trait;
use monitor::VmShared;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Launch until QEMU's daemonizing parent exits (TCG init is well under a second).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting to QMP and negotiating capabilities.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Any single QMP command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// `kill`: how long QEMU gets to exit after `quit` before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// `kill`: how long the process may take to disappear after SIGKILL, and the watcher to report it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How to run QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuConfig {
    /// The emulator; looked up in `PATH` when it has no slash.
    pub qemu_binary: PathBuf,
    /// Where QEMU writes screendumps, which the driver reads and deletes at once. A tmpfs keeps
    /// screenshots off the disk: the default is `/dev/shm` when it exists, else the temp dir.
    pub scratch_dir: PathBuf,
}

impl Default for QemuConfig {
    fn default() -> Self {
        let shm = Path::new("/dev/shm");
        let scratch_dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        QemuConfig { qemu_binary: PathBuf::from("qemu-system-x86_64"), scratch_dir }
    }
}

/// What the driver knows of a VM it started or adopted.
struct VmEntry {
    paths: RunPaths,
    display: bool,
    /// The current process, while connected.
    live: Option<Arc<LiveVm>>,
}

/// A running VM's QMP connection and what its watcher shares.
struct LiveVm {
    qmp: QmpClient,
    shared: Arc<VmShared>,
    /// QEMU's agent socket takes one client at a time: whoever talks to the agent holds this.
    agent_lock: Arc<tokio::sync::Mutex<()>>,
}

/// The QEMU driver.
pub struct QemuDriver {
    config: QemuConfig,
    vms: Mutex<HashMap<String, VmEntry>>,
    events: broadcast::Sender<VmEvent>,
}

/// Numbers screendump files; process-wide, as several drivers may share a scratch directory.
static NEXT_SHOT: AtomicU64 = AtomicU64::new(0);

impl QemuDriver {
    pub fn new(config: QemuConfig) -> QemuDriver {
        // QEMU daemonizes into `/`, so the screendump path it is given must be absolute.
        let scratch_dir = std::path::absolute(&config.scratch_dir).unwrap_or(config.scratch_dir);
        if let Err(e) = std::fs::create_dir_all(&scratch_dir) {
            tracing::warn!(dir = %scratch_dir.display(), error = %e, "cannot create the screendump directory");
        }
        QemuDriver {
            config: QemuConfig { scratch_dir, ..config },
            vms: Mutex::new(HashMap::new()),
            events: broadcast::channel(256).0,
        }
    }

    fn vms(&self) -> MutexGuard<'_, HashMap<String, VmEntry>> {
        self.vms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Record a VM's files and display; drops any stale connection.
    fn remember(&self, vm_id: &str, paths: RunPaths, display: bool) {
        self.vms().insert(vm_id.to_string(), VmEntry { paths, display, live: None });
    }

    /// The VM's connection, if its process still runs.
    fn live(&self, vm_id: &str) -> Option<Arc<LiveVm>> {
        let vms = self.vms();
        vms.get(vm_id)?.live.as_ref().filter(|live| !live.shared.is_stopped()).cloned()
    }

    fn running(&self, vm_id: &str) -> Result<Arc<LiveVm>, VmError> {
        self.live(vm_id).ok_or_else(|| VmError::NotRunning { vm_id: vm_id.to_string() })
    }

    /// Connect to the VM's QMP socket and start watching it.
    async fn attach(&self, vm_id: &str, paths: &RunPaths, pid: i32) -> Result<Arc<LiveVm>, VmError> {
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, qmp::connect(&paths.qmp)).await;
        let (qmp, notices) = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(qmp_error(vm_id, "qmp_capabilities", e)),
            Err(_) => return Err(timeout(vm_id, "answer on its QMP socket", CONNECT_TIMEOUT)),
        };
        let shared = VmShared::new(vm_id, pid, paths.clone());
        tokio::spawn(monitor::watch_vm(shared.clone(), notices, self.events.clone()));
        let live = Arc::new(LiveVm { qmp, shared, agent_lock: Arc::default() });
        if let Some(entry) = self.vms().get_mut(vm_id) {
            entry.live = Some(live.clone());
        }
        Ok(live)
    }

    /// Run a QMP command. A connection that closes meanwhile means the VM stopped.
    async fn command(
        &self,
        live: &LiveVm,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, VmError> {
        let vm_id = live.shared.vm_id.as_str();
        match tokio::time::timeout(COMMAND_TIMEOUT, live.qmp.execute(command, arguments)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(QmpError::Disconnected)) => Err(VmError::NotRunning { vm_id: vm_id.to_string() }),
            Ok(Err(e)) => Err(qmp_error(vm_id, command, e)),
            Err(_) => Err(timeout(vm_id, &format!("answer {command}"), COMMAND_TIMEOUT)),
        }
    }

    /// QEMU's run state (`running`, `paused`, `suspended`, `prelaunch`, ...).
    async fn status(&self, live: &LiveVm) -> Result<String, VmError> {
        let reply = self.command(live, "query-status", None).await?;
        match reply.get("status").and_then(Value::as_str) {
            Some(status) => Ok(status.to_string()),
            None => Err(VmError::Qmp {
                vm_id: live.shared.vm_id.clone(),
                command: "query-status".into(),
                reason: format!("reply has no status: {reply}"),
            }),
        }
    }

    /// Launch QEMU for `spec` (paths absolute) and connect to it; the guest is still paused (`-S`).
    async fn launch(&self, spec: &VmSpec, paths: &RunPaths) -> Result<Arc<LiveVm>, String> {
        let args = argv::qemu_args(spec, paths)?;
        prepare_run_dir(paths)?;
        if let Err(reason) =
            process::launch(&self.config.qemu_binary, &args, &paths.qemu_log, START_TIMEOUT).await
        {
            kill_leftover(paths);
            return Err(reason);
        }
        let pid = match process::read_pidfile(&paths.pidfile) {
            Ok(Some(pid)) => pid,
            Ok(None) => return Err(format!("QEMU started but {} holds no pid", paths.pidfile.display())),
            Err(e) => return Err(format!("reading {}: {e}", paths.pidfile.display())),
        };
        self.attach(&spec.vm_id, paths, pid).await.map_err(|e| {
            kill_leftover(paths);
            e.to_string()
        })
    }

    /// Power off a VM we are connected to: `quit`, then SIGKILL if QEMU lingers.
    async fn kill_live(&self, live: &LiveVm) -> Result<(), VmError> {
        let shared = &live.shared;
        let (vm_id, pid, paths) = (shared.vm_id.as_str(), shared.pid, &shared.paths);
        let begun = Instant::now();
        shared.note_kill_requested();
        // QEMU may close the socket before its reply gets out; either way it is on its way out.
        let _ = tokio::time::timeout(KILL_GRACE, live.qmp.execute("quit", None)).await;
        if !process::wait_gone(pid, paths, KILL_GRACE.saturating_sub(begun.elapsed())).await {
            tracing::warn!(vm_id, pid, "QEMU did not exit after quit; sending SIGKILL");
            process::sigkill(pid, paths).map_err(|e| VmError::io(vm_id, &paths.pidfile, e))?;
            if !process::wait_gone(pid, paths, KILL_WAIT).await {
                return Err(timeout(vm_id, "exit after SIGKILL", KILL_WAIT));
            }
        }
        if !shared.wait_stopped(KILL_WAIT).await {
            return Err(timeout(vm_id, "be reported stopped", KILL_WAIT));
        }
        Ok(())
    }
}

/// Map QEMU's run state: `running` runs; paused, suspended and the transient states still hold
/// the VM's resources; `shutdown` only shows with `-no-shutdown`, which we do not use.
fn power_state_of(status: &str) -> PowerState {
    match status {
        "running" => PowerState::Running,
        "shutdown" => PowerState::Off,
        _ => PowerState::Suspended,
    }
}

/// Create the run directory and clear what a dead QEMU left; refuse if one still runs there.
fn prepare_run_dir(paths: &RunPaths) -> Result<(), String> {
    let dir = paths.run_dir.display();
    std::fs::create_dir_all(&paths.run_dir).map_err(|e| format!("creating {dir}: {e}"))?;
    match process::live_pid(paths) {
        Ok(Some(pid)) => return Err(format!("QEMU (pid {pid}) already runs in {dir}; adopt it instead")),
        Ok(None) => {}
        Err(e) => return Err(format!("reading {}: {e}", paths.pidfile.display())),
    }
    process::remove_stale(paths).map_err(|e| format!("cleaning {dir}: {e}"))?;
    // QEMU truncates its log when it starts; removing it first keeps an old run's messages out of
    // this start's error.
    match std::fs::remove_file(&paths.qemu_log) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(format!("removing {}: {e}", paths.qemu_log.display()))
        }
        _ => Ok(()),
    }
}

/// After a failed start: a QEMU that got as far as writing its pid file must not linger.
fn kill_leftover(paths: &RunPaths) {
    if let Ok(Some(pid)) = process::live_pid(paths) {
        if let Err(e) = process::sigkill(pid, paths) {
            tracing::warn!(pid, error = %e, "cannot kill a half-started QEMU");
        }
    }
    let _ = process::remove_stale(paths);
}

/// Read a screendump, delete it, and parse it.
fn read_screendump(vm_id: &str, path: &Path) -> Result<Frame, VmError> {
    let data = std::fs::read(path);
    let _ = std::fs::remove_file(path);
    let data = data.map_err(|e| VmError::io(vm_id, path, e))?;
    Frame::from_ppm(&data).map_err(|reason| VmError::Qmp {
        vm_id: vm_id.to_string(),
        command: "screendump".into(),
        reason: format!("unreadable PPM {}: {reason}", path.display()),
    })
}

fn qmp_error(vm_id: &str, command: &str, e: QmpError) -> VmError {
    VmError::Qmp { vm_id: vm_id.to_string(), command: command.to_string(), reason: e.to_string() }
}

fn timeout(vm_id: &str, what: &str, after: Duration) -> VmError {
    VmError::Timeout { vm_id: vm_id.to_string(), what: what.to_string(), seconds: after.as_secs() }
}

/// Run blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    vm_id: &str,
    path: &Path,
    work: impl FnOnce() -> Result<T, VmError> + Send + 'static,
) -> Result<T, VmError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| VmError::io(vm_id, path, io::Error::other(e)))?
}

#[async_trait]
impl Hypervisor for QemuDriver {
    fn name(&self) -> &'static str {
        "qemu"
    }

    async fn start(&self, spec: &VmSpec) -> Result<(), VmError> {
        let spec = spec.absolute()?;
        let vm_id = spec.vm_id.as_str();
        let failed = |reason: String| VmError::StartFailed { vm_id: vm_id.to_string(), reason };
        if self.live(vm_id).is_some() {
            return Err(failed("it is already running".into()));
        }
        let paths = RunPaths::new(&spec.run_dir);
        self.remember(vm_id, paths.clone(), spec.display);
        let begun = Instant::now();
        let live = self.launch(&spec, &paths).await.map_err(failed)?;
        if let Err(e) = self.command(&live, "cont", None).await {
            let _ = self.kill_live(&live).await;
            return Err(failed(format!("cont: {e}")));
        }
        tracing::info!(
            vm_id,
            pid = live.shared.pid,
            elapsed_ms = begun.elapsed().as_millis() as u64,
            "VM started"
        );
        Ok(())
    }

    async fn adopt(&self, spec: &VmSpec) -> Result<PowerState, VmError> {
        let spec = spec.absolute()?;
        let vm_id = spec.vm_id.as_str();
        if let Some(live) = self.live(vm_id) {
            return Ok(power_state_of(&self.status(&live).await?));
        }
        let paths = RunPaths::new(&spec.run_dir);
        self.remember(vm_id, paths.clone(), spec.display);
        let off = |paths: &RunPaths| {
            process::remove_stale(paths).map_err(|e| VmError::io(vm_id, &paths.run_dir, e))?;
            Ok(PowerState::Off)
        };
        let Some(pid) = process::live_pid(&paths).map_err(|e| VmError::io(vm_id, &paths.pidfile, e))? else {
            return off(&paths);
        };
        let live = match self.attach(vm_id, &paths, pid).await {
            Ok(live) => live,
            // It died while we were connecting.
            Err(_) if !process::is_alive(pid, &paths) => return off(&paths),
            Err(e) => return Err(e),
        };
        tracing::info!(vm_id, pid, "adopted a running VM");
        let status = self.status(&live).await?;
        if status == "prelaunch" {
            // A server that died between launch and `cont` left the VM paused: finish its start.
            self.command(&live, "cont", None).await?;
            return Ok(PowerState::Running);
        }
        Ok(power_state_of(&status))
    }

    async fn power_state(&self, vm_id: &str) -> Result<PowerState, VmError> {
        let Some(live) = self.live(vm_id) else { return Ok(PowerState::Off) };
        match self.status(&live).await {
            Ok(status) => Ok(power_state_of(&status)),
            Err(VmError::NotRunning { .. }) => Ok(PowerState::Off),
            Err(e) => Err(e),
        }
    }

    async fn request_shutdown(&self, vm_id: &str) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        live.shared.note_shutdown_requested();
        self.command(&live, "system_powerdown", None).await.map(drop)
    }

    async fn kill(&self, vm_id: &str) -> Result<(), VmError> {
        if let Some(live) = self.live(vm_id) {
            return self.kill_live(&live).await;
        }
        // Not connected, but a process may still run (adopt could not reach its QMP socket).
        let paths = self.vms().get(vm_id).map(|entry| entry.paths.clone());
        let Some(paths) = paths else { return Ok(()) };
        if let Some(pid) = process::live_pid(&paths).map_err(|e| VmError::io(vm_id, &paths.pidfile, e))? {
            tracing::warn!(vm_id, pid, "killing a QEMU the driver is not connected to");
            process::sigkill(pid, &paths).map_err(|e| VmError::io(vm_id, &paths.pidfile, e))?;
            if !process::wait_gone(pid, &paths, KILL_WAIT).await {
                return Err(timeout(vm_id, "exit after SIGKILL", KILL_WAIT));
            }
            process::remove_stale(&paths).map_err(|e| VmError::io(vm_id, &paths.run_dir, e))?;
        }
        Ok(())
    }

    async fn reset(&self, vm_id: &str) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        self.command(&live, "system_reset", None).await.map(drop)
    }

    async fn wake_up(&self, vm_id: &str) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        match self.command(&live, "system_wakeup", None).await {
            // QEMU refuses when the guest is not suspended (or cannot be): nothing to wake.
            Ok(_) | Err(VmError::Qmp { .. }) => {}
            Err(e) => return Err(e),
        }
        let keys = json!({"keys": [{"type": "qcode", "data": "shift"}]});
        self.command(&live, "send-key", Some(keys)).await.map(drop)
    }

    async fn agent_command(
        &self,
        vm_id: &str,
        command: &str,
        arguments: Value,
        limit: Duration,
    ) -> Result<Value, VmError> {
        self.agent_command_live(vm_id, command, arguments, limit).await
    }

    async fn screenshot(&self, vm_id: &str) -> Result<Frame, VmError> {
        let live = self.running(vm_id)?;
        let display = self.vms().get(vm_id).is_some_and(|entry| entry.display);
        if !display {
            return Err(VmError::NoDisplay { vm_id: vm_id.to_string() });
        }
        let shot = NEXT_SHOT.fetch_add(1, Ordering::Relaxed);
        let path = self.config.scratch_dir.join(format!("ecslab-shot-{}-{shot}.ppm", std::process::id()));
        if let Err(e) = self.command(&live, "screendump", Some(json!({"filename": path}))).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        let id = vm_id.to_string();
        blocking(vm_id, &path.clone(), move || read_screendump(&id, &path)).await
    }

    async fn vnc_connect(&self, vm_id: &str) -> Result<tokio::net::UnixStream, VmError> {
        self.running(vm_id)?;
        let (display, socket) = {
            let vms = self.vms();
            let entry = vms.get(vm_id).ok_or_else(|| VmError::NotRunning { vm_id: vm_id.to_string() })?;
            (entry.display, entry.paths.vnc.clone())
        };
        if !display {
            return Err(VmError::NoDisplay { vm_id: vm_id.to_string() });
        }
        tokio::net::UnixStream::connect(&socket).await.map_err(|e| VmError::io(vm_id, &socket, e))
    }

    async fn console_output(&self, vm_id: &str, max_bytes: usize) -> Result<Vec<u8>, VmError> {
        // Only VMs started or adopted by this driver have a known run directory.
        let log = self.vms().get(vm_id).map(|entry| entry.paths.console_log.clone());
        let Some(log) = log else { return Ok(Vec::new()) };
        let id = vm_id.to_string();
        blocking(vm_id, &log.clone(), move || {
            read_tail(&log, max_bytes).map_err(|e| VmError::io(&id, &log, e))
        })
        .await
    }

    fn events(&self) -> broadcast::Receiver<VmEvent> {
        self.events.subscribe()
    }

    async fn snapshot_disks(&self, vm_id: &str, overlays: &[crate::DiskOverlay]) -> Result<(), VmError> {
        self.snapshot_disks_live(vm_id, overlays).await
    }

    async fn commit_layer(
        &self,
        vm_id: &str,
        disk_id: &str,
        top: &Path,
        base: &Path,
        progress: crate::ProgressFn<'_>,
    ) -> Result<(), VmError> {
        self.commit_layer_live(vm_id, disk_id, top, base, progress).await
    }

    async fn attach_disk(&self, vm_id: &str, disk: &crate::DiskSpec) -> Result<(), VmError> {
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
    fn power_states() {
        assert_eq!(power_state_of("running"), PowerState::Running);
        assert_eq!(power_state_of("paused"), PowerState::Suspended);
        assert_eq!(power_state_of("suspended"), PowerState::Suspended);
        assert_eq!(power_state_of("prelaunch"), PowerState::Suspended);
        assert_eq!(power_state_of("shutdown"), PowerState::Off);
    }

    #[tokio::test]
    async fn unknown_vms_are_off_and_not_running() {
        let driver = QemuDriver::new(QemuConfig::default());
        assert_eq!(driver.power_state("i-none").await.unwrap(), PowerState::Off);
        assert!(matches!(driver.screenshot("i-none").await, Err(VmError::NotRunning { .. })));
        assert!(matches!(driver.request_shutdown("i-none").await, Err(VmError::NotRunning { .. })));
        driver.kill("i-none").await.unwrap();
        assert!(driver.console_output("i-none", 100).await.unwrap().is_empty());
    }
}
