//! ACS3-HMAC-SHA256 (signature V3): the default of every current SDK, for
//! RPC and ROA products alike (docs/api/FACTS.md §3.3, docs/api/WIRE.md "ACS3").
//!
//! The client lists the headers it signed in `SignedHeaders`, and SDKs differ
//! in which they sign (Python signs all it sends, Go/Java only `host`,
//! `content-type` and `x-acs-*`). So the canonical headers are rebuilt from
//! exactly that list, and the server instead insists that the list covers
//! `host` and every `x-acs-*` header present; an unsigned `x-acs-action` or
//! `x-acs-date` could otherwise be altered at will. The body is covered only
//! through `x-acs-content-sha256`, so that header is checked against the body.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::encode::{form_decode, header_text, percent_encode};
use super::{mac, single_header, time, AuthError, RawRequest, Scheme, SignedClaims};

/// The only V3 algorithm accepted (not `ACS3-HMAC-SM3` or `ACS3-RSA-SHA256`).
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Headers every V3 request must send and sign.
const MUST_SIGN: [&str; 6] =
    ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"];

/// `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub credential: String,
    /// Lower-case, strictly ascending, non-empty names.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parse the Authorization value. The algorithm and the field names are
/// matched case-insensitively, whitespace around items is ignored; a missing,
/// empty, repeated or `=`-less field is [`AuthError::IncompleteSignature`].
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let value = value.trim();
    let (algorithm, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !algorithm.eq_ignore_ascii_case(ALGORITHM) {
        return Err(AuthError::InvalidSignatureMethod(algorithm.to_string()));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for item in rest.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, val) = item
            .split_once('=')
            .ok_or_else(|| incomplete(format!("malformed Authorization item {item:?}")))?;
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "credential" => &mut credential,
            "signedheaders" => &mut signed,
            "signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(val.trim().to_string()).is_some() {
            return Err(incomplete(format!("Authorization field {key} repeated")));
        }
    }
    Ok(Authorization {
        credential: non_empty(credential, "Credential")?,
        signed_headers: parse_signed_headers(&non_empty(signed, "SignedHeaders")?)?,
        signature: non_empty(signature, "Signature")?,
    })
}

fn incomplete(msg: String) -> AuthError {
    AuthError::IncompleteSignature(msg)
}

fn non_empty(v: Option<String>, field: &str) -> Result<String, AuthError> {
    v.filter(|s| !s.is_empty()).ok_or_else(|| incomplete(format!("Authorization lacks {field}")))
}

/// `a;b;c` → names; they must be lower-case and strictly ascending, which is
/// how every SDK sends them and what the canonical headers are built in.
fn parse_signed_headers(list: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = list.split(';').map(str::to_string).collect();
    let well_formed = names.iter().all(|n| !n.is_empty() && !n.bytes().any(|b| b.is_ascii_uppercase()));
    if !well_formed || !names.windows(2).all(|w| w[0] < w[1]) {
        return Err(incomplete(format!("SignedHeaders {list:?} must be lower-case, sorted and unique")));
    }
    Ok(names)
}

/// Form-decode each query pair, RFC 3986-encode key and value, sort bytewise,
/// join `k=v` with `&` (empty value → `k=`; no query → empty string).
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_decode(raw_query.as_bytes())
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

/// `name:value\n` for each signed name in order; several values of one name
/// are trimmed, sorted and joined with `,`; an absent header gives `name:`.
pub fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> String {
    signed
        .iter()
        .map(|name| {
            let mut vals: Vec<String> =
                headers.get_all(name.as_str()).iter().map(|v| header_text(v).trim().to_string()).collect();
            vals.sort();
            format!("{name}:{}\n", vals.join(","))
        })
        .collect()
}

/// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nPAYLOAD`, the URI being the raw
/// (still-encoded) path (`/` if empty). `CanonicalHeaders` ends in `\n`, so an
/// empty line precedes the signed-header list.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed: &[String],
    hashed_payload: &str,
) -> String {
    let uri = if raw_path.is_empty() { "/" } else { raw_path };
    format!(
        "{}\n{uri}\n{}\n{}\n{}\n{hashed_payload}",
        method.to_ascii_uppercase(),
        canonical_query(raw_query),
        canonical_headers(headers, signed),
        signed.join(";"),
    )
}

/// The canonical request of `req` with its `SignedHeaders` list, hashing the
/// actual body. Exposed for debugging signature mismatches.
pub fn canonical_request_for(req: &RawRequest, signed: &[String]) -> String {
    canonical_request(req.method, req.raw_path, req.raw_query, req.headers, signed, &sha256_hex(req.body))
}

