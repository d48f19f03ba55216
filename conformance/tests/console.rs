//! The operator console on the admin listener, signed in through an OpenID provider that this
//! test plays (discovery, keys, an authorization endpoint that signs whoever the test names in,
//! a token endpoint that checks the client, the code and PKCE). The browser tests sign in
//! through the real Keycloak.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use inherence::keys::{Alg, KeyRing, file_ring};
use serde_json::json;

use crate::server::*;

const CLIENT: &str = "inherence-console";
const SECRET: &str = "console-secret-0123456789abcdef0123";

/// A code's nonce, PKCE challenge and redirect URI.
type Issued = (String, String, String);

/// The provider: who signs in next, and the codes it issued.
#[derive(Clone)]
struct Op {
    issuer: String,
    ring: Arc<KeyRing>,
    next_roles: Arc<Mutex<Vec<String>>>,
    codes: Arc<Mutex<HashMap<String, Issued>>>,
}

async fn start_op(dir: &std::path::Path) -> Op {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", l.local_addr().unwrap());
    let ring = Arc::new(
        file_ring(&dir.join("op-key.json"), Alg::ES256, "op", 1_800_000_000)
            .unwrap()
            .0,
    );
    let op = Op {
        issuer: issuer.clone(),
        ring,
        next_roles: Arc::default(),
        codes: Arc::default(),
    };
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(op): State<Op>| async move {
                axum::Json(json!({
                    "issuer": op.issuer,
                    "authorization_endpoint": format!("{}/auth", op.issuer),
                    "token_endpoint": format!("{}/token", op.issuer),
                    "jwks_uri": format!("{}/jwks", op.issuer),
                }))
            }),
        )
        .route(
            "/jwks",
            get(|State(op): State<Op>| async move { axum::Json(op.ring.jwks()) }),
        )
        .route(
            "/auth",
            get(
                |State(op): State<Op>, Query(q): Query<HashMap<String, String>>| async move {
                    assert_eq!(q["client_id"], CLIENT);
                    assert_eq!(q["code_challenge_method"], "S256");
                    let code = format!("code-{}", q["state"]);
                    op.codes.lock().unwrap().insert(
                        code.clone(),
                        (
                            q["nonce"].clone(),
                            q["code_challenge"].clone(),
                            q["redirect_uri"].clone(),
                        ),
                    );
                    Redirect::to(&format!(
                        "{}?code={code}&state={}",
                        q["redirect_uri"], q["state"]
                    ))
                },
            ),
        )
        .route(
            "/token",
            post(
                |State(op): State<Op>,
                 headers: axum::http::HeaderMap,
                 axum::Form(f): axum::Form<HashMap<String, String>>| async move {
                    use base64::Engine as _;
                    let basic = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{CLIENT}:{SECRET}"))
                    );
                    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&basic) {
                        return (axum::http::StatusCode::UNAUTHORIZED, "bad client")
                            .into_response();
                    }
                    let Some((nonce, challenge, redirect)) =
                        op.codes.lock().unwrap().remove(&f["code"])
                    else {
                        return (axum::http::StatusCode::BAD_REQUEST, "bad code").into_response();
                    };
                    assert_eq!(f["redirect_uri"], redirect);
                    assert_eq!(
                        inherence::protocol::pkce::challenge(&f["code_verifier"]),
                        challenge
                    );
                    let now = jsonwebtoken::get_current_timestamp() as i64;
                    let roles = op.next_roles.lock().unwrap().clone();
                    let id_token = op
                        .ring
                        .sign(
                            Alg::ES256,
                            "JWT",
                            &json!({
                                "iss": op.issuer, "aud": CLIENT, "sub": "op-olga", "iat": now,
                                "exp": now + 300, "nonce": nonce, "name": "Olga Operator",
                                "roles": roles,
                            }),
                        )
                        .unwrap();
                    axum::Json(
                        json!({"access_token": "x", "token_type": "Bearer", "id_token": id_token}),
                    )
                    .into_response()
                },
            ),
        )
        .with_state(op.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    op
}

