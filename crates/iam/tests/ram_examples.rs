//! The evaluator against the examples of Alibaba Cloud's documentation: each case names the page its policy
//! comes from. Values masked in the docs (`116.62.XX.XX`) are filled with addresses of the same shape.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ecslab_iam::{
    evaluate, system_policy, Action, Arn, AttachedPolicy, Caller, ContextValue, Decision, DocumentKind,
    Grant, NoPermissionType, Policies, PolicyDocument, PolicySource, PolicyType, RequestContext, Resource,
};

const ACCOUNT: &str = "1234567890123456";

fn policy(name: &str, text: &str) -> AttachedPolicy {
    AttachedPolicy {
        name: name.to_owned(),
        source: PolicySource::Custom,
        document: PolicyDocument::parse(text).unwrap_or_else(|e| panic!("{name}: {e}")),
    }
}

fn session(text: &str) -> AttachedPolicy {
    AttachedPolicy {
        name: "session".to_owned(),
        source: PolicySource::Session,
        document: PolicyDocument::parse_as(text, DocumentKind::SessionPolicy).unwrap(),
    }
}

fn user() -> Caller {
    Caller::RamUser { user_id: "2000001".to_owned(), user_name: "alice".to_owned() }
}

fn request(action: &str) -> RequestContext {
    RequestContext::new(ACCOUNT, user(), Action::parse(action).unwrap())
}

fn arn(s: &str) -> Resource {
    Resource::new(Arn::parse(s).unwrap())
}

fn ecs_instance(id: &str) -> Resource {
    arn(&format!("acs:ecs:cn-hangzhou:{ACCOUNT}:instance/{id}"))
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Explicit,
    Implicit,
}

fn outcome(d: &Decision) -> Want {
    match d {
        Decision::Allowed(_) => Want::Allow,
        Decision::Denied(den) if den.no_permission_type == NoPermissionType::ExplicitDeny => Want::Explicit,
        Decision::Denied(_) => Want::Implicit,
    }
}

fn check(name: &str, policies: &[&AttachedPolicy], ctx: RequestContext, want: Want) -> Decision {
    let d = evaluate(&ctx, Policies { identity: policies, session: None });
    assert_eq!(outcome(&d), want, "{name}: {d:?}");
    d
}

/// RAM "Conditional operators", StringEquals: manage only the ECS instances tagged team:dev.
#[test]
fn conditional_operators_string_equals_resource_tag() {
    let p = policy(
        "team-dev",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*",
            "Condition":{"StringEquals":{"acs:ResourceTag/team":["dev"]}}}]}"#,
    );
    let cases = [
        ("tagged team:dev", ecs_instance("i-1").with_tag("team", "dev"), Want::Allow),
        ("tagged team:ops", ecs_instance("i-2").with_tag("team", "ops"), Want::Implicit),
        ("tag value case differs", ecs_instance("i-3").with_tag("team", "Dev"), Want::Implicit),
        ("tag key case differs", ecs_instance("i-4").with_tag("Team", "dev"), Want::Implicit),
        ("untagged", ecs_instance("i-5"), Want::Implicit),
    ];
    for (name, resource, want) in cases {
        check(name, &[&p], request("ecs:StopInstance").resource(resource), want);
    }
}

/// RAM "Conditional operators", StringLike: list only the objects under myphotos/hangzhou/2015/.
#[test]
fn conditional_operators_string_like_prefix() {
    let p = policy(
        "photos",
        r#"{"Version":"1","Statement":[
            {"Effect":"Allow","Action":["oss:GetObject"],"Resource":["acs:oss:*:*:myphotos/hangzhou/2015/*"]},
            {"Effect":"Allow","Action":["oss:ListObjects"],"Resource":["acs:oss:*:*:myphotos"],
             "Condition":{"StringLike":{"oss:Prefix":"hangzhou/2015/*"}}}]}"#,
    );
    let bucket = || arn(&format!("acs:oss:cn-hangzhou:{ACCOUNT}:myphotos"));
    let object = |k: &str| arn(&format!("acs:oss:cn-hangzhou:{ACCOUNT}:myphotos/{k}"));
    let prefix = |p: &str| ContextValue::Str(p.to_owned());
    let cases = [
        ("get in 2015", request("oss:GetObject").resource(object("hangzhou/2015/a.jpg")), Want::Allow),
        ("get in 2016", request("oss:GetObject").resource(object("hangzhou/2016/a.jpg")), Want::Implicit),
        (
            "list 2015",
            request("oss:ListObjects").resource(bucket()).value("oss:Prefix", prefix("hangzhou/2015/")),
            Want::Allow,
        ),
        (
            "list 2015/sub",
            request("oss:ListObjects").resource(bucket()).value("oss:Prefix", prefix("hangzhou/2015/x/")),
            Want::Allow,
        ),
        (
            "list beijing",
            request("oss:ListObjects").resource(bucket()).value("oss:Prefix", prefix("beijing/")),
            Want::Implicit,
        ),
        ("list without prefix", request("oss:ListObjects").resource(bucket()), Want::Implicit),
    ];
    for (name, ctx, want) in cases {
        check(name, &[&p], ctx, want);
    }
}

