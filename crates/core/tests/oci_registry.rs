//! containerDisk push and pull against a real registry: Debian's `docker-registry` (the CNCF
//! distribution server) started on loopback with filesystem storage in a temp dir. The pushed
//! image is read back by ecslab's own pull and independently by `skopeo` and GNU `tar`.
//! scripts/setup installs both; a missing tool fails the test rather than skipping it.

use ecslab_core::oci::{parse_registry_url, pull_container_disk, push_container_disk, ImageReference};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A `docker-registry` on 127.0.0.1, killed when dropped.
struct TestRegistry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    fn start() -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let binary = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("docker-registry is missing: run scripts/setup (Debian package docker-registry)");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        let registry = TestRegistry { child, addr, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = Command::new("curl")
                .args(["-fs", "-o", "/dev/null", &format!("http://{}/v2/", registry.addr)])
                .status()
                .is_ok_and(|s| s.success());
            if up {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {} within 60 s",
                registry.addr
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        registry
    }

    fn reference(&self, repository_and_tag: &str) -> ImageReference {
        parse_registry_url(&format!("{}/{repository_and_tag}", self.addr))
            .unwrap()
            .expect("a registry reference")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real qcow2 of a little over 20 MiB of data (more than one 16 MiB upload chunk).
fn make_qcow2(dir: &Path) -> PathBuf {
    let raw = dir.join("src.raw");
    let mut data = vec![0u8; 21 << 20];
    let mut x: u32 = 0x1234_5678;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    // A hole in the middle: the qcow2 stays sparse there.
    data[8 << 20..10 << 20].fill(0);
    std::fs::write(&raw, &data).unwrap();
    let qcow2 = dir.join("disk.qcow2");
    let status =
        Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&qcow2).status();
    assert!(status.unwrap().success(), "qemu-img convert failed");
    qcow2
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn pushes_a_container_disk_that_pulls_back_byte_for_byte() {
    let registry = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let qcow2 = make_qcow2(work.path());
    let original = std::fs::read(&qcow2).unwrap();
    let reference = registry.reference("ecslab/snapshots:snap-v1");

    let seen = Mutex::new(Vec::new());
    let pushed =
        push_container_disk(&reference, &qcow2, false, &[], &|p| seen.lock().unwrap().push(p)).await.unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&100));
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "progress must only grow: {seen:?}");
    assert!(seen.len() >= 3, "a 21 MiB disk goes in more than one chunk: {seen:?}");
    assert!(pushed.manifest_digest.starts_with("sha256:"));
    assert!(pushed.layer_size > original.len() as u64);

    // ecslab's own pull.
    let pulled_path = work.path().join("pulled.qcow2");
    let pulled = pull_container_disk(&reference, &pulled_path, &[]).await.unwrap();
    assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
    assert_eq!(pulled.disk_path, "disk/disk.qcow2");
    assert_eq!(pulled.size, original.len() as u64);
    assert!(std::fs::read(&pulled_path).unwrap() == original, "the pulled disk differs from the pushed one");

    // An independent client: skopeo copies the image into a directory.
    let copy = work.path().join("skopeo");
    run(Command::new("skopeo").args(["--insecure-policy", "copy", "--src-tls-verify=false"]).args([
        format!("docker://{}/ecslab/snapshots:snap-v1", registry.addr),
        format!("dir:{}", copy.display()),
    ]));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "a containerDisk has one layer: {manifest}");
    let layer_digest = layers[0]["digest"].as_str().unwrap();
    assert_eq!(layer_digest, pushed.layer_digest);
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(copy.join(config_digest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["rootfs"]["diff_ids"][0], layer_digest);

    // GNU tar reads the layer: disk/ and disk/disk.qcow2, both 107:107, and the same bytes.
    let blob = copy.join(layer_digest.trim_start_matches("sha256:"));
    let listing = run(Command::new("tar").args(["--numeric-owner", "-tvf"]).arg(&blob));
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(lines[0].starts_with("drwxr-xr-x 107/107") && lines[0].ends_with(" disk/"), "{listing}");
    assert!(
        lines[1].starts_with("-rw-r--r-- 107/107") && lines[1].ends_with(" disk/disk.qcow2"),
        "{listing}"
    );
    assert!(lines[1].contains(&format!(" {} ", original.len())), "{listing}");
    let extracted = work.path().join("extracted");
    std::fs::create_dir(&extracted).unwrap();
    run(Command::new("tar").arg("-xf").arg(&blob).arg("-C").arg(&extracted));
    assert!(std::fs::read(extracted.join("disk/disk.qcow2")).unwrap() == original);
    let check =
        run(Command::new("qemu-img").args(["check", "-f", "qcow2"]).arg(extracted.join("disk/disk.qcow2")));
    assert!(check.contains("No errors"), "{check}");

    // Overwrite=false refuses the existing tag; Overwrite=true replaces it.
    let err = push_container_disk(&reference, &qcow2, false, &[], &|_| {}).await.unwrap_err();
    assert_eq!(err.code, "ImageTagExists", "{err}");
    assert!(err.message.contains("ecslab/snapshots:snap-v1"), "{err}");
    let again = push_container_disk(&reference, &qcow2, true, &[], &|_| {}).await.unwrap();
    assert_eq!(again.layer_digest, pushed.layer_digest, "the same disk gives the same layer");
}

