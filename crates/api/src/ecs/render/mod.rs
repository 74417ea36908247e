//! Domain values → ECS reply bodies as typed structs, with ECS's list wrapping
//! (`"Instances":{"Instance":[…]}`) and the scalar types the SDK models declare
//! (docs/api/FACTS.md §2.2). Constant fields (ecslab has no billing, networks or encryption) are
//! filled with the values real ECS shows for the same case.

use base64::Engine;
use ecslab_core::catalog::{self, InstanceType};
use ecslab_core::listing::Page;
use ecslab_core::requests::SnapshotUsage;
use ecslab_core::store::{DiskRecord, Tag, TaskRecord};
use ecslab_core::{Cloud, ConsoleOutput, DiskType, ImageDetails, InstanceView, ListedSnapshot};
use serde::Serialize;

/// `struct $name { "$key": [$item] }`: one of ECS's wrapped lists.
macro_rules! wrapped {
    ($name:ident, $key:literal, $item:ty) => {
        #[derive(Debug, Serialize)]
        pub struct $name {
            #[serde(rename = $key)]
            pub items: Vec<$item>,
        }

        impl From<Vec<$item>> for $name {
            fn from(items: Vec<$item>) -> $name {
                $name { items }
            }
        }
    };
}

mod storage;

pub use storage::{disks, images, snapshots, DiskPage, ImagePage, SnapshotPage};

wrapped!(Tags, "Tag", TagOut);
wrapped!(InstanceList, "Instance", Instance);
wrapped!(LockList, "LockReason", Lock);
wrapped!(SecurityGroupIds, "SecurityGroupId", String);
wrapped!(IpAddresses, "IpAddress", String);
wrapped!(NetworkInterfaces, "NetworkInterface", InstanceInterface);
wrapped!(PrivateIpSets, "PrivateIpSet", PrivateIpSet);
wrapped!(InstanceStatusList, "InstanceStatus", InstanceStatusItem);
wrapped!(InstanceTypeItems, "InstanceType", InstanceTypeItem);
wrapped!(Regions, "Region", Region);
wrapped!(Zones, "Zone", Zone);
wrapped!(OperationProgressSet, "OperationProgress", OperationProgress);
wrapped!(RelatedItemSet, "RelatedItem", RelatedItem);
wrapped!(TaskSet, "Task", TaskItem);

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagOut {
    pub tag_key: String,
    pub tag_value: String,
}

fn tags(tags: &[Tag]) -> Tags {
    tags.iter()
        .map(|t| TagOut { tag_key: t.key.clone(), tag_value: t.value.clone() })
        .collect::<Vec<_>>()
        .into()
}

