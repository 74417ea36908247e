//! Application-consistent live snapshots on libvirt, as the qemu driver's `agent` module does
//! them: when the guest runs qemu-guest-agent on the domain's `org.qemu.guest_agent.0` channel,
//! its filesystems are frozen (`virDomainFSFreeze`) for the instant of the point in time and
//! thawed right after (`virDomainFSThaw`, also when the snapshot failed).
//!
//! libvirt owns the agent connection, so the driver asks libvirt instead of opening the socket.
//! Whether an agent listens is read from the live XML the snapshot fetches anyway (the
//! channel's `state`, as the qemu driver reads QMP's `query-chardev`), so guests without one pay
//! nothing; should libvirt not say, it is asked and answers "QEMU guest agent is not connected".
//! Other agent commands (Cloud Assistant's `guest-exec`, ...) go through
//! `virDomainQemuAgentCommand`, libvirt's pass-through, in [`command`].
//! The snapshot flag `VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE` is not used: it fails the whole
//! snapshot when the agent fails, while ecslab (both drivers) takes it unfrozen then and
//! logs a warning. The `virt` crate has no wrapper for these calls, hence the raw bindings.

#![allow(unsafe_code)]

use virt::domain::Domain;
use virt::error::{Error, ErrorNumber};
use virt::sys;

/// How long libvirt waits for the agent (a freeze flushes the guest's dirty data).
const AGENT_TIMEOUT_SECS: i32 = 20;

/// One agent command through libvirt (which syncs with the agent itself); its `return` value.
/// Blocking. libvirt's timeout is whole seconds, at least one.
pub fn command(
    dom: &Domain,
    vm_id: &str,
    command: &str,
    arguments: serde_json::Value,
    limit: std::time::Duration,
) -> Result<serde_json::Value, crate::VmError> {
    let mut request = serde_json::json!({ "execute": command });
    if arguments.as_object().is_some_and(|o| !o.is_empty()) {
        request["arguments"] = arguments;
    }
    let seconds = limit.as_secs().clamp(1, i32::MAX as u64);
    let failed = |reason: String| crate::VmError::Agent {
        vm_id: vm_id.to_string(),
        command: command.to_string(),
        reason,
    };
    let reply = match dom.qemu_agent_command(&request.to_string(), seconds as i32, 0) {
        Ok(reply) => reply,
        Err(e) if e.code().is(ErrorNumber::AgentUnresponsive) && e.message().contains("not connected") => {
            return Err(crate::VmError::NoAgent { vm_id: vm_id.to_string() })
        }
        Err(e) if e.code().is(ErrorNumber::AgentUnresponsive) => {
            return Err(crate::VmError::Timeout {
                vm_id: vm_id.to_string(),
                what: format!("answer the guest agent command {command} ({})", e.message()),
                seconds,
            })
        }
        Err(e) => return Err(failed(e.message().to_string())),
    };
    let mut reply: serde_json::Value = serde_json::from_str(&reply).map_err(|e| failed(e.to_string()))?;
    match reply.get_mut("return") {
        Some(value) => Ok(value.take()),
        None => Err(failed(format!("no return value in {reply}"))),
    }
}

/// What freezing the guest's filesystems came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freeze {
    /// This many filesystems are frozen and must be thawed.
    Frozen(u32),
    /// No agent listens in the guest: nothing to freeze, nothing to thaw.
    NoAgent,
    /// An agent is there but the freeze failed; the snapshot goes ahead unfrozen.
    Failed(String),
}

/// Sort a `virDomainFSFreeze` result into [`Freeze`].
pub fn freeze_outcome(result: Result<u32, Error>) -> Freeze {
    match result {
        Ok(count) => Freeze::Frozen(count),
        Err(e) if e.code().is(ErrorNumber::AgentUnresponsive) && e.message().contains("not connected") => {
            Freeze::NoAgent
        }
        Err(e) => Freeze::Failed(e.message().to_string()),
    }
}

fn fs_call(
    dom: &Domain,
    call: unsafe extern "C" fn(sys::virDomainPtr, *mut *const std::ffi::c_char, u32, u32) -> i32,
) -> Result<u32, Error> {
    // SAFETY: a valid domain; no mount point list (all filesystems), so no pointers to keep alive.
    let rc = unsafe { call(dom.as_ptr(), std::ptr::null_mut(), 0, 0) };
    if rc < 0 {
        return Err(Error::last_error());
    }
    Ok(rc as u32)
}

