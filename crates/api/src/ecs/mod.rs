//! ECS 2014-05-26: parsing each action's parameters into a typed [`EcsRequest`] (pure, unit
//! tested without a server) and executing it against the [`Cloud`].
//!
//! Adding an action: see docs/adding-an-action.md.

mod filters;
mod parse;
pub(crate) mod render;
mod reply;
mod resources;

pub use parse::parse;
pub use reply::EcsReply;

use reply::{Empty, InstanceIdSets};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, ResourceName, RpcProduct};
use ecslab_core::exports::{ExportImage, TaskFilter};
use ecslab_core::image_changes::{ChangeMode, ImageChange};
use ecslab_core::monitor::series::MonitorQuery;
use ecslab_core::requests::{
    CreateDisk, CreateImage, CreateInstances, CreateSnapshot, DiskFilter, ImageFilter, ImportImage,
    InstanceFilter, Paging, SnapshotFilter,
};
use ecslab_core::{Cloud, ModifyInstanceAttribute, Result};
use std::sync::Arc;

pub const VERSION: &str = "2014-05-26";

/// ECS in the server's table of products.
pub struct Ecs;

impl Product for Ecs {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = EcsRequest;
    type Response = EcsReply;

    fn resources(request: &EcsRequest) -> Vec<ResourceName> {
        resources::resources(request)
    }

    fn honours_client_token(request: &EcsRequest) -> bool {
        request.honours_client_token()
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: EcsRequest,
    ) -> std::result::Result<EcsReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud, account, request).await?)
    }
}

