//! Crash safety of image changes (ReplaceSystemDisk, RebuildDesktops): the server is killed (an
//! injected abort, like SIGKILL) before the new system disk is built and right after the switch.
//! After a restart no record is left at Status 0: a change that had not switched is failed with
//! a Reason that says so and the instance keeps its old disk (and its content); one that had
//! switched is finished, the old disk's files removed, its snapshot kept.

mod common;

use common::*;
use ecslab::client::{Client, Signing};
use ecslab_store::Store;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const ECD: &str = "2020-09-30";

async fn records(ecs: &Client, desktop_id: &str) -> Vec<Value> {
    let reply =
        ecs.call(ECD, "DescribeImageModifiedRecords", &[("DesktopId", desktop_id.into())]).await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["ImageModifiedRecords"].as_array().unwrap().clone()
}

fn write_marker(file: &Path) {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5a 1M 64k"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn holds_marker(file: &Path) -> bool {
    let out = std::process::Command::new("qemu-io")
        .args(["-r", "-U", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k"])
        .arg(file)
        .output()
        .unwrap();
    out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("fail")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_during_an_image_change_never_leaves_it_changing() {
    for (point, switched) in [("image-change-before-build", false), ("image-change-after-switch", true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(dir.path(), &["--driver", "fake"]).await;
        let ecs = server.client(Signing::RpcHmacSha1);
        let image_id = server.import_guest(&ecs).await;
        let (instance_id, _data) = used_stopped_instance(&ecs, &image_id).await;
        let old_disk = disk_of(&ecs, &instance_id, "system").await;
        let store = Store::open(&server.data_dir.join("ecslab.db")).await.unwrap();
        let old_row = store.disk_by_id(&old_disk).await.unwrap().unwrap();
        write_marker(Path::new(&old_row.path));
        let snap = ecs.ecs("CreateSnapshot", &[("DiskId", old_disk.clone())]).await.unwrap();
        let snapshot_id = snap["SnapshotId"].as_str().unwrap().to_string();
        wait_until(Duration::from_secs(30), || async {
            let r = ecs
                .ecs("DescribeSnapshots", &[("SnapshotIds", format!("[\"{snapshot_id}\"]"))])
                .await
                .unwrap();
            r["Snapshots"]["Snapshot"][0]["Status"] == "accomplished"
        })
        .await;
        let old_row = store.disk_by_id(&old_disk).await.unwrap().unwrap();

        server.env = vec![("ECSLAB_CRASH_AT".into(), point.into())];
        server.restart().await;
        let ecs = server.client(Signing::RpcHmacSha1);
        let reply = ecs
            .call(
                "2014-05-26",
                "ReplaceSystemDisk",
                &[("InstanceId", instance_id.clone()), ("ImageId", image_id.clone())],
            )
            .await;
        assert!(
            server.wait_exit(Duration::from_secs(20)).await,
            "the server did not crash at {point}: {reply:?}"
        );
        server.env.clear();
        server.restart().await;
        let ecs = server.client(Signing::RpcHmacSha1);

        wait_until(Duration::from_secs(30), || async { store.operations().await.unwrap().is_empty() }).await;
        let listed = records(&ecs, &instance_id).await;
        assert_eq!(listed.len(), 1, "{point}: {listed:?}");
        let system_now = disk_of(&ecs, &instance_id, "system").await;
        if switched {
            assert_eq!(listed[0]["Status"], 1, "{point}: {listed:?}");
            assert_ne!(system_now, old_disk, "{point}: the new disk must be in place");
            assert!(!Path::new(&old_row.path).exists() && !Path::new(&old_row.base_path).exists());
            let new_row = store.disk_by_id(&system_now).await.unwrap().unwrap();
            assert!(!holds_marker(Path::new(&new_row.path)), "{point}: the new disk comes from the image");
        } else {
            assert_eq!(listed[0]["Status"], 2, "{point}: {listed:?}");
            let reason = listed[0]["Reason"].as_str().unwrap();
            assert!(reason.contains("server restart"), "{point}: {reason}");
            assert_eq!(system_now, old_disk, "{point}: the old disk must stay");
            let kept = store.disk_by_id(&old_disk).await.unwrap().unwrap();
            assert!(holds_marker(Path::new(&kept.path)), "{point}: the old disk lost its content");
        }
        let snaps =
            ecs.ecs("DescribeSnapshots", &[("SnapshotIds", format!("[\"{snapshot_id}\"]"))]).await.unwrap();
        assert_eq!(snaps["Snapshots"]["Snapshot"][0]["SourceDiskId"], old_disk.as_str(), "{point}");
        let snapshot = store.snapshot_by_id(&snapshot_id).await.unwrap().unwrap();
        assert!(holds_marker(Path::new(&snapshot.path)), "{point}: the kept snapshot lost its content");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_desktop_whose_rebuild_was_interrupted_comes_back_on_its_old_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--driver", "fake"]).await;
    let ecs = server.client(Signing::RpcHmacSha1);
    let image_id = server.import_guest(&ecs).await;
    let instance_id = run_instance(&ecs, &image_id, &[]).await;
    wait_status(&ecs, &instance_id, "Running", Duration::from_secs(30)).await;
    let old_disk = disk_of(&ecs, &instance_id, "system").await;

    server.env = vec![("ECSLAB_CRASH_AT".into(), "image-change-before-build".into())];
    server.restart().await;
    let ecs = server.client(Signing::RpcHmacSha1);
    // The fake driver's VMs do not outlive the server: start the desktop again first.
    wait_until(Duration::from_secs(30), || async {
        let status = instance(&ecs, &instance_id).await["Status"].clone();
        if status == "Stopped" {
            let _ = ecs.ecs("StartInstance", &[("InstanceId", instance_id.clone())]).await;
        }
        status == "Running"
    })
    .await;
    let reply = ecs
        .call(ECD, "RebuildDesktops", &[("DesktopId.1", instance_id.clone()), ("ImageId", image_id.clone())])
        .await;
    assert!(server.wait_exit(Duration::from_secs(60)).await, "the server did not crash: {reply:?}");
    server.env.clear();
    server.restart().await;
    let ecs = server.client(Signing::RpcHmacSha1);

    wait_status(&ecs, &instance_id, "Running", Duration::from_secs(60)).await;
    let listed = records(&ecs, &instance_id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["Status"], 2, "{listed:?}");
    assert!(listed[0]["Reason"].as_str().unwrap().contains("server restart"));
    assert_eq!(disk_of(&ecs, &instance_id, "system").await, old_disk);
}
