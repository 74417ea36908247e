//! SSH key pairs (ECS 2014-05-26): CreateKeyPair generates an RSA 2048 pair and hands back the
//! private key once (PKCS#1 PEM, never stored); ImportKeyPair takes an OpenSSH public key (RSA
//! or ed25519); DescribeKeyPairs, DeleteKeyPairs (refused while an instance uses a pair),
//! AttachKeyPair and DetachKeyPair (stored on the instance; the guest gets the key at its next
//! boot through the metadata service, as ECS asks for a restart). Parsing and fingerprints use
//! RustCrypto's `ssh-key` and `rsa`, never hand-made parsing.

use crate::ids::new_id;
use crate::listing::{paginate, sort_key, Page};
use crate::requests::Paging;
use crate::{Error, Result};
use ecslab_store::{now_rfc3339, KeyPairBinding, KeyPairDeletion, KeyPairInsert, KeyPairRecord, Store};
use md5::{Digest, Md5};
use ssh_key::public::KeyData;
use ssh_key::PublicKey;

/// The fingerprint ECS shows: MD5 over the key's wire form (RFC 4716 section 4), as
/// colon-separated lowercase hex pairs (`ssh-keygen -l -E md5` without its `MD5:` prefix).
pub fn finger_print(key: &PublicKey) -> Result<String> {
    let blob = key.to_bytes().map_err(|e| Error::internal(format!("encoding a public key: {e}")))?;
    let digest = Md5::digest(&blob);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// Parse an OpenSSH public key line as ImportKeyPair takes it.
pub fn parse_public_key(body: &str) -> Result<PublicKey> {
    let malformed = |detail: &str| {
        Error::rejected(
            "InvalidPublicKeyBody.Malformed",
            format!("The PublicKeyBody format is not supported: {detail}"),
        )
    };
    let key = PublicKey::from_openssh(body.trim()).map_err(|_| {
        malformed("give one OpenSSH public key line, such as \"ssh-ed25519 AAAA... comment\".")
    })?;
    match key.key_data() {
        KeyData::Rsa(rsa) => {
            let bits = rsa::RsaPublicKey::try_from(rsa).map(|k| rsa::traits::PublicKeyParts::n(&k).bits());
            match bits {
                Ok(bits) if bits >= 1024 => Ok(key),
                _ => Err(malformed("RSA keys must have at least 1024 bits.")),
            }
        }
        KeyData::Ed25519(_) => Ok(key),
        _ => Err(malformed("ecslab takes RSA and ed25519 keys.")),
    }
}

/// A pair CreateKeyPair made: the only time its private key exists outside the caller.
#[derive(Clone)]
pub struct CreatedKeyPair {
    pub key_pair_name: String,
    pub key_pair_id: String,
    pub finger_print: String,
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1 PEM).
    pub private_key_pem: String,
}

impl std::fmt::Debug for CreatedKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKeyPair").field("key_pair_name", &self.key_pair_name).finish_non_exhaustive()
    }
}

/// DescribeKeyPairs' filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPairFilter {
    /// `*` as a wildcard (ECS: `*SshKey`, `SshKey*`, `*SshKey*`).
    pub name_pattern: Option<String>,
    /// Compared without case, with or without colons and an `MD5:` prefix.
    pub finger_print: Option<String>,
    /// IncludePublicKey: the list carries each pair's public key.
    pub include_public_key: bool,
}

/// One instance's outcome of AttachKeyPair / DetachKeyPair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingResult {
    pub instance_id: String,
    /// `None` on success; else the error code and message for this instance.
    pub failure: Option<(&'static str, String)>,
}

/// The key pairs service.
#[derive(Debug)]
pub struct KeyPairs {
    store: Store,
}

fn normalized_finger_print(value: &str) -> String {
    let value = value.trim();
    let value = value.strip_prefix("MD5:").unwrap_or(value);
    value.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase()
}

