//! A real Inherence server on 127.0.0.1:0 with a fresh store per test, test clients, a trusted
//! identity provider, and a "browser" (cookie jar, no automatic redirects).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inherence::biometric::FaceEngine;
use inherence::biometric::double::DoubleEngine;
use inherence::clock::{Clock, FixedClock, SystemClock};
use inherence::config::Config;
use inherence::flow::Provider;
use inherence::flow::settings::ClientAuthMethod;
use inherence::flow::settings::ClientConfig;
use inherence::flow::settings::TrustedIssuer;
use inherence::http::{AppState, admin_app, app};
use inherence::secret::Secret;
use serde_json::{Value, json};

use inherence::biometric::CapturedFrame;
use inherence::biometric::capture::CaptureSpec;
use inherence::eval::attacks;
use inherence::eval::camera::{self, Answer, Footage, Rng, mjpeg_frames};

use crate::common::{engine_arc, shared};

pub const BASIC_SECRET: &str = "rp-basic-secret-0123456789abcdef0123456789";
pub const ADMIN_SECRET: &str = "admin-secret-0123456789abcdef0123456789ab";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const IDP_ISSUER: &str = "https://idp.test";

/// An EC P-256 key pair for signing test JWTs, with its public JWK.
pub struct TestKey {
    pub pkcs8: Vec<u8>,
    pub kid: String,
    pub jwk: Value,
}

impl TestKey {
    fn new(kid: &str) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap()
        .as_ref()
        .to_vec();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        let p = kp.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])});
        Self {
            pkcs8,
            kid: kid.into(),
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &h,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .unwrap()
    }
}

/// The `rp-jwt` client's key (private_key_jwt).
pub fn client_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::new("rp-jwt-1"))
}

/// The trusted identity provider's key (its ID tokens serve as id_token_hint).
pub fn idp_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::new("idp-1"))
}

pub fn client(id: &str, method: ClientAuthMethod) -> ClientConfig {
    ClientConfig {
        client_id: id.into(),
        tenant: Default::default(),
        name: format!("Test app {id}"),
        redirect_uris: vec![REDIRECT.into()],
        auth_method: method,
        response_types: vec![inherence::protocol::authorize::ResponseType::Code],
        client_secret: None,
        jwks: None,
        require_par: None,
        id_token_alg: None,
        enrolment_api: false,
        audit_api: false,
        authorization_details_types: vec![],
        liveness_method: None,
        active_3d_from: None,
        front_channel_subject: false,
    }
}

/// How a test server judges faces and tells the time.
#[derive(Clone, Copy)]
pub struct Setup {
    /// The deterministic engine (`biometric::double`): no models, no `../shared`; images and
    /// frames are the double's records, made by the helpers below from the same names.
    pub double: bool,
    /// A clock that moves only when a test moves it (it starts at the system time, so tokens
    /// stay valid for clients that check them against their own clock).
    pub fixed_clock: bool,
}

/// A running server.
pub struct TestServer {
    pub base: String,
    /// The admin listener (`/metrics`).
    #[allow(dead_code)]
    pub admin: String,
    #[allow(dead_code)]
    pub provider: Arc<Provider>,
    /// The server's clock.
    pub clock: Arc<dyn Clock>,
    fixed: Option<Arc<FixedClock>>,
    double: bool,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for h in &self.background {
            h.abort();
        }
    }
}

impl TestServer {
    /// Starts a server with the real engine and the system clock; `customize` may adjust the
    /// configuration.
    pub async fn start(customize: impl FnOnce(&mut Config)) -> Self {
        let setup = Setup {
            double: false,
            fixed_clock: false,
        };
        Self::start_with(setup, customize).await
    }

    /// A server for protocol and flow tests: the deterministic engine and a fixed clock. The
    /// double proves the protocol and timing rules and the thresholds, not liveness: it
    /// ignores the method's colours and head turns, identical frames and other faces, so an
    /// "approved" here says nothing about what a camera showed (the real engine's tests do).
    pub async fn protocol(customize: impl FnOnce(&mut Config)) -> Self {
        let setup = Setup {
            double: true,
            fixed_clock: true,
        };
        Self::start_with(setup, customize).await
    }

