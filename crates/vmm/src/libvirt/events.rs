//! libvirt's event machinery, which the `virt` crate does not wrap: the process-wide default
//! event loop (one thread running `virEventRunDefaultImpl` forever), domain lifecycle and reboot
//! callbacks (`virConnectDomainEventRegisterAny` for all domains), and the connection-close
//! callback that tells the driver to reconnect.
//!
//! Callbacks run on the event-loop thread. They only decode the event and hand it to a sink
//! closure (which must be quick and must not call back into libvirt on the same connection);
//! everything else happens in the driver. A panic in a sink is caught: unwinding into C is
//! undefined behaviour.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use virt::connect::Connect;
use virt::sys;

/// A domain event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// `VIR_DOMAIN_EVENT_*` (`event`) with its detail, as libvirt numbers them.
    Lifecycle { name: String, event: i32, detail: i32 },
    /// The guest (or someone) reset the machine; QEMU keeps running.
    Reboot { name: String },
}

/// Receives decoded events on the event-loop thread.
pub type Sink = Box<dyn Fn(DomainEvent) + Send + Sync>;

static EVENT_LOOP: OnceLock<Result<(), String>> = OnceLock::new();

/// Register libvirt's default event loop and start its thread, once per process. Must run
/// before the first connection is opened: keepalives and callbacks of a connection need it.
pub fn ensure_event_loop() -> Result<(), String> {
    EVENT_LOOP
        .get_or_init(|| {
            // libvirt prints every error to stderr by default; errors are returned to us anyway.
            virt::error::clear_error_callback();
            virt::event::event_register_default_impl()
                .map_err(|e| format!("registering libvirt's event loop: {e}"))?;
            std::thread::Builder::new()
                .name("libvirt-events".into())
                .spawn(|| loop {
                    if let Err(e) = virt::event::event_run_default_impl() {
                        tracing::warn!(error = %e, "libvirt event loop iteration failed");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                })
                .map(drop)
                .map_err(|e| format!("starting the libvirt event thread: {e}"))
        })
        .clone()
}

/// Callbacks registered on one connection; dropping this deregisters them.
pub struct Registration {
    conn: Connect,
    callback_ids: Vec<c_int>,
    close_registered: bool,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registration({:?})", self.callback_ids)
    }
}

/// The name of a domain handed to a callback (borrowed from the domain object).
unsafe fn domain_name(dom: sys::virDomainPtr) -> Option<String> {
    if dom.is_null() {
        return None;
    }
    let name = sys::virDomainGetName(dom);
    if name.is_null() {
        return None;
    }
    Some(CStr::from_ptr(name).to_string_lossy().into_owned())
}

unsafe fn deliver(opaque: *mut c_void, event: DomainEvent) {
    if opaque.is_null() {
        return;
    }
    let sink = &*(opaque as *const Sink);
    if std::panic::catch_unwind(AssertUnwindSafe(|| sink(event))).is_err() {
        tracing::error!("a libvirt event handler panicked; event dropped");
    }
}

unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    if let Some(name) = domain_name(dom) {
        deliver(opaque, DomainEvent::Lifecycle { name, event, detail });
    }
    0
}

unsafe extern "C" fn on_reboot(_conn: sys::virConnectPtr, dom: sys::virDomainPtr, opaque: *mut c_void) {
    if let Some(name) = domain_name(dom) {
        deliver(opaque, DomainEvent::Reboot { name });
    }
}

unsafe extern "C" fn free_sink(opaque: *mut c_void) {
    if !opaque.is_null() {
        drop(Box::from_raw(opaque as *mut Sink));
    }
}

/// What the close callback does: mark the connection closed, then tell the driver.
struct CloseHook {
    closed: Arc<AtomicBool>,
    then: Box<dyn Fn() + Send + Sync>,
}

unsafe extern "C" fn on_close(_conn: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    if opaque.is_null() {
        return;
    }
    let hook = &*(opaque as *const CloseHook);
    hook.closed.store(true, Ordering::SeqCst);
    tracing::warn!(
        reason,
        "the libvirt connection closed (libvirtd restarted or the link broke); will reconnect"
    );
    if std::panic::catch_unwind(AssertUnwindSafe(|| (hook.then)())).is_err() {
        tracing::error!("the libvirt close handler panicked");
    }
}

unsafe extern "C" fn free_hook(opaque: *mut c_void) {
    if !opaque.is_null() {
        drop(Box::from_raw(opaque as *mut CloseHook));
    }
}

type LifecycleFn =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;
type GenericFn = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);

