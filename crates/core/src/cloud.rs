//! The [`Cloud`] service object: shared state for every action, and start-up work (directories,
//! adopting VMs a previous server started, resuming unfinished imports, the driver-event loop).

use crate::config::CloudConfig;
use crate::status::{on_process_gone, InstanceStatus};
use crate::{Error, Result};
use ecslab_store::Store;
use ecslab_vmm::{Hypervisor, PowerState, StopCause, VmEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The cloud: what every API action runs against.
pub struct Cloud {
    pub(crate) store: Store,
    pub(crate) hypervisor: Arc<dyn Hypervisor>,
    pub(crate) config: CloudConfig,
    /// Last screenshot time per instance, for the optional minimum interval.
    pub(crate) last_screenshot: Mutex<HashMap<String, Instant>>,
    /// Held while snapshot files are rewritten or read to build something (seal, delete,
    /// reset, copies): those steps see a stable set of snapshot files.
    pub(crate) chain_lock: tokio::sync::Mutex<()>,
    /// Screenshot jobs (MTS): a service of its own, sharing the store, buckets and hypervisor.
    screenshot_jobs: Arc<crate::mts::ScreenshotJobs>,
    /// Local and S3-compatible buckets (ImportImage, exports, MTS inputs and outputs).
    pub(crate) buckets: Arc<crate::buckets::Buckets>,
    /// VPCs, vSwitches and security groups: a service of its own, sharing only the store.
    networks: crate::network::Networks,
}

impl Cloud {
    /// Build the cloud, create its directories, adopt running VMs, resume unfinished work, and
    /// start the loop that follows driver events.
    pub async fn start(
        store: Store,
        hypervisor: Arc<dyn Hypervisor>,
        config: CloudConfig,
    ) -> Result<Arc<Cloud>> {
        for dir in [config.images_dir(), config.layers_dir(), config.vms_dir(), config.buckets_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        let buckets = Arc::new(crate::buckets::Buckets::new(
            config.buckets_dir(),
            config.bucket_scratch_dir(),
            &config.buckets,
        )?);
        let screenshot_jobs = Arc::new(crate::mts::ScreenshotJobs::new(
            store.clone(),
            buckets.clone(),
            hypervisor.clone(),
            config.mts,
            config.jpeg_quality,
        ));
        let networks =
            crate::network::Networks::new(store.clone(), config.region_id.clone(), config.zone_id.clone());
        let cloud = Arc::new(Cloud {
            networks,
            buckets,
            store,
            hypervisor,
            config,
            last_screenshot: Mutex::new(HashMap::new()),
            chain_lock: tokio::sync::Mutex::new(()),
            screenshot_jobs,
        });
        cloud.clone().spawn_event_loop();
        cloud.adopt_instances().await?;
        cloud.resume_image_changes().await?;
        cloud.resume_operations().await?;
        cloud.resume_imports().await?;
        cloud.resume_instance_snapshots().await?;
        cloud.resume_tasks().await?;
        cloud.resume_disk_copies().await?;
        cloud.screenshot_jobs.start().await?;
        cloud.clone().spawn_housekeeping();
        Ok(cloud)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    pub fn buckets(&self) -> &crate::buckets::Buckets {
        &self.buckets
    }

    /// The screenshot-job service (MTS's actions).
    pub fn screenshot_jobs(&self) -> &Arc<crate::mts::ScreenshotJobs> {
        &self.screenshot_jobs
    }

    /// The networking service (VPCs, vSwitches, security groups).
    pub fn networks(&self) -> &crate::network::Networks {
        &self.networks
    }

    pub fn region_id(&self) -> &str {
        &self.config.region_id
    }

    /// Check a request's RegionId against this server's region.
    pub fn check_region(&self, region_id: Option<&str>) -> Result<()> {
        match region_id {
            Some(r) if r != self.config.region_id => Err(Error::InvalidRegionId { region_id: r.to_string() }),
            _ => Ok(()),
        }
    }

    /// Periodic work: releasing snapshots whose retention is over, retrying failed merges.
    fn spawn_housekeeping(self: Arc<Self>) {
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

    fn spawn_event_loop(self: Arc<Self>) {
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
