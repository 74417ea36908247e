//! Domain values → ECS response JSON, with ECS's list wrapping (`"Instances":{"Instance":[…]}`)
//! and the scalar types the SDK models declare (FACTS.md §2.2).

use base64::Engine;
use ecslab_core::catalog::{self, InstanceType};
use ecslab_core::listing::Page;
use ecslab_core::store::{DiskRecord, SnapshotRecord, Tag, TaskRecord};
use ecslab_core::{Cloud, ConsoleOutput, ImageDetails, InstanceView};
use serde_json::{json, Value};

fn tags(tags: &[Tag]) -> Value {
    json!({ "Tag": tags.iter().map(|t| json!({ "TagKey": t.key, "TagValue": t.value })).collect::<Vec<_>>() })
}

/// ECS shows minutes in instance times: `yyyy-MM-ddTHH:mmZ`.
fn minutes(rfc3339: &str) -> String {
    match rfc3339.len() {
        20 => format!("{}Z", &rfc3339[..16]),
        _ => rfc3339.to_string(),
    }
}

fn paging_fields(page_number: u32, page_size: u32, total: usize, next_token: &str) -> Value {
    json!({ "TotalCount": total, "PageNumber": page_number, "PageSize": page_size, "NextToken": next_token })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

pub fn instances(cloud: &Cloud, page: Page<InstanceView>) -> Value {
    let region = cloud.region_id();
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|v| {
            let r = &v.record;
            let t = v.instance_type;
            json!({
                "InstanceId": r.instance_id,
                "InstanceName": r.name,
                "Description": r.description,
                "HostName": r.host_name,
                "Status": r.status,
                "RegionId": region,
                "ZoneId": r.zone_id,
                "InstanceType": t.id,
                "InstanceTypeFamily": t.family,
                "Cpu": t.vcpus,
                "Memory": t.memory_mib,
                "GPUAmount": 0,
                "ImageId": r.image_id,
                "OSType": "linux",
                "OSName": "",
                "CreationTime": minutes(&r.created_at),
                "StartTime": minutes(&r.started_at),
                "ExpiredTime": "2099-12-31T15:59Z",
                "InstanceChargeType": "PostPaid",
                "InternetChargeType": "PayByTraffic",
                "InternetMaxBandwidthIn": 0,
                "InternetMaxBandwidthOut": 0,
                "InstanceNetworkType": "vpc",
                "IoOptimized": true,
                "StoppedMode": if r.status == "Stopped" { "KeepCharging" } else { "Not-applicable" },
                "DeletionProtection": false,
                "DeviceAvailable": true,
                "SerialNumber": r.instance_id,
                "OperationLocks": { "LockReason": r.operation_locks.iter()
                    .map(|l| json!({ "LockReason": l.reason, "LockMsg": l.message })).collect::<Vec<_>>() },
                "SecurityGroupIds": { "SecurityGroupId": [] },
                "PublicIpAddress": { "IpAddress": [] },
                "InnerIpAddress": { "IpAddress": [] },
                "EipAddress": { "AllocationId": "", "IpAddress": "", "InternetChargeType": "" },
                "VpcAttributes": { "VpcId": "", "VSwitchId": "", "NatIpAddress": "", "PrivateIpAddress": { "IpAddress": [] } },
                "NetworkInterfaces": { "NetworkInterface": [] },
                "Tags": tags(&r.tags),
                "CpuOptions": { "CoreCount": t.vcpus, "ThreadsPerCore": 1, "Numa": "" },
                "DiskCount": v.disks.len(),
            })
        })
        .collect();
    merge(
        paging_fields(page.page_number, page.page_size, page.total_count, &page.next_token),
        json!({ "Instances": { "Instance": list } }),
    )
}

pub fn instance_statuses(page: Page<InstanceView>) -> Value {
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|v| json!({ "InstanceId": v.record.instance_id, "Status": v.record.status }))
        .collect();
    json!({
        "TotalCount": page.total_count,
        "PageNumber": page.page_number,
        "PageSize": page.page_size,
        "InstanceStatuses": { "InstanceStatus": list },
    })
}

