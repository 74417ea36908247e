//! Alibaba's reply envelope, for successes and errors, in JSON (default) or XML (`Format=XML`).
//!
//! Every error that can reach a client passes through [`ApiError::parts`] exactly once: it picks
//! the code, the HTTP status and the public message. The status policy follows ECS's published
//! tables: 400 bad input, 403 an operation the resource's state forbids, 404 not found,
//! 405 GetInstanceScreenshot's state errors, 409 conflict, 429 throttling on screenshots,
//! 500 internal. Per-action exceptions are listed in [`status_for`]; docs/API.md has the table.

use crate::auth::AuthError;
use crate::wire::WireError;
use crate::xml;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ecslab_core::Error;
use serde_json::{Map, Value};

/// A new RequestId, as Alibaba writes them (an upper-case UUID), for every reply the server sends.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// Everything that can go wrong with a request, from the wire to the domain.
#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    Auth(AuthError),
    AccessKeyNotFound,
    AccessKeyDisabled,
    TimestampExpired,
    NonceUsed,
    MissingAction,
    UnknownAction {
        action: String,
    },
    UnknownVersion {
        version: String,
    },
    UnknownRoute {
        method: String,
        path: String,
    },
    BodyTooLarge,
    /// Refused by the connection front before the pipeline saw the request.
    Wire(WireError),
    /// The caller's policies do not allow the action (403, with the AccessDeniedDetail).
    Denied(Box<Denied>),
}

/// A request the authorization step refused: the product's code for it (`Forbidden.RAM` on ECS, `NoPermission`
/// on RAM and STS) and the detail current Alibaba services return.
#[derive(Debug)]
pub struct Denied {
    pub code: &'static str,
    pub detail: ecslab_core::iam::AccessDeniedDetail,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::Domain(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::Auth(e)
    }
}

impl ApiError {
    /// (status, code, message) for this error on `action`.
    pub fn parts(&self, action: Option<&str>) -> (StatusCode, String, String) {
        let (code, message): (String, String) = match self {
            ApiError::Domain(e) => (e.code().to_string(), e.to_string()),
            ApiError::Auth(e) => auth_parts(e),
            ApiError::AccessKeyNotFound => ("InvalidAccessKeyId.NotFound".into(), "Specified access key is not found.".into()),
            ApiError::AccessKeyDisabled => ("InvalidAccessKeyId.Inactive".into(), "Specified access key is disabled.".into()),
            ApiError::TimestampExpired => (
                "InvalidTimeStamp.Expired".into(),
                "Specified time stamp or date value is expired (more than 15 minutes from the server's clock).".into(),
            ),
            ApiError::NonceUsed => ("SignatureNonceUsed".into(), "Specified signature nonce was used already.".into()),
            ApiError::MissingAction => (
                "MissingParameter".into(),
                "The input parameter \"Action\" that is mandatory for processing this request is not supplied.".into(),
            ),
            ApiError::UnknownAction { action } => (
                "InvalidAction.NotFound".into(),
                format!("Specified api is not found, please check your url and method. ecslab does not implement the action {action:?}."),
            ),
            ApiError::UnknownVersion { version } => (
                "InvalidVersion".into(),
                format!("Specified parameter Version is not valid. ecslab does not serve API version {version:?}."),
            ),
            ApiError::UnknownRoute { method, path } => (
                "InvalidApi.NotFound".into(),
                format!("Specified api is not found, please check your url and method: {method} {path}."),
            ),
            ApiError::BodyTooLarge => ("InvalidParameter".into(), "The request body is too large.".into()),
            ApiError::Wire(e) => (e.code().into(), e.to_string()),
            ApiError::Denied(denied) => {
                let message = format!(
                    "User not authorized to operate on the specified resource, or this API doesn't support RAM. \
                     {} is not allowed to perform {} ({:?}).",
                    denied.detail.auth_principal_display_name,
                    denied.detail.auth_action,
                    denied.detail.no_permission_type
                );
                return (StatusCode::FORBIDDEN, denied.code.to_string(), message);
            }
        };
        (status_for(&code, action), code, message)
    }
}

