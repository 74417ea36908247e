//! Networking's rows: VPCs, vSwitches, security groups and their rules (issue 11's control
//! plane). Every write that depends on other rows (a vSwitch inside its VPC and beside its
//! siblings, a VPC deleted only when empty, a group deleted only when no rule names it, rules
//! naming groups that exist) reads and writes in one `BEGIN IMMEDIATE` transaction on the one
//! writer, so racing requests cannot break those rules. CIDR arithmetic is the domain's: the
//! store hands it the rows it must judge (`check` closures) inside the transaction.
//!
//! Lists are paged in SQL like DescribeInstances (`listing.rs`): the total and the page in one
//! read transaction, in list order `(created_at, id)`.

use crate::listing::{read_page, wildcard_to_glob, Clause, ListedTable};
use crate::records::decode_column;
use crate::{
    db, IpProtocol, ListedPage, NetworkStatus, PageWindow, Result, RuleDirection, RulePolicy,
    SecurityGroupType, Store, StoreError,
};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row};

mod security_groups;
mod vpcs;
mod vswitches;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcRecord {
    pub vpc_id: String,
    pub account_id: String,
    pub name: String,
    pub description: String,
    /// Canonical IPv4 CIDR.
    pub cidr_block: String,
    pub status: NetworkStatus,
    pub is_default: bool,
    pub vrouter_id: String,
    pub route_table_id: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VSwitchRecord {
    pub vswitch_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub zone_id: String,
    pub name: String,
    pub description: String,
    pub cidr_block: String,
    pub status: NetworkStatus,
    pub is_default: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRecord {
    pub security_group_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    pub group_type: SecurityGroupType,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRuleRecord {
    pub rule_id: String,
    pub security_group_id: String,
    pub direction: RuleDirection,
    pub ip_protocol: IpProtocol,
    /// `from/to`.
    pub port_range: String,
    /// A canonical CIDR, or empty when the peer is a group.
    pub peer_cidr: String,
    /// A security group id, or empty when the peer is a CIDR.
    pub peer_group_id: String,
    pub policy: RulePolicy,
    pub priority: i64,
    pub description: String,
    pub created_at: String,
}

impl SecurityGroupRuleRecord {
    /// Whether two rules are the same rule as ECS counts them: direction, protocol, ports, the
    /// other end and the policy (not the priority nor the description).
    pub fn same_rule(&self, other: &SecurityGroupRuleRecord) -> bool {
        self.direction == other.direction
            && self.ip_protocol == other.ip_protocol
            && self.port_range == other.port_range
            && self.peer_cidr == other.peer_cidr
            && self.peer_group_id == other.peer_group_id
            && self.policy == other.policy
    }
}

fn flag(r: &SqliteRow, column: &str) -> bool {
    r.get::<i64, _>(column) != 0
}

impl VpcRecord {
    fn from_row(r: &SqliteRow) -> std::result::Result<VpcRecord, StoreError> {
        let vpc_id: String = r.get("vpc_id");
        Ok(VpcRecord {
            status: decode_column(r, "status", &vpc_id)?,
            account_id: r.get("account_id"),
            name: r.get("name"),
            description: r.get("description"),
            cidr_block: r.get("cidr_block"),
            is_default: flag(r, "is_default"),
            vrouter_id: r.get("vrouter_id"),
            route_table_id: r.get("route_table_id"),
            created_at: r.get("created_at"),
            vpc_id,
        })
    }
}

impl VSwitchRecord {
    fn from_row(r: &SqliteRow) -> std::result::Result<VSwitchRecord, StoreError> {
        let vswitch_id: String = r.get("vswitch_id");
        Ok(VSwitchRecord {
            status: decode_column(r, "status", &vswitch_id)?,
            account_id: r.get("account_id"),
            vpc_id: r.get("vpc_id"),
            zone_id: r.get("zone_id"),
            name: r.get("name"),
            description: r.get("description"),
            cidr_block: r.get("cidr_block"),
            is_default: flag(r, "is_default"),
            created_at: r.get("created_at"),
            vswitch_id,
        })
    }
}

impl SecurityGroupRecord {
    fn from_row(r: &SqliteRow) -> std::result::Result<SecurityGroupRecord, StoreError> {
        let id: String = r.get("security_group_id");
        Ok(SecurityGroupRecord {
            group_type: decode_column(r, "group_type", &id)?,
            account_id: r.get("account_id"),
            vpc_id: r.get("vpc_id"),
            name: r.get("name"),
            description: r.get("description"),
            created_at: r.get("created_at"),
            security_group_id: id,
        })
    }
}

impl SecurityGroupRuleRecord {
    fn from_row(r: &SqliteRow) -> std::result::Result<SecurityGroupRuleRecord, StoreError> {
        let id: String = r.get("rule_id");
        Ok(SecurityGroupRuleRecord {
            direction: decode_column(r, "direction", &id)?,
            ip_protocol: decode_column(r, "ip_protocol", &id)?,
            policy: decode_column(r, "policy", &id)?,
            security_group_id: r.get("security_group_id"),
            port_range: r.get("port_range"),
            peer_cidr: r.get("peer_cidr"),
            peer_group_id: r.get("peer_group_id"),
            priority: r.get("priority"),
            description: r.get("description"),
            created_at: r.get("created_at"),
            rule_id: id,
        })
    }
}

/// DescribeVpcs' filter (every field narrows; `None` means any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpcQuery {
    pub vpc_ids: Option<Vec<String>>,
    pub name: Option<String>,
    pub is_default: Option<bool>,
}

/// DescribeVSwitches' filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VSwitchQuery {
    pub vswitch_ids: Option<Vec<String>>,
    pub vpc_id: Option<String>,
    pub zone_id: Option<String>,
    pub name: Option<String>,
    pub is_default: Option<bool>,
}

/// DescribeSecurityGroups' filter. `name_pattern`: `*` is any run of characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroupQuery {
    pub security_group_ids: Option<Vec<String>>,
    pub vpc_id: Option<String>,
    pub name_pattern: Option<String>,
}