#[tokio::test]
async fn registry_errors_have_clear_codes() {
    let registry = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();

    let missing = registry.reference("ecslab/none:v1");
    let err = pull_container_disk(&missing, &work.path().join("x.qcow2"), &[]).await.unwrap_err();
    assert_eq!(err.code, "ImageNotFound", "{err}");

    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = parse_registry_url(&format!("127.0.0.1:{port}/ecslab/x:v1")).unwrap().unwrap();
    let disk = work.path().join("d.qcow2");
    std::fs::write(&disk, b"not much").unwrap();
    let err = push_container_disk(&dead, &disk, false, &[], &|_| {}).await.unwrap_err();
    assert_eq!(err.code, "RegistryUnreachable", "{err}");
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");

    let err = push_container_disk(
        &registry.reference("ecslab/x:v1"),
        &work.path().join("absent.qcow2"),
        false,
        &[],
        &|_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "DiskFileError", "{err}");

    // An ordinary image (no /disk/), pushed with curl, is not a containerDisk.
    let layout = work.path().join("plain");
    std::fs::create_dir_all(layout.join("etc")).unwrap();
    std::fs::write(layout.join("etc/hostname"), "plain\n").unwrap();
    let tar = work.path().join("layer.tar");
    run(Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(&layout).arg("etc"));
    let plain = registry.reference("ecslab/plain:v1");
    push_raw_image(&registry, &plain, &tar, "application/vnd.oci.image.layer.v1.tar");
    let err = pull_container_disk(&plain, &work.path().join("p.qcow2"), &[]).await.unwrap_err();
    assert_eq!(err.code, "NotAContainerDisk", "{err}");
    assert!(!work.path().join("p.qcow2").exists());
}

#[tokio::test]
async fn pulls_a_gzip_container_disk_made_by_other_tools() {
    let registry = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    // What `FROM scratch` + `ADD --chown=107:107 fedora.qcow2 /disk/` builds, as a gzip layer.
    let layout = work.path().join("image");
    std::fs::create_dir_all(layout.join("disk")).unwrap();
    let qcow2 = make_qcow2(work.path());
    std::fs::copy(&qcow2, layout.join("disk/fedora.qcow2")).unwrap();
    let tar = work.path().join("layer.tar.gz");
    run(Command::new("tar")
        .args(["--owner=107", "--group=107", "-czf"])
        .arg(&tar)
        .arg("-C")
        .arg(&layout)
        .arg("disk"));
    let reference = registry.reference("containerdisks/fedora:41");
    push_raw_image(&registry, &reference, &tar, "application/vnd.oci.image.layer.v1.tar+gzip");
    let dest = work.path().join("pulled.qcow2");
    let pulled = pull_container_disk(&reference, &dest, &[]).await.unwrap();
    assert_eq!(pulled.disk_path, "disk/fedora.qcow2");
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&qcow2).unwrap());
}

/// Pushes a one-layer image made of `layer_tar` with curl, the way any client would.
fn push_raw_image(registry: &TestRegistry, reference: &ImageReference, layer_tar: &Path, layer_type: &str) {
    let base = format!("http://{}/v2/{}", registry.addr, reference.repository);
    let upload = |path: &Path| -> String {
        let digest =
            format!("sha256:{}", run(Command::new("sha256sum").arg(path)).split_whitespace().next().unwrap());
        let headers = run(Command::new("curl")
            .args(["-fsS", "-D", "-", "-o", "/dev/null", "-X", "POST"])
            .arg(format!("{base}/blobs/uploads/")));
        let location = headers
            .lines()
            .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
            .unwrap()
            .trim()
            .to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", registry.addr)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        run(Command::new("curl")
            .args(["-fsS", "-X", "PUT", "-H", "Content-Type: application/octet-stream", "--data-binary"])
            .arg(format!("@{}", path.display()))
            .arg(format!("{url}{sep}digest={digest}")));
        digest
    };
    let layer_digest = upload(layer_tar);
    let config_path = layer_tar.with_extension("config.json");
    std::fs::write(
        &config_path,
        serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer_digest]}})
            .to_string(),
    )
    .unwrap();
    let config_digest = upload(&config_path);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": size(&config_path)},
        "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": size(layer_tar)}],
    });
    run(Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
        ])
        .arg(manifest.to_string())
        .arg(format!("{base}/manifests/{}", reference.tag)));
}
