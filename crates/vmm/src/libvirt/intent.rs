//! What the driver intends for each domain, and what libvirt's events mean in its light.
//!
//! libvirt reports that a domain stopped and a detail (`destroyed`, `shutdown`, `failed`), but
//! not whether ecslab asked for it. The driver records its intents (a kill, an ACPI shutdown,
//! its own reset) in a [`VmState`] per domain before it acts, and the event-loop thread
//! ([`Shared::on_event`]) combines them with the event into the [`VmEvent`] the domain layer
//! sees: the stop cause, or a guest reset (our own resets and the second event of one reboot
//! are not reported). Kept apart from the libvirt calls so the rules are tested without a
//! libvirtd.

use super::events::DomainEvent;
use crate::{StopCause, VmEvent};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use virt::sys;

/// A reset this soon after another one (or after our own reset) belongs to the same reboot.
const RESET_DEBOUNCE: Duration = Duration::from_secs(2);

/// What the driver knows and intends about one domain. Shared with the event thread.
#[derive(Debug)]
pub(super) struct VmState {
    /// Known after `start` or `adopt`; `None` for domains only heard of through events.
    pub(super) run_dir: Option<PathBuf>,
    pub(super) display: bool,
    pub(super) shutdown_requested: bool,
    pub(super) kill_requested: bool,
    /// libvirt said the guest itself shut down (SHUTDOWN event, detail `guest`).
    guest_shutdown_seen: bool,
    /// When we last reset it, and when the last reset was reported.
    pub(super) our_reset_at: Option<Instant>,
    last_reset_at: Option<Instant>,
    /// We are removing it (DeleteInstance): its UNDEFINED event is expected.
    pub(super) forgetting: bool,
    /// `true` once its stop was reported (or it never ran); `kill` waits on this.
    pub(super) stopped: watch::Sender<bool>,
}

impl VmState {
    fn new() -> VmState {
        VmState {
            run_dir: None,
            display: false,
            shutdown_requested: false,
            kill_requested: false,
            guest_shutdown_seen: false,
            our_reset_at: None,
            last_reset_at: None,
            forgetting: false,
            stopped: watch::channel(true).0,
        }
    }

    /// The domain runs (again): forget the intents of the previous run.
    pub(super) fn mark_running(&mut self) {
        self.shutdown_requested = false;
        self.kill_requested = false;
        self.guest_shutdown_seen = false;
        self.stopped.send_replace(false);
    }

    pub(super) fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }
}

/// Why the domain stopped, from our intents and libvirt's STOPPED detail.
fn stop_cause(state: &VmState, detail: i32) -> StopCause {
    if state.kill_requested {
        StopCause::Killed
    } else if detail == sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN as i32
        && (state.guest_shutdown_seen || state.shutdown_requested)
    {
        StopCause::GuestShutdown
    } else {
        StopCause::Vanished
    }
}

fn stopped_detail_name(detail: i32) -> &'static str {
    match detail as u32 {
        sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN => "shutdown",
        sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED => "destroyed (virsh destroy or a kill from outside ecslab)",
        sys::VIR_DOMAIN_EVENT_STOPPED_CRASHED => "crashed",
        sys::VIR_DOMAIN_EVENT_STOPPED_FAILED => "failed (QEMU died: killed from outside or crashed)",
        sys::VIR_DOMAIN_EVENT_STOPPED_MIGRATED => "migrated away",
        sys::VIR_DOMAIN_EVENT_STOPPED_SAVED => "saved",
        _ => "other",
    }
}

/// Driver state the event thread needs: the VMs and the event channel.
pub(super) struct Shared {
    vms: Mutex<HashMap<String, VmState>>,
    pub(super) events: broadcast::Sender<VmEvent>,
}

impl Shared {
    /// No VMs known yet; `events` is where the stops and resets go.
    pub(super) fn new(events: broadcast::Sender<VmEvent>) -> Shared {
        Shared { vms: Mutex::new(HashMap::new()), events }
    }

