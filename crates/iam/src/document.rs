//! Policy documents: `{"Version": "1", "Statement": [ {Effect, Action | NotAction, Resource, Condition?}, ... ]}`,
//! parsed into typed statements or refused with the reason RAM gives.
//!
//! Why a hand walk over `serde_json::Value` and not `#[derive(Deserialize)]`: RAM's grammar allows a string or
//! a list for Action and Resource, forbids Action beside NotAction, and each refusal must name its element and
//! statement; serde's messages would not. The grammar followed (RAM's "Policy structure and syntax" and "Policy
//! elements" pages): Version is the string "1"; Statement a non-empty list; Effect exactly `Allow` or `Deny`;
//! exactly one of Action and NotAction, each `"*"`, one `<ram-code>:<action-name>` or a list of them; Resource
//! required, `"*"`, an `acs:` name or a list; Condition optional; an optional Sid. Anything else (NotResource,
//! Principal, unknown elements) is refused: an identity policy has no principal, and RAM's current grammar has no
//! NotResource. Length: at most 6,144 characters for a custom policy, 2,048 for an STS session policy, counting
//! every character, whitespace included.

use serde_json::{Map, Value};

use crate::action::{Action, ActionPattern};
use crate::arn::{Arn, ResourcePattern};
use crate::condition::Condition;
use crate::context::{RequestContext, Resource};
use crate::error::{IamError, StatementIndex};

/// The length limits RAM applies to a document, by where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A custom policy (CreatePolicy, CreatePolicyVersion): 6,144 characters.
    Policy,
    /// The inline `Policy` of an STS AssumeRole: 2,048 characters.
    SessionPolicy,
    /// A role's trust policy (CreateRole's AssumeRolePolicyDocument): RAM documents no limit of its own, so the
    /// custom policy's 6,144 characters apply.
    TrustPolicy,
}

