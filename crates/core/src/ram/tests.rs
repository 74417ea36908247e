//! The service against an in-memory store: the identity policies a caller gets, and that every write that
//! could change them drops the cached ones.

use super::*;
use ecslab_store::Store;

const A: &str = "1000000000000002";
const B: &str = "1000000000000003";
const SNAP_ONLY: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:CreateSnapshot","Resource":"*"}]}"#;
const TRUST: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":["acs:ram::1000000000000002:root"]}}]}"#;

async fn ram() -> Ram {
    let store = Store::open_in_memory().await.unwrap();
    for (account, name) in [(A, "team-a"), (B, "team-b")] {
        let root = ecslab_store::AccessKey {
            access_key_id: format!("LTAIroot{name}"),
            access_key_secret: "s".into(),
            account_id: account.into(),
            enabled: true,
            user_id: None,
            user_name: None,
        };
        store.create_account(account, name, &root).await.unwrap();
    }
    Ram::new(store)
}

fn names(policies: &IdentityPolicies) -> Vec<String> {
    let mut names: Vec<String> = policies.iter().map(|p| p.name.clone()).collect();
    names.sort();
    names
}

async fn user(ram: &Ram, account: &str, name: &str) -> Identity {
    let row =
        ram.create_user(account, NewUser { user_name: name.into(), ..NewUser::default() }).await.unwrap();
    Identity::User { user_id: row.user_id, user_name: row.user_name }
}

