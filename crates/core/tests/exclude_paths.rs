//! ExcludePaths on the real test guest (`build/guest/guest.qcow2`: MBR, FAT boot partition, ext4
//! root): files and directory trees are removed without mounting, the rest stays intact, e2fsck
//! finds the filesystem clean, and the edited disk still boots under QEMU and no longer shows
//! the removed paths from inside the guest. Paths on filesystems ecslab cannot edit are refused.

use ecslab_core::exclude::remove_paths;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn guest_image() -> PathBuf {
    let dir = std::env::var_os("ECSLAB_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/guest"));
    let image = dir.join("guest.qcow2");
    assert!(image.is_file(), "the test guest {} is missing: run scripts/build-guest-image", image.display());
    image
}

fn qemu_img() -> &'static Path {
    Path::new("qemu-img")
}

fn run(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn sbin(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file()).unwrap()
}

/// Converts `image` to raw, runs `f` with the raw file and the ext4 root's byte offset (from the
/// partition table), and converts back when `write`.
fn with_root(image: &Path, write: bool, f: impl FnOnce(&Path, u64)) {
    let raw = image.with_extension("check.raw");
    run(Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(image).arg(&raw));
    let table: serde_json::Value =
        serde_json::from_slice(&run(Command::new(sbin("sfdisk")).arg("--json").arg(&raw)).stdout).unwrap();
    let root = table["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "83")
        .expect("the guest has a Linux partition");
    f(&raw, root["start"].as_u64().unwrap() * 512);
    if write {
        run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(image));
    }
    std::fs::remove_file(&raw).unwrap();
}

fn device(raw: &Path, offset: u64) -> String {
    format!("{}?offset={offset}", raw.display())
}

/// debugfs commands, one per line; returns stdout. Fails on any complaint when writing.
fn debugfs(raw: &Path, offset: u64, write: bool, commands: &str) -> String {
    let script = raw.with_extension("cmds");
    std::fs::write(&script, commands).unwrap();
    let mut command = Command::new(sbin("debugfs"));
    if write {
        command.arg("-w");
    }
    let out = run(command.arg("-f").arg(&script).arg(device(raw, offset)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if write {
        let complaints: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("debugfs ")).collect();
        assert!(complaints.is_empty(), "debugfs complained: {complaints:?}");
    }
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

fn fsck_clean(raw: &Path, offset: u64) -> bool {
    Command::new(sbin("e2fsck")).arg("-fn").arg(device(raw, offset)).output().unwrap().status.success()
}

/// Names in an `ls -p` listing, without `.` and `..`.
fn names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|l| l.starts_with('/'))
        .filter_map(|l| l.trim_end_matches('/').split('/').nth(5).map(str::to_string))
        .filter(|n| n != "." && n != "..")
        .collect()
}

const KEEP: &str = "keep me: ecslab exclude test\n";

/// The guest plus /srv with a file to keep, a symlink, a single file and a tree to remove.
fn prepared_guest(dir: &Path) -> PathBuf {
    let image = dir.join("guest.qcow2");
    std::fs::copy(guest_image(), &image).unwrap();
    let keep = dir.join("keep.txt");
    std::fs::write(&keep, KEEP).unwrap();
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![0x5a; 3 << 20]).unwrap();
    with_root(&image, true, |raw, offset| {
        let mut commands = String::from(
            "mkdir /srv\nmkdir /srv/secret\nmkdir /srv/secret/sub\nmkdir /srv/secret/sub/deeper\n",
        );
        commands += &format!("write {} /srv/keep.txt\n", keep.display());
        commands += &format!("write {} /srv/token\n", keep.display());
        commands += &format!("write {} /srv/secret/a.txt\n", keep.display());
        commands += &format!("write {} /srv/secret/big.bin\n", big.display());
        commands += &format!("write {} /srv/secret/sub/b.txt\n", keep.display());
        commands += &format!("write {} /srv/secret/sub/deeper/c\n", keep.display());
        commands += &format!("write {} \"/srv/secret/name with space\"\n", keep.display());
        commands += &format!("write {} \"/srv/secret/q\"\"uote\"\n", keep.display());
        commands +=
            "symlink /srv/secret/etc-link /etc\nsymlink /srv/lnk /srv/keep.txt\nmkdir /srv/secret/empty\n";
        // A hard link from outside the tree to a file inside it (debugfs's ln leaves the count).
        commands += "ln /srv/secret/a.txt /etc/hard-link\nsif /srv/secret/a.txt links_count 2\n";
        debugfs(raw, offset, true, &commands);
        assert!(fsck_clean(raw, offset), "the prepared guest must be clean to start with");
    });
    image
}

