//! Self-contained signed tokens: `base64url(payload).base64url(HMAC-SHA256(secret, label 0 payload))`.
//!
//! The metadata service's session tokens and STS's SecurityTokens both need a value the server can check on every
//! use without storing it, that survives a restart and is worthless once altered: an HMAC over the payload with a
//! secret kept in the store gives that. The label keeps one kind of token from passing for another under the same
//! secret. Payloads are signed, not sealed: they say nothing their holder may not read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A server secret for signing tokens.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> SigningKey {
        SigningKey(secret.into())
    }

    fn hmac(&self, label: &str, text: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(text.as_bytes());
        mac
    }

    /// The MAC of `text` under `label`, base64url: a value derived from the secret (an STS session's key secret).
    pub fn derive(&self, label: &str, text: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.hmac(label, text).finalize().into_bytes())
    }

    /// A token carrying `payload`, signed under `label`.
    pub fn sign(&self, label: &str, payload: &str) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), self.derive(label, payload))
    }

    /// The payload of a token this key signed under `label`; `None` for anything else (altered, foreign, junk).
    pub fn verify(&self, label: &str, token: &str) -> Option<String> {
        let (payload, signature) = token.trim().split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.hmac(label, &payload).verify_slice(&signature).ok()?;
        Some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_under_its_key_and_label() {
        let key = SigningKey::new("secret");
        let token = key.sign("a", "payload.with.dots");
        assert_eq!(key.verify("a", &token).as_deref(), Some("payload.with.dots"));
        assert_eq!(key.verify("b", &token), None, "another label");
        assert_eq!(SigningKey::new("other").verify("a", &token), None, "another key");
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("payload.with.dotz"));
        assert_eq!(key.verify("a", &forged), None, "the payload is signed");
        for junk in ["", ".", "abc", "a.b", "%%%.%%%", "e30.AAAA"] {
            assert_eq!(key.verify("a", junk), None, "{junk}");
        }
        assert_ne!(key.derive("a", "x"), key.derive("b", "x"));
    }
}
