//! DescribeImageModifiedRecords' NextToken: opaque to clients, stable while new records arrive
//! (it names the last record returned by its monotonic seq; newer records sort before it), and
//! refused when forged, damaged, issued for another account or desktop, or stale.
//!
//! Layout (URL-safe base64, no padding): version byte, seq (8 bytes BE), issue time in Unix
//! seconds (8 bytes BE), then the first 16 bytes of HMAC-SHA256 over all that plus the account
//! and desktop, keyed with a server secret kept in the store (shared by every API server).

use base64::Engine;
use ecslab_core::Error;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + 8 + 8 + MAC_LEN;
/// A token older than this is stale: page through again from the start.
pub const MAX_AGE_SECS: i64 = 24 * 3600;

/// Who a token was issued to.
pub struct Scope<'a> {
    pub account_id: &'a str,
    pub desktop_id: &'a str,
}

/// The MAC over `body`, bound to the account and desktop.
fn mac(secret: &[u8], scope: &Scope<'_>, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(b"ecd-image-records\0");
    m.update(scope.account_id.as_bytes());
    m.update(b"\0");
    m.update(scope.desktop_id.as_bytes());
    m.update(b"\0");
    m.update(body);
    m
}

/// A token continuing below `seq`, issued at `now` (Unix seconds).
pub fn issue(secret: &[u8], scope: &Scope<'_>, seq: i64, now: i64) -> String {
    let mut body = Vec::with_capacity(TOKEN_LEN);
    body.push(VERSION);
    body.extend_from_slice(&seq.to_be_bytes());
    body.extend_from_slice(&now.to_be_bytes());
    let tag = mac(secret, scope, &body).finalize().into_bytes();
    body.extend_from_slice(&tag[..MAC_LEN]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
}

fn refused(why: &str) -> Error {
    Error::rejected(
        "InvalidParameter.NextToken",
        format!("The specified NextToken is not valid: {why}. Start again without NextToken."),
    )
}

/// The seq a token continues below, or `InvalidParameter.NextToken`.
pub fn accept(secret: &[u8], scope: &Scope<'_>, token: &str, now: i64) -> Result<i64, Error> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| refused("it was not issued by this server"))?;
    if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
        return Err(refused("it was not issued by this server"));
    }
    let (body, tag) = bytes.split_at(TOKEN_LEN - MAC_LEN);
    // Constant-time comparison of the truncated tag.
    if mac(secret, scope, body).verify_truncated_left(tag).is_err() {
        return Err(refused("it was not issued by this server for this desktop"));
    }
    let seq = i64::from_be_bytes(body[1..9].try_into().expect("8 bytes"));
    let issued = i64::from_be_bytes(body[9..17].try_into().expect("8 bytes"));
    if now - issued > MAX_AGE_SECS || issued - now > 300 {
        return Err(refused("it is stale (tokens are valid for 24 hours)"));
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    const NOW: i64 = 1_800_000_000;

    fn scope<'a>(account_id: &'a str, desktop_id: &'a str) -> Scope<'a> {
        Scope { account_id, desktop_id }
    }

    #[test]
    fn round_trip() {
        let token = issue(SECRET, &scope("a", "i-1"), 42, NOW);
        assert_eq!(accept(SECRET, &scope("a", "i-1"), &token, NOW + 60).unwrap(), 42);
    }

    #[test]
    fn refused_when_forged_moved_or_stale() {
        let token = issue(SECRET, &scope("a", "i-1"), 42, NOW);
        let code = |r: Result<i64, Error>| r.unwrap_err().code();
        assert_eq!(code(accept(SECRET, &scope("a", "i-2"), &token, NOW)), "InvalidParameter.NextToken");
        assert_eq!(code(accept(SECRET, &scope("b", "i-1"), &token, NOW)), "InvalidParameter.NextToken");
        assert_eq!(code(accept(b"other", &scope("a", "i-1"), &token, NOW)), "InvalidParameter.NextToken");
        assert_eq!(
            code(accept(SECRET, &scope("a", "i-1"), &token, NOW + MAX_AGE_SECS + 1)),
            "InvalidParameter.NextToken"
        );
        assert_eq!(code(accept(SECRET, &scope("a", "i-1"), "garbage!", NOW)), "InvalidParameter.NextToken");
        // Change the seq inside a real token: the MAC no longer matches.
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[8] ^= 1;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(code(accept(SECRET, &scope("a", "i-1"), &forged, NOW)), "InvalidParameter.NextToken");
    }
}