/// RAM "Policy elements", Action: `oss:ListBuckets`, `ecs:Describe*`, `rds:Describe*`; action values are
/// "not case-sensitive in most cases", and the order of the list does not matter.
#[test]
fn policy_elements_action_list() {
    let p = policy(
        "readers",
        r#"{"Version":"1","Statement":[{"Effect":"Allow",
            "Action":["oss:ListBuckets","ecs:Describe*","rds:Describe*"],"Resource":"*"}]}"#,
    );
    let q = policy(
        "readers-reordered",
        r#"{"Version":"1","Statement":[{"Effect":"Allow",
            "Action":["rds:Describe*","ecs:Describe*","oss:ListBuckets"],"Resource":"*"}]}"#,
    );
    let cases = [
        ("ecs:DescribeInstances", Want::Allow),
        ("ecs:describeinstances", Want::Allow),
        ("rds:DescribeDBInstances", Want::Allow),
        ("oss:ListBuckets", Want::Allow),
        ("ecs:CreateSnapshot", Want::Implicit),
        ("oss:ListObjects", Want::Implicit),
    ];
    for (action, want) in cases {
        check(action, &[&p], request(action).resource(ecs_instance("i-1")), want);
        check(action, &[&q], request(action).resource(ecs_instance("i-1")), want);
    }
}

/// RAM "Policy elements", NotAction: allow every operation except RAM's.
#[test]
fn policy_elements_not_action() {
    let p = policy(
        "all-but-ram",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"ram:*","Resource":"*"}]}"#,
    );
    check("ecs", &[&p], request("ecs:CreateSnapshot").resource(ecs_instance("i-1")), Want::Allow);
    check("vpc", &[&p], request("vpc:CreateVpc"), Want::Allow);
    check(
        "ram",
        &[&p],
        request("ram:CreateUser").resource(arn(&format!("acs:ram::{ACCOUNT}:user/*"))),
        Want::Implicit,
    );
    check("RAM upper", &[&p], request("RAM:CreateUser"), Want::Implicit);
}

/// RAM "Policy elements", Resource: `acs:ecs:*:*:instance/inst-001` names one instance in any region.
#[test]
fn policy_elements_resource() {
    let p = policy(
        "one-instance",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*",
            "Resource":["acs:ecs:*:*:instance/inst-001","acs:ecs:*:*:disk/*"]}]}"#,
    );
    let cases = [
        ("the instance", "acs:ecs:cn-hangzhou:{A}:instance/inst-001", Want::Allow),
        ("in another region", "acs:ecs:cn-beijing:{A}:instance/inst-001", Want::Allow),
        ("another instance", "acs:ecs:cn-hangzhou:{A}:instance/inst-002", Want::Implicit),
        ("a disk", "acs:ecs:cn-hangzhou:{A}:disk/d-1", Want::Allow),
        ("a snapshot", "acs:ecs:cn-hangzhou:{A}:snapshot/s-1", Want::Implicit),
    ];
    for (name, a, want) in cases {
        check(name, &[&p], request("ecs:StartInstance").resource(arn(&a.replace("{A}", ACCOUNT))), want);
    }
}

/// RAM "Policy elements", Condition (and "Policy evaluation logic", conditions AND'ed, values OR'ed): allowed
/// only before a time and from one of two networks.
#[test]
fn policy_elements_condition_time_and_source_ip() {
    let p = policy(
        "oss-window",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*",
            "Condition":{"DateLessThan":{"acs:CurrentTime":"2019-07-16T12:00:00+08:00"},
                         "IpAddress":{"acs:SourceIp":["42.120.88.0/24","42.120.66.0/24"]}}}]}"#,
    );
    let ctx = |t: &str, from: &str| request("oss:GetObject").current_time(time(t)).source_ip(ip(from));
    let cases = [
        ("before, first network", ctx("2019-07-16T03:59:59Z", "42.120.88.7"), Want::Allow),
        ("before, second network", ctx("2019-07-15T00:00:00Z", "42.120.66.250"), Want::Allow),
        ("at the limit", ctx("2019-07-16T04:00:00Z", "42.120.88.7"), Want::Implicit),
        ("after", ctx("2019-07-17T00:00:00Z", "42.120.88.7"), Want::Implicit),
        ("other network", ctx("2019-07-15T00:00:00Z", "42.120.77.1"), Want::Implicit),
        (
            "no source address",
            request("oss:GetObject").current_time(time("2019-07-15T00:00:00Z")),
            Want::Implicit,
        ),
    ];
    for (name, c, want) in cases {
        check(name, &[&p], c, want);
    }
}

