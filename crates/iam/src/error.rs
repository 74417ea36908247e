//! The crate's one error enum. Every refusal of a policy document is a `MalformedPolicyDocument` with a reason
//! (the code RAM's CreatePolicy, CreatePolicyVersion and STS AssumeRole answer for a document they cannot accept),
//! except a document over the length limit, which RAM refuses before it reads it.
//!
//! Why here and typed: the API layer must answer with RAM's codes and a message naming the element at fault, and
//! the tests must be able to say which rule refused a document, so the reason is a variant, not a string.

use thiserror::Error;

/// Where in a document an element is: the statement's index (0-based) when the element is inside a statement.
pub type StatementIndex = usize;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IamError {
    #[error("The policy document is too long: {len} characters, at most {max} are allowed.")]
    DocumentTooLong { len: usize, max: usize },
    #[error("The policy document is not valid JSON: {0}")]
    NotJson(String),
    #[error("The policy document must be a JSON object.")]
    NotAnObject,
    #[error("The policy document must have a Version element.")]
    MissingVersion,
    #[error("The policy Version must be \"1\", not {0}.")]
    BadVersion(String),
    #[error("The policy document must have a Statement element.")]
    MissingStatement,
    #[error("The Statement element must be a non-empty list of statements.")]
    BadStatementList,
    #[error("Statement {0} must be a JSON object.")]
    StatementNotAnObject(StatementIndex),
    #[error("Statement {0} has an element {1} that RAM does not know.")]
    UnknownElement(StatementIndex, String),
    #[error("The policy document has a top-level element {0} that RAM does not know.")]
    UnknownTopLevelElement(String),
    #[error("Add an Effect element to the policy statement ({0}).")]
    MissingEffect(StatementIndex),
    #[error("The Effect of statement {0} must be Allow or Deny, not {1}.")]
    BadEffect(StatementIndex, String),
    #[error("Add an Action or NotAction element to the policy statement ({0}).")]
    MissingAction(StatementIndex),
    #[error("Statement {0} has both Action and NotAction; use one of them.")]
    ActionAndNotAction(StatementIndex),
    #[error("Statement {0}: {1} must be a string or a non-empty list of strings.")]
    BadList(StatementIndex, &'static str),
    #[error("Statement {0}: the action {1:?} is not \"*\" or <ram-code>:<action-name>.")]
    BadAction(StatementIndex, String),
    #[error("Add a Resource element to the policy statement ({0}).")]
    MissingResource(StatementIndex),
    #[error("Statement {0}: the resource {1:?} is not \"*\" or acs:<ram-code>:<region>:<account-id>:<relative-id>.")]
    BadResource(StatementIndex, String),
    #[error("Add a Principal element to the trust policy statement ({0}).")]
    MissingPrincipal(StatementIndex),
    #[error("Statement {0}: the principal {1:?} is not an account ID, acs:ram::<account-id>:root|user/<name>|role/<name>, a service or an identity provider.")]
    BadPrincipal(StatementIndex, String),
    #[error("Statement {0}: the Condition element must be an object of operators, each an object of keys.")]
    BadConditionShape(StatementIndex),
    #[error("Statement {0}: the condition operator {1} is not one RAM supports.")]
    UnknownOperator(StatementIndex, String),
    #[error("Statement {0}: the condition key {1:?} is not <prefix>:<name>.")]
    BadConditionKey(StatementIndex, String),
    #[error("Statement {0}: the value {2:?} of the condition key {1} does not fit its operator.")]
    BadConditionValue(StatementIndex, String, String),
    #[error("The action {0:?} is not <ram-code>:<action-name>.")]
    InvalidAction(String),
    #[error("The resource name {0:?} is not acs:<ram-code>:<region>:<account-id>:<relative-id>.")]
    InvalidArn(String),
}

impl IamError {
    /// The error code RAM answers with: documents too long are refused as a parameter, every other document
    /// error is `MalformedPolicyDocument`; the request-side errors (an action or ARN the server built) are
    /// the server's own mistakes and map to `InvalidParameter`.
    pub fn code(&self) -> &'static str {
        match self {
            IamError::DocumentTooLong { .. } => "InvalidParameter.PolicyDocument.Length",
            IamError::InvalidAction(_) | IamError::InvalidArn(_) => "InvalidParameter",
            _ => "MalformedPolicyDocument",
        }
    }
}
