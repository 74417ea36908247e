//! MTS's error codes (docs/api/FACTS.md §6.3) as domain errors, with MTS's message texts. A job that
//! fails records the code and message in `SnapshotJob.Code/Message`; request-level errors go
//! through the API envelope like any other.

use crate::Error;

pub const RESOURCE_NOT_FOUND: &str = "InvalidParameter.ResourceNotFound";
pub const RESOURCE_CONTENT_BAD: &str = "InvalidParameter.ResourceContentBad";
pub const RESOURCE_ACCESS: &str = "PermissionDenied.ResourceAccess";
pub const SNAPSHOT_TIMEOUT: &str = "SnapshotTimeOut";
pub const OUT_OF_RANGE: &str = "InvalidParameter.OutOfRange";
pub const OBJECT_KEY_INVALID: &str = "InvalidParameter.ObjectKeyInvalid";
pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
/// ecslab's own: the server stopped while the job was Snapshoting (it is not resumed).
pub const SERVER_RESTART: &str = "InternalError.ServerRestart";

/// A bucket failure as MTS reports it. A remote store that cannot be reached is
/// `ServiceUnavailable` (Alibaba's common code), with the endpoint in the message.
pub fn from_bucket(e: crate::buckets::BucketError) -> Error {
    use crate::buckets::BucketError;
    match e {
        BucketError::InvalidBucketName { bucket } | BucketError::NoSuchBucket { bucket } => {
            not_found(&bucket)
        }
        BucketError::InvalidObjectName { key } => object_key_invalid(&key),
        BucketError::NoSuchObject { bucket, key } => not_found(&format!("{bucket}/{key}")),
        BucketError::Denied { bucket, key, why } => access_denied(&format!("{bucket}/{key}"), &why),
        unavailable @ BucketError::Unavailable { .. } => {
            Error::rejected(SERVICE_UNAVAILABLE, unavailable.to_string())
        }
    }
}

pub fn not_found(what: &str) -> Error {
    Error::rejected(RESOURCE_NOT_FOUND, format!("The resource operated \"{what}\" cannot be found."))
}

pub fn content_bad(what: &str, why: &str) -> Error {
    Error::rejected(RESOURCE_CONTENT_BAD, format!("The resource operated \"{what}\" is bad: {why}"))
}

pub fn access_denied(what: &str, why: &str) -> Error {
    Error::rejected(
        RESOURCE_ACCESS,
        format!("MTS not authorized to operate on the specified resource \"{what}\": {why}"),
    )
}

pub fn timed_out(limit_ms: u128) -> Error {
    Error::rejected(SNAPSHOT_TIMEOUT, format!("Snapshot times out (synchronous limit {limit_ms} ms)."))
}

pub fn out_of_range_msg(message: &str) -> Error {
    Error::rejected(OUT_OF_RANGE, message.to_string())
}

pub fn object_key_invalid(key: &str) -> Error {
    Error::rejected(
        OBJECT_KEY_INVALID,
        format!("The object key {key:?} is invalid: it must be a relative key without '..' segments."),
    )
}

pub fn server_restart(count: i64) -> Error {
    Error::rejected(
        SERVER_RESTART,
        format!(
            "The ecslab server restarted while this job was Snapshoting; it was not resumed \
             ({count} snapshots had been written). Submit it again."
        ),
    )
}
