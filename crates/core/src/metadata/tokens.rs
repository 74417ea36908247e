//! Security-hardening mode's session tokens (`PUT /latest/api/token` with
//! `X-aliyun-ecs-metadata-token-ttl-seconds`, then `X-aliyun-ecs-metadata-token` on every read), as on ECS.
//!
//! A token is self-contained: the instance it was issued to, its expiry, and an HMAC-SHA256 over both with a
//! server secret kept in the store. So nothing is stored per token, tokens survive a server restart (as they do
//! on ECS, where the guest keeps using one for up to six hours), and a token is worth nothing to another
//! instance or after its time.

use crate::signed::SigningKey;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest TTL ECS grants: six hours.
pub const MAX_TTL_SECS: u64 = 21_600;

/// Why a token request is refused (400 on ECS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtlError {
    Missing,
    Invalid,
}

/// The TTL header's value: whole seconds in 1..=21600.
pub fn parse_ttl(header: Option<&str>) -> Result<Duration, TtlError> {
    let text = header.ok_or(TtlError::Missing)?.trim();
    let secs: u64 = text.parse().map_err(|_| TtlError::Invalid)?;
    if (1..=MAX_TTL_SECS).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(TtlError::Invalid)
    }
}

/// The server's key for tokens.
#[derive(Debug, Clone)]
pub struct TokenKey(SigningKey);

/// The label metadata tokens are signed under.
const LABEL: &str = "metadata-token";

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl TokenKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> TokenKey {
        TokenKey(SigningKey::new(secret))
    }

    /// A token for `instance_id`, valid for `ttl` from `now`.
    pub fn issue(&self, instance_id: &str, ttl: Duration, now: SystemTime) -> String {
        self.0.sign(LABEL, &format!("{}.{instance_id}", unix(now) + ttl.as_secs()))
    }

    /// Whether `token` was issued by this key to `instance_id` and has not expired at `now`.
    pub fn accepts(&self, token: &str, instance_id: &str, now: SystemTime) -> bool {
        let Some(claims) = self.0.verify(LABEL, token) else { return false };
        let Some((expiry, owner)) = claims.split_once('.') else { return false };
        let Ok(expiry) = expiry.parse::<u64>() else { return false };
        owner == instance_id && unix(now) < expiry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn ttl_is_whole_seconds_up_to_six_hours() {
        assert_eq!(parse_ttl(Some("21600")), Ok(Duration::from_secs(21_600)));
        assert_eq!(parse_ttl(Some(" 1 ")), Ok(Duration::from_secs(1)));
        assert_eq!(parse_ttl(None), Err(TtlError::Missing));
        for bad in ["0", "21601", "-5", "1.5", "", "ten"] {
            assert_eq!(parse_ttl(Some(bad)), Err(TtlError::Invalid), "{bad}");
        }
    }

    #[test]
    fn a_token_is_for_one_instance_one_key_and_its_time() {
        let key = TokenKey::new("secret");
        let now = SystemTime::now();
        let token = key.issue("i-1", Duration::from_secs(60), now);
        assert!(key.accepts(&token, "i-1", now));
        assert!(key.accepts(&token, "i-1", now + Duration::from_secs(59)));
        assert!(!key.accepts(&token, "i-1", now + Duration::from_secs(61)), "expired");
        assert!(!key.accepts(&token, "i-2", now), "another instance");
        assert!(!TokenKey::new("other").accepts(&token, "i-1", now), "another server");
        let (claims, _) = token.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(format!("{}.i-1", unix(now) + 999_999));
        assert!(!key.accepts(&token.replacen(claims, &forged_claims, 1), "i-1", now), "claims are signed");
        for junk in ["", ".", "abc", "a.b", "%%%.%%%"] {
            assert!(!key.accepts(junk, "i-1", now), "{junk}");
        }
    }
}
