//! Security groups: the typed rule model, a pure evaluator and the nftables table rendered from the same model.
//!
//! Why one module: the kernel enforces what `render` writes (`table inet ecslab` in the VPC namespace) and user
//! space enforces what `decide` answers (the public-address proxy, whose connections start inside the namespace and
//! so never cross the forward hook). Both walk the rules in the one order `ordered_rules` gives, so they cannot
//! disagree on priority, on drop-before-accept, or on the defaults; the tests use `decide` as the oracle for what
//! the kernel must do.
//!
//! Semantics (ECS's): a NIC's rules are the union of its groups' rules. They are tried by `Priority` (1 first); at
//! equal priority a drop rule is tried before an accept rule; the first match decides. When no rule matches,
//! ingress is accepted only from a member of one of the NIC's groups (default same-group accept) and egress is
//! accepted. Conntrack makes it stateful: replies of an accepted flow pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::{NicNet, VpcNetwork, METADATA_ADDR, METADATA_PORT};

/// Which way a rule looks: ingress rules match the source of packets to the NIC, egress rules the destination of
/// packets from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

/// IpProtocol of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

/// An inclusive destination port range (`22/22`, `1/65535`). Ignored for ICMP and ALL rules, as on ECS (`-1/-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    start: u16,
    end: u16,
}

impl PortRange {
    /// Every port.
    pub const ALL: PortRange = PortRange { start: 1, end: 65535 };

    /// `start..=end`; None when empty or when it names port 0.
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start >= 1 && start <= end).then_some(PortRange { start, end })
    }

    pub fn single(port: u16) -> Option<Self> {
        Self::new(port, port)
    }

    pub fn start(&self) -> u16 {
        self.start
    }

    pub fn end(&self) -> u16 {
        self.end
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    /// How many ports it holds.
    pub fn len(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Never true (a range holds at least one port); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    /// nftables' spelling: `80` or `1000-2000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Who is on the other side: a CIDR (SourceCidrIp / DestCidrIp) or the members of a group (SourceGroupId).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    Cidr(Ipv4Net),
    Group(String),
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    Accept,
    Drop,
}

/// Rule priority, 1 (tried first) ..= 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    /// ECS's default priority.
    pub const DEFAULT: Priority = Priority(1);

    pub fn new(value: u8) -> Option<Self> {
        (1..=100).contains(&value).then_some(Priority(value))
    }

    pub fn get(&self) -> u8 {
        self.0
    }
}

/// One security-group rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: PortRange,
    pub peer: Peer,
    pub policy: Policy,
    pub priority: Priority,
}

/// The transport part of a packet the evaluator looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp { dport: u16 },
    Udp { dport: u16 },
    Icmp,
}

/// The first packet of a flow, as the evaluator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub l4: L4,
}

/// The answer for a new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

impl Rule {
    fn matches_l4(&self, l4: L4) -> bool {
        match (self.protocol, l4) {
            (Protocol::All, _) => true,
            (Protocol::Icmp, L4::Icmp) => true,
            (Protocol::Tcp, L4::Tcp { dport }) | (Protocol::Udp, L4::Udp { dport }) => {
                self.ports.contains(dport)
            }
            _ => false,
        }
    }

    fn matches_peer(&self, vpc: &VpcNetwork, peer: Ipv4Addr) -> bool {
        match &self.peer {
            Peer::Cidr(net) => net.contains(&peer),
            Peer::Group(id) => group_members(vpc, id).contains(&peer),
        }
    }
}

/// The private addresses of the NICs of `vpc` that are members of `group`.
pub fn group_members(vpc: &VpcNetwork, group: &str) -> BTreeSet<Ipv4Addr> {
    vpc.nics.iter().filter(|n| n.groups.iter().any(|g| g == group)).map(|n| n.ip).collect()
}

/// The rules that apply to `nic` in `direction`, in the order they are tried: priority, then drop before accept,
/// then the order of the NIC's groups and of each group's rules.
pub fn ordered_rules<'a>(vpc: &'a VpcNetwork, nic: &NicNet, direction: Direction) -> Vec<&'a Rule> {
    let mut seen = BTreeSet::new();
    let mut rules: Vec<&Rule> = nic
        .groups
        .iter()
        .filter(|g| seen.insert(g.as_str()))
        .filter_map(|g| vpc.groups.iter().find(|gr| &gr.id == g))
        .flat_map(|g| g.rules.iter())
        .filter(|r| r.direction == direction)
        .collect();
    rules.sort_by_key(|r| (r.priority, r.policy != Policy::Drop));
    rules
}

