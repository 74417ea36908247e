//! The resources each key-pair request acts on, for RAM (`acs:ecs:{region}:{account}:keypair/{name}`: a key
//! pair is named by its name). Creating or importing one names `keypair/*`, as a creation does in ECS's RAM rules;
//! attaching and detaching name the pair and every instance.

use super::KeyPairRequest;
use crate::product::ResourceName;

/// The resources of one parsed key-pair request.
pub fn resources(request: &KeyPairRequest) -> Vec<ResourceName> {
    let pair = |name: &str| ResourceName::new("keypair", name);
    match request {
        KeyPairRequest::Create { .. } | KeyPairRequest::Import { .. } | KeyPairRequest::Describe { .. } => {
            vec![ResourceName::any("keypair")]
        }
        KeyPairRequest::Delete { names } => names.iter().map(|n| pair(n)).collect(),
        KeyPairRequest::Attach { name, instance_ids } | KeyPairRequest::Detach { name, instance_ids } => {
            let mut names = vec![pair(name)];
            names.extend(instance_ids.iter().map(|id| ResourceName::new("instance", id)));
            names
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    fn names(action: &str, params: &[(&str, &str)]) -> Vec<String> {
        let params = Params::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let request =
            super::super::parse::parse(action, &params).expect("a key-pair action").expect("parses");
        super::resources(&request).iter().map(|r| r.relative()).collect()
    }

    #[test]
    fn attach_names_the_pair_and_each_instance_and_create_any_pair() {
        let got = names("AttachKeyPair", &[("KeyPairName", "ops"), ("InstanceIds", r#"["i-1","i-2"]"#)]);
        assert_eq!(got, ["keypair/ops", "instance/i-1", "instance/i-2"]);
        assert_eq!(names("CreateKeyPair", &[("KeyPairName", "ops")]), ["keypair/*"]);
        assert_eq!(names("DeleteKeyPairs", &[("KeyPairNames", r#"["a","b"]"#)]), ["keypair/a", "keypair/b"]);
    }
}