/// A listed VPC with its vSwitches (ids in creation order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVpc {
    pub vpc: VpcRecord,
    pub vswitch_ids: Vec<String>,
}

/// A listed security group with its rule counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSecurityGroup {
    pub group: SecurityGroupRecord,
    pub rule_count: i64,
    /// Rules whose other end is a security group.
    pub group_rule_count: i64,
}

/// What DeleteVpc found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcDeletion {
    Deleted,
    NotFound,
    HasVSwitches(i64),
    HasSecurityGroups(i64),
}

/// What DeleteSecurityGroup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityGroupDeletion {
    Deleted,
    NotFound,
    /// Instances are in it (how many network interfaces).
    InUse(i64),
    /// Another group's rule names it (the first such group).
    ReferencedBy(String),
}

/// What deleting a vSwitch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VSwitchDeletion {
    Deleted,
    NotFound,
    /// Instances use it (how many network interfaces).
    InUse(i64),
}

/// What adding rules found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesAdded {
    /// How many rules were new (identical ones already there are not added again).
    Added(usize),
    GroupNotFound,
    /// A rule names a security group this account does not have.
    PeerNotFound(String),
    /// The group would hold more than the limit.
    TooMany {
        limit: usize,
    },
}

/// What removing rules by id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesRemoved {
    Removed(usize),
    GroupNotFound,
    /// A rule id that the group does not hold (nothing was removed).
    UnknownRule(String),
}

fn vpc_clause(account_id: &str, q: &VpcQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    if let Some(ids) = &q.vpc_ids {
        clause.and_in("vpc_id", ids);
    }
    if let Some(name) = &q.name {
        clause.and("name = ?", [name.clone()]);
    }
    if let Some(is_default) = q.is_default {
        clause.and(if is_default { "is_default = 1" } else { "is_default = 0" }, []);
    }
    clause
}

fn vswitch_clause(account_id: &str, q: &VSwitchQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    if let Some(ids) = &q.vswitch_ids {
        clause.and_in("vswitch_id", ids);
    }
    for (column, value) in [("vpc_id", &q.vpc_id), ("zone_id", &q.zone_id), ("name", &q.name)] {
        if let Some(value) = value {
            clause.and(&format!("{column} = ?"), [value.clone()]);
        }
    }
    if let Some(is_default) = q.is_default {
        clause.and(if is_default { "is_default = 1" } else { "is_default = 0" }, []);
    }
    clause
}

