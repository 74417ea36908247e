//! The domain's one error type. It knows Alibaba's error *codes* (they are API semantics that
//! clients branch on) but nothing of HTTP: the API crate maps each code to a status once, with
//! the per-action exceptions ECS documents (see `ecslab_api::envelope`).
//!
//! The `message` is what the caller sees; internal context (paths, QEMU errors) goes into
//! `Internal::context`, which is logged and never sent.

use std::fmt;

/// Which kind of resource a lookup failed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Instance,
    Image,
    Disk,
    Snapshot,
    Vpc,
    VSwitch,
    SecurityGroup,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required parameter is absent.
    #[error("The input parameter \"{name}\" that is mandatory for processing this request is not supplied.")]
    MissingParameter { name: String },
    /// A parameter is present but malformed or out of range.
    #[error("The specified parameter \"{name}\" is not valid. {detail}")]
    InvalidParameter { name: String, detail: String },
    /// A documented action-specific rejection, e.g. `InvalidInstanceName.Malformed`.
    #[error("{message}")]
    Rejected { code: &'static str, message: String },
    #[error("The specified {} does not exist.", resource_label(*resource))]
    NotFound { resource: Resource, id: String },
    #[error("The current status of the resource does not support this operation.")]
    IncorrectInstanceStatus { instance_id: String, status: String },
    #[error("The specified operation is denied as your instance is locked for security reasons.")]
    InstanceLockedForSecurity { instance_id: String },
    #[error("The operation is not supported for \"{instance_id}\".")]
    NotSupported { instance_id: String },
    #[error("Request was denied due to request throttling.")]
    Throttling,
    /// A VncUrl's token that opens nothing (unknown, used or expired).
    #[error("{}", .0.message())]
    VncUrl(crate::vnc::VncRefusal),
    #[error("The request is retried with updated parameters.")]
    IdempotentParameterMismatch,
    #[error("The previous idempotent request(s) is still processing.")]
    IdempotentProcessing,
    #[error("Request validation has been passed with DryRun flag set.")]
    DryRunOperation,
    #[error("The specified RegionId does not exist.")]
    InvalidRegionId { region_id: String },
    /// Something broke inside ecslab. `context` is logged, never returned.
    #[error("The request processing has failed due to some unknown error, exception or failure.")]
    Internal { context: String },
}

fn resource_label(resource: Resource) -> &'static str {
    match resource {
        Resource::Instance => "InstanceId",
        Resource::Image => "ImageId",
        Resource::Disk => "DiskId",
        Resource::Snapshot => "SnapshotId",
        Resource::Vpc => "VpcId",
        Resource::VSwitch => "VSwitchId",
        Resource::SecurityGroup => "SecurityGroupId",
    }
}

impl Error {
    /// The Alibaba error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingParameter { .. } => "MissingParameter",
            Error::InvalidParameter { .. } => "InvalidParameter",
            Error::Rejected { code, .. } => code,
            Error::NotFound { resource: Resource::Instance, .. } => "InvalidInstanceId.NotFound",
            Error::NotFound { resource: Resource::Image, .. } => "InvalidImageId.NotFound",
            Error::NotFound { resource: Resource::Disk, .. } => "InvalidDiskId.NotFound",
            Error::NotFound { resource: Resource::Snapshot, .. } => "InvalidSnapshotId.NotFound",
            Error::NotFound { resource: Resource::Vpc, .. } => "InvalidVpcId.NotFound",
            Error::NotFound { resource: Resource::VSwitch, .. } => "InvalidVSwitchId.NotFound",
            Error::NotFound { resource: Resource::SecurityGroup, .. } => "InvalidSecurityGroupId.NotFound",
            Error::IncorrectInstanceStatus { .. } => "IncorrectInstanceStatus",
            Error::InstanceLockedForSecurity { .. } => "InstanceLockedForSecurity",
            Error::NotSupported { .. } => "NotSupported",
            Error::Throttling => "Throttling",
            Error::VncUrl(refusal) => refusal.code(),
            Error::IdempotentParameterMismatch => "IdempotentParameterMismatch",
            Error::IdempotentProcessing => "IdempotentProcessing",
            Error::DryRunOperation => "DryRunOperation",
            Error::InvalidRegionId { .. } => "InvalidRegionId.NotFound",
            Error::Internal { .. } => "InternalError",
        }
    }

    /// What to log: the internal context of an `Internal` error, else the public message.
    pub fn detail(&self) -> String {
        match self {
            Error::Internal { context } => context.clone(),
            other => other.to_string(),
        }
    }

    pub fn internal(context: impl fmt::Display) -> Error {
        Error::Internal { context: context.to_string() }
    }

    pub fn invalid(name: &str, detail: impl Into<String>) -> Error {
        Error::InvalidParameter { name: name.into(), detail: detail.into() }
    }

    pub fn missing(name: &str) -> Error {
        Error::MissingParameter { name: name.into() }
    }

    pub fn rejected(code: &'static str, message: impl Into<String>) -> Error {
        Error::Rejected { code, message: message.into() }
    }

    pub fn not_found(resource: Resource, id: impl Into<String>) -> Error {
        Error::NotFound { resource, id: id.into() }
    }
}

impl From<ecslab_store::StoreError> for Error {
    fn from(e: ecslab_store::StoreError) -> Error {
        Error::internal(format_chain(&e))
    }
}

/// Format an error with its whole `source()` chain, for logs.
pub fn format_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub type Result<T> = std::result::Result<T, Error>;