#[tokio::test]
async fn a_users_policies_are_its_own_and_its_groups_and_the_cache_follows_every_change() {
    let ram = ram().await;
    let alice = user(&ram, A, "alice").await;
    let none = ram.identity_policies(A, &alice).await.unwrap();
    assert!(none.is_empty());

    ram.change_attachment(
        A,
        PrincipalKind::User,
        "alice",
        PolicyType::System,
        "AliyunECSReadOnlyAccess",
        true,
    )
    .await
    .unwrap();
    let first = ram.identity_policies(A, &alice).await.unwrap();
    assert_eq!(names(&first), ["AliyunECSReadOnlyAccess"]);
    let again = ram.identity_policies(A, &alice).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "a second read is served from the cache");

    // Through a group.
    ram.create_policy(A, "snap-only", SNAP_ONLY, "").await.unwrap();
    ram.create_group(A, "ops", "").await.unwrap();
    ram.change_attachment(A, PrincipalKind::Group, "ops", PolicyType::Custom, "snap-only", true)
        .await
        .unwrap();
    assert_eq!(names(&ram.identity_policies(A, &alice).await.unwrap()), ["AliyunECSReadOnlyAccess"]);
    ram.change_membership(A, "alice", "ops", true).await.unwrap();
    let with_group = ram.identity_policies(A, &alice).await.unwrap();
    assert_eq!(names(&with_group), ["AliyunECSReadOnlyAccess", "snap-only"]);
    let custom = with_group.iter().find(|p| p.name == "snap-only").unwrap();
    assert_eq!(custom.source, PolicySource::Custom);

    // A new default version is what the cache holds next.
    let deny = r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"ecs:*","Resource":"*"}]}"#;
    ram.create_policy_version(A, "snap-only", deny, true, false).await.unwrap();
    let versioned = ram.identity_policies(A, &alice).await.unwrap();
    let custom = versioned.iter().find(|p| p.name == "snap-only").unwrap();
    assert_eq!(custom.document.statements[0].effect, ecslab_iam::Effect::Deny);

    // Leaving the group, detaching, deleting the policy: each is seen at once.
    ram.change_membership(A, "alice", "ops", false).await.unwrap();
    assert_eq!(names(&ram.identity_policies(A, &alice).await.unwrap()), ["AliyunECSReadOnlyAccess"]);
    ram.change_attachment(A, PrincipalKind::User, "alice", PolicyType::Custom, "snap-only", true)
        .await
        .unwrap();
    assert_eq!(
        names(&ram.identity_policies(A, &alice).await.unwrap()),
        ["AliyunECSReadOnlyAccess", "snap-only"]
    );
    ram.delete_policy(A, "snap-only", true).await.unwrap();
    assert_eq!(names(&ram.identity_policies(A, &alice).await.unwrap()), ["AliyunECSReadOnlyAccess"]);
    ram.change_attachment(
        A,
        PrincipalKind::User,
        "alice",
        PolicyType::System,
        "AliyunECSReadOnlyAccess",
        false,
    )
    .await
    .unwrap();
    assert!(ram.identity_policies(A, &alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn roles_and_root_and_other_accounts() {
    let ram = ram().await;
    let role = ram
        .create_role(
            A,
            NewRole {
                role_name: "EcsAdmin".into(),
                assume_role_policy_document: TRUST.into(),
                description: String::new(),
                max_session_duration: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(role.arn, format!("acs:ram::{A}:role/ecsadmin"));
    assert_eq!(role.max_session_duration, 3600);
    assert_eq!(ram.role(A, "ecsadmin").await.unwrap().unwrap().role_id, role.role_id);
    assert!(ram.role(B, "EcsAdmin").await.unwrap().is_none(), "another account has no such role");
    let session = Identity::Role {
        role_id: role.role_id.clone(),
        role_name: role.role_name.clone(),
        session_name: "s".into(),
        session_policy: None,
        expires_at: 0,
    };
    ram.change_attachment(
        A,
        PrincipalKind::Role,
        "EcsAdmin",
        PolicyType::System,
        "AliyunECSFullAccess",
        true,
    )
    .await
    .unwrap();
    assert_eq!(names(&ram.identity_policies(A, &session).await.unwrap()), ["AliyunECSFullAccess"]);
    assert_eq!(ram.delete_role(A, "EcsAdmin").await.unwrap_err().code(), "DeleteConflict.Role.Policy");
    ram.change_attachment(
        A,
        PrincipalKind::Role,
        "EcsAdmin",
        PolicyType::System,
        "AliyunECSFullAccess",
        false,
    )
    .await
    .unwrap();
    assert!(ram.identity_policies(A, &session).await.unwrap().is_empty());
    ram.delete_role(A, "EcsAdmin").await.unwrap();
    assert!(ram.role(A, "EcsAdmin").await.unwrap().is_none());

    assert!(ram.identity_policies(A, &Identity::Root).await.unwrap().is_empty());
    let alice = user(&ram, A, "alice").await;
    let Identity::User { user_id, .. } = &alice else { unreachable!() };
    // Authentication reads the key and its user's name in one go.
    let created = ram.create_access_key(A, "alice").await.unwrap();
    let key = ram.store.access_key(&created.access_key_id).await.unwrap().unwrap();
    assert_eq!((key.user_id.as_ref(), key.user_name.as_deref()), (Some(user_id), Some("alice")));
    assert_eq!(ram.get_user(B, "alice").await.unwrap_err().code(), "EntityNotExist.User");
}

#[tokio::test]
async fn deletions_wait_for_what_depends_on_them() {
    let ram = ram().await;
    user(&ram, A, "bob").await;
    assert_eq!(
        ram.create_user(A, NewUser { user_name: "BOB".into(), ..NewUser::default() })
            .await
            .unwrap_err()
            .code(),
        "EntityAlreadyExists.User",
        "names are unique without regard to case"
    );
    let key = ram.create_access_key(A, "bob").await.unwrap();
    ram.create_access_key(A, "bob").await.unwrap();
    assert_eq!(ram.create_access_key(A, "bob").await.unwrap_err().code(), "LimitExceeded.User.AccessKey");
    assert_eq!(ram.delete_user(A, "bob").await.unwrap_err().code(), "DeleteConflict.User.AccessKey");
    for k in ram.list_access_keys(A, "bob").await.unwrap() {
        ram.delete_access_key(A, "bob", &k.access_key_id).await.unwrap();
    }
    assert_eq!(
        ram.delete_access_key(A, "bob", &key.access_key_id).await.unwrap_err().code(),
        "EntityNotExist.User.AccessKey"
    );
    ram.create_group(A, "ops", "").await.unwrap();
    ram.change_membership(A, "bob", "ops", true).await.unwrap();
    assert_eq!(
        ram.change_membership(A, "bob", "ops", true).await.unwrap_err().code(),
        "EntityAlreadyExists.User.Group"
    );
    assert_eq!(ram.delete_user(A, "bob").await.unwrap_err().code(), "DeleteConflict.User.Group");
    ram.change_membership(A, "bob", "ops", false).await.unwrap();
    ram.create_policy(A, "p1", SNAP_ONLY, "d").await.unwrap();
    ram.change_attachment(A, PrincipalKind::User, "bob", PolicyType::Custom, "p1", true).await.unwrap();
    assert_eq!(
        ram.change_attachment(A, PrincipalKind::User, "bob", PolicyType::Custom, "p1", true)
            .await
            .unwrap_err()
            .code(),
        "EntityAlreadyExists.User.Policy"
    );
    assert_eq!(ram.delete_user(A, "bob").await.unwrap_err().code(), "DeleteConflict.User.Policy");
    assert_eq!(ram.delete_policy(A, "p1", false).await.unwrap_err().code(), "DeleteConflict.Policy.User");
    ram.change_attachment(A, PrincipalKind::User, "bob", PolicyType::Custom, "p1", false).await.unwrap();
    ram.delete_user(A, "bob").await.unwrap();

    ram.create_policy_version(A, "p1", SNAP_ONLY, false, false).await.unwrap();
    assert_eq!(ram.delete_policy(A, "p1", false).await.unwrap_err().code(), "DeleteConflict.Policy.Version");
    for _ in 0..3 {
        ram.create_policy_version(A, "p1", SNAP_ONLY, false, false).await.unwrap();
    }
    assert_eq!(
        ram.create_policy_version(A, "p1", SNAP_ONLY, false, false).await.unwrap_err().code(),
        "LimitExceeded.Policy.Version"
    );
    let rotated = ram.create_policy_version(A, "p1", SNAP_ONLY, true, true).await.unwrap();
    assert_eq!(rotated.version_id, "v6");
    let (view, default) = ram.get_policy(A, PolicyType::Custom, "p1").await.unwrap();
    assert_eq!((view.default_version.as_str(), default.version_id.as_str()), ("v6", "v6"));
    ram.delete_policy(A, "p1", true).await.unwrap();
    assert_eq!(
        ram.get_policy(A, PolicyType::Custom, "p1").await.unwrap_err().code(),
        "EntityNotExist.Policy"
    );
}

#[tokio::test]
async fn lists_page_with_markers() {
    let ram = ram().await;
    for name in ["carol", "Alice", "bob"] {
        user(&ram, A, name).await;
    }
    user(&ram, B, "zed").await;
    let first = ram.list_users(A, None, 2).await.unwrap();
    assert_eq!(first.users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(), ["Alice", "bob"]);
    let rest = ram.list_users(A, first.next_marker.as_deref(), 2).await.unwrap();
    assert_eq!(rest.users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(), ["carol"]);
    assert_eq!(rest.next_marker, None);

    ram.create_policy(A, "mine", SNAP_ONLY, "").await.unwrap();
    let system = ram.list_policies(A, Some(PolicyType::System), None, 1000).await.unwrap();
    assert_eq!(system.policies.len(), ecslab_iam::SYSTEM_POLICIES.len());
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = ram.list_policies(A, None, marker.as_deref(), 4).await.unwrap();
        seen.extend(page.policies.into_iter().map(|p| p.policy_name));
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen.len(), ecslab_iam::SYSTEM_POLICIES.len() + 1);
    assert_eq!(seen.last().map(String::as_str), Some("mine"));
    assert!(ram.list_policies(B, Some(PolicyType::Custom), None, 10).await.unwrap().policies.is_empty());
    assert_eq!(ram.list_users(A, Some("!!"), 2).await.unwrap_err().code(), "InvalidParameter.Marker");
}

/// What a cached answer costs against a store read and parse: a user with 10 custom policies of 10 statements each
/// (100 statements). Prints p50 figures; `cargo test -p ecslab-core --release identity_policies_cost -- --ignored
/// --nocapture`.
#[tokio::test]
#[ignore]
async fn identity_policies_cost() {
    let ram = ram().await;
    let alice = user(&ram, A, "alice").await;
    let statement = r#"{"Effect":"Allow","Action":["ecs:Describe*","ecs:CreateSnapshot"],"Resource":"acs:ecs:*:*:instance/*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}"#;
    let document = format!(r#"{{"Version":"1","Statement":[{}]}}"#, [statement; 10].join(","));
    for n in 0..10 {
        let name = format!("p{n}");
        ram.create_policy(A, &name, &document, "").await.unwrap();
        ram.change_attachment(A, PrincipalKind::User, "alice", PolicyType::Custom, &name, true)
            .await
            .unwrap();
    }
    let p50 = |mut v: Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut misses, mut hits) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        ram.changed(A);
        let t = std::time::Instant::now();
        let got = ram.identity_policies(A, &alice).await.unwrap();
        misses.push(t.elapsed());
        assert_eq!(got.iter().map(|p| p.document.statements.len()).sum::<usize>(), 100);
        let t = std::time::Instant::now();
        ram.identity_policies(A, &alice).await.unwrap();
        hits.push(t.elapsed());
    }
    println!(
        "{{\"statements\":100,\"miss_p50_us\":{},\"hit_p50_us\":{}}}",
        p50(misses).as_micros(),
        p50(hits).as_micros()
    );
}
