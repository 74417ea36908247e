//! Keeping instance records true to their VM processes: adopting the VMs a previous server
//! started, following the driver's events (a guest that powers itself off, a process that
//! vanishes), and re-reading every state when events were lost.

use super::Instances;
use super::PowerWork;
use crate::status::{on_process_gone, InstanceStatus};
use crate::Result;
use ecslab_vmm::{PowerState, StopCause, VmEvent};
use std::sync::Arc;

impl Instances {
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

    /// Follow the driver's events for as long as the server runs.
    pub(crate) fn spawn_event_loop(self: Arc<Self>) {
        let mut events = self.hypervisor.events();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => self.on_vm_event(event).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "driver events lagged; re-reading instance states");
                        if let Err(e) = self.reconcile_all().await {
                            tracing::error!(error = %crate::error::format_chain(&e), "reconcile failed");
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    async fn on_vm_event(&self, event: VmEvent) {
        match event {
            VmEvent::Stopped { vm_id, cause } => {
                let Ok(Some(instance)) = self.store.instance_by_id(&vm_id).await else { return };
                let status = instance.status;
                let Some(next) = on_process_gone(status) else { return };
                // A stop reported late, after a reboot or start already ran a new process for the
                // same instance, is about the old process: the instance keeps running.
                if matches!(
                    self.hypervisor.power_state(&vm_id).await,
                    Ok(PowerState::Running | PowerState::Suspended)
                ) {
                    tracing::info!(instance_id = %vm_id, ?cause, "a stale stop event: the VM runs again; ignored");
                    return;
                }
                match cause {
                    StopCause::Vanished => tracing::warn!(
                        instance_id = %vm_id,
                        "the VM process vanished without a shutdown (killed from outside or crashed); instance is now {next}"
                    ),
                    StopCause::GuestShutdown => {
                        tracing::info!(instance_id = %vm_id, "the guest powered itself off; instance is now {next}")
                    }
                    StopCause::Killed => {
                        tracing::info!(instance_id = %vm_id, "VM killed; instance is now {next}")
                    }
                }
                if let Err(e) = self.store.transition_instance(&vm_id, &[status], next).await {
                    tracing::error!(instance_id = %vm_id, error = %e, "recording the stop failed");
                }
                self.networks.datapath().sync_instance(&vm_id).await;
            }
            VmEvent::Reset { vm_id } => tracing::info!(instance_id = %vm_id, "the guest reset itself"),
        }
    }

    /// Make every Running instance agree with its VM process (after lost events).
    async fn reconcile_all(&self) -> Result<()> {
        for instance in self.store.all_instances().await? {
            if instance.status == InstanceStatus::Running {
                let state = self.hypervisor.power_state(&instance.instance_id).await;
                if matches!(state, Ok(ecslab_vmm::PowerState::Off)) {
                    self.store
                        .transition_instance(
                            &instance.instance_id,
                            &[InstanceStatus::Running],
                            InstanceStatus::Stopped,
                        )
                        .await?;
                    tracing::warn!(instance_id = %instance.instance_id, "VM process is gone; instance is now Stopped");
                }
            }
        }
        Ok(())
    }
}
