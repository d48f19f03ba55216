//! The capture protocol through the server: which method each request gets (policy, client,
//! transaction, workflow, the motion-only alternative), that the method reaches the ID token,
//! the audit record and the v3 decision, and that no capture path (OpenID step-up, camera
//! enrolment, hosted v3 session, phone hand-off) judges a burst that falls short of its
//! challenge.

use serde_json::{Value, json};

use crate::common::shared;
use crate::didit_sessions::{call, key, workflow};
use crate::oidc_flows::par_authorize_url;
use crate::server::*;
use inherence::biometric::CapturedFrame;
use inherence::biometric::capture::LivenessMethod;
use inherence::eval::camera::{self, Answer, Rng};

fn payment(amount: &str) -> String {
    json!([{"type": "payment_initiation",
            "instructedAmount": {"currency": "EUR", "amount": amount},
            "creditorName": "Merchant A",
            "creditorAccount": {"iban": "DE02120300000000202051"}}])
    .to_string()
}

/// A step-up for alice (enrolled: the person in the recording) by `client`, with `extra`
/// request parameters; returns the browser, the capture path and the PKCE verifier.
async fn step_up(
    server: &TestServer,
    client: &str,
    extra: &[(&str, &str)],
) -> (reqwest::Client, String, String) {
    let verifier = inherence::flow::random_token(40);
    let mut params = vec![("login_hint", "alice")];
    params.extend_from_slice(extra);
    let url = par_authorize_url(
        server,
        client,
        &params,
        &inherence::protocol::pkce::challenge(&verifier),
    )
    .await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    (b, capture, verifier)
}