/// KMS "Policy condition keys", acs:SourceIp: GenerateDataKey only from 116.62.XX.XX/24 (an IPv6 address is one
/// of the documented values too).
#[test]
fn kms_condition_keys_source_ip() {
    let p = policy(
        "kms-from-office",
        r#"{"Statement":[{"Action":"kms:GenerateDataKey","Effect":"Allow","Resource":"*",
            "Condition":{"IpAddress":{"acs:SourceIp":"116.62.10.0/24"}}}],"Version":"1"}"#,
    );
    check("inside", &[&p], request("kms:GenerateDataKey").source_ip(ip("116.62.10.9")), Want::Allow);
    check("outside", &[&p], request("kms:GenerateDataKey").source_ip(ip("116.62.11.9")), Want::Implicit);
    check("v6", &[&p], request("kms:GenerateDataKey").source_ip(ip("2001:db8::1")), Want::Implicit);
    let v6 = policy(
        "kms-v6",
        r#"{"Version":"1","Statement":[{"Action":"kms:*","Effect":"Allow","Resource":"*",
            "Condition":{"IpAddress":{"acs:SourceIp":"2001:0db8:85a3::/48"}}}]}"#,
    );
    check("v6 inside", &[&v6], request("kms:Decrypt").source_ip(ip("2001:db8:85a3::8a2e:1")), Want::Allow);
}

/// RAM "Policy evaluation logic": an explicit Deny in any policy overrides every Allow; without an Allow the
/// request is implicitly denied (deny by default).
#[test]
fn policy_evaluation_explicit_deny_overrides_allow() {
    let admin = system_policy("AdministratorAccess").unwrap();
    let no_snapshots = policy(
        "no-snapshots",
        r#"{"Version":"1","Statement":[{"Sid":"NoSnap","Effect":"Deny","Action":"ecs:*Snapshot*","Resource":"*"}]}"#,
    );
    let d = check(
        "deny wins",
        &[admin, &no_snapshots],
        request("ecs:CreateSnapshot").resource(ecs_instance("i-1")),
        Want::Explicit,
    );
    let Decision::Denied(den) = d else { unreachable!() };
    let s = den.statement.unwrap();
    assert_eq!((s.policy_name.as_str(), s.statement, s.sid.as_deref()), ("no-snapshots", 0, Some("NoSnap")));
    assert_eq!(den.policy_type, PolicyType::AccountLevelIdentityBasedPolicy);
    check(
        "others pass",
        &[admin, &no_snapshots],
        request("ecs:StartInstance").resource(ecs_instance("i-1")),
        Want::Allow,
    );
    check("order does not matter", &[&no_snapshots, admin], request("ecs:DeleteSnapshot"), Want::Explicit);
    check("deny by default", &[], request("ecs:StartInstance"), Want::Implicit);
    check("a deny alone allows nothing", &[&no_snapshots], request("ecs:StartInstance"), Want::Implicit);
}

/// RAM "Conditional operators", Bool, with the common key acs:SecureTransport: deny plain HTTP.
#[test]
fn bool_secure_transport() {
    let admin = system_policy("AdministratorAccess").unwrap();
    let https_only = policy(
        "https-only",
        r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"Bool":{"acs:SecureTransport":"false"}}}]}"#,
    );
    check(
        "http",
        &[admin, &https_only],
        request("ecs:StartInstance").secure_transport(false),
        Want::Explicit,
    );
    check("https", &[admin, &https_only], request("ecs:StartInstance").secure_transport(true), Want::Allow);
    // A Deny whose key the request does not carry does not apply (the positive operator is false).
    check("unknown", &[admin, &https_only], request("ecs:StartInstance"), Want::Allow);
}

