//! IPv4 CIDR rules of VPCs, vSwitches and security group rules, pure and table-tested, so the
//! rest of the module never does address arithmetic by hand (`ipnet` does it).
//!
//! - A VPC block has a prefix of 8 to 28 bits and must not touch 100.64.0.0/10, 224.0.0.0/4,
//!   127.0.0.0/8 or 169.254.0.0/16 (the RFC 1918 blocks and any other custom block are fine).
//! - A vSwitch block has a prefix of 16 to 29 bits, lies inside its VPC's block and overlaps no
//!   sibling vSwitch.
//! - In every vSwitch the first address and the last three are reserved, so a /24 offers 252.
//! - Blocks must be written canonically (no host bits set): the service keeps what it is told,
//!   and `10.0.0.1/8` would be a different-looking block than the one in force.

use crate::{Error, Result};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Blocks no VPC may use or overlap.
pub const FORBIDDEN: [&str; 4] = ["100.64.0.0/10", "224.0.0.0/4", "127.0.0.0/8", "169.254.0.0/16"];
/// Prefix lengths of a VPC block.
pub const VPC_PREFIXES: std::ops::RangeInclusive<u8> = 8..=28;
/// Prefix lengths of a vSwitch block.
pub const VSWITCH_PREFIXES: std::ops::RangeInclusive<u8> = 16..=29;
/// The first address and the last three of every vSwitch.
pub const RESERVED_PER_VSWITCH: u64 = 4;
/// The block of a VPC created without CidrBlock, and of the default VPC.
pub const DEFAULT_VPC_BLOCK: &str = "172.16.0.0/12";

fn malformed(value: &str, why: &str) -> Error {
    Error::rejected(
        "InvalidCidrBlock.Malformed",
        format!("Specified CIDR block is not valid: {value:?} {why}."),
    )
}

/// `a.b.c.d/n` with no host bits set.
fn canonical(value: &str) -> std::result::Result<Ipv4Net, &'static str> {
    let net: Ipv4Net =
        value.trim().parse().map_err(|_| "is not an IPv4 CIDR block such as 192.168.0.0/16")?;
    if net.trunc() != net {
        return Err("has host bits set (write the network address)");
    }
    Ok(net)
}

/// A VPC's CIDR block (CreateVpc, ModifyVpcAttribute).
pub fn vpc_block(value: &str) -> Result<Ipv4Net> {
    let net = canonical(value).map_err(|why| malformed(value, why))?;
    if !VPC_PREFIXES.contains(&net.prefix_len()) {
        return Err(malformed(value, "needs a prefix of 8 to 28 bits"));
    }
    for forbidden in FORBIDDEN {
        let forbidden: Ipv4Net = forbidden.parse().expect("constant");
        if overlaps(&net, &forbidden) {
            return Err(malformed(value, &format!("overlaps {forbidden}, which no VPC may use")));
        }
    }
    Ok(net)
}

/// A vSwitch's CIDR block, judged against its VPC's and its siblings'.
pub fn vswitch_block(value: &str, vpc: &Ipv4Net, siblings: &[Ipv4Net]) -> Result<Ipv4Net> {
    let net = canonical(value).map_err(|why| malformed(value, why))?;
    if !VSWITCH_PREFIXES.contains(&net.prefix_len()) {
        return Err(Error::rejected(
            "InvalidCirdrBlock.MaskLength",
            format!("Specified CIDR block is not valid: {value} needs a prefix of 16 to 29 bits."),
        ));
    }
    if !vpc.contains(&net) {
        return Err(Error::invalid(
            "CidrBlock",
            format!("Specified CIDR block {net} is not within the VPC's {vpc}."),
        ));
    }
    if let Some(other) = siblings.iter().find(|s| overlaps(&net, s)) {
        return Err(Error::rejected(
            "InvalidCidrBlock.Overlapped",
            format!("Specified CIDR block {net} overlapped with another vSwitch's {other}."),
        ));
    }
    Ok(net)
}

/// Whether two blocks share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Addresses of a vSwitch block that instances can use (its size minus the reserved four).
pub fn available_addresses(net: &Ipv4Net) -> u64 {
    (1u64 << (32 - u32::from(net.prefix_len()))).saturating_sub(RESERVED_PER_VSWITCH)
}

