//! A model-based test of the snapshot engine: random sequences of write / CreateSnapshot /
//! DeleteSnapshot / ResetDisk / CreateDisk-from-snapshot against a simple model of what each
//! disk and snapshot must contain, with every disk and every snapshot file checked after each
//! step. The instance is stopped (fake driver), so this exercises the offline chain surgery with
//! real qcow2 files; the live path is covered by `snapshots_live.rs` with a real guest.

mod common;

use common::*;
use ecslab::client::{Client, Signing};
use ecslab_store::Store;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const SLOTS: usize = 8;
type Content = [u8; SLOTS];

fn slot_offset(slot: usize) -> u64 {
    (slot as u64) << 20
}

fn write_slot(file: &Path, slot: usize, pattern: u8) {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", &format!("write -P {pattern} {} 64k", slot_offset(slot))])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-io write: {}", String::from_utf8_lossy(&out.stderr));
}

/// Check every slot of `file` (read through its header chain) against `expected`.
/// The server may be merging a deleted snapshot into this file's chain in the background (its
/// own readers take its chain lock; this test cannot), so a failed read is tried again after a
/// pause before it counts.
fn assert_content(file: &Path, expected: &Content, what: &str) {
    let read = || {
        let mut cmd = std::process::Command::new("qemu-io");
        cmd.args(["-r", "-U", "-f", "qcow2"]);
        for (slot, pattern) in expected.iter().enumerate() {
            cmd.args(["-c", &format!("read -P {pattern} {} 64k", slot_offset(slot))]);
        }
        let out = cmd.arg(file).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success() && !text.contains("fail"), text)
    };
    let (mut ok, mut text) = read();
    for _ in 0..4 {
        if ok {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        (ok, text) = read();
    }
    if !ok {
        let chain = std::process::Command::new("qemu-img")
            .args(["info", "-U", "--backing-chain"])
            .arg(file)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        panic!("{what} ({}) should hold {expected:?}:\n{text}\nchain:\n{chain}", file.display());
    }
}

async fn wait_snapshot(ecs: &Client, id: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = ecs.ecs("DescribeSnapshots", &[("SnapshotIds", format!("[\"{id}\"]"))]).await.unwrap();
        let status = r["Snapshots"]["Snapshot"][0]["Status"].as_str().unwrap_or("").to_string();
        if status != "progressing" || std::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn random_snapshot_sequences_keep_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--driver", "fake", "--snapshot-quota", "6"]).await;
    let ecs = server.client(Signing::RpcHmacSha1);
    let image_id = server.import_guest(&ecs).await;
    let (instance_id, disk_id) = used_stopped_instance(&ecs, &image_id).await;
    let store = Store::open(&server.data_dir.join("ecslab.db")).await.unwrap();

    let seed: u64 = std::env::var("MODEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261123);
    let steps: usize = std::env::var("MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut live: Content = [0; SLOTS];
    let mut snapshots: BTreeMap<String, Content> = BTreeMap::new();
    let mut log = Vec::new();

    for step in 0..steps {
        let choice = rng.gen_range(0..100);
        let ids: Vec<String> = snapshots.keys().cloned().collect();
        let pick = |rng: &mut rand::rngs::StdRng| ids[rng.gen_range(0..ids.len())].clone();
        if choice < 35 {
            let (slot, pattern) = (rng.gen_range(0..SLOTS), rng.gen_range(1..=255u8));
            let top = store.disk_by_id(&disk_id).await.unwrap().unwrap().path;
            write_slot(Path::new(&top), slot, pattern);
            live[slot] = pattern;
            log.push(format!("{step}: write slot {slot} = {pattern}"));
        } else if choice < 60 || ids.is_empty() {
            let reply =
                ecs.call("2014-05-26", "CreateSnapshot", &[("DiskId", disk_id.clone())]).await.unwrap();
            if snapshots.len() >= 6 {
                assert_error(&reply, 403, "QuotaExceed.Snapshot");
                log.push(format!("{step}: create refused by quota"));
                continue;
            }
            assert_eq!(reply.status, 200, "{}", reply.body);
            let id = reply.body["SnapshotId"].as_str().unwrap().to_string();
            assert_eq!(wait_snapshot(&ecs, &id).await, "accomplished");
            snapshots.insert(id.clone(), live);
            log.push(format!("{step}: create {id} = {live:?}"));
        } else if choice < 72 {
            let id = pick(&mut rng);
            ecs.ecs("DeleteSnapshot", &[("SnapshotId", id.clone())]).await.unwrap();
            snapshots.remove(&id);
            log.push(format!("{step}: delete {id}"));
        } else if choice < 90 {
            let id = pick(&mut rng);
            ecs.ecs("ResetDisk", &[("DiskId", disk_id.clone()), ("SnapshotId", id.clone())]).await.unwrap();
            live = snapshots[&id];
            log.push(format!("{step}: reset to {id} = {live:?}"));
        } else {
            let id = pick(&mut rng);
            let created = ecs
                .ecs("CreateDisk", &[("SnapshotId", id.clone()), ("DiskName", "copy".into())])
                .await
                .unwrap();
            let copy_id = created["DiskId"].as_str().unwrap().to_string();
            wait_until(Duration::from_secs(60), || async {
                let r = ecs.ecs("DescribeDisks", &[("DiskIds", format!("[\"{copy_id}\"]"))]).await.unwrap();
                r["Disks"]["Disk"][0]["Status"] == "Available"
            })
            .await;
            let copy = store.disk_by_id(&copy_id).await.unwrap().unwrap();
            assert_content(Path::new(&copy.path), &snapshots[&id], &format!("disk {copy_id} made from {id}"));
            ecs.ecs("DeleteDisk", &[("DiskId", copy_id.clone())]).await.unwrap();
            log.push(format!("{step}: disk from {id} checked and deleted"));
        }
        // After every step: the live disk and every snapshot hold exactly what the model says.
        let context = log.join("\n");
        let top = store.disk_by_id(&disk_id).await.unwrap().unwrap().path;
        assert_content(Path::new(&top), &live, &format!("live disk after\n{context}"));
        for (id, content) in &snapshots {
            let record = store.snapshot_by_id(id).await.unwrap().unwrap();
            assert_content(Path::new(&record.path), content, &format!("snapshot {id} after\n{context}"));
        }
        let listed = ecs
            .ecs("DescribeSnapshots", &[("DiskId", disk_id.clone()), ("PageSize", "100".into())])
            .await
            .unwrap();
        assert_eq!(listed["TotalCount"].as_u64().unwrap() as usize, snapshots.len(), "{context}");
    }

    // Deleted snapshots leave no files behind once nothing needs them.
    for id in snapshots.keys().cloned().collect::<Vec<_>>() {
        ecs.ecs("DeleteSnapshot", &[("SnapshotId", id)]).await.unwrap();
    }
    let hidden = store.all_snapshots().await.unwrap();
    assert!(hidden.len() <= 1, "at most the disk's own parent is kept: {hidden:?}");
    ecs.ecs("DeleteInstance", &[("InstanceId", instance_id)]).await.unwrap();
    assert!(store.all_snapshots().await.unwrap().is_empty(), "no snapshot file left once the disk is gone");
}
