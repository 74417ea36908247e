//! Networking's control plane (issue 11): VPCs, vSwitches and security groups as records with
//! their rules, and nothing on the wire yet (bridges, DHCP, nftables and NICs come with the data
//! path, which will read these records).
//!
//! Why a service of its own: networks share nothing with instances, disks or images but the
//! store, so [`Networks`] holds only the store and where it lives (region, zone) and never names
//! `Cloud`; the cloud owns one and hands it out (`Cloud::networks`). The rules are split by
//! resource: `cidr.rs` (address arithmetic, pure), `vpcs.rs`, `vswitches.rs`,
//! `security_groups.rs` (typed rules and their pure parsing). Every resource belongs to an
//! account, and another account's id is NotFound.

pub mod cidr;
pub mod datapath;
pub mod interfaces;
pub mod security_groups;
pub mod vpcs;
pub mod vswitches;

pub use crate::requests::InstanceNetwork;
pub use ecslab_store::{
    IpProtocol, ListedSecurityGroup, ListedVpc, NetworkStatus, RuleDirection, RulePolicy,
    SecurityGroupRecord, SecurityGroupRuleRecord, SecurityGroupType, VSwitchRecord, VpcRecord,
};
pub use interfaces::PlannedInterface;
pub use security_groups::{
    CreateSecurityGroup, PortRange, RuleEnd, RuleSpec, SecurityGroupFilter, SecurityGroupView,
};
pub use vpcs::{CreateVpc, CreatedVpc, ModifyVpc, VpcFilter};
pub use vswitches::{CreateVSwitch, VSwitchFilter};

use ecslab_store::Store;

/// A creation time as stored: UTC with microseconds, so that resources created within one second
/// list (and page) in the order they were made.
pub(crate) fn created_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A stored creation time as the APIs show it (`2026-01-01T00:00:00Z`, whole seconds).
pub fn creation_time(stored: &str) -> String {
    match stored.get(..19) {
        Some(seconds) if stored.len() > 20 => format!("{seconds}Z"),
        _ => stored.to_string(),
    }
}

/// The networking service: the actions of the VPC product and ECS's security groups.
#[derive(Debug)]
pub struct Networks {
    store: Store,
    /// The server's one region (replies name it).
    region_id: String,
    /// The region's one zone (vSwitches live in it).
    zone_id: String,
    /// Where public addresses come from (`--public-cidr`).
    public_pool: ipnet::Ipv4Net,
    /// The records made real on this host.
    datapath: std::sync::Arc<datapath::DataPath>,
}

impl Networks {
    pub(crate) fn new(
        store: Store,
        region_id: String,
        zone_id: String,
        public_pool: ipnet::Ipv4Net,
        datapath: std::sync::Arc<datapath::DataPath>,
    ) -> Networks {
        Networks { store, region_id, zone_id, public_pool, datapath }
    }

    /// The data path (instances' hooks: taps before boot, applies after).
    pub fn datapath(&self) -> &std::sync::Arc<datapath::DataPath> {
        &self.datapath
    }

    pub fn region_id(&self) -> &str {
        &self.region_id
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn creation_times_show_whole_seconds() {
        assert_eq!(super::creation_time("2026-12-06T07:17:47.123456Z"), "2026-12-06T07:17:47Z");
        assert_eq!(super::creation_time("2026-12-06T07:17:47Z"), "2026-12-06T07:17:47Z");
        let now = super::created_now();
        assert!(now.len() == 27 && now.ends_with('Z'), "{now}");
    }
}
