//! The request as the evaluator sees it: who calls (root account, RAM user, assumed-role session), in which
//! account, which action on which resources, and the values of the condition keys.
//!
//! Why typed values: the common keys have types (acs:SourceIp an address, acs:CurrentTime a time,
//! acs:SecureTransport a boolean), so the API layer sets them as such once per request and no condition has to
//! guess. Condition key names are matched without regard to case, except the part after a `/` (a tag key is
//! case-sensitive on ECS).
//!
//! Tags: `acs:ResourceTag/K` is the tag K of the resource being checked, `acs:RequestTag/K` the tag K the
//! request carries (RunInstances' Tag.N), and `<ram-code>:tag/K` (ECS's `ecs:tag/K`) is the resource's tag K
//! when it has one, else the request's.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::action::Action;
use crate::arn::Arn;

/// A condition key, normalised: the part before the first `/` lower-cased, the rest as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConditionKey(String);

impl ConditionKey {
    /// `None` unless the key is `<prefix>:<name>` with both parts non-empty.
    pub fn parse(key: &str) -> Option<ConditionKey> {
        let (head, tail) = match key.find('/') {
            Some(i) => (&key[..i], &key[i..]),
            None => (key, ""),
        };
        let (prefix, name) = head.split_once(':')?;
        if prefix.is_empty() || name.is_empty() || name.contains(':') || tail == "/" {
            return None;
        }
        Some(ConditionKey(format!("{}{}", head.to_ascii_lowercase(), tail)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the key may read a resource's tags (`acs:ResourceTag/K`, `<ram-code>:tag/K`): only then does the
    /// API layer need to look the resources' tags up.
    pub fn reads_resource_tags(&self) -> bool {
        matches!(self.tag(), Some((TagSource::Resource | TagSource::ResourceThenRequest, _)))
    }

    /// The tag key of a tag condition key, with which kind of tag it names.
    fn tag(&self) -> Option<(TagSource, &str)> {
        let (head, tag) = self.0.split_once('/')?;
        match head {
            "acs:resourcetag" => Some((TagSource::Resource, tag)),
            "acs:requesttag" => Some((TagSource::Request, tag)),
            _ if head.ends_with(":tag") => Some((TagSource::ResourceThenRequest, tag)),
            _ => None,
        }
    }
}

impl fmt::Display for ConditionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagSource {
    Resource,
    Request,
    ResourceThenRequest,
}

/// The well-known keys the API layer sets on every request.
pub mod keys {
    pub const SOURCE_IP: &str = "acs:SourceIp";
    pub const CURRENT_TIME: &str = "acs:CurrentTime";
    pub const SECURE_TRANSPORT: &str = "acs:SecureTransport";
}

/// The value of a condition key in a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    Str(String),
    Ip(IpAddr),
    Time(DateTime<Utc>),
    Bool(bool),
    Number(f64),
}

/// Who signed the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account's root key: passes every check inside its own account.
    Root,
    /// A RAM user of the account.
    RamUser { user_id: String, user_name: String },
    /// An STS session of a role of the account.
    AssumedRole { role_name: String, session_name: String },
}

/// A resource the request acts on, with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub arn: Arn,
    pub tags: Vec<(String, String)>,
}

impl Resource {
    pub fn new(arn: Arn) -> Resource {
        Resource { arn, tags: Vec::new() }
    }

    pub fn with_tag(mut self, key: &str, value: &str) -> Resource {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Everything the evaluator needs to know about one request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub account_id: String,
    pub caller: Caller,
    pub action: Action,
    /// The resources acted on; the request is allowed only when every one is. Empty means an action without
    /// resource-level permission: it is checked against the account-wide `acs:<ram-code>:*:<account>:*`.
    pub resources: Vec<Resource>,
    values: HashMap<ConditionKey, ContextValue>,
    request_tags: Vec<(String, String)>,
}

impl RequestContext {
    pub fn new(account_id: &str, caller: Caller, action: Action) -> RequestContext {
        RequestContext {
            account_id: account_id.to_owned(),
            caller,
            action,
            resources: Vec::new(),
            values: HashMap::new(),
            request_tags: Vec::new(),
        }
    }

    pub fn resource(mut self, resource: Resource) -> RequestContext {
        self.resources.push(resource);
        self
    }

    pub fn source_ip(self, ip: IpAddr) -> RequestContext {
        self.value(keys::SOURCE_IP, ContextValue::Ip(ip))
    }

    pub fn current_time(self, now: DateTime<Utc>) -> RequestContext {
        self.value(keys::CURRENT_TIME, ContextValue::Time(now))
    }

    pub fn secure_transport(self, https: bool) -> RequestContext {
        self.value(keys::SECURE_TRANSPORT, ContextValue::Bool(https))
    }

    pub fn request_tag(mut self, key: &str, value: &str) -> RequestContext {
        self.request_tags.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Any other key (a product's own, e.g. `oss:Prefix`). Panics on a key that is not `<prefix>:<name>`,
    /// which is the server's mistake, not the caller's.
    pub fn value(mut self, key: &str, value: ContextValue) -> RequestContext {
        let key = ConditionKey::parse(key)
            .unwrap_or_else(|| panic!("condition key {key:?} is not <prefix>:<name>"));
        self.values.insert(key, value);
        self
    }

    /// The value of `key` while checking `resource`.
    pub(crate) fn lookup<'a>(&'a self, key: &ConditionKey, resource: &'a Resource) -> Option<Lookup<'a>> {
        if let Some((source, tag)) = key.tag() {
            let request = || self.request_tags.iter().find(|(k, _)| k == tag).map(|(_, v)| v.as_str());
            let found = match source {
                TagSource::Resource => resource.tag(tag),
                TagSource::Request => request(),
                TagSource::ResourceThenRequest => resource.tag(tag).or_else(request),
            };
            return found.map(Lookup::Tag);
        }
        self.values.get(key).map(Lookup::Value)
    }
}

/// A looked-up value: a tag (always a string) or a typed context value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup<'a> {
    Tag(&'a str),
    Value(&'a ContextValue),
}

#[cfg(test)]
mod tests {
    use super::ConditionKey;

    #[test]
    fn keys_fold_case_before_the_slash_only() {
        assert_eq!(ConditionKey::parse("acs:SourceIp"), ConditionKey::parse("ACS:sourceip"));
        assert_eq!(ConditionKey::parse("ecs:tag/Team").unwrap().as_str(), "ecs:tag/Team");
        assert_ne!(ConditionKey::parse("ecs:tag/Team"), ConditionKey::parse("ecs:tag/team"));
        for bad in ["SourceIp", ":x", "acs:", "acs:a:b", "ecs:tag/"] {
            assert!(ConditionKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_resource_tag_keys_read_resource_tags() {
        let reads = |k: &str| ConditionKey::parse(k).unwrap().reads_resource_tags();
        assert!(reads("ecs:tag/team"));
        assert!(reads("acs:ResourceTag/team"));
        assert!(!reads("acs:RequestTag/team"));
        assert!(!reads("acs:SourceIp"));
    }

    #[test]
    fn a_document_reads_resource_tags_when_a_condition_names_one() {
        use crate::PolicyDocument;
        let with = |condition: &str| {
            PolicyDocument::parse(&format!(
                r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"ecs:*","Resource":"*"{condition}}}]}}"#
            ))
            .unwrap()
            .reads_resource_tags()
        };
        assert!(!with(""));
        assert!(with(r#","Condition":{"StringEquals":{"ecs:tag/team":"a"}}"#));
        assert!(!with(r#","Condition":{"IpAddress":{"acs:SourceIp":"127.0.0.0/8"}}"#));
    }
}