fn glob_matches(pattern: &str, name: &str) -> bool {
    // `*` is the only wildcard; everything else matches itself.
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl KeyPairs {
    pub(crate) fn new(store: Store) -> KeyPairs {
        KeyPairs { store }
    }

    async fn insert(&self, account_id: &str, name: &str, key: &PublicKey) -> Result<KeyPairRecord> {
        let record = KeyPairRecord {
            account_id: account_id.to_string(),
            key_pair_name: name.to_string(),
            key_pair_id: new_id("kp"),
            finger_print: finger_print(key)?,
            public_key: key
                .to_openssh()
                .map_err(|e| Error::internal(format!("encoding a public key: {e}")))?,
            created_at: now_rfc3339(),
        };
        match self.store.insert_key_pair(&record).await? {
            KeyPairInsert::Inserted => Ok(record),
            KeyPairInsert::NameTaken => {
                Err(Error::rejected("KeyPair.AlreadyExist", "The key pair already exist."))
            }
            KeyPairInsert::QuotaReached => Err(Error::rejected(
                "QuotaExceed.KeyPair",
                format!(
                    "The key pair quota exceeds: an account holds at most {} key pairs.",
                    ecslab_store::KEY_PAIR_QUOTA
                ),
            )),
        }
    }

    /// CreateKeyPair: a new RSA 2048 pair; the private key is returned and forgotten.
    pub async fn create(&self, account_id: &str, name: &str) -> Result<CreatedKeyPair> {
        if self.store.key_pair(account_id, name).await?.is_some() {
            return Err(Error::rejected("KeyPair.AlreadyExist", "The key pair already exist."));
        }
        let (private_key_pem, public) = tokio::task::spawn_blocking(|| -> Result<(String, PublicKey)> {
            use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
            let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                .map_err(|e| Error::internal(format!("generating an RSA key: {e}")))?;
            let pem = private
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(|e| Error::internal(format!("encoding an RSA key: {e}")))?;
            let public = ssh_key::public::RsaPublicKey::try_from(private.to_public_key())
                .map_err(|e| Error::internal(format!("converting an RSA key: {e}")))?;
            Ok((pem.to_string(), PublicKey::from(KeyData::Rsa(public))))
        })
        .await
        .map_err(|e| Error::internal(format!("key generation task: {e}")))??;
        let record = self.insert(account_id, name, &public).await?;
        Ok(CreatedKeyPair {
            key_pair_name: record.key_pair_name,
            key_pair_id: record.key_pair_id,
            finger_print: record.finger_print,
            private_key_pem,
        })
    }

    /// ImportKeyPair: stores the public key; returns the stored record.
    pub async fn import(&self, account_id: &str, name: &str, public_key_body: &str) -> Result<KeyPairRecord> {
        let key = parse_public_key(public_key_body)?;
        self.insert(account_id, name, &key).await
    }

    /// DescribeKeyPairs.
    pub async fn describe(
        &self,
        account_id: &str,
        filter: &KeyPairFilter,
        paging: &Paging,
    ) -> Result<Page<KeyPairRecord>> {
        let wanted_print = filter.finger_print.as_deref().map(normalized_finger_print);
        let pairs: Vec<KeyPairRecord> = self
            .store
            .key_pairs(account_id)
            .await?
            .into_iter()
            .filter(|p| {
                filter.name_pattern.as_deref().is_none_or(|pattern| glob_matches(pattern, &p.key_pair_name))
            })
            .filter(|p| {
                wanted_print.as_deref().is_none_or(|want| normalized_finger_print(&p.finger_print) == want)
            })
            .collect();
        paginate(pairs, paging, |p| sort_key(&p.created_at, &p.key_pair_name))
    }

    /// One pair of the account, or `InvalidKeyPairName.NotFound`.
    pub async fn key_pair(&self, account_id: &str, name: &str) -> Result<KeyPairRecord> {
        self.store.key_pair(account_id, name).await?.ok_or_else(|| not_found(name))
    }

    /// DeleteKeyPairs: all or nothing; names that do not exist are skipped.
    pub async fn delete(&self, account_id: &str, names: &[String]) -> Result<()> {
        match self.store.delete_key_pairs(account_id, names).await? {
            KeyPairDeletion::Deleted { .. } => Ok(()),
            KeyPairDeletion::InUse { key_pair_name, instance_id } => Err(Error::rejected(
                "InvalidParameter.KeypairAlreadyAttachedInstance",
                format!(
                    "The specified parameter \"KeyPairNames\" attached to instances can not be deleted: \
                     {key_pair_name} is bound to {instance_id}; detach it first (DetachKeyPair)."
                ),
            )),
        }
    }

    /// AttachKeyPair: one result per instance.
    pub async fn attach(
        &self,
        account_id: &str,
        name: &str,
        instance_ids: &[String],
    ) -> Result<Vec<BindingResult>> {
        let outcomes = self
            .store
            .attach_key_pair(account_id, name, instance_ids)
            .await?
            .ok_or_else(|| not_found(name))?;
        Ok(results(name, instance_ids, outcomes))
    }

    /// DetachKeyPair: one result per instance.
    pub async fn detach(
        &self,
        account_id: &str,
        name: &str,
        instance_ids: &[String],
    ) -> Result<Vec<BindingResult>> {
        let outcomes = self
            .store
            .detach_key_pair(account_id, name, instance_ids)
            .await?
            .ok_or_else(|| not_found(name))?;
        Ok(results(name, instance_ids, outcomes))
    }
}

fn not_found(name: &str) -> Error {
    crate::guest_settings::key_pair_not_found(name)
}

fn results(name: &str, instance_ids: &[String], outcomes: Vec<KeyPairBinding>) -> Vec<BindingResult> {
    instance_ids
        .iter()
        .zip(outcomes)
        .map(|(instance_id, outcome)| BindingResult {
            instance_id: instance_id.clone(),
            failure: match outcome {
                KeyPairBinding::Done => None,
                KeyPairBinding::NoInstance => Some((
                    "InvalidInstanceId.NotFound",
                    "The specified InstanceId does not exist.".to_string(),
                )),
                KeyPairBinding::NotBound => Some((
                    "InvalidParameter.KeyPairNotAttached",
                    format!("The instance is not bound to key pair {name:?}."),
                )),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_match_as_ecs_documents() {
        assert!(glob_matches("SshKey", "SshKey"));
        assert!(!glob_matches("SshKey", "SshKey1"));
        assert!(glob_matches("*SshKey", "MySshKey"));
        assert!(glob_matches("*SshKey", "SshKey"));
        assert!(glob_matches("SshKey*", "SshKey-2"));
        assert!(glob_matches("*SshKey*", "aSshKeyb"));
        assert!(!glob_matches("*SshKey*", "aSshKeb"));
        assert!(glob_matches("a*b*c", "a-b-b-c"));
        assert!(!glob_matches("ab*ba", "aba"));
    }

    #[test]
    fn fingerprints_compare_loosely() {
        assert_eq!(normalized_finger_print("MD5:AB:cd:01"), "abcd01");
        assert_eq!(normalized_finger_print("abcd01"), "abcd01");
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        for bad in [
            "",
            "ssh-rsa",
            "ssh-rsa AAAAnotbase64!!",
            "hello world",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
        ] {
            assert_eq!(
                parse_public_key(bad).unwrap_err().code(),
                "InvalidPublicKeyBody.Malformed",
                "{bad:?}"
            );
        }
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";
        let key = parse_public_key(ed).unwrap();
        assert_eq!(key.to_openssh().unwrap(), ed, "the line is kept, comment included");
    }

    /// The expected values are `ssh-keygen -l -E md5 -f` of the same keys (OpenSSH 9.2).
    #[test]
    fn fingerprints_are_what_ssh_keygen_shows() {
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQClY22OT/f10HD7WrMGwn59Cku6yX9jVv16EaI2sbQh7NMZP6wpcprhRgR9\
                   +vb/zFRRnDJGFqCww4jzvFTuFhPGtpma0ajAlYcX2A2y3RuYZ8TfZ0n2MtzSdYMqqhJBhuDkVAQzErqOUTOongIP3OT1ZQxjL0wk\
                   12mFc83M7gV/hv+fbdnFKpcZFBOcaE8VKVSFli/G6xVFykcs/0wWVj8DKiGA5yIwzJmb+5IwFafqvIeDIxg4aczzWzh9mLXYlTLe\
                   i0pcQIvfk9mR5ogKGUB8WPKGp9dRYVJ3P+eibSdNmgy1Vplt2KcqdposLfuKo7mu0D2iH0iAidLzj1vle1+R";
        let print = |line: &str| finger_print(&parse_public_key(line).unwrap()).unwrap();
        assert_eq!(print(ed), "65:96:2d:fc:e8:d5:a9:11:64:0c:0f:ea:00:6e:5b:bd");
        assert_eq!(print(rsa), "74:50:74:d1:9d:7b:95:b5:4d:42:6a:28:88:aa:2c:0b");
    }
}