fn auth_parts(e: &AuthError) -> (String, String) {
    match e {
        AuthError::SignatureDoesNotMatch { string_to_sign } => (
            "SignatureDoesNotMatch".into(),
            format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"),
        ),
        AuthError::InvalidSignatureMethod(detail) => {
            ("InvalidSignatureMethod".into(), format!("Specified signature method is not valid. {detail}"))
        }
        AuthError::MissingNonce(name) => (
            "MissingSignatureNonce".into(),
            format!("{name} is mandatory for this action: every signed request must carry a fresh nonce, so that it cannot be replayed."),
        ),
        AuthError::InvalidTimestampFormat(detail) => (
            "InvalidTimeStamp.Format".into(),
            format!("Specified time stamp or date value is not well formatted. {detail}"),
        ),
        other => ("IncompleteSignature".into(), format!("The request signature does not conform to Aliyun standards. {other}")),
    }
}

/// The HTTP status of an error code, with ECS's per-action exceptions.
pub fn status_for(code: &str, action: Option<&str>) -> StatusCode {
    let s = |n: u16| StatusCode::from_u16(n).unwrap_or(StatusCode::BAD_REQUEST);
    match (code, action) {
        ("IncorrectInstanceStatus" | "NotSupported", Some("GetInstanceScreenshot")) => s(405),
        ("Throttling", Some("GetInstanceScreenshot")) => s(429),
        ("IncorrectInstanceStatus", Some("CreateSnapshot" | "AttachDisk" | "CreateImage")) => s(400),
        ("IdempotentParameterMismatch", Some("CreateSnapshot")) => s(403),
        ("InternalError", _) => s(500),
        // Refusals of the connection front (crate::wire::WireError).
        ("InvalidRequest.UriTooLong", _) => s(414),
        ("InvalidRequest.HeaderTooLarge", _) => s(431),
        ("InvalidRequest.HttpVersionNotSupported", _) => s(505),
        ("InvalidRequest.BodyTooLarge", _) => s(413),
        ("InvalidRequest.TransferCodingNotSupported", _) => s(501),
        ("RequestTimeout", _) => s(408),
        ("ServiceUnavailable", _) => s(503),
        ("OperationConflict", _) => s(409),
        ("InvalidAccessKeyId.NotFound", _) => s(404),
        // A VncUrl's WebSocket (crate::vnc): not an upgrade; a token unknown, used or expired.
        ("UpgradeRequired", _) => s(426),
        ("InvalidVncUrl.NotFound", _) => s(404),
        ("InvalidVncUrl.Used" | "InvalidVncUrl.Expired", _) => s(403),
        // ecslab's admin product (crate::admin): another key than the server admin's; a name in use.
        ("Forbidden.AdminOnly", _) => s(403),
        ("EntityAlreadyExists.Account", _) => s(409),
        // STS (crate::sts): a role the caller may not assume, or the root key trying to.
        ("NoPermission", _) => s(403),
        // The VPC product (2016-04-28) answers 400 for its dependency and quota refusals.
        ("DependencyViolation", Some("DeleteVpc" | "DeleteVSwitch")) => s(400),
        ("QuotaExceeded.VSwitch" | "QuotaExceeded.Vpc", _) => s(400),
        // ECS's security group rules: a protocol and port range that do not match.
        (
            "OperationDenied",
            Some(
                "AuthorizeSecurityGroup"
                | "RevokeSecurityGroup"
                | "AuthorizeSecurityGroupEgress"
                | "RevokeSecurityGroupEgress",
            ),
        ) => s(400),
        ("AuthorizationLimitExceed" | "InvalidParamter.Conflict", _) => s(403),
        ("InvalidDescription.Malformed", Some("CreateSnapshot")) => s(404),
        (
            "InvalidSystemDiskSize.LessThanImageSize"
            | "InvalidSystemDiskSize.MoreThanMaxSize"
            | "InvalidStatus.NotFound"
            | "InvalidUsage"
            | "InvalidSourceDiskType"
            | "InvalidDisk.InUse"
            | "InvalidDisk.AlreadyDetached",
            _,
        ) => s(404),
        (c, _) if c.starts_with("IncorrectDiskStatus") || c.starts_with("QuotaExceed") => s(403),
        (
            "CreateSnapshot.Failed"
            | "InvalidSnapshotId.NotReady"
            | "InvalidSnapshot.NotReady"
            | "InvalidSnapshotId.NotDataDiskSnapshot"
            | "InvalidParameter.Mismatch"
            | "SnapshotCreatedImage"
            | "SnapshotCreatedDisk"
            | "DependencyViolation"
            | "DiskTypeViolation"
            | "InstanceDiskLimitExceeded"
            | "InvalidSnapshotIds.Malformed"
            | "InvalidDiskIds.Malformed"
            | "OperationDenied",
            _,
        ) => s(403),
        ("InvalidDiskSize.TooSmall", Some("CreateDisk")) => s(403),
        // Cloud Assistant's limits and refusals (RunCommand, InvokeCommand, CreateCommand, ...).
        (
            "InvalidCmdType.NotFound"
            | "CmdName.ExceedLimit"
            | "CmdDesc.ExceedLimit"
            | "Username.ExceedLimit"
            | "InvalidCommandContent.LengthLimitExceeded"
            | "InvalidParameters.CountLimitExceeded"
            | "InvalidParameters.KeyLengthLimitExceeded"
            | "InvalidParameters.ValueTypeUnsupported"
            | "InvalidInstanceId.CountLimitExceeded"
            | "InvalidInstanceId.OSTypeUnsupported"
            | "InvalidOperation.InvokeAlreadyFinished",
            _,
        ) => s(403),
        (
            "IncorrectInstanceStatus"
            | "InstanceLockedForSecurity"
            | "IdempotentProcessing"
            | "InvalidParam.Amount"
            | "IncorrectImageStatus"
            | "InvalidImageId.IncorrectStatus"
            | "ImageUsedByInstance"
            | "DiskCreatingSnapshot"
            | "IncorrectDesktopStatus"
            | "NotSupported",
            _,
        ) => s(403),
        // MTS (2014-06-18): a missing pipeline; a resource MTS may not touch.
        ("InvalidParameter.ResourceNotFound", _) => s(404),
        (c, _) if c.starts_with("PermissionDenied.") => s(403),
        // RAM (2015-05-01): a missing entity 404; an existing one, a dependency or a limit 409.
        (c, _) if c.starts_with("EntityNotExist.") => s(404),
        (c, _) if c.starts_with("EntityAlreadyExists.") || c.starts_with("DeleteConflict.") => s(409),
        (c, _) if c.starts_with("LimitExceeded.") => s(409),
        (c, _) if c.ends_with(".NotFound") => s(404),
        _ => s(400),
    }
}

