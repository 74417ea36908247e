//! Disk snapshots of a real running guest: the guest logs to its data disk, snapshots are taken
//! live between log entries, and the disk is reset to each snapshot in turn (older, newer, older
//! again). The guest's own boot log and the host's reading of the disk must both show exactly the
//! entries of that point in time. The live chain must stay short however many snapshots exist.

mod common;

use common::*;
use ecslab::client::{Client, Signing};
use ecslab_store::Store;
use std::path::Path;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(90);

/// The guest's data-disk log as the host reads it (the instance must be stopped).
fn host_log(top: &Path) -> Vec<String> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = std::process::Command::new("qemu-img")
        .args(["dd", "-f", "qcow2", "-O", "raw", "bs=65536", "count=1"])
        .arg(format!("if={}", top.display()))
        .arg(format!("of={}", out.path().display()))
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(out.path()).unwrap();
    let text: String = String::from_utf8_lossy(&bytes).chars().filter(|c| *c != '\0').collect();
    text.lines().skip(1).map(str::to_string).collect()
}

/// The last `VMTEST-DATA` line the guest printed.
fn last_data_line(console: &str) -> String {
    console.lines().rfind(|l| l.contains("VMTEST-DATA dev=")).unwrap_or("").to_string()
}

/// Start the instance and wait until this boot reports its data-disk log entry `count`.
async fn boot_and_expect(ecs: &Client, id: &str, count: usize) {
    let before = console(ecs, id).await.len();
    ecs.ecs("StartInstance", &[("InstanceId", id.to_string())]).await.unwrap();
    let expected = format!("count={count} last=\"{count} boot");
    wait_until(BOOT, || async {
        let text = console(ecs, id).await;
        text.len() > before && last_data_line(&text[before..]).contains(&expected)
    })
    .await;
    wait_status(ecs, id, "Running", BOOT).await;
}

async fn snapshot(ecs: &Client, disk_id: &str, name: &str) -> String {
    let r = ecs
        .ecs("CreateSnapshot", &[("DiskId", disk_id.to_string()), ("SnapshotName", name.to_string())])
        .await
        .unwrap();
    let id = r["SnapshotId"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(60), || async {
        let r = ecs.ecs("DescribeSnapshots", &[("SnapshotIds", format!("[\"{id}\"]"))]).await.unwrap();
        let s = &r["Snapshots"]["Snapshot"][0];
        assert_ne!(s["Status"], "failed", "snapshot failed: {s}");
        s["Status"] == "accomplished" && s["Progress"] == "100%"
    })
    .await;
    id
}

async fn mark(server: &Server, ecs: &Client, id: &str, words: &str, count: usize) {
    type_on_serial(&server.data_dir, id, &format!("vmtest-mark {words}"));
    let expected = format!("count={count} last=\"{count} {words}\"");
    wait_until(Duration::from_secs(30), || async {
        last_data_line(&console(ecs, id).await).contains(&expected)
    })
    .await;
}

