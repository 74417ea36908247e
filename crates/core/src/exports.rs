//! ExportImage: an image written into a bucket as qcow2, raw, VHD or VMDK, tracked as an ECS
//! task (DescribeTaskAttribute, DescribeTasks) with a Progress from the real conversion.
//!
//! The conversion goes to a scratch file first, then into the bucket in one put, so an object
//! that exists is always complete. The task is persisted: after a restart an unfinished export
//! starts over. The object is named `<OSSPrefix><ImageId>_system.<ext>`.

use crate::buckets::{check_object_name, Buckets};
use crate::config::CloudConfig;
use crate::images::Images;
use crate::listing::{paginate, Page};
use crate::requests::{DiskImageFormat, Paging};
use crate::{chain, Error, Resource, Result};
use ecslab_store::{now_rfc3339, ImageStatus, Store, TaskRecord, TaskStatus};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// ExportImage, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportImage {
    pub image_id: String,
    pub bucket: String,
    pub prefix: String,
    pub format: DiskImageFormat,
    pub dry_run: bool,
}

/// DescribeTasks filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub task_ids: Option<Vec<String>>,
    pub action: Option<String>,
    pub status: Option<TaskStatus>,
}

/// What an export task writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExportPayload {
    bucket: String,
    object: String,
    /// The word, as before the format was typed.
    format: DiskImageFormat,
}

const EXPORT_IMAGE: &str = "ExportImage";

/// Image exports and the tasks that report them (DescribeTasks, DescribeTaskAttribute).
pub struct Exports {
    store: Store,
    config: Arc<CloudConfig>,
    buckets: Arc<Buckets>,
    images: Arc<Images>,
}

impl Exports {
    pub(crate) fn new(
        store: Store,
        config: Arc<CloudConfig>,
        buckets: Arc<Buckets>,
        images: Arc<Images>,
    ) -> Exports {
        Exports { store, config, buckets, images }
    }

    pub async fn export_image(self: &Arc<Self>, account_id: &str, req: ExportImage) -> Result<String> {
        let image = self.images.visible_image(account_id, &req.image_id).await?;
        if image.status != ImageStatus::Available {
            return Err(Error::rejected(
                "IncorrectImageStatus",
                format!(
                    "The image {} is {}; only Available images can be exported.",
                    image.image_id, image.status
                ),
            ));
        }
        let object = format!("{}{}_system.{}", req.prefix, image.image_id, req.format);
        check_object_name(&object)?;
        crate::buckets::claim(&self.store, account_id, &req.bucket).await??;
        self.buckets.check_bucket(&req.bucket).await?;
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        let payload = ExportPayload { bucket: req.bucket, object, format: req.format };
        let task = TaskRecord {
            task_id: crate::ids::new_id("t"),
            account_id: account_id.to_string(),
            action: EXPORT_IMAGE.into(),
            resource_id: image.image_id.clone(),
            status: TaskStatus::Processing,
            progress: 0,
            payload: serde_json::to_string(&payload).map_err(Error::internal)?,
            failure_code: String::new(),
            failure_message: String::new(),
            created_at: now_rfc3339(),
            finished_at: String::new(),
        };
        self.store.insert_task(&task).await?;
        tracing::info!(task_id = %task.task_id, image_id = %image.image_id, bucket = %payload.bucket, object = %payload.object, "image export started");
        let task_id = task.task_id.clone();
        self.clone().spawn_export(task);
        Ok(task_id)
    }

    pub(crate) fn spawn_export(self: Arc<Self>, task: TaskRecord) {
        tokio::spawn(async move {
            let outcome = self.run_export(&task).await;
            let finished_at = now_rfc3339();
            let _ = match &outcome {
                Ok(()) => {
                    self.store.finish_task(&task.task_id, TaskStatus::Finished, "", "", &finished_at).await
                }
                Err(e) => {
                    self.store
                        .finish_task(
                            &task.task_id,
                            TaskStatus::Failed,
                            e.code(),
                            &e.to_string(),
                            &finished_at,
                        )
                        .await
                }
            };
            match outcome {
                Ok(()) => tracing::info!(task_id = %task.task_id, "image export finished"),
                Err(e) => {
                    tracing::error!(task_id = %task.task_id, error = %e.detail(), "image export failed")
                }
            }
        });
    }

    async fn run_export(&self, task: &TaskRecord) -> Result<()> {
        let payload: ExportPayload = serde_json::from_str(&task.payload).map_err(Error::internal)?;
        let image = self
            .store
            .image(&task.account_id, &task.resource_id)
            .await?
            .ok_or_else(|| Error::NotFound { resource: Resource::Image, id: task.resource_id.clone() })?;
        let scratch = self.config.data_dir.join("tmp").join("exports");
        std::fs::create_dir_all(&scratch)
            .map_err(|e| Error::internal(format!("creating {}: {e}", scratch.display())))?;
        let partial: PathBuf = scratch.join(format!("{}.{}", task.task_id, payload.format));
        let report = |pct: i64| {
            // 90 at most: the upload into the bucket is the rest.
            let progress = pct * 90 / 100;
            async move {
                let _ = self.store.set_task_progress(&task.task_id, progress).await;
            }
        };
        // An image is a standalone qcow2 ecslab wrote; checked anyway, so that no reference
        // (a data file, a backing file) is ever followed into a bucket.
        let image_path = PathBuf::from(&image.path);
        if let Err(e) = crate::inspect::check_file_standalone(&image_path, crate::inspect::Format::Qcow2) {
            tracing::error!(image_id = %image.image_id, error = %e, "REFUSED to export an image file that is not a standalone qcow2");
            return Err(Error::internal(format!("the image file {} is refused: {e}", image_path.display())));
        }
        let converted = chain::convert_with_progress(
            &self.config.qemu_img,
            chain::ConvertSource::Standalone(&image_path, crate::inspect::Format::Qcow2),
            &partial,
            payload.format.qemu_name(),
            report,
        )
        .await;
        let result = match converted {
            Ok(()) => {
                self.buckets.put_file(&payload.bucket, &payload.object, &partial).await.map_err(Error::from)
            }
            Err(reason) => Err(Error::internal(reason)),
        };
        let _ = std::fs::remove_file(&partial);
        result
    }

    /// Whether a task still `Processing` after a restart is work this service starts over.
    pub(crate) fn resumes(task: &TaskRecord) -> bool {
        task.action == EXPORT_IMAGE
    }

    /// DescribeTaskAttribute.
    pub async fn task(&self, account_id: &str, task_id: &str) -> Result<TaskRecord> {
        self.store.task(account_id, task_id).await?.ok_or_else(|| {
            Error::rejected(
                "InvalidTaskId.NotFound",
                format!("The specified task {task_id:?} does not exist."),
            )
        })
    }

    /// DescribeTasks, newest first.
    pub async fn describe_tasks(
        &self,
        account_id: &str,
        filter: &TaskFilter,
        paging: &Paging,
    ) -> Result<Page<TaskRecord>> {
        let tasks: Vec<TaskRecord> = self
            .store
            .tasks(account_id)
            .await?
            .into_iter()
            .filter(|t| filter.task_ids.as_ref().is_none_or(|ids| ids.contains(&t.task_id)))
            .filter(|t| filter.action.as_ref().is_none_or(|a| a == &t.action))
            .filter(|t| filter.status.is_none_or(|s| s == t.status))
            .collect();
        paginate(tasks, paging, |t| format!("{}|{}", t.created_at, t.task_id))
    }
}
