//! The web console's private product, RPC under the version [`VERSION`] (`ecslab-console`), through the
//! same pipeline as every product (signature, nonce, RegionId, RAM, envelope). The console page
//! (`/console/`, served by [`files`]) calls it and the public products alike.
//!
//! `DescribeSnapshotTree` gives a disk's snapshots with their parent links (which ECS's DescribeSnapshots lacks), for
//! the instance page's tree, authorized as `ecs:DescribeSnapshots` on the disk.
//!
//! `DescribeJobFrames` gives the newest images (frames, sprite sheets) an MTS snapshot job wrote, read back from their
//! bucket as base64 JPEG, for the instance page's job list; authorized as `mts:QuerySnapshotJobList` (MTS checks
//! its job listing account-wide).
//!
//! `DescribeScreens` feeds the grid: for each `Screen.N.InstanceId` with the
//! `Screen.N.Hash` of the frame the page shows, it captures the screen through GetInstanceScreenshot's
//! path (same checks, same rate limit) and sends the JPEG only when the frame's hash differs, so an
//! unchanged screen costs no bytes on the wire. A screen that cannot be captured (stopped, no display,
//! throttled, gone) is listed with its error code instead of failing the whole grid. RAM checks it as
//! `ecs:GetInstanceScreenshot` on each instance, as it reads nothing more.

pub mod files;

use crate::authorization::Call;
use crate::authorization::ResourceName;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RamAction, RpcProduct};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ecslab_core::mts::outputs::{ImageContent, JobImage};
use ecslab_core::JobOutputKind;
use ecslab_core::{Cloud, Error, Result};
use futures_util::future::join_all;
use serde::Serialize;
use std::sync::Arc;

/// The private version the console product answers to.
pub const VERSION: &str = "ecslab-console";
/// Screens per DescribeScreens call (a grid page; DescribeInstances pages go up to 100).
pub const MAX_SCREENS: usize = 100;

/// One screen the page asks for, with the hash of the frame it has (none at first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenQuery {
    pub instance_id: String,
    pub known_hash: Option<String>,
}

/// One parsed console request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleRequest {
    DescribeScreens { screens: Vec<ScreenQuery> },
    DescribeSnapshotTree { disk_id: String },
    DescribeJobFrames { job_id: String, max_frames: usize },
}

/// A screen whose frame differs from the page's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangedScreen {
    pub instance_id: String,
    pub hash: String,
    /// Base64 JPEG, as GetInstanceScreenshot's `Screenshot`.
    pub screenshot: String,
}

/// A screen that could not be captured, with the code GetInstanceScreenshot would have answered.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnavailableScreen {
    pub instance_id: String,
    pub code: String,
    pub message: String,
}

/// DescribeScreens' reply: changed frames, the ids whose frame the page already has, and the rest.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScreensReply {
    pub screens: Vec<ChangedScreen>,
    pub unchanged: Vec<String>,
    pub unavailable: Vec<UnavailableScreen>,
}

/// One snapshot of DescribeSnapshotTree, with its parent (empty for a root).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TreeSnapshot {
    pub snapshot_id: String,
    pub parent_snapshot_id: String,
}

/// DescribeSnapshotTree's reply: a disk's snapshots with their parents, every parent before its children.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TreeReply {
    pub disk_id: String,
    /// The snapshot the disk's current contents descend from (empty: none).
    pub current_parent_snapshot_id: String,
    pub snapshots: Vec<TreeSnapshot>,
}

/// One image of DescribeJobFrames: `Image` holds the base64 JPEG, or is empty with `Missing` saying why
/// (`Gone`: deleted from the bucket since; `TooLarge`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobFrame {
    pub kind: JobOutputKind,
    pub bucket: String,
    pub object: String,
    pub image: String,
    pub missing: String,
}

/// DescribeJobFrames' reply: the newest images, oldest of them first, and how many the job wrote in all.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobFramesReply {
    pub job_id: String,
    pub total_count: usize,
    pub frames: Vec<JobFrame>,
}

