//! ECD (Elastic Desktop Service) 2020-09-30: every ecslab instance is also a desktop, its
//! InstanceId the DesktopId. DescribeDesktops, RebuildDesktops (a change of image, kept on
//! record) and DescribeImageModifiedRecords. ECD answers with plain JSON arrays
//! (`"Desktops":[…]`), not ECS's wrapped lists. Same shape as the `ecs` and `mts` modules.
//!
//! DesktopStatus comes from the instance's status: Pending, Starting, Running, Stopping and
//! Stopped are the same words; a desktop whose image is being changed (a record at Status 0) is
//! `Rebuilding`. `Expired` and `Deleted` never occur (nothing expires; deleted instances are gone).

mod parse;
mod reply;
mod resources;
mod token;

pub use parse::parse;
pub use reply::EcdReply;

use reply::{Desktop, DesktopDisk, DesktopPage, ImageModifiedRecord, KeyValue, RebuildResult, RecordPage};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use ecslab_core::image_changes::{ChangeMode, ImageChange};
use ecslab_core::listing::paginate;
use ecslab_core::requests::{InstanceFilter, Paging};
use ecslab_core::store::ImageChangeRecord;
use ecslab_core::{Cloud, DiskType, Error, InstanceStatus, InstanceView, Resource, Result};
use rand::RngCore;
use std::sync::Arc;

pub const VERSION: &str = "2020-09-30";

/// The DesktopStatus words ECD documents.
pub const DESKTOP_STATUSES: [&str; 8] =
    ["Pending", "Starting", "Running", "Stopping", "Stopped", "Rebuilding", "Expired", "Deleted"];

/// DescribeDesktops' filters and paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopQuery {
    pub desktop_ids: Vec<String>,
    /// DesktopStatus and DesktopStatusList.N together; empty = any.
    pub statuses: Vec<String>,
    pub name: Option<String>,
    pub image_ids: Vec<String>,
    pub paging: Paging,
}

/// One parsed ECD request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcdRequest {
    DescribeDesktops(DesktopQuery),
    RebuildDesktops { desktop_ids: Vec<String>, image_id: String },
    DescribeImageModifiedRecords { desktop_id: String, max_results: i64, next_token: Option<String> },
}

/// ECD in the server's table of products. Its errors speak of desktops, not instances.
pub struct Ecd;

impl Product for Ecd {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "ecd";
    type Request = EcdRequest;
    type Response = EcdReply;

    fn resources(request: &EcdRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: EcdRequest,
    ) -> std::result::Result<EcdReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud, account, request).await.map_err(desktop_words)?)
    }
}