/// The live person answers; returns the ID token's claims after the code exchange.
async fn pass_and_read_id_token(
    server: &TestServer,
    b: &reqwest::Client,
    capture: &str,
    client: &str,
    verifier: &str,
    motion_only: bool,
) -> Value {
    let (c, spec, asked) = challenge(b, server, capture, motion_only).await;
    let frames = camera::record(footage(), &spec, &Answer::default(), &mut Rng::new(seed()));
    let (status, r) = upload(b, server, capture, &c, frames, Some(asked)).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (200, Some("approved")),
        "{r}"
    );
    let to = finish(b, server, capture).await;
    let t = exchange_code(server, client, &query(&to)["code"], verifier).await;
    jwt_claims(t["id_token"].as_str().expect("id token"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_method_follows_policy_client_and_transaction_and_reaches_the_token() {
    let Some(_) = shared("eval/video") else {
        return;
    };
    let server = TestServer::start(|c| {
        c.clients
            .iter_mut()
            .find(|k| k.client_id == "rp-basic")
            .unwrap()
            .liveness_method = Some(LivenessMethod::Active3d);
    })
    .await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);

    // The deployment's default for the step-up is an active method: FLASHING.
    let (b, capture, verifier) = step_up(&server, "rp-par", &[]).await;
    let state: Value = b
        .get(server.url(&format!("{capture}/state")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["liveness_method"], "FLASHING");
    assert_eq!(state["motion_only_alternative"], true);
    let id = pass_and_read_id_token(&server, &b, &capture, "rp-par", &verifier, false).await;
    assert_eq!(id["inherence_liveness_method"], "FLASHING");
    assert_eq!(id["acr"], "biometric");

    // A payment at or above EUR 500 needs ACTIVE_3D; below it does not.
    let big = payment("1000.00");
    let (b, capture, verifier) =
        step_up(&server, "rp-par", &[("authorization_details", &big)]).await;
    let (c, spec, _) = challenge(&b, &server, &capture, false).await;
    assert_eq!(spec.method, LivenessMethod::Active3d);
    assert!(spec.flash() && spec.actions.len() == 2, "{c}");
    // That challenge stays unanswered; the next one is answered by the live person.
    let id = pass_and_read_id_token(&server, &b, &capture, "rp-par", &verifier, false).await;
    assert_eq!(id["inherence_liveness_method"], "ACTIVE_3D");
    let small = payment("123.50");
    let (b, capture, _) = step_up(&server, "rp-par", &[("authorization_details", &small)]).await;
    assert_eq!(
        challenge(&b, &server, &capture, false).await.1.method,
        LivenessMethod::Flashing
    );

    // A client configured for ACTIVE_3D gets it for every step-up; the motion-only
    // alternative is ACTIVE_3D too (more actions, no colours).
    let (b, capture, verifier) = step_up(&server, "rp-basic", &[]).await;
    let (_, spec, _) = challenge(&b, &server, &capture, true).await;
    assert!(spec.motion_only() && spec.actions.len() == 3);
    let id = pass_and_read_id_token(&server, &b, &capture, "rp-basic", &verifier, true).await;
    assert_eq!(id["inherence_liveness_method"], "ACTIVE_3D");

    // The audit records say what was required, why, and what the capture showed.
    let v = server.provider.verdicts().unwrap();
    let approved: Vec<_> = v.iter().filter(|v| v.outcome == "Approved").collect();
    assert_eq!(approved.len(), 3);
    let by: Vec<_> = approved
        .iter()
        .map(|v| {
            (
                v.liveness_method.clone().unwrap(),
                v.liveness_required_by.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("FLASHING".to_owned(), "policy".to_owned()),
            ("ACTIVE_3D".into(), "transaction".into()),
            ("ACTIVE_3D".into(), "client".into()),
        ]
    );
    let cap = approved[0].capture.as_ref().unwrap();
    assert_eq!(cap.colours.len(), 5);
    assert!(cap.flash_correlation.unwrap() >= 0.75);
    assert_eq!(cap.challenge_sha256.len(), 64);
    let cap = approved[2].capture.as_ref().unwrap();
    assert!(cap.motion_only && cap.colours.is_empty() && cap.actions.len() == 3);
    assert!(cap.motion_peaks_deg.iter().all(|&p| p >= 18.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weaker_method_is_never_offered_and_the_alternative_can_be_switched_off() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|c| c.liveness.motion_only_alternative = false).await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    let (b, capture, _) = step_up(&server, "rp-par", &[]).await;
    let r = b
        .post(server.url(&format!("{capture}/challenge")))
        .body(r#"{"motion_only": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Unknown fields in the challenge request are refused, not ignored.
    let r = b
        .post(server.url(&format!("{capture}/challenge")))
        .body(r#"{"method": "PASSIVE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let state: Value = b
        .get(server.url(&format!("{capture}/state")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["motion_only_alternative"], false);
    // A client may not be configured for less than the deployment.
    let cfg = inherence::config::Config {
        clients: vec![
            serde_json::from_value(
                json!({"client_id": "weak", "auth_method": "client_secret_basic",
                "client_secret": "0123456789abcdef0123456789abcdef",
                "redirect_uris": ["https://a.example/cb"], "liveness_method": "PASSIVE"}),
            )
            .unwrap(),
        ],
        ..Default::default()
    };
    assert!(cfg.validate().unwrap_err().to_string().contains("weaker"));
}

/// Answers the next challenge with `frames(spec)` right after the sequence; returns the audit
/// reasons of the decision it produced.
async fn refused_with(
    server: &TestServer,
    b: &reqwest::Client,
    capture: &str,
    frames: impl FnOnce(&inherence::biometric::capture::CaptureSpec) -> Vec<CapturedFrame>,
) -> Vec<String> {
    let before = server.provider.verdicts().unwrap().len();
    let (c, spec, asked) = challenge(b, server, capture, false).await;
    let (status, r) = upload(b, server, capture, &c, frames(&spec), Some(asked)).await;
    assert_eq!(status, 200, "{r}");
    assert_ne!(r["status"], "approved", "{r}");
    let v = server.provider.verdicts().unwrap();
    assert_eq!(v.len(), before + 1, "one audited decision");
    assert_eq!(v[before].outcome, "Declined");
    v[before].reasons.clone()
}

/// The live person's answer cut to `keep` frames.
fn fewer(spec: &inherence::biometric::capture::CaptureSpec, keep: usize) -> Vec<CapturedFrame> {
    let mut f = camera::record(footage(), spec, &Answer::default(), &mut Rng::new(seed()));
    f.truncate(keep);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_capture_path_judges_fewer_frames_than_its_challenge() {
    let Some(_) = shared("eval/video") else {
        return;
    };
    let server = TestServer::start(|c| c.oidc.capture_attempts = 5).await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    let too_few = |r: &[String]| r.iter().any(|x| x == "TOO_FEW_FRAMES");

    // The OpenID step-up: one frame, then one frame short of the minimum.
    let (b, capture, _) = step_up(&server, "rp-par", &[]).await;
    assert!(too_few(
        &refused_with(&server, &b, &capture, |s| fewer(s, 1)).await
    ));
    let r = refused_with(&server, &b, &capture, |s| fewer(s, s.min_frames - 1)).await;
    assert!(too_few(&r), "{r:?}");

    // Camera enrolment (prompt=create) of a new user.
    let (b, capture, _) = {
        let verifier = inherence::flow::random_token(40);
        let url = par_authorize_url(
            &server,
            "rp-par",
            &[("login_hint", "newcomer"), ("prompt", "create")],
            &inherence::protocol::pkce::challenge(&verifier),
        )
        .await;
        let b = browser();
        let capture = open_capture(&b, &url).await;
        (b, capture, verifier)
    };
    assert!(too_few(
        &refused_with(&server, &b, &capture, |s| fewer(s, 1)).await
    ));
    let enrolled = http()
        .get(server.url("/api/v1/subjects/newcomer/face"))
        .bearer_auth(server.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 404, "nothing was enrolled");

    // The phone hand-off: the same flow opened on another device through the QR link.
    let (desktop, capture, _) = step_up(&server, "rp-par", &[]).await;
    let phone = hand_off(&server, &desktop, &capture).await;
    assert!(too_few(
        &refused_with(&server, &phone, &capture, |s| fewer(s, 2)).await
    ));

    // A hosted v3 session: its workflow's method, the same rule.
    let k = key(&server);
    let wf = workflow(
        &server,
        &k,
        json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_method": "ACTIVE_3D"}}, {"feature": "FACE_MATCH"}]}),
    )
    .await;
    let (_, s) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(json!({"workflow_id": wf, "vendor_data": "alice"})),
    )
    .await;
    let b = browser();
    let url = s["url"].as_str().unwrap();
    b.get(url).send().await.unwrap();
    let capture = location(&b.post(url).send().await.unwrap());
    let (_, spec, _) = challenge(&b, &server, &capture, false).await;
    assert_eq!(spec.method, LivenessMethod::Active3d);
    let r = refused_with(&server, &b, &capture, |s| fewer(s, 3)).await;
    assert!(too_few(&r), "{r:?}");
    // The decision reports the workflow's method and the refusal.
    let id = s["session_id"].as_str().unwrap();
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["liveness_checks"][0]["method"], "ACTIVE_3D", "{d}");
    assert_eq!(d["liveness_checks"][0]["status"], "Declined", "{d}");
    let risks: Vec<&str> = d["liveness_checks"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["risk"].as_str())
        .collect();
    assert!(risks.contains(&"TOO_FEW_FRAMES"), "{risks:?}");
    // ... and the same session then approves the live person.
    let r = attempt(&b, &server, &capture).await;
    assert_eq!(r["status"], "approved", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_bound_to_the_time_of_their_challenge() {
    let Some(_) = shared("eval/video") else {
        return;
    };
    let server = TestServer::start(|c| {
        c.oidc.capture_attempts = 5;
        c.liveness.max_upload_delay_ms = 1000;
    })
    .await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    let (b, capture, _) = step_up(&server, "rp-par", &[]).await;
    let record = |s: &inherence::biometric::capture::CaptureSpec| {
        camera::record(footage(), s, &Answer::default(), &mut Rng::new(seed()))
    };

    // Answered at once: the sequence cannot have been recorded yet (prepared in advance).
    let before = server.provider.verdicts().unwrap().len();
    let (c, spec, _) = challenge(&b, &server, &capture, false).await;
    let (_, r) = upload(&b, &server, &capture, &c, record(&spec), None).await;
    assert_eq!(r["status"], "retry", "{r}");
    assert_eq!(
        server.provider.verdicts().unwrap()[before].reasons,
        ["UPLOAD_TOO_EARLY"]
    );
    // Answered long after the sequence ended.
    let (c, spec, _) = challenge(&b, &server, &capture, false).await;
    tokio::time::sleep(std::time::Duration::from_millis(
        u64::from(spec.duration_ms) + 1500,
    ))
    .await;
    let (_, r) = upload(&b, &server, &capture, &c, record(&spec), None).await;
    assert_eq!(r["status"], "retry", "{r}");
    assert_eq!(
        server.provider.verdicts().unwrap()[before + 1].reasons,
        ["UPLOAD_TOO_LATE"]
    );
    // Timestamps that do not fit the challenge.
    let r = refused_with(&server, &b, &capture, |s| {
        let mut f = record(s);
        f.reverse();
        f
    })
    .await;
    assert_eq!(r, ["FRAME_TIMING_MISMATCH"]);
    // The frames of an approved capture, replayed to the next challenge of another step-up.
    let (c, spec, asked) = challenge(&b, &server, &capture, false).await;
    let genuine = record(&spec);
    let (_, ok) = upload(&b, &server, &capture, &c, genuine.clone(), Some(asked)).await;
    assert_eq!(ok["status"], "approved", "{ok}");
    let (b2, capture2, _) = step_up(&server, "rp-par", &[]).await;
    let r = refused_with(&server, &b2, &capture2, |_| genuine).await;
    assert!(
        r.iter()
            .any(|x| x.starts_with("FLASH_") || x == "FRAME_TIMING_MISMATCH"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_at_the_edge_with_a_clear_error() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    let (b, capture, _) = step_up(&server, "rp-par", &[]).await;
    let frame = || reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF, 0xD9]).file_name("f.jpg");
    for (form, why) in [
        (
            reqwest::multipart::Form::new()
                .text("challenge", "x")
                .part("frame", frame()),
            "timestamps are missing",
        ),
        (
            reqwest::multipart::Form::new()
                .text("challenge", "x")
                .text("timestamps", "0,200")
                .part("frame", frame()),
            "2 timestamps for 1 frames",
        ),
        (
            reqwest::multipart::Form::new()
                .text("challenge", "x")
                .text("timestamps", "zero")
                .part("frame", frame()),
            "comma-separated numbers",
        ),
        (
            reqwest::multipart::Form::new()
                .text("challenge", "x")
                .text("timestamps", "0")
                .text("method", "PASSIVE")
                .part("frame", frame()),
            "unexpected field",
        ),
    ] {
        let r = b
            .post(server.url(&format!("{capture}/frames")))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{why}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{why}: {body}");
    }
    assert!(server.provider.verdicts().unwrap().is_empty());
}
