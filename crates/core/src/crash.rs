//! Injected crash points for the crash-safety tests: when `ECSLAB_CRASH_AT` names a point, the
//! server aborts right there, as if killed with SIGKILL between two steps of an operation.

/// Abort the process if the operator (a test) asked to crash at `point`.
pub fn point(point: &str) {
    if std::env::var("ECSLAB_CRASH_AT").is_ok_and(|p| p == point) {
        tracing::warn!(point, "injected crash");
        std::process::abort();
    }
}
