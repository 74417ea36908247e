//! ECS 2014-05-26 Cloud Assistant, served beside the `ecs` module under the same version:
//! RunCommand, CreateCommand, InvokeCommand, DescribeCommands, ModifyCommand, DeleteCommand,
//! DescribeInvocations, DescribeInvocationResults, StopInvocation and
//! DescribeCloudAssistantStatus. The commands run through the guest agent; the rules live in
//! `ecslab_core::assistant`.

mod parse;
mod reply;
mod resources;

pub use parse::parse;
pub use reply::AssistantReply;

use reply::{
    Command, CommandList, CommandPage, InstanceStatus, Invocation, InvocationList, InvocationPage,
    InvocationResult, InvokeInstance, InvokeInstances, ParameterNames, ResultList, ResultPage, StatusList,
    StatusPage,
};

use crate::authorization::Call;
use crate::envelope::ApiError;
use crate::params::Params;
use crate::product::{Product, RpcProduct};
use base64::Engine;
use ecslab_core::assistant::{
    status, CloudAssistant, CommandFilter, CommandSpec, InvocationFilter, InvokeCommand, ModifyCommand,
    RunCommand,
};
use ecslab_core::listing::paginate;
use ecslab_core::requests::Paging;
use ecslab_core::{Cloud, Result};
use std::sync::Arc;

/// How Describe* return scripts and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base64,
    PlainText,
}

