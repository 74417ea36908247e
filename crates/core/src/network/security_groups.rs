//! ECS security groups: a group belongs to a VPC (the account's default VPC when none is named)
//! and holds typed rules, each a direction, protocol, port range, the other end (a CIDR block or
//! another group of the same VPC), a policy and a priority.
//!
//! ECS's rules, as documented: an identical rule (direction, protocol, ports, other end, policy)
//! authorized again is accepted and not added twice; revoking rules by their fields removes the
//! matching ones and succeeds when none match; revoking by rule id fails for an unknown id
//! (InvalidParam.SecurityGroupRuleId); a group another group's rule names cannot be deleted
//! (DependencyViolation); at most 200 rules per group (AuthorizationLimitExceed).

use super::{cidr, Networks};
use crate::listing::{page_of, sort_key, window, Page};
use crate::requests::Paging;
use crate::{ids, Error, Resource, Result};
use ecslab_store::{
    IpProtocol, ListedSecurityGroup, RuleDirection, RulePolicy, RulesAdded, RulesRemoved,
    SecurityGroupDeletion, SecurityGroupQuery, SecurityGroupRecord, SecurityGroupRuleRecord,
    SecurityGroupType,
};

/// At most this many rules (both directions) per group.
pub const RULES_PER_GROUP: usize = 200;

/// CreateSecurityGroup's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSecurityGroup {
    /// None: the account's default VPC (created on first use).
    pub vpc_id: Option<String>,
    pub name: String,
    pub description: String,
    pub dry_run: bool,
}

/// DescribeSecurityGroups' filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroupFilter {
    pub security_group_ids: Option<Vec<String>>,
    pub vpc_id: Option<String>,
    /// `*` matches any run of characters.
    pub name_pattern: Option<String>,
}

/// A port range `from/to`: 1-65535 for TCP and UDP, `-1/-1` for ICMP and ALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub from: i32,
    pub to: i32,
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.from, self.to)
    }
}

/// The other end of a rule: the source of an ingress rule, the destination of an egress one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEnd {
    Cidr(ipnet::Ipv4Net),
    Group(String),
}

/// One rule, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub direction: RuleDirection,
    pub protocol: IpProtocol,
    pub ports: PortRange,
    pub end: RuleEnd,
    pub policy: RulePolicy,
    /// 1 (first) to 100.
    pub priority: i64,
    pub description: String,
}

/// A rule's fields as a request spells them (flat or `Permissions.N.*`), before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRule {
    pub ip_protocol: Option<String>,
    pub port_range: Option<String>,
    /// SourceCidrIp (ingress) or DestCidrIp (egress).
    pub cidr: Option<String>,
    /// SourceGroupId (ingress) or DestGroupId (egress).
    pub group_id: Option<String>,
    pub policy: Option<String>,
    pub priority: Option<String>,
    pub description: Option<String>,
    pub nic_type: Option<String>,
}

/// A group with its rules, for DescribeSecurityGroupAttribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupView {
    pub group: SecurityGroupRecord,
    /// Each rule with the name of the group at its other end (empty for a CIDR).
    pub rules: Vec<(SecurityGroupRuleRecord, String)>,
}

/// The protocol word, case-insensitive as ECS takes it.
pub fn protocol(value: &str) -> Result<IpProtocol> {
    match value.to_ascii_uppercase().as_str() {
        "TCP" => Ok(IpProtocol::Tcp),
        "UDP" => Ok(IpProtocol::Udp),
        "ICMP" => Ok(IpProtocol::Icmp),
        "ALL" => Ok(IpProtocol::All),
        _ => Err(Error::rejected(
            "InvalidIpProtocol.ValueNotSupported",
            format!("The parameter IpProtocol must be TCP, UDP, ICMP or ALL (case-insensitive); got {value:?} (ecslab implements no GRE or IPv6 protocols)."),
        )),
    }
}

