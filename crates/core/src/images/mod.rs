//! Images as a catalog: records, what users may see and use, DescribeImages and DeleteImage, and
//! the files of force-deleted images that nothing reads any more. How an image's file is made
//! (imported from a bucket, flattened from a snapshot, captured from an instance) is
//! the work of `ImageBuilds`, beside this module.
//!
//! Once Available an image is immutable: instances use it through copy-on-write overlays.

use crate::config::CloudConfig;
use crate::listing::{page_of, sort_key, window_with_bare_keys, Page};
use crate::requests::{ImageFilter, ImageOwnerAlias, Paging};
use crate::{Error, Resource, Result};
use ecslab_store::{
    now_rfc3339, DiskType, ImageDiskRecord, ImageQuery, ImageRecord, ImageStatus, ListedPage, Store,
};
use std::sync::Arc;

const GIB: i64 = 1024 * 1024 * 1024;

/// An image as DescribeImages shows it: the record and its disks.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    pub image: ImageRecord,
    pub disks: Vec<ImageDiskRecord>,
}

/// The image catalog.
pub struct Images {
    store: Store,
    config: Arc<CloudConfig>,
}

impl Images {
    pub(crate) fn new(store: Store, config: Arc<CloudConfig>) -> Images {
        Images { store, config }
    }

    /// A new image record in `Creating`, a qcow2 under `DATA/images/`, with nothing recorded
    /// about where it comes from yet (callers fill that in).
    pub(crate) fn new_image_record(&self, account_id: &str, image_id: &str, name: String) -> ImageRecord {
        ImageRecord {
            image_id: image_id.to_string(),
            account_id: account_id.to_string(),
            name,
            description: String::new(),
            status: ImageStatus::Creating,
            progress: 0,
            size_gib: 0,
            virtual_size_bytes: 0,
            path: self.config.images_dir().join(format!("{image_id}.qcow2")).display().to_string(),
            format: "qcow2".into(),
            platform: "Others Linux".into(),
            architecture: "x86_64".into(),
            os_type: "linux".into(),
            import_bucket: String::new(),
            import_object: String::new(),
            failure_reason: String::new(),
            created_at: now_rfc3339(),
            source_snapshot_id: String::new(),
            source_instance_id: String::new(),
            deleted: false,
            tags: Vec::new(),
        }
    }

    /// An image name not used by another of the account's images: the requested one, or the
    /// image's own id.
    pub(crate) async fn unused_image_name(
        &self,
        account_id: &str,
        requested: Option<String>,
        image_id: &str,
    ) -> Result<String> {
        let name = requested.unwrap_or_else(|| image_id.to_string());
        if self.store.images(account_id).await?.iter().any(|i| i.name == name && !i.deleted) {
            return Err(Error::rejected(
                "InvalidImageName.Duplicated",
                "The specified Image name has already bean used.",
            ));
        }
        Ok(name)
    }

    /// An image instances can be made from: visible and `Available` (`InvalidImageId.NotFound`,
    /// `InvalidImageId.IncorrectStatus`).
    pub(crate) async fn available_image(&self, account_id: &str, image_id: &str) -> Result<ImageRecord> {
        let image = self.visible_image(account_id, image_id).await?;
        if image.status != ImageStatus::Available {
            return Err(Error::rejected(
                "InvalidImageId.IncorrectStatus",
                format!("The image {} is {}, not Available.", image.image_id, image.status),
            ));
        }
        Ok(image)
    }

    /// An image of this account that users can see (not deleted), or `InvalidImageId.NotFound`.
    pub async fn visible_image(&self, account_id: &str, image_id: &str) -> Result<ImageRecord> {
        self.store
            .image(account_id, image_id)
            .await?
            .filter(|i| !i.deleted)
            .ok_or_else(|| Error::NotFound { resource: Resource::Image, id: image_id.to_string() })
    }

    /// An image's file is complete: `Available`, its Size in whole GiB (rounded up).
    pub(crate) async fn mark_image_available(&self, image_id: &str, virtual_size: i64) -> Result<()> {
        let size_gib = ((virtual_size + GIB - 1) / GIB).max(1);
        Ok(self
            .store
            .update_image_progress(image_id, ImageStatus::Available, 100, size_gib, virtual_size, "")
            .await?)
    }

