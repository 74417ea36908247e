//! HMAC computation and constant-time comparison.
//!
//! The claimed signature is decoded (base64 or hex) and checked with
//! `Mac::verify_slice`, so the comparison time does not leak how many leading
//! bytes matched. An undecodable signature simply does not match.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &str) -> M {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    m.update(msg.as_bytes());
    m
}

/// base64(HMAC-SHA1(key, msg)).
pub(crate) fn sha1_base64(key: &[u8], msg: &str) -> String {
    STANDARD.encode(mac::<Hmac<Sha1>>(key, msg).finalize().into_bytes())
}

/// lower-case hex(HMAC-SHA256(key, msg)).
pub(crate) fn sha256_hex(key: &[u8], msg: &str) -> String {
    hex::encode(mac::<Hmac<Sha256>>(key, msg).finalize().into_bytes())
}

/// Does `claimed` (base64) equal HMAC-SHA1(key, msg)? A space is read as `+`:
/// clients that forget to URL-encode `+` in the query have it form-decoded
/// into a space, and base64 never contains a space.
pub(crate) fn sha1_base64_matches(key: &[u8], msg: &str, claimed: &str) -> bool {
    let claimed = claimed.trim().replace(' ', "+");
    match STANDARD.decode(claimed) {
        Ok(sig) => mac::<Hmac<Sha1>>(key, msg).verify_slice(&sig).is_ok(),
        Err(_) => false,
    }
}

/// Does `claimed` (hex, either case) equal HMAC-SHA256(key, msg)?
pub(crate) fn sha256_hex_matches(key: &[u8], msg: &str, claimed: &str) -> bool {
    match hex::decode(claimed.trim()) {
        Ok(sig) => mac::<Hmac<Sha256>>(key, msg).verify_slice(&sig).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects_garbage() {
        let s = sha1_base64(b"k", "m");
        assert!(sha1_base64_matches(b"k", "m", &s));
        assert!(sha1_base64_matches(b"k", "m", &s.replace('+', " ")));
        assert!(!sha1_base64_matches(b"k", "m2", &s));
        assert!(!sha1_base64_matches(b"k", "m", "not base64!"));
        assert!(!sha1_base64_matches(b"k", "m", ""));
        let h = sha256_hex(b"k", "m");
        assert!(sha256_hex_matches(b"k", "m", &h));
        assert!(sha256_hex_matches(b"k", "m", &h.to_uppercase()));
        assert!(!sha256_hex_matches(b"k", "m", &h[..62]));
        assert!(!sha256_hex_matches(b"k", "m", "zz"));
    }
}
