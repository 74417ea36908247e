//! libvirt XML for a [`VmSpec`]: the persistent domain definition, hot-plugged disks and
//! disk-only snapshots, as pure functions (a golden file pins the domain down), and the few facts
//! the driver reads back from libvirt's live XML (each disk's target, id and backing chain).
//!
//! Choices that keep the libvirt driver's VMs identical to the qemu driver's:
//! - the domain is named after the instance id, so `virsh list` shows ecslab's ids;
//! - machine `pc`, no default devices ecslab did not ask for (no USB controller, no balloon, no
//!   NIC), VGA or no video at all for headless types, ACPI on (the power button needs it);
//! - disks are virtio in spec order with `serial` = disk id (cut to 20 bytes, as the qemu driver
//!   does) and a user alias `ua-<disk id>`, boot order = position;
//! - the serial port is a listening unix socket at `RUN_DIR/serial.sock` (the same path the
//!   qemu driver uses, so the test harness types into either) whose output virtlogd appends to
//!   `RUN_DIR/console.log`;
//! - the guest agent channel `org.qemu.guest_agent.0` ends at `RUN_DIR/qga.sock`, as with the
//!   qemu driver, but libvirt holds the connection (see the `agent` module);
//! - QEMU runs with a static DAC label (by default the server's own uid:gid) and `relabel='no'`:
//!   libvirt neither chowns ecslab's files nor needs the data directory to be reachable by the
//!   `libvirt-qemu` user, and the server can read what QEMU and virtlogd write. See
//!   `deploy/libvirt.md` for the alternative.

use crate::spec::{SMBIOS_MANUFACTURER, SMBIOS_PRODUCT};
use crate::{Accel, DiskOverlay, DiskSpec, NicBackend, VmSpec};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// virtio-blk serial numbers are 20 bytes.
const MAX_DISK_SERIAL: usize = 20;
/// The longest unix socket path the kernel accepts.
const MAX_SOCKET_PATH: usize = 107;

/// Files of a VM's run directory that the libvirt driver uses (names shared with the qemu driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    pub serial: PathBuf,
    pub console_log: PathBuf,
    /// The guest agent channel's host end (libvirt connects to it, not ecslab).
    pub agent: PathBuf,
    /// QEMU's VNC server (VMs with a display only): a unix socket, never a TCP listener.
    pub vnc: PathBuf,
}

impl RunFiles {
    pub fn new(run_dir: &Path) -> RunFiles {
        RunFiles {
            serial: run_dir.join("serial.sock"),
            console_log: run_dir.join("console.log"),
            agent: run_dir.join("qga.sock"),
            vnc: run_dir.join("vnc.sock"),
        }
    }
}

/// How QEMU's process is labelled by libvirt's DAC security driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuUser {
    /// Run QEMU as this `uid:gid` and never relabel files (`<seclabel type='static' relabel='no'>`).
    Static { uid: u32, gid: u32 },
    /// Leave it to the libvirt host's `qemu.conf` (`user`, `group`, `dynamic_ownership`).
    LibvirtDefault,
}

impl QemuUser {
    /// The uid and gid of this process: QEMU then has exactly the server's access to its files,
    /// as with the qemu driver.
    pub fn current() -> QemuUser {
        #[allow(unsafe_code)]
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        QemuUser::Static { uid, gid }
    }
}

/// Escape text for an XML attribute value or element content.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn utf8(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("path {} is not UTF-8", path.display()))
}

/// The guest-visible serial of a disk: its id, cut to 20 bytes.
pub fn disk_serial(disk_id: &str) -> &str {
    let mut end = disk_id.len().min(MAX_DISK_SERIAL);
    while !disk_id.is_char_boundary(end) {
        end -= 1;
    }
    &disk_id[..end]
}

/// libvirt's user alias for a disk (`ua-` + letters, digits, `-`, `_`).
pub fn disk_alias(disk_id: &str) -> String {
    let clean: String =
        disk_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("ua-{clean}")
}

