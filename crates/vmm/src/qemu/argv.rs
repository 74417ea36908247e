//! The QEMU command line for a [`VmSpec`], as a pure function so a golden file pins it down.
//!
//! Choices that the rest of ecslab relies on:
//! - every per-VM file lives in the VM's run directory ([`RunPaths`]), at fixed names, so a restarted
//!   server finds the pid file and QMP socket of a VM it did not start;
//! - `-daemonize` with `-pidfile`: the VM outlives the server; `-S` so nothing runs before QMP is
//!   connected; no `-no-shutdown`, so a guest poweroff ends the process;
//! - disks are `-blockdev` pairs (a `file` node `file-<disk_id>` under a `qcow2` node
//!   `drive-<disk_id>`), so live external snapshots can address them by node name;
//! - the serial port is a listening socket whose output is also appended to `console.log`, which
//!   survives restarts of the VM.
//!
//! Paths end up inside QEMU option strings, where a comma must be doubled; blockdev options are
//! written as JSON, which needs no escaping of its own.

use crate::spec::{SMBIOS_MANUFACTURER, SMBIOS_PRODUCT};
use crate::{Accel, DiskSpec, NicBackend, NicSpec, VmSpec};
use std::path::{Path, PathBuf};

/// The chardev id of the guest agent's channel (QMP `query-chardev` tells whether it is open).
pub const AGENT_CHARDEV: &str = "qga0";

/// The longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// QEMU refuses node names longer than this.
const MAX_NODE_NAME: usize = 31;
/// virtio-blk serial numbers are 20 bytes.
const MAX_DISK_SERIAL: usize = 20;

/// The files QEMU and the driver share in a VM's run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub run_dir: PathBuf,
    /// QMP socket (QEMU listens, the driver connects).
    pub qmp: PathBuf,
    /// Serial port socket, for typing into the guest's console.
    pub serial: PathBuf,
    /// Everything the guest wrote to its serial port, across restarts.
    pub console_log: PathBuf,
    /// QEMU's pid, written by the daemonized process and removed when it exits.
    pub pidfile: PathBuf,
    /// QEMU's own messages after it daemonized (`-D`), such as "terminating on signal 15".
    pub qemu_log: PathBuf,
    /// The guest agent's channel (qemu-guest-agent in the guest, if it runs one).
    pub agent: PathBuf,
    /// QEMU's VNC server (VMs with a display only): a unix socket, never a TCP port.
    pub vnc: PathBuf,
}

impl RunPaths {
    pub fn new(run_dir: &Path) -> RunPaths {
        RunPaths {
            run_dir: run_dir.to_path_buf(),
            qmp: run_dir.join("qmp.sock"),
            serial: run_dir.join("serial.sock"),
            console_log: run_dir.join("console.log"),
            pidfile: run_dir.join("qemu.pid"),
            qemu_log: run_dir.join("qemu.log"),
            agent: run_dir.join("qga.sock"),
            vnc: run_dir.join("vnc.sock"),
        }
    }
}

/// Node name of a disk's qcow2 layer, the one a snapshot or a device refers to.
pub fn drive_node_name(disk_id: &str) -> String {
    format!("drive-{disk_id}")
}

/// Node name of the protocol (`file`) layer below [`drive_node_name`].
pub fn file_node_name(disk_id: &str) -> String {
    format!("file-{disk_id}")
}

/// The `-qmp` value. [`super::process`] also looks for it in `/proc/<pid>/cmdline` to tell our QEMU
/// from an unrelated process that reused the pid.
pub fn qmp_arg(paths: &RunPaths) -> Result<String, String> {
    Ok(format!("unix:{},server=on,wait=off", opt_value(&paths.qmp)?))
}

/// The arguments (without the program name) that run `spec` with its files in `paths`.
/// Paths must be absolute: the daemonized QEMU changes its directory to `/`.
pub fn qemu_args(spec: &VmSpec, paths: &RunPaths) -> Result<Vec<String>, String> {
    check_socket_path(&paths.qmp)?;
    check_socket_path(&paths.serial)?;
    check_socket_path(&paths.agent)?;
    check_socket_path(&paths.vnc)?;
    let mut args = Argv(Vec::with_capacity(40 + 6 * spec.disks.len()));
    push_machine(&mut args, spec)?;
    args.opt(
        "-chardev",
        format!(
            "socket,id=serial0,path={},server=on,wait=off,logfile={},logappend=on",
            opt_value(&paths.serial)?,
            opt_value(&paths.console_log)?
        ),
    );
    args.opt("-serial", "chardev:serial0");
    // A virtio-serial port for qemu-guest-agent: used to freeze the guest's filesystems around
    // live snapshots when the guest runs an agent; harmless otherwise.
    args.opt(
        "-chardev",
        format!("socket,id={},path={},server=on,wait=off", AGENT_CHARDEV, opt_value(&paths.agent)?),
    );
    args.opt("-device", "virtio-serial-pci,id=virtio-serial0");
    args.opt("-device", format!("virtserialport,chardev={AGENT_CHARDEV},name=org.qemu.guest_agent.0"));
    if spec.display {
        // The console (DescribeInstanceVncUrl): only processes that can open the run directory
        // reach it; ecslab proxies it to one-time WebSocket URLs.
        args.opt("-vnc", format!("unix:{}", opt_value(&paths.vnc)?));
    }
    args.opt("-qmp", qmp_arg(paths)?);
    args.opt("-pidfile", utf8(&paths.pidfile)?);
    args.opt("-D", utf8(&paths.qemu_log)?);
    for (index, disk) in spec.disks.iter().enumerate() {
        push_disk(&mut args, disk, index + 1)?;
    }
    for nic in &spec.nics {
        push_nic(&mut args, nic)?;
    }
    args.flag("-daemonize");
    args.flag("-S");
    Ok(args.0)
}

