//! Alibaba Cloud request-signature verification.
//!
//! Real clients sign in one of three ways, and a compatible server must accept
//! all three (see `docs/api/FACTS.md` §3 and `WIRE.md`):
//!
//! * **RPC V1** ([`rpc_v1`]): HMAC-SHA1 over the sorted parameters, `Signature`
//!   in the query (the `aliyun` CLI, old SDKs, `signature_algorithm='v2'`).
//! * **ACS3** ([`acs3`]): `Authorization: ACS3-HMAC-SHA256 …` over a canonical
//!   request (the default of every current SDK, RPC and ROA alike).
//! * **ROA V1** ([`roa_v1`]): `Authorization: acs AK:sig`, HMAC-SHA1 over
//!   selected headers and the resource (REST products via CLI / old SDKs).
//!
//! The scheme is detected from the request itself. Verification is split in
//! two so the server can look the access key up in between:
//! [`parse_claims`] reads what the request claims (access key, nonce, time,
//! action) and checks its shape without any secret; [`verify`] then recomputes
//! the signature with the secret. Freshness of the timestamp and uniqueness of
//! the nonce are the caller's job. Everything works on the request exactly as
//! received ([`RawRequest`]): signatures cover the wire form, so nothing may be
//! normalised before this module has seen it.

pub mod acs3;
pub mod encode;
mod mac;
pub mod roa_v1;
pub mod rpc_v1;
mod time;

use chrono::{DateTime, Utc};
use http::HeaderMap;

/// The three signature schemes, detected from the request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Signature=` query parameter, HMAC-SHA1 with key `secret&`.
    RpcV1,
    /// `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`.
    Acs3,
    /// `Authorization: acs AK:base64sig`, HMAC-SHA1 with the plain secret.
    RoaV1,
}

impl Scheme {
    /// The name the capture harness (`verify_sig.py`) uses for the scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::RpcV1 => "RPC-HMAC-SHA1",
            Scheme::Acs3 => acs3::ALGORITHM,
            Scheme::RoaV1 => "ROA-HMAC-SHA1",
        }
    }
}

/// A request as received, before any parsing. `raw_query` is the query string
/// exactly as on the wire (no leading '?'), `raw_path` the path exactly as on
/// the wire (still percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What the signature claims, parsed without the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedClaims {
    pub scheme: Scheme,
    /// RPC: `AccessKeyId`; ACS3: `Credential`; ROA: the AK of `acs AK:sig`.
    pub access_key_id: String,
    /// RPC: `SignatureNonce`; ACS3 and ROA: `x-acs-signature-nonce`. Always present once parsed.
    pub nonce: String,
    /// RPC: `Timestamp`; ACS3: `x-acs-date`; ROA: `Date` (RFC 1123).
    pub timestamp: Option<DateTime<Utc>>,
    /// RPC: the signed `Action` parameter; ACS3/ROA: the `x-acs-action` header.
    pub action: Option<String>,
    /// RPC: the signed `Version` parameter; ACS3/ROA: the `x-acs-version` header.
    pub version: Option<String>,
    /// RPC: `SecurityToken`; ACS3/ROA: `x-acs-security-token` (STS credentials).
    pub security_token: Option<String>,
    /// The signature as sent (RPC/ROA: base64; ACS3: hex).
    pub signature: String,
    /// ACS3 only: the `SignedHeaders` list (lower-case, sorted). Empty otherwise.
    pub signed_headers: Vec<String>,
}

/// Why a request is not authenticated. Each variant maps to one Alibaba Cloud
/// error code; the server builds the envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Signature` parameter and no `Authorization` header.
    #[error("the request carries no signature")]
    MissingSignature,
    /// Malformed `Authorization`, or a required signature parameter/header is
    /// missing, empty, duplicated or not covered by the signature.
    #[error("the request signature does not conform to Aliyun standards: {0}")]
    IncompleteSignature(String),
    /// No signature nonce (carries the parameter or header name): without one a request could
    /// be replayed byte for byte within the time window.
    #[error("{0} is missing")]
    MissingNonce(&'static str),
    /// `SignatureMethod` other than HMAC-SHA1, or an unknown `Authorization` algorithm.
    #[error("specified signature method is not valid: {0}")]
    InvalidSignatureMethod(String),
    /// `Timestamp` / `x-acs-date` / `Date` that does not parse.
    #[error("specified time stamp or date value is not well formatted: {0}")]
    InvalidTimestampFormat(String),
    /// ACS3 `x-acs-content-sha256` differs from the SHA-256 of the body.
    #[error("x-acs-content-sha256 does not match the request body")]
    ContentHashMismatch,
    /// RPC V1 signs a fixed path `/`; any other path is not covered by it.
    #[error("RPC V1 signed requests must use the path '/', got {0:?}")]
    RpcPathNotRoot(String),
    /// RPC V1: an unsigned `x-acs-action`/`x-acs-version` header contradicts
    /// the signed `Action`/`Version` parameter (carries the header name).
    #[error("unsigned header {0} contradicts the signed parameter")]
    HeaderParamMismatch(String),
    /// The recomputed signature differs; carries the server's string-to-sign.
    #[error(
        "specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
    )]
    SignatureDoesNotMatch { string_to_sign: String },
}