#[tokio::test]
async fn removes_files_and_trees_and_the_guest_still_boots() {
    let dir = tempfile::tempdir().unwrap();
    let image = prepared_guest(dir.path());
    let virtual_size = |p: &Path| -> (String, u64) {
        let info: serde_json::Value = serde_json::from_slice(
            &run(Command::new("qemu-img").args(["info", "--output=json"]).arg(p)).stdout,
        )
        .unwrap();
        (info["format"].as_str().unwrap().to_string(), info["virtual-size"].as_u64().unwrap())
    };
    let before = virtual_size(&image);

    let paths: Vec<String> =
        ["/srv/secret/", "/srv/token", "/srv/lnk", "/nonexistent/x", "/srv/secret/sub", "/srv//token"]
            .map(String::from)
            .to_vec();
    let removal = remove_paths(qemu_img(), &image, &paths).await.unwrap();
    assert_eq!(removal.removed, ["/srv/secret", "/srv/token", "/srv/lnk", "/srv/secret/sub"]);
    assert_eq!(removal.absent, ["/nonexistent/x"]);
    assert_eq!(removal.filesystem, "partition 2 (ext2/3/4)");
    assert!(!removal.repaired, "the edit itself leaves the filesystem clean: {removal:?}");
    // a.txt big.bin b.txt c, two odd names, etc-link, and the dirs secret sub deeper empty; token; lnk.
    assert_eq!(removal.entries_deleted, 13, "{removal:?}");
    assert_eq!(virtual_size(&image), before, "still a qcow2 of the same virtual size");

    with_root(&image, false, |raw, offset| {
        let srv = debugfs(raw, offset, false, "ls -p /srv\n");
        assert_eq!(names(&srv), ["keep.txt"], "{srv}");
        let kept = debugfs(raw, offset, false, "cat /srv/keep.txt\n");
        assert!(kept.contains(KEEP.trim()), "{kept}");
        // The symlink inside the removed tree was removed, not followed.
        let etc = debugfs(raw, offset, false, "ls -p /etc\n");
        assert!(names(&etc).contains(&"vmtest-banner".to_string()), "{etc}");
        // The file hard-linked from /etc lost one link and kept its content.
        let hard = debugfs(raw, offset, false, "stat /etc/hard-link\ncat /etc/hard-link\n");
        assert!(hard.contains("Links: 1 ") && hard.contains(KEEP.trim()), "{hard}");
        let gone = debugfs(raw, offset, false, "stat /srv/secret\nstat /srv/token\n");
        assert_eq!(gone.matches("File not found by ext2_lookup").count(), 2, "{gone}");
        assert!(fsck_clean(raw, offset), "e2fsck -fn must find the edited filesystem clean");
    });

    // Removing the same paths again: nothing left to remove, image still fine.
    let again = remove_paths(qemu_img(), &image, &paths).await.unwrap();
    assert!(again.removed.is_empty(), "{again:?}");
    assert_eq!(again.absent.len(), 5, "{again:?}");

    // The edited disk boots, and the guest itself sees /srv/keep.txt and nothing else there.
    let serial = boot_and_run(
        &image,
        "echo BEGIN-$((1+1)); ls -a /srv; echo END-$((2+2)); cat /srv/keep.txt; echo LISTED-$((40+2))",
    );
    let listing = serial.rsplit("BEGIN-2").next().unwrap().split("END-4").next().unwrap();
    let names: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(names, [".", "..", "keep.txt"], "the guest's /srv: {serial}");
    let cat = serial.rsplit("END-4").next().unwrap().split("LISTED-42").next().unwrap();
    assert!(cat.contains(KEEP.trim()), "{serial}");
}

