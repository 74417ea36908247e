//! Finding the filesystems in a raw disk file without mounting it: the partition table through
//! `sfdisk --json` (MBR and GPT), then each partition's type from its superblock magic, so that a
//! path on a filesystem ecslab cannot edit is refused with the filesystem named.

use super::{tool, ExcludeError};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// One filesystem candidate: a partition, or the whole disk when it has no partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// 1-based partition number; `None` for a whole-disk filesystem.
    pub partition: Option<u32>,
    /// Byte offset of the volume in the raw file.
    pub offset: u64,
    pub size: u64,
    pub kind: FsKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Ext,
    Fat,
    Xfs,
    Btrfs,
    Ntfs,
    Swap,
    Lvm,
    Unknown,
}

impl FsKind {
    pub fn label(self) -> &'static str {
        match self {
            FsKind::Ext => "ext2/3/4",
            FsKind::Fat => "FAT",
            FsKind::Xfs => "XFS",
            FsKind::Btrfs => "Btrfs",
            FsKind::Ntfs => "NTFS",
            FsKind::Swap => "swap",
            FsKind::Lvm => "LVM physical volume",
            FsKind::Unknown => "unrecognised",
        }
    }
}

impl Volume {
    pub fn describe(&self) -> String {
        match self.partition {
            Some(n) => format!("partition {n} ({})", self.kind.label()),
            None => format!("the whole disk ({})", self.kind.label()),
        }
    }
}

/// The volumes of the raw disk `raw`: its partitions (extended-partition containers left out),
/// or the whole disk when `sfdisk` finds no partition table.
pub async fn volumes(raw: &Path) -> Result<Vec<Volume>, ExcludeError> {
    let disk_size = tokio::fs::metadata(raw)
        .await
        .map_err(|e| ExcludeError::failed(format!("cannot read the disk copy: {e}")))?
        .len();
    let out = tokio::process::Command::new(tool("sfdisk"))
        .arg("--json")
        .arg(raw)
        .output()
        .await
        .map_err(|e| ExcludeError::failed(format!("cannot run sfdisk: {e}")))?;
    let mut extents = Vec::new();
    if out.status.success() && !out.stdout.is_empty() {
        let table: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| ExcludeError::failed(format!("sfdisk printed something that is not JSON: {e}")))?;
        let table = &table["partitiontable"];
        let sector = table["sectorsize"].as_u64().unwrap_or(512);
        for (index, partition) in table["partitions"].as_array().into_iter().flatten().enumerate() {
            let kind = partition["type"].as_str().unwrap_or("");
            // MBR extended containers (5, f, 85) hold logical partitions, listed on their own.
            if matches!(kind, "5" | "f" | "85") {
                continue;
            }
            let number = partition_number(partition["node"].as_str()).unwrap_or(index as u32 + 1);
            let start = partition["start"].as_u64().unwrap_or(0) * sector;
            let size = partition["size"].as_u64().unwrap_or(0) * sector;
            extents.push((Some(number), start, size));
        }
    }
    if extents.is_empty() {
        extents.push((None, 0, disk_size));
    }
    let mut file = tokio::fs::File::open(raw)
        .await
        .map_err(|e| ExcludeError::failed(format!("cannot open the disk copy: {e}")))?;
    let mut volumes = Vec::new();
    for (partition, offset, size) in extents {
        let kind = probe(&mut file, offset).await?;
        volumes.push(Volume { partition, offset, size, kind });
    }
    Ok(volumes)
}

/// The trailing digits of a node name like `disk.raw2` or `/dev/vda15`.
fn partition_number(node: Option<&str>) -> Option<u32> {
    let node = node?;
    let digits = node.len() - node.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    node[node.len() - digits..].parse().ok()
}

/// Reads the first 68 KiB of a volume and recognises its filesystem by magic numbers.
async fn probe(file: &mut tokio::fs::File, offset: u64) -> Result<FsKind, ExcludeError> {
    const HEAD: usize = 0x10100;
    let unreadable = |e: std::io::Error| ExcludeError::failed(format!("cannot read the disk copy: {e}"));
    file.seek(std::io::SeekFrom::Start(offset)).await.map_err(unreadable)?;
    let mut head = Vec::with_capacity(HEAD);
    file.take(HEAD as u64).read_to_end(&mut head).await.map_err(unreadable)?;
    Ok(kind_of(&head))
}

pub fn kind_of(head: &[u8]) -> FsKind {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(1024 + 0x38, &[0x53, 0xEF]) {
        FsKind::Ext
    } else if at(0, b"XFSB") {
        FsKind::Xfs
    } else if at(0x10040, b"_BHRfS_M") {
        FsKind::Btrfs
    } else if at(3, b"NTFS    ") {
        FsKind::Ntfs
    } else if at(4086, b"SWAPSPACE2") || at(4086, b"SWAP-SPACE") {
        FsKind::Swap
    } else if at(512, b"LABELONE") {
        FsKind::Lvm
    } else if at(510, &[0x55, 0xAA]) && (at(54, b"FAT") || at(82, b"FAT32")) {
        FsKind::Fat
    } else {
        FsKind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_magic_numbers() {
        let mut ext = vec![0u8; 4096];
        ext[1024 + 0x38] = 0x53;
        ext[1024 + 0x39] = 0xEF;
        assert_eq!(kind_of(&ext), FsKind::Ext);
        let mut fat = vec![0u8; 4096];
        fat[54..59].copy_from_slice(b"FAT16");
        fat[510] = 0x55;
        fat[511] = 0xAA;
        assert_eq!(kind_of(&fat), FsKind::Fat);
        assert_eq!(kind_of(&[0u8; 100]), FsKind::Unknown);
    }

    #[test]
    fn partition_numbers_come_from_node_names() {
        assert_eq!(partition_number(Some("/tmp/x.raw2")), Some(2));
        assert_eq!(partition_number(Some("/dev/vda15")), Some(15));
        assert_eq!(partition_number(Some("noname")), None);
    }
}
