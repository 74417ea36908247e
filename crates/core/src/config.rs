//! Settings of one ecslab cloud, fixed at `ecslab serve` time.

use ecslab_vmm::Accel;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// Everything ecslab owns lives under here: the store, images, disks, VM run dirs, buckets.
    pub data_dir: PathBuf,
    /// The one region this server is (`local` by default).
    pub region_id: String,
    /// The one zone of that region.
    pub zone_id: String,
    pub accel: Accel,
    /// How long a graceful stop waits for the guest before powering it off.
    pub stop_grace: Duration,
    /// Minimum interval between two GetInstanceScreenshot calls per instance (ECS uses 10 s);
    /// `None` turns the limit off, the default for self-hosted use.
    pub screenshot_min_interval: Option<Duration>,
    /// JPEG quality of screenshots (1-100).
    pub jpeg_quality: u8,
    /// The `qemu-img` binary.
    pub qemu_img: PathBuf,
    /// At most this many snapshots per disk (ECS: 64 in the older docs, 256 today).
    pub snapshot_quota: i64,
    /// How often retention and failed snapshot merges are looked at.
    pub housekeeping_interval: Duration,
    /// Buckets on S3-compatible stores (`--buckets-config`); every other name is a local folder.
    pub buckets: crate::buckets::BucketsConfig,
    /// OCI registries spoken to over plain HTTP (`host` or `host:port`); loopback ones always are.
    pub insecure_registries: Vec<String>,
    /// The screenshot-job engine (MTS): how many jobs and frame captures run at once.
    pub mts: MtsConfig,
    /// Where instances' public addresses come from (`--public-cidr`). The default is inside
    /// 127.0.0.0/8: the host reaches them, and nothing sent to them leaves the machine.
    pub public_cidr: ipnet::Ipv4Net,
    /// How instances' networks are built on this host.
    pub network: NetworkBackend,
    /// How long a DescribeInstanceVncUrl URL waits for its one connection (ECS: 15 s).
    pub vnc_url_validity: Duration,
}

/// How instances' networks are built (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkBackend {
    /// Namespaces, taps, DHCP and filters when this process can make them, else user mode.
    Auto,
    /// QEMU user-mode networking: each guest alone, reaching nothing, public ports fixed at boot.
    UserMode,
    /// No NIC at all (the fake driver, whose VMs open nothing).
    Off,
}

/// The default public address pool: 127.16.0.0/12, away from 127.0.0.1 and its neighbours.
pub const DEFAULT_PUBLIC_CIDR: &str = "127.16.0.0/12";

/// Limits of the screenshot-job engine (`--mts-workers`, `--mts-captures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtsConfig {
    /// Jobs run at once; the others wait in FIFO order (default 4).
    pub workers: usize,
    /// Frame grabs, decodes and encodes at once across all jobs (default: the number of CPUs).
    pub captures: usize,
}

impl Default for MtsConfig {
    fn default() -> MtsConfig {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        MtsConfig { workers: 4, captures: cpus }
    }
}

impl CloudConfig {
    pub fn new(data_dir: PathBuf, region_id: String, accel: Accel) -> CloudConfig {
        let zone_id = format!("{region_id}-a");
        CloudConfig {
            data_dir,
            region_id,
            zone_id,
            accel,
            stop_grace: Duration::from_secs(30),
            screenshot_min_interval: None,
            jpeg_quality: 85,
            qemu_img: PathBuf::from("qemu-img"),
            snapshot_quota: 64,
            housekeeping_interval: Duration::from_secs(60),
            buckets: crate::buckets::BucketsConfig::default(),
            insecure_registries: Vec::new(),
            mts: MtsConfig::default(),
            public_cidr: DEFAULT_PUBLIC_CIDR.parse().expect("a valid default"),
            network: NetworkBackend::Auto,
            vnc_url_validity: crate::vnc::DEFAULT_VNC_URL_VALIDITY,
        }
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }
    /// Every qcow2 layer of every disk and snapshot: tops, bases, snapshot files.
    pub fn layers_dir(&self) -> PathBuf {
        self.data_dir.join("layers")
    }

    /// A new, unused layer path.
    pub fn new_layer_path(&self) -> PathBuf {
        self.layers_dir().join(format!("{}.qcow2", crate::ids::new_id("l")))
    }
    pub fn vms_dir(&self) -> PathBuf {
        self.data_dir.join("vms")
    }
    pub fn buckets_dir(&self) -> PathBuf {
        self.data_dir.join("buckets")
    }
    /// Remote objects downloaded for a tool that needs a file (emptied at start).
    pub fn bucket_scratch_dir(&self) -> PathBuf {
        self.data_dir.join("tmp").join("bucket-downloads")
    }
}