/// Register lifecycle and reboot callbacks for every domain of `conn` (each with its own copy
/// of the sink), and a close callback that sets `closed` and then runs `after_close` (on the
/// event-loop thread: it must not block or call libvirt itself).
pub fn register(
    conn: &Connect,
    make_sink: impl Fn() -> Sink,
    closed: Arc<AtomicBool>,
    after_close: Box<dyn Fn() + Send + Sync>,
) -> Result<Registration, virt::error::Error> {
    let mut registration =
        Registration { conn: conn.clone(), callback_ids: Vec::new(), close_registered: false };
    // SAFETY: libvirt's C API casts every domain event callback to the generic type and calls
    // it with the signature that belongs to the event id (VIR_DOMAIN_EVENT_CALLBACK); the sink
    // pointer stays valid until libvirt calls `free_sink` when the callback is deregistered.
    let lifecycle: GenericFn = unsafe { std::mem::transmute::<LifecycleFn, GenericFn>(on_lifecycle) };
    let callbacks: [(c_int, GenericFn); 2] = [
        (sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int, lifecycle),
        (sys::VIR_DOMAIN_EVENT_ID_REBOOT as c_int, on_reboot),
    ];
    for (event_id, callback) in callbacks {
        let sink = Box::into_raw(Box::new(make_sink())) as *mut c_void;
        // SAFETY: valid connection; a null domain means all domains; libvirt owns `sink` from here
        // and frees it through `free_sink`.
        let id = unsafe {
            sys::virConnectDomainEventRegisterAny(
                conn.as_ptr(),
                std::ptr::null_mut(),
                event_id,
                Some(callback),
                sink,
                Some(free_sink),
            )
        };
        if id < 0 {
            // SAFETY: registration failed, so libvirt did not take the sink.
            unsafe { free_sink(sink) };
            return Err(virt::error::Error::last_error());
        }
        registration.callback_ids.push(id);
    }
    let hook = Box::into_raw(Box::new(CloseHook { closed, then: after_close })) as *mut c_void;
    // SAFETY: valid connection; libvirt frees `hook` through `free_hook`.
    let rc =
        unsafe { sys::virConnectRegisterCloseCallback(conn.as_ptr(), Some(on_close), hook, Some(free_hook)) };
    if rc < 0 {
        // SAFETY: not registered, so still ours.
        unsafe { free_hook(hook) };
        return Err(virt::error::Error::last_error());
    }
    registration.close_registered = true;
    Ok(registration)
}

impl Drop for Registration {
    fn drop(&mut self) {
        for id in self.callback_ids.drain(..) {
            // SAFETY: an id returned by virConnectDomainEventRegisterAny on this connection. On a
            // closed connection this fails harmlessly.
            unsafe { sys::virConnectDomainEventDeregisterAny(self.conn.as_ptr(), id) };
        }
        if self.close_registered {
            // SAFETY: the callback registered on this connection above.
            unsafe { sys::virConnectUnregisterCloseCallback(self.conn.as_ptr(), Some(on_close)) };
        }
    }
}

/// Block-job state of one disk (`virDomainGetBlockJobInfo`): `None` when no job runs.
pub fn block_job(dom: &virt::domain::Domain, target: &str) -> Result<Option<(u64, u64)>, virt::error::Error> {
    let disk = std::ffi::CString::new(target)?;
    let mut info = sys::virDomainBlockJobInfo { type_: 0, bandwidth: 0, cur: 0, end: 0 };
    // SAFETY: valid domain, NUL-terminated disk name, `info` outlives the call.
    let rc = unsafe { sys::virDomainGetBlockJobInfo(dom.as_ptr(), disk.as_ptr(), &mut info, 0) };
    match rc {
        rc if rc < 0 => Err(virt::error::Error::last_error()),
        0 => Ok(None),
        _ => Ok(Some((info.cur, info.end))),
    }
}

/// Start merging `top` into `base` (both files of the disk's chain, absolute paths) with
/// `virDomainBlockCommit`; libvirt re-points the layer above `top` at `base` when it is done.
pub fn block_commit(
    dom: &virt::domain::Domain,
    target: &str,
    base: &str,
    top: &str,
) -> Result<(), virt::error::Error> {
    let (disk, base, top) =
        (std::ffi::CString::new(target)?, std::ffi::CString::new(base)?, std::ffi::CString::new(top)?);
    // SAFETY: valid domain and NUL-terminated strings that outlive the call.
    let rc =
        unsafe { sys::virDomainBlockCommit(dom.as_ptr(), disk.as_ptr(), base.as_ptr(), top.as_ptr(), 0, 0) };
    if rc < 0 {
        return Err(virt::error::Error::last_error());
    }
    Ok(())
}
