//! PAI-DSW instance snapshots: an instance's system disk saved, at one point in time and while
//! it runs or not, into a new ecslab image, optionally pushed to an OCI registry as a
//! KubeVirt containerDisk.
//!
//! Lifecycle (GetInstanceSnapshot `Status`), persisted so a restart resumes it:
//! - `Creating`: the point in time is taken (a snapshot of the system disk, frozen in the VM
//!   in one transaction) and its chain is flattened into the new image's file.
//! - `Pushing`: the image is written out: ExcludePaths are removed from its filesystem (never
//!   mounted, see [`crate::exclude`]), it becomes `Available` in ecslab's store, and when the
//!   ImageUrl names a registry it is pushed there ([`crate::oci`]).
//! - `Saved`: done; ImageId boots with RunInstances.
//! - `Failed`: with ReasonCode and ReasonMessage; what was made is released.
//!
//! The disk snapshot used for the point in time is only a means: once the image file stands
//! alone it is deleted. DeleteInstanceSnapshot releases the image (kept, hidden, while
//! instances still run from it: DeleteImage with Force semantics).

use crate::config::CloudConfig;
use crate::disks::Disks;
use crate::exclude;
use crate::ids::new_id;
use crate::image_builds::DiskSelection;
use crate::image_builds::ImageBuilds;
use crate::images::Images;
use crate::oci::{self, ImageReference};
use crate::work::{crash_point, CrashPoint};
use crate::{Error, Resource, Result};
use ecslab_store::{
    now_millis, ImageRecord, ImageStatus, InstanceSnapshotRecord, InstanceSnapshotStatus, Store, Tag,
};
use std::path::PathBuf;
use std::sync::Arc;

/// CreateInstanceSnapshot, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateInstanceSnapshot {
    pub instance_id: String,
    pub name: String,
    pub image_url: String,
    pub description: String,
    pub overwrite: bool,
    pub exclude_paths: Vec<String>,
    pub labels: Vec<Tag>,
}

/// ListInstanceSnapshot's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSnapshotListing {
    pub page_number: i64,
    pub page_size: i64,
    pub sort_by: SnapshotSortKey,
    pub descending: bool,
}

/// What ListInstanceSnapshot sorts by (`SortBy`), then by snapshot id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SnapshotSortKey {
    /// `GmtCreateTime`, the default.
    #[default]
    GmtCreateTime,
    GmtModifiedTime,
    SnapshotName,
    Status,
}

/// A page of an instance's snapshots.
#[derive(Debug, Clone)]
pub struct InstanceSnapshotPage {
    pub total_count: i64,
    pub snapshots: Vec<InstanceSnapshotRecord>,
}

/// Failure reasons of the background work, as GetInstanceSnapshot shows them.
struct Failure {
    code: String,
    message: String,
}

impl Failure {
    fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure { code: code.to_string(), message: message.into() }
    }
}

/// The registry an ImageUrl names, or None when it names an image in ecslab's own store.
fn registry_of(image_url: &str) -> Result<Option<ImageReference>> {
    oci::parse_registry_url(image_url).map_err(|e| Error::invalid("ImageUrl", e.message))
}

/// PAI-DSW instance snapshots.
pub struct InstanceSnapshots {
    store: Store,
    config: Arc<CloudConfig>,
    images: Arc<Images>,
    builds: Arc<ImageBuilds>,
    disks: Arc<Disks>,
}

impl InstanceSnapshots {
    pub(crate) fn new(
        store: Store,
        config: Arc<CloudConfig>,
        images: Arc<Images>,
        builds: Arc<ImageBuilds>,
        disks: Arc<Disks>,
    ) -> InstanceSnapshots {
        InstanceSnapshots { store, config, images, builds, disks }
    }

    pub async fn create_instance_snapshot(
        self: &Arc<Self>,
        account_id: &str,
        req: CreateInstanceSnapshot,
    ) -> Result<InstanceSnapshotRecord> {
        let exclude_paths = exclude::normalise_all(&req.exclude_paths)
            .map_err(|e| Error::invalid("ExcludePaths", e.message))?;
        let registry = registry_of(&req.image_url)?;
        let snapshot_id = new_id("snp");
        let image_id = new_id("m");
        // Without a registry the ImageUrl is the image's name in ecslab; with one, the image
        // is named after the snapshot.
        let image_name = match registry {
            Some(_) => format!("{}-{}", req.name, &snapshot_id[4..]),
            None => req.image_url.clone(),
        };
        if registry.is_none() {
            self.release_overwritten_image(account_id, &image_name, req.overwrite).await?;
        }
        let image_name = self.images.unused_image_name(account_id, Some(image_name), &image_id).await?;
        let (instance, disks) =
            self.builds.capturable_disks(account_id, &req.instance_id, DiskSelection::SystemOnly).await?;
        let mappings = self.builds.capture_disks(account_id, &instance, disks, &image_id).await?;
        let image = ImageRecord {
            description: format!("PAI-DSW instance snapshot {snapshot_id} of {}", instance.instance_id),
            source_snapshot_id: mappings[0].snapshot_id.clone(),
            source_instance_id: instance.instance_id.clone(),
            ..self.images.new_image_record(account_id, &image_id, image_name)
        };
        let now = now_millis();
        let record = InstanceSnapshotRecord {
            snapshot_id: snapshot_id.clone(),
            account_id: account_id.to_string(),
            instance_id: instance.instance_id.clone(),
            name: req.name,
            description: req.description,
            image_url: req.image_url,
            image_id: image_id.clone(),
            overwrite: req.overwrite,
            exclude_paths,
            labels: req.labels,
            status: InstanceSnapshotStatus::Creating,
            reason_code: String::new(),
            reason_message: String::new(),
            created_at: now.clone(),
            updated_at: now,
        };
        // The snapshot row first: an image with one is finished by this module, not by the
        // generic image resume.
        self.store.insert_instance_snapshot(&record).await?;
        self.store.insert_image_with_disks(&image, &mappings).await?;
        tracing::info!(snapshot_id = %snapshot_id, instance_id = %record.instance_id, image_id = %image_id, "instance snapshot started");
        self.clone().spawn_finish(record.clone());
        Ok(record)
    }

