//! The S3 backend of `ecslab_core::buckets` against a real S3-protocol server: moto's server
//! (`moto_server` from the project's `.venv`, pinned in tests/python/requirements.txt) started on
//! loopback. Covers what the SDK tests cannot reach yet: `put_file` of a file large enough for
//! the multipart path, `get_to_file` and `object_file` round trips, and a missing remote bucket.
//! scripts/setup installs moto; a missing `moto_server` fails the test rather than skipping it.

use ecslab_core::buckets::{BucketError, Buckets, BucketsConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `moto_server` on 127.0.0.1, killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    let path = std::env::var_os("ECSLAB_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"));
    assert!(path.is_file(), "{} is missing: run scripts/setup (moto[server] in .venv)", path.display());
    path
}

impl Moto {
    async fn start(buckets: &[&str]) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http.get(&moto.endpoint).send().await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not answer on {} within 60 s", moto.endpoint);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for bucket in buckets {
            // moto does not check signatures: a plain PUT creates the bucket.
            let reply = http.put(format!("{}/{bucket}", moto.endpoint)).send().await.unwrap();
            assert!(reply.status().is_success(), "creating {bucket}: {}", reply.status());
        }
        moto
    }

    fn config(&self, names: &[(&str, &str)]) -> BucketsConfig {
        let buckets: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|(name, remote)| {
                let bucket = serde_json::json!({
                    "endpoint": self.endpoint, "bucket": remote, "allow_http": true,
                    "access_key_id": "testing", "secret_access_key": "testing"
                });
                (name.to_string(), bucket)
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "buckets": buckets })).unwrap()
    }
}

/// Deterministic, incompressible-looking bytes.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn s3_round_trips_large_files_in_parts_and_reports_missing_things() {
    let moto = Moto::start(&["lab-images"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = moto.config(&[("images", "lab-images"), ("gone", "never-created")]);
    let buckets = Buckets::new(dir.path().join("buckets"), dir.path().join("scratch"), &config).unwrap();
    assert!(buckets.is_remote("images") && !buckets.is_remote("local-one"));
    assert!(buckets.describe("images").contains(&moto.endpoint));
    buckets.check_bucket("images").await.unwrap();

    // 20 MiB + 3 bytes: over the single-PUT limit, so three parts of a multipart upload.
    let big = pattern(20 * 1024 * 1024 + 3);
    let src = dir.path().join("disk.qcow2");
    std::fs::write(&src, &big).unwrap();
    buckets.put_file("images", "exports/disk.qcow2", &src).await.unwrap();
    assert_eq!(buckets.head("images", "exports/disk.qcow2").await.unwrap(), Some(big.len() as u64));

    let back = dir.path().join("back.qcow2");
    assert_eq!(buckets.get_to_file("images", "exports/disk.qcow2", &back).await.unwrap(), big.len() as u64);
    assert!(std::fs::read(&back).unwrap() == big, "the downloaded object differs from the upload");

    // The object as a file for a tool: a download in the scratch folder, removed when dropped.
    let file = buckets.object_file("images", "exports/disk.qcow2").await.unwrap();
    assert!(file.path().starts_with(dir.path().join("scratch")));
    assert_eq!(file.path().extension().unwrap(), "qcow2");
    assert_eq!(std::fs::metadata(file.path()).unwrap().len(), big.len() as u64);
    let path = file.path().to_path_buf();
    drop(file);
    assert!(!path.exists(), "the download outlived its ObjectFile");

    // Small objects, keys kept as they are (no re-encoding of braces or spaces).
    buckets.put_bytes("images", "a b/{Count}.txt", b"hello".to_vec()).await.unwrap();
    assert_eq!(buckets.head("images", "a b/{Count}.txt").await.unwrap(), Some(5));
    let listed = reqwest::get(format!("{}/lab-images?list-type=2&prefix=a%20b/", moto.endpoint))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("<Key>a b/{Count}.txt</Key>"), "{listed}");

    // What is missing, and what may not be asked.
    assert!(!buckets.exists("images", "nothing-here").await.unwrap());
    assert_eq!(
        buckets.get_to_file("images", "nothing-here", &dir.path().join("x")).await.unwrap_err(),
        BucketError::NoSuchObject { bucket: "images".into(), key: "nothing-here".into() }
    );
    assert!(!dir.path().join("x").exists());
    assert_eq!(
        buckets.check_bucket("gone").await.unwrap_err(),
        BucketError::NoSuchBucket { bucket: "gone".into() }
    );
    let err = buckets.put_bytes("gone", "x.jpg", b"x".to_vec()).await.unwrap_err();
    assert_eq!(err, BucketError::NoSuchBucket { bucket: "gone".into() });
    let err = buckets.put_file("images", "../lab-other/x", &src).await.unwrap_err();
    assert_eq!(err, BucketError::InvalidObjectName { key: "../lab-other/x".into() });
    assert!(std::fs::read_dir(dir.path().join("scratch")).unwrap().next().is_none(), "scratch not empty");
}