/// The reply format a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `Format=XML` (any case) asks for XML; everything else, including no Format, is JSON.
    pub fn from_param(value: Option<&str>) -> Format {
        match value {
            Some(v) if v.eq_ignore_ascii_case("xml") => Format::Xml,
            _ => Format::Json,
        }
    }
}

/// A success reply: `body` with `RequestId` first.
pub fn success(request_id: &str, action: &str, body: Value, format: Format) -> Response {
    let mut map = Map::new();
    map.insert("RequestId".into(), Value::String(request_id.into()));
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    render(StatusCode::OK, &format!("{action}Response"), Value::Object(map), format, request_id)
}

/// An error reply in Alibaba's envelope.
pub fn error(
    request_id: &str,
    host_id: &str,
    action: Option<&str>,
    err: &ApiError,
    format: Format,
) -> Response {
    let (status, code, message) = err.parts(action);
    let mut map = error_fields(request_id, host_id, &code, message);
    add_access_denied_detail(&mut map, err);
    let mut response = render(status, "Error", Value::Object(map), format, request_id);
    response.extensions_mut().insert(ErrorCode(code));
    response
}

/// The fields of every error reply, as real ECS sends them.
fn error_fields(request_id: &str, host_id: &str, code: &str, message: String) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("RequestId".into(), Value::String(request_id.into()));
    map.insert("HostId".into(), Value::String(host_id.into()));
    map.insert("Code".into(), Value::String(code.into()));
    map.insert("Message".into(), Value::String(message));
    map.insert("Recommend".into(), Value::String(format!("https://api.aliyun.com/troubleshoot?q={code}")));
    map
}

