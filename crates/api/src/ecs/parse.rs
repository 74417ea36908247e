//! Parameters → [`EcsRequest`], one function per action. Pure: no state, no I/O.

use super::filters::{disk_filter, image_filter, instance_filter, snapshot_filter};
use super::EcsRequest;
use crate::params::{check_description, check_name, Params};
use ecslab_core::exports::{ExportImage, TaskFilter};
use ecslab_core::guest_settings::{check_host_name, Password, UserData};
use ecslab_core::image_changes::ImageChange;
use ecslab_core::monitor::series::MonitorQuery;
use ecslab_core::network::InstanceNetwork;
use ecslab_core::requests::{
    CreateDisk, CreateImage, CreateInstances, CreateSnapshot, DataDiskRequest, DiskImageFormat, GuestRequest,
    ImportImage, MetadataOptions,
};
use ecslab_core::ModifyInstanceAttribute;
use ecslab_core::{DiskType, Error, Result, TaskStatus};
use std::collections::BTreeMap;

/// Parse one ECS action. `None` when the action is not one ecslab implements.
pub fn parse(action: &str, p: &Params) -> Option<Result<EcsRequest>> {
    let parsed = match action {
        "RunInstances" => create_instances(p, true).map(EcsRequest::RunInstances),
        "CreateInstance" => create_instances(p, false).map(EcsRequest::CreateInstance),
        "StartInstance" => {
            with(|| Ok(EcsRequest::StartInstance { instance_id: p.str("InstanceId")?, dry_run: dry_run(p)? }))
        }
        "StopInstance" => with(|| {
            Ok(EcsRequest::StopInstance {
                instance_id: p.str("InstanceId")?,
                force: p.bool_or("ForceStop", false)?,
                dry_run: dry_run(p)?,
            })
        }),
        "RebootInstance" => with(|| {
            Ok(EcsRequest::RebootInstance {
                instance_id: p.str("InstanceId")?,
                force: p.bool_or("ForceStop", false)?,
                dry_run: dry_run(p)?,
            })
        }),
        "DeleteInstance" => with(|| {
            Ok(EcsRequest::DeleteInstance {
                instance_id: p.str("InstanceId")?,
                force: p.bool_or("Force", false)?,
                dry_run: dry_run(p)?,
            })
        }),
        "DescribeInstances" => with(|| {
            Ok(EcsRequest::DescribeInstances {
                filter: instance_filter(p)?,
                paging: p.paging(100)?,
                dry_run: dry_run(p)?,
            })
        }),
        "DescribeInstanceAttribute" => {
            with(|| Ok(EcsRequest::DescribeInstanceAttribute { instance_id: p.str("InstanceId")? }))
        }
        "DescribeInstanceStatus" => with(|| {
            Ok(EcsRequest::DescribeInstanceStatus {
                instance_ids: p.repeat_list("InstanceId", 100)?,
                paging: p.paging(50)?,
            })
        }),
        "DescribeInstanceTypes" => with(|| {
            Ok(EcsRequest::DescribeInstanceTypes {
                type_ids: p.repeat_list("InstanceTypes", 100)?,
                family: p.opt_str("InstanceTypeFamily"),
            })
        }),
        "GetInstanceScreenshot" => with(|| {
            Ok(EcsRequest::GetInstanceScreenshot {
                instance_id: p.str("InstanceId")?,
                wake_up: p.bool_or("WakeUp", false)?,
            })
        }),
        "GetInstanceConsoleOutput" => with(|| {
            Ok(EcsRequest::GetInstanceConsoleOutput {
                instance_id: p.str("InstanceId")?,
                remove_symbols: p.bool_or("RemoveSymbols", false)?,
            })
        }),
        "ImportImage" => import_image(p).map(EcsRequest::ImportImage),
        "DescribeImages" => {
            with(|| Ok(EcsRequest::DescribeImages { filter: image_filter(p)?, paging: p.paging(100)? }))
        }
        "DeleteImage" => with(|| {
            Ok(EcsRequest::DeleteImage { image_id: p.str("ImageId")?, force: p.bool_or("Force", false)? })
        }),
        "ExportImage" => export_image(p).map(EcsRequest::ExportImage),
        "DescribeTaskAttribute" => {
            with(|| Ok(EcsRequest::DescribeTaskAttribute { task_id: p.str("TaskId")? }))
        }
        "DescribeTasks" => with(|| {
            let status = match p.opt_str("TaskStatus").filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(
                    s.parse::<TaskStatus>()
                        .map_err(|_| Error::invalid("TaskStatus", format!("Unknown task status {s:?}.")))?,
                ),
            };
            let task_ids = p
                .opt_str("TaskIds")
                .map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect());
            Ok(EcsRequest::DescribeTasks {
                filter: TaskFilter {
                    task_ids,
                    action: p.opt_str("TaskAction").filter(|a| !a.is_empty()),
                    status,
                },
                paging: p.paging(100)?,
            })
        }),
        "CreateSnapshot" => create_snapshot(p).map(EcsRequest::CreateSnapshot),
        "CreateImage" => create_image(p).map(EcsRequest::CreateImage),
        "DescribeSnapshots" => {
            with(|| Ok(EcsRequest::DescribeSnapshots { filter: snapshot_filter(p)?, paging: p.paging(100)? }))
        }
        "DeleteSnapshot" => with(|| {
            Ok(EcsRequest::DeleteSnapshot {
                snapshot_id: p.str("SnapshotId")?,
                force: p.bool_or("Force", false)?,
            })
        }),
        "ResetDisk" => with(|| {
            Ok(EcsRequest::ResetDisk {
                disk_id: p.str("DiskId")?,
                snapshot_id: p.str("SnapshotId")?,
                dry_run: dry_run(p)?,
            })
        }),
        "CreateDisk" => create_disk(p).map(EcsRequest::CreateDisk),
        "AttachDisk" => with(|| {
            Ok(EcsRequest::AttachDisk {
                instance_id: p.str("InstanceId")?,
                disk_id: p.str("DiskId")?,
                delete_with_instance: p.bool_or("DeleteWithInstance", false)?,
            })
        }),
        "DetachDisk" => with(|| {
            Ok(EcsRequest::DetachDisk { instance_id: p.str("InstanceId")?, disk_id: p.str("DiskId")? })
        }),
        "DeleteDisk" => with(|| Ok(EcsRequest::DeleteDisk { disk_id: p.str("DiskId")? })),
        "ResizeDisk" => with(|| {
            let new_size_gib = p.opt_int("NewSize", 1, 32768)?.ok_or_else(|| Error::missing("NewSize"))?;
            Ok(EcsRequest::ResizeDisk { disk_id: p.str("DiskId")?, new_size_gib })
        }),
        "DescribeDisks" => {
            with(|| Ok(EcsRequest::DescribeDisks { filter: disk_filter(p)?, paging: p.paging(500)? }))
        }
        "DescribeRegions" => Ok(EcsRequest::DescribeRegions),
        "DescribeZones" => Ok(EcsRequest::DescribeZones),
        "ReplaceSystemDisk" => replace_system_disk(p).map(EcsRequest::ReplaceSystemDisk),
        "ModifyInstanceAttribute" => modify_instance_attribute(p).map(EcsRequest::ModifyInstanceAttribute),
        "DescribeUserData" => with(|| Ok(EcsRequest::DescribeUserData { instance_id: p.str("InstanceId")? })),
        "DescribeInstanceMonitorData" => with(|| {
            let query = MonitorQuery::parse(
                p.str("InstanceId")?,
                &p.str("StartTime")?,
                &p.str("EndTime")?,
                p.get("Period"),
                chrono::Utc::now(),
            )?;
            Ok(EcsRequest::DescribeInstanceMonitorData(query))
        }),
        "ModifyInstanceMetadataOptions" => with(|| {
            let options = metadata_options(p)?;
            if options.http_endpoint.is_none() {
                return Err(Error::missing("HttpEndpoint"));
            }
            Ok(EcsRequest::ModifyInstanceMetadataOptions { instance_id: p.str("InstanceId")?, options })
        }),
        _ => return None,
    };
    Some(parsed)
}

