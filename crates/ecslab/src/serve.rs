//! `ecslab serve`: open the store, bootstrap the admin credentials, pick the driver and the
//! accelerator, adopt running VMs, and serve the API until Ctrl-C or SIGTERM. Stopping the
//! server never stops the VMs: the next `serve` adopts them.

use clap::Args;
use ecslab_api::{app, front, AppState, FrontOptions, ServerOptions};
use ecslab_core::buckets::BucketsConfig;
use ecslab_core::config::NetworkBackend;
use ecslab_core::{Cloud, CloudConfig};
use ecslab_store::{AccessKey, Store};
use ecslab_vmm::accel::{choose_accel, AccelChoice, HostVirt};
use ecslab_vmm::fake::FakeHypervisor;
use ecslab_vmm::libvirt::{LibvirtConfig, LibvirtDriver};
use ecslab_vmm::qemu::{QemuConfig, QemuDriver};
use ecslab_vmm::Hypervisor;
use rand::distributions::Alphanumeric;
use rand::Rng;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where ecslab keeps its store, images, disks, VM run directories and buckets.
    #[arg(long, default_value = "./var")]
    data_dir: PathBuf,
    /// VM driver: `qemu` (QEMU processes over QMP), `libvirt` (persistent libvirt domains, see
    /// --libvirt-uri) or `fake` (in memory, for tests of pure logic).
    #[arg(long, default_value = "qemu")]
    driver: String,
    /// Accelerator: `auto` uses KVM only where it really works (hardware vmx/svm), else TCG.
    #[arg(long, default_value = "auto")]
    accel: AccelChoice,
    /// The region this server is; requests naming another RegionId are refused.
    #[arg(long, default_value = "local")]
    region: String,
    /// Seconds a graceful StopInstance waits for the guest before powering it off.
    #[arg(long, default_value_t = 30)]
    stop_grace_secs: u64,
    /// Minimum seconds between two screenshots of one instance (ECS uses 10); 0 is no limit.
    #[arg(long, default_value_t = 0)]
    screenshot_min_interval_secs: u64,
    /// Seconds a DescribeInstanceVncUrl URL waits for its one connection (ECS: 15).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    vnc_url_validity_secs: u64,
    /// At most this many snapshots per disk (QuotaExceed.Snapshot beyond).
    #[arg(long, default_value_t = 64)]
    snapshot_quota: i64,
    /// Seconds between housekeeping rounds (snapshot retention, retries of failed merges).
    #[arg(long, default_value_t = 60)]
    housekeeping_secs: u64,
    /// The libvirt connection of the libvirt driver: local `qemu:///system` or a remote host
    /// (`qemu+ssh://user@host/system`, `qemu+tcp://host/system`; see deploy/libvirt.md).
    #[arg(long, default_value = "qemu:///system")]
    libvirt_uri: String,
    /// JSON file naming the buckets that live on S3-compatible object stores, each with its
    /// endpoint, region, remote bucket name, credentials and `allow_http`:
    /// `{"buckets": {"media": {"endpoint": "http://127.0.0.1:9000", "bucket": "lab-media",
    /// "access_key_id": "...", "secret_access_key": "...", "allow_http": true}}}`.
    /// Every other bucket name is the local folder DATA/buckets/NAME (see docs/BUCKETS.md).
    #[arg(long)]
    buckets_config: Option<PathBuf>,
    /// An OCI registry (`host` or `host:port`) reached over plain HTTP when PAI-DSW instance
    /// snapshots are pushed to it; repeat for several. Loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// The qemu-system binary for the qemu driver.
    #[arg(long, default_value = "qemu-system-x86_64")]
    qemu_binary: PathBuf,
    /// Seconds a client has to send a whole request head (request line and headers), counted
    /// from its first byte, or from the connection's start for its first request. A client that
    /// sends nothing, blank lines or half a request line is cut off after this (408 envelope).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may stay silent between two requests before it is closed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_secs: u64,
    /// Seconds a client has to send a request body, and to take a reply; beyond, the request
    /// gets a 408 envelope (or the connection is closed) so that slow clients cannot hold it.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_secs: u64,
    /// Client connections served at once. Beyond it a new connection is answered at once with a
    /// 503 ServiceUnavailable envelope and closed (it does not wait in line), so no number of
    /// slow or idle clients can take the server's file descriptors and memory.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Screenshot jobs (MTS SubmitSnapshotJob) run at once; queued jobs wait in FIFO order.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    mts_workers: u64,
    /// Frame grabs, video decodes and JPEG encodes of screenshot jobs at once, across all jobs
    /// (jobs interleave frame by frame). Default: the number of CPUs.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    mts_captures: Option<u64>,
    /// Where instances' public addresses come from (InternetMaxBandwidthOut > 0,
    /// AllocatePublicIpAddress). The default, inside 127.0.0.0/8, is reached from this host only
    /// and nothing sent to it leaves the machine; a deployment may name a routed range instead
    /// (see deploy/).
    #[arg(long, default_value = ecslab_core::config::DEFAULT_PUBLIC_CIDR, value_name = "CIDR")]
    public_cidr: ipnet::Ipv4Net,
    /// How instances get their network: `auto` builds one network namespace per VPC (needs root,
    /// nftables and dnsmasq) and falls back to `user` when it cannot; `user` is QEMU's user-mode
    /// networking (each guest alone, its public address forwarding the ports its rules open at
    /// boot; no traffic between instances). See deploy/networking.md.
    #[arg(long, default_value = "auto", value_parser = ["auto", "user"])]
    network: String,
    /// Turn on `GET /metrics` (Prometheus text format) on the API port, for scrapers sending
    /// `Authorization: Bearer TOKEN`. Without a token `/metrics` is off (404). Prefer the
    /// environment variable ECSLAB_METRICS_TOKEN, which keeps the token out of `ps`.
    #[arg(long, env = "ECSLAB_METRICS_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    metrics_token: Option<String>,
    /// Seconds between two samples of every running instance's QEMU process (CPU, memory, disk
    /// I/O) for DescribeInstanceMonitorData; its Period stays 60 s at least.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=60))]
    monitor_interval_secs: u64,
    /// Skip the timestamp window and nonce checks (only to replay recorded requests).
    #[arg(long, hide = true)]
    insecure_no_freshness_checks: bool,
}

