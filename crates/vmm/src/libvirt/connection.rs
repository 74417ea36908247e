//! The driver's connection to libvirtd: opened lazily, reopened after libvirtd restarts.
//!
//! Every libvirt call goes through [`Inner::connection`], which reopens a closed connection and
//! registers the event callbacks again. So that lifecycle events flow again without waiting for
//! the next API call, the connection-close callback also starts a reconnect thread
//! ([`Inner::reconnect_in_background`]). After any reconnect every VM believed running is
//! checked ([`Inner::reconcile`]): a stop that happened while no events could arrive is still
//! reported. Domain lookups live here too, as they are the first use of the connection.

use super::events::{self, DomainEvent};
use super::{is_code, lv_error, Inner};
use crate::VmError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::ErrorNumber;
use virt::sys;

/// How soon after the connection closed the first reconnect is tried, and the longest wait
/// between tries (doubling in between).
const RECONNECT_FIRST_DELAY: Duration = Duration::from_millis(200);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(5);

/// An open connection with its callbacks.
pub(super) struct Link {
    conn: Connect,
    closed: Arc<AtomicBool>,
    _registration: events::Registration,
}

impl Inner {
    /// The open connection, reconnecting (and reconciling) when the last one closed. Blocking.
    pub(super) fn connection(&self) -> Result<Connect, VmError> {
        let mut link = self.link.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(open) = link.as_ref() {
            if !open.closed.load(Ordering::SeqCst) {
                return Ok(open.conn.clone());
            }
        }
        // A link, even a closed one, means we were connected before: reconcile once reconnected.
        // It is replaced only when the new connection is up, so failed attempts in between
        // (libvirtd still down) do not lose that.
        let reconnect = link.is_some();
        let uri = self.config.uri.as_str();
        let fail = |reason: String| VmError::unreachable(uri, reason);
        events::ensure_event_loop().map_err(fail)?;
        let conn = Connect::open(Some(uri)).map_err(|e| fail(e.message().to_string()))?;
        // Notice a dead remote libvirtd within ~15 s (local connections do not support it).
        let _ = conn.set_keep_alive(5, 3);
        let closed = Arc::new(AtomicBool::new(false));
        let shared = self.shared.clone();
        let me = self.me.clone();
        let registration = events::register(
            &conn,
            || {
                let shared = shared.clone();
                Box::new(move |event| shared.on_event(event))
            },
            closed.clone(),
            Box::new(move || Inner::reconnect_in_background(me.clone())),
        )
        .map_err(|e| fail(format!("registering for domain events: {}", e.message())))?;
        tracing::info!(uri, reconnect, "connected to libvirt");
        *link = Some(Link { conn: conn.clone(), closed, _registration: registration });
        drop(link);
        if reconnect {
            self.reconcile(&conn);
        }
        Ok(conn)
    }

    /// Reconnect from a thread of its own as soon as libvirtd answers again (backing off up to
    /// [`RECONNECT_MAX_DELAY`]), so lifecycle events flow again without waiting for the next
    /// API call. Stops when the driver is dropped; one such thread at a time.
    fn reconnect_in_background(me: Weak<Inner>) {
        let Some(inner) = me.upgrade() else { return };
        if inner.reconnecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let thread_me = me.clone();
        drop(inner);
        let spawned = std::thread::Builder::new().name("libvirt-reconnect".into()).spawn(move || {
            let me = thread_me;
            let mut delay = RECONNECT_FIRST_DELAY;
            let mut attempts = 0u32;
            loop {
                std::thread::sleep(delay);
                let Some(inner) = me.upgrade() else { return };
                attempts += 1;
                match inner.connection() {
                    Ok(_) => {
                        tracing::info!(uri = %inner.config.uri, attempts, "reconnected to libvirt");
                        inner.reconnecting.store(false, Ordering::SeqCst);
                        // A close between connecting and the line above found this thread still
                        // running and started none: go on unless another thread took over.
                        if !inner.link_closed() || inner.reconnecting.swap(true, Ordering::SeqCst) {
                            return;
                        }
                        delay = RECONNECT_FIRST_DELAY;
                        continue;
                    }
                    Err(e) => tracing::debug!(error = %e, attempts, "libvirt not back yet"),
                }
                delay = (delay * 2).min(RECONNECT_MAX_DELAY);
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the libvirt reconnect thread; reconnecting at the next call");
            if let Some(inner) = me.upgrade() {
                inner.reconnecting.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Whether there is no open connection (never opened, or closed by libvirt).
    fn link_closed(&self) -> bool {
        let link = self.link.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        link.as_ref().is_none_or(|open| open.closed.load(Ordering::SeqCst))
    }

    /// After a reconnect: report the stop of every VM that went away while we heard nothing.
    fn reconcile(&self, conn: &Connect) {
        let running: Vec<String> =
            self.shared.vms().iter().filter(|(_, s)| !s.is_stopped()).map(|(id, _)| id.clone()).collect();
        for vm_id in running {
            let active = conn.lookup_domain_by_name(&vm_id).and_then(|d| d.is_active()).unwrap_or(false);
            if !active {
                let detail = sys::VIR_DOMAIN_EVENT_STOPPED_FAILED as i32;
                self.shared.on_event(DomainEvent::Lifecycle {
                    name: vm_id,
                    event: sys::VIR_DOMAIN_EVENT_STOPPED as i32,
                    detail,
                });
            }
        }
    }

    /// The domain named `vm_id`, or `None` when libvirt has no such domain. Blocking.
    pub(super) fn domain(&self, vm_id: &str) -> Result<Option<Domain>, VmError> {
        let conn = self.connection()?;
        match conn.lookup_domain_by_name(vm_id) {
            Ok(dom) => Ok(Some(dom)),
            Err(e) if is_code(&e, ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(lv_error(vm_id, "virDomainLookupByName", &e)),
        }
    }

    /// The domain, which must be running.
    pub(super) fn running(&self, vm_id: &str) -> Result<Domain, VmError> {
        let not_running = || VmError::NotRunning { vm_id: vm_id.to_string() };
        let dom = self.domain(vm_id)?.ok_or_else(not_running)?;
        match dom.is_active() {
            Ok(true) => Ok(dom),
            Ok(false) => Err(not_running()),
            Err(e) => Err(lv_error(vm_id, "virDomainIsActive", &e)),
        }
    }
}
