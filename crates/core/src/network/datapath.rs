//! The data path: the network records made real on this host through `ecslab_net` (one network
//! namespace per VPC, a tap per NIC, dnsmasq for DHCP, nftables for security groups, a proxy for
//! public addresses). This module only turns records into that crate's desired state and says
//! when to apply it:
//! - before a VM starts, its taps are made (`prepare`), and the VM's spec names them;
//! - after it started, stopped or was deleted, and after any rule or membership change, the
//!   VPC is applied again (`sync_vpc`), which also starts or stops public-address proxies;
//! - at server start, every VPC is applied again (`sync_all`), so adopted VMs keep their network,
//!   and namespaces of VPCs this server no longer has are removed;
//! - every VPC with NICs has the metadata service listening in its namespace (`crate::metadata`), started
//!   with its first apply and stopped before its namespace is removed;
//! - the monitor asks for every instance's traffic (`traffic`): its taps' counters and its public
//!   address proxy's.
//!
//! When this process cannot make namespaces (not root, tools missing), it says so once at start
//! and falls back to QEMU's user-mode networking (or is told to, `--network user`): each guest
//! alone on a private network with its private address by DHCP, reaching nothing, with its
//! public address forwarding the TCP ports its rules open at boot (see docs/API.md for what
//! that mode cannot do).

use crate::config::NetworkBackend;
use crate::metadata::Metadata;
use crate::{Error, Result};
use ecslab_net::filter::{Direction, Peer, Policy, PortRange, Priority, Protocol, Rule};
use ecslab_net::{GroupRules, GuestBytes, HostNetwork, MacAddr, NicNet, PublicProxy, VSwitchNet, VpcNetwork};
use ecslab_store::{
    InstanceStatus, IpProtocol, NetworkInterfaceRecord, RuleDirection, RulePolicy, SecurityGroupRuleRecord,
    Store, VSwitchRecord,
};
use ecslab_vmm::{NicBackend, NicSpec};
use ipnet::Ipv4Net;
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

/// How this host carries instances' networks.
enum Mode {
    Namespaces(HostNetwork),
    /// QEMU user-mode networking (`HostNetwork` only names things here).
    User(HostNetwork),
    Off,
}

/// The data path of one server.
pub struct DataPath {
    store: Store,
    mode: Mode,
    /// Public-address proxies of running instances, by NIC id, with their VPC.
    proxies: tokio::sync::Mutex<HashMap<String, (String, PublicProxy)>>,
    /// One apply at a time: two applies of one VPC must not interleave.
    applying: tokio::sync::Mutex<()>,
    /// The metadata service, and its listener task in each VPC's namespace, by VPC id.
    metadata: Arc<Metadata>,
    metadata_servers: tokio::sync::Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for DataPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPath").field("available", &self.host().is_some()).finish()
    }
}

/// What an instance's NICs carried, as its guest sees it: everything (`nic`: the taps' frames since they
/// were made, at the VM's start) and the part that came or went through its public addresses (`public`:
/// the proxies' TCP payload since they started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceTraffic {
    pub nic: GuestBytes,
    pub public: GuestBytes,
}

/// The gateway of a vSwitch: its third-last address (x.253 of a /24), one of those ECS reserves.
pub fn gateway_of(block: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(block.broadcast()).saturating_sub(2))
}

