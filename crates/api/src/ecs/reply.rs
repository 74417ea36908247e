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
    MonitorData(MonitorData),
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

/// DescribeInstanceMonitorData: `MonitorData.InstanceMonitorData[]`, one entry per Period with
/// samples (see `ecslab_core::monitor::series`). Fields ecslab does not measure (burstable
/// credits; IOPS where QEMU could not be asked; traffic of an instance without a NIC in a
/// namespace) are left out rather than sent as zeros. ECS's reply has no memory field; `MemoryRSS` (bytes) is
/// ecslab's own addition (SDKs skip a field their model lacks; the raw JSON and the CLI show it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MonitorData {
    monitor_data: MonitorPoints,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MonitorPoints {
    instance_monitor_data: Vec<MonitorPoint>,
}

#[derive(Debug, Serialize)]
struct MonitorPoint {
    #[serde(rename = "InstanceId")]
    instance_id: String,
    #[serde(rename = "TimeStamp")]
    time_stamp: String,
    #[serde(rename = "CPU")]
    cpu: f64,
    #[serde(rename = "BPSRead", skip_serializing_if = "Option::is_none")]
    bps_read: Option<u64>,
    #[serde(rename = "BPSWrite", skip_serializing_if = "Option::is_none")]
    bps_write: Option<u64>,
    #[serde(rename = "IOPSRead", skip_serializing_if = "Option::is_none")]
    iops_read: Option<u64>,
    #[serde(rename = "IOPSWrite", skip_serializing_if = "Option::is_none")]
    iops_write: Option<u64>,
    #[serde(rename = "MemoryRSS")]
    memory_rss: u64,
    #[serde(rename = "IntranetRX", skip_serializing_if = "Option::is_none")]
    intranet_rx: Option<u64>,
    #[serde(rename = "IntranetTX", skip_serializing_if = "Option::is_none")]
    intranet_tx: Option<u64>,
    #[serde(rename = "IntranetBandwidth", skip_serializing_if = "Option::is_none")]
    intranet_bandwidth: Option<u64>,
    #[serde(rename = "InternetRX", skip_serializing_if = "Option::is_none")]
    internet_rx: Option<u64>,
    #[serde(rename = "InternetTX", skip_serializing_if = "Option::is_none")]
    internet_tx: Option<u64>,
    #[serde(rename = "InternetBandwidth", skip_serializing_if = "Option::is_none")]
    internet_bandwidth: Option<u64>,
}

impl MonitorData {
    pub fn new(instance_id: &str, points: Vec<ecslab_core::monitor::series::Point>) -> MonitorData {
        let instance_monitor_data = points
            .into_iter()
            .map(|point| MonitorPoint {
                instance_id: instance_id.to_string(),
                time_stamp: point.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                cpu: point.cpu_percent,
                bps_read: point.read_bps,
                bps_write: point.write_bps,
                iops_read: point.read_iops,
                iops_write: point.write_iops,
                memory_rss: point.memory_bytes,
                intranet_rx: point.intranet.map(|t| t.rx_kbits),
                intranet_tx: point.intranet.map(|t| t.tx_kbits),
                intranet_bandwidth: point.intranet.map(|t| t.bandwidth_kbps),
                internet_rx: point.internet.map(|t| t.rx_kbits),
                internet_tx: point.internet.map(|t| t.tx_kbits),
                internet_bandwidth: point.internet.map(|t| t.bandwidth_kbps),
            })
            .collect();
        MonitorData { monitor_data: MonitorPoints { instance_monitor_data } }
    }
}