/// `from/to` for the protocol: TCP/UDP 1-65535 with from ≤ to; ICMP and ALL only `-1/-1`.
pub fn port_range(protocol: IpProtocol, value: &str) -> Result<PortRange> {
    let malformed = |why: &str| {
        Error::rejected(
            "InvalidPortRange.Malformed",
            format!("The specified parameter PortRange {value:?} is not valid: {why}."),
        )
    };
    let (from, to) =
        value.trim().split_once('/').ok_or_else(|| malformed("write it as from/to, e.g. 22/22"))?;
    let number = |s: &str| s.trim().parse::<i32>().map_err(|_| malformed("the ports must be integers"));
    let range = PortRange { from: number(from)?, to: number(to)? };
    match protocol {
        IpProtocol::Tcp | IpProtocol::Udp => {
            if !(1..=65535).contains(&range.from) || !(1..=65535).contains(&range.to) || range.from > range.to
            {
                return Err(malformed("TCP and UDP ports are 1 to 65535, from not above to"));
            }
        }
        IpProtocol::Icmp | IpProtocol::All => {
            if range != (PortRange { from: -1, to: -1 }) {
                return Err(Error::rejected(
                    "OperationDenied",
                    format!("The specified IpProtocol does not exist or IpProtocol and PortRange do not match: {protocol} takes -1/-1, not {value}."),
                ));
            }
        }
    }
    Ok(range)
}

/// One rule from its raw fields.
pub fn rule(direction: RuleDirection, raw: &RawRule) -> Result<RuleSpec> {
    let (cidr_name, group_name, cidr_code) = match direction {
        RuleDirection::Ingress => ("SourceCidrIp", "SourceGroupId", "InvalidSourceCidrIp.Malformed"),
        RuleDirection::Egress => ("DestCidrIp", "DestGroupId", "InvalidDestCidrIp.Malformed"),
    };
    let protocol = protocol(raw.ip_protocol.as_deref().ok_or_else(|| Error::missing("IpProtocol"))?)?;
    let ports = port_range(protocol, raw.port_range.as_deref().ok_or_else(|| Error::missing("PortRange"))?)?;
    let end = match (&raw.cidr, &raw.group_id) {
        (Some(cidr), None) => RuleEnd::Cidr(cidr::rule_block(cidr, cidr_code, cidr_name)?),
        (None, Some(group)) => RuleEnd::Group(group.clone()),
        (Some(_), Some(_)) => {
            return Err(Error::invalid(cidr_name, format!("Give {cidr_name} or {group_name}, not both.")))
        }
        (None, None) => {
            let code = match direction {
                RuleDirection::Ingress => "MissingParameter.Source",
                RuleDirection::Egress => "MissingParameter.Destination",
            };
            return Err(Error::rejected(
                code,
                format!("One of the parameters {cidr_name} or {group_name} must be specified."),
            ));
        }
    };
    let policy = match raw.policy.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("accept") => RulePolicy::Accept,
        Some("drop") => RulePolicy::Drop,
        Some(other) => {
            return Err(Error::rejected(
                "InvalidPolicy.Malformed",
                format!("The specified parameter Policy {other:?} is not valid: accept or drop."),
            ))
        }
    };
    let priority = match raw.priority.as_deref() {
        None => 1,
        Some(p) => match p.trim().parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(Error::rejected(
                    "InvalidPriority.Malformed",
                    format!("The parameter Priority {p:?} is invalid: 1 to 100."),
                ))
            }
        },
    };
    match raw.nic_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("intranet") => {}
        Some(other) => {
            return Err(Error::rejected(
                "InvalidNicType.ValueNotSupported",
                format!(
                    "The specified NicType {other:?} is not valid: security groups of a VPC take intranet."
                ),
            ))
        }
    }
    let description = raw.description.clone().unwrap_or_default();
    let len = description.chars().count();
    if len > 512 || description.starts_with("http://") || description.starts_with("https://") {
        return Err(Error::rejected(
            "InvalidSecurityGroupDiscription.Malformed",
            "The specified security group rule description is not valid: at most 512 characters, not starting with http:// or https://.",
        ));
    }
    Ok(RuleSpec { direction, protocol, ports, end, policy, priority, description })
}

