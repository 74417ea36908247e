//! Parameters → [`KeyPairRequest`], one function per action. Pure: no state, no I/O. Tags and
//! resource groups are not implemented: sent, they are refused, never ignored.

use super::KeyPairRequest;
use crate::params::{check_name, Params};
use ecslab_core::key_pairs::KeyPairFilter;
use ecslab_core::{Error, Result};

/// Parse one key pair action. `None` when the action is not one of them.
pub fn parse(action: &str, p: &Params) -> Option<Result<KeyPairRequest>> {
    Some(match action {
        "CreateKeyPair" => create(p),
        "ImportKeyPair" => import(p),
        "DescribeKeyPairs" => describe(p),
        "DeleteKeyPairs" => delete(p),
        "AttachKeyPair" => {
            binding(p).map(|(name, instance_ids)| KeyPairRequest::Attach { name, instance_ids })
        }
        "DetachKeyPair" => {
            binding(p).map(|(name, instance_ids)| KeyPairRequest::Detach { name, instance_ids })
        }
        _ => return None,
    })
}

/// ECS's key pair names: 2-128 characters, starting with a letter; letters, digits, `:`, `_`,
/// `.`, `-`; not `http://` or `https://` first.
fn name(p: &Params) -> Result<String> {
    let name = p.str("KeyPairName")?;
    check_name(&name, "InvalidKeyPairName.Malformed", "KeyPairName")?;
    Ok(name)
}

fn create(p: &Params) -> Result<KeyPairRequest> {
    p.refuse(&["Tag", "ResourceGroupId"])?;
    Ok(KeyPairRequest::Create { name: name(p)? })
}

fn import(p: &Params) -> Result<KeyPairRequest> {
    p.refuse(&["Tag", "ResourceGroupId"])?;
    let name = name(p)?;
    Ok(KeyPairRequest::Import { name, public_key_body: p.str("PublicKeyBody")? })
}

fn describe(p: &Params) -> Result<KeyPairRequest> {
    p.refuse(&["Tag", "ResourceGroupId"])?;
    Ok(KeyPairRequest::Describe {
        filter: KeyPairFilter {
            name_pattern: p.opt_str("KeyPairName"),
            finger_print: p.opt_str("KeyPairFingerPrint"),
            include_public_key: p.bool_or("IncludePublicKey", false)?,
        },
        paging: p.paging(50)?,
    })
}

fn delete(p: &Params) -> Result<KeyPairRequest> {
    let raw = p.str("KeyPairNames")?;
    let invalid = || {
        Error::rejected(
            "InvalidKeyPairNames.ValueNotSupported",
            "The specified parameter \"KeyPairNames\" is not valid: give a JSON array of 1 to 100 key pair names.",
        )
    };
    let names: Vec<String> = serde_json::from_str(&raw).map_err(|_| invalid())?;
    if names.is_empty() || names.len() > 100 || names.iter().any(String::is_empty) {
        return Err(invalid());
    }
    Ok(KeyPairRequest::Delete { names })
}

/// AttachKeyPair / DetachKeyPair: the pair and a JSON array of up to 50 instance ids.
fn binding(p: &Params) -> Result<(String, Vec<String>)> {
    let name = name(p)?;
    let instance_ids = p.json_list("InstanceIds", 50)?.ok_or_else(|| Error::missing("InstanceIds"))?;
    if instance_ids.is_empty() {
        return Err(Error::invalid("InstanceIds", "Give at least one instance id."));
    }
    Ok((name, instance_ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::test_params as params;

    #[test]
    fn bad_input_gets_the_documented_codes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let kp = ("KeyPairName", "kp-1");
        let cases: &[Case] = &[
            ("CreateKeyPair", &[], "MissingParameter"),
            ("CreateKeyPair", &[("KeyPairName", "1bad")], "InvalidKeyPairName.Malformed"),
            ("CreateKeyPair", &[("KeyPairName", "a")], "InvalidKeyPairName.Malformed"),
            ("CreateKeyPair", &[("KeyPairName", "http://x")], "InvalidKeyPairName.Malformed"),
            ("CreateKeyPair", &[kp, ("Tag.1.Key", "k")], "InvalidParameter"),
            ("ImportKeyPair", &[kp], "MissingParameter"),
            ("ImportKeyPair", &[kp, ("PublicKeyBody", "x"), ("ResourceGroupId", "rg-1")], "InvalidParameter"),
            ("DescribeKeyPairs", &[("PageSize", "51")], "InvalidParameter"),
            ("DescribeKeyPairs", &[("IncludePublicKey", "maybe")], "InvalidParameter"),
            ("DeleteKeyPairs", &[], "MissingParameter"),
            ("DeleteKeyPairs", &[("KeyPairNames", "kp-1")], "InvalidKeyPairNames.ValueNotSupported"),
            ("DeleteKeyPairs", &[("KeyPairNames", "[]")], "InvalidKeyPairNames.ValueNotSupported"),
            ("AttachKeyPair", &[kp], "MissingParameter"),
            ("AttachKeyPair", &[kp, ("InstanceIds", "i-1")], "InvalidParameter"),
            ("AttachKeyPair", &[kp, ("InstanceIds", "[]")], "InvalidParameter"),
            ("DetachKeyPair", &[("InstanceIds", "[\"i-1\"]")], "MissingParameter"),
        ];
        for (action, pairs, code) in cases {
            let got = parse(action, &params(pairs)).expect("known action").expect_err("must fail");
            assert_eq!(got.code(), *code, "{action} {pairs:?}: {got}");
        }
        assert!(parse("DescribeInstances", &params(&[])).is_none());
    }

    #[test]
    fn lists_parse_as_json_arrays() {
        let got = parse("DeleteKeyPairs", &params(&[("KeyPairNames", "[\"a1\", \"b2\"]")])).unwrap().unwrap();
        assert_eq!(got, KeyPairRequest::Delete { names: vec!["a1".into(), "b2".into()] });
        let got =
            parse("AttachKeyPair", &params(&[("KeyPairName", "kp"), ("InstanceIds", "[\"i-1\",\"i-2\"]")]))
                .unwrap()
                .unwrap();
        assert_eq!(
            got,
            KeyPairRequest::Attach { name: "kp".into(), instance_ids: vec!["i-1".into(), "i-2".into()] }
        );
    }
}
