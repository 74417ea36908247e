//! ECS 2014-05-26: parsing each action's parameters into a typed [`EcsRequest`] (pure, unit
//! tested without a server) and executing it against the [`Cloud`].
//!
//! Adding an action: see docs/adding-an-action.md.

mod parse;
mod render;

pub use parse::parse;

use ecslab_core::exports::{ExportImage, TaskFilter};
use ecslab_core::image_changes::{ChangeMode, ImageChange};
use ecslab_core::requests::{
    CreateDisk, CreateImage, CreateInstances, CreateSnapshot, DiskFilter, ImageFilter, ImportImage,
    InstanceFilter, Paging, SnapshotFilter,
};
use ecslab_core::{Cloud, Result};
use serde_json::{json, Value};
use std::sync::Arc;

pub const VERSION: &str = "2014-05-26";

/// One parsed ECS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcsRequest {
    RunInstances(CreateInstances),
    CreateInstance(CreateInstances),
    StartInstance { instance_id: String, dry_run: bool },
    StopInstance { instance_id: String, force: bool, dry_run: bool },
    RebootInstance { instance_id: String, force: bool, dry_run: bool },
    DeleteInstance { instance_id: String, force: bool, dry_run: bool },
    DescribeInstances { filter: InstanceFilter, paging: Paging, dry_run: bool },
    DescribeInstanceStatus { instance_ids: Vec<String>, paging: Paging },
    DescribeInstanceTypes { type_ids: Vec<String>, family: Option<String> },
    GetInstanceScreenshot { instance_id: String, wake_up: bool },
    GetInstanceConsoleOutput { instance_id: String, remove_symbols: bool },
    ImportImage(ImportImage),
    DescribeImages { filter: ImageFilter, paging: Paging },
    DeleteImage { image_id: String, force: bool },
    DescribeRegions,
    DescribeZones,
    CreateSnapshot(CreateSnapshot),
    CreateImage(CreateImage),
    DescribeSnapshots { filter: SnapshotFilter, paging: Paging },
    DeleteSnapshot { snapshot_id: String, force: bool },
    ResetDisk { disk_id: String, snapshot_id: String, dry_run: bool },
    CreateDisk(CreateDisk),
    AttachDisk { instance_id: String, disk_id: String, delete_with_instance: bool },
    DetachDisk { instance_id: String, disk_id: String },
    DeleteDisk { disk_id: String },
    ResizeDisk { disk_id: String, new_size_gib: i64 },
    DescribeDisks { filter: DiskFilter, paging: Paging },
    ReplaceSystemDisk(ImageChange),
    ExportImage(ExportImage),
    DescribeTaskAttribute { task_id: String },
    DescribeTasks { filter: TaskFilter, paging: Paging },
}

impl EcsRequest {
    /// Whether a ClientToken on this action makes it idempotent.
    pub fn honours_client_token(&self) -> bool {
        matches!(
            self,
            EcsRequest::RunInstances(_)
                | EcsRequest::CreateInstance(_)
                | EcsRequest::ImportImage(_)
                | EcsRequest::CreateSnapshot(_)
                | EcsRequest::CreateDisk(_)
                | EcsRequest::CreateImage(_)
                | EcsRequest::ReplaceSystemDisk(_)
        )
    }
}