/// Boots `image` (an overlay of it) under QEMU TCG, waits for the guest's READY line, types
/// `command` into the root shell on ttyS0, and returns the serial output up to the `-42` marker.
fn boot_and_run(image: &Path, command: &str) -> String {
    let overlay = image.with_extension("boot.qcow2");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(image)
        .arg(&overlay));
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-nodefaults",
            "-no-user-config",
            "-accel",
            "tcg",
            "-m",
            "128",
            "-display",
            "none",
            "-serial",
            "stdio",
        ])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2", overlay.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let output = Arc::new(Mutex::new(String::new()));
    let stdout = qemu.stdout.take().unwrap();
    let sink = output.clone();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    });
    let wait_for = |needle: &str, limit: Duration| {
        let deadline = Instant::now() + limit;
        while !output.lock().unwrap().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    };
    let ready = wait_for("VMTEST-GUEST-READY", Duration::from_secs(180));
    let mut answered = false;
    if ready {
        let stdin = qemu.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        answered = wait_for("LISTED-42", Duration::from_secs(60));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    let _ = std::fs::remove_file(&overlay);
    let text = output.lock().unwrap().clone();
    assert!(ready, "the edited guest did not boot to READY: {text}");
    assert!(text.contains("VMTEST-EXT4-ROOT-OK"), "the edited root did not mount: {text}");
    assert!(answered, "the guest did not answer the command: {text}");
    text
}

#[tokio::test]
async fn refuses_what_it_cannot_edit_and_leaves_the_image_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sha = |p: &Path| run(Command::new("sha256sum").arg(p)).stdout;

    // Malformed paths.
    let image = dir.path().join("guest.qcow2");
    std::fs::copy(guest_image(), &image).unwrap();
    let original = sha(&image);
    for bad in ["relative/path", "/srv/../etc", "/", "/a/./b"] {
        let err = remove_paths(qemu_img(), &image, &[bad.to_string()]).await.unwrap_err();
        assert_eq!(err.code, "InvalidExcludePath", "{bad}: {err}");
        assert!(err.message.contains(bad), "{err}");
    }
    assert_eq!(sha(&image), original);

    // A disk holding only a FAT filesystem.
    let fat_raw = dir.path().join("fat.raw");
    run(Command::new("truncate").args(["-s", "16M"]).arg(&fat_raw));
    run(Command::new(sbin("mkfs.vfat")).arg(&fat_raw));
    let fat = dir.path().join("fat.qcow2");
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&fat_raw).arg(&fat));
    let fat_sha = sha(&fat);
    let err = remove_paths(qemu_img(), &fat, &["/EFI/BOOT".to_string()]).await.unwrap_err();
    assert_eq!(err.code, "UnsupportedFilesystem", "{err}");
    assert!(err.message.contains("FAT") && err.message.contains("/EFI/BOOT"), "{err}");
    assert_eq!(sha(&fat), fat_sha, "a refused edit leaves the image as it was");

    // A path that the guest's fstab mounts from the FAT boot partition.
    with_root(&image, true, |raw, offset| {
        let fstab = dir.path().join("fstab");
        std::fs::write(
            &fstab,
            "LABEL=VMTEST-ROOT / ext4 defaults 0 1\nLABEL=VMTESTBOOT /boot vfat defaults 0 2\n",
        )
        .unwrap();
        debugfs(raw, offset, true, &format!("write {} /etc/fstab\nmkdir /boot\n", fstab.display()));
    });
    for path in ["/boot/syslinux.cfg", "/boot"] {
        let err = remove_paths(qemu_img(), &image, &[path.to_string()]).await.unwrap_err();
        assert_eq!(err.code, "UnsupportedFilesystem", "{path}: {err}");
        assert!(err.message.contains("vfat") && err.message.contains("/boot"), "{err}");
    }
    // Paths on the root filesystem of the same image are still fine.
    let removal = remove_paths(qemu_img(), &image, &["/etc/vmtest-id".to_string()]).await.unwrap();
    assert_eq!(removal.removed, ["/etc/vmtest-id"]);

    // No leftovers beside the images.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".exclude-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A 20 GiB-virtual, mostly empty disk stays sparse through the raw round trip: the edit takes
