//! Attacks on the OpenID protocol surface, each tried as an attacker would (a browser editing
//! the front-channel request, a token reused where it does not belong, a parameter the server
//! might silently ignore). Every one of them was accepted before it was fixed.

use serde_json::Value;

use crate::oidc_flows::{par_authorize_url, pass_face_check, push};
use crate::server::*;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A front-channel step-up URL for `rp-basic` (PAR not required) asking for acr "biometric"
/// and naming alice through the trusted identity provider's ID token, with `extra` overrides.
fn front(server: &TestServer, extra: &[(&str, &str)]) -> String {
    let mut all = vec![("acr_values", "biometric")];
    all.extend_from_slice(extra);
    crate::oidc_negative::front(server, &all)
}

/// The error sent back to the client's redirect URI, or a panic naming where the browser was
/// sent instead (e.g. the capture page: the attack went through).
async fn error_of(url: &str) -> String {
    let r = browser().get(url).send().await.unwrap();
    let loc = location(&r);
    assert!(
        loc.starts_with(REDIRECT),
        "expected an error at the client, the browser went to {loc}"
    );
    query(&loc).get("error").cloned().unwrap_or_default()
}

async fn pushed_error(server: &TestServer, extra: &[(&str, &str)]) -> (u16, Value) {
    let r = push(server, "rp-par", extra, CHALLENGE).await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_channel_edits_never_change_what_is_issued() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;

    // The control: the unedited front-channel step-up reaches the capture page.
    let r = browser().get(front(&server, &[])).send().await.unwrap();
    assert!(location(&r).contains("/capture/"), "{}", location(&r));

    // prompt=create added to a step-up in the browser: never an enrolment (which would issue
    // a code without a face check against the enrolled face).
    for extra in [
        &[("prompt", "create")][..],
        &[("prompt", "create"), ("acr_values", "")][..],
        &[("prompt", "login create")][..],
    ] {
        assert_eq!(
            error_of(&front(&server, extra)).await,
            "invalid_request",
            "{extra:?}"
        );
    }
    // Pushed (client-authenticated) but together with a request for an acr: refused too.
    for extra in [
        &[
            ("login_hint", "alice"),
            ("prompt", "create"),
            ("acr_values", "biometric"),
        ][..],
        &[
            ("login_hint", "alice"),
            ("prompt", "create"),
            (
                "claims",
                r#"{"id_token":{"acr":{"essential":true,"values":["biometric"]}}}"#,
            ),
        ][..],
    ] {
        let (status, body) = pushed_error(&server, extra).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{extra:?}"
        );
    }

    // A request object is not supported: refused, never silently ignored (OpenID Connect
    // Core 6.1), whatever it asks for.
    let object = "eyJhbGciOiJub25lIn0.eyJhY3JfdmFsdWVzIjoiMCIsInByb21wdCI6ImNyZWF0ZSJ9.";
    assert_eq!(
        error_of(&front(&server, &[("request", object)])).await,
        "request_not_supported"
    );
    let (status, body) =
        pushed_error(&server, &[("login_hint", "alice"), ("request", object)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("request_not_supported"))
    );

    // Response modes other than query are refused, not ignored.
    for mode in ["form_post", "fragment", "query.jwt", "web_message"] {
        assert_eq!(
            error_of(&front(&server, &[("response_mode", mode)])).await,
            "invalid_request",
            "{mode}"
        );
    }
    let r = browser()
        .get(front(&server, &[("response_mode", "query")]))
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).contains("/capture/"),
        "response_mode=query is the default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_must_be_id_tokens_meant_for_inherence() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let now = server.now_secs();

    // The trusted identity provider's ID token for another audience (issued to some other
    // application): not a statement meant for Inherence.
    for aud in [
        serde_json::json!("another-app"),
        serde_json::json!(["another-app", "x"]),
    ] {
        let hint = idp_key().sign(&serde_json::json!({
            "iss": IDP_ISSUER, "sub": "alice", "aud": aud, "iat": now - 30, "exp": now + 60
        }));
        assert_eq!(
            error_of(&front(&server, &[("id_token_hint", &hint)])).await,
            "login_required",
            "{aud}"
        );
    }
    // Without any audience.
    let hint =
        idp_key().sign(&serde_json::json!({"iss": IDP_ISSUER, "sub": "alice", "iat": now - 30}));
    assert_eq!(
        error_of(&front(&server, &[("id_token_hint", &hint)])).await,
        "login_required"
    );

    // Inherence's own access token (signed with the same keys) is not an ID token.
    let at = server.admin_token().await;
    let at = at.as_str();
    assert_eq!(
        error_of(&front(&server, &[("id_token_hint", at)])).await,
        "login_required"
    );

    // Inherence's own ID token, issued to rp-par after a face check, with extra scopes asked
    // for: only openid is granted, and the token names only the client it was issued to.
    let verifier = inherence::flow::random_token(40);
    let url = par_authorize_url(
        &server,
        "rp-par",
        &[
            ("login_hint", "alice"),
            ("scope", "openid profile email offline_access"),
        ],
        &inherence::protocol::pkce::challenge(&verifier),
    )
    .await;
    let params = pass_face_check(&server, &browser(), &url).await;
    let tokens = exchange_code(&server, "rp-par", &params["code"], &verifier).await;
    assert_eq!(
        tokens["scope"], "openid",
        "only what is granted is listed: {tokens}"
    );
    assert!(tokens.get("refresh_token").is_none());
    let id_token = tokens["id_token"].as_str().unwrap();
    // As a hint for another client (rp-basic): refused.
    assert_eq!(
        error_of(&front(&server, &[("id_token_hint", id_token)])).await,
        "login_required"
    );
    // As a hint for the client it was issued to: accepted.
    let r = push(
        &server,
        "rp-par",
        &[("id_token_hint", id_token), ("acr_values", "biometric")],
        CHALLENGE,
    )
    .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_over_their_budget_get_429_with_retry_after() {
    let server = TestServer::protocol(|c| {
        c.rate_limits.par_per_minute = 5;
        c.rate_limits.token_per_minute = 3;
        c.rate_limits.capture_uploads_per_minute = 2;
    })
    .await;
    server.enrol("alice", PERSON_ENROL).await;
    let retry_after = |r: &reqwest::Response| -> u64 {
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };

    // /par: a burst from one client (the attack sent 300 in 0.3 s).
    server.next_minute().await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..8 {
        let r = push(&server, "rp-par", &[("login_hint", "alice")], CHALLENGE).await;
        statuses.push(r.status().as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429, 429, 429]);
    let last = last.unwrap();
    assert_eq!(last.status(), 429);
    let secs = retry_after(&last);
    assert!((1..=60).contains(&secs), "{secs}");
    let body: Value = last.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Another client's budget is its own.
    let other = http()
        .post(server.url("/token"))
        .basic_auth("admin", Some(ADMIN_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "enrolment")])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "admin has not spent anything");

    // /token: wrong codes still spend the authenticated client's budget.
    server.next_minute().await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = http()
            .post(server.url("/token"))
            .basic_auth("rp-basic", Some(BASIC_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "nonsense"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "v".repeat(43).as_str()),
            ])
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(retry_after(&r) >= 1);
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [400, 400, 400, 429, 429, 429]);

    // Capture uploads: each one runs the face check; the third upload of the client's flows
    // within the minute is refused before it is judged.
    server.next_minute().await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let b = browser();
        let capture = open_capture(&b, &front(&server, &[])).await;
        let (c, spec, asked) = challenge(&b, &server, &capture, false).await;
        let frames = server.recorded_person(&spec);
        let (status, v) = upload(&b, &server, &capture, &c, frames, Some(asked)).await;
        if status == 429 {
            assert_eq!(v["error"], "temporarily_unavailable", "{v}");
        } else {
            assert_eq!(v["status"], "approved", "{v}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_id_alone_cannot_capture() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let desktop = browser();
    let capture = open_capture(&desktop, &front(&server, &[])).await;

    // Someone who learnt the flow id (a shared screen, a log): no challenge, no preview, no
    // upload, no hand-off link; nothing is spent.
    let stranger = browser();
    let r = stranger
        .post(server.url(&format!("{capture}/challenge")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "access_denied");
    let r = stranger
        .post(server.url(&format!("{capture}/preview")))
        .body(vec![0u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    for path in ["handoff", "qr.svg"] {
        let r = stranger
            .get(server.url(&format!("{capture}/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    // An upload with a challenge the desktop asked for, from the stranger's device.
    let (c, spec, asked) = challenge(&desktop, &server, &capture, false).await;
    let frames = server.recorded_person(&spec);
    // Refused before the body is read, so the connection may close under a small body before
    // the answer is read (status 0): sent again until the answer arrives (a refusal spends
    // nothing, as the desktop's upload below shows).
    let mut answer = (0, serde_json::Value::Null);
    for _ in 0..50 {
        answer = upload(
            &stranger,
            &server,
            &capture,
            &c,
            frames.clone(),
            Some(asked),
        )
        .await;
        if answer.0 != 0 {
            break;
        }
    }
    let (status, v) = answer;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    // A guessed or altered hand-off secret does not open the flow on another device.
    let r = stranger
        .get(server.url(&format!(
            "{capture}?handoff=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    // Nothing was spent: the desktop's challenge is still good, and approves.
    let (status, v) = upload(&desktop, &server, &capture, &c, frames, None).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("approved")),
        "{v}"
    );

    // The phone the flow is handed to may capture (a new flow: the first one is decided).
    let desktop = browser();
    let capture = open_capture(&desktop, &front(&server, &[])).await;
    let phone = hand_off(&server, &desktop, &capture).await;
    assert_eq!(
        attempt(&phone, &server, &capture).await["status"],
        "approved"
    );
}

/// Reads from `s` until the server closes the connection or `within` passes; returns what was
/// read and whether it closed.
async fn closed_within(
    s: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (String::from_utf8_lossy(&got).into_owned(), r.is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_and_trickling_connections_are_cut() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::protocol(|c| {
        c.server.limits.header_read_timeout_secs = 1;
        c.server.limits.body_read_timeout_secs = 3;
        c.server.limits.slow_body_grace_secs = 1;
        c.server.limits.min_body_bytes_per_sec = 1000;
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let secs = std::time::Duration::from_secs;

    // Half-open: connections that never finish their headers (the attack held 200 for 46 s).
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    let t = std::time::Instant::now();
    for s in &mut held {
        let (_, closed) = closed_within(s, secs(4)).await;
        assert!(closed, "a connection without complete headers is closed");
    }
    assert!(t.elapsed() < secs(4), "{:?}", t.elapsed());

    // Trickling upload: a body announced as 20,000 bytes, sent at 10 bytes a second.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /par HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Authorization: Basic cnAtcGFyOnJwLWJhc2ljLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OQ==\r\n\
          Content-Length: 20000\r\n\r\n",
    )
    .await
    .unwrap();
    let t = std::time::Instant::now();
    let trickle = async {
        for _ in 0..60 {
            if s.write_all(b"aaaaaaaaaa").await.is_err() {
                break;
            }
            tokio::time::sleep(secs(1)).await;
        }
    };
    let _ = tokio::time::timeout(secs(5), trickle).await;
    let (answer, closed) = closed_within(&mut s, secs(2)).await;
    assert!(closed, "a trickling upload is cut: {answer}");
    assert!(t.elapsed() < secs(8), "{:?}", t.elapsed());

    // A normal request still works.
    let r = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let server = TestServer::protocol(|c| c.server.limits.max_connections_per_ip = 5).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // The sixth is closed at once, and so is a real request while the five are held.
    let mut sixth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (_, closed) = closed_within(&mut sixth, std::time::Duration::from_secs(2)).await;
    assert!(closed, "the sixth connection from one address is closed");
    assert!(http().get(server.url("/healthz")).send().await.is_err());
    // Released, the address may connect again.
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Hosted sessions used to share one made-up OpenID client ("v3-session") and with it one
/// upload budget: one key's users (any tenant's) could exhaust every hosted session's uploads.
/// Each key now spends its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_keys_hosted_sessions_cannot_spend_anothers_upload_budget() {
    use crate::didit_sessions::{call, key, open_hosted, workflow};
    let server = TestServer::protocol(|c| c.rate_limits.capture_uploads_per_minute = 2).await;
    let (a, b) = (key(&server), key(&server));
    let wf_a = workflow(
        &server,
        &a,
        serde_json::json!({"workflow_label": "a", "features": [{"feature": "LIVENESS"}]}),
    )
    .await;
    let wf_b = workflow(
        &server,
        &b,
        serde_json::json!({"workflow_label": "b", "features": [{"feature": "LIVENESS"}]}),
    )
    .await;
    server.next_minute().await;
    let mut statuses = Vec::new();
    for (k, wf) in [(&a, &wf_a), (&a, &wf_a), (&a, &wf_a), (&b, &wf_b)] {
        let (st, s) = call(
            &server,
            reqwest::Method::POST,
            "/v3/session/",
            Some(k),
            Some(serde_json::json!({ "workflow_id": wf })),
        )
        .await;
        assert_eq!(st, 201, "{s}");
        let br = browser();
        let capture = open_hosted(&br, s["url"].as_str().unwrap()).await;
        let (c, spec, asked) = challenge(&br, &server, &capture, false).await;
        let frames = server.recorded_person(&spec);
        let (status, v) = upload(&br, &server, &capture, &c, frames, Some(asked)).await;
        if status == 429 {
            assert_eq!(v["error"], "temporarily_unavailable", "{v}");
        } else {
            assert_eq!(v["status"], "approved", "{v}");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 429, 200],
        "key a's third upload is over its budget; key b's first is not"
    );
}
