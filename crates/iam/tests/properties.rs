//! Property checks over generated policies (a fixed-seed generator, so failures reproduce): a Deny that applies
//! denies wherever it sits, nothing is allowed without an Allow, the order of policies and statements does not
//! matter, a session policy never widens, NotAction is Action's complement, the root key always passes, and
//! mangled documents are refused or accepted, never a panic.

use std::net::{IpAddr, Ipv4Addr};

use ecslab_iam::{
    evaluate, Action, Arn, AttachedPolicy, Caller, Decision, DocumentKind, NoPermissionType, Policies,
    PolicyDocument, PolicySource, RequestContext, Resource,
};

const ACCOUNT: &str = "1234567890123456";

/// xorshift64*: enough to vary the cases, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ACTIONS: [&str; 8] = [
    "ecs:CreateSnapshot",
    "ecs:DescribeInstances",
    "ecs:DeleteInstance",
    "vpc:CreateVpc",
    "vpc:DescribeVpcs",
    "mts:SubmitSnapshotJob",
    "ram:CreateUser",
    "sts:AssumeRole",
];
const ACTION_PATTERNS: [&str; 10] = [
    "*",
    "ecs:*",
    "ecs:Describe*",
    "ecs:CreateSnapshot",
    "vpc:*",
    "*:Describe*",
    "ram:*",
    "ecs:?elete*",
    "mts:*",
    "sts:AssumeRole",
];
const RESOURCES: [&str; 4] = ["instance/i-1", "instance/i-2", "disk/d-1", "snapshot/s-1"];
const RESOURCE_PATTERNS: [&str; 6] = [
    "*",
    "acs:ecs:*:*:instance/*",
    "acs:*:*:*:*",
    "acs:ecs:cn-hangzhou:1234567890123456:disk/d-1",
    "acs:ecs:*:*:instance/i-?",
    "acs:vpc:*:*:*",
];
const CONDITIONS: [&str; 5] = [
    "",
    r#","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"StringEquals":{"ecs:tag/env":"dev"}}"#,
    r#","Condition":{"Bool":{"acs:SecureTransport":true}}"#,
    r#","Condition":{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"},"StringNotLike":{"ecs:tag/env":"prod*"}}"#,
];

fn statement(rng: &mut Rng, effect: &str) -> String {
    let verb = if rng.below(5) == 0 { "NotAction" } else { "Action" };
    let actions: Vec<String> =
        (0..1 + rng.below(3)).map(|_| format!("\"{}\"", rng.pick(&ACTION_PATTERNS))).collect();
    let resources: Vec<String> =
        (0..1 + rng.below(2)).map(|_| format!("\"{}\"", rng.pick(&RESOURCE_PATTERNS))).collect();
    let condition = rng.pick(&CONDITIONS);
    format!(
        r#"{{"Effect":"{effect}","{verb}":[{}],"Resource":[{}]{condition}}}"#,
        actions.join(","),
        resources.join(",")
    )
}

