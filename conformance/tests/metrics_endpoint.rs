//! `/metrics`: on the admin listener by default and absent from the public one; on the public
//! listener only behind its token; off entirely when disabled. A real step-up (on the engine
//! double) shows up in the counters: its requests by route template, its decision with reason
//! and scores, the store operations and the audit append; and no subject, flow id or secret
//! becomes a label.

use inherence::flow::settings::ClientAuthMethod;
use inherence::metrics::MetricsListener;

use crate::server::*;

const IDP: &str = "okta-idp";
const ALICE: &str = "alice@corp.example";
const VERIFIER: &str = "metrics-verifier-0123456789abcdef0123456789abcdef";

fn add_idp(c: &mut inherence::config::Config) {
    let mut idp = client(IDP, ClientAuthMethod::ClientSecretBasic);
    idp.client_secret = Some(BASIC_SECRET.into());
    idp.front_channel_subject = true;
    c.clients.push(idp);
}

fn request(server: &TestServer) -> String {
    let challenge = inherence::protocol::pkce::challenge(VERIFIER);
    let mut u = url::Url::parse(&server.url("/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", IDP)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1")
        .append_pair("nonce", "n1")
        .append_pair("login_hint", ALICE)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    u.to_string()
}

async fn scrape(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = http().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// The value of the sample line that starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_step_up_shows_in_the_admin_listeners_metrics_and_nothing_personal_is_a_label() {
    let server = TestServer::protocol(add_idp).await;
    assert_eq!(server.enrol(ALICE, PERSON_ENROL).await.status(), 201);
    let b = browser();
    let capture = open_capture(&b, &request(&server)).await;
    let flow_id = capture.rsplit('/').next().unwrap().to_owned();
    let v = attempt(&b, &server, &capture).await;
    assert_eq!(v["status"], "approved", "{v}");
    let back = finish(&b, &server, &capture).await;
    let q = query(&back);
    let t = exchange_code(&server, IDP, &q["code"], VERIFIER).await;
    assert!(t["id_token"].is_string());

    // Not on the public listener.
    assert_eq!(scrape(&server.url("/metrics"), None).await.status(), 404);
    let r = scrape(&format!("{}/metrics", server.admin), None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    for (prefix, at_least) in [
        (
            "inherence_http_requests_total{route=\"/authorize\",method=\"GET\",status=\"3xx\"}",
            1.0,
        ),
        (
            "inherence_http_requests_total{route=\"/token\",method=\"POST\",status=\"2xx\"}",
            1.0,
        ),
        (
            "inherence_http_request_duration_seconds_count{route=\"/capture/{id}/frames\",method=\"POST\"}",
            1.0,
        ),
        (
            "inherence_decisions_total{channel=\"oidc\",outcome=\"approved\",tenant=\"default\"}",
            1.0,
        ),
        (
            "inherence_decision_reasons_total{channel=\"oidc\",outcome=\"approved\",reason=\"APPROVED\",tenant=\"default\"}",
            1.0,
        ),
        ("inherence_liveness_score_count{channel=\"oidc\"}", 1.0),
        ("inherence_face_match_score_count{channel=\"oidc\"}", 1.0),
        ("inherence_decision_attempt_count{channel=\"oidc\"}", 1.0),
        ("inherence_capture_analysis_seconds_count ", 1.0),
        ("inherence_audit_append_duration_seconds_count ", 1.0),
        (
            "inherence_store_operation_duration_seconds_count{op=\"take\",namespace=\"codes\"}",
            1.0,
        ),
        (
            "inherence_signing_keys{alg=\"ES256\",state=\"active\"}",
            1.0,
        ),
    ] {
        let got = sample(&text, prefix).unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
        assert!(got >= at_least, "{prefix} = {got}");
    }
    assert!(sample(&text, "inherence_webhook_outbox_depth ").is_some());
    assert!(sample(&text, "inherence_audit_checkpoint_age_seconds ").is_some());
    // Labels hold templates and codes, never who or which flow.
    for private in [ALICE, flow_id.as_str(), &q["code"], BASIC_SECRET] {
        assert!(!text.contains(private), "{private} leaked into the metrics");
    }
    // The admin listener serves the metrics and health only.
    let r = http()
        .get(format!("{}/authorize", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn on_the_public_listener_the_metrics_need_their_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics-token");
    let token = "scraper-token-0123456789abcdef0123456789";
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let server = TestServer::protocol(|c| {
        c.metrics.listener = MetricsListener::Main;
        c.metrics.token_file = Some(file.clone());
    })
    .await;
    let url = server.url("/metrics");
    let r = scrape(&url, None).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        scrape(&url, Some("scraper-token-wrong")).await.status(),
        401
    );
    let almost = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(scrape(&url, Some(&almost)).await.status(), 401);
    let r = http()
        .get(&url)
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "only a bearer token");
    let r = http()
        .get(&url)
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the scheme is case-insensitive");
    let r = scrape(&url, Some(token)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "inherence_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"4xx\"} 4"
        ),
        "{text}"
    );
    // The admin listener asks for the same token once one is set.
    assert_eq!(
        scrape(&format!("{}/metrics", server.admin), None)
            .await
            .status(),
        401
    );
    assert_eq!(
        scrape(&format!("{}/metrics", server.admin), Some(token))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn metrics_off_serves_nothing_and_counts_nothing() {
    let server = TestServer::protocol(|c| c.metrics.enabled = false).await;
    let r = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        scrape(&format!("{}/metrics", server.admin), None)
            .await
            .status(),
        404
    );
    assert_eq!(scrape(&server.url("/metrics"), None).await.status(), 404);
    assert!(
        !server
            .provider
            .metrics
            .render()
            .contains("inherence_http_requests_total{"),
        "requests are not even counted"
    );
}

#[test]
fn metrics_on_the_public_listener_without_a_token_is_refused_by_the_configuration() {
    let mut c = inherence::config::Config::default();
    c.metrics.listener = MetricsListener::Main;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("token_file"), "{e}");
}
