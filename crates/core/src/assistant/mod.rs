//! Cloud Assistant (ECS 2014-05-26: RunCommand, CreateCommand, InvokeCommand, DescribeCommands,
//! ModifyCommand, DeleteCommand, DescribeInvocations, DescribeInvocationResults,
//! StopInvocation, DescribeCloudAssistantStatus) over the QEMU guest agent: no network in the
//! guest is needed, only qemu-ga on its virtio-serial port.
//!
//! Commands and invocations are rows; each invocation has one run per instance, driven by
//! `run.rs` in a task of its own and persisted step by step, so a server restart loses none
//! ([`CloudAssistant::resume`]). The rules for scripts and parameters are pure (`script.rs`),
//! and so are the status words ECS reports (`status.rs`).

mod run;
pub mod script;
pub mod status;

use crate::ids::new_id;
use crate::listing::{paginate, sort_key, Page};
use crate::requests::Paging;
use crate::{lookup, Error, Resource, Result};
use base64::Engine;
use ecslab_store::{CommandRecord, InstanceStatus, InvocationRecord, RunRecord, RunStatus, RunUpdate, Store};
use ecslab_vmm::{GuestAgent, Hypervisor};
use run::Driver;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The one command type a Linux guest runs.
pub const SHELL: &str = "RunShellScript";
/// At most this many instances in one invocation.
pub const MAX_INSTANCES: usize = 100;
/// Timeout when none is given, and the longest allowed (seconds).
pub const DEFAULT_TIMEOUT: i64 = 60;
pub const MAX_TIMEOUT: i64 = 86_400;
/// Base64 content limits: 24 KB for a command run once, 18 KB for a kept one.
pub const MAX_CONTENT_ONCE: usize = 24 * 1024;
pub const MAX_CONTENT_KEPT: usize = 18 * 1024;

/// A command's definition, from CreateCommand or RunCommand (already checked by the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: String,
    pub description: String,
    /// The script's bytes (decoded when it came as Base64).
    pub content: Vec<u8>,
    pub working_dir: String,
    pub username: String,
    pub timeout_secs: i64,
    pub enable_parameter: bool,
}

/// RunCommand: a command defined and invoked in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub command: CommandSpec,
    pub keep_command: bool,
    pub instance_ids: Vec<String>,
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// InvokeCommand: a stored command run on instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeCommand {
    pub command_id: String,
    pub instance_ids: Vec<String>,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Overrides of the command's own settings for this invocation.
    pub username: Option<String>,
    pub working_dir: Option<String>,
    pub timeout_secs: Option<i64>,
}