fn record(group_id: &str, spec: &RuleSpec, created_at: &str) -> SecurityGroupRuleRecord {
    let (peer_cidr, peer_group_id) = match &spec.end {
        RuleEnd::Cidr(net) => (net.to_string(), String::new()),
        RuleEnd::Group(id) => (String::new(), id.clone()),
    };
    SecurityGroupRuleRecord {
        rule_id: ids::new_id("sgr"),
        security_group_id: group_id.to_string(),
        direction: spec.direction,
        ip_protocol: spec.protocol,
        port_range: spec.ports.to_string(),
        peer_cidr,
        peer_group_id,
        policy: spec.policy,
        priority: spec.priority,
        description: spec.description.clone(),
        created_at: created_at.to_string(),
    }
}

impl Networks {
    pub async fn create_security_group(&self, account_id: &str, req: CreateSecurityGroup) -> Result<String> {
        let vpc_id = match &req.vpc_id {
            Some(id) => self.vpc(account_id, id).await?.vpc_id,
            None if req.dry_run => String::new(),
            None => self.default_vpc(account_id).await?.vpc_id,
        };
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        let group = SecurityGroupRecord {
            security_group_id: ids::new_id("sg"),
            account_id: account_id.to_string(),
            vpc_id: vpc_id.clone(),
            name: req.name,
            description: req.description,
            group_type: SecurityGroupType::Normal,
            created_at: super::created_now(),
        };
        if !self.store.insert_security_group(&group).await? {
            // The VPC went away between the check and the insert.
            return Err(Error::not_found(Resource::Vpc, vpc_id));
        }
        Ok(group.security_group_id)
    }