pub fn instance_types(type_ids: &[String], family: Option<&str>) -> Value {
    let list: Vec<Value> = catalog::CATALOGUE
        .iter()
        .filter(|t| type_ids.is_empty() || type_ids.iter().any(|id| id == t.id))
        .filter(|t| family.is_none_or(|f| f == t.family))
        .map(|t: &InstanceType| {
            json!({
                "InstanceTypeId": t.id,
                "InstanceTypeFamily": t.family,
                "CpuCoreCount": t.vcpus,
                "MemorySize": t.memory_mib as f64 / 1024.0,
                "GPUAmount": 0,
                "GPUSpec": "",
                "LocalStorageCategory": "",
                "EniQuantity": 1,
                "InstanceCategory": if t.display { "General-purpose" } else { "Headless" },
            })
        })
        .collect();
    json!({ "InstanceTypes": { "InstanceType": list }, "NextToken": "" })
}

pub fn console_output(instance_id: &str, console: ConsoleOutput, remove_symbols: bool) -> Value {
    let bytes = if remove_symbols { strip_terminal_symbols(&console.output) } else { console.output };
    json!({
        "InstanceId": instance_id,
        "ConsoleOutput": base64::engine::general_purpose::STANDARD.encode(bytes),
        "LastUpdateTime": console.last_update_time,
    })
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

pub fn images(cloud: &Cloud, page: Page<ImageDetails>) -> Value {
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|details| {
            let i = &details.image;
            let mappings: Vec<Value> = details
                .disks
                .iter()
                .map(|d| {
                    let system = d.disk_type == "system";
                    json!({
                        "Device": d.device,
                        "Size": d.size_gib.to_string(),
                        "SnapshotId": d.snapshot_id,
                        "Type": d.disk_type,
                        "Format": if system { i.format.as_str() } else { "qcow2" },
                        "ImportOSSBucket": if system { i.import_bucket.as_str() } else { "" },
                        "ImportOSSObject": if system { i.import_object.as_str() } else { "" },
                        "Progress": format!("{}%", i.progress),
                        "RemainTime": 0,
                    })
                })
                .collect();
            json!({
                "ImageId": i.image_id,
                "ImageName": i.name,
                "ImageFamily": "",
                "ImageVersion": "",
                "Description": i.description,
                "Status": i.status,
                "Progress": format!("{}%", i.progress),
                "Size": i.size_gib,
                "CreationTime": i.created_at,
                "Architecture": i.architecture,
                "OSType": i.os_type,
                "OSName": i.platform,
                "OSNameEn": i.platform,
                "Platform": i.platform,
                "ImageOwnerAlias": "self",
                "IsCopied": false,
                "IsSelfShared": "",
                "IsSubscribed": false,
                "IsSupportCloudinit": false,
                "IsSupportIoOptimized": true,
                "Usage": "instance",
                "Tags": { "Tag": [] },
                "DiskDeviceMappings": { "DiskDeviceMapping": mappings },
            })
        })
        .collect();
    json!({
        "RegionId": cloud.region_id(),
        "TotalCount": page.total_count,
        "PageNumber": page.page_number,
        "PageSize": page.page_size,
        "Images": { "Image": list },
    })
}

pub async fn snapshots(cloud: &Cloud, page: Page<SnapshotRecord>) -> ecslab_core::Result<Value> {
    let mut list = Vec::with_capacity(page.items.len());
    for s in &page.items {
        let usage = cloud.snapshot_usage(&s.snapshot_id).await?;
        list.push(json!({
            "SnapshotId": s.snapshot_id,
            "SnapshotName": s.name,
            "Description": s.description,
            "Status": s.status,
            "Progress": format!("{}%", s.progress),
            "RemainTime": if s.status == "progressing" { 1 } else { 0 },
            "CreationTime": s.created_at,
            "LastModifiedTime": s.updated_at,
            "SourceDiskId": s.source_disk_id,
            "SourceDiskSize": s.source_disk_size.to_string(),
            "SourceDiskType": s.source_disk_type,
            "SourceStorageType": "disk",
            "Usage": usage,
            "SnapshotType": "user",
            "RetentionDays": s.retention_days,
            "InstantAccess": false,
            "InstantAccessRetentionDays": 0,
            "Category": "standard",
            "Encrypted": false,
            "KMSKeyId": "",
            "ProductCode": "",
            "SnapshotSN": s.snapshot_id,
            "ResourceGroupId": "",
            "Available": s.status == "accomplished",
            "RegionId": cloud.region_id(),
            "SnapshotLinkId": format!("sl-{}", s.source_disk_id.trim_start_matches("d-")),
            "SourceRegionId": "",
            "SourceSnapshotId": "",
            "FailureReason": s.failure_reason,
            "Tags": tags(&s.tags),
        }));
    }
    Ok(merge(
        paging_fields(page.page_number, page.page_size, page.total_count, &page.next_token),
        json!({ "Snapshots": { "Snapshot": list } }),
    ))
}

