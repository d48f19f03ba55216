//! What must fail, fails cleanly: OAuth-shaped errors, no redirect to an unverified URI,
//! nothing approved by mistake.

use serde_json::Value;

use crate::oidc_flows::{par_authorize_url, pass_face_check, push};
use crate::server::*;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A front-channel authorization URL for `rp-basic` with the given overrides.
pub fn front(server: &TestServer, extra: &[(&str, &str)]) -> String {
    let mut p: Vec<(String, String)> = [
        ("client_id", "rp-basic"),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    p.push(("id_token_hint".into(), server.idp_id_token("alice")));
    for (k, v) in extra {
        p.retain(|(a, _)| a != k);
        if !v.is_empty() {
            p.push(((*k).into(), (*v).into()));
        }
    }
    let q: Vec<String> = p.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    format!("{}/authorize?{}", server.base, q.join("&"))
}

async fn redirected_error(
    server: &TestServer,
    url: &str,
) -> std::collections::HashMap<String, String> {
    let r = browser().get(url).send().await.unwrap();
    assert_eq!(r.status(), 303, "{url}");
    let loc = location(&r);
    assert!(
        loc.starts_with(REDIRECT),
        "errors go to the verified redirect URI: {loc}"
    );
    let q = query(&loc);
    assert_eq!(q["iss"], server.base);
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_request_checks() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;

    // Redirect URI mismatch: shown to the user, never redirected.
    for bad in [
        "http://127.0.0.1:9/cb/",
        "http://127.0.0.1:9/CB",
        "http://evil.example/cb",
    ] {
        let r = browser()
            .get(front(&server, &[("redirect_uri", bad)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("invalid_request"));
    }
    // Unknown client: shown, not redirected.
    let r = browser()
        .get(front(&server, &[("client_id", "nobody")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());

    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("code_challenge", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (
            &[("acr_values", "gold")],
            "unmet_authentication_requirements",
        ),
        (
            &[(
                "claims",
                r#"{"id_token":{"acr":{"essential":true,"values":["silver"]}}}"#,
            )],
            "unmet_authentication_requirements",
        ),
        (&[("prompt", "none")], "login_required"),
        (&[("max_age", "-1")], "invalid_request"),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", "profile")], "invalid_scope"),
        (&[("login_hint", "alice")], "invalid_request"),
        (
            &[("authorization_details", r#"[{"type":"wire_transfer"}]"#)],
            "invalid_authorization_details",
        ),
        (
            &[("authorization_details", "not json")],
            "invalid_authorization_details",
        ),
        (
            &[("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")],
            "login_required",
        ),
    ];
    for (extra, code) in cases {
        let q = redirected_error(&server, &front(&server, extra)).await;
        assert_eq!(q["error"], *code, "{extra:?}");
        assert_eq!(q["state"], "xyz");
    }
    // A hint from an issuer that is not trusted.
    let forged = {
        let now = server.now_secs();
        idp_key()
            .sign(&serde_json::json!({"iss": "https://evil.example", "sub": "alice", "iat": now}))
    };
    assert_eq!(
        redirected_error(&server, &front(&server, &[("id_token_hint", &forged)])).await["error"],
        "login_required"
    );

    // A client that must use PAR cannot send a front-channel request.
    let url = front(&server, &[("client_id", "rp-par")]);
    assert_eq!(
        redirected_error(&server, &url).await["error"],
        "invalid_request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_requests_are_single_use_and_expire() {
    let server = TestServer::protocol(|c| c.oidc.par_lifetime_secs = 1).await;
    server.enrol("alice", PERSON_ENROL).await;
    let ch = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], ch).await;
    assert_eq!(browser().get(&url).send().await.unwrap().status(), 303);
    let reused = browser().get(&url).send().await.unwrap();
    assert_eq!(reused.status(), 400, "request_uri is single-use");
    assert!(reused.text().await.unwrap().contains("invalid_request_uri"));
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], ch).await;
    server.pass(std::time::Duration::from_millis(2100)).await;
    let expired = browser().get(&url).send().await.unwrap();
    assert_eq!(expired.status(), 400);
    assert!(
        expired
            .text()
            .await
            .unwrap()
            .contains("invalid_request_uri")
    );
    // Pushing needs client authentication.
    let r = http()
        .post(server.url("/par"))
        .form(&[("client_id", "rp-par"), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Invalid parameters are refused at push time.
    let r = push(
        &server,
        "rp-par",
        &[("login_hint", "alice"), ("code_challenge_method", "plain")],
        ch,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_pkce_client_auth_and_code_replay() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let verifier = inherence::flow::random_token(40);
    let challenge = inherence::protocol::pkce::challenge(&verifier);
    let get_code = || async {
        let url =
            par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], &challenge).await;
        pass_face_check(&server, &browser(), &url).await["code"].clone()
    };
    let exchange = |code: String, verifier: String, user: &'static str, secret: &'static str| {
        let server_url = server.url("/token");
        async move {
            http()
                .post(server_url)
                .basic_auth(user, Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Wrong PKCE verifier.
    let code = get_code().await;
    let r = exchange(
        code,
        inherence::flow::random_token(40),
        "rp-par",
        BASIC_SECRET,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Missing verifier.
    let code = get_code().await;
    let r = http()
        .post(server.url("/token"))
        .basic_auth("rp-par", Some(BASIC_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Bad client authentication.
    let code = get_code().await;
    let r = exchange(
        code.clone(),
        verifier.clone(),
        "rp-par",
        "wrong-secret-wrong-secret-wrong-secret",
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = exchange(code.clone(), verifier.clone(), "nobody", BASIC_SECRET).await;
    assert_eq!(r.status(), 401);
    // Wrong method: rp-post must use client_secret_post.
    let r = exchange(code.clone(), verifier.clone(), "rp-post", BASIC_SECRET).await;
    assert_eq!(r.status(), 401);
    // Another client cannot redeem rp-par's code (it burns it).
    let r = exchange(code, verifier.clone(), "rp-basic", BASIC_SECRET).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // Replay: the second redemption fails and revokes the first one's tokens.
    let code = get_code().await;
    let first = exchange(code.clone(), verifier.clone(), "rp-par", BASIC_SECRET).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let at = first.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspect = |tok: String| {
        let u = server.url("/introspect");
        async move {
            http()
                .post(u)
                .basic_auth("rp-par", Some(BASIC_SECRET))
                .form(&[("token", tok.as_str())])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(at.clone()).await["active"], true);
    let again = exchange(code, verifier.clone(), "rp-par", BASIC_SECRET).await;
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(at.clone()).await["active"],
        false,
        "replay revokes what the code issued"
    );
    let ui = http()
        .get(server.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 401);

    // Malformed requests.
    let r = http()
        .post(server.url("/token"))
        .basic_auth("rp-par", Some(BASIC_SECRET))
        .json(&serde_json::json!({"grant_type": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = http()
        .post(server.url("/token"))
        .basic_auth("rp-par", Some(BASIC_SECRET))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let r = http()
        .post(server.url("/token"))
        .basic_auth("rp-par", Some(BASIC_SECRET))
        .body("grant_type=authorization_code&grant_type=authorization_code")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // rp-par may not use client_credentials.
    let r = http()
        .post(server.url("/token"))
        .basic_auth("rp-par", Some(BASIC_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_challenges_are_bound_single_use_and_uploads_bounded() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let ch = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let b = browser();
    let capture = open_capture(
        &b,
        &par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], ch).await,
    )
    .await;
    // Another flow the same browser may capture for (its own cookie for that flow).
    let other = open_capture(
        &b,
        &par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], ch).await,
    )
    .await;
    let c: Value = b
        .post(server.url(&format!("{capture}/challenge")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge = c["challenge"].as_str().unwrap().to_owned();
    let upload = |flow: String, challenge: String, frame: Vec<u8>| {
        let b = b.clone();
        let u = server.url(&format!("{flow}/frames"));
        async move {
            let form = reqwest::multipart::Form::new()
                .text("challenge", challenge)
                .text("timestamps", "0")
                .part(
                    "frame",
                    reqwest::multipart::Part::bytes(frame).file_name("f.jpg"),
                );
            b.post(u).multipart(form).send().await.unwrap()
        }
    };
    let face = server.image(RUMSFELD_FRAMES[0]);
    // A challenge from another flow is refused (and consumed).
    let r = upload(other.clone(), challenge.clone(), face.clone()).await;
    assert_eq!(r.status(), 400);
    let r = upload(capture.clone(), challenge.clone(), face.clone()).await;
    assert_eq!(r.status(), 400, "a challenge is single use");
    // Non-image frames, as many as the challenge asks, on its timestamps: a declined
    // attempt that names them.
    let (c, spec, asked) = crate::server::challenge(&b, &server, &capture, false).await;
    let pdfs = inherence::eval::camera::stamps(&spec, &mut inherence::eval::camera::Rng::new(1))
        .into_iter()
        .map(|t_ms| inherence::biometric::CapturedFrame {
            bytes: b"%PDF-1.4 not a picture".to_vec(),
            t_ms,
        })
        .collect();
    let (status, r) = crate::server::upload(&b, &server, &capture, &c, pdfs, Some(asked)).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "retry", "{r}");
    let reasons = server
        .provider
        .verdicts()
        .unwrap()
        .last()
        .unwrap()
        .reasons
        .clone();
    assert!(
        reasons.contains(&"UNDECODABLE_FRAME".to_owned()),
        "{reasons:?}"
    );
    // Oversized upload (on its own connection: the server stops reading and closes it).
    let c: Value = b
        .post(server.url(&format!("{capture}/challenge")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("challenge", c["challenge"].as_str().unwrap().to_owned())
        .part(
            "frame",
            reqwest::multipart::Part::bytes(vec![0xFF; 25 * 1024 * 1024]).file_name("f.jpg"),
        );
    // The server answers 413 and closes; a client still writing the body may see the close
    // (broken pipe) before it reads the answer. Either way the upload is refused.
    // From a device of the flow with its own connections (the phone it is handed to): the
    // server closes the connection it refused, which must not be one `b` reuses below.
    let phone = hand_off(&server, &b, &capture).await;
    match phone
        .post(server.url(&format!("{capture}/frames")))
        .multipart(form)
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(
            e.is_request() && !e.is_timeout(),
            "the oversized upload must be refused, got {e}"
        ),
    }
    // Preview guidance.
    let r: Value = b
        .post(server.url(&format!("{capture}/preview")))
        .header("content-type", "image/jpeg")
        .body(face.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["hint"].is_string() && r["face"].is_array(), "{r}");
    // Finishing from another browser is refused; the flow stays usable in the right one.
    let r = browser()
        .get(server.url(&format!("{capture}/finish")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Unknown flows look like nothing.
    let r = b
        .get(server.url("/capture/doesnotexist"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = b
        .get(server.url("/capture/..%2f..%2fetc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_jwks_describe_the_provider() {
    let server = TestServer::protocol(|c| c.oidc.require_par = true).await;
    let d: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], server.base);
    assert_eq!(d["require_pushed_authorization_requests"], true);
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    // It tells the truth about what is refused or not offered (protocol_attacks tests that
    // these are refused, not ignored).
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["response_modes_supported"], serde_json::json!(["query"]));
    assert_eq!(d["scopes_supported"], serde_json::json!(["openid"]));
    assert!(
        d.get("userinfo_signing_alg_values_supported").is_none(),
        "userinfo is plain JSON, never signed"
    );
    assert!(
        d["acr_values_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("biometric"))
    );
    let rfc8414: Value = http()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414, d);
    let jwks: Value = http()
        .get(server.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for k in jwks["keys"].as_array().unwrap() {
        assert!(k["kid"].is_string() && k["x5c"].is_array());
        assert!(k.get("d").is_none() && k.get("p").is_none());
    }
}
