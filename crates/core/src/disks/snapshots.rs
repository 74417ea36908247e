//! Disk snapshots on qcow2 external snapshots: CreateSnapshot, DescribeSnapshots,
//! DeleteSnapshot, ResetDisk, and the recovery of every multi-step chain operation.
//!
//! The file layout is described in [`crate::chain`]. Taking snapshot S of a disk whose files
//! are `top ──► base` goes through persisted steps (the `operations` table):
//!
//! 1. **freeze** (inside the API call): a new empty overlay `new_top` goes on top of `top`, live
//!    over QMP (`blockdev-snapshot-sync`, no guest pause) or with qemu-img when the VM is off.
//!    From here `top` is read-only: it is S's file, holding what changed since the parent.
//! 2. **commit** (background, the Progress users see): `top`'s data is merged into `base`
//!    (live `block-commit` of an intermediate layer, or `qemu-img commit`), and `new_top` is
//!    re-pointed at `base`. The VM reads through three layers again.
//! 3. **seal**: S's file header is pointed at the parent snapshot's file (both read the same
//!    content as the old base), S becomes `accomplished`, and the disk's base now holds S.
//!
//! Each step is idempotent and every intermediate state reads the same content through every
//! header chain, so a restart re-runs the step it was at (a freeze that never reached its
//! overlay is rolled back). Deleting a snapshot hides it at once; its file is merged into its
//! children by [`Disks::collect_deleted_snapshots`] as soon as no disk's base stands for it.