/// Freeze every filesystem of the guest if it runs an agent. `connected` is the agent
/// channel's state from the live XML ([`super::domain_xml::agent_connected`]): when libvirt
/// says the guest side is closed, nothing is asked (setting the agent timeout alone costs a
/// status-file write, ~10 ms on a disk-backed libvirtd). Blocking (libvirt RPCs).
pub fn freeze(dom: &Domain, vm_id: &str, connected: Option<bool>) -> Freeze {
    let outcome = if connected == Some(false) {
        Freeze::NoAgent
    } else {
        // Bound the wait for a hung agent; drivers without agent timeouts (the test driver)
        // refuse this harmlessly.
        // SAFETY: a valid domain.
        let _ = unsafe { sys::virDomainAgentSetResponseTimeout(dom.as_ptr(), AGENT_TIMEOUT_SECS, 0) };
        freeze_outcome(fs_call(dom, sys::virDomainFSFreeze))
    };
    match &outcome {
        Freeze::Frozen(count) => {
            tracing::info!(vm_id, filesystems = count, "guest filesystems frozen for the snapshot")
        }
        Freeze::NoAgent => tracing::debug!(vm_id, "no guest agent listens; snapshot without freezing"),
        Freeze::Failed(e) => {
            tracing::warn!(vm_id, error = %e, "freezing the guest's filesystems failed; snapshot without freezing");
            // A freeze that failed half-way may have frozen some filesystems.
            let _ = fs_call(dom, sys::virDomainFSThaw);
        }
    }
    outcome
}

/// Thaw what [`freeze`] froze (nothing unless it returned [`Freeze::Frozen`]). Blocking.
pub fn thaw(dom: &Domain, vm_id: &str, freeze: &Freeze) {
    if let Freeze::Frozen(_) = freeze {
        if let Err(e) = fs_call(dom, sys::virDomainFSThaw) {
            tracing::error!(vm_id, error = %e.message(), "thawing the guest's filesystems failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use virt::connect::Connect;

    /// libvirt's test driver (`test:///default`, in-process, no daemon) stands in for a guest
    /// agent: it tracks which of its two filesystems (`/`, `/boot`) are frozen.
    fn test_domain(conn: &Connect) -> Domain {
        conn.lookup_domain_by_name("test").expect("the test driver's default domain")
    }

    /// One test: the test driver's state is shared by every connection of the process.
    #[test]
    fn freezes_through_libvirt_thaws_after_and_sorts_errors() {
        virt::error::clear_error_callback();
        let conn = Connect::open(Some("test:///default")).unwrap();
        let dom = test_domain(&conn);
        let frozen = freeze(&dom, "test", None);
        assert_eq!(frozen, Freeze::Frozen(2));
        // Frozen for real: a second freeze finds nothing left to freeze.
        assert_eq!(fs_call(&dom, sys::virDomainFSFreeze).unwrap(), 0);
        thaw(&dom, "test", &frozen);
        // Thawed: everything can be frozen again.
        assert_eq!(fs_call(&dom, sys::virDomainFSFreeze).unwrap(), 2);
        assert_eq!(fs_call(&dom, sys::virDomainFSThaw).unwrap(), 2);

        // libvirt says the guest side of the channel is closed: not even asked.
        assert_eq!(freeze(&dom, "test", Some(false)), Freeze::NoAgent);
        assert_eq!(fs_call(&dom, sys::virDomainFSFreeze).unwrap(), 2, "nothing was frozen");
        assert_eq!(fs_call(&dom, sys::virDomainFSThaw).unwrap(), 2);

        // Without a freeze, thaw touches nothing.
        for outcome in [Freeze::NoAgent, Freeze::Failed("agent hung".into())] {
            assert_eq!(fs_call(&dom, sys::virDomainFSFreeze).unwrap(), 2);
            thaw(&dom, "test", &outcome);
            assert_eq!(fs_call(&dom, sys::virDomainFSFreeze).unwrap(), 0, "still frozen");
            assert_eq!(fs_call(&dom, sys::virDomainFSThaw).unwrap(), 2);
        }

        // A stopped domain is a real error, not "no agent" (a guest without an agent is
        // covered by the real-VM test: libvirt answers "QEMU guest agent is not connected").
        dom.destroy().unwrap();
        let outcome = freeze_outcome(fs_call(&dom, sys::virDomainFSFreeze));
        assert!(matches!(&outcome, Freeze::Failed(e) if e.contains("not running")), "{outcome:?}");
        dom.create().unwrap();
    }
}
