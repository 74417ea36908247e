//! ROA V1 (`Authorization: acs AK:sig`, HMAC-SHA1): REST products (PAI-DSW)
//! via the `aliyun` CLI, old SDKs and `signature_algorithm='v2'`
//! (docs/api/FACTS.md §3.2, docs/api/WIRE.md "ROA V1").
//!
//! The string-to-sign is `METHOD`, `Accept`, `Content-MD5`, `Content-Type`,
//! `Date` (one line each, empty when absent, as the Python SDK signs), every
//! `x-acs-*` header as `name:value` sorted by name (value neither trimmed nor
//! encoded), then the resource: the path as the client signed it plus `?` and
//! the sorted, *decoded* query (`k=v`, or a bare `k` for an empty value).
//!
//! The path is taken raw, as on the wire: that is what the Python SDK signs
//! (its path parameters are already percent-encoded). The old Go SDK signs the
//! path before encoding it, so the two only agree on paths with nothing to
//! encode, which holds for every PAI-DSW resource id. The body is *not*
//! covered (the SDKs send no Content-MD5); that is by design of the scheme. The nonce header
//! is an `x-acs-*` header, so it is signed, and it is required (see [`claims`]).

use http::HeaderMap;

use super::encode::{form_decode, header_text};
use super::{mac, single_header, time, AuthError, RawRequest, Scheme, SignedClaims};

/// `acs AK:sig` → `(AK, sig)`; both must be non-empty.
pub fn parse_authorization(value: &str) -> Result<(String, String), AuthError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("acs") {
        return Err(AuthError::InvalidSignatureMethod(scheme.to_string()));
    }
    match rest.trim().split_once(':') {
        Some((ak, sig)) if !ak.trim().is_empty() && !sig.trim().is_empty() => {
            Ok((ak.trim().to_string(), sig.trim().to_string()))
        }
        _ => {
            Err(AuthError::IncompleteSignature("Authorization must be \"acs AccessKeyId:Signature\"".into()))
        }
    }
}

/// The first value of `name`, or "" if absent.
fn first(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).map(|v| header_text(v).into_owned()).unwrap_or_default()
}

/// Sorted `name:value\n` lines for every `x-acs-*` header value.
fn acs_header_lines(headers: &HeaderMap) -> String {
    let mut lines: Vec<(&str, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-acs-"))
        .map(|(k, v)| (k.as_str(), header_text(v).into_owned()))
        .collect();
    lines.sort();
    lines.iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
}

/// `path` + (if any query) `?` + sorted decoded pairs, `k` alone if empty.
fn canonical_resource(path: &str, raw_query: &str) -> String {
    let mut pairs = form_decode(raw_query.as_bytes());
    if pairs.is_empty() {
        return path.to_string();
    }
    pairs.sort();
    let items: Vec<String> =
        pairs.into_iter().map(|(k, v)| if v.is_empty() { k } else { format!("{k}={v}") }).collect();
    format!("{path}?{}", items.join("&"))
}

/// The ROA V1 string-to-sign of a request (see the module docs).
pub fn string_to_sign(method: &str, raw_path: &str, raw_query: &str, headers: &HeaderMap) -> String {
    let fixed: Vec<String> =
        ["accept", "content-md5", "content-type", "date"].iter().map(|n| first(headers, n)).collect();
    format!(
        "{}\n{}\n{}{}",
        method.to_ascii_uppercase(),
        fixed.join("\n"),
        acs_header_lines(headers),
        canonical_resource(raw_path, raw_query),
    )
}

/// base64(HMAC-SHA1(key = secret, string_to_sign)); the key has no `&`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    mac::sha1_base64(secret.as_bytes(), string_to_sign)
}

