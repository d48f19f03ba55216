//! Okta's IdP authenticator: Okta calls Inherence as an external OpenID provider (code flow,
//! PKCE, no PAR, no signed hint) and matches the ID token's `preferred_username` with the
//! Okta user. The client is registered with `front_channel_subject`: a `login_hint` in the
//! front channel, or else the name the user types on Inherence's page, says whose face to
//! check. The browser tests run the same flow in Chromium against an Okta-shaped relying party
//! that validates the answer (conformance/e2e/okta.test.mjs).

use inherence::flow::settings::ClientAuthMethod;
use serde_json::Value;

use crate::server::*;

const OKTA: &str = "okta-idp";
const ALICE: &str = "alice@corp.example";
const VERIFIER: &str = "okta-verifier-0123456789abcdef0123456789abcdef0123";

async fn world() -> TestServer {
    let server = TestServer::protocol(|c| {
        c.oidc.require_par = true;
        let mut okta = client(OKTA, ClientAuthMethod::ClientSecretBasic);
        okta.client_secret = Some(BASIC_SECRET.into());
        okta.name = "Corp Okta".into();
        okta.front_channel_subject = true;
        c.clients.push(okta);
        let mut app = client("bank-app", ClientAuthMethod::ClientSecretBasic);
        app.client_secret = Some(BASIC_SECRET.into());
        c.clients.push(app);
    })
    .await;
    assert_eq!(server.enrol(ALICE, PERSON_ENROL).await.status(), 201);
    server
}

/// The request Okta sends (the default scopes, PKCE when "Require PKCE" is on).
fn okta_request(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let challenge = inherence::protocol::pkce::challenge(VERIFIER);
    let mut u = url::Url::parse(&server.url("/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "okta-state-1")
        .append_pair("nonce", "okta-nonce-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// The hidden fields and the policy of the "who is signing in" page.
async fn ask_page(r: reqwest::Response) -> (Vec<(String, String)>, String) {
    assert_eq!(r.status(), 200, "the user is asked who is signing in");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"login_hint\""), "{html}");
    assert!(html.contains("Corp Okta"), "{html}");
    let attr = |s: &str, name: &str| -> Option<String> {
        let start = s.find(&format!("{name}=\""))? + name.len() + 2;
        let end = s[start..].find('"')? + start;
        Some(s[start..end].replace("&amp;", "&"))
    };
    let fields = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|i| (attr(i, "name").unwrap(), attr(i, "value").unwrap()))
        .collect();
    (fields, csp)
}

/// Face check, finish, code exchange: the ID token's claims.
async fn complete(b: &reqwest::Client, server: &TestServer, capture: &str) -> Value {
    let v = attempt(b, server, capture).await;
    assert_eq!(v["status"], "approved", "{v}");
    let back = finish(b, server, capture).await;
    let q = query(&back);
    assert_eq!(q["state"], "okta-state-1");
    let t = exchange_code(server, OKTA, &q["code"], VERIFIER).await;
    let info: Value = http()
        .get(server.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], ALICE, "{info}");
    jwt_claims(t["id_token"].as_str().expect("an ID token"))
}

#[tokio::test]
async fn without_a_hint_the_user_is_asked_and_the_id_token_names_them_for_okta() {
    let server = world().await;
    let b = browser();
    // Discovery tells Okta's admin the claim exists.
    let d: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        d["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&"preferred_username".into())
    );
    let r = b
        .get(okta_request(&server, OKTA, &[]))
        .send()
        .await
        .unwrap();
    let (fields, csp) = ask_page(r).await;
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9;"),
        "{csp}"
    );
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "state" && v == "okta-state-1")
    );
    assert!(!fields.iter().any(|(k, _)| k == "login_hint"));
    // The page sends the same request again with the typed name.
    let mut form = fields.clone();
    form.push(("login_hint".into(), ALICE.into()));
    let r = b
        .post(server.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let capture = location(&r);
    assert!(capture.starts_with("/capture/"), "{capture}");
    // The check stays in this browser: no hand-off link a password holder could send to the
    // real user (Okta would accept the relayed face).
    let h = b
        .get(server.url(&format!("{capture}/handoff")))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 403);
    let c = complete(&b, &server, &capture).await;
    assert_eq!(c["sub"], ALICE);
    assert_eq!(c["preferred_username"], ALICE, "Okta matches this claim");
    assert_eq!(c["nonce"], "okta-nonce-1");
    assert_eq!(c["aud"], OKTA);
    assert_eq!(c["amr"], serde_json::json!(["face"]));
}

#[tokio::test]
async fn a_front_channel_login_hint_is_taken_from_the_registered_client_only() {
    let server = world().await;
    let b = browser();
    // Okta passing a login_hint along: straight to the capture page.
    let capture = open_capture(&b, &okta_request(&server, OKTA, &[("login_hint", ALICE)])).await;
    let c = complete(&b, &server, &capture).await;
    assert_eq!(c["preferred_username"], ALICE);
    // Another client cannot name a user in the browser (it must push), and its tokens carry
    // no preferred_username.
    let mut app = okta_request(&server, "bank-app", &[("login_hint", ALICE)]);
    let r = http().get(&app).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(query(&location(&r))["error"], "invalid_request");
    app = app.replace("login_hint", "x_hint");
    let r = http().get(&app).send().await.unwrap();
    assert_eq!(query(&location(&r))["error"], "invalid_request");
}

#[tokio::test]
async fn a_named_user_proves_nothing_enrolment_and_unknown_names_are_refused() {
    let server = world().await;
    // Enrolment stays PAR-only: a typed name never enrols a face.
    let r = http()
        .get(okta_request(
            &server,
            OKTA,
            &[("login_hint", "mallory@corp.example"), ("prompt", "create")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(query(&location(&r))["error"], "invalid_request");
    // A name without an enrolled face goes back to Okta as an error.
    let r = http()
        .get(okta_request(
            &server,
            OKTA,
            &[("login_hint", "nobody@corp.example")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let q = query(&location(&r));
    assert_eq!(q["error"], "unmet_authentication_requirements", "{q:?}");
    // A name that is not a subject identifier is refused before anything starts.
    let r = http()
        .get(okta_request(&server, OKTA, &[("login_hint", "a\u{7}b")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "invalid_request");
    // A pushed request from this client still needs a hint (nobody to ask again).
    let r = http()
        .post(server.url("/par"))
        .basic_auth(OKTA, Some(BASIC_SECRET))
        .form(&[
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", REDIRECT),
            (
                "code_challenge",
                &inherence::protocol::pkce::challenge(VERIFIER),
            ),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("login_hint"));
}

#[tokio::test]
async fn starts_in_the_browser_spend_the_clients_request_budget() {
    // Anyone can start such a request: each start is counted like a pushed one.
    let server = TestServer::protocol(|c| {
        c.rate_limits.par_per_minute = 2;
        let mut okta = client(OKTA, ClientAuthMethod::ClientSecretBasic);
        okta.client_secret = Some(BASIC_SECRET.into());
        okta.front_channel_subject = true;
        c.clients.push(okta);
    })
    .await;
    assert_eq!(server.enrol(ALICE, PERSON_ENROL).await.status(), 201);
    let start = okta_request(&server, OKTA, &[("login_hint", ALICE)]);
    for _ in 0..2 {
        let r = http().get(&start).send().await.unwrap();
        assert!(location(&r).starts_with("/capture/"));
    }
    let r = http().get(&start).send().await.unwrap();
    let q = query(&location(&r));
    assert_eq!(q["error"], "temporarily_unavailable", "{q:?}");
}
