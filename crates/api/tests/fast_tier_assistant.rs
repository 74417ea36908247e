//! The fast tier for Cloud Assistant: every parameter error of RunCommand, CreateCommand,
//! InvokeCommand, ModifyCommand, DeleteCommand, DescribeInvocations, DescribeInvocationResults,
//! StopInvocation and DescribeCloudAssistantStatus, with its code and HTTP status, in both RPC
//! signature schemes; and the empty lists in ECS's shapes. (Runs on real guests are in
//! tests/python/test_cloud_assistant.py.)

mod lab;

use lab::{assert_ok, Lab, Scheme, ECS};

type Case = (&'static str, &'static [(&'static str, &'static str)], u16, &'static str);

const SHELL: (&str, &str) = ("Type", "RunShellScript");
const ID: (&str, &str) = ("CommandContent", "id");
const ONE: (&str, &str) = ("InstanceId.1", "i-nope");

const CASES: &[Case] = &[
    ("RunCommand", &[ID, ONE], 400, "MissingParameter"),
    ("RunCommand", &[SHELL, ONE], 400, "MissingParameter"),
    ("RunCommand", &[SHELL, ID], 400, "MissingParameter"),
    ("RunCommand", &[("Type", "RunBatScript"), ID, ONE], 403, "InvalidInstanceId.OSTypeUnsupported"),
    ("RunCommand", &[("Type", "RunRubyScript"), ID, ONE], 403, "InvalidCmdType.NotFound"),
    ("RunCommand", &[SHELL, ID, ONE], 404, "InvalidInstanceId.NotFound"),
    ("RunCommand", &[SHELL, ID, ONE, ("InstanceId.2", "i-nope")], 400, "InvalidParameter"),
    (
        "RunCommand",
        &[SHELL, ("CommandContent", "%%%"), ("ContentEncoding", "Base64"), ONE],
        400,
        "InvalidCommandContent.DecodeError",
    ),
    ("RunCommand", &[SHELL, ID, ONE, ("Timeout", "0")], 400, "InvalidParameter"),
    ("RunCommand", &[SHELL, ID, ONE, ("Timeout", "86401")], 400, "InvalidParameter"),
    ("RunCommand", &[SHELL, ID, ONE, ("Parameters", "[1]")], 400, "InvalidParameter"),
    ("RunCommand", &[SHELL, ID, ONE, ("Frequency", "rate(5m)")], 400, "InvalidParameter"),
    ("RunCommand", &[SHELL, ID, ONE, ("RepeatMode", "Period")], 400, "InvalidParameter"),
    ("RunCommand", &[SHELL, ID, ONE, ("ContainerName", "web")], 400, "InvalidParameter"),
    ("RunCommand", &[SHELL, ID, ONE, ("TerminationMode", "Process")], 400, "InvalidParameter"),
    (
        "RunCommand",
        &[SHELL, ("EnableParameter", "true"), ("CommandContent", "echo {{a b}}"), ONE],
        400,
        "InvalidParameters.KeyMalformed",
    ),
    ("CreateCommand", &[SHELL, ID], 400, "MissingParameter"),
    (
        "CreateCommand",
        &[SHELL, ID, ("Name", "n"), ("Type", "RunPowerShellScript")],
        403,
        "InvalidCmdType.NotFound",
    ),
    ("InvokeCommand", &[ONE], 400, "MissingParameter"),
    ("InvokeCommand", &[("CommandId", "c-nope")], 400, "MissingParameter"),
    ("InvokeCommand", &[("CommandId", "c-nope"), ONE], 404, "InvalidCommandId.NotFound"),
    ("ModifyCommand", &[], 400, "MissingParameter"),
    ("ModifyCommand", &[("CommandId", "c-nope")], 404, "InvalidCommandId.NotFound"),
    ("DeleteCommand", &[], 400, "MissingParameter"),
    ("DeleteCommand", &[("CommandId", "c-nope")], 404, "InvalidCommandId.NotFound"),
    ("DescribeCommands", &[("PageSize", "51")], 400, "InvalidParameter"),
    ("DescribeInvocations", &[("ContentEncoding", "Hex")], 400, "InvalidParameter"),
    ("DescribeInvocations", &[("Timed", "true")], 400, "InvalidParameter"),
    ("DescribeInvocationResults", &[("IncludeHistory", "true")], 400, "InvalidParameter"),
    ("StopInvocation", &[], 400, "MissingParameter"),
    ("StopInvocation", &[("InvokeId", "t-nope")], 404, "InvalidInvokeId.NotFound"),
    ("DescribeCloudAssistantStatus", &[ONE], 404, "InvalidInstanceId.NotFound"),
    ("DescribeCloudAssistantStatus", &[("OSType", "Windows")], 400, "InvalidParameter"),
];

#[tokio::test]
async fn every_cloud_assistant_error_path() {
    let lab = Lab::new().await;
    let mut wrong = Vec::new();
    for (action, params, status, code) in CASES {
        for scheme in [Scheme::RpcV1, Scheme::Acs3] {
            let reply = lab.call(scheme, ECS, action, params).await;
            if (reply.status.as_u16(), reply.code()) != (*status, *code)
                || !reply.json["RequestId"].is_string()
            {
                wrong.push(format!("{action} {params:?} ({scheme:?}): {} {}", reply.status, reply.text));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cases differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test]
async fn content_and_parameter_limits() {
    let lab = Lab::new().await;
    let big = "x".repeat(18_500); // 24.7 KB once Base64-encoded
    let kept_big = "x".repeat(14_000); // 18.7 KB once Base64-encoded: too big to keep, fine once
    for (params, code) in [
        (vec![SHELL, ("CommandContent", big.as_str()), ONE], "InvalidCommandContent.LengthLimitExceeded"),
        (
            vec![SHELL, ("CommandContent", kept_big.as_str()), ONE, ("KeepCommand", "true")],
            "InvalidCommandContent.LengthLimitExceeded",
        ),
        (vec![SHELL, ("CommandContent", kept_big.as_str()), ONE], "InvalidInstanceId.NotFound"),
    ] {
        let reply = lab.rpc(ECS, "RunCommand", &params).await;
        assert_eq!(reply.code(), code, "{}", reply.text);
    }
    // 101 instances: one too many for an invocation.
    let keys: Vec<String> = (1..=101).map(|n| format!("InstanceId.{n}")).collect();
    let ids: Vec<String> = (1..=101).map(|n| format!("i-{n:020}")).collect();
    let mut params = vec![SHELL, ID];
    params.extend(keys.iter().zip(&ids).map(|(k, v)| (k.as_str(), v.as_str())));
    let reply = lab.rpc(ECS, "RunCommand", &params).await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (403, "InvalidInstanceId.CountLimitExceeded"),
        "{}",
        reply.text
    );
    let long_name = "n".repeat(129);
    let reply = lab.rpc(ECS, "CreateCommand", &[SHELL, ID, ("Name", long_name.as_str())]).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (403, "CmdName.ExceedLimit"), "{}", reply.text);
    // A command with parameters: Parameters must name them, as strings.
    let reply = lab
        .rpc(
            ECS,
            "CreateCommand",
            &[SHELL, ("Name", "p"), ("EnableParameter", "true"), ("CommandContent", "echo {{who}}")],
        )
        .await;
    let command_id = assert_ok(&reply)["CommandId"].as_str().unwrap().to_string();
    for (parameters, status, code) in [
        (r#"{"whom":"x"}"#, 400, "InvalidParameters.KeyNotMatch"),
        (r#"{"who":1}"#, 403, "InvalidParameters.ValueTypeUnsupported"),
        (r#"{"":"x"}"#, 400, "InvalidParameters.KeyEmpty"),
        (r#"{"who":"a","WHO":"b"}"#, 400, "InvalidParameters.KeyDuplicate"),
    ] {
        let reply = lab
            .rpc(ECS, "InvokeCommand", &[("CommandId", command_id.as_str()), ONE, ("Parameters", parameters)])
            .await;
        assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{parameters}: {}", reply.text);
    }
    let listed = lab.rpc(ECS, "DescribeCommands", &[]).await;
    let body = assert_ok(&listed);
    assert_eq!(body["TotalCount"], 1);
    assert_eq!(body["Commands"]["Command"][0]["ParameterNames"]["ParameterName"][0], "who");
    assert_eq!(body["Commands"]["Command"][0]["CommandContent"], "ZWNobyB7e3dob319");
}

#[tokio::test]
async fn empty_lists_in_ecs_shapes() {
    let lab = Lab::new().await;
    let reply = lab.rpc(ECS, "DescribeInvocations", &[]).await;
    let body = assert_ok(&reply);
    assert_eq!(body["Invocations"]["Invocation"], serde_json::json!([]));
    let reply = lab.rpc(ECS, "DescribeInvocationResults", &[]).await;
    let body = assert_ok(&reply);
    assert_eq!(body["Invocation"]["InvocationResults"]["InvocationResult"], serde_json::json!([]));
    let reply = lab.rpc(ECS, "DescribeCloudAssistantStatus", &[]).await;
    let body = assert_ok(&reply);
    assert_eq!(
        body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"],
        serde_json::json!([])
    );
}
