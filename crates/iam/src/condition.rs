//! The Condition element: `{ "<Operator>": { "<key>": <value> | [<value>, ...] }, ... }`.
//!
//! Why values are typed at parse time: a policy is parsed once and evaluated on every request, so numbers, dates,
//! booleans and CIDR blocks are parsed when the document is accepted (a value that does not fit its operator is a
//! MalformedPolicyDocument then, not a silent mismatch later).
//!
//! Operators are the five families RAM's "Conditional operators" page lists: String (StringEquals,
//! StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike), Number
//! (NumericEquals, NumericNotEquals, NumericLessThan[Equals], NumericGreaterThan[Equals]), Date and time
//! (DateEquals, DateNotEquals, DateLessThan[Equals], DateGreaterThan[Equals]), Boolean (Bool) and IP address
//! (IpAddress, NotIpAddress). RAM documents no `...IfExists` and no `ForAnyValue:`/`ForAllValues:` qualifiers, so
//! they are refused as unknown operators.
//!
//! Logic (RAM's "Policy elements", Condition): all operators and all keys of a block must hold (AND); the values
//! of one key are alternatives (OR); a negated operator holds when the request value equals none of them (NOR).
//! A key the request does not carry makes a positive operator false and a negated one true; a request value of the
//! wrong type (an address that is not one) makes the clause false either way.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde_json::Value;

use crate::context::{ConditionKey, ContextValue, Lookup, RequestContext, Resource};
use crate::error::{IamError, StatementIndex};
use crate::wildcard::{self, Case};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
}

const OPERATORS: [(&str, Operator); 21] = [
    ("StringEquals", Operator::StringEquals),
    ("StringNotEquals", Operator::StringNotEquals),
    ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Operator::StringNotEqualsIgnoreCase),
    ("StringLike", Operator::StringLike),
    ("StringNotLike", Operator::StringNotLike),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericNotEquals", Operator::NumericNotEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    ("NumericGreaterThanEquals", Operator::NumericGreaterThanEquals),
    ("DateEquals", Operator::DateEquals),
    ("DateNotEquals", Operator::DateNotEquals),
    ("DateLessThan", Operator::DateLessThan),
    ("DateLessThanEquals", Operator::DateLessThanEquals),
    ("DateGreaterThan", Operator::DateGreaterThan),
    ("DateGreaterThanEquals", Operator::DateGreaterThanEquals),
    ("Bool", Operator::Bool),
    ("IpAddress", Operator::IpAddress),
    ("NotIpAddress", Operator::NotIpAddress),
];

impl Operator {
    /// The operator named exactly as RAM's page spells it.
    pub fn parse(name: &str) -> Option<Operator> {
        OPERATORS.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }

    pub fn name(self) -> &'static str {
        OPERATORS.iter().find(|(_, op)| *op == self).map_or("", |(n, _)| n)
    }

    /// Whether the operator holds when the request value matches none of the policy's values.
    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
        )
    }
}

/// A clause's policy values, typed by the operator's family.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Dates(Vec<DateTime<Utc>>),
    Bools(Vec<bool>),
    Nets(Vec<IpNet>),
}

/// One operator applied to one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub operator: Operator,
    pub key: ConditionKey,
    pub values: Values,
}

/// A statement's Condition: every clause must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    pub clauses: Vec<Clause>,
}

impl Condition {
    pub(crate) fn parse(index: StatementIndex, value: &Value) -> Result<Condition, IamError> {
        let operators = value.as_object().ok_or(IamError::BadConditionShape(index))?;
        let mut clauses = Vec::new();
        for (name, keys) in operators {
            let operator =
                Operator::parse(name).ok_or_else(|| IamError::UnknownOperator(index, name.clone()))?;
            let keys = keys.as_object().ok_or(IamError::BadConditionShape(index))?;
            for (key_text, raw) in keys {
                let key = ConditionKey::parse(key_text)
                    .ok_or_else(|| IamError::BadConditionKey(index, key_text.clone()))?;
                let bad = || IamError::BadConditionValue(index, key_text.clone(), raw.to_string());
                let scalars = scalars(raw).ok_or_else(bad)?;
                let values = typed(operator, &scalars).ok_or_else(bad)?;
                clauses.push(Clause { operator, key, values });
            }
        }
        Ok(Condition { clauses })
    }

    pub(crate) fn holds(&self, ctx: &RequestContext, resource: &Resource) -> bool {
        self.clauses.iter().all(|c| c.holds(ctx.lookup(&c.key, resource)))
    }
}

impl Clause {
    fn holds(&self, found: Option<Lookup<'_>>) -> bool {
        let Some(found) = found else { return self.operator.negated() };
        match self.any_matches(found) {
            Some(any) => any != self.operator.negated(),
            None => false,
        }
    }

    /// Whether the request value matches any policy value (the positive form of the operator); `None` when the
    /// request value has the wrong type for the operator.
    fn any_matches(&self, found: Lookup<'_>) -> Option<bool> {
        use Operator::*;
        Some(match &self.values {
            Values::Strings(list) => {
                let text = as_text(found);
                let text = text.as_ref();
                list.iter().any(|v| match self.operator {
                    StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => v.eq_ignore_ascii_case(text),
                    StringLike | StringNotLike => wildcard::matches(v, text, Case::Sensitive),
                    _ => v == text,
                })
            }
            Values::Numbers(list) => {
                let n = as_number(found)?;
                list.iter().any(|v| match self.operator {
                    NumericLessThan => n < *v,
                    NumericLessThanEquals => n <= *v,
                    NumericGreaterThan => n > *v,
                    NumericGreaterThanEquals => n >= *v,
                    _ => n == *v,
                })
            }
            Values::Dates(list) => {
                let t = as_time(found)?;
                list.iter().any(|v| match self.operator {
                    DateLessThan => t < *v,
                    DateLessThanEquals => t <= *v,
                    DateGreaterThan => t > *v,
                    DateGreaterThanEquals => t >= *v,
                    _ => t == *v,
                })
            }
            Values::Bools(list) => {
                let b = as_bool(found)?;
                list.contains(&b)
            }
            Values::Nets(list) => {
                let ip = as_ip(found)?;
                list.iter().any(|net| net.contains(&ip))
            }
        })
    }
}