fn same_group(vpc: &VpcNetwork, nic: &NicNet, peer: Ipv4Addr) -> bool {
    vpc.nics.iter().any(|other| other.ip == peer && other.groups.iter().any(|g| nic.groups.contains(g)))
}

/// What `nic`'s security groups say about `packet` in `direction` (ingress: a packet to the NIC, matched on its
/// source; egress: a packet from it, matched on its destination).
pub fn decide(vpc: &VpcNetwork, nic: &NicNet, direction: Direction, packet: &Packet) -> Verdict {
    let peer = match direction {
        Direction::Ingress => packet.src,
        Direction::Egress => packet.dst,
    };
    for rule in ordered_rules(vpc, nic, direction) {
        if rule.matches_l4(packet.l4) && rule.matches_peer(vpc, peer) {
            return match rule.policy {
                Policy::Accept => Verdict::Accept,
                Policy::Drop => Verdict::Drop,
            };
        }
    }
    match direction {
        Direction::Egress => Verdict::Accept,
        Direction::Ingress if same_group(vpc, nic, peer) => Verdict::Accept,
        Direction::Ingress => Verdict::Drop,
    }
}

/// A new flow between two NICs of `vpc` (what the forward chain decides): the sender's egress, then the
/// receiver's ingress. A destination that is no NIC of the VPC is dropped (it has no route either).
pub fn decide_flow(vpc: &VpcNetwork, packet: &Packet) -> Verdict {
    if let Some(src) = vpc.nics.iter().find(|n| n.ip == packet.src) {
        if decide(vpc, src, Direction::Egress, packet) == Verdict::Drop {
            return Verdict::Drop;
        }
    }
    match vpc.nics.iter().find(|n| n.ip == packet.dst) {
        Some(dst) => decide(vpc, dst, Direction::Ingress, packet),
        None => Verdict::Drop,
    }
}

/// The widest port range the public-address proxy listens on port by port; wider ranges (ALL, `1/65535`) are
/// reached only through their ports that a narrower rule also names.
pub const MAX_LISTEN_RANGE: u32 = 1024;

/// The TCP ports of `nic` that a client at `from` may open (the public-address proxy's listening set): ports named
/// by accept ingress rules (TCP, or ALL with an explicit range) whose CIDR covers `from`, each confirmed by `decide`
/// so that a higher-priority drop closes it.
pub fn open_ports(vpc: &VpcNetwork, nic: &NicNet, from: Ipv4Addr) -> BTreeSet<u16> {
    let mut candidates = BTreeSet::new();
    for rule in ordered_rules(vpc, nic, Direction::Ingress) {
        let covers = matches!(&rule.peer, Peer::Cidr(net) if net.contains(&from));
        let tcp = matches!(rule.protocol, Protocol::Tcp | Protocol::All);
        if rule.policy == Policy::Accept && covers && tcp && rule.ports.len() <= MAX_LISTEN_RANGE {
            candidates.extend(rule.ports.start()..=rule.ports.end());
        }
    }
    candidates
        .into_iter()
        .filter(|&dport| {
            let packet = Packet { src: from, dst: nic.ip, l4: L4::Tcp { dport } };
            decide(vpc, nic, Direction::Ingress, &packet) == Verdict::Accept
        })
        .collect()
}

