//! One parser per format: signatures first (in the order QEMU's probes would rank them), then
//! the header fields that decide whether the file references anything else. Only headers are
//! read, and every offset and length taken from the file is bounded before it is used.

use super::{Format, Hazard, InspectError, Inspection, ReadAt};

/// Longest name or descriptor the inspector reads out of a file.
const MAX_TEXT: usize = 64 * 1024;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn malformed(inspection: &mut Inspection, why: impl Into<String>) {
    inspection.hazards.push(Hazard::Malformed(why.into()));
}

pub(super) fn inspect(src: &(impl ReadAt + ?Sized)) -> Result<Inspection, InspectError> {
    let head = src.read_at(0, 4096)?;
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"QFI\xfb") {
        return qcow(src, &head);
    }
    if starts(b"QED\0") {
        return qed(src, &head);
    }
    if starts(b"KDMV") {
        return vmdk_sparse(src, &head);
    }
    if starts(b"COWD") {
        let mut i = Inspection::new(Format::VmdkCowd);
        i.hazards.push(Hazard::Differencing);
        return Ok(i);
    }
    if is_vmdk_descriptor(&head) {
        let mut i = Inspection::new(Format::VmdkDescriptor);
        i.hazards.push(Hazard::DescriptorFile);
        return Ok(i);
    }
    if starts(b"vhdxfile") {
        return vhdx(src);
    }
    if starts(b"conectix") {
        return vpc(src, &head);
    }
    if le32(&head, 0x40) == Some(0xbeda_107f) {
        return Ok(vdi(&head));
    }
    if starts(b"LUKS\xba\xbe") {
        let mut i = Inspection::new(Format::Luks);
        i.hazards.push(Hazard::Encrypted);
        return Ok(i);
    }
    if starts(b"Bochs Virtual HD Image") {
        return Ok(Inspection::new(Format::Bochs));
    }
    if starts(b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0") {
        return Ok(Inspection::new(Format::Cloop));
    }
    if starts(b"WithoutFreeSpace") || starts(b"WithouFreSpacExt") {
        return Ok(Inspection::new(Format::Parallels));
    }
    let size = src.size();
    if size >= 512 {
        let tail = src.read_at(size - 512, 512)?;
        if tail.starts_with(b"conectix") {
            return vpc(src, &tail);
        }
        if tail.starts_with(b"koly") {
            return Ok(Inspection::new(Format::Dmg));
        }
    }
    for at in [0x8001u64, 0x8801, 0x9001] {
        if size > at + 5 && src.read_at(at, 5)? == b"CD001" {
            let mut i = Inspection::new(Format::Iso);
            i.virtual_size = Some(size);
            return Ok(i);
        }
    }
    let mut i = Inspection::new(Format::Raw);
    i.virtual_size = Some(size);
    Ok(i)
}