/// Number of files in a disk's live chain (top, base, image...).
fn chain_depth(top: &Path) -> usize {
    let out = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--backing-chain"])
        .arg(top)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).matches("image: ").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn live_snapshots_restore_exactly_their_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let ecs = server.client(Signing::Acs3HmacSha256);
    let image_id = server.import_guest(&ecs).await;
    let id = run_instance(&ecs, &image_id, &[("DataDisk.1.Size", "1".into())]).await;
    wait_status(&ecs, &id, "Running", BOOT).await;
    wait_console(&ecs, &id, "VMTEST-GUEST-READY", BOOT).await;
    let (data, system) = (disk_of(&ecs, &id, "data").await, disk_of(&ecs, &id, "system").await);
    let store = Store::open(&server.data_dir.join("ecslab.db")).await.unwrap();
    let top = |disk: String| {
        let store = store.clone();
        async move { std::path::PathBuf::from(store.disk_by_id(&disk).await.unwrap().unwrap().path) }
    };

    // Live snapshots between log entries written by the guest.
    let s1 = snapshot(&ecs, &data, "after-boot-1").await;
    mark(&server, &ecs, &id, "after-s1", 2).await;
    let s2 = snapshot(&ecs, &data, "after-s1").await;
    mark(&server, &ecs, &id, "after-s2", 3).await;
    let sys = snapshot(&ecs, &system, "system-live").await;
    for n in 0..4 {
        snapshot(&ecs, &data, &format!("extra-{n}")).await;
    }
    // The VM kept running and the live chains stayed short.
    assert_eq!(instance(&ecs, &id).await["Status"], "Running");
    assert!(ecs.ecs("GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.is_ok());
    assert!(chain_depth(&top(data.clone()).await) <= 2, "data disk chain: top and base");
    assert!(chain_depth(&top(system.clone()).await) <= 3, "system disk chain: top, base, image");
    mark(&server, &ecs, &id, "still-writable", 4).await;

    ecs.ecs("StopInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;
    assert_eq!(host_log(&top(data.clone()).await).len(), 4);

    // Older: only the first boot.
    let running = ecs
        .call("2014-05-26", "ResetDisk", &[("DiskId", data.clone()), ("SnapshotId", s1.clone())])
        .await
        .unwrap();
    assert_eq!(running.status, 200, "{}", running.body);
    assert_eq!(host_log(&top(data.clone()).await), vec!["1 boot mode=bios stage=ext4"]);
    boot_and_expect(&ecs, &id, 2).await;
    ecs.ecs("StopInstance", &[("InstanceId", id.clone()), ("ForceStop", "true".into())]).await.unwrap();
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;

    // Newer: the first boot and the mark after S1.
    ecs.ecs("ResetDisk", &[("DiskId", data.clone()), ("SnapshotId", s2.clone())]).await.unwrap();
    assert_eq!(host_log(&top(data.clone()).await), vec!["1 boot mode=bios stage=ext4", "2 after-s1"]);
    boot_and_expect(&ecs, &id, 3).await;
    // A snapshot of the running system disk can also be restored.
    ecs.ecs("StopInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;
    ecs.ecs("ResetDisk", &[("DiskId", system.clone()), ("SnapshotId", sys.clone())]).await.unwrap();

    // An image made from the live system-disk snapshot boots a new instance.
    let refused = ecs.call("2014-05-26", "CreateImage", &[("SnapshotId", s1.clone())]).await.unwrap();
    assert_error(&refused, 403, "OperationDenied");
    let made = ecs
        .ecs("CreateImage", &[("SnapshotId", sys.clone()), ("ImageName", "from-live-snapshot".into())])
        .await
        .unwrap();
    let image = made["ImageId"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(60), || async {
        let r = ecs.ecs("DescribeImages", &[("ImageId", image.clone())]).await.unwrap();
        r["Images"]["Image"][0]["Status"] == "Available"
    })
    .await;
    let in_use = ecs.call("2014-05-26", "DeleteSnapshot", &[("SnapshotId", sys.clone())]).await.unwrap();
    assert_error(&in_use, 403, "SnapshotCreatedImage");
    let clone = run_instance(&ecs, &image, &[]).await;
    wait_console(&ecs, &clone, "VMTEST-GUEST-READY", BOOT).await;
    ecs.ecs("DeleteInstance", &[("InstanceId", clone), ("Force", "true".into())]).await.unwrap();

    // Older again, then delete S1 from under S2: S2 keeps its content.
    ecs.ecs("ResetDisk", &[("DiskId", data.clone()), ("SnapshotId", s1.clone())]).await.unwrap();
    assert_eq!(host_log(&top(data.clone()).await), vec!["1 boot mode=bios stage=ext4"]);
    ecs.ecs("DeleteSnapshot", &[("SnapshotId", s1)]).await.unwrap();
    ecs.ecs("ResetDisk", &[("DiskId", data.clone()), ("SnapshotId", s2)]).await.unwrap();
    assert_eq!(host_log(&top(data.clone()).await), vec!["1 boot mode=bios stage=ext4", "2 after-s1"]);
    boot_and_expect(&ecs, &id, 3).await;
    ecs.ecs("DeleteInstance", &[("InstanceId", id), ("Force", "true".into())]).await.unwrap();
}
