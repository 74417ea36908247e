//! ACS3-HMAC-SHA256 (`Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`): the SDK captures mutated, or
//! the Authorization built from arbitrary parts or taken as arbitrary text, the `x-acs-*`
//! headers each present, absent or arbitrary, a content hash that matches the body or not,
//! arbitrary query, headers, path and body. Property: see `ecslab_fuzz::check_signed`.
#![no_main]

use arbitrary::Arbitrary;
use ecslab_api::auth::acs3;
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
    /// Well-formed items; `signed` None signs every header sent, in order.
    Parts {
        algorithm: Option<String>,
        credential: String,
        signed: Option<Vec<String>>,
        signature: String,
    },
    Text(String),
}

#[derive(Debug, Clone, Arbitrary)]
struct Input {
    method: Method,
    path: String,
    query: String,
    values: [Value; 6],
    /// x-acs-content-sha256 is the body's hash (else `values` decides).
    hash_body: bool,
    authorization: Authorization,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

const NAMES: [(&str, &str); 6] = [
    ("host", "127.0.0.1:8080"),
    ("x-acs-action", "DescribeRegions"),
    ("x-acs-version", "2014-05-26"),
    ("x-acs-date", "2026-12-06T12:00:00Z"),
    ("x-acs-signature-nonce", "9f2b7c1e"),
    ("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
];

impl Input {
    fn wire(&self) -> Wire {
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        for ((name, good), value) in NAMES.iter().zip(&self.values) {
            let value = match value {
                Value::Absent => continue,
                _ if *name == "x-acs-content-sha256" && self.hash_body => {
                    acs3::sha256_hex(&self.body).into_bytes()
                }
                Value::Good => good.as_bytes().to_vec(),
                Value::Any(v) => v.clone(),
            };
            headers.push((name.to_string(), value));
        }
        headers.extend(self.headers.iter().cloned());
        let authorization = match &self.authorization {
            Authorization::Parts { algorithm, credential, signed, signature } => {
                let mut names: Vec<String> = match signed {
                    Some(list) => list.clone(),
                    None => headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect(),
                };
                if signed.is_none() {
                    names.sort();
                    names.dedup();
                }
                format!(
                    "{} Credential={credential},SignedHeaders={},Signature={signature}",
                    algorithm.as_deref().unwrap_or(acs3::ALGORITHM),
                    names.join(";")
                )
            }
            Authorization::Text(text) => text.clone(),
        };
        headers.push(("authorization".into(), authorization.into_bytes()));
        Wire {
            method: self.method.as_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers,
            body: self.body.clone(),
        }
    }
}

fuzz_target!(|case: Case<Input>| {
    let Some(input) = case.built("ACS3-HMAC-SHA256") else { return };
    // Re-signed where the server found the signature (a duplicate the input carries in its
    // extra parameters or headers is replaced, not joined by a second one).
    let wire = input.wire();
    check_signed(&wire, |claims, signature| with_signature(&wire, claims, signature));
});
