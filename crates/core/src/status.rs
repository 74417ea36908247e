//! The instance state machine, free of any backend so its tests always run.
//!
//! ```text
//!   RunInstances ──► Pending ──► Starting ──► Running ──► Stopping ──► Stopped
//!                                   ▲            │  ▲                    │
//!   CreateInstance ─────────────────┼────────────┼──┼────────────────────┤
//!                                   │            │  └── Reboot (Starting)│
//!                                   └────────────┼───── StartInstance ◄──┘
//!                                                └──► Stopped  (guest powered off, QEMU vanished)
//! ```
//!
//! API requests go through [`admit`]: it decides, from the current status alone, whether the
//! request proceeds (and to which status), is an idempotent repeat to ignore, or is denied
//! with `IncorrectInstanceStatus`.

pub use ecslab_store::InstanceStatus;

/// A request that wants to change an instance's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Start,
    Stop,
    Reboot,
    Delete { force: bool },
}

/// What [`admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; the instance moves to this status while the work runs.
    Proceed(InstanceStatus),
    /// An idempotent repeat of work already under way or done: answer success, do nothing.
    Ignore,
    /// Refuse with `IncorrectInstanceStatus`.
    Deny,
}

/// Decide what a request does in a status. Pure; the caller applies it with a conditional update.
pub fn admit(status: InstanceStatus, request: Request) -> Admission {
    use Admission::*;
    use InstanceStatus::*;
    match (request, status) {
        (Request::Start, Stopped) => Proceed(Starting),
        (Request::Start, Starting | Pending) => Ignore,
        (Request::Start, Running | Stopping) => Deny,
        (Request::Stop, Running) => Proceed(Stopping),
        (Request::Stop, Stopping) => Ignore,
        (Request::Stop, Stopped | Pending | Starting) => Deny,
        (Request::Reboot, Running) => Proceed(Starting),
        (Request::Reboot, _) => Deny,
        (Request::Delete { .. }, Stopped) => Proceed(Stopped),
        (Request::Delete { force: true }, Running | Stopping) => Proceed(Stopping),
        (Request::Delete { .. }, _) => Deny,
    }
}

/// The status an instance takes when the driver reports its VM process gone without being asked.
/// `None` when the report changes nothing (an operation under way owns the status).
pub fn on_process_gone(status: InstanceStatus) -> Option<InstanceStatus> {
    match status {
        InstanceStatus::Running => Some(InstanceStatus::Stopped),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Admission::*;
    use InstanceStatus::*;

    #[test]
    fn every_request_in_every_status() {
        // (request, status, expected) for the whole product of requests and statuses.
        let table = [
            (Request::Start, Pending, Ignore),
            (Request::Start, Starting, Ignore),
            (Request::Start, Running, Deny),
            (Request::Start, Stopping, Deny),
            (Request::Start, Stopped, Proceed(Starting)),
            (Request::Stop, Pending, Deny),
            (Request::Stop, Starting, Deny),
            (Request::Stop, Running, Proceed(Stopping)),
            (Request::Stop, Stopping, Ignore),
            (Request::Stop, Stopped, Deny),
            (Request::Reboot, Pending, Deny),
            (Request::Reboot, Starting, Deny),
            (Request::Reboot, Running, Proceed(Starting)),
            (Request::Reboot, Stopping, Deny),
            (Request::Reboot, Stopped, Deny),
            (Request::Delete { force: false }, Pending, Deny),
            (Request::Delete { force: false }, Starting, Deny),
            (Request::Delete { force: false }, Running, Deny),
            (Request::Delete { force: false }, Stopping, Deny),
            (Request::Delete { force: false }, Stopped, Proceed(Stopped)),
            (Request::Delete { force: true }, Pending, Deny),
            (Request::Delete { force: true }, Starting, Deny),
            (Request::Delete { force: true }, Running, Proceed(Stopping)),
            (Request::Delete { force: true }, Stopping, Proceed(Stopping)),
            (Request::Delete { force: true }, Stopped, Proceed(Stopped)),
        ];
        assert_eq!(table.len(), 5 * 5);
        for (request, status, expected) in table {
            assert_eq!(admit(status, request), expected, "{request:?} in {status}");
        }
    }

    #[test]
    fn only_a_running_instance_stops_on_its_own() {
        for &status in InstanceStatus::ALL {
            let expected = if status == Running { Some(Stopped) } else { None };
            assert_eq!(on_process_gone(status), expected, "{status}");
        }
    }

    #[test]
    fn statuses_round_trip_through_strings() {
        for &status in InstanceStatus::ALL {
            assert_eq!(status.as_str().parse::<InstanceStatus>().unwrap(), status);
        }
        assert!("running".parse::<InstanceStatus>().is_err());
    }
}
