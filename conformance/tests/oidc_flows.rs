//! Complete step-up flows, with the `openidconnect` crate as the relying party where it can be
//! (discovery, authorization URL, code exchange, ID-token validation) and real faces from the
//! dev set as camera frames.

use base64::Engine as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde_json::Value;

use crate::common::shared;
use crate::server::*;

fn jwt_header(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap()
}

/// Pushes an authorization request for `rp-par` (or `client`) and returns the authorization URL.
pub async fn push(
    server: &TestServer,
    client: &str,
    extra: &[(&str, &str)],
    challenge: &str,
) -> reqwest::Response {
    push_as(server, client, BASIC_SECRET, extra, challenge).await
}

/// As [`push`], for a client with its own secret.
pub async fn push_as(
    server: &TestServer,
    client: &str,
    secret: &str,
    extra: &[(&str, &str)],
    challenge: &str,
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    for (k, v) in extra {
        form.retain(|(a, _)| a != k);
        if !v.is_empty() {
            form.push((k, v));
        }
    }
    http()
        .post(server.url("/par"))
        .basic_auth(client, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub async fn par_authorize_url(
    server: &TestServer,
    client: &str,
    extra: &[(&str, &str)],
    challenge: &str,
) -> String {
    let r = push(server, client, extra, challenge).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert!(v["expires_in"].as_u64().unwrap() < 600);
    let uri = v["request_uri"].as_str().unwrap();
    format!(
        "{}/authorize?client_id={client}&request_uri={}",
        server.base,
        url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    )
}

/// Runs a successful face check in `b` from an authorization URL; returns the code and the
/// client redirect's parameters.
pub async fn pass_face_check(
    server: &TestServer,
    b: &reqwest::Client,
    authorize_url: &str,
) -> std::collections::HashMap<String, String> {
    let capture = open_capture(b, authorize_url).await;
    let r = attempt(b, server, &capture).await;
    assert_eq!(r["status"], "approved", "{r}");
    let to = finish(b, server, &capture).await;
    assert!(to.starts_with(REDIRECT), "{to}");
    query(&to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_rp_completes_a_step_up_with_a_real_face() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);

    let http = http();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("rp-basic".into()),
        Some(ClientSecret::new(BASIC_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let hint = server.idp_id_token("alice");
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .add_auth_context_value(AuthenticationContextClass::new("biometric".into()))
        .add_extra_param("id_token_hint", hint)
        .add_extra_param("max_age", "0")
        .url();
    let started = inherence::clock::Clock::now_secs(&inherence::clock::SystemClock);
    let b = browser();
    let params = pass_face_check(&server, &b, url.as_str()).await;
    assert_eq!(params["state"], *csrf.secret());
    assert_eq!(params["iss"], server.base, "RFC 9207 iss");

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id_token");
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token validates");
    assert_eq!(claims.subject().as_str(), "alice");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("biometric")
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(amr, vec!["face"]);
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        auth_time >= started - 1,
        "auth_time is when the face check finished"
    );
    // at_hash binds the access token.
    let raw = jwt_claims(&id_token.to_string());
    assert_eq!(
        raw["at_hash"],
        inherence::protocol::tokens::at_hash(tokens.access_token().secret())
    );
    assert!(raw["sid"].is_string());

    // The JWT access token (RFC 9068) carries acr and auth_time.
    let at = tokens.access_token().secret();
    assert_eq!(jwt_header(at)["typ"], "at+jwt");
    let atc = jwt_claims(at);
    assert_eq!(atc["acr"], "biometric");
    assert_eq!(atc["auth_time"].as_i64(), Some(auth_time));

    // userinfo and introspection.
    let ui: Value = http
        .get(server.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], "alice");
    let intro: Value = http
        .post(server.url("/introspect"))
        .basic_auth("rp-basic", Some(BASIC_SECRET))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true);
    assert_eq!(intro["acr"], "biometric");
    assert_eq!(intro["auth_time"].as_i64(), Some(auth_time));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_request_with_authorization_details_binds_the_transaction() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let details = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorName":"Merchant A","creditorAccount":{"iban":"DE02100100109307118603"}}]"#;
    let verifier = PkceCodeVerifier::new(inherence::flow::random_token(40));
    let challenge = inherence::protocol::pkce::challenge(verifier.secret());
    let url = par_authorize_url(
        &server,
        "rp-par",
        &[("login_hint", "alice"), ("authorization_details", details)],
        &challenge,
    )
    .await;
    // A tampered front-channel copy of the details is ignored: the pushed request wins.
    let tampered = format!(
        "{url}&authorization_details=%5B%7B%22type%22%3A%22payment_initiation%22%2C%22instructedAmount%22%3A%7B%22currency%22%3A%22EUR%22%2C%22amount%22%3A%2299999%22%7D%7D%5D"
    );
    let b = browser();
    let capture = open_capture(&b, &tampered).await;
    let view: Value = b
        .get(server.url(&format!("{capture}/state")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["transaction"][0], "Pay EUR 123.50 to Merchant A",
        "the user sees what was pushed"
    );
    assert!(attempt(&b, &server, &capture).await["status"] == "approved");
    let params = query(&finish(&b, &server, &capture).await);
    let tokens = exchange_code(
        &server,
        "rp-par",
        params["code"].as_str(),
        verifier.secret().as_str(),
    )
    .await;
    let expected: Value = serde_json::from_str(details).unwrap();
    assert_eq!(tokens["authorization_details"], expected);
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["authorization_details"],
        expected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_client_and_rs256_id_tokens() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let verifier = inherence::flow::random_token(40);
    let challenge = inherence::protocol::pkce::challenge(&verifier);
    let form = [
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", "alice"),
        ("client_id", "rp-jwt"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
    ];
    let assertion = server.client_assertion(&server.url("/par"));
    let mut f = form.to_vec();
    f.push(("client_assertion", assertion.as_str()));
    let r = http()
        .post(server.url("/par"))
        .form(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The same assertion cannot be used twice.
    let replay = http()
        .post(server.url("/par"))
        .form(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let uri = r.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!(
        "{}/authorize?client_id=rp-jwt&request_uri={}",
        server.base,
        url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    );
    let b = browser();
    let params = pass_face_check(&server, &b, &url).await;
    let assertion = server.client_assertion(&server.url("/token"));
    let tokens: Value = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", "rp-jwt"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["acr"],
        "biometric"
    );

    // A client registered for RS256: its ID token is RS256 and its key is in the JWKS with x5c.
    let verifier = inherence::flow::random_token(40);
    let url = format!(
        "{}/authorize?client_id=rp-rs256&response_type=code&scope=openid&redirect_uri={}&code_challenge={}&code_challenge_method=S256&id_token_hint={}",
        server.base,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        inherence::protocol::pkce::challenge(&verifier),
        server.idp_id_token("alice")
    );
    let b = browser();
    let params = pass_face_check(&server, &b, &url).await;
    let tokens = exchange_code(
        &server,
        "rp-rs256",
        params["code"].as_str(),
        verifier.as_str(),
    )
    .await;
    let header = jwt_header(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = http()
        .get(server.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid in JWKS");
    assert_eq!(key["kty"], "RSA");
    let cert = base64::engine::general_purpose::STANDARD
        .decode(key["x5c"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(cert[0], 0x30, "x5c holds a DER certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_elses_face_is_refused_and_the_client_learns_why() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|c| c.oidc.capture_attempts = 2).await;
    // alice enrolled another face: the live person in front of the camera is not her.
    server.enrol("alice", OTHER_ENROL).await;
    let challenge = inherence::protocol::pkce::challenge(&inherence::flow::random_token(40));
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], &challenge).await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    let first = attempt(&b, &server, &capture).await;
    assert_eq!(first["status"], "retry", "{first}");
    assert_eq!(first["attempts_left"], 1);
    let second = attempt(&b, &server, &capture).await;
    assert_eq!(second["status"], "failed", "{second}");
    let to = finish(&b, &server, &capture).await;
    let q = query(&to);
    assert_eq!(q["error"], "unmet_authentication_requirements");
    assert_eq!(q["iss"], server.base);
    assert_eq!(q["state"], "st-123");
    assert!(!q.contains_key("code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_print_attack_does_not_pass() {
    let Some(sh) = shared("eval/dev") else { return };
    let server = TestServer::start(|c| c.oidc.capture_attempts = 1).await;
    // Enrol the Silent-Face sample subject from its live photo, then present the printed photo.
    let token = server.admin_token().await;
    let live = std::fs::read(sh.join("eval/dev/pad_images/silentface/image_T1.jpg")).unwrap();
    let r = http()
        .put(server.url("/api/v1/subjects/sf/face"))
        .bearer_auth(&token)
        .body(live)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let challenge = inherence::protocol::pkce::challenge(&inherence::flow::random_token(40));
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "sf")], &challenge).await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    // The printed photo, as a burst on the challenge's timestamps: it answers nothing.
    let print = sh.join("eval/dev/pad_images/silentface/image_F1.jpg");
    let r = attempt_with(&b, &server, &capture, |spec| {
        let shot = inherence::eval::camera::shot(
            crate::common::engine(),
            &std::fs::read(&print).unwrap(),
            640,
            480,
        )
        .unwrap();
        let m = inherence::eval::attacks::Material {
            photo: &shot,
            other_photo: None,
            footage: None,
            approved: None,
        };
        inherence::eval::attacks::burst(
            inherence::eval::attacks::Attack::PadPrint,
            &m,
            spec,
            &mut inherence::eval::camera::Rng::new(seed()),
        )
        .unwrap()
    })
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(query(&finish(&b, &server, &capture).await).contains_key("error"));
    let reasons = &server.provider.verdicts().unwrap()[0].reasons;
    assert_eq!(reasons, &["FLASH_RESPONSE_MISSING"], "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_through_the_hosted_page_then_verification() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    // Not enrolled yet: verification cannot be met.
    let challenge = inherence::protocol::pkce::challenge(&inherence::flow::random_token(40));
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "newbie")], &challenge).await;
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(
        query(&location(&r))["error"],
        "unmet_authentication_requirements"
    );
    // Enrol with the camera (prompt=create).
    let verifier = inherence::flow::random_token(40);
    let url = par_authorize_url(
        &server,
        "rp-par",
        &[("login_hint", "newbie"), ("prompt", "create")],
        &inherence::protocol::pkce::challenge(&verifier),
    )
    .await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    let view: Value = b
        .get(server.url(&format!("{capture}/state")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["purpose"], "enrol");
    assert_eq!(attempt(&b, &server, &capture).await["status"], "approved");
    let params = query(&finish(&b, &server, &capture).await);
    let tokens = exchange_code(
        &server,
        "rp-par",
        params["code"].as_str(),
        verifier.as_str(),
    )
    .await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["inherence_enrolment"], true);
    assert_eq!(
        id["acr"], "0",
        "an enrolment is not a biometric authentication"
    );
    // Now a verification works.
    let challenge = inherence::protocol::pkce::challenge(&inherence::flow::random_token(40));
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "newbie")], &challenge).await;
    pass_face_check(&server, &browser(), &url).await;

    // Someone else cannot replace a template through the camera: a re-enrolment must match
    // the current face. (bob enrolled another face; the live person tries to take it over.)
    assert_eq!(server.enrol("bob", OTHER_ENROL).await.status(), 201);
    let url = par_authorize_url(
        &server,
        "rp-par",
        &[("login_hint", "bob"), ("prompt", "create")],
        &challenge,
    )
    .await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    let mut last = Value::Null;
    for _ in 0..3 {
        last = attempt(&b, &server, &capture).await;
        if last["status"] != "retry" {
            break;
        }
    }
    assert_eq!(last["status"], "failed", "{last}");
    assert!(query(&finish(&b, &server, &capture).await).contains_key("error"));
    assert!(
        server
            .provider
            .verdicts()
            .unwrap()
            .iter()
            .rev()
            .take(3)
            .all(|v| v.reasons.contains(&"LOW_FACE_MATCH_SIMILARITY".to_owned())),
        "refused because the face is not bob's"
    );
    // bob's template is unchanged: the live person still does not pass as bob.
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "bob")], &challenge).await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    assert_ne!(attempt(&b, &server, &capture).await["status"], "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_api_refuses_bad_portraits_lists_counts_and_erases() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|_| {}).await;
    let token = server.admin_token().await;
    let h = http();
    // No token / wrong token.
    let r = h
        .get(server.url("/api/v1/subjects/count"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = h
        .get(server.url("/api/v1/subjects/count"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A portrait without a face is refused, with the reason.
    let mut img = inherence::biometric::imageops::Rgb8::new(320, 240);
    img.data
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = (i % 200) as u8);
    let png = inherence::biometric::decode::encode_png(&img).unwrap();
    let r = h
        .put(server.url("/api/v1/subjects/y/face"))
        .bearer_auth(&token)
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reasons"][0], "NO_FACE_DETECTED", "{v}");
    let r = h
        .put(server.url("/api/v1/subjects/y/face"))
        .bearer_auth(&token)
        .body(b"not an image".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "UNSUPPORTED_IMAGE_FORMAT"
    );
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    assert_eq!(
        server
            .enrol("blair", "lfw_Tony_Blair/Tony_Blair_0005.jpg")
            .await
            .status(),
        201
    );
    let list: Value = h
        .get(server.url("/api/v1/subjects?limit=10"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subjects: Vec<&str> = list["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"alice") && subjects.contains(&"blair"));
    assert!(
        list["subjects"][0].get("template").is_none(),
        "templates never leave the server"
    );
    let before: Value = h
        .get(server.url("/api/v1/subjects/count"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = h
        .delete(server.url("/api/v1/subjects/blair/face"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = h
        .delete(server.url("/api/v1/subjects/blair/face"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let after: Value = h
        .get(server.url("/api/v1/subjects/count"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["count"].as_u64().unwrap() + 1,
        before["count"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_frame_repeated_is_refused_as_a_still_image() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|c| c.oidc.capture_attempts = 1).await;
    server.enrol("alice", RUMSFELD_ENROL).await;
    let challenge = inherence::protocol::pkce::challenge(&inherence::flow::random_token(40));
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], &challenge).await;
    let b = browser();
    let capture = open_capture(&b, &url).await;
    // The genuine subject's photo, which passes passive liveness and the match on its own,
    // sent unchanged in every frame: what a still photo played as a fake camera produces.
    let r = attempt_with(&b, &server, &capture, |spec| {
        let shot = inherence::eval::camera::shot(
            crate::common::engine(),
            &std::fs::read(dev_image(RUMSFELD_FRAMES[0])).unwrap(),
            640,
            480,
        )
        .unwrap();
        let m = inherence::eval::attacks::Material {
            photo: &shot,
            other_photo: None,
            footage: None,
            approved: None,
        };
        inherence::eval::attacks::burst(
            inherence::eval::attacks::Attack::Still,
            &m,
            spec,
            &mut inherence::eval::camera::Rng::new(seed()),
        )
        .unwrap()
    })
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    let q = query(&finish(&b, &server, &capture).await);
    assert_eq!(q["error"], "unmet_authentication_requirements");
    assert!(!q.contains_key("code"));
    let reasons = &server.provider.verdicts().unwrap()[0].reasons;
    assert_eq!(reasons, &["IDENTICAL_FRAMES"], "{reasons:?}");
}