/// A console reply.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ConsoleReply {
    Screens(ScreensReply),
    Tree(TreeReply),
    JobFrames(JobFramesReply),
}

/// The console product in the server's table.
pub struct Console;

impl Product for Console {
    const VERSION: &'static str = VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = ConsoleRequest;
    type Response = ConsoleReply;

    fn resources(request: &ConsoleRequest) -> Vec<ResourceName> {
        match request {
            ConsoleRequest::DescribeScreens { screens } => {
                screens.iter().map(|s| ResourceName::new("instance", s.instance_id.clone())).collect()
            }
            ConsoleRequest::DescribeSnapshotTree { disk_id } => {
                vec![ResourceName::new("disk", disk_id.clone())]
            }
            ConsoleRequest::DescribeJobFrames { .. } => Vec::new(),
        }
    }

    fn ram_action(request: &ConsoleRequest) -> Option<RamAction<'static>> {
        let (service, name) = match request {
            ConsoleRequest::DescribeScreens { .. } => ("ecs", "GetInstanceScreenshot"),
            ConsoleRequest::DescribeSnapshotTree { .. } => ("ecs", "DescribeSnapshots"),
            ConsoleRequest::DescribeJobFrames { .. } => ("mts", "QuerySnapshotJobList"),
        };
        Some(RamAction { service, name })
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: ConsoleRequest,
    ) -> std::result::Result<ConsoleReply, ApiError> {
        let account = call.account();
        match request {
            ConsoleRequest::DescribeScreens { screens } => {
                Ok(ConsoleReply::Screens(screens_of(cloud, account, screens).await?))
            }
            ConsoleRequest::DescribeSnapshotTree { disk_id } => {
                let tree = cloud.disks().snapshot_tree(account, &disk_id).await?;
                Ok(ConsoleReply::Tree(TreeReply {
                    disk_id: tree.disk_id,
                    current_parent_snapshot_id: tree.current_parent_snapshot_id,
                    snapshots: tree
                        .nodes
                        .into_iter()
                        .map(|n| TreeSnapshot {
                            snapshot_id: n.snapshot_id,
                            parent_snapshot_id: n.parent_snapshot_id,
                        })
                        .collect(),
                }))
            }
            ConsoleRequest::DescribeJobFrames { job_id, max_frames } => {
                let found = cloud.screenshot_jobs().job_images(account, &job_id, max_frames).await?;
                Ok(ConsoleReply::JobFrames(JobFramesReply {
                    job_id,
                    total_count: found.total,
                    frames: found.images.into_iter().map(job_frame).collect(),
                }))
            }
        }
    }
}

fn job_frame(image: JobImage) -> JobFrame {
    let (image_base64, missing) = match image.content {
        ImageContent::Jpeg(bytes) => (BASE64.encode(bytes), String::new()),
        ImageContent::Gone => (String::new(), "Gone".to_string()),
        ImageContent::TooLarge { .. } => (String::new(), "TooLarge".to_string()),
    };
    JobFrame {
        kind: image.kind,
        bucket: image.bucket,
        object: image.object_key,
        image: image_base64,
        missing,
    }
}

/// DescribeScreens: capture each screen concurrently, send only the changed ones.
async fn screens_of(
    cloud: &Arc<Cloud>,
    account: &str,
    screens: Vec<ScreenQuery>,
) -> std::result::Result<ScreensReply, ApiError> {
    let instances = cloud.instances();
    let captures = screens.iter().map(|s| async move {
        (s, instances.screen_if_changed(account, &s.instance_id, s.known_hash.as_deref()).await)
    });
    let mut reply = ScreensReply::default();
    // Concurrently: each capture waits on its own VM.
    for (query, outcome) in join_all(captures).await {
        let instance_id = query.instance_id.clone();
        match outcome {
            Ok(update) => match update.jpeg_base64 {
                Some(screenshot) => {
                    reply.screens.push(ChangedScreen { instance_id, hash: update.hash, screenshot })
                }
                None => reply.unchanged.push(instance_id),
            },
            Err(Error::Internal { context }) => return Err(Error::Internal { context }.into()),
            Err(e) => reply.unavailable.push(UnavailableScreen {
                instance_id,
                code: e.code().to_string(),
                message: e.to_string(),
            }),
        }
    }
    Ok(reply)
}

