//! What the domain layer asks a driver to run: a plain description, independent of QEMU argv or
//! libvirt XML, so both drivers render the same VM from it.

use crate::Accel;
use std::path::PathBuf;

/// One disk attached to a VM, in device order (the system disk first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// Stable id (`d-...`); drivers use it for node names and device serials.
    pub disk_id: String,
    /// Path of the qcow2 file the VM writes to (the top of its chain).
    pub path: PathBuf,
}

/// Everything a driver needs to run one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// The instance id (`i-...`).
    pub vm_id: String,
    /// Directory owned by this VM: sockets, pid file, console log.
    pub run_dir: PathBuf,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Whether the VM has a display (a VGA device). Without one there is no screenshot.
    pub display: bool,
    pub disks: Vec<DiskSpec>,
    pub accel: Accel,
}
