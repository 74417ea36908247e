//! Instances on the network, as records: the primary network interface RunInstances gives each
//! instance (a vSwitch, a private address, a MAC, security groups, an optional public address),
//! JoinSecurityGroup and LeaveSecurityGroup, AllocatePublicIpAddress, DescribeNetworkInterfaces.
//!
//! What a user of ECS would expect where the API leaves a choice:
//! - Without a VSwitchId the instance goes into the account's default VPC (172.16.0.0/12), in a
//!   default vSwitch of the zone (172.16.0.0/20, the first free /20), both made on first use.
//! - Without a SecurityGroupId it joins its VPC's default group (made on first use, no rules:
//!   members reach each other, other ingress is denied, egress is allowed).
//! - The private address is the lowest free one of the vSwitch, or PrivateIpAddress, which must
//!   be inside the vSwitch and not one of its reserved addresses (the first and the last three).
//! - A public address comes with InternetMaxBandwidthOut > 0 (or AllocatePublicIpAddress), picked
//!   at random from the server's public pool (`CloudConfig::public_cidr`, by default inside
//!   127.0.0.0/8, so it never leaves the host).
//! - MACs start with 00:16:3e, as ECS's do.

use super::{cidr, Networks};
use crate::ids::new_id;
use crate::listing::{page_of, sort_key, window, Page};
use crate::requests::{InstanceNetwork, Paging};
use crate::{Error, Result};
use ecslab_store::{
    AddressRefusal, InterfaceQuery, NetworkInterfaceRecord, NetworkStatus, SecurityGroupRecord,
    SecurityGroupType, VSwitchRecord,
};
use ipnet::Ipv4Net;
use rand::Rng;
use std::net::Ipv4Addr;

/// At most this many security groups per network interface (ECS's default quota).
pub const GROUPS_PER_INTERFACE: i64 = 5;

/// The block of the default vSwitch of a zone, inside the default VPC (the first free /20).
const DEFAULT_VSWITCH_PREFIX: u8 = 20;

/// An interface decided but not stored: its record (private address empty when it is to be
/// picked) and the blocks its addresses are picked from.
#[derive(Debug, Clone)]
pub struct PlannedInterface {
    pub record: NetworkInterfaceRecord,
    vswitch_block: Ipv4Net,
    public_pool: Option<Ipv4Net>,
}

impl PlannedInterface {
    /// The lowest free, unreserved address of the vSwitch.
    pub fn pick_private(&self, taken: &[String]) -> Option<String> {
        usable_hosts(&self.vswitch_block).map(|ip| ip.to_string()).find(|ip| !taken.contains(ip))
    }

    /// A random free address of the public pool (random, so that servers sharing a host rarely
    /// try the same one), or the first free one when random tries keep missing.
    pub fn pick_public(&self, taken: &[String]) -> Option<String> {
        let pool = self.public_pool?;
        pick_public_address(&pool, taken)
    }

    /// The same decision for one instance: its own interface id, MAC and instance id.
    pub fn for_instance(&self, instance_id: &str) -> PlannedInterface {
        let mut planned = self.clone();
        planned.record.network_interface_id = new_id("eni");
        planned.record.mac = new_mac();
        planned.record.instance_id = instance_id.to_string();
        planned
    }

    pub fn wants_public(&self) -> bool {
        self.public_pool.is_some()
    }
}

/// The addresses of a block instances may have: not the network address, not the last three.
pub fn usable_hosts(block: &Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    let first = u32::from(block.network()).saturating_add(1);
    let last = u32::from(block.broadcast()).saturating_sub(3);
    (first..=last).map(Ipv4Addr::from)
}

/// A free address of `pool` (never its network or broadcast address).
pub fn pick_public_address(pool: &Ipv4Net, taken: &[String]) -> Option<String> {
    let first = u32::from(pool.network()).saturating_add(1);
    let last = u32::from(pool.broadcast()).saturating_sub(1);
    if first > last {
        return None;
    }
    let mut rng = rand::thread_rng();
    for _ in 0..64 {
        let ip = Ipv4Addr::from(rng.gen_range(first..=last)).to_string();
        if !taken.contains(&ip) {
            return Some(ip);
        }
    }
    (first..=last).map(|n| Ipv4Addr::from(n).to_string()).find(|ip| !taken.contains(ip))
}

