//! Offline qcow2 chain surgery with `qemu-img`, for disks whose VM is not running and for
//! snapshot files (which no VM ever has open once they are sealed).
//!
//! The layout these functions maintain, per disk:
//!
//! ```text
//!   live:      top ──► base ──► image          (base = content of the disk's parent snapshot)
//!   snapshots: s3 ──► s1 ──► image             (each file = what changed since its parent)
//!              s2 ──► s1
//! ```
//!
//! The VM reads through at most three layers whatever the number of snapshots, because every
//! snapshot's changes are also merged into the disk's private base when it is taken. Each
//! snapshot file's header names its parent's file, so any snapshot can be restored (by copying
//! it and rebasing the copy onto the image) and any snapshot can be deleted (by rebasing its
//! children onto its parent). Every step below is idempotent and leaves every header chain
//! reading the same content, which is what makes crash recovery a matter of re-running steps.

use crate::inspect::{self, Format};
use crate::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The rule for ecslab's own files, checked before qemu-img or QEMU opens a chain: every layer
/// is a qcow2 whose backing file is one of ecslab's layers or images (see
/// [`inspect::check_own_chain`]). A violation means a file was tampered with or a bug wrote
/// it: it is logged loudly and never followed.
pub fn check_own_chain(top: &Path) -> Result<()> {
    inspect::check_own_chain(top).map_err(|why| refused(top, &why))
}

/// A file that breaks the rule for ecslab's own files: logged loudly, an internal error.
fn refused(file: &Path, why: &str) -> Error {
    tracing::error!(file = %file.display(), %why, "REFUSED a disk chain that leaves ecslab's own layers");
    Error::internal(format!("the disk chain of {} is refused: {why}", file.display()))
}

/// A file from outside as qemu-img must open it: its format named, and for qcow2 no backing
/// file followed (`json:` with `"backing": null`), so even a reference the inspector missed is
/// never read. The inspector has already refused data files and every other reference.
pub fn standalone_source(path: &Path, format: Format) -> std::result::Result<OsString, String> {
    let filename = path.to_str().ok_or_else(|| format!("{} is not a UTF-8 path", path.display()))?;
    let mut spec = serde_json::json!({
        "driver": format.qemu_name(),
        "file": { "driver": "file", "filename": filename },
    });
    if matches!(format, Format::Qcow2 | Format::Qed | Format::Qcow) {
        spec["backing"] = serde_json::Value::Null;
    }
    Ok(OsString::from(format!("json:{spec}")))
}