impl DocumentKind {
    pub fn max_chars(self) -> usize {
        match self {
            DocumentKind::Policy | DocumentKind::TrustPolicy => 6144,
            DocumentKind::SessionPolicy => 2048,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Which actions a statement covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Actions {
    /// `Action`: the statement covers an action matching any pattern.
    Only(Vec<ActionPattern>),
    /// `NotAction`: the statement covers every action matching none of the patterns.
    AllBut(Vec<ActionPattern>),
}

impl Actions {
    pub fn covers(&self, action: &Action) -> bool {
        match self {
            Actions::Only(list) => list.iter().any(|p| p.matches(action)),
            Actions::AllBut(list) => !list.iter().any(|p| p.matches(action)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Actions,
    pub resources: Vec<ResourcePattern>,
    pub condition: Option<Condition>,
}

impl Statement {
    /// Whether the statement applies to the request's action on `resource` (its Effect then decides).
    pub fn applies(&self, ctx: &RequestContext, arn: &Arn, resource: &Resource) -> bool {
        self.actions.covers(&ctx.action)
            && self.resources.iter().any(|p| p.matches(arn))
            && match &self.condition {
                None => true,
                Some(c) => c.holds(ctx, resource),
            }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Whether some statement's Condition reads a resource's tags (so the caller's resources' tags must be known).
    pub fn reads_resource_tags(&self) -> bool {
        self.statements
            .iter()
            .filter_map(|s| s.condition.as_ref())
            .any(|c| c.clauses.iter().any(|clause| clause.key.reads_resource_tags()))
    }

    /// A custom policy's document (at most 6,144 characters).
    pub fn parse(text: &str) -> Result<PolicyDocument, IamError> {
        PolicyDocument::parse_as(text, DocumentKind::Policy)
    }

    pub fn parse_as(text: &str, kind: DocumentKind) -> Result<PolicyDocument, IamError> {
        let values = statement_values(text, kind)?;
        let statements = values.iter().enumerate().map(|(i, s)| statement(i, s)).collect::<Result<_, _>>()?;
        Ok(PolicyDocument { statements })
    }
}

/// The length check and the top level (`Version`, `Statement`) every kind of document shares: the statements' JSON.
pub(crate) fn statement_values(text: &str, kind: DocumentKind) -> Result<Vec<Value>, IamError> {
    let len = text.chars().count();
    if len > kind.max_chars() {
        return Err(IamError::DocumentTooLong { len, max: kind.max_chars() });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| IamError::NotJson(e.to_string()))?;
    let Value::Object(mut top) = value else { return Err(IamError::NotAnObject) };
    if let Some(other) = top.keys().find(|k| !matches!(k.as_str(), "Version" | "Statement")) {
        return Err(IamError::UnknownTopLevelElement(other.clone()));
    }
    match top.get("Version") {
        None => return Err(IamError::MissingVersion),
        Some(Value::String(v)) if v == "1" => {}
        Some(v) => return Err(IamError::BadVersion(v.to_string())),
    }
    match top.remove("Statement") {
        None => Err(IamError::MissingStatement),
        Some(Value::Array(list)) if !list.is_empty() => Ok(list),
        Some(_) => Err(IamError::BadStatementList),
    }
}

fn statement(i: StatementIndex, value: &Value) -> Result<Statement, IamError> {
    let obj = statement_object(i, value, &["Sid", "Effect", "Action", "NotAction", "Resource", "Condition"])?;
    let Common { sid, effect, actions, condition } = common(i, obj)?;
    let resources = match obj.get("Resource") {
        None => return Err(IamError::MissingResource(i)),
        Some(v) => strings(i, "Resource", v)?
            .into_iter()
            .map(|r| ResourcePattern::parse(r).ok_or_else(|| IamError::BadResource(i, r.to_owned())))
            .collect::<Result<_, _>>()?,
    };
    Ok(Statement { sid, effect, actions, resources, condition })
}

/// A statement's object, refusing elements other than `known`.
pub(crate) fn statement_object<'a>(
    i: StatementIndex,
    value: &'a Value,
    known: &[&str],
) -> Result<&'a Map<String, Value>, IamError> {
    let obj = value.as_object().ok_or(IamError::StatementNotAnObject(i))?;
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(other) => Err(IamError::UnknownElement(i, other.clone())),
        None => Ok(obj),
    }
}

/// The elements every kind of statement has.
pub(crate) struct Common {
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Actions,
    pub condition: Option<Condition>,
}

pub(crate) fn common(i: StatementIndex, obj: &Map<String, Value>) -> Result<Common, IamError> {
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(IamError::UnknownElement(i, "Sid".to_owned())),
    };
    let effect = match obj.get("Effect") {
        None => return Err(IamError::MissingEffect(i)),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(v) => return Err(IamError::BadEffect(i, v.to_string())),
    };
    let actions = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(_), Some(_)) => return Err(IamError::ActionAndNotAction(i)),
        (None, None) => return Err(IamError::MissingAction(i)),
        (Some(v), None) => Actions::Only(action_list(i, "Action", v)?),
        (None, Some(v)) => Actions::AllBut(action_list(i, "NotAction", v)?),
    };
    let condition = obj.get("Condition").map(|c| Condition::parse(i, c)).transpose()?;
    Ok(Common { sid, effect, actions, condition })
}

fn action_list(
    i: StatementIndex,
    element: &'static str,
    value: &Value,
) -> Result<Vec<ActionPattern>, IamError> {
    strings(i, element, value)?
        .into_iter()
        .map(|a| ActionPattern::parse(a).ok_or_else(|| IamError::BadAction(i, a.to_owned())))
        .collect()
}

/// A string or a non-empty list of strings.
pub(crate) fn strings<'a>(
    i: StatementIndex,
    element: &'static str,
    value: &'a Value,
) -> Result<Vec<&'a str>, IamError> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|v| v.as_str().ok_or(IamError::BadList(i, element))).collect()
        }
        _ => Err(IamError::BadList(i, element)),
    }
}
