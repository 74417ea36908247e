//! How an image's file is made. ImportImage converts a bucket object (qcow2, raw or VHD, inspected
//! first: see [`crate::inspect`]); CreateImage flattens a system-disk snapshot's chain, or first
//! snapshots an instance's disks at one point in time (`capture.rs`).
//!
//! Each answers at once with the new ImageId in status `Creating`; a background task writes the
//! image's qcow2 under `DATA/images/` to a temporary file and renames it, so a crash never leaves
//! a half-written image marked Available, then marks it `Available`, or `CreateFailed` with the
//! reason. Builds a crash interrupted are restarted by the runner when the server starts.

mod capture;

pub(crate) use capture::DiskSelection;

use crate::buckets::BucketError;
use crate::buckets::Buckets;
use crate::chain;
use crate::config::CloudConfig;
use crate::disks::Disks;
use crate::ids::new_id;
use crate::images::{device_name, Images};
use crate::inspect::{self, Format, Window};
use crate::requests::{CreateImage, ImportImage};
use crate::{Error, Resource, Result};
use ecslab_store::{DiskType, ImageDiskRecord, ImageRecord, ImageStatus, SnapshotStatus, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Builds image files: imports, snapshot flattening, captures of instances.
pub struct ImageBuilds {
    store: Store,
    config: Arc<CloudConfig>,
    buckets: Arc<Buckets>,
    images: Arc<Images>,
    disks: Arc<Disks>,
}

impl ImageBuilds {
    pub(crate) fn new(
        store: Store,
        config: Arc<CloudConfig>,
        buckets: Arc<Buckets>,
        images: Arc<Images>,
        disks: Arc<Disks>,
    ) -> ImageBuilds {
        ImageBuilds { store, config, buckets, images, disks }
    }
}

impl ImageBuilds {
    pub async fn import_image(self: &Arc<Self>, account_id: &str, req: ImportImage) -> Result<String> {
        crate::buckets::claim(&self.store, account_id, &req.bucket).await??;
        let Some(size) = self.buckets.head(&req.bucket, &req.object).await? else {
            return Err(
                BucketError::NoSuchObject { bucket: req.bucket.clone(), key: req.object.clone() }.into()
            );
        };
        self.inspect_import_object(&req.bucket, &req.object, req.format.as_str(), size).await?;
        let image_id = new_id("m");
        let name = self.images.unused_image_name(account_id, req.name.clone(), &image_id).await?;
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        let record = ImageRecord {
            description: req.description,
            format: req.format.to_string(),
            platform: req.platform,
            architecture: req.architecture,
            os_type: req.os_type,
            import_bucket: req.bucket,
            import_object: req.object,
            tags: req.tags,
            ..self.images.new_image_record(account_id, &image_id, name)
        };
        self.store.insert_image(&record).await?;
        tracing::info!(image_id = %image_id, source = %self.buckets.describe(&record.import_bucket), object = %record.import_object, "image import started");
        self.clone().spawn_build(record);
        Ok(image_id)
    }

    /// Write an image's file in the background (a new build, or one a restart interrupted).
    pub(crate) fn spawn_build(self: Arc<Self>, image: ImageRecord) {
        tokio::spawn(async move {
            let id = image.image_id.clone();
            match self.run_import(&image).await {
                Ok(virtual_size) => {
                    let _ = self.images.mark_image_available(&id, virtual_size).await;
                    tracing::info!(image_id = %id, virtual_size, "image available");
                }
                Err(reason) => {
                    tracing::error!(image_id = %id, %reason, "image import failed");
                    let _ = self
                        .store
                        .update_image_progress(&id, ImageStatus::CreateFailed, 0, 0, 0, &reason)
                        .await;
                }
            }
        });
    }

    /// Convert the bucket object (or the snapshot) into the image's qcow2. Returns its virtual
    /// size in bytes.
    async fn run_import(&self, image: &ImageRecord) -> std::result::Result<i64, String> {
        if !image.source_snapshot_id.is_empty() {
            return self.flatten_snapshot(image).await;
        }
        // A remote object is downloaded first: qemu-img needs a seekable file.
        let object = self
            .buckets
            .object_file(&image.import_bucket, &image.import_object)
            .await
            .map_err(|e| e.to_string())?;
        let source = object.path();
        // Inspected again in full: the object may have changed since ImportImage answered.
        let claimed = claimed_format(&image.format).map_err(|e| e.to_string())?;
        let path = source.to_path_buf();
        tokio::task::spawn_blocking(move || inspect::check_file_standalone(&path, claimed))
            .await
            .map_err(|e| format!("inspecting the object: {e}"))?
            .map_err(|e| format!("the object cannot be imported as {claimed}: {e}"))?;
        let info = self.qemu_img_info(source, claimed).await?;
        let virtual_size = info["virtual-size"].as_i64().ok_or("qemu-img info reported no virtual size")?;
        let target = PathBuf::from(&image.path);
        let partial = target.with_extension("qcow2.partial");
        let converted = self
            .convert_with_progress(
                &image.image_id,
                chain::ConvertSource::Standalone(source, claimed),
                &partial,
                0..100,
            )
            .await;
        if let Err(e) = converted {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, &target).map_err(|e| format!("renaming {}: {e}", partial.display()))?;
        Ok(virtual_size)
    }

    /// An image made from a system-disk snapshot: the snapshot's chain (its layer, its parents,
    /// the image below) flattened into one standalone qcow2. The chain lock keeps the snapshot
    /// files still while they are read.
    pub(crate) async fn flatten_snapshot(&self, image: &ImageRecord) -> std::result::Result<i64, String> {
        self.wait_for_image_snapshots(image).await?;
        let snapshot = self
            .store
            .snapshot_by_id(&image.source_snapshot_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the source snapshot is gone")?;
        let _chain = self.disks.lock_chains().await;
        let source = PathBuf::from(&snapshot.path);
        chain::check_own_chain(&source).map_err(|e| e.detail())?;
        let out = tokio::process::Command::new(&self.config.qemu_img)
            .args(["info", "--output=json", "-U", "-f", "qcow2"])
            .arg(&source)
            .output()
            .await
            .map_err(|e| format!("running qemu-img info: {e}"))?;
        let info: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("reading the snapshot's size: {e}"))?;
        let virtual_size = info["virtual-size"].as_i64().ok_or("qemu-img info reported no virtual size")?;
        let target = PathBuf::from(&image.path);
        let partial = target.with_extension("qcow2.partial");
        let span = if image.source_instance_id.is_empty() { 0..100 } else { 50..100 };
        self.convert_with_progress(&image.image_id, chain::ConvertSource::OwnChain(&source), &partial, span)
            .await?;
        std::fs::rename(&partial, &target).map_err(|e| format!("renaming {}: {e}", partial.display()))?;
        Ok(virtual_size)
    }

    /// A snapshot of this account an image can be made of: accomplished.
    async fn ready_snapshot(
        &self,
        account_id: &str,
        snapshot_id: &str,
    ) -> Result<ecslab_store::SnapshotRecord> {
        let snapshot =
            self.store.snapshot(account_id, snapshot_id).await?.filter(|s| !s.deleted).ok_or_else(|| {
                Error::NotFound { resource: Resource::Snapshot, id: snapshot_id.to_string() }
            })?;
        if snapshot.status != SnapshotStatus::Accomplished {
            return Err(Error::rejected(
                "InvalidSnapshotId.NotReady",
                "The current status of the DiskDeviceMapping.n.SnapshotId or SnapshotId does not support this operation.",
            ));
        }
        Ok(snapshot)
    }

    /// CreateImage from a system-disk snapshot. Answers at once with the ImageId (`Creating`);
    /// the image becomes `Available` when the snapshot's chain is flattened into it.
    pub async fn create_image(self: &Arc<Self>, account_id: &str, req: CreateImage) -> Result<String> {
        let snapshot_id = match (&req.instance_id, &req.snapshot_id) {
            (Some(instance_id), _) => {
                let instance_id = instance_id.clone();
                return self.create_image_from_instance(account_id, &instance_id, req, DiskSelection::All).await;
            }
            (None, Some(id)) => id.clone(),
            (None, None) => {
                return Err(Error::rejected(
                    "MissingParameter",
                    "The input parameter SnapshotId or InstanceId or DiskDeviceMapping that is mandatory for processing this request is not supplied.",
                ))
            }
        };
        let snapshot = self.ready_snapshot(account_id, &snapshot_id).await?;
        if snapshot.source_disk_type != DiskType::System {
            return Err(Error::rejected(
                "OperationDenied",
                "The specified snapshot is not from system disk.",
            ));
        }
        let image_id = new_id("m");
        let mut disks = vec![ImageDiskRecord {
            image_id: image_id.clone(),
            device: device_name(0),
            disk_type: DiskType::System,
            size_gib: snapshot.source_disk_size,
            snapshot_id: snapshot_id.clone(),
        }];
        for (index, (data_snapshot_id, size)) in req.data_snapshots.iter().enumerate() {
            let data = self.ready_snapshot(account_id, data_snapshot_id).await?;
            if data.source_disk_type != DiskType::Data {
                return Err(Error::rejected(
                    "InvalidSnapshotId.NotDataDiskSnapshot",
                    format!("The snapshot {data_snapshot_id} of a DiskDeviceMapping with DiskType data is a system disk snapshot."),
                ));
            }
            let size_gib = size.unwrap_or(data.source_disk_size);
            if size_gib < data.source_disk_size {
                return Err(Error::rejected(
                    "InvalidSize.ValueNotSupported",
                    format!(
                        "The Size {size_gib} is less than the snapshot {data_snapshot_id}'s disk size {}.",
                        data.source_disk_size
                    ),
                ));
            }
            disks.push(ImageDiskRecord {
                image_id: image_id.clone(),
                device: device_name(index as i64 + 1),
                disk_type: DiskType::Data,
                size_gib,
                snapshot_id: data_snapshot_id.clone(),
            });
        }
        let name = self.images.unused_image_name(account_id, req.name.clone(), &image_id).await?;
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        let record = ImageRecord {
            description: req.description,
            platform: req.platform,
            architecture: req.architecture,
            source_snapshot_id: snapshot_id.clone(),
            tags: req.tags,
            ..self.images.new_image_record(account_id, &image_id, name)
        };
        self.store.insert_image_with_disks(&record, &disks).await?;
        tracing::info!(image_id = %image_id, snapshot_id = %snapshot_id, "image creation from a snapshot started");
        self.clone().spawn_build(record);
        Ok(image_id)
    }

    /// ImportImage's synchronous check: the object's headers (the whole local file, or the
    /// head and tail of a remote object by ranged reads) must be the claimed format and name no
    /// other file. A refusal is `InvalidParameter.Format` and leaves no image record. A remote
    /// object whose headers lie beyond the fetched window is decided after the download.
    async fn inspect_import_object(&self, bucket: &str, object: &str, format: &str, size: u64) -> Result<()> {
        let claimed = claimed_format(format)?;
        let inspected = if self.buckets.is_remote(bucket) {
            let head = self.buckets.read_range(bucket, object, 0..size.min(Window::HEAD)).await?;
            let tail_start = size.saturating_sub(Window::TAIL).max(head.len() as u64);
            let tail = if tail_start < size {
                self.buckets.read_range(bucket, object, tail_start..size).await?
            } else {
                Vec::new()
            };
            let window = Window { size, head, tail };
            inspect::inspect(&window)
        } else {
            let file = self.buckets.object_file(bucket, object).await?;
            let path = file.path().to_path_buf();
            tokio::task::spawn_blocking(move || inspect::inspect_file(&path))
                .await
                .map_err(|e| Error::internal(format!("inspecting {bucket}/{object}: {e}")))?
        };
        let inspection = match inspected {
            Ok(inspection) => inspection,
            Err(inspect::InspectError::Incomplete { .. }) => return Ok(()),
            Err(e) => return Err(Error::internal(format!("inspecting {bucket}/{object}: {e}"))),
        };
        inspect::check_standalone(&inspection, claimed).map_err(|refusal| {
            tracing::warn!(%bucket, %object, %refusal, "ImportImage refused a hostile or mislabelled object");
            import_refusal(object, claimed, &refusal)
        })
    }

    /// `qemu-img info` of an inspected file, opened as [`chain::standalone_source`] does.
    async fn qemu_img_info(
        &self,
        source: &Path,
        format: Format,
    ) -> std::result::Result<serde_json::Value, String> {
        let name = format.qemu_name();
        let out = tokio::process::Command::new(&self.config.qemu_img)
            .args(["info", "--output=json", "-f", name])
            .arg(chain::standalone_source(source, format)?)
            .output()
            .await
            .map_err(|e| format!("running qemu-img info: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the object is not a valid {format} image: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let info: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("parsing qemu-img info: {e}"))?;
        if info["format"].as_str() != Some(name) {
            return Err(format!("the object is {:?}, not {format}", info["format"]));
        }
        if info.get("backing-filename").is_some()
            || info["format-specific"]["data"].get("data-file").is_some()
        {
            return Err("the object names another file; import a standalone image".into());
        }
        Ok(info)
    }

    /// `qemu-img convert` into a qcow2, recording its percentage, scaled into `span`, as the
    /// image's Progress (99 at most until the file is renamed into place).
    async fn convert_with_progress(
        &self,
        image_id: &str,
        source: chain::ConvertSource<'_>,
        target: &Path,
        span: std::ops::Range<i64>,
    ) -> std::result::Result<(), String> {
        let report = |pct: i64| {
            let pct = (span.start + pct * (span.end - span.start) / 100).min(99);
            async move {
                let _ =
                    self.store.update_image_progress(image_id, ImageStatus::Creating, pct, 0, 0, "").await;
            }
        };
        chain::convert_with_progress(&self.config.qemu_img, source, target, "qcow2", report).await
    }
}

/// The format ImportImage's `Format` names (checked when the request was parsed).
fn claimed_format(format: &str) -> Result<Format> {
    Format::from_claim(format).filter(|f| matches!(f, Format::Raw | Format::Qcow2 | Format::Vpc)).ok_or_else(
        || Error::rejected("InvalidParameter.Format", format!("The Format {format:?} is not supported.")),
    )
}

/// ImportImage's answer to a file the inspector refuses: `InvalidParameter.Format` (400, the
/// code ImportImage already uses for a Format it cannot take), saying what was found and what
/// to do.
fn import_refusal(object: &str, claimed: Format, refusal: &inspect::Refusal) -> Error {
    let advice = match refusal {
        inspect::Refusal::FormatMismatch { actual, .. } => match actual {
            Format::Raw | Format::Qcow2 | Format::Vpc => {
                format!(" Set Format to {} if that is what it is.", actual.label())
            }
            _ => " Convert it to a standalone QCOW2, RAW or VHD image first.".to_string(),
        },
        _ => " ecslab imports only standalone images that reference no other file.".to_string(),
    };
    Error::rejected(
        "InvalidParameter.Format",
        format!(
            "The object {object:?} cannot be imported with Format {}: {refusal}.{advice}",
            claimed.label()
        ),
    )
}