fn security_group_clause(account_id: &str, q: &SecurityGroupQuery) -> Clause {
    let mut clause = Clause::new(account_id);
    if let Some(ids) = &q.security_group_ids {
        clause.and_in("security_group_id", ids);
    }
    if let Some(vpc_id) = &q.vpc_id {
        clause.and("vpc_id = ?", [vpc_id.clone()]);
    }
    if let Some(pattern) = &q.name_pattern {
        clause.and("name GLOB ?", [wildcard_to_glob(pattern)]);
    }
    clause
}

/// `SELECT … WHERE column IN (ids)` arguments for a page's ids.
pub(crate) fn id_args(ids: &[String]) -> (String, SqliteArguments<'static>) {
    let mut args = SqliteArguments::default();
    for id in ids {
        let _ = args.add(id.clone());
    }
    (vec!["?"; ids.len()].join(", "), args)
}

async fn vpc_in(
    tx: &mut sqlx::SqliteConnection,
    account_id: &str,
    vpc_id: &str,
) -> Result<Option<VpcRecord>> {
    let row = sqlx::query("SELECT * FROM vpcs WHERE account_id = ? AND vpc_id = ?")
        .bind(account_id)
        .bind(vpc_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a VPC"))?;
    row.as_ref().map(VpcRecord::from_row).transpose()
}

async fn vswitches_of(tx: &mut sqlx::SqliteConnection, vpc_id: &str) -> Result<Vec<VSwitchRecord>> {
    let rows = sqlx::query("SELECT * FROM vswitches WHERE vpc_id = ? ORDER BY created_at, vswitch_id")
        .bind(vpc_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading a VPC's vSwitches"))?;
    rows.iter().map(VSwitchRecord::from_row).collect()
}

async fn group_exists(tx: &mut sqlx::SqliteConnection, account_id: &str, group_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM security_groups WHERE account_id = ? AND security_group_id = ?",
    )
    .bind(account_id)
    .bind(group_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db("reading a security group"))?;
    Ok(n > 0)
}

async fn rules_of(tx: &mut sqlx::SqliteConnection, group_id: &str) -> Result<Vec<SecurityGroupRuleRecord>> {
    let rows = sqlx::query("SELECT * FROM security_group_rules WHERE security_group_id = ? ORDER BY rowid")
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading security group rules"))?;
    rows.iter().map(SecurityGroupRuleRecord::from_row).collect()
}

/// A change of a VPC's attributes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpcChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub cidr_block: Option<String>,
}