/// ModifyCommand: the fields given replace the command's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyCommand {
    pub command_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub content: Option<Vec<u8>>,
    pub working_dir: Option<String>,
    pub username: Option<String>,
    pub timeout_secs: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandFilter {
    pub command_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub command_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationFilter {
    pub invoke_id: Option<String>,
    pub command_id: Option<String>,
    pub instance_id: Option<String>,
    pub command_name: Option<String>,
    /// An InvocationStatus or InvokeStatus word.
    pub status: Option<String>,
    pub command_type: Option<String>,
}

/// An invocation and its runs, as Describe* show them.
#[derive(Debug, Clone)]
pub struct InvocationView {
    pub invocation: InvocationRecord,
    pub runs: Vec<RunRecord>,
}

impl InvocationView {
    pub fn statuses(&self) -> Vec<RunStatus> {
        self.runs.iter().map(|r| r.status).collect()
    }
}

/// One instance's Cloud Assistant status.
#[derive(Debug, Clone)]
pub struct AssistantStatus {
    pub instance_id: String,
    /// The agent answered `guest-info` just now.
    pub answering: bool,
    pub version: String,
    pub invocation_count: i64,
    pub active_task_count: i64,
    pub last_invoked_time: String,
    pub last_heartbeat_time: String,
}

/// The Cloud Assistant service.
pub struct CloudAssistant {
    store: Store,
    hypervisor: Arc<dyn Hypervisor>,
    driver: Arc<Driver>,
}

impl CloudAssistant {
    pub fn new(store: Store, hypervisor: Arc<dyn Hypervisor>, region_id: String) -> CloudAssistant {
        let driver = Arc::new(Driver { store: store.clone(), hypervisor: hypervisor.clone(), region_id });
        CloudAssistant { store, hypervisor, driver }
    }

    /// Drive on every run a previous server left open (called once at start).
    pub async fn resume(&self) -> Result<usize> {
        let runs = self.store.open_runs().await?;
        let count = runs.len();
        for run in runs {
            let Some(invocation) = self.store.invocation(&run.account_id, &run.invoke_id).await? else {
                continue;
            };
            tracing::info!(invoke_id = %run.invoke_id, instance_id = %run.instance_id, status = %run.status, "resuming a Cloud Assistant run");
            tokio::spawn(self.driver.clone().drive(invocation, run));
        }
        Ok(count)
    }

    pub async fn create_command(&self, account_id: &str, spec: CommandSpec) -> Result<String> {
        let record = self.command_record(account_id, spec, true)?;
        self.store.insert_command(&record).await?;
        Ok(record.command_id)
    }

    fn command_record(&self, account_id: &str, spec: CommandSpec, kept: bool) -> Result<CommandRecord> {
        let parameter_names = defined_parameters(&spec.content, spec.enable_parameter)?;
        Ok(CommandRecord {
            command_id: new_id("c"),
            account_id: account_id.to_string(),
            name: spec.name,
            description: spec.description,
            command_type: SHELL.to_string(),
            content: b64(&spec.content),
            working_dir: spec.working_dir,
            username: spec.username,
            timeout_secs: spec.timeout_secs,
            enable_parameter: spec.enable_parameter,
            parameter_names,
            kept,
            invoke_times: 0,
            created_at: ecslab_store::now_rfc3339(),
        })
    }

    /// RunCommand: returns (CommandId, InvokeId).
    pub async fn run_command(&self, account_id: &str, request: RunCommand) -> Result<(String, String)> {
        let command = self.command_record(account_id, request.command, request.keep_command)?;
        let values = parameter_values(&command, &request.parameters)?;
        let instances = self.instances(account_id, &request.instance_ids).await?;
        self.store.insert_command(&command).await?;
        let invoke_id = self.invoke(&command, instances, &values, None, None, None).await?;
        Ok((command.command_id, invoke_id))
    }

    pub async fn invoke_command(&self, account_id: &str, request: InvokeCommand) -> Result<String> {
        let command = self.command(account_id, &request.command_id).await?;
        let values = parameter_values(&command, &request.parameters)?;
        let instances = self.instances(account_id, &request.instance_ids).await?;
        self.invoke(&command, instances, &values, request.username, request.working_dir, request.timeout_secs)
            .await
    }

    async fn command(&self, account_id: &str, command_id: &str) -> Result<CommandRecord> {
        self.store.command(account_id, command_id).await?.filter(|c| c.kept).ok_or_else(|| {
            Error::rejected("InvalidCommandId.NotFound", "The specified CommandId does not exist.")
        })
    }

    /// The instances named, each this account's (else InvalidInstanceId.NotFound), with their
    /// status when asked.
    async fn instances(&self, account_id: &str, ids: &[String]) -> Result<Vec<(String, InstanceStatus)>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let instance = lookup::instance(&self.store, account_id, id).await?;
            found.push((instance.instance_id, instance.status));
        }
        Ok(found)
    }

    async fn invoke(
        &self,
        command: &CommandRecord,
        instances: Vec<(String, InstanceStatus)>,
        values: &BTreeMap<String, String>,
        username: Option<String>,
        working_dir: Option<String>,
        timeout_secs: Option<i64>,
    ) -> Result<String> {
        let script = base64::engine::general_purpose::STANDARD
            .decode(&command.content)
            .map_err(|e| Error::internal(format!("stored script of {}: {e}", command.command_id)))?;
        let script = String::from_utf8_lossy(&script).into_owned();
        let content =
            if command.enable_parameter { script::fill_parameters(&script, values) } else { script };
        let invocation = InvocationRecord {
            invoke_id: new_id("t"),
            account_id: command.account_id.clone(),
            command_id: command.command_id.clone(),
            command_name: command.name.clone(),
            command_type: command.command_type.clone(),
            command_description: command.description.clone(),
            content: b64(content.as_bytes()),
            parameters: if command.enable_parameter { values.clone() } else { BTreeMap::new() },
            working_dir: working_dir.unwrap_or_else(|| command.working_dir.clone()),
            username: username.unwrap_or_else(|| command.username.clone()),
            timeout_secs: timeout_secs.unwrap_or(command.timeout_secs),
            created_at: ecslab_store::now_rfc3339(),
        };
        let mut runs = Vec::with_capacity(instances.len());
        for (position, (instance_id, status)) in instances.iter().enumerate() {
            let mut run =
                RunRecord::pending(&invocation.invoke_id, instance_id, &command.account_id, position as i64);
            // Only a Running instance takes a command; the others are Aborted at once, so a
            // fleet with stopped members ends PartialFailed, as on ECS.
            if *status != InstanceStatus::Running {
                run.status = RunStatus::Aborted;
                let (code, info) = run::INSTANCE_NOT_RUNNING;
                run.error_code = code.to_string();
                run.error_info = info.to_string();
                run.finish_time = invocation.created_at.clone();
            }
            runs.push(run);
        }
        self.store.insert_invocation(&invocation, &runs).await?;
        for run in runs.into_iter().filter(|r| r.status == RunStatus::Pending) {
            tokio::spawn(self.driver.clone().drive(invocation.clone(), run));
        }
        Ok(invocation.invoke_id)
    }

    pub async fn describe_commands(
        &self,
        account_id: &str,
        filter: &CommandFilter,
        paging: &Paging,
    ) -> Result<Page<CommandRecord>> {
        let commands: Vec<CommandRecord> = self
            .store
            .commands(account_id)
            .await?
            .into_iter()
            .filter(|c| filter.command_id.as_ref().is_none_or(|id| &c.command_id == id))
            .filter(|c| filter.name.as_ref().is_none_or(|n| &c.name == n))
            .filter(|c| filter.description.as_ref().is_none_or(|d| &c.description == d))
            .filter(|c| filter.command_type.as_ref().is_none_or(|t| &c.command_type == t))
            .collect();
        paginate(commands, paging, |c| sort_key(&c.created_at, &c.command_id))
    }

    pub async fn modify_command(&self, account_id: &str, change: ModifyCommand) -> Result<()> {
        let mut command = self.command(account_id, &change.command_id).await?;
        if let Some(name) = change.name {
            command.name = name;
        }
        if let Some(description) = change.description {
            command.description = description;
        }
        if let Some(content) = change.content {
            command.parameter_names = defined_parameters(&content, command.enable_parameter)?;
            command.content = b64(&content);
        }
        if let Some(dir) = change.working_dir {
            command.working_dir = dir;
        }
        if let Some(user) = change.username {
            command.username = user;
        }
        if let Some(timeout) = change.timeout_secs {
            command.timeout_secs = timeout;
        }
        self.store.update_command(&command).await?;
        Ok(())
    }

    pub async fn delete_command(&self, account_id: &str, command_id: &str) -> Result<()> {
        self.command(account_id, command_id).await?;
        self.store.delete_command(account_id, command_id).await?;
        Ok(())
    }

    pub async fn describe_invocations(
        &self,
        account_id: &str,
        filter: &InvocationFilter,
        paging: &Paging,
    ) -> Result<Page<InvocationView>> {
        let mut views = Vec::new();
        for invocation in self.store.invocations(account_id).await? {
            if filter.invoke_id.as_ref().is_some_and(|id| &invocation.invoke_id != id)
                || filter.command_id.as_ref().is_some_and(|id| &invocation.command_id != id)
                || filter.command_name.as_ref().is_some_and(|n| &invocation.command_name != n)
                || filter.command_type.as_ref().is_some_and(|t| &invocation.command_type != t)
            {
                continue;
            }
            let runs = self.store.runs(&invocation.invoke_id).await?;
            let view = InvocationView { invocation, runs };
            if filter.instance_id.as_ref().is_some_and(|id| !view.runs.iter().any(|r| &r.instance_id == id)) {
                continue;
            }
            if let Some(word) = &filter.status {
                let statuses = view.statuses();
                if !word.eq_ignore_ascii_case(status::invocation_status(&statuses))
                    && !word.eq_ignore_ascii_case(status::invoke_status(&statuses))
                {
                    continue;
                }
            }
            views.push(view);
        }
        paginate(views, paging, |v| sort_key(&v.invocation.created_at, &v.invocation.invoke_id))
    }

    /// DescribeInvocationResults: each run with its invocation, filtered by invocation,
    /// instance, command and InvokeRecordStatus word, in creation then instance order.
    pub async fn results(
        &self,
        account_id: &str,
        invoke_id: Option<&str>,
        instance_id: Option<&str>,
        command_id: Option<&str>,
        record_status: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<(InvocationRecord, RunRecord)>> {
        let invocations = match invoke_id {
            Some(id) => self.store.invocation(account_id, id).await?.into_iter().collect(),
            None => self.store.invocations(account_id).await?,
        };
        let mut results = Vec::new();
        for invocation in invocations {
            if command_id.is_some_and(|id| invocation.command_id != id) {
                continue;
            }
            for run in self.store.runs(&invocation.invoke_id).await? {
                if instance_id.is_some_and(|id| run.instance_id != id)
                    || record_status
                        .is_some_and(|w| !w.eq_ignore_ascii_case(status::record_status(run.status)))
                {
                    continue;
                }
                results.push((invocation.clone(), run));
            }
        }
        paginate(results, paging, |(i, r)| {
            format!("{}|{:04}", sort_key(&i.created_at, &i.invoke_id), r.position)
        })
    }

    /// StopInvocation: runs still Pending are Cancelled; Running ones go Stopping and their
    /// drivers kill them (on the instances named, or all). InvalidOperation.InvokeAlreadyFinished
    /// when nothing was left to stop.
    pub async fn stop_invocation(
        &self,
        account_id: &str,
        invoke_id: &str,
        instance_ids: &[String],
    ) -> Result<()> {
        let invocation = self.invocation(account_id, invoke_id).await?;
        let runs = self.store.runs(&invocation.invoke_id).await?;
        for id in instance_ids {
            if !runs.iter().any(|r| &r.instance_id == id) {
                return Err(Error::not_found(Resource::Instance, id.clone()));
            }
        }
        let mut stopped = 0;
        let now = ecslab_store::now_rfc3339();
        for run in runs.iter().filter(|r| instance_ids.is_empty() || instance_ids.contains(&r.instance_id)) {
            let cancel = RunUpdate {
                stop_time: Some(now.clone()),
                finish_time: Some(now.clone()),
                ..Default::default()
            };
            if self
                .store
                .transition_run(
                    invoke_id,
                    &run.instance_id,
                    &[RunStatus::Pending],
                    RunStatus::Cancelled,
                    &cancel,
                )
                .await?
                || self
                    .store
                    .transition_run(
                        invoke_id,
                        &run.instance_id,
                        &[RunStatus::Running],
                        RunStatus::Stopping,
                        &RunUpdate::default(),
                    )
                    .await?
            {
                stopped += 1;
            }
        }
        if stopped == 0 {
            return Err(Error::rejected(
                "InvalidOperation.InvokeAlreadyFinished",
                "The operation is not supported for finished invocation.",
            ));
        }
        Ok(())
    }

    pub async fn invocation(&self, account_id: &str, invoke_id: &str) -> Result<InvocationRecord> {
        self.store.invocation(account_id, invoke_id).await?.ok_or_else(|| {
            Error::rejected("InvalidInvokeId.NotFound", "The specified parameter InvokeId does not exist.")
        })
    }

    /// DescribeCloudAssistantStatus for these instances (all of the account's when none named).
    pub async fn status(&self, account_id: &str, instance_ids: &[String]) -> Result<Vec<AssistantStatus>> {
        let ids: Vec<String> = if instance_ids.is_empty() {
            self.store.instances(account_id).await?.into_iter().map(|i| i.instance_id).collect()
        } else {
            instance_ids.to_vec()
        };
        let instances = self.instances(account_id, &ids).await?;
        // Every run of the account once, with its invocation's time, by instance.
        let mut runs_of: BTreeMap<String, Vec<(String, RunStatus)>> = BTreeMap::new();
        for invocation in self.store.invocations(account_id).await? {
            for run in self.store.runs(&invocation.invoke_id).await? {
                runs_of.entry(run.instance_id).or_default().push((invocation.created_at.clone(), run.status));
            }
        }
        let mut answer = Vec::with_capacity(instances.len());
        for (instance_id, instance_status) in instances {
            let mut status = AssistantStatus {
                instance_id: instance_id.clone(),
                answering: false,
                version: String::new(),
                invocation_count: 0,
                active_task_count: 0,
                last_invoked_time: String::new(),
                last_heartbeat_time: String::new(),
            };
            for (created_at, run_status) in runs_of.get(&instance_id).into_iter().flatten() {
                status.invocation_count += 1;
                status.active_task_count += i64::from(!run_status.is_final());
                status.last_invoked_time = created_at.clone();
            }
            if instance_status == InstanceStatus::Running {
                let agent = GuestAgent::new(self.hypervisor.as_ref(), &instance_id);
                if let Ok(info) = agent.info().await {
                    status.answering = true;
                    status.version = info.version;
                    status.last_heartbeat_time = ecslab_store::now_rfc3339();
                }
            }
            answer.push(status);
        }
        Ok(answer)
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The parameter names a command defines (none unless EnableParameter).
fn defined_parameters(content: &[u8], enable_parameter: bool) -> Result<Vec<String>> {
    if !enable_parameter {
        return Ok(Vec::new());
    }
    script::parameter_names(&String::from_utf8_lossy(content))
}

/// The values for a command's parameters from a request's Parameters.
fn parameter_values(
    command: &CommandRecord,
    given: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>> {
    if !command.enable_parameter {
        if !given.is_empty() {
            return Err(Error::invalid(
                "Parameters",
                "The command does not take custom parameters (EnableParameter is false).",
            ));
        }
        return Ok(BTreeMap::new());
    }
    script::check_parameters(&command.parameter_names, given)
}
