//! ecslab-net: the host side of instance networking. It turns a desired state (`VpcNetwork`: vSwitches, NICs,
//! security groups) into the kernel's state, idempotently, and knows nothing of the API or the store.
//!
//! Design (docs/ARCHITECTURE.md, "Networking"): one network namespace per VPC, named after the server's data dir
//! and the VPC (`netns_name`), with no route out of it. Routed, not bridged: one persistent tap per NIC
//! (`tap_name`), created in the host namespace before the VM starts (`prepare_tap`) so QEMU or libvirt opens it by
//! name, then moved into the VPC namespace by `apply` and given the vSwitch gateway address, proxy ARP and a /32
//! route to the NIC. Every packet between NICs is therefore routed through the namespace and passes one stateful
//! `table inet ecslab` (`filter`), replaced atomically on every change. DHCP is one dnsmasq per namespace with
//! static leases (`dhcp`). The public address is a user-space TCP proxy from 127.0.0.0/8 into the namespace
//! (`proxy`), which counts the bytes it carries; the taps' own counters are read in the namespace (`counters`).
//!
//! Everything here is synchronous (it shells out to `ip`, `nft`, `dnsmasq`) except the proxy; async callers use
//! `spawn_blocking`. Calls for one VPC must not run concurrently (the caller holds a per-VPC lock).

mod cmd;
pub mod counters;
pub mod dhcp;
pub mod filter;
pub mod metadata;
pub mod netns;
pub mod proxy;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

pub use counters::GuestBytes;
pub use dhcp::DhcpAction;
pub use filter::{
    decide, decide_flow, open_ports, Direction, Packet, Peer, Policy, PortRange, Priority, Protocol, Rule,
    Verdict, L4,
};
pub use metadata::{metadata_listener, METADATA_ADDR, METADATA_PORT};
pub use proxy::PublicProxy;

/// Errors of the network plumbing.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("`{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid network description: {0}")]
    Invalid(String),
    #[error("dnsmasq: {0}")]
    Dhcp(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let context = context.into();
    move |source| NetError::Io { context, source }
}

/// A MAC address (`52:54:00:12:34:56`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl FromStr for MacAddr {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NetError::Invalid(format!("bad MAC address {s:?}"));
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// A vSwitch: its CIDR and the gateway address every tap of the vSwitch carries in the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VSwitchNet {
    pub id: String,
    pub cidr: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// A NIC: its tap (`HostNetwork::tap_name`), MAC, private IP, vSwitch and security groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicNet {
    pub id: String,
    pub tap: String,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub vswitch_id: String,
    pub groups: Vec<String>,
}

/// A security group's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRules {
    pub id: String,
    pub rules: Vec<filter::Rule>,
}

/// The whole desired state of one VPC's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcNetwork {
    pub vpc_id: String,
    pub vswitches: Vec<VSwitchNet>,
    pub nics: Vec<NicNet>,
    pub groups: Vec<GroupRules>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An interface name the kernel accepts and nft can quote: 1..=15 of `[A-Za-z0-9_.-]`.
fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name != "lo"
}

impl VpcNetwork {
    /// Checks what the plumbing relies on: ids usable in names and paths, tap names valid, every NIC in a known
    /// vSwitch with an address inside it, no address or tap twice, gateways inside their CIDRs.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |m: String| Err(NetError::Invalid(m));
        if !valid_id(&self.vpc_id) {
            return bad(format!("VPC id {:?}", self.vpc_id));
        }
        for v in &self.vswitches {
            if !valid_id(&v.id) || !v.cidr.contains(&v.gateway) {
                return bad(format!("vSwitch {:?} ({} gateway {})", v.id, v.cidr, v.gateway));
            }
        }
        let mut ips = std::collections::BTreeSet::new();
        let mut taps = std::collections::BTreeSet::new();
        for n in &self.nics {
            let Some(v) = self.vswitches.iter().find(|v| v.id == n.vswitch_id) else {
                return bad(format!("NIC {:?} names unknown vSwitch {:?}", n.id, n.vswitch_id));
            };
            if !v.cidr.contains(&n.ip) || n.ip == v.gateway {
                return bad(format!("NIC {:?} address {} outside {} or the gateway", n.id, n.ip, v.cidr));
            }
            if !valid_ifname(&n.tap) {
                return bad(format!("NIC {:?} tap name {:?}", n.id, n.tap));
            }
            if !ips.insert(n.ip) || !taps.insert(n.tap.as_str()) {
                return bad(format!("NIC {:?}: address {} or tap {} used twice", n.id, n.ip, n.tap));
            }
        }
        Ok(())
    }
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// NICs whose tap is in the namespace and configured.
    pub configured: Vec<String>,
    /// NICs whose tap is in the host namespace but not opened by a VM yet (no carrier): left there for the VM to
    /// open by name; moved and configured by the next `apply` after the VM started.
    pub waiting: Vec<String>,
    /// NICs whose tap exists nowhere (no `prepare_tap` yet, or removed); configured by a later `apply`.
    pub absent: Vec<String>,
    /// Interfaces of the namespace that no NIC names any more, deleted.
    pub removed: Vec<String>,
    pub dhcp: DhcpAction,
    pub elapsed: Duration,
}

