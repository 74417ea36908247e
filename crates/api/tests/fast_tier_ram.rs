//! The fast tier for RAM 2015-05-01: the parameter and entity errors of its actions with RAM's codes and HTTP
//! statuses (400 bad input, 404 EntityNotExist, 409 EntityAlreadyExists / DeleteConflict / LimitExceeded), in
//! both RPC signature schemes. (Everything else, through the official SDK, is tests/python/test_ram.py.)

mod lab;

use lab::{assert_ok, Lab, Scheme};

const RAM: &str = "2015-05-01";
const DOC: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;

type Case = (&'static str, &'static [(&'static str, &'static str)], u16, &'static str);

const CASES: &[Case] = &[
    ("CreateUser", &[], 400, "MissingParameter"),
    ("CreateUser", &[("UserName", "bad name")], 400, "InvalidParameter.UserName.InvalidChars"),
    ("CreateUser", &[("UserName", "u"), ("MobilePhone", "123")], 400, "InvalidParameter.MobilePhone.Format"),
    ("GetUser", &[("UserName", "nobody")], 404, "EntityNotExist.User"),
    ("DeleteUser", &[("UserName", "nobody")], 404, "EntityNotExist.User"),
    ("ListUsers", &[("MaxItems", "0")], 400, "InvalidParameter"),
    ("CreateAccessKey", &[("UserName", "nobody")], 404, "EntityNotExist.User"),
    (
        "UpdateAccessKey",
        &[("UserName", "u"), ("UserAccessKeyId", "k"), ("Status", "x")],
        400,
        "InvalidParameter.Status",
    ),
    ("CreatePolicy", &[("PolicyName", "p"), ("PolicyDocument", "{}")], 400, "MalformedPolicyDocument"),
    (
        "CreatePolicy",
        &[("PolicyName", "p q"), ("PolicyDocument", DOC)],
        400,
        "InvalidParameter.PolicyName.InvalidChars",
    ),
    ("GetPolicy", &[("PolicyName", "p"), ("PolicyType", "Custom")], 404, "EntityNotExist.Policy"),
    ("DeletePolicy", &[("PolicyName", "p")], 404, "EntityNotExist.Policy"),
    ("CreatePolicyVersion", &[("PolicyName", "p"), ("PolicyDocument", DOC)], 404, "EntityNotExist.Policy"),
    (
        "AttachPolicyToUser",
        &[("UserName", "nobody"), ("PolicyName", "AdministratorAccess"), ("PolicyType", "System")],
        404,
        "EntityNotExist.User",
    ),
    (
        "AttachPolicyToGroup",
        &[("GroupName", "g"), ("PolicyName", "Nope"), ("PolicyType", "System")],
        404,
        "EntityNotExist.Policy",
    ),
    ("AddUserToGroup", &[("UserName", "nobody"), ("GroupName", "g")], 404, "EntityNotExist.User"),
    ("CreateRole", &[("RoleName", "r"), ("AssumeRolePolicyDocument", DOC)], 400, "MalformedPolicyDocument"),
    ("GetRole", &[("RoleName", "r")], 404, "EntityNotExist.Role"),
    ("DeleteRole", &[("RoleName", "r")], 404, "EntityNotExist.Role"),
];

#[tokio::test]
async fn every_ram_error_path() {
    let lab = Lab::new().await;
    let mut wrong = Vec::new();
    for (action, params, status, code) in CASES {
        for scheme in [Scheme::RpcV1, Scheme::Acs3] {
            let reply = lab.call(scheme, RAM, action, params).await;
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
async fn conflicts_answer_409() {
    let lab = Lab::new().await;
    assert_ok(&lab.rpc(RAM, "CreateUser", &[("UserName", "ops")]).await);
    let again = lab.rpc(RAM, "CreateUser", &[("UserName", "OPS")]).await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "EntityAlreadyExists.User"), "{}", again.text);
    assert_ok(&lab.rpc(RAM, "CreateAccessKey", &[("UserName", "ops")]).await);
    let conflict = lab.rpc(RAM, "DeleteUser", &[("UserName", "ops")]).await;
    assert_eq!(
        (conflict.status.as_u16(), conflict.code()),
        (409, "DeleteConflict.User.AccessKey"),
        "{}",
        conflict.text
    );
    let listed = lab.rpc(RAM, "ListPolicies", &[("PolicyType", "System"), ("MaxItems", "2")]).await;
    let body = assert_ok(&listed);
    assert_eq!(body["IsTruncated"], true);
    assert_eq!(body["Policies"]["Policy"].as_array().map(Vec::len), Some(2));
    assert!(body["Marker"].is_string());
}
