//! What an instance's guest is given at boot, checked as ECS checks it: Password (ECS's
//! complexity rules, kept only as a SHA-512 crypt hash, the form cloud-init's `chpasswd` takes),
//! UserData (base64, at most 32 KiB once decoded), HostName (Linux rules). Pure: the API's
//! parsers build these typed values, so nothing unchecked reaches the store.

use crate::requests::GuestRequest;
use crate::{Error, Result};
use base64::Engine;
use ecslab_store::{InstanceSettings, SettingsChange, Store};

/// The special characters ECS accepts in a password.
pub const PASSWORD_SPECIALS: &str = "()`~!@#$%^&*-_+=|{}[]:;'<>,.?/";

/// The most user data ECS takes, counted on the decoded bytes.
pub const USER_DATA_MAX_BYTES: usize = 32 * 1024;

/// A password that passed ECS's rules; it leaves this module only as a hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// 8-30 characters from letters, digits and [`PASSWORD_SPECIALS`], with at least three of
    /// the four kinds (upper case, lower case, digit, special).
    pub fn parse(value: &str) -> Result<Password> {
        let malformed = || {
            Error::rejected(
                "InvalidPassword.Malformed",
                format!(
                    "The specified parameter \"Password\" is not valid: use 8-30 characters with at least three \
                     of upper-case letters, lower-case letters, digits and the special characters {PASSWORD_SPECIALS}"
                ),
            )
        };
        let len = value.chars().count();
        if !(8..=30).contains(&len) {
            return Err(malformed());
        }
        let (mut upper, mut lower, mut digit, mut special) = (false, false, false, false);
        for c in value.chars() {
            match c {
                'A'..='Z' => upper = true,
                'a'..='z' => lower = true,
                '0'..='9' => digit = true,
                c if PASSWORD_SPECIALS.contains(c) => special = true,
                _ => return Err(malformed()),
            }
        }
        if [upper, lower, digit, special].into_iter().filter(|k| *k).count() < 3 {
            return Err(malformed());
        }
        Ok(Password(value.to_string()))
    }

    /// `$6$<salt>$<hash>`: SHA-512 crypt with a random salt.
    pub fn hash(&self) -> Result<String> {
        let params = sha_crypt::Sha512Params::new(sha_crypt::ROUNDS_DEFAULT)
            .map_err(|e| Error::internal(format!("sha-crypt parameters: {e:?}")))?;
        sha_crypt::sha512_simple(&self.0, &params).map_err(|e| Error::internal(format!("sha-crypt: {e:?}")))
    }
}

/// User data as the caller gave it (base64), checked to decode to at most
/// [`USER_DATA_MAX_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData(String);

impl UserData {
    /// Line breaks and spaces inside the text are allowed (MIME-style wrapped base64, as
    /// `base64.encodebytes` writes it); the text is kept as given.
    pub fn parse(encoded: &str) -> Result<UserData> {
        let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD.decode(&compact).map_err(|_| {
            Error::rejected(
                "InvalidUserData.NotBase64",
                "The specified parameter UserData is not valid base64 encoded.",
            )
        })?;
        if decoded.len() > USER_DATA_MAX_BYTES {
            return Err(Error::rejected(
                "InvalidUserData.SizeExceeded",
                format!(
                    "The specified parameter UserData exceeds the size: {} bytes decoded, at most {USER_DATA_MAX_BYTES}.",
                    decoded.len()
                ),
            ));
        }
        Ok(UserData(encoded.to_string()))
    }

    /// The decoded bytes (the text was checked to decode).
    pub fn decoded(&self) -> Vec<u8> {
        let compact: String = self.0.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default()
    }

    /// The base64 text, as given.
    pub fn as_base64(&self) -> &str {
        &self.0
    }

    pub fn into_base64(self) -> String {
        self.0
    }
}