    pub async fn security_group(&self, account_id: &str, group_id: &str) -> Result<SecurityGroupRecord> {
        self.store
            .security_group(account_id, group_id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::SecurityGroup, group_id))
    }

    /// Authorize* : add rules (all of one direction); identical rules are not added twice.
    pub async fn authorize(&self, account_id: &str, group_id: &str, rules: &[RuleSpec]) -> Result<()> {
        let group = self.security_group(account_id, group_id).await?;
        for spec in rules {
            let RuleEnd::Group(peer) = &spec.end else { continue };
            let (name, code) = match spec.direction {
                RuleDirection::Ingress => ("SourceGroupId", "InvalidSourceGroupId.NotFound"),
                RuleDirection::Egress => ("DestGroupId", "InvalidDestGroupId.NotFound"),
            };
            if peer == group_id {
                return Err(Error::rejected(
                    "InvalidParamter.Conflict",
                    format!("The specified SecurityGroupId should be different from the {name}."),
                ));
            }
            let other = self.store.security_group(account_id, peer).await?.ok_or_else(|| {
                Error::rejected(code, format!("The {name} {peer} provided does not exist in our records."))
            })?;
            if other.vpc_id != group.vpc_id {
                let code = match spec.direction {
                    RuleDirection::Ingress => "InvalidSourceGroupId.Mismatch",
                    RuleDirection::Egress => "InvalidDestGroupId.Mismatch",
                };
                return Err(Error::rejected(
                    code,
                    format!("Specified security group and {name} {peer} are not in the same VPC."),
                ));
            }
        }
        let now = super::created_now();
        let records: Vec<_> = rules.iter().map(|spec| record(group_id, spec, &now)).collect();
        match self.store.add_security_group_rules(account_id, group_id, &records, RULES_PER_GROUP).await? {
            RulesAdded::Added(_) => {
                // In force when the call answers: the VPC's filters are replaced before.
                self.datapath.sync_logged(&group.vpc_id).await;
                Ok(())
            }
            RulesAdded::GroupNotFound => Err(Error::not_found(Resource::SecurityGroup, group_id)),
            // The peer went away between the check above and the write.
            RulesAdded::PeerNotFound(peer) => Err(Error::rejected(
                match rules.first().map(|r| r.direction) {
                    Some(RuleDirection::Egress) => "InvalidDestGroupId.NotFound",
                    _ => "InvalidSourceGroupId.NotFound",
                },
                format!("The security group {peer} provided does not exist in our records."),
            )),
            RulesAdded::TooMany { limit } => Err(Error::rejected(
                "AuthorizationLimitExceed",
                format!("The limit of authorization records in the security group reaches: at most {limit} rules."),
            )),
        }
    }

    /// A group's rules changed: its VPC's filters are replaced before the call answers.
    async fn rules_changed(&self, account_id: &str, group_id: &str) -> Result<()> {
        if let Some(group) = self.store.security_group(account_id, group_id).await? {
            self.datapath.sync_logged(&group.vpc_id).await;
        }
        Ok(())
    }

    /// Revoke* by fields: removes the matching rules; none matching is not an error.
    pub async fn revoke(&self, account_id: &str, group_id: &str, rules: &[RuleSpec]) -> Result<()> {
        let records: Vec<_> = rules.iter().map(|spec| record(group_id, spec, "")).collect();
        match self.store.remove_security_group_rules(account_id, group_id, &records).await? {
            Some(_) => self.rules_changed(account_id, group_id).await,
            None => Err(Error::not_found(Resource::SecurityGroup, group_id)),
        }
    }

    /// Revoke* by SecurityGroupRuleId.N: all or none.
    pub async fn revoke_by_id(
        &self,
        account_id: &str,
        group_id: &str,
        direction: RuleDirection,
        rule_ids: &[String],
    ) -> Result<()> {
        match self.store.remove_security_group_rules_by_id(account_id, group_id, direction, rule_ids).await? {
            RulesRemoved::Removed(_) => self.rules_changed(account_id, group_id).await,
            RulesRemoved::GroupNotFound => Err(Error::not_found(Resource::SecurityGroup, group_id)),
            RulesRemoved::UnknownRule(id) => Err(Error::rejected(
                "InvalidParam.SecurityGroupRuleId",
                format!("The security group rule {id} does not exist in {group_id} ({direction})."),
            )),
        }
    }

    pub async fn describe_security_groups(
        &self,
        account_id: &str,
        filter: &SecurityGroupFilter,
        paging: &Paging,
    ) -> Result<Page<ListedSecurityGroup>> {
        let query = SecurityGroupQuery {
            security_group_ids: filter.security_group_ids.clone(),
            vpc_id: filter.vpc_id.clone(),
            name_pattern: filter.name_pattern.clone(),
        };
        let listed = self.store.security_groups_page(account_id, &query, &window(paging)?).await?;
        Ok(page_of(listed, paging, |g| sort_key(&g.group.created_at, &g.group.security_group_id)))
    }

    /// A group and its rules (of one direction when given), each with its peer group's name.
    pub async fn security_group_attribute(
        &self,
        account_id: &str,
        group_id: &str,
        direction: Option<RuleDirection>,
    ) -> Result<SecurityGroupView> {
        let group = self.security_group(account_id, group_id).await?;
        let mut rules = Vec::new();
        for rule in self.store.security_group_rules(group_id).await? {
            if direction.is_some_and(|d| d != rule.direction) {
                continue;
            }
            let name = if rule.peer_group_id.is_empty() {
                String::new()
            } else {
                self.store
                    .security_group(account_id, &rule.peer_group_id)
                    .await?
                    .map(|g| g.name)
                    .unwrap_or_default()
            };
            rules.push((rule, name));
        }
        Ok(SecurityGroupView { group, rules })
    }

    pub async fn delete_security_group(&self, account_id: &str, group_id: &str) -> Result<()> {
        match self.store.delete_security_group(account_id, group_id).await? {
            SecurityGroupDeletion::Deleted => Ok(()),
            SecurityGroupDeletion::NotFound => Err(Error::not_found(Resource::SecurityGroup, group_id)),
            SecurityGroupDeletion::InUse(n) => Err(Error::rejected(
                "DependencyViolation",
                format!("There are still {n} instance network interface(s) in the specified security group."),
            )),
            SecurityGroupDeletion::ReferencedBy(other) => Err(Error::rejected(
                "DependencyViolation",
                format!("The specified security group has been authorized in another one: a rule of {other} names it."),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(protocol: &str, ports: &str, cidr: Option<&str>, group: Option<&str>) -> RawRule {
        RawRule {
            ip_protocol: Some(protocol.into()),
            port_range: Some(ports.into()),
            cidr: cidr.map(Into::into),
            group_id: group.map(Into::into),
            ..RawRule::default()
        }
    }

    #[test]
    fn protocols_are_case_insensitive_and_ports_match_them() {
        let spec = rule(RuleDirection::Ingress, &raw("tcp", "22/22", Some("0.0.0.0/0"), None)).unwrap();
        assert_eq!(
            (spec.protocol, spec.ports.to_string(), spec.policy, spec.priority),
            (IpProtocol::Tcp, "22/22".into(), RulePolicy::Accept, 1)
        );
        assert_eq!(
            rule(RuleDirection::Egress, &raw("All", "-1/-1", Some("10.0.0.0/8"), None)).unwrap().protocol,
            IpProtocol::All
        );
        assert_eq!(
            rule(RuleDirection::Ingress, &raw("icmp", "-1/-1", None, Some("sg-1"))).unwrap().end,
            RuleEnd::Group("sg-1".into())
        );
        let code = |r: RawRule| rule(RuleDirection::Ingress, &r).unwrap_err().code();
        assert_eq!(code(raw("gre", "-1/-1", Some("0.0.0.0/0"), None)), "InvalidIpProtocol.ValueNotSupported");
        assert_eq!(code(raw("icmp", "22/22", Some("0.0.0.0/0"), None)), "OperationDenied");
        assert_eq!(code(raw("tcp", "-1/-1", Some("0.0.0.0/0"), None)), "InvalidPortRange.Malformed");
        assert_eq!(code(raw("tcp", "80/22", Some("0.0.0.0/0"), None)), "InvalidPortRange.Malformed");
        assert_eq!(code(raw("tcp", "0/65536", Some("0.0.0.0/0"), None)), "InvalidPortRange.Malformed");
        assert_eq!(code(raw("tcp", "22", Some("0.0.0.0/0"), None)), "InvalidPortRange.Malformed");
        assert_eq!(code(raw("tcp", "22/22", Some("10.0.0.1/8"), None)), "InvalidSourceCidrIp.Malformed");
        assert_eq!(code(raw("tcp", "22/22", None, None)), "MissingParameter.Source");
        assert_eq!(code(raw("tcp", "22/22", Some("0.0.0.0/0"), Some("sg-1"))), "InvalidParameter");
        assert_eq!(
            code(RawRule { policy: Some("allow".into()), ..raw("tcp", "1/2", Some("0.0.0.0/0"), None) }),
            "InvalidPolicy.Malformed"
        );
        assert_eq!(
            code(RawRule { priority: Some("101".into()), ..raw("tcp", "1/2", Some("0.0.0.0/0"), None) }),
            "InvalidPriority.Malformed"
        );
        assert_eq!(
            code(RawRule { nic_type: Some("internet".into()), ..raw("tcp", "1/2", Some("0.0.0.0/0"), None) }),
            "InvalidNicType.ValueNotSupported"
        );
        assert_eq!(
            code(RawRule { ip_protocol: None, ..raw("tcp", "1/2", Some("0.0.0.0/0"), None) }),
            "MissingParameter"
        );
        let egress = rule(RuleDirection::Egress, &raw("udp", "53/53", Some("x"), None)).unwrap_err();
        assert_eq!(egress.code(), "InvalidDestCidrIp.Malformed");
    }
}