/// Params of an RPC request: query params plus, for
/// `application/x-www-form-urlencoded` bodies, form params; form-decoded
/// (`+` is a space). Excludes nothing (the caller drops signature/common
/// params). As in the reference verifier, the form body counts whatever the
/// method, so every parameter a router can see is one the signature covers.
pub fn rpc_params(req: &RawRequest) -> Vec<(String, String)> {
    let mut params = encode::form_decode(req.raw_query.as_bytes());
    if !req.body.is_empty() && is_form_body(req.headers) {
        params.extend(encode::form_decode(req.body));
    }
    params
}

fn is_form_body(headers: &HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|v| {
        let ct = encode::header_text(v);
        let ct = ct.trim_start().to_ascii_lowercase();
        ct.starts_with("application/x-www-form-urlencoded")
    })
}

/// Which scheme the request uses: an ACS3 or `acs` Authorization header wins,
/// then a `Signature` parameter; anything else is unsigned or unknown.
pub fn detect_scheme(req: &RawRequest) -> Result<Scheme, AuthError> {
    match authorization(req.headers)? {
        Some(auth) => {
            let token = auth.split_whitespace().next().unwrap_or("");
            if token.eq_ignore_ascii_case("acs") {
                return Ok(Scheme::RoaV1);
            }
            if token.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("ACS3-")) {
                return Ok(Scheme::Acs3);
            }
            if has_rpc_signature(req) {
                return Ok(Scheme::RpcV1);
            }
            if token.is_empty() {
                return Err(AuthError::IncompleteSignature("empty Authorization header".into()));
            }
            Err(AuthError::InvalidSignatureMethod(token.to_string()))
        }
        None if has_rpc_signature(req) => Ok(Scheme::RpcV1),
        None => Err(AuthError::MissingSignature),
    }
}

fn has_rpc_signature(req: &RawRequest) -> bool {
    rpc_params(req).iter().any(|(k, _)| k == "Signature")
}

/// The single `Authorization` header as text; two of them are ambiguous.
fn authorization(headers: &HeaderMap) -> Result<Option<String>, AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let first = values.next().map(|v| encode::header_text(v).into_owned());
    if values.next().is_some() {
        return Err(AuthError::IncompleteSignature("more than one Authorization header".into()));
    }
    Ok(first)
}

/// Detect the scheme and parse what the signature claims, checking the
/// request's shape (required parameters/headers, algorithm, coverage) but not
/// the signature itself, which needs the secret. Every scheme must carry a
/// nonce ([`AuthError::MissingNonce`]): all official SDKs send one with every request.
pub fn parse_claims(req: &RawRequest) -> Result<SignedClaims, AuthError> {
    match detect_scheme(req)? {
        Scheme::RpcV1 => rpc_v1::claims(req, &rpc_params(req)),
        Scheme::Acs3 => acs3::claims(req, &authorization(req.headers)?.unwrap_or_default()),
        Scheme::RoaV1 => roa_v1::claims(req, &authorization(req.headers)?.unwrap_or_default()),
    }
}

/// Verify the signature with the secret. On mismatch return
/// [`AuthError::SignatureDoesNotMatch`] carrying the server's string-to-sign.
/// `claims` must come from [`parse_claims`] on the same request.
pub fn verify(req: &RawRequest, claims: &SignedClaims, secret: &str) -> Result<(), AuthError> {
    match claims.scheme {
        Scheme::RpcV1 => rpc_v1::verify(req, claims, secret),
        Scheme::Acs3 => acs3::verify(req, claims, secret),
        Scheme::RoaV1 => roa_v1::verify(req, claims, secret),
    }
}

/// The only value of a header, trimmed; `Ok(None)` if absent. Repeating a
/// header that a claim is read from is ambiguous, hence an error.
/// The nonce a request must carry: present and not empty.
fn nonce_from(value: Option<String>, name: &'static str) -> Result<String, AuthError> {
    value.filter(|n| !n.is_empty()).ok_or(AuthError::MissingNonce(name))
}

fn single_header(headers: &HeaderMap, name: &str) -> Result<Option<String>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().map(|v| encode::header_text(v).trim().to_string());
    if values.next().is_some() {
        return Err(AuthError::IncompleteSignature(format!("header {name} sent more than once")));
    }
    Ok(first)
}
