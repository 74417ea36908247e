//! Disk work on a running VM over QMP: live external snapshots (`transaction` of
//! `blockdev-snapshot-sync`), merging a frozen layer into the one below it (`block-commit` of an
//! intermediate layer, polled through `query-jobs` for its progress), hot-plug and hot-unplug
//! (`blockdev-add` + `device_add`, `device_del` + `blockdev-del`) and live growth
//! (`block_resize`).
//!
//! Node names change as snapshots are taken (each overlay gets a fresh one), so every operation
//! first looks up the nodes it needs: the device's current root through `query-block`, and
//! layers by file name through `query-named-block-nodes`.

use super::{argv, LiveVm, QemuDriver};
use crate::{DiskOverlay, DiskSpec, ProgressFn, VmError};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a merge job may run before it is given up (a 20 GiB delta at 100 MB/s is 3.5 min).
const JOB_LIMIT: Duration = Duration::from_secs(3600);
/// How long the guest gets to release a hot-unplugged disk.
const UNPLUG_LIMIT: Duration = Duration::from_secs(30);

static NODE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh node name (QEMU allows 31 characters).
fn fresh_node_name() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("ov{:x}{}", nanos & 0xffff_ffff_ffff, NODE_COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn device_id(disk_id: &str) -> String {
    format!("disk-{disk_id}")
}

impl QemuDriver {
    /// The node name of the top of a disk's chain (what its device reads and writes).
    async fn root_node(&self, live: &LiveVm, disk_id: &str) -> Result<Option<String>, VmError> {
        let blocks = self.command(live, "query-block", None).await?;
        let wanted = device_id(disk_id);
        let found =
            blocks.as_array().into_iter().flatten().find(|b| {
                b["qdev"].as_str().is_some_and(|q| q == wanted || q.contains(&format!("/{wanted}/")))
            });
        Ok(found.and_then(|b| b["inserted"]["node-name"].as_str().map(str::to_string)))
    }

    /// The image files of a disk's chain, top first, as the device reads them.
    async fn chain_files(&self, live: &LiveVm, disk_id: &str) -> Result<Vec<String>, VmError> {
        let blocks = self.command(live, "query-block", None).await?;
        let wanted = device_id(disk_id);
        let block =
            blocks.as_array().into_iter().flatten().find(|b| {
                b["qdev"].as_str().is_some_and(|q| q == wanted || q.contains(&format!("/{wanted}/")))
            });
        let mut files = Vec::new();
        let mut image = block.map(|b| &b["inserted"]["image"]);
        while let Some(i) = image.filter(|i| i.is_object()) {
            if let Some(name) = i["filename"].as_str() {
                files.push(name.to_string());
            }
            image = Some(&i["backing-image"]);
        }
        Ok(files)
    }

    /// Close a layer the VM no longer reads through but still holds open: nodes made by
    /// `-blockdev` or `blockdev-add` belong to the monitor and stay until deleted.
    async fn release_layer(&self, live: &LiveVm, file: &Path) -> Result<(), VmError> {
        let nodes = self.command(live, "query-named-block-nodes", Some(json!({"flat": true}))).await?;
        let name = file.to_string_lossy();
        let matching: Vec<(String, String)> = nodes
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["file"].as_str() == Some(name.as_ref()))
            .filter_map(|n| Some((n["node-name"].as_str()?.to_string(), n["drv"].as_str()?.to_string())))
            .collect();
        // The format node first, then the protocol node under it.
        for (node, _) in matching
            .iter()
            .filter(|(_, drv)| drv != "file")
            .chain(matching.iter().filter(|(_, drv)| drv == "file"))
        {
            if let Err(e) = self.command(live, "blockdev-del", Some(json!({ "node-name": node }))).await {
                tracing::debug!(node, error = %e, "layer node not deleted (not monitor-owned or still in use)");
            }
        }
        Ok(())
    }

    /// The qcow2 node whose image file is `file`, if the VM has it open.
    async fn node_of_file(&self, live: &LiveVm, file: &Path) -> Result<Option<String>, VmError> {
        let nodes = self.command(live, "query-named-block-nodes", Some(json!({"flat": true}))).await?;
        let file = file.to_string_lossy();
        Ok(nodes
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["drv"] == "qcow2" && n["file"].as_str() == Some(file.as_ref()))
            .and_then(|n| n["node-name"].as_str().map(str::to_string)))
    }

    pub(super) async fn snapshot_disks_live(
        &self,
        vm_id: &str,
        overlays: &[DiskOverlay],
    ) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        let mut actions = Vec::with_capacity(overlays.len());
        for overlay in overlays {
            let root = self
                .root_node(&live, &overlay.disk_id)
                .await?
                .ok_or_else(|| VmError::disk(vm_id, &overlay.disk_id, "no such disk in the VM"))?;
            actions.push(json!({
                "type": "blockdev-snapshot-sync",
                "data": {
                    "node-name": root,
                    "snapshot-file": overlay.new_top.to_string_lossy(),
                    "snapshot-node-name": fresh_node_name(),
                    "format": "qcow2",
                    "mode": "absolute-paths",
                }
            }));
        }
        let frozen = self.freeze_guest(&live).await;
        let taken = self.command(&live, "transaction", Some(json!({ "actions": actions }))).await;
        self.thaw_guest(&live, frozen).await;
        taken.map(drop)
    }

    pub(super) async fn commit_layer_live(
        &self,
        vm_id: &str,
        disk_id: &str,
        top: &Path,
        base: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        let job_id = format!("commit-{disk_id}");
        let in_chain = self.chain_files(&live, disk_id).await?.iter().any(|f| Path::new(f) == top);
        let running_job = self.has_job(&live, &job_id).await?;
        if !in_chain && !running_job {
            // The layer is gone from the chain: the merge already happened.
            self.release_layer(&live, top).await?;
            progress(100);
            return Ok(());
        }
        if !running_job {
            let top_node = self
                .node_of_file(&live, top)
                .await?
                .ok_or_else(|| VmError::disk(vm_id, disk_id, format!("{} has no node", top.display())))?;
            let root = self
                .root_node(&live, disk_id)
                .await?
                .ok_or_else(|| VmError::disk(vm_id, disk_id, "no such disk in the VM"))?;
            if root == top_node {
                return Err(VmError::disk(
                    vm_id,
                    disk_id,
                    format!("{} is the active layer, not a frozen one", top.display()),
                ));
            }
            let base_node = self.node_of_file(&live, base).await?.ok_or_else(|| {
                VmError::disk(vm_id, disk_id, format!("{} is not in the disk's chain", base.display()))
            })?;
            self.command(
                &live,
                "block-commit",
                Some(json!({
                    "job-id": job_id,
                    "device": root,
                    "top-node": top_node,
                    "base-node": base_node,
                    "backing-file": base.to_string_lossy(),
                    "auto-dismiss": false,
                })),
            )
            .await?;
        }
        self.wait_for_job(&live, &job_id, disk_id, progress).await?;
        self.release_layer(&live, top).await
    }

    async fn has_job(&self, live: &LiveVm, job_id: &str) -> Result<bool, VmError> {
        let jobs = self.command(live, "query-jobs", None).await?;
        Ok(jobs.as_array().into_iter().flatten().any(|j| j["id"] == job_id))
    }

    /// Follow a job to its end, reporting progress; dismiss it and return its error, if any.
    async fn wait_for_job(
        &self,
        live: &LiveVm,
        job_id: &str,
        disk_id: &str,
        progress: ProgressFn<'_>,
    ) -> Result<(), VmError> {
        let vm_id = live.shared.vm_id.clone();
        let deadline = Instant::now() + JOB_LIMIT;
        let mut last_reported = None;
        loop {
            let jobs = self.command(live, "query-jobs", None).await?;
            let Some(job) = jobs.as_array().into_iter().flatten().find(|j| j["id"] == job_id).cloned() else {
                return Err(VmError::disk(&vm_id, disk_id, format!("job {job_id} vanished")));
            };
            let (done, total) =
                (job["current-progress"].as_u64().unwrap_or(0), job["total-progress"].as_u64().unwrap_or(0));
            let pct = (done * 100).checked_div(total).unwrap_or(0).min(100) as u8;
            if last_reported != Some(pct) {
                progress(pct);
                last_reported = Some(pct);
            }
            if job["status"] == "concluded" {
                let _ = self.command(live, "job-dismiss", Some(json!({ "id": job_id }))).await;
                return match job.get("error").and_then(Value::as_str) {
                    Some(error) => {
                        Err(VmError::disk(&vm_id, disk_id, format!("job {job_id} failed: {error}")))
                    }
                    None => {
                        progress(100);
                        Ok(())
                    }
                };
            }
            if Instant::now() > deadline {
                return Err(VmError::Timeout {
                    vm_id,
                    what: format!("finish {job_id}"),
                    seconds: JOB_LIMIT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) async fn attach_disk_live(&self, vm_id: &str, disk: &DiskSpec) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        let (file_node, drive_node) =
            (argv::file_node_name(&disk.disk_id), argv::drive_node_name(&disk.disk_id));
        // A node left from an earlier attachment of this disk would clash with the names.
        let _ = self.command(&live, "blockdev-del", Some(json!({ "node-name": drive_node }))).await;
        let _ = self.command(&live, "blockdev-del", Some(json!({ "node-name": file_node }))).await;
        let spec = json!({
            "driver": "qcow2",
            "node-name": drive_node,
            "file": { "driver": "file", "node-name": file_node, "filename": disk.path.to_string_lossy() },
        });
        self.command(&live, "blockdev-add", Some(spec)).await?;
        let device = json!({
            "driver": "virtio-blk-pci",
            "id": device_id(&disk.disk_id),
            "drive": drive_node,
            "serial": argv::disk_serial(&disk.disk_id),
        });
        if let Err(e) = self.command(&live, "device_add", Some(device)).await {
            let _ = self.command(&live, "blockdev-del", Some(json!({ "node-name": drive_node }))).await;
            return Err(e);
        }
        Ok(())
    }

    pub(super) async fn detach_disk_live(&self, vm_id: &str, disk_id: &str) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        self.command(&live, "device_del", Some(json!({ "id": device_id(disk_id) }))).await?;
        let deadline = Instant::now() + UNPLUG_LIMIT;
        while self.root_node(&live, disk_id).await?.is_some() {
            if Instant::now() > deadline {
                return Err(VmError::Timeout {
                    vm_id: vm_id.to_string(),
                    what: format!("release disk {disk_id}"),
                    seconds: UNPLUG_LIMIT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The -blockdev / blockdev-add nodes stay until deleted; overlays made by snapshots went
        // with the device.
        let _ = self
            .command(&live, "blockdev-del", Some(json!({ "node-name": argv::drive_node_name(disk_id) })))
            .await;
        let _ = self
            .command(&live, "blockdev-del", Some(json!({ "node-name": argv::file_node_name(disk_id) })))
            .await;
        Ok(())
    }

    pub(super) async fn resize_disk_live(
        &self,
        vm_id: &str,
        disk_id: &str,
        size_bytes: u64,
    ) -> Result<(), VmError> {
        let live = self.running(vm_id)?;
        let root = self
            .root_node(&live, disk_id)
            .await?
            .ok_or_else(|| VmError::disk(vm_id, disk_id, "no such disk in the VM"))?;
        self.command(&live, "block_resize", Some(json!({ "node-name": root, "size": size_bytes }))).await?;
        Ok(())
    }
}