/// ReplaceSystemDisk (FACTS §4.9). Password and KeyPairName go to the new system disk's guest
/// (stored on the instance like RunInstances'); PasswordInherit keeps the image's own. DiskId
/// (an existing disk as the new system disk) is not supported.
fn replace_system_disk(p: &Params) -> Result<ImageChange> {
    if p.opt_str("DiskId").is_some() && p.opt_str("ImageId").is_none() {
        return Err(Error::invalid(
            "DiskId",
            "Replacing the system disk with an existing disk is not supported; give ImageId.",
        ));
    }
    let instance_id = p.str("InstanceId")?;
    let image_id = p.str("ImageId")?;
    let system_disk_size_gib = match p.opt_str("SystemDisk.Size") {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(Error::rejected(
                    "InvalidSystemDiskSize.ValueNotSupported",
                    format!("The specified SystemDisk.Size {v:?} is not a positive number of GiB."),
                ))
            }
        },
    };
    p.refuse(&["SecurityEnhancementStrategy", "Architecture", "Platform", "EncryptAlgorithm", "KMSKeyId"])?;
    Ok(ImageChange { instance_id, image_id, system_disk_size_gib, guest: guest_request(p, false)? })
}

/// KeyPairName, Password, PasswordInherit and (when `with_user_data`) UserData, checked as ECS
/// checks them. PasswordInherit keeps the image's own password: ecslab then stores none.
fn guest_request(p: &Params, with_user_data: bool) -> Result<GuestRequest> {
    let password = p.opt_str("Password").map(|v| Password::parse(&v)).transpose()?;
    if p.bool_or("PasswordInherit", false)? && password.is_some() {
        return Err(Error::rejected(
            "InvalidParameter.Conflict",
            "Password and PasswordInherit=true cannot be given together.",
        ));
    }
    let user_data =
        if with_user_data { p.opt_str("UserData").map(|v| UserData::parse(&v)).transpose()? } else { None };
    if !with_user_data {
        p.refuse(&["UserData"])?;
    }
    let key_pair_name = p.opt_str("KeyPairName");
    if let Some(name) = &key_pair_name {
        check_name(name, "InvalidKeyPairName.Malformed", "KeyPairName")?;
    }
    let metadata = if with_user_data { metadata_options(p)? } else { MetadataOptions::default() };
    Ok(GuestRequest { key_pair_name, password, user_data, metadata })
}

