//! Verdicts on files crafted with qemu-img and by hand.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().expect("qemu-img");
    assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
    fn create(&self, name: &str, format: &str, opts: &[&str]) -> PathBuf {
        let path = self.s(name);
        let mut args = vec!["create", "-q", "-f", format];
        args.extend_from_slice(opts);
        args.extend([path.as_str(), "1M"]);
        qemu_img(&args);
        self.path(name)
    }
}

fn verdict(path: &Path, claimed: Format) -> Result<(), Refusal> {
    check_standalone(&inspect_file(path).unwrap(), claimed)
}

fn patch(path: &Path, offset: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).unwrap();
}

#[test]
fn a_plain_qcow2_passes_only_as_qcow2() {
    let d = Dir::new();
    let good = d.create("good.qcow2", "qcow2", &[]);
    let i = inspect_file(&good).unwrap();
    assert_eq!((i.format, i.virtual_size, i.backing_file.clone()), (Format::Qcow2, Some(1 << 20), None));
    assert!(i.hazards.is_empty(), "{:?}", i.hazards);
    assert_eq!(verdict(&good, Format::Qcow2), Ok(()));
    // Claimed raw over qcow2 bytes: the CVE-2024-32498 class.
    assert_eq!(
        verdict(&good, Format::Raw),
        Err(Refusal::FormatMismatch { claimed: Format::Raw, actual: Format::Qcow2 })
    );
    assert!(verdict(&good, Format::Vpc).is_err());
    let old = d.create("v2.qcow2", "qcow2", &["-o", "compat=0.10"]);
    assert_eq!(verdict(&old, Format::Qcow2), Ok(()));
}

#[test]
fn a_qcow2_with_an_external_data_file_is_refused() {
    let d = Dir::new();
    std::fs::write(d.path("secret.json"), b"{\"AccessKeyId\":\"x\"}").unwrap();
    let opt = format!("data_file={},data_file_raw=on", d.s("secret.json"));
    let evil = d.create("evil.qcow2", "qcow2", &["-o", &opt]);
    let i = inspect_file(&evil).unwrap();
    assert_eq!(i.format, Format::Qcow2);
    assert_eq!(i.hazards, vec![Hazard::DataFile(Some(d.s("secret.json")))]);
    let refusal = verdict(&evil, Format::Qcow2).unwrap_err();
    assert!(refusal.to_string().contains("external data file"), "{refusal}");
    assert!(verdict(&evil, Format::Raw).is_err());
    // The feature bit alone (extension removed) is refused too.
    let data = std::fs::read(&evil).unwrap();
    let at = data.windows(4).position(|w| w == [0x44, 0x41, 0x54, 0x41]).unwrap();
    patch(&evil, at, &[0x11, 0x22, 0x33, 0x44]);
    assert_eq!(inspect_file(&evil).unwrap().hazards, vec![Hazard::DataFile(None)]);
}

#[test]
fn a_qcow2_with_a_backing_file_is_refused_and_reported() {
    let d = Dir::new();
    d.create("base.qcow2", "qcow2", &[]);
    let base = d.s("base.qcow2");
    let over = d.create("over.qcow2", "qcow2", &["-b", &base, "-F", "qcow2"]);
    let i = inspect_file(&over).unwrap();
    assert_eq!(i.backing_file.as_deref(), Some(base.as_str()));
    assert_eq!(i.backing_format.as_deref(), Some("qcow2"));
    assert_eq!(verdict(&over, Format::Qcow2), Err(Refusal::BackingFile(base.clone())));
    let raw_backing = d.create("over-raw.qcow2", "qcow2", &["-b", "/etc/hostname", "-F", "raw", "-u"]);
    assert_eq!(verdict(&raw_backing, Format::Qcow2), Err(Refusal::BackingFile("/etc/hostname".into())));
}

#[test]
fn encrypted_corrupt_and_unknown_qcow2_features_are_refused() {
    let d = Dir::new();
    let enc = d.create(
        "enc.qcow2",
        "qcow2",
        &["--object", "secret,id=s0,data=pw", "-o", "encrypt.format=luks,encrypt.key-secret=s0"],
    );
    assert!(inspect_file(&enc).unwrap().hazards.contains(&Hazard::Encrypted));
    assert!(verdict(&enc, Format::Qcow2).is_err());
    let odd = d.create("odd.qcow2", "qcow2", &[]);
    patch(&odd, 72, &(1u64 << 40).to_be_bytes());
    assert_eq!(inspect_file(&odd).unwrap().hazards, vec![Hazard::UnknownFeatures(1 << 40)]);
    patch(&odd, 72, &2u64.to_be_bytes());
    assert_eq!(inspect_file(&odd).unwrap().hazards, vec![Hazard::Corrupt]);
    let luks = d.create("disk.luks", "luks", &["--object", "secret,id=s0,data=pw", "-o", "key-secret=s0"]);
    let i = inspect_file(&luks).unwrap();
    assert_eq!((i.format, i.hazards), (Format::Luks, vec![Hazard::Encrypted]));
}

