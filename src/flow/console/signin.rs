//! Operators sign in with the authorization-code flow at the console's OpenID provider:
//! PKCE S256, a nonce and a state kept server-side for 10 minutes and taken once, the state
//! bound to the browser by a cookie, the code exchanged with `client_secret_basic`, and the ID
//! token verified against the provider's published keys (`protocol::operator`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};

use super::{Console, ConsoleSettings, LOGINS, Operator, digest, random_token};
use crate::protocol::operator::{Expected, verify_id_token};
use crate::store::StoreError;
use crate::store::typed::KvJson as _;

/// Console failures. `Refused` is shown to the operator; `Provider` and `Store` are logged and
/// shown as a fixed text.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("the operators' OpenID provider: {0}")]
    Provider(String),
    #[error("{0}")]
    Refused(String),
}

/// The provider's endpoints (its discovery document).
#[derive(Clone, Debug, Deserialize)]
struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// A sign-in in progress.
#[derive(Serialize, Deserialize)]
struct Pending {
    nonce: String,
    verifier: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// Largest document read from the provider.
const MAX_BYTES: usize = 256 * 1024;
/// A sign-in must come back within this time.
const LOGIN_SECS: i64 = 600;

/// The provider's endpoints and keys, fetched on first use and refreshed on an unknown key
/// (at most every 30 s).
pub struct SignIn {
    http: reqwest::Client,
    endpoints: Mutex<Option<Endpoints>>,
    keys: Mutex<Option<(Arc<JwkSet>, std::time::Instant)>>,
}

impl SignIn {
    pub fn new(_cfg: &ConsoleSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            endpoints: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ConsoleError> {
        let bad = |m: String| ConsoleError::Provider(format!("{url}: {m}"));
        let res = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| bad(e.to_string()))?;
        read_json(res).await.map_err(bad)
    }

    async fn endpoints(&self, cfg: &ConsoleSettings) -> Result<Endpoints, ConsoleError> {
        if let Some(e) = self.endpoints.lock().ok().and_then(|g| g.clone()) {
            return Ok(e);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            cfg.issuer.trim_end_matches('/')
        );
        let e: Endpoints = self.get_json(&url).await?;
        if e.issuer != cfg.issuer {
            return Err(ConsoleError::Provider(format!(
                "the discovery document names the issuer {:?}, not {:?}",
                e.issuer, cfg.issuer
            )));
        }
        if let Ok(mut g) = self.endpoints.lock() {
            *g = Some(e.clone());
        }
        Ok(e)
    }

    async fn keys(&self, e: &Endpoints, refresh: bool) -> Result<Arc<JwkSet>, ConsoleError> {
        let cached = self.keys.lock().ok().and_then(|g| g.clone());
        if let Some((k, at)) = &cached
            && (!refresh || at.elapsed() < Duration::from_secs(30))
        {
            return Ok(k.clone());
        }
        let k = Arc::new(
            crate::keys::remote::fetch_jwks(&self.http, &e.jwks_uri, MAX_BYTES)
                .await
                .map_err(|e| ConsoleError::Provider(e.to_string()))?,
        );
        if let Ok(mut g) = self.keys.lock() {
            *g = Some((k.clone(), std::time::Instant::now()));
        }
        Ok(k)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    mut res: reqwest::Response,
) -> Result<T, String> {
    let status = res.status();
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BYTES {
            return Err(format!("answer larger than {MAX_BYTES} bytes"));
        }
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("unexpected answer: {e}"))
}

impl Console {
    /// Starts a sign-in: returns the state (for the browser's cookie) and where to send the
    /// browser.
    pub async fn start_login(&self) -> Result<(String, String), ConsoleError> {
        let e = self.signin.endpoints(&self.cfg).await?;
        let state = random_token(24);
        let p = Pending {
            nonce: random_token(24),
            verifier: random_token(48),
        };
        let until = (self.provider.now() + LOGIN_SECS) * 1000;
        self.provider
            .store
            .put_json(&LOGINS, &digest(&state), &p, Some(until))?;
        let mut u = url::Url::parse(&e.authorization_endpoint)
            .map_err(|err| ConsoleError::Provider(format!("authorization_endpoint: {err}")))?;
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", &self.cfg.redirect_uri())
            .append_pair("scope", "openid profile")
            .append_pair("state", &state)
            .append_pair("nonce", &p.nonce)
            .append_pair(
                "code_challenge",
                &crate::protocol::pkce::challenge(&p.verifier),
            )
            .append_pair("code_challenge_method", "S256");
        Ok((state, u.to_string()))
    }

    /// Completes a sign-in: the state must be the one this browser's cookie holds, and unused;
    /// the code is exchanged and the ID token verified. Returns the new session's secret and
    /// the operator (who may hold no role: the caller refuses them).
    pub async fn finish_login(
        &self,
        cookie_state: Option<&str>,
        state: &str,
        code: &str,
    ) -> Result<(String, Operator), ConsoleError> {
        let refused = |m: &str| ConsoleError::Refused(m.to_owned());
        if !cookie_state.is_some_and(|c| super::super::device::subtle_eq(c, state)) {
            return Err(refused(
                "this sign-in was not started in this browser; start again",
            ));
        }
        let p: Pending = self
            .provider
            .store
            .take_json(&LOGINS, &digest(state))?
            .ok_or_else(|| refused("this sign-in has expired or was already used; start again"))?;
        let e = self.signin.endpoints(&self.cfg).await?;
        let secret = self
            .cfg
            .client_secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let res = self
            .signin
            .http
            .post(&e.token_endpoint)
            .basic_auth(form_encode(&self.cfg.client_id), Some(form_encode(&secret)))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.cfg.redirect_uri()),
                ("code_verifier", &p.verifier),
            ])
            .send()
            .await
            .map_err(|err| ConsoleError::Provider(format!("token endpoint: {err}")))?;
        let t: TokenResponse = read_json(res)
            .await
            .map_err(|m| ConsoleError::Provider(format!("token endpoint: {m}")))?;
        let id_token = t
            .id_token
            .ok_or_else(|| ConsoleError::Provider("no id_token in the answer".into()))?;
        let want = Expected {
            issuer: &self.cfg.issuer,
            client_id: &self.cfg.client_id,
            nonce: &p.nonce,
            roles_claim: &self.cfg.roles_claim,
        };
        let keys = self.signin.keys(&e, false).await?;
        let id = match verify_id_token(&id_token, &keys, &want) {
            Ok(id) => id,
            Err(m) if m.contains("unknown key") => {
                let keys = self.signin.keys(&e, true).await?;
                verify_id_token(&id_token, &keys, &want).map_err(ConsoleError::Provider)?
            }
            Err(m) => return Err(ConsoleError::Provider(m)),
        };
        let operator = Operator::from_identity(id, &self.cfg, &self.tenants());
        if operator.grants.is_empty() {
            return Ok((String::new(), operator));
        }
        let secret = self.open_session(operator.clone())?;
        Ok((secret, operator))
    }
}

/// `application/x-www-form-urlencoded` encoding of a client id or secret, as RFC 6749 2.3.1
/// requires before Basic authentication.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
