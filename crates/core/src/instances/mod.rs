//! Instance lifecycle: create, start, stop, reboot, delete, and what can be read from a running
//! VM (screen, serial console).
//!
//! Every change of status is a conditional store update decided by [`status::admit`], so two
//! racing requests cannot both win. The slow part (booting, waiting for a guest to power off)
//! runs in a background task after the API call has answered, as on ECS; the instance shows a
//! transitional status (`Pending`, `Starting`, `Stopping`) until it is done.

mod events;
mod guest_delivery;
mod power;
mod reading;
mod settings;
mod vnc;

pub use settings::{InstanceUserData, ModifyInstanceAttribute};

use crate::catalog::{self, InstanceType};
use crate::config::CloudConfig;
use crate::disks::Disks;
use crate::ids::new_id;
use crate::images::Images;
use crate::network::interfaces::address_refusal;
use crate::network::Networks;
use crate::requests::CreateInstances;
use crate::status::{self, Admission, InstanceStatus, Request};
use crate::{Error, Result};
use ecslab_store::{
    now_rfc3339, DiskRecord, InstanceRecord, InstanceRefusal, NetworkInterfaceRecord, NewInterface, Store,
};
use ecslab_vmm::Hypervisor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An instance with what Describe calls show about it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub record: InstanceRecord,
    pub instance_type: &'static InstanceType,
    pub disks: Vec<DiskRecord>,
    /// Its primary network interface (none for instances made before networking).
    pub interface: Option<NetworkInterfaceRecord>,
    /// The SSH key pair bound to it.
    pub key_pair_name: Option<String>,
    /// Its metadata options (MetadataOptions in DescribeInstances).
    pub http_endpoint: ecslab_store::MetadataEndpoint,
    pub http_tokens: ecslab_store::MetadataTokens,
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

/// Instances: their records, their VM processes, what can be read from them.
pub struct Instances {
    store: Store,
    hypervisor: Arc<dyn Hypervisor>,
    config: Arc<CloudConfig>,
    images: Arc<Images>,
    disks: Arc<Disks>,
    /// Where instances sit on the network.
    networks: Arc<Networks>,
    /// Last screenshot time per instance, for the optional minimum interval.
    last_screenshot: Mutex<HashMap<String, Instant>>,
    /// The one-time tokens of DescribeInstanceVncUrl.
    vnc_tickets: crate::vnc::VncTickets,
}

impl Instances {
    pub(crate) fn new(
        store: Store,
        hypervisor: Arc<dyn Hypervisor>,
        config: Arc<CloudConfig>,
        images: Arc<Images>,
        disks: Arc<Disks>,
        networks: Arc<Networks>,
    ) -> Instances {
        let vnc_tickets = crate::vnc::VncTickets::new(config.vnc_url_validity);
        Instances {
            vnc_tickets,
            store,
            hypervisor,
            config,
            images,
            disks,
            networks,
            last_screenshot: Mutex::new(HashMap::new()),
        }
    }

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
        let image = self.images.available_image(account_id, &req.image_id).await?;
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
        let settings = crate::guest_settings::new_settings(&self.store, account_id, &req.guest).await?;
        if req.dry_run {
            return Err(Error::DryRunOperation);
        }
        // Decided once (the default VPC, vSwitch and group are made here on first use); each
        // instance gets its own interface id, MAC and addresses.
        let network = self.networks.plan_interface(account_id, "", &req.network).await?;

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
            let planned = network.for_instance(&instance_id);
            let pick_private = |taken: &[String]| planned.pick_private(taken);
            let pick_public = |taken: &[String]| planned.pick_public(taken);
            let interface = NewInterface {
                record: planned.record.clone(),
                pick_private: &pick_private,
                pick_public: if planned.wants_public() { Some(&pick_public) } else { None },
            };
            let disks =
                self.disks.create_instance_disks(account_id, &instance_id, &image, system_gib, &req).await?;
            let stored = match self.store.insert_instance(&record, &disks, Some(&interface), &settings).await
            {
                Ok(Ok(stored)) => stored,
                Ok(Err(InstanceRefusal::Address(refusal))) => {
                    crate::disks::remove_disk_files(&disks);
                    return Err(address_refusal(refusal, &planned));
                }
                Ok(Err(InstanceRefusal::KeyPairGone)) => {
                    crate::disks::remove_disk_files(&disks);
                    return Err(crate::guest_settings::key_pair_not_found(
                        req.guest.key_pair_name.as_deref().unwrap_or_default(),
                    ));
                }
                Err(e) => {
                    crate::disks::remove_disk_files(&disks);
                    return Err(e.into());
                }
            };
            if let Some(nic) = &stored {
                tracing::info!(instance_id = %instance_id, vswitch_id = %nic.vswitch_id, private_ip = %nic.private_ip, public_ip = %nic.public_ip, "instance network interface");
            }
            tracing::info!(instance_id = %instance_id, image_id = %image.image_id, instance_type = %instance_type.id, "instance created");
            if req.start {
                self.clone().spawn_boot(instance_id.clone());
            }
            ids.push(instance_id);
        }
        Ok(ids)
    }

    // ---- lifecycle -----------------------------------------------------------------------------

    /// Look up an instance of this account, or `InvalidInstanceId.NotFound`.
    pub async fn instance(&self, account_id: &str, instance_id: &str) -> Result<InstanceRecord> {
        crate::lookup::instance(&self.store, account_id, instance_id).await
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
        let instance = crate::lookup::instance(&self.store, account_id, instance_id).await?;
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
            self.disks.wait_for_disk_operations(&attached, Duration::from_secs(600)).await?;
            let vpcs = self.networks.datapath().release(instance_id).await;
            Ok::<_, Error>((self.store.delete_instance(instance_id).await?, vpcs))
        }
        .await;
        let disks = match removed {
            Ok((disks, vpcs)) => {
                for vpc_id in vpcs {
                    self.networks.datapath().sync_logged(&vpc_id).await;
                }
                disks
            }
            Err(e) => {
                self.settle_failed_delete(instance_id, InstanceStatus::Stopped).await;
                return Err(e);
            }
        };
        crate::disks::remove_disk_files(&disks);
        self.disks.collect_deleted_snapshots().await;
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
}
