//! Cloud Assistant replies as typed structs in ECS's shapes (`Commands.Command[]`,
//! `Invocations.Invocation[].InvokeInstances.InvokeInstance[]`,
//! `Invocation.InvocationResults.InvocationResult[]`,
//! `InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[]`).

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AssistantReply {
    #[serde(rename_all = "PascalCase")]
    Run {
        command_id: String,
        invoke_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    Create {
        command_id: String,
    },
    #[serde(rename_all = "PascalCase")]
    Invoke {
        invoke_id: String,
    },
    Commands(CommandPage),
    Invocations(InvocationPage),
    #[serde(rename_all = "PascalCase")]
    Results {
        invocation: ResultPage,
    },
    Status(StatusPage),
    /// ModifyCommand, DeleteCommand, StopInvocation: RequestId only.
    Empty {},
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub commands: CommandList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandList {
    pub command: Vec<Command>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Command {
    pub command_id: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "Type")]
    pub command_type: String,
    pub command_content: String,
    pub working_dir: String,
    pub timeout: i64,
    pub invoke_times: i64,
    pub creation_time: String,
    pub enable_parameter: bool,
    pub parameter_names: ParameterNames,
    pub provider: String,
    pub category: String,
    pub version: i64,
    pub latest: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterNames {
    pub parameter_name: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub invocations: InvocationList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationList {
    pub invocation: Vec<Invocation>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Invocation {
    pub invoke_id: String,
    pub command_id: String,
    pub command_name: String,
    pub command_type: String,
    pub command_content: String,
    pub command_description: String,
    pub creation_time: String,
    pub invocation_status: String,
    pub invoke_status: String,
    /// The Parameters given, as a JSON object in a string (the SDK's model reads a string).
    pub parameters: String,
    pub repeat_mode: String,
    pub timed: bool,
    pub frequency: String,
    pub timeout: i64,
    pub username: String,
    pub working_dir: String,
    pub termination_mode: String,
    pub invoke_instances: InvokeInstances,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeInstances {
    pub invoke_instance: Vec<InvokeInstance>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeInstance {
    pub instance_id: String,
    pub invocation_status: String,
    pub instance_invoke_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub dropped: i64,
    pub error_code: String,
    pub error_info: String,
    pub creation_time: String,
    pub start_time: String,
    pub finish_time: String,
    pub stop_time: String,
    pub update_time: String,
    pub repeats: i64,
    pub timed: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub invocation_results: ResultList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultList {
    pub invocation_result: Vec<InvocationResult>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationResult {
    pub command_id: String,
    pub invoke_id: String,
    pub instance_id: String,
    pub invocation_status: String,
    pub invoke_record_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub output: String,
    pub dropped: i64,
    pub error_code: String,
    pub error_info: String,
    pub start_time: String,
    pub finished_time: String,
    pub stop_time: String,
    pub repeats: i64,
    pub username: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusPage {
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub next_token: String,
    pub instance_cloud_assistant_status_set: StatusList,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusList {
    pub instance_cloud_assistant_status: Vec<InstanceStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceStatus {
    pub instance_id: String,
    /// "true" when the agent answers, "false" otherwise (a string in ECS's model).
    pub cloud_assistant_status: String,
    pub cloud_assistant_version: String,
    pub active_task_count: i64,
    pub invocation_count: i64,
    pub last_heartbeat_time: String,
    pub last_invoked_time: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub support_session_manager: bool,
}
