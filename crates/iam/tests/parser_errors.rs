//! The policy parser's refusals, one per rule of RAM's grammar ("Policy structure and syntax", "Policy
//! elements"), and the forms it must accept (a string or a list for Action and Resource).

use ecslab_iam::{Actions, DocumentKind, Effect, IamError, PolicyDocument, ResourcePattern};

fn err(text: &str) -> IamError {
    PolicyDocument::parse(text).expect_err(text)
}

fn stmt(body: &str) -> String {
    format!(r#"{{"Version":"1","Statement":[{body}]}}"#)
}

#[test]
fn refusals() {
    use IamError::*;
    let ok_stmt = r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*"}"#;
    let cases: Vec<(String, IamError)> = vec![
        ("not json".into(), NotJson(String::new())),
        ("[]".into(), NotAnObject),
        (r#"{"Statement":[]}"#.into(), MissingVersion),
        (r#"{"Version":"2","Statement":[]}"#.into(), BadVersion("\"2\"".into())),
        (r#"{"Version":1,"Statement":[]}"#.into(), BadVersion("1".into())),
        (r#"{"Version":"1"}"#.into(), MissingStatement),
        (r#"{"Version":"1","Statement":[]}"#.into(), BadStatementList),
        (format!(r#"{{"Version":"1","Statement":{ok_stmt}}}"#), BadStatementList),
        (
            format!(r#"{{"Version":"1","Id":"x","Statement":[{ok_stmt}]}}"#),
            UnknownTopLevelElement("Id".into()),
        ),
        (stmt(r#""Allow""#), StatementNotAnObject(0)),
        (stmt(r#"{"Action":"ecs:*","Resource":"*"}"#), MissingEffect(0)),
        (stmt(r#"{"Effect":"allow","Action":"ecs:*","Resource":"*"}"#), BadEffect(0, "\"allow\"".into())),
        (stmt(r#"{"Effect":"Alow","Action":"ecs:*","Resource":"*"}"#), BadEffect(0, "\"Alow\"".into())),
        (stmt(&format!("{ok_stmt},{}", r#"{"Effect":"Allow","Resource":"*"}"#)), MissingAction(1)),
        (
            stmt(r#"{"Effect":"Allow","Action":"ecs:*","NotAction":"ram:*","Resource":"*"}"#),
            ActionAndNotAction(0),
        ),
        (stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#), BadList(0, "Action")),
        (stmt(r#"{"Effect":"Allow","Action":["ecs:*",1],"Resource":"*"}"#), BadList(0, "Action")),
        (stmt(r#"{"Effect":"Allow","NotAction":{},"Resource":"*"}"#), BadList(0, "NotAction")),
        (
            stmt(r#"{"Effect":"Allow","Action":"CreateSnapshot","Resource":"*"}"#),
            BadAction(0, "CreateSnapshot".into()),
        ),
        (stmt(r#"{"Effect":"Allow","Action":"ecs:","Resource":"*"}"#), BadAction(0, "ecs:".into())),
        (stmt(r#"{"Effect":"Allow","Action":"ecs:*"}"#), MissingResource(0)),
        (stmt(r#"{"Effect":"Allow","Action":"ecs:*","Resource":[]}"#), BadList(0, "Resource")),
        (
            stmt(r#"{"Effect":"Allow","Action":"ecs:*","Resource":"instance/*"}"#),
            BadResource(0, "instance/*".into()),
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"ecs:*","Resource":"acs:ecs:*"}"#),
            BadResource(0, "acs:ecs:*".into()),
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"ecs:*","NotResource":"*","Resource":"*"}"#),
            UnknownElement(0, "NotResource".into()),
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*","Principal":{"RAM":"*"}}"#),
            UnknownElement(0, "Principal".into()),
        ),
        (
            stmt(r#"{"Sid":7,"Effect":"Allow","Action":"ecs:*","Resource":"*"}"#),
            UnknownElement(0, "Sid".into()),
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEqualsIfExists":{"acs:x":"a"}}}"#,
            ),
            UnknownOperator(0, "StringEqualsIfExists".into()),
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"nowhere"}}}"#,
            ),
            BadConditionValue(0, "acs:SourceIp".into(), "\"nowhere\"".into()),
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"Bool":{"SecureTransport":"true"}}}"#,
            ),
            BadConditionKey(0, "SecureTransport".into()),
        ),
        (stmt(r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":[]}"#), BadConditionShape(0)),
    ];
    for (text, want) in cases {
        let got = err(&text);
        match (&got, &want) {
            (NotJson(_), NotJson(_)) => {}
            _ => assert_eq!(got, want, "{text}"),
        }
        assert_eq!(got.code(), "MalformedPolicyDocument", "{text}");
    }
}

#[test]
fn reasons_read_like_rams() {
    let e = err(&stmt(r#"{"Effect":"Allow","Resource":"*"}"#));
    assert_eq!(e.to_string(), "Add an Action or NotAction element to the policy statement (0).");
}

#[test]
fn length_limits() {
    // Padding with spaces: RAM counts every character of the document.
    let base = stmt(r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*"}"#);
    let pad = |to: usize| format!("{base}{}", " ".repeat(to - base.chars().count()));
    assert!(PolicyDocument::parse(&pad(6144)).is_ok());
    let e = PolicyDocument::parse(&pad(6145)).unwrap_err();
    assert_eq!(e, IamError::DocumentTooLong { len: 6145, max: 6144 });
    assert_eq!(e.code(), "InvalidParameter.PolicyDocument.Length");
    assert!(PolicyDocument::parse_as(&pad(2048), DocumentKind::SessionPolicy).is_ok());
    assert_eq!(
        PolicyDocument::parse_as(&pad(2049), DocumentKind::SessionPolicy).unwrap_err(),
        IamError::DocumentTooLong { len: 2049, max: 2048 }
    );
    // Characters, not bytes.
    let wide = stmt(r#"{"Sid":"快照","Effect":"Allow","Action":"ecs:*","Resource":"*"}"#);
    let n = wide.chars().count();
    assert!(wide.len() > n);
    let padded = format!("{wide}{}", " ".repeat(6144 - n));
    assert!(PolicyDocument::parse(&padded).is_ok());
}

#[test]
fn string_or_list_forms() {
    let one = PolicyDocument::parse(&stmt(
        r#"{"Effect":"Deny","Action":"ecs:Describe*","Resource":"acs:ecs:*:*:instance/*"}"#,
    ))
    .unwrap();
    let many = PolicyDocument::parse(&stmt(
        r#"{"Sid":"s","Effect":"Deny","Action":["ecs:Describe*"],"Resource":["acs:ecs:*:*:instance/*"],"Condition":{}}"#,
    ))
    .unwrap();
    let (a, b) = (&one.statements[0], &many.statements[0]);
    assert_eq!(a.effect, Effect::Deny);
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.resources, b.resources);
    assert!(matches!(a.actions, Actions::Only(ref l) if l.len() == 1));
    assert!(matches!(b.resources[0], ResourcePattern::Parts { .. }));
    assert_eq!(b.sid.as_deref(), Some("s"));
    assert!(a.condition.is_none() && b.condition.as_ref().is_some_and(|c| c.clauses.is_empty()));
    let not =
        PolicyDocument::parse(&stmt(r#"{"Effect":"Allow","NotAction":["ram:*","sts:*"],"Resource":"*"}"#))
            .unwrap();
    assert!(matches!(not.statements[0].actions, Actions::AllBut(ref l) if l.len() == 2));
}