struct Argv(Vec<String>);

impl Argv {
    fn flag(&mut self, flag: &str) {
        self.0.push(flag.to_string());
    }
    fn opt(&mut self, option: &str, value: impl Into<String>) {
        self.0.push(option.to_string());
        self.0.push(value.into());
    }
}

/// Machine, accelerator, sizes and display.
fn push_machine(args: &mut Argv, spec: &VmSpec) -> Result<(), String> {
    if spec.vcpus == 0 || spec.memory_mib == 0 {
        return Err(format!(
            "a VM needs at least one vCPU and some memory (got {} vCPUs, {} MiB)",
            spec.vcpus, spec.memory_mib
        ));
    }
    args.flag("-nodefaults");
    args.flag("-no-user-config");
    args.opt("-name", escape_opt(&spec.vm_id));
    args.opt("-machine", "pc");
    args.opt("-accel", spec.accel.qemu_name());
    if spec.accel == Accel::Kvm {
        args.opt("-cpu", "host");
    }
    args.opt("-m", spec.memory_mib.to_string());
    args.opt("-smp", spec.vcpus.to_string());
    // What the guest reads about its machine, as on ECS (cloud-init's AliYun datasource checks
    // the product name); the serial is the instance id.
    args.opt(
        "-smbios",
        format!(
            "type=1,manufacturer={SMBIOS_MANUFACTURER},product={SMBIOS_PRODUCT},serial={}",
            escape_opt(&spec.vm_id)
        ),
    );
    args.opt("-display", "none");
    args.opt("-vga", if spec.display { "std" } else { "none" });
    Ok(())
}

/// A `file` node, the `qcow2` node above it, and the virtio-blk device showing it to the guest.
fn push_disk(args: &mut Argv, disk: &DiskSpec, bootindex: usize) -> Result<(), String> {
    check_disk_id(&disk.disk_id)?;
    let file_node = file_node_name(&disk.disk_id);
    let drive_node = drive_node_name(&disk.disk_id);
    let file = serde_json::json!({"driver": "file", "node-name": file_node, "filename": utf8(&disk.path)?});
    let qcow2 = serde_json::json!({"driver": "qcow2", "node-name": drive_node, "file": file_node});
    args.opt("-blockdev", file.to_string());
    args.opt("-blockdev", qcow2.to_string());
    args.opt(
        "-device",
        format!(
            "virtio-blk-pci,id=disk-{id},drive={drive_node},serial={serial},bootindex={bootindex}",
            id = disk.disk_id,
            serial = disk_serial(&disk.disk_id),
        ),
    );
    Ok(())
}

/// The NIC's netdev (a tap opened by name, which ecslab made and QEMU runs no script on; or
/// user-mode networking) and the virtio-net device the guest sees, with the NIC's MAC.
fn push_nic(args: &mut Argv, nic: &NicSpec) -> Result<(), String> {
    let safe =
        |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let address = |v: &str| v.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'/') && !v.is_empty();
    if !safe(&nic.nic_id) {
        return Err(format!("invalid NIC id {:?}", nic.nic_id));
    }
    if nic.mac.len() != 17 || !nic.mac.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return Err(format!("invalid MAC {:?}", nic.mac));
    }
    let netdev = match &nic.backend {
        NicBackend::Tap { name } => {
            if !safe(name) || name.len() > 15 {
                return Err(format!("invalid tap name {name:?}"));
            }
            format!("tap,id=net-{},ifname={name},script=no,downscript=no", nic.nic_id)
        }
        NicBackend::User { net, gateway, dns, dhcp_start, host_ip, tcp_ports } => {
            if ![net, gateway, dns, dhcp_start, host_ip].iter().all(|v| address(v)) {
                return Err(format!("invalid user-mode network of NIC {}", nic.nic_id));
            }
            let mut netdev = format!(
                "user,id=net-{},net={net},host={gateway},dns={dns},dhcpstart={dhcp_start},restrict=on",
                nic.nic_id
            );
            for port in tcp_ports {
                netdev.push_str(&format!(",hostfwd=tcp:{host_ip}:{port}-:{port}"));
            }
            netdev
        }
    };
    args.opt("-netdev", netdev);
    args.opt(
        "-device",
        format!("virtio-net-pci,netdev=net-{id},id=nic-{id},mac={}", nic.mac, id = nic.nic_id),
    );
    Ok(())
}

