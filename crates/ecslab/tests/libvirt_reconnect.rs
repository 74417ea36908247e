//! The libvirt driver survives a libvirtd restart: `ecslab serve --driver libvirt` keeps serving
//! while libvirtd is down, reconnects on its own when it is back (no API call needed), and its
//! re-registered lifecycle callbacks report what happens afterwards; a VM that died while
//! libvirtd was down is reported too (the reconnect reconciles).
//!
//! libvirtd here is a private one (killing the shared system daemon would hurt whoever else uses
//! it): started in its own mount namespace (tmpfs over /run/libvirt, /var/lib/libvirt, ...) with
//! its own virtlogd, listening on loopback TCP only with `auth_tcp = "none"`. A holder process
//! keeps the namespace, so libvirtd can be killed and started again inside it (`nsenter`), and
//! finds its running domains as after a real restart.

mod common;

use common::*;
use ecslab::client::Signing;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOOT: Duration = Duration::from_secs(120);
const READY: &str = "VMTEST-GUEST-READY";

/// A private libvirtd (see the module doc).
struct PrivateLibvirtd {
    holder: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateLibvirtd {
    fn start() -> PrivateLibvirtd {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(
            dir.path().join("libvirtd.conf"),
            format!(
                "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"{port}\"\n\
                 auth_tcp = \"none\"\nlog_outputs = \"3:file:{}\"\n",
                dir.path().join("libvirtd.log").display()
            ),
        )
        .unwrap();
        let script = format!(
            "set -e\n\
             for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt/qemu; do\n\
               mkdir -p $d; mount -t tmpfs ecslab-test $d\n\
             done\n\
             mkdir -p /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu\n\
             virtlogd -d -p {dir}/virtlogd.pid\n\
             touch {dir}/namespace-ready\n\
             exec sleep 100000\n",
            dir = dir.path().display()
        );
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("holder.log")).unwrap())
            .spawn()
            .expect("unshare");
        let daemon = PrivateLibvirtd { holder, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !daemon.dir.path().join("namespace-ready").exists() {
            assert!(Instant::now() < deadline, "namespace set-up failed: {}", daemon.file("holder.log"));
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon.start_libvirtd();
        daemon
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Start libvirtd inside the holder's mount namespace and wait until it listens.
    fn start_libvirtd(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("libvirtd.pid"));
        let status = Command::new("nsenter")
            .arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .args(["libvirtd", "--daemon", "--listen", "-f"])
            .arg(self.dir.path().join("libvirtd.conf"))
            .arg("-p")
            .arg(self.dir.path().join("libvirtd.pid"))
            .status()
            .expect("nsenter libvirtd");
        assert!(status.success(), "libvirtd did not start: {}", self.file("libvirtd.log"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !listening(self.port) {
            assert!(Instant::now() < deadline, "libvirtd did not listen: {}", self.file("libvirtd.log"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn libvirtd_pid(&self) -> Option<i32> {
        self.file("libvirtd.pid").trim().parse().ok()
    }

    /// SIGKILL libvirtd (the domains keep running) and wait until it is gone.
    fn kill_libvirtd(&self) {
        let pid = self.libvirtd_pid().expect("libvirtd pid file");
        assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "libvirtd {pid} did not die");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn uri(&self) -> String {
        format!("qemu+tcp://127.0.0.1:{}/system", self.port)
    }

    fn virsh(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("virsh").arg("-c").arg(self.uri()).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

impl Drop for PrivateLibvirtd {
    fn drop(&mut self) {
        if let Some(pid) = self.libvirtd_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("virtlogd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Count of "reconnected to libvirt" lines in the server log.
fn reconnects(server: &Server) -> usize {
    server.log().matches("reconnected to libvirt").count()
}

async fn wait_reconnects(server: &Server, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reconnects(server) < at_least {
        assert!(Instant::now() < deadline, "the server did not reconnect; log:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_through_a_libvirtd_restart_and_reconnects_by_itself() {
    let daemon = PrivateLibvirtd::start();
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let uri = daemon.uri();
    let server = Server::start(&data, &["--driver", "libvirt", "--libvirt-uri", &uri]).await;
    let ecs = server.client(Signing::Acs3HmacSha256);
    let image_id = server.import_guest(&ecs).await;
    let id = run_instance(&ecs, &image_id, &[]).await;
    wait_status(&ecs, &id, "Running", BOOT).await;
    wait_console(&ecs, &id, READY, BOOT).await;
    let qemu = qemu_pids_of(&data.display().to_string());
    assert_eq!(qemu.len(), 1, "one QEMU for the instance");

    // libvirtd dies: the VM runs on and the API keeps answering.
    daemon.kill_libvirtd();
    assert!(Path::new(&format!("/proc/{}", qemu[0])).exists(), "the VM survives libvirtd");
    assert_eq!(instance(&ecs, &id).await["Status"], "Running");
    let shot = ecs.call("2014-05-26", "GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
    assert_error(&shot, 503, "ServiceUnavailable");

    // libvirtd is back: the server reconnects without being asked (no API call in between).
    daemon.start_libvirtd();
    wait_reconnects(&server, 1).await;
    let shot = ecs.ecs("GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
    assert!(!shot["Screenshot"].as_str().unwrap().is_empty());
    // Its lifecycle callbacks are registered again: a destroy from outside is noticed.
    let (ok, out) = daemon.virsh(&["destroy", &id]);
    assert!(ok, "{out}");
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;

    // Started again; this time the VM dies while libvirtd is down: reported after the reconnect.
    ecs.ecs("StartInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Running", BOOT).await;
    daemon.kill_libvirtd();
    kill_qemu_of(&data);
    assert_eq!(instance(&ecs, &id).await["Status"], "Running", "nothing can tell the server yet");
    daemon.start_libvirtd();
    wait_reconnects(&server, 2).await;
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;

    ecs.ecs("DeleteInstance", &[("InstanceId", id.clone()), ("Force", "true".into())]).await.unwrap();
    let (exists, _) = daemon.virsh(&["domstate", &id]);
    assert!(!exists, "the domain is undefined on the restarted libvirtd");
}
