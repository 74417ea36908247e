//! ecslab-iam: RAM policies as RAM reads and evaluates them, with no I/O and no other ecslab crate.
//!
//! Why a crate of its own: every action of every product is authorized through it, so it must be pure (table
//! tests, a benchmark, a fuzz target for the parser), and the store and API layers only hand it data: a policy's
//! text to parse (`PolicyDocument::parse`), then per request a `RequestContext` and the caller's parsed
//! `Policies` to `evaluate`, which answers a `Decision` whose `Denial` gives the AccessDeniedDetail.
//!
//! Modules: `wildcard` (the `*`/`?` match), `action` and `arn` (what requests name and statements match),
//! `condition` (operators, typed values), `document` (the grammar and its limits), `context` (the request),
//! `eval` (the decision), `trust` (who may assume a role), `detail` (what a denial tells the caller), `system` (the embedded system policies),
//! `error` (the one error enum).

pub mod action;
pub mod arn;
pub mod condition;
pub mod context;
pub mod detail;
pub mod document;
pub mod error;
pub mod eval;
pub mod system;
pub mod trust;
pub mod wildcard;

pub use action::{Action, ActionPattern};
pub use arn::{Arn, ResourcePattern};
pub use condition::{Clause, Condition, Operator, Values};
pub use context::{keys, Caller, ConditionKey, ContextValue, RequestContext, Resource};
pub use detail::{AccessDeniedDetail, AuthPrincipalType, Diagnostic};
pub use document::{Actions, DocumentKind, Effect, PolicyDocument, Statement};
pub use error::IamError;
pub use eval::{
    evaluate, AttachedPolicy, Decision, Denial, Grant, NoPermissionType, Policies, PolicySource, PolicyType,
    StatementRef,
};
pub use system::{system_policies, system_policy, SystemPolicy, SYSTEM_POLICIES};
pub use trust::{AssumingPrincipal, TrustPolicy, TrustStatement, TrustedPrincipal};