/// Run a parsed request for an account; returns the response body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: EcsRequest) -> Result<Value> {
    use EcsRequest::*;
    Ok(match request {
        RunInstances(req) => {
            let ids = cloud.create_instances(account, req).await?;
            json!({ "InstanceIdSets": { "InstanceIdSet": ids }, "TradePrice": 0.0, "OrderId": "" })
        }
        CreateInstance(req) => {
            let ids = cloud.create_instances(account, req).await?;
            json!({ "InstanceId": ids[0], "TradePrice": 0.0, "OrderId": "" })
        }
        StartInstance { instance_id, dry_run } => {
            cloud.start_instance(account, &instance_id, dry_run).await?;
            json!({})
        }
        StopInstance { instance_id, force, dry_run } => {
            cloud.stop_instance(account, &instance_id, force, dry_run).await?;
            json!({})
        }
        RebootInstance { instance_id, force, dry_run } => {
            cloud.reboot_instance(account, &instance_id, force, dry_run).await?;
            json!({})
        }
        DeleteInstance { instance_id, force, dry_run } => {
            cloud.delete_instance(account, &instance_id, force, dry_run).await?;
            json!({})
        }
        DescribeInstances { filter, paging, dry_run } => {
            if dry_run {
                return Err(ecslab_core::Error::DryRunOperation);
            }
            let page = cloud.describe_instances(account, &filter, &paging).await?;
            render::instances(cloud, page)
        }
        DescribeInstanceStatus { instance_ids, paging } => {
            let filter = InstanceFilter {
                instance_ids: (!instance_ids.is_empty()).then_some(instance_ids),
                ..InstanceFilter::default()
            };
            let page = cloud.describe_instances(account, &filter, &paging).await?;
            render::instance_statuses(page)
        }
        DescribeInstanceTypes { type_ids, family } => render::instance_types(&type_ids, family.as_deref()),
        GetInstanceScreenshot { instance_id, wake_up } => {
            let screenshot = cloud.screenshot(account, &instance_id, wake_up).await?;
            json!({ "InstanceId": instance_id, "Screenshot": screenshot })
        }
        GetInstanceConsoleOutput { instance_id, remove_symbols } => {
            let console = cloud.console_output(account, &instance_id).await?;
            render::console_output(&instance_id, console, remove_symbols)
        }
        ImportImage(req) => {
            let image_id = cloud.import_image(account, req).await?;
            json!({ "ImageId": image_id, "RegionId": cloud.region_id(), "TaskId": format!("t-{}", &image_id[2..]) })
        }
        DescribeImages { filter, paging } => {
            let page = cloud.describe_images(account, &filter, &paging).await?;
            render::images(cloud, page)
        }
        DeleteImage { image_id, force } => {
            cloud.delete_image(account, &image_id, force).await?;
            json!({})
        }
        ExportImage(req) => {
            let task_id = cloud.export_image(account, req).await?;
            json!({ "TaskId": task_id, "RegionId": cloud.region_id() })
        }
        DescribeTaskAttribute { task_id } => {
            render::task_attribute(cloud, &cloud.task(account, &task_id).await?)
        }
        DescribeTasks { filter, paging } => {
            let page = cloud.describe_tasks(account, &filter, &paging).await?;
            render::tasks(cloud, page)
        }
        DescribeRegions => render::regions(cloud),
        DescribeZones => render::zones(cloud),
        CreateSnapshot(req) => json!({ "SnapshotId": cloud.create_snapshot(account, req).await? }),
        CreateImage(req) => json!({ "ImageId": cloud.create_image(account, req).await? }),
        DescribeSnapshots { filter, paging } => {
            let page = cloud.describe_snapshots(account, &filter, &paging).await?;
            render::snapshots(cloud, page).await?
        }
        DeleteSnapshot { snapshot_id, force } => {
            cloud.delete_snapshot(account, &snapshot_id, force).await?;
            json!({})
        }
        ResetDisk { disk_id, snapshot_id, dry_run } => {
            cloud.reset_disk(account, &disk_id, &snapshot_id, dry_run).await?;
            json!({})
        }
        CreateDisk(req) => json!({ "DiskId": cloud.create_disk(account, req).await?, "OrderId": "" }),
        AttachDisk { instance_id, disk_id, delete_with_instance } => {
            cloud.attach_disk(account, &instance_id, &disk_id, delete_with_instance).await?;
            json!({})
        }
        DetachDisk { instance_id, disk_id } => {
            cloud.detach_disk(account, &instance_id, &disk_id).await?;
            json!({})
        }
        DeleteDisk { disk_id } => {
            cloud.delete_disk(account, &disk_id).await?;
            json!({})
        }
        ResizeDisk { disk_id, new_size_gib } => {
            cloud.resize_disk(account, &disk_id, new_size_gib).await?;
            json!({})
        }
        DescribeDisks { filter, paging } => {
            let page = cloud.describe_disks(account, &filter, &paging).await?;
            render::disks(cloud, page)
        }
        ReplaceSystemDisk(change) => {
            json!({ "DiskId": cloud.change_image(account, change, ChangeMode::ReplaceSystemDisk).await? })
        }
    })
}
