//! vSwitches: a block of their VPC's addresses in the region's one zone (CreateVSwitch,
//! DescribeVSwitches with AvailableIpAddressCount, ModifyVSwitchAttribute, DeleteVSwitch). The
//! block is judged against the VPC and its siblings inside the writing transaction.

use super::{cidr, Networks};
use crate::listing::{page_of, sort_key, window, Page};
use crate::requests::Paging;
use crate::{ids, Error, Resource, Result};
use ecslab_store::VSwitchDeletion;
use ecslab_store::{NetworkStatus, VSwitchQuery, VSwitchRecord};

/// At most this many vSwitches per VPC (QuotaExceeded.VSwitch).
pub const VSWITCHES_PER_VPC: usize = 150;

/// CreateVSwitch's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVSwitch {
    pub vpc_id: String,
    pub zone_id: String,
    pub cidr_block: String,
    pub name: String,
    pub description: String,
}

/// DescribeVSwitches' filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VSwitchFilter {
    pub vswitch_ids: Option<Vec<String>>,
    pub vpc_id: Option<String>,
    pub zone_id: Option<String>,
    pub name: Option<String>,
    pub is_default: Option<bool>,
}

impl Networks {
    pub async fn create_vswitch(&self, account_id: &str, req: CreateVSwitch) -> Result<String> {
        if req.zone_id != self.zone_id {
            return Err(Error::rejected(
                "InvalidZoneId.NotFound",
                format!("Specified zone {:?} does not exist.", req.zone_id),
            ));
        }
        let vswitch = VSwitchRecord {
            vswitch_id: ids::new_id("vsw"),
            account_id: account_id.to_string(),
            vpc_id: req.vpc_id.clone(),
            zone_id: req.zone_id.clone(),
            name: req.name.clone(),
            description: req.description.clone(),
            // Canonical: the check below refuses any other spelling (the API trims it).
            cidr_block: req.cidr_block.clone(),
            status: NetworkStatus::Available,
            is_default: false,
            created_at: super::created_now(),
        };
        let vpc_id = req.vpc_id.clone();
        self.store
            .insert_vswitch(&vswitch, |vpc, siblings| {
                let vpc = vpc.ok_or_else(|| Error::not_found(Resource::Vpc, vpc_id))?;
                let vpc_block: ipnet::Ipv4Net = vpc.cidr_block.parse().map_err(Error::internal)?;
                let taken = siblings
                    .iter()
                    .map(|s| s.cidr_block.parse())
                    .collect::<std::result::Result<Vec<ipnet::Ipv4Net>, _>>()
                    .map_err(Error::internal)?;
                cidr::vswitch_block(&req.cidr_block, &vpc_block, &taken)?;
                if siblings.len() >= VSWITCHES_PER_VPC {
                    return Err(Error::rejected(
                        "QuotaExceeded.VSwitch",
                        format!("Virtual switch quota exceeded: a VPC holds at most {VSWITCHES_PER_VPC}."),
                    ));
                }
                Ok(())
            })
            .await??;
        Ok(vswitch.vswitch_id)
    }

    pub async fn vswitch(&self, account_id: &str, vswitch_id: &str) -> Result<VSwitchRecord> {
        self.store
            .vswitch(account_id, vswitch_id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::VSwitch, vswitch_id))
    }

    pub async fn describe_vswitches(
        &self,
        account_id: &str,
        filter: &VSwitchFilter,
        paging: &Paging,
    ) -> Result<Page<VSwitchRecord>> {
        let query = VSwitchQuery {
            vswitch_ids: filter.vswitch_ids.clone(),
            vpc_id: filter.vpc_id.clone(),
            zone_id: filter.zone_id.clone(),
            name: filter.name.clone(),
            is_default: filter.is_default,
        };
        let listed = self.store.vswitches_page(account_id, &query, &window(paging)?).await?;
        Ok(page_of(listed, paging, |v| sort_key(&v.created_at, &v.vswitch_id)))
    }

    pub async fn modify_vswitch(
        &self,
        account_id: &str,
        vswitch_id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()> {
        if self.store.update_vswitch(account_id, vswitch_id, name, description).await? {
            Ok(())
        } else {
            Err(Error::not_found(Resource::VSwitch, vswitch_id))
        }
    }

    pub async fn delete_vswitch(&self, account_id: &str, vswitch_id: &str, dry_run: bool) -> Result<()> {
        if dry_run {
            self.vswitch(account_id, vswitch_id).await?;
            return Err(Error::DryRunOperation);
        }
        match self.store.delete_vswitch(account_id, vswitch_id).await? {
            VSwitchDeletion::Deleted => Ok(()),
            VSwitchDeletion::NotFound => Err(Error::not_found(Resource::VSwitch, vswitch_id)),
            VSwitchDeletion::InUse(n) => Err(Error::rejected(
                "DependencyViolation",
                format!("The specified vSwitch still holds {n} instance network interface(s); delete the instances first."),
            )),
        }
    }
}
