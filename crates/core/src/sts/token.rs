//! STS session credentials, self-contained: the SecurityToken carries the session (account, role, session name,
//! inline policy, expiry) signed with a server secret, and the session's AccessKeySecret is derived from its
//! AccessKeyId with the same secret.
//!
//! Why nothing is stored per session: a token must be checked on every request it signs, survive a server restart
//! for its whole life (up to 12 hours, as on Alibaba Cloud), and be worthless once expired or altered. An HMAC over
//! the claims gives all three with one hash and no table to clean up. What a token says is not secret from its
//! holder (it names their own role and policy), so it is signed, not sealed.

use crate::signed::SigningKey;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub account_id: String,
    pub access_key_id: String,
    pub role_id: String,
    pub role_name: String,
    pub session_name: String,
    /// AssumeRole's inline Policy, as given.
    pub policy: Option<String>,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// Why a presented token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not one this server issued, or altered.
    Malformed,
    /// Issued here, for another access key.
    MismatchWithAccessKey,
    /// Issued here, past its time.
    Expired,
}

/// The server's key for session credentials.
#[derive(Debug, Clone)]
pub struct SessionKey(SigningKey);

/// A session's credentials, as AssumeRole returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
}

/// The prefix of every session's AccessKeyId, as on Alibaba Cloud.
pub const STS_KEY_PREFIX: &str = "STS.";

impl SessionKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> SessionKey {
        SessionKey(SigningKey::new(secret))
    }

    /// The secret of a session's access key.
    pub fn secret_for(&self, access_key_id: &str) -> String {
        self.0.derive("secret", access_key_id)
    }

    /// New credentials for a session; `claims.access_key_id` is replaced by a fresh `STS.` key.
    pub fn issue(&self, mut claims: SessionClaims) -> SessionCredentials {
        let suffix: String = rand::thread_rng().sample_iter(&Alphanumeric).take(28).map(char::from).collect();
        claims.access_key_id = format!("{STS_KEY_PREFIX}{suffix}");
        let json = serde_json::to_string(&claims).expect("claims serialize");
        SessionCredentials {
            access_key_secret: self.secret_for(&claims.access_key_id),
            access_key_id: claims.access_key_id,
            security_token: self.0.sign("token", &json),
        }
    }

    /// The session a token proves for `access_key_id` at `now` (seconds since the epoch).
    pub fn open(&self, token: &str, access_key_id: &str, now: i64) -> Result<SessionClaims, TokenError> {
        let json = self.0.verify("token", token).ok_or(TokenError::Malformed)?;
        let claims: SessionClaims = serde_json::from_str(&json).map_err(|_| TokenError::Malformed)?;
        if claims.access_key_id != access_key_id {
            return Err(TokenError::MismatchWithAccessKey);
        }
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn claims(expires_at: i64) -> SessionClaims {
        SessionClaims {
            account_id: "1000000000000002".into(),
            access_key_id: String::new(),
            role_id: "300000000000000001".into(),
            role_name: "ops".into(),
            session_name: "alice".into(),
            policy: None,
            expires_at,
        }
    }

    #[test]
    fn a_token_opens_for_its_key_until_it_expires() {
        let key = SessionKey::new("server");
        let creds = key.issue(claims(1_000));
        assert!(creds.access_key_id.starts_with("STS."));
        assert_eq!(creds.access_key_secret, key.secret_for(&creds.access_key_id));
        let opened = key.open(&creds.security_token, &creds.access_key_id, 999).unwrap();
        assert_eq!((opened.role_name.as_str(), opened.session_name.as_str()), ("ops", "alice"));
        assert_eq!(key.open(&creds.security_token, &creds.access_key_id, 1_000), Err(TokenError::Expired));
        let other = key.issue(claims(1_000));
        assert_eq!(
            key.open(&creds.security_token, &other.access_key_id, 10),
            Err(TokenError::MismatchWithAccessKey)
        );
        assert_ne!(creds.access_key_secret, other.access_key_secret);
    }

    #[test]
    fn forged_or_foreign_tokens_are_malformed() {
        let key = SessionKey::new("server");
        let creds = key.issue(claims(1_000));
        let id = &creds.access_key_id;
        assert_eq!(SessionKey::new("other").open(&creds.security_token, id, 10), Err(TokenError::Malformed));
        let (json, signature) = creds.security_token.split_once('.').unwrap();
        let mut forged: SessionClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(json).unwrap()).unwrap();
        forged.expires_at = i64::MAX;
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()));
        assert_eq!(key.open(&forged, id, 10), Err(TokenError::Malformed));
        for junk in ["", ".", "a.b", "%%.%%", "e30.AAAA"] {
            assert_eq!(key.open(junk, id, 10), Err(TokenError::Malformed), "{junk}");
        }
    }
}
