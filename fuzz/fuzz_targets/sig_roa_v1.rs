//! ROA V1 (`Authorization: acs AK:signature`, HMAC-SHA1 over headers and the resource): the SDK captures mutated, or the
//! Authorization built from parts or arbitrary text, `Date` and the `x-acs-*` headers each
//! present, absent or arbitrary, arbitrary path (PAI-DSW's and any other), query, headers and
//! body. Property: see `ecslab_fuzz::check_signed`.
#![no_main]

use arbitrary::Arbitrary;
use ecslab_fuzz::{check_signed, with_signature, Case, Method, Wire};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, Arbitrary)]
enum Value {
    Absent,
    Good,
    Any(Vec<u8>),
}

#[derive(Debug, Clone, Arbitrary)]
enum Authorization {
    Parts { access_key_id: String, signature: String },
    Text(String),
}

#[derive(Debug, Clone, Arbitrary)]
struct Input {
    method: Method,
    /// Appended to PAI-DSW's prefix, or (false) the whole path.
    under_pai: bool,
    path: String,
    query: String,
    values: [Value; 7],
    authorization: Authorization,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

const NAMES: [(&str, &str); 7] = [
    ("date", "Sun, 06 Dec 2026 12:00:00 GMT"),
    ("accept", "application/json"),
    ("content-type", "application/json"),
    ("x-acs-action", "ListInstanceSnapshot"),
    ("x-acs-version", "2022-01-01"),
    ("x-acs-signature-nonce", "9f2b7c1e"),
    ("x-acs-signature-method", "HMAC-SHA1"),
];

impl Input {
    fn wire(&self) -> Wire {
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        for ((name, good), value) in NAMES.iter().zip(&self.values) {
            match value {
                Value::Absent => {}
                Value::Good => headers.push((name.to_string(), good.as_bytes().to_vec())),
                Value::Any(v) => headers.push((name.to_string(), v.clone())),
            }
        }
        headers.extend(self.headers.iter().cloned());
        let authorization = match &self.authorization {
            Authorization::Parts { access_key_id, signature } => format!("acs {access_key_id}:{signature}"),
            Authorization::Text(text) => text.clone(),
        };
        headers.push(("authorization".into(), authorization.into_bytes()));
        let path =
            if self.under_pai { format!("/api/v2/instances/{}", self.path) } else { self.path.clone() };
        Wire {
            method: self.method.as_string(),
            path,
            query: self.query.clone(),
            headers,
            body: self.body.clone(),
        }
    }
}

fuzz_target!(|case: Case<Input>| {
    let Some(input) = case.built("ROA-HMAC-SHA1") else { return };
    // Re-signed where the server found the signature (a duplicate the input carries in its
    // extra parameters or headers is replaced, not joined by a second one).
    let wire = input.wire();
    check_signed(&wire, |claims, signature| with_signature(&wire, claims, signature));
});