    /// Starts a server as `setup` says.
    pub async fn start_with(setup: Setup, customize: impl FnOnce(&mut Config)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.oidc.issuer = format!("http://127.0.0.1:{port}");
        cfg.oidc.require_par = false;
        cfg.store.path = dir.path().join("store");
        cfg.models.dir = crate::common::repo_root().join("models");
        cfg.models.manifest = crate::common::repo_root().join("models/manifest.toml");
        let mut basic = client("rp-basic", ClientAuthMethod::ClientSecretBasic);
        basic.client_secret = Some(Secret::new(BASIC_SECRET));
        let mut post = client("rp-post", ClientAuthMethod::ClientSecretPost);
        post.client_secret = Some(Secret::new(BASIC_SECRET));
        let mut par = client("rp-par", ClientAuthMethod::ClientSecretBasic);
        par.client_secret = Some(Secret::new(BASIC_SECRET));
        par.require_par = Some(true);
        let mut jwt = client("rp-jwt", ClientAuthMethod::PrivateKeyJwt);
        jwt.jwks = Some(json!({ "keys": [client_key().jwk.clone()] }));
        jwt.require_par = Some(true);
        let mut rs = client("rp-rs256", ClientAuthMethod::ClientSecretBasic);
        rs.client_secret = Some(Secret::new(BASIC_SECRET));
        rs.id_token_alg = Some(inherence::keys::Alg::RS256);
        let mut admin = client("admin", ClientAuthMethod::ClientSecretBasic);
        admin.client_secret = Some(Secret::new(ADMIN_SECRET));
        admin.redirect_uris = vec![];
        admin.enrolment_api = true;
        cfg.clients = vec![basic, post, par, jwt, rs, admin];
        cfg.oidc.trusted_issuers = vec![TrustedIssuer {
            issuer: IDP_ISSUER.into(),
            jwks: Some(json!({ "keys": [idp_key().jwk.clone()] })),
            jwks_uri: None,
            jwks_refresh_secs: 3600,
            max_age_secs: None,
            echo_claims: vec![],
            subject_claim: "sub".into(),
            audiences: vec!["inherence".into()],
            tenants: vec![],
        }];
        customize(&mut cfg);
        cfg.validate().expect("test configuration is valid");
        let fixed = setup
            .fixed_clock
            .then(|| Arc::new(FixedClock::at_millis(SystemClock.now_millis())));
        let clock: Arc<dyn Clock> = match &fixed {
            Some(f) => f.clone(),
            None => Arc::new(SystemClock),
        };
        let engine: Arc<dyn FaceEngine> = if setup.double {
            Arc::new(DoubleEngine::default())
        } else {
            engine_arc()
        };
        let provider = inherence::cli::serve::build_provider(&cfg, engine, clock.clone())
            .map_err(|f| f.message)
            .unwrap();
        let state = AppState::new(provider.clone(), 2, cfg.server.max_body_bytes).with_metrics(
            inherence::cli::serve::metrics_endpoint(&cfg)
                .map_err(|f| f.message)
                .unwrap(),
        );
        let background = inherence::flow::spawn_background(&provider);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // The production listener, with its deadlines and per-address bounds.
        let limits = cfg.server.limits.clone();
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = format!("http://{}", admin_listener.local_addr().unwrap());
        let (admin_router, admin_limits) = (admin_app(state.clone()), limits.clone());
        let admin_task = tokio::spawn(async move {
            let _ = inherence::http::serve::serve(
                admin_listener,
                admin_router,
                admin_limits,
                std::future::pending(),
            )
            .await;
        });
        tokio::spawn(async move {
            inherence::http::serve::serve(listener, app(state), limits, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        let mut background = background;
        background.push(admin_task);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            admin,
            provider,
            clock,
            fixed,
            double: setup.double,
            _dir: dir,
            _stop: tx,
            background,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An access token for the enrolment API.
    pub async fn admin_token(&self) -> String {
        let r: Value = http()
            .post(self.url("/token"))
            .basic_auth("admin", Some(ADMIN_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", "enrolment")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().expect("admin token").to_owned()
    }

    /// The server's time, seconds since the epoch.
    pub fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Lets `d` pass: the fixed clock moves at once; the system clock is waited for.
    pub async fn pass(&self, d: std::time::Duration) {
        match &self.fixed {
            Some(f) => f.advance(d),
            None => tokio::time::sleep(d).await,
        }
    }

    /// Lets time pass until 200 ms into the next minute (a fresh rate-limit window).
    pub async fn next_minute(&self) {
        let into = self.clock.now_millis().rem_euclid(60_000);
        self.pass(std::time::Duration::from_millis(
            (60_000 - into + 200) as u64,
        ))
        .await;
    }

    /// The bytes of dev image `rel` (with the double engine: a portrait of the same person,
    /// named after the image's folder).
    pub fn image(&self, rel: &str) -> Vec<u8> {
        if self.double {
            DoubleEngine::portrait(person(rel))
        } else {
            std::fs::read(dev_image(rel)).unwrap()
        }
    }

    /// The person of the recording answering `spec` in front of the screen.
    pub fn recorded_person(&self, spec: &CaptureSpec) -> Vec<CapturedFrame> {
        if self.double {
            DoubleEngine::burst(spec, &DoubleEngine::portrait(person(PERSON_ENROL)))
        } else {
            camera::record(footage(), spec, &Answer::default(), &mut Rng::new(seed()))
        }
    }

    /// Enrols `subject` from a dev image through the API.
    pub async fn enrol(&self, subject: &str, image: &str) -> reqwest::Response {
        let token = self.admin_token().await;
        http()
            .put(self.url(&format!("/api/v1/subjects/{subject}/face")))
            .bearer_auth(token)
            .body(self.image(image))
            .send()
            .await
            .unwrap()
    }

    /// An ID token from the trusted identity provider, naming `sub` (for `id_token_hint`).
    pub fn idp_id_token(&self, sub: &str) -> String {
        let now = self.now_secs();
        idp_key().sign(&json!({"iss": IDP_ISSUER, "sub": sub, "aud": "inherence", "iat": now - 30, "exp": now - 10, "amr": ["pwd"]}))
    }

    /// A `private_key_jwt` assertion for `rp-jwt` aimed at `aud`.
    pub fn client_assertion(&self, aud: &str) -> String {
        let now = self.now_secs();
        client_key().sign(
            &json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": aud, "iat": now, "exp": now + 60,
            "jti": inherence::flow::random_token(16)}),
        )
    }
}

/// The claims of a JWT, unverified (the tests that need a verified token verify it first).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// The auto-submitting form of a form_post answer: (action, fields).
pub async fn form_of(r: reqwest::Response) -> (String, Vec<(String, String)>) {
    assert_eq!(r.status(), 200, "a form_post page");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    let attr = |s: &str, name: &str| -> Option<String> {
        let start = s.find(&format!("{name}=\""))? + name.len() + 2;
        let end = s[start..].find('"')? + start;
        Some(unescape(&s[start..end]))
    };
    let action = attr(&html, "action").expect("a form action");
    let origin = url::Url::parse(&action)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert!(
        csp.contains(&format!("form-action {origin} https:;")),
        "{csp}"
    );
    let fields = html
        .split("<input ")
        .skip(1)
        .map(|i| (attr(i, "name").unwrap(), attr(i, "value").unwrap()))
        .collect();
    (action, fields)
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A plain HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The person a dev image shows: its folder (`lfw_Tony_Blair/Tony_Blair_0005.jpg`).
pub fn person(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel)
}

/// Path of a dev image (the caller has checked `shared("eval/dev")`).
pub fn dev_image(rel: &str) -> PathBuf {
    shared("eval/dev")
        .expect("shared data")
        .join("eval/dev/images")
        .join(rel)
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header (status {})", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Query parameters of a URL.
pub fn query(u: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(u)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Follows the browser from the authorization endpoint to the capture page; returns the
/// capture path (`/capture/{id}`).
pub async fn open_capture(b: &reqwest::Client, authorize_url: &str) -> String {
    let r = b.get(authorize_url).send().await.unwrap();
    assert_eq!(
        r.status(),
        303,
        "authorize: {:?}",
        r.headers().get("location")
    );
    let loc = location(&r);
    assert!(loc.starts_with("/capture/"), "unexpected redirect {loc}");
    loc
}

/// The recording of a real person that the responding test camera plays, analysed once.
pub fn footage() -> &'static Footage {
    static F: OnceLock<Footage> = OnceLock::new();
    F.get_or_init(|| {
        let dir = shared("eval/video").expect("shared data");
        let video = std::fs::read(dir.join("eval/video").join(VIDEO)).expect("the recording");
        Footage::load(crate::common::engine(), &mjpeg_frames(&video), 640, 480)
            .expect("the recording is usable footage")
    })
}

/// Hands a flow from the desktop browser `b` to a new device (a phone) the way the QR code
/// does; returns the phone's client, which may now capture for the flow.
pub async fn hand_off(server: &TestServer, b: &reqwest::Client, capture: &str) -> reqwest::Client {
    let r = b
        .get(server.url(&format!("{capture}/handoff")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the browser that started the flow gets the link"
    );
    let link: Value = r.json().await.unwrap();
    let phone = browser();
    let r = phone
        .get(link["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the phone opens the link");
    phone
}

/// Fetches a capture challenge (`motion_only` asks for the alternative) and the moment it was
/// asked for.
pub async fn challenge(
    b: &reqwest::Client,
    server: &TestServer,
    capture: &str,
    motion_only: bool,
) -> (Value, CaptureSpec, std::time::Instant) {
    let asked = std::time::Instant::now();
    let r = b
        .post(server.url(&format!("{capture}/challenge")))
        .body(if motion_only {
            r#"{"motion_only": true}"#
        } else {
            ""
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "challenge");
    let c: Value = r.json().await.unwrap();
    let spec: CaptureSpec = serde_json::from_value(c.clone()).expect("the challenge's spec");
    (c, spec, asked)
}

/// Uploads frames as the answer to challenge `c`, once its sequence could have been recorded
/// (`wait`); returns the HTTP status and the JSON body.
pub async fn upload(
    b: &reqwest::Client,
    server: &TestServer,
    capture: &str,
    c: &Value,
    frames: Vec<CapturedFrame>,
    asked: Option<std::time::Instant>,
) -> (u16, Value) {
    if let Some(asked) = asked {
        let d = std::time::Duration::from_millis(c["duration_ms"].as_u64().unwrap_or(0) + 50);
        match server.fixed {
            Some(_) => server.pass(d).await,
            None => server.pass(d.saturating_sub(asked.elapsed())).await,
        }
    }
    let stamps: Vec<String> = frames.iter().map(|f| format!("{:.1}", f.t_ms)).collect();
    let mut form = reqwest::multipart::Form::new()
        .text(
            "challenge",
            c["challenge"].as_str().expect("challenge").to_owned(),
        )
        .text("timestamps", stamps.join(","));
    for f in frames {
        form = form.part(
            "frame",
            reqwest::multipart::Part::bytes(f.bytes).file_name("f.jpg"),
        );
    }
    let r = match b
        .post(server.url(&format!("{capture}/frames")))
        .multipart(form)
        .send()
        .await
    {
        Ok(r) => r,
        // The server refused before reading the body and closed the connection while the
        // body was still being sent (a small body can lose the race with the answer). Callers
        // that expect an answer see status 0 and fail; those testing a refusal send again.
        Err(e) if e.is_request() && format!("{e:?}").contains("BodyWrite") => {
            return (0, Value::Null);
        }
        Err(e) => panic!("upload: {e}"),
    };
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// One capture attempt answered by `camera` (given the challenge); returns the JSON result.
pub async fn attempt_with(
    b: &reqwest::Client,
    server: &TestServer,
    capture: &str,
    camera: impl FnOnce(&CaptureSpec) -> Vec<CapturedFrame>,
) -> Value {
    let (c, spec, asked) = challenge(b, server, capture, false).await;
    let frames = camera(&spec);
    let (status, v) = upload(b, server, capture, &c, frames, Some(asked)).await;
    assert_eq!(status, 200, "frames upload: {v}");
    v
}

/// One capture attempt by the person in the recording, in front of the screen (the responding
/// test camera answers the challenge); returns the JSON result.
pub async fn attempt(b: &reqwest::Client, server: &TestServer, capture: &str) -> Value {
    attempt_with(b, server, capture, |spec| server.recorded_person(spec)).await
}

/// A fresh seed for the test camera's jitter.
pub fn seed() -> u64 {
    u64::from_le_bytes(
        inherence::flow::random_token(16).as_bytes()[..8]
            .try_into()
            .unwrap(),
    )
}

/// A photo of a person as a burst that answers nothing: `n` frames of the photo with a little
/// noise, on the challenge's timestamps.
pub fn photo_burst(image: &str, spec: &CaptureSpec) -> Vec<CapturedFrame> {
    let photo = camera::shot(
        crate::common::engine(),
        &std::fs::read(dev_image(image)).unwrap(),
        640,
        480,
    )
    .expect("a face in the photo");
    let m = attacks::Material {
        photo: &photo,
        other_photo: None,
        footage: None,
        approved: None,
    };
    attacks::burst(attacks::Attack::Noise1, &m, spec, &mut Rng::new(seed())).unwrap()
}

/// Exchanges an authorization code with `client_secret_basic`; returns the token response.
pub async fn exchange_code(server: &TestServer, client: &str, code: &str, verifier: &str) -> Value {
    http()
        .post(server.url("/token"))
        .basic_auth(client, Some(BASIC_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Ends the flow in the browser; returns the redirect to the client.
pub async fn finish(b: &reqwest::Client, server: &TestServer, capture: &str) -> String {
    let r = b
        .get(server.url(&format!("{capture}/finish")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "finish");
    location(&r)
}

/// The recording the test camera plays, and a portrait of the person in it (the enrolment of
/// the "user" of most tests).
pub const VIDEO: &str = "real_face_lmm_640x480_30fps.mjpeg";
pub const PERSON_ENROL: &str = "celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png";
/// Someone else: enrolling a subject with this face makes the recorded person an impostor.
pub const OTHER_ENROL: &str = "lfw_Tony_Blair/Tony_Blair_0005.jpg";
/// A victim for the attack tests: enrolled from one photo, attacked with three others that
/// each pass passive liveness and match as single photos.
pub const RUMSFELD_ENROL: &str = "lfw_Donald_Rumsfeld/Donald_Rumsfeld_0001.jpg";
pub const RUMSFELD_FRAMES: [&str; 3] = [
    "lfw_Donald_Rumsfeld/Donald_Rumsfeld_0009.jpg",
    "lfw_Donald_Rumsfeld/Donald_Rumsfeld_0010.jpg",
    "lfw_Donald_Rumsfeld/Donald_Rumsfeld_0004.jpg",
];
/// Photos of someone else.
pub const BLAIR_FRAMES: [&str; 3] = [
    "lfw_Tony_Blair/Tony_Blair_0005.jpg",
    "lfw_Tony_Blair/Tony_Blair_0008.jpg",
    "lfw_Tony_Blair/Tony_Blair_0009.jpg",
];