/// Why this process cannot build namespaced networking (the caller falls back to user-mode networking).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespaced networking unavailable: {0}")]
pub struct ProbeError(pub String);

/// The host side of one ecslab server's networking (names derive from its data dir, so several servers coexist).
#[derive(Debug, Clone)]
pub struct HostNetwork {
    data_dir: PathBuf,
    tag: String,
}

const NETNS_DIR: &str = "/run/netns";

impl HostNetwork {
    /// For the server whose data lives in `data_dir` (its files go to `DATA/net/<vpc id>/`).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
        HostNetwork { tag: hex::encode(&digest[..4]), data_dir }
    }

    /// `ecslab-<8 hex of the data dir's hash>-<vpc id>`.
    pub fn netns_name(&self, vpc_id: &str) -> String {
        format!("ecslab-{}-{vpc_id}", self.tag)
    }

    /// `/run/netns/<netns_name>`, what `setns` opens (the proxy).
    pub fn netns_path(&self, vpc_id: &str) -> PathBuf {
        Path::new(NETNS_DIR).join(self.netns_name(vpc_id))
    }

    /// `el` + 13 hex of a hash of the data dir and the NIC id: 15 characters, the kernel's limit.
    pub fn tap_name(&self, nic_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.data_dir.as_os_str().as_encoded_bytes());
        h.update([0u8]);
        h.update(nic_id.as_bytes());
        let hex = hex::encode(h.finalize());
        format!("el{}", &hex[..13])
    }

    /// `DATA/net/<vpc id>`: dnsmasq's configuration, hosts, leases, pid file and log.
    pub fn vpc_dir(&self, vpc_id: &str) -> PathBuf {
        self.data_dir.join("net").join(vpc_id)
    }

    /// The VPC ids whose namespace this server has (for cleaning up VPCs the store no longer knows at start).
    pub fn vpcs(&self) -> Vec<String> {
        let prefix = format!("ecslab-{}-", self.tag);
        let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| name.strip_prefix(&prefix).map(str::to_string))
            .collect();
        ids.sort();
        ids
    }

    fn dnsmasq(&self, vpc_id: &str) -> dhcp::Dnsmasq {
        dhcp::Dnsmasq::new(self.vpc_dir(vpc_id), self.netns_name(vpc_id), self.netns_path(vpc_id))
    }

    /// Can this process create namespaces and taps and run nft and dnsmasq? Tries it for real with a throwaway
    /// namespace holding a throwaway tap, and says what failed.
    pub fn probe() -> Result<(), ProbeError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(ProbeError(
                "not running as root (network namespaces and taps need CAP_NET_ADMIN)".into(),
            ));
        }
        for (program, arg) in
            [("ip", "-V"), ("nft", "--version"), ("dnsmasq", "--version"), ("nsenter", "--version")]
        {
            cmd::run(program, &[arg]).map_err(|e| ProbeError(format!("{program} is not usable: {e}")))?;
        }
        let ns = format!("ecslab-probe-{}", std::process::id());
        let result = (|| {
            cmd::run("ip", &["netns", "add", &ns])?;
            cmd::run("ip", &["-n", &ns, "tuntap", "add", "elprobe", "mode", "tap"])?;
            cmd::run_with(
                "ip",
                &["netns", "exec", &ns, "nft", "-f", "-"],
                Some("table inet ecslab_probe {}\n"),
            )?;
            Ok::<(), NetError>(())
        })();
        let _ = cmd::run("ip", &["-n", &ns, "link", "del", "dev", "elprobe"]);
        let _ = cmd::run("ip", &["netns", "del", &ns]);
        result.map_err(|e| ProbeError(e.to_string()))
    }

    /// Makes the VPC's namespace, taps, filter table and DHCP match `vpc`. Idempotent: run it after every change
    /// (a NIC's VM started, a rule changed, an instance left) and at server start (it adopts a running dnsmasq).
    ///
    /// Taps are configured when already in the namespace, or when in the host namespace and held open by their
    /// VM (carrier: `prepare_tap` leaves taps up), which moves them in. A tap no VM holds yet stays in the host
    /// namespace (`ApplyReport::waiting`), so a concurrent start of another VM of the VPC cannot lose its tap: apply
    /// again once the VM started. Interfaces of the namespace that no NIC names are deleted.
    pub fn apply(&self, vpc: &VpcNetwork) -> Result<ApplyReport, NetError> {
        let started = Instant::now();
        vpc.validate()?;
        let ns = self.netns_name(&vpc.vpc_id);
        let ns_path = self.netns_path(&vpc.vpc_id);
        self.ensure_namespace(&ns, &ns_path)?;

        // The table first: a tap moved in below is filtered from its first packet.
        cmd::run_with("ip", &["netns", "exec", &ns, "nft", "-f", "-"], Some(&filter::render(vpc)))?;

        let present = cmd::links(Some(&ns))?;
        let mut report = ApplyReport {
            configured: Vec::new(),
            waiting: Vec::new(),
            absent: Vec::new(),
            removed: Vec::new(),
            dhcp: DhcpAction::Unchanged,
            elapsed: Duration::ZERO,
        };
        for name in &present {
            if name != "lo" && !vpc.nics.iter().any(|n| &n.tap == name) {
                cmd::del_link(Some(&ns), name)?;
                report.removed.push(name.clone());
            }
        }
        let mut batch = String::new();
        let mut sysctls = Vec::new();
        for nic in &vpc.nics {
            if !present.contains(&nic.tap) {
                match cmd::host_link_state(&nic.tap) {
                    Some(true) => {
                        cmd::run("ip", &["link", "set", "dev", &nic.tap, "netns", &ns]).map(drop)?
                    }
                    Some(false) => {
                        report.waiting.push(nic.id.clone());
                        continue;
                    }
                    None => {
                        report.absent.push(nic.id.clone());
                        continue;
                    }
                }
            }
            let vsw = vpc.vswitches.iter().find(|v| v.id == nic.vswitch_id).expect("validated");
            let tap = &nic.tap;
            batch.push_str(&format!(
                "link set dev {tap} up\naddress replace {}/{} dev {tap} noprefixroute\nroute replace {}/32 dev {tap}\n",
                vsw.gateway,
                vsw.cidr.prefix_len(),
                nic.ip
            ));
            sysctls.push((format!("net/ipv4/conf/{tap}/proxy_arp"), "1".to_string()));
            sysctls.push((format!("net/ipv4/neigh/{tap}/proxy_delay"), "0".to_string()));
            report.configured.push(nic.id.clone());
        }
        if !batch.is_empty() {
            netns::write_sysctls(&ns_path, sysctls).map_err(io_err(format!("sysctls of {ns}")))?;
            cmd::run_with("ip", &["-n", &ns, "-batch", "-"], Some(&batch))?;
        }
        report.dhcp = self.dnsmasq(&vpc.vpc_id).ensure(vpc)?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The namespace with lo up, forwarding on, reverse-path filtering off and IPv6 off (immediate proxy ARP is set
    /// per tap: a namespace other than the first has no `neigh/default`).
    fn ensure_namespace(&self, ns: &str, ns_path: &Path) -> Result<(), NetError> {
        if !ns_path.exists() {
            cmd::run("ip", &["netns", "add", ns])?;
        }
        cmd::run("ip", &["-n", ns, "link", "set", "dev", "lo", "up"])?;
        // The metadata service's address, local to the namespace: guests reach it through their gateway.
        let metadata = format!("{METADATA_ADDR}/32");
        cmd::run("ip", &["-n", ns, "address", "replace", &metadata, "dev", "lo"])?;
        let values = [
            ("net/ipv4/ip_forward", "1"),
            ("net/ipv4/conf/all/rp_filter", "0"),
            ("net/ipv4/conf/default/rp_filter", "0"),
            ("net/ipv6/conf/all/disable_ipv6", "1"),
            ("net/ipv6/conf/default/disable_ipv6", "1"),
        ];
        netns::write_sysctls(ns_path, values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .map_err(io_err(format!("sysctls of {ns}")))
    }

    /// Where a link named `name` is: the host namespace or one of this server's VPC namespaces.
    fn find_link(&self, name: &str) -> Result<Vec<Option<String>>, NetError> {
        let mut places = Vec::new();
        if cmd::host_has_link(name) {
            places.push(None);
        }
        for vpc in self.vpcs() {
            let ns = self.netns_name(&vpc);
            if cmd::links(Some(&ns))?.iter().any(|l| l == name) {
                places.push(Some(ns));
            }
        }
        Ok(places)
    }

    fn delete_link(&self, name: &str) -> Result<(), NetError> {
        for place in self.find_link(name)? {
            cmd::del_link(place.as_deref(), name)?;
        }
        Ok(())
    }

    /// Creates the NIC's persistent tap in the host namespace (up, no address, IPv6 off) for the VM to open by name,
    /// after removing a stale one of the same name wherever it is (host or a VPC namespace of this server).
    pub fn prepare_tap(&self, nic: &NicNet) -> Result<(), NetError> {
        if !valid_ifname(&nic.tap) {
            return Err(NetError::Invalid(format!("tap name {:?}", nic.tap)));
        }
        self.delete_link(&nic.tap)?;
        cmd::run("ip", &["tuntap", "add", "dev", &nic.tap, "mode", "tap"])?;
        // Up without an address and without IPv6, the host sends nothing on it; up, it shows carrier once the VM
        // holds it, which is how `apply` knows it may move it.
        let ipv6 = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", nic.tap);
        if Path::new(&ipv6).exists() {
            std::fs::write(&ipv6, "1").map_err(io_err(format!("writing {ipv6}")))?;
        }
        cmd::run("ip", &["link", "set", "dev", &nic.tap, "up"])?;
        Ok(())
    }

    /// Deletes the NIC's tap wherever it is. Its lease, route and filter chains go with the next `apply` of the
    /// VPC without the NIC.
    pub fn remove_nic(&self, nic: &NicNet) -> Result<(), NetError> {
        self.delete_link(&nic.tap)
    }

    /// Stops the VPC's dnsmasq, deletes its interfaces and namespace, and removes `DATA/net/<vpc id>`. Idempotent.
    /// Stop the VPC's public-address proxies first: their open sockets would keep the namespace alive.
    pub fn remove_vpc(&self, vpc_id: &str) -> Result<(), NetError> {
        if !valid_id(vpc_id) {
            return Err(NetError::Invalid(format!("VPC id {vpc_id:?}")));
        }
        self.dnsmasq(vpc_id).stop()?;
        let ns = self.netns_name(vpc_id);
        if self.netns_path(vpc_id).exists() {
            for link in cmd::links(Some(&ns))? {
                if link != "lo" {
                    cmd::del_link(Some(&ns), &link)?;
                }
            }
            cmd::run("ip", &["netns", "del", &ns])?;
        }
        let dir = self.vpc_dir(vpc_id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(format!("removing {}", dir.display())))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_stable_and_distinct_per_server() {
        let a = HostNetwork::new("/var/lib/ecslab-a");
        let b = HostNetwork::new("/var/lib/ecslab-b");
        assert_eq!(a.tap_name("eni-1").len(), 15);
        assert!(a.tap_name("eni-1").starts_with("el"));
        assert_eq!(a.tap_name("eni-1"), HostNetwork::new("/var/lib/ecslab-a").tap_name("eni-1"));
        assert_ne!(a.tap_name("eni-1"), a.tap_name("eni-2"));
        assert_ne!(a.tap_name("eni-1"), b.tap_name("eni-1"));
        let ns = a.netns_name("vpc-x");
        assert!(
            ns.starts_with("ecslab-") && ns.ends_with("-vpc-x") && ns.len() == "ecslab-12345678-vpc-x".len()
        );
        assert_ne!(ns, b.netns_name("vpc-x"));
    }

    #[test]
    fn mac_round_trips() {
        let mac: MacAddr = "52:54:00:ab:cd:0e".parse().unwrap();
        assert_eq!(mac.to_string(), "52:54:00:ab:cd:0e");
        assert!("52:54:00:ab:cd".parse::<MacAddr>().is_err());
        assert!("52:54:00:ab:cd:0e:01".parse::<MacAddr>().is_err());
        assert!("52:54:00:ab:cd:zz".parse::<MacAddr>().is_err());
    }

    #[test]
    fn validate_refuses_what_the_plumbing_cannot_take() {
        let ok = VpcNetwork {
            vpc_id: "vpc-1".into(),
            vswitches: vec![VSwitchNet {
                id: "vsw-1".into(),
                cidr: "192.168.1.0/24".parse().unwrap(),
                gateway: "192.168.1.253".parse().unwrap(),
            }],
            nics: vec![NicNet {
                id: "eni-1".into(),
                tap: "elabc".into(),
                mac: "52:54:00:00:00:01".parse().unwrap(),
                ip: "192.168.1.10".parse().unwrap(),
                vswitch_id: "vsw-1".into(),
                groups: vec![],
            }],
            groups: vec![],
        };
        assert!(ok.validate().is_ok());
        let mut bad = ok.clone();
        bad.vpc_id = "../x".into();
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.nics[0].ip = "192.168.2.10".parse().unwrap();
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.nics[0].tap = "a-name-longer-than-15".into();
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.nics.push(bad.nics[0].clone());
        assert!(bad.validate().is_err());
        let mut bad = ok;
        bad.nics[0].vswitch_id = "vsw-2".into();
        assert!(bad.validate().is_err());
    }
}
