//! Disks as resources of their own: CreateDisk (blank or from a snapshot), AttachDisk (hot-plug
//! into a running instance, or offline), DetachDisk, DeleteDisk, ResizeDisk, DescribeDisks.
//!
//! A disk made from a snapshot is usable at once as a record (`Creating`) while its private base
//! is copied from the snapshot in the background; it becomes `Available` when the copy is done.
//! Until then it cannot be attached or snapshotted (ECS's "data still loading" rule), and the
//! snapshot cannot be deleted without `Force`. A disk keeps its device slot (`device_index`) as
//! long as it stays attached, so the guest sees the same device order across restarts.

mod files;
mod recovery;
mod reset;
mod snapshots;
mod tree;

pub(crate) use files::remove_disk_files;
pub use snapshots::ListedSnapshot;

use crate::config::CloudConfig;
use crate::images::Images;
use crate::listing::{page_of, sort_key, window_with_bare_keys, Page};
use crate::requests::{CreateDisk, DiskFilter, Paging};
use crate::{chain, Error, InstanceStatus, Resource, Result};
use ecslab_store::{DiskQuery, DiskRecord, DiskStatus, DiskType, InstanceRecord, SnapshotStatus, Store};
use ecslab_vmm::{DiskSpec, Hypervisor, PowerState};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// At most this many data disks per instance (ECS allows 16).
const MAX_DATA_DISKS: usize = 16;
const GIB: u64 = 1024 * 1024 * 1024;

/// Disks and their snapshot chains (this module, `disk_files` and `snapshots`): the only service
/// that rewrites layer files, so it owns the lock that keeps them still.
pub struct Disks {
    store: Store,
    hypervisor: Arc<dyn Hypervisor>,
    config: Arc<CloudConfig>,
    /// Force-deleted images whose last reader goes away with a snapshot are collected here.
    images: Arc<Images>,
    /// Held while snapshot files are rewritten or read to build something (seal, delete, reset,
    /// copies, image flattening): those steps see a stable set of snapshot files.
    chain_lock: tokio::sync::Mutex<()>,
}

impl Disks {
    pub(crate) fn new(
        store: Store,
        hypervisor: Arc<dyn Hypervisor>,
        config: Arc<CloudConfig>,
        images: Arc<Images>,
    ) -> Disks {
        Disks { store, hypervisor, config, images, chain_lock: tokio::sync::Mutex::new(()) }
    }

    /// Keep every snapshot file still while the guard lives (readers that build from a chain).
    pub(crate) async fn lock_chains(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.chain_lock.lock().await
    }

    pub async fn create_disk(self: &Arc<Self>, account_id: &str, req: CreateDisk) -> Result<String> {
        if let Some(zone) = &req.zone_id {
            if zone != &self.config.zone_id {
                return Err(Error::rejected("InvalidZoneId.NotFound", "The specified zone does not exist."));
            }
        }
        let snapshot = match &req.snapshot_id {
            None => None,
            Some(id) => {
                let s = self
                    .store
                    .snapshot(account_id, id)
                    .await?
                    .ok_or_else(|| Error::NotFound { resource: Resource::Snapshot, id: id.clone() })?;
                if s.status != SnapshotStatus::Accomplished {
                    return Err(Error::rejected(
                        "InvalidSnapshot.NotReady",
                        "The specified snapshot creation is not completed yet.",
                    ));
                }
                if s.source_disk_type != DiskType::Data {
                    return Err(Error::rejected(
                        "InvalidSnapshotId.NotDataDiskSnapshot",
                        "The specified snapshot is system disk snapshot.",
                    ));
                }
                Some(s)
            }
        };
        let size_gib = match (req.size_gib, &snapshot) {
            (Some(size), Some(s)) if size < s.source_disk_size => {
                return Err(Error::rejected(
                    "InvalidDiskSize.TooSmall",
                    "Specified disk size is less than the size of snapshot.",
                ))
            }
            (Some(size), _) => size,
            (None, Some(s)) => s.source_disk_size,
            (None, None) => {
                return Err(Error::rejected(
                    "MissingParameter",
                    "The input parameter either \"SnapshotId\" or \"Size\" should be specified.",
                ))
            }
        };
        let mut disk = self.new_disk_record(
            account_id,
            DiskType::Data,
            size_gib,
            req.name,
            req.description,
            req.category,
        );
        disk.delete_with_instance = false;
        disk.tags = req.tags;
        match snapshot {
            None => {
                self.create_disk_layers(&disk, None).await?;
                self.store.insert_disk(&disk).await?;
            }
            Some(snapshot) => {
                disk.status = DiskStatus::Creating;
                disk.source_snapshot_id = snapshot.snapshot_id.clone();
                self.store.insert_disk(&disk).await?;
                let disks = self.clone();
                let disk = disk.clone();
                tokio::spawn(async move { disks.copy_disk_from_snapshot(disk, snapshot).await });
            }
        }
        tracing::info!(disk_id = %disk.disk_id, size_gib, "disk created");
        Ok(disk.disk_id)
    }