/// HttpEndpoint (enabled | disabled) and HttpTokens (optional | required); the hop limit and
/// metadata tags, not open on ECS, are refused.
fn metadata_options(p: &Params) -> Result<MetadataOptions> {
    p.refuse(&["HttpPutResponseHopLimit", "InstanceMetadataTags"])?;
    fn word<T: std::str::FromStr>(p: &Params, name: &str, valid: &str) -> Result<Option<T>> {
        p.opt_str(name)
            .map(|v| v.parse().map_err(|_| Error::invalid(name, format!("{v:?} is not one of {valid}."))))
            .transpose()
    }
    Ok(MetadataOptions {
        http_endpoint: word(p, "HttpEndpoint", "enabled, disabled")?,
        http_tokens: word(p, "HttpTokens", "optional, required")?,
    })
}

/// ModifyInstanceAttribute: InstanceName, Description, HostName, Password, UserData; the
/// other attributes ECS has here are refused, not ignored.
fn modify_instance_attribute(p: &Params) -> Result<ModifyInstanceAttribute> {
    p.refuse(&[
        "CreditSpecification",
        "DeletionProtection",
        "Recyclable",
        "NetworkInterfaceQueueNumber",
        "SecurityGroupIds",
        "RemoteConnectionOptions",
        "CpuOptions",
        "EnableJumboFrame",
        "EnableNetworkEncryption",
        "PrivateDnsNameOptions",
        "HostnameType",
        "NestedVirtualization",
    ])?;
    let instance_name = p.opt_str("InstanceName");
    if let Some(name) = &instance_name {
        check_name(name, "InvalidInstanceName.Malformed", "InstanceName")?;
    }
    let description = p.opt_str("Description");
    if let Some(description) = &description {
        check_description(description)?;
    }
    let host_name = p.opt_str("HostName");
    if let Some(host_name) = &host_name {
        check_host_name(host_name)?;
    }
    Ok(ModifyInstanceAttribute {
        instance_id: p.str("InstanceId")?,
        instance_name,
        description,
        host_name,
        password: p.opt_str("Password").map(|v| Password::parse(&v)).transpose()?,
        user_data: p.opt_str("UserData").map(|v| UserData::parse(&v)).transpose()?,
    })
}

fn with(build: impl FnOnce() -> Result<EcsRequest>) -> Result<EcsRequest> {
    build()
}

fn dry_run(p: &Params) -> Result<bool> {
    p.bool_or("DryRun", false)
}

