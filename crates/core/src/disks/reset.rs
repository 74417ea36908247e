//! ResetDisk: a disk back to one of its snapshots. The new base is a private copy of the
//! snapshot's chain and the new top is empty; the switch to them is one store update, so a
//! restart either rolls the build back (step `build`) or finishes the switch (step `switch`).

use super::Disks;
use crate::ids::new_id;
use crate::work::{crash_point, encode, CrashPoint, ResetDiskOp};
use crate::{chain, Error, InstanceStatus, Resource, Result};
use ecslab_store::{now_rfc3339, DiskStatus, OperationKind, OperationRecord, OperationStep, SnapshotStatus};
use std::path::{Path, PathBuf};

impl Disks {
    // ---- ResetDisk ---------------------------------------------------------------------------------

    pub async fn reset_disk(
        &self,
        account_id: &str,
        disk_id: &str,
        snapshot_id: &str,
        dry_run: bool,
    ) -> Result<()> {
        let disk = crate::lookup::disk(&self.store, account_id, disk_id).await?;
        let snapshot = self
            .store
            .snapshot(account_id, snapshot_id)
            .await?
            .ok_or_else(|| Error::NotFound { resource: Resource::Snapshot, id: snapshot_id.to_string() })?;
        if snapshot.source_disk_id != disk.disk_id {
            return Err(Error::rejected(
                "InvalidParameter.Mismatch",
                "The specified snapshot is not created from the specified disk.",
            ));
        }
        if snapshot.status != SnapshotStatus::Accomplished {
            return Err(Error::rejected(
                "InvalidSnapshotId.NotReady",
                "The specified snapshot has not completed yet.",
            ));
        }
        let instance_id = disk.instance_id.clone().ok_or_else(|| {
            Error::rejected("IncorrectDiskStatus", "The current disk status does not support this operation.")
        })?;
        let instance = crate::lookup::instance(&self.store, account_id, &instance_id).await?;
        if instance.locked_for_security() {
            return Err(Error::InstanceLockedForSecurity { instance_id });
        }
        if instance.status != InstanceStatus::Stopped {
            return Err(Error::IncorrectInstanceStatus { instance_id, status: instance.status.to_string() });
        }
        if self.store.disk_has_operation(disk_id).await? {
            return Err(Error::rejected(
                "IncorrectDiskStatus.CreatingSnapshot",
                "A previous snapshot creation is in process.",
            ));
        }
        if dry_run {
            return Err(Error::DryRunOperation);
        }
        let op = ResetDiskOp {
            disk_id: disk_id.to_string(),
            snapshot_id: snapshot_id.to_string(),
            old_top: PathBuf::from(&disk.path),
            old_base: PathBuf::from(&disk.base_path),
            new_top: self.config.new_layer_path(),
            new_base: self.config.new_layer_path(),
        };
        let operation = OperationRecord {
            operation_id: new_id("op"),
            kind: OperationKind::ResetDisk,
            disk_id: disk_id.to_string(),
            step: OperationStep::Build,
            payload: encode(&op)?,
            created_at: now_rfc3339(),
        };
        self.store.insert_operation(&operation).await?;
        self.store.set_disk_status(disk_id, DiskStatus::ReIniting).await?;
        let image = (!snapshot.image_path.is_empty()).then(|| PathBuf::from(&snapshot.image_path));
        let built = async {
            let _chain = self.chain_lock.lock().await;
            chain::materialize(
                &self.config.qemu_img,
                Path::new(&snapshot.path),
                image.as_deref(),
                &op.new_base,
            )
            .await?;
            if disk.size_gib > snapshot.source_disk_size {
                chain::resize(&self.config.qemu_img, &op.new_base, disk.size_gib).await?;
            }
            chain::create(&self.config.qemu_img, &op.new_top, Some(&op.new_base), None).await
        }
        .await;
        if let Err(e) = built {
            self.roll_back_reset(&operation.operation_id, &op).await?;
            return Err(e);
        }
        crash_point(CrashPoint::ResetAfterBuild);
        self.store
            .set_operation_step(&operation.operation_id, OperationStep::Switch, &operation.payload)
            .await?;
        self.switch_reset(&operation.operation_id, &op).await?;
        tracing::info!(disk_id, snapshot_id, "disk reset to snapshot");
        self.collect_deleted_snapshots().await;
        Ok(())
    }

    async fn roll_back_reset(&self, operation_id: &str, op: &ResetDiskOp) -> Result<()> {
        for path in [&op.new_top, &op.new_base, &chain::partial_path(&op.new_base)] {
            chain::remove_quietly(path);
        }
        self.store.set_disk_status(&op.disk_id, DiskStatus::InUse).await?;
        self.store.finish_operation(operation_id).await?;
        Ok(())
    }

    async fn switch_reset(&self, operation_id: &str, op: &ResetDiskOp) -> Result<()> {
        self.store
            .set_disk_files(
                &op.disk_id,
                &op.new_top.display().to_string(),
                &op.new_base.display().to_string(),
                &op.snapshot_id,
            )
            .await?;
        crash_point(CrashPoint::ResetAfterSwitch);
        chain::remove_quietly(&op.old_top);
        chain::remove_quietly(&op.old_base);
        self.store.set_disk_status(&op.disk_id, DiskStatus::InUse).await?;
        self.store.finish_operation(operation_id).await?;
        Ok(())
    }

    /// Finish (switched) or roll back (still building) a ResetDisk a previous server process
    /// left unfinished.
    pub(crate) async fn resume_reset(&self, operation: &OperationRecord, op: &ResetDiskOp) -> Result<()> {
        match operation.step {
            OperationStep::Build => self.roll_back_reset(&operation.operation_id, op).await,
            _ => self.switch_reset(&operation.operation_id, op).await,
        }
    }
}