/// A bounded string read out of the file at `offset`.
fn read_text(src: &(impl ReadAt + ?Sized), offset: u64, len: u64) -> Result<Option<String>, InspectError> {
    if len == 0 || len as usize > MAX_TEXT || offset.checked_add(len).is_none_or(|end| end > src.size()) {
        return Ok(None);
    }
    let bytes = src.read_at(offset, len as usize)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

// qcow2 header extension types.
const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_CRYPTO: u32 = 0x0537_be77;
const EXT_DATA_FILE: u32 = 0x4441_5441;
/// Incompatible feature bits QEMU 7.2 knows: dirty, corrupt, external data file, compression
/// type, extended L2 entries.
const QCOW2_KNOWN_INCOMPATIBLE: u64 = 0b1_1111;
const QCOW2_CORRUPT: u64 = 1 << 1;
const QCOW2_DATA_FILE: u64 = 1 << 2;

fn qcow(src: &(impl ReadAt + ?Sized), head: &[u8]) -> Result<Inspection, InspectError> {
    let version = be32(head, 4).unwrap_or(0);
    let mut i = Inspection::new(if version == 1 { Format::Qcow } else { Format::Qcow2 });
    if head.len() < 72 {
        malformed(&mut i, "the header is truncated");
        return Ok(i);
    }
    let backing_offset = be64(head, 8).unwrap_or(0);
    if version == 1 {
        let backing_size = be32(head, 16).unwrap_or(0);
        i.virtual_size = be64(head, 24);
        if backing_offset != 0 {
            i.backing_file = Some(read_text(src, backing_offset, backing_size.into())?.unwrap_or_default());
        }
        if be32(head, 36).unwrap_or(0) != 0 {
            i.hazards.push(Hazard::Encrypted);
        }
        return Ok(i);
    }
    if !(2..=3).contains(&version) {
        malformed(&mut i, format!("qcow2 version {version}"));
        return Ok(i);
    }
    let backing_size = be32(head, 16).unwrap_or(0);
    let cluster_bits = be32(head, 20).unwrap_or(0);
    i.virtual_size = be64(head, 24);
    if !(9..=21).contains(&cluster_bits) {
        malformed(&mut i, format!("cluster_bits {cluster_bits}"));
        return Ok(i);
    }
    if backing_offset != 0 {
        let name = read_text(src, backing_offset, backing_size.into())?;
        i.backing_file = Some(name.unwrap_or_else(|| format!("<{backing_size} bytes at {backing_offset}>")));
    }
    if be32(head, 32).unwrap_or(0) != 0 {
        i.hazards.push(Hazard::Encrypted);
    }
    let (incompatible, header_length) = if version == 3 {
        if head.len() < 104 {
            malformed(&mut i, "the version 3 header is truncated");
            return Ok(i);
        }
        (be64(head, 72).unwrap_or(0), be32(head, 100).unwrap_or(0) as usize)
    } else {
        (0, 72)
    };
    if incompatible & QCOW2_DATA_FILE != 0 {
        i.hazards.push(Hazard::DataFile(None));
    }
    if incompatible & QCOW2_CORRUPT != 0 {
        i.hazards.push(Hazard::Corrupt);
    }
    if incompatible & !QCOW2_KNOWN_INCOMPATIBLE != 0 {
        i.hazards.push(Hazard::UnknownFeatures(incompatible & !QCOW2_KNOWN_INCOMPATIBLE));
    }
    // Header extensions run from the end of the header to the end of the first cluster.
    let cluster = 1usize << cluster_bits;
    if header_length < 72 || header_length > cluster {
        malformed(&mut i, format!("header_length {header_length}"));
        return Ok(i);
    }
    let first_cluster = src.read_at(0, cluster.min(MAX_TEXT * 4))?;
    let mut at = header_length;
    loop {
        let (Some(kind), Some(len)) = (be32(&first_cluster, at), be32(&first_cluster, at + 4)) else {
            malformed(&mut i, "the header extensions run past the first cluster");
            break;
        };
        if kind == EXT_END {
            break;
        }
        let len = len as usize;
        let Some(data) = first_cluster.get(at + 8..at + 8 + len) else {
            malformed(&mut i, format!("header extension 0x{kind:08x} is {len} bytes"));
            break;
        };
        let text = || String::from_utf8_lossy(data).into_owned();
        match kind {
            EXT_BACKING_FORMAT => i.backing_format = Some(text()),
            EXT_DATA_FILE => {
                i.hazards.retain(|h| !matches!(h, Hazard::DataFile(None)));
                i.hazards.push(Hazard::DataFile(Some(text())));
            }
            EXT_CRYPTO if !i.hazards.contains(&Hazard::Encrypted) => i.hazards.push(Hazard::Encrypted),
            _ => {}
        }
        at += 8 + len.div_ceil(8) * 8;
    }
    Ok(i)
}

fn qed(src: &(impl ReadAt + ?Sized), head: &[u8]) -> Result<Inspection, InspectError> {
    let mut i = Inspection::new(Format::Qed);
    let (Some(features), Some(size), Some(offset), Some(len)) =
        (le64(head, 16), le64(head, 48), le32(head, 56), le32(head, 60))
    else {
        malformed(&mut i, "the header is truncated");
        return Ok(i);
    };
    i.virtual_size = Some(size);
    // Feature bit 0: the image has a backing file.
    if features & 1 != 0 || len != 0 {
        i.backing_file = Some(read_text(src, offset.into(), len.into())?.unwrap_or_default());
    }
    Ok(i)
}

/// A VMDK text descriptor: text that declares a createType or extents.
fn is_vmdk_descriptor(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    // QEMU's own probe: a line `version=1`, `2` or `3`.
    let probed_version =
        text.lines().any(|l| matches!(l.trim_end(), "version=1" | "version=2" | "version=3"));
    text.trim_start().starts_with("# Disk DescriptorFile")
        || probed_version
        || text.lines().any(|l| l.trim_start().starts_with("createType"))
}

fn vmdk_sparse(src: &(impl ReadAt + ?Sized), head: &[u8]) -> Result<Inspection, InspectError> {
    let mut i = Inspection::new(Format::Vmdk);
    let (Some(capacity), Some(desc_offset), Some(desc_size)) =
        (le64(head, 12), le64(head, 28), le64(head, 36))
    else {
        malformed(&mut i, "the header is truncated");
        return Ok(i);
    };
    i.virtual_size = capacity.checked_mul(512);
    if desc_offset == 0 {
        return Ok(i); // a bare sparse extent: no descriptor, nothing named
    }
    let descriptor = match (desc_offset.checked_mul(512), desc_size.checked_mul(512)) {
        (Some(offset), Some(size)) if size as usize <= MAX_TEXT => {
            read_text(src, offset, size.min(src.size()))?
        }
        _ => None,
    };
    let Some(descriptor) = descriptor else {
        malformed(&mut i, "the embedded descriptor is out of bounds");
        return Ok(i);
    };
    i.hazards.extend(vmdk_descriptor_hazards(&descriptor));
    Ok(i)
}

/// What an embedded VMDK descriptor may say: createType monolithicSparse or streamOptimized,
/// exactly one SPARSE extent (the file itself), and no parent.
pub(super) fn vmdk_descriptor_hazards(descriptor: &str) -> Vec<Hazard> {
    let mut hazards = Vec::new();
    let mut extents = Vec::new();
    let mut create_type = None;
    for line in descriptor.lines().map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\0')) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let unquote = |v: &str| v.trim().trim_matches('"').to_string();
        if let Some((key, value)) = line.split_once('=') {
            match key.trim() {
                "createType" => create_type = Some(unquote(value)),
                "parentFileNameHint" => hazards.push(Hazard::ParentReference(unquote(value))),
                "parentCID" if !unquote(value).eq_ignore_ascii_case("ffffffff") => {
                    hazards.push(Hazard::Differencing)
                }
                _ => {}
            }
            continue;
        }
        if ["RW", "RDONLY", "NOACCESS"].iter().any(|a| line.starts_with(a)) {
            extents.push(line.to_string());
        }
    }
    match create_type.as_deref() {
        Some("monolithicSparse" | "streamOptimized") => {}
        other => hazards.push(Hazard::VmdkCreateType(other.unwrap_or("").to_string())),
    }
    let sparse = |line: &str| line.split_whitespace().nth(2) == Some("SPARSE");
    match extents.as_slice() {
        [one] if sparse(one) => {}
        [] => hazards.push(Hazard::VmdkExtent("no extent".into())),
        lines => hazards.extend(lines.iter().map(|l| Hazard::VmdkExtent(l.clone()))),
    }
    hazards
}