/// A security group rule's other end: an address (`10.0.0.1`, taken as /32) or a block, written
/// canonically. `code` is the action's own error code (InvalidSourceCidrIp.Malformed, …).
pub fn rule_block(value: &str, code: &'static str, name: &str) -> Result<Ipv4Net> {
    let value = value.trim();
    let net = if value.contains('/') {
        canonical(value).map_err(|why| {
            Error::rejected(code, format!("The specified parameter {name} {value:?} {why}."))
        })?
    } else {
        let addr: Ipv4Addr = value.parse().map_err(|_| {
            Error::rejected(
                code,
                format!("The specified parameter {name} {value:?} is not an IPv4 address or CIDR block."),
            )
        })?;
        Ipv4Net::new(addr, 32).expect("32 is a valid prefix")
    };
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn vpc_blocks_follow_the_documented_rules() {
        for ok in
            ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "192.168.1.0/24", "10.0.0.0/28", "47.0.0.0/16"]
        {
            assert_eq!(vpc_block(ok).unwrap(), net(ok), "{ok}");
        }
        for (bad, code) in [
            ("10.0.0.0/7", "InvalidCidrBlock.Malformed"),
            ("10.0.0.0/29", "InvalidCidrBlock.Malformed"),
            ("10.0.0.1/8", "InvalidCidrBlock.Malformed"),
            ("100.64.0.0/16", "InvalidCidrBlock.Malformed"),
            ("100.0.0.0/8", "InvalidCidrBlock.Malformed"),
            ("127.0.0.0/8", "InvalidCidrBlock.Malformed"),
            ("169.254.0.0/16", "InvalidCidrBlock.Malformed"),
            ("230.0.0.0/8", "InvalidCidrBlock.Malformed"),
            ("banana", "InvalidCidrBlock.Malformed"),
            ("10.0.0.0", "InvalidCidrBlock.Malformed"),
            ("::/0", "InvalidCidrBlock.Malformed"),
        ] {
            assert_eq!(vpc_block(bad).unwrap_err().code(), code, "{bad}");
        }
    }

    #[test]
    fn vswitch_blocks_stay_inside_and_apart() {
        let vpc = net("192.168.0.0/16");
        let siblings = [net("192.168.1.0/24"), net("192.168.8.0/21")];
        assert_eq!(vswitch_block("192.168.2.0/24", &vpc, &siblings).unwrap(), net("192.168.2.0/24"));
        assert_eq!(vswitch_block("192.168.0.0/16", &vpc, &[]).unwrap(), vpc, "the whole VPC, alone");
        let code = |s: &str| vswitch_block(s, &vpc, &siblings).unwrap_err().code();
        assert_eq!(code("192.168.1.128/25"), "InvalidCidrBlock.Overlapped");
        assert_eq!(code("192.168.0.0/20"), "InvalidCidrBlock.Overlapped", "contains a sibling");
        assert_eq!(code("10.0.0.0/24"), "InvalidParameter");
        assert_eq!(code("192.0.0.0/15"), "InvalidCirdrBlock.MaskLength");
        assert_eq!(code("192.168.3.0/30"), "InvalidCirdrBlock.MaskLength");
        assert_eq!(code("192.168.3.1/24"), "InvalidCidrBlock.Malformed");
    }

    #[test]
    fn four_addresses_of_every_vswitch_are_reserved() {
        assert_eq!(available_addresses(&net("192.168.1.0/24")), 252);
        assert_eq!(available_addresses(&net("10.0.0.0/29")), 4);
        assert_eq!(available_addresses(&net("172.16.0.0/16")), 65532);
    }

    #[test]
    fn rule_ends_take_addresses_and_blocks() {
        assert_eq!(rule_block("10.0.0.1", "C", "SourceCidrIp").unwrap(), net("10.0.0.1/32"));
        assert_eq!(rule_block("0.0.0.0/0", "C", "SourceCidrIp").unwrap(), net("0.0.0.0/0"));
        assert_eq!(rule_block("10.0.0.1/8", "C", "SourceCidrIp").unwrap_err().code(), "C");
        assert_eq!(rule_block("x", "C", "SourceCidrIp").unwrap_err().code(), "C");
    }
}