/// The nftables transaction that replaces `table inet ecslab` of the VPC's namespace atomically (`nft -f -`):
/// declare, delete, recreate, in one transaction, so there is never a moment without the table.
///
/// Layout: `input` (the namespace itself: DHCP from guests, ICMP to the gateways, each NIC's own requests to the
/// metadata service, replies), `forward` (policy
/// drop: established/related accepted, then the sender's `out_N` chain by `iifname`, then the receiver's `in_N`
/// chain by `oifname`), one set `gN` of member addresses per group. Egress chains end flows with `drop` or let them
/// on with `return`; ingress chains end with the same-group accept and a final `drop`.
pub fn render(vpc: &VpcNetwork) -> String {
    // Group ids in order of first mention; nft names the sets by index, so ids never reach nft syntax.
    let mut mentioned: Vec<&str> = Vec::new();
    for g in &vpc.groups {
        mentioned.push(&g.id);
        mentioned.extend(g.rules.iter().filter_map(|r| match &r.peer {
            Peer::Group(id) => Some(id.as_str()),
            Peer::Cidr(_) => None,
        }));
    }
    mentioned.extend(vpc.nics.iter().flat_map(|n| n.groups.iter().map(String::as_str)));
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for id in mentioned {
        let next = groups.len();
        groups.entry(id).or_insert(next);
    }
    let set_of = |id: &str| groups.get(id).copied().unwrap_or_default();

    let mut s = String::new();
    s.push_str("table inet ecslab\ndelete table inet ecslab\ntable inet ecslab {\n");
    for (id, idx) in &groups {
        let members = group_members(vpc, id);
        let _ = writeln!(s, "  set g{idx} {{ # {}", comment(id));
        s.push_str("    type ipv4_addr\n");
        if !members.is_empty() {
            let list: Vec<String> = members.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(s, "    elements = {{ {} }}", list.join(", "));
        }
        s.push_str("  }\n");
    }
    s.push_str(concat!(
        "  chain input {\n",
        "    type filter hook input priority filter; policy drop;\n",
        "    ct state established,related accept\n",
        "    iifname \"lo\" accept\n",
        "    udp sport 68 udp dport 67 accept\n",
        "    icmp type echo-request accept\n",
    ));
    // The metadata service answers each NIC from its own tap and its own address only: a guest that forges
    // another's address is dropped here, so the source address names the asker.
    for nic in &vpc.nics {
        let _ = writeln!(
            s,
            "    iifname \"{}\" ip saddr {} ip daddr {METADATA_ADDR} tcp dport {METADATA_PORT} accept",
            nic.tap, nic.ip
        );
    }
    s.push_str(concat!(
        "  }\n",
        "  chain forward {\n",
        "    type filter hook forward priority filter; policy drop;\n",
        "    ct state established,related accept\n",
        "    ct state invalid drop\n",
    ));
    for (i, nic) in vpc.nics.iter().enumerate() {
        let _ = writeln!(s, "    iifname \"{}\" jump out_{i}", nic.tap);
    }
    for (i, nic) in vpc.nics.iter().enumerate() {
        let _ = writeln!(s, "    oifname \"{}\" jump in_{i}", nic.tap);
    }
    s.push_str("  }\n");
    for (i, nic) in vpc.nics.iter().enumerate() {
        let _ = writeln!(s, "  chain out_{i} {{ # egress of {}", comment(&nic.id));
        // No forged source addresses between guests.
        let _ = writeln!(s, "    ip saddr != {} drop", nic.ip);
        for rule in ordered_rules(vpc, nic, Direction::Egress) {
            let _ = writeln!(s, "    {}", render_rule(rule, Direction::Egress, &set_of));
        }
        s.push_str("    return\n  }\n");
        let _ = writeln!(s, "  chain in_{i} {{ # ingress of {}", comment(&nic.id));
        for rule in ordered_rules(vpc, nic, Direction::Ingress) {
            let _ = writeln!(s, "    {}", render_rule(rule, Direction::Ingress, &set_of));
        }
        let mut own: Vec<usize> = nic.groups.iter().map(|g| set_of(g)).collect();
        own.sort_unstable();
        own.dedup();
        for idx in own {
            let _ = writeln!(s, "    ip saddr @g{idx} accept");
        }
        s.push_str("    drop\n  }\n");
    }
    s.push_str("}\n");
    s
}

/// One rule as an nft statement. Egress accept is `return` (the receiver's ingress chain still decides).
fn render_rule(rule: &Rule, direction: Direction, set_of: &impl Fn(&str) -> usize) -> String {
    let field = match direction {
        Direction::Ingress => "ip saddr",
        Direction::Egress => "ip daddr",
    };
    let peer = match &rule.peer {
        Peer::Cidr(net) => format!("{field} {}", net.trunc()),
        Peer::Group(id) => format!("{field} @g{}", set_of(id)),
    };
    let l4 = match rule.protocol {
        Protocol::Tcp => format!(" tcp dport {}", rule.ports),
        Protocol::Udp => format!(" udp dport {}", rule.ports),
        Protocol::Icmp => " meta l4proto icmp".to_string(),
        Protocol::All => String::new(),
    };
    let verdict = match (rule.policy, direction) {
        (Policy::Drop, _) => "drop",
        (Policy::Accept, Direction::Ingress) => "accept",
        (Policy::Accept, Direction::Egress) => "return",
    };
    format!("{peer}{l4} {verdict} # priority {}", rule.priority.get())
}

