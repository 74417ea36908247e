//! RPC V1 (HMAC-SHA1, `Signature=` in the query): the `aliyun` CLI, old SDKs
//! and current SDKs with `signature_algorithm='v2'` (docs/api/FACTS.md §3.1).
//!
//! The signature covers every parameter (query plus form body, empty values
//! included) and the method, but a *fixed* path `/` and no header at all. So
//! the path must be `/`, routing must use the signed `Action`/`Version`
//! parameters, and the unsigned `x-acs-action`/`x-acs-version` headers some
//! SDKs add must agree with them; otherwise a captured request could be
//! replayed against another path or action.

use super::encode::percent_encode;
use super::{mac, single_header, time, AuthError, RawRequest, Scheme, SignedClaims};

/// Parameters that must be present, non-empty and unique.
const REQUIRED: [&str; 6] =
    ["Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "AccessKeyId"];

/// `METHOD&%2F&pct(k1=v1&k2=v2…)` over all params but `Signature`, each key
/// and value RFC 3986-encoded, sorted by encoded key (then value) bytewise.
/// The method is upper-cased as given (the SDK test vector signs `""`).
pub fn string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    let canonical: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}&%2F&{}", method.to_ascii_uppercase(), percent_encode(&canonical.join("&")))
}

/// base64(HMAC-SHA1(key = secret + "&", string_to_sign)).
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    mac::sha1_base64(signing_key(secret).as_bytes(), string_to_sign)
}

fn signing_key(secret: &str) -> String {
    format!("{secret}&")
}

/// The only value of parameter `name`; a repeated one is ambiguous because
/// the signature covers both copies while a reader would pick one.
fn single<'p>(params: &'p [(String, String)], name: &str) -> Result<Option<&'p str>, AuthError> {
    let mut it = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = it.next();
    if it.next().is_some() {
        return Err(AuthError::IncompleteSignature(format!("parameter {name} given more than once")));
    }
    Ok(first)
}

fn required<'p>(params: &'p [(String, String)], name: &str) -> Result<&'p str, AuthError> {
    match single(params, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(AuthError::IncompleteSignature(format!("missing parameter {name}"))),
    }
}

/// Claims of an RPC V1 request; `params` is [`super::rpc_params`].
pub(crate) fn claims(req: &RawRequest, params: &[(String, String)]) -> Result<SignedClaims, AuthError> {
    let nonce = super::nonce_from(single(params, "SignatureNonce")?.map(str::to_string), "SignatureNonce")?;
    for name in REQUIRED {
        required(params, name)?;
    }
    check_method_and_version(params)?;
    if req.raw_path != "/" {
        return Err(AuthError::RpcPathNotRoot(req.raw_path.to_string()));
    }
    let action = single(params, "Action")?;
    let version = single(params, "Version")?;
    check_header_agrees(req, "x-acs-action", action)?;
    check_header_agrees(req, "x-acs-version", version)?;
    Ok(SignedClaims {
        scheme: Scheme::RpcV1,
        access_key_id: required(params, "AccessKeyId")?.to_string(),
        nonce,
        timestamp: Some(time::parse_iso8601(required(params, "Timestamp")?)?),
        action: action.map(str::to_string),
        version: version.map(str::to_string),
        security_token: single(params, "SecurityToken")?.map(str::to_string),
        signature: required(params, "Signature")?.to_string(),
        signed_headers: Vec::new(),
    })
}

fn check_method_and_version(params: &[(String, String)]) -> Result<(), AuthError> {
    let method = required(params, "SignatureMethod")?;
    if method != "HMAC-SHA1" {
        return Err(AuthError::InvalidSignatureMethod(method.to_string()));
    }
    let version = required(params, "SignatureVersion")?;
    if version != "1.0" {
        return Err(AuthError::IncompleteSignature(format!("unsupported SignatureVersion {version}")));
    }
    Ok(())
}

/// An unsigned routing header, when sent, must equal the signed parameter.
fn check_header_agrees(req: &RawRequest, header: &str, signed: Option<&str>) -> Result<(), AuthError> {
    match single_header(req.headers, header)? {
        Some(h) if Some(h.as_str()) != signed => Err(AuthError::HeaderParamMismatch(header.to_string())),
        _ => Ok(()),
    }
}

/// Recompute the signature over the request's parameters.
pub(crate) fn verify(req: &RawRequest, claims: &SignedClaims, secret: &str) -> Result<(), AuthError> {
    let sts = string_to_sign(req.method, &super::rpc_params(req));
    if mac::sha1_base64_matches(signing_key(secret).as_bytes(), &sts, &claims.signature) {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch { string_to_sign: sts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// docs/api/FACTS.md §3.1 V1-a (ECS documentation example).
    #[test]
    fn vector_v1_a() {
        let p = params(&[
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Version", "2014-05-26"),
        ]);
        let sts = string_to_sign("GET", &p);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    fn go_sdk_params() -> Vec<(String, String)> {
        params(&[
            ("AccessKeyId", "accessKeyId"),
            ("Action", ""),
            ("Format", "JSON"),
            ("RegionId", "regionId"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "MOCK_UUID"),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "mock date"),
            ("Version", ""),
        ])
    }

    /// V1-b: Go SDK `TestRpcSignatureComposer` (empty values kept, space → %2520).
    #[test]
    fn vector_v1_b() {
        let sts = string_to_sign("GET", &go_sdk_params());
        assert!(sts.contains("SignatureType%3D%26"));
        assert!(sts.contains("Timestamp%3Dmock%2520date"));
        assert_eq!(sign("accessKeySecret", &sts), "7loPmFjvDnzOVnQeQNj85S6nFGY=");
    }

    /// V1-c: V1-b plus an STS `SecurityToken`.
    #[test]
    fn vector_v1_c() {
        let mut p = go_sdk_params();
        p.push(("SecurityToken".into(), "accessKeyStsToken".into()));
        let sts = string_to_sign("GET", &p);
        assert_eq!(sign("accessKeySecret", &sts), "5Nxdcler+ihqWqv0Hr2On4PsBf4=");
    }

    /// V1-d: darabonba util test, empty method.
    #[test]
    fn vector_v1_d() {
        let sts = string_to_sign("", &params(&[("test", "ok")]));
        assert_eq!(sts, "&%2F&test%3Dok");
        assert_eq!(sign("accessKeySecret", &sts), "jHx/oHoHNrbVfhncHEvPdHXZwHU=");
    }

    #[test]
    fn signature_param_is_excluded_and_order_is_irrelevant() {
        let a = params(&[("b", "2"), ("a", "1"), ("Signature", "x")]);
        let b = params(&[("a", "1"), ("b", "2")]);
        assert_eq!(string_to_sign("post", &a), string_to_sign("POST", &b));
    }
}
