//! What the domain layer asks a driver to run: a plain description, independent of QEMU argv or
//! libvirt XML, so both drivers render the same VM from it.

use crate::{Accel, VmError};
use std::path::{Path, PathBuf};

/// The SMBIOS system manufacturer and product every VM shows (those of an ECS instance).
pub const SMBIOS_MANUFACTURER: &str = "Alibaba Cloud";
pub const SMBIOS_PRODUCT: &str = "Alibaba Cloud ECS";

/// One disk attached to a VM, in device order (the system disk first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// Stable id (`d-...`); drivers use it for node names and device serials.
    pub disk_id: String,
    /// Path of the qcow2 file the VM writes to (the top of its chain).
    pub path: PathBuf,
}

/// One network interface: a virtio-net device with a fixed MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    /// Stable id (`eni-...`); drivers use it for device ids.
    pub nic_id: String,
    /// `00:16:3e:xx:xx:xx`.
    pub mac: String,
    pub backend: NicBackend,
}

/// What is behind a NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicBackend {
    /// A tap that exists before the VM starts (made by ecslab's network plumbing; the driver
    /// only opens it, by name, and neither creates nor configures it). At most 15 characters.
    Tap { name: String },
    /// QEMU's user-mode network (the fallback when the host cannot make namespaces): a private
    /// network of one guest, which gets `dhcp_start` by DHCP, reaches nothing (`restrict=on`),
    /// and is reached at `host_ip:port` for each forwarded TCP port. `gateway` and `dns` are
    /// addresses of the block no guest gets (QEMU's defaults, x.2 and x.3, could be a guest's).
    User {
        net: String,
        gateway: String,
        dns: String,
        dhcp_start: String,
        host_ip: String,
        tcp_ports: Vec<u16>,
    },
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
    /// Network interfaces, in PCI order (none: the VM has no network).
    pub nics: Vec<NicSpec>,
    pub accel: Accel,
}

impl VmSpec {
    /// The spec with absolute paths, as both drivers need it: a daemonized QEMU resolves paths
    /// after changing to `/` (and the qemu driver's `/proc` check compares the exact `-qmp`
    /// argument), and libvirtd resolves them on its own side.
    pub(crate) fn absolute(&self) -> Result<VmSpec, VmError> {
        let absolute = |path: &Path| std::path::absolute(path).map_err(|e| VmError::io(&self.vm_id, path, e));
        let mut spec = self.clone();
        spec.run_dir = absolute(&spec.run_dir)?;
        for disk in &mut spec.disks {
            disk.path = absolute(&disk.path)?;
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute() {
        let spec = VmSpec {
            vm_id: "i-1".into(),
            run_dir: "run/i-1".into(),
            vcpus: 1,
            memory_mib: 128,
            display: true,
            disks: vec![crate::DiskSpec { disk_id: "d-1".into(), path: "disks/d-1.qcow2".into() }],
            nics: Vec::new(),
            accel: crate::Accel::Tcg,
        };
        let spec = spec.absolute().unwrap();
        assert!(spec.run_dir.is_absolute() && spec.disks[0].path.is_absolute());
    }
}