fn create_instances(p: &Params, start: bool) -> Result<CreateInstances> {
    let instance_name = p.opt_str("InstanceName");
    if let Some(name) = &instance_name {
        check_name(name, "InvalidInstanceName.Malformed", "InstanceName")?;
    }
    let description = p.opt_str("Description").unwrap_or_default();
    check_description(&description)?;
    p.refuse(&["HostNames"])?;
    let host_name = p.opt_str("HostName").unwrap_or_default();
    if !host_name.is_empty() {
        check_host_name(&host_name)?;
    }
    let amount = if start {
        match p.opt_int("Amount", i64::MIN, i64::MAX)? {
            None => 1,
            Some(n @ 1..=100) => n as u32,
            Some(_) => {
                return Err(Error::rejected(
                    "InvalidParam.Amount",
                    "The specified Amount must be between 1 and 100.",
                ))
            }
        }
    } else {
        1
    };
    let system_disk_size_gib =
        p.get("SystemDisk.Size").filter(|v| !v.is_empty()).map(parse_disk_size).transpose()?;
    if let Some(size) = system_disk_size_gib {
        if !(1..=500).contains(&size) {
            return Err(Error::rejected(
                "InvalidSystemDiskSize.ValueNotSupported",
                "The specified SystemDisk.Size must be between 1 and 500 GiB.",
            ));
        }
    }
    let mut data_disks = Vec::new();
    for (i, fields) in p.struct_list("DataDisk", 16)?.into_iter().enumerate() {
        let n = i + 1;
        let size = fields
            .get("Size")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::missing(&format!("DataDisk.{n}.Size")))
            .and_then(|v| parse_disk_size(v))?;
        if !(1..=32768).contains(&size) {
            return Err(Error::rejected(
                "InvalidDataDiskSize.ValueNotSupported",
                format!("The specified DataDisk.{n}.Size must be between 1 and 32768 GiB."),
            ));
        }
        let delete_with_instance = match fields.get("DeleteWithInstance").map(String::as_str) {
            None | Some("") => true,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(Error::invalid(
                    &format!("DataDisk.{n}.DeleteWithInstance"),
                    "Expected true or false.",
                ))
            }
        };
        let name = fields.get("DiskName").cloned().unwrap_or_default();
        if !name.is_empty() {
            check_name(&name, "InvalidDiskName.Malformed", "DiskName")?;
        }
        data_disks.push(DataDiskRequest {
            size_gib: size,
            delete_with_instance,
            name,
            description: fields.get("Description").cloned().unwrap_or_default(),
            category: fields
                .get("Category")
                .cloned()
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "cloud_essd".into()),
        });
    }
    Ok(CreateInstances {
        image_id: p.str("ImageId")?,
        instance_type: p.str("InstanceType")?,
        instance_name,
        description,
        host_name,
        amount,
        unique_suffix: p.bool_or("UniqueSuffix", false)?,
        system_disk_size_gib,
        system_disk_category: p.opt_str("SystemDisk.Category").unwrap_or_else(|| "cloud_essd".into()),
        data_disks,
        tags: p.tags()?,
        zone_id: p.opt_str("ZoneId"),
        dry_run: p.bool_or("DryRun", false)?,
        start,
        network: instance_network(p, amount)?,
        guest: guest_request(p, true)?,
    })
}

/// Where RunInstances/CreateInstance put the instance on the network.
fn instance_network(p: &Params, amount: u32) -> Result<InstanceNetwork> {
    p.refuse(&["NetworkInterface", "Ipv6Address", "Ipv6AddressCount", "NetworkInterfaceQueueNumber"])?;
    let single = p.opt_str("SecurityGroupId");
    let listed = p.repeat_list("SecurityGroupIds", 5)?;
    if single.is_some() && !listed.is_empty() {
        return Err(Error::rejected(
            "InvalidParameter.Conflict",
            "SecurityGroupId and SecurityGroupIds.N cannot be given together.",
        ));
    }
    let private_ip = match p.opt_str("PrivateIpAddress") {
        None => None,
        Some(ip) => Some(ip.trim().parse::<std::net::Ipv4Addr>().map_err(|_| {
            Error::rejected(
                "InvalidPrivateIpAddress.Malformed",
                format!("Specified private IP address {ip:?} is malformed."),
            )
        })?),
    };
    if private_ip.is_some() && amount > 1 {
        return Err(Error::rejected(
            "InvalidParameter.Conflict",
            "PrivateIpAddress can be given only when Amount is 1.",
        ));
    }
    let internet_max_bandwidth_out = match p.opt_int("InternetMaxBandwidthOut", i64::MIN, i64::MAX)? {
        None => 0,
        Some(n @ 0..=100) => n as u32,
        Some(_) => {
            return Err(Error::rejected(
                "InvalidInternetMaxBandwidthOut.Malformed",
                "The specified InternetMaxBandwidthOut must be between 0 and 100.",
            ))
        }
    };
    Ok(InstanceNetwork {
        vswitch_id: p.opt_str("VSwitchId").filter(|v| !v.is_empty()),
        security_group_ids: single.into_iter().chain(listed).collect(),
        private_ip,
        internet_max_bandwidth_out,
    })
}

fn parse_disk_size(v: &str) -> Result<i64> {
    v.trim().parse::<i64>().map_err(|_| Error::invalid("Size", format!("Expected a size in GiB, got {v:?}.")))
}

