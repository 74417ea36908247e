//! The resources each instance-network request acts on, for RAM: JoinSecurityGroup and LeaveSecurityGroup name
//! the instance and the group, AllocatePublicIpAddress the instance, DescribeNetworkInterfaces every network
//! interface (`networkinterface/*`), as ECS's RAM rules name them.

use super::InterfaceRequest;
use crate::product::ResourceName;

/// The resources of one parsed instance-network request.
pub fn resources(request: &InterfaceRequest) -> Vec<ResourceName> {
    match request {
        InterfaceRequest::Join { instance_id, group_id }
        | InterfaceRequest::Leave { instance_id, group_id } => {
            vec![ResourceName::new("instance", instance_id), ResourceName::new("securitygroup", group_id)]
        }
        InterfaceRequest::AllocatePublicIp { instance_id } => {
            vec![ResourceName::new("instance", instance_id)]
        }
        InterfaceRequest::Describe { .. } => vec![ResourceName::any("networkinterface")],
    }
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    #[test]
    fn join_names_the_instance_and_the_group() {
        let params = Params::from_pairs(
            [("InstanceId", "i-1"), ("SecurityGroupId", "sg-1")].map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let request = super::super::parse("JoinSecurityGroup", &params).unwrap().unwrap();
        let got: Vec<String> = super::resources(&request).iter().map(|r| r.relative()).collect();
        assert_eq!(got, ["instance/i-1", "securitygroup/sg-1"]);
    }
}
