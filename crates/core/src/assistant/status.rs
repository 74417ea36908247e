//! The words ECS reports for an invocation, derived (pure) from its runs' [`RunStatus`]es: a
//! run's `InvokeRecordStatus` and deprecated `InstanceInvokeStatus`, and the whole
//! invocation's `InvocationStatus` and deprecated `InvokeStatus`, including `PartialFailed`
//! for a fleet where some runs failed and others succeeded. Nothing is stored twice: the
//! overall words are computed from the runs at every read.

use ecslab_store::RunStatus;

/// A run's `InvokeRecordStatus` (DescribeInvocationResults): Running until it ends; Finished
/// when the script ran to its end (whatever its exit code); Failed when it could not run or
/// was killed by its timeout; Stopping/Stopped for StopInvocation.
pub fn record_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pending | RunStatus::Running => "Running",
        RunStatus::Stopping => "Stopping",
        RunStatus::Success | RunStatus::Failed => "Finished",
        RunStatus::Timeout | RunStatus::Aborted | RunStatus::Error => "Failed",
        RunStatus::Terminated | RunStatus::Cancelled => "Stopped",
    }
}

/// Whether a finished run counts as a failure for the overall status.
fn failed(status: RunStatus) -> bool {
    matches!(status, RunStatus::Failed | RunStatus::Timeout | RunStatus::Aborted | RunStatus::Error)
}

/// The invocation's `InvocationStatus` (DescribeInvocations).
pub fn invocation_status(runs: &[RunStatus]) -> &'static str {
    if runs.is_empty() {
        return "Pending";
    }
    if runs.contains(&RunStatus::Stopping) {
        return "Stopping";
    }
    if runs.iter().all(|s| *s == RunStatus::Pending) {
        return "Pending";
    }
    if runs.iter().any(|s| !s.is_final()) {
        return "Running";
    }
    if runs.iter().any(|s| matches!(s, RunStatus::Terminated | RunStatus::Cancelled)) {
        return "Stopped";
    }
    let failures = runs.iter().filter(|s| failed(**s)).count();
    match failures {
        0 => "Success",
        n if n == runs.len() => "Failed",
        _ => "PartialFailed",
    }
}

/// The deprecated `InvokeStatus`: Running, Finished, Failed, PartialFailed, Stopping, Stopped.
pub fn invoke_status(runs: &[RunStatus]) -> &'static str {
    match invocation_status(runs) {
        "Pending" | "Running" => "Running",
        "Success" => "Finished",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunStatus::*;

    #[test]
    fn overall_words_follow_the_runs() {
        assert_eq!(invocation_status(&[Pending, Pending]), "Pending");
        assert_eq!(invocation_status(&[Running, Pending]), "Running");
        assert_eq!(invocation_status(&[Success, Running]), "Running");
        assert_eq!(invocation_status(&[Success, Success]), "Success");
        assert_eq!(invocation_status(&[Failed]), "Failed");
        assert_eq!(invocation_status(&[Timeout, Aborted]), "Failed");
        assert_eq!(invocation_status(&[Success, Aborted]), "PartialFailed");
        assert_eq!(invocation_status(&[Success, Failed]), "PartialFailed");
        assert_eq!(invocation_status(&[Running, Stopping]), "Stopping");
        assert_eq!(invocation_status(&[Success, Terminated]), "Stopped");
        assert_eq!(invocation_status(&[Cancelled]), "Stopped");
        assert_eq!(invoke_status(&[Success]), "Finished");
        assert_eq!(invoke_status(&[Pending]), "Running");
        assert_eq!(invoke_status(&[Success, Failed]), "PartialFailed");
    }

    #[test]
    fn record_words_per_run() {
        assert_eq!(record_status(Pending), "Running");
        assert_eq!(record_status(Failed), "Finished", "the script ran to its end");
        assert_eq!(record_status(Timeout), "Failed");
        assert_eq!(record_status(Aborted), "Failed");
        assert_eq!(record_status(Terminated), "Stopped");
    }
}