/// Text safe inside an nft `#` comment (one line).
fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GroupRules, MacAddr, VSwitchNet};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn rule(
        direction: Direction,
        protocol: Protocol,
        ports: (u16, u16),
        peer: Peer,
        policy: Policy,
        prio: u8,
    ) -> Rule {
        Rule {
            direction,
            protocol,
            ports: PortRange::new(ports.0, ports.1).unwrap(),
            peer,
            policy,
            priority: Priority::new(prio).unwrap(),
        }
    }

    fn cidr(s: &str) -> Peer {
        Peer::Cidr(s.parse().unwrap())
    }

    fn nic(id: &str, ip_: &str, groups: &[&str]) -> NicNet {
        NicNet {
            id: id.into(),
            tap: format!("t{id}"),
            mac: MacAddr([0x52, 0x54, 0, 0, 0, ip(ip_).octets()[3]]),
            ip: ip(ip_),
            vswitch_id: "vsw".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// a, b in sg-web; c in sg-db; d in sg-web and sg-db.
    fn vpc(web: Vec<Rule>, db: Vec<Rule>) -> VpcNetwork {
        VpcNetwork {
            vpc_id: "vpc-1".into(),
            vswitches: vec![VSwitchNet {
                id: "vsw".into(),
                cidr: "10.0.0.0/24".parse().unwrap(),
                gateway: ip("10.0.0.253"),
            }],
            nics: vec![
                nic("a", "10.0.0.1", &["sg-web"]),
                nic("b", "10.0.0.2", &["sg-web"]),
                nic("c", "10.0.0.3", &["sg-db"]),
                nic("d", "10.0.0.4", &["sg-web", "sg-db"]),
            ],
            groups: vec![
                GroupRules { id: "sg-web".into(), rules: web },
                GroupRules { id: "sg-db".into(), rules: db },
            ],
        }
    }

    fn tcp(src: &str, dst: &str, dport: u16) -> Packet {
        Packet { src: ip(src), dst: ip(dst), l4: L4::Tcp { dport } }
    }

    use Direction::{Egress, Ingress};
    use Policy::{Accept, Drop};
    use Protocol::{All, Icmp, Tcp, Udp};

    #[test]
    fn decide_follows_defaults_priorities_and_drop_first() {
        let any = || cidr("0.0.0.0/0");
        // (name, sg-web rules, sg-db rules, packet, expected flow verdict)
        type Case = (&'static str, Vec<Rule>, Vec<Rule>, Packet, Verdict);
        let cases: Vec<Case> = vec![
            ("same group by default", vec![], vec![], tcp("10.0.0.1", "10.0.0.2", 80), Verdict::Accept),
            ("other group denied by default", vec![], vec![], tcp("10.0.0.3", "10.0.0.1", 80), Verdict::Drop),
            ("shared group counts", vec![], vec![], tcp("10.0.0.3", "10.0.0.4", 22), Verdict::Accept),
            (
                "cidr accept opens a port",
                vec![rule(Ingress, Tcp, (80, 80), any(), Accept, 1)],
                vec![],
                tcp("10.0.0.3", "10.0.0.1", 80),
                Verdict::Accept,
            ),
            (
                "but not another port",
                vec![rule(Ingress, Tcp, (80, 80), any(), Accept, 1)],
                vec![],
                tcp("10.0.0.3", "10.0.0.1", 81),
                Verdict::Drop,
            ),
            (
                "drop beats accept at equal priority",
                vec![
                    rule(Ingress, Tcp, (80, 80), any(), Accept, 5),
                    rule(Ingress, All, (1, 65535), any(), Drop, 5),
                ],
                vec![],
                tcp("10.0.0.3", "10.0.0.1", 80),
                Verdict::Drop,
            ),
            (
                "higher priority accept beats drop",
                vec![
                    rule(Ingress, Tcp, (80, 80), any(), Accept, 4),
                    rule(Ingress, All, (1, 65535), any(), Drop, 5),
                ],
                vec![],
                tcp("10.0.0.3", "10.0.0.1", 80),
                Verdict::Accept,
            ),
            (
                "explicit drop beats the same-group default",
                vec![rule(Ingress, Tcp, (80, 80), cidr("10.0.0.0/24"), Drop, 100)],
                vec![],
                tcp("10.0.0.2", "10.0.0.1", 80),
                Verdict::Drop,
            ),
            (
                "group peer",
                vec![rule(Ingress, Tcp, (5432, 5432), Peer::Group("sg-db".into()), Accept, 1)],
                vec![],
                tcp("10.0.0.3", "10.0.0.1", 5432),
                Verdict::Accept,
            ),
            (
                "egress drop stops the flow",
                vec![],
                vec![rule(Egress, All, (1, 65535), cidr("10.0.0.1/32"), Drop, 1)],
                tcp("10.0.0.4", "10.0.0.1", 80),
                Verdict::Drop,
            ),
            (
                "egress drop of one port only",
                vec![],
                vec![rule(Egress, Udp, (53, 53), any(), Drop, 1)],
                tcp("10.0.0.4", "10.0.0.1", 53),
                Verdict::Accept,
            ),
            (
                "icmp rule ignores ports",
                vec![rule(Ingress, Icmp, (1, 65535), any(), Accept, 1)],
                vec![],
                Packet { src: ip("10.0.0.3"), dst: ip("10.0.0.1"), l4: L4::Icmp },
                Verdict::Accept,
            ),
            ("no such destination", vec![], vec![], tcp("10.0.0.1", "10.0.0.9", 80), Verdict::Drop),
        ];
        for (name, web, db, packet, want) in cases {
            assert_eq!(decide_flow(&vpc(web, db), &packet), want, "{name}");
        }
    }

    #[test]
    fn open_ports_follow_rules_covering_the_client() {
        let v = vpc(
            vec![
                rule(Ingress, Tcp, (80, 80), cidr("0.0.0.0/0"), Accept, 1),
                rule(Ingress, Tcp, (8000, 8002), cidr("127.0.0.0/8"), Accept, 10),
                rule(Ingress, Tcp, (8001, 8001), cidr("127.0.0.1/32"), Drop, 10),
                rule(Ingress, Tcp, (22, 22), cidr("10.0.0.0/8"), Accept, 1),
                rule(Ingress, All, (1, 65535), cidr("0.0.0.0/0"), Accept, 50),
                rule(Ingress, Udp, (53, 53), cidr("0.0.0.0/0"), Accept, 1),
            ],
            vec![],
        );
        let ports: Vec<u16> = open_ports(&v, &v.nics[0], ip("127.0.0.1")).into_iter().collect();
        assert_eq!(ports, vec![80, 8000, 8002]);
    }

    #[test]
    fn render_orders_rules_and_verdicts() {
        let v = vpc(
            vec![
                rule(Ingress, Tcp, (80, 80), cidr("0.0.0.0/0"), Accept, 5),
                rule(Ingress, Tcp, (1, 1024), cidr("192.168.0.0/16"), Drop, 5),
                rule(Ingress, Icmp, (1, 65535), Peer::Group("sg-db".into()), Accept, 1),
                rule(Egress, Udp, (53, 53), cidr("10.0.0.9/32"), Accept, 2),
            ],
            vec![],
        );
        let text = render(&v);
        assert!(text.starts_with("table inet ecslab\ndelete table inet ecslab\ntable inet ecslab {\n"));
        // Group sets: sg-web is g0 (first group), sg-db g1.
        assert!(text.contains(
            "set g0 { # sg-web\n    type ipv4_addr\n    elements = { 10.0.0.1, 10.0.0.2, 10.0.0.4 }"
        ));
        assert!(text.contains("set g1 { # sg-db\n    type ipv4_addr\n    elements = { 10.0.0.3, 10.0.0.4 }"));
        let in0 = &text[text.find("chain in_0").unwrap()..];
        let in0 = &in0[..in0.find("  }").unwrap()];
        let lines: Vec<&str> = in0.lines().skip(1).map(str::trim).collect();
        assert_eq!(
            lines,
            vec![
                "ip saddr @g1 meta l4proto icmp accept # priority 1",
                "ip saddr 192.168.0.0/16 tcp dport 1-1024 drop # priority 5",
                "ip saddr 0.0.0.0/0 tcp dport 80 accept # priority 5",
                "ip saddr @g0 accept",
                "drop",
            ]
        );
        assert!(text.contains("chain out_0 { # egress of a\n    ip saddr != 10.0.0.1 drop\n    ip daddr 10.0.0.9/32 udp dport 53 return # priority 2\n    return\n  }"));
        // Each NIC asks the metadata service from its own tap and address only.
        assert!(text
            .contains("    iifname \"ta\" ip saddr 10.0.0.1 ip daddr 100.100.100.200 tcp dport 80 accept\n"));
        assert!(text.contains("    iifname \"ta\" jump out_0\n"));
        assert!(text.contains("    oifname \"td\" jump in_3\n"));
        // c is only in sg-db: its ingress has no web rules and accepts g1 only.
        assert!(text.contains("chain in_2 { # ingress of c\n    ip saddr @g1 accept\n    drop\n  }"));
        assert!(text.contains("udp sport 68 udp dport 67 accept"));
    }

    #[test]
    fn port_range_and_priority_bounds() {
        assert!(PortRange::new(0, 1).is_none());
        assert!(PortRange::new(5, 4).is_none());
        assert_eq!(PortRange::new(22, 22).unwrap().to_string(), "22");
        assert_eq!(PortRange::ALL.to_string(), "1-65535");
        assert_eq!(PortRange::ALL.len(), 65535);
        assert!(Priority::new(0).is_none());
        assert!(Priority::new(101).is_none());
        assert_eq!(Priority::new(100).unwrap().get(), 100);
    }
}
