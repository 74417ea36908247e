//! Parameters → [`AssistantRequest`], one function per action, with ECS's codes for Cloud
//! Assistant's limits (name 128, description 512, username 255 characters; Base64 content
//! 24 KB for a command run once, 18 KB for a kept one; 100 instances). Pure: no state, no I/O.
//! Scheduling (Frequency, RepeatMode other than Once), containers, OSS delivery, launchers,
//! tags and resource groups are refused, never ignored.

use super::{AssistantRequest, Encoding};
use crate::params::Params;
use ecslab_core::assistant::{
    CommandFilter, CommandSpec, InvocationFilter, InvokeCommand, ModifyCommand, RunCommand, DEFAULT_TIMEOUT,
    MAX_CONTENT_KEPT, MAX_CONTENT_ONCE, MAX_INSTANCES, MAX_TIMEOUT, SHELL,
};
use ecslab_core::{Error, Result};

/// Parse one Cloud Assistant action. `None` when the action is not one of them.
pub fn parse(action: &str, p: &Params) -> Option<Result<AssistantRequest>> {
    Some(match action {
        "RunCommand" => run_command(p),
        "CreateCommand" => create_command(p),
        "InvokeCommand" => invoke_command(p),
        "DescribeCommands" => describe_commands(p),
        "ModifyCommand" => modify_command(p),
        "DeleteCommand" => {
            p.str("CommandId").map(|command_id| AssistantRequest::DeleteCommand { command_id })
        }
        "DescribeInvocations" => describe_invocations(p),
        "DescribeInvocationResults" => describe_invocation_results(p),
        "StopInvocation" => stop_invocation(p),
        "DescribeCloudAssistantStatus" => cloud_assistant_status(p),
        _ => return None,
    })
}

/// What no action here implements.
const UNSUPPORTED: &[&str] = &[
    "ContainerId",
    "ContainerName",
    "Frequency",
    "OssOutputDelivery",
    "Launcher",
    "ResourceTag",
    "Tag",
    "ResourceGroupId",
    "WindowsPasswordName",
];

fn refuse_unsupported(p: &Params) -> Result<()> {
    p.refuse(UNSUPPORTED)?;
    if let Some(mode) = p.opt_str("RepeatMode").filter(|m| m != "Once") {
        return Err(Error::invalid(
            "RepeatMode",
            format!("{mode:?}: ecslab runs commands once (RepeatMode Once)."),
        ));
    }
    if p.bool_or("Timed", false)? {
        return Err(Error::invalid(
            "Timed",
            "ecslab runs commands once; scheduled runs are not implemented.",
        ));
    }
    // Runs are killed with their whole process tree (each runs in a session of its own).
    if let Some(mode) = p.opt_str("TerminationMode").filter(|m| m != "ProcessTree") {
        return Err(Error::invalid(
            "TerminationMode",
            format!("{mode:?}: ecslab stops the whole process tree (ProcessTree)."),
        ));
    }
    Ok(())
}

/// Type: RunShellScript (ecslab's guests are Linux). The Windows types are real ECS types
/// that no ecslab instance can run.
fn command_type(p: &Params, instances: bool) -> Result<()> {
    match p.str("Type")?.as_str() {
        SHELL => Ok(()),
        "RunBatScript" | "RunPowerShellScript" if instances => Err(Error::rejected(
            "InvalidInstanceId.OSTypeUnsupported",
            "The OS type of the instance corresponding to the parameter InstanceId does not support the specified command type.",
        )),
        other => Err(Error::rejected(
            "InvalidCmdType.NotFound",
            format!("The specified command type {other:?} does not exist or is not supported: ecslab's guests are Linux and run RunShellScript."),
        )),
    }
}

