//! The cost of one evaluation with 0, 10 and 100 attached statements (issue 13's target: p50 under 0.2 ms at
//! 100 statements). A timing test, ignored by default like the project's other measurements that need a quiet
//! machine; run it optimized:
//!
//!     cargo test --release -p ecslab-iam --test bench_eval -- --ignored --nocapture
//!
//! It prints one JSON line per case (p50/p99/max in microseconds) for scripts/bench to collect, and asserts the
//! target. The policies are the unfavourable kind: ten policies of ten statements, wildcards in actions and
//! resources, conditions on the source address, the transport and a tag, and the one Allow that matches is the
//! last statement of the last policy, so every statement is tried twice (once for Deny, once for Allow).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use chrono::Utc;
use ecslab_iam::{
    evaluate, Action, Arn, AttachedPolicy, Caller, Policies, PolicyDocument, PolicySource, RequestContext,
    Resource,
};

const ACCOUNT: &str = "1234567890123456";
const ROUNDS: usize = 20_000;

fn filler(i: usize) -> String {
    let (effect, action, resource, condition) = match i % 5 {
        0 => ("Deny", "ecs:Delete*", "acs:ecs:*:*:instance/i-prod*", ""),
        1 => (
            "Allow",
            "vpc:*",
            "*",
            r#","Condition":{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","172.16.0.0/12"]}}"#,
        ),
        2 => (
            "Allow",
            "ecs:Describe*",
            "acs:ecs:cn-*:*:*",
            r#","Condition":{"Bool":{"acs:SecureTransport":"true"}}"#,
        ),
        3 => ("Deny", "*", "*", r#","Condition":{"StringEquals":{"ecs:tag/env":"frozen"}}"#),
        _ => ("Allow", "mts:*", "acs:mts:*:*:pipeline/*", ""),
    };
    format!(
        r#"{{"Effect":"{effect}","Action":["{action}","ram:Get*"],"Resource":["{resource}"]{condition}}}"#
    )
}

fn policies(statements: usize) -> Vec<AttachedPolicy> {
    let per = 10;
    let count = statements.div_ceil(per);
    (0..count)
        .map(|p| {
            let n = per.min(statements - p * per);
            let mut list: Vec<String> = (0..n).map(|i| filler(p * per + i)).collect();
            if p == count - 1 {
                list.pop();
                list.push(
                    r#"{"Effect":"Allow","Action":"ecs:CreateSnapshot","Resource":"acs:ecs:*:*:instance/*",
                        "Condition":{"StringEquals":{"ecs:tag/env":"dev"}}}"#
                        .to_owned(),
                );
            }
            let text = format!(r#"{{"Version":"1","Statement":[{}]}}"#, list.join(","));
            AttachedPolicy {
                name: format!("policy-{p}"),
                source: PolicySource::Custom,
                document: PolicyDocument::parse(&text).unwrap(),
            }
        })
        .collect()
}

fn context() -> RequestContext {
    let caller = Caller::RamUser { user_id: "2000001".to_owned(), user_name: "alice".to_owned() };
    let arn = Arn::new("ecs", "cn-hangzhou", ACCOUNT, "instance/i-bp1234567890abcdef").unwrap();
    RequestContext::new(ACCOUNT, caller, Action::parse("ecs:CreateSnapshot").unwrap())
        .resource(Resource::new(arn).with_tag("env", "dev").with_tag("team", "ops"))
        .source_ip(IpAddr::V4(Ipv4Addr::new(192, 168, 7, 9)))
        .current_time(Utc::now())
        .secure_transport(false)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn measure(mut f: impl FnMut() -> bool) -> (f64, f64, f64) {
    for _ in 0..1000 {
        black_box(f());
    }
    let mut us: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(|a, b| a.total_cmp(b));
    (percentile(&us, 0.5), percentile(&us, 0.99), us[us.len() - 1])
}

#[test]
#[ignore = "timing: run with --release -- --ignored --nocapture"]
fn evaluation_cost() {
    for statements in [0usize, 10, 100] {
        let attached = policies(statements);
        let refs: Vec<&AttachedPolicy> = attached.iter().collect();
        let ctx = context();
        let expect = statements > 0;
        assert_eq!(evaluate(&ctx, Policies { identity: &refs, session: None }).is_allowed(), expect);
        let (p50, p99, max) =
            measure(|| evaluate(&ctx, Policies { identity: &refs, session: None }).is_allowed());
        let (b50, b99, _) = measure(|| {
            let ctx = context();
            evaluate(&ctx, Policies { identity: &refs, session: None }).is_allowed()
        });
        println!(
            "{{\"statements\":{statements},\"evaluate_us\":{{\"p50\":{p50:.2},\"p99\":{p99:.2},\"max\":{max:.1}}},\
             \"build_and_evaluate_us\":{{\"p50\":{b50:.2},\"p99\":{b99:.2}}}}}"
        );
        if statements == 100 {
            assert!(p50 < 200.0, "p50 {p50:.1} us at 100 statements: over the 0.2 ms target");
        }
    }
}
