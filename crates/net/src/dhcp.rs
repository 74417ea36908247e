//! DHCP for one VPC: a dnsmasq in the VPC's namespace with static leases only.
//!
//! Why dnsmasq and why like this: Debian's dnsmasq-base is a small, well-known DHCP server; `static` ranges make
//! it answer only the MACs listed in its hosts file, so a guest gets exactly the PrivateIpAddress the API shows.
//! A NIC added or removed changes only the hosts file, which SIGHUP rereads without dropping anything; a vSwitch
//! added or removed changes the configuration and restarts it. It daemonizes with a pid file under
//! `DATA/net/<vpc id>/`, so it outlives an ecslab restart and the next `ensure` adopts it (checked: the pid's
//! process is a dnsmasq started with this configuration, in this namespace). DNS is off (`port=0`).

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{cmd, io_err, NetError, VpcNetwork};

/// What `ensure` had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpAction {
    /// Running with the same configuration and hosts.
    Unchanged,
    /// Was not running (or not ours): started.
    Started,
    /// The configuration changed (vSwitches): restarted.
    Restarted,
    /// Only the hosts file changed: SIGHUP.
    Reloaded,
}

/// The dnsmasq of one VPC namespace and its files.
#[derive(Debug, Clone)]
pub struct Dnsmasq {
    dir: PathBuf,
    netns: String,
    netns_path: PathBuf,
}

/// dnsmasq's configuration for `vpc` (one tagged static range and router option per vSwitch).
pub fn render_conf(vpc: &VpcNetwork, dir: &Path) -> String {
    let d = dir.display();
    let mut s = format!(
        "# ecslab: DHCP of {vpc_id}, static leases only; regenerated on every change\n\
         port=0\nno-resolv\nno-hosts\nuser=root\ndhcp-authoritative\nlog-dhcp\n\
         log-facility={d}/dnsmasq.log\npid-file={d}/dnsmasq.pid\n\
         dhcp-leasefile={d}/leases\ndhcp-hostsfile={d}/hosts\n",
        vpc_id = vpc.vpc_id
    );
    for (i, v) in vpc.vswitches.iter().enumerate() {
        s.push_str(&format!(
            "# vSwitch {}\ndhcp-range=set:v{i},{},static,{},12h\ndhcp-option=tag:v{i},option:router,{}\n",
            v.id,
            v.cidr.network(),
            v.cidr.netmask(),
            v.gateway
        ));
    }
    s
}

/// The hosts file: `MAC,IP` per NIC.
pub fn render_hosts(vpc: &VpcNetwork) -> String {
    vpc.nics.iter().map(|n| format!("{},{}\n", n.mac, n.ip)).collect()
}

impl Dnsmasq {
    pub fn new(dir: PathBuf, netns: String, netns_path: PathBuf) -> Self {
        Dnsmasq { dir, netns, netns_path }
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("dnsmasq.conf")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("dnsmasq.pid")
    }

    /// The running dnsmasq of this VPC, if any: the pid file's process is alive, is dnsmasq, was started with our
    /// configuration file and lives in our namespace.
    pub fn running_pid(&self) -> Option<Pid> {
        let pid: i32 = std::fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let state = stat.rsplit(") ").next()?.chars().next()?;
        if state == 'Z' || state == 'X' {
            return None;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let conf_arg = format!("--conf-file={}", self.conf().display());
        let ours = cmdline.split(|b| *b == 0).any(|arg| arg == conf_arg.as_bytes());
        let ns_ino = std::fs::metadata(&self.netns_path).ok()?.ino();
        let pid_ns_ino = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?.ino();
        (ours && ns_ino == pid_ns_ino).then_some(Pid::from_raw(pid))
    }

    /// Writes the files for `vpc` and makes the daemon serve them: start, restart, SIGHUP or nothing.
    pub fn ensure(&self, vpc: &VpcNetwork) -> Result<DhcpAction, NetError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let conf = render_conf(vpc, &self.dir);
        let hosts = render_hosts(vpc);
        let conf_changed = write_if_changed(&self.conf(), &conf)?;
        let hosts_changed = write_if_changed(&self.dir.join("hosts"), &hosts)?;
        match self.running_pid() {
            None => {
                self.start()?;
                Ok(DhcpAction::Started)
            }
            Some(_) if conf_changed => {
                self.stop()?;
                self.start()?;
                Ok(DhcpAction::Restarted)
            }
            Some(pid) if hosts_changed => {
                kill(pid, Signal::SIGHUP).map_err(|e| NetError::Dhcp(format!("SIGHUP to {pid}: {e}")))?;
                Ok(DhcpAction::Reloaded)
            }
            Some(_) => Ok(DhcpAction::Unchanged),
        }
    }

    fn start(&self) -> Result<(), NetError> {
        let _ = std::fs::remove_file(self.pid_file());
        let conf_arg = format!("--conf-file={}", self.conf().display());
        // `nsenter --net` rather than `ip netns exec`: the daemon needs the namespace, not a private mount tree.
        let net_arg = format!("--net={}", self.netns_path.display());
        cmd::run("nsenter", &[&net_arg, "dnsmasq", &conf_arg])?;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.running_pid().is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(NetError::Dhcp(format!("dnsmasq in {} wrote no pid file within 3 s", self.netns)))
    }

    /// Stops the daemon (TERM, then KILL after a second) and removes its pid file. Nothing running is fine.
    pub fn stop(&self) -> Result<(), NetError> {
        if let Some(pid) = self.running_pid() {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(1);
            while self.running_pid().is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.running_pid().is_some() {
                let _ = kill(pid, Signal::SIGKILL);
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.running_pid().is_some() {
                return Err(NetError::Dhcp(format!("dnsmasq {pid} in {} does not stop", self.netns)));
            }
        }
        let _ = std::fs::remove_file(self.pid_file());
        Ok(())
    }
}

/// Writes `text` to `path` unless it already holds it; says whether it wrote.
fn write_if_changed(path: &Path, text: &str) -> Result<bool, NetError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("renaming {}", tmp.display())))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NicNet, VSwitchNet};

    #[test]
    fn conf_and_hosts_name_every_vswitch_and_nic() {
        let vpc = VpcNetwork {
            vpc_id: "vpc-1".into(),
            vswitches: vec![VSwitchNet {
                id: "vsw-a".into(),
                cidr: "192.168.1.0/24".parse().unwrap(),
                gateway: "192.168.1.253".parse().unwrap(),
            }],
            nics: vec![NicNet {
                id: "eni-1".into(),
                tap: "el1".into(),
                mac: "52:54:00:00:00:01".parse().unwrap(),
                ip: "192.168.1.10".parse().unwrap(),
                vswitch_id: "vsw-a".into(),
                groups: vec![],
            }],
            groups: vec![],
        };
        let conf = render_conf(&vpc, Path::new("state"));
        assert!(conf.contains("\nport=0\n"));
        assert!(conf.contains("dhcp-range=set:v0,192.168.1.0,static,255.255.255.0,12h\n"));
        assert!(conf.contains("dhcp-option=tag:v0,option:router,192.168.1.253\n"));
        assert!(conf.contains("pid-file=state/dnsmasq.pid\n"));
        assert_eq!(render_hosts(&vpc), "52:54:00:00:00:01,192.168.1.10\n");
    }
}
