//! One invocation's run on one instance, driven through the guest agent from Pending to its
//! end: delivery (the instance runs, its agent answers), a preflight (user and working
//! directory exist), `guest-exec` in a session of its own, then `guest-exec-status` polls until
//! it exits, its Timeout runs out (the process group is killed: Timeout, ExecutionTimeout) or a
//! StopInvocation asks (killed: Terminated). Every step is persisted before the next, with the
//! guest's pid, so a restarted server drives the same run on: the agent keeps an exited
//! process's status until it is read.

use super::script::{self, BuiltIns};
use crate::Result;
use base64::Engine;
use chrono::{DateTime, Utc};
use ecslab_store::{InstanceStatus, InvocationRecord, RunRecord, RunStatus, RunUpdate, Store};
use ecslab_vmm::{GuestAgent, Hypervisor, VmError};
use std::sync::Arc;
use std::time::Duration;

/// How long a run waits for the agent to answer before it is Aborted (a guest that just
/// booted starts its agent a few seconds in).
const DELIVERY: Duration = Duration::from_secs(10);
/// Between two status polls of a running process.
const POLL: Duration = Duration::from_millis(250);
/// How long the agent may stay silent during a run (beyond the Timeout) before the run is an Error.
const SILENCE: Duration = Duration::from_secs(30);
/// How long the preflight check may take.
const PREFLIGHT: Duration = Duration::from_secs(10);

/// What drives runs: the store, the driver, and the region for `{{ACS::RegionId}}`.
pub(crate) struct Driver {
    pub store: Store,
    pub hypervisor: Arc<dyn Hypervisor>,
    pub region_id: String,
}

