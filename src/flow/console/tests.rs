use super::*;

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn operator(roles: &[&str]) -> Operator {
    let id = OperatorIdentity {
        issuer: "https://op.example".into(),
        subject: "op-1".into(),
        name: "Olga".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    Operator::from_identity(
        id,
        &ConsoleSettings::default(),
        &[TenantId::default(), t("bank-a"), t("bank-b")],
    )
}

#[test]
fn roles_grant_their_level_and_the_levels_below_in_their_tenants() {
    let o = operator(&[
        "inherence-reviewer@bank-a",
        "inherence-viewer@bank-b",
        "offline_access",
    ]);
    assert!(o.can(Role::Reviewer, &t("bank-a")));
    assert!(o.can(Role::Viewer, &t("bank-a")));
    assert!(!o.can(Role::Admin, &t("bank-a")));
    assert!(o.can(Role::Viewer, &t("bank-b")));
    assert!(!o.can(Role::Reviewer, &t("bank-b")));
    assert!(!o.can(Role::Viewer, &TenantId::default()));
    assert_eq!(
        o.visible(&[TenantId::default(), t("bank-a"), t("bank-b")]),
        vec![t("bank-a"), t("bank-b")]
    );
    assert_eq!(o.highest(), Some(Role::Reviewer));
    let admin = operator(&["inherence-admin"]);
    assert!(admin.can(Role::Admin, &t("bank-b")) && admin.can(Role::Viewer, &TenantId::default()));
}

#[test]
fn unknown_values_and_unknown_tenants_grant_nothing() {
    for roles in [
        vec!["admin"],
        vec!["inherence-admin@bank-z"],
        vec!["inherence-admin@"],
        vec!["Inherence-Admin"],
        vec!["inherence-admin@bank-a@x"],
        vec![],
    ] {
        let o = operator(&roles);
        assert!(o.grants.is_empty(), "{roles:?} granted {:?}", o.grants);
        assert_eq!(o.highest(), None);
    }
}

#[test]
fn a_form_must_carry_the_sessions_csrf_token() {
    let s = ConsoleSession {
        operator: operator(&["inherence-admin"]),
        csrf: "csrf-token-123".into(),
        created_at: 0,
        last_seen: 0,
    };
    assert!(csrf_ok(&s, Some("csrf-token-123")));
    assert!(!csrf_ok(&s, Some("csrf-token-124")));
    assert!(!csrf_ok(&s, Some("")));
    assert!(!csrf_ok(&s, None));
}

#[test]
fn a_name_cannot_pose_as_another_operator_in_the_audit_log() {
    let id = OperatorIdentity {
        issuer: "https://op.example".into(),
        subject: "mallory".into(),
        name: "Olga <op-olga> via https://op.example\n".into(),
        roles: vec!["inherence-reviewer".into()],
    };
    let o = Operator::from_identity(id, &ConsoleSettings::default(), &[TenantId::default()]);
    assert_eq!(o.name, "Olga op-olga via https://op.example");
    assert_eq!(
        o.audit_name(),
        "Olga op-olga via https://op.example <mallory> via https://op.example"
    );
}
