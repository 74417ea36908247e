//! VM control for ecslab: one small, object-safe [`Hypervisor`] trait and its drivers.
//!
//! The domain layer never talks to QEMU or libvirt directly; it hands a [`VmSpec`] to whichever
//! driver `ecslab serve --driver` picked and listens for [`VmEvent`]s. Keeping the trait to
//! lifecycle, screen and console means a new driver (libvirt, a fake for tests) is a few hundred
//! lines, and the API tests can run without a real VM.
//!
//! Drivers:
//! - [`qemu`]: QEMU processes launched directly, controlled over QMP; they outlive the server
//!   (daemonized, pid file + QMP socket per VM) so a restarted server adopts them.
//! - [`libvirt`]: the same VMs as persistent libvirt domains (local or remote libvirtd), visible to
//!   virsh and virt-manager; states from libvirt's lifecycle events.
//! - [`fake`]: in memory, for fast tests of pure logic.

pub mod accel;
pub mod fake;
pub mod frame;
pub mod guest_agent;
pub mod libvirt;
mod log_tail;
pub mod qemu;
pub mod spec;

pub use accel::{choose_accel, Accel, AccelChoice};
pub use frame::Frame;
pub use guest_agent::GuestAgent;
pub use spec::{DiskSpec, NicBackend, NicSpec, VmSpec};

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::broadcast;

/// What a driver reports about a VM's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    /// The VM process runs and the guest executes.
    Running,
    /// The guest is suspended (ACPI S3) or paused; it still holds its resources.
    Suspended,
    /// No process: never started, powered off, or killed.
    Off,
}

/// Why a VM's process went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    /// The guest powered itself off, or answered an ACPI power-down request.
    GuestShutdown,
    /// The driver was asked to kill it (ForceStop, grace period over, delete).
    Killed,
    /// The process vanished without a shutdown event (killed from outside, crashed).
    Vanished,
}

/// Something the driver noticed without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmEvent {
    /// The VM's process is gone.
    Stopped { vm_id: String, cause: StopCause },
    /// The guest reset itself (guest-initiated reboot); the process keeps running.
    Reset { vm_id: String },
}

/// Errors of the VM-control layer. Variants carry the VM id and what was attempted.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("VM {vm_id} is not running")]
    NotRunning { vm_id: String },
    #[error("VM {vm_id} has no display")]
    NoDisplay { vm_id: String },
    #[error("starting VM {vm_id} failed: {reason}")]
    StartFailed { vm_id: String, reason: String },
    #[error("QMP command {command} on VM {vm_id} failed: {reason}")]
    Qmp { vm_id: String, command: String, reason: String },
    #[error("I/O on {path} for VM {vm_id}")]
    Io {
        vm_id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {seconds}s waiting for VM {vm_id} to {what}")]
    Timeout { vm_id: String, what: String, seconds: u64 },
    #[error("the {driver} driver cannot {what}")]
    Unsupported { driver: &'static str, what: &'static str },
    #[error("disk {disk_id} of VM {vm_id}: {reason}")]
    Disk { vm_id: String, disk_id: String, reason: String },
    #[error("libvirt call {call} for VM {vm_id} failed: {reason}")]
    Libvirt { vm_id: String, call: String, reason: String },
    /// No guest agent listens in the VM (none installed, not started yet, or it hangs).
    #[error("no guest agent answers in VM {vm_id}")]
    NoAgent { vm_id: String },
    /// The guest agent answered the command with an error.
    #[error("guest agent command {command} in VM {vm_id} failed: {reason}")]
    Agent { vm_id: String, command: String, reason: String },
}

impl VmError {
    /// File work on `path` for the VM failed.
    pub(crate) fn io(vm_id: &str, path: &Path, source: std::io::Error) -> VmError {
        VmError::Io { vm_id: vm_id.to_string(), path: path.to_path_buf(), source }
    }

    /// Work on one disk of the VM failed.
    pub(crate) fn disk(vm_id: &str, disk_id: &str, reason: impl Into<String>) -> VmError {
        VmError::Disk { vm_id: vm_id.to_string(), disk_id: disk_id.to_string(), reason: reason.into() }
    }

    /// Connecting to libvirt at `uri` failed: the one error that
    /// [`is_hypervisor_unreachable`](VmError::is_hypervisor_unreachable) recognises.
    pub(crate) fn unreachable(uri: &str, reason: String) -> VmError {
        VmError::Libvirt { vm_id: "-".into(), call: format!("{CONNECT_CALL}{uri}"), reason }
    }

    /// The hypervisor cannot be reached at all (libvirtd down or restarting): a temporary
    /// failure that a retry may get past, not a fault of the VM or the request.
    pub fn is_hypervisor_unreachable(&self) -> bool {
        matches!(self, VmError::Libvirt { call, .. } if call.starts_with(CONNECT_CALL))
    }
}

/// The `call` of a [`VmError::Libvirt`] made by [`VmError::unreachable`], before the URI.
const CONNECT_CALL: &str = "connect ";

/// One disk's part of a live point-in-time: a new, empty qcow2 overlay goes on top of the disk's
/// current top file, which from then on is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOverlay {
    pub disk_id: String,
    /// The file the disk writes to now.
    pub current_top: PathBuf,
    /// Where the driver creates the new overlay (its backing file is `current_top`).
    pub new_top: PathBuf,
}

/// Receives the progress (0-100) of a long disk job.
pub type ProgressFn<'a> = &'a (dyn Fn(u8) + Send + Sync);

