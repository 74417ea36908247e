//! ECS's reply bodies as typed structs. Field names are the wire's (PascalCase, with ECS's own
//! spellings such as `GPUAmount` and `KMSKeyId` renamed one by one). Lists keep ECS's wrapping
//! (`"Instances":{"Instance":[…]}`): the list bodies and their wrappers live in `render.rs`.

use serde::Serialize;

pub use super::render::{
    ConsoleOutputReply, DiskPage, ImagePage, Instance, InstancePage, InstanceStatusPage, InstanceTypeList,
    RegionList, SnapshotPage, TaskAttribute, TaskPage, ZoneList,
};

/// The reply of each ECS action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EcsReply {
    /// Actions that answer with nothing but the RequestId.
    Empty(Empty),
    #[serde(rename_all = "PascalCase")]
    RunInstances {
        instance_id_sets: InstanceIdSets,
        trade_price: f64,
        order_id: &'static str,
    },
    #[serde(rename_all = "PascalCase")]
    CreateInstance {
        instance_id: String,
        trade_price: f64,
        order_id: &'static str,
    },
    #[serde(rename_all = "PascalCase")]
    Screenshot {
        instance_id: String,
        screenshot: String,
    },
    #[serde(rename_all = "PascalCase")]
    ImportImage {
        image_id: String,
        region_id: String,
        task_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    ExportImage {
        task_id: String,
        region_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    CreateSnapshot {
        snapshot_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    CreateImage {
        image_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    CreateDisk {
        disk_id: String,
        order_id: &'static str,
    },
    #[serde(rename_all = "PascalCase")]
    UserData {
        instance_id: String,
        user_data: String,
        region_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    ReplaceSystemDisk {
        disk_id: String,
    },
    Instances(Box<InstancePage>),
    /// DescribeInstanceAttribute: one instance's fields at the top level (the SDK's model reads
    /// the ones it knows).
    InstanceAttribute(Box<Instance>),
    InstanceStatuses(InstanceStatusPage),
    InstanceTypes(InstanceTypeList),
    ConsoleOutput(ConsoleOutputReply),
    Images(ImagePage),
    Snapshots(SnapshotPage),
    Disks(DiskPage),
    Regions(RegionList),
    Zones(ZoneList),
    TaskAttribute(Box<TaskAttribute>),
    Tasks(TaskPage),
}

/// `{}`: a reply with no fields of its own.
#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceIdSets {
    pub instance_id_set: Vec<String>,
}