/// Signs in with `roles` in a new browser; returns it.
async fn signed_in(op: &Op, admin: &str, roles: &[&str]) -> reqwest::Client {
    *op.next_roles.lock().unwrap() = roles.iter().map(|r| r.to_string()).collect();
    let b = browser();
    let r = b.get(format!("{admin}/admin/login")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let back = location(&r).replace("http://127.0.0.1:9464", admin);
    assert_eq!(b.get(&back).send().await.unwrap().status(), 303);
    b
}

/// The hidden CSRF field of a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn world(dir: &std::path::Path) -> (TestServer, Op) {
    let op = start_op(dir).await;
    let issuer = op.issuer.clone();
    let server = TestServer::protocol(move |c| {
        crate::didit_sessions::fast_webhooks(c);
        c.tenants.push(inherence::tenant::TenantConfig {
            id: inherence::tenant::TenantId::parse("other").unwrap(),
            name: "Other bank".into(),
        });
        c.console.enabled = true;
        c.console.issuer = issuer;
        c.console.client_id = CLIENT.into();
        c.console.client_secret = Some(SECRET.into());
    })
    .await;
    (server, op)
}

#[tokio::test]
async fn an_operator_signs_in_sees_the_pages_their_role_allows_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = world(dir.path()).await;
    // The console's redirect URI is its public URL's; the test's admin listener is elsewhere,
    // so the provider's redirect is followed to the real listener.
    let admin = server.admin.clone();
    *op.next_roles.lock().unwrap() = vec!["inherence-viewer".into(), "unrelated".into()];
    let b = browser();
    let r = b.get(format!("{admin}/admin/login")).send().await.unwrap();
    let at_op = location(&r);
    assert!(at_op.starts_with(&op.issuer), "{at_op}");
    let q = query(&at_op);
    assert_eq!(q["redirect_uri"], "http://127.0.0.1:9464/admin/callback");
    let r = b.get(&at_op).send().await.unwrap();
    let back = location(&r).replace("http://127.0.0.1:9464", &admin);
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/admin");
    let r = b.get(format!("{admin}/admin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Olga Operator") && html.contains("viewer"),
        "{html}"
    );
    for page in ["/admin/review", "/admin/decisions"] {
        let r = b.get(format!("{admin}{page}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
    }
    // The callback is single use: replaying it does not sign in again.
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Sign-out needs the form's token.
    let html = b
        .get(format!("{admin}/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    let r = b
        .post(format!("{admin}/admin/logout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b
        .post(format!("{admin}/admin/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = b.get(format!("{admin}/admin")).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed out");
}

#[tokio::test]
async fn no_role_no_access_and_a_callback_from_another_browser_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = world(dir.path()).await;
    let admin = server.admin.clone();
    *op.next_roles.lock().unwrap() = vec![
        "offline_access".into(),
        "inherence-admin@no-such-tenant".into(),
    ];
    let b = browser();
    let r = b.get(format!("{admin}/admin/login")).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let back = location(&r).replace("http://127.0.0.1:9464", &admin);
    // Another browser (an attacker who lured the operator to their own sign-in) cannot use it.
    let other = browser();
    let r = other.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 403, "signed in, but without a role");
    let r = b.get(format!("{admin}/admin")).send().await.unwrap();
    assert_eq!(r.status(), 303, "no session was opened");
    // The public listener has no console.
    let r = http().get(server.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_viewer_cannot_decide_and_a_reviewer_needs_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = world(dir.path()).await;
    let admin = server.admin.clone();
    *op.next_roles.lock().unwrap() = vec!["inherence-viewer".into()];
    let viewer = browser();
    let r = viewer
        .get(format!("{admin}/admin/login"))
        .send()
        .await
        .unwrap();
    let r = viewer.get(location(&r)).send().await.unwrap();
    let back = location(&r).replace("http://127.0.0.1:9464", &admin);
    assert_eq!(viewer.get(&back).send().await.unwrap().status(), 303);
    let html = viewer
        .get(format!("{admin}/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    let r = viewer
        .post(format!("{admin}/admin/review/default/some-session"))
        .form(&[("csrf", csrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a viewer may not decide");
}

#[tokio::test]
async fn an_admin_erases_a_subject_after_confirming_and_the_audit_log_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = world(dir.path()).await;
    let admin = server.admin.clone();
    assert_eq!(server.enrol("carol", PERSON_ENROL).await.status(), 201);
    // A reviewer sees the enrolment, without the erase form.
    let reviewer = signed_in(&op, &admin, &["inherence-reviewer"]).await;
    let html = reviewer
        .get(format!(
            "{admin}/admin/subjects?tenant=default&subject=carol"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Face quality") && !html.contains("/erase"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let r = reviewer
        .post(format!("{admin}/admin/subjects/default/erase"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("subject", "carol"),
            ("confirm", "carol"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a reviewer may not erase");

    let b = signed_in(&op, &admin, &["inherence-admin"]).await;
    let html = b
        .get(format!(
            "{admin}/admin/subjects?tenant=default&subject=carol"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("/admin/subjects/default/erase"), "{html}");
    let csrf = csrf_of(&html);
    let erase = |form: Vec<(&'static str, String)>| {
        let b = b.clone();
        let url = format!("{admin}/admin/subjects/default/erase");
        async move { b.post(url).form(&form).send().await.unwrap().status() }
    };
    // No CSRF token, a wrong confirmation: nothing happens.
    assert_eq!(
        erase(vec![
            ("subject", "carol".into()),
            ("confirm", "carol".into())
        ])
        .await,
        403
    );
    assert_eq!(
        erase(vec![
            ("csrf", csrf.clone()),
            ("subject", "carol".into()),
            ("confirm", "caro".into())
        ])
        .await,
        400
    );
    assert!(
        server
            .provider
            .enrolment(&Default::default(), "carol")
            .is_ok()
    );
    assert_eq!(
        erase(vec![
            ("csrf", csrf.clone()),
            ("subject", "carol".into()),
            ("confirm", "carol".into())
        ])
        .await,
        200
    );
    assert!(
        server
            .provider
            .enrolment(&Default::default(), "carol")
            .is_err()
    );
    // The audit log names the operator: the erasure (with the subject's pseudonym, never its
    // reference) and their sign-ins.
    let audit = &server.provider.audit;
    let entries: Vec<inherence::audit::record::Entry> = audit
        .keys()
        .unwrap()
        .iter()
        .filter_map(|k| audit.entry_at(k).unwrap().and_then(|e| e.ok()))
        .collect();
    let erased = entries
        .iter()
        .find(|e| e.body["action"] == "erase_subject")
        .expect("an operator entry for the erasure");
    assert_eq!(
        erased.body["operator"],
        format!("Olga Operator <op-olga> via {}", op.issuer)
    );
    assert_eq!(erased.body["tenant"], "default");
    assert!(erased.body["subject"].as_str().unwrap().starts_with("ps1:"));
    assert!(!erased.body.to_string().contains("carol"));
    assert!(
        entries
            .iter()
            .filter(|e| e.body["action"] == "sign_in")
            .count()
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_a_session_in_review_with_the_apis_webhook_and_an_audit_record_naming_them()
 {
    use crate::didit_sessions::{call, destination, key, open_hosted, workflow};
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = world(dir.path()).await;
    let admin = server.admin.clone();
    let k = key(&server);
    let rx = crate::receiver::Receiver::start(0).await;
    destination(&server, &k, &rx).await;
    // A liveness review band up to 99.99: the engine double's live face lands In Review.
    let wf = workflow(&server, &k, json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_score_decline_threshold": 10, "face_liveness_score_review_threshold": 99.99}}, {"feature": "FACE_MATCH"}]})).await;
    assert_eq!(server.enrol("dave", PERSON_ENROL).await.status(), 201);
    let (st, s) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(json!({"workflow_id": wf, "vendor_data": "dave", "callback": "myapp://done"})),
    )
    .await;
    assert_eq!(st, 201, "{s}");
    let id = s["session_id"].as_str().unwrap().to_owned();
    let b = browser();
    let capture = open_hosted(&b, s["url"].as_str().unwrap()).await;
    attempt(&b, &server, &capture).await;
    let to = finish(&b, &server, &capture).await;
    assert_eq!(query(&to)["status"], "In Review", "{to}");

    // In the queue, for a viewer too; the decision form only for a reviewer.
    let viewer = signed_in(&op, &admin, &["inherence-viewer"]).await;
    let html = viewer
        .get(format!("{admin}/admin/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&id) && html.contains("dave"), "{html}");
    let page = format!("{admin}/admin/review/default/{id}");
    let html = viewer
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("LOW_LIVENESS_SCORE") && !html.contains("name=\"decision\""),
        "{html}"
    );
    // Another tenant's reviewer does not see it.
    let elsewhere = signed_in(&op, &admin, &["inherence-reviewer@other"]).await;
    let r = elsewhere.get(&page).send().await.unwrap();
    assert_eq!(
        r.status(),
        404,
        "another tenant's session does not exist for them"
    );
    let html = elsewhere
        .get(format!("{admin}/admin/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&id), "{html}");
    // Nor can they decide it, with their own valid form token.
    let their_csrf = csrf_of(&html);
    let r = elsewhere
        .post(&page)
        .form(&[("csrf", their_csrf.as_str()), ("decision", "decline")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let reviewer = signed_in(&op, &admin, &["inherence-reviewer"]).await;
    let html = reviewer
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"decision\""));
    let csrf = csrf_of(&html);
    // Without the token (a cross-site form): refused, nothing changes.
    let r = reviewer
        .post(&page)
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = reviewer
        .post(&page)
        .form(&[
            ("csrf", csrf.as_str()),
            ("decision", "approve"),
            ("comment", "looked at it <b>myself</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = reviewer
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Approved by Olga Operator (op-olga)"),
        "{html}"
    );
    assert!(
        html.contains("&lt;b&gt;myself&lt;/b&gt;") && !html.contains("<b>myself"),
        "escaped"
    );
    // The API sees the new status; the webhook follows; the audit record names the operator.
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["status"], "Approved", "{d}");
    assert_eq!(d["reviews"][0]["user"], "Olga Operator (op-olga)", "{d}");
    rx.wait_for(10, "the status webhook", |a| {
        a.iter()
            .any(|r| r.body["session_id"] == json!(id) && r.body["status"] == "Approved")
    })
    .await;
    let v = server.provider.verdicts().unwrap();
    let review = v
        .iter()
        .find(|v| v.session_id.as_deref() == Some(id.as_str()) && v.client == "console")
        .expect("the review's audit record");
    assert_eq!(review.outcome, "Approved");
    assert_eq!(
        review.operator.as_deref(),
        Some(format!("Olga Operator <op-olga> via {}", op.issuer).as_str())
    );
    // A second decision on the same form is refused (the session is no longer in review).
    let r = reviewer
        .post(&page)
        .form(&[("csrf", csrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn a_session_ends_after_its_idle_time_and_its_absolute_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = world(dir.path()).await;
    let admin = server.admin.clone();
    let b = signed_in(&op, &admin, &["inherence-viewer"]).await;
    // Activity keeps it alive...
    for _ in 0..3 {
        server.pass(std::time::Duration::from_secs(800)).await;
        assert_eq!(
            b.get(format!("{admin}/admin"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // ...until it has been idle for idle_secs (900).
    server.pass(std::time::Duration::from_secs(901)).await;
    assert_eq!(
        b.get(format!("{admin}/admin"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    // And never longer than session_secs (8 h), however active.
    let b = signed_in(&op, &admin, &["inherence-viewer"]).await;
    for _ in 0..36 {
        server.pass(std::time::Duration::from_secs(800)).await;
        let _ = b.get(format!("{admin}/admin")).send().await.unwrap();
    }
    assert_eq!(
        b.get(format!("{admin}/admin"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}
