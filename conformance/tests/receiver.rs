//! An in-test webhook receiver that verifies every header a delivery carries: `X-Signature`
//! over the raw bytes, `X-Signature-V2` over the re-canonicalised body, `X-Signature-Simple`,
//! `X-Timestamp` equal to the signed body timestamp, Standard Webhooks `webhook-id` /
//! `webhook-timestamp` / `webhook-signature` (`v1,` with the secret, `v1a,` with the published
//! Ed25519 key when given). It can refuse the first N requests with a 500.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use inherence::webhook::signature::{self, Scheme};
use serde_json::Value;

/// One accepted delivery.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub headers: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Shared {
    secret: Arc<Mutex<Option<String>>>,
    ed25519: Arc<Mutex<Option<Vec<u8>>>>,
    fail_first: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<Received>>>,
    problems: Arc<Mutex<Vec<String>>>,
}

pub struct Receiver {
    pub url: String,
    s: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    /// Listens on a free loopback port; refuses the first `fail_first` requests with a 500.
    pub async fn start(fail_first: usize) -> Self {
        let s = Shared::default();
        s.fail_first.store(fail_first, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            s,
            _stop: tx,
        }
    }

    pub fn set_secret(&self, secret: &str) {
        *self.s.secret.lock().unwrap() = Some(secret.to_owned());
    }

    pub fn set_ed25519(&self, public_key: Vec<u8>) {
        *self.s.ed25519.lock().unwrap() = Some(public_key);
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.s.accepted.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> usize {
        self.s.attempts.load(Ordering::SeqCst)
    }

    /// Header or signature problems seen so far (must stay empty).
    pub fn problems(&self) -> Vec<String> {
        self.s.problems.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the accepted deliveries (or panics after `secs`).
    pub async fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&[Received]) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if pred(&self.accepted()) {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; accepted: {:#?}; problems: {:?}",
                    self.accepted()
                        .iter()
                        .map(|r| (r.body["webhook_type"].clone(), r.body["status"].clone()))
                        .collect::<Vec<_>>(),
                    self.problems()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

fn now() -> i64 {
    inherence::clock::Clock::now_secs(&inherence::clock::SystemClock)
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.attempts.fetch_add(1, Ordering::SeqCst);
    if s.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let h: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let get = |k: &str| h.get(k).cloned().unwrap_or_default();
    let mut problems = Vec::new();
    let secret = s.secret.lock().unwrap().clone();
    let Some(secret) = secret else {
        s.problems
            .lock()
            .unwrap()
            .push("delivery before the secret was known".into());
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let ts = Some(get("x-timestamp"));
    for (scheme, header) in [
        (Scheme::Raw, "x-signature"),
        (Scheme::V2, "x-signature-v2"),
        (Scheme::Simple, "x-signature-simple"),
    ] {
        if let Err(e) =
            signature::verify(&body, &secret, scheme, &get(header), ts.as_deref(), now())
        {
            problems.push(format!("{header}: {e}"));
        }
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = get("webhook-id");
    if id != parsed["event_id"].as_str().unwrap_or("?") {
        problems.push("webhook-id differs from event_id".into());
    }
    let wts: i64 = get("webhook-timestamp").parse().unwrap_or(0);
    if wts != parsed["timestamp"].as_i64().unwrap_or(-1) {
        problems.push("webhook-timestamp differs from the body timestamp".into());
    }
    if let Err(e) = signature::verify_standard(
        &id,
        wts,
        &body,
        &get("webhook-signature"),
        &signature::standard_secret(&secret),
        now(),
    ) {
        problems.push(format!("webhook-signature v1: {e}"));
    }
    if let Some(pk) = s.ed25519.lock().unwrap().clone()
        && let Err(e) = signature::verify_standard_ed25519(
            &id,
            wts,
            &body,
            &get("webhook-signature"),
            &pk,
            now(),
        )
    {
        problems.push(format!("webhook-signature v1a: {e}"));
    }
    if get("content-type") != "application/json" || get("user-agent").is_empty() {
        problems.push("content-type or user-agent missing".into());
    }
    if !problems.is_empty() {
        s.problems.lock().unwrap().extend(problems);
        return StatusCode::UNAUTHORIZED;
    }
    s.accepted.lock().unwrap().push(Received {
        body: parsed,
        headers: h,
    });
    StatusCode::OK
}
