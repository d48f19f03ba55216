//! A simulator of Microsoft Entra ID calling an external authentication method (EAM) provider,
//! written from Microsoft's provider reference, not from Inherence's code:
//! <https://learn.microsoft.com/en-us/entra/identity/authentication/concept-authentication-external-method-provider>.
//!
//! Like Entra, it has its own RSA signing key and publishes it as a JWKS
//! (`/common/discovery/v2.0/keys`), signs an `id_token_hint` per user (issued already
//! expired, issuer `https://login.microsoftonline.com/{tenant id}/v2.0`, audience the App ID),
//! sends the browser to the provider's `authorization_endpoint` (read from its discovery
//! document) with the documented form POST, and receives the answer at
//! `/common/federation/externalauthprovider`, where it checks every rule Microsoft documents
//! ([`Entra::receive`]). Its signatures are made and checked with aws-lc-rs directly, not with
//! the JWT library Inherence uses.
//!
//! What differs from the real service, and why: it listens on plain http on loopback (so its
//! redirect URI and key URL are local ones), and accepts a provider on http loopback.

mod rules;
mod web;

pub use rules::{acr_accepts, response_fields, verify_rs256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
pub use web::auto_post;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::{Value, json};

/// The `amr` values Entra accepts, with the factor type it maps each to.
pub const AMR_TYPES: &[(&str, &str)] = &[
    ("face", "inherence"),
    ("fido", "possession"),
    ("fpt", "inherence"),
    ("hwk", "possession"),
    ("iris", "inherence"),
    ("otp", "possession"),
    ("pop", "possession"),
    ("retina", "inherence"),
    ("sc", "possession"),
    ("sms", "possession"),
    ("swk", "possession"),
    ("tel", "possession"),
    ("vbm", "inherence"),
];

/// The `acr` Entra asks for when the first factor was a knowledge one (a password).
pub const DEFAULT_ACR: &str = "possessionorinherence";

/// Clock skew the simulator tolerates in the provider's `iat`/`exp`.
const SKEW_SECS: i64 = 300;

/// A user of the simulated directory.
#[derive(Clone, Debug)]
pub struct User {
    pub upn: String,
    /// Immutable object id (the same for every application).
    pub oid: String,
    /// Pairwise subject (differs per application).
    pub sub: String,
}

/// What the admin entered when adding the external method, and the directory.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The provider's discovery URL (ends with `/.well-known/openid-configuration`); may be
    /// set later with [`Entra::set_discovery_url`].
    pub discovery_url: String,
    /// The Client ID the provider gave Entra.
    pub client_id: String,
    /// The App ID of the app registration representing the integration (the hint's `aud`).
    pub app_id: String,
    /// This directory's tenant id.
    pub tenant_id: String,
}

/// How one authentication attempt ended, as Entra judged the provider's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A valid ID token: MFA is satisfied.
    Satisfied {
        acr: String,
        amr: String,
        sub: String,
        oid: String,
        tid: String,
    },
    /// The provider answered with an error (`error`, `error_description`).
    ProviderError { error: String, description: String },
    /// The answer broke a documented rule: the sign-in fails.
    Invalid { reasons: Vec<String> },
}

#[derive(Clone, Debug)]
struct Pending {
    nonce: String,
    user: User,
    tenant_id: String,
    acr_values: Vec<String>,
}

struct Inner {
    setup: Setup,
    /// The provider's discovery URL (set after start when the provider starts second).
    discovery_url: Mutex<String>,
    key: KeyPair,
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
    base: String,
    users: Mutex<Vec<User>>,
    pending: Mutex<HashMap<String, Pending>>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    http: reqwest::Client,
}

/// A running simulator.
#[derive(Clone)]
pub struct Entra(Arc<Inner>);

/// `https://login.microsoftonline.com/{tid}/v2.0`: the issuer of a directory's tokens.
pub fn issuer_of(tenant_id: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant_id}/v2.0")
}

/// Entra's own wall clock (another party's; the provider's clock is the provider's business).
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A random GUID (version 4), as Entra's ids are.
pub fn guid() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn random(n: usize) -> String {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).expect("randomness");
    URL_SAFE_NO_PAD.encode(b)
}