/// The target name of the disk at `index`: `vda`..`vdz`, `vdaa`...
pub fn disk_target(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    format!("vd{}", String::from_utf8_lossy(&letters))
}

fn check_disk_id(disk_id: &str) -> Result<(), String> {
    let ok = disk_id.starts_with(|c: char| c.is_ascii_alphabetic())
        && disk_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!("disk id {disk_id:?} must be letters, digits, - . _ and start with a letter"))
    }
}

/// One `<disk>` element: a qcow2 file on virtio with the disk id as serial and alias.
pub fn disk_xml(disk: &DiskSpec, target: &str, boot_order: Option<usize>) -> Result<String, String> {
    check_disk_id(&disk.disk_id)?;
    let mut xml = String::new();
    let _ = writeln!(xml, "<disk type='file' device='disk'>");
    let _ = writeln!(xml, "  <driver name='qemu' type='qcow2'/>");
    let _ = writeln!(xml, "  <source file='{}'/>", esc(utf8(&disk.path)?));
    let _ = writeln!(xml, "  <target dev='{}' bus='virtio'/>", esc(target));
    let _ = writeln!(xml, "  <serial>{}</serial>", esc(disk_serial(&disk.disk_id)));
    let _ = writeln!(xml, "  <alias name='{}'/>", esc(&disk_alias(&disk.disk_id)));
    if let Some(order) = boot_order {
        let _ = writeln!(xml, "  <boot order='{order}'/>");
    }
    xml.push_str("</disk>\n");
    Ok(xml)
}