/// A success reply of a ROA (REST) product: PAI-DSW's envelope around `body`.
pub fn roa_success(request_id: &str, body: Value) -> Response {
    let mut map = Map::new();
    map.insert("RequestId".into(), Value::String(request_id.into()));
    map.insert("Success".into(), Value::Bool(true));
    map.insert("Code".into(), Value::String("null".into()));
    map.insert("Message".into(), Value::String("success".into()));
    map.insert("HttpStatusCode".into(), Value::from(200));
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    render(StatusCode::OK, "Response", Value::Object(map), Format::Json, request_id)
}

/// An error reply of a ROA product: the usual envelope plus `Success: false` and
/// `HttpStatusCode`. PAI-DSW's documented codes are used where they fit: `ValidationError` for
/// any bad parameter, `InternalError`; not-found and state errors keep their specific code.
pub fn roa_error(request_id: &str, host_id: &str, action: Option<&str>, err: &ApiError) -> Response {
    let (status, code, message) = err.parts(action);
    let code = match (status.as_u16(), code.as_str()) {
        (_, "InvalidInstanceId.NotFound") => "InstanceNotFound".to_string(),
        (_, "InvalidSnapshotId.NotFound") => "SnapshotNotFound".to_string(),
        (400, c) if c.starts_with("InvalidParameter") || c.starts_with("MissingParameter") => {
            "ValidationError".to_string()
        }
        _ => code,
    };
    let mut map = error_fields(request_id, host_id, &code, message);
    add_access_denied_detail(&mut map, err);
    map.insert("Success".into(), Value::Bool(false));
    map.insert("HttpStatusCode".into(), Value::from(status.as_u16()));
    let mut response = render(status, "Error", Value::Object(map), Format::Json, request_id);
    response.extensions_mut().insert(ErrorCode(code));
    response
}

/// A denial's `AccessDeniedDetail`, beside Code and Message as Alibaba's services put it.
fn add_access_denied_detail(map: &mut Map<String, Value>, err: &ApiError) {
    if let ApiError::Denied(denied) = err {
        if let Ok(detail) = serde_json::to_value(&denied.detail) {
            map.insert("AccessDeniedDetail".into(), detail);
        }
    }
}

/// The error code of a reply, for the access log.
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

