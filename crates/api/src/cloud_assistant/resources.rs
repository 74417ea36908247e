//! The resources each Cloud Assistant request acts on, for RAM: commands (`command/{id}`), invocations
//! (`invocation/{InvokeId}`) and the instances a command runs on, as ECS's RAM rules for Cloud Assistant name them
//! (RunCommand: the instances and `command/*`; InvokeCommand: the command and the instances).

use super::AssistantRequest;
use crate::product::ResourceName;

/// The resources of one parsed Cloud Assistant request.
pub fn resources(request: &AssistantRequest) -> Vec<ResourceName> {
    let instances =
        |ids: &[String]| ids.iter().map(|id| ResourceName::new("instance", id)).collect::<Vec<_>>();
    let command = |id: &str| ResourceName::new("command", id);
    match request {
        AssistantRequest::Run(run) => {
            let mut names = instances(&run.instance_ids);
            names.push(ResourceName::any("command"));
            names
        }
        AssistantRequest::Create(_) | AssistantRequest::DescribeCommands { .. } => {
            vec![ResourceName::any("command")]
        }
        AssistantRequest::Invoke(invoke) => {
            let mut names = vec![command(&invoke.command_id)];
            names.extend(instances(&invoke.instance_ids));
            names
        }
        AssistantRequest::Modify(modify) => vec![command(&modify.command_id)],
        AssistantRequest::DeleteCommand { command_id } => vec![command(command_id)],
        AssistantRequest::DescribeInvocations { filter, .. } => {
            vec![ResourceName::new("invocation", filter.invoke_id.as_deref().unwrap_or("*"))]
        }
        AssistantRequest::DescribeResults { invoke_id, .. } => {
            vec![ResourceName::new("invocation", invoke_id.as_deref().unwrap_or("*"))]
        }
        AssistantRequest::Stop { invoke_id, instance_ids } => {
            let mut names = vec![ResourceName::new("invocation", invoke_id)];
            names.extend(instances(instance_ids));
            names
        }
        AssistantRequest::Status { instance_ids, .. } if instance_ids.is_empty() => {
            vec![ResourceName::any("instance")]
        }
        AssistantRequest::Status { instance_ids, .. } => instances(instance_ids),
    }
}

#[cfg(test)]
mod tests {
    use crate::params::Params;

    fn names(action: &str, params: &[(&str, &str)]) -> Vec<String> {
        let params = Params::from_pairs(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let request =
            super::super::parse::parse(action, &params).expect("an assistant action").expect("parses");
        super::resources(&request).iter().map(|r| r.relative()).collect()
    }

    #[test]
    fn invoke_names_the_command_and_each_instance() {
        let got =
            names("InvokeCommand", &[("CommandId", "c-1"), ("InstanceId.1", "i-1"), ("InstanceId.2", "i-2")]);
        assert_eq!(got, ["command/c-1", "instance/i-1", "instance/i-2"]);
    }

    #[test]
    fn stop_names_the_invocation() {
        assert_eq!(names("StopInvocation", &[("InvokeId", "t-1")]), ["invocation/t-1"]);
        assert_eq!(names("DescribeInvocations", &[]), ["invocation/*"]);
    }
}
