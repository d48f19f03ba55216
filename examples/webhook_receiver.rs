//! A webhook receiver that verifies Inherence's (Didit-compatible) signatures before it trusts
//! an event, and handles each `event_id` once (deliveries are at-least-once).
//!
//! Checks, in this order: `X-Signature` over the raw bytes (or, when a proxy re-serialised the
//! body, `X-Signature-V2` over the re-canonicalised JSON), in constant time; the signed body
//! `timestamp` within 300 s of now; `X-Timestamp` equal to it. With `--standard-secret whsec_...`
//! it checks the Standard Webhooks headers instead (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`). With `--public-key X` (the `x` of a key at
//! `/v3/webhook/public-keys/`, when the server has `[webhooks] ed25519 = true`) it needs no
//! shared secret: it checks the `v1a,` Ed25519 entry of `webhook-signature`.
//!
//!     cargo run --release --example webhook_receiver -- --listen 127.0.0.1:9000 --secret SECRET
//!     cargo run --release --example webhook_receiver -- --public-key 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use inherence::webhook::signature::{Scheme, verify, verify_standard, verify_standard_ed25519};

struct Receiver {
    secret: Option<String>,
    standard_secret: Option<String>,
    /// Raw 32-byte Ed25519 public key.
    public_key: Option<Vec<u8>>,
    seen: Mutex<HashSet<String>>,
}

fn now() -> i64 {
    inherence::clock::Clock::now_secs(&inherence::clock::SystemClock)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let event: serde_json::Value = if r.standard_secret.is_some() || r.public_key.is_some() {
        let (Some(id), Some(ts), Some(sig)) = (
            header(&headers, "webhook-id"),
            header(&headers, "webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
            header(&headers, "webhook-signature"),
        ) else {
            return (
                StatusCode::UNAUTHORIZED,
                "missing Standard Webhooks headers",
            );
        };
        let checked = match (&r.public_key, &r.standard_secret) {
            (Some(pk), _) => verify_standard_ed25519(id, ts, &body, sig, pk, now()),
            (None, Some(whsec)) => verify_standard(id, ts, &body, sig, whsec, now()),
            (None, None) => unreachable!("checked above"),
        };
        if let Err(e) = checked {
            eprintln!("rejected a delivery: {e}");
            return (StatusCode::UNAUTHORIZED, "bad signature");
        }
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return (StatusCode::BAD_REQUEST, "not JSON"),
        }
    } else {
        let secret = r.secret.as_deref().unwrap_or_default();
        let ts = header(&headers, "x-timestamp");
        let raw = header(&headers, "x-signature")
            .map(|s| verify(&body, secret, Scheme::Raw, s, ts, now()));
        let result = match raw {
            Some(Ok(v)) => Ok(v),
            // A proxy may have re-serialised the body: the V2 signature survives that.
            _ => match header(&headers, "x-signature-v2") {
                Some(s) => verify(&body, secret, Scheme::V2, s, ts, now()),
                None => raw.unwrap_or(Err(
                    inherence::webhook::signature::VerifyError::BadSignature,
                )),
            },
        };
        match result {
            Ok(v) => v,
            Err(e) => {
                eprintln!("rejected a delivery: {e}");
                return (StatusCode::UNAUTHORIZED, "bad signature");
            }
        }
    };
    let id = event["event_id"].as_str().unwrap_or_default().to_owned();
    if !r.seen.lock().expect("lock").insert(id.clone()) {
        return (StatusCode::OK, "duplicate ignored");
    }
    println!(
        "event {id}: {} session {} -> {}",
        event["webhook_type"].as_str().unwrap_or("?"),
        event["session_id"].as_str().unwrap_or("?"),
        event["status"].as_str().unwrap_or("?")
    );
    (StatusCode::OK, "ok")
}

#[tokio::main]
async fn main() {
    let mut listen: SocketAddr = "127.0.0.1:9000".parse().expect("address");
    let (mut secret, mut standard_secret, mut public_key) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = v().parse().expect("--listen HOST:PORT"),
            "--secret" => secret = Some(v()),
            "--standard-secret" => standard_secret = Some(v()),
            "--public-key" => {
                let k = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(v().trim_end_matches('='))
                    .expect("--public-key: the base64url `x` of an Ed25519 key");
                assert_eq!(k.len(), 32, "--public-key: an Ed25519 key is 32 bytes");
                public_key = Some(k);
            }
            other => panic!("unknown option {other}"),
        }
    }
    assert!(
        secret.is_some() || standard_secret.is_some() || public_key.is_some(),
        "--secret SECRET, --standard-secret whsec_... or --public-key X is required"
    );
    let state = Arc::new(Receiver {
        secret,
        standard_secret,
        public_key,
        seen: Mutex::new(HashSet::new()),
    });
    let app = Router::new()
        .route("/webhooks/inherence", post(receive))
        .with_state(state);
    let l = tokio::net::TcpListener::bind(listen).await.expect("bind");
    println!("receiving on http://{listen}/webhooks/inherence");
    axum::serve(l, app).await.expect("serve");
}