fn render(status: StatusCode, root: &str, body: Value, format: Format, request_id: &str) -> Response {
    let (content_type, text) = match format {
        Format::Json => ("application/json;charset=utf-8", body.to_string()),
        Format::Xml => ("text/xml;charset=utf-8", xml::to_xml(root, &body)),
    };
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-acs-request-id", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_ecs_tables() {
        assert_eq!(status_for("IncorrectInstanceStatus", Some("GetInstanceScreenshot")), 405);
        assert_eq!(status_for("IncorrectInstanceStatus", Some("StartInstance")), 403);
        assert_eq!(status_for("DiskCreatingSnapshot", Some("ReplaceSystemDisk")), 403);
        assert_eq!(status_for("InvalidSystemDiskSize.MoreThanMaxSize", Some("ReplaceSystemDisk")), 404);
        assert_eq!(status_for("IncorrectDesktopStatus", Some("RebuildDesktops")), 403);
        assert_eq!(status_for("InvalidDesktopId.NotFound", Some("DescribeImageModifiedRecords")), 404);
        assert_eq!(status_for("NotSupported", Some("GetInstanceScreenshot")), 405);
        assert_eq!(status_for("Throttling", Some("GetInstanceScreenshot")), 429);
        assert_eq!(status_for("InvalidInstanceId.NotFound", Some("StartInstance")), 404);
        assert_eq!(status_for("MissingParameter", None), 400);
        assert_eq!(status_for("InternalError", None), 500);
        assert_eq!(status_for("MissingSignatureNonce", None), 400);
        for (err, status) in [
            (WireError::Malformed("x".into()), 400),
            (WireError::UriTooLong, 414),
            (WireError::HeadersTooLarge, 431),
            (WireError::VersionNotSupported, 505),
            (WireError::BodyTooLarge, 413),
            (WireError::TransferCodingNotSupported("gzip".into()), 501),
            (WireError::Timeout(10), 408),
            (WireError::TooManyConnections(5), 503),
        ] {
            assert_eq!(ApiError::Wire(err.clone()).parts(None).0, status, "{err:?}");
        }
        assert_eq!(status_for("DryRunOperation", Some("RunInstances")), 400);
        assert_eq!(status_for("InvalidRegionId.NotFound", None), 404);
        assert_eq!(status_for("EntityNotExist.User.Policy", Some("DetachPolicyFromUser")), 404);
        assert_eq!(status_for("EntityAlreadyExists.User", Some("CreateUser")), 409);
        assert_eq!(status_for("DeleteConflict.Policy.Version", Some("DeletePolicy")), 409);
        assert_eq!(status_for("LimitExceeded.User.AccessKey", Some("CreateAccessKey")), 409);
        assert_eq!(status_for("MalformedPolicyDocument", Some("CreatePolicy")), 400);
        assert_eq!(status_for("IncorrectDiskStatus.NeverAttached", Some("CreateSnapshot")), 403);
        assert_eq!(status_for("QuotaExceed.Snapshot", Some("CreateSnapshot")), 403);
        assert_eq!(status_for("IncorrectInstanceStatus", Some("CreateSnapshot")), 400);
        assert_eq!(status_for("InvalidDescription.Malformed", Some("CreateSnapshot")), 404);
        assert_eq!(status_for("InvalidSnapshotId.NotFound", Some("DeleteSnapshot")), 404);
        assert_eq!(status_for("InvalidParameter.ResourceNotFound", Some("SubmitSnapshotJob")), 404);
        assert_eq!(status_for("InvalidParameter.OutOfRange", Some("SubmitSnapshotJob")), 400);
        assert_eq!(status_for("PermissionDenied.ResourceAccess", Some("SubmitSnapshotJob")), 403);
        assert_eq!(status_for("DependencyViolation", Some("DeleteVpc")), 400);
        assert_eq!(status_for("DependencyViolation", Some("DeleteSecurityGroup")), 403);
        assert_eq!(status_for("QuotaExceeded.VSwitch", Some("CreateVSwitch")), 400);
        assert_eq!(status_for("InvalidVpcId.NotFound", Some("CreateVSwitch")), 404);
        assert_eq!(status_for("InvalidCmdType.NotFound", Some("RunCommand")), 403);
        assert_eq!(status_for("InvalidInvokeId.NotFound", Some("StopInvocation")), 404);
        assert_eq!(status_for("InvalidParameters.KeyNotMatch", Some("RunCommand")), 400);
        assert_eq!(status_for("InvalidCidrBlock.Overlapped", Some("CreateVSwitch")), 400);
        assert_eq!(status_for("OperationDenied", Some("AuthorizeSecurityGroup")), 400);
        assert_eq!(status_for("AuthorizationLimitExceed", Some("AuthorizeSecurityGroup")), 403);
    }

    #[test]
    fn format_is_case_insensitive_and_defaults_to_json() {
        assert_eq!(Format::from_param(Some("xml")), Format::Xml);
        assert_eq!(Format::from_param(Some("json")), Format::Json);
        assert_eq!(Format::from_param(None), Format::Json);
    }
}