/// CommandContent, decoded when ContentEncoding says Base64 (ECS: any other word is PlainText),
/// within the Base64 size limit.
fn content(p: &Params, name: &str, limit: usize) -> Result<Option<Vec<u8>>> {
    let Some(raw) = p.opt_str(name) else { return Ok(None) };
    let base64 = p.opt_str("ContentEncoding").is_some_and(|e| e.eq_ignore_ascii_case("Base64"));
    let bytes = if base64 {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(raw.trim()).map_err(|_| {
            Error::rejected(
                "InvalidCommandContent.DecodeError",
                "The specified parameter CommandContent can not be Base64 decoded.",
            )
        })?
    } else {
        raw.into_bytes()
    };
    if bytes.len().div_ceil(3) * 4 > limit {
        return Err(Error::rejected(
            "InvalidCommandContent.LengthLimitExceeded",
            format!(
                "The length of the parameter CommandContent exceeds the limit of {} KB characters.",
                limit / 1024
            ),
        ));
    }
    Ok(Some(bytes))
}

fn limited(p: &Params, name: &str, max: usize, code: &'static str) -> Result<Option<String>> {
    let value = p.opt_str(name);
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(Error::rejected(
            code,
            format!("The length of {name} exceeds the upper limit of {max} characters."),
        ));
    }
    Ok(value)
}

fn timeout(p: &Params) -> Result<Option<i64>> {
    p.opt_int("Timeout", 1, MAX_TIMEOUT)
}