/// Double the commas of a value inside a QEMU `key=value,...` option string.
fn escape_opt(value: &str) -> String {
    value.replace(',', ",,")
}

fn opt_value(path: &Path) -> Result<String, String> {
    Ok(escape_opt(utf8(path)?))
}

fn utf8(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("path {} is not UTF-8", path.display()))
}

fn check_socket_path(path: &Path) -> Result<(), String> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "socket path {} is {len} bytes, longer than the {MAX_SOCKET_PATH} a unix socket allows; use a shorter run directory",
            path.display()
        ));
    }
    Ok(())
}

/// A disk id becomes part of node names and device ids: letters, digits, `-`, `.`, `_`, starting
/// with a letter, and short enough for QEMU's 31-character node names.
fn check_disk_id(disk_id: &str) -> Result<(), String> {
    let well_formed = disk_id.starts_with(|c: char| c.is_ascii_alphabetic())
        && disk_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !well_formed {
        return Err(format!("disk id {disk_id:?} cannot be a QEMU node name (letters, digits, - . _ only)"));
    }
    if drive_node_name(disk_id).len() > MAX_NODE_NAME {
        return Err(format!(
            "disk id {disk_id:?} is too long for a QEMU node name (at most {} characters)",
            MAX_NODE_NAME - 6
        ));
    }
    Ok(())
}

/// The serial number the guest sees (`/dev/disk/by-id/virtio-<serial>`): the disk id, cut to fit.
pub(crate) fn disk_serial(disk_id: &str) -> &str {
    // Disk ids are ASCII (checked above), so any byte index is a char boundary.
    &disk_id[..disk_id.len().min(MAX_DISK_SERIAL)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/qemu-argv.txt");

    fn sample_spec() -> VmSpec {
        VmSpec {
            vm_id: "i-golden0001".into(),
            run_dir: "/var/lib/ecslab/run/i-golden0001".into(),
            vcpus: 2,
            memory_mib: 256,
            display: true,
            disks: vec![
                DiskSpec {
                    disk_id: "d-system0001".into(),
                    path: "/var/lib/ecslab/disks/d-system0001/top.qcow2".into(),
                },
                DiskSpec {
                    disk_id: "d-data-0123456789abcdef".into(),
                    path: "/var/lib/ecslab/disks/d-data,odd/top.qcow2".into(),
                },
            ],
            nics: Vec::new(),
            accel: Accel::Tcg,
        }
    }

    /// One argument per line. Regenerate with `UPDATE_GOLDEN=1 cargo test -p ecslab-vmm argv`.
    #[test]
    fn argv_matches_golden_file() {
        let spec = sample_spec();
        let args = qemu_args(&spec, &RunPaths::new(&spec.run_dir)).unwrap();
        let actual = args.join("\n") + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(GOLDEN, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(GOLDEN).unwrap();
        assert_eq!(actual, expected, "argv changed; if intended, rerun with UPDATE_GOLDEN=1");
    }

    #[test]
    fn kvm_uses_the_host_cpu_and_no_display_has_no_vga() {
        let mut spec = sample_spec();
        spec.accel = Accel::Kvm;
        spec.display = false;
        let args = qemu_args(&spec, &RunPaths::new(&spec.run_dir)).unwrap().join(" ");
        assert!(args.contains("-accel kvm -cpu host"), "{args}");
        assert!(args.contains("-vga none"), "{args}");
    }

    #[test]
    fn empty_flags_take_no_value() {
        let spec = sample_spec();
        let args = qemu_args(&spec, &RunPaths::new(&spec.run_dir)).unwrap();
        assert!(!args.iter().any(|a| a.is_empty()), "{args:?}");
    }

    #[test]
    fn refuses_bad_disk_ids_and_long_socket_paths() {
        let mut spec = sample_spec();
        spec.disks[0].disk_id = "d-0123456789012345678901234".into();
        assert!(qemu_args(&spec, &RunPaths::new(&spec.run_dir)).unwrap_err().contains("too long"));
        spec.disks[0].disk_id = "d,1".into();
        assert!(qemu_args(&spec, &RunPaths::new(&spec.run_dir)).unwrap_err().contains("node name"));
        let spec = sample_spec();
        let long = PathBuf::from(format!("/{}", "x".repeat(100)));
        assert!(qemu_args(&spec, &RunPaths::new(&long)).unwrap_err().contains("unix socket"));
    }

    #[test]
    fn serial_is_cut_to_twenty_bytes() {
        assert_eq!(disk_serial("d-0123456789abcdefghij"), "d-0123456789abcdefgh");
        assert_eq!(disk_serial("d-1"), "d-1");
    }
}