impl RpcProduct for Ecs {
    fn parse(action: &str, params: &Params) -> Option<Result<EcsRequest>> {
        parse(action, params)
    }
}

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
    DescribeInstanceAttribute { instance_id: String },
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
    ModifyInstanceAttribute(ModifyInstanceAttribute),
    DescribeUserData { instance_id: String },
    DescribeInstanceMonitorData(MonitorQuery),
    ModifyInstanceMetadataOptions { instance_id: String, options: ecslab_core::requests::MetadataOptions },
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

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: EcsRequest) -> Result<EcsReply> {
    use EcsRequest::*;
    Ok(match request {
        RunInstances(req) => {
            let ids = cloud.instances().create_instances(account, req).await?;
            EcsReply::RunInstances {
                instance_id_sets: InstanceIdSets { instance_id_set: ids },
                trade_price: 0.0,
                order_id: "",
            }
        }
        CreateInstance(req) => {
            let ids = cloud.instances().create_instances(account, req).await?;
            EcsReply::CreateInstance { instance_id: ids[0].clone(), trade_price: 0.0, order_id: "" }
        }
        StartInstance { instance_id, dry_run } => {
            cloud.instances().start_instance(account, &instance_id, dry_run).await?;
            EcsReply::Empty(Empty {})
        }
        StopInstance { instance_id, force, dry_run } => {
            cloud.instances().stop_instance(account, &instance_id, force, dry_run).await?;
            EcsReply::Empty(Empty {})
        }
        RebootInstance { instance_id, force, dry_run } => {
            cloud.instances().reboot_instance(account, &instance_id, force, dry_run).await?;
            EcsReply::Empty(Empty {})
        }
        DeleteInstance { instance_id, force, dry_run } => {
            cloud.instances().delete_instance(account, &instance_id, force, dry_run).await?;
            EcsReply::Empty(Empty {})
        }
        DescribeInstances { filter, paging, dry_run } => {
            if dry_run {
                return Err(ecslab_core::Error::DryRunOperation);
            }
            let page = cloud.instances().describe_instances(account, &filter, &paging).await?;
            EcsReply::Instances(Box::new(render::instances(cloud, page)))
        }
        ModifyInstanceAttribute(request) => {
            cloud.instances().modify_attribute(account, request).await?;
            EcsReply::Empty(Empty {})
        }
        ModifyInstanceMetadataOptions { instance_id, options } => {
            cloud.instances().modify_metadata_options(account, &instance_id, options).await?;
            EcsReply::Empty(Empty {})
        }
        DescribeInstanceMonitorData(query) => {
            let points = cloud.monitor().monitor_data(account, &query).await?;
            EcsReply::MonitorData(reply::MonitorData::new(&query.instance_id, points))
        }
        DescribeUserData { instance_id } => {
            let found = cloud.instances().user_data(account, &instance_id).await?;
            EcsReply::UserData {
                instance_id: found.instance_id,
                user_data: found.user_data,
                region_id: cloud.region_id().to_string(),
            }
        }
        DescribeInstanceAttribute { instance_id } => {
            let filter =
                InstanceFilter { instance_ids: Some(vec![instance_id.clone()]), ..InstanceFilter::default() };
            let page = cloud
                .instances()
                .describe_instances(account, &filter, &Paging::Pages { number: 1, size: 1 })
                .await?;
            let mut listed = render::instances(cloud, page).instances.items;
            if listed.is_empty() {
                return Err(ecslab_core::Error::NotFound {
                    resource: ecslab_core::Resource::Instance,
                    id: instance_id,
                });
            }
            EcsReply::InstanceAttribute(Box::new(listed.remove(0)))
        }
        DescribeInstanceStatus { instance_ids, paging } => {
            let filter = InstanceFilter {
                instance_ids: (!instance_ids.is_empty()).then_some(instance_ids),
                ..InstanceFilter::default()
            };
            let page = cloud.instances().describe_instances(account, &filter, &paging).await?;
            EcsReply::InstanceStatuses(render::instance_statuses(page))
        }
        DescribeInstanceTypes { type_ids, family } => {
            EcsReply::InstanceTypes(render::instance_types(&type_ids, family.as_deref()))
        }
        GetInstanceScreenshot { instance_id, wake_up } => {
            let screenshot = cloud.instances().screenshot(account, &instance_id, wake_up).await?;
            EcsReply::Screenshot { instance_id, screenshot }
        }
        GetInstanceConsoleOutput { instance_id, remove_symbols } => {
            let console = cloud.instances().console_output(account, &instance_id).await?;
            EcsReply::ConsoleOutput(render::console_output(&instance_id, console, remove_symbols))
        }
        ImportImage(req) => {
            let image_id = cloud.image_builds().import_image(account, req).await?;
            let task_id = format!("t-{}", &image_id[2..]);
            EcsReply::ImportImage { image_id, region_id: cloud.region_id().to_string(), task_id }
        }
        DescribeImages { filter, paging } => {
            let page = cloud.images().describe_images(account, &filter, &paging).await?;
            EcsReply::Images(render::images(cloud, page))
        }
        DeleteImage { image_id, force } => {
            cloud.images().delete_image(account, &image_id, force).await?;
            EcsReply::Empty(Empty {})
        }
        ExportImage(req) => {
            let task_id = cloud.exports().export_image(account, req).await?;
            EcsReply::ExportImage { task_id, region_id: cloud.region_id().to_string() }
        }
        DescribeTaskAttribute { task_id } => EcsReply::TaskAttribute(Box::new(render::task_attribute(
            cloud,
            &cloud.exports().task(account, &task_id).await?,
        ))),
        DescribeTasks { filter, paging } => {
            let page = cloud.exports().describe_tasks(account, &filter, &paging).await?;
            EcsReply::Tasks(render::tasks(cloud, page))
        }
        DescribeRegions => EcsReply::Regions(render::regions(cloud)),
        DescribeZones => EcsReply::Zones(render::zones(cloud)),
        CreateSnapshot(req) => {
            EcsReply::CreateSnapshot { snapshot_id: cloud.disks().create_snapshot(account, req).await? }
        }
        CreateImage(req) => {
            EcsReply::CreateImage { image_id: cloud.image_builds().create_image(account, req).await? }
        }
        DescribeSnapshots { filter, paging } => {
            let page = cloud.disks().describe_snapshots(account, &filter, &paging).await?;
            EcsReply::Snapshots(render::snapshots(cloud, page))
        }
        DeleteSnapshot { snapshot_id, force } => {
            cloud.disks().delete_snapshot(account, &snapshot_id, force).await?;
            EcsReply::Empty(Empty {})
        }
        ResetDisk { disk_id, snapshot_id, dry_run } => {
            cloud.disks().reset_disk(account, &disk_id, &snapshot_id, dry_run).await?;
            EcsReply::Empty(Empty {})
        }
        CreateDisk(req) => {
            EcsReply::CreateDisk { disk_id: cloud.disks().create_disk(account, req).await?, order_id: "" }
        }
        AttachDisk { instance_id, disk_id, delete_with_instance } => {
            cloud.disks().attach_disk(account, &instance_id, &disk_id, delete_with_instance).await?;
            EcsReply::Empty(Empty {})
        }
        DetachDisk { instance_id, disk_id } => {
            cloud.disks().detach_disk(account, &instance_id, &disk_id).await?;
            EcsReply::Empty(Empty {})
        }
        DeleteDisk { disk_id } => {
            cloud.disks().delete_disk(account, &disk_id).await?;
            EcsReply::Empty(Empty {})
        }
        ResizeDisk { disk_id, new_size_gib } => {
            cloud.disks().resize_disk(account, &disk_id, new_size_gib).await?;
            EcsReply::Empty(Empty {})
        }
        DescribeDisks { filter, paging } => {
            let page = cloud.disks().describe_disks(account, &filter, &paging).await?;
            EcsReply::Disks(render::disks(cloud, page))
        }
        ReplaceSystemDisk(change) => {
            let disk_id =
                cloud.image_changes().change_image(account, change, ChangeMode::ReplaceSystemDisk).await?;
            EcsReply::ReplaceSystemDisk { disk_id }
        }
    })
}
