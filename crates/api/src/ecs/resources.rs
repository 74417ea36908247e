//! The resources each ECS request acts on, for RAM's Resource element (`acs:ecs:{region}:{account}:{kind}/{id}`).
//!
//! Why a table of its own: RAM decides on these names, so they follow ECS's RAM authorization rules action by
//! action (the action's own resource by id; `kind/*` for what it creates or lists; every other resource it
//! names, such as CreateSnapshot's disk and new snapshot, or RunInstances' image, security groups, vSwitch and
//! key pair). Actions without resource-level permission (regions, zones, instance types, tasks) name none and
//! are checked against the account-wide `acs:ecs:*:{account}:*`.

use super::EcsRequest;
use crate::product::ResourceName;
use ecslab_core::requests::{CreateInstances, GuestRequest};

/// The resources of one parsed ECS request.
pub fn resources(request: &EcsRequest) -> Vec<ResourceName> {
    use EcsRequest::*;
    let instance = |id: &str| ResourceName::new("instance", id);
    let disk = |id: &str| ResourceName::new("disk", id);
    let snapshot = |id: &str| ResourceName::new("snapshot", id);
    let image = |id: &str| ResourceName::new("image", id);
    match request {
        RunInstances(create) | CreateInstance(create) => new_instances(create),
        StartInstance { instance_id, .. }
        | StopInstance { instance_id, .. }
        | RebootInstance { instance_id, .. }
        | DeleteInstance { instance_id, .. }
        | DescribeInstanceAttribute { instance_id }
        | GetInstanceScreenshot { instance_id, .. }
        | GetInstanceConsoleOutput { instance_id, .. }
        | DescribeUserData { instance_id }
        | ModifyInstanceMetadataOptions { instance_id, .. } => vec![instance(instance_id)],
        DescribeInstanceMonitorData(query) => vec![instance(&query.instance_id)],
        ModifyInstanceAttribute(modify) => vec![instance(&modify.instance_id)],
        DescribeInstances { .. } | DescribeInstanceStatus { .. } => vec![ResourceName::any("instance")],
        DescribeInstanceTypes { .. } | DescribeRegions | DescribeZones => Vec::new(),
        ImportImage(_) => vec![ResourceName::any("image")],
        DescribeImages { .. } => vec![ResourceName::any("image")],
        DeleteImage { image_id, .. } => vec![image(image_id)],
        ExportImage(export) => vec![image(&export.image_id)],
        DescribeTaskAttribute { .. } | DescribeTasks { .. } => Vec::new(),
        CreateSnapshot(create) => vec![disk(&create.disk_id), ResourceName::any("snapshot")],
        CreateImage(create) => {
            let mut names = vec![ResourceName::any("image")];
            names.extend(create.snapshot_id.iter().map(|id| snapshot(id)));
            names.extend(create.data_snapshots.iter().map(|(id, _)| snapshot(id)));
            names.extend(create.instance_id.iter().map(|id| instance(id)));
            names
        }
        DescribeSnapshots { .. } => vec![ResourceName::any("snapshot")],
        DeleteSnapshot { snapshot_id, .. } => vec![snapshot(snapshot_id)],
        ResetDisk { disk_id, snapshot_id, .. } => vec![disk(disk_id), snapshot(snapshot_id)],
        CreateDisk(create) => {
            let mut names = vec![ResourceName::any("disk")];
            names.extend(create.snapshot_id.iter().map(|id| snapshot(id)));
            names
        }
        AttachDisk { instance_id, disk_id, .. } | DetachDisk { instance_id, disk_id } => {
            vec![instance(instance_id), disk(disk_id)]
        }
        DeleteDisk { disk_id } | ResizeDisk { disk_id, .. } => vec![disk(disk_id)],
        DescribeDisks { .. } => vec![ResourceName::any("disk")],
        ReplaceSystemDisk(change) => {
            let mut names = vec![instance(&change.instance_id), image(&change.image_id)];
            names.extend(key_pair(&change.guest));
            names
        }
    }
}

/// RunInstances and CreateInstance: the new instances, the image, the security groups, the vSwitch (a VPC
/// resource) and the key pair.
fn new_instances(create: &CreateInstances) -> Vec<ResourceName> {
    let mut names = vec![ResourceName::any("instance"), ResourceName::new("image", &create.image_id)];
    names.extend(create.network.security_group_ids.iter().map(|id| ResourceName::new("securitygroup", id)));
    names.extend(create.network.vswitch_id.iter().map(|id| ResourceName::of("vpc", "vswitch", id)));
    names.extend(key_pair(&create.guest));
    names
}

fn key_pair(guest: &GuestRequest) -> Option<ResourceName> {
    guest.key_pair_name.as_ref().map(|name| ResourceName::new("keypair", name))
}

#[cfg(test)]
mod tests {
    use super::resources;
    use crate::params::Params;
    use crate::product::ResourceName;

    fn names(action: &str, params: &[(&str, &str)]) -> Vec<String> {
        let params = Params::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let request = super::super::parse(action, &params).expect("an ECS action").expect("parses");
        resources(&request)
            .iter()
            .map(|r: &ResourceName| format!("{}:{}", r.service().unwrap_or("ecs"), r.relative()))
            .collect()
    }

    #[test]
    fn create_snapshot_names_the_disk_and_any_new_snapshot() {
        assert_eq!(names("CreateSnapshot", &[("DiskId", "d-1")]), ["ecs:disk/d-1", "ecs:snapshot/*"]);
    }

    #[test]
    fn run_instances_names_everything_it_uses() {
        let got = names(
            "RunInstances",
            &[
                ("ImageId", "m-1"),
                ("InstanceType", "ecs.t1.small"),
                ("SecurityGroupIds.1", "sg-1"),
                ("SecurityGroupIds.2", "sg-2"),
                ("VSwitchId", "vsw-1"),
                ("KeyPairName", "ops"),
            ],
        );
        assert_eq!(
            got,
            [
                "ecs:instance/*",
                "ecs:image/m-1",
                "ecs:securitygroup/sg-1",
                "ecs:securitygroup/sg-2",
                "vpc:vswitch/vsw-1",
                "ecs:keypair/ops"
            ]
        );
    }

    #[test]
    fn actions_on_one_resource_name_it() {
        assert_eq!(names("GetInstanceScreenshot", &[("InstanceId", "i-1")]), ["ecs:instance/i-1"]);
        assert_eq!(
            names("AttachDisk", &[("InstanceId", "i-1"), ("DiskId", "d-1")]),
            ["ecs:instance/i-1", "ecs:disk/d-1"]
        );
        assert_eq!(
            names("ResetDisk", &[("DiskId", "d-1"), ("SnapshotId", "s-1")]),
            ["ecs:disk/d-1", "ecs:snapshot/s-1"]
        );
        assert_eq!(
            names("CreateDisk", &[("Size", "20"), ("SnapshotId", "s-1")]),
            ["ecs:disk/*", "ecs:snapshot/s-1"]
        );
        assert_eq!(names("DeleteImage", &[("ImageId", "m-1")]), ["ecs:image/m-1"]);
    }

    #[test]
    fn listings_name_the_kind_and_catalogues_nothing() {
        assert_eq!(names("DescribeInstances", &[]), ["ecs:instance/*"]);
        assert_eq!(names("DescribeSnapshots", &[]), ["ecs:snapshot/*"]);
        assert!(names("DescribeRegions", &[]).is_empty());
        assert!(names("DescribeInstanceTypes", &[]).is_empty());
    }
}
