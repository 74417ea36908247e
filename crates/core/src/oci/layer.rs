//! The containerDisk layer: a tar holding `disk/` and `disk/disk.qcow2`, both owned by 107:107
//! (the uid/gid KubeVirt's virt-launcher runs QEMU as), written and read as a stream.
//!
//! The tar is uncompressed: a qcow2 is already sparse, gzip would cost far more CPU time than the
//! upload it saves on a loopback or LAN registry, and an uncompressed layer's digest is also its
//! `diff_id`, so one pass over the disk computes both. The disk can be many GiB, so the layer is
//! produced chunk by chunk from the file and never held in memory. Sizes of 8 GiB and more use
//! the GNU base-256 size field, which Go's archive/tar (containerd, CRI-O, skopeo) reads.

use std::io::{self, Read, Write};
use tokio::io::AsyncReadExt;

/// Where KubeVirt looks for the disk inside a containerDisk image.
pub const DISK_DIR: &str = "disk/";
/// The file name ecslab gives the disk inside [`DISK_DIR`].
pub const DISK_FILE: &str = "disk/disk.qcow2";
/// KubeVirt's `qemu` user and group.
pub const CONTAINER_DISK_OWNER: u32 = 107;

const BLOCK: usize = 512;

/// One ustar header for `path` owned by 107:107.
fn header(path: &str, size: u64, mode: u32, typeflag: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..path.len()].copy_from_slice(path.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], u64::from(CONTAINER_DISK_OWNER));
    octal(&mut h[116..124], u64::from(CONTAINER_DISK_OWNER));
    if size < 0o77777777777 {
        octal(&mut h[124..136], size);
    } else {
        // GNU base-256: high bit of the first byte set, the value big-endian in the rest.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], 0); // mtime: fixed, so the same disk gives the same layer digest
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let field = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(field.as_bytes());
    h
}

/// Zero-padded octal with a trailing NUL, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// The layer tar of a disk file of `size` bytes, produced chunk by chunk from `file`.
pub struct LayerReader {
    file: tokio::fs::File,
    head: Vec<u8>,
    remaining: u64,
    tail: Vec<u8>,
    total: u64,
}

impl LayerReader {
    pub fn new(file: tokio::fs::File, size: u64) -> LayerReader {
        let mut head = Vec::with_capacity(2 * BLOCK);
        head.extend_from_slice(&header(DISK_DIR, 0, 0o755, b'5'));
        head.extend_from_slice(&header(DISK_FILE, size, 0o644, b'0'));
        // File padding, then the two zero blocks that end an archive.
        let tail = vec![0u8; padding(size) + 2 * BLOCK];
        let total = head.len() as u64 + size + tail.len() as u64;
        LayerReader { file, head, remaining: size, tail, total }
    }

    /// The size of the whole layer in bytes.
    pub fn total_len(&self) -> u64 {
        self.total
    }

    /// The next at most `max` bytes of the layer; empty at the end.
    pub async fn next_chunk(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(max.min(self.total as usize));
        let take = self.head.len().min(max);
        out.extend(self.head.drain(..take));
        if out.len() < max && self.remaining > 0 {
            let want = (max - out.len()).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            let start = out.len();
            out.resize(start + want, 0);
            self.file.read_exact(&mut out[start..]).await.map_err(|e| {
                io::Error::new(e.kind(), format!("the disk file ended or failed while being read: {e}"))
            })?;
            self.remaining -= want as u64;
        }
        if out.len() < max && self.remaining == 0 {
            let take = self.tail.len().min(max - out.len());
            out.extend(self.tail.drain(..take));
        }
        Ok(out)
    }
}

