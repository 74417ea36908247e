//! Actions: what a request does (`ecs:CreateSnapshot`) and the patterns a statement's Action or NotAction names
//! (`"*"`, `ecs:Describe*`, `ecs:CreateSnapsho?`).
//!
//! Why typed: a request's action is checked once when built (`<ram-code>:<action-name>`), and a statement's
//! patterns once when the document is parsed, so evaluation only matches. RAM documents Action values as "not
//! case-sensitive in most cases": both the ram-code and the action name match ASCII case-insensitively here.

use std::fmt;

use crate::error::IamError;
use crate::wildcard::{self, Case};

/// A request's action, `<ram-code>:<action-name>` (no wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Action(String);

impl Action {
    pub fn parse(text: &str) -> Result<Action, IamError> {
        let bad = || IamError::InvalidAction(text.to_owned());
        let (service, name) = text.split_once(':').ok_or_else(bad)?;
        if !valid_code(service, false) || !valid_name(name, false) {
            return Err(bad());
        }
        Ok(Action(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ram-code (`ecs` of `ecs:CreateSnapshot`).
    pub fn service(&self) -> &str {
        self.0.split_once(':').map_or("", |(s, _)| s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a statement's Action or NotAction list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPattern {
    /// `"*"`: every action of every service.
    Any,
    /// `<ram-code>:<action-name>`, either part with `*`/`?` wildcards.
    Pattern(String),
}

impl ActionPattern {
    /// `None` when the text is neither `*` nor `<ram-code>:<action-name>` (the caller names the statement).
    pub(crate) fn parse(text: &str) -> Option<ActionPattern> {
        if text == "*" {
            return Some(ActionPattern::Any);
        }
        let (service, name) = text.split_once(':')?;
        (valid_code(service, true) && valid_name(name, true)).then(|| ActionPattern::Pattern(text.to_owned()))
    }

    pub fn matches(&self, action: &Action) -> bool {
        match self {
            ActionPattern::Any => true,
            ActionPattern::Pattern(p) => wildcard::matches(p, action.as_str(), Case::Insensitive),
        }
    }
}

/// A ram-code: letters, digits, `-` and `_` (RAM codes are lower-case words such as `ecs`, `paidsw`,
/// `resourcemanager`), plus wildcards in a pattern.
fn valid_code(code: &str, pattern: bool) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (pattern && is_wild(b)))
}

/// An action name: an API name (letters, digits, and the `-`, `_`, `.`, `/` some products use), plus wildcards
/// in a pattern.
fn valid_name(name: &str, pattern: bool) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/') || (pattern && is_wild(b))
        })
}

fn is_wild(b: u8) -> bool {
    b == b'*' || b == b'?'
}

#[cfg(test)]
mod tests {
    use super::{Action, ActionPattern};

    #[test]
    fn request_actions() {
        assert_eq!(Action::parse("ecs:CreateSnapshot").unwrap().service(), "ecs");
        assert!(Action::parse("ecs:Create*").is_err());
        assert!(Action::parse("CreateSnapshot").is_err());
        assert!(Action::parse("ecs:").is_err());
        assert!(Action::parse(":CreateSnapshot").is_err());
    }

    #[test]
    fn patterns() {
        let a = Action::parse("ecs:CreateSnapshot").unwrap();
        for yes in
            ["*", "ecs:*", "ecs:Create*", "ECS:createsnapshot", "e?s:CreateSnapsho?", "*:CreateSnapshot"]
        {
            assert!(ActionPattern::parse(yes).unwrap().matches(&a), "{yes}");
        }
        for no in ["vpc:*", "ecs:Describe*", "ecs:CreateSnapshot?"] {
            assert!(!ActionPattern::parse(no).unwrap().matches(&a), "{no}");
        }
        for bad in ["", "ecs", "ecs*", "ecs:", ":x", "ecs:Create Snapshot", "ecs:a:b"] {
            assert!(ActionPattern::parse(bad).is_none(), "{bad}");
        }
    }
}
