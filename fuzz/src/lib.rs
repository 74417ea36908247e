//! What the fuzz targets share: a request as plain owned parts ([`Wire`]) that becomes the
//! [`RawRequest`] the signature parsers read, and the one property every signature target checks
//! ([`check_signed`]): parsing and verifying never panic, and a request re-signed with the
//! server's own string-to-sign verifies. That second half makes the fuzzer an oracle for the
//! canonicalisation too (a request whose string-to-sign depends on its signature, or that the
//! server cannot read back the same way twice, fails it), not only a crash finder.

use arbitrary::Arbitrary;
use ecslab_api::auth::{self, AuthError, RawRequest, Scheme, SignedClaims};
use http::{HeaderMap, HeaderName, HeaderValue};

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
    let headers = wire.header_map();
    let req = raw(wire, &headers);
    let Ok(claims) = auth::parse_claims(&req) else { return };
    let string_to_sign = match auth::verify(&req, &claims, SECRET) {
        Ok(()) => return,
        Err(AuthError::SignatureDoesNotMatch { string_to_sign }) => string_to_sign,
        Err(_) => return,
    };
    let signature = match claims.scheme {
        Scheme::RpcV1 => auth::rpc_v1::sign(SECRET, &string_to_sign),
        Scheme::Acs3 => auth::acs3::sign(SECRET, &string_to_sign),
        Scheme::RoaV1 => auth::roa_v1::sign(SECRET, &string_to_sign),
    };
    let signed = resign(&claims, &signature);
    let signed_headers = signed.header_map();
    let again = raw(&signed, &signed_headers);
    let reclaims = auth::parse_claims(&again)
        .unwrap_or_else(|e| panic!("the re-signed request no longer parses: {e}\n{signed:?}"));
    assert_eq!(reclaims.scheme, claims.scheme);
    if let Err(e) = auth::verify(&again, &reclaims, SECRET) {
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