fn import_image(p: &Params) -> Result<ImportImage> {
    let mappings = p.struct_list("DiskDeviceMapping", 17)?;
    let first = mappings.first().ok_or_else(|| Error::missing("DiskDeviceMapping.1.OSSObject"))?;
    if mappings.len() > 1 {
        return Err(Error::invalid(
            "DiskDeviceMapping",
            "ecslab imports images with one disk (the system disk).",
        ));
    }
    let field = |name: &str| first.get(name).filter(|v| !v.is_empty()).cloned();
    let format = field("Format").unwrap_or_else(|| "qcow2".into()).to_ascii_lowercase();
    let format = match format.parse::<DiskImageFormat>() {
        Ok(f) if f != DiskImageFormat::Vmdk => f,
        _ => {
            return Err(Error::rejected(
                "InvalidParameter.Format",
                format!("The specified Format {format:?} is not supported: use qcow2, RAW or VHD."),
            ))
        }
    };
    let name = p.opt_str("ImageName");
    if let Some(name) = &name {
        check_name(name, "InvalidImageName.Malformed", "ImageName")?;
    }
    let description = p.opt_str("Description").unwrap_or_default();
    check_description(&description)?;
    Ok(ImportImage {
        name,
        description,
        platform: p.opt_str("Platform").unwrap_or_else(|| "Others Linux".into()),
        architecture: p.opt_str("Architecture").unwrap_or_else(|| "x86_64".into()),
        os_type: p.opt_str("OSType").unwrap_or_else(|| "linux".into()),
        bucket: field("OSSBucket").ok_or_else(|| Error::missing("DiskDeviceMapping.1.OSSBucket"))?,
        object: field("OSSObject").ok_or_else(|| Error::missing("DiskDeviceMapping.1.OSSObject"))?,
        format,
        tags: p.tags()?,
        dry_run: p.bool_or("DryRun", false)?,
    })
}

fn export_image(p: &Params) -> Result<ExportImage> {
    let format = p
        .opt_str("ImageFormat")
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "raw".into())
        .to_ascii_lowercase();
    let format = format.parse::<DiskImageFormat>().map_err(|_| {
        Error::rejected(
            "InvalidImageFormat.NotSupported",
            format!("The specified ImageFormat {format:?} is not supported: use qcow2, raw, vhd or vmdk."),
        )
    })?;
    Ok(ExportImage {
        image_id: p.str("ImageId")?,
        bucket: p.str("OSSBucket")?,
        prefix: p.opt_str("OSSPrefix").unwrap_or_default(),
        format,
        dry_run: p.bool_or("DryRun", false)?,
    })
}

fn create_image(p: &Params) -> Result<CreateImage> {
    let name = p.opt_str("ImageName");
    if let Some(name) = &name {
        check_name(name, "InvalidImageName.Malformed", "ImageName")?;
    }
    let description = p.opt_str("Description").unwrap_or_default();
    check_description(&description)?;
    let mapped = p.struct_list("DiskDeviceMapping", 17)?;
    let is = |m: &BTreeMap<String, String>, disk_type| mapping_type(m) == Some(disk_type);
    let mapped_system = mapped.iter().find(|m| is(m, DiskType::System));
    if mapped.iter().filter(|m| is(m, DiskType::System)).count() > 1 {
        return Err(Error::invalid(
            "DiskDeviceMapping",
            "Only one DiskDeviceMapping.N may be the system disk.",
        ));
    }
    let mut data_snapshots = Vec::new();
    for m in mapped.iter().filter(|m| is(m, DiskType::Data)) {
        let snapshot_id = m
            .get("SnapshotId")
            .filter(|s| !s.is_empty())
            .cloned()
            .ok_or_else(|| Error::missing("DiskDeviceMapping.N.SnapshotId"))?;
        let size = match m.get("Size").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(s.parse::<i64>().ok().filter(|n| (1..=32768).contains(n)).ok_or_else(|| {
                Error::rejected(
                    "InvalidSize.ValueNotSupported",
                    format!("DiskDeviceMapping Size {s:?} is not 1-32768."),
                )
            })?),
        };
        data_snapshots.push((snapshot_id, size));
    }
    if let Some(t) =
        mapped.iter().filter(|m| mapping_type(m).is_none()).filter_map(|m| m.get("DiskType")).next()
    {
        return Err(Error::invalid(
            "DiskDeviceMapping.N.DiskType",
            format!("DiskType {t:?} is neither system nor data."),
        ));
    }
    Ok(CreateImage {
        data_snapshots,
        snapshot_id: p
            .opt_str("SnapshotId")
            .or_else(|| mapped_system.and_then(|m| m.get("SnapshotId").cloned()).filter(|s| !s.is_empty())),
        instance_id: p.opt_str("InstanceId"),
        name,
        description,
        platform: p.opt_str("Platform").unwrap_or_else(|| "Others Linux".into()),
        architecture: p.opt_str("Architecture").unwrap_or_else(|| "x86_64".into()),
        tags: p.tags()?,
        dry_run: p.bool_or("DryRun", false)?,
    })
}

