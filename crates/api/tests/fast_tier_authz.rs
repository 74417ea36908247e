//! The fast tier of authorization: a RAM user's key through the whole app in process. The denial envelope in
//! JSON, in XML and in PAI's REST envelope, with AccessDeniedDetail; ImplicitDeny and ExplicitDeny; a resource
//! ARN a policy scopes to; RAM's own actions refused with NoPermission; parameters that do not parse refused
//! before any permission is checked. (tests/python/test_ram_matrix.py walks every action through the SDKs.)

mod lab;

use lab::{assert_error, assert_ok, Lab, Scheme, ECS, MTS};
use serde_json::{json, Value};

const RAM: &str = "2015-05-01";

/// The lab's root key makes user `name` with one custom policy; the lab then signs with the user's key.
async fn become_user(lab: &mut Lab, name: &str, policy: Value) {
    assert_ok(&lab.rpc(RAM, "CreateUser", &[("UserName", name)]).await);
    let key = assert_ok(&lab.rpc(RAM, "CreateAccessKey", &[("UserName", name)]).await)["AccessKey"].clone();
    let text = policy.to_string();
    assert_ok(&lab.rpc(RAM, "CreatePolicy", &[("PolicyName", name), ("PolicyDocument", &text)]).await);
    let attach = [("PolicyType", "Custom"), ("PolicyName", name), ("UserName", name)];
    assert_ok(&lab.rpc(RAM, "AttachPolicyToUser", &attach).await);
    lab.key_id = key["AccessKeyId"].as_str().unwrap().to_string();
    lab.secret = key["AccessKeySecret"].as_str().unwrap().to_string();
}

fn allow(action: Value, resource: &str) -> Value {
    json!({"Effect": "Allow", "Action": action, "Resource": resource})
}

#[track_caller]
fn assert_denied(reply: &lab::Reply, code: &str, kind: &str, action: &str) -> Value {
    assert_error(reply, 403, code);
    let detail = &reply.json["AccessDeniedDetail"];
    assert_eq!(detail["NoPermissionType"], kind, "{}", reply.text);
    assert_eq!(detail["AuthAction"], action, "{}", reply.text);
    assert_eq!(detail["AuthPrincipalType"], "SubUser", "{}", reply.text);
    assert_eq!(detail["AuthPrincipalOwnerId"], "1000000000000001", "{}", reply.text);
    detail.clone()
}

#[tokio::test]
async fn a_denial_in_json_and_xml_names_the_action() {
    let mut lab = Lab::new().await;
    let policy = json!({"Version": "1", "Statement": [
        allow(json!(["ecs:Describe*"]), "*"),
        {"Effect": "Deny", "Action": "ecs:DescribeDisks", "Resource": "*"}
    ]});
    become_user(&mut lab, "reader", policy).await;
    assert_ok(&lab.rpc(ECS, "DescribeInstances", &[]).await);
    assert_denied(
        &lab.rpc(ECS, "StartInstance", &[("InstanceId", "i-nope")]).await,
        "Forbidden.RAM",
        "ImplicitDeny",
        "ecs:StartInstance",
    );
    assert_denied(
        &lab.acs3(ECS, "DescribeDisks", &[]).await,
        "Forbidden.RAM",
        "ExplicitDeny",
        "ecs:DescribeDisks",
    );
    assert_denied(
        &lab.rpc(MTS, "AddPipeline", &[("Name", "p")]).await,
        "Forbidden.RAM",
        "ImplicitDeny",
        "mts:AddPipeline",
    );

    let reply = lab.rpc(ECS, "StopInstance", &[("InstanceId", "i-nope"), ("Format", "XML")]).await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    let doc = roxmltree::Document::parse(&reply.text).unwrap();
    let text_of = |name: &str| doc.descendants().find(|n| n.has_tag_name(name)).and_then(|n| n.text());
    assert_eq!(text_of("Code"), Some("Forbidden.RAM"));
    assert_eq!(text_of("NoPermissionType"), Some("ImplicitDeny"));
    assert_eq!(text_of("AuthAction"), Some("ecs:StopInstance"));
    assert!(text_of("EncodedDiagnosticMessage").is_some_and(|m| !m.is_empty()), "{}", reply.text);
}

#[tokio::test]
async fn parameters_that_do_not_parse_are_refused_before_permissions() {
    let mut lab = Lab::new().await;
    become_user(
        &mut lab,
        "nobody",
        json!({"Version": "1", "Statement": [allow(json!("ecs:DescribeRegions"), "*")]}),
    )
    .await;
    assert_error(&lab.rpc(ECS, "StartInstance", &[]).await, 400, "MissingParameter");
    assert_denied(
        &lab.rpc(ECS, "StartInstance", &[("InstanceId", "i-1")]).await,
        "Forbidden.RAM",
        "ImplicitDeny",
        "ecs:StartInstance",
    );
}

#[tokio::test]
async fn a_policy_scoped_to_one_disk_allows_that_disk_only() {
    let mut lab = Lab::new().await;
    let policy = json!({"Version": "1", "Statement": [
        allow(json!("ecs:ResizeDisk"), "acs:ecs:*:*:disk/d-mine")
    ]});
    become_user(&mut lab, "resizer", policy).await;
    // Allowed: the action runs and finds no such disk.
    assert_error(
        &lab.rpc(ECS, "ResizeDisk", &[("DiskId", "d-mine"), ("NewSize", "40")]).await,
        404,
        "InvalidDiskId.NotFound",
    );
    let reply = lab.rpc(ECS, "ResizeDisk", &[("DiskId", "d-other"), ("NewSize", "40")]).await;
    let detail = assert_denied(&reply, "Forbidden.RAM", "ImplicitDeny", "ecs:ResizeDisk");
    let encoded = detail["EncodedDiagnosticMessage"].as_str().unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).unwrap();
    let diagnostic: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(diagnostic["AuthResource"], "acs:ecs:local:1000000000000001:disk/d-other");
}

#[tokio::test]
async fn rest_and_ram_denials_use_their_products_envelope_and_code() {
    let mut lab = Lab::new().await;
    become_user(&mut lab, "ecs-only", json!({"Version": "1", "Statement": [allow(json!("ecs:*"), "*")]}))
        .await;
    let reply = lab
        .rest(Scheme::RoaV1, "GET", "/api/v2/instances/dsw-1/snapshots", "ListInstanceSnapshot", None)
        .await;
    assert_eq!((reply.status.as_u16(), reply.code()), (403, "Forbidden.RAM"), "{}", reply.text);
    assert_eq!(
        reply.json["AccessDeniedDetail"]["AuthAction"], "paidsw:ListInstanceSnapshot",
        "{}",
        reply.text
    );
    assert_eq!(reply.json["Success"], false, "{}", reply.text);
    assert_denied(&lab.rpc(RAM, "ListUsers", &[]).await, "NoPermission", "ImplicitDeny", "ram:ListUsers");
}