/// VHD: the footer (a copy at offset 0 for dynamic disks, always the last 512 bytes), the disk
/// type, and for dynamic/differencing disks the header's parent name and locators.
fn vpc(src: &(impl ReadAt + ?Sized), footer: &[u8]) -> Result<Inspection, InspectError> {
    let mut i = Inspection::new(Format::Vpc);
    let (Some(data_offset), Some(size), Some(disk_type)) =
        (be64(footer, 16), be64(footer, 48), be32(footer, 60))
    else {
        malformed(&mut i, "the footer is truncated");
        return Ok(i);
    };
    i.virtual_size = Some(size);
    match disk_type {
        2 => return Ok(i),
        3 => {}
        4 => i.hazards.push(Hazard::Differencing),
        other => {
            malformed(&mut i, format!("disk type {other}"));
            return Ok(i);
        }
    }
    let header = src.read_at(data_offset, 1024)?;
    if header.len() < 1024 || !header.starts_with(b"cxsparse") {
        malformed(&mut i, "the dynamic disk header is missing");
        return Ok(i);
    }
    // Parent unicode name (UTF-16BE, 512 bytes at 64) and eight parent locators (24 bytes at 576).
    let name: Vec<u16> =
        header[64..576].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).take_while(|&c| c != 0).collect();
    if !name.is_empty() {
        i.hazards.push(Hazard::ParentReference(String::from_utf16_lossy(&name)));
    }
    for n in 0..8 {
        let code = be32(&header, 576 + n * 24).unwrap_or(0);
        if code != 0 {
            let code = String::from_utf8_lossy(&code.to_be_bytes()).into_owned();
            i.hazards.push(Hazard::ParentReference(format!("parent locator {code}")));
        }
    }
    Ok(i)
}