fn instance_ids(p: &Params) -> Result<Vec<String>> {
    let ids = p.repeat_list("InstanceId", 10_000)?;
    if ids.is_empty() {
        return Err(Error::missing("InstanceId"));
    }
    if ids.len() > MAX_INSTANCES {
        return Err(Error::rejected(
            "InvalidInstanceId.CountLimitExceeded",
            format!("The count of the parameter InstanceId exceeds the limit of {MAX_INSTANCES}."),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(Error::invalid("InstanceId", format!("{dup} is named twice.")));
    }
    Ok(ids)
}

/// Parameters: a JSON object (the SDK sends the dict as JSON).
fn parameters(p: &Params) -> Result<serde_json::Map<String, serde_json::Value>> {
    let Some(raw) = p.opt_str("Parameters") else { return Ok(serde_json::Map::new()) };
    match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(Error::invalid("Parameters", "Expected a JSON object of names and string values.")),
    }
}

fn spec(p: &Params, limit: usize, name_required: bool) -> Result<CommandSpec> {
    let name = if name_required { Some(p.str("Name")?) } else { None };
    let name =
        limited(p, "Name", 128, "CmdName.ExceedLimit")?.or(name).unwrap_or_else(|| "RunCommand".into());
    Ok(CommandSpec {
        name,
        description: limited(p, "Description", 512, "CmdDesc.ExceedLimit")?.unwrap_or_default(),
        content: content(p, "CommandContent", limit)?.ok_or_else(|| Error::missing("CommandContent"))?,
        working_dir: p.opt_str("WorkingDir").unwrap_or_default(),
        username: limited(p, "Username", 255, "Username.ExceedLimit")?.unwrap_or_default(),
        timeout_secs: timeout(p)?.unwrap_or(DEFAULT_TIMEOUT),
        enable_parameter: p.bool_or("EnableParameter", false)?,
    })
}

fn run_command(p: &Params) -> Result<AssistantRequest> {
    refuse_unsupported(p)?;
    command_type(p, true)?;
    let keep_command = p.bool_or("KeepCommand", false)?;
    let limit = if keep_command { MAX_CONTENT_KEPT } else { MAX_CONTENT_ONCE };
    Ok(AssistantRequest::Run(RunCommand {
        command: spec(p, limit, false)?,
        keep_command,
        instance_ids: instance_ids(p)?,
        parameters: parameters(p)?,
    }))
}

fn create_command(p: &Params) -> Result<AssistantRequest> {
    refuse_unsupported(p)?;
    command_type(p, false)?;
    Ok(AssistantRequest::Create(spec(p, MAX_CONTENT_KEPT, true)?))
}

fn invoke_command(p: &Params) -> Result<AssistantRequest> {
    refuse_unsupported(p)?;
    Ok(AssistantRequest::Invoke(InvokeCommand {
        command_id: p.str("CommandId")?,
        instance_ids: instance_ids(p)?,
        parameters: parameters(p)?,
        username: limited(p, "Username", 255, "Username.ExceedLimit")?,
        working_dir: p.opt_str("WorkingDir"),
        timeout_secs: timeout(p)?,
    }))
}

fn modify_command(p: &Params) -> Result<AssistantRequest> {
    refuse_unsupported(p)?;
    Ok(AssistantRequest::Modify(ModifyCommand {
        command_id: p.str("CommandId")?,
        name: limited(p, "Name", 128, "CmdName.ExceedLimit")?,
        description: limited(p, "Description", 512, "CmdDesc.ExceedLimit")?,
        content: content(p, "CommandContent", MAX_CONTENT_KEPT)?,
        working_dir: p.opt_str("WorkingDir"),
        username: limited(p, "Username", 255, "Username.ExceedLimit")?,
        timeout_secs: timeout(p)?,
    }))
}

fn describe_commands(p: &Params) -> Result<AssistantRequest> {
    p.refuse(&["Provider", "Tag", "ResourceGroupId", "Latest", "Version"])?;
    Ok(AssistantRequest::DescribeCommands {
        filter: CommandFilter {
            command_id: p.opt_str("CommandId"),
            name: p.opt_str("Name"),
            description: p.opt_str("Description"),
            command_type: p.opt_str("Type"),
        },
        paging: p.paging(50)?,
        encoding: encoding(p)?,
    })
}

/// ContentEncoding of what Describe* return: Base64 (the default) or PlainText.
fn encoding(p: &Params) -> Result<Encoding> {
    match p.opt_str("ContentEncoding") {
        None => Ok(Encoding::Base64),
        Some(e) if e.eq_ignore_ascii_case("Base64") => Ok(Encoding::Base64),
        Some(e) if e.eq_ignore_ascii_case("PlainText") => Ok(Encoding::PlainText),
        Some(e) => Err(Error::invalid("ContentEncoding", format!("{e:?} is not PlainText or Base64."))),
    }
}

fn describe_invocations(p: &Params) -> Result<AssistantRequest> {
    p.refuse(&["Tag", "ResourceGroupId", "InstanceName"])?;
    if let Some(mode) = p.opt_str("RepeatMode").filter(|m| m != "Once") {
        return Err(Error::invalid("RepeatMode", format!("{mode:?}: ecslab runs commands once.")));
    }
    if p.bool_or("Timed", false)? {
        return Err(Error::invalid("Timed", "ecslab has no scheduled invocations."));
    }
    Ok(AssistantRequest::DescribeInvocations {
        filter: InvocationFilter {
            invoke_id: p.opt_str("InvokeId"),
            command_id: p.opt_str("CommandId"),
            instance_id: p.opt_str("InstanceId"),
            command_name: p.opt_str("CommandName"),
            status: p.opt_str("InvokeStatus"),
            command_type: p.opt_str("CommandType"),
        },
        paging: p.paging(50)?,
        encoding: encoding(p)?,
        include_output: p.bool_or("IncludeOutput", false)?,
    })
}

fn describe_invocation_results(p: &Params) -> Result<AssistantRequest> {
    p.refuse(&["Tag", "ResourceGroupId"])?;
    if p.bool_or("IncludeHistory", false)? {
        return Err(Error::invalid("IncludeHistory", "ecslab has no scheduled invocations, so no history."));
    }
    Ok(AssistantRequest::DescribeResults {
        invoke_id: p.opt_str("InvokeId"),
        instance_id: p.opt_str("InstanceId"),
        command_id: p.opt_str("CommandId"),
        record_status: p.opt_str("InvokeRecordStatus"),
        paging: p.paging(50)?,
        encoding: encoding(p)?,
    })
}

fn stop_invocation(p: &Params) -> Result<AssistantRequest> {
    Ok(AssistantRequest::Stop {
        invoke_id: p.str("InvokeId")?,
        instance_ids: p.repeat_list("InstanceId", MAX_INSTANCES)?,
    })
}

fn cloud_assistant_status(p: &Params) -> Result<AssistantRequest> {
    if let Some(os) = p.opt_str("OSType").filter(|o| !o.eq_ignore_ascii_case("Linux")) {
        return Err(Error::invalid("OSType", format!("{os:?}: ecslab's instances are Linux.")));
    }
    Ok(AssistantRequest::Status {
        instance_ids: p.repeat_list("InstanceId", MAX_INSTANCES)?,
        paging: p.paging(50)?,
    })
}