/// A `DiskDeviceMapping.N`'s `DiskType` (the exact word; the system disk when absent), or None
/// for a word that is neither.
fn mapping_type(m: &BTreeMap<String, String>) -> Option<DiskType> {
    m.get("DiskType").map_or(Some(DiskType::System), |t| t.parse().ok())
}

fn create_snapshot(p: &Params) -> Result<CreateSnapshot> {
    let name = p.opt_str("SnapshotName").unwrap_or_default();
    if !name.is_empty() {
        check_name(&name, "InvalidSnapshotName.Malformed", "SnapshotName")?;
        if name.starts_with("auto") {
            return Err(Error::rejected(
                "InvalidSnapshotName.Malformed",
                "The specified SnapshotName is wrongly formed: it must not start with \"auto\".",
            ));
        }
    }
    let description = p.opt_str("Description").unwrap_or_default();
    check_description(&description)?;
    Ok(CreateSnapshot {
        disk_id: p.str("DiskId")?,
        name,
        description,
        retention_days: p.opt_int("RetentionDays", 1, 65536)?.unwrap_or(0),
        tags: p.tags()?,
    })
}

fn create_disk(p: &Params) -> Result<CreateDisk> {
    let size_gib = match p.get("Size").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=32768).contains(&n) => Some(n),
            _ => {
                return Err(Error::rejected(
                    "InvalidSize.ValueNotSupported",
                    "The specified parameter Size is not valid.",
                ))
            }
        },
    };
    let name = p.opt_str("DiskName").unwrap_or_default();
    if !name.is_empty() {
        check_name(&name, "InvalidDiskName.Malformed", "DiskName")?;
    }
    let description = p.opt_str("Description").unwrap_or_default();
    check_description(&description)?;
    Ok(CreateDisk {
        size_gib,
        snapshot_id: p.opt_str("SnapshotId"),
        name,
        description,
        category: p.opt_str("DiskCategory").unwrap_or_else(|| "cloud_essd".into()),
        zone_id: p.opt_str("ZoneId"),
        tags: p.tags()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecslab_core::requests::{DiskFilter, ImageFilter, ImageOwnerAlias, SnapshotFilter, SnapshotUsage};
    use ecslab_core::{DiskStatus, ImageStatus, SnapshotStatus};

    use crate::params::test_params as params;

    #[test]
    fn unknown_actions_are_none() {
        assert!(parse("LaunchMissiles", &Params::default()).is_none());
    }

    #[test]
    fn run_instances_with_everything() {
        let p = params(&[
            ("ImageId", "m-1"),
            ("InstanceType", "ecs.lab.tiny"),
            ("InstanceName", "web-1"),
            ("Amount", "2"),
            ("SystemDisk.Size", "20"),
            ("DataDisk.1.Size", "1"),
            ("DataDisk.1.DeleteWithInstance", "False"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "ci"),
            ("DryRun", "False"),
        ]);
        let Some(Ok(EcsRequest::RunInstances(req))) = parse("RunInstances", &p) else { panic!("not parsed") };
        assert_eq!(req.amount, 2);
        assert_eq!(req.system_disk_size_gib, Some(20));
        assert_eq!(req.data_disks.len(), 1);
        assert!(!req.data_disks[0].delete_with_instance);
        assert_eq!(req.tags.len(), 1);
        assert!(req.start);
    }

    #[test]
    fn bad_input_gets_the_documented_codes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("RunInstances", &[("InstanceType", "ecs.lab.tiny")], "MissingParameter"),
            (
                "RunInstances",
                &[("ImageId", "m"), ("InstanceType", "t"), ("Amount", "101")],
                "InvalidParam.Amount",
            ),
            (
                "RunInstances",
                &[("ImageId", "m"), ("InstanceType", "t"), ("InstanceName", "9x")],
                "InvalidInstanceName.Malformed",
            ),
            (
                "RunInstances",
                &[("ImageId", "m"), ("InstanceType", "t"), ("DataDisk.1.Size", "x")],
                "InvalidParameter",
            ),
            ("StartInstance", &[], "MissingParameter"),
            ("ReplaceSystemDisk", &[("InstanceId", "i-1")], "MissingParameter"),
            ("ReplaceSystemDisk", &[("InstanceId", "i-1"), ("DiskId", "d-1")], "InvalidParameter"),
            (
                "ReplaceSystemDisk",
                &[("InstanceId", "i-1"), ("ImageId", "m-1"), ("SystemDisk.Size", "0")],
                "InvalidSystemDiskSize.ValueNotSupported",
            ),
            ("StopInstance", &[("InstanceId", "i-1"), ("ForceStop", "maybe")], "InvalidParameter"),
            ("DescribeInstances", &[("Status", "Flying")], "InvalidStatus.NotFound"),
            ("DescribeInstances", &[("InstanceIds", "i-1,i-2")], "InvalidParameter"),
            ("DescribeInstances", &[("PageSize", "101")], "InvalidParameter"),
            ("ImportImage", &[("DiskDeviceMapping.1.OSSBucket", "b")], "MissingParameter"),
            (
                "ImportImage",
                &[
                    ("DiskDeviceMapping.1.OSSBucket", "b"),
                    ("DiskDeviceMapping.1.OSSObject", "o"),
                    ("DiskDeviceMapping.1.Format", "vmdk"),
                ],
                "InvalidParameter.Format",
            ),
        ];
        for (action, pairs, code) in cases {
            let err = parse(action, &params(pairs)).unwrap().unwrap_err();
            assert_eq!(err.code(), *code, "{action} {pairs:?}");
        }
    }

    fn disks(pairs: &[(&str, &str)]) -> Result<DiskFilter> {
        match parse("DescribeDisks", &params(pairs)).unwrap()? {
            EcsRequest::DescribeDisks { filter, .. } => Ok(filter),
            _ => panic!("not DescribeDisks"),
        }
    }

    fn snapshots(pairs: &[(&str, &str)]) -> Result<SnapshotFilter> {
        match parse("DescribeSnapshots", &params(pairs)).unwrap()? {
            EcsRequest::DescribeSnapshots { filter, .. } => Ok(filter),
            _ => panic!("not DescribeSnapshots"),
        }
    }

    fn images(pairs: &[(&str, &str)]) -> Result<ImageFilter> {
        match parse("DescribeImages", &params(pairs)).unwrap()? {
            EcsRequest::DescribeImages { filter, .. } => Ok(filter),
            _ => panic!("not DescribeImages"),
        }
    }

    fn code<T: std::fmt::Debug>(result: Result<T>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn disk_filters_are_typed() {
        let f = disks(&[("DiskType", "system"), ("Status", "in_USE")]).unwrap();
        assert_eq!((f.disk_type, f.status), (Some(DiskType::System), Some(DiskStatus::InUse)));
        let f = disks(&[("DiskType", "data"), ("Status", "REINITING")]).unwrap();
        assert_eq!((f.disk_type, f.status), (Some(DiskType::Data), Some(DiskStatus::ReIniting)));
        for status in ["In_use", "Available", "Attaching", "Detaching", "Creating", "ReIniting"] {
            let f = disks(&[("Status", status)]).unwrap();
            assert_eq!(f.status.map(DiskStatus::as_str), Some(status), "the exact word");
            let f = disks(&[("Status", &status.to_ascii_lowercase())]).unwrap();
            assert_eq!(f.status.map(DiskStatus::as_str), Some(status), "any case");
        }
        let f = disks(&[("DiskType", "all"), ("Status", "ALL")]).unwrap();
        assert_eq!((f.disk_type, f.status), (None, None));
        assert_eq!(code(disks(&[("DiskType", "System")])), "InvalidDiskType.ValueNotSupported", "exact case");
        assert_eq!(code(disks(&[("DiskType", "ephemeral")])), "InvalidDiskType.ValueNotSupported");
        assert_eq!(code(disks(&[("Status", "In-use")])), "InvalidStatus.ValueNotSupported");
    }

    #[test]
    fn snapshot_filters_are_typed() {
        let f =
            snapshots(&[("Status", "accomplished"), ("SourceDiskType", "SYSTEM"), ("Usage", "image_disk")])
                .unwrap();
        assert_eq!(f.status, Some(SnapshotStatus::Accomplished));
        assert_eq!(f.source_disk_type, Some(DiskType::System));
        assert_eq!(f.usage, Some(SnapshotUsage::ImageDisk));
        let f = snapshots(&[("Status", "all"), ("SourceDiskType", "data"), ("Usage", "none")]).unwrap();
        assert_eq!(
            (f.status, f.source_disk_type, f.usage),
            (None, Some(DiskType::Data), Some(SnapshotUsage::None))
        );
        for (word, usage) in [("image", SnapshotUsage::Image), ("disk", SnapshotUsage::Disk)] {
            assert_eq!(snapshots(&[("Usage", word)]).unwrap().usage, Some(usage));
        }
        assert_eq!(snapshots(&[("SourceDiskType", "Data")]).unwrap().source_disk_type, Some(DiskType::Data));
        assert_eq!(code(snapshots(&[("Status", "Accomplished")])), "InvalidStatus.NotFound", "exact case");
        assert_eq!(code(snapshots(&[("SourceDiskType", "root")])), "InvalidSourceDiskType");
        assert_eq!(code(snapshots(&[("Usage", "Image")])), "InvalidUsage", "exact case");
        assert_eq!(code(snapshots(&[("Usage", "images")])), "InvalidUsage");
    }

    #[test]
    fn image_filters_are_typed() {
        let f = images(&[("Status", "Available, CreateFailed,,UnAvailable"), ("ImageOwnerAlias", "self")])
            .unwrap();
        assert_eq!(f.statuses, [ImageStatus::Available, ImageStatus::CreateFailed, ImageStatus::UnAvailable]);
        assert_eq!(f.owner_alias, Some(ImageOwnerAlias::OwnImages));
        for word in ["Creating", "Waiting", "Available", "UnAvailable", "CreateFailed", "Deprecated"] {
            assert_eq!(images(&[("Status", word)]).unwrap().statuses[0].as_str(), word);
        }
        assert!(images(&[]).unwrap().statuses.is_empty());
        assert_eq!(
            images(&[("ImageOwnerAlias", "system")]).unwrap().owner_alias,
            Some(ImageOwnerAlias::System)
        );
        assert_eq!(code(images(&[("Status", "available")])), "InvalidParameter", "exact case");
        assert_eq!(code(images(&[("ImageOwnerAlias", "Self")])), "InvalidImageOwnerAlias.ValueNotSupported");
    }

    #[test]
    fn image_file_formats_are_typed() {
        let import = |format: &str| {
            let pairs = [
                ("DiskDeviceMapping.1.OSSBucket", "b"),
                ("DiskDeviceMapping.1.OSSObject", "o"),
                ("DiskDeviceMapping.1.Format", format),
            ];
            match parse("ImportImage", &params(&pairs)).unwrap()? {
                EcsRequest::ImportImage(req) => Ok(req.format),
                _ => panic!("not ImportImage"),
            }
        };
        assert_eq!(import("").unwrap(), DiskImageFormat::Qcow2, "the default");
        assert_eq!(import("RAW").unwrap(), DiskImageFormat::Raw, "any case");
        assert_eq!(import("vhd").unwrap(), DiskImageFormat::Vhd);
        assert_eq!(code(import("vmdk")), "InvalidParameter.Format");
        assert_eq!(code(import("iso")), "InvalidParameter.Format");
        let export = |format: &str| {
            let pairs = [("ImageId", "m-1"), ("OSSBucket", "b"), ("ImageFormat", format)];
            match parse("ExportImage", &params(&pairs)).unwrap()? {
                EcsRequest::ExportImage(req) => Ok(req.format),
                _ => panic!("not ExportImage"),
            }
        };
        assert_eq!(export("").unwrap(), DiskImageFormat::Raw, "the default");
        assert_eq!(export("VMDK").unwrap(), DiskImageFormat::Vmdk, "any case");
        assert_eq!(export("qcow2").unwrap(), DiskImageFormat::Qcow2);
        assert_eq!(code(export("ova")), "InvalidImageFormat.NotSupported");
    }

    #[test]
    fn task_status_and_mapping_types_are_typed() {
        let tasks = |pairs: &[(&str, &str)]| match parse("DescribeTasks", &params(pairs)).unwrap()? {
            EcsRequest::DescribeTasks { filter, .. } => Ok(filter),
            _ => panic!("not DescribeTasks"),
        };
        assert_eq!(tasks(&[("TaskStatus", "Finished")]).unwrap().status, Some(TaskStatus::Finished));
        assert_eq!(tasks(&[("TaskStatus", "")]).unwrap().status, None);
        assert_eq!(code(tasks(&[("TaskStatus", "finished")])), "InvalidParameter");
        let image = |pairs: &[(&str, &str)]| match parse("CreateImage", &params(pairs)).unwrap()? {
            EcsRequest::CreateImage(req) => Ok(req),
            _ => panic!("not CreateImage"),
        };
        let req = image(&[
            ("DiskDeviceMapping.1.SnapshotId", "s-sys"),
            ("DiskDeviceMapping.2.DiskType", "data"),
            ("DiskDeviceMapping.2.SnapshotId", "s-data"),
        ])
        .unwrap();
        assert_eq!(
            req.snapshot_id.as_deref(),
            Some("s-sys"),
            "a mapping without DiskType is the system disk"
        );
        assert_eq!(req.data_snapshots, [("s-data".to_string(), None)]);
        let two_systems =
            [("DiskDeviceMapping.1.SnapshotId", "a"), ("DiskDeviceMapping.2.DiskType", "system")];
        assert_eq!(code(image(&two_systems)), "InvalidParameter");
        assert_eq!(
            code(image(&[("DiskDeviceMapping.1.DiskType", "Data")])),
            "InvalidParameter",
            "exact case"
        );
    }
}
