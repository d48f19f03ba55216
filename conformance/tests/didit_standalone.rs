//! The Didit-compatible standalone checks (`POST /v3/face-match/`, `POST /v3/passive-liveness/`)
//! on real photos: documented shapes, verdict rules, and documented error bodies.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::common::shared;
use crate::server::*;

const FORBIDDEN: &str = "You do not have permission to perform this action.";

fn key(server: &TestServer) -> String {
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

fn image(rel: &str) -> Part {
    Part::bytes(std::fs::read(dev_image(rel)).unwrap()).file_name("x.jpg")
}

async fn post(
    server: &TestServer,
    path: &str,
    key: Option<&str>,
    form: Form,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = http().post(server.url(path)).multipart(form);
    if let Some(k) = key {
        r = r.header("x-api-key", k);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_match_follows_the_contract() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    let k = key(&server);

    let same = Form::new()
        .part("user_image", image(RUMSFELD_FRAMES[0]))
        .part("ref_image", image(RUMSFELD_ENROL))
        .text("vendor_data", "user-1")
        .text("metadata", r#"{"login_attempt":"2"}"#);
    let (status, v, h) = post(&server, "/v3/face-match/", Some(&k), same).await;
    assert_eq!(status, 200, "{v}");
    let fm = &v["face_match"];
    assert_eq!(fm["status"], "Approved", "{v}");
    assert!(fm["score"].as_f64().unwrap() > 30.0);
    assert_eq!(fm["warnings"], serde_json::json!([]));
    assert_eq!(
        fm["user_image"]["entities"][0]["bbox"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(fm["user_image"]["best_angle"], 0);
    assert_eq!(v["vendor_data"], "user-1");
    assert_eq!(v["metadata"]["login_attempt"], "2");
    assert_eq!(v["request_id"].as_str().unwrap().len(), 36);
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(h["x-ratelimit-limit"], "300");

    // Someone else: declined with LOW_FACE_MATCH_SIMILARITY; a threshold of 100 declines anyone.
    let other = Form::new()
        .part("user_image", image(BLAIR_FRAMES[0]))
        .part("ref_image", image(RUMSFELD_ENROL));
    let (_, v, _) = post(&server, "/v3/face-match/", Some(&k), other).await;
    assert_eq!(v["face_match"]["status"], "Declined");
    assert_eq!(
        v["face_match"]["warnings"][0]["risk"],
        "LOW_FACE_MATCH_SIMILARITY"
    );
    assert_eq!(v["face_match"]["warnings"][0]["feature"], "FACEMATCH");
    let strict = Form::new()
        .part("user_image", image(RUMSFELD_FRAMES[0]))
        .part("ref_image", image(RUMSFELD_ENROL))
        .text("face_match_score_decline_threshold", "100");
    let (_, v, _) = post(&server, "/v3/face-match/", Some(&k), strict).await;
    assert_eq!(v["face_match"]["status"], "Declined");

    // No face in the reference: still 200, Declined, NO_REFERENCE_IMAGE, score null.
    let grey = {
        let img = image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]));
        let mut b = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::Png)
            .unwrap();
        b
    };
    let noface = Form::new()
        .part("user_image", image(RUMSFELD_FRAMES[0]))
        .part("ref_image", Part::bytes(grey).file_name("g.png"));
    let (status, v, _) = post(&server, "/v3/face-match/", Some(&k), noface).await;
    assert_eq!(status, 200);
    assert_eq!(v["face_match"]["status"], "Declined");
    assert_eq!(v["face_match"]["score"], Value::Null);
    assert_eq!(v["face_match"]["warnings"][0]["risk"], "NO_REFERENCE_IMAGE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_liveness_follows_the_contract() {
    let Some(sh) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    let k = key(&server);
    let live =
        Part::bytes(std::fs::read(sh.join("eval/dev/pad_images/silentface/image_T1.jpg")).unwrap())
            .file_name("t.jpg");
    let (status, v, _) = post(
        &server,
        "/v3/passive-liveness/",
        Some(&k),
        Form::new().part("user_image", live),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let l = &v["liveness"];
    assert_eq!(l["status"], "Approved", "{v}");
    assert_eq!(l["method"], "PASSIVE");
    assert!(l["score"].as_f64().unwrap() > 30.0);
    assert!(l["face_quality"].as_f64().is_some());
    let print =
        Part::bytes(std::fs::read(sh.join("eval/dev/pad_images/silentface/image_F1.jpg")).unwrap())
            .file_name("f.jpg");
    let (_, v, _) = post(
        &server,
        "/v3/passive-liveness/",
        Some(&k),
        Form::new().part("user_image", print),
    )
    .await;
    assert_eq!(v["liveness"]["status"], "Declined", "{v}");
    let risks: Vec<&str> = v["liveness"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["risk"].as_str().unwrap())
        .collect();
    assert!(
        risks.contains(&"LOW_LIVENESS_SCORE") || risks.contains(&"LIVENESS_FACE_ATTACK"),
        "{risks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_documented_errors() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    let k = key(&server);
    let form = || Form::new().part("user_image", image(RUMSFELD_FRAMES[0]));

    // Authentication: 403 with the documented body, missing, wrong or revoked key alike.
    for key in [None, Some("wrong-key")] {
        let (status, v, _) = post(&server, "/v3/passive-liveness/", key, form()).await;
        assert_eq!(status, 403);
        assert_eq!(v["detail"], FORBIDDEN);
    }
    let now = inherence::clock::Clock::now_secs(&inherence::clock::SystemClock);
    let (rec, revoked) = inherence::flow::didit::create_api_key(
        &*server.provider.store,
        now,
        "old",
        &Default::default(),
    )
    .unwrap();
    assert!(inherence::flow::didit::revoke_api_key(&*server.provider.store, now, &rec.id).unwrap());
    let (status, _, _) = post(&server, "/v3/passive-liveness/", Some(&revoked), form()).await;
    assert_eq!(status, 403);

    // Missing fields, bad values, oversized and non-image files.
    let (status, v, _) = post(&server, "/v3/face-match/", Some(&k), form()).await;
    assert_eq!(
        (status, &v["ref_image"][0]),
        (400, &Value::from("This field is required."))
    );
    let (status, v, _) = post(
        &server,
        "/v3/passive-liveness/",
        Some(&k),
        form().text("face_liveness_score_decline_threshold", "101"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["face_liveness_score_decline_threshold"][0]
            .as_str()
            .unwrap()
            .contains("100")
    );
    let (status, v, _) = post(
        &server,
        "/v3/passive-liveness/",
        Some(&k),
        form().text("face_liveness_score_decline_threshold", "abc"),
    )
    .await;
    assert_eq!(
        (
            status,
            v["face_liveness_score_decline_threshold"].is_array()
        ),
        (400, true)
    );
    let (status, v, _) = post(
        &server,
        "/v3/passive-liveness/",
        Some(&k),
        form().text("metadata", "{not json"),
    )
    .await;
    assert_eq!(
        (status, &v["metadata"][0]),
        (400, &Value::from("Value must be valid JSON."))
    );
    let (status, v, _) = post(
        &server,
        "/v3/passive-liveness/",
        Some(&k),
        form().text("save_api_request", "maybe"),
    )
    .await;
    assert_eq!((status, v["save_api_request"].is_array()), (400, true));
    let big = Form::new().part(
        "user_image",
        Part::bytes(vec![0xFFu8; 5 * 1024 * 1024 + 1]).file_name("b.jpg"),
    );
    let (status, v, _) = post(&server, "/v3/passive-liveness/", Some(&k), big).await;
    assert_eq!(
        (status, &v["user_image"][0]),
        (400, &Value::from("Image size exceeds 5MB."))
    );
    let text = Form::new().part(
        "user_image",
        Part::bytes(b"hello".to_vec()).file_name("a.txt"),
    );
    let (status, v, _) = post(&server, "/v3/passive-liveness/", Some(&k), text).await;
    assert_eq!((status, v["user_image"].is_array()), (400, true), "{v}");
    // A banner-shaped picture: 400 with its code, never a 500 from the models.
    let mut banner = inherence::biometric::imageops::Rgb8::new(10_000, 31);
    banner.data.iter_mut().for_each(|b| *b = 120);
    let banner = Form::new().part(
        "user_image",
        Part::bytes(inherence::biometric::decode::encode_png(&banner).unwrap()).file_name("w.png"),
    );
    let (status, v, _) = post(&server, "/v3/passive-liveness/", Some(&k), banner).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["user_image"][0]
            .as_str()
            .unwrap()
            .starts_with("IMAGE_SHAPE_UNSUPPORTED"),
        "{v}"
    );

    // Not multipart: 415; no trailing slash: 301 to the slash path.
    let r = http()
        .post(server.url("/v3/passive-liveness/"))
        .header("x-api-key", &k)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = http()
        .post(server.url("/v3/face-match"))
        .header("x-api-key", &k)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "/v3/face-match/");
}

/// The served OpenAPI document and the router agree on every method of every path: each
/// documented operation is routed (an unauthenticated call gets 403, not 404 or 405), and a
/// path's `Allow` header (a 405 for a method nobody documents) lists exactly the documented
/// methods. The paths themselves are compared by `the_routes_and_the_openapi_document_name_the_same_paths`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_nothing_else() {
    let server = TestServer::start(|_| {}).await;
    let doc: Value = http()
        .get(server.url("/v3/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, ops) in paths {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "3f1c3a0e-0000-4000-8000-000000000000"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut documented: Vec<String> = ops
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for m in &documented {
            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
            let r = http()
                .request(method, server.url(&concrete))
                .send()
                .await
                .unwrap();
            let public = path == "/v3/openapi.json" || path == "/v3/webhook/public-keys/";
            let expected = if public { 200 } else { 403 };
            assert_eq!(r.status(), expected, "{m} {path}");
        }
        let r = http()
            .request(reqwest::Method::PUT, server.url(&concrete))
            .send()
            .await
            .unwrap();
        if documented.contains(&"PUT".to_owned()) {
            continue;
        }
        assert_eq!(r.status(), 405, "PUT {path} is routed but not documented");
        let mut allowed: Vec<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| m != "HEAD")
            .collect();
        allowed.sort();
        documented.sort();
        assert_eq!(allowed, documented, "methods of {path}");
    }
}