/// A Linux host name as ECS takes it: 2-64 characters; segments of letters, digits and hyphens
/// separated by periods; no period or hyphen first, last or twice in a row.
pub fn check_host_name(value: &str) -> Result<()> {
    let ok = (2..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !value.starts_with(['.', '-'])
        && !value.ends_with(['.', '-'])
        && !value.as_bytes().windows(2).any(|w| matches!(w, [b'.' | b'-', b'.' | b'-']));
    if ok {
        Ok(())
    } else {
        Err(Error::rejected(
            "InvalidHostName.Malformed",
            "The specified HostName is wrongly formed: use 2-64 letters, digits, '.' and '-', with no '.' or '-' \
             first, last or next to each other.",
        ))
    }
}

/// `InvalidKeyPairName.NotFound` (404).
pub fn key_pair_not_found(name: &str) -> Error {
    Error::rejected(
        "InvalidKeyPairName.NotFound",
        format!("The specified KeyPairName {name:?} does not exist in our records."),
    )
}

/// The settings a new instance stores for `request`: its key pair must exist in the account
/// (`InvalidKeyPairName.NotFound`), its password is hashed.
pub(crate) async fn new_settings(
    store: &Store,
    account_id: &str,
    request: &GuestRequest,
) -> Result<InstanceSettings> {
    let change = settings_change(store, account_id, request).await?;
    Ok(InstanceSettings {
        key_pair_name: change.key_pair_name.flatten(),
        password_hash: change.password_hash.flatten(),
        user_data: change.user_data.flatten(),
        http_endpoint: change.http_endpoint.unwrap_or_default(),
        http_tokens: change.http_tokens.unwrap_or_default(),
    })
}

/// The change `request` makes to an existing instance's settings: what it names replaces what
/// was there, what it leaves out stays.
pub(crate) async fn settings_change(
    store: &Store,
    account_id: &str,
    request: &GuestRequest,
) -> Result<SettingsChange> {
    if let Some(name) = &request.key_pair_name {
        if store.key_pair(account_id, name).await?.is_none() {
            return Err(key_pair_not_found(name));
        }
    }
    Ok(SettingsChange {
        key_pair_name: request.key_pair_name.clone().map(Some),
        password_hash: request.password.as_ref().map(Password::hash).transpose()?.map(Some),
        user_data: request.user_data.as_ref().map(|u| Some(u.as_base64().to_string())),
        http_endpoint: request.metadata.http_endpoint,
        http_tokens: request.metadata.http_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_ecs_rules() {
        for good in ["Abcdefg1", "abcdef1!", "ABCDEF1(", "Aa!Aa!Aa", "Test1234_abc"] {
            assert!(Password::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "Abc1!",
            "abcdefgh1",
            "ABCDEFGH!",
            "Abcdefgh",
            "Abcdefg1 ",
            "Abcdefg1\"",
            "Ab1!é1234",
            &"Aa1!".repeat(8),
        ] {
            assert_eq!(Password::parse(bad).unwrap_err().code(), "InvalidPassword.Malformed", "{bad}");
        }
    }

    #[test]
    fn password_hashes_are_sha512_crypt_and_check() {
        let hash = Password::parse("Secret123!").unwrap().hash().unwrap();
        assert!(hash.starts_with("$6$"), "{hash}");
        assert!(sha_crypt::sha512_check("Secret123!", &hash).is_ok());
        assert!(sha_crypt::sha512_check("Secret123?", &hash).is_err());
        assert!(!format!("{:?}", Password::parse("Secret123!").unwrap()).contains("Secret"));
    }

    #[test]
    fn user_data_is_base64_of_at_most_32_kib() {
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b'x'; n]);
        assert_eq!(UserData::parse(&b64(USER_DATA_MAX_BYTES)).unwrap().as_base64(), b64(USER_DATA_MAX_BYTES));
        assert_eq!(
            UserData::parse(&b64(USER_DATA_MAX_BYTES + 1)).unwrap_err().code(),
            "InvalidUserData.SizeExceeded"
        );
        assert_eq!(UserData::parse("not base64!").unwrap_err().code(), "InvalidUserData.NotBase64");
        let wrapped = "IyEvYmluL3NoCmVjaG8g\naGVsbG8K\n";
        let user_data = UserData::parse(wrapped).unwrap();
        assert_eq!(user_data.as_base64(), wrapped, "kept as given");
        assert_eq!(user_data.decoded(), b"#!/bin/sh\necho hello\n");
    }

    #[test]
    fn host_names_follow_linux_rules() {
        for good in ["ab", "web-1", "web-1.example.com", "a1"] {
            assert!(check_host_name(good).is_ok(), "{good}");
        }
        for bad in ["a", "-ab", "ab-", ".ab", "a..b", "a.-b", "a_b", "a b", &"a".repeat(65)] {
            assert_eq!(check_host_name(bad).unwrap_err().code(), "InvalidHostName.Malformed", "{bad}");
        }
    }
}