/// ECS shows minutes in instance times: `yyyy-MM-ddTHH:mmZ`.
fn minutes(rfc3339: &str) -> String {
    match rfc3339.len() {
        20 => format!("{}Z", &rfc3339[..16]),
        _ => rfc3339.to_string(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstancePage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub instances: InstanceList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    pub instance_id: String,
    pub instance_name: String,
    pub description: String,
    pub host_name: String,
    /// The bound SSH key pair ("" when none), as DescribeInstances shows it.
    pub key_pair_name: String,
    pub metadata_options: MetadataOptions,
    pub status: String,
    pub region_id: String,
    pub zone_id: String,
    pub instance_type: &'static str,
    pub instance_type_family: &'static str,
    pub cpu: u32,
    pub memory: u64,
    #[serde(rename = "GPUAmount")]
    pub gpu_amount: u32,
    pub image_id: String,
    #[serde(rename = "OSType")]
    pub os_type: &'static str,
    #[serde(rename = "OSName")]
    pub os_name: &'static str,
    pub creation_time: String,
    pub start_time: String,
    pub expired_time: &'static str,
    pub instance_charge_type: &'static str,
    pub internet_charge_type: &'static str,
    pub internet_max_bandwidth_in: u32,
    pub internet_max_bandwidth_out: i64,
    pub instance_network_type: &'static str,
    pub io_optimized: bool,
    pub stopped_mode: &'static str,
    pub deletion_protection: bool,
    pub device_available: bool,
    pub serial_number: String,
    pub operation_locks: LockList,
    pub security_group_ids: SecurityGroupIds,
    pub public_ip_address: IpAddresses,
    pub inner_ip_address: IpAddresses,
    pub eip_address: EipAddress,
    pub vpc_attributes: VpcAttributes,
    pub network_interfaces: NetworkInterfaces,
    pub tags: Tags,
    pub cpu_options: CpuOptions,
    pub disk_count: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Lock {
    pub lock_reason: String,
    pub lock_msg: String,
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct EipAddress {
    pub allocation_id: &'static str,
    pub ip_address: &'static str,
    pub internet_charge_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcAttributes {
    pub vpc_id: String,
    pub v_switch_id: String,
    pub nat_ip_address: &'static str,
    pub private_ip_address: IpAddresses,
}

/// One of an instance's network interfaces, as DescribeInstances lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceInterface {
    pub network_interface_id: String,
    pub mac_address: String,
    pub primary_ip_address: String,
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub private_ip_sets: PrivateIpSets,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrivateIpSet {
    pub private_ip_address: String,
    pub primary: bool,
}

/// The metadata service's options of an instance, as DescribeInstances shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetadataOptions {
    pub http_endpoint: ecslab_core::store::MetadataEndpoint,
    pub http_tokens: ecslab_core::store::MetadataTokens,
    /// Not adjustable (ECS: "not publicly available"); one hop, the guest itself.
    pub http_put_response_hop_limit: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CpuOptions {
    pub core_count: u32,
    pub threads_per_core: u32,
    pub numa: &'static str,
}

pub fn instances(cloud: &Cloud, page: Page<InstanceView>) -> InstancePage {
    let region = cloud.region_id();
    let list: Vec<Instance> = page
        .items
        .iter()
        .map(|v| {
            let r = &v.record;
            let t = v.instance_type;
            let nic = v.interface.as_ref();
            let on_nic = |f: fn(&ecslab_core::store::NetworkInterfaceRecord) -> &String| {
                nic.map(|n| f(n).clone()).filter(|value| !value.is_empty())
            };
            Instance {
                instance_id: r.instance_id.clone(),
                instance_name: r.name.clone(),
                description: r.description.clone(),
                host_name: r.host_name.clone(),
                key_pair_name: v.key_pair_name.clone().unwrap_or_default(),
                metadata_options: MetadataOptions {
                    http_endpoint: v.http_endpoint,
                    http_tokens: v.http_tokens,
                    http_put_response_hop_limit: 1,
                },
                status: r.status.to_string(),
                region_id: region.to_string(),
                zone_id: r.zone_id.clone(),
                instance_type: t.id,
                instance_type_family: t.family,
                cpu: t.vcpus,
                memory: t.memory_mib,
                gpu_amount: 0,
                image_id: r.image_id.clone(),
                os_type: "linux",
                os_name: "",
                creation_time: minutes(&r.created_at),
                start_time: minutes(&r.started_at),
                expired_time: "2099-12-31T15:59Z",
                instance_charge_type: "PostPaid",
                internet_charge_type: "PayByTraffic",
                internet_max_bandwidth_in: 0,
                internet_max_bandwidth_out: nic.map_or(0, |n| n.internet_max_bandwidth_out),
                instance_network_type: "vpc",
                io_optimized: true,
                stopped_mode: if r.status == ecslab_core::InstanceStatus::Stopped {
                    "KeepCharging"
                } else {
                    "Not-applicable"
                },
                deletion_protection: false,
                device_available: true,
                serial_number: r.instance_id.clone(),
                operation_locks: r
                    .operation_locks
                    .iter()
                    .map(|l| Lock { lock_reason: l.reason.to_string(), lock_msg: l.message.clone() })
                    .collect::<Vec<_>>()
                    .into(),
                security_group_ids: nic.map(|n| n.security_group_ids.clone()).unwrap_or_default().into(),
                public_ip_address: on_nic(|n| &n.public_ip).into_iter().collect::<Vec<_>>().into(),
                inner_ip_address: Vec::new().into(),
                eip_address: EipAddress::default(),
                vpc_attributes: VpcAttributes {
                    vpc_id: on_nic(|n| &n.vpc_id).unwrap_or_default(),
                    v_switch_id: on_nic(|n| &n.vswitch_id).unwrap_or_default(),
                    nat_ip_address: "",
                    private_ip_address: on_nic(|n| &n.private_ip).into_iter().collect::<Vec<_>>().into(),
                },
                network_interfaces: nic
                    .map(|n| InstanceInterface {
                        network_interface_id: n.network_interface_id.clone(),
                        mac_address: n.mac.clone(),
                        primary_ip_address: n.private_ip.clone(),
                        kind: "Primary",
                        private_ip_sets: vec![PrivateIpSet {
                            private_ip_address: n.private_ip.clone(),
                            primary: true,
                        }]
                        .into(),
                    })
                    .into_iter()
                    .collect::<Vec<_>>()
                    .into(),
                tags: tags(&r.tags),
                cpu_options: CpuOptions { core_count: t.vcpus, threads_per_core: 1, numa: "" },
                disk_count: v.disks.len(),
            }
        })
        .collect();
    InstancePage {
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        next_token: page.next_token,
        instances: list.into(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceStatusPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub instance_statuses: InstanceStatusList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceStatusItem {
    pub instance_id: String,
    pub status: String,
}

pub fn instance_statuses(page: Page<InstanceView>) -> InstanceStatusPage {
    let list: Vec<InstanceStatusItem> = page
        .items
        .iter()
        .map(|v| InstanceStatusItem {
            instance_id: v.record.instance_id.clone(),
            status: v.record.status.to_string(),
        })
        .collect();
    InstanceStatusPage {
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        instance_statuses: list.into(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceTypeList {
    pub instance_types: InstanceTypeItems,
    pub next_token: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceTypeItem {
    pub instance_type_id: &'static str,
    pub instance_type_family: &'static str,
    pub cpu_core_count: u32,
    pub memory_size: f64,
    #[serde(rename = "GPUAmount")]
    pub gpu_amount: u32,
    #[serde(rename = "GPUSpec")]
    pub gpu_spec: &'static str,
    pub local_storage_category: &'static str,
    pub eni_quantity: u32,
    pub instance_category: &'static str,
}

pub fn instance_types(type_ids: &[String], family: Option<&str>) -> InstanceTypeList {
    let list: Vec<InstanceTypeItem> = catalog::CATALOGUE
        .iter()
        .filter(|t| type_ids.is_empty() || type_ids.iter().any(|id| id == t.id))
        .filter(|t| family.is_none_or(|f| f == t.family))
        .map(|t: &InstanceType| InstanceTypeItem {
            instance_type_id: t.id,
            instance_type_family: t.family,
            cpu_core_count: t.vcpus,
            memory_size: t.memory_mib as f64 / 1024.0,
            gpu_amount: 0,
            gpu_spec: "",
            local_storage_category: "",
            eni_quantity: 1,
            instance_category: if t.display { "General-purpose" } else { "Headless" },
        })
        .collect();
    InstanceTypeList { instance_types: list.into(), next_token: "" }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConsoleOutputReply {
    pub instance_id: String,
    pub console_output: String,
    pub last_update_time: String,
}

pub fn console_output(instance_id: &str, console: ConsoleOutput, remove_symbols: bool) -> ConsoleOutputReply {
    let bytes = if remove_symbols { strip_terminal_symbols(&console.output) } else { console.output };
    ConsoleOutputReply {
        instance_id: instance_id.to_string(),
        console_output: base64::engine::general_purpose::STANDARD.encode(bytes),
        last_update_time: console.last_update_time,
    }
}

/// Drop ANSI escape sequences and control characters other than newline and tab
/// (GetInstanceConsoleOutput's `RemoveSymbols`).
fn strip_terminal_symbols(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == 0x1b {
            i += 1;
            if input.get(i) == Some(&b'[') {
                i += 1;
                while i < input.len() && !(0x40..=0x7e).contains(&input[i]) {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        if b >= 0x20 || b == b'\n' || b == b'\t' {
            out.push(b);
        }
        i += 1;
    }
    out
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionList {
    pub regions: Regions,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Region {
    pub region_id: String,
    pub local_name: String,
    pub region_endpoint: &'static str,
    pub status: &'static str,
}

pub fn regions(cloud: &Cloud) -> RegionList {
    let region = Region {
        region_id: cloud.region_id().to_string(),
        local_name: cloud.region_id().to_string(),
        region_endpoint: "",
        status: "available",
    };
    RegionList { regions: vec![region].into() }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZoneList {
    pub zones: Zones,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Zone {
    pub zone_id: String,
    pub local_name: String,
}

pub fn zones(cloud: &Cloud) -> ZoneList {
    let zone_id = &cloud.config().zone_id;
    ZoneList { zones: vec![Zone { zone_id: zone_id.clone(), local_name: zone_id.clone() }].into() }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskAttribute {
    pub region_id: String,
    pub task_id: String,
    pub task_action: String,
    pub task_status: String,
    pub task_process: String,
    pub creation_time: String,
    pub finished_time: String,
    pub support_cancel: &'static str,
    pub total_count: u32,
    pub success_count: i32,
    pub failed_count: i32,
    pub operation_progress_set: OperationProgressSet,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationProgress {
    pub operation_status: &'static str,
    pub error_code: String,
    pub error_msg: String,
    pub related_item_set: RelatedItemSet,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RelatedItem {
    pub name: &'static str,
    pub value: String,
}

/// DescribeTaskAttribute: the task, with one OperationProgress naming its resource (and the
/// error when it failed).
pub fn task_attribute(cloud: &Cloud, task: &TaskRecord) -> TaskAttribute {
    let failed = task.status == ecslab_core::TaskStatus::Failed;
    let finished = task.status != ecslab_core::TaskStatus::Processing;
    let progress = OperationProgress {
        operation_status: if failed {
            "Failed"
        } else if finished {
            "Success"
        } else {
            "Processing"
        },
        error_code: task.failure_code.clone(),
        error_msg: task.failure_message.clone(),
        related_item_set: vec![RelatedItem { name: "ImageId", value: task.resource_id.clone() }].into(),
    };
    TaskAttribute {
        region_id: cloud.region_id().to_string(),
        task_id: task.task_id.clone(),
        task_action: task.action.to_string(),
        task_status: task.status.to_string(),
        task_process: format!("{}%", task.progress),
        creation_time: task.created_at.clone(),
        finished_time: task.finished_at.clone(),
        support_cancel: "false",
        total_count: 1,
        success_count: i32::from(finished && !failed),
        failed_count: i32::from(failed),
        operation_progress_set: vec![progress].into(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskPage {
    pub region_id: String,
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub task_set: TaskSet,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskItem {
    pub task_id: String,
    pub task_action: String,
    pub task_status: String,
    pub support_cancel: &'static str,
    pub creation_time: String,
    pub finished_time: String,
    pub resource_id: String,
}

pub fn tasks(cloud: &Cloud, page: Page<TaskRecord>) -> TaskPage {
    let list: Vec<TaskItem> = page
        .items
        .iter()
        .map(|t| TaskItem {
            task_id: t.task_id.clone(),
            task_action: t.action.to_string(),
            task_status: t.status.to_string(),
            support_cancel: "false",
            creation_time: t.created_at.clone(),
            finished_time: t.finished_at.clone(),
            resource_id: t.resource_id.clone(),
        })
        .collect();
    TaskPage {
        region_id: cloud.region_id().to_string(),
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        task_set: list.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_escapes_and_controls() {
        let out = super::strip_terminal_symbols(b"\x1b[1;33mVMTEST\x1b[0m ok\r\nvmtest# \x1b[6n");
        assert_eq!(out, b"VMTEST ok\nvmtest# ");
    }

    #[test]
    fn instance_times_have_minutes() {
        assert_eq!(super::minutes("2026-11-23T01:02:03Z"), "2026-11-23T01:02Z");
        assert_eq!(super::minutes(""), "");
    }
}
