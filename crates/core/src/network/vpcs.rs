//! VPCs: CreateVpc (a vRouter and a route table come with it, as ids), DescribeVpcs,
//! ModifyVpcAttribute (a new CIDR block must still hold every vSwitch), DeleteVpc (only empty),
//! and the account's default VPC, made on first use by CreateSecurityGroup without a VpcId.

use super::{cidr, Networks};
use crate::listing::{page_of, sort_key, window, Page};
use crate::requests::Paging;
use crate::{ids, Error, Resource, Result};
use ecslab_store::{ListedVpc, NetworkStatus, VpcChange, VpcDeletion, VpcQuery, VpcRecord};

/// CreateVpc's parameters, checked for form by the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVpc {
    /// None: 172.16.0.0/12, as the service does.
    pub cidr_block: Option<String>,
    pub name: String,
    pub description: String,
    pub dry_run: bool,
}

/// What CreateVpc answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedVpc {
    pub vpc_id: String,
    pub vrouter_id: String,
    pub route_table_id: String,
}

/// ModifyVpcAttribute's changes (None: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyVpc {
    pub vpc_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub cidr_block: Option<String>,
}

/// DescribeVpcs' filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpcFilter {
    pub vpc_ids: Option<Vec<String>>,
    pub name: Option<String>,
    pub is_default: Option<bool>,
}

fn new_vpc(account_id: &str, block: &str, name: &str, description: &str, is_default: bool) -> VpcRecord {
    VpcRecord {
        vpc_id: ids::new_id("vpc"),
        account_id: account_id.to_string(),
        name: name.to_string(),
        description: description.to_string(),
        cidr_block: block.to_string(),
        // Creation is synchronous: the VPC is usable when the call returns.
        status: NetworkStatus::Available,
        is_default,
        vrouter_id: ids::new_id("vrt"),
        route_table_id: ids::new_id("vtb"),
        created_at: super::created_now(),
    }
}

impl Networks {
    pub async fn create_vpc(&self, account_id: &str, req: CreateVpc) -> Result<CreatedVpc> {
        let block = cidr::vpc_block(req.cidr_block.as_deref().unwrap_or(cidr::DEFAULT_VPC_BLOCK))?;
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        let vpc = new_vpc(account_id, &block.to_string(), &req.name, &req.description, false);
        self.store.insert_vpc(&vpc).await?;
        Ok(CreatedVpc { vpc_id: vpc.vpc_id, vrouter_id: vpc.vrouter_id, route_table_id: vpc.route_table_id })
    }

    /// The account's default VPC (172.16.0.0/12), created on first use.
    pub async fn default_vpc(&self, account_id: &str) -> Result<VpcRecord> {
        let candidate = new_vpc(account_id, cidr::DEFAULT_VPC_BLOCK, "", "", true);
        Ok(self.store.ensure_default_vpc(&candidate).await?)
    }

    pub async fn vpc(&self, account_id: &str, vpc_id: &str) -> Result<VpcRecord> {
        self.store.vpc(account_id, vpc_id).await?.ok_or_else(|| Error::not_found(Resource::Vpc, vpc_id))
    }

    pub async fn describe_vpcs(
        &self,
        account_id: &str,
        filter: &VpcFilter,
        paging: &Paging,
    ) -> Result<Page<ListedVpc>> {
        let query = VpcQuery {
            vpc_ids: filter.vpc_ids.clone(),
            name: filter.name.clone(),
            is_default: filter.is_default,
        };
        let listed = self.store.vpcs_page(account_id, &query, &window(paging)?).await?;
        Ok(page_of(listed, paging, |v| sort_key(&v.vpc.created_at, &v.vpc.vpc_id)))
    }

    pub async fn modify_vpc(&self, account_id: &str, req: ModifyVpc) -> Result<()> {
        let block = req.cidr_block.as_deref().map(cidr::vpc_block).transpose()?;
        let change = VpcChange {
            name: req.name.clone(),
            description: req.description.clone(),
            cidr_block: block.map(|b| b.to_string()),
        };
        let vpc_id = req.vpc_id.clone();
        self.store
            .update_vpc(account_id, &req.vpc_id, &change, |vpc, vswitches| {
                if vpc.is_none() {
                    return Err(Error::not_found(Resource::Vpc, vpc_id));
                }
                let Some(block) = block else { return Ok(()) };
                for vsw in vswitches {
                    let net: ipnet::Ipv4Net = vsw.cidr_block.parse().map_err(Error::internal)?;
                    if !block.contains(&net) {
                        return Err(Error::rejected(
                            "InvalidCidrBlock.Malformed",
                            format!(
                                "Specified CIDR block is not valid: {block} does not hold vSwitch {} ({net}).",
                                vsw.vswitch_id
                            ),
                        ));
                    }
                }
                Ok(())
            })
            .await?
    }

    pub async fn delete_vpc(&self, account_id: &str, vpc_id: &str, dry_run: bool) -> Result<()> {
        if dry_run {
            self.vpc(account_id, vpc_id).await?;
            return Err(Error::DryRunOperation);
        }
        let dependency = |what: String| {
            Error::rejected(
                "DependencyViolation",
                format!("Specified object has dependent resources: VPC {vpc_id} {what}."),
            )
        };
        match self.store.delete_vpc(account_id, vpc_id).await? {
            VpcDeletion::Deleted => Ok(()),
            VpcDeletion::NotFound => Err(Error::not_found(Resource::Vpc, vpc_id)),
            VpcDeletion::HasVSwitches(n) => {
                Err(dependency(format!("still has {n} vSwitch(es); delete them first")))
            }
            VpcDeletion::HasSecurityGroups(n) => {
                Err(dependency(format!("still has {n} security group(s); delete them first")))
            }
        }
    }
}