impl RpcProduct for Ecd {
    fn parse(action: &str, params: &Params) -> Option<Result<EcdRequest>> {
        parse(action, params)
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: EcdRequest) -> Result<EcdReply> {
    Ok(match request {
        EcdRequest::DescribeDesktops(query) => {
            EcdReply::DescribeDesktops(describe_desktops(cloud, account, &query).await?)
        }
        EcdRequest::RebuildDesktops { desktop_ids, image_id } => {
            cloud.images().visible_image(account, &image_id).await?;
            let mut results = Vec::with_capacity(desktop_ids.len());
            for desktop_id in desktop_ids {
                let change = ImageChange {
                    instance_id: desktop_id.clone(),
                    image_id: image_id.clone(),
                    system_disk_size_gib: None,
                    guest: Default::default(),
                };
                let (code, message) = match cloud
                    .image_changes()
                    .change_image(account, change, ChangeMode::RebuildDesktop)
                    .await
                {
                    Ok(_) => ("Success".to_string(), String::new()),
                    Err(e) => {
                        if let Error::Internal { context } = &e {
                            tracing::error!(%desktop_id, %context, "rebuilding a desktop failed");
                        }
                        let e = desktop_words(e);
                        (e.code().to_string(), e.to_string())
                    }
                };
                results.push(RebuildResult { desktop_id, code, message });
            }
            EcdReply::RebuildDesktops { rebuild_results: results }
        }
        EcdRequest::DescribeImageModifiedRecords { desktop_id, max_results, next_token } => {
            // The desktop must exist before a token is judged (a missing desktop is NotFound).
            cloud.instances().instance(account, &desktop_id).await?;
            let secret = token_secret(cloud).await?;
            let scope = token::Scope { account_id: account, desktop_id: &desktop_id };
            let now = chrono::Utc::now().timestamp();
            let before = match next_token.as_deref().filter(|t| !t.is_empty()) {
                None => None,
                Some(t) => Some(token::accept(&secret, &scope, t, now)?),
            };
            let page =
                cloud.image_changes().image_change_records(account, &desktop_id, before, max_results).await?;
            let next_token =
                page.next_before.map(|seq| token::issue(&secret, &scope, seq, now)).unwrap_or_default();
            EcdReply::DescribeImageModifiedRecords(RecordPage {
                total_count: page.total_count,
                next_token,
                image_modified_records: page.records.iter().map(record).collect(),
            })
        }
    })
}

fn record(r: &ImageChangeRecord) -> ImageModifiedRecord {
    ImageModifiedRecord {
        image_id: r.image_id.clone(),
        image_name: r.image_name.clone(),
        new_image_id: r.new_image_id.clone(),
        new_image_name: r.new_image_name.clone(),
        status: r.status.number(),
        reason: r.reason.clone(),
        update_time: r.update_time.clone(),
    }
}

async fn describe_desktops(cloud: &Arc<Cloud>, account: &str, query: &DesktopQuery) -> Result<DesktopPage> {
    let filter = InstanceFilter {
        instance_ids: (!query.desktop_ids.is_empty()).then(|| query.desktop_ids.clone()),
        name_pattern: query.name.clone(),
        ..InstanceFilter::default()
    };
    let everything = Paging::Pages { number: 1, size: u32::MAX };
    let all = cloud.instances().describe_instances(account, &filter, &everything).await?.items;
    let rebuilding = cloud.image_changes().instances_changing_image(account).await?;
    let desktops: Vec<(InstanceView, &'static str)> = all
        .into_iter()
        .map(|v| {
            let status = desktop_status(v.record.status, rebuilding.contains(&v.record.instance_id));
            (v, status)
        })
        .filter(|(v, status)| {
            (query.statuses.is_empty() || query.statuses.iter().any(|s| s == status))
                && (query.image_ids.is_empty() || query.image_ids.contains(&v.record.image_id))
        })
        .collect();
    let page = paginate(desktops, &query.paging, |(v, _)| {
        format!("{}|{}", v.record.created_at, v.record.instance_id)
    })?;
    let desktops = page.items.iter().map(|(v, status)| desktop(v, status)).collect();
    Ok(DesktopPage {
        total_count: page.total_count,
        page_number: page.page_number,
        page_size: page.page_size,
        next_token: page.next_token,
        desktops,
    })
}

/// ECD's word for an instance's status (see the module doc).
pub fn desktop_status(instance_status: InstanceStatus, changing_image: bool) -> &'static str {
    if changing_image {
        return "Rebuilding";
    }
    // A desktop's status is its instance's, word for word.
    instance_status.as_str()
}

fn desktop(v: &InstanceView, status: &str) -> Desktop {
    let r = &v.record;
    let disks = v
        .disks
        .iter()
        .map(|d| DesktopDisk {
            disk_id: d.disk_id.clone(),
            disk_size: d.size_gib,
            disk_type: match d.disk_type {
                DiskType::System => "SYSTEM",
                DiskType::Data => "DATA",
            },
            disk_category: d.category.clone(),
        })
        .collect();
    let system_size =
        v.disks.iter().find(|d| d.disk_type == DiskType::System).map(|d| d.size_gib).unwrap_or(0);
    Desktop {
        desktop_id: r.instance_id.clone(),
        desktop_name: r.name.clone(),
        desktop_status: status.to_string(),
        desktop_type: r.instance_type.clone(),
        image_id: r.image_id.clone(),
        os_type: "Linux",
        platform: "Others Linux",
        cpu: v.instance_type.vcpus,
        memory: v.instance_type.memory_mib,
        gpu_count: 0,
        creation_time: r.created_at.clone(),
        start_time: r.started_at.clone(),
        charge_type: "PostPaid",
        protocol_type: "ASP",
        management_flag: "NoFlag",
        system_disk_size: system_size,
        end_user_ids: Vec::new(),
        disks,
        tags: r.tags.iter().map(|t| KeyValue { key: t.key.clone(), value: t.value.clone() }).collect(),
    }
}

/// The key that signs NextTokens: created once, kept in the store.
async fn token_secret(cloud: &Cloud) -> Result<Vec<u8>> {
    let candidate = || {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    let secret = cloud.store().server_secret("ecd-next-token", candidate).await?;
    hex::decode(secret).map_err(Error::internal)
}

/// ECD names its resource "desktop": the instance codes of the domain become desktop codes.
fn desktop_words(e: Error) -> Error {
    match e {
        Error::NotFound { resource: Resource::Instance, id } => Error::rejected(
            "InvalidDesktopId.NotFound",
            format!("The specified desktop {id} does not exist."),
        ),
        Error::IncorrectInstanceStatus { instance_id, status } => Error::rejected(
            "IncorrectDesktopStatus",
            format!("The desktop {instance_id} is {status}; this operation needs it Running or Stopped."),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::desktop_status;

    #[test]
    fn status_words() {
        for s in ["Pending", "Starting", "Running", "Stopping", "Stopped"] {
            let status = s.parse().unwrap();
            assert_eq!(desktop_status(status, false), s);
            assert_eq!(desktop_status(status, true), "Rebuilding");
        }
    }
}
