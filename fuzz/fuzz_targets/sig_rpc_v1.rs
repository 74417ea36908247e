//! RPC V1 (HMAC-SHA1, `Signature` parameter): the SDK captures mutated, or the signature parameters each present, absent or
//! arbitrary, in the query or a form body, with arbitrary extra parameters, a raw (possibly badly
//! encoded) query tail, headers and path. Property: see `ecslab_fuzz::check_signed`.
#![no_main]

use arbitrary::Arbitrary;
use ecslab_fuzz::{check_signed, form_encode, with_signature, Case, Method, Wire};
use libfuzzer_sys::fuzz_target;

/// A signature parameter: absent, the value a real client sends, or anything.
#[derive(Debug, Clone, Arbitrary)]
enum Value {
    Absent,
    Good,
    Any(String),
}

#[derive(Debug, Clone, Arbitrary)]
struct Input {
    method: Method,
    /// None is `/`, the only path RPC V1 signs.
    path: Option<String>,
    values: [Value; 8],
    extra: Vec<(String, String)>,
    /// Appended to the query as is: stray `%`, `&&`, `=` without key, invalid UTF-8 escapes.
    raw_tail: String,
    /// The parameters go in an `application/x-www-form-urlencoded` body instead of the query.
    in_body: bool,
    content_type: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
}

const NAMES: [(&str, &str); 8] = [
    ("AccessKeyId", "LTAIfuzz"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureVersion", "1.0"),
    ("SignatureNonce", "9f2b7c1e"),
    ("Timestamp", "2026-12-06T12:00:00Z"),
    ("Action", "DescribeRegions"),
    ("Version", "2014-05-26"),
    ("Signature", "c2lnbmF0dXJl"),
];

impl Input {
    fn wire(&self) -> Wire {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for ((name, good), value) in NAMES.iter().zip(&self.values) {
            match value {
                Value::Absent => {}
                Value::Good => pairs.push((name.to_string(), good.to_string())),
                Value::Any(v) => pairs.push((name.to_string(), v.clone())),
            }
        }
        pairs.extend(self.extra.iter().cloned());
        let mut encoded = form_encode(&pairs);
        if !self.raw_tail.is_empty() {
            encoded.push('&');
            encoded.push_str(&self.raw_tail);
        }
        let mut headers = self.headers.clone();
        if let Some(ct) = &self.content_type {
            headers.push(("content-type".into(), ct.clone().into_bytes()));
        }
        let (query, body) = if self.in_body {
            headers.push(("content-type".into(), b"application/x-www-form-urlencoded".to_vec()));
            (String::new(), encoded.into_bytes())
        } else {
            (encoded, Vec::new())
        };
        Wire {
            method: self.method.as_string(),
            path: self.path.clone().unwrap_or_else(|| "/".into()),
            query,
            headers,
            body,
        }
    }
}

fuzz_target!(|case: Case<Input>| {
    let Some(input) = case.built("RPC-HMAC-SHA1") else { return };
    // Re-signed where the server found the signature (a duplicate the input carries in its
    // extra parameters or headers is replaced, not joined by a second one).
    let wire = input.wire();
    check_signed(&wire, |claims, signature| with_signature(&wire, claims, signature));
});