fn now() -> String {
    ecslab_store::now_rfc3339()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How a run ended, as the store records it.
struct Ending {
    status: RunStatus,
    exit_code: Option<i64>,
    output: Vec<u8>,
    error: Option<(&'static str, &'static str)>,
}

/// ECS's ErrorCode and ErrorInfo words.
pub(crate) const INSTANCE_NOT_EXISTS: (&str, &str) =
    ("InstanceNotExists", "the specified instance does not exists");
pub(crate) const INSTANCE_NOT_RUNNING: (&str, &str) =
    ("InstanceNotRunning", "the instance is not running when create task");
const CLIENT_NOT_RUNNING: (&str, &str) =
    ("ClientNotRunning", "the aliyun service is not running on the instance");
const CLIENT_NOT_RESPONSE: (&str, &str) =
    ("ClientNotResponse", "the aliyun service in the instance does not response");
const ACCOUNT_NOT_EXISTS: (&str, &str) = ("AccountNotExists", "the specified account does not exists");
const DIRECTORY_NOT_EXISTS: (&str, &str) = ("DirectoryNotExists", "the specified directory does not exists");
const EXECUTION_TIMEOUT: (&str, &str) = ("ExecutionTimeout", "the command execution has been timeout");
const EXECUTION_INTERRUPTED: (&str, &str) =
    ("ExecutionInterrupted", "the command execution has been interrupted");
const EXECUTION_EXCEPTION: (&str, &str) = ("ExecutionException", "the command execution got an exception");
const EXIT_CODE_NONZERO: (&str, &str) = ("ExitCodeNonzero", "the command execution exit code is not zero");

impl Driver {
    /// Drive one run to its end; errors are logged (the run stays open for the next start).
    pub(crate) async fn drive(self: Arc<Self>, invocation: InvocationRecord, run: RunRecord) {
        let (invoke_id, instance_id) = (run.invoke_id.clone(), run.instance_id.clone());
        if let Err(e) = self.drive_inner(&invocation, run).await {
            tracing::warn!(invoke_id, instance_id, error = %e.detail(), "a Cloud Assistant run stopped early");
        }
    }

    async fn drive_inner(&self, invocation: &InvocationRecord, mut run: RunRecord) -> Result<()> {
        if run.status == RunStatus::Pending {
            match self.start(invocation, &run).await? {
                Some(started) => run = started,
                None => return Ok(()),
            }
        }
        let Some(pid) = run.pid else {
            // Stopping before a pid was recorded: nothing runs in the guest.
            self.end(&run, &[RunStatus::Stopping], cancelled()).await?;
            return Ok(());
        };
        let deadline = deadline(&run.start_time, invocation.timeout_secs);
        let agent = GuestAgent::new(self.hypervisor.as_ref(), &run.instance_id);
        let mut silent_since: Option<tokio::time::Instant> = None;
        loop {
            let current = self.store.run(&run.invoke_id, &run.instance_id).await?;
            let Some(current) = current.filter(|r| !r.status.is_final()) else { return Ok(()) };
            if current.status == RunStatus::Stopping {
                let output = self.kill_and_collect(&agent, pid).await;
                let ending = Ending {
                    status: RunStatus::Terminated,
                    exit_code: output.1,
                    output: output.0,
                    error: None,
                };
                self.end(&current, &[RunStatus::Stopping], ending).await?;
                return Ok(());
            }
            if Utc::now() >= deadline {
                let output = self.kill_and_collect(&agent, pid).await;
                let ending = Ending {
                    status: RunStatus::Timeout,
                    exit_code: output.1,
                    output: output.0,
                    error: Some(EXECUTION_TIMEOUT),
                };
                self.end(&current, &[RunStatus::Running], ending).await?;
                return Ok(());
            }
            match agent.exec_status(pid).await {
                Ok(status) if status.exited => {
                    let exit_code = exit_code_of(status.exitcode, status.signal);
                    let ending = Ending {
                        status: if exit_code == Some(0) { RunStatus::Success } else { RunStatus::Failed },
                        exit_code,
                        output: status.out_data.unwrap_or_default(),
                        error: (exit_code != Some(0)).then_some(EXIT_CODE_NONZERO),
                    };
                    self.end(&current, &[RunStatus::Running, RunStatus::Stopping], ending).await?;
                    return Ok(());
                }
                Ok(_) => silent_since = None,
                // The VM is gone, or the agent no longer knows the pid: the guest restarted under
                // the run. (Other refusals, such as commands disabled while a snapshot freezes the
                // guest, pass.)
                Err(e)
                    if matches!(&e, VmError::NotRunning { .. })
                        || matches!(&e, VmError::Agent { reason, .. } if reason.contains("'pid'")) =>
                {
                    self.end(
                        &current,
                        &[RunStatus::Running],
                        failure(RunStatus::Error, EXECUTION_INTERRUPTED),
                    )
                    .await?;
                    return Ok(());
                }
                Err(e) => {
                    let since = *silent_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > SILENCE {
                        tracing::warn!(instance_id = %run.instance_id, error = %e, "the guest agent stopped answering a run");
                        self.end(
                            &current,
                            &[RunStatus::Running],
                            failure(RunStatus::Error, CLIENT_NOT_RESPONSE),
                        )
                        .await?;
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Deliver a Pending run: `Some(run)` once it runs in the guest, `None` when it ended
    /// without running (Aborted, Error, Cancelled).
    async fn start(&self, invocation: &InvocationRecord, run: &RunRecord) -> Result<Option<RunRecord>> {
        let pending = &[RunStatus::Pending];
        let instance = self.store.instance(&run.account_id, &run.instance_id).await?;
        let Some(instance) = instance else {
            self.end(run, pending, failure(RunStatus::Aborted, INSTANCE_NOT_EXISTS)).await?;
            return Ok(None);
        };
        if instance.status != InstanceStatus::Running {
            self.end(run, pending, failure(RunStatus::Aborted, INSTANCE_NOT_RUNNING)).await?;
            return Ok(None);
        }
        let agent = GuestAgent::new(self.hypervisor.as_ref(), &run.instance_id);
        if !self.wait_for_agent(&agent, run).await? {
            self.end(run, pending, failure(RunStatus::Aborted, CLIENT_NOT_RUNNING)).await?;
            return Ok(None);
        }
        // The user and the working directory must exist (ECS's AccountNotExists, DirectoryNotExists).
        let preflight = script::preflight_line(&invocation.username, &invocation.working_dir);
        match run_to_end(&agent, "/bin/sh", &["-c".to_string(), preflight], PREFLIGHT).await {
            Ok(0) => {}
            Ok(script::NO_SUCH_USER) => {
                self.end(run, pending, failure(RunStatus::Error, ACCOUNT_NOT_EXISTS)).await?;
                return Ok(None);
            }
            Ok(script::NO_SUCH_DIRECTORY) => {
                self.end(run, pending, failure(RunStatus::Error, DIRECTORY_NOT_EXISTS)).await?;
                return Ok(None);
            }
            other => {
                tracing::warn!(instance_id = %run.instance_id, outcome = ?other, "the preflight check in the guest failed");
                self.end(run, pending, failure(RunStatus::Error, EXECUTION_EXCEPTION)).await?;
                return Ok(None);
            }
        }
        let content = base64::engine::general_purpose::STANDARD
            .decode(&invocation.content)
            .map_err(|e| crate::Error::internal(format!("stored script of {}: {e}", invocation.invoke_id)))?;
        let content = String::from_utf8_lossy(&content);
        let built_ins = BuiltIns {
            region_id: &self.region_id,
            account_id: &run.account_id,
            instance_id: &run.instance_id,
            instance_name: &instance.name,
            invoke_id: &run.invoke_id,
            command_id: &invocation.command_id,
        };
        let content = script::fill_built_ins(&content, &built_ins);
        let (path, args) = script::exec_argv(&content, &invocation.username, &invocation.working_dir);
        let pid = match agent.exec(&path, &args, None).await {
            Ok(pid) => pid,
            Err(e) => {
                tracing::warn!(instance_id = %run.instance_id, error = %e, "guest-exec failed");
                self.end(run, pending, failure(RunStatus::Error, EXECUTION_EXCEPTION)).await?;
                return Ok(None);
            }
        };
        let start_time = now();
        let started =
            RunUpdate { pid: Some(pid), start_time: Some(start_time.clone()), ..Default::default() };
        if !self
            .store
            .transition_run(&run.invoke_id, &run.instance_id, pending, RunStatus::Running, &started)
            .await?
        {
            // Stopped while it was being delivered: it must not go on running.
            let _ = self.kill_and_collect(&agent, pid).await;
            let _ = self
                .store
                .transition_run(
                    &run.invoke_id,
                    &run.instance_id,
                    &[RunStatus::Stopping],
                    RunStatus::Terminated,
                    &RunUpdate { stop_time: Some(now()), finish_time: Some(now()), ..Default::default() },
                )
                .await;
            return Ok(None);
        }
        tracing::info!(invoke_id = %run.invoke_id, instance_id = %run.instance_id, pid, "Cloud Assistant command started");
        Ok(Some(RunRecord { status: RunStatus::Running, pid: Some(pid), start_time, ..run.clone() }))
    }

    /// Ping until the agent answers (true), the delivery window closes or the run is stopped.
    async fn wait_for_agent(&self, agent: &GuestAgent<'_>, run: &RunRecord) -> Result<bool> {
        let until = tokio::time::Instant::now() + DELIVERY;
        loop {
            if agent.ping().await.is_ok() {
                return Ok(true);
            }
            let current = self.store.run(&run.invoke_id, &run.instance_id).await?;
            if current.is_none_or(|r| r.status != RunStatus::Pending) || tokio::time::Instant::now() >= until
            {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Kill the run's process group and read what it wrote and how it ended.
    async fn kill_and_collect(&self, agent: &GuestAgent<'_>, pid: i64) -> (Vec<u8>, Option<i64>) {
        let kill = ["-c".to_string(), script::kill_line(pid)];
        if let Err(e) = run_to_end(agent, "/bin/sh", &kill, PREFLIGHT).await {
            tracing::warn!(pid, error = %e, "killing a Cloud Assistant process failed");
        }
        for _ in 0..20 {
            match agent.exec_status(pid).await {
                Ok(status) if status.exited => {
                    return (
                        status.out_data.unwrap_or_default(),
                        exit_code_of(status.exitcode, status.signal),
                    )
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(_) => break,
            }
        }
        (Vec::new(), None)
    }

    /// Record how a run ended if it is still in one of `from`.
    async fn end(&self, run: &RunRecord, from: &[RunStatus], ending: Ending) -> Result<bool> {
        let (kept, dropped) = script::cap_output(ending.output);
        let time = now();
        let stopped = matches!(ending.status, RunStatus::Terminated | RunStatus::Cancelled);
        let update = RunUpdate {
            exit_code: ending.exit_code,
            output: Some((b64(&kept), dropped)),
            error: ending.error.map(|(code, info)| (code.to_string(), info.to_string())),
            finish_time: Some(time.clone()),
            stop_time: stopped.then_some(time),
            ..Default::default()
        };
        let moved =
            self.store.transition_run(&run.invoke_id, &run.instance_id, from, ending.status, &update).await?;
        if moved {
            tracing::info!(invoke_id = %run.invoke_id, instance_id = %run.instance_id, status = %ending.status, exit_code = ?ending.exit_code, "Cloud Assistant run ended");
        }
        Ok(moved)
    }
}

fn failure(status: RunStatus, error: (&'static str, &'static str)) -> Ending {
    Ending { status, exit_code: None, output: Vec::new(), error: Some(error) }
}

fn cancelled() -> Ending {
    Ending { status: RunStatus::Cancelled, exit_code: None, output: Vec::new(), error: None }
}

/// A shell's view of how a process ended: its code, or 128 + the signal that killed it.
fn exit_code_of(exitcode: Option<i64>, signal: Option<i64>) -> Option<i64> {
    exitcode.or(signal.map(|s| 128 + s))
}

/// When a run started at `start_time` must be over.
fn deadline(start_time: &str, timeout_secs: i64) -> DateTime<Utc> {
    let start = DateTime::parse_from_rfc3339(start_time)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    start + chrono::Duration::seconds(timeout_secs)
}

/// Run a short program in the guest and wait for its exit code.
async fn run_to_end(
    agent: &GuestAgent<'_>,
    path: &str,
    args: &[String],
    limit: Duration,
) -> std::result::Result<i64, VmError> {
    let pid = agent.exec(path, args, None).await?;
    let until = tokio::time::Instant::now() + limit;
    loop {
        let status = agent.exec_status(pid).await?;
        if status.exited {
            return Ok(exit_code_of(status.exitcode, status.signal).unwrap_or(-1));
        }
        if tokio::time::Instant::now() >= until {
            return Err(VmError::Timeout {
                vm_id: String::new(),
                what: format!("run {path}"),
                seconds: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_deadlines() {
        assert_eq!(exit_code_of(Some(3), None), Some(3));
        assert_eq!(exit_code_of(None, Some(9)), Some(137));
        assert_eq!(exit_code_of(None, None), None);
        let d = deadline("2026-01-01T00:00:00Z", 3);
        assert_eq!(d.to_rfc3339(), "2026-01-01T00:00:03+00:00");
    }
}
