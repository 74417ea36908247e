//! The resources each VPC request acts on, for RAM (`acs:vpc:{region}:{account}:vpc/{id}` and `vswitch/{id}`), as
//! VPC's RAM authorization lists them: CreateVSwitch names its VPC and `vswitch/*`, creations and listings the
//! kind's `*`, everything else the one resource it acts on.

use super::VpcRequest;
use crate::product::ResourceName;

/// The resources of one parsed VPC request.
pub fn resources(request: &VpcRequest) -> Vec<ResourceName> {
    match request {
        VpcRequest::CreateVpc(_) | VpcRequest::DescribeVpcs { .. } => vec![ResourceName::any("vpc")],
        VpcRequest::ModifyVpcAttribute(modify) => vec![ResourceName::new("vpc", &modify.vpc_id)],
        VpcRequest::DeleteVpc { vpc_id, .. } => vec![ResourceName::new("vpc", vpc_id)],
        VpcRequest::CreateVSwitch(create) => {
            vec![ResourceName::new("vpc", &create.vpc_id), ResourceName::any("vswitch")]
        }
        VpcRequest::DescribeVSwitches { .. } => vec![ResourceName::any("vswitch")],
        VpcRequest::ModifyVSwitchAttribute { vswitch_id, .. }
        | VpcRequest::DeleteVSwitch { vswitch_id, .. } => {
            vec![ResourceName::new("vswitch", vswitch_id)]
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    #[test]
    fn create_vswitch_names_its_vpc_and_any_vswitch() {
        let params = Params::from_pairs(
            [("VpcId", "vpc-1"), ("ZoneId", "local-a"), ("CidrBlock", "172.16.1.0/24")]
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let request = super::super::parse::parse("CreateVSwitch", &params).unwrap().unwrap();
        let got: Vec<String> = super::resources(&request).iter().map(|r| r.relative()).collect();
        assert_eq!(got, ["vpc/vpc-1", "vswitch/*"]);
    }
}