impl DataPath {
    /// Probe the host once (`NetworkBackend::Auto`).
    pub(crate) fn new(
        store: Store,
        data_dir: &Path,
        backend: NetworkBackend,
        metadata: Arc<Metadata>,
    ) -> DataPath {
        let naming = HostNetwork::new(data_dir);
        let mode = match backend {
            NetworkBackend::Off => Mode::Off,
            NetworkBackend::UserMode => {
                tracing::info!("instances use QEMU user-mode networking (--network user)");
                Mode::User(naming)
            }
            NetworkBackend::Auto => match HostNetwork::probe() {
                Ok(()) => Mode::Namespaces(naming),
                Err(e) => {
                    tracing::warn!(reason = %e, "this process cannot make network namespaces: instances fall back to QEMU user-mode networking (no traffic between instances, public ports fixed at boot)");
                    Mode::User(naming)
                }
            },
        };
        DataPath {
            store,
            mode,
            proxies: tokio::sync::Mutex::new(HashMap::new()),
            applying: tokio::sync::Mutex::new(()),
            metadata,
            metadata_servers: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The namespaces' plumbing, when this host has it.
    fn host(&self) -> Option<&HostNetwork> {
        match &self.mode {
            Mode::Namespaces(host) => Some(host),
            Mode::User(_) | Mode::Off => None,
        }
    }

    /// The NICs a VM of `instance_id` gets (none without a data path).
    pub async fn nic_specs(&self, instance_id: &str) -> Result<Vec<NicSpec>> {
        let interfaces = match &self.mode {
            Mode::Off => return Ok(Vec::new()),
            _ => self.store.interfaces_of_instances(&[instance_id.to_string()]).await?,
        };
        let mut specs = Vec::new();
        for n in &interfaces {
            let backend = match &self.mode {
                Mode::Namespaces(host) => NicBackend::Tap { name: host.tap_name(&n.network_interface_id) },
                Mode::User(naming) => self.user_mode(naming, n).await?,
                Mode::Off => continue,
            };
            specs.push(NicSpec { nic_id: n.network_interface_id.clone(), mac: n.mac.clone(), backend });
        }
        Ok(specs)
    }

    /// A NIC on QEMU's user-mode network: its vSwitch's block, its address by DHCP, and its
    /// public address forwarding the TCP ports its rules open to the host now.
    async fn user_mode(&self, naming: &HostNetwork, n: &NetworkInterfaceRecord) -> Result<NicBackend> {
        let vswitches = self.store.vswitches_in_vpc(&n.vpc_id).await?;
        let interfaces = self.store.interfaces_in_vpc(&n.vpc_id).await?;
        let vpc = self.desired(naming, &n.vpc_id, &vswitches, &interfaces).await?;
        let block: Ipv4Net = vswitches
            .iter()
            .find(|v| v.vswitch_id == n.vswitch_id)
            .ok_or_else(|| Error::internal(format!("the vSwitch of {} is gone", n.network_interface_id)))?
            .cidr_block
            .parse()
            .map_err(Error::internal)?;
        let nic = nic_net(naming, n)?;
        let tcp_ports = if n.public_ip.is_empty() {
            Vec::new()
        } else {
            ecslab_net::filter::open_ports(&vpc, &nic, Ipv4Addr::LOCALHOST).into_iter().collect()
        };
        Ok(NicBackend::User {
            net: block.to_string(),
            gateway: gateway_of(&block).to_string(),
            // The second-last address: reserved by ECS, so no guest has it.
            dns: Ipv4Addr::from(u32::from(block.broadcast()).saturating_sub(1)).to_string(),
            dhcp_start: n.private_ip.clone(),
            host_ip: n.public_ip.clone(),
            tcp_ports,
        })
    }

    /// Every instance's traffic so far, by instance id: instances with a NIC in a namespace this host has
    /// (none in user mode, where QEMU's own network keeps no count ecslab can read). A VPC whose counters
    /// cannot be read is logged and left out.
    pub async fn traffic(&self) -> HashMap<String, InstanceTraffic> {
        let Some(host) = self.host().cloned() else { return HashMap::new() };
        let interfaces = match self.store.all_interfaces().await {
            Ok(interfaces) => interfaces,
            Err(e) => {
                tracing::warn!(error = %e, "reading the network interfaces for their traffic failed");
                return HashMap::new();
            }
        };
        let present: BTreeSet<String> = host.vpcs().into_iter().collect();
        let mut taps: HashMap<String, GuestBytes> = HashMap::new();
        for vpc_id in vpcs_of(&interfaces).into_iter().filter(|id| present.contains(id)) {
            let reader = host.clone();
            let id = vpc_id.clone();
            match blocking(move || host_call(reader.tap_bytes(&id))).await {
                Ok(found) => taps.extend(found),
                Err(e) => tracing::debug!(vpc_id, error = %e.detail(), "no traffic counters"),
            }
        }
        let proxies = self.proxies.lock().await;
        let mut traffic: HashMap<String, InstanceTraffic> = HashMap::new();
        for n in interfaces.iter().filter(|n| !n.instance_id.is_empty()) {
            let Some(nic) = taps.get(&host.tap_name(&n.network_interface_id)) else { continue };
            let public =
                proxies.get(&n.network_interface_id).map(|(_, p)| p.guest_bytes()).unwrap_or_default();
            let entry = traffic.entry(n.instance_id.clone()).or_default();
            entry.nic += *nic;
            entry.public += public;
        }
        traffic
    }

    /// Make the taps of an instance's NICs, before its VM starts and opens them.
    pub async fn prepare(&self, instance_id: &str) -> Result<()> {
        let Some(host) = self.host() else { return Ok(()) };
        let interfaces = self.store.interfaces_of_instances(&[instance_id.to_string()]).await?;
        for interface in interfaces {
            let nic = nic_net(host, &interface)?;
            let host = host.clone();
            blocking(move || host_call(host.prepare_tap(&nic))).await?;
        }
        Ok(())
    }

    /// Remove the taps of an instance that is being deleted (wherever they are); returns the
    /// VPCs to apply once its records are gone.
    pub async fn release(&self, instance_id: &str) -> Vec<String> {
        let Some(host) = self.host() else { return Vec::new() };
        let interfaces = self.interfaces_logged(instance_id).await;
        for interface in &interfaces {
            let removed = match nic_net(host, interface) {
                Ok(nic) => {
                    let host = host.clone();
                    blocking(move || host_call(host.remove_nic(&nic))).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = removed {
                tracing::warn!(instance_id, error = %e.detail(), "removing a NIC's tap failed");
            }
        }
        vpcs_of(&interfaces)
    }

    /// Apply the VPCs of an instance's NICs (after its VM started or stopped).
    pub async fn sync_instance(&self, instance_id: &str) {
        if self.host().is_none() {
            return;
        }
        for vpc_id in vpcs_of(&self.interfaces_logged(instance_id).await) {
            self.sync_logged(&vpc_id).await;
        }
    }

    /// An instance's interfaces for background work: none (logged) when they cannot be read.
    async fn interfaces_logged(&self, instance_id: &str) -> Vec<NetworkInterfaceRecord> {
        self.store.interfaces_of_instances(&[instance_id.to_string()]).await.unwrap_or_else(|e| {
            tracing::warn!(instance_id, error = %e, "reading an instance's network interfaces failed");
            Vec::new()
        })
    }

    /// `sync_vpc`, with a failure logged rather than returned (background callers).
    pub async fn sync_logged(&self, vpc_id: &str) {
        if let Err(e) = self.sync_vpc(vpc_id).await {
            tracing::error!(vpc_id, error = %e.detail(), "applying the VPC's network failed");
        }
    }

    /// Make a VPC's namespace match its records; remove it when no NIC is left in it.
    pub async fn sync_vpc(&self, vpc_id: &str) -> Result<()> {
        let Some(host) = self.host().cloned() else { return Ok(()) };
        let _one_at_a_time = self.applying.lock().await;
        let interfaces = self.store.interfaces_in_vpc(vpc_id).await?;
        if interfaces.is_empty() {
            self.stop_proxies(|_, vpc| vpc == vpc_id).await;
            self.stop_metadata(vpc_id).await;
            let id = vpc_id.to_string();
            if host.vpcs().contains(&id) {
                blocking(move || host_call(host.remove_vpc(&id))).await?;
                tracing::info!(vpc_id, "the VPC's last instance is gone: its network namespace is removed");
            }
            return Ok(());
        }
        let vswitches = self.store.vswitches_in_vpc(vpc_id).await?;
        let vpc = Arc::new(self.desired(&host, vpc_id, &vswitches, &interfaces).await?);
        let applied = {
            let (host, vpc) = (host.clone(), vpc.clone());
            blocking(move || host_call(host.apply(&vpc))).await?
        };
        tracing::debug!(vpc_id, ?applied, "VPC network applied");
        self.ensure_metadata(&host, vpc_id).await?;
        self.update_proxies(&host, &vpc, &interfaces).await
    }

    /// The metadata service listening in the VPC's namespace (once applied, the address is there).
    async fn ensure_metadata(&self, host: &HostNetwork, vpc_id: &str) -> Result<()> {
        let mut servers = self.metadata_servers.lock().await;
        if servers.get(vpc_id).is_some_and(|task| !task.is_finished()) {
            return Ok(());
        }
        let netns = host.netns_path(vpc_id);
        let listener = blocking(move || host_call(ecslab_net::metadata_listener(&netns))).await?;
        let task = crate::metadata::http::serve(listener, vpc_id.to_string(), self.metadata.clone());
        tracing::info!(vpc_id, "the metadata service answers at 100.100.100.200 in the VPC");
        servers.insert(vpc_id.to_string(), task);
        Ok(())
    }

    /// Stop the VPC's metadata listener and wait until its socket is closed (an open socket would keep the
    /// namespace alive).
    async fn stop_metadata(&self, vpc_id: &str) {
        let task = self.metadata_servers.lock().await.remove(vpc_id);
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// At start: apply every VPC that has NICs; remove the namespaces of VPCs without any.
    pub async fn sync_all(&self) -> Result<()> {
        let Some(host) = self.host().cloned() else { return Ok(()) };
        let mut vpcs: BTreeSet<String> =
            self.store.all_interfaces().await?.into_iter().map(|n| n.vpc_id).collect();
        vpcs.extend(host.vpcs());
        for vpc_id in vpcs {
            self.sync_logged(&vpc_id).await;
        }
        Ok(())
    }

    async fn desired(
        &self,
        host: &HostNetwork,
        vpc_id: &str,
        vswitches: &[VSwitchRecord],
        interfaces: &[NetworkInterfaceRecord],
    ) -> Result<VpcNetwork> {
        let mut group_ids: BTreeSet<String> = BTreeSet::new();
        let mut nics = Vec::new();
        for interface in interfaces {
            group_ids.extend(interface.security_group_ids.iter().cloned());
            nics.push(nic_net(host, interface)?);
        }
        let mut groups = Vec::new();
        for id in group_ids {
            let rules = self.store.security_group_rules(&id).await?;
            groups.push(GroupRules { rules: rules.iter().filter_map(rule_of).collect(), id });
        }
        let vswitches = vswitches
            .iter()
            .map(|v| {
                let cidr: Ipv4Net = v.cidr_block.parse().map_err(Error::internal)?;
                Ok(VSwitchNet { id: v.vswitch_id.clone(), gateway: gateway_of(&cidr), cidr })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(VpcNetwork { vpc_id: vpc_id.to_string(), vswitches, nics, groups })
    }

    /// Proxies for the public addresses of running instances; none for the others.
    async fn update_proxies(
        &self,
        host: &HostNetwork,
        vpc: &Arc<VpcNetwork>,
        interfaces: &[NetworkInterfaceRecord],
    ) -> Result<()> {
        let mut wanted: HashMap<String, Ipv4Addr> = HashMap::new();
        for interface in interfaces.iter().filter(|i| !i.public_ip.is_empty()) {
            let running = matches!(
                self.store.instance_by_id(&interface.instance_id).await?.map(|i| i.status),
                Some(InstanceStatus::Running | InstanceStatus::Starting)
            );
            if running {
                let ip = interface.public_ip.parse().map_err(Error::internal)?;
                wanted.insert(interface.network_interface_id.clone(), ip);
            }
        }
        self.stop_proxies(|nic, in_vpc| in_vpc == vpc.vpc_id && !wanted.contains_key(nic)).await;
        let mut proxies = self.proxies.lock().await;
        for (nic_id, public_ip) in wanted {
            match proxies.get(&nic_id) {
                Some((_, proxy)) if proxy.public_ip() == public_ip => {
                    proxy.update(vpc.clone()).await;
                }
                _ => {
                    let proxy =
                        PublicProxy::start(public_ip, host.netns_path(&vpc.vpc_id), &nic_id, vpc.clone())
                            .await;
                    let ports = proxy.ports().await;
                    tracing::info!(nic_id, %public_ip, ?ports, "public address answers");
                    proxies.insert(nic_id, (vpc.vpc_id.clone(), proxy));
                }
            }
        }
        Ok(())
    }

    /// Drop (close) the proxies `stop` picks, given their NIC and VPC.
    async fn stop_proxies(&self, stop: impl Fn(&str, &str) -> bool) {
        self.proxies.lock().await.retain(|nic, (vpc, _)| !stop(nic, vpc));
    }
}

/// The VPCs of some interfaces, each once.
fn vpcs_of(interfaces: &[NetworkInterfaceRecord]) -> Vec<String> {
    interfaces.iter().map(|n| n.vpc_id.clone()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// A NIC as the plumbing describes it.
fn nic_net(host: &HostNetwork, n: &NetworkInterfaceRecord) -> Result<NicNet> {
    Ok(NicNet {
        id: n.network_interface_id.clone(),
        tap: host.tap_name(&n.network_interface_id),
        mac: n.mac.parse::<MacAddr>().map_err(|e| Error::internal(format!("MAC {:?}: {e}", n.mac)))?,
        ip: n.private_ip.parse().map_err(|e| Error::internal(format!("address {:?}: {e}", n.private_ip)))?,
        vswitch_id: n.vswitch_id.clone(),
        groups: n.security_group_ids.clone(),
    })
}

/// A stored rule as the plumbing evaluates it (`None`: a row it cannot read, logged).
fn rule_of(r: &SecurityGroupRuleRecord) -> Option<Rule> {
    let direction = match r.direction {
        RuleDirection::Ingress => Direction::Ingress,
        RuleDirection::Egress => Direction::Egress,
    };
    let protocol = match r.ip_protocol {
        IpProtocol::Tcp => Protocol::Tcp,
        IpProtocol::Udp => Protocol::Udp,
        IpProtocol::Icmp => Protocol::Icmp,
        IpProtocol::All => Protocol::All,
    };
    let ports = match r.port_range.split_once('/') {
        Some(("-1", "-1")) => PortRange::ALL,
        Some((from, to)) => PortRange::new(from.parse().ok()?, to.parse().ok()?)?,
        None => return None,
    };
    let peer = if r.peer_group_id.is_empty() {
        Peer::Cidr(r.peer_cidr.parse().ok()?)
    } else {
        Peer::Group(r.peer_group_id.clone())
    };
    let policy = match r.policy {
        RulePolicy::Accept => Policy::Accept,
        RulePolicy::Drop => Policy::Drop,
    };
    let rule = Rule {
        direction,
        protocol,
        ports,
        peer,
        policy,
        priority: Priority::new(u8::try_from(r.priority).ok()?)?,
    };
    Some(rule)
}

/// Run blocking plumbing off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal(format!("network plumbing: {e}")))?
}

fn host_call<T>(result: std::result::Result<T, ecslab_net::NetError>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("network plumbing: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_is_a_reserved_address() {
        let block: Ipv4Net = "192.168.1.0/24".parse().unwrap();
        assert_eq!(gateway_of(&block), Ipv4Addr::new(192, 168, 1, 253));
        assert!(!crate::network::interfaces::usable_hosts(&block).any(|ip| ip == gateway_of(&block)));
    }

    #[test]
    fn stored_rules_read_as_plumbing_rules() {
        let stored = SecurityGroupRuleRecord {
            rule_id: "sgr-1".into(),
            security_group_id: "sg-1".into(),
            direction: RuleDirection::Ingress,
            ip_protocol: IpProtocol::Tcp,
            port_range: "80/80".into(),
            peer_cidr: "0.0.0.0/0".into(),
            peer_group_id: String::new(),
            policy: RulePolicy::Accept,
            priority: 1,
            description: String::new(),
            created_at: String::new(),
        };
        let rule = rule_of(&stored).unwrap();
        assert_eq!(
            (rule.direction, rule.protocol, rule.ports),
            (Direction::Ingress, Protocol::Tcp, PortRange::single(80).unwrap())
        );
        assert_eq!(rule.peer, Peer::Cidr("0.0.0.0/0".parse().unwrap()));
        let icmp =
            SecurityGroupRuleRecord { ip_protocol: IpProtocol::Icmp, port_range: "-1/-1".into(), ..stored };
        assert_eq!(rule_of(&icmp).unwrap().ports, PortRange::ALL);
    }
}
