//! Booting and powering off an instance's VM: the slow half of Start, Stop, Reboot and
//! RunInstances, run after the API call has answered, and the mapping of driver errors to the
//! API's.

use super::Instances;
use crate::catalog;
use crate::status::InstanceStatus;
use crate::{Error, Result};
use ecslab_store::InstanceRecord;
use ecslab_vmm::{DiskSpec, PowerState, VmError, VmSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Instances {
    pub(super) fn run_dir(&self, instance_id: &str) -> PathBuf {
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
            nics: self.networks.datapath().nic_specs(&instance.instance_id).await?,
            accel: self.config.accel,
        })
    }

    pub(crate) fn spawn_boot(self: Arc<Self>, instance_id: String) {
        tokio::spawn(async move {
            self.boot(&instance_id).await;
            self.deliver_pending_settings(&instance_id).await;
        });
    }

    /// Pending/Starting → start the VM → Running (or back to Stopped if it cannot start).
    pub(super) async fn boot(&self, instance_id: &str) {
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
            self.disks.wait_for_disk_operations(&disks, Duration::from_secs(600)).await?;
            let spec = self.vm_spec(&instance).await?;
            // Its taps exist before the VM opens them; once it holds them they join its VPC.
            self.networks.datapath().prepare(instance_id).await?;
            let started = Instant::now();
            self.hypervisor
                .start(&spec)
                .await
                .map_err(|e| Error::internal(crate::error::format_chain(&e)))?;
            tracing::info!(instance_id, elapsed_ms = started.elapsed().as_millis() as u64, "VM started");
            self.store
                .transition_instance(instance_id, &[InstanceStatus::Starting], InstanceStatus::Running)
                .await?;
            self.networks.datapath().sync_instance(instance_id).await;
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
    pub(super) async fn power_off(&self, instance_id: &str, force: bool) -> std::result::Result<(), VmError> {
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

    pub(super) async fn wait_for_power_off(&self, instance_id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if matches!(self.hypervisor.power_state(instance_id).await, Ok(PowerState::Off)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub(super) async fn stop_then_record(&self, instance_id: &str, force: bool) {
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
        self.networks.datapath().sync_instance(instance_id).await;
    }

    pub(super) async fn reboot(&self, instance_id: &str, force: bool) {
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
                    self.deliver_pending_settings(instance_id).await;
                    return;
                }
                Err(e) => tracing::warn!(instance_id, error = %e, "reset failed; restarting the VM instead"),
            }
        }
        if let Err(e) = self.power_off(instance_id, force).await {
            tracing::error!(instance_id, error = %e, "powering off for the reboot failed");
        }
        self.boot(instance_id).await;
        self.deliver_pending_settings(instance_id).await;
    }
}

pub(super) fn vm_error(instance_id: &str, what: &str, e: VmError) -> Error {
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
