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
    let acr = vec!["biometric".to_owned(), "possessionorinherence".to_owned()];
    let eam_uris = vec![EAM_REDIRECT.to_owned()];
    let okta_uris = vec![OKTA_REDIRECT.to_owned()];
    let (client, ru) = identify(p, |id| match id {
        "app" => Some(ClientView {
            client_id: "app",
            response_types: &[ResponseType::Code],
            redirect_uris: &uris,
            authorization_details_types: &[],
            par_required: true,
            front_channel_subject: false,
        }),
        "okta" => Some(ClientView {
            client_id: "okta",
            response_types: &[ResponseType::Code],
            redirect_uris: &okta_uris,
            authorization_details_types: &[],
            par_required: false,
            front_channel_subject: true,
        }),
        "eam" => Some(ClientView {
            client_id: "eam",
            response_types: &[ResponseType::IdToken],
            redirect_uris: &eam_uris,
            authorization_details_types: &[],
            par_required: false,
            front_channel_subject: false,
        }),
        _ => None,
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

const EAM_REDIRECT: &str = "https://login.example/common/federation/externalauthprovider";

/// An external-authentication-method request as Microsoft Entra ID sends it; `drop` removes
/// parameters, `extra` adds or replaces them.
fn eam(extra: &[(&str, &str)], drop: &[&str]) -> Params {
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["possessionorinherence"]},"amr":{"essential":true,"values":["face","fido","fpt","hwk","iris","otp","pop","retina","sc","sms","swk","tel","vbm"]}}}"#;
    let mut m: BTreeMap<String, String> = [
        ("client_id", "eam"),
        ("redirect_uri", EAM_REDIRECT),
        ("response_type", "id_token"),
        ("response_mode", "form_post"),
        ("scope", "openid"),
        ("nonce", "n-1"),
        ("state", "s-1"),
        ("id_token_hint", "h.i.nt"),
        ("client-request-id", "4c3b2a1f-0000-4000-8000-000000000001"),
        ("claims", claims),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    for k in drop {
        m.remove(*k);
    }
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    Params::from_pairs(m.into_iter().collect()).unwrap()
}

#[test]
fn an_entra_external_method_request_passes_as_documented() {
    let r = run(&eam(&[], &[]), false).unwrap();
    assert_eq!(r.response_type, ResponseType::IdToken);
    assert_eq!(r.acr_values, vec![Acr::supported("possessionorinherence")]);
    assert_eq!(r.nonce.as_deref(), Some("n-1"));
    assert!(r.code_challenge.is_empty());
}

#[test]
fn an_id_token_response_is_for_registered_clients_by_form_post_with_a_nonce() {
    // A code client cannot switch to the implicit response, nor the other way round.
    assert_eq!(
        code(run(
            &params(&[
                ("response_type", "id_token"),
                ("response_mode", "form_post")
            ]),
            true
        )),
        "unauthorized_client"
    );
    assert_eq!(
        code(run(&eam(&[("response_type", "code")], &[]), false)),
        "unauthorized_client"
    );
    for other in ["code id_token", "token", "id_token token"] {
        assert_eq!(
            code(run(&eam(&[("response_type", other)], &[]), false)),
            "unsupported_response_type",
            "{other}"
        );
    }
    // Never in a URL: no fragment, no query, no default.
    for mode in ["fragment", "query"] {
        assert_eq!(
            code(run(&eam(&[("response_mode", mode)], &[]), false)),
            "invalid_request",
            "{mode}"
        );
    }
    assert_eq!(
        code(run(&eam(&[], &["response_mode"]), false)),
        "invalid_request"
    );
    assert_eq!(code(run(&eam(&[], &["nonce"]), false)), "invalid_request");
    assert_eq!(
        code(run(&eam(&[("code_challenge", CHALLENGE)], &[]), false)),
        "invalid_request"
    );
}

#[test]
fn an_enrolment_is_never_answered_with_an_id_token() {
    // Even through an authenticated channel: an enrolment carries acr "0", never a token that
    // reads as a face authentication.
    let e = run(&eam(&[("prompt", "create")], &["claims"]), true).unwrap_err();
    assert_eq!(e.code.as_str(), "invalid_request");
    assert!(e.description.contains("code only"), "{}", e.description);
}

#[test]
fn a_requested_acr_or_amr_inherence_cannot_give_is_refused() {
    for acr in ["possession", "knowledge", "knowledgeorpossession"] {
        let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{acr}"]}}}}}}"#);
        assert_eq!(
            code(run(&eam(&[("claims", &claims)], &[]), false)),
            "unmet_authentication_requirements",
            "{acr}"
        );
    }
    let no_face = r#"{"id_token":{"amr":{"essential":true,"values":["fido","otp"]}}}"#;
    assert_eq!(
        code(run(&eam(&[("claims", no_face)], &[]), false)),
        "unmet_authentication_requirements"
    );
    // A voluntary amr request does not bind the answer.
    let voluntary = r#"{"id_token":{"amr":{"values":["otp"]}}}"#;
    assert!(run(&eam(&[("claims", voluntary)], &[]), false).is_ok());
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

const OKTA_REDIRECT: &str = "https://org.okta.example/oauth2/v1/authorize/callback";

#[test]
fn a_front_channel_client_may_name_the_user_or_send_nobody_but_never_enrol_that_way() {
    let okta = |extra: &[(&str, &str)]| {
        let mut all = vec![("client_id", "okta"), ("redirect_uri", OKTA_REDIRECT)];
        all.extend_from_slice(extra);
        params(&all)
    };
    // login_hint outside PAR: accepted for this client only.
    let r = run(&okta(&[]), false).unwrap();
    assert_eq!(r.login_hint.as_deref(), Some("alice"));
    assert_eq!(code(run(&params(&[]), false)), "invalid_request");
    // No hint at all: the request is valid (the user is asked); other clients need one.
    let r = run(&okta(&[("login_hint", "")]), false).unwrap();
    assert!(r.login_hint.is_none() && r.id_token_hint.is_none());
    assert_eq!(
        code(run(&params(&[("login_hint", "")]), false)),
        "invalid_request"
    );
    // A pushed request without a hint is still refused: there is nobody to ask it again.
    assert_eq!(
        code(run(&okta(&[("login_hint", "")]), true)),
        "invalid_request"
    );
    // The name is still a valid subject, and enrolment stays PAR-only.
    assert_eq!(
        code(run(&okta(&[("login_hint", "a\nb")]), false)),
        "invalid_request"
    );
    assert_eq!(
        code(run(&okta(&[("prompt", "create")]), false)),
        "invalid_request"
    );
    // Not even pushed: such a client never enrols.
    assert_eq!(
        code(run(&okta(&[("prompt", "create")]), true)),
        "invalid_request"
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
    // A code is answered in the query only (form_post is for the ID token response).
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
