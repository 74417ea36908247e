//! ECD (Elastic Desktop Service) 2020-09-30: every ecslab instance is also a desktop, its
//! InstanceId the DesktopId. DescribeDesktops, RebuildDesktops (a change of image, kept on
//! record) and DescribeImageModifiedRecords. ECD answers with plain JSON arrays
//! (`"Desktops":[…]`), not ECS's wrapped lists. Same shape as the `ecs` and `mts` modules.
//!
//! DesktopStatus comes from the instance's status: Pending, Starting, Running, Stopping and
//! Stopped are the same words; a desktop whose image is being changed (a record at Status 0) is
//! `Rebuilding`. `Expired` and `Deleted` never occur (nothing expires; deleted instances are gone).

mod parse;
mod token;

pub use parse::parse;

use crate::envelope::ApiError;
use crate::params::Params;
use ecslab_core::image_changes::{ChangeMode, ImageChange};
use ecslab_core::listing::paginate;
use ecslab_core::requests::{InstanceFilter, Paging};
use ecslab_core::store::ImageChangeRecord;
use ecslab_core::{Cloud, Error, InstanceView, Resource, Result};
use rand::RngCore;
use serde_json::{json, Value};
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

/// Route, parse and execute one ECD action (the server's steps 3-4 for this product).
pub async fn dispatch(
    cloud: &Arc<Cloud>,
    account: &str,
    action: &str,
    params: &Params,
) -> std::result::Result<Value, ApiError> {
    let request = crate::server::parsed_rpc(cloud, action, params, parse(action, params))?;
    Ok(execute(cloud, account, request).await.map_err(desktop_words)?)
}

/// Run a parsed request for an account; returns the response body without RequestId.
pub async fn execute(cloud: &Arc<Cloud>, account: &str, request: EcdRequest) -> Result<Value> {
    Ok(match request {
        EcdRequest::DescribeDesktops(query) => describe_desktops(cloud, account, &query).await?,
        EcdRequest::RebuildDesktops { desktop_ids, image_id } => {
            cloud.visible_image(account, &image_id).await?;
            let mut results = Vec::with_capacity(desktop_ids.len());
            for desktop_id in desktop_ids {
                let change = ImageChange {
                    instance_id: desktop_id.clone(),
                    image_id: image_id.clone(),
                    system_disk_size_gib: None,
                };
                let (code, message) =
                    match cloud.change_image(account, change, ChangeMode::RebuildDesktop).await {
                        Ok(_) => ("Success".to_string(), String::new()),
                        Err(e) => {
                            if let Error::Internal { context } = &e {
                                tracing::error!(%desktop_id, %context, "rebuilding a desktop failed");
                            }
                            let e = desktop_words(e);
                            (e.code().to_string(), e.to_string())
                        }
                    };
                results.push(json!({ "DesktopId": desktop_id, "Code": code, "Message": message }));
            }
            json!({ "RebuildResults": results })
        }
        EcdRequest::DescribeImageModifiedRecords { desktop_id, max_results, next_token } => {
            // The desktop must exist before a token is judged (a missing desktop is NotFound).
            cloud.instance(account, &desktop_id).await?;
            let secret = token_secret(cloud).await?;
            let scope = token::Scope { account_id: account, desktop_id: &desktop_id };
            let now = chrono::Utc::now().timestamp();
            let before = match next_token.as_deref().filter(|t| !t.is_empty()) {
                None => None,
                Some(t) => Some(token::accept(&secret, &scope, t, now)?),
            };
            let page = cloud.image_change_records(account, &desktop_id, before, max_results).await?;
            let next_token =
                page.next_before.map(|seq| token::issue(&secret, &scope, seq, now)).unwrap_or_default();
            json!({
                "TotalCount": page.total_count,
                "NextToken": next_token,
                "ImageModifiedRecords": page.records.iter().map(record).collect::<Vec<_>>(),
            })
        }
    })
}

fn record(r: &ImageChangeRecord) -> Value {
    json!({
        "ImageId": r.image_id,
        "ImageName": r.image_name,
        "NewImageId": r.new_image_id,
        "NewImageName": r.new_image_name,
        "Status": r.status,
        "Reason": r.reason,
        "UpdateTime": r.update_time,
    })
}

async fn describe_desktops(cloud: &Arc<Cloud>, account: &str, query: &DesktopQuery) -> Result<Value> {
    let filter = InstanceFilter {
        instance_ids: (!query.desktop_ids.is_empty()).then(|| query.desktop_ids.clone()),
        name_pattern: query.name.clone(),
        ..InstanceFilter::default()
    };
    let everything = Paging::Pages { number: 1, size: u32::MAX };
    let all = cloud.describe_instances(account, &filter, &everything).await?.items;
    let rebuilding = cloud.instances_changing_image(account).await?;
    let desktops: Vec<(InstanceView, &'static str)> = all
        .into_iter()
        .map(|v| {
            let status = desktop_status(&v.record.status, rebuilding.contains(&v.record.instance_id));
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
    let list: Vec<Value> = page.items.iter().map(|(v, status)| desktop(v, status)).collect();
    Ok(json!({
        "TotalCount": page.total_count,
        "PageNumber": page.page_number,
        "PageSize": page.page_size,
        "NextToken": page.next_token,
        "Desktops": list,
    }))
}

/// ECD's word for an instance's status (see the module doc).
pub fn desktop_status(instance_status: &str, changing_image: bool) -> &'static str {
    if changing_image {
        return "Rebuilding";
    }
    match instance_status {
        "Pending" => "Pending",
        "Starting" => "Starting",
        "Running" => "Running",
        "Stopping" => "Stopping",
        _ => "Stopped",
    }
}

fn desktop(v: &InstanceView, status: &str) -> Value {
    let r = &v.record;
    let disks: Vec<Value> = v
        .disks
        .iter()
        .map(|d| {
            json!({
                "DiskId": d.disk_id,
                "DiskSize": d.size_gib,
                "DiskType": if d.disk_type == "system" { "SYSTEM" } else { "DATA" },
                "DiskCategory": d.category,
            })
        })
        .collect();
    let system_size = v.disks.iter().find(|d| d.disk_type == "system").map(|d| d.size_gib).unwrap_or(0);
    json!({
        "DesktopId": r.instance_id,
        "DesktopName": r.name,
        "DesktopStatus": status,
        "DesktopType": r.instance_type,
        "ImageId": r.image_id,
        "OsType": "Linux",
        "Platform": "Others Linux",
        "Cpu": v.instance_type.vcpus,
        "Memory": v.instance_type.memory_mib,
        "GpuCount": 0,
        "CreationTime": r.created_at,
        "StartTime": r.started_at,
        "ChargeType": "PostPaid",
        "ProtocolType": "ASP",
        "ManagementFlag": "NoFlag",
        "SystemDiskSize": system_size,
        "EndUserIds": [],
        "Disks": disks,
        "Tags": r.tags.iter().map(|t| json!({ "Key": t.key, "Value": t.value })).collect::<Vec<_>>(),
    })
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
            assert_eq!(desktop_status(s, false), s);
            assert_eq!(desktop_status(s, true), "Rebuilding");
        }
    }
}