/// The persistent domain for `spec` (paths absolute). Redefined at every start, so the disk
/// sources always are the current tops of the disks' chains; `uuid` is the existing domain's
/// (libvirt refuses to redefine a name with another UUID), `None` lets libvirt pick one.
pub fn domain_xml(spec: &VmSpec, uuid: Option<&str>, user: &QemuUser) -> Result<String, String> {
    if spec.vcpus == 0 || spec.memory_mib == 0 {
        return Err(format!(
            "a VM needs at least one vCPU and some memory (got {} vCPUs, {} MiB)",
            spec.vcpus, spec.memory_mib
        ));
    }
    let files = RunFiles::new(&spec.run_dir);
    let serial = utf8(&files.serial)?;
    let agent = utf8(&files.agent)?;
    let vnc = utf8(&files.vnc)?;
    for socket in [serial, agent, vnc] {
        if socket.len() > MAX_SOCKET_PATH {
            return Err(format!(
                "socket path {socket} is {} bytes, longer than the {MAX_SOCKET_PATH} a unix socket allows; use a shorter data directory",
                socket.len()
            ));
        }
    }
    let domain_type = match spec.accel {
        Accel::Kvm => "kvm",
        Accel::Tcg => "qemu",
    };
    let mut x = String::new();
    let _ = writeln!(x, "<domain type='{domain_type}'>");
    let _ = writeln!(x, "  <name>{}</name>", esc(&spec.vm_id));
    if let Some(uuid) = uuid {
        let _ = writeln!(x, "  <uuid>{}</uuid>", esc(uuid));
    }
    let _ = writeln!(x, "  <title>ecslab instance {}</title>", esc(&spec.vm_id));
    let _ = writeln!(
        x,
        "  <description>Managed by ecslab: redefined from ecslab's records at every start.</description>"
    );
    let _ = writeln!(x, "  <memory unit='MiB'>{}</memory>", spec.memory_mib);
    let _ = writeln!(x, "  <vcpu>{}</vcpu>", spec.vcpus);
    // What the guest reads about its machine, as on ECS; the serial is the instance id.
    let _ = writeln!(x, "  <sysinfo type='smbios'>\n    <system>");
    let _ = writeln!(x, "      <entry name='manufacturer'>{}</entry>", esc(SMBIOS_MANUFACTURER));
    let _ = writeln!(x, "      <entry name='product'>{}</entry>", esc(SMBIOS_PRODUCT));
    let _ = writeln!(x, "      <entry name='serial'>{}</entry>", esc(&spec.vm_id));
    let _ = writeln!(x, "    </system>\n  </sysinfo>");
    let _ = writeln!(
        x,
        "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <smbios mode='sysinfo'/>\n  </os>"
    );
    let _ = writeln!(x, "  <features>\n    <acpi/>\n  </features>");
    if spec.accel == Accel::Kvm {
        let _ = writeln!(x, "  <cpu mode='host-passthrough'/>");
    }
    let _ = writeln!(x, "  <clock offset='utc'/>");
    let _ = writeln!(x, "  <on_poweroff>destroy</on_poweroff>");
    let _ = writeln!(x, "  <on_reboot>restart</on_reboot>");
    let _ = writeln!(x, "  <on_crash>destroy</on_crash>");
    let _ = writeln!(x, "  <devices>");
    for (index, disk) in spec.disks.iter().enumerate() {
        for line in disk_xml(disk, &disk_target(index), Some(index + 1))?.lines() {
            let _ = writeln!(x, "    {line}");
        }
    }
    for nic in &spec.nics {
        match &nic.backend {
            // An existing tap (ecslab's plumbing made it), opened by name, not managed by libvirt.
            NicBackend::Tap { name } => {
                let _ = writeln!(x, "    <interface type='ethernet'>");
                let _ = writeln!(x, "      <target dev='{}' managed='no'/>", esc(name));
            }
            // libvirt 9.0 sets neither the guest's DHCP address nor port forwards of a slirp
            // interface (forwards need the passt backend, which Debian 12's QEMU lacks): the
            // guest gets an address of its vSwitch's block by DHCP, and no public port (see
            // docs/API.md).
            NicBackend::User { net, .. } => {
                let (address, prefix) = net.split_once('/').unwrap_or((net.as_str(), "24"));
                let _ = writeln!(x, "    <interface type='user'>");
                let _ = writeln!(
                    x,
                    "      <ip family='ipv4' address='{}' prefix='{}'/>",
                    esc(address),
                    esc(prefix)
                );
            }
        }
        let _ = writeln!(x, "      <mac address='{}'/>", esc(&nic.mac));
        let _ = writeln!(x, "      <model type='virtio'/>");
        let _ = writeln!(x, "    </interface>");
    }
    let _ = writeln!(x, "    <controller type='usb' model='none'/>");
    let _ = writeln!(x, "    <serial type='unix'>");
    let _ = writeln!(x, "      <source mode='bind' path='{}'/>", esc(serial));
    let _ = writeln!(x, "      <log file='{}' append='on'/>", esc(utf8(&files.console_log)?));
    let _ = writeln!(x, "      <target port='0'/>");
    let _ = writeln!(x, "    </serial>");
    // qemu-guest-agent's channel (libvirt adds the virtio-serial controller): used to freeze the
    // guest's filesystems around live snapshots when the guest runs an agent; harmless otherwise.
    let _ = writeln!(x, "    <channel type='unix'>");
    let _ = writeln!(x, "      <source mode='bind' path='{}'/>", esc(agent));
    let _ = writeln!(x, "      <target type='virtio' name='{AGENT_CHANNEL}'/>");
    let _ = writeln!(x, "    </channel>");
    if spec.display {
        // The console (DescribeInstanceVncUrl), on a unix socket only (libvirt 9.0 supports
        // `socket=`); ecslab proxies it to one-time WebSocket URLs.
        let _ = writeln!(x, "    <graphics type='vnc' socket='{}'/>", esc(vnc));
    }
    let video = if spec.display { "vga" } else { "none" };
    let _ = writeln!(x, "    <video>\n      <model type='{video}'/>\n    </video>");
    let _ = writeln!(x, "    <memballoon model='none'/>");
    let _ = writeln!(x, "  </devices>");
    if let QemuUser::Static { uid, gid } = user {
        let _ = writeln!(x, "  <seclabel type='static' model='dac' relabel='no'>");
        let _ = writeln!(x, "    <label>+{uid}:+{gid}</label>");
        let _ = writeln!(x, "  </seclabel>");
    }
    x.push_str("</domain>\n");
    Ok(x)
}

