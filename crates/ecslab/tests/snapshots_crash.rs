//! Crash safety of the chain operations: the server is killed (an injected abort, like SIGKILL)
//! at each step of CreateSnapshot, ResetDisk and DeleteSnapshot. After a restart every
//! operation has either completed or been rolled back, the live disk and every snapshot hold
//! exactly what they held, and nothing is left half-done.

mod common;

use common::*;
use ecslab::client::{Client, Signing};
use ecslab_store::Store;
use std::path::Path;
use std::time::Duration;

const A: u8 = 0x11;
const B: u8 = 0x22;
const C: u8 = 0x33;

fn write(file: &Path, pattern: u8) {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", &format!("write -P {pattern} 0 64k")])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn holds(file: &Path, pattern: u8) -> bool {
    let out = std::process::Command::new("qemu-io")
        .args(["-r", "-U", "-f", "qcow2", "-c", &format!("read -P {pattern} 0 64k")])
        .arg(file)
        .output()
        .unwrap();
    out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("fail")
}

struct Setup {
    server: Server,
    store: Store,
    disk_id: String,
    s1: String,
    s2: String,
}

async fn snapshot(ecs: &Client, disk_id: &str) -> String {
    let r = ecs.ecs("CreateSnapshot", &[("DiskId", disk_id.to_string())]).await.unwrap();
    let id = r["SnapshotId"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(30), || async {
        let r = ecs.ecs("DescribeSnapshots", &[("SnapshotIds", format!("[\"{id}\"]"))]).await.unwrap();
        r["Snapshots"]["Snapshot"][0]["Status"] == "accomplished"
    })
    .await;
    id
}

/// A stopped instance whose data disk has snapshots S1 (A) and S2 (B), and live content C.
async fn setup(dir: &Path) -> Setup {
    let server = Server::start(dir, &["--driver", "fake"]).await;
    let ecs = server.client(Signing::RpcHmacSha1);
    let image_id = server.import_guest(&ecs).await;
    let (_instance_id, disk_id) = used_stopped_instance(&ecs, &image_id).await;
    let store = Store::open(&server.data_dir.join("ecslab.db")).await.unwrap();
    let top = |store: Store, id: String| async move { store.disk_by_id(&id).await.unwrap().unwrap().path };
    write(Path::new(&top(store.clone(), disk_id.clone()).await), A);
    let s1 = snapshot(&ecs, &disk_id).await;
    write(Path::new(&top(store.clone(), disk_id.clone()).await), B);
    let s2 = snapshot(&ecs, &disk_id).await;
    write(Path::new(&top(store.clone(), disk_id.clone()).await), C);
    Setup { server, store, disk_id, s1, s2 }
}

impl Setup {
    async fn live_holds(&self, pattern: u8) -> bool {
        holds(Path::new(&self.store.disk_by_id(&self.disk_id).await.unwrap().unwrap().path), pattern)
    }

