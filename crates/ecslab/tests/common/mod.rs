//! Test harness shared by the integration tests: start `ecslab serve` as a real process on a
//! free port with its own data directory, talk to it with the signed client, and clean up every
//! QEMU process it left behind (VMs outlive the server by design).

#![allow(dead_code)]

use ecslab::client::{Client, Connection, Reply, Signing};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The test guest built by `scripts/build-guest-image`.
pub fn guest_image() -> PathBuf {
    let dir = std::env::var_os("ECSLAB_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("build/guest"));
    let image = dir.join("guest.qcow2");
    assert!(
        image.is_file(),
        "{} is missing: run scripts/build-guest-image first (or set ECSLAB_GUEST_DIR)",
        image.display()
    );
    image
}

pub struct Server {
    pub data_dir: PathBuf,
    pub port: u16,
    pub connection: Connection,
    pub log_path: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
    /// Extra environment for the next (re)start, e.g. `ECSLAB_CRASH_AT`.
    pub env: Vec<(String, String)>,
    /// A command the server runs under, e.g. `prlimit --fsize=N`.
    pub wrapper: Vec<String>,
}

/// What `ecslab serve` logs once its listener is bound.
const SERVING: &str = "ecslab serving";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// True once something listens on 127.0.0.1:`port`. A connect to a loopback port nobody listens on can land on
/// itself (TCP simultaneous open, when the kernel picks `port` as the source port): that is not a listener.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

impl Server {
    /// Start a server on `data_dir` (created if needed) with extra `serve` arguments.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut server = Server {
            data_dir: data_dir.to_path_buf(),
            port: free_port(),
            connection: Connection {
                endpoint: String::new(),
                access_key_id: String::new(),
                access_key_secret: String::new(),
                region: "local".into(),
            },
            log_path: data_dir.join("server.log"),
            child: None,
            args: extra.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            wrapper: Vec::new(),
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let servings_before = self.log().matches(SERVING).count();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).unwrap();
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_ecslab"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_ecslab")),
        };
        let child = command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--accel", "tcg", "--stop-grace-secs", "10"])
            .args(driver_args(&self.args))
            .args(&self.args)
            .env("ECSLAB_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning ecslab serve");
        self.child = Some(child);
        // Ready once this start logged that it serves (the log is appended across restarts) and the port answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log().matches(SERVING).count() <= servings_before || !listening(self.port) {
            assert!(Instant::now() < deadline, "server did not listen; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(self.data_dir.join("admin-credentials.json")).unwrap(),
        )
        .unwrap();
        self.connection.endpoint = format!("127.0.0.1:{}", self.port);
        self.connection.access_key_id = creds["AccessKeyId"].as_str().unwrap().to_string();
        self.connection.access_key_secret = creds["AccessKeySecret"].as_str().unwrap().to_string();
    }

    pub fn client(&self, signing: Signing) -> Client {
        Client::new(self.connection.clone()).with_signing(signing)
    }

    /// SIGKILL the server (a crash), leaving its VMs running.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Restart with other `serve` arguments.
    pub async fn restart_with(&mut self, args: &[&str]) {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.restart().await;
    }

    /// Start the server again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.crash();
        self.spawn().await;
    }

    /// Wait until the server process exits on its own (an injected crash); true if it did.
    pub async fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Copy the test guest into a bucket and import it; returns the ImageId once Available.
    pub async fn import_guest(&self, client: &Client) -> String {
        self.import_file(client, &guest_image(), "guest").await
    }

    /// Copy a qcow2 file into a bucket and import it as `name`; returns the ImageId once Available.
    pub async fn import_file(&self, client: &Client, file: &Path, name: &str) -> String {
        let bucket = self.data_dir.join("buckets/test-images");
        std::fs::create_dir_all(&bucket).unwrap();
        let object = format!("{name}.qcow2");
        std::fs::copy(file, bucket.join(&object)).unwrap();
        let reply = client
            .ecs(
                "ImportImage",
                &[
                    ("ImageName", name.to_string()),
                    ("DiskDeviceMapping.1.OSSBucket", "test-images".into()),
                    ("DiskDeviceMapping.1.OSSObject", object),
                    ("DiskDeviceMapping.1.Format", "qcow2".into()),
                ],
            )
            .await
            .unwrap();
        let image_id = reply["ImageId"].as_str().unwrap().to_string();
        wait_until(Duration::from_secs(60), || async {
            let r = client.ecs("DescribeImages", &[("ImageId", image_id.clone())]).await.unwrap();
            r["Images"]["Image"][0]["Status"] == "Available"
        })
        .await;
        image_id
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- last server log lines ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        self.crash();
        kill_qemu_of(&self.data_dir);
        if test_driver() == "libvirt" {
            undefine_domains_of(&self.data_dir);
        }
    }
}