/// A condition value is a string, number or boolean, or a non-empty list of them; all are kept as text here.
fn scalars(raw: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match raw {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

fn typed(operator: Operator, texts: &[String]) -> Option<Values> {
    use Operator::*;
    Some(match operator {
        StringEquals
        | StringNotEquals
        | StringEqualsIgnoreCase
        | StringNotEqualsIgnoreCase
        | StringLike
        | StringNotLike => Values::Strings(texts.to_vec()),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            Values::Numbers(texts.iter().map(|t| parse_number(t)).collect::<Option<_>>()?)
        }
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => Values::Dates(texts.iter().map(|t| parse_time(t)).collect::<Option<_>>()?),
        Bool => Values::Bools(texts.iter().map(|t| parse_bool(t)).collect::<Option<_>>()?),
        IpAddress | NotIpAddress => Values::Nets(texts.iter().map(|t| parse_net(t)).collect::<Option<_>>()?),
    })
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// ISO 8601 with a zone, as RAM's examples write it (`2019-08-12T17:00:00+08:00`, `2017-11-11T23:59:59Z`).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A CIDR block or a single address (a /32 or /128).
fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn as_text(found: Lookup<'_>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match found {
        Lookup::Tag(t) => Cow::Borrowed(t),
        Lookup::Value(ContextValue::Str(s)) => Cow::Borrowed(s),
        Lookup::Value(ContextValue::Ip(ip)) => Cow::Owned(ip.to_string()),
        Lookup::Value(ContextValue::Time(t)) => {
            Cow::Owned(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        Lookup::Value(ContextValue::Bool(b)) => Cow::Owned(b.to_string()),
        Lookup::Value(ContextValue::Number(n)) => Cow::Owned(n.to_string()),
    }
}

/// A tag or a string value (the forms a typed operator may still read from text).
fn plain(found: Lookup<'_>) -> Option<&str> {
    match found {
        Lookup::Tag(t) => Some(t),
        Lookup::Value(ContextValue::Str(s)) => Some(s),
        Lookup::Value(_) => None,
    }
}

fn as_number(found: Lookup<'_>) -> Option<f64> {
    match found {
        Lookup::Value(ContextValue::Number(n)) => Some(*n),
        other => plain(other).and_then(parse_number),
    }
}

fn as_time(found: Lookup<'_>) -> Option<DateTime<Utc>> {
    match found {
        Lookup::Value(ContextValue::Time(t)) => Some(*t),
        other => plain(other).and_then(parse_time),
    }
}

fn as_bool(found: Lookup<'_>) -> Option<bool> {
    match found {
        Lookup::Value(ContextValue::Bool(b)) => Some(*b),
        other => plain(other).and_then(parse_bool),
    }
}

fn as_ip(found: Lookup<'_>) -> Option<IpAddr> {
    match found {
        Lookup::Value(ContextValue::Ip(ip)) => Some(*ip),
        other => plain(other).and_then(|t| t.trim().parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Condition, Operator};
    use crate::error::IamError;

    #[test]
    fn every_operator_has_its_name() {
        for name in ["StringEquals", "NumericLessThanEquals", "DateGreaterThan", "Bool", "NotIpAddress"] {
            assert_eq!(Operator::parse(name).unwrap().name(), name);
        }
        assert!(Operator::parse("stringequals").is_none());
        assert!(Operator::parse("StringEqualsIfExists").is_none());
        assert!(Operator::parse("ForAnyValue:StringEquals").is_none());
    }

    #[test]
    fn values_are_typed_when_parsed() {
        let ok = json!({"NumericLessThan": {"ecs:Size": 20}, "Bool": {"acs:SecureTransport": "true"},
                        "IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.1.1"]},
                        "DateLessThan": {"acs:CurrentTime": "2019-08-12T17:00:00+08:00"}});
        assert_eq!(Condition::parse(0, &ok).unwrap().clauses.len(), 4);
        for (bad, err) in [
            (json!({"NumericLessThan": {"ecs:Size": "x"}}), "value"),
            (json!({"Bool": {"acs:SecureTransport": "yes"}}), "value"),
            (json!({"IpAddress": {"acs:SourceIp": "10.0.0.300"}}), "value"),
            (json!({"DateLessThan": {"acs:CurrentTime": "yesterday"}}), "value"),
            (json!({"StringEquals": {"acs:x": []}}), "value"),
            (json!({"StringEquals": {"acs:x": {"a": 1}}}), "value"),
            (json!({"StringEquals": {"nokey": "a"}}), "key"),
            (json!({"StringMatches": {"acs:x": "a"}}), "operator"),
            (json!({"StringEquals": "a"}), "shape"),
            (json!(["StringEquals"]), "shape"),
        ] {
            let e = Condition::parse(3, &bad).unwrap_err();
            let kind = match e {
                IamError::BadConditionValue(3, ..) => "value",
                IamError::BadConditionKey(3, _) => "key",
                IamError::UnknownOperator(3, _) => "operator",
                IamError::BadConditionShape(3) => "shape",
                other => panic!("{other:?}"),
            };
            assert_eq!(kind, err, "{bad}");
        }
    }
}