async fn insert_vpc_row(tx: &mut sqlx::SqliteConnection, vpc: &VpcRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO vpcs (vpc_id, account_id, name, description, cidr_block, status, is_default, vrouter_id,
            route_table_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&vpc.vpc_id)
    .bind(&vpc.account_id)
    .bind(&vpc.name)
    .bind(&vpc.description)
    .bind(&vpc.cidr_block)
    .bind(vpc.status)
    .bind(vpc.is_default)
    .bind(&vpc.vrouter_id)
    .bind(&vpc.route_table_id)
    .bind(&vpc.created_at)
    .execute(&mut *tx)
    .await
    .map_err(db("inserting a VPC"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc(n: usize, account: &str) -> VpcRecord {
        VpcRecord {
            vpc_id: format!("vpc-{n:03}"),
            account_id: account.into(),
            name: format!("v{n}"),
            description: String::new(),
            cidr_block: "10.0.0.0/8".into(),
            status: NetworkStatus::Available,
            is_default: false,
            vrouter_id: format!("vrt-{n}"),
            route_table_id: format!("vtb-{n}"),
            created_at: format!("2026-01-01T00:00:{n:02}Z"),
        }
    }

    fn group(id: &str, vpc_id: &str) -> SecurityGroupRecord {
        SecurityGroupRecord {
            security_group_id: id.into(),
            account_id: "acc".into(),
            vpc_id: vpc_id.into(),
            name: id.into(),
            description: String::new(),
            group_type: SecurityGroupType::Normal,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn rule(id: &str, group_id: &str, peer_group: &str, priority: i64) -> SecurityGroupRuleRecord {
        SecurityGroupRuleRecord {
            rule_id: id.into(),
            security_group_id: group_id.into(),
            direction: RuleDirection::Ingress,
            ip_protocol: IpProtocol::Tcp,
            port_range: "22/22".into(),
            peer_cidr: if peer_group.is_empty() { "0.0.0.0/0".into() } else { String::new() },
            peer_group_id: peer_group.into(),
            policy: RulePolicy::Accept,
            priority,
            description: String::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn one_default_vpc_per_account_and_pages_in_sql() {
        let store = Store::open_in_memory().await.unwrap();
        for n in 0..12 {
            store.insert_vpc(&vpc(n, if n % 4 == 3 { "other" } else { "acc" })).await.unwrap();
        }
        let mut default = vpc(50, "acc");
        default.is_default = true;
        let first = store.ensure_default_vpc(&default).await.unwrap();
        let mut again = vpc(51, "acc");
        again.is_default = true;
        assert_eq!(store.ensure_default_vpc(&again).await.unwrap().vpc_id, first.vpc_id);
        let page = store
            .vpcs_page("acc", &VpcQuery::default(), &PageWindow::Offset { offset: 5, limit: 3 })
            .await
            .unwrap();
        assert_eq!(page.total, 10);
        assert!(page.more);
        let ids: Vec<_> = page.items.iter().map(|v| v.vpc.vpc_id.as_str()).collect();
        assert_eq!(ids, ["vpc-006", "vpc-008", "vpc-009"]);
        let defaults = store
            .vpcs_page(
                "acc",
                &VpcQuery { is_default: Some(true), ..Default::default() },
                &PageWindow::Offset { offset: 0, limit: 10 },
            )
            .await
            .unwrap();
        assert_eq!(defaults.items.len(), 1);
    }

    #[tokio::test]
    async fn deletes_wait_for_dependents() {
        let store = Store::open_in_memory().await.unwrap();
        store.insert_vpc(&vpc(1, "acc")).await.unwrap();
        assert!(store.insert_security_group(&group("sg-a", "vpc-001")).await.unwrap());
        assert!(store.insert_security_group(&group("sg-b", "vpc-001")).await.unwrap());
        assert!(!store.insert_security_group(&group("sg-c", "vpc-nope")).await.unwrap());
        assert_eq!(store.delete_vpc("acc", "vpc-001").await.unwrap(), VpcDeletion::HasSecurityGroups(2));
        assert_eq!(store.delete_vpc("other", "vpc-001").await.unwrap(), VpcDeletion::NotFound);

        // sg-a lets sg-b in: sg-b cannot go while that rule stands; a repeated rule is not added.
        let rules = [rule("sgr-1", "sg-a", "sg-b", 1), rule("sgr-2", "sg-a", "sg-b", 5)];
        assert_eq!(
            store.add_security_group_rules("acc", "sg-a", &rules, 200).await.unwrap(),
            RulesAdded::Added(1)
        );
        assert_eq!(
            store
                .add_security_group_rules("acc", "sg-a", &[rule("sgr-3", "sg-a", "sg-x", 1)], 200)
                .await
                .unwrap(),
            RulesAdded::PeerNotFound("sg-x".into())
        );
        assert_eq!(
            store.delete_security_group("acc", "sg-b").await.unwrap(),
            SecurityGroupDeletion::ReferencedBy("sg-a".into())
        );
        assert_eq!(store.remove_security_group_rules("acc", "sg-a", &rules[1..]).await.unwrap(), Some(1));
        assert_eq!(store.remove_security_group_rules("acc", "sg-a", &rules[1..]).await.unwrap(), Some(0));
        assert_eq!(store.delete_security_group("acc", "sg-b").await.unwrap(), SecurityGroupDeletion::Deleted);
        assert_eq!(store.delete_security_group("acc", "sg-a").await.unwrap(), SecurityGroupDeletion::Deleted);
        assert_eq!(store.delete_vpc("acc", "vpc-001").await.unwrap(), VpcDeletion::Deleted);
    }
}
