//! Driving `debugfs` (e2fsprogs) on one ext2/3/4 filesystem inside a raw disk file: listing
//! directories and unlinking entries in batches of commands, and `e2fsck` to prove the result
//! clean. No loop device is involved: the filesystem is a file of its own, or is read inside a
//! whole-disk file as `file?offset=BYTES` (fine for debugfs; e2fsck loses the offset when it
//! reopens the device after a journal replay, so edits work on a partition copied out).
//!
//! Names go through debugfs's command parser, which accepts any byte except NUL and newline
//! inside double quotes (a quote is doubled). Entries are always addressed relative to their
//! parent's inode (`cd <ino>` then `rm "name"`), so symlinks in a path are never followed twice.

use super::{dir_of, tool, ExcludeError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

/// One ext filesystem at `offset` bytes into the raw disk file `raw`.
#[derive(Debug, Clone)]
pub struct ExtFs {
    dir: PathBuf,
    device: String,
}

/// A listed directory: its own inode (from its `.` entry) and its entries but `.` and `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub inode: u64,
    pub entries: Vec<Entry>,
}

/// One directory entry, as `ls -p` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub inode: u64,
    pub mode: u32,
    pub name: Vec<u8>,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

impl ExtFs {
    /// `raw` must be a file name ecslab chose (no `?`): debugfs and e2fsck run in its directory.
    pub fn new(raw: &Path, offset: u64) -> ExtFs {
        let dir = dir_of(raw).to_path_buf();
        let name = raw.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let device = if offset == 0 { name } else { format!("{name}?offset={offset}") };
        ExtFs { dir, device }
    }

