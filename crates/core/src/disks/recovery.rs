//! What a restart and the housekeeping loop do for snapshots: a CreateSnapshot left at `freeze`
//! is rolled back or carried on, a merge that failed (a full disk) is retried, snapshots whose
//! RetentionDays are over are released, and boots wait while chain work runs on their disks.

use super::Disks;
use crate::work::CreateSnapshotOp;
use crate::work::Operation;
use crate::{chain, Error, Result};
use ecslab_store::{DiskRecord, OperationRecord, OperationStep, SnapshotStatus};
use std::sync::Arc;
use std::time::Duration;

impl Disks {
    /// Finish a CreateSnapshot a previous server process left unfinished (a freeze that never
    /// reached its overlay is rolled back).
    pub(crate) async fn resume_snapshot(
        self: &Arc<Self>,
        operation: OperationRecord,
        op: CreateSnapshotOp,
    ) -> Result<()> {
        if operation.step == OperationStep::Freeze {
            if !chain::is_valid(&self.config.qemu_img, &op.new_top).await {
                // The point in time was never taken: nothing to undo but the record.
                chain::remove_quietly(&op.new_top);
                self.store
                    .set_snapshot_progress(
                        &op.snapshot_id,
                        SnapshotStatus::Failed,
                        0,
                        "interrupted by a server restart",
                    )
                    .await?;
                self.store.finish_operation(&operation.operation_id).await?;
                return Ok(());
            }
            let disk =
                self.store.disk_by_id(&op.disk_id).await?.ok_or_else(|| Error::internal("disk vanished"))?;
            self.store
                .set_disk_files(
                    &op.disk_id,
                    &op.new_top.display().to_string(),
                    &disk.base_path,
                    &disk.parent_snapshot_id,
                )
                .await?;
        }
        self.clone().retry_snapshot(operation, op).await
    }

    /// Take up a snapshot's merge again (after a restart, or a failure).
    async fn retry_snapshot(self: Arc<Self>, operation: OperationRecord, op: CreateSnapshotOp) -> Result<()> {
        if self.store.disk_by_id(&op.disk_id).await?.is_none() {
            // The disk went away with its instance: its chain is gone, and so is this snapshot.
            tracing::warn!(snapshot_id = %op.snapshot_id, "the disk of an unfinished snapshot was deleted; dropping the snapshot");
            chain::remove_quietly(&op.top);
            self.store.remove_snapshot_row(&op.snapshot_id).await?;
            self.store.finish_operation(&operation.operation_id).await?;
            return Ok(());
        }
        let step = match operation.step {
            OperationStep::Failed => OperationStep::Commit,
            other => other,
        };
        self.store.set_operation_step(&operation.operation_id, step, &operation.payload).await?;
        tokio::spawn(async move { self.finish_snapshot(&operation.operation_id, op, step).await });
        Ok(())
    }

    /// Retry snapshot merges that failed (e.g. the disk was full), from the housekeeping loop.
    pub(crate) async fn retry_failed_merges(self: &Arc<Self>) -> Result<()> {
        for operation in self.store.operations().await? {
            if operation.step != OperationStep::Failed {
                continue;
            }
            if let Operation::CreateSnapshot(op) = Operation::decode(&operation)? {
                tracing::info!(snapshot_id = %op.snapshot_id, "retrying a failed snapshot merge");
                self.clone().retry_snapshot(operation, op).await?;
            }
        }
        Ok(())
    }

    /// Wait until no chain operation runs on any of `disks` (a VM must not open files that
    /// qemu-img is rewriting).
    pub(crate) async fn wait_for_disk_operations(&self, disks: &[DiskRecord], limit: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let mut busy = false;
            let operations = self.store.operations().await?;
            for disk in disks {
                busy |=
                    operations.iter().any(|o| o.disk_id == disk.disk_id && o.step != OperationStep::Failed);
            }
            if !busy {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::internal("disk operations did not finish in time"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Release snapshots whose RetentionDays have passed.
    pub(crate) async fn release_expired_snapshots(&self) -> Result<()> {
        let now = chrono::Utc::now();
        for s in self.store.all_snapshots().await? {
            if s.deleted || s.retention_days <= 0 || s.status == SnapshotStatus::Progressing {
                continue;
            }
            if is_expired(&s.created_at, s.retention_days, now) {
                tracing::info!(snapshot_id = %s.snapshot_id, retention_days = s.retention_days, "retention period over; releasing the snapshot");
                if let Err(e) = self.delete_snapshot(&s.account_id, &s.snapshot_id, true).await {
                    tracing::warn!(snapshot_id = %s.snapshot_id, error = %e.detail(), "could not release an expired snapshot");
                }
            }
        }
        Ok(())
    }
}

/// Whether a snapshot created at `created_at` (RFC 3339) with `days` of retention has expired.
pub fn is_expired(created_at: &str, days: i64, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(created_at)
        .map(|t| now.signed_duration_since(t) >= chrono::Duration::days(days))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retention_expiry() {
        let now =
            chrono::DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert!(super::is_expired("2026-11-21T00:00:00Z", 2, now));
        assert!(!super::is_expired("2026-11-21T00:00:01Z", 2, now));
        assert!(!super::is_expired("garbage", 1, now));
    }
}
