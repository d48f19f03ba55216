//! A resource server (a bank's payments API) that demands a recent face check before it moves
//! money, using RFC 9470 step-up challenges.
//!
//! Server side: `POST /payments` with `Authorization: Bearer <Inherence access token>`.
//! The token is verified against Inherence's JWKS (signature, `typ` at+jwt, issuer, audience,
//! expiry); then `acr`, `amr` and `auth_time` must satisfy the requirement. Otherwise the answer
//! is 401 with
//!
//!     WWW-Authenticate: Bearer error="insufficient_user_authentication",
//!         error_description="...", acr_values="biometric", max_age="300"
//!
//! which tells the client exactly what authorization request to send next.
//!
//! Dynamic linking (PSD2, EBA RTS Art. 5): the payment in the body
//! (`{"amount":"100.00","currency":"EUR","payee":"Payee A","iban":"DE02..."}`) must be exactly
//! one the user approved in the face check: the token's `authorization_details` (RAR
//! `payment_initiation`) are compared with `check_transaction`; any other amount, currency or
//! payee is refused with 403.
//!
//! Client side: `--call URL --token TOKEN` calls such an endpoint and, on a step-up challenge,
//! prints the `acr_values` and `max_age` to put in the next authorization request.
//!
//!     cargo run --release --example resource_server -- --issuer http://127.0.0.1:8080 \
//!         --audience demo-bank --listen 127.0.0.1:8082 --max-age 300
//!     cargo run --release --example resource_server -- --call http://127.0.0.1:8082/payments --token eyJ...

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use inherence::protocol::resource::{
    AccessError, AccessPolicy, Transaction, authorize_request, check_transaction,
};
use inherence::protocol::step_up::StepUpChallenge;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Value, json};

struct Api {
    policy: AccessPolicy,
    jwks_uri: String,
    jwks: RwLock<Arc<JwkSet>>,
    http: reqwest::Client,
}

fn now() -> i64 {
    inherence::clock::Clock::now_secs(&inherence::clock::SystemClock)
}

async fn fetch_jwks(http: &reqwest::Client, uri: &str) -> Result<JwkSet, String> {
    let r = http.get(uri).send().await.map_err(|e| e.to_string())?;
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

async fn payments(State(api): State<Arc<Api>>, headers: HeaderMap, body: String) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let jwks = api.jwks.read().expect("jwks lock").clone();
    let mut result = authorize_request(bearer, &jwks, &api.policy, now());
    // A key we have not seen: Inherence may have rotated. Refresh once and retry.
    if matches!(&result, Err(AccessError::InvalidToken(w)) if w == "unknown signing key")
        && let Ok(fresh) = fetch_jwks(&api.http, &api.jwks_uri).await
    {
        let fresh = Arc::new(fresh);
        *api.jwks.write().expect("jwks lock") = fresh.clone();
        result = authorize_request(bearer, &fresh, &api.policy, now());
    }
    match result {
        Ok(claims) => {
            let payment: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let field = |k: &str| payment.get(k).and_then(Value::as_str);
            let (Some(amount), Some(currency), Some(payee)) =
                (field("amount"), field("currency"), field("payee"))
            else {
                return (
                    StatusCode::BAD_REQUEST,
                    "the payment needs amount, currency and payee (strings)",
                )
                    .into_response();
            };
            let tx = Transaction {
                kind: "payment_initiation",
                amount,
                currency,
                payee,
                payee_iban: field("iban"),
            };
            if let Err(e) = check_transaction(&claims, &tx) {
                return (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({"status": "refused", "reason": e.to_string()})),
                )
                    .into_response();
            }
            (
                StatusCode::OK,
                axum::Json(json!({
                    "status": "executed",
                    "subject": claims.sub,
                    "face_check_at": claims.auth_time,
                    "payment": payment,
                })),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, e.www_authenticate())],
            e.to_string(),
        )
            .into_response(),
    }
}

/// Client side: call the endpoint and explain a step-up challenge.
async fn call(url: &str, token: &str) {
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .body(r#"{"amount":"100.00","currency":"EUR","payee":"Payee A"}"#)
        .send()
        .await
        .expect("request");
    println!("{}", r.status());
    let challenge = r
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(StepUpChallenge::parse);
    match challenge {
        Some(c) => println!(
            "step-up required: send the user to Inherence with acr_values={:?} max_age={:?}",
            c.acr_values.join(" "),
            c.max_age
        ),
        None => println!("{}", r.text().await.unwrap_or_default()),
    }
}

#[tokio::main]
async fn main() {
    let mut issuer = "http://127.0.0.1:8080".to_owned();
    let mut audiences = Vec::new();
    let mut listen: SocketAddr = "127.0.0.1:8082".parse().expect("address");
    let mut max_age = 300u64;
    let mut acr = "biometric".to_owned();
    let (mut call_url, mut token) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--issuer" => issuer = v(),
            "--audience" => audiences.push(v()),
            "--listen" => listen = v().parse().expect("--listen HOST:PORT"),
            "--max-age" => max_age = v().parse().expect("--max-age SECONDS"),
            "--acr" => acr = v(),
            "--call" => call_url = Some(v()),
            "--token" => token = Some(v()),
            other => panic!("unknown option {other}"),
        }
    }
    if let Some(url) = call_url {
        return call(&url, token.as_deref().expect("--token")).await;
    }
    assert!(!audiences.is_empty(), "--audience CLIENT_ID is required");
    let http = reqwest::Client::new();
    let meta = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .bytes()
        .await
        .expect("discovery");
    let meta: Value = serde_json::from_slice(&meta).expect("discovery JSON");
    let jwks_uri = meta["jwks_uri"].as_str().expect("jwks_uri").to_owned();
    let jwks = fetch_jwks(&http, &jwks_uri).await.expect("JWKS");
    let api = Arc::new(Api {
        policy: AccessPolicy {
            issuer,
            audiences,
            step_up: StepUpChallenge {
                acr_values: vec![acr],
                max_age: Some(max_age),
                error_description: Some("a recent face check is required for payments".into()),
            },
            leeway_secs: 30,
        },
        jwks_uri,
        jwks: RwLock::new(Arc::new(jwks)),
        http,
    });
    let app = Router::new()
        .route("/payments", post(payments))
        .with_state(api);
    let l = tokio::net::TcpListener::bind(listen).await.expect("bind");
    println!("payments API on http://{listen}/payments");
    axum::serve(l, app).await.expect("serve");
}
