//! Crash safety of PAI-DSW instance snapshots: the server is killed (an injected abort, like
//! SIGKILL) at each step of CreateInstanceSnapshot. A snapshot the API acknowledged is finished
//! after the restart (Saved, its image Available and sound, the point-in-time disk snapshot
//! gone); one the crash cut off before the reply leaves nothing half-done behind.

mod common;

use common::*;
use ecslab::client::{Client, Signing};
use serde_json::{json, Value};
use std::time::Duration;

const PAI: &str = "2022-01-01";

async fn get_snapshot(client: &Client, instance_id: &str, snapshot_id: &str) -> Value {
    let path = format!("/api/v2/instances/{instance_id}/snapshots/{snapshot_id}");
    let reply = client.rest("GET", &path, PAI, "GetInstanceSnapshot", None).await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

async fn list_snapshots(client: &Client, instance_id: &str) -> Vec<Value> {
    let path = format!("/api/v2/instances/{instance_id}/snapshots");
    let reply = client.rest("GET", &path, PAI, "ListInstanceSnapshot", None).await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["Snapshots"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_any_step_of_an_instance_snapshot_loses_nothing_acknowledged() {
    for point in [
        "snapshot-after-freeze",
        "instance-snapshot-after-flatten",
        "instance-snapshot-after-exclude",
        "instance-snapshot-after-available",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(dir.path(), &["--driver", "fake"]).await;
        let ecs = server.client(Signing::RpcHmacSha1);
        let image_id = server.import_guest(&ecs).await;
        let (instance_id, _) = used_stopped_instance(&ecs, &image_id).await;

        server.env = vec![("ECSLAB_CRASH_AT".into(), point.into())];
        server.restart().await;
        let client = server.client(Signing::Acs3HmacSha256);
        let body = json!({
            "SnapshotName": "crash-test",
            "ImageUrl": "crash-test:v1",
            "ExcludePaths": ["/root/not-there"],
        });
        let path = format!("/api/v2/instances/{instance_id}/snapshots");
        let acknowledged = match client.rest("POST", &path, PAI, "CreateInstanceSnapshot", Some(body)).await {
            Ok(reply) if reply.status == 200 => reply.body["SnapshotId"].as_str().map(str::to_string),
            _ => None,
        };
        assert!(server.wait_exit(Duration::from_secs(30)).await, "the server did not crash at {point}");
        server.env.clear();
        server.restart().await;
        let client = server.client(Signing::Acs3HmacSha256);
        let ecs = server.client(Signing::RpcHmacSha1);

        match &acknowledged {
            Some(snapshot_id) => {
                wait_until(Duration::from_secs(60), || async {
                    let status = get_snapshot(&client, &instance_id, snapshot_id).await["Status"].clone();
                    status == "Saved" || status == "Failed"
                })
                .await;
                let got = get_snapshot(&client, &instance_id, snapshot_id).await;
                assert_eq!(got["Status"], "Saved", "{point}: {got}");
                let image = got["ImageId"].as_str().unwrap().to_string();
                let images = ecs.ecs("DescribeImages", &[("ImageId", image.clone())]).await.unwrap();
                assert_eq!(images["Images"]["Image"][0]["Status"], "Available", "{point}");
                let file = server.data_dir.join("images").join(format!("{image}.qcow2"));
                let check = std::process::Command::new("qemu-img").arg("check").arg(&file).output().unwrap();
                assert!(check.status.success(), "{point}: {}", String::from_utf8_lossy(&check.stdout));
                assert!(server.log().contains("resuming an interrupted instance snapshot"), "{point}");
            }
            None => {
                // Cut off before the reply: no instance snapshot and no image being made remain.
                assert!(list_snapshots(&client, &instance_id).await.is_empty(), "{point}");
                let creating = ecs.ecs("DescribeImages", &[("Status", "Creating".into())]).await.unwrap();
                assert_eq!(creating["TotalCount"], 0, "{point}");
            }
        }
        // Nothing left in progress, and the point-in-time disk snapshots are gone once saved.
        wait_until(Duration::from_secs(30), || async {
            let r = ecs.ecs("DescribeSnapshots", &[("Status", "progressing".into())]).await.unwrap();
            r["TotalCount"] == 0
        })
        .await;
        if acknowledged.is_some() {
            let left = ecs.ecs("DescribeSnapshots", &[("InstanceId", instance_id.clone())]).await.unwrap();
            assert_eq!(left["TotalCount"], 0, "{point}: {left}");
        }
        // The instance still works: another snapshot goes through.
        let again = json!({ "SnapshotName": "after", "ImageUrl": format!("after-{}:v1", point.len()) });
        let reply = client.rest("POST", &path, PAI, "CreateInstanceSnapshot", Some(again)).await.unwrap();
        assert_eq!(reply.status, 200, "{point}: {:?}", reply.body);
        let id = reply.body["SnapshotId"].as_str().unwrap().to_string();
        wait_until(Duration::from_secs(60), || async {
            get_snapshot(&client, &instance_id, &id).await["Status"] == "Saved"
        })
        .await;
    }
}