/// seconds and neither the temporary raw copy nor the result is ever written out in full.
#[tokio::test]
async fn a_large_sparse_disk_stays_sparse() {
    let dir = tempfile::tempdir().unwrap();
    let image = prepared_guest(dir.path());
    run(Command::new("qemu-img").args(["resize", "-q"]).arg(&image).arg("20G"));
    let started = Instant::now();
    let removal = remove_paths(qemu_img(), &image, &["/srv/secret".to_string()]).await.unwrap();
    let took = started.elapsed();
    assert_eq!(removal.removed, ["/srv/secret"]);
    let info: serde_json::Value = serde_json::from_slice(
        &run(Command::new("qemu-img").args(["info", "--output=json"]).arg(&image)).stdout,
    )
    .unwrap();
    assert_eq!(info["virtual-size"].as_u64(), Some(20 << 30));
    let allocated = info["actual-size"].as_u64().unwrap();
    assert!(allocated < 256 << 20, "the edited 20 GiB disk allocates {allocated} bytes");
    eprintln!("ExcludePaths on a 20 GiB-virtual disk took {took:?}; the result allocates {allocated} bytes");
}

/// A disk saved while its guest was running has a journal to replay (`needs_recovery`). The
/// journal is replayed before the edit, so the next mount cannot undo it, and the result is clean.
#[tokio::test]
async fn a_disk_from_a_running_guest_is_replayed_then_edited() {
    let dir = tempfile::tempdir().unwrap();
    let image = prepared_guest(dir.path());
    // Boot it for real and pull the plug while the root is mounted read-write.
    let crashed = dir.path().join("crashed.qcow2");
    std::fs::copy(&image, &crashed).unwrap();
    crash_boot(&crashed);
    with_root(&crashed, false, |raw, offset| {
        let header = run(Command::new(sbin("dumpe2fs")).arg("-h").arg(device(raw, offset))).stdout;
        assert!(
            String::from_utf8_lossy(&header).contains("needs_recovery"),
            "the crash must leave a journal"
        );
    });
    let removal = remove_paths(qemu_img(), &crashed, &["/srv/secret".to_string()]).await.unwrap();
    assert_eq!(removal.removed, ["/srv/secret"]);
    with_root(&crashed, false, |raw, offset| {
        let header = String::from_utf8_lossy(
            &run(Command::new(sbin("dumpe2fs")).arg("-h").arg(device(raw, offset))).stdout,
        )
        .into_owned();
        assert!(!header.contains("needs_recovery"), "{header}");
        assert!(fsck_clean(raw, offset));
        let srv = debugfs(raw, offset, false, "ls -p /srv\n");
        assert_eq!(names(&srv), ["keep.txt", "token", "lnk"], "{srv}");
    });
}

