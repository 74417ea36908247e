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