/// Reads a layer tar from `tar` and copies the first regular file directly under `disk/` into
/// `dest`. Returns that file's name inside the image, or `None` when the layer has none.
/// Understands ustar, GNU long names and base-256 sizes, and PAX `path`/`size` records.
pub fn extract_disk(mut tar: impl Read, dest: &mut impl Write) -> io::Result<Option<String>> {
    let mut long_name: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    loop {
        let mut h = [0u8; BLOCK];
        if !read_block(&mut tar, &mut h)? || h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let mut size = parse_size(&h[124..136])?;
        if let Some(s) = pax_size.take() {
            size = s;
        }
        let name = match long_name.take() {
            Some(name) => name,
            None => {
                let name = cstr(&h[..100]);
                let prefix = if &h[257..262] == b"ustar" { cstr(&h[345..500]) } else { String::new() };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            }
        };
        match h[156] {
            b'L' | b'x' => {
                let data = read_data(&mut tar, size)?;
                if h[156] == b'L' {
                    long_name = Some(cstr(&data));
                } else {
                    for (key, value) in pax_records(&data) {
                        match key.as_str() {
                            "path" => long_name = Some(value),
                            "size" => pax_size = value.parse().ok(),
                            _ => {}
                        }
                    }
                }
            }
            b'0' | 0 if is_disk_file(&name) => {
                let copied = io::copy(&mut (&mut tar).take(size), dest)?;
                if copied != size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer ends inside the disk file",
                    ));
                }
                return Ok(Some(name.trim_start_matches("./").trim_start_matches('/').to_string()));
            }
            _ => skip(&mut tar, size + padding(size) as u64)?,
        }
        if matches!(h[156], b'L' | b'x') {
            skip(&mut tar, padding(size) as u64)?;
        }
    }
}

fn is_disk_file(name: &str) -> bool {
    let name = name.trim_start_matches("./").trim_start_matches('/');
    name.strip_prefix(DISK_DIR).is_some_and(|file| !file.is_empty() && !file.contains('/'))
}

fn read_block(tar: &mut impl Read, block: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < BLOCK {
        match tar.read(&mut block[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the layer ends inside a tar header",
                ))
            }
            n => filled += n,
        }
    }
    Ok(true)
}

fn read_data(tar: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    if size > 1 << 20 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a tar extended header is larger than 1 MiB"));
    }
    let mut data = vec![0u8; size as usize];
    tar.read_exact(&mut data)?;
    Ok(data)
}

fn skip(tar: &mut impl Read, bytes: u64) -> io::Result<()> {
    let skipped = io::copy(&mut tar.take(bytes), &mut io::sink())?;
    if skipped != bytes {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the layer ends inside a file"));
    }
    Ok(())
}

fn parse_size(field: &[u8]) -> io::Result<u64> {
    if field[0] & 0x80 != 0 {
        return Ok(field[4..].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
    }
    let text = cstr(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad tar size field {text:?}")))
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// PAX records: `"<len> <key>=<value>\n"` each.
fn pax_records(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .filter_map(|line| {
            let (_, record) = line.split_once(' ')?;
            let (key, value) = record.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn layer_round_trips_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.qcow2");
        let content: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let mut layer = LayerReader::new(file, content.len() as u64);
        let total = layer.total_len();
        let mut tar = Vec::new();
        loop {
            let chunk = layer.next_chunk(700).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 700);
            tar.extend(chunk);
        }
        assert_eq!(tar.len() as u64, total);
        assert_eq!(tar.len() % BLOCK, 0);
        let mut out = Vec::new();
        let name = extract_disk(tar.as_slice(), &mut out).unwrap();
        assert_eq!(name.as_deref(), Some(DISK_FILE));
        assert_eq!(out, content);
    }

    #[test]
    fn large_sizes_use_base_256() {
        let size = 20u64 << 30;
        let h = header(DISK_FILE, size, 0o644, b'0');
        assert_eq!(h[124], 0x80);
        assert_eq!(parse_size(&h[124..136]).unwrap(), size);
        let small = header(DISK_FILE, 4096, 0o644, b'0');
        assert_eq!(parse_size(&small[124..136]).unwrap(), 4096);
    }

    #[test]
    fn a_layer_without_disk_gives_none() {
        let mut tar = Vec::new();
        tar.extend_from_slice(&header("etc/", 0, 0o755, b'5'));
        tar.extend_from_slice(&header("etc/hostname", 3, 0o644, b'0'));
        tar.extend_from_slice(b"abc");
        tar.resize(tar.len() + padding(3) + 2 * BLOCK, 0);
        assert_eq!(extract_disk(tar.as_slice(), &mut Vec::new()).unwrap(), None);
    }
}