    pub(super) fn vms(&self) -> MutexGuard<'_, HashMap<String, VmState>> {
        self.vms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` on the VM's state, created (as stopped) for a VM not seen before.
    pub(super) fn with_state<T>(&self, vm_id: &str, f: impl FnOnce(&mut VmState) -> T) -> T {
        let mut vms = self.vms();
        f(vms.entry(vm_id.to_string()).or_insert_with(VmState::new))
    }

    /// Apply one libvirt event; runs on the event-loop thread.
    pub(super) fn on_event(&self, event: DomainEvent) {
        let mut vms = self.vms();
        match event {
            DomainEvent::Reboot { name } => {
                let state = vms.entry(name.clone()).or_insert_with(VmState::new);
                let now = Instant::now();
                let ours = state.our_reset_at.is_some_and(|at| now.duration_since(at) < RESET_DEBOUNCE);
                let follow_up = state.last_reset_at.is_some_and(|at| now.duration_since(at) < RESET_DEBOUNCE);
                state.last_reset_at = Some(now);
                if !ours && !follow_up {
                    let _ = self.events.send(VmEvent::Reset { vm_id: name });
                }
            }
            DomainEvent::Lifecycle { name, event, detail } => {
                tracing::debug!(vm_id = %name, event, detail, "libvirt lifecycle event");
                match event as u32 {
                    sys::VIR_DOMAIN_EVENT_STARTED => {
                        let state = vms.entry(name.clone()).or_insert_with(VmState::new);
                        if state.is_stopped() {
                            tracing::warn!(vm_id = %name, "domain started outside ecslab (virsh start?)");
                            state.mark_running();
                        }
                    }
                    sys::VIR_DOMAIN_EVENT_SHUTDOWN => {
                        let state = vms.entry(name).or_insert_with(VmState::new);
                        if detail == sys::VIR_DOMAIN_EVENT_SHUTDOWN_GUEST as i32 {
                            state.guest_shutdown_seen = true;
                        }
                    }
                    sys::VIR_DOMAIN_EVENT_STOPPED => {
                        let state = vms.entry(name.clone()).or_insert_with(VmState::new);
                        if state.is_stopped() {
                            return;
                        }
                        let cause = stop_cause(state, detail);
                        if cause == StopCause::Vanished {
                            tracing::warn!(
                                vm_id = %name,
                                how = stopped_detail_name(detail),
                                "VM process vanished without a guest shutdown (killed from outside or crashed)"
                            );
                        } else {
                            tracing::info!(vm_id = %name, ?cause, "VM stopped");
                        }
                        state.stopped.send_replace(true);
                        let _ = self.events.send(VmEvent::Stopped { vm_id: name, cause });
                    }
                    sys::VIR_DOMAIN_EVENT_UNDEFINED
                        if vms.get(&name).is_some_and(|s| !s.forgetting && s.run_dir.is_some()) =>
                    {
                        tracing::warn!(
                            vm_id = %name,
                            "domain undefined outside ecslab; it is defined again at its next start"
                        );
                    }
                    sys::VIR_DOMAIN_EVENT_SUSPENDED | sys::VIR_DOMAIN_EVENT_RESUMED => {
                        tracing::info!(vm_id = %name, event, detail, "domain paused or resumed");
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> (Shared, broadcast::Receiver<VmEvent>) {
        let (tx, rx) = broadcast::channel(16);
        (Shared::new(tx), rx)
    }

    fn lifecycle(name: &str, event: u32, detail: u32) -> DomainEvent {
        DomainEvent::Lifecycle { name: name.into(), event: event as i32, detail: detail as i32 }
    }

    fn running(shared: &Shared, name: &str, setup: impl FnOnce(&mut VmState)) {
        let mut vms = shared.vms();
        let state = vms.entry(name.into()).or_insert_with(VmState::new);
        state.mark_running();
        setup(state);
    }

    #[test]
    fn stop_causes_follow_intent_and_detail() {
        use sys::*;
        let (shared, mut rx) = shared();
        type Setup = fn(&mut VmState);
        let table: [(Setup, u32, StopCause); 6] = [
            (|s| s.kill_requested = true, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, StopCause::Killed),
            (|_| {}, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, StopCause::Vanished),
            (|_| {}, VIR_DOMAIN_EVENT_STOPPED_FAILED, StopCause::Vanished),
            (|s| s.guest_shutdown_seen = true, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, StopCause::GuestShutdown),
            (|s| s.shutdown_requested = true, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, StopCause::GuestShutdown),
            (|s| s.shutdown_requested = true, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, StopCause::Vanished),
        ];
        for (setup, detail, want) in table {
            running(&shared, "i-1", setup);
            shared.on_event(lifecycle("i-1", VIR_DOMAIN_EVENT_STOPPED, detail));
            assert_eq!(rx.try_recv().unwrap(), VmEvent::Stopped { vm_id: "i-1".into(), cause: want });
            // A second STOPPED for the same run is not reported again.
            shared.on_event(lifecycle("i-1", VIR_DOMAIN_EVENT_STOPPED, detail));
            assert!(rx.try_recv().is_err());
        }
    }

    #[test]
    fn guest_shutdown_event_then_stop_is_a_guest_poweroff() {
        use sys::*;
        let (shared, mut rx) = shared();
        running(&shared, "i-2", |_| {});
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST));
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN));
        let want = VmEvent::Stopped { vm_id: "i-2".into(), cause: StopCause::GuestShutdown };
        assert_eq!(rx.try_recv().unwrap(), want);
        // Started again from outside: the next stop is reported, with fresh intents.
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_STARTED, 0));
        shared.on_event(lifecycle("i-2", VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN));
        let want = VmEvent::Stopped { vm_id: "i-2".into(), cause: StopCause::Vanished };
        assert_eq!(rx.try_recv().unwrap(), want);
    }

    #[test]
    fn resets_are_debounced_and_ours_are_silent() {
        let (shared, mut rx) = shared();
        running(&shared, "i-3", |s| s.our_reset_at = Some(Instant::now()));
        shared.on_event(DomainEvent::Reboot { name: "i-3".into() });
        shared.on_event(DomainEvent::Reboot { name: "i-3".into() });
        assert!(rx.try_recv().is_err(), "our own reset and its follow-up are not guest resets");
        running(&shared, "i-4", |_| {});
        shared.on_event(DomainEvent::Reboot { name: "i-4".into() });
        shared.on_event(DomainEvent::Reboot { name: "i-4".into() });
        assert_eq!(rx.try_recv().unwrap(), VmEvent::Reset { vm_id: "i-4".into() });
        assert!(rx.try_recv().is_err());
    }
}