impl RpcProduct for Console {
    fn parse(action: &str, params: &Params) -> Option<Result<ConsoleRequest>> {
        match action {
            "DescribeScreens" => Some(parse_screens(params)),
            "DescribeSnapshotTree" => {
                Some(params.str("DiskId").map(|disk_id| ConsoleRequest::DescribeSnapshotTree { disk_id }))
            }
            "DescribeJobFrames" => Some(parse_job_frames(params)),
            _ => None,
        }
    }
}

/// Images per DescribeJobFrames call: a page of thumbnails (default 12).
pub const MAX_JOB_FRAMES: usize = 50;

fn parse_job_frames(params: &Params) -> Result<ConsoleRequest> {
    let job_id = params.str("JobId")?;
    let max_frames = params.opt_int("MaxFrames", 1, MAX_JOB_FRAMES as i64)?.unwrap_or(12) as usize;
    Ok(ConsoleRequest::DescribeJobFrames { job_id, max_frames })
}

fn parse_screens(params: &Params) -> Result<ConsoleRequest> {
    let items = params.struct_list("Screen", MAX_SCREENS)?;
    if items.is_empty() {
        return Err(Error::missing("Screen.1.InstanceId"));
    }
    let mut screens = Vec::with_capacity(items.len());
    for (n, mut item) in items.into_iter().enumerate() {
        let name = format!("Screen.{}.InstanceId", n + 1);
        let instance_id =
            item.remove("InstanceId").filter(|v| !v.is_empty()).ok_or_else(|| Error::missing(&name))?;
        let known_hash = item.remove("Hash").filter(|v| !v.is_empty());
        if let Some(hash) = &known_hash {
            if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::invalid(
                    &format!("Screen.{}.Hash", n + 1),
                    "The hash must be the 16 hexadecimal digits a previous DescribeScreens returned.",
                ));
            }
        }
        if let Some(field) = item.keys().next() {
            return Err(Error::invalid(
                &format!("Screen.{}.{field}", n + 1),
                "A screen has only InstanceId and Hash.",
            ));
        }
        screens.push(ScreenQuery { instance_id, known_hash });
    }
    Ok(ConsoleRequest::DescribeScreens { screens })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn parses_screens_in_index_order() {
        let p = params(&[
            ("Screen.2.InstanceId", "i-b"),
            ("Screen.1.InstanceId", "i-a"),
            ("Screen.1.Hash", "00112233445566ff"),
        ]);
        let expected = vec![
            ScreenQuery { instance_id: "i-a".into(), known_hash: Some("00112233445566ff".into()) },
            ScreenQuery { instance_id: "i-b".into(), known_hash: None },
        ];
        assert_eq!(parse_screens(&p).unwrap(), ConsoleRequest::DescribeScreens { screens: expected });
    }

    #[test]
    fn refuses_bad_screens() {
        let code = |pairs: &[(&str, &str)]| parse_screens(&params(pairs)).unwrap_err().code();
        assert_eq!(code(&[]), "MissingParameter");
        assert_eq!(code(&[("Screen.1.Hash", "00112233445566ff")]), "MissingParameter");
        assert_eq!(code(&[("Screen.1.InstanceId", "i-a"), ("Screen.1.Hash", "xyz")]), "InvalidParameter");
        assert_eq!(code(&[("Screen.1.InstanceId", "i-a"), ("Screen.1.Colour", "blue")]), "InvalidParameter");
        assert_eq!(code(&[("Screen.101.InstanceId", "i-a")]), "InvalidParameter");
    }
}