/// Claims of a ROA V1 request whose Authorization value is `auth`.
/// `x-acs-signature-method: HMAC-SHA1`, a `Date` and an `x-acs-signature-nonce` are required:
/// the scheme itself leaves the nonce optional, but every SDK sends one, and without it a
/// request could be replayed byte for byte for as long as its `Date` is in the window.
pub(crate) fn claims(req: &RawRequest, auth: &str) -> Result<SignedClaims, AuthError> {
    let (access_key_id, signature) = parse_authorization(auth)?;
    let header = |name: &str| single_header(req.headers, name);
    match header("x-acs-signature-method")? {
        Some(m) if m == "HMAC-SHA1" => {}
        Some(m) => return Err(AuthError::InvalidSignatureMethod(m)),
        None => return Err(AuthError::IncompleteSignature("missing header x-acs-signature-method".into())),
    }
    let date = header("date")?
        .filter(|d| !d.is_empty())
        .ok_or_else(|| AuthError::IncompleteSignature("missing header Date".into()))?;
    Ok(SignedClaims {
        scheme: Scheme::RoaV1,
        access_key_id,
        nonce: super::nonce_from(header("x-acs-signature-nonce")?, "x-acs-signature-nonce")?,
        timestamp: Some(time::parse_http_date(&date)?),
        action: header("x-acs-action")?,
        version: header("x-acs-version")?,
        security_token: header("x-acs-security-token")?,
        signature,
        signed_headers: Vec::new(),
    })
}

/// Recompute the signature.
pub(crate) fn verify(req: &RawRequest, claims: &SignedClaims, secret: &str) -> Result<(), AuthError> {
    let sts = string_to_sign(req.method, req.raw_path, req.raw_query, req.headers);
    if mac::sha1_base64_matches(secret.as_bytes(), &sts, &claims.signature) {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch { string_to_sign: sts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn go_sdk_headers(accept: &str, md5: &str, ctype: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let list = [
            ("accept", accept),
            ("content-md5", md5),
            ("content-type", ctype),
            ("date", "mock date"),
            ("x-acs-version", ""),
            ("x-acs-signature-version", "1.0"),
            ("x-acs-signature-method", "HMAC-SHA1"),
        ];
        for (k, v) in list {
            h.append(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const ROA_A: &str = "GET\napplication/json\n1B2M2Y8AsgTpgAmY7PhCfg==\napplication/octet-stream\n\
                         mock date\nx-acs-signature-method:HMAC-SHA1\nx-acs-signature-version:1.0\n\
                         x-acs-version:\n/users/:user";

    /// docs/api/FACTS.md §3.2 ROA-a (Go SDK `TestRoaSignatureComposer`).
    #[test]
    fn vector_roa_a() {
        assert_eq!(sign("accessKeySecret", ROA_A), "degLHXLEN6rMojj+bOlK74U9iic=");
        let h = go_sdk_headers("application/json", "1B2M2Y8AsgTpgAmY7PhCfg==", "application/octet-stream");
        assert_eq!(string_to_sign("GET", "/users/:user", "", &h), ROA_A);
    }

    /// ROA-b (form body `key=value`, XML accept).
    #[test]
    fn vector_roa_b() {
        let h = go_sdk_headers(
            "application/xml",
            "7xdqbEJPlU+kLUzeA5SYlw==",
            "application/x-www-form-urlencoded",
        );
        let sts = string_to_sign("GET", "/users/:user", "", &h);
        assert_eq!(
            sts,
            "GET\napplication/xml\n7xdqbEJPlU+kLUzeA5SYlw==\napplication/x-www-form-urlencoded\n\
             mock date\nx-acs-signature-method:HMAC-SHA1\nx-acs-signature-version:1.0\n\
             x-acs-version:\n/users/:user"
        );
        assert_eq!(sign("accessKeySecret", &sts), "U9uA3ftRZKixHPB08Z7Z4GOlpTY=");
    }

    #[test]
    fn absent_headers_give_empty_lines_and_query_is_decoded() {
        let h = HeaderMap::new();
        let sts = string_to_sign("get", "/p", "b=x+y%21&a&c=", &h);
        assert_eq!(sts, "GET\n\n\n\n\n/p?a&b=x y!&c");
    }

    #[test]
    fn authorization_parsing() {
        assert_eq!(parse_authorization("acs AK:c2ln").unwrap(), ("AK".to_string(), "c2ln".to_string()));
        for bad in ["acs", "acs AK", "acs :sig", "acs AK:", "acs  : "] {
            assert!(matches!(parse_authorization(bad), Err(AuthError::IncompleteSignature(_))), "{bad}");
        }
    }
}
