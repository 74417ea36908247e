//! Disk work on a running domain through libvirt, so its live XML always shows the real
//! backing chain: external disk-only snapshots with `NO_METADATA` (libvirt keeps no snapshot
//! objects that could disagree with ecslab's) on overlays ecslab writes itself ([`overlay`],
//! `REUSE_EXT`), taken with the guest's filesystems frozen when it runs a guest agent
//! ([`agent`]); `virDomainBlockCommit` of an intermediate layer, polled for its progress;
//! device attach/detach (live and config) and `virDomainBlockResize`.
//!
//! The qemu driver's `blockdev` module does the same over QMP. Disks are found by their id in
//! the live XML ([`domain_xml::parse_disks`]), as targets and files change under snapshots.

use super::domain_xml::{self, LiveDisk};
use super::{agent, events, lv_error, overlay, Inner, LibvirtDriver};
use crate::{DiskOverlay, DiskSpec, ProgressFn, VmError};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use virt::domain::Domain;
use virt::sys;

/// How long a merge job may run before it is given up.
const JOB_LIMIT: Duration = Duration::from_secs(3600);
/// How long the guest gets to release a hot-unplugged disk.
const UNPLUG_LIMIT: Duration = Duration::from_secs(30);
/// How often block jobs and hot-unplugs are looked at.
const POLL: Duration = Duration::from_millis(100);

/// Numbers snapshot names (libvirt wants a name even without metadata).
static NEXT_SNAPSHOT: AtomicU64 = AtomicU64::new(0);

fn path_str<'a>(vm_id: &str, path: &'a Path) -> Result<&'a str, VmError> {
    path.to_str().ok_or_else(|| VmError::StartFailed {
        vm_id: vm_id.to_string(),
        reason: format!("path {} is not UTF-8", path.display()),
    })
}

impl Inner {
    /// The running domain's live XML and its disks as that XML shows them.
    fn live_xml_and_disks(&self, vm_id: &str, dom: &Domain) -> Result<(String, Vec<LiveDisk>), VmError> {
        let xml = dom.xml_desc(0).map_err(|e| lv_error(vm_id, "virDomainGetXMLDesc", &e))?;
        let disks = domain_xml::parse_disks(&xml).map_err(|reason| VmError::Libvirt {
            vm_id: vm_id.into(),
            call: "virDomainGetXMLDesc".into(),
            reason,
        })?;
        Ok((xml, disks))
    }

    /// The running domain's disks as its live XML shows them.
    fn live_disks(&self, vm_id: &str, dom: &Domain) -> Result<Vec<LiveDisk>, VmError> {
        Ok(self.live_xml_and_disks(vm_id, dom)?.1)
    }

    fn live_disk(&self, vm_id: &str, dom: &Domain, disk_id: &str) -> Result<Option<LiveDisk>, VmError> {
        Ok(self.live_disks(vm_id, dom)?.into_iter().find(|d| d.is(disk_id)))
    }
}