/// `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical request)).
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// hex(HMAC-SHA256(key = secret, string_to_sign)); the key has no `&`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    mac::sha256_hex(secret.as_bytes(), string_to_sign)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Claims of a V3 request whose Authorization value is `auth`.
pub(crate) fn claims(req: &RawRequest, auth: &str) -> Result<SignedClaims, AuthError> {
    let a = parse_authorization(auth)?;
    let header = |name: &str| single_header(req.headers, name);
    let nonce = super::nonce_from(header("x-acs-signature-nonce")?, "x-acs-signature-nonce")?;
    check_coverage(req.headers, &a.signed_headers)?;
    let date = header("x-acs-date")?.unwrap_or_default();
    Ok(SignedClaims {
        scheme: Scheme::Acs3,
        access_key_id: a.credential,
        nonce,
        timestamp: Some(time::parse_iso8601(&date)?),
        action: header("x-acs-action")?,
        version: header("x-acs-version")?,
        security_token: header("x-acs-security-token")?,
        signature: a.signature,
        signed_headers: a.signed_headers,
    })
}

/// `host` and the V3 headers must be sent and signed, and so must every other
/// `x-acs-*` header present.
fn check_coverage(headers: &HeaderMap, signed: &[String]) -> Result<(), AuthError> {
    let is_signed = |n: &str| signed.iter().any(|s| s == n);
    for name in MUST_SIGN {
        if !headers.contains_key(name) || !is_signed(name) {
            return Err(incomplete(format!("header {name} must be sent and signed")));
        }
    }
    let unsigned = headers.keys().map(|k| k.as_str()).find(|k| k.starts_with("x-acs-") && !is_signed(k));
    match unsigned {
        Some(k) => Err(incomplete(format!("header {k} is not signed"))),
        None => Ok(()),
    }
}

/// Check the body hash, then recompute the signature.
pub(crate) fn verify(req: &RawRequest, claims: &SignedClaims, secret: &str) -> Result<(), AuthError> {
    let claimed_hash = single_header(req.headers, "x-acs-content-sha256")?;
    if claimed_hash.as_deref() != Some(sha256_hex(req.body).as_str()) {
        return Err(AuthError::ContentHashMismatch);
    }
    let sts = string_to_sign(&canonical_request_for(req, &claims.signed_headers));
    if mac::sha256_hex_matches(secret.as_bytes(), &sts, &claims.signature) {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch { string_to_sign: sts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn header_map(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn names(list: &str) -> Vec<String> {
        list.split(';').map(str::to_string).collect()
    }

    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// docs/api/FACTS.md §3.3 V3-a, the official "fixed parameter values" example.
    #[test]
    fn vector_v3_a() {
        let headers = header_map(&[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-content-sha256", EMPTY_SHA),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-version", "2014-05-26"),
        ]);
        let signed =
            names("host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version");
        let query = "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai";
        let cr = canonical_request("POST", "/", query, &headers, &signed, &sha256_hex(b""));
        let want = format!(
            "POST\n/\n{query}\nhost:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\n\
             x-acs-content-sha256:{EMPTY_SHA}\nx-acs-date:2023-10-26T10:22:32Z\n\
             x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\nx-acs-version:2014-05-26\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             {EMPTY_SHA}"
        );
        assert_eq!(cr, want);
        let sts = string_to_sign(&cr);
        assert_eq!(sts, "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
        assert_eq!(
            sign("YourAccessKeySecret", &sts),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    fn v3_b_signature(method: &str) -> String {
        let headers = header_map(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]);
        let signed = names("x-acs-test");
        let payload = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23";
        let cr = canonical_request(method, "/", "test=ok&empty=", &headers, &signed, payload);
        assert!(cr.contains("\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n"));
        sign("secret", &string_to_sign(&cr))
    }

    /// V3-b: darabonba util python test (repeated header, empty query value).
    #[test]
    fn vector_v3_b() {
        assert_eq!(v3_b_signature("GET"), "d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1");
    }

    /// V3-c: darabonba util Go test, same with an empty method.
    #[test]
    fn vector_v3_c() {
        assert_eq!(v3_b_signature(""), "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
    }

    #[test]
    fn canonical_query_reencodes() {
        assert_eq!(canonical_query("b=x+y&a=%2A~&c&Tag.1.Key=k%3Dv"), "Tag.1.Key=k%3Dv&a=%2A~&b=x%20y&c=");
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn authorization_parsing() {
        let a = parse_authorization(
            "acs3-hmac-sha256  credential=AK , SIGNEDHEADERS=host;x-acs-date,signature=ab",
        )
        .unwrap();
        assert_eq!(a.credential, "AK");
        assert_eq!(a.signed_headers, ["host", "x-acs-date"]);
        assert_eq!(a.signature, "ab");
        let bad = [
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=x;host,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=Host,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;;b,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;a,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,Credential=AK,SignedHeaders=a,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders,Signature=ab",
        ];
        for b in bad {
            assert!(matches!(parse_authorization(b), Err(AuthError::IncompleteSignature(_))), "{b}");
        }
        assert_eq!(
            parse_authorization("ACS3-HMAC-SM3 Credential=AK,SignedHeaders=a,Signature=ab"),
            Err(AuthError::InvalidSignatureMethod("ACS3-HMAC-SM3".into()))
        );
    }
}