pub fn disks(cloud: &Cloud, page: Page<DiskRecord>) -> Value {
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|d| {
            let attached = d.status == "In_use" || d.status == "Detaching" || d.status == "Attaching";
            let instance_id = if attached { d.instance_id.clone().unwrap_or_default() } else { String::new() };
            let device = if attached { device_name(d.device_index) } else { String::new() };
            json!({
                "DiskId": d.disk_id,
                "DiskName": d.name,
                "Description": d.description,
                "Type": d.disk_type,
                "Category": d.category,
                "Size": d.size_gib,
                "Status": d.status,
                "InstanceId": instance_id,
                "Device": device,
                "ZoneId": d.zone_id,
                "RegionId": cloud.region_id(),
                "ImageId": d.image_id,
                "SourceSnapshotId": d.source_snapshot_id,
                "Portable": d.portable,
                "DeleteWithInstance": d.delete_with_instance,
                "DeleteAutoSnapshot": true,
                "EnableAutoSnapshot": false,
                "EnableAutomatedSnapshotPolicy": false,
                "AutoSnapshotPolicyId": "",
                "DiskChargeType": "PostPaid",
                "CreationTime": d.created_at,
                "AttachedTime": d.attached_at,
                "DetachedTime": "",
                "ExpiredTime": "2099-12-31T15:59Z",
                "Encrypted": false,
                "KMSKeyId": "",
                "PerformanceLevel": "PL1",
                "SerialNumber": d.disk_id,
                "MountInstanceNum": if attached { 1 } else { 0 },
                "MountInstances": { "MountInstance": [] },
                "OperationLocks": { "OperationLock": [] },
                "Tags": { "Tag": [] },
                "Attachments": { "Attachment": if attached {
                    vec![json!({ "InstanceId": instance_id, "Device": device, "AttachedTime": d.attached_at })]
                } else { vec![] } },
            })
        })
        .collect();
    merge(
        paging_fields(page.page_number, page.page_size, page.total_count, &page.next_token),
        json!({ "Disks": { "Disk": list } }),
    )
}

/// `/dev/xvda`, `/dev/xvdb`, ... by device slot, as ECS names them.
fn device_name(index: i64) -> String {
    let letter = (b'a' + (index.clamp(0, 25) as u8)) as char;
    format!("/dev/xvd{letter}")
}

pub fn regions(cloud: &Cloud) -> Value {
    json!({ "Regions": { "Region": [{
        "RegionId": cloud.region_id(),
        "LocalName": cloud.region_id(),
        "RegionEndpoint": "",
        "Status": "available",
    }]}})
}

pub fn zones(cloud: &Cloud) -> Value {
    json!({ "Zones": { "Zone": [{ "ZoneId": cloud.config().zone_id, "LocalName": cloud.config().zone_id }] } })
}

/// DescribeTaskAttribute: the task, with one OperationProgress naming its resource (and the
/// error when it failed).
pub fn task_attribute(cloud: &Cloud, task: &TaskRecord) -> Value {
    let failed = task.status == "Failed";
    let finished = task.status != "Processing";
    json!({
        "RegionId": cloud.region_id(),
        "TaskId": task.task_id,
        "TaskAction": task.action,
        "TaskStatus": task.status,
        "TaskProcess": format!("{}%", task.progress),
        "CreationTime": task.created_at,
        "FinishedTime": task.finished_at,
        "SupportCancel": "false",
        "TotalCount": 1,
        "SuccessCount": i32::from(finished && !failed),
        "FailedCount": i32::from(failed),
        "OperationProgressSet": { "OperationProgress": [{
            "OperationStatus": if failed { "Failed" } else if finished { "Success" } else { "Processing" },
            "ErrorCode": task.failure_code,
            "ErrorMsg": task.failure_message,
            "RelatedItemSet": { "RelatedItem": [{ "Name": "ImageId", "Value": task.resource_id }] },
        }]},
    })
}

pub fn tasks(cloud: &Cloud, page: Page<TaskRecord>) -> Value {
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|t| {
            json!({
                "TaskId": t.task_id,
                "TaskAction": t.action,
                "TaskStatus": t.status,
                "SupportCancel": "false",
                "CreationTime": t.created_at,
                "FinishedTime": t.finished_at,
                "ResourceId": t.resource_id,
            })
        })
        .collect();
    json!({
        "RegionId": cloud.region_id(),
        "TotalCount": page.total_count,
        "PageNumber": page.page_number,
        "PageSize": page.page_size,
        "TaskSet": { "Task": list },
    })
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
