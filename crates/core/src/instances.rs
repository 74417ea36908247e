//! Instance lifecycle: create, start, stop, reboot, delete, and what can be read from a running
//! VM (screen, serial console).
//!
//! Every change of status is a conditional store update decided by [`status::admit`], so two
//! racing requests cannot both win. The slow part (booting, waiting for a guest to power off)
//! runs in a background task after the API call has answered, as on ECS; the instance shows a
//! transitional status (`Pending`, `Starting`, `Stopping`) until it is done.

use crate::catalog::{self, InstanceType};
use crate::cloud::Cloud;
use crate::ids::new_id;
use crate::listing::{page_of, sort_key, window, Page};
use crate::requests::{CreateInstances, InstanceFilter, Paging};
use crate::status::{self, Admission, InstanceStatus, Request};
use crate::{chain, screen, Error, Resource, Result};
use ecslab_store::{now_rfc3339, DiskRecord, DiskStatus, InstanceQuery, InstanceRecord, ListedPage};
use ecslab_vmm::{DiskSpec, PowerState, VmError, VmSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An instance with what Describe calls show about it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub record: InstanceRecord,
    pub instance_type: &'static InstanceType,
    pub disks: Vec<DiskRecord>,
}

/// GetInstanceConsoleOutput's answer.
#[derive(Debug, Clone)]
pub struct ConsoleOutput {
    pub output: Vec<u8>,
    pub last_update_time: String,
}

/// Slow power work done after StopInstance / RebootInstance answered.
#[derive(Debug, Clone, Copy)]
enum PowerWork {
    Stop { force: bool },
    Reboot { force: bool },
}

/// How much serial output GetInstanceConsoleOutput returns (ECS returns the most recent 64 KiB).
const CONSOLE_OUTPUT_BYTES: usize = 64 * 1024;

impl Cloud {
    // ---- create --------------------------------------------------------------------------------

    /// RunInstances (start = true) and CreateInstance (start = false). Returns the new ids.
    pub async fn create_instances(
        self: &Arc<Self>,
        account_id: &str,
        req: CreateInstances,
    ) -> Result<Vec<String>> {
        let instance_type = catalog::find(&req.instance_type).ok_or_else(|| {
            Error::rejected(
                "InvalidInstanceType.ValueNotSupported",
                format!(
                    "The specified InstanceType {:?} beyond the permitted range. See DescribeInstanceTypes.",
                    req.instance_type
                ),
            )
        })?;
        let image = self.available_image(account_id, &req.image_id).await?;
        if let Some(zone) = &req.zone_id {
            if zone != &self.config.zone_id {
                return Err(Error::rejected("InvalidZoneId.NotFound", "The specified zone does not exist."));
            }
        }
        let image_gib = image.size_gib.max(1);
        let system_gib = req.system_disk_size_gib.unwrap_or(image_gib.max(20));
        if system_gib < image_gib {
            return Err(Error::rejected(
                "InvalidSystemDiskSize.LessThanImageSize",
                format!(
                    "The specified SystemDisk.Size {system_gib} is less than the image size {image_gib}."
                ),
            ));
        }
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }

