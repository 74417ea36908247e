//! Alibaba Cloud Resource Names: `acs:<ram-code>:<region>:<account-id>:<relative-id>`, e.g.
//! `acs:ecs:cn-hangzhou:123:instance/i-1`, and the patterns a statement's Resource names.
//!
//! Why typed: a request's ARNs are built by the server and checked once; a statement's patterns are split into
//! their five parts once at parse time, so matching is five wildcard matches, part by part. A `*` in one part never
//! reaches into the next (`acs:ecs:*:*:instance/*` cannot match a disk), while inside the relative id it spans `/`
//! (`myphotos/hangzhou/2015/*`), as in RAM's examples. The ram-code matches without regard to case (as action
//! codes do); region, account and relative id match exactly. Region and account may be empty (`acs:ram::123:user/x`).

use std::fmt;

use crate::error::IamError;
use crate::wildcard::{self, Case};

/// A concrete resource name (no wildcards are interpreted; the server builds these).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    text: String,
    /// Byte ends of service, region and account inside `text` (the relative id follows the last).
    ends: [usize; 3],
}

impl Arn {
    pub fn parse(text: &str) -> Result<Arn, IamError> {
        let parts = split(text).ok_or_else(|| IamError::InvalidArn(text.to_owned()))?;
        if parts[0].is_empty() {
            return Err(IamError::InvalidArn(text.to_owned()));
        }
        let service_end = 4 + parts[0].len();
        let region_end = service_end + 1 + parts[1].len();
        let account_end = region_end + 1 + parts[2].len();
        Ok(Arn { text: text.to_owned(), ends: [service_end, region_end, account_end] })
    }

    /// `acs:<service>:<region>:<account>:<relative>` from its parts.
    pub fn new(service: &str, region: &str, account: &str, relative: &str) -> Result<Arn, IamError> {
        Arn::parse(&format!("acs:{service}:{region}:{account}:{relative}"))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn service(&self) -> &str {
        &self.text[4..self.ends[0]]
    }
    pub fn region(&self) -> &str {
        &self.text[self.ends[0] + 1..self.ends[1]]
    }
    pub fn account(&self) -> &str {
        &self.text[self.ends[1] + 1..self.ends[2]]
    }
    pub fn relative(&self) -> &str {
        &self.text[self.ends[2] + 1..]
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One entry of a statement's Resource list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourcePattern {
    /// `"*"`: every resource.
    Any,
    /// The five parts, each a wildcard pattern.
    Parts { service: String, region: String, account: String, relative: String },
}

impl ResourcePattern {
    /// `None` when the text is neither `*` nor a five-part `acs:` name (the caller names the statement).
    pub(crate) fn parse(text: &str) -> Option<ResourcePattern> {
        if text == "*" {
            return Some(ResourcePattern::Any);
        }
        let [service, region, account, relative] = split(text)?;
        if service.is_empty() || relative.is_empty() {
            return None;
        }
        Some(ResourcePattern::Parts {
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            relative: relative.to_owned(),
        })
    }

    pub fn matches(&self, arn: &Arn) -> bool {
        match self {
            ResourcePattern::Any => true,
            ResourcePattern::Parts { service, region, account, relative } => {
                wildcard::matches(service, arn.service(), Case::Insensitive)
                    && wildcard::matches(region, arn.region(), Case::Sensitive)
                    && wildcard::matches(account, arn.account(), Case::Sensitive)
                    && wildcard::matches(relative, arn.relative(), Case::Sensitive)
            }
        }
    }
}

/// The four parts after `acs:`; the relative id keeps any further `:`.
fn split(text: &str) -> Option<[&str; 4]> {
    let rest = text.strip_prefix("acs:")?;
    let mut it = rest.splitn(4, ':');
    Some([it.next()?, it.next()?, it.next()?, it.next()?])
}

#[cfg(test)]
mod tests {
    use super::{Arn, ResourcePattern};

    #[test]
    fn parts() {
        let a = Arn::parse("acs:ecs:cn-hangzhou:123:instance/i-1").unwrap();
        assert_eq!(
            (a.service(), a.region(), a.account(), a.relative()),
            ("ecs", "cn-hangzhou", "123", "instance/i-1")
        );
        let r = Arn::parse("acs:ram::123:role/admin").unwrap();
        assert_eq!((r.region(), r.account(), r.relative()), ("", "123", "role/admin"));
        let c = Arn::parse("acs:oss:*:123:bucket/a:b").unwrap();
        assert_eq!(c.relative(), "bucket/a:b");
        for bad in ["", "*", "arn:aws:ec2:us-east-1:1:instance/i", "acs:ecs:r:1", "acs::r:1:x"] {
            assert!(Arn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_part_by_part() {
        let a = Arn::parse("acs:ecs:cn-hangzhou:123:instance/i-1").unwrap();
        for yes in [
            "*",
            "acs:ecs:*:*:*",
            "acs:ecs:*:*:instance/*",
            "acs:ecs:cn-*:123:instance/i-?",
            "acs:ECS:cn-hangzhou:123:instance/i-1",
            "acs:*:*:*:*",
        ] {
            assert!(ResourcePattern::parse(yes).unwrap().matches(&a), "{yes}");
        }
        for no in [
            "acs:ecs:*:*:disk/*",
            "acs:ecs:*:456:*",
            "acs:ecs:cn-beijing:*:*",
            "acs:vpc:*:*:*",
            "acs:ecs:*:*:Instance/*",
            "acs:ecs:*:*:instance/i-?2",
        ] {
            assert!(!ResourcePattern::parse(no).unwrap().matches(&a), "{no}");
        }
        // A star stays inside its part: a short pattern is refused rather than spanning parts.
        for bad in ["acs:ecs:*", "acs:ecs:*:*", "acs:ecs:*:*:", "ecs:*:*:*:*", "instance/*"] {
            assert!(ResourcePattern::parse(bad).is_none(), "{bad}");
        }
    }
}
