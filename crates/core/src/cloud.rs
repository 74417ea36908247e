//! The [`Cloud`] facade: the domain services the API calls, built and wired once, and the
//! start-up work (directories, adopting VMs a previous server started, resuming unfinished work
//! through the [`Runner`], following driver events, housekeeping).
//!
//! Each service holds only what it needs; they depend on each other one way:
//! images ← disks (and snapshots) ← instances ← image changes, images + disks ← image builds ←
//! instance snapshots, images ← exports. Screenshot jobs and networks stand beside them.

use crate::assistant::CloudAssistant;
use crate::buckets::Buckets;
use crate::config::CloudConfig;
use crate::disks::Disks;
use crate::exports::Exports;
use crate::image_builds::ImageBuilds;
use crate::image_changes::ImageChanges;
use crate::images::Images;
use crate::instance_snapshots::InstanceSnapshots;
use crate::instances::Instances;
use crate::key_pairs::KeyPairs;
use crate::metadata::Metadata;
use crate::monitor::Monitor;
use crate::mts::ScreenshotJobs;
use crate::network::datapath::DataPath;
use crate::network::Networks;
use crate::ram::Ram;
use crate::runner::Runner;
use crate::{Error, Result};
use ecslab_store::Store;
use ecslab_vmm::Hypervisor;
use std::sync::Arc;

/// The cloud: the services every API action runs against.
pub struct Cloud {
    store: Store,
    config: Arc<CloudConfig>,
    buckets: Arc<Buckets>,
    instances: Arc<Instances>,
    disks: Arc<Disks>,
    images: Arc<Images>,
    image_builds: Arc<ImageBuilds>,
    image_changes: Arc<ImageChanges>,
    instance_snapshots: Arc<InstanceSnapshots>,
    exports: Arc<Exports>,
    screenshot_jobs: Arc<ScreenshotJobs>,
    networks: Arc<Networks>,
    key_pairs: Arc<KeyPairs>,
    ram: Arc<Ram>,
    assistant: Arc<CloudAssistant>,
    sts: Arc<crate::sts::Sts>,
    monitor: Arc<Monitor>,
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
        let config = Arc::new(config);
        let buckets =
            Arc::new(Buckets::new(config.buckets_dir(), config.bucket_scratch_dir(), &config.buckets)?);
        let images = Arc::new(Images::new(store.clone(), config.clone()));
        let metadata = Arc::new(Metadata::new(store.clone(), config.region_id.clone()).await?);
        let datapath = Arc::new(DataPath::new(store.clone(), &config.data_dir, config.network, metadata));
        let networks = Arc::new(Networks::new(
            store.clone(),
            config.region_id.clone(),
            config.zone_id.clone(),
            config.public_cidr,
            datapath.clone(),
        ));
        let disks = Arc::new(Disks::new(store.clone(), hypervisor.clone(), config.clone(), images.clone()));
        let instances = Arc::new(Instances::new(
            store.clone(),
            hypervisor.clone(),
            config.clone(),
            images.clone(),
            disks.clone(),
            networks.clone(),
        ));
        let image_builds = Arc::new(ImageBuilds::new(
            store.clone(),
            config.clone(),
            buckets.clone(),
            images.clone(),
            disks.clone(),
        ));
        let image_changes = Arc::new(ImageChanges::new(
            store.clone(),
            config.clone(),
            instances.clone(),
            images.clone(),
            disks.clone(),
        ));
        let instance_snapshots = Arc::new(InstanceSnapshots::new(
            store.clone(),
            config.clone(),
            images.clone(),
            image_builds.clone(),
            disks.clone(),
        ));
        let exports = Arc::new(Exports::new(store.clone(), config.clone(), buckets.clone(), images.clone()));
        let screenshot_jobs = Arc::new(ScreenshotJobs::new(
            store.clone(),
            buckets.clone(),
            hypervisor.clone(),
            config.mts,
            config.jpeg_quality,
        ));
        instances.clone().spawn_event_loop();
        instances.adopt_instances().await?;
        // Adopted VMs keep their network: every VPC is applied again (and stale ones removed).
        datapath.sync_all().await?;
        Runner {
            store: store.clone(),
            disks: disks.clone(),
            image_changes: image_changes.clone(),
            image_builds: image_builds.clone(),
            instance_snapshots: instance_snapshots.clone(),
            exports: exports.clone(),
            screenshot_jobs: screenshot_jobs.clone(),
        }
        .resume_all()
        .await?;
        let assistant =
            Arc::new(CloudAssistant::new(store.clone(), hypervisor.clone(), config.region_id.clone()));
        let open_runs = assistant.resume().await?;
        if open_runs > 0 {
            tracing::info!(runs = open_runs, "resumed Cloud Assistant runs");
        }

        let sts = Arc::new(crate::sts::Sts::new(&store).await?);
        let monitor = Arc::new(Monitor::new(
            store.clone(),
            hypervisor.clone(),
            datapath.clone(),
            config.monitor_interval,
        ));
        monitor.clone().spawn_sampler();
        let cloud = Arc::new(Cloud {
            networks,
            key_pairs: Arc::new(KeyPairs::new(store.clone())),
            ram: Arc::new(Ram::new(store.clone())),
            assistant,
            sts,
            monitor,
            store,
            config,
            buckets,
            instances,
            disks,
            images,
            image_builds,
            image_changes,
            instance_snapshots,
            exports,
            screenshot_jobs,
        });
        cloud.disks.clone().spawn_housekeeping();
        Ok(cloud)
    }

    /// RunInstances, Start/Stop/Reboot/DeleteInstance, Describe*, screens and consoles.
    pub fn instances(&self) -> &Arc<Instances> {
        &self.instances
    }

    /// Disks and their snapshots.
    pub fn disks(&self) -> &Arc<Disks> {
        &self.disks
    }

    /// The image catalog.
    pub fn images(&self) -> &Arc<Images> {
        &self.images
    }

    /// ImportImage and CreateImage.
    pub fn image_builds(&self) -> &Arc<ImageBuilds> {
        &self.image_builds
    }

    /// ReplaceSystemDisk, RebuildDesktops and their records.
    pub fn image_changes(&self) -> &Arc<ImageChanges> {
        &self.image_changes
    }

    /// PAI-DSW instance snapshots.
    pub fn instance_snapshots(&self) -> &Arc<InstanceSnapshots> {
        &self.instance_snapshots
    }

    /// ExportImage and its tasks.
    pub fn exports(&self) -> &Arc<Exports> {
        &self.exports
    }

    /// The screenshot-job service (MTS's actions).
    pub fn screenshot_jobs(&self) -> &Arc<ScreenshotJobs> {
        &self.screenshot_jobs
    }

    /// VPCs, vSwitches and security groups.
    pub fn networks(&self) -> &Arc<Networks> {
        &self.networks
    }

    /// SSH key pairs (CreateKeyPair, ImportKeyPair, ..., AttachKeyPair).
    pub fn key_pairs(&self) -> &Arc<KeyPairs> {
        &self.key_pairs
    }

    /// RAM: users, access keys, groups, policies, roles; the policies that apply to a caller.
    pub fn ram(&self) -> &Arc<Ram> {
        &self.ram
    }

    /// Cloud Assistant: commands and their invocations over the guest agent.
    pub fn assistant(&self) -> &Arc<CloudAssistant> {
        &self.assistant
    }

    /// Instances' usage of the host: `/metrics` and DescribeInstanceMonitorData.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sts(&self) -> &crate::sts::Sts {
        &self.sts
    }

    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    pub fn buckets(&self) -> &Buckets {
        &self.buckets
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
}
