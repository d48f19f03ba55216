//! The HTTP server basics: health, security headers, the verification demo page.

use serde_json::Value;

use crate::common::shared;
use crate::server::{TestServer, dev_image, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_security_headers() {
    let server = TestServer::start(|_| {}).await;
    let r = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = http().get(server.url("/demo")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_verify_scores_a_pair_and_refuses_bad_uploads() {
    let server = TestServer::start(|_| {}).await;
    let post = |parts: Vec<(&'static str, Vec<u8>)>| {
        let u = server.url("/demo/verify");
        async move {
            let mut form = reqwest::multipart::Form::new();
            for (name, bytes) in parts {
                form = form.part(
                    name,
                    reqwest::multipart::Part::bytes(bytes).file_name("x.jpg"),
                );
            }
            let r = http().post(u).multipart(form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = post(vec![
        ("reference", b"not an image".to_vec()),
        ("probe", vec![]),
    ])
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"], "UNSUPPORTED_IMAGE_FORMAT");
    let (status, v) = post(vec![("reference", b"x".to_vec())]).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "invalid_request");
    if shared("eval/dev").is_none() {
        return;
    }
    let a = std::fs::read(dev_image("lfw_Tony_Blair/Tony_Blair_0001.jpg")).unwrap();
    let b = std::fs::read(dev_image("lfw_Tony_Blair/Tony_Blair_0002.jpg")).unwrap();
    let (status, v) = post(vec![("reference", a), ("probe", b)]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["face_match"]["status"], "Approved", "{v}");
    assert!(v["timings_ms"]["probe"]["total_ms"].is_number());
}
