//! The policy parsers: RAM policy documents (`PolicyDocument::parse_as`, every kind, through
//! `AttachedPolicy::parse` as the server does) and role trust policies (`TrustPolicy::parse`),
//! from arbitrary text (the seed corpus holds real documents). Whatever parses is also evaluated
//! for a RAM user's request with tags, a source IP and a time, so conditions on odd values run.
#![no_main]

use ecslab_iam::{
    evaluate, Action, Arn, AttachedPolicy, Caller, DocumentKind, Policies, PolicyDocument, PolicySource,
    RequestContext, Resource, TrustPolicy,
};
use libfuzzer_sys::fuzz_target;

fn context() -> RequestContext {
    let caller = Caller::RamUser { user_id: "2000001".into(), user_name: "fuzz".into() };
    let action = Action::parse("ecs:DescribeInstances").expect("a valid action");
    let arn = Arn::parse("acs:ecs:local:1000001:instance/i-fuzz").expect("a valid ARN");
    RequestContext::new("1000001", caller, action)
        .resource(Resource::new(arn).with_tag("env", "prod"))
        .source_ip([127, 0, 0, 1].into())
        .current_time(chrono_now())
        .secure_transport(false)
        .request_tag("team", "a")
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    "2026-12-06T12:00:00Z".parse().expect("a valid time")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in [DocumentKind::Policy, DocumentKind::SessionPolicy, DocumentKind::TrustPolicy] {
        let _ = PolicyDocument::parse_as(text, kind);
    }
    let _ = TrustPolicy::parse(text);
    for source in [PolicySource::Custom, PolicySource::Session] {
        if let Ok(policy) = AttachedPolicy::parse("fuzz", source, text) {
            let identity = [&policy];
            let session = matches!(source, PolicySource::Session).then_some(&policy);
            let _ = evaluate(&context(), Policies { identity: &identity, session });
        }
    }
});
