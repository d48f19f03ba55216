//! Auth0's post-login Action redirect: the Action's HS256 `session_token` (the format of
//! `api.redirect.encodeToken`) starts a face check for its `sub`, and the browser POSTs the
//! signed result and the `state` back to the tenant's `/continue`, where the Action's
//! `validateToken` checks it. The face check here is the test double's; the browser test runs
//! the Action's own code (idp-adapters/auth0) in Node against the real engine
//! (conformance/e2e/auth0.test.mjs).

use inherence::flow::settings::ClientAuthMethod;
use inherence::protocol::authorize::ResponseType;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::server::*;

const CLIENT: &str = "auth0-corp";
const TENANT: &str = "corp.eu.auth0.com";
const CONTINUE: &str = "https://corp.eu.auth0.com/continue";
const SECRET: &str = "auth0-action-secret-0123456789abcdef0123";
const ALICE: &str = "auth0|alice";

async fn world() -> TestServer {
    let server = TestServer::protocol(|c| {
        let mut a = client(CLIENT, ClientAuthMethod::None);
        a.response_types = vec![ResponseType::Auth0Continue];
        a.redirect_uris = vec![CONTINUE.into()];
        a.client_secret = Some(SECRET.into());
        c.clients.push(a);
    })
    .await;
    assert_eq!(server.enrol(ALICE, PERSON_ENROL).await.status(), 201);
    server
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// What `api.redirect.encodeToken` makes: iss the tenant hostname, sub the user id, exp, ip,
/// the payload's claims beside them.
fn session_claims(server: &TestServer, sub: &str) -> Value {
    let now = server.now_secs();
    json!({"iss": TENANT, "sub": sub, "iat": now, "exp": now + 300, "ip": "203.0.113.9"})
}

fn start_url(server: &TestServer, client_id: &str, token: &str, state: &str) -> String {
    let mut u = url::Url::parse(&server.url("/auth0/start")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("session_token", token)
        .append_pair("state", state);
    u.to_string()
}

async fn finish_page(b: &reqwest::Client, server: &TestServer, capture: &str) -> reqwest::Response {
    b.get(server.url(&format!("{capture}/finish")))
        .send()
        .await
        .unwrap()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_actions_token_starts_a_face_check_and_a_signed_result_goes_to_continue() {
    let server = world().await;
    let b = browser();
    let token = hs256(&session_claims(&server, ALICE), SECRET);
    let start = start_url(&server, CLIENT, &token, "auth0-state-1");
    let capture = open_capture(&b, &start).await;
    let v = attempt(&b, &server, &capture).await;
    assert_eq!(v["status"], "approved", "{v}");
    let (action, fields) = form_of(finish_page(&b, &server, &capture).await).await;
    assert_eq!(action, CONTINUE);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["session_token", "state"]);
    assert_eq!(field(&fields, "state"), Some("auth0-state-1"));
    // What validateToken checks (HS256 with the secret, exp, the state claim), and what the
    // Action's code checks (iss, sub, result, amr).
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[TENANT]);
    let c = jsonwebtoken::decode::<Value>(
        field(&fields, "session_token").unwrap(),
        &DecodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        &v,
    )
    .expect("the result verifies with the Action's secret")
    .claims;
    assert_eq!(c["state"], "auth0-state-1");
    assert_eq!(c["sub"], ALICE);
    assert_eq!(c["iss"], server.base);
    assert_eq!(c["result"], "approved");
    assert_eq!(c["amr"], json!(["face"]));
    assert_eq!(c["acr"], "biometric");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
    // The link is single use, and so is the answer.
    let r = b.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(finish_page(&b, &server, &capture).await.status(), 400);
    // Inherence's own result is never a session token (no reflection with the one secret).
    let reflected = start_url(
        &server,
        CLIENT,
        field(&fields, "session_token").unwrap(),
        "auth0-state-2",
    );
    assert_eq!(http().get(&reflected).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_token_the_registered_tenant_did_not_sign_starts_nothing_and_is_never_answered() {
    let server = world().await;
    let good = session_claims(&server, ALICE);
    let now = server.now_secs();
    let edit = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let cases = [
        ("control", hs256(&good, SECRET), CLIENT, true),
        (
            "another secret",
            hs256(&good, "another-secret-0123456789abcdef0123"),
            CLIENT,
            false,
        ),
        (
            "another tenant",
            hs256(&edit("iss", json!("evil.eu.auth0.com")), SECRET),
            CLIENT,
            false,
        ),
        (
            "expired",
            hs256(&edit("exp", json!(now - 120)), SECRET),
            CLIENT,
            false,
        ),
        (
            "valid for days",
            hs256(&edit("exp", json!(now + 86_400)), SECRET),
            CLIENT,
            false,
        ),
        (
            "no user",
            hs256(&edit("sub", json!("")), SECRET),
            CLIENT,
            false,
        ),
        ("not a JWT", "x.y.z".to_owned(), CLIENT, false),
        ("another client", hs256(&good, SECRET), "rp-basic", false),
    ];
    for (what, token, client_id, starts) in cases {
        let r = http()
            .get(start_url(&server, client_id, &token, "s"))
            .send()
            .await
            .unwrap();
        if starts {
            assert_eq!(r.status(), 303, "{what}");
        } else {
            assert!(r.status().is_client_error(), "{what}: {}", r.status());
            // Shown to the user: nothing goes to a URL the token did not prove.
            assert!(r.headers().get("location").is_none(), "{what}");
            assert!(!r.text().await.unwrap().contains("<form"), "{what}");
        }
    }
    // No state: the answer could not be matched at /continue.
    let mut u = url::Url::parse(&server.url("/auth0/start")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("session_token", &hs256(&good, SECRET));
    assert_eq!(http().get(u.as_str()).send().await.unwrap().status(), 400);
    // An Auth0 client cannot be driven through /authorize: refused on a page, never sent
    // to its /continue.
    let r = http()
        .get(server.url(&format!(
            "/authorize?client_id={CLIENT}&redirect_uri={CONTINUE}&response_type=code&scope=openid&state=s"
        )))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn an_unenrolled_user_and_a_cancel_go_back_to_continue_unsigned() {
    let server = world().await;
    let b = browser();
    // No face enrolled: the error and the state are posted back, with no token to validate.
    let token = hs256(&session_claims(&server, "auth0|nobody"), SECRET);
    let r = b
        .get(start_url(&server, CLIENT, &token, "st-1"))
        .send()
        .await
        .unwrap();
    let (action, fields) = form_of(r).await;
    assert_eq!(action, CONTINUE);
    assert_eq!(field(&fields, "state"), Some("st-1"));
    assert_eq!(
        field(&fields, "error"),
        Some("unmet_authentication_requirements")
    );
    assert!(field(&fields, "session_token").is_none());
    // The user cancels: the finish page posts access_denied.
    let token = hs256(&session_claims(&server, ALICE), SECRET);
    let capture = open_capture(&b, &start_url(&server, CLIENT, &token, "st-2")).await;
    let r: Value = b
        .post(server.url(&format!("{capture}/cancel")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["redirect"], format!("{capture}/finish"));
    let (_, fields) = form_of(finish_page(&b, &server, &capture).await).await;
    assert_eq!(field(&fields, "error"), Some("access_denied"));
    assert_eq!(field(&fields, "state"), Some("st-2"));
    assert!(field(&fields, "session_token").is_none());
}
