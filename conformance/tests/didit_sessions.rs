//! The Didit-compatible Sessions API end to end on real photos: workflows, session creation
//! (idempotency, stored face, documented 400s), the hosted capture page with the same engine,
//! callback redirect, decision, list, review, deletion, templates, the status lifecycle with
//! the background sweep, and signed webhooks through the durable outbox with retries, resend
//! and the Ed25519 key.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::shared;
use crate::receiver::Receiver;
use crate::server::*;

pub fn key(server: &TestServer) -> String {
    let now = inherence::clock::Clock::now_secs(&inherence::clock::SystemClock);
    inherence::flow::didit::create_api_key(
        &*server.provider.store,
        now,
        "tests",
        &Default::default(),
    )
    .unwrap()
    .1
}

pub async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http().request(method, server.url(path));
    if let Some(k) = key {
        r = r.header("x-api-key", k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn workflow(server: &TestServer, k: &str, body: Value) -> String {
    let (st, v) = call(
        server,
        reqwest::Method::POST,
        "/v3/workflows/",
        Some(k),
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v["uuid"].as_str().unwrap().to_owned()
}

pub fn fast_webhooks(c: &mut inherence::config::Config) {
    // The in-test receivers listen on loopback.
    c.webhooks.allow_private_networks = true;
    c.webhooks.retry_base_secs = 0.05;
    c.webhooks.retry_max_secs = 0.5;
    c.webhooks.poll_interval_ms = 50;
    c.webhooks.ed25519 = true;
}

pub async fn destination(server: &TestServer, k: &str, rx: &Receiver) -> Value {
    let (st, d) = call(
        server,
        reqwest::Method::POST,
        "/v3/webhook/destinations/",
        Some(k),
        Some(json!({"label": "tests", "url": rx.url, "subscribed_events": ["status.updated", "data.updated"]})),
    )
    .await;
    assert_eq!(st, 201, "{d}");
    assert_eq!(d["secret_shared_key"].as_str().unwrap().len(), 43);
    rx.set_secret(d["secret_shared_key"].as_str().unwrap());
    let (_, keys) = call(
        server,
        reqwest::Method::GET,
        "/v3/webhook/public-keys/",
        None,
        None,
    )
    .await;
    let x = keys["keys"][0]["x"]
        .as_str()
        .expect("an Ed25519 key is published");
    rx.set_ed25519(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .unwrap(),
    );
    d
}

/// Opens the hosted link in a browser (the start page, then its Start button); returns the
/// capture path.
pub async fn open_hosted(b: &reqwest::Client, url: &str) -> String {
    let page = b.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "hosted link");
    assert!(
        page.text().await.unwrap().contains("id=\"start\""),
        "start page"
    );
    let r = b.post(url).send().await.unwrap();
    assert_eq!(r.status(), 303, "hosted start");
    let loc = location(&r);
    assert!(loc.starts_with("/capture/"), "{loc}");
    loc
}

fn statuses_of(rx: &Receiver, session: &str) -> Vec<String> {
    rx.accepted()
        .iter()
        .filter(|r| r.body["session_id"] == session && r.body["webhook_type"] == "status.updated")
        .map(|r| r.body["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_session_approves_calls_back_and_signs_webhooks() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(fast_webhooks).await;
    let k = key(&server);
    // The receiver refuses its first two requests: the outbox must retry.
    let rx = Receiver::start(2).await;
    let dest = destination(&server, &k, &rx).await;
    let wf = workflow(
        &server,
        &k,
        json!({"workflow_label": "step-up", "features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH", "config": {"face_match_score_review_threshold": 50}}]}),
    )
    .await;
    assert_eq!(server.enrol("user-1", PERSON_ENROL).await.status(), 201);

    let req = json!({"workflow_id": wf, "vendor_data": "user-1", "callback": "https://app.example/done?x=1", "metadata": {"login_attempt": "2"}});
    let (st, s) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(req.clone()),
    )
    .await;
    assert_eq!(st, 201, "{s}");
    for f in [
        "session_id",
        "session_number",
        "session_token",
        "url",
        "vendor_data",
        "metadata",
        "status",
        "workflow_id",
        "workflow_version",
        "callback",
    ] {
        assert!(s.get(f).is_some(), "{f} missing in {s}");
    }
    assert_eq!(s["status"], "Not Started");
    assert_eq!(s["session_token"].as_str().unwrap().len(), 12);
    let id = s["session_id"].as_str().unwrap().to_owned();
    let url = s["url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        server.url(&format!(
            "/session/{}",
            s["session_token"].as_str().unwrap()
        ))
    );

    // Idempotency: the same user with an unfinished session gets it back (still 201), with
    // its metadata updated.
    let mut again = req.clone();
    again["metadata"] = json!({"login_attempt": "3"});
    let (st, s2) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(again),
    )
    .await;
    assert_eq!((st, &s2["session_id"]), (201, &json!(id)));
    assert_eq!(s2["metadata"]["login_attempt"], "3");

    // The hosted page: same capture page and engine as the OpenID flow.
    let b = browser();
    let capture = open_hosted(&b, &url).await;
    let r = attempt(&b, &server, &capture).await;
    assert_eq!(r["status"], "approved", "{r}");
    let to = finish(&b, &server, &capture).await;
    let q = query(&to);
    assert!(to.starts_with("https://app.example/done?x=1&"), "{to}");
    assert_eq!(q["verificationSessionId"], id);
    assert_eq!(q["status"], "Approved");

    let (st, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["status"], "Approved");
    assert_eq!(d["features"], json!(["LIVENESS", "FACE_MATCH"]));
    assert_eq!(d["liveness_checks"][0]["status"], "Approved");
    // The workflow names no method: the deployment's (FLASHING).
    assert_eq!(d["liveness_checks"][0]["method"], "FLASHING");
    assert!(d["liveness_checks"][0]["score"].as_f64().unwrap() > 50.0);
    assert_eq!(d["face_matches"][0]["status"], "Approved");
    assert!(d["face_matches"][0]["score"].as_f64().unwrap() > 50.0);
    assert_eq!(d["face_matches"][0]["source_image_session_id"], json!(id));
    // Feature blocks are lists (empty when the feature did not run): strict clients refuse null.
    for block in [
        "id_verifications",
        "nfc_verifications",
        "phone_verifications",
        "email_verifications",
        "poa_verifications",
        "document_ai_documents",
        "questionnaire_responses",
        "aml_screenings",
        "ip_analyses",
        "database_validations",
    ] {
        assert_eq!(d[block], json!([]), "{block}");
    }
    assert_eq!(d["url"], d["session_url"], "reads carry url too");
    assert_eq!(d["session_kind"], "user");
    assert_eq!(d["metadata"]["login_attempt"], "3");

    // The link is spent: it shows the status instead of a new capture.
    let done = b.get(&url).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("data-status=\"Approved\"")
    );

    // Webhooks: every status change once, after the receiver's refusals were retried; all
    // signatures verified by the receiver.
    // (the refused first requests may have been any of them, so wait for all four events)
    rx.wait_for(20, "all three status webhooks and data.updated", |a| {
        ["Not Started", "In Progress", "Approved"].iter().all(|st| {
            a.iter().any(|r| {
                r.body["session_id"] == id
                    && r.body["webhook_type"] == "status.updated"
                    && r.body["status"] == *st
            })
        }) && a.iter().any(|r| r.body["webhook_type"] == "data.updated")
    })
    .await;
    assert!(rx.problems().is_empty(), "{:?}", rx.problems());
    let mut seen = statuses_of(&rx, &id);
    seen.sort();
    assert_eq!(seen, vec!["Approved", "In Progress", "Not Started"]);
    let mut ids: Vec<String> = rx
        .accepted()
        .iter()
        .map(|r| r.body["event_id"].as_str().unwrap().to_owned())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "every event was accepted exactly once");
    assert!(
        rx.attempts() >= n + 2,
        "the first two refusals were retried"
    );
    let approved = rx
        .accepted()
        .into_iter()
        .find(|r| r.body["status"] == "Approved")
        .unwrap();
    assert_eq!(
        approved.body["decision"]["face_matches"][0]["status"],
        "Approved"
    );
    assert_eq!(approved.body["vendor_data"], "user-1");
    assert_eq!(approved.body["workflow_id"], json!(wf));
    // The payload's decision has the same list-typed feature blocks as the API's.
    assert_eq!(approved.body["decision"]["aml_screenings"], json!([]));
    assert_eq!(approved.body["decision"]["id_verifications"], json!([]));
    assert_eq!(
        approved.headers["x-timestamp"],
        approved.body["timestamp"].to_string()
    );
    let not_started = rx
        .accepted()
        .into_iter()
        .find(|r| r.body["status"] == "Not Started")
        .unwrap();
    assert!(
        not_started.body.get("decision").is_none(),
        "no decision before one is taken"
    );
    assert!(
        rx.accepted()
            .iter()
            .any(|r| r.body["webhook_type"] == "data.updated"),
        "metadata change fired data.updated"
    );

    // Delivery log and resend (same event, fresh timestamp).
    let du = dest["uuid"].as_str().unwrap();
    let (_, list) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/webhook/destinations/{du}/deliveries/"),
        Some(&k),
        None,
    )
    .await;
    let delivered = list["results"].as_array().unwrap();
    assert!(
        delivered.iter().all(|d| d["state"] == "delivered"),
        "{list}"
    );
    let failed_once = delivered
        .iter()
        .find(|d| d["attempts"].as_u64().unwrap() > 1)
        .expect("a retried delivery");
    assert!(failed_once["attempt_log"][0]["response_status"] == 500);
    let one = delivered
        .iter()
        .find(|d| d["session_id"] == id && d["webhook_type"] == "status.updated")
        .unwrap();
    let (st, full) = call(
        &server,
        reqwest::Method::GET,
        &format!(
            "/v3/webhook/destinations/{du}/deliveries/{}/",
            one["uuid"].as_str().unwrap()
        ),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 200);
    for h in [
        "Content-Type",
        "X-Signature",
        "X-Signature-V2",
        "X-Signature-Simple",
        "X-Timestamp",
        "User-Agent",
    ] {
        assert!(
            full["request_header"].get(h).is_some(),
            "{h} missing from the delivery log"
        );
    }
    let event = full["event_id"].as_str().unwrap().to_owned();
    let before = rx.accepted().len();
    let (st, re) = call(
        &server,
        reqwest::Method::POST,
        &format!(
            "/v3/webhook/destinations/{du}/deliveries/{}/resend/",
            one["uuid"].as_str().unwrap()
        ),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 202, "{re}");
    rx.wait_for(10, "resent event", |a| a.len() > before).await;
    let resent = rx.accepted().last().unwrap().clone();
    assert_eq!(resent.body["event_id"], json!(event));
    let (_, summary) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/webhook/destinations/{du}/"),
        Some(&k),
        None,
    )
    .await;
    assert!(
        summary["summary"]["failed_deliveries"].as_u64().unwrap() >= 2,
        "{summary}"
    );
    assert!(summary["summary"]["total_deliveries"].as_u64().unwrap() >= n as u64 + 2);

    // One engine, one truth: the verdict record of this session sits next to OpenID ones.
    let verdicts = server.provider.verdicts().unwrap();
    let v = verdicts
        .iter()
        .find(|v| v.session_id.as_deref() == Some(id.as_str()))
        .expect("verdict record");
    assert_eq!(v.outcome, "Approved");
    // The subject is pseudonymised (the same user always gets the same pseudonym).
    assert_eq!(
        v.subject,
        Some(
            server
                .provider
                .audit
                .pseudonym(&Default::default(), "user-1")
                .unwrap()
        )
    );
    assert!(v.face_match_score.is_some() && v.liveness_score.is_some());
    assert!(!v.models.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_band_decline_manual_review_list_delete_and_templates() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    let k = key(&server);
    // A face-match review band up to 99.99: a genuine match lands In Review.
    let review_wf = workflow(&server, &k, json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 50, "face_match_score_review_threshold": 99.99}}]})).await;
    let one_try = workflow(&server, &k, json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}], "face_match_max_attempts": 1})).await;
    let portrait = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(dev_image(PERSON_ENROL)).unwrap());

    // A portrait instead of a stored face.
    let (st, s) = call(&server, reqwest::Method::POST, "/v3/session/", Some(&k), Some(json!({"workflow_id": review_wf, "portrait_image": portrait, "callback": "myapp://done"}))).await;
    assert_eq!(st, 201, "{s}");
    let id = s["session_id"].as_str().unwrap().to_owned();
    let b = browser();
    let capture = open_hosted(&b, s["url"].as_str().unwrap()).await;
    let r = attempt(&b, &server, &capture).await;
    assert_eq!(r["status"], "approved", "In Review ends the capture: {r}");
    let to = finish(&b, &server, &capture).await;
    assert_eq!(query(&to)["status"], "In Review", "{to}");
    assert!(to.starts_with("myapp://done?"), "{to}");
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["status"], "In Review");
    assert_eq!(d["face_matches"][0]["status"], "In Review");
    assert_eq!(
        d["face_matches"][0]["warnings"][0]["risk"],
        "LOW_FACE_MATCH_SIMILARITY"
    );
    assert_eq!(d["face_matches"][0]["warnings"][0]["log_type"], "warning");

    // Manual review through the API.
    let path = format!("/v3/session/{id}/update-status/");
    let (st, v) = call(
        &server,
        reqwest::Method::PATCH,
        &path,
        Some(&k),
        Some(json!({"new_status": "Approved", "comment": "checked by hand"})),
    )
    .await;
    assert_eq!((st, &v["session_id"]), (200, &json!(id)), "{v}");
    let (st, v) = call(
        &server,
        reqwest::Method::PATCH,
        &path,
        Some(&k),
        Some(json!({"new_status": "Approved"})),
    )
    .await;
    assert_eq!(st, 400, "same status again: {v}");
    let (st, v) = call(
        &server,
        reqwest::Method::PATCH,
        &path,
        Some(&k),
        Some(json!({"new_status": "In Review"})),
    )
    .await;
    assert_eq!((st, v["new_status"][0].is_string()), (400, true), "{v}");
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["status"], "Approved");
    assert_eq!(d["reviews"][0]["user"], "API Client");
    assert_eq!(d["reviews"][0]["comment"], "checked by hand");

    // Someone else with one attempt (user-2 enrolled another face): Declined, callback says so.
    assert_eq!(server.enrol("user-2", OTHER_ENROL).await.status(), 201);
    let (_, s) = call(&server, reqwest::Method::POST, "/v3/session/", Some(&k), Some(json!({"workflow_id": one_try, "vendor_data": "user-2", "callback": "https://app.example/cb"}))).await;
    let id2 = s["session_id"].as_str().unwrap().to_owned();
    let b = browser();
    let capture = open_hosted(&b, s["url"].as_str().unwrap()).await;
    let r = attempt(&b, &server, &capture).await;
    assert_eq!(r["status"], "failed", "{r}");
    let to = finish(&b, &server, &capture).await;
    assert_eq!(query(&to)["status"], "Declined");
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id2}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["face_matches"][0]["status"], "Declined");
    assert_eq!(d["face_matches"][0]["warnings"][0]["log_type"], "error");
    // An unfinished session cannot be reviewed.
    let (_, s3) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(json!({"workflow_id": one_try, "vendor_data": "user-2"})),
    )
    .await;
    assert_ne!(
        s3["session_id"],
        json!(id2),
        "a decided session is not reused"
    );
    let (st, v) = call(
        &server,
        reqwest::Method::PATCH,
        &format!(
            "/v3/session/{}/update-status/",
            s3["session_id"].as_str().unwrap()
        ),
        Some(&k),
        Some(json!({"new_status": "Approved"})),
    )
    .await;
    assert_eq!(st, 400, "{v}");

    // List with filters and pagination.
    let (st, l) = call(
        &server,
        reqwest::Method::GET,
        "/v3/sessions/?limit=2",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(l["count"], 3);
    assert_eq!(l["results"].as_array().unwrap().len(), 2);
    assert!(l["next"].as_str().unwrap().contains("offset=2"));
    assert_eq!(l["previous"], Value::Null);
    let (_, l) = call(
        &server,
        reqwest::Method::GET,
        "/v3/sessions/?status=Declined",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(l["count"], 1);
    assert_eq!(l["results"][0]["session_id"], json!(id2));
    assert_eq!(
        l["results"][0]["features"][1],
        json!({"feature": "FACE_MATCH", "status": "Declined"})
    );
    let (_, l) = call(
        &server,
        reqwest::Method::GET,
        "/v3/sessions/?vendor_data=user-2&status=Not%20Started",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(l["count"], 1);
    let (st, _) = call(
        &server,
        reqwest::Method::GET,
        "/v3/sessions/?status=approved",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 400, "statuses are case-sensitive");
    let risk = d["face_matches"][0]["warnings"][0]["risk"]
        .as_str()
        .unwrap();
    let (_, l) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/sessions/?warning=FACE_IN_BLOCKLIST,{risk}"),
        Some(&k),
        None,
    )
    .await;
    // The declined session and the reviewed one (its face match was in the review band);
    // not the session that never ran a check.
    let ids: Vec<&Value> = l["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["session_id"])
        .collect();
    assert!(ids.contains(&&json!(id2)), "{l}");
    assert!(!ids.contains(&&s3["session_id"]), "{l}");
    assert_eq!(l["count"], 2, "{l}");
    let (_, l) = call(
        &server,
        reqwest::Method::GET,
        "/v3/sessions/?warning=FACE_IN_BLOCKLIST",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(l["count"], 0);
    // Every documented filter works or is refused, never ignored: dates as days or instants
    // with an offset, filters on data never collected match nothing, unknown ones are a 400.
    let count = |q: &'static str| {
        let server = &server;
        let k = k.clone();
        async move {
            let (st, l) = call(
                server,
                reqwest::Method::GET,
                &format!("/v3/sessions/?{q}"),
                Some(&k),
                None,
            )
            .await;
            (st, if st == 200 { l["count"].clone() } else { l })
        }
    };
    let (_, all) = count("limit=100").await;
    assert_eq!(
        count("date_from=2020-01-01&date_to=2999-12-31").await,
        (200, all.clone())
    );
    assert_eq!(
        count("date_from=2020-01-01T00:00:00%2B00:00").await,
        (200, all.clone())
    );
    assert_eq!(count("date_to=2020-01-01T00:00:00Z").await, (200, json!(0)));
    assert_eq!(
        count("date_from=2999-01-01T00:00:00-05:00").await,
        (200, json!(0))
    );
    assert_eq!(count("country=ESP").await, (200, json!(0)));
    assert_eq!(count("document_type=P").await, (200, json!(0)));
    assert_eq!(
        count("status_initialized_as_in_review=false").await,
        (200, all.clone())
    );
    assert_eq!(
        count("status_initialized_as_in_review=true").await,
        (200, json!(0))
    );
    for bad in [
        "country=es",
        "date_from=01-12-2026",
        "status_initialized_as_in_review=maybe",
        "colour=red",
    ] {
        let (st, v) = count(bad).await;
        assert_eq!(st, 400, "{bad}: {v}");
        let field = bad.split('=').next().unwrap();
        assert!(v[field].is_array(), "{bad}: {v}");
    }

    // Templates: the enrolled face of user-2 (and nothing for the portrait-only session).
    let (_, c) = call(
        &server,
        reqwest::Method::GET,
        "/v3/biometric-templates/count/?vendor_data=user-2",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(c["count"], 1);
    let (_, l) = call(
        &server,
        reqwest::Method::GET,
        "/v3/biometric-templates/?vendor_data=user-2",
        Some(&k),
        None,
    )
    .await;
    let t = l["results"][0]["uuid"].as_str().unwrap().to_owned();
    let (st, one) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/biometric-templates/{t}/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!((st, &one["vendor_data"]), (200, &json!("user-2")));

    let before: Value = serde_json::from_slice(
        &server
            .provider
            .store
            .get(
                &inherence::flow::sessions::SESSIONS,
                s3["session_id"].as_str().unwrap(),
            )
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        before["reference"].is_object(),
        "a copy of user-2's face: {before}"
    );

    // Deletion: retain the user's face, then erase it through the template API.
    let (st, del) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v3/session/{id2}/delete/"),
        Some(&k),
        Some(json!({"retain_face_embeddings": true})),
    )
    .await;
    assert_eq!(st, 200, "{del}");
    assert_eq!(del["face_retention_outcome"], "retained_with_user");
    assert_eq!(del["biometric_template_uuid"], json!(t));
    let (st, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id2}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v3/session/{id2}/delete/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 404, "already deleted");
    let (_, p) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v3/biometric-templates/{t}/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(p["outcome"], "purged");
    // The erasure also reached the copy of user-2's face that a session still held.
    let s3_id = s3["session_id"].as_str().unwrap();
    let held: Value = serde_json::from_slice(
        &server
            .provider
            .store
            .get(&inherence::flow::sessions::SESSIONS, s3_id)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(held["vendor_data"], "user-2");
    assert_eq!(held["reference"], Value::Null, "{held}");
    let (_, p) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v3/biometric-templates/{t}/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(p["outcome"], "already_purged");
    let (st, v) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(json!({"workflow_id": one_try, "vendor_data": "user-2-new"})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let (st, del) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v3/session/{id}/delete/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(
        (st, &del["face_retention_outcome"]),
        (200, &json!("deleted")),
        "{del}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_requests_are_validated_with_documented_bodies() {
    let server = TestServer::protocol(|_| {}).await;
    let k = key(&server);
    let wf = workflow(
        &server,
        &k,
        json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}]}),
    )
    .await;
    let post = |body: Value| {
        let server = &server;
        let k = k.clone();
        async move {
            call(
                server,
                reqwest::Method::POST,
                "/v3/session/",
                Some(&k),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(
        post(json!({})).await,
        (400, json!({"workflow_id": ["This field is required."]}))
    );
    assert_eq!(
        post(json!({"workflow_id": "nope"})).await,
        (400, json!({"workflow_id": "Invalid workflow_id."}))
    );
    assert_eq!(
        post(json!({"workflow_id": "00000000-0000-4000-8000-000000000000"})).await,
        (400, json!({"workflow_id": "Invalid workflow_id."}))
    );
    assert_eq!(
        post(json!({"workflow_id": wf})).await,
        (
            400,
            json!({"portrait_image": "A portrait image is required to perform face match for this workflow. Send a portrait_image, or provide the vendor_data of a user with a previously stored face image to reuse it."})
        )
    );
    assert_eq!(
        post(json!({"workflow_id": wf, "vendor_data": "nobody"})).await,
        (
            400,
            json!({"portrait_image": "No stored face image was found for this user. Send a portrait_image, or complete an approved verification with face liveness or an ID document for this vendor_data first."})
        )
    );
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 2 * 1024 * 1024 + 10]);
    assert_eq!(
        post(json!({"workflow_id": wf, "portrait_image": big})).await,
        (400, json!({"portrait_image": ["Image size exceeds 2MB."]}))
    );
    let (st, v) = post(json!({"workflow_id": wf, "portrait_image": "***not base64***"})).await;
    assert_eq!(st, 400);
    assert!(
        v["portrait_image"][0]
            .as_str()
            .unwrap()
            .starts_with("Upload a valid image."),
        "{v}"
    );
    let (st, v) = post(json!({"workflow_id": wf, "portrait_image": base64::engine::general_purpose::STANDARD.encode(b"not an image at all")})).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) =
        post(json!({"workflow_id": wf, "vendor_data": "x", "callback": "not a url"})).await;
    assert_eq!((st, v["callback"][0].is_string()), (400, true), "{v}");
    let (st, v) = post(json!({"workflow_id": wf, "vendor_data": "x", "language": "xx"})).await;
    assert_eq!((st, v["language"][0].is_string()), (400, true), "{v}");
    let (st, v) = post(json!([1, 2])).await;
    assert_eq!((st, v["detail"].is_string()), (400, true), "{v}");

    // Wrong content type, bad JSON, no key, trailing slash.
    let r = http()
        .post(server.url("/v3/session/"))
        .header("x-api-key", &k)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
    let r = http()
        .post(server.url("/v3/session/"))
        .header("x-api-key", &k)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (st, v) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        None,
        Some(json!({"workflow_id": wf})),
    )
    .await;
    assert_eq!(
        (st, v),
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    let (st, v) = call(
        &server,
        reqwest::Method::GET,
        "/v3/sessions/",
        Some("wrong"),
        None,
    )
    .await;
    assert_eq!(
        (st, v),
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    for p in [
        "/v3/sessions",
        "/v3/workflows",
        "/v3/webhook/destinations",
        "/v3/biometric-templates/count",
    ] {
        let r = http()
            .get(server.url(&format!("{p}?limit=1")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 301, "{p}");
        assert_eq!(location(&r), format!("{p}/?limit=1"));
    }
    let (st, v) = call(
        &server,
        reqwest::Method::GET,
        "/v3/session/00000000-0000-4000-8000-000000000000/decision/",
        Some(&k),
        None,
    )
    .await;
    assert_eq!((st, v), (404, json!({"detail": "Not found."})));

    // Workflows: unsupported features and methods are refused, CRUD works.
    let (st, v) = call(
        &server,
        reqwest::Method::POST,
        "/v3/workflows/",
        Some(&k),
        Some(json!({"features": [{"feature": "OCR"}]})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = call(
        &server,
        reqwest::Method::POST,
        "/v3/workflows/",
        Some(&k),
        Some(json!({"workflow_type": "kyc", "features": [{"feature": "LIVENESS"}]})),
    )
    .await;
    assert_eq!((st, v["workflow_type"][0].is_string()), (400, true));
    let (st, w) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/v3/workflows/{wf}/"),
        Some(&k),
        Some(json!({"workflow_label": "renamed"})),
    )
    .await;
    assert_eq!(
        (st, &w["workflow_label"], &w["version"]),
        (200, &json!("renamed"), &json!(2))
    );
    let (_, l) = call(
        &server,
        reqwest::Method::GET,
        "/v3/workflows/",
        Some(&k),
        None,
    )
    .await;
    assert_eq!(l["count"], 1);
    let (st, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/v3/workflows/{wf}/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/workflows/{wf}/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 404);

    // Destinations: https only (loopback http allowed), unique URLs, known events.
    let mk = |body: Value| {
        let server = &server;
        let k = k.clone();
        async move {
            call(
                server,
                reqwest::Method::POST,
                "/v3/webhook/destinations/",
                Some(&k),
                Some(body),
            )
            .await
        }
    };
    // IP literals: no name resolution needed, and never contacted here.
    assert_eq!(
        mk(json!({"label": "x", "url": "http://8.8.8.8/h"})).await.0,
        400,
        "plain http"
    );
    let (st, v) = mk(json!({"label": "x", "url": "http://127.0.0.1:9/h"})).await;
    assert_eq!(st, 400, "loopback is refused unless allowed: {v}");
    let (st, v) = mk(json!({"label": "x", "url": "https://169.254.169.254/latest"})).await;
    assert_eq!(st, 400, "link-local metadata address: {v}");
    assert_eq!(
        mk(json!({"url": "https://8.8.8.8/h"})).await.1,
        json!({"label": ["This field is required."]})
    );
    let (st, _) =
        mk(json!({"label": "x", "url": "https://8.8.8.8/h", "subscribed_events": ["nope"]})).await;
    assert_eq!(st, 400);
    let (st, v) = mk(json!({"label": "x", "url": "https://8.8.8.8/h"})).await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = mk(json!({"label": "y", "url": "https://8.8.8.8/h"})).await;
    assert_eq!(st, 400, "unique URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_sweep_expires_and_abandons_sessions() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|c| {
        c.sessions.sweep_interval_secs = 1;
        c.sessions.abandon_after_secs = 1;
        fast_webhooks(c);
    })
    .await;
    let k = key(&server);
    let rx = Receiver::start(0).await;
    destination(&server, &k, &rx).await;
    let wf = workflow(&server, &k, json!({"features": [{"feature": "LIVENESS"}]})).await;
    let create = || async {
        let (st, s) = call(
            &server,
            reqwest::Method::POST,
            "/v3/session/",
            Some(&k),
            Some(json!({"workflow_id": wf})),
        )
        .await;
        assert_eq!(st, 201, "{s}");
        s
    };
    // Started and left alone: Abandoned by the background task.
    let started = create().await;
    open_hosted(&browser(), started["url"].as_str().unwrap()).await;
    // Never opened, past its expiry: Expired.
    let idle = create().await;
    let id = idle["session_id"].as_str().unwrap();
    let store = &server.provider.store;
    let mut rec: Value = serde_json::from_slice(
        &store
            .get(&inherence::flow::sessions::SESSIONS, id)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    rec["expires_at"] =
        json!(inherence::clock::Clock::now_secs(&inherence::clock::SystemClock) - 1);
    store
        .put(
            &inherence::flow::sessions::SESSIONS,
            id,
            &serde_json::to_vec(&rec).unwrap(),
            None,
        )
        .unwrap();

    let sid = started["session_id"].as_str().unwrap().to_owned();
    let iid = id.to_owned();
    rx.wait_for(15, "Abandoned and Expired", |a| {
        a.iter()
            .any(|r| r.body["session_id"] == sid && r.body["status"] == "Abandoned")
            && a.iter()
                .any(|r| r.body["session_id"] == iid && r.body["status"] == "Expired")
    })
    .await;
    let abandoned = rx
        .accepted()
        .into_iter()
        .find(|r| r.body["status"] == "Abandoned")
        .unwrap();
    assert!(
        abandoned.body.get("decision").is_some(),
        "Abandoned carries the decision"
    );
    let expired = rx
        .accepted()
        .into_iter()
        .find(|r| r.body["status"] == "Expired")
        .unwrap();
    assert!(expired.body.get("decision").is_none());
    // The expired link no longer opens a capture.
    let r = browser()
        .get(idle["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data-status=\"Expired\""));

    // Events are never lost between a session change and the outbox: what a request that
    // stopped right after saving the change left pending, the sweep queues (once per
    // destination, also when it had been queued already); what it left pending for a change it
    // never saved, the sweep drops.
    let now = inherence::clock::Clock::now_secs(&inherence::clock::SystemClock);
    let saved: Value = serde_json::from_slice(
        &store
            .get(&inherence::flow::sessions::SESSIONS, &iid)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let events = saved["events"].as_u64().unwrap();
    assert!(events >= 2, "creation and expiry: {saved}");
    let already = rx
        .accepted()
        .into_iter()
        .find(|r| r.body["session_id"] == iid && r.body["status"] == "Expired")
        .unwrap()
        .body;
    let pending = |event_id: &str, seq: u64| {
        let mut e = already.clone();
        e["event_id"] = json!(event_id);
        e.as_object_mut().unwrap().remove("timestamp");
        let rec = json!({"session_id": iid, "seq": seq, "at": now - 60, "event": e});
        store
            .put(
                &inherence::flow::sessions::PENDING_EVENTS,
                event_id,
                &serde_json::to_vec(&rec).unwrap(),
                None,
            )
            .unwrap();
    };
    pending("0a0a0a0a-0000-4000-8000-00000000000a", events);
    pending("0b0b0b0b-0000-4000-8000-00000000000b", events + 1);
    let delivered_before = already["event_id"].as_str().unwrap().to_owned();
    pending(&delivered_before, events);
    rx.wait_for(15, "the event left pending", |a| {
        a.iter()
            .any(|r| r.body["event_id"] == "0a0a0a0a-0000-4000-8000-00000000000a")
    })
    .await;
    for _ in 0..50 {
        if store
            .keys(&inherence::flow::sessions::PENDING_EVENTS)
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        store
            .keys(&inherence::flow::sessions::PENDING_EVENTS)
            .unwrap()
            .is_empty(),
        "all handled"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.accepted();
    let count = |id: &str| got.iter().filter(|r| r.body["event_id"] == id).count();
    assert_eq!(
        count("0b0b0b0b-0000-4000-8000-00000000000b"),
        0,
        "change never saved"
    );
    assert_eq!(count(&delivered_before), 1, "queued twice, delivered once");
    assert!(rx.problems().is_empty(), "{:?}", rx.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_secret_rotation_and_resubmission() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|c| {
        fast_webhooks(c);
        c.webhooks.max_attempts = 2;
    })
    .await;
    let k = key(&server);
    // A receiver that refuses everything for a while: the delivery ends as a dead letter.
    let rx = Receiver::start(1000).await;
    let dest = destination(&server, &k, &rx).await;
    let du = dest["uuid"].as_str().unwrap().to_owned();
    let wf = workflow(&server, &k, json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH", "config": {"face_match_score_review_threshold": 50}}], "face_match_max_attempts": 1})).await;
    assert_eq!(server.enrol("user-3", PERSON_ENROL).await.status(), 201);
    let (_, s) = call(
        &server,
        reqwest::Method::POST,
        "/v3/session/",
        Some(&k),
        Some(json!({"workflow_id": wf, "vendor_data": "user-3"})),
    )
    .await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let dead = loop {
        let (_, list) = call(
            &server,
            reqwest::Method::GET,
            &format!("/v3/webhook/destinations/{du}/deliveries/"),
            Some(&k),
            None,
        )
        .await;
        if let Some(d) = list["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["state"] == "dead_letter")
        {
            break d.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter: {list}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(dead["attempts"], 2);
    assert_eq!(dead["attempt_log"].as_array().unwrap().len(), 2);
    assert!(rx.accepted().is_empty());
    // The metrics saw one retry and one dead letter (recorded just after the delivery log the
    // API reads).
    let dead_letter = "inherence_webhook_attempts_total{result=\"dead_letter\"}";
    for _ in 0..100 {
        if server.provider.metrics.render().contains(dead_letter) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let m = server.provider.metrics.render();
    assert!(
        m.contains("inherence_webhook_attempts_total{result=\"retry\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("inherence_webhook_attempts_total{result=\"dead_letter\"} 1"),
        "{m}"
    );

    // Rotate the secret; the receiver recovers and knows only the OLD secret: the Standard
    // Webhooks signature still verifies (two v1 entries), the Didit headers use the new one.
    let old = dest["secret_shared_key"].as_str().unwrap().to_owned();
    let (st, rotated) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/v3/webhook/destinations/{du}/"),
        Some(&k),
        Some(json!({"rotate_secret_key": true})),
    )
    .await;
    assert_eq!(st, 200, "{rotated}");
    let new = rotated["secret_shared_key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    rx.set_secret(&new);
    let rx2 = Receiver::start(0).await;
    rx2.set_secret(&new);
    let (st, _) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/v3/webhook/destinations/{du}/"),
        Some(&k),
        Some(json!({"url": rx2.url})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = call(
        &server,
        reqwest::Method::POST,
        &format!(
            "/v3/webhook/destinations/{du}/deliveries/{}/resend/",
            dead["uuid"].as_str().unwrap()
        ),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(st, 202);
    rx2.wait_for(10, "the resent dead letter", |a| {
        a.iter().any(|r| r.body["event_id"] == dead["event_id"])
    })
    .await;
    // The worker records the delivery right after the receiver's answer.
    let delivered = "inherence_webhook_attempts_total{result=\"delivered\"}";
    for _ in 0..100 {
        if server.provider.metrics.render().contains(delivered) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let m = server.provider.metrics.render();
    assert!(m.contains(delivered), "{m}");
    assert!(
        !m.contains("inherence_webhook_delivery_lag_seconds_count 0"),
        "{m}"
    );
    let got = rx2
        .accepted()
        .into_iter()
        .find(|r| r.body["event_id"] == dead["event_id"])
        .unwrap();
    let sig = &got.headers["webhook-signature"];
    assert_eq!(
        sig.matches("v1,").count(),
        2,
        "current and previous secret: {sig}"
    );
    let ts: i64 = got.headers["webhook-timestamp"].parse().unwrap();
    // The body as sent is the canonical ASCII form of what was received.
    let raw = inherence::canonical::to_string(&got.body, true);
    inherence::webhook::signature::verify_standard(
        &got.headers["webhook-id"],
        ts,
        raw.as_bytes(),
        sig,
        &inherence::webhook::signature::standard_secret(&old),
        ts,
    )
    .expect("the previous secret still verifies during rotation");
    assert!(rx2.problems().is_empty(), "{:?}", rx2.problems());

    // Declined with its single attempt, then re-opened by a reviewer (Resubmitted): the same
    // link captures again and the genuine user is approved.
    let b = browser();
    let url = s["url"].as_str().unwrap().to_owned();
    let capture = open_hosted(&b, &url).await;
    assert_eq!(
        attempt_with(&b, &server, &capture, |spec| photo_burst(
            BLAIR_FRAMES[0],
            spec
        ))
        .await["status"],
        "failed"
    );
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["status"], "Declined");
    let (st, _) = call(&server, reqwest::Method::PATCH, &format!("/v3/session/{id}/update-status/"), Some(&k), Some(json!({"new_status": "Resubmitted", "nodes_to_resubmit": [{"node_id": "feature_face_match_1", "feature": "FACE_MATCH"}]}))).await;
    assert_eq!(st, 200);
    let b = browser();
    let capture = open_hosted(&b, &url).await;
    assert_eq!(attempt(&b, &server, &capture).await["status"], "approved");
    let (_, d) = call(
        &server,
        reqwest::Method::GET,
        &format!("/v3/session/{id}/decision/"),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(d["status"], "Approved");
    assert_eq!(d["reviews"][0]["new_status"], "Resubmitted");
    let channels: Vec<_> = server
        .provider
        .verdicts()
        .unwrap()
        .into_iter()
        .filter(|v| v.session_id.as_deref() == Some(id.as_str()))
        .map(|v| (format!("{:?}", v.channel), v.outcome))
        .collect();
    assert_eq!(
        channels,
        vec![
            ("Session".to_owned(), "Declined".to_owned()),
            ("Review".to_owned(), "Resubmitted".to_owned()),
            ("Session".to_owned(), "Approved".to_owned())
        ]
    );
}
