//! Watching one running VM: its QMP events and the end of its process become [`VmEvent`]s.
//!
//! The QMP connection ends when QEMU exits, for whatever reason. Why it exited is known only from
//! what came before: a `SHUTDOWN` event the guest asked for, or the driver having been told to kill
//! the VM. Nothing at all (SIGKILL from outside, a crash) means the process vanished. The watcher
//! waits for the process to really be gone before it reports the stop, so a caller that sees
//! `Stopped` can start the VM again at once.

use super::argv::RunPaths;
use super::process;
use super::qmp::{Notice, QmpEvent};
use crate::log_tail::read_tail;
use crate::{StopCause, VmEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

/// How long an exiting QEMU may take after closing its QMP socket before it gets SIGKILL.
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// A reset this soon after another one belongs to the same reboot.
const RESET_DEBOUNCE: Duration = Duration::from_secs(2);
/// How much of `qemu.log` a "vanished" warning quotes.
const LOG_TAIL: usize = 1024;

/// What the driver and the watcher of one VM process share.
#[derive(Debug)]
pub struct VmShared {
    pub vm_id: String,
    pub pid: i32,
    pub paths: RunPaths,
    shutdown_requested: AtomicBool,
    kill_requested: AtomicBool,
    /// `Some(cause)` once the process is gone and `Stopped` was sent.
    stopped: watch::Sender<Option<StopCause>>,
}

impl VmShared {
    pub fn new(vm_id: &str, pid: i32, paths: RunPaths) -> Arc<VmShared> {
        Arc::new(VmShared {
            vm_id: vm_id.to_string(),
            pid,
            paths,
            shutdown_requested: AtomicBool::new(false),
            kill_requested: AtomicBool::new(false),
            stopped: watch::channel(None).0,
        })
    }

    /// Call before `system_powerdown`.
    pub fn note_shutdown_requested(&self) {
        self.shutdown_requested.store(true, Ordering::SeqCst);
    }

    /// Call before `quit` or SIGKILL.
    pub fn note_kill_requested(&self) {
        self.kill_requested.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.borrow().is_some()
    }

    /// Wait until the watcher has reported the stop; false on timeout.
    pub async fn wait_stopped(&self, timeout: Duration) -> bool {
        let mut rx = self.stopped.subscribe();
        let stopped = async { rx.wait_for(Option::is_some).await.is_ok() };
        tokio::time::timeout(timeout, stopped).await.unwrap_or(false)
    }

    fn intent(&self) -> Intent {
        Intent {
            shutdown_requested: self.shutdown_requested.load(Ordering::SeqCst),
            kill_requested: self.kill_requested.load(Ordering::SeqCst),
        }
    }
}

/// What the driver had asked of the VM before it stopped.
#[derive(Debug, Clone, Copy, Default)]
struct Intent {
    shutdown_requested: bool,
    kill_requested: bool,
}

/// Why the process ended, from what the driver asked and the last `SHUTDOWN` event.
fn stop_cause(intent: Intent, shutdown: Option<&QmpEvent>) -> StopCause {
    match shutdown {
        _ if intent.kill_requested => StopCause::Killed,
        Some(event) if event.guest_initiated() || intent.shutdown_requested => StopCause::GuestShutdown,
        _ => StopCause::Vanished,
    }
}

/// Run until the QMP connection ends. When QEMU closed it, wait for the process to be gone, clean
/// its leftovers and send `Stopped`. When the driver hung up (it is going away), just return: the
/// VM keeps running for the next server to adopt.
pub async fn watch_vm(
    shared: Arc<VmShared>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
    events: broadcast::Sender<VmEvent>,
) {
    let vm_id = shared.vm_id.as_str();
    let mut shutdown: Option<QmpEvent> = None;
    let mut last_reset: Option<Instant> = None;
    let error = loop {
        match notices.recv().await {
            None => return,
            Some(Notice::Disconnected { error }) => break error,
            Some(Notice::Event(event)) => {
                tracing::debug!(vm_id, event = %event.name, data = %event.data, "QMP event");
                match event.name.as_str() {
                    "SHUTDOWN" => shutdown = Some(event),
                    "RESET" => {
                        // SeaBIOS follows a warm reset with a hard reboot of its own, a second
                        // "guest" reset: one reboot (guest or host) shows as two resets.
                        let follow_up = last_reset.is_some_and(|at| at.elapsed() < RESET_DEBOUNCE);
                        last_reset = Some(Instant::now());
                        if event.guest_initiated() && !follow_up {
                            let _ = events.send(VmEvent::Reset { vm_id: vm_id.to_string() });
                        }
                    }
                    _ => {}
                }
            }
        }
    };
    if let Some(error) = error {
        tracing::warn!(vm_id, %error, "reading QMP failed");
    }
    wait_for_exit(&shared).await;
    if let Err(e) = process::remove_stale(&shared.paths) {
        tracing::warn!(vm_id, error = %e, "cannot remove the sockets and pid file of a stopped VM");
    }
    let cause = stop_cause(shared.intent(), shutdown.as_ref());
    if cause == StopCause::Vanished {
        let log = read_tail(&shared.paths.qemu_log, LOG_TAIL).unwrap_or_default();
        tracing::warn!(
            vm_id,
            pid = shared.pid,
            shutdown_reason = shutdown.as_ref().map(|e| e.reason()),
            qemu_log = %String::from_utf8_lossy(&log).trim(),
            "VM process vanished without a guest shutdown (killed from outside or crashed)"
        );
    } else {
        tracing::info!(vm_id, pid = shared.pid, ?cause, "VM stopped");
    }
    shared.stopped.send_replace(Some(cause.clone()));
    let _ = events.send(VmEvent::Stopped { vm_id: vm_id.to_string(), cause });
}

/// QEMU closes QMP as it exits; give it a moment, then make sure.
async fn wait_for_exit(shared: &VmShared) {
    let (pid, paths) = (shared.pid, &shared.paths);
    if process::wait_gone(pid, paths, EXIT_GRACE).await {
        return;
    }
    tracing::warn!(vm_id = shared.vm_id, pid, "QEMU closed QMP but did not exit; sending SIGKILL");
    if let Err(e) = process::sigkill(pid, paths) {
        tracing::warn!(vm_id = shared.vm_id, pid, error = %e, "SIGKILL failed");
    }
    if !process::wait_gone(pid, paths, EXIT_GRACE).await {
        tracing::error!(vm_id = shared.vm_id, pid, "QEMU survived SIGKILL; reporting it stopped anyway");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shutdown(guest: bool) -> QmpEvent {
        QmpEvent { name: "SHUTDOWN".into(), data: json!({"guest": guest, "reason": "x"}) }
    }

    #[test]
    fn stop_causes() {
        let none = Intent::default();
        let asked = Intent { shutdown_requested: true, kill_requested: false };
        let killed = Intent { shutdown_requested: false, kill_requested: true };
        let both = Intent { shutdown_requested: true, kill_requested: true };
        let table = [
            (none, None, StopCause::Vanished),
            (none, Some(shutdown(true)), StopCause::GuestShutdown),
            // e.g. SIGTERM from outside: QEMU says host-signal.
            (none, Some(shutdown(false)), StopCause::Vanished),
            (asked, Some(shutdown(true)), StopCause::GuestShutdown),
            (asked, Some(shutdown(false)), StopCause::GuestShutdown),
            (asked, None, StopCause::Vanished),
            (killed, Some(shutdown(false)), StopCause::Killed),
            (killed, None, StopCause::Killed),
            (both, Some(shutdown(true)), StopCause::Killed),
        ];
        for (intent, event, want) in table {
            assert_eq!(stop_cause(intent, event.as_ref()), want, "{intent:?} {event:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn guest_reset_is_reported_and_hangup_is_silent() {
        let (events, mut rx) = broadcast::channel(8);
        let (tx, notices) = mpsc::unbounded_channel();
        let shared = VmShared::new("i-1", i32::MAX, RunPaths::new(std::path::Path::new("/nonexistent")));
        let watcher = tokio::spawn(watch_vm(shared.clone(), notices, events));
        let reset = |guest| QmpEvent { name: "RESET".into(), data: json!({"guest": guest}) };
        // A host reset, then SeaBIOS's hard reboot: no event.
        tx.send(Notice::Event(reset(false))).unwrap();
        tx.send(Notice::Event(reset(true))).unwrap();
        tokio::time::sleep(RESET_DEBOUNCE * 2).await;
        // A guest reboot, then SeaBIOS's hard reboot: one event.
        tx.send(Notice::Event(reset(true))).unwrap();
        tx.send(Notice::Event(reset(true))).unwrap();
        drop(tx);
        watcher.await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), VmEvent::Reset { vm_id: "i-1".into() });
        assert!(
            rx.try_recv().is_err(),
            "one reset event per reboot, and no Stopped when the driver hangs up"
        );
        assert!(!shared.is_stopped());
    }

    #[tokio::test]
    async fn disconnect_reports_the_stop() {
        let (events, mut rx) = broadcast::channel(8);
        let (tx, notices) = mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let shared = VmShared::new("i-2", i32::MAX, RunPaths::new(dir.path()));
        let watcher = tokio::spawn(watch_vm(shared.clone(), notices, events));
        shared.note_shutdown_requested();
        tx.send(Notice::Event(shutdown(true))).unwrap();
        tx.send(Notice::Disconnected { error: None }).unwrap();
        assert!(shared.wait_stopped(Duration::from_secs(5)).await);
        watcher.await.unwrap();
        let want = VmEvent::Stopped { vm_id: "i-2".into(), cause: StopCause::GuestShutdown };
        assert_eq!(rx.recv().await.unwrap(), want);
    }
}
