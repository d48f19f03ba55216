//! The HTTP server: health, the demo page's verify call, security headers, and bad uploads
//! answered with the one JSON error shape.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use inherence::biometric::engine::EngineSettings;
use inherence::http::{AppState, app};
use tower::ServiceExt;

use crate::common::{engine_with, shared};

fn state() -> AppState {
    AppState {
        engine: Arc::new(engine_with(EngineSettings::default())),
        analyses: Arc::new(tokio::sync::Semaphore::new(2)),
        max_body_bytes: 12 << 20,
    }
}

fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "inherence-test-boundary";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post(router: axum::Router, parts: &[(&str, &[u8])]) -> (StatusCode, serde_json::Value) {
    let (ct, body) = multipart(parts);
    let res = router
        .oneshot(
            Request::post("/demo/verify")
                .header("content-type", ct)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn health_and_security_headers() {
    let router = app(state());
    let res = router
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = router
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn demo_verify_scores_a_pair_and_refuses_bad_uploads() {
    let router = app(state());
    let (status, v) = post(
        router.clone(),
        &[("reference", b"not an image"), ("probe", b"")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "UNSUPPORTED_IMAGE_FORMAT");
    let (status, v) = post(router.clone(), &[("reference", b"x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_request");

    let Some(sh) = shared("eval/dev") else { return };
    let dir = sh.join("eval/dev/images/lfw_Tony_Blair");
    let a = std::fs::read(dir.join("Tony_Blair_0001.jpg")).unwrap();
    let b = std::fs::read(dir.join("Tony_Blair_0002.jpg")).unwrap();
    let (status, v) = post(router, &[("reference", &a), ("probe", &b)]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["face_match"]["status"], "Approved", "{v}");
    assert!(v["liveness"]["score"].is_number());
    assert!(v["timings_ms"]["probe"]["total_ms"].is_number());
}
