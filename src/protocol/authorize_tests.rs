//! Unit tests of the authorization request checks.

use super::*;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn params(extra: &[(&str, &str)]) -> Params {
    let mut v: Vec<(String, String)> = [
        ("client_id", "app"),
        ("redirect_uri", "https://app.example/cb"),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("login_hint", "alice"),
        ("state", "s"),
        ("nonce", "n"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    for (k, val) in extra {
        v.retain(|(a, _)| a != k);
        if !val.is_empty() {
            v.push(((*k).to_owned(), (*val).to_owned()));
        }
    }
    Params::from_pairs(v).unwrap()
}

fn run(p: &Params, pushed: bool) -> Result<AuthorizationRequest, OAuthError> {
    let uris = vec!["https://app.example/cb".to_owned()];
    let types: Vec<String> = vec!["payment_initiation".into()];
    let acr = vec!["biometric".to_owned()];
    let (client, ru) = identify(p, |id| {
        (id == "app").then(|| ClientView {
            client_id: "app",
            redirect_uris: &uris,
            authorization_details_types: &[],
            par_required: true,
        })
    })?;
    validate(
        p,
        &client,
        ru,
        &Policy {
            acr_values_supported: &acr,
            authorization_details_types: &types,
        },
        pushed,
    )
}

fn code(r: Result<AuthorizationRequest, OAuthError>) -> &'static str {
    r.unwrap_err().code.as_str()
}

#[test]
fn a_complete_pushed_request_passes() {
    let r = run(
        &params(&[("acr_values", "gold biometric"), ("max_age", "0")]),
        true,
    )
    .unwrap();
    assert_eq!(r.acr_values, vec!["biometric"]);
    assert_eq!(r.max_age, Some(0));
    assert_eq!(r.login_hint.as_deref(), Some("alice"));
}

#[test]
fn redirect_uri_must_match_exactly() {
    for bad in [
        "https://app.example/cb/",
        "https://app.example/CB",
        "https://app.example/cb?x=1",
        "https://evil.example/cb",
    ] {
        let e = run(&params(&[("redirect_uri", bad)]), true).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
    }
    assert_eq!(
        code(run(&params(&[("client_id", "other")]), true)),
        "invalid_client"
    );
}

#[test]
fn pkce_is_mandatory_and_s256_only() {
    assert_eq!(
        code(run(&params(&[("code_challenge", "")]), true)),
        "invalid_request"
    );
    assert_eq!(
        code(run(&params(&[("code_challenge_method", "plain")]), true)),
        "invalid_request"
    );
    assert_eq!(
        code(run(&params(&[("code_challenge_method", "")]), true)),
        "invalid_request"
    );
    assert_eq!(
        code(run(&params(&[("code_challenge", "short")]), true)),
        "invalid_request"
    );
}

#[test]
fn prompt_none_and_max_age() {
    assert_eq!(
        code(run(&params(&[("prompt", "none")]), true)),
        "login_required"
    );
    assert_eq!(
        code(run(&params(&[("max_age", "-1")]), true)),
        "invalid_request"
    );
    assert_eq!(
        code(run(&params(&[("max_age", "abc")]), true)),
        "invalid_request"
    );
    assert!(run(&params(&[("prompt", "login")]), true).is_ok());
    assert!(
        run(&params(&[("prompt", "create")]), true)
            .unwrap()
            .is_enrolment()
    );
}

#[test]
fn unknown_acr_fails_instead_of_mapping_up() {
    assert_eq!(
        code(run(&params(&[("acr_values", "gold")]), true)),
        "unmet_authentication_requirements"
    );
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:other"]}}}"#;
    assert_eq!(
        code(run(&params(&[("claims", claims)]), true)),
        "unmet_authentication_requirements"
    );
    let ok = r#"{"id_token":{"acr":{"essential":true,"value":"biometric"}}}"#;
    assert_eq!(
        run(&params(&[("claims", ok)]), true).unwrap().acr_values,
        vec!["biometric"]
    );
    assert_eq!(
        code(run(&params(&[("claims", "{not json")]), true)),
        "invalid_request"
    );
}

#[test]
fn authorization_details_are_checked() {
    let good = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorName":"Merchant A"}]"#;
    assert!(
        run(&params(&[("authorization_details", good)]), true)
            .unwrap()
            .authorization_details
            .is_some()
    );
    for bad in [
        "{}",
        "[]",
        r#"[{"type":"other"}]"#,
        r#"[{"amount":1}]"#,
        "nope",
    ] {
        assert_eq!(
            code(run(&params(&[("authorization_details", bad)]), true)),
            "invalid_authorization_details",
            "{bad}"
        );
    }
}

#[test]
fn login_hint_only_through_par_and_a_subject_is_required() {
    assert_eq!(code(run(&params(&[]), false)), "invalid_request");
    assert_eq!(
        code(run(&params(&[("login_hint", "")]), true)),
        "invalid_request"
    );
    assert!(
        run(
            &params(&[("login_hint", ""), ("id_token_hint", "x.y.z")]),
            false
        )
        .is_ok()
    );
}

#[test]
fn repeated_or_oversized_parameters_are_refused() {
    let dup = vec![
        ("state".to_owned(), "a".to_owned()),
        ("state".to_owned(), "b".to_owned()),
    ];
    assert!(Params::from_pairs(dup).is_err());
    let long = vec![("state".to_owned(), "x".repeat(MAX_PARAM_LEN + 1))];
    assert!(Params::from_pairs(long).is_err());
    assert_eq!(
        code(run(&params(&[("nonce", &"n".repeat(600))]), true)),
        "invalid_request"
    );
}

#[test]
fn enrolment_only_when_pushed_and_without_an_acr_request() {
    assert!(
        run(&params(&[("prompt", "create")]), true)
            .unwrap()
            .is_enrolment()
    );
    let hint = [("login_hint", ""), ("id_token_hint", "x.y.z")];
    let front: Vec<(&str, &str)> = hint.iter().copied().chain([("prompt", "create")]).collect();
    assert_eq!(code(run(&params(&front), false)), "invalid_request");
    for acr in [
        ("acr_values", "biometric"),
        (
            "claims",
            r#"{"id_token":{"acr":{"essential":true,"values":["biometric"]}}}"#,
        ),
    ] {
        assert_eq!(
            code(run(&params(&[("prompt", "create"), acr]), true)),
            "invalid_request",
            "{acr:?}"
        );
    }
}

#[test]
fn request_objects_and_other_response_modes_are_refused_not_ignored() {
    assert_eq!(
        code(run(
            &params(&[("request", "eyJhbGciOiJub25lIn0.e30.")]),
            true
        )),
        "request_not_supported"
    );
    for mode in ["form_post", "fragment", "query.jwt"] {
        assert_eq!(
            code(run(&params(&[("response_mode", mode)]), true)),
            "invalid_request"
        );
    }
    assert!(run(&params(&[("response_mode", "query")]), true).is_ok());
}

#[test]
fn only_openid_is_granted() {
    let r = run(
        &params(&[("scope", "openid profile email offline_access")]),
        true,
    )
    .unwrap();
    assert_eq!(r.scope, vec!["openid"]);
}