/// The small surface the domain layer needs from a hypervisor.
#[async_trait]
pub trait Hypervisor: Send + Sync + 'static {
    /// Short driver name for logs (`qemu`, `fake`, `libvirt`).
    fn name(&self) -> &'static str;

    /// Start the VM described by `spec`. Returns once the guest executes (QMP answered `cont`).
    async fn start(&self, spec: &VmSpec) -> Result<(), VmError>;

    /// Re-attach to a VM that a previous server process started. Returns its power state;
    /// `Off` when the process is gone (the caller then records it as Stopped).
    async fn adopt(&self, spec: &VmSpec) -> Result<PowerState, VmError>;

    /// Current power state, asked of the process itself.
    async fn power_state(&self, vm_id: &str) -> Result<PowerState, VmError>;

    /// Press the ACPI power button. The guest decides; a [`VmEvent::Stopped`] follows if it obeys.
    async fn request_shutdown(&self, vm_id: &str) -> Result<(), VmError>;

    /// Power the VM off now and wait until its process is gone.
    async fn kill(&self, vm_id: &str) -> Result<(), VmError>;

    /// Hard reset (the reset button): the process keeps running.
    async fn reset(&self, vm_id: &str) -> Result<(), VmError>;

    /// Wake a suspended guest and press a harmless key so a blanked console lights up.
    async fn wake_up(&self, vm_id: &str) -> Result<(), VmError>;

    /// The guest's current screen, as RGB pixels.
    async fn screenshot(&self, vm_id: &str) -> Result<Frame, VmError>;

    /// A new connection to the VM's own VNC server (RFB 3.8, no authentication), which listens
    /// only on a unix socket in its run directory (`vnc.sock`), never on TCP. The caller speaks
    /// RFB over it (the API's WebSocket proxy). [`VmError::NotRunning`] when the VM has no
    /// process, [`VmError::NoDisplay`] for a headless VM, [`VmError::Unsupported`] when the
    /// driver cannot reach the socket (the fake driver; libvirt on another host).
    async fn vnc_connect(&self, _vm_id: &str) -> Result<tokio::net::UnixStream, VmError> {
        Err(VmError::Unsupported { driver: self.name(), what: "connect to a VNC console" })
    }

    /// The last `max_bytes` of the serial console's output (across restarts of the VM).
    async fn console_output(&self, vm_id: &str, max_bytes: usize) -> Result<Vec<u8>, VmError>;

    /// Subscribe to events for all VMs of this driver.
    fn events(&self) -> broadcast::Receiver<VmEvent>;

    /// The instance is deleted: drop whatever the driver keeps for the VM outside its run
    /// directory (libvirt's persistent domain). Called after [`Hypervisor::kill`]; idempotent.
    async fn forget(&self, _vm_id: &str) -> Result<(), VmError> {
        Ok(())
    }

    /// Take a point in time of several disks of a running VM at once (a QMP `transaction` of
    /// `blockdev-snapshot-sync`): each disk goes on writing to its new overlay. The guest does not
    /// pause in any way a user would notice.
    async fn snapshot_disks(&self, _vm_id: &str, _overlays: &[DiskOverlay]) -> Result<(), VmError> {
        Err(VmError::Unsupported { driver: self.name(), what: "take live disk snapshots" })
    }

    /// In a running VM, merge the read-only layer `top` of a disk into the layer below it, `base`
    /// (`block-commit` of an intermediate layer), and record `base` as the backing file of the
    /// layer above `top`. Returns when the job is done. Idempotent: when `top` is no longer in
    /// the disk's chain the merge already happened, and this returns Ok at once.
    async fn commit_layer(
        &self,
        _vm_id: &str,
        _disk_id: &str,
        _top: &Path,
        _base: &Path,
        _progress: ProgressFn<'_>,
    ) -> Result<(), VmError> {
        Err(VmError::Unsupported { driver: self.name(), what: "merge disk layers live" })
    }

    /// Run one command of the guest agent (qemu-guest-agent on the virtio-serial port
    /// `org.qemu.guest_agent.0`) and return its `return` value; [`GuestAgent`] is the typed
    /// client over this. [`VmError::NoAgent`] when no agent answers, [`VmError::Timeout`] when it
    /// takes longer than `limit`, [`VmError::Agent`] when it refuses the command.
    async fn agent_command(
        &self,
        vm_id: &str,
        _command: &str,
        _arguments: serde_json::Value,
        _limit: Duration,
    ) -> Result<serde_json::Value, VmError> {
        Err(VmError::NoAgent { vm_id: vm_id.to_string() })
    }

    /// Hot-plug a disk into a running VM, after its other disks.
    async fn attach_disk(&self, _vm_id: &str, _disk: &DiskSpec) -> Result<(), VmError> {
        Err(VmError::Unsupported { driver: self.name(), what: "hot-plug disks" })
    }

    /// Hot-unplug a disk from a running VM; returns once the guest released it.
    async fn detach_disk(&self, _vm_id: &str, _disk_id: &str) -> Result<(), VmError> {
        Err(VmError::Unsupported { driver: self.name(), what: "hot-unplug disks" })
    }

    /// Grow a disk of a running VM to `size_bytes` (its top and every layer below it that the
    /// VM writes through).
    async fn resize_disk(&self, _vm_id: &str, _disk_id: &str, _size_bytes: u64) -> Result<(), VmError> {
        Err(VmError::Unsupported { driver: self.name(), what: "resize disks live" })
    }
}