/// Boots `image` itself (no overlay) until READY, then kills QEMU.
fn crash_boot(image: &Path) {
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-nodefaults", "-no-user-config", "-accel", "tcg", "-m", "128", "-display", "none"])
        .args(["-serial", "stdio", "-drive"])
        .arg(format!("file={},if=virtio,format=qcow2", image.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let mut reader = std::io::BufReader::new(qemu.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut line = Vec::new();
    let mut ready = false;
    while Instant::now() < deadline && reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        if String::from_utf8_lossy(&line).contains("VMTEST-GUEST-READY") {
            ready = true;
            break;
        }
        line.clear();
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    assert!(ready, "the guest did not boot to READY");
}

/// A GPT disk with two ext4 partitions: the root is the one with /etc, and only it is edited.
/// Two ext4 filesystems and no /etc on either: the root cannot be told, so the edit is refused.
#[tokio::test]
async fn on_gpt_the_root_is_the_ext_partition_with_etc() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("two.raw");
    run(Command::new("truncate").args(["-s", "64M"]).arg(&raw));
    let linux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
    let mut sfdisk = Command::new(sbin("sfdisk")).arg("-q").arg(&raw).stdin(Stdio::piped()).spawn().unwrap();
    write!(
        sfdisk.stdin.take().unwrap(),
        "label: gpt\nstart=2048, size=32768, type={linux}\nstart=34816, size=94208, type={linux}\n"
    )
    .unwrap();
    assert!(sfdisk.wait().unwrap().success());
    let (data_offset, root_offset) = (2048 * 512, 34816 * 512);
    for (offset, size) in [(data_offset, "16M"), (root_offset, "47104k")] {
        run(Command::new(sbin("mkfs.ext4"))
            .args(["-q", "-F", "-E"])
            .arg(format!("offset={offset}"))
            .arg(&raw)
            .arg(size));
    }
    let marker = dir.path().join("marker");
    std::fs::write(&marker, "marker\n").unwrap();
    let m = marker.display();
    debugfs(&raw, data_offset, true, &format!("mkdir /srv\nwrite {m} /srv/x\n"));
    debugfs(&raw, root_offset, true, &format!("mkdir /srv\nwrite {m} /srv/x\n"));

    // Neither has /etc yet.
    let image = dir.path().join("two.qcow2");
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&image));
    let err = remove_paths(qemu_img(), &image, &["/srv/x".to_string()]).await.unwrap_err();
    assert_eq!(err.code, "UnsupportedFilesystem", "{err}");
    assert!(err.message.contains("/etc"), "{err}");

    debugfs(&raw, root_offset, true, &format!("mkdir /etc\nwrite {m} /etc/hostname\n"));
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&image));
    let removal = remove_paths(qemu_img(), &image, &["/srv/x".to_string()]).await.unwrap();
    assert_eq!(removal.removed, ["/srv/x"]);
    assert_eq!(removal.filesystem, "partition 2 (ext2/3/4)");
    assert!(!removal.repaired, "{removal:?}");

    let edited = dir.path().join("edited.raw");
    run(Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(&image).arg(&edited));
    let root = debugfs(&edited, root_offset, false, "ls -p /srv\n");
    assert!(names(&root).is_empty(), "{root}");
    let data = debugfs(&edited, data_offset, false, "ls -p /srv\n");
    assert_eq!(names(&data), ["x"], "the other partition is left alone: {data}");
    assert!(fsck_clean(&edited, root_offset) && fsck_clean(&edited, data_offset));
    let verify = run(Command::new(sbin("sfdisk")).arg("--verify").arg(&edited));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("No errors detected"));
}

/// A raw image that is one ext4 filesystem, no partition table: edited in place.
#[tokio::test]
async fn a_whole_disk_raw_filesystem_is_edited_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("whole.raw");
    run(Command::new("truncate").args(["-s", "32M"]).arg(&image));
    run(Command::new(sbin("mkfs.ext4")).args(["-q", "-F"]).arg(&image));
    let marker = dir.path().join("marker");
    std::fs::write(&marker, "marker\n").unwrap();
    let m = marker.display();
    debugfs(&image, 0, true, &format!("mkdir /srv\nwrite {m} /srv/x\nwrite {m} /srv/y\n"));
    let removal = remove_paths(qemu_img(), &image, &["/srv/x".to_string()]).await.unwrap();
    assert_eq!(removal.removed, ["/srv/x"]);
    assert_eq!(removal.filesystem, "the whole disk (ext2/3/4)");
    assert!(!removal.repaired, "{removal:?}");
    let srv = debugfs(&image, 0, false, "ls -p /srv\n");
    assert_eq!(names(&srv), ["y"], "{srv}");
    assert!(fsck_clean(&image, 0));
}
