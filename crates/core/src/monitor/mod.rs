//! What instances cost the host, for `/metrics` and DescribeInstanceMonitorData, from one source:
//! the QEMU process of each running instance, read in `/proc` (`procfs.rs`).
//!
//! `/metrics` reads every running instance's process at scrape time ([`Monitor::readings`]);
//! the sampler ([`Monitor::spawn_sampler`]) reads them, QEMU's own disk counters
//! (`Hypervisor::block_totals`) and the NICs' traffic (`DataPath::traffic`), every
//! `--monitor-interval-secs` (60 s by default, ECS's finest Period) into a history in memory,
//! 30 days deep at most, from which
//! DescribeInstanceMonitorData aggregates its points (`series.rs`). The history starts with the
//! server: a restarted server has no points for the time before it.

pub mod procfs;
pub mod series;

use crate::network::datapath::{DataPath, InstanceTraffic};
use crate::{lookup, Result};
use chrono::{Duration as TimeSpan, Utc};
use ecslab_store::{InstanceRecord, InstanceStatus, JobState, SnapshotStatus, Store};
use ecslab_vmm::Hypervisor;
use procfs::ProcessUsage;
use series::{MonitorQuery, Point, Sample};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// At most this many samples per instance: 30 days at the default interval.
const MAX_SAMPLES: usize = (series::RETENTION_DAYS as usize) * 24 * 60;

/// The sampler and its history.
pub struct Monitor {
    store: Store,
    hypervisor: Arc<dyn Hypervisor>,
    network: Arc<DataPath>,
    interval: Duration,
    proc_root: PathBuf,
    history: Mutex<HashMap<String, VecDeque<Sample>>>,
}

/// One instance and, while its process runs on this host, its usage now.
#[derive(Debug, Clone)]
pub struct InstanceReading {
    pub instance: InstanceRecord,
    pub usage: Option<ProcessUsage>,
    /// What its NICs carried, when they are in a namespace (see `DataPath::traffic`).
    pub traffic: Option<InstanceTraffic>,
}

impl Monitor {
    pub fn new(
        store: Store,
        hypervisor: Arc<dyn Hypervisor>,
        network: Arc<DataPath>,
        interval: Duration,
    ) -> Monitor {
        Monitor {
            store,
            hypervisor,
            network,
            interval,
            proc_root: PathBuf::from("/proc"),
            history: Mutex::default(),
        }
    }

    /// Seconds between two samples of an instance.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Sample every running instance now and then every interval, for the server's lifetime.
    pub fn spawn_sampler(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = self.sample_all().await {
                    tracing::warn!(error = %e.detail(), "sampling instances failed");
                }
            }
        });
    }

    /// Every instance of every account, with its process's usage where it runs here.
    pub async fn readings(&self) -> Result<Vec<InstanceReading>> {
        let instances = self.store.all_instances().await?;
        let traffic = self.network.traffic().await;
        Ok(instances
            .into_iter()
            .map(|instance| {
                let usage = self.read(&instance).map(|(_, usage)| usage);
                let traffic = usage.and(traffic.get(&instance.instance_id).copied());
                InstanceReading { instance, usage, traffic }
            })
            .collect())
    }

    /// Snapshots being created now (status `progressing`), of every account.
    pub async fn snapshots_in_flight(&self) -> Result<usize> {
        let snapshots = self.store.all_snapshots().await?;
        Ok(snapshots.iter().filter(|s| !s.deleted && s.status == SnapshotStatus::Progressing).count())
    }

    /// MTS screenshot jobs submitted and not done: (waiting in the queue, taken by a worker).
    pub async fn mts_queue(&self) -> Result<(usize, usize)> {
        let queued = self.store.snapshot_jobs_in_state(JobState::Submitted).await?.len();
        let running = self.store.snapshot_jobs_in_state(JobState::Snapshoting).await?.len();
        Ok((queued, running))
    }

    /// DescribeInstanceMonitorData: the points of one instance of `account_id`.
    pub async fn monitor_data(&self, account_id: &str, query: &MonitorQuery) -> Result<Vec<Point>> {
        let instance = lookup::instance(&self.store, account_id, &query.instance_id).await?;
        let vcpus = crate::catalog::find(&instance.instance_type).map_or(1, |t| t.vcpus);
        let samples: Vec<Sample> = self
            .lock()
            .get(&instance.instance_id)
            .map(|history| history.iter().copied().collect())
            .unwrap_or_default();
        Ok(series::aggregate(&samples, query, vcpus))
    }

    async fn sample_all(&self) -> Result<()> {
        let instances = self.store.all_instances().await?;
        let now = Utc::now();
        let oldest = now - TimeSpan::days(series::RETENTION_DAYS);
        let traffic = self.network.traffic().await;
        let mut readings: Vec<(String, Option<Sample>)> = Vec::with_capacity(instances.len());
        for instance in &instances {
            let mut sample = self.read(instance).map(|(pid, usage)| Sample {
                at: now,
                pid,
                usage,
                block: None,
                network: traffic.get(&instance.instance_id).copied(),
            });
            if let Some(sample) = &mut sample {
                match self.hypervisor.block_totals(&instance.instance_id).await {
                    Ok(block) => sample.block = block,
                    Err(e) => {
                        tracing::debug!(instance_id = %instance.instance_id, error = %e, "no block stats")
                    }
                }
            }
            readings.push((instance.instance_id.clone(), sample));
        }
        let mut history = self.lock();
        history.retain(|id, _| readings.iter().any(|(known, _)| known == id));
        for (instance_id, sample) in readings {
            let samples = history.entry(instance_id).or_default();
            if let Some(sample) = sample {
                samples.push_back(sample);
            }
            while samples.front().is_some_and(|s| s.at < oldest) || samples.len() > MAX_SAMPLES {
                samples.pop_front();
            }
        }
        Ok(())
    }

    /// The usage of an instance's process, when it is Running and its process is visible here.
    fn read(&self, instance: &InstanceRecord) -> Option<(u32, ProcessUsage)> {
        if instance.status != InstanceStatus::Running {
            return None;
        }
        let pid = self.hypervisor.process_id(&instance.instance_id)?;
        procfs::read_usage(&self.proc_root, pid).map(|usage| (pid, usage))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Sample>>> {
        self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