impl Entra {
    /// Starts the simulator on a free loopback port.
    pub async fn start(setup: Setup) -> Entra {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let key = KeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let pc: PublicKeyComponents<Vec<u8>> = key.public_key().into();
        let inner = Inner {
            discovery_url: Mutex::new(setup.discovery_url.clone()),
            setup,
            kid: STANDARD.encode(random(15)),
            n: pc.n,
            e: pc.e,
            key,
            base,
            users: Mutex::default(),
            pending: Mutex::default(),
            outcomes: Mutex::default(),
            http: reqwest::Client::new(),
        };
        let sim = Entra(Arc::new(inner));
        let app = web::router(sim.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        sim
    }

    pub fn base(&self) -> &str {
        &self.0.base
    }

    /// Where the provider reads Entra's signing keys.
    pub fn jwks_uri(&self) -> String {
        format!("{}/common/discovery/v2.0/keys", self.0.base)
    }

    /// The fixed redirect URI Entra sends (here on the simulator's origin).
    pub fn redirect_uri(&self) -> String {
        format!("{}/common/federation/externalauthprovider", self.0.base)
    }

    pub fn setup(&self) -> &Setup {
        &self.0.setup
    }

    /// Points the simulator at the provider (what the admin typed as Discovery Endpoint).
    pub fn set_discovery_url(&self, url: &str) {
        *self.0.discovery_url.lock().unwrap() = url.to_owned();
    }

    /// Adds a user to the directory (a fresh `oid` and pairwise `sub`).
    pub fn add_user(&self, upn: &str) -> User {
        let u = User {
            upn: upn.to_owned(),
            oid: guid(),
            sub: random(32),
        };
        self.0.users.lock().unwrap().push(u.clone());
        u
    }

    fn user(&self, upn: &str) -> Option<User> {
        self.0
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.upn == upn)
            .cloned()
    }

    /// The JWKS Entra publishes.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "kid": self.0.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.0.n),
            "e": URL_SAFE_NO_PAD.encode(&self.0.e),
        }]})
    }

    /// Signs claims as Entra does (RS256, `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "typ": "JWT", "alg": "RS256", "kid": self.0.kid });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.0.key.public_modulus_len()];
        self.0
            .key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("RS256 signature");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The claims of the `id_token_hint` for `user` in directory `tenant_id`: issued already
    /// expired (`exp` one second before `iat`), as Microsoft's example shows.
    pub fn hint_claims(&self, user: &User, tenant_id: &str) -> Value {
        let t = now();
        json!({
            "ver": "2.0",
            "iss": issuer_of(tenant_id),
            "sub": user.sub,
            "aud": self.0.setup.app_id,
            "exp": t - 1,
            "iat": t,
            "nbf": t,
            "name": format!("Test User {}", user.upn),
            "preferred_username": user.upn,
            "oid": user.oid,
            "tid": tenant_id,
        })
    }

    /// The form fields Entra POSTs to the provider's authorization endpoint for `user`, asking
    /// for `acr_values`; the attempt is remembered under its `state`. Returns (state, fields).
    pub fn request(
        &self,
        user: &User,
        acr_values: &[&str],
        hint: Option<String>,
    ) -> (String, Vec<(String, String)>) {
        self.request_in(user, &self.0.setup.tenant_id.clone(), acr_values, hint)
    }

    /// As [`Entra::request`], for a user of another directory (`tenant_id`).
    pub fn request_in(
        &self,
        user: &User,
        tenant_id: &str,
        acr_values: &[&str],
        hint: Option<String>,
    ) -> (String, Vec<(String, String)>) {
        let hint = hint.unwrap_or_else(|| self.sign(&self.hint_claims(user, tenant_id)));
        let state = random(24);
        let nonce = guid();
        let amr: Vec<&str> = AMR_TYPES.iter().map(|(a, _)| *a).collect();
        let claims = json!({ "id_token": {
            "acr": { "essential": true, "values": acr_values },
            "amr": { "essential": true, "values": amr },
        }});
        self.0.pending.lock().unwrap().insert(
            state.clone(),
            Pending {
                nonce: nonce.clone(),
                user: user.clone(),
                tenant_id: tenant_id.to_owned(),
                acr_values: acr_values.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        let fields = [
            ("scope", "openid".to_owned()),
            ("response_type", "id_token".to_owned()),
            ("response_mode", "form_post".to_owned()),
            ("client_id", self.0.setup.client_id.clone()),
            ("redirect_uri", self.redirect_uri()),
            ("nonce", nonce),
            ("state", state.clone()),
            ("id_token_hint", hint),
            ("claims", claims.to_string()),
            ("client-request-id", guid()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        (state, fields)
    }
}