    async fn copy_disk_from_snapshot(&self, disk: DiskRecord, snapshot: ecslab_store::SnapshotRecord) {
        let result = self.create_disk_layers_from_snapshot(&disk, &snapshot).await;
        match result {
            Ok(()) => {
                let _ = self.store.set_disk_status(&disk.disk_id, DiskStatus::Available).await;
                tracing::info!(disk_id = %disk.disk_id, snapshot_id = %snapshot.snapshot_id, "disk copied from snapshot");
            }
            Err(e) => {
                tracing::error!(disk_id = %disk.disk_id, error = %e.detail(), "copying a disk from a snapshot failed; the disk is removed");
                chain::remove_quietly(Path::new(&disk.path));
                chain::remove_quietly(Path::new(&disk.base_path));
                let _ = self.store.delete_disk(&disk.disk_id).await;
            }
        }
        self.collect_deleted_snapshots().await;
    }

    /// A disk left `Creating` by a restart: copy it again (or drop it when its snapshot is gone).
    pub(crate) async fn resume_disk_copy(self: &Arc<Self>, disk: DiskRecord) -> Result<()> {
        match self.store.snapshot_by_id(&disk.source_snapshot_id).await? {
            Some(snapshot) => {
                let disks = self.clone();
                tokio::spawn(async move { disks.copy_disk_from_snapshot(disk, snapshot).await });
            }
            None => self.store.delete_disk(&disk.disk_id).await?,
        }
        Ok(())
    }

    pub(crate) fn check_instance_for_disk_change(&self, instance: &InstanceRecord) -> Result<()> {
        if instance.locked_for_security() {
            return Err(Error::InstanceLockedForSecurity { instance_id: instance.instance_id.clone() });
        }
        if !matches!(instance.status, InstanceStatus::Running | InstanceStatus::Stopped) {
            return Err(Error::IncorrectInstanceStatus {
                instance_id: instance.instance_id.clone(),
                status: instance.status.to_string(),
            });
        }
        Ok(())
    }

    async fn vm_is_running(&self, instance: &InstanceRecord) -> bool {
        instance.status == InstanceStatus::Running
            && matches!(
                self.hypervisor.power_state(&instance.instance_id).await,
                Ok(PowerState::Running | PowerState::Suspended)
            )
    }