    /// ImageUrl naming an ecslab image that exists: refused, or with Overwrite that image is
    /// released (kept while instances run from it) so the name moves to the new one.
    async fn release_overwritten_image(&self, account_id: &str, name: &str, overwrite: bool) -> Result<()> {
        let existing =
            self.store.images(account_id).await?.into_iter().find(|i| i.name == name && !i.deleted);
        let Some(existing) = existing else { return Ok(()) };
        if !overwrite {
            return Err(Error::rejected(
                "ImageAlreadyExists",
                format!(
                    "The image {name:?} exists ({}); set Overwrite=true to replace it.",
                    existing.image_id
                ),
            ));
        }
        if existing.status == ImageStatus::Creating {
            return Err(Error::rejected(
                "IncorrectImageStatus",
                format!("The image {name:?} is still being created."),
            ));
        }
        self.images.delete_image(account_id, &existing.image_id, true).await
    }

    /// The background part, from wherever the snapshot stands (also after a restart).
    async fn finish_instance_snapshot(self: Arc<Self>, record: InstanceSnapshotRecord) {
        let snapshot_id = record.snapshot_id.clone();
        match self.save_instance_snapshot(&record).await {
            Ok(()) => {
                let _ = self
                    .store
                    .set_instance_snapshot_status(
                        &snapshot_id,
                        InstanceSnapshotStatus::Saved,
                        "",
                        "",
                        &now_millis(),
                    )
                    .await;
                tracing::info!(snapshot_id = %snapshot_id, image_id = %record.image_id, "instance snapshot saved");
            }
            Err(failure) => {
                tracing::error!(snapshot_id = %snapshot_id, code = %failure.code, reason = %failure.message, "instance snapshot failed");
                let _ = self
                    .store
                    .set_instance_snapshot_status(
                        &snapshot_id,
                        InstanceSnapshotStatus::Failed,
                        &failure.code,
                        &failure.message,
                        &now_millis(),
                    )
                    .await;
                let _ = self
                    .store
                    .update_image_progress(
                        &record.image_id,
                        ImageStatus::CreateFailed,
                        0,
                        0,
                        0,
                        &failure.message,
                    )
                    .await;
                self.release_instance_snapshot_image(&record).await;
            }
        }
    }