pub async fn run(args: ServeArgs) -> Result<(), String> {
    init_logging();
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("creating {}: {e}", args.data_dir.display()))?;
    let data_dir = std::path::absolute(&args.data_dir).map_err(|e| e.to_string())?;
    let store =
        Store::open(&data_dir.join("ecslab.db")).await.map_err(|e| format!("opening the store: {e}"))?;
    bootstrap_admin(&store, &data_dir).await?;

    let (accel, why) = choose_accel(args.accel, &HostVirt::probe());
    tracing::info!(accel = accel.qemu_name(), reason = %why, "accelerator chosen");
    let hypervisor: Arc<dyn Hypervisor> = match args.driver.as_str() {
        "qemu" => Arc::new(QemuDriver::new(QemuConfig {
            qemu_binary: args.qemu_binary.clone(),
            ..QemuConfig::default()
        })),
        "libvirt" => {
            let driver = LibvirtDriver::new(LibvirtConfig::for_uri(&args.libvirt_uri));
            driver
                .connect()
                .await
                .map_err(|e| format!("connecting to libvirt at {}: {e}", args.libvirt_uri))?;
            Arc::new(driver)
        }
        "fake" => Arc::new(FakeHypervisor::default()),
        other => return Err(format!("unknown driver {other:?} (expected qemu, libvirt or fake)")),
    };
    let mut config = CloudConfig::new(data_dir.clone(), args.region.clone(), accel);
    config.stop_grace = Duration::from_secs(args.stop_grace_secs);
    config.snapshot_quota = args.snapshot_quota;
    config.insecure_registries = args.insecure_registries.clone();
    config.housekeeping_interval = Duration::from_secs(args.housekeeping_secs.max(1));
    config.vnc_url_validity = Duration::from_secs(args.vnc_url_validity_secs);
    config.screenshot_min_interval = (args.screenshot_min_interval_secs > 0)
        .then(|| Duration::from_secs(args.screenshot_min_interval_secs));
    config.public_cidr = args.public_cidr;
    config.monitor_interval = Duration::from_secs(args.monitor_interval_secs);
    config.network = match (args.driver.as_str(), args.network.as_str()) {
        ("fake", _) => NetworkBackend::Off,
        (_, "user") => NetworkBackend::UserMode,
        _ => NetworkBackend::Auto,
    };
    config.mts.workers = usize::try_from(args.mts_workers).map_err(|e| e.to_string())?;
    if let Some(captures) = args.mts_captures {
        config.mts.captures = usize::try_from(captures).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.buckets_config {
        config.buckets = BucketsConfig::load(path)?;
        tracing::info!(path = %path.display(), buckets = ?config.buckets, "S3-compatible buckets configured");
    }
    let cloud =
        Cloud::start(store, hypervisor, config).await.map_err(|e| format!("starting the cloud: {e:?}"))?;

    let metrics_token = args.metrics_token.clone().filter(|token| !token.is_empty());
    tracing::info!(on = metrics_token.is_some(), "/metrics");
    let options = ServerOptions { check_freshness: !args.insecure_no_freshness_checks, metrics_token };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.listen))?;
    tracing::info!(
        listen = %args.listen,
        data_dir = %data_dir.display(),
        driver = %args.driver,
        region = %args.region,
        "ecslab serving"
    );
    let limits = FrontOptions {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    tracing::info!(?limits, "connection limits");
    front::serve(listener, app(AppState::new(cloud, options)), limits, shutdown_signal())
        .await
        .map_err(|e| format!("serving: {e}"))?;
    tracing::info!("ecslab stopped; running VMs keep running and are adopted by the next start");
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECSLAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}

fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// On first start, create the admin account and write its key to `DIR/admin-credentials.json`
/// (mode 0600). Later starts keep both.
async fn bootstrap_admin(store: &Store, data_dir: &Path) -> Result<(), String> {
    let path = data_dir.join("admin-credentials.json");
    if store.count_access_keys().await.map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let key = AccessKey {
        access_key_id: format!("LTAI{}", random_string(20)),
        access_key_secret: random_string(30),
        account_id: ecslab_store::ADMIN_ACCOUNT_ID.into(),
        enabled: true,
        user_id: None,
        user_name: None,
    };
    store
        .create_account(&key.account_id, "admin", &key)
        .await
        .map_err(|e| format!("creating the admin account: {e}"))?;
    let json =
        serde_json::json!({ "AccessKeyId": key.access_key_id, "AccessKeySecret": key.access_key_secret });
    write_private(&path, &(serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n"))?;
    tracing::info!(path = %path.display(), "admin credentials written");
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))
}