    pub async fn attach_disk(
        &self,
        account_id: &str,
        instance_id: &str,
        disk_id: &str,
        delete_with_instance: bool,
    ) -> Result<()> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        let disk = crate::lookup::disk(&self.store, account_id, disk_id).await?;
        self.check_instance_for_disk_change(&instance)?;
        match disk.status {
            DiskStatus::Available => {}
            DiskStatus::InUse => {
                return Err(Error::rejected("InvalidDisk.InUse", "The specified disk has been occupied."))
            }
            _ => {
                return Err(Error::rejected(
                    "IncorrectDiskStatus",
                    "The operation is not supported in this status.",
                ))
            }
        }
        if disk.disk_type != DiskType::Data || self.store.disk_has_operation(disk_id).await? {
            return Err(Error::rejected(
                "IncorrectDiskStatus",
                "The operation is not supported in this status.",
            ));
        }
        let attached = self.store.instance_disks(instance_id).await?;
        if attached.iter().filter(|d| d.disk_type == DiskType::Data).count() >= MAX_DATA_DISKS {
            return Err(Error::rejected(
                "InstanceDiskLimitExceeded",
                "The amount of the disk on instance in question reach its limits.",
            ));
        }
        let slot = attached.iter().map(|d| d.device_index).max().unwrap_or(0) + 1;
        if self.vm_is_running(&instance).await {
            // QEMU will follow the disk's backing chain: only ecslab's own layers may be in it.
            crate::chain::check_own_chain(Path::new(&disk.path))?;
            self.store
                .set_disk_attachment(
                    disk_id,
                    Some(instance_id),
                    slot,
                    DiskStatus::Attaching,
                    delete_with_instance,
                )
                .await?;
            let spec = DiskSpec { disk_id: disk_id.to_string(), path: PathBuf::from(&disk.path) };
            if let Err(e) = self.hypervisor.attach_disk(instance_id, &spec).await {
                self.store.set_disk_attachment(disk_id, None, 0, DiskStatus::Available, false).await?;
                return Err(Error::internal(format!(
                    "hot-plugging {disk_id}: {}",
                    crate::error::format_chain(&e)
                )));
            }
            self.store.mark_disks_used(instance_id).await?;
        }
        self.store
            .set_disk_attachment(disk_id, Some(instance_id), slot, DiskStatus::InUse, delete_with_instance)
            .await?;
        tracing::info!(disk_id, instance_id, slot, "disk attached");
        Ok(())
    }

    pub async fn detach_disk(&self, account_id: &str, instance_id: &str, disk_id: &str) -> Result<()> {
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
        let disk = crate::lookup::disk(&self.store, account_id, disk_id).await?;
        match disk.instance_id.as_deref() {
            None => {
                return Err(Error::rejected(
                    "InvalidDisk.AlreadyDetached",
                    "The specified disk has been detached.",
                ))
            }
            Some(other) if other != instance_id => {
                return Err(Error::rejected(
                    "DependencyViolation",
                    "The specified disk has not been attached on the specified instance.",
                ))
            }
            Some(_) => {}
        }
        if disk.disk_type == DiskType::System {
            return Err(Error::rejected(
                "DiskTypeViolation",
                "The specified disk is a system disk and cannot support the operation.",
            ));
        }
        self.check_instance_for_disk_change(&instance)?;
        if disk.status != DiskStatus::InUse || self.store.disk_has_operation(disk_id).await? {
            return Err(Error::rejected(
                "IncorrectDiskStatus",
                "The current disk status does not support this operation.",
            ));
        }
        if self.vm_is_running(&instance).await {
            self.store.set_disk_status(disk_id, DiskStatus::Detaching).await?;
            if let Err(e) = self.hypervisor.detach_disk(instance_id, disk_id).await {
                self.store.set_disk_status(disk_id, DiskStatus::InUse).await?;
                return Err(Error::internal(format!(
                    "hot-unplugging {disk_id}: {}",
                    crate::error::format_chain(&e)
                )));
            }
        }
        self.store.set_disk_attachment(disk_id, None, 0, DiskStatus::Available, false).await?;
        tracing::info!(disk_id, instance_id, "disk detached");
        Ok(())
    }

    pub async fn delete_disk(&self, account_id: &str, disk_id: &str) -> Result<()> {
        let disk = crate::lookup::disk(&self.store, account_id, disk_id).await?;
        if disk.status != DiskStatus::Available || self.store.disk_has_operation(disk_id).await? {
            return Err(Error::rejected(
                "IncorrectDiskStatus",
                "The current disk status does not support this operation.",
            ));
        }
        self.store.delete_disk(disk_id).await?;
        chain::remove_quietly(Path::new(&disk.path));
        chain::remove_quietly(Path::new(&disk.base_path));
        tracing::info!(disk_id, "disk deleted; its snapshots are kept");
        self.collect_deleted_snapshots().await;
        Ok(())
    }

    /// ResizeDisk: grow only. Live through QMP when the disk's VM runs, else with qemu-img.
    pub async fn resize_disk(&self, account_id: &str, disk_id: &str, new_size_gib: i64) -> Result<()> {
        let disk = crate::lookup::disk(&self.store, account_id, disk_id).await?;
        if new_size_gib <= disk.size_gib {
            return Err(Error::rejected(
                "InvalidDiskSize.TooSmall",
                format!("The new size {new_size_gib} GiB must be larger than the current {} GiB (disks only grow).", disk.size_gib),
            ));
        }
        if !matches!(disk.status, DiskStatus::InUse | DiskStatus::Available)
            || self.store.disk_has_operation(disk_id).await?
        {
            return Err(Error::rejected(
                "IncorrectDiskStatus",
                "The current disk status does not support this operation.",
            ));
        }
        let instance = match &disk.instance_id {
            Some(id) => self.store.instance_by_id(id).await?,
            None => None,
        };
        if let Some(instance) = &instance {
            self.check_instance_for_disk_change(instance)?;
        }
        match instance {
            Some(i) if self.vm_is_running(&i).await => self
                .hypervisor
                .resize_disk(&i.instance_id, disk_id, new_size_gib as u64 * GIB)
                .await
                .map_err(|e| {
                    Error::internal(format!("resizing {disk_id} live: {}", crate::error::format_chain(&e)))
                })?,
            _ => {
                chain::resize(&self.config.qemu_img, Path::new(&disk.base_path), new_size_gib).await?;
                chain::resize(&self.config.qemu_img, Path::new(&disk.path), new_size_gib).await?;
            }
        }
        self.store.set_disk_size(disk_id, new_size_gib).await?;
        tracing::info!(disk_id, new_size_gib, "disk resized");
        Ok(())
    }

    pub async fn describe_disks(
        &self,
        account_id: &str,
        filter: &DiskFilter,
        paging: &Paging,
    ) -> Result<Page<DiskRecord>> {
        let query = DiskQuery {
            disk_ids: filter.disk_ids.clone(),
            instance_id: filter.instance_id.clone(),
            disk_type: filter.disk_type,
            status: filter.status,
            name_pattern: filter.name.clone(),
            source_snapshot_id: filter.snapshot_id.clone(),
            portable: filter.portable,
            tags: filter.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        };
        let listed = self.store.disks_page(account_id, &query, &window_with_bare_keys(paging)?).await?;
        Ok(page_of(listed, paging, |d| sort_key(&d.created_at, &d.disk_id)))
    }

    /// Periodic work: releasing snapshots whose retention is over, retrying failed merges.
    pub(crate) fn spawn_housekeeping(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.config.housekeeping_interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.release_expired_snapshots().await {
                    tracing::warn!(error = %crate::error::format_chain(&e), "snapshot retention sweep failed");
                }
                if let Err(e) = self.retry_failed_merges().await {
                    tracing::warn!(error = %crate::error::format_chain(&e), "retrying failed snapshot merges failed");
                }
            }
        });
    }
}