    async fn save_instance_snapshot(
        &self,
        record: &InstanceSnapshotRecord,
    ) -> std::result::Result<(), Failure> {
        let internal = |e: Error| Failure::new("InternalError", e.detail());
        let image = self
            .store
            .image(&record.account_id, &record.image_id)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| Failure::new("ImageNotFound", "the image being made was removed"))?;
        if image.status != ImageStatus::Available {
            let virtual_size = self.builds.flatten_snapshot(&image).await.map_err(|reason| {
                Failure::new("SnapshotFailed", format!("saving the system disk failed: {reason}"))
            })?;
            crash_point(CrashPoint::InstanceSnapshotAfterFlatten);
            self.set_instance_snapshot_stage(record, InstanceSnapshotStatus::Pushing)
                .await
                .map_err(internal)?;
            let path = PathBuf::from(&image.path);
            let removal = exclude::remove_paths(&self.config.qemu_img, &path, &record.exclude_paths)
                .await
                .map_err(|e| Failure::new(e.code, e.message))?;
            if !removal.removed.is_empty() || !removal.absent.is_empty() {
                tracing::info!(snapshot_id = %record.snapshot_id, removed = ?removal.removed, absent = ?removal.absent, filesystem = %removal.filesystem, "excluded paths removed from the image");
            }
            crash_point(CrashPoint::InstanceSnapshotAfterExclude);
            self.images.mark_image_available(&image.image_id, virtual_size).await.map_err(internal)?;
            crash_point(CrashPoint::InstanceSnapshotAfterAvailable);
        } else {
            self.set_instance_snapshot_stage(record, InstanceSnapshotStatus::Pushing)
                .await
                .map_err(internal)?;
        }
        self.drop_point_in_time_snapshot(&image).await.map_err(internal)?;
        self.disks.collect_deleted_snapshots().await;
        if let Some(reference) =
            registry_of(&record.image_url).map_err(|e| Failure::new("InvalidImageUrl", e.to_string()))?
        {
            let pushed = oci::push_container_disk(
                &reference,
                &PathBuf::from(&image.path),
                record.overwrite,
                &self.config.insecure_registries,
                &|_| {},
            )
            .await
            .map_err(|e| Failure::new(e.code, e.message))?;
            tracing::info!(snapshot_id = %record.snapshot_id, image_url = %record.image_url, digest = %pushed.manifest_digest, "instance snapshot pushed");
        }
        Ok(())
    }

    async fn set_instance_snapshot_stage(
        &self,
        record: &InstanceSnapshotRecord,
        status: InstanceSnapshotStatus,
    ) -> Result<()> {
        Ok(self
            .store
            .set_instance_snapshot_status(&record.snapshot_id, status, "", "", &now_millis())
            .await?)
    }

    /// The disk snapshot that held the point in time: no longer needed once the image file
    /// stands alone (or the snapshot failed). Hidden here; its file goes with the next
    /// collection of deleted snapshots. A no-op once done.
    async fn drop_point_in_time_snapshot(&self, image: &ImageRecord) -> Result<()> {
        if image.source_snapshot_id.is_empty() {
            return Ok(());
        }
        self.store.clear_image_source_snapshot(&image.image_id).await?;
        self.store.mark_snapshot_deleted(&image.source_snapshot_id).await?;
        Ok(())
    }

    /// Release what a failed instance snapshot made: its point-in-time snapshot and its image
    /// (whose file goes once nothing reads it).
    async fn release_instance_snapshot_image(&self, record: &InstanceSnapshotRecord) {
        let Ok(Some(image)) = self.store.image(&record.account_id, &record.image_id).await else { return };
        if image.deleted {
            return;
        }
        let _ = self.drop_point_in_time_snapshot(&image).await;
        let _ = self.store.mark_image_deleted(&image.image_id).await;
        let _ = std::fs::remove_file(PathBuf::from(&image.path).with_extension("qcow2.partial"));
        self.disks.collect_deleted_snapshots().await;
    }

    /// Finish an instance snapshot in the background (a new one, or one a restart interrupted).
    pub(crate) fn spawn_finish(self: Arc<Self>, record: InstanceSnapshotRecord) {
        tokio::spawn(async move { self.finish_instance_snapshot(record).await });
    }

    pub async fn instance_snapshot(
        &self,
        account_id: &str,
        instance_id: &str,
        snapshot_id: &str,
    ) -> Result<InstanceSnapshotRecord> {
        crate::lookup::instance(&self.store, account_id, instance_id).await?;
        self.store
            .instance_snapshot(account_id, instance_id, snapshot_id)
            .await?
            .ok_or_else(|| Error::NotFound { resource: Resource::Snapshot, id: snapshot_id.to_string() })
    }

    pub async fn list_instance_snapshots(
        &self,
        account_id: &str,
        instance_id: &str,
        listing: &InstanceSnapshotListing,
    ) -> Result<InstanceSnapshotPage> {
        crate::lookup::instance(&self.store, account_id, instance_id).await?;
        let mut snapshots = self.store.instance_snapshots(account_id, instance_id).await?;
        let key = |s: &InstanceSnapshotRecord| -> String {
            match listing.sort_by {
                SnapshotSortKey::GmtModifiedTime => s.updated_at.clone(),
                SnapshotSortKey::SnapshotName => s.name.clone(),
                SnapshotSortKey::Status => s.status.to_string(),
                SnapshotSortKey::GmtCreateTime => s.created_at.clone(),
            }
        };
        snapshots.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.snapshot_id.cmp(&b.snapshot_id)));
        if listing.descending {
            snapshots.reverse();
        }
        let total_count = snapshots.len() as i64;
        let skip = ((listing.page_number - 1) * listing.page_size) as usize;
        let snapshots = snapshots.into_iter().skip(skip).take(listing.page_size as usize).collect();
        Ok(InstanceSnapshotPage { total_count, snapshots })
    }

    /// DeleteInstanceSnapshot: the snapshot goes; its image is released (at once, or when the
    /// last instance running from it is gone). A snapshot still being made is refused.
    pub async fn delete_instance_snapshot(
        &self,
        account_id: &str,
        instance_id: &str,
        snapshot_id: &str,
    ) -> Result<()> {
        let record = self.instance_snapshot(account_id, instance_id, snapshot_id).await?;
        if record.status.is_unfinished() {
            return Err(Error::rejected(
                "IncorrectSnapshotStatus",
                format!(
                    "The snapshot {snapshot_id} is {}; delete it once it is Saved or Failed.",
                    record.status
                ),
            ));
        }
        self.store.delete_instance_snapshot(snapshot_id).await?;
        if let Some(image) = self.store.image(account_id, &record.image_id).await?.filter(|i| !i.deleted) {
            self.images.delete_image(account_id, &image.image_id, true).await?;
        }
        tracing::info!(snapshot_id, image_id = %record.image_id, "instance snapshot deleted");
        Ok(())
    }
}
