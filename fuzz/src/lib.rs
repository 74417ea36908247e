//! What the fuzz targets share: a request as plain owned parts ([`Wire`]) that becomes the
//! [`RawRequest`] the signature parsers read, and the one property every signature target checks
//! ([`check_signed`]): parsing and verifying never panic, and a request re-signed with the
//! server's own string-to-sign verifies. That second half makes the fuzzer an oracle for the
//! canonicalisation too (a request whose string-to-sign depends on its signature, or that the
//! server cannot read back the same way twice, fails it), not only a crash finder.

use arbitrary::Arbitrary;
use ecslab_api::auth::{self, AuthError, RawRequest, Scheme, SignedClaims};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The secret every fuzzed request is verified with.
pub const SECRET: &str = "fuzz-secret";

/// A request as its parts: what a client could put on the wire.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Wire {
    /// The headers that http accepts (a client cannot send the others: hyper refuses them
    /// before any parser sees them).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
            {
                map.append(n, v);
            }
        }
        map
    }
}

/// HTTP methods, mostly the ones clients send.
#[derive(Debug, Clone, Arbitrary)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Other(String),
}

impl Method {
    pub fn as_string(&self) -> String {
        match self {
            Method::Get => "GET".into(),
            Method::Post => "POST".into(),
            Method::Put => "PUT".into(),
            Method::Delete => "DELETE".into(),
            Method::Other(m) => m.clone(),
        }
    }
}