    /// Runs a debugfs command script; read-only unless `write`.
    async fn run(&self, script: &[u8], write: bool) -> Result<Output, ExcludeError> {
        let script_file = tempfile::Builder::new()
            .prefix(".exclude-debugfs-")
            .tempfile_in(&self.dir)
            .map_err(|e| ExcludeError::failed(format!("cannot write a debugfs script: {e}")))?;
        std::fs::write(script_file.path(), script)
            .map_err(|e| ExcludeError::failed(format!("cannot write a debugfs script: {e}")))?;
        let mut command = tokio::process::Command::new(tool("debugfs"));
        if write {
            command.arg("-w");
        }
        command
            .arg("-f")
            .arg(script_file.path())
            .arg(&self.device)
            .current_dir(&self.dir)
            .env("DEBUGFS_PAGER", "__none__")
            .env("PAGER", "__none__");
        let out =
            command.output().await.map_err(|e| ExcludeError::failed(format!("cannot run debugfs: {e}")))?;
        if !out.status.success() {
            return Err(ExcludeError::failed(format!(
                "debugfs failed on the filesystem: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out)
    }

    /// Lists each directory in `dirs` (debugfs specs: `<ino>` or a quoted path, which may end in
    /// `/` to follow a final symlink). `None` for a spec that is missing or not a directory.
    pub async fn list(&self, dirs: &[Vec<u8>]) -> Result<Vec<Option<Dir>>, ExcludeError> {
        if dirs.is_empty() {
            return Ok(Vec::new());
        }
        let mut script = Vec::new();
        for dir in dirs {
            script.extend_from_slice(b"ls -p ");
            script.extend_from_slice(dir);
            script.push(b'\n');
        }
        let out = self.run(&script, false).await?;
        let mut sections: Vec<Option<Dir>> = Vec::with_capacity(dirs.len());
        for line in out.stdout.split(|&b| b == b'\n') {
            if line.starts_with(b"debugfs: ") {
                sections.push(None);
            } else if line.starts_with(b"/") {
                let entry = parse_entry(line).ok_or_else(|| {
                    ExcludeError::failed(format!(
                        "cannot read debugfs's listing line {:?}",
                        String::from_utf8_lossy(line)
                    ))
                })?;
                let Some(section) = sections.last_mut() else {
                    return Err(ExcludeError::failed("debugfs printed a listing before any command"));
                };
                let dir = section.get_or_insert_with(|| Dir { inode: 0, entries: Vec::new() });
                if entry.name == b"." {
                    dir.inode = entry.inode;
                } else if entry.name != b".." {
                    dir.entries.push(entry);
                }
            } else if !line.is_empty() {
                return Err(ExcludeError::failed(format!(
                    "cannot read debugfs's listing line {:?} (a file name with a newline?)",
                    String::from_utf8_lossy(line)
                )));
            }
        }
        if sections.iter().flatten().any(|d| d.inode == 0) {
            return Err(ExcludeError::failed("debugfs listed a directory without its \".\" entry"));
        }
        if sections.len() != dirs.len() {
            return Err(ExcludeError::failed(format!(
                "debugfs answered {} of {} listings",
                sections.len(),
                dirs.len()
            )));
        }
        Ok(sections)
    }

    /// The link count of each inode, from one batch of `stat` commands.
    pub async fn link_counts(&self, inodes: &[u64]) -> Result<HashMap<u64, u32>, ExcludeError> {
        let mut counts = HashMap::new();
        if inodes.is_empty() {
            return Ok(counts);
        }
        let mut script = Vec::new();
        for &inode in inodes {
            script.extend_from_slice(b"stat ");
            script.extend_from_slice(&inode_spec(inode));
            script.push(b'\n');
        }
        let out = self.run(&script, false).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut current = None;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("Inode:"), Some(n)) => current = n.parse::<u64>().ok(),
                (Some("Links:"), Some(n)) => {
                    if let (Some(inode), Ok(links)) = (current.take(), n.parse::<u32>()) {
                        counts.insert(inode, links);
                    }
                }
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Runs write commands; any complaint on stderr (beyond the version banner) is a failure.
    pub async fn edit(&self, script: &[u8]) -> Result<(), ExcludeError> {
        let out = self.run(script, true).await?;
        let complaints: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with("debugfs "))
            .map(str::to_string)
            .collect();
        if !complaints.is_empty() {
            return Err(ExcludeError::failed(format!("debugfs refused an edit: {}", complaints.join("; "))));
        }
        Ok(())
    }

    /// Prints a small file (e.g. `/etc/fstab`); `None` when it is absent.
    pub async fn cat(&self, path: &str) -> Result<Option<Vec<u8>>, ExcludeError> {
        let mut script = b"cat ".to_vec();
        script.extend_from_slice(&quote(path.as_bytes())?);
        script.push(b'\n');
        let out = self.run(&script, false).await?;
        if String::from_utf8_lossy(&out.stderr).contains("not found") {
            return Ok(None);
        }
        let text = out.stdout;
        // Drop the echoed command line.
        let start = text.iter().position(|&b| b == b'\n').map_or(text.len(), |i| i + 1);
        Ok(Some(text[start..].to_vec()))
    }

    /// `e2fsck -fn`: `Ok(None)` when clean, `Ok(Some(report))` when it found problems.
    pub async fn check(&self) -> Result<Option<String>, ExcludeError> {
        let out = self.fsck("-fn").await?;
        Ok(if out.status.success() { None } else { Some(String::from_utf8_lossy(&out.stdout).into_owned()) })
    }

    /// `e2fsck -fy`: repairs what debugfs left behind (e.g. counters). Exit codes 0-2 mean fixed.
    pub async fn repair(&self) -> Result<(), ExcludeError> {
        let out = self.fsck("-fy").await?;
        match out.status.code() {
            Some(0..=2) => Ok(()),
            _ => Err(ExcludeError::failed(format!(
                "e2fsck could not repair the filesystem after the edit: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            ))),
        }
    }

    async fn fsck(&self, mode: &str) -> Result<Output, ExcludeError> {
        tokio::process::Command::new(tool("e2fsck"))
            .arg(mode)
            .arg(&self.device)
            .current_dir(&self.dir)
            .output()
            .await
            .map_err(|e| ExcludeError::failed(format!("cannot run e2fsck: {e}")))
    }
}

/// `/ino/mode/uid/gid/name/size/` (size empty for directories).
fn parse_entry(line: &[u8]) -> Option<Entry> {
    let body = line.strip_prefix(b"/")?.strip_suffix(b"/")?;
    let mut head = body.splitn(5, |&b| b == b'/');
    let inode = std::str::from_utf8(head.next()?).ok()?.parse().ok()?;
    let mode = u32::from_str_radix(std::str::from_utf8(head.next()?).ok()?, 8).ok()?;
    let _uid = head.next()?;
    let _gid = head.next()?;
    let rest = head.next()?;
    let slash = rest.iter().rposition(|&b| b == b'/')?;
    Some(Entry { inode, mode, name: rest[..slash].to_vec() })
}

/// A debugfs argument: `"name"` with quotes doubled; names with NUL or newline cannot be written.
pub fn quote(name: &[u8]) -> Result<Vec<u8>, ExcludeError> {
    if name.iter().any(|&b| b == b'\n' || b == b'\r' || b == 0) {
        return Err(ExcludeError::failed(format!(
            "the name {:?} holds a newline, which debugfs's command language cannot express",
            String::from_utf8_lossy(name)
        )));
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    out.push(b'"');
    for &b in name {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    Ok(out)
}

/// `<ino>`, debugfs's spelling of "the inode with this number".
pub fn inode_spec(inode: u64) -> Vec<u8> {
    format!("<{inode}>").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listing_lines() {
        let e = parse_entry(b"/309/040755/0/0/q\"x//").unwrap();
        assert_eq!((e.inode, e.name.as_slice(), e.is_dir()), (309, b"q\"x".as_slice(), true));
        let e = parse_entry(b"/290/100644/0/0/a b/546/").unwrap();
        assert_eq!((e.inode, e.name.as_slice(), e.is_dir()), (290, b"a b".as_slice(), false));
        assert_eq!(parse_entry(b"garbage"), None);
    }

    #[test]
    fn quotes_names_for_debugfs() {
        assert_eq!(quote(b"a b").unwrap(), b"\"a b\"".to_vec());
        assert_eq!(quote(b"q\"x").unwrap(), b"\"q\"\"x\"".to_vec());
        assert!(quote(b"bad\nname").is_err());
    }
}