impl Encoding {
    /// Stored Base64 → what the caller asked for.
    fn show(self, stored: &str) -> String {
        match self {
            Encoding::Base64 => stored.to_string(),
            Encoding::PlainText => base64::engine::general_purpose::STANDARD
                .decode(stored)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// One parsed Cloud Assistant request.
#[derive(Debug, Clone, PartialEq)]
pub enum AssistantRequest {
    Run(RunCommand),
    Create(CommandSpec),
    Invoke(InvokeCommand),
    DescribeCommands {
        filter: CommandFilter,
        paging: Paging,
        encoding: Encoding,
    },
    Modify(ModifyCommand),
    DeleteCommand {
        command_id: String,
    },
    DescribeInvocations {
        filter: InvocationFilter,
        paging: Paging,
        encoding: Encoding,
        include_output: bool,
    },
    DescribeResults {
        invoke_id: Option<String>,
        instance_id: Option<String>,
        command_id: Option<String>,
        record_status: Option<String>,
        paging: Paging,
        encoding: Encoding,
    },
    Stop {
        invoke_id: String,
        instance_ids: Vec<String>,
    },
    Status {
        instance_ids: Vec<String>,
        paging: Paging,
    },
}

/// Cloud Assistant in the server's table of products (ECS's version).
pub struct CloudAssistantProduct;

impl Product for CloudAssistantProduct {
    const VERSION: &'static str = crate::ecs::VERSION;
    const RAM_CODE: &'static str = "ecs";
    type Request = AssistantRequest;
    type Response = AssistantReply;

    fn resources(request: &AssistantRequest) -> Vec<crate::product::ResourceName> {
        resources::resources(request)
    }

    fn honours_client_token(request: &AssistantRequest) -> bool {
        matches!(
            request,
            AssistantRequest::Run(_) | AssistantRequest::Invoke(_) | AssistantRequest::Create(_)
        )
    }

    async fn execute(
        cloud: &Arc<Cloud>,
        call: &Call,
        request: AssistantRequest,
    ) -> std::result::Result<AssistantReply, ApiError> {
        let account = call.account();
        Ok(execute(cloud.assistant(), account, request).await?)
    }
}

impl RpcProduct for CloudAssistantProduct {
    fn parse(action: &str, params: &Params) -> Option<Result<AssistantRequest>> {
        parse(action, params)
    }
}

/// Run a parsed request for an account; returns the reply body without RequestId.
pub async fn execute(
    assistant: &CloudAssistant,
    account: &str,
    request: AssistantRequest,
) -> Result<AssistantReply> {
    Ok(match request {
        AssistantRequest::Run(run) => {
            let (command_id, invoke_id) = assistant.run_command(account, run).await?;
            AssistantReply::Run { command_id, invoke_id }
        }
        AssistantRequest::Create(spec) => {
            AssistantReply::Create { command_id: assistant.create_command(account, spec).await? }
        }
        AssistantRequest::Invoke(invoke) => {
            AssistantReply::Invoke { invoke_id: assistant.invoke_command(account, invoke).await? }
        }
        AssistantRequest::DescribeCommands { filter, paging, encoding } => {
            let page = assistant.describe_commands(account, &filter, &paging).await?;
            let command = page
                .items
                .into_iter()
                .map(|c| Command {
                    command_content: encoding.show(&c.content),
                    command_id: c.command_id,
                    name: c.name,
                    description: c.description,
                    command_type: c.command_type,
                    working_dir: c.working_dir,
                    timeout: c.timeout_secs,
                    invoke_times: c.invoke_times,
                    creation_time: c.created_at,
                    enable_parameter: c.enable_parameter,
                    parameter_names: ParameterNames { parameter_name: c.parameter_names },
                    provider: String::new(),
                    category: String::new(),
                    version: 1,
                    latest: true,
                })
                .collect();
            AssistantReply::Commands(CommandPage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                next_token: page.next_token,
                commands: CommandList { command },
            })
        }
        AssistantRequest::Modify(change) => {
            assistant.modify_command(account, change).await?;
            AssistantReply::Empty {}
        }
        AssistantRequest::DeleteCommand { command_id } => {
            assistant.delete_command(account, &command_id).await?;
            AssistantReply::Empty {}
        }
        AssistantRequest::DescribeInvocations { filter, paging, encoding, include_output } => {
            let page = assistant.describe_invocations(account, &filter, &paging).await?;
            let invocation = page
                .items
                .into_iter()
                .map(|view| {
                    let statuses = view.statuses();
                    let i = view.invocation;
                    let invoke_instance = view
                        .runs
                        .into_iter()
                        .map(|r| {
                            let update_time = [&r.finish_time, &r.start_time, &i.created_at]
                                .into_iter()
                                .find(|t| !t.is_empty())
                                .cloned()
                                .unwrap_or_default();
                            InvokeInstance {
                                update_time,
                                invocation_status: r.status.to_string(),
                                instance_invoke_status: status::record_status(r.status).to_string(),
                                exit_code: r.exit_code,
                                output: include_output.then(|| encoding.show(&r.output)),
                                dropped: r.dropped,
                                error_code: r.error_code,
                                error_info: r.error_info,
                                creation_time: i.created_at.clone(),
                                start_time: r.start_time,
                                finish_time: r.finish_time,
                                stop_time: r.stop_time,
                                repeats: i64::from(r.pid.is_some()),
                                timed: false,
                                instance_id: r.instance_id,
                            }
                        })
                        .collect();
                    Invocation {
                        invocation_status: status::invocation_status(&statuses).to_string(),
                        invoke_status: status::invoke_status(&statuses).to_string(),
                        command_content: encoding.show(&i.content),
                        parameters: serde_json::to_string(&i.parameters).unwrap_or_default(),
                        invoke_id: i.invoke_id,
                        command_id: i.command_id,
                        command_name: i.command_name,
                        command_type: i.command_type,
                        command_description: i.command_description,
                        creation_time: i.created_at,
                        repeat_mode: "Once".into(),
                        timed: false,
                        frequency: String::new(),
                        timeout: i.timeout_secs,
                        username: ecslab_core::assistant::script::user_or_root(&i.username).to_string(),
                        working_dir: i.working_dir,
                        termination_mode: "ProcessTree".into(),
                        invoke_instances: InvokeInstances { invoke_instance },
                    }
                })
                .collect();
            AssistantReply::Invocations(InvocationPage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                next_token: page.next_token,
                invocations: InvocationList { invocation },
            })
        }
        AssistantRequest::DescribeResults {
            invoke_id,
            instance_id,
            command_id,
            record_status,
            paging,
            encoding,
        } => {
            let page = assistant
                .results(
                    account,
                    invoke_id.as_deref(),
                    instance_id.as_deref(),
                    command_id.as_deref(),
                    record_status.as_deref(),
                    &paging,
                )
                .await?;
            let invocation_result = page
                .items
                .into_iter()
                .map(|(i, r)| InvocationResult {
                    command_id: i.command_id,
                    invoke_id: i.invoke_id,
                    invocation_status: r.status.to_string(),
                    invoke_record_status: status::record_status(r.status).to_string(),
                    exit_code: r.exit_code,
                    output: encoding.show(&r.output),
                    dropped: r.dropped,
                    error_code: r.error_code,
                    error_info: r.error_info,
                    start_time: r.start_time,
                    finished_time: r.finish_time,
                    stop_time: r.stop_time,
                    repeats: i64::from(r.pid.is_some()),
                    username: ecslab_core::assistant::script::user_or_root(&i.username).to_string(),
                    instance_id: r.instance_id,
                })
                .collect();
            AssistantReply::Results {
                invocation: ResultPage {
                    total_count: page.total_count,
                    page_number: page.page_number,
                    page_size: page.page_size,
                    next_token: page.next_token,
                    invocation_results: ResultList { invocation_result },
                },
            }
        }
        AssistantRequest::Stop { invoke_id, instance_ids } => {
            assistant.stop_invocation(account, &invoke_id, &instance_ids).await?;
            AssistantReply::Empty {}
        }
        AssistantRequest::Status { instance_ids, paging } => {
            let statuses = assistant.status(account, &instance_ids).await?;
            let page = paginate(statuses, &paging, |s| s.instance_id.clone())?;
            let instance_cloud_assistant_status = page
                .items
                .into_iter()
                .map(|s| InstanceStatus {
                    instance_id: s.instance_id,
                    cloud_assistant_status: s.answering.to_string(),
                    cloud_assistant_version: s.version,
                    active_task_count: s.active_task_count,
                    invocation_count: s.invocation_count,
                    last_heartbeat_time: s.last_heartbeat_time,
                    last_invoked_time: s.last_invoked_time,
                    os_type: "Linux".into(),
                    support_session_manager: false,
                })
                .collect();
            AssistantReply::Status(StatusPage {
                total_count: page.total_count,
                page_number: page.page_number,
                page_size: page.page_size,
                next_token: page.next_token,
                instance_cloud_assistant_status_set: StatusList { instance_cloud_assistant_status },
            })
        }
    })
}