    /// Whether snapshot `id` reads `pattern`. The test reads files the server may be merging a
    /// deleted parent into right now (the server's own readers take its chain lock; this one
    /// cannot), so a failed read is retried once the merge had time to finish.
    async fn snapshot_holds(&self, id: &str, pattern: u8) -> bool {
        for _ in 0..5 {
            let s = self.store.snapshot_by_id(id).await.unwrap().unwrap();
            if holds(Path::new(&s.path), pattern) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        false
    }

    /// Restart with a crash point armed, run `op` (which the crash interrupts), restart clean.
    async fn crash_during(&mut self, point: &str, op: impl AsyncFnOnce(Client)) {
        self.server.env = vec![("ECSLAB_CRASH_AT".into(), point.into())];
        self.server.restart().await;
        op(self.server.client(Signing::RpcHmacSha1)).await;
        assert!(self.server.wait_exit(Duration::from_secs(20)).await, "the server did not crash at {point}");
        self.server.env.clear();
        self.server.restart().await;
        let ecs = self.server.client(Signing::RpcHmacSha1);
        wait_until(Duration::from_secs(30), || async {
            let r = ecs.ecs("DescribeSnapshots", &[("Status", "progressing".into())]).await.unwrap();
            r["TotalCount"] == 0 && self.store.operations().await.unwrap().is_empty()
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_any_step_of_create_snapshot_loses_nothing() {
    for point in ["snapshot-after-freeze", "snapshot-after-commit", "snapshot-after-seal-header"] {
        let dir = tempfile::tempdir().unwrap();
        let mut setup = setup(dir.path()).await;
        let disk_id = setup.disk_id.clone();
        setup
            .crash_during(point, async |ecs: Client| {
                let _ = ecs.call("2014-05-26", "CreateSnapshot", &[("DiskId", disk_id)]).await;
            })
            .await;
        let ecs = setup.server.client(Signing::RpcHmacSha1);
        let listed = ecs.ecs("DescribeSnapshots", &[("DiskId", setup.disk_id.clone())]).await.unwrap();
        let snaps = listed["Snapshots"]["Snapshot"].as_array().unwrap().clone();
        for s in &snaps {
            let id = s["SnapshotId"].as_str().unwrap();
            let status = s["Status"].as_str().unwrap();
            assert!(status == "accomplished" || status == "failed", "{point}: {id} is {status}");
            let expected = if id == setup.s1 {
                A
            } else if id == setup.s2 {
                B
            } else {
                C
            };
            if status == "accomplished" {
                assert!(setup.snapshot_holds(id, expected).await, "{point}: snapshot {id} lost its content");
            }
        }
        assert!(setup.live_holds(C).await, "{point}: the live disk lost its content");
        assert!(
            snaps.iter().any(|s| s["SnapshotId"] == setup.s1.as_str())
                && snaps.iter().any(|s| s["SnapshotId"] == setup.s2.as_str())
        );
        // The disk still works: another snapshot and a reset to it.
        let s3 = snapshot(&ecs, &setup.disk_id).await;
        assert!(setup.snapshot_holds(&s3, C).await, "{point}");
        assert!(setup.server.log().contains("resuming an interrupted disk operation"), "{point}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_any_step_of_reset_disk_loses_nothing() {
    for point in ["reset-after-build", "reset-after-switch"] {
        let dir = tempfile::tempdir().unwrap();
        let mut setup = setup(dir.path()).await;
        let (disk_id, s1) = (setup.disk_id.clone(), setup.s1.clone());
        setup
            .crash_during(point, async |ecs: Client| {
                let _ = ecs.call("2014-05-26", "ResetDisk", &[("DiskId", disk_id), ("SnapshotId", s1)]).await;
            })
            .await;
        let rolled_back = setup.live_holds(C).await;
        let completed = setup.live_holds(A).await;
        assert!(rolled_back ^ completed, "{point}: the disk is neither before nor after the reset");
        assert_eq!(
            completed,
            point == "reset-after-switch",
            "{point}: a switched reset completes, a built one rolls back"
        );
        assert!(
            setup.snapshot_holds(&setup.s1, A).await && setup.snapshot_holds(&setup.s2, B).await,
            "{point}"
        );
        let ecs = setup.server.client(Signing::RpcHmacSha1);
        ecs.ecs("ResetDisk", &[("DiskId", setup.disk_id.clone()), ("SnapshotId", setup.s2.clone())])
            .await
            .unwrap();
        assert!(setup.live_holds(B).await, "{point}: a later reset works");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_any_step_of_delete_snapshot_loses_nothing() {
    for point in ["delete-after-rebase", "delete-after-remove-file"] {
        let dir = tempfile::tempdir().unwrap();
        let mut setup = setup(dir.path()).await;
        // Make S1 a middle snapshot that nothing's base stands for: reset the disk to S2 first.
        let ecs = setup.server.client(Signing::RpcHmacSha1);
        ecs.ecs("ResetDisk", &[("DiskId", setup.disk_id.clone()), ("SnapshotId", setup.s2.clone())])
            .await
            .unwrap();
        let s1 = setup.s1.clone();
        setup
            .crash_during(point, async |ecs: Client| {
                let _ = ecs.call("2014-05-26", "DeleteSnapshot", &[("SnapshotId", s1)]).await;
            })
            .await;
        let ecs = setup.server.client(Signing::RpcHmacSha1);
        let listed = ecs.ecs("DescribeSnapshots", &[("DiskId", setup.disk_id.clone())]).await.unwrap();
        let ids: Vec<&str> = listed["Snapshots"]["Snapshot"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["SnapshotId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![setup.s2.as_str()], "{point}: S1 is gone, S2 stays");
        assert!(
            setup.snapshot_holds(&setup.s2, B).await,
            "{point}: S2 keeps its content after its parent went"
        );
        assert!(setup.live_holds(B).await, "{point}");
        assert!(
            setup.store.snapshot_by_id(&setup.s1).await.unwrap().is_none(),
            "{point}: S1's row is collected"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_the_snapshot_not_the_instance() {
    const D: u8 = 0x44;
    let dir = tempfile::tempdir().unwrap();
    let mut setup = setup(dir.path()).await;
    setup.server.restart_with(&["--driver", "fake", "--housekeeping-secs", "1"]).await;
    let top = setup.store.disk_by_id(&setup.disk_id).await.unwrap().unwrap().path;
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", &format!("write -P {D} 0 80M")])
        .arg(&top)
        .output()
        .unwrap();
    assert!(out.status.success());
    // No file the server (or a tool it runs) writes may grow past 40 MB: the merge of 80 MB into
    // the disk's base runs out of room, as on a full disk.
    setup.server.wrapper = vec!["prlimit".into(), "--fsize=40000000".into(), "--".into()];
    setup.server.restart().await;
    let ecs = setup.server.client(Signing::RpcHmacSha1);
    let r = ecs.ecs("CreateSnapshot", &[("DiskId", setup.disk_id.clone())]).await.unwrap();
    let failed = r["SnapshotId"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(30), || async {
        let r = ecs.ecs("DescribeSnapshots", &[("SnapshotIds", format!("[\"{failed}\"]"))]).await.unwrap();
        let s = &r["Snapshots"]["Snapshot"][0];
        s["Status"] == "failed" && !s["FailureReason"].as_str().unwrap_or("").is_empty()
    })
    .await;
    // The instance is not affected: it starts, and its disk reads what was written.
    let instance_id = ecs.ecs("DescribeInstances", &[]).await.unwrap()["Instances"]["Instance"][0]
        ["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    ecs.ecs("StartInstance", &[("InstanceId", instance_id.clone())]).await.unwrap();
    wait_status(&ecs, &instance_id, "Running", Duration::from_secs(30)).await;
    ecs.ecs("StopInstance", &[("InstanceId", instance_id.clone()), ("ForceStop", "true".into())])
        .await
        .unwrap();
    wait_status(&ecs, &instance_id, "Stopped", Duration::from_secs(30)).await;
    assert!(setup.live_holds(D).await, "the live disk keeps what was written");
    assert!(setup.snapshot_holds(&setup.s1, A).await && setup.snapshot_holds(&setup.s2, B).await);
    // With room again (here: after a restart without the limit), the merge is retried and
    // snapshots work again.
    setup.server.wrapper.clear();
    setup.server.restart().await;
    let ecs = setup.server.client(Signing::RpcHmacSha1);
    wait_until(Duration::from_secs(30), || async { setup.store.operations().await.unwrap().is_empty() })
        .await;
    assert!(setup.server.log().contains("resuming an interrupted disk operation"));
    let s3 = snapshot(&ecs, &setup.disk_id).await;
    assert!(setup.snapshot_holds(&s3, D).await);
    assert!(setup.live_holds(D).await);
}