/// `8B7CA206-4790-4B9A-B8FE-575F050F886E`, the VHDX metadata region.
const VHDX_METADATA_REGION: [u8; 16] =
    [0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e];
/// `CAA16737-FA36-4D43-B3B6-33F0AA44E76B`, file parameters (flag bit 1: has a parent).
const VHDX_FILE_PARAMETERS: [u8; 16] =
    [0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d, 0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b];
/// `A8D35F2D-B30B-454D-ABF7-D3D84834AB0C`, the parent locator.
const VHDX_PARENT_LOCATOR: [u8; 16] =
    [0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45, 0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c];
/// `2FA54224-CD1B-4876-B211-5DBED83BF4B8`, the virtual disk size.
const VHDX_DISK_SIZE: [u8; 16] =
    [0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48, 0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8];

fn vhdx(src: &(impl ReadAt + ?Sized)) -> Result<Inspection, InspectError> {
    let mut i = Inspection::new(Format::Vhdx);
    let regions = src.read_at(192 * 1024, 64 * 1024)?;
    let count = le32(&regions, 8).unwrap_or(0) as usize;
    if !regions.starts_with(b"regi") || count > 2047 {
        malformed(&mut i, "the region table is missing");
        return Ok(i);
    }
    let metadata = (0..count).find_map(|n| {
        let entry = regions.get(16 + n * 32..16 + (n + 1) * 32)?;
        (entry[..16] == VHDX_METADATA_REGION).then(|| (le64(entry, 16), le32(entry, 24)))
    });
    let Some((Some(offset), Some(_length))) = metadata else {
        malformed(&mut i, "there is no metadata region");
        return Ok(i);
    };
    let table = src.read_at(offset, 64 * 1024)?;
    let entries = le16(&table, 10).unwrap_or(0) as usize;
    if !table.starts_with(b"metadata") || entries > 2047 {
        malformed(&mut i, "the metadata table is missing");
        return Ok(i);
    }
    for n in 0..entries {
        let Some(entry) = table.get(32 + n * 32..32 + (n + 1) * 32) else { break };
        let item = &entry[..16];
        let item_offset = u64::from(le32(entry, 16).unwrap_or(0));
        if item == VHDX_PARENT_LOCATOR {
            i.hazards.push(Hazard::ParentReference("VHDX parent locator".into()));
        } else if item == VHDX_FILE_PARAMETERS {
            let flags = src.read_at(offset + item_offset + 4, 4)?;
            if le32(&flags, 0).unwrap_or(0) & 2 != 0 {
                i.hazards.push(Hazard::Differencing);
            }
        } else if item == VHDX_DISK_SIZE {
            i.virtual_size = le64(&src.read_at(offset + item_offset, 8)?, 0);
        }
    }
    Ok(i)
}

fn vdi(head: &[u8]) -> Inspection {
    let mut i = Inspection::new(Format::Vdi);
    // Image type: 1 dynamic, 2 fixed, 3 undo, 4 differencing.
    match le32(head, 0x4c) {
        Some(1 | 2) => {}
        Some(3 | 4) => i.hazards.push(Hazard::Differencing),
        other => malformed(&mut i, format!("image type {other:?}")),
    }
    i.virtual_size = le64(head, 0x170);
    i
}