impl LibvirtDriver {
    pub(super) async fn snapshot_disks_live(
        &self,
        vm_id: &str,
        overlays: &[DiskOverlay],
    ) -> Result<(), VmError> {
        let id = vm_id.to_string();
        let overlays = overlays.to_vec();
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let (live_xml, disks) = inner.live_xml_and_disks(&id, &dom)?;
            let targets = domain_xml::overlay_targets(&disks, &overlays).map_err(|reason| VmError::Disk {
                vm_id: id.clone(),
                disk_id: overlays.iter().map(|o| o.disk_id.as_str()).collect::<Vec<_>>().join(","),
                reason,
            })?;
            if targets.is_empty() {
                return Ok(());
            }
            let name =
                format!("ecslab-{}-{}", std::process::id(), NEXT_SNAPSHOT.fetch_add(1, Ordering::Relaxed));
            let xml = domain_xml::snapshot_xml(&name, &disks, &targets).map_err(|reason| {
                VmError::Libvirt { vm_id: id.clone(), call: "snapshot XML".into(), reason }
            })?;
            // The overlays are written here and handed over with REUSE_EXT: twice as fast as
            // libvirt making them through a QEMU job ([`overlay`]).
            for (target, new_top) in &targets {
                let backing = disks.iter().find(|d| &d.target == target).and_then(|d| d.chain.first());
                let backing = backing.ok_or_else(|| {
                    VmError::disk(&id, target, format!("libvirt shows no file for disk {target}"))
                })?;
                overlay::create_overlay(new_top, backing).map_err(|e| VmError::io(&id, new_top, e))?;
            }
            let flags = sys::VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                | sys::VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                | sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                | sys::VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT;
            let frozen = agent::freeze(&dom, &id, domain_xml::agent_connected(&live_xml));
            let taken = dom.create_snapshot_xml(&xml, flags);
            agent::thaw(&dom, &id, &frozen);
            taken.map(drop).map_err(|e| lv_error(&id, "virDomainSnapshotCreateXML", &e))
        })
        .await
    }

    pub(super) async fn commit_layer_live(
        &self,
        vm_id: &str,
        disk_id: &str,
        top: &Path,
        base: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(), VmError> {
        let (id, disk, top_path, base_path) =
            (vm_id.to_string(), disk_id.to_string(), top.to_path_buf(), base.to_path_buf());
        // Start the job unless the merge already happened or runs.
        let target = self
            .call(vm_id, move |inner| {
                let dom = inner.running(&id)?;
                let live = inner
                    .live_disk(&id, &dom, &disk)?
                    .ok_or_else(|| VmError::disk(&id, &disk, "no such disk in the VM"))?;
                if events::block_job(&dom, &live.target)
                    .map_err(|e| lv_error(&id, "virDomainGetBlockJobInfo", &e))?
                    .is_some()
                {
                    return Ok(Some(live.target));
                }
                if !live.chain.contains(&top_path) {
                    return Ok(None);
                }
                if live.chain.first() == Some(&top_path) {
                    return Err(VmError::disk(
                        &id,
                        &disk,
                        format!("{} is the active layer, not a frozen one", top_path.display()),
                    ));
                }
                if !live.chain.contains(&base_path) {
                    return Err(VmError::disk(
                        &id,
                        &disk,
                        format!("{} is not in the disk's chain", base_path.display()),
                    ));
                }
                events::block_commit(
                    &dom,
                    &live.target,
                    path_str(&id, &base_path)?,
                    path_str(&id, &top_path)?,
                )
                .map_err(|e| lv_error(&id, "virDomainBlockCommit", &e))?;
                Ok(Some(live.target))
            })
            .await?;
        let Some(target) = target else {
            progress(100);
            return Ok(());
        };
        let deadline = Instant::now() + JOB_LIMIT;
        let mut last_reported = None;
        loop {
            let (id, t) = (vm_id.to_string(), target.clone());
            let job = self
                .call(vm_id, move |inner| {
                    let dom = inner.running(&id)?;
                    events::block_job(&dom, &t).map_err(|e| lv_error(&id, "virDomainGetBlockJobInfo", &e))
                })
                .await?;
            let Some((cur, end)) = job else { break };
            let pct = cur.saturating_mul(100).checked_div(end).map_or(0, |p| p.min(100) as u8);
            if last_reported != Some(pct) {
                progress(pct);
                last_reported = Some(pct);
            }
            if Instant::now() > deadline {
                return Err(VmError::Timeout {
                    vm_id: vm_id.to_string(),
                    what: format!("finish merging {} of {disk_id}", top.display()),
                    seconds: JOB_LIMIT.as_secs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        // The job is gone: it succeeded when `top` left the chain libvirt shows (libvirt updates
        // its XML as it processes the job's completion, so give it a moment).
        let settle = Instant::now() + Duration::from_secs(5);
        loop {
            let (id, disk) = (vm_id.to_string(), disk_id.to_string());
            let chain = self
                .call(vm_id, move |inner| {
                    let dom = inner.running(&id)?;
                    Ok(inner.live_disk(&id, &dom, &disk)?.map(|d| d.chain).unwrap_or_default())
                })
                .await?;
            if !chain.iter().any(|f| f == top) {
                progress(100);
                return Ok(());
            }
            if Instant::now() > settle {
                return Err(VmError::disk(
                    vm_id,
                    disk_id,
                    format!(
                        "the block commit of {} ended but the layer is still in the chain",
                        top.display()
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(super) async fn attach_disk_live(&self, vm_id: &str, disk: &DiskSpec) -> Result<(), VmError> {
        let id = vm_id.to_string();
        let mut disk = disk.clone();
        disk.path = std::path::absolute(&disk.path).map_err(|e| VmError::io(vm_id, &disk.path, e))?;
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let live = inner.live_disks(&id, &dom)?;
            if live.iter().any(|d| d.is(&disk.disk_id)) {
                return Ok(());
            }
            let xml = domain_xml::disk_xml(&disk, &domain_xml::free_target(&live), None)
                .map_err(|reason| VmError::disk(&id, &disk.disk_id, reason))?;
            let both = sys::VIR_DOMAIN_AFFECT_LIVE | sys::VIR_DOMAIN_AFFECT_CONFIG;
            if let Err(e) = dom.attach_device_flags(&xml, both) {
                // The persistent definition may have diverged (it is rewritten at the next start
                // anyway): the live attach is what counts.
                tracing::debug!(vm_id = %id, error = %e, "attaching live+config failed; attaching live only");
                dom.attach_device_flags(&xml, sys::VIR_DOMAIN_AFFECT_LIVE)
                    .map_err(|e| lv_error(&id, "virDomainAttachDeviceFlags", &e))?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn detach_disk_live(&self, vm_id: &str, disk_id: &str) -> Result<(), VmError> {
        let (id, disk) = (vm_id.to_string(), disk_id.to_string());
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let Some(live) = inner.live_disk(&id, &dom, &disk)? else { return Ok(()) };
            let spec =
                DiskSpec { disk_id: disk.clone(), path: live.chain.first().cloned().unwrap_or_default() };
            let xml = domain_xml::disk_xml(&spec, &live.target, None)
                .map_err(|reason| VmError::disk(&id, &disk, reason))?;
            let both = sys::VIR_DOMAIN_AFFECT_LIVE | sys::VIR_DOMAIN_AFFECT_CONFIG;
            if dom.detach_device_flags(&xml, both).is_err() {
                dom.detach_device_flags(&xml, sys::VIR_DOMAIN_AFFECT_LIVE)
                    .map_err(|e| lv_error(&id, "virDomainDetachDeviceFlags", &e))?;
            }
            Ok(())
        })
        .await?;
        // libvirt returns once the request is sent; the guest releases the disk in its own time.
        let deadline = Instant::now() + UNPLUG_LIMIT;
        loop {
            let (id, disk) = (vm_id.to_string(), disk_id.to_string());
            let present = self
                .call(vm_id, move |inner| {
                    let dom = inner.running(&id)?;
                    Ok(inner.live_disk(&id, &dom, &disk)?.is_some())
                })
                .await?;
            if !present {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(VmError::Timeout {
                    vm_id: vm_id.to_string(),
                    what: format!("release disk {disk_id}"),
                    seconds: UNPLUG_LIMIT.as_secs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(super) async fn resize_disk_live(
        &self,
        vm_id: &str,
        disk_id: &str,
        size_bytes: u64,
    ) -> Result<(), VmError> {
        let (id, disk) = (vm_id.to_string(), disk_id.to_string());
        self.call(vm_id, move |inner| {
            let dom = inner.running(&id)?;
            let live = inner
                .live_disk(&id, &dom, &disk)?
                .ok_or_else(|| VmError::disk(&id, &disk, "no such disk in the VM"))?;
            dom.block_resize(&live.target, size_bytes, sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                .map_err(|e| lv_error(&id, "virDomainBlockResize", &e))
        })
        .await
    }
}