/// RAM "Conditional operators", Number and Date: numeric bounds and a validity window.
#[test]
fn numeric_and_date_operators() {
    let p = policy(
        "window",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:CreateDisk","Resource":"*",
            "Condition":{"NumericLessThanEquals":{"ecs:DiskSize":"100"},
                         "DateGreaterThanEquals":{"acs:CurrentTime":"2026-01-01T00:00:00Z"},
                         "DateLessThan":{"acs:CurrentTime":"2027-01-01T00:00:00+08:00"}}}]}"#,
    );
    let ctx = |size: f64, t: &str| {
        request("ecs:CreateDisk").value("ecs:DiskSize", ContextValue::Number(size)).current_time(time(t))
    };
    check("in bounds", &[&p], ctx(100.0, "2026-12-06T12:00:00Z"), Want::Allow);
    check("too big", &[&p], ctx(100.5, "2026-12-06T12:00:00Z"), Want::Implicit);
    check("too early", &[&p], ctx(20.0, "2025-12-31T23:59:59Z"), Want::Implicit);
    check("too late (zone honoured)", &[&p], ctx(20.0, "2026-12-31T16:00:00Z"), Want::Implicit);
    check("just in time (zone honoured)", &[&p], ctx(20.0, "2026-12-31T15:59:59Z"), Want::Allow);
}

/// Negated operators: StringNotEquals holds when the value is none of the listed ones, and when the request
/// carries no such key; NotIpAddress likewise for networks.
#[test]
fn negated_operators() {
    let admin = system_policy("AdministratorAccess").unwrap();
    let fence = policy(
        "fence",
        r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"ecs:*","Resource":"*",
            "Condition":{"NotIpAddress":{"acs:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}}]}"#,
    );
    check("inside", &[admin, &fence], request("ecs:StartInstance").source_ip(ip("10.1.2.3")), Want::Allow);
    check(
        "second net",
        &[admin, &fence],
        request("ecs:StartInstance").source_ip(ip("192.168.9.9")),
        Want::Allow,
    );
    check("outside", &[admin, &fence], request("ecs:StartInstance").source_ip(ip("8.8.8.8")), Want::Explicit);
    check("no address", &[admin, &fence], request("ecs:StartInstance"), Want::Explicit);
    let only_dev = policy(
        "only-dev",
        r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"ecs:*","Resource":"*",
            "Condition":{"StringNotEquals":{"ecs:tag/env":["dev","test"]}}}]}"#,
    );
    let tagged = |v: &str| request("ecs:StopInstance").resource(ecs_instance("i-1").with_tag("env", v));
    check("dev", &[admin, &only_dev], tagged("dev"), Want::Allow);
    check("test", &[admin, &only_dev], tagged("test"), Want::Allow);
    check("prod", &[admin, &only_dev], tagged("prod"), Want::Explicit);
    check(
        "untagged",
        &[admin, &only_dev],
        request("ecs:StopInstance").resource(ecs_instance("i-1")),
        Want::Explicit,
    );
    // ecs:tag/K falls back to the request's tags (RunInstances' Tag.N) when the resource has none.
    check(
        "request tag",
        &[admin, &only_dev],
        request("ecs:RunInstances").resource(ecs_instance("*")).request_tag("env", "dev"),
        Want::Allow,
    );
}

/// ECS "System policies for ECS": AliyunECSReadOnlyAccess is ecs:Describe*, ecs:List* and two VPC reads;
/// AliyunECSFullAccess is ecs:* and the same VPC reads.
#[test]
fn ecs_system_policies() {
    let ro = system_policy("AliyunECSReadOnlyAccess").unwrap();
    let full = system_policy("AliyunECSFullAccess").unwrap();
    let cases = [
        ("ecs:DescribeInstances", Want::Allow, Want::Allow),
        ("ecs:ListTagResources", Want::Allow, Want::Allow),
        ("vpc:DescribeVpcs", Want::Allow, Want::Allow),
        ("vpc:DescribeVSwitches", Want::Allow, Want::Allow),
        ("ecs:GetInstanceScreenshot", Want::Implicit, Want::Allow),
        ("ecs:CreateSnapshot", Want::Implicit, Want::Allow),
        ("vpc:CreateVpc", Want::Implicit, Want::Implicit),
        ("mts:SubmitSnapshotJob", Want::Implicit, Want::Implicit),
    ];
    for (action, ro_want, full_want) in cases {
        check(action, &[ro], request(action).resource(ecs_instance("i-1")), ro_want);
        check(action, &[full], request(action).resource(ecs_instance("i-1")), full_want);
    }
}