#[test]
fn truncated_and_garbage_headers() {
    let d = Dir::new();
    std::fs::write(d.path("short"), b"QFI\xfb\0\0\0\x03abc").unwrap();
    let i = inspect_file(&d.path("short")).unwrap();
    assert_eq!(i.format, Format::Qcow2);
    assert!(matches!(i.hazards[..], [Hazard::Malformed(_)]), "{:?}", i.hazards);
    assert!(verdict(&d.path("short"), Format::Raw).is_err());
    // A real header cut after 100 bytes, and a wild extension length.
    let good = d.create("cut.qcow2", "qcow2", &[]);
    std::fs::write(d.path("cut100"), &std::fs::read(&good).unwrap()[..100]).unwrap();
    assert!(verdict(&d.path("cut100"), Format::Qcow2).is_err());
    let wild = d.create("wild.qcow2", "qcow2", &["-o", "compat=1.1"]);
    patch(&wild, 100, &0xffff_fff0u32.to_be_bytes());
    assert!(matches!(inspect_file(&wild).unwrap().hazards[..], [Hazard::Malformed(_)]));
    patch(&wild, 20, &64u32.to_be_bytes());
    assert!(verdict(&wild, Format::Qcow2).is_err());
    // Garbage with no signature is raw, whatever its length.
    let garbage: Vec<u8> = (0..70_000u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(d.path("garbage"), &garbage).unwrap();
    assert_eq!(verdict(&d.path("garbage"), Format::Raw), Ok(()));
    assert!(verdict(&d.path("garbage"), Format::Qcow2).is_err());
    std::fs::write(d.path("empty"), b"").unwrap();
    assert_eq!(inspect_file(&d.path("empty")).unwrap().format, Format::Raw);
}

#[test]
fn raw_and_iso_pass_as_raw_only() {
    let d = Dir::new();
    let raw = d.create("disk.raw", "raw", &[]);
    assert_eq!(verdict(&raw, Format::Raw), Ok(()));
    assert!(matches!(verdict(&raw, Format::Qcow2), Err(Refusal::FormatMismatch { .. })));
    let mut iso = vec![0u8; 0x9000];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    std::fs::write(d.path("cd.iso"), iso).unwrap();
    assert_eq!(inspect_file(&d.path("cd.iso")).unwrap().format, Format::Iso);
    assert_eq!(verdict(&d.path("cd.iso"), Format::Raw), Ok(()));
}

#[test]
fn vmdk_only_self_contained_sparse_files() {
    let d = Dir::new();
    for subformat in ["monolithicSparse", "streamOptimized"] {
        let name = format!("{subformat}.vmdk");
        let f = d.create(&name, "vmdk", &["-o", &format!("subformat={subformat}")]);
        let i = inspect_file(&f).unwrap();
        assert_eq!((i.format, i.hazards.clone()), (Format::Vmdk, vec![]), "{subformat}");
        assert_eq!(verdict(&f, Format::Vmdk), Ok(()));
        assert!(verdict(&f, Format::Raw).is_err(), "a {subformat} claimed raw");
    }
    for subformat in ["twoGbMaxExtentSparse", "monolithicFlat", "twoGbMaxExtentFlat"] {
        let f = d.create(&format!("{subformat}.vmdk"), "vmdk", &["-o", &format!("subformat={subformat}")]);
        let i = inspect_file(&f).unwrap();
        assert_eq!(
            (i.format, i.hazards),
            (Format::VmdkDescriptor, vec![Hazard::DescriptorFile]),
            "{subformat}"
        );
        assert!(verdict(&f, Format::Vmdk).is_err());
        assert!(verdict(&f, Format::Raw).is_err());
    }
    let host = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"/etc/hostname\" 0\n";
    std::fs::write(d.path("hand.vmdk"), host).unwrap();
    assert_eq!(inspect_file(&d.path("hand.vmdk")).unwrap().format, Format::VmdkDescriptor);
    assert!(verdict(&d.path("hand.vmdk"), Format::Raw).is_err());
    // The embedded descriptor of a sparse file rewritten to name a host file.
    let sparse = d.create("embedded.vmdk", "vmdk", &[]);
    let data = std::fs::read(&sparse).unwrap();
    let at = data.windows(10).position(|w| w == b"createType").unwrap();
    let evil = b"createType=\"monolithicFlat\"\nRW 8 FLAT \"/etc/hostname\" 0\n\n";
    patch(&sparse, at, evil);
    let i = inspect_file(&sparse).unwrap();
    assert!(i.hazards.contains(&Hazard::VmdkCreateType("monolithicFlat".into())), "{:?}", i.hazards);
    assert!(i.hazards.iter().any(|h| matches!(h, Hazard::VmdkExtent(l) if l.contains("/etc/hostname"))));
}

#[test]
fn vmdk_descriptor_rules() {
    let ok = "createType=\"monolithicSparse\"\nRW 2048 SPARSE \"disk.vmdk\"\n";
    assert_eq!(formats::vmdk_descriptor_hazards(ok), vec![]);
    let two = "createType=\"monolithicSparse\"\nRW 2048 SPARSE \"a.vmdk\"\nRW 2048 SPARSE \"/etc/shadow\"\n";
    assert_eq!(formats::vmdk_descriptor_hazards(two).len(), 2);
    let child = "createType=\"monolithicSparse\"\nparentCID=12345678\nparentFileNameHint=\"/etc/passwd\"\nRW 2048 SPARSE \"a.vmdk\"\n";
    let hazards = formats::vmdk_descriptor_hazards(child);
    assert!(hazards.contains(&Hazard::ParentReference("/etc/passwd".into())), "{hazards:?}");
    assert!(hazards.contains(&Hazard::Differencing));
    assert_eq!(
        formats::vmdk_descriptor_hazards("RW 2048 SPARSE \"a.vmdk\"\n"),
        vec![Hazard::VmdkCreateType(String::new())]
    );
}

#[test]
fn vhd_fixed_and_dynamic_pass_differencing_does_not() {
    let d = Dir::new();
    let dynamic = d.create("dyn.vhd", "vpc", &[]);
    let i = inspect_file(&dynamic).unwrap();
    assert_eq!((i.format, i.hazards.clone()), (Format::Vpc, vec![]));
    assert_eq!(verdict(&dynamic, Format::Vpc), Ok(()));
    assert!(verdict(&dynamic, Format::Raw).is_err());
    assert!(verdict(&dynamic, Format::Qcow2).is_err());
    let fixed = d.create("fixed.vhd", "vpc", &["-o", "subformat=fixed"]);
    assert_eq!(inspect_file(&fixed).unwrap().format, Format::Vpc);
    assert_eq!(verdict(&fixed, Format::Vpc), Ok(()));
    assert!(verdict(&fixed, Format::Raw).is_err(), "a fixed VHD claimed raw");
    // A differencing disk: disk type 4, a parent name and a locator.
    let len = std::fs::metadata(&dynamic).unwrap().len() as usize;
    patch(&dynamic, 60, &4u32.to_be_bytes());
    patch(&dynamic, len - 512 + 60, &4u32.to_be_bytes());
    let data_offset =
        u64::from_be_bytes(std::fs::read(&dynamic).unwrap()[16..24].try_into().unwrap()) as usize;
    let name: Vec<u8> = "/etc/passwd".encode_utf16().flat_map(|c| c.to_be_bytes()).collect();
    patch(&dynamic, data_offset + 64, &name);
    patch(&dynamic, data_offset + 576, b"W2ku");
    let i = inspect_file(&dynamic).unwrap();
    assert!(i.hazards.contains(&Hazard::Differencing), "{:?}", i.hazards);
    assert!(i.hazards.contains(&Hazard::ParentReference("/etc/passwd".into())), "{:?}", i.hazards);
    assert!(matches!(verdict(&dynamic, Format::Vpc), Err(Refusal::Hazard { .. })));
}

#[test]
fn other_formats_are_recognised_and_never_pass_as_claimed_ones() {
    let d = Dir::new();
    let vhdx = d.create("d.vhdx", "vhdx", &[]);
    let i = inspect_file(&vhdx).unwrap();
    assert_eq!((i.format, i.virtual_size, i.hazards.clone()), (Format::Vhdx, Some(1 << 20), vec![]));
    let vdi = d.create("d.vdi", "vdi", &[]);
    assert_eq!(inspect_file(&vdi).unwrap().format, Format::Vdi);
    d.create("base.qcow2", "qcow2", &[]);
    let qed = d.create("d.qed", "qed", &["-b", &d.s("base.qcow2"), "-F", "qcow2"]);
    let i = inspect_file(&qed).unwrap();
    assert_eq!((i.format, i.backing_file), (Format::Qed, Some(d.s("base.qcow2"))));
    let parallels = d.create("d.parallels", "parallels", &[]);
    assert_eq!(inspect_file(&parallels).unwrap().format, Format::Parallels);
    for f in [&vhdx, &vdi, &qed, &parallels] {
        for claimed in [Format::Raw, Format::Qcow2, Format::Vpc] {
            assert!(matches!(verdict(f, claimed), Err(Refusal::FormatMismatch { .. })), "{f:?} as {claimed}");
        }
    }
}

#[test]
fn a_window_inspects_head_and_tail_and_says_when_it_needs_more() {
    let d = Dir::new();
    let window = |path: &Path, head: usize| {
        let data = std::fs::read(path).unwrap();
        Window {
            size: data.len() as u64,
            head: data[..head.min(data.len())].to_vec(),
            tail: data[data.len().saturating_sub(512)..].to_vec(),
        }
    };
    std::fs::write(d.path("secret"), b"x").unwrap();
    let evil =
        d.create("evil.qcow2", "qcow2", &["-o", &format!("data_file={},data_file_raw=on", d.s("secret"))]);
    let i = inspect(&window(&evil, 1 << 20)).unwrap();
    assert!(matches!(i.hazards[..], [Hazard::DataFile(Some(_))]));
    let fixed = d.create("fixed.vhd", "vpc", &["-o", "subformat=fixed"]);
    assert_eq!(inspect(&window(&fixed, 4096)).unwrap().format, Format::Vpc);
    let vhdx = d.create("d.vhdx", "vhdx", &[]);
    assert!(matches!(inspect(&window(&vhdx, 4096)), Err(InspectError::Incomplete { .. })));
}

#[test]
fn own_chains_may_only_name_own_layers() {
    let d = Dir::new();
    for sub in ["layers", "images", "elsewhere"] {
        std::fs::create_dir(d.path(sub)).unwrap();
    }
    let image = d.create("images/m-1.qcow2", "qcow2", &[]);
    let base = d.create("layers/l-base.qcow2", "qcow2", &["-b", &image.display().to_string(), "-F", "qcow2"]);
    let top = d.create("layers/l-top.qcow2", "qcow2", &["-b", &base.display().to_string(), "-F", "qcow2"]);
    assert_eq!(check_own_chain(&top), Ok(()));
    assert_eq!(check_own_chain(&image), Ok(()));
    let stray = d.create("elsewhere/x.qcow2", "qcow2", &[]);
    let bad = d.create("layers/l-bad.qcow2", "qcow2", &["-b", &stray.display().to_string(), "-F", "qcow2"]);
    let err = check_own_chain(&bad).unwrap_err();
    assert!(err.contains("outside ecslab's layers"), "{err}");
    let climbing = format!("{}/layers/../elsewhere/x.qcow2", d.0.path().display());
    let bad = d.create("layers/l-climb.qcow2", "qcow2", &["-b", &climbing, "-F", "qcow2"]);
    assert!(check_own_chain(&bad).is_err());
    let json =
        format!("json:{{\"driver\":\"raw\",\"file\":{{\"filename\":\"{}\"}}}}", d.s("elsewhere/x.qcow2"));
    let bad = d.create("layers/l-json.qcow2", "qcow2", &["-b", &json, "-F", "qcow2", "-u"]);
    assert!(check_own_chain(&bad).is_err());
    let raw_fmt =
        d.create("layers/l-rawfmt.qcow2", "qcow2", &["-b", &image.display().to_string(), "-F", "raw"]);
    assert!(check_own_chain(&raw_fmt).unwrap_err().contains("without the qcow2 format"));
    let opt = format!("data_file={},data_file_raw=on", d.s("elsewhere/data"));
    let with_data = d.create("layers/l-data.qcow2", "qcow2", &["-o", &opt]);
    assert!(check_own_chain(&with_data).unwrap_err().contains("data file"));
    // A chain whose middle layer goes bad is refused from the top.
    let mid =
        d.create("layers/l-mid.qcow2", "qcow2", &["-b", &with_data.display().to_string(), "-F", "qcow2"]);
    assert!(check_own_chain(&mid).is_err());
}