/// A MAC in ECS's range (00:16:3e), the rest random.
fn new_mac() -> String {
    let b: [u8; 3] = rand::thread_rng().gen();
    format!("00:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// The API's answer when the addresses of a planned interface could not be had.
pub fn address_refusal(refusal: AddressRefusal, planned: &PlannedInterface) -> Error {
    match refusal {
        AddressRefusal::PrivateIpTaken => Error::rejected(
            "InvalidPrivateIpAddress.Duplicated",
            format!("Specified private IP address {} is duplicated.", planned.record.private_ip),
        ),
        AddressRefusal::NoPrivateIp => Error::rejected(
            "InvalidVSwitchId.IpNotEnough",
            format!("The specified vSwitch {} has no free IP address.", planned.record.vswitch_id),
        ),
        AddressRefusal::NoPublicIp => Error::rejected(
            "QuotaExceeded.PublicIpAddress",
            "No public IP address is left in the server's pool.",
        ),
    }
}

impl Networks {
    /// Decide the interface of a new instance: its vSwitch (or the default one), its groups (or
    /// the VPC's default one), a requested private address, a MAC. Checks every rule that needs
    /// the records; the addresses themselves are picked when the instance is stored.
    pub async fn plan_interface(
        &self,
        account_id: &str,
        instance_id: &str,
        req: &InstanceNetwork,
    ) -> Result<PlannedInterface> {
        let vswitch = match &req.vswitch_id {
            Some(id) => self.vswitch(account_id, id).await?,
            None => self.default_vswitch(account_id).await?,
        };
        let block: Ipv4Net = vswitch.cidr_block.parse().map_err(Error::internal)?;
        let mut groups = Vec::new();
        for group_id in &req.security_group_ids {
            let group = self.security_group(account_id, group_id).await?;
            if group.vpc_id != vswitch.vpc_id {
                return Err(Error::rejected(
                    "InvalidSecurityGroupId.VPCMismatch",
                    format!(
                        "The specified security group {group_id} and the specified vSwitch {} are not in the same VPC.",
                        vswitch.vswitch_id
                    ),
                ));
            }
            if !groups.contains(group_id) {
                groups.push(group_id.clone());
            }
        }
        if groups.is_empty() {
            groups.push(self.default_security_group(account_id, &vswitch.vpc_id).await?);
        }
        let private_ip = match req.private_ip {
            None => String::new(),
            Some(ip) => {
                if !usable_hosts(&block).any(|h| h == ip) {
                    return Err(Error::rejected(
                        "InvalidPrivateIpAddress.Mismatch",
                        format!(
                            "Specified private IP address {ip} is not in the CIDR block {} of virtual switch {} (or is one of its reserved addresses).",
                            vswitch.cidr_block, vswitch.vswitch_id
                        ),
                    ));
                }
                ip.to_string()
            }
        };
        Ok(PlannedInterface {
            record: NetworkInterfaceRecord {
                network_interface_id: new_id("eni"),
                account_id: account_id.to_string(),
                instance_id: instance_id.to_string(),
                vpc_id: vswitch.vpc_id.clone(),
                vswitch_id: vswitch.vswitch_id.clone(),
                zone_id: vswitch.zone_id.clone(),
                private_ip,
                mac: new_mac(),
                public_ip: String::new(),
                internet_max_bandwidth_out: i64::from(req.internet_max_bandwidth_out),
                security_group_ids: groups,
                created_at: super::created_now(),
            },
            vswitch_block: block,
            public_pool: (req.internet_max_bandwidth_out > 0).then_some(self.public_pool),
        })
    }

    /// The account's default vSwitch in this zone, inside the default VPC, made on first use.
    pub async fn default_vswitch(&self, account_id: &str) -> Result<VSwitchRecord> {
        let vpc = self.default_vpc(account_id).await?;
        for _ in 0..3 {
            if let Some(found) = self.store.default_vswitch(&vpc.vpc_id, &self.zone_id).await? {
                return Ok(found);
            }
            let vpc_block: Ipv4Net = vpc.cidr_block.parse().map_err(Error::internal)?;
            let zone_id = self.zone_id.clone();
            let candidate = VSwitchRecord {
                vswitch_id: new_id("vsw"),
                account_id: account_id.to_string(),
                vpc_id: vpc.vpc_id.clone(),
                zone_id: self.zone_id.clone(),
                name: String::new(),
                description: String::new(),
                cidr_block: String::new(),
                status: NetworkStatus::Available,
                is_default: true,
                created_at: super::created_now(),
            };
            let inserted = self
                .store
                .insert_default_vswitch(&candidate, |siblings| {
                    if siblings.iter().any(|s| s.is_default && s.zone_id == zone_id) {
                        return None;
                    }
                    let taken = siblings
                        .iter()
                        .filter_map(|s| s.cidr_block.parse::<Ipv4Net>().ok())
                        .collect::<Vec<_>>();
                    vpc_block
                        .subnets(DEFAULT_VSWITCH_PREFIX)
                        .ok()?
                        .find(|block| !taken.iter().any(|t| cidr::overlaps(t, block)))
                        .map(|block| block.to_string())
                })
                .await?;
            if let Some(vswitch) = inserted {
                return Ok(vswitch);
            }
        }
        Err(Error::rejected(
            "InvalidVSwitchId.NotFound",
            "The default VPC has no room for a default vSwitch; create a vSwitch and name it with VSwitchId.",
        ))
    }

    /// The VPC's default security group, made on first use.
    pub async fn default_security_group(&self, account_id: &str, vpc_id: &str) -> Result<String> {
        let candidate = SecurityGroupRecord {
            security_group_id: new_id("sg"),
            account_id: account_id.to_string(),
            vpc_id: vpc_id.to_string(),
            name: "default".to_string(),
            description: "Made by ecslab for instances started without a SecurityGroupId.".to_string(),
            group_type: SecurityGroupType::Normal,
            created_at: super::created_now(),
        };
        Ok(self.store.ensure_default_security_group(&candidate).await?)
    }

    /// The primary interface of an instance of this account.
    async fn interface_of(&self, account_id: &str, instance_id: &str) -> Result<NetworkInterfaceRecord> {
        crate::lookup::instance(&self.store, account_id, instance_id).await?;
        self.store.interfaces_of_instances(&[instance_id.to_string()]).await?.into_iter().next().ok_or_else(|| {
            Error::rejected(
                "InvalidInstanceId.NotInVpc",
                format!("The instance {instance_id} has no network interface (it was created before networking)."),
            )
        })
    }

    /// JoinSecurityGroup: the instance's interface joins a group of its VPC.
    pub async fn join_security_group(
        &self,
        account_id: &str,
        instance_id: &str,
        group_id: &str,
    ) -> Result<()> {
        let interface = self.interface_of(account_id, instance_id).await?;
        let group = self.security_group(account_id, group_id).await?;
        if group.vpc_id != interface.vpc_id {
            return Err(Error::rejected(
                "InvalidSecurityGroupId.VPCMismatch",
                format!("The security group {group_id} is not in the VPC of the instance {instance_id}."),
            ));
        }
        match self
            .store
            .join_security_group(&interface.network_interface_id, group_id, GROUPS_PER_INTERFACE)
            .await?
        {
            Ok(true) => {
                self.datapath.sync_logged(&interface.vpc_id).await;
                Ok(())
            }
            Ok(false) => Err(Error::rejected(
                "InvalidInstanceId.AlreadyExists",
                format!("The instance {instance_id} is already in the security group {group_id}."),
            )),
            Err(limit) => Err(Error::rejected(
                "SecurityGroupInstanceLimitExceed",
                format!("An instance can be in at most {limit} security groups."),
            )),
        }
    }

    /// LeaveSecurityGroup: the instance's interface leaves a group (never its last one).
    pub async fn leave_security_group(
        &self,
        account_id: &str,
        instance_id: &str,
        group_id: &str,
    ) -> Result<()> {
        let interface = self.interface_of(account_id, instance_id).await?;
        self.security_group(account_id, group_id).await?;
        match self.store.leave_security_group(&interface.network_interface_id, group_id).await? {
            Ok(true) => {
                self.datapath.sync_logged(&interface.vpc_id).await;
                Ok(())
            }
            Ok(false) => Err(Error::rejected(
                "InvalidSecurityGroupId.NotFound",
                format!("The instance {instance_id} is not in the security group {group_id}."),
            )),
            Err(()) => Err(Error::rejected(
                "InvalidOperation.InstanceHasOneSecurityGroup",
                "An instance must stay in at least one security group.",
            )),
        }
    }

    /// AllocatePublicIpAddress: a public address for the instance (the one it has, if any).
    pub async fn allocate_public_ip(&self, account_id: &str, instance_id: &str) -> Result<String> {
        let interface = self.interface_of(account_id, instance_id).await?;
        let pool = self.public_pool;
        let pick = move |taken: &[String]| pick_public_address(&pool, taken);
        self.store.allocate_public_ip(&interface.network_interface_id, &pick).await?.ok_or_else(|| {
            Error::rejected(
                "QuotaExceeded.PublicIpAddress",
                "No public IP address is left in the server's pool.",
            )
        })
    }

    /// DescribeNetworkInterfaces: a page of the account's interfaces.
    pub async fn describe_network_interfaces(
        &self,
        account_id: &str,
        query: &InterfaceQuery,
        paging: &Paging,
    ) -> Result<Page<NetworkInterfaceRecord>> {
        let listed = self.store.interfaces_page(account_id, query, &window(paging)?).await?;
        Ok(page_of(listed, paging, |i| sort_key(&i.created_at, &i.network_interface_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_hosts_skip_the_reserved_addresses() {
        let block: Ipv4Net = "192.168.1.0/24".parse().unwrap();
        let hosts: Vec<_> = usable_hosts(&block).collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(192, 168, 1, 252)));
        assert_eq!(hosts.len() as u64, cidr::available_addresses(&block));
        let tiny: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        assert_eq!(usable_hosts(&tiny).count(), 4);
    }

    #[test]
    fn public_addresses_are_free_pool_hosts() {
        let pool: Ipv4Net = "127.99.0.0/30".parse().unwrap();
        let first = pick_public_address(&pool, &[]).unwrap();
        assert!(["127.99.0.1", "127.99.0.2"].contains(&first.as_str()), "{first}");
        let other = pick_public_address(&pool, std::slice::from_ref(&first)).unwrap();
        assert_ne!(other, first);
        assert_eq!(pick_public_address(&pool, &[first, other]), None, "the pool is used up");
    }

    #[test]
    fn macs_are_in_ecs_range() {
        let mac = new_mac();
        assert!(mac.starts_with("00:16:3e:") && mac.len() == 17, "{mac}");
    }
}