use super::Disks;
use crate::ids::new_id;
use crate::listing::{page_of, sort_key, window_with_bare_keys, Page};
use crate::requests::{CreateSnapshot, Paging, SnapshotFilter, SnapshotUsage};
use crate::work::{crash_point, encode, CrashPoint, CreateSnapshotOp, Operation};
use crate::{chain, Error, InstanceStatus, Resource, Result};
use ecslab_store::{
    now_rfc3339, DiskRecord, DiskStatus, ListedPage, OperationKind, OperationRecord, OperationStep,
    SnapshotAdmission, SnapshotQuery, SnapshotRecord, SnapshotStatus,
};
use ecslab_vmm::{DiskOverlay, PowerState};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Disks {
    // ---- CreateSnapshot --------------------------------------------------------------------------

    pub async fn create_snapshot(self: &Arc<Self>, account_id: &str, req: CreateSnapshot) -> Result<String> {
        let disk = crate::lookup::disk(&self.store, account_id, &req.disk_id).await?;
        let instance = self.check_snapshot_rules(&disk).await?;
        let mut ids =
            self.snapshot_disks_at_one_point(account_id, instance.as_ref(), vec![(disk, req)]).await?;
        ids.pop().ok_or_else(|| Error::internal("no snapshot was taken"))
    }

    /// Snapshots of several disks of one instance taken at the same point in time (one
    /// transaction in the VM when it runs), each then finished on its own in the background.
    /// Either every snapshot is admitted and frozen, or none is left behind. The disks were
    /// checked by [`Self::check_snapshot_rules`]; each request names its disk.
    pub(crate) async fn snapshot_disks_at_one_point(
        self: &Arc<Self>,
        account_id: &str,
        instance: Option<&ecslab_store::InstanceRecord>,
        requests: Vec<(DiskRecord, CreateSnapshot)>,
    ) -> Result<Vec<String>> {
        let running = match instance {
            Some(i) if i.status == InstanceStatus::Running => {
                matches!(
                    self.hypervisor.power_state(&i.instance_id).await,
                    Ok(PowerState::Running | PowerState::Suspended)
                )
            }
            _ => false,
        };
        let mut admitted: Vec<(DiskRecord, CreateSnapshotOp, String)> = Vec::new();
        for (disk, req) in requests {
            match self.admit_snapshot(account_id, instance, running, &disk, req).await {
                Ok((op, operation_id)) => admitted.push((disk, op, operation_id)),
                Err(e) => {
                    for (_, op, operation_id) in &admitted {
                        self.store.remove_snapshot_row(&op.snapshot_id).await?;
                        self.store.finish_operation(operation_id).await?;
                    }
                    return Err(e);
                }
            }
        }
        if let Err(e) = self.freeze(admitted.iter().map(|(_, op, _)| op)).await {
            let reason = e.detail();
            for (_, op, operation_id) in &admitted {
                tracing::error!(snapshot_id = %op.snapshot_id, %reason, "taking the point in time failed");
                chain::remove_quietly(&op.new_top);
                self.store.set_snapshot_progress(&op.snapshot_id, SnapshotStatus::Failed, 0, &reason).await?;
                self.store.finish_operation(operation_id).await?;
            }
            return Err(Error::rejected(
                "CreateSnapshot.Failed",
                "The process of creating snapshot is failed.",
            ));
        }
        crash_point(CrashPoint::SnapshotAfterFreeze);
        let mut ids = Vec::with_capacity(admitted.len());
        for (disk, op, operation_id) in admitted {
            self.store
                .set_disk_files(
                    &disk.disk_id,
                    &op.new_top.display().to_string(),
                    &disk.base_path,
                    &disk.parent_snapshot_id,
                )
                .await?;
            self.store.set_operation_step(&operation_id, OperationStep::Commit, &encode(&op)?).await?;
            self.store.raise_snapshot_progress(&op.snapshot_id, 10).await?;
            tracing::info!(snapshot_id = %op.snapshot_id, disk_id = %disk.disk_id, live = running, "point in time taken");
            ids.push(op.snapshot_id.clone());
            let cloud = self.clone();
            tokio::spawn(
                async move { cloud.finish_snapshot(&operation_id, op, OperationStep::Commit).await },
            );
        }
        Ok(ids)
    }

    /// Record one progressing snapshot and its `freeze` operation, within ECS's per-disk rules
    /// (one in progress, the quota). Returns the operation's state and id.
    async fn admit_snapshot(
        &self,
        account_id: &str,
        instance: Option<&ecslab_store::InstanceRecord>,
        running: bool,
        disk: &DiskRecord,
        req: CreateSnapshot,
    ) -> Result<(CreateSnapshotOp, String)> {
        let parent_file = self.snapshot_parent_file(disk).await?;
        let snapshot_id = new_id("s");
        let now = now_rfc3339();
        let op = CreateSnapshotOp {
            snapshot_id: snapshot_id.clone(),
            disk_id: disk.disk_id.clone(),
            instance_id: instance.filter(|_| running).map(|i| i.instance_id.clone()),
            top: PathBuf::from(&disk.path),
            new_top: self.config.new_layer_path(),
            base: PathBuf::from(&disk.base_path),
            parent_snapshot_id: disk.parent_snapshot_id.clone(),
            parent_file,
        };
        let image_path = self.disk_image_path(disk).await?;
        let record = SnapshotRecord {
            snapshot_id: snapshot_id.clone(),
            account_id: account_id.to_string(),
            source_disk_id: disk.disk_id.clone(),
            source_disk_type: disk.disk_type,
            source_disk_size: disk.size_gib,
            name: req.name,
            description: req.description,
            status: SnapshotStatus::Progressing,
            progress: 0,
            path: disk.path.clone(),
            parent_snapshot_id: String::new(),
            image_path: image_path.map(|p| p.display().to_string()).unwrap_or_default(),
            retention_days: req.retention_days,
            tags: req.tags,
            deleted: false,
            failure_reason: String::new(),
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let operation = OperationRecord {
            operation_id: new_id("op"),
            kind: OperationKind::CreateSnapshot,
            disk_id: disk.disk_id.clone(),
            step: OperationStep::Freeze,
            payload: encode(&op)?,
            created_at: now,
        };
        match self.store.insert_snapshot(&record, &operation, self.config.snapshot_quota).await? {
            SnapshotAdmission::Inserted => Ok((op, operation.operation_id)),
            SnapshotAdmission::InProgress => Err(Error::rejected(
                "IncorrectDiskStatus.CreatingSnapshot",
                "A previous snapshot creation is in process.",
            )),
            SnapshotAdmission::QuotaExceeded => {
                Err(Error::rejected("QuotaExceed.Snapshot", "The snapshot quota exceeds."))
            }
        }
    }

    /// ECS's preconditions for CreateSnapshot. Returns the instance the disk is attached to.
    pub(crate) async fn check_snapshot_rules(
        &self,
        disk: &DiskRecord,
    ) -> Result<Option<ecslab_store::InstanceRecord>> {
        if !disk.ever_attached {
            return Err(Error::rejected(
                "IncorrectDiskStatus.NeverAttached",
                "The specified disk has never been attached to any instance.",
            ));
        }
        if !disk.ever_used {
            return Err(Error::rejected(
                "IncorrectDiskStatus.NeverUsed",
                "The specified disk has never been used after creating.",
            ));
        }
        if disk.status == DiskStatus::Creating {
            return Err(Error::rejected(
                "IncorrectDiskStatus.Transferring",
                "The specified device is transferring, you can retry after the process is finished.",
            ));
        }
        let instance = match &disk.instance_id {
            Some(id) => self.store.instance_by_id(id).await?,
            None => None,
        };
        if let Some(instance) = &instance {
            if instance.locked_for_security() {
                return Err(Error::rejected(
                    "InstanceLockedForSecurity",
                    "The disk attached instance is locked due to security.",
                ));
            }
            if !matches!(instance.status, InstanceStatus::Running | InstanceStatus::Stopped) {
                return Err(Error::IncorrectInstanceStatus {
                    instance_id: instance.instance_id.clone(),
                    status: instance.status.to_string(),
                });
            }
        }
        if self.store.disk_has_operation(&disk.disk_id).await? {
            return Err(Error::rejected(
                "IncorrectDiskStatus.CreatingSnapshot",
                "A previous snapshot creation is in process.",
            ));
        }
        Ok(instance)
    }

    /// The file a new snapshot of `disk` will name as its parent.
    async fn snapshot_parent_file(&self, disk: &DiskRecord) -> Result<Option<PathBuf>> {
        if !disk.parent_snapshot_id.is_empty() {
            let parent = self.store.snapshot_by_id(&disk.parent_snapshot_id).await?.ok_or_else(|| {
                Error::internal(format!("disk {} names a missing parent snapshot", disk.disk_id))
            })?;
            return Ok(Some(PathBuf::from(parent.path)));
        }
        self.disk_image_path(disk).await
    }

    /// The image file at the bottom of a disk's chain (system disks), if any.
    async fn disk_image_path(&self, disk: &DiskRecord) -> Result<Option<PathBuf>> {
        if disk.image_id.is_empty() {
            return Ok(None);
        }
        let image = self.store.image(&disk.account_id, &disk.image_id).await?;
        Ok(image.map(|i| PathBuf::from(i.path)))
    }

    /// Step 1: the point in time, for every disk at once.
    async fn freeze<'a>(&self, ops: impl Iterator<Item = &'a CreateSnapshotOp>) -> Result<()> {
        let ops: Vec<&CreateSnapshotOp> = ops.collect();
        let live_vm = ops.iter().find_map(|op| op.instance_id.clone());
        match live_vm {
            Some(vm_id) => {
                let overlays: Vec<DiskOverlay> = ops
                    .iter()
                    .map(|op| DiskOverlay {
                        disk_id: op.disk_id.clone(),
                        current_top: op.top.clone(),
                        new_top: op.new_top.clone(),
                    })
                    .collect();
                self.hypervisor
                    .snapshot_disks(&vm_id, &overlays)
                    .await
                    .map_err(|e| Error::internal(crate::error::format_chain(&e)))
            }
            None => {
                for op in ops {
                    chain::create(&self.config.qemu_img, &op.new_top, Some(&op.top), None).await?;
                }
                Ok(())
            }
        }
    }

    /// Steps 2 and 3, run after the API call answered (and again after a restart).
    /// `step` is where the operation stands: `commit` or `seal` (after a restart). The merge
    /// must not run again once sealing began: the frozen layer's header then names the parent
    /// snapshot's file, and committing it would write into that snapshot.
    pub(super) async fn finish_snapshot(
        self: Arc<Self>,
        operation_id: &str,
        op: CreateSnapshotOp,
        step: OperationStep,
    ) {
        let result = async {
            if step != OperationStep::Seal {
                self.merge_into_base(&op).await?;
                crash_point(CrashPoint::SnapshotAfterCommit);
                self.store.set_operation_step(operation_id, OperationStep::Seal, &encode(&op)?).await?;
            }
            self.seal(operation_id, &op).await
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(snapshot_id = %op.snapshot_id, "snapshot accomplished");
                self.collect_deleted_snapshots().await;
            }
            Err(e) => {
                // The snapshot fails, not the instance: the disk stays readable and bootable as
                // new_top ──► top ──► base, and the merge is retried by the housekeeping loop and
                // at the next start (a full disk may have room again by then). Meanwhile the
                // operation is parked as `failed` so it does not hold up the instance.
                let reason = e.detail();
                tracing::error!(snapshot_id = %op.snapshot_id, %reason, "snapshot creation failed; the merge will be retried");
                let _ = self
                    .store
                    .set_snapshot_progress(&op.snapshot_id, SnapshotStatus::Failed, 0, &reason)
                    .await;
                if let Ok(payload) = encode(&op) {
                    let _ =
                        self.store.set_operation_step(operation_id, OperationStep::Failed, &payload).await;
                }
            }
        }
    }

    /// Step 2: merge the frozen layer into the disk's base, live when its VM runs.
    async fn merge_into_base(&self, op: &CreateSnapshotOp) -> Result<()> {
        let store = self.store.clone();
        let snapshot_id = op.snapshot_id.clone();
        let report = move |pct: u8| {
            let store = store.clone();
            let snapshot_id = snapshot_id.clone();
            tokio::spawn(async move {
                let progress = 10 + i64::from(pct) * 80 / 100;
                let _ = store.raise_snapshot_progress(&snapshot_id, progress).await;
            });
        };
        let instance_id = self.attached_instance(&op.disk_id).await?;
        if let Some(vm_id) = instance_id {
            if matches!(
                self.hypervisor.power_state(&vm_id).await,
                Ok(PowerState::Running | PowerState::Suspended)
            ) {
                match self.hypervisor.commit_layer(&vm_id, &op.disk_id, &op.top, &op.base, &report).await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        if matches!(
                            self.hypervisor.power_state(&vm_id).await,
                            Ok(PowerState::Running | PowerState::Suspended)
                        ) {
                            return Err(Error::internal(crate::error::format_chain(&e)));
                        }
                        tracing::info!(snapshot_id = %op.snapshot_id, "the VM stopped during the merge; finishing it offline");
                    }
                }
            }
        }
        chain::commit(&self.config.qemu_img, &op.top).await?;
        chain::set_backing_name(&self.config.qemu_img, &op.new_top, Some(&op.base)).await?;
        report(100);
        Ok(())
    }

    /// The instance a disk is attached to, if any.
    async fn attached_instance(&self, disk_id: &str) -> Result<Option<String>> {
        Ok(self.store.disk_by_id(disk_id).await?.and_then(|d| d.instance_id))
    }

    /// Step 3: point the snapshot's file at its parent and record the outcome.
    async fn seal(&self, operation_id: &str, op: &CreateSnapshotOp) -> Result<()> {
        let _chain = self.chain_lock.lock().await;
        chain::set_backing_name(&self.config.qemu_img, &op.top, op.parent_file.as_deref()).await?;
        crash_point(CrashPoint::SnapshotAfterSealHeader);
        // A snapshot reported failed earlier (its merge failed and was retried) is not offered
        // to users after all: it is sealed for the chain's sake and then collected.
        self.store.seal_snapshot(&op.snapshot_id, &op.parent_snapshot_id, &op.disk_id, operation_id).await?;
        Ok(())
    }

    // ---- DescribeSnapshots -------------------------------------------------------------------------

    pub async fn describe_snapshots(
        &self,
        account_id: &str,
        filter: &SnapshotFilter,
        paging: &Paging,
    ) -> Result<Page<ListedSnapshot>> {
        let query = SnapshotQuery {
            instance_id: filter.instance_id.clone(),
            source_disk_id: filter.disk_id.clone(),
            snapshot_ids: filter.snapshot_ids.clone(),
            name_pattern: filter.name.clone(),
            status: filter.status,
            source_disk_type: filter.source_disk_type,
            usage: filter.usage.map(SnapshotUsage::to_use),
            created_after: filter.created_after.clone(),
            created_before: filter.created_before.clone(),
            tags: filter.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
            matches_nothing: filter.only_automatic,
        };
        let listed = self.store.snapshots_page(account_id, &query, &window_with_bare_keys(paging)?).await?;
        let listed = ListedPage {
            items: listed
                .items
                .into_iter()
                .map(|s| ListedSnapshot { snapshot: s.snapshot, usage: SnapshotUsage::of(s.used) })
                .collect(),
            total: listed.total,
            more: listed.more,
        };
        Ok(page_of(listed, paging, |l| sort_key(&l.snapshot.created_at, &l.snapshot.snapshot_id)))
    }

    // ---- DeleteSnapshot ----------------------------------------------------------------------------

    pub async fn delete_snapshot(&self, account_id: &str, snapshot_id: &str, force: bool) -> Result<()> {
        let snapshot = self
            .store
            .snapshot(account_id, snapshot_id)
            .await?
            .ok_or_else(|| Error::NotFound { resource: Resource::Snapshot, id: snapshot_id.to_string() })?;
        if self.store.images_from_snapshot(snapshot_id).await? > 0 {
            return Err(Error::rejected(
                "SnapshotCreatedImage",
                "The snapshot has been used to create user defined image(s).",
            ));
        }
        let copying = self
            .store
            .disks_from_snapshot(snapshot_id)
            .await?
            .iter()
            .any(|d| d.status == DiskStatus::Creating);
        if copying && !force {
            return Err(Error::rejected(
                "SnapshotCreatedDisk",
                "The snapshot has been used to create disk(s).",
            ));
        }
        self.store.mark_snapshot_deleted(snapshot_id).await?;
        tracing::info!(
            snapshot_id,
            in_progress = snapshot.status == SnapshotStatus::Progressing,
            "snapshot deleted"
        );
        if snapshot.status != SnapshotStatus::Progressing {
            self.collect_deleted_snapshots().await;
        }
        Ok(())
    }

    /// Merge away the files of deleted snapshots that nothing needs any more: each child is
    /// rebased onto the deleted snapshot's parent (keeping its content), then the file goes.
    /// A deleted snapshot stays while a disk's base stands for it (the disk's next snapshot
    /// will name it as parent) or while a disk is still being copied from it.
    pub async fn collect_deleted_snapshots(&self) {
        if let Err(e) = self.try_collect_deleted_snapshots().await {
            tracing::error!(error = %e.detail(), "removing deleted snapshot files failed; will retry");
        }
        if let Err(e) = self.images.collect_deleted_images().await {
            tracing::error!(error = %e.detail(), "removing files of deleted images failed; will retry");
        }
    }

    async fn try_collect_deleted_snapshots(&self) -> Result<()> {
        let _chain = self.chain_lock.lock().await;
        let disks = self.store.all_disks().await?;
        let mut needed = std::collections::HashSet::new();
        let mut unreadable = false;
        for operation in self.store.operations().await? {
            match snapshots_needed_by(&operation) {
                Some(ids) => needed.extend(ids),
                // Its payload cannot be read: it may need any snapshot, so none goes.
                None => unreadable = true,
            }
        }
        loop {
            let snapshots = self.store.all_snapshots().await?;
            let removable = snapshots.iter().find(|g| {
                g.deleted
                    && g.status != SnapshotStatus::Progressing
                    && !unreadable
                    && !needed.contains(&g.snapshot_id)
                    && !disks.iter().any(|d| d.parent_snapshot_id == g.snapshot_id)
                    && !disks
                        .iter()
                        .any(|d| d.source_snapshot_id == g.snapshot_id && d.status == DiskStatus::Creating)
            });
            let Some(gone) = removable else { return Ok(()) };
            let parent_file = match snapshots.iter().find(|s| s.snapshot_id == gone.parent_snapshot_id) {
                Some(parent) => Some(PathBuf::from(&parent.path)),
                None if gone.image_path.is_empty() => None,
                None => Some(PathBuf::from(&gone.image_path)),
            };
            for child in snapshots.iter().filter(|s| s.parent_snapshot_id == gone.snapshot_id) {
                chain::rebase(&self.config.qemu_img, Path::new(&child.path), parent_file.as_deref()).await?;
                crash_point(CrashPoint::DeleteAfterRebase);
                self.store.set_snapshot_parent(&child.snapshot_id, &gone.parent_snapshot_id).await?;
            }
            chain::remove_quietly(Path::new(&gone.path));
            crash_point(CrashPoint::DeleteAfterRemoveFile);
            self.store.remove_snapshot_row(&gone.snapshot_id).await?;
            tracing::info!(snapshot_id = %gone.snapshot_id, "deleted snapshot's file merged into its children and removed");
        }
    }
}