/// A disk-only external snapshot of the disks in `overlays` (each gets a new qcow2 on top of its
/// current file, created by libvirt); every other disk is named with `snapshot='no'`, since
/// libvirt would otherwise snapshot it too under a name of its own.
pub fn snapshot_xml(
    name: &str,
    disks: &[LiveDisk],
    overlays: &[(String, PathBuf)],
) -> Result<String, String> {
    let mut x = String::new();
    let _ = writeln!(x, "<domainsnapshot>");
    let _ = writeln!(x, "  <name>{}</name>", esc(name));
    let _ = writeln!(x, "  <description>ecslab point in time (no libvirt metadata is kept)</description>");
    let _ = writeln!(x, "  <disks>");
    for disk in disks {
        match overlays.iter().find(|(target, _)| *target == disk.target) {
            Some((_, file)) => {
                let _ =
                    writeln!(x, "    <disk name='{}' snapshot='external' type='file'>", esc(&disk.target));
                let _ = writeln!(x, "      <driver type='qcow2'/>");
                let _ = writeln!(x, "      <source file='{}'/>", esc(utf8(file)?));
                let _ = writeln!(x, "    </disk>");
            }
            None => {
                let _ = writeln!(x, "    <disk name='{}' snapshot='no'/>", esc(&disk.target));
            }
        }
    }
    let _ = writeln!(x, "  </disks>");
    x.push_str("</domainsnapshot>\n");
    Ok(x)
}

/// What libvirt's live XML says about one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDisk {
    /// `vda`, `vdb`, ...
    pub target: String,
    pub serial: Option<String>,
    pub alias: Option<String>,
    /// The disk's files, top first (`source`, then each `backingStore` libvirt knows of).
    pub chain: Vec<PathBuf>,
}

impl LiveDisk {
    /// Whether this is the disk `disk_id` (by alias, else by serial).
    pub fn is(&self, disk_id: &str) -> bool {
        match &self.alias {
            Some(alias) if alias.starts_with("ua-") => *alias == disk_alias(disk_id),
            _ => self.serial.as_deref() == Some(disk_serial(disk_id)),
        }
    }
}

fn child<'a, 'input>(node: roxmltree::Node<'a, 'input>, name: &str) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(name))
}

/// The guest agent channel's state in a live domain XML: `Some(true)` when the guest side is
/// open (an agent listens), `Some(false)` when it is closed or the domain has no such channel,
/// `None` when libvirt does not say (drivers that report no `state`).
pub fn agent_connected(xml: &str) -> Option<bool> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let channel = doc
        .descendants()
        .filter(|n| n.has_tag_name("channel"))
        .find_map(|channel| child(channel, "target").filter(|t| t.attribute("name") == Some(AGENT_CHANNEL)));
    match channel {
        None => Some(false),
        Some(target) => target.attribute("state").map(|state| state == "connected"),
    }
}

/// The virtio-serial port name qemu-guest-agent opens.
pub const AGENT_CHANNEL: &str = "org.qemu.guest_agent.0";

/// The disks (`device='disk'`) of a domain's XML, in document order.
pub fn parse_disks(xml: &str) -> Result<Vec<LiveDisk>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("unreadable domain XML: {e}"))?;
    let Some(devices) = doc.root_element().children().find(|n| n.has_tag_name("devices")) else {
        return Ok(Vec::new());
    };
    let mut disks = Vec::new();
    for disk in devices.children().filter(|n| n.has_tag_name("disk") && n.attribute("device") == Some("disk"))
    {
        let Some(target) = child(disk, "target").and_then(|t| t.attribute("dev")) else { continue };
        let mut chain = Vec::new();
        let mut layer = Some(disk);
        while let Some(node) = layer {
            match child(node, "source").and_then(|s| s.attribute("file")) {
                Some(file) => chain.push(PathBuf::from(file)),
                None => break,
            }
            layer = child(node, "backingStore");
        }
        disks.push(LiveDisk {
            target: target.to_string(),
            serial: child(disk, "serial").and_then(|s| s.text()).map(str::to_string),
            alias: child(disk, "alias").and_then(|a| a.attribute("name")).map(str::to_string),
            chain,
        });
    }
    Ok(disks)
}

