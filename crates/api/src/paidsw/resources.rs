//! The resources each PAI-DSW request acts on, for RAM (`acs:paidsw:{region}:{account}:instance/{id}`): every
//! instance-snapshot action names the DSW instance its path names, as PAI-DSW's RAM authorization lists them (a
//! snapshot is a part of its instance, not a resource of its own there).

use super::PaiRequest;
use crate::product::ResourceName;

/// The resources of one parsed PAI-DSW request.
pub fn resources(request: &PaiRequest) -> Vec<ResourceName> {
    let instance_id = match request {
        PaiRequest::CreateInstanceSnapshot(create) => &create.instance_id,
        PaiRequest::GetInstanceSnapshot { instance_id, .. }
        | PaiRequest::ListInstanceSnapshot { instance_id, .. }
        | PaiRequest::DeleteInstanceSnapshot { instance_id, .. } => instance_id,
    };
    vec![ResourceName::new("instance", instance_id)]
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    #[test]
    fn every_route_names_its_instance() {
        let none = Params::from_pairs(Vec::new());
        for (method, path) in [
            ("GET", "/api/v2/instances/dsw-1/snapshots"),
            ("DELETE", "/api/v2/instances/dsw-1/snapshots/s-1"),
        ] {
            let (_, request) = super::super::route(method, path, &none, b"").expect("a route");
            let got: Vec<String> = super::resources(&request.unwrap()).iter().map(|r| r.relative()).collect();
            assert_eq!(got, ["instance/dsw-1"], "{method} {path}");
        }
    }
}