fn document(statements: &[String]) -> PolicyDocument {
    let text = format!(r#"{{"Version":"1","Statement":[{}]}}"#, statements.join(","));
    PolicyDocument::parse_as(&text, DocumentKind::Policy).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn attached(name: String, statements: &[String]) -> AttachedPolicy {
    AttachedPolicy { name, source: PolicySource::Custom, document: document(statements) }
}

fn random_statements(rng: &mut Rng, allow_only: bool) -> Vec<String> {
    (0..1 + rng.below(6))
        .map(|_| {
            let effect = if allow_only || rng.below(4) != 0 { "Allow" } else { "Deny" };
            statement(rng, effect)
        })
        .collect()
}

fn random_request(rng: &mut Rng) -> RequestContext {
    let caller = Caller::RamUser { user_id: "2000001".to_owned(), user_name: "alice".to_owned() };
    let mut ctx = RequestContext::new(ACCOUNT, caller, Action::parse(rng.pick(&ACTIONS)).unwrap());
    let arn = Arn::new("ecs", "cn-hangzhou", ACCOUNT, rng.pick(&RESOURCES)).unwrap();
    let mut resource = Resource::new(arn);
    if rng.below(2) == 0 {
        resource = resource.with_tag("env", rng.pick(&["dev", "prod", "prod-2"]));
    }
    ctx = ctx.resource(resource);
    if rng.below(3) != 0 {
        let ip = if rng.below(2) == 0 { Ipv4Addr::new(10, 1, 2, 3) } else { Ipv4Addr::new(8, 8, 8, 8) };
        ctx = ctx.source_ip(IpAddr::V4(ip));
    }
    if rng.below(2) == 0 {
        ctx = ctx.secure_transport(rng.below(2) == 0);
    }
    ctx
}

fn kind(d: &Decision) -> Option<NoPermissionType> {
    match d {
        Decision::Allowed(_) => None,
        Decision::Denied(den) => Some(den.no_permission_type),
    }
}

const ROUNDS: usize = 3000;

#[test]
fn an_applicable_deny_anywhere_denies() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let deny_all = r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#.to_owned();
    for round in 0..ROUNDS {
        let ctx = random_request(&mut rng);
        let mut policies: Vec<AttachedPolicy> = (0..1 + rng.below(4))
            .map(|i| attached(format!("p{i}"), &random_statements(&mut rng, false)))
            .collect();
        let target = rng.below(policies.len());
        let mut statements = random_statements(&mut rng, false);
        statements.insert(rng.below(statements.len() + 1), deny_all.clone());
        policies[target] = attached(format!("p{target}"), &statements);
        let refs: Vec<&AttachedPolicy> = policies.iter().collect();
        let d = evaluate(&ctx, Policies { identity: &refs, session: None });
        assert_eq!(kind(&d), Some(NoPermissionType::ExplicitDeny), "round {round}: {d:?}");
    }
}

#[test]
fn nothing_is_allowed_without_an_allow() {
    let mut rng = Rng(0x0dd_ba11);
    for round in 0..ROUNDS {
        let ctx = random_request(&mut rng);
        let statements: Vec<String> = (0..1 + rng.below(6)).map(|_| statement(&mut rng, "Deny")).collect();
        let p = attached("denies".to_owned(), &statements);
        let d = evaluate(&ctx, Policies { identity: &[&p], session: None });
        assert!(!d.is_allowed(), "round {round}: {d:?}");
    }
}

#[test]
fn order_does_not_matter_and_sessions_only_narrow() {
    let mut rng = Rng(0xfeed_f00d);
    let (mut allowed, mut explicit) = (0, 0);
    for round in 0..ROUNDS {
        let ctx = random_request(&mut rng);
        let lists: Vec<Vec<String>> =
            (0..1 + rng.below(3)).map(|_| random_statements(&mut rng, false)).collect();
        let forward: Vec<AttachedPolicy> =
            lists.iter().enumerate().map(|(i, l)| attached(format!("p{i}"), l)).collect();
        let backward: Vec<AttachedPolicy> = lists
            .iter()
            .enumerate()
            .rev()
            .map(|(i, l)| attached(format!("p{i}"), &l.iter().rev().cloned().collect::<Vec<_>>()))
            .collect();
        let f: Vec<&AttachedPolicy> = forward.iter().collect();
        let b: Vec<&AttachedPolicy> = backward.iter().collect();
        let d1 = evaluate(&ctx, Policies { identity: &f, session: None });
        let d2 = evaluate(&ctx, Policies { identity: &b, session: None });
        assert_eq!(kind(&d1), kind(&d2), "round {round}");
        allowed += usize::from(d1.is_allowed());
        explicit += usize::from(kind(&d1) == Some(NoPermissionType::ExplicitDeny));

        let session = attached("session".to_owned(), &random_statements(&mut rng, false));
        let d3 = evaluate(&ctx, Policies { identity: &f, session: Some(&session) });
        assert!(!d3.is_allowed() || d1.is_allowed(), "round {round}: the session widened {d1:?} to {d3:?}");
    }
    // The generator must reach every outcome for the property to mean anything.
    assert!(allowed > ROUNDS / 20 && explicit > ROUNDS / 20, "allowed {allowed}, explicit {explicit}");
}

#[test]
fn not_action_is_the_complement_of_action() {
    let mut rng = Rng(0xc0ff_ee11);
    for _ in 0..ROUNDS {
        let pattern = rng.pick(&ACTION_PATTERNS);
        let ctx = random_request(&mut rng);
        let yes =
            attached("a".into(), &[format!(r#"{{"Effect":"Allow","Action":"{pattern}","Resource":"*"}}"#)]);
        let no = attached(
            "n".into(),
            &[format!(r#"{{"Effect":"Allow","NotAction":"{pattern}","Resource":"*"}}"#)],
        );
        let a = evaluate(&ctx, Policies { identity: &[&yes], session: None }).is_allowed();
        let n = evaluate(&ctx, Policies { identity: &[&no], session: None }).is_allowed();
        assert!(a != n, "{pattern} on {}", ctx.action);
    }
}

#[test]
fn the_root_key_always_passes_in_its_account() {
    let mut rng = Rng(0x5eed);
    for _ in 0..ROUNDS {
        let mut ctx = random_request(&mut rng);
        ctx.caller = Caller::Root;
        let p = attached("p".into(), &[r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#.to_owned()]);
        assert!(evaluate(&ctx, Policies { identity: &[&p], session: None }).is_allowed());
    }
}

/// The parser's answer to mangled documents is a decision, never a panic (the seed of the fuzz target issue 13
/// asks for): valid documents with characters deleted, duplicated or replaced, and documents cut short.
#[test]
fn mangled_documents_never_panic() {
    let mut rng = Rng(0xbad_c0de);
    let alphabet: Vec<char> = "{}[]\":,*?/ acsAllowDenyStatementVersion1é\\".chars().collect();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..ROUNDS {
        let statements = random_statements(&mut rng, false);
        let text = format!(r#"{{"Version":"1","Statement":[{}]}}"#, statements.join(","));
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(chars.len());
            match rng.below(4) {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, chars[at]),
                2 => chars[at] = alphabet[rng.below(alphabet.len())],
                _ => chars.truncate(at),
            }
            if chars.is_empty() {
                break;
            }
        }
        let mangled: String = chars.into_iter().collect();
        match PolicyDocument::parse(&mangled) {
            Ok(doc) => {
                ok += 1;
                let p = AttachedPolicy { name: "m".into(), source: PolicySource::Custom, document: doc };
                let _ = evaluate(&random_request(&mut rng), Policies { identity: &[&p], session: None });
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty() && !e.code().is_empty());
            }
        }
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
}