/// What `qemu-img convert` reads: a checked file from outside, or a chain of ecslab's own.
pub enum ConvertSource<'a> {
    /// Opened by [`standalone_source`]; the caller inspected it.
    Standalone(&'a Path, Format),
    /// One of ecslab's qcow2 layers or images with its backing chain, checked here.
    OwnChain(&'a Path),
}

/// Run qemu-img; its stdout, or an error with its stderr naming `what` it was doing.
pub(crate) async fn qemu_img(qemu_img: &Path, args: &[&std::ffi::OsStr], what: &str) -> Result<String> {
    let out = Command::new(qemu_img)
        .args(args)
        .output()
        .await
        .map_err(|e| Error::internal(format!("running qemu-img for {what}: {e}")))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "qemu-img {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Create a qcow2 at `path`: an overlay of `backing` when given (with the backing's size unless
/// `size_gib` is set), else blank with `size_gib`.
pub async fn create(
    qemu_img_bin: &Path,
    path: &Path,
    backing: Option<&Path>,
    size_gib: Option<i64>,
) -> Result<()> {
    if let Some(backing) = backing {
        check_own_chain(backing)?;
    }
    let size = size_gib.map(|g| format!("{g}G"));
    let mut args: Vec<&std::ffi::OsStr> = vec![os("create"), os("-q"), os("-f"), os("qcow2")];
    if let Some(backing) = backing {
        args.extend([os("-b"), backing.as_os_str(), os("-F"), os("qcow2")]);
    }
    args.push(path.as_os_str());
    if let Some(size) = &size {
        args.push(os(size));
    }
    qemu_img(qemu_img_bin, &args, "create").await.map(drop)
}

/// Merge `top` into the file its header names as backing (`qemu-img commit -d`: `top` keeps
/// its data, so re-running is harmless).
pub async fn commit(qemu_img_bin: &Path, top: &Path) -> Result<()> {
    check_own_chain(top)?;
    let args = [os("commit"), os("-q"), os("-f"), os("qcow2"), os("-d"), top.as_os_str()];
    qemu_img(qemu_img_bin, &args, "commit").await.map(drop)
}

/// Rewrite the backing-file name in `file`'s header without touching data (`rebase -u`).
/// `None` makes the file standalone. Only correct when the new backing reads the same.
pub async fn set_backing_name(qemu_img_bin: &Path, file: &Path, backing: Option<&Path>) -> Result<()> {
    inspect::check_own_layer(file).map_err(|why| refused(file, &why))?;
    if let Some(backing) = backing {
        check_own_chain(backing)?;
    }
    let mut args: Vec<&std::ffi::OsStr> = vec![os("rebase"), os("-q"), os("-f"), os("qcow2"), os("-u")];
    match backing {
        Some(b) => args.extend([os("-F"), os("qcow2"), os("-b"), b.as_os_str()]),
        None => args.extend([os("-b"), os("")]),
    }
    args.push(file.as_os_str());
    qemu_img(qemu_img_bin, &args, "rebase -u").await.map(drop)
}

/// Rebase `file` onto `backing` keeping its content (`rebase` in safe mode: it copies in what
/// the old chain had and the new one lacks). `None` makes it standalone.
pub async fn rebase(qemu_img_bin: &Path, file: &Path, backing: Option<&Path>) -> Result<()> {
    check_own_chain(file)?;
    if let Some(backing) = backing {
        check_own_chain(backing)?;
    }
    let mut args: Vec<&std::ffi::OsStr> = vec![os("rebase"), os("-q"), os("-f"), os("qcow2")];
    match backing {
        Some(b) => args.extend([os("-F"), os("qcow2"), os("-b"), b.as_os_str()]),
        None => args.extend([os("-b"), os("")]),
    }
    args.push(file.as_os_str());
    qemu_img(qemu_img_bin, &args, "rebase").await.map(drop)
}

/// Build a standalone copy of a snapshot's content as a file over `image` (or blank when
/// `image` is None): copy the snapshot's layer, then rebase the copy onto the image. Cost is
/// proportional to what changed, not to the disk size. Writes `target` atomically.
pub async fn materialize(
    qemu_img_bin: &Path,
    snapshot_file: &Path,
    image: Option<&Path>,
    target: &Path,
) -> Result<()> {
    check_own_chain(snapshot_file)?;
    let partial = partial_path(target);
    tokio::fs::copy(snapshot_file, &partial)
        .await
        .map_err(|e| Error::internal(format!("copying {}: {e}", snapshot_file.display())))?;
    rebase(qemu_img_bin, &partial, image).await?;
    tokio::fs::rename(&partial, target)
        .await
        .map_err(|e| Error::internal(format!("renaming {}: {e}", partial.display())))
}

/// Flatten a chain into one standalone qcow2 (for images made from snapshots), atomically.
pub async fn flatten(qemu_img_bin: &Path, top: &Path, target: &Path) -> Result<()> {
    check_own_chain(top)?;
    let partial = partial_path(target);
    qemu_img(
        qemu_img_bin,
        &[os("convert"), os("-f"), os("qcow2"), os("-O"), os("qcow2"), top.as_os_str(), partial.as_os_str()],
        "convert",
    )
    .await?;
    tokio::fs::rename(&partial, target)
        .await
        .map_err(|e| Error::internal(format!("renaming {}: {e}", partial.display())))
}

/// Grow a qcow2 file's virtual size.
pub async fn resize(qemu_img_bin: &Path, file: &Path, size_gib: i64) -> Result<()> {
    check_own_chain(file)?;
    let size = format!("{size_gib}G");
    qemu_img(
        qemu_img_bin,
        &[os("resize"), os("-q"), os("-f"), os("qcow2"), file.as_os_str(), os(&size)],
        "resize",
    )
    .await
    .map(drop)
}

/// Whether `file` is a readable qcow2 whose header chain opens.
pub async fn is_valid(qemu_img_bin: &Path, file: &Path) -> bool {
    file.is_file()
        && check_own_chain(file).is_ok()
        && qemu_img(qemu_img_bin, &[os("info"), os("-U"), os("-f"), os("qcow2"), file.as_os_str()], "info")
            .await
            .is_ok()
}

pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

/// Remove a file; a missing file is fine (steps re-run after a crash).
pub fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a layer file");
        }
    }
}

/// `qemu-img convert -p` from `source` to `target` (`out_format`), calling `on_progress` with
/// each new whole percentage. A failed conversion removes `target`.
pub async fn convert_with_progress<F, Fut>(
    qemu_img_bin: &Path,
    source: ConvertSource<'_>,
    target: &Path,
    out_format: &str,
    mut on_progress: F,
) -> std::result::Result<(), String>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use tokio::io::AsyncReadExt;
    let (in_format, source) = match source {
        ConvertSource::Standalone(path, format) => (format.qemu_name(), standalone_source(path, format)?),
        ConvertSource::OwnChain(top) => {
            check_own_chain(top).map_err(|e| e.detail())?;
            ("qcow2", top.as_os_str().to_os_string())
        }
    };
    let mut child = tokio::process::Command::new(qemu_img_bin)
        .args(["convert", "-p", "-f", in_format, "-O", out_format])
        .arg(source)
        .arg(target)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("running qemu-img convert: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut buf = [0u8; 256];
    let mut text = String::new();
    let mut last_reported = -1;
    loop {
        let n = stdout.read(&mut buf).await.map_err(|e| format!("reading qemu-img progress: {e}"))?;
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(pct) = last_percentage(&text) {
            if pct != last_reported {
                last_reported = pct;
                on_progress(pct).await;
            }
        }
        if text.len() > 4096 {
            text.drain(..text.len() - 64);
        }
    }
    let out = child.wait_with_output().await.map_err(|e| format!("waiting for qemu-img convert: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(target);
        return Err(format!("qemu-img convert failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

/// The last `(NN.NN/100%)` figure in qemu-img's progress output.
fn last_percentage(text: &str) -> Option<i64> {
    let end = text.rfind("/100%)")?;
    let start = text[..end].rfind('(')? + 1;
    text[start..end].trim().parse::<f64>().ok().map(|p| p as i64)
}

#[cfg(test)]
mod progress_tests {
    #[test]
    fn reads_qemu_img_progress() {
        assert_eq!(super::last_percentage("    (0.00/100%)\r    (42.50/100%)\r"), Some(42));
        assert_eq!(super::last_percentage("nothing yet"), None);
    }
}
