//! QEMU processes as the driver sees them: launched daemonized, found again by pid file.
//!
//! A daemonized QEMU is not our child (its parent exits once QEMU is initialized), so we cannot wait
//! for it; liveness is read from `/proc`. A pid alone proves little after a reboot or pid reuse, so a
//! process counts as our VM only while its `/proc/<pid>/cmdline` holds the VM's exact `-qmp` value.
//! That also treats a zombie (empty cmdline) as gone, which it is for every purpose of ours.

use super::argv::{self, RunPaths};
use crate::log_tail::read_tail;
use std::io;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How much of QEMU's log a start failure quotes.
const MAX_MESSAGE: usize = 4096;
/// How often [`wait_gone`] looks at `/proc`.
const POLL: Duration = Duration::from_millis(10);

/// Run QEMU with `-daemonize` and wait until its first process exits, which it does once the VM is
/// initialized (exit 0) or failed to initialize (exit 1). Returns QEMU's message on failure: errors
/// found before daemonizing go to stderr, later ones to the `-D` log, `qemu_log`. The first process
/// is put in its own process group (QEMU's daemon calls `setsid` itself), so a Ctrl-C aimed at the
/// server never reaches the VM.
pub async fn launch(
    binary: &Path,
    args: &[String],
    qemu_log: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let child = tokio::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // QEMU points its stderr at -D's log (or /dev/null) before signalling success, so reading
        // this pipe to its end does not wait for the VM to stop.
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| format!("waiting for {}: {e}", binary.display()))?,
        Err(_) => return Err(format!("QEMU did not finish initializing within {}s", timeout.as_secs())),
    };
    if output.status.success() {
        return Ok(());
    }
    let log = read_tail(qemu_log, MAX_MESSAGE).unwrap_or_default();
    let message = [output.stderr.as_slice(), log.as_slice()]
        .iter()
        .map(|text| String::from_utf8_lossy(text).trim().to_string())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Err(if message.is_empty() { format!("QEMU exited with {}", output.status) } else { message })
}

/// The pid in the pid file, if the file exists and holds one.
pub fn read_pidfile(path: &Path) -> io::Result<Option<i32>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().ok().filter(|pid| *pid > 0)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `pid` is a running QEMU of the VM whose files are `paths`.
pub fn is_alive(pid: i32, paths: &RunPaths) -> bool {
    let Ok(qmp) = argv::qmp_arg(paths) else { return false };
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.split(|b| *b == 0).any(|arg| arg == qmp.as_bytes()),
        Err(_) => false,
    }
}

/// The pid of the VM's running QEMU, if there is one.
pub fn live_pid(paths: &RunPaths) -> io::Result<Option<i32>> {
    Ok(read_pidfile(&paths.pidfile)?.filter(|pid| is_alive(*pid, paths)))
}

/// Wait up to `timeout` for the process to be gone; true if it is.
pub async fn wait_gone(pid: i32, paths: &RunPaths, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_alive(pid, paths) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Send SIGKILL to the VM's QEMU, after checking once more that `pid` is still it.
pub fn sigkill(pid: i32, paths: &RunPaths) -> io::Result<()> {
    if !is_alive(pid, paths) {
        return Ok(());
    }
    kill_raw(pid, libc::SIGKILL)
}

#[allow(unsafe_code)]
fn kill_raw(pid: i32, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    Err(err)
}

/// Remove what a dead QEMU may have left: sockets and pid file. Logs are kept.
pub fn remove_stale(paths: &RunPaths) -> io::Result<()> {
    for path in [&paths.qmp, &paths.serial, &paths.pidfile] {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qemu.pid");
        assert_eq!(read_pidfile(&path).unwrap(), None);
        std::fs::write(&path, "1234\n").unwrap();
        assert_eq!(read_pidfile(&path).unwrap(), Some(1234));
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(read_pidfile(&path).unwrap(), None);
    }

    #[test]
    fn a_process_without_our_qmp_argument_is_not_ours() {
        let paths = RunPaths::new(Path::new("/nonexistent/run"));
        assert!(!is_alive(std::process::id() as i32, &paths));
        assert!(!is_alive(i32::MAX, &paths));
    }

    #[tokio::test]
    async fn launch_reports_qemu_style_failures() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("qemu.log");
        let sh = |script: &str| vec!["-c".to_string(), script.to_string()];
        let run = |args: Vec<String>, binary: &'static str| {
            let log = log.clone();
            async move { launch(Path::new(binary), &args, &log, Duration::from_secs(5)).await }
        };
        let err = run(sh("echo 'qemu: bad option' >&2; exit 1"), "/bin/sh").await.unwrap_err();
        assert_eq!(err, "qemu: bad option");
        std::fs::write(&log, "qemu: Could not open disk\n").unwrap();
        let err = run(sh("exit 1"), "/bin/sh").await.unwrap_err();
        assert_eq!(err, "qemu: Could not open disk", "a daemonized QEMU reports in its -D log");
        std::fs::remove_file(&log).unwrap();
        let err = run(sh("exit 3"), "/bin/sh").await.unwrap_err();
        assert!(err.contains("exit status: 3"), "{err}");
        let err = run(vec![], "/nonexistent/qemu").await.unwrap_err();
        assert!(err.contains("cannot run /nonexistent/qemu"), "{err}");
        run(vec![], "/bin/true").await.unwrap();
    }
}
