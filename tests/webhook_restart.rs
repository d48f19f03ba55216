//! The webhook outbox survives `kill -9` of the server in the middle of a delivery: after a
//! restart on the same store the event is delivered (at least once, and here exactly once to
//! the receiver that answers), with a valid signature. Needs the installed models.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{free_port, root, start, wait_healthy};
use inherence::webhook::signature::{self, Scheme};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Rx {
    secret: Arc<Mutex<String>>,
    /// Event ids of requests held (never answered) to simulate an in-flight delivery.
    held: Arc<Mutex<Vec<String>>>,
    accepted: Arc<Mutex<Vec<String>>>,
    hold_first: Arc<Mutex<bool>>,
}

async fn receive(State(rx): State<Rx>, h: HeaderMap, body: Bytes) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = v["event_id"].as_str().unwrap_or("").to_owned();
    let hold = std::mem::replace(&mut *rx.hold_first.lock().unwrap(), false);
    if hold {
        rx.held.lock().unwrap().push(id);
        // The server is killed while this request waits.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return StatusCode::OK;
    }
    let secret = rx.secret.lock().unwrap().clone();
    let now = inherence::clock::Clock::now_secs(&inherence::clock::SystemClock);
    let sig = h
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ts = h.get("x-timestamp").and_then(|v| v.to_str().ok());
    if signature::verify(&body, &secret, Scheme::Raw, sig, ts, now).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    rx.accepted.lock().unwrap().push(id);
    StatusCode::OK
}

async fn post_ok(base: &str, key: &str, path: &str, body: Value) -> Value {
    let (st, v) = common::post(base, key, path, &body).await;
    assert!((200..300).contains(&st), "{path}: {st} {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_in_flight_survives_kill_9_and_restart() {
    let rx = Rx::default();
    *rx.hold_first.lock().unwrap() = true;
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = dir.path().join("inherence.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:0"
[oidc]
issuer = "{base}"
[store]
path = "{store}"
[models]
dir = "{models}"
manifest = "{models}/manifest.toml"
[webhooks]
retry_base_secs = 0.2
retry_max_secs = 1.0
poll_interval_ms = 50
timeout_secs = 3
allow_private_networks = true
"#,
            store = dir.path().join("store").display(),
            models = root().join("models").display()
        ),
    )
    .unwrap();
    let key = common::api_key(&cfg);

    let mut server = start(&cfg);
    wait_healthy(&base, &mut server).await;
    let dest = post_ok(
        &base,
        &key,
        "/v3/webhook/destinations/",
        json!({"label": "r", "url": hook}),
    )
    .await;
    *rx.secret.lock().unwrap() = dest["secret_shared_key"].as_str().unwrap().to_owned();
    let wf = post_ok(
        &base,
        &key,
        "/v3/workflows/",
        json!({"features": [{"feature": "LIVENESS"}]}),
    )
    .await;
    let session = post_ok(
        &base,
        &key,
        "/v3/session/",
        json!({"workflow_id": wf["uuid"]}),
    )
    .await;
    assert_eq!(session["status"], "Not Started");

    // Wait until the first delivery is in flight (held by the receiver), then kill -9.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rx.held.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no delivery arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = rx.held.lock().unwrap()[0].clone();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(rx.accepted.lock().unwrap().is_empty());

    // Restarted on the same store: the event is delivered once the stale lease lapses.
    let mut server = start(&cfg);
    wait_healthy(&base, &mut server).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    while !rx.accepted.lock().unwrap().contains(&held) {
        assert!(
            Instant::now() < deadline,
            "the event was not delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let accepted = rx.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted.iter().filter(|e| **e == held).count(),
        1,
        "delivered exactly once to the answering receiver: {accepted:?}"
    );
    let _ = server.kill();
    let _ = server.wait();
}