/// Form-encode pairs as a query string or form body (`+` for a space, as clients do).
pub fn form_encode(pairs: &[(String, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// Parse and verify `wire`; when the signature does not match, re-sign it with the server's
/// string-to-sign through `resign` (which builds the same request carrying that signature) and
/// insist that the result verifies.
pub fn check_signed(wire: &Wire, resign: impl Fn(&SignedClaims, &str) -> Wire) {
    check_signed_with(wire, SECRET, resign)
}

/// [`check_signed`] with the secret the request was signed with.
pub fn check_signed_with(wire: &Wire, secret: &str, resign: impl Fn(&SignedClaims, &str) -> Wire) {
    let headers = wire.header_map();
    let req = raw(wire, &headers);
    let Ok(claims) = auth::parse_claims(&req) else { return };
    let string_to_sign = match auth::verify(&req, &claims, secret) {
        Ok(()) => return,
        Err(AuthError::SignatureDoesNotMatch { string_to_sign }) => string_to_sign,
        Err(_) => return,
    };
    let signature = match claims.scheme {
        Scheme::RpcV1 => auth::rpc_v1::sign(secret, &string_to_sign),
        Scheme::Acs3 => auth::acs3::sign(secret, &string_to_sign),
        Scheme::RoaV1 => auth::roa_v1::sign(secret, &string_to_sign),
    };
    let signed = resign(&claims, &signature);
    let signed_headers = signed.header_map();
    let again = raw(&signed, &signed_headers);
    let reclaims = auth::parse_claims(&again)
        .unwrap_or_else(|e| panic!("the re-signed request no longer parses: {e}\n{signed:?}"));
    assert_eq!(reclaims.scheme, claims.scheme);
    if let Err(e) = auth::verify(&again, &reclaims, secret) {
        panic!("a request signed with the server's own string-to-sign does not verify: {e}\n{signed:?}");
    }
}

fn raw<'a>(wire: &'a Wire, headers: &'a HeaderMap) -> RawRequest<'a> {
    RawRequest {
        method: &wire.method,
        raw_path: &wire.path,
        raw_query: &wire.query,
        headers,
        body: &wire.body,
    }
}

/// A request an official SDK really sent (crates/api/tests/fixtures/captures), and the secret
/// it was signed with: the signature targets start from these so their runs begin at real
/// requests, then mutate them ([`Mutation`]).
#[derive(Debug, Clone)]
pub struct Capture {
    pub wire: Wire,
    pub secret: String,
}

/// Every capture signed with `scheme` (the capture's `signature_scheme`, e.g. `RPC-HMAC-SHA1`).
pub fn captures(scheme: &str) -> Vec<Capture> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/api/tests/fixtures/captures");
    let mut found = Vec::new();
    for dir in [root.clone(), root.join("sigv2")] {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable capture");
            let doc: serde_json::Value = serde_json::from_str(&text).expect("a JSON capture");
            if doc["signature_scheme"] != scheme {
                continue;
            }
            let wire = &doc["wire"];
            let text_of = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let headers = wire["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| (text_of(&h[0]), text_of(&h[1]).into_bytes()))
                .collect();
            found.push(Capture {
                wire: Wire {
                    method: text_of(&wire["method"]),
                    path: text_of(&wire["path"]),
                    query: text_of(&wire["raw_query"]),
                    headers,
                    body: text_of(&wire["body"]).into_bytes(),
                },
                secret: text_of(&doc["credentials"]["access_key_secret"]),
            });
        }
    }
    assert!(!found.is_empty(), "no {scheme} capture under {}", root.display());
    found
}

/// One change to a captured request.
#[derive(Debug, Clone, Arbitrary)]
pub enum Mutation {
    /// Replace the header's value (or add the header when absent).
    SetHeader(String, Vec<u8>),
    AddHeader(String, Vec<u8>),
    /// Remove the n-th header (modulo their count).
    RemoveHeader(u8),
    /// Append raw text to the query, after a `&`.
    AppendQuery(String),
    ReplaceQuery(String),
    /// Overwrite one byte of the query (position modulo its length).
    QueryByte(u16, u8),
    SetMethod(Method),
    SetPath(String),
    SetBody(Vec<u8>),
}

impl Mutation {
    pub fn apply(&self, wire: &mut Wire) {
        match self {
            Mutation::SetHeader(name, value) => {
                match wire.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some(header) => header.1 = value.clone(),
                    None => wire.headers.push((name.clone(), value.clone())),
                }
            }
            Mutation::AddHeader(name, value) => wire.headers.push((name.clone(), value.clone())),
            Mutation::RemoveHeader(n) => {
                if !wire.headers.is_empty() {
                    wire.headers.remove(usize::from(*n) % wire.headers.len());
                }
            }
            Mutation::AppendQuery(tail) => {
                wire.query.push('&');
                wire.query.push_str(tail);
            }
            Mutation::ReplaceQuery(query) => wire.query = query.clone(),
            Mutation::QueryByte(at, byte) => {
                let mut bytes = std::mem::take(&mut wire.query).into_bytes();
                if !bytes.is_empty() {
                    let at = usize::from(*at) % bytes.len();
                    bytes[at] = *byte;
                }
                wire.query = String::from_utf8_lossy(&bytes).into_owned();
            }
            Mutation::SetMethod(method) => wire.method = method.as_string(),
            Mutation::SetPath(path) => wire.path = path.clone(),
            Mutation::SetBody(body) => wire.body = body.clone(),
        }
    }
}

/// A signature target's input: a request built from parts (the target's own `I`), or one an SDK
/// really sent, mutated.
#[derive(Debug, Clone, Arbitrary)]
pub enum Case<I> {
    Built(Box<I>),
    Captured { index: u8, mutations: Vec<Mutation> },
}

impl<I> Case<I> {
    /// The built input; a captured case is checked here against the captures of `scheme`.
    pub fn built(self, scheme: &'static str) -> Option<I> {
        match self {
            Case::Built(input) => Some(*input),
            Case::Captured { index, mutations } => {
                check_capture(recorded(scheme), index, &mutations);
                None
            }
        }
    }
}

/// The captures of `scheme`, loaded once per process.
fn recorded(scheme: &'static str) -> &'static [Capture] {
    static CAPTURES: OnceLock<Mutex<HashMap<&'static str, &'static [Capture]>>> = OnceLock::new();
    let mut loaded = CAPTURES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    loaded.entry(scheme).or_insert_with(|| Box::leak(captures(scheme).into_boxed_slice()))
}

/// A captured request, mutated, checked with its own secret (see [`check_signed`]).
pub fn check_capture(captures: &[Capture], index: u8, mutations: &[Mutation]) {
    let capture = &captures[usize::from(index) % captures.len()];
    let mut wire = capture.wire.clone();
    for mutation in mutations {
        mutation.apply(&mut wire);
    }
    check_signed_with(&wire, &capture.secret, |claims, signature| with_signature(&wire, claims, signature));
}

/// `wire` carrying `signature` in place of the one it had, where its scheme puts it.
pub fn with_signature(wire: &Wire, claims: &SignedClaims, signature: &str) -> Wire {
    let mut signed = wire.clone();
    let authorization = match claims.scheme {
        Scheme::RpcV1 => {
            // Drop every `Signature` piece from the query and a form body, then add the new one
            // where the old one was; the other pieces stay byte for byte as they were.
            let without = |raw: &[u8]| -> (Vec<u8>, bool) {
                let mut kept: Vec<&[u8]> = Vec::new();
                let mut had = false;
                for piece in raw.split(|b| *b == b'&') {
                    let is_signature =
                        form_urlencoded::parse(piece).next().is_some_and(|(k, _)| k == "Signature");
                    had |= is_signature;
                    if !is_signature {
                        kept.push(piece);
                    }
                }
                (kept.join(&b'&'), had)
            };
            let piece = form_encode(&[("Signature".into(), signature.into())]);
            let (query, in_query) = without(wire.query.as_bytes());
            let (body, _) = without(&wire.body);
            signed.query = String::from_utf8_lossy(&query).into_owned();
            signed.body = body;
            if in_query {
                signed.query.push('&');
                signed.query.push_str(&piece);
            } else {
                signed.body.extend_from_slice(format!("&{piece}").as_bytes());
            }
            return signed;
        }
        Scheme::Acs3 => format!(
            "{} Credential={},SignedHeaders={},Signature={signature}",
            auth::acs3::ALGORITHM,
            claims.access_key_id,
            claims.signed_headers.join(";")
        ),
        Scheme::RoaV1 => format!("acs {}:{signature}", claims.access_key_id),
    };
    signed.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    signed.headers.push(("authorization".into(), authorization.into_bytes()));
    signed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The starting points are real: every capture loads and verifies as recorded, and one
    /// re-signed through [`with_signature`] verifies too.
    #[test]
    fn captures_verify_as_recorded_and_re_signed() {
        for scheme in ["RPC-HMAC-SHA1", "ACS3-HMAC-SHA256", "ROA-HMAC-SHA1"] {
            for capture in captures(scheme) {
                let headers = capture.wire.header_map();
                let req = raw(&capture.wire, &headers);
                let claims = auth::parse_claims(&req).expect("a capture parses");
                assert_eq!(claims.scheme.as_str(), scheme);
                auth::verify(&req, &claims, &capture.secret).expect("a capture verifies");

                let mut changed = capture.wire.clone();
                Mutation::AddHeader("x-acs-fuzz".into(), b"1".to_vec()).apply(&mut changed);
                Mutation::AppendQuery("Fuzz=1".into()).apply(&mut changed);
                check_signed_with(&changed, &capture.secret, |c, s| with_signature(&changed, c, s));
            }
        }
    }
}