    pub async fn describe_images(
        &self,
        account_id: &str,
        filter: &ImageFilter,
        paging: &Paging,
    ) -> Result<Page<ImageDetails>> {
        let query = ImageQuery {
            image_ids: filter.image_ids.clone(),
            name_pattern: filter.name.clone(),
            statuses: if filter.statuses.is_empty() {
                vec![ImageStatus::Available]
            } else {
                filter.statuses.clone()
            },
            snapshot_id: filter.snapshot_id.clone(),
            tags: filter.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
            matches_nothing: filter.owner_alias.is_some_and(|a| a != ImageOwnerAlias::OwnImages),
        };
        let (listed, disks) =
            self.store.images_page(account_id, &query, &window_with_bare_keys(paging)?).await?;
        let mut mappings: std::collections::HashMap<String, Vec<ImageDiskRecord>> =
            std::collections::HashMap::new();
        for disk in disks {
            mappings.entry(disk.image_id.clone()).or_default().push(disk);
        }
        let listed = ListedPage {
            items: listed
                .items
                .into_iter()
                .map(|image| {
                    let disks = mappings.remove(&image.image_id).unwrap_or_else(|| implicit_mapping(&image));
                    ImageDetails { image, disks }
                })
                .collect(),
            total: listed.total,
            more: listed.more,
        };
        Ok(page_of(listed, paging, |i| sort_key(&i.image.created_at, &i.image.image_id)))
    }

    /// DeleteImage. Disks made from the image are overlays on its file, and snapshots of them
    /// chain down to it, so while any exists the image is refused, unless Force: then it is
    /// gone for users at once (DescribeImages, RunInstances, ReplaceSystemDisk no longer see
    /// it) while its file stays until the last disk or snapshot reading it is released.
    pub async fn delete_image(&self, account_id: &str, image_id: &str, force: bool) -> Result<()> {
        let image = self.visible_image(account_id, image_id).await?;
        if image.status == ImageStatus::Creating {
            return Err(Error::rejected("IncorrectImageStatus", "The image is still being created."));
        }
        let disks = self.store.disks_using_image(image_id).await?;
        let snapshots = self.store.snapshots_on_image_file(&image.path).await?;
        if disks + snapshots > 0 {
            if !force {
                return Err(Error::rejected(
                    "ImageUsedByInstance",
                    format!(
                        "The image is used by {disks} disk(s) and {snapshots} snapshot(s); release them first, or delete with Force=true (the file is kept until they are gone)."
                    ),
                ));
            }
            self.store.mark_image_deleted(image_id).await?;
            tracing::info!(
                image_id,
                disks,
                snapshots,
                "image deleted with Force; its file stays while it is read"
            );
            return Ok(());
        }
        self.remove_image_files(&image).await?;
        tracing::info!(image_id, "image deleted");
        Ok(())
    }

    async fn remove_image_files(&self, image: &ImageRecord) -> Result<()> {
        self.store.remove_image(&image.image_id).await?;
        if let Err(e) = std::fs::remove_file(&image.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(image_id = %image.image_id, path = %image.path, error = %e, "could not remove the image file");
            }
        }
        Ok(())
    }

    /// Remove the files of images deleted with Force that nothing reads any more.
    pub(crate) async fn collect_deleted_images(&self) -> Result<()> {
        for image in self.store.deleted_images().await? {
            let disks = self.store.disks_using_image(&image.image_id).await?;
            let snapshots = self.store.snapshots_on_image_file(&image.path).await?;
            if disks + snapshots == 0 {
                self.remove_image_files(&image).await?;
                tracing::info!(image_id = %image.image_id, "file of a force-deleted image removed: its last reader is gone");
            }
        }
        Ok(())
    }
}

/// `/dev/xvda`, `/dev/xvdb`, ...: the device names ECS shows in DiskDeviceMappings.
pub(crate) fn device_name(index: i64) -> String {
    let letter = (b'a' + (index.clamp(0, 25) as u8)) as char;
    format!("/dev/xvd{letter}")
}

/// The one mapping of an image that has no `image_disks` rows (imported images): its system disk.
fn implicit_mapping(image: &ImageRecord) -> Vec<ImageDiskRecord> {
    vec![ImageDiskRecord {
        image_id: image.image_id.clone(),
        device: device_name(0),
        disk_type: DiskType::System,
        size_gib: image.size_gib,
        snapshot_id: image.source_snapshot_id.clone(),
    }]
}