/// RAM "How RAM evaluates policies when a role is assumed" and STS AssumeRole's Policy: the session's
/// permissions are the intersection of the role's policies and the session policy; a Deny in either denies.
#[test]
fn assumed_role_session_policy_narrows() {
    let role_policy = system_policy("AliyunECSFullAccess").unwrap();
    let snapshots_only = session(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["ecs:CreateSnapshot","ecs:Describe*","vpc:*"],"Resource":"*"}]}"#,
    );
    let no_describe = session(
        r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"ecs:Describe*","Resource":"*"},
        {"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    let role = Caller::AssumedRole { role_name: "ops".to_owned(), session_name: "s1".to_owned() };
    let ctx = |action: &str| RequestContext::new(ACCOUNT, role.clone(), Action::parse(action).unwrap());
    let run = |action: &str, session: Option<&AttachedPolicy>| {
        evaluate(&ctx(action), Policies { identity: &[role_policy], session })
    };
    assert!(run("ecs:CreateSnapshot", Some(&snapshots_only)).is_allowed());
    assert!(run("ecs:DescribeInstances", Some(&snapshots_only)).is_allowed());
    let d = run("ecs:DeleteInstance", Some(&snapshots_only));
    let Decision::Denied(den) = &d else { panic!("{d:?}") };
    assert_eq!(
        (den.no_permission_type, den.policy_type),
        (NoPermissionType::ImplicitDeny, PolicyType::SessionPolicy)
    );
    // The session allows vpc:*, but the role does not: the intersection does not.
    let d = run("vpc:CreateVpc", Some(&snapshots_only));
    let Decision::Denied(den) = &d else { panic!("{d:?}") };
    assert_eq!(den.policy_type, PolicyType::AccountLevelIdentityBasedPolicy);
    let d = run("ecs:DescribeDisks", Some(&no_describe));
    let Decision::Denied(den) = &d else { panic!("{d:?}") };
    assert_eq!(
        (den.no_permission_type, den.policy_type),
        (NoPermissionType::ExplicitDeny, PolicyType::SessionPolicy)
    );
    assert!(run("ecs:DeleteInstance", None).is_allowed());
}

/// An account's root key passes every check inside its own account; a resource of another account is never
/// allowed, not even with AdministratorAccess.
#[test]
fn root_and_accounts() {
    let root = RequestContext::new(ACCOUNT, Caller::Root, Action::parse("ecs:DeleteInstance").unwrap());
    let d = evaluate(&root.clone().resource(ecs_instance("i-1")), Policies::default());
    assert_eq!(d, Decision::Allowed(Grant::Root));
    let foreign = arn("acs:ecs:cn-hangzhou:999:instance/i-9");
    assert!(!evaluate(&root.resource(foreign.clone()), Policies::default()).is_allowed());
    let admin = system_policy("AdministratorAccess").unwrap();
    check("admin, foreign", &[admin], request("ecs:DeleteInstance").resource(foreign), Want::Implicit);
}

/// Several resources: allowed only when each is; the first denied one is named.
#[test]
fn every_resource_must_be_allowed() {
    let p = policy(
        "one",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:AttachDisk","Resource":["acs:ecs:*:*:instance/i-1","acs:ecs:*:*:disk/d-1"]}]}"#,
    );
    let disk = |id: &str| arn(&format!("acs:ecs:cn-hangzhou:{ACCOUNT}:disk/{id}"));
    check(
        "both",
        &[&p],
        request("ecs:AttachDisk").resource(ecs_instance("i-1")).resource(disk("d-1")),
        Want::Allow,
    );
    let d = check(
        "one not",
        &[&p],
        request("ecs:AttachDisk").resource(ecs_instance("i-1")).resource(disk("d-2")),
        Want::Implicit,
    );
    let Decision::Denied(den) = d else { unreachable!() };
    assert_eq!(den.resource, format!("acs:ecs:cn-hangzhou:{ACCOUNT}:disk/d-2"));
}

/// The AccessDeniedDetail of a denial, with the words RAM's DecodeDiagnosticMessage uses.
#[test]
fn access_denied_detail() {
    let ctx = request("ecs:CreateSnapshot").resource(ecs_instance("i-1"));
    let Decision::Denied(den) = evaluate(&ctx, Policies::default()) else { panic!() };
    let json = serde_json::to_value(den.access_denied_detail(&ctx)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"PolicyType":"AccountLevelIdentityBasedPolicy","AuthPrincipalOwnerId":ACCOUNT,
            "AuthPrincipalType":"SubUser","AuthPrincipalDisplayName":"alice","NoPermissionType":"ImplicitDeny",
            "AuthAction":"ecs:CreateSnapshot","EncodedDiagnosticMessage":""})
    );
    let diag = serde_json::to_value(den.diagnostic(&ctx)).unwrap();
    assert_eq!(diag["ExplicitDeny"], false);
    assert_eq!(diag["AuthResource"], format!("acs:ecs:cn-hangzhou:{ACCOUNT}:instance/i-1"));
}
