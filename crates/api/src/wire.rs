//! Why the connection front refuses a request before the pipeline sees it, and the limits
//! those refusals name. Apart from `front.rs` so that the envelope, which maps every error to
//! its code and status once, does not depend on the connection loop.

/// The longest request target: what `http::Uri` can hold (`u16::MAX - 1`). RPC requests carry
/// every parameter in the query, so this is also the limit on an RPC request's parameters.
pub const MAX_TARGET_BYTES: usize = (u16::MAX - 1) as usize;
/// The largest header section (all field lines together, after the request line).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most header fields in one request.
pub const MAX_HEADER_FIELDS: usize = 100;
/// The largest request body (the front's and the pipeline's).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Why a request was refused before it reached the pipeline. Each maps to one code and HTTP
/// status in the envelope's `status_for`; the connection is closed after the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("The request is not valid HTTP/1.1: {0}.")]
    Malformed(String),
    #[error("The request target is longer than {MAX_TARGET_BYTES} bytes.")]
    UriTooLong,
    #[error(
        "The request header section is larger than {MAX_HEADER_BYTES} bytes or has more than {MAX_HEADER_FIELDS} fields."
    )]
    HeadersTooLarge,
    #[error("The HTTP version is not supported: ecslab serves HTTP/1.0 and HTTP/1.1.")]
    VersionNotSupported,
    #[error("The request body is larger than {MAX_BODY_BYTES} bytes.")]
    BodyTooLarge,
    #[error("The transfer coding {0:?} is not supported: only chunked is.")]
    TransferCodingNotSupported(String),
    #[error("The request was not received within {0} seconds.")]
    Timeout(u64),
    #[error("The server is serving its limit of {0} connections; retry later.")]
    TooManyConnections(usize),
}

impl WireError {
    /// The Alibaba error code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Malformed(_) => "InvalidRequest.Malformed",
            WireError::UriTooLong => "InvalidRequest.UriTooLong",
            WireError::HeadersTooLarge => "InvalidRequest.HeaderTooLarge",
            WireError::VersionNotSupported => "InvalidRequest.HttpVersionNotSupported",
            WireError::BodyTooLarge => "InvalidRequest.BodyTooLarge",
            WireError::TransferCodingNotSupported(_) => "InvalidRequest.TransferCodingNotSupported",
            WireError::Timeout(_) => "RequestTimeout",
            WireError::TooManyConnections(_) => "ServiceUnavailable",
        }
    }
}

pub(crate) fn malformed(detail: impl Into<String>) -> WireError {
    WireError::Malformed(detail.into())
}
