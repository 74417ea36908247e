//! Many tasks writing at once through one file-backed store: read-then-write transactions
//! (snapshot admission, ClientTokens, instance deletion), conditional status updates, nonces
//! and plain reads all interleave, and none may fail with "database is locked".

use ecslab_store::{
    now_rfc3339, DiskRecord, DiskStatus, DiskType, InstanceRecord, InstanceStatus, OperationKind,
    OperationRecord, OperationStep, SnapshotAdmission, SnapshotRecord, SnapshotStatus, Store, TokenClaim,
};
use std::sync::Arc;

const TASKS: usize = 48;
const ROUNDS: usize = 6;

fn instance(id: &str) -> InstanceRecord {
    InstanceRecord {
        instance_id: id.into(),
        account_id: "acc".into(),
        name: id.into(),
        description: String::new(),
        host_name: String::new(),
        instance_type: "ecs.t1.small".into(),
        image_id: "m-1".into(),
        status: InstanceStatus::Stopped,
        generation: 1,
        ever_started: false,
        zone_id: "z".into(),
        tags: Vec::new(),
        operation_locks: Vec::new(),
        created_at: now_rfc3339(),
        started_at: String::new(),
    }
}

fn disk(id: &str, instance_id: &str) -> DiskRecord {
    DiskRecord {
        disk_id: id.into(),
        account_id: "acc".into(),
        instance_id: Some(instance_id.into()),
        disk_type: DiskType::System,
        device_index: 0,
        name: String::new(),
        description: String::new(),
        category: "cloud_essd".into(),
        size_gib: 1,
        path: format!("/layers/{id}"),
        status: DiskStatus::InUse,
        image_id: "m-1".into(),
        delete_with_instance: true,
        zone_id: "z".into(),
        created_at: now_rfc3339(),
        attached_at: now_rfc3339(),
        base_path: String::new(),
        parent_snapshot_id: String::new(),
        source_snapshot_id: String::new(),
        ever_attached: true,
        ever_used: true,
        portable: false,
        tags: Vec::new(),
    }
}

fn snapshot(id: &str, disk_id: &str) -> (SnapshotRecord, OperationRecord) {
    let snapshot = SnapshotRecord {
        snapshot_id: id.into(),
        account_id: "acc".into(),
        source_disk_id: disk_id.into(),
        source_disk_type: DiskType::System,
        source_disk_size: 1,
        name: String::new(),
        description: String::new(),
        status: SnapshotStatus::Progressing,
        progress: 0,
        path: format!("/layers/{id}"),
        parent_snapshot_id: String::new(),
        image_path: String::new(),
        retention_days: 0,
        tags: Vec::new(),
        deleted: false,
        failure_reason: String::new(),
        created_at: now_rfc3339(),
        updated_at: now_rfc3339(),
    };
    let operation = OperationRecord {
        operation_id: format!("op-{id}"),
        kind: OperationKind::CreateSnapshot,
        disk_id: disk_id.into(),
        step: OperationStep::Freeze,
        payload: "{}".into(),
        created_at: now_rfc3339(),
    };
    (snapshot, operation)
}

/// One client's life: every kind of write the API makes, with reads in between.
async fn client(store: Arc<Store>, task: usize) -> Result<usize, String> {
    let mut calls = 0;
    for round in 0..ROUNDS {
        let id = format!("i-{task}-{round}");
        let disk_id = format!("d-{task}-{round}");
        let e = |what: &str| {
            let what = what.to_string();
            move |err: ecslab_store::StoreError| format!("{what} of {task}/{round}: {err:?}")
        };
        store
            .insert_instance(&instance(&id), &[disk(&disk_id, &id)], None, &Default::default())
            .await
            .map_err(e("insert"))?
            .expect("no interface to refuse");
        use InstanceStatus::*;
        for (from, to) in [(Stopped, Starting), (Starting, Running), (Running, Stopping)] {
            let moved = store.transition_instance(&id, &[from], to).await.map_err(e("transition"))?;
            assert_eq!(moved.map(|r| r.status), Some(to), "{id}: {from} -> {to}");
        }
        let token = format!("tok-{task}-{round}");
        assert_eq!(
            store.claim_token("acc", "RunInstances", &token, "d").await.map_err(e("token"))?,
            TokenClaim::New
        );
        store.finish_token("acc", "RunInstances", &token, "{}").await.map_err(e("finish token"))?;
        let again = store.claim_token("acc", "RunInstances", &token, "d").await.map_err(e("token replay"))?;
        assert_eq!(again, TokenClaim::Replay("{}".into()));
        let fresh =
            store.claim_nonce("key", &format!("n-{task}-{round}"), 1_000, 900).await.map_err(e("nonce"))?;
        assert!(fresh);
        let (snap, op) = snapshot(&format!("s-{task}-{round}"), &disk_id);
        let admitted = store.insert_snapshot(&snap, &op, 16).await.map_err(e("snapshot"))?;
        assert_eq!(admitted, SnapshotAdmission::Inserted);
        store
            .set_snapshot_progress(&snap.snapshot_id, SnapshotStatus::Accomplished, 100, "")
            .await
            .map_err(e("progress"))?;
        store.finish_operation(&op.operation_id).await.map_err(e("finish operation"))?;
        store.instances("acc").await.map_err(e("list instances"))?;
        store.disks("acc").await.map_err(e("list disks"))?;
        let deleted = store.delete_instance(&id).await.map_err(e("delete"))?;
        assert_eq!(deleted.len(), 1);
        calls += 13;
    }
    Ok(calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_then_write_transactions_never_see_a_locked_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("ecslab.db")).await.unwrap());
    let handles: Vec<_> = (0..TASKS).map(|t| tokio::spawn(client(store.clone(), t))).collect();
    let mut failures = Vec::new();
    let mut calls = 0;
    for handle in handles {
        match handle.await.expect("a client task panicked") {
            Ok(n) => calls += n,
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{} of {TASKS} clients failed, first: {}", failures.len(), failures[0]);
    assert_eq!(calls, TASKS * ROUNDS * 13);
    assert!(store.instances("acc").await.unwrap().is_empty(), "every instance was deleted");
    assert_eq!(store.snapshots("acc").await.unwrap().len(), TASKS * ROUNDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_store_on_the_same_file_waits_instead_of_failing() {
    // Two servers (or a server and an admin command) on one file: two writer connections.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecslab.db");
    let one = Arc::new(Store::open(&path).await.unwrap());
    let two = Arc::new(Store::open(&path).await.unwrap());
    let handles: Vec<_> = (0..16)
        .map(|t| tokio::spawn(client(if t % 2 == 0 { one.clone() } else { two.clone() }, t)))
        .collect();
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    assert_eq!(one.snapshots("acc").await.unwrap().len(), 16 * ROUNDS);
}