/// The snapshots a pending operation still works on (their files must stay), read from its
/// typed payload; `None` when the payload cannot be read.
fn snapshots_needed_by(operation: &OperationRecord) -> Option<Vec<String>> {
    match Operation::decode(operation).ok()? {
        Operation::CreateSnapshot(op) => Some(vec![op.snapshot_id, op.parent_snapshot_id]),
        Operation::ResetDisk(op) => Some(vec![op.snapshot_id]),
        // An image change names no snapshot: the old disk's snapshots stay where they are.
        Operation::ImageChange(_) => Some(Vec::new()),
    }
}

/// A snapshot as DescribeSnapshots lists it: the record and its ECS `Usage` (what was made
/// from it), read for the whole listing at once.
#[derive(Debug, Clone)]
pub struct ListedSnapshot {
    pub snapshot: SnapshotRecord,
    pub usage: SnapshotUsage,
}

#[cfg(test)]
mod tests {
    #[test]
    fn pending_operations_keep_the_snapshots_their_payload_names() {
        use super::*;
        use crate::work::ResetDiskOp;
        let operation = |kind, payload: String| OperationRecord {
            operation_id: "op-1".into(),
            kind,
            disk_id: "d-1".into(),
            step: OperationStep::Commit,
            payload,
            created_at: String::new(),
        };
        let create = CreateSnapshotOp {
            snapshot_id: "s-new".into(),
            disk_id: "d-1".into(),
            instance_id: None,
            top: "/l/top".into(),
            new_top: "/l/new".into(),
            base: "/l/base".into(),
            parent_snapshot_id: "s-parent".into(),
            parent_file: Some("/l/s-other-named-file".into()),
        };
        let payload = encode(&create).unwrap();
        assert_eq!(
            snapshots_needed_by(&operation(OperationKind::CreateSnapshot, payload)),
            Some(vec!["s-new".to_string(), "s-parent".to_string()]),
            "a file path that happens to hold an id does not count"
        );
        let reset = ResetDiskOp {
            disk_id: "d-1".into(),
            snapshot_id: "s-target".into(),
            old_top: "/l/a".into(),
            old_base: "/l/b".into(),
            new_top: "/l/c".into(),
            new_base: "/l/d".into(),
        };
        let payload = encode(&reset).unwrap();
        assert_eq!(
            snapshots_needed_by(&operation(OperationKind::ResetDisk, payload)),
            Some(vec!["s-target".to_string()])
        );
        assert_eq!(
            snapshots_needed_by(&operation(OperationKind::ImageChange, "{}".into())),
            None,
            "an unreadable payload of any kind keeps every snapshot"
        );
        assert_eq!(snapshots_needed_by(&operation(OperationKind::ResetDisk, "not json".into())), None);
    }
}