/// The VM driver the real-VM tests run against: `ECSLAB_TEST_DRIVER` = `qemu` (default) or
/// `libvirt` (through `ECSLAB_TEST_LIBVIRT_URI`, default `qemu:///system`). One suite, two drivers.
pub fn test_driver() -> String {
    std::env::var("ECSLAB_TEST_DRIVER").unwrap_or_else(|_| "qemu".into())
}

pub fn test_libvirt_uri() -> String {
    std::env::var("ECSLAB_TEST_LIBVIRT_URI").unwrap_or_else(|_| "qemu:///system".into())
}

/// `serve` arguments selecting the test driver, unless the test picked a driver itself.
fn driver_args(test_args: &[String]) -> Vec<String> {
    if test_args.iter().any(|a| a == "--driver") {
        return Vec::new();
    }
    match test_driver().as_str() {
        "libvirt" => vec!["--driver".into(), "libvirt".into(), "--libvirt-uri".into(), test_libvirt_uri()],
        other => vec!["--driver".into(), other.to_string()],
    }
}

/// Destroy and undefine the libvirt domains whose definition mentions `data_dir` (the libvirt
/// driver's domains are persistent and would outlive the test).
pub fn undefine_domains_of(data_dir: &Path) {
    let uri = test_libvirt_uri();
    let virsh = |args: &[&str]| {
        Command::new("virsh")
            .arg("-c")
            .arg(&uri)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let needle = data_dir.display().to_string();
    for name in virsh(&["list", "--all", "--name"]).lines().map(str::trim).filter(|n| n.starts_with("i-")) {
        if virsh(&["dumpxml", "--inactive", name]).contains(&needle) {
            virsh(&["destroy", name]);
            virsh(&["undefine", name]);
        }
    }
}

/// Kill every QEMU process whose command line mentions `data_dir`.
pub fn kill_qemu_of(data_dir: &Path) {
    let needle = data_dir.display().to_string();
    for pid in qemu_pids_of(&needle) {
        unsafe_free_kill(pid);
    }
}

pub fn qemu_pids_of(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("qemu-system") && cmdline.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

fn unsafe_free_kill(pid: i32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// Poll `check` until it is true or `limit` passes (then panic).
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// RunInstances of one `ecs.lab.tiny` instance from `image_id` with extra parameters; returns
/// its id (not waiting for Running).
pub async fn run_instance(client: &Client, image_id: &str, extra: &[(&str, String)]) -> String {
    let mut params = vec![("ImageId", image_id.to_string()), ("InstanceType", "ecs.lab.tiny".to_string())];
    params.extend(extra.iter().cloned());
    let run = client.ecs("RunInstances", &params).await.unwrap();
    run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string()
}

/// An instance with a 1 GiB data disk that has run once and is now Stopped (the fake driver
/// makes that instant); returns (instance id, data disk id).
pub async fn used_stopped_instance(client: &Client, image_id: &str) -> (String, String) {
    let id = run_instance(client, image_id, &[("DataDisk.1.Size", "1".into())]).await;
    wait_status(client, &id, "Running", Duration::from_secs(30)).await;
    client.ecs("StopInstance", &[("InstanceId", id.clone()), ("ForceStop", "true".into())]).await.unwrap();
    wait_status(client, &id, "Stopped", Duration::from_secs(30)).await;
    (id.clone(), disk_of(client, &id, "data").await)
}

/// The id of an instance's disk of `kind` (`system` or `data`).
pub async fn disk_of(client: &Client, instance_id: &str, kind: &str) -> String {
    let disks = client
        .ecs("DescribeDisks", &[("InstanceId", instance_id.to_string()), ("DiskType", kind.to_string())])
        .await
        .unwrap();
    disks["Disks"]["Disk"][0]["DiskId"].as_str().unwrap().to_string()
}

pub async fn instance(client: &Client, id: &str) -> Value {
    let reply = client.ecs("DescribeInstances", &[("InstanceIds", format!("[\"{id}\"]"))]).await.unwrap();
    reply["Instances"]["Instance"][0].clone()
}

pub async fn wait_status(client: &Client, id: &str, status: &str, limit: Duration) {
    wait_until(limit, || async { instance(client, id).await["Status"] == status }).await;
}

pub async fn console(client: &Client, id: &str) -> String {
    use base64::Engine;
    let reply = client.ecs("GetInstanceConsoleOutput", &[("InstanceId", id.to_string())]).await.unwrap();
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(reply["ConsoleOutput"].as_str().unwrap()).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub async fn wait_console(client: &Client, id: &str, needle: &str, limit: Duration) {
    wait_until(limit, || async { console(client, id).await.contains(needle) }).await;
}

pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "unexpected reply: {}", reply.body);
    assert!(reply.body["RequestId"].as_str().is_some_and(|r| !r.is_empty()), "no RequestId: {}", reply.body);
}

/// Send a line to the guest's serial console (its root shell).
pub fn type_on_serial(data_dir: &Path, instance_id: &str, line: &str) {
    use std::io::Write;
    let socket = data_dir.join("vms").join(instance_id).join("serial.sock");
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
}