/// The first `vdX` target no disk of `disks` uses.
pub fn free_target(disks: &[LiveDisk]) -> String {
    (0..).map(disk_target).find(|t| !disks.iter().any(|d| d.target == *t)).unwrap_or_default()
}

/// The overlays of a snapshot request as (target, new file), checked against the live disks.
/// Disks whose top already is the new file are left out (the point in time was taken already).
pub fn overlay_targets(
    disks: &[LiveDisk],
    overlays: &[DiskOverlay],
) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    for overlay in overlays {
        let disk = disks
            .iter()
            .find(|d| d.is(&overlay.disk_id))
            .ok_or_else(|| format!("disk {} is not in the VM", overlay.disk_id))?;
        if disk.chain.first() == Some(&overlay.new_top) {
            continue;
        }
        out.push((disk.target.clone(), overlay.new_top.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/libvirt-domain.xml");

    fn sample_spec() -> VmSpec {
        VmSpec {
            vm_id: "i-golden0001".into(),
            run_dir: "/var/lib/ecslab/vms/i-golden0001".into(),
            vcpus: 2,
            memory_mib: 256,
            display: true,
            disks: vec![
                DiskSpec {
                    disk_id: "d-system0001".into(),
                    path: "/var/lib/ecslab/layers/l-top0001.qcow2".into(),
                },
                DiskSpec {
                    disk_id: "d-data-0123456789abcdef".into(),
                    path: "/var/lib/ecslab/disks/d-data&'odd'/top.qcow2".into(),
                },
            ],
            nics: Vec::new(),
            accel: Accel::Tcg,
        }
    }

    /// Regenerate with `UPDATE_GOLDEN=1 cargo test -p ecslab-vmm domain_xml`.
    #[test]
    fn domain_xml_matches_golden_file() {
        let actual = domain_xml(&sample_spec(), None, &QemuUser::Static { uid: 0, gid: 0 }).unwrap();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(GOLDEN, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(GOLDEN).unwrap();
        assert_eq!(actual, expected, "domain XML changed; if intended, rerun with UPDATE_GOLDEN=1");
        roxmltree::Document::parse(&actual).expect("well-formed XML");
    }

    #[test]
    fn agent_channel_state_from_live_xml() {
        let live = |target: &str| {
            format!("<domain><devices><channel type='unix'><source mode='bind' path='/r/qga.sock'/>{target}</channel></devices></domain>")
        };
        let connected = live("<target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>");
        let closed = live("<target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/>");
        let unsaid = live("<target type='virtio' name='org.qemu.guest_agent.0'/>");
        let other = live("<target type='virtio' name='org.example.other' state='connected'/>");
        assert_eq!(agent_connected(&connected), Some(true));
        assert_eq!(agent_connected(&closed), Some(false));
        assert_eq!(agent_connected(&unsaid), None);
        assert_eq!(agent_connected(&other), Some(false), "no agent channel: nothing to freeze through");
        let ours = domain_xml(&sample_spec(), None, &QemuUser::LibvirtDefault).unwrap();
        assert_eq!(agent_connected(&ours), None, "an inactive definition says nothing about the guest");
    }

    #[test]
    fn kvm_headless_and_libvirt_default_user() {
        let mut spec = sample_spec();
        spec.accel = Accel::Kvm;
        spec.display = false;
        let xml = domain_xml(&spec, None, &QemuUser::LibvirtDefault).unwrap();
        assert!(xml.starts_with("<domain type='kvm'>"), "{xml}");
        let xml = domain_xml(&spec, Some("4b1c0b9e-0000-4000-8000-000000000001"), &QemuUser::LibvirtDefault)
            .unwrap();
        assert!(xml.contains("<uuid>4b1c0b9e-0000-4000-8000-000000000001</uuid>"), "{xml}");
        assert!(xml.contains("<cpu mode='host-passthrough'/>"));
        assert!(xml.contains("<model type='none'/>"));
        assert!(!xml.contains("seclabel"));
    }

    #[test]
    fn refuses_bad_specs() {
        let mut spec = sample_spec();
        spec.disks[0].disk_id = "d<1".into();
        assert!(domain_xml(&spec, None, &QemuUser::LibvirtDefault).unwrap_err().contains("disk id"));
        let mut spec = sample_spec();
        spec.run_dir = PathBuf::from(format!("/{}", "x".repeat(100)));
        assert!(domain_xml(&spec, None, &QemuUser::LibvirtDefault).unwrap_err().contains("unix socket"));
        let mut spec = sample_spec();
        spec.vcpus = 0;
        assert!(domain_xml(&spec, None, &QemuUser::LibvirtDefault).is_err());
    }

    #[test]
    fn targets_serials_and_aliases() {
        assert_eq!(disk_target(0), "vda");
        assert_eq!(disk_target(25), "vdz");
        assert_eq!(disk_target(26), "vdaa");
        assert_eq!(disk_serial("d-0123456789abcdefghij"), "d-0123456789abcdefgh");
        assert_eq!(disk_alias("d-1.x"), "ua-d-1_x");
    }

    const LIVE: &str = r#"<domain type='qemu' id='3'>
      <name>i-1</name>
      <devices>
        <emulator>/usr/bin/qemu-system-x86_64</emulator>
        <disk type='file' device='disk'>
          <driver name='qemu' type='qcow2'/>
          <source file='/d/new.qcow2' index='3'/>
          <backingStore type='file' index='2'>
            <format type='qcow2'/>
            <source file='/d/top.qcow2'/>
            <backingStore type='file' index='1'>
              <format type='qcow2'/>
              <source file='/d/base.qcow2'/>
              <backingStore/>
            </backingStore>
          </backingStore>
          <target dev='vda' bus='virtio'/>
          <serial>d-sys</serial>
          <alias name='ua-d-sys'/>
        </disk>
        <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
        <disk type='file' device='disk'>
          <source file='/d/data.qcow2'/>
          <target dev='vdc' bus='virtio'/>
          <serial>d-data</serial>
          <alias name='virtio-disk2'/>
        </disk>
      </devices>
    </domain>"#;

    #[test]
    fn reads_targets_ids_and_chains_from_live_xml() {
        let disks = parse_disks(LIVE).unwrap();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].target, "vda");
        assert!(disks[0].is("d-sys") && !disks[0].is("d-data"));
        assert_eq!(disks[0].chain, ["/d/new.qcow2", "/d/top.qcow2", "/d/base.qcow2"].map(PathBuf::from));
        assert!(disks[1].is("d-data"), "found by serial when the alias is libvirt's own");
        assert_eq!(free_target(&disks), "vdb");
    }

    #[test]
    fn snapshot_names_every_disk() {
        let disks = parse_disks(LIVE).unwrap();
        let overlays = [DiskOverlay {
            disk_id: "d-data".into(),
            current_top: "/d/data.qcow2".into(),
            new_top: "/d/data-2.qcow2".into(),
        }];
        let targets = overlay_targets(&disks, &overlays).unwrap();
        assert_eq!(targets, vec![("vdc".to_string(), PathBuf::from("/d/data-2.qcow2"))]);
        let xml = snapshot_xml("s", &disks, &targets).unwrap();
        assert!(xml.contains("<disk name='vda' snapshot='no'/>"), "{xml}");
        assert!(xml.contains("<disk name='vdc' snapshot='external' type='file'>"), "{xml}");
        assert!(xml.contains("<source file='/d/data-2.qcow2'/>"), "{xml}");
        // Already taken: nothing left to do for that disk.
        let done = [DiskOverlay {
            new_top: "/d/new.qcow2".into(),
            disk_id: "d-sys".into(),
            current_top: "/d/top.qcow2".into(),
        }];
        assert!(overlay_targets(&disks, &done).unwrap().is_empty());
        let missing = [DiskOverlay { disk_id: "d-x".into(), ..overlays[0].clone() }];
        assert!(overlay_targets(&disks, &missing).is_err());
    }
}