        let mut ids = Vec::with_capacity(req.amount as usize);
        for n in 0..req.amount {
            let instance_id = new_id("i");
            let name = match (&req.instance_name, req.amount > 1 && req.unique_suffix) {
                (Some(name), true) => format!("{name}{:03}", n + 1),
                (Some(name), false) => name.clone(),
                (None, _) => instance_id.clone(),
            };
            let now = now_rfc3339();
            let record = InstanceRecord {
                instance_id: instance_id.clone(),
                account_id: account_id.to_string(),
                name,
                description: req.description.clone(),
                host_name: if req.host_name.is_empty() { instance_id.clone() } else { req.host_name.clone() },
                instance_type: instance_type.id.to_string(),
                image_id: image.image_id.clone(),
                status: if req.start { InstanceStatus::Pending } else { InstanceStatus::Stopped },
                generation: 1,
                ever_started: false,
                zone_id: self.config.zone_id.clone(),
                tags: req.tags.clone(),
                operation_locks: Vec::new(),
                created_at: now.clone(),
                started_at: String::new(),
            };
            let disks = self.create_disk_files(account_id, &instance_id, &image, system_gib, &req).await?;
            if let Err(e) = self.store.insert_instance(&record, &disks).await {
                remove_disk_files(&disks);
                return Err(e.into());
            }
            tracing::info!(instance_id = %instance_id, image_id = %image.image_id, instance_type = %instance_type.id, "instance created");
            if req.start {
                self.clone().spawn_boot(instance_id.clone());
            }
            ids.push(instance_id);
        }
        Ok(ids)
    }

    /// Each disk is a private base (an overlay of the image for the system disk, blank for data
    /// disks) under a writable top: O(1) in image size, and the layout snapshots build on.
    async fn create_disk_files(
        &self,
        account_id: &str,
        instance_id: &str,
        image: &ecslab_store::ImageRecord,
        system_gib: i64,
        req: &CreateInstances,
    ) -> Result<Vec<DiskRecord>> {
        let mut disks: Vec<DiskRecord> = Vec::new();
        let mut plan = vec![PlannedDisk {
            disk_type: "system",
            size_gib: system_gib,
            delete_with_instance: true,
            name: String::new(),
            description: String::new(),
            category: req.system_disk_category.clone(),
            snapshot: None,
        }];
        // An image made from an instance brings that instance's data disks along (as ECS does).
        for mapping in self.store.image_disks(&image.image_id).await? {
            if mapping.disk_type != "data" {
                continue;
            }
            let snapshot = self.store.snapshot_by_id(&mapping.snapshot_id).await?.ok_or_else(|| {
                Error::internal(format!(
                    "image {} names a missing snapshot {}",
                    image.image_id, mapping.snapshot_id
                ))
            })?;
            plan.push(PlannedDisk {
                disk_type: "data",
                size_gib: mapping.size_gib,
                delete_with_instance: true,
                name: String::new(),
                description: String::new(),
                category: req.system_disk_category.clone(),
                snapshot: Some(snapshot),
            });
        }
        for d in &req.data_disks {
            plan.push(PlannedDisk {
                disk_type: "data",
                size_gib: d.size_gib,
                delete_with_instance: d.delete_with_instance,
                name: d.name.clone(),
                description: d.description.clone(),
                category: d.category.clone(),
                snapshot: None,
            });
        }
        for (index, planned) in plan.into_iter().enumerate() {
            let mut disk = self.new_disk_record(
                account_id,
                planned.disk_type,
                planned.size_gib,
                planned.name,
                planned.description,
                planned.category,
            );
            let created = match &planned.snapshot {
                Some(snapshot) => self.create_disk_layers_from_snapshot(&disk, snapshot).await,
                None => {
                    let backing = (planned.disk_type == "system").then(|| PathBuf::from(&image.path));
                    self.create_disk_layers(&disk, backing.as_deref()).await
                }
            };
            if let Err(e) = created {
                remove_disk_files(&disks);
                return Err(e);
            }
            disk.instance_id = Some(instance_id.to_string());
            disk.device_index = index as i64;
            disk.status = DiskStatus::InUse;
            // RunInstances/CreateInstance `Tag.N` tag "the instance, cloud disks, and primary ENI" (SDK model).
            disk.tags = req.tags.clone();
            disk.attached_at = disk.created_at.clone();
            disk.ever_attached = true;
            disk.delete_with_instance = planned.delete_with_instance;
            disk.image_id =
                if planned.disk_type == "system" { image.image_id.clone() } else { String::new() };
            disk.source_snapshot_id = planned.snapshot.map(|s| s.snapshot_id).unwrap_or_default();
            disks.push(disk);
        }
        Ok(disks)
    }

    /// A disk whose base is a private copy of a snapshot (its chain made standalone).
    async fn create_disk_layers_from_snapshot(
        &self,
        disk: &DiskRecord,
        snapshot: &ecslab_store::SnapshotRecord,
    ) -> Result<()> {
        let _chain = self.chain_lock.lock().await;
        let qemu_img = &self.config.qemu_img;
        let (base, top) = (Path::new(&disk.base_path), Path::new(&disk.path));
        chain::materialize(qemu_img, Path::new(&snapshot.path), None, base).await?;
        let result = async {
            if disk.size_gib > snapshot.source_disk_size {
                chain::resize(qemu_img, base, disk.size_gib).await?;
            }
            chain::create(qemu_img, top, Some(base), None).await
        }
        .await;
        if result.is_err() {
            chain::remove_quietly(base);
        }
        result
    }

    /// A detached, Available disk record with fresh layer paths (files not created yet).
    pub(crate) fn new_disk_record(
        &self,
        account_id: &str,
        disk_type: &str,
        size_gib: i64,
        name: String,
        description: String,
        category: String,
    ) -> DiskRecord {
        let now = now_rfc3339();
        DiskRecord {
            disk_id: new_id("d"),
            account_id: account_id.to_string(),
            instance_id: None,
            disk_type: disk_type.to_string(),
            device_index: 0,
            name,
            description,
            category,
            size_gib,
            path: self.config.new_layer_path().display().to_string(),
            status: DiskStatus::Available,
            image_id: String::new(),
            delete_with_instance: false,
            zone_id: self.config.zone_id.clone(),
            created_at: now,
            attached_at: String::new(),
            base_path: self.config.new_layer_path().display().to_string(),
            parent_snapshot_id: String::new(),
            source_snapshot_id: String::new(),
            ever_attached: false,
            ever_used: false,
            portable: disk_type == "data",
            tags: Vec::new(),
        }
    }

    /// Create a disk's base (over `backing`, or blank) and its empty top.
    pub(crate) async fn create_disk_layers(&self, disk: &DiskRecord, backing: Option<&Path>) -> Result<()> {
        let qemu_img = &self.config.qemu_img;
        let (base, top) = (Path::new(&disk.base_path), Path::new(&disk.path));
        chain::create(qemu_img, base, backing, Some(disk.size_gib)).await?;
        if let Err(e) = chain::create(qemu_img, top, Some(base), Some(disk.size_gib)).await {
            chain::remove_quietly(base);
            return Err(e);
        }
        Ok(())
    }

    // ---- lifecycle -----------------------------------------------------------------------------

    /// Look up an instance of this account, or `InvalidInstanceId.NotFound`.
    pub async fn instance(&self, account_id: &str, instance_id: &str) -> Result<InstanceRecord> {
        self.store
            .instance(account_id, instance_id)
            .await?
            .ok_or_else(|| Error::NotFound { resource: Resource::Instance, id: instance_id.to_string() })
    }

    /// Apply `request` to an instance: admission by its status, then a conditional update.
    /// Returns the status it moved from, or `None` for an idempotent repeat.
    async fn admit(
        &self,
        account_id: &str,
        instance_id: &str,
        request: Request,
        dry_run: bool,
    ) -> Result<Option<InstanceStatus>> {
        let instance = self.instance(account_id, instance_id).await?;
        let locked = instance.locked_for_security();
        if locked && !matches!(request, Request::Delete { .. }) {
            return Err(Error::InstanceLockedForSecurity { instance_id: instance_id.to_string() });
        }
        let current = instance.status;
        let deny = || Error::IncorrectInstanceStatus {
            instance_id: instance_id.to_string(),
            status: current.to_string(),
        };
        match status::admit(current, request) {
            Admission::Deny => Err(deny()),
            _ if dry_run => Err(Error::DryRunOperation),
            Admission::Ignore => Ok(None),
            Admission::Proceed(next) => {
                match self.store.transition_instance(instance_id, &[current], next).await? {
                    Some(_) => Ok(Some(current)),
                    None => Err(Error::rejected(
                        "OperationConflict",
                        "Request was denied due to conflict with a previous request.",
                    )),
                }
            }
        }
    }

    pub async fn start_instance(
        self: &Arc<Self>,
        account_id: &str,
        instance_id: &str,
        dry_run: bool,
    ) -> Result<()> {
        if self.admit(account_id, instance_id, Request::Start, dry_run).await?.is_some() {
            self.clone().spawn_boot(instance_id.to_string());
        }
        Ok(())
    }

    pub async fn stop_instance(
        self: &Arc<Self>,
        account_id: &str,
        instance_id: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<()> {
        if self.admit(account_id, instance_id, Request::Stop, dry_run).await?.is_some() {
            self.spawn_power_work(instance_id, PowerWork::Stop { force });
        }
        Ok(())
    }

    pub async fn reboot_instance(
        self: &Arc<Self>,
        account_id: &str,
        instance_id: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<()> {
        if self.admit(account_id, instance_id, Request::Reboot, dry_run).await?.is_some() {
            self.spawn_power_work(instance_id, PowerWork::Reboot { force });
        }
        Ok(())
    }

    /// Run a stop or a reboot in the background (the API call has answered).
    fn spawn_power_work(self: &Arc<Self>, instance_id: &str, work: PowerWork) {
        let cloud = self.clone();
        let id = instance_id.to_string();
        tokio::spawn(async move {
            match work {
                PowerWork::Stop { force } => cloud.stop_then_record(&id, force).await,
                PowerWork::Reboot { force } => cloud.reboot(&id, force).await,
            }
        });
    }

    pub async fn delete_instance(
        &self,
        account_id: &str,
        instance_id: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<()> {
        let from = self.admit(account_id, instance_id, Request::Delete { force }, dry_run).await?;
        if from != Some(InstanceStatus::Stopped) {
            if let Err(e) = self.hypervisor.kill(instance_id).await {
                // The VM still runs: the instance gets its status back instead of staying Stopping.
                self.settle_failed_delete(instance_id, from.unwrap_or(InstanceStatus::Running)).await;
                return Err(Error::internal(format!(
                    "killing {instance_id} for deletion: {}",
                    crate::error::format_chain(&e)
                )));
            }
        }
        // From here on the VM is off: a step that fails leaves the instance Stopped (and
        // deletable again), never Stopping.
        let removed = async {
            // The libvirt driver undefines the instance's persistent domain here.
            if let Err(e) = self.hypervisor.forget(instance_id).await {
                tracing::warn!(instance_id, error = %crate::error::format_chain(&e), "the driver could not forget the VM");
            }
            let attached = self.store.instance_disks(instance_id).await?;
            self.wait_for_disk_operations(&attached, Duration::from_secs(600)).await?;
            Ok::<_, Error>(self.store.delete_instance(instance_id).await?)
        }
        .await;
        let disks = match removed {
            Ok(disks) => disks,
            Err(e) => {
                self.settle_failed_delete(instance_id, InstanceStatus::Stopped).await;
                return Err(e);
            }
        };
        remove_disk_files(&disks);
        self.collect_deleted_snapshots().await;
        let run_dir = self.run_dir(instance_id);
        if let Err(e) = std::fs::remove_dir_all(&run_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(instance_id, path = %run_dir.display(), error = %e, "could not remove the run directory");
            }
        }
        tracing::info!(instance_id, "instance deleted");
        Ok(())
    }

    /// A DeleteInstance that failed midway: move the instance out of `Stopping` to the status
    /// that matches its VM (a failed delete must not strand a transitional status).
    async fn settle_failed_delete(&self, instance_id: &str, to: InstanceStatus) {
        match self.store.transition_instance(instance_id, &[InstanceStatus::Stopping], to).await {
            Ok(_) => tracing::warn!(instance_id, status = %to, "the deletion failed; the instance is back"),
            Err(e) => {
                tracing::error!(instance_id, error = %e, "the deletion failed and its status could not be restored")
            }
        }
    }

    fn run_dir(&self, instance_id: &str) -> PathBuf {
        self.config.vms_dir().join(instance_id)
    }

    /// The driver's description of an instance's VM.
    pub(crate) async fn vm_spec(&self, instance: &InstanceRecord) -> Result<VmSpec> {
        let instance_type = catalog::find(&instance.instance_type).ok_or_else(|| {
            Error::internal(format!(
                "instance {} has unknown type {}",
                instance.instance_id, instance.instance_type
            ))
        })?;
        let disks = self.store.instance_disks(&instance.instance_id).await?;
        // QEMU follows each disk's backing chain: only ecslab's own layers may be in it.
        for disk in &disks {
            crate::chain::check_own_chain(Path::new(&disk.path))?;
        }
        Ok(VmSpec {
            vm_id: instance.instance_id.clone(),
            run_dir: self.run_dir(&instance.instance_id),
            vcpus: instance_type.vcpus,
            memory_mib: instance_type.memory_mib,
            display: instance_type.display,
            disks: disks
                .iter()
                .map(|d| DiskSpec { disk_id: d.disk_id.clone(), path: PathBuf::from(&d.path) })
                .collect(),
            accel: self.config.accel,
        })
    }

    pub(crate) fn spawn_boot(self: Arc<Self>, instance_id: String) {
        tokio::spawn(async move { self.boot(&instance_id).await });
    }

    /// Pending/Starting → start the VM → Running (or back to Stopped if it cannot start).
    async fn boot(&self, instance_id: &str) {
        let result = async {
            let instance = self
                .store
                .instance_by_id(instance_id)
                .await?
                .ok_or_else(|| Error::internal("instance vanished"))?;
            if instance.status == InstanceStatus::Pending {
                self.store
                    .transition_instance(instance_id, &[InstanceStatus::Pending], InstanceStatus::Starting)
                    .await?;
            }
            let disks = self.store.instance_disks(instance_id).await?;
            self.wait_for_disk_operations(&disks, Duration::from_secs(600)).await?;
            let spec = self.vm_spec(&instance).await?;
            let started = Instant::now();
            self.hypervisor
                .start(&spec)
                .await
                .map_err(|e| Error::internal(crate::error::format_chain(&e)))?;
            tracing::info!(instance_id, elapsed_ms = started.elapsed().as_millis() as u64, "VM started");
            self.store
                .transition_instance(instance_id, &[InstanceStatus::Starting], InstanceStatus::Running)
                .await?;
            self.store.mark_disks_used(instance_id).await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(instance_id, error = %e.detail(), "starting the instance failed; it is Stopped");
            let _ = self.hypervisor.kill(instance_id).await;
            let _ = self
                .store
                .transition_instance(
                    instance_id,
                    &[InstanceStatus::Pending, InstanceStatus::Starting],
                    InstanceStatus::Stopped,
                )
                .await;
        }
    }

    /// Power the VM off: ACPI first (unless forced), then kill after the grace period.
    async fn power_off(&self, instance_id: &str, force: bool) -> std::result::Result<(), VmError> {
        if !force {
            match self.hypervisor.request_shutdown(instance_id).await {
                Ok(()) => {
                    if self.wait_for_power_off(instance_id, self.config.stop_grace).await {
                        return Ok(());
                    }
                    tracing::warn!(
                        instance_id,
                        grace_secs = self.config.stop_grace.as_secs(),
                        "the guest ignored the power button; forcing it off"
                    );
                }
                Err(VmError::NotRunning { .. }) => return Ok(()),
                Err(e) => tracing::warn!(instance_id, error = %e, "ACPI power-down failed; forcing it off"),
            }
        }
        self.hypervisor.kill(instance_id).await
    }

    async fn wait_for_power_off(&self, instance_id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if matches!(self.hypervisor.power_state(instance_id).await, Ok(PowerState::Off)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    async fn stop_then_record(&self, instance_id: &str, force: bool) {
        if let Err(e) = self.power_off(instance_id, force).await {
            tracing::error!(instance_id, error = %crate::error::format_chain(&e), "stopping the VM failed");
        }
        if let Err(e) = self
            .store
            .transition_instance(instance_id, &[InstanceStatus::Stopping], InstanceStatus::Stopped)
            .await
        {
            tracing::error!(instance_id, error = %e, "recording Stopped failed");
        }
        tracing::info!(instance_id, "instance stopped");
    }

    async fn reboot(&self, instance_id: &str, force: bool) {
        if force {
            match self.hypervisor.reset(instance_id).await {
                Ok(()) => {
                    let _ = self
                        .store
                        .transition_instance(
                            instance_id,
                            &[InstanceStatus::Starting],
                            InstanceStatus::Running,
                        )
                        .await;
                    return;
                }
                Err(e) => tracing::warn!(instance_id, error = %e, "reset failed; restarting the VM instead"),
            }
        }
        if let Err(e) = self.power_off(instance_id, force).await {
            tracing::error!(instance_id, error = %e, "powering off for the reboot failed");
        }
        self.boot(instance_id).await;
    }

    // ---- adoption after a restart ----------------------------------------------------------------

    /// Re-attach to the VMs a previous server process left running, and finish interrupted work.
    pub(crate) async fn adopt_instances(self: &Arc<Self>) -> Result<()> {
        for instance in self.store.all_instances().await? {
            let status = instance.status;
            if !status.expects_process() {
                continue;
            }
            let id = instance.instance_id.clone();
            let spec = self.vm_spec(&instance).await?;
            let power = self.hypervisor.adopt(&spec).await.unwrap_or_else(|e| {
                tracing::warn!(instance_id = %id, error = %e, "adopting the VM failed; treating it as off");
                PowerState::Off
            });
            match (status, power) {
                (InstanceStatus::Stopping, PowerState::Running | PowerState::Suspended) => {
                    tracing::info!(instance_id = %id, "resuming an interrupted stop");
                    self.spawn_power_work(&id, PowerWork::Stop { force: false });
                }
                (_, PowerState::Running | PowerState::Suspended) => {
                    tracing::info!(instance_id = %id, "adopted running VM");
                    self.store.transition_instance(&id, &[status], InstanceStatus::Running).await?;
                }
                (InstanceStatus::Pending | InstanceStatus::Starting, PowerState::Off) => {
                    tracing::info!(instance_id = %id, "resuming an interrupted start");
                    self.clone().spawn_boot(id);
                }
                (_, PowerState::Off) => {
                    tracing::warn!(instance_id = %id, was = %status, "VM process is gone; instance is now Stopped");
                    self.store.transition_instance(&id, &[status], InstanceStatus::Stopped).await?;
                }
            }
        }
        Ok(())
    }

    // ---- reading ----------------------------------------------------------------------------------

    pub async fn describe_instances(
        &self,
        account_id: &str,
        filter: &InstanceFilter,
        paging: &Paging,
    ) -> Result<Page<InstanceView>> {
        let query = InstanceQuery {
            instance_ids: filter.instance_ids.clone(),
            status: filter.status,
            name_pattern: filter.name_pattern.clone(),
            image_id: filter.image_id.clone(),
            instance_type: filter.instance_type.clone(),
            zone_id: filter.zone_id.clone(),
            tags: filter.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        };
        let (listed, mut disks) = self.store.instances_page(account_id, &query, &window(paging)?).await?;
        let mut views = Vec::with_capacity(listed.items.len());
        for record in listed.items {
            let instance_type = catalog::find(&record.instance_type)
                .ok_or_else(|| Error::internal(format!("unknown type {}", record.instance_type)))?;
            // The page's disks come sorted by instance, then device.
            let (own, rest): (Vec<DiskRecord>, Vec<DiskRecord>) = disks
                .into_iter()
                .partition(|d| d.instance_id.as_deref() == Some(record.instance_id.as_str()));
            disks = rest;
            views.push(InstanceView { record, instance_type, disks: own });
        }
        let listed = ListedPage { items: views, total: listed.total, more: listed.more };
        Ok(page_of(listed, paging, |v| sort_key(&v.record.created_at, &v.record.instance_id)))
    }

    /// GetInstanceScreenshot: the guest's real screen as base64 JPEG.
    pub async fn screenshot(&self, account_id: &str, instance_id: &str, wake_up: bool) -> Result<String> {
        let instance = self.instance(account_id, instance_id).await?;
        if instance.status != InstanceStatus::Running {
            return Err(Error::IncorrectInstanceStatus {
                instance_id: instance_id.into(),
                status: instance.status.to_string(),
            });
        }
        let display = catalog::find(&instance.instance_type).is_some_and(|t| t.display);
        if !display {
            return Err(Error::NotSupported { instance_id: instance_id.into() });
        }
        self.check_screenshot_interval(instance_id)?;
        if wake_up {
            self.hypervisor.wake_up(instance_id).await.map_err(|e| vm_error(instance_id, "waking up", e))?;
            // Let the guest redraw the console after the key press.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let frame = self
            .hypervisor
            .screenshot(instance_id)
            .await
            .map_err(|e| vm_error(instance_id, "screendump", e))?;
        let quality = self.config.jpeg_quality;
        tokio::task::spawn_blocking(move || screen::screenshot_base64(&frame, quality))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)
    }

    fn check_screenshot_interval(&self, instance_id: &str) -> Result<()> {
        let Some(min) = self.config.screenshot_min_interval else { return Ok(()) };
        let mut last =
            self.last_screenshot.lock().map_err(|_| Error::internal("screenshot lock poisoned"))?;
        let now = Instant::now();
        if let Some(previous) = last.get(instance_id) {
            if now.duration_since(*previous) < min {
                return Err(Error::Throttling);
            }
        }
        last.insert(instance_id.to_string(), now);
        Ok(())
    }

    /// GetInstanceConsoleOutput: the most recent serial console output.
    pub async fn console_output(&self, account_id: &str, instance_id: &str) -> Result<ConsoleOutput> {
        // Any status: before the first boot the console is simply empty.
        self.instance(account_id, instance_id).await?;
        let output = self
            .hypervisor
            .console_output(instance_id, CONSOLE_OUTPUT_BYTES)
            .await
            .map_err(|e| vm_error(instance_id, "reading the console", e))?;
        let log = self.run_dir(instance_id).join("console.log");
        let last_update_time = std::fs::metadata(&log)
            .and_then(|m| m.modified())
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        Ok(ConsoleOutput { output, last_update_time })
    }
}

fn vm_error(instance_id: &str, what: &str, e: VmError) -> Error {
    match e {
        VmError::NotRunning { .. } => Error::IncorrectInstanceStatus {
            instance_id: instance_id.into(),
            status: InstanceStatus::Stopped.to_string(),
        },
        VmError::NoDisplay { .. } => Error::NotSupported { instance_id: instance_id.into() },
        unreachable if unreachable.is_hypervisor_unreachable() => {
            tracing::warn!(instance_id, error = %crate::error::format_chain(&unreachable), "{what}: hypervisor unreachable");
            Error::Rejected {
                code: "ServiceUnavailable",
                message: "The request has failed due to a temporary failure of the server.".into(),
            }
        }
        other => Error::internal(format!("{what} on {instance_id}: {}", crate::error::format_chain(&other))),
    }
}

/// Remove a disk's own files (its top and base; snapshot files belong to the snapshots).
pub(crate) fn remove_disk_files(disks: &[DiskRecord]) {
    for disk in disks {
        chain::remove_quietly(Path::new(&disk.path));
        if !disk.base_path.is_empty() {
            chain::remove_quietly(Path::new(&disk.base_path));
        }
    }
}

/// One disk RunInstances makes: the system disk, an image's data disk, or a requested one.
struct PlannedDisk {
    disk_type: &'static str,
    size_gib: i64,
    delete_with_instance: bool,
    name: String,
    description: String,
    category: String,
    /// Copied from this snapshot (an image's data disk), else blank or over the image.
    snapshot: Option<ecslab_store::SnapshotRecord>,
}
