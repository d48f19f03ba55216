//! Auth0's redirect protocol for post-login Actions (custom MFA): the Action sends the browser
//! to an outside service with a `session_token` it signs with a shared secret (HS256, made by
//! `api.redirect.encodeToken`) and a `state`; the service sends the browser back to
//! `https://{tenant}/continue` with the `state` and, POSTed, a `session_token` of its own that
//! the Action checks with `api.redirect.validateToken` (signature, expiry, `state` claim).
//! Pure: token formats and checks, no I/O.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{ErrorCode, OAuthError};

/// The longest lifetime accepted for the Action's token (Auth0's default is 900 s).
pub const MAX_SESSION_TOKEN_SECS: i64 = 3600;
/// Clock difference tolerated with Auth0.
pub const SKEW_SECS: i64 = 60;
/// Lifetime of the token sent back (the browser posts it at once).
pub const RESULT_TOKEN_SECS: i64 = 120;

/// The claims of the Action's `session_token` (`api.redirect.encodeToken`): `iss` is the
/// tenant's hostname, `sub` the Auth0 `user_id`; the payload's own claims sit beside them.
#[derive(Clone, Debug, Deserialize)]
pub struct SessionClaims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    /// Set only on the tokens Inherence sends back: one of those is never a session token.
    #[serde(default)]
    pub result: Option<String>,
}

/// What Inherence sends back to `/continue`: the outcome for the user and the `state`
/// `validateToken` compares. Errors travel unsigned (`error`, `error_description`) and can only
/// make the Action deny.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultClaims {
    /// Inherence's issuer URL (never a tenant hostname: a result is never a session token).
    pub iss: String,
    /// The tenant hostname the session token came from.
    pub aud: String,
    /// The Auth0 `user_id` the face was checked for.
    pub sub: String,
    pub state: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// `approved`: the face check passed for `sub`.
    pub result: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherence_liveness_method: Option<String>,
}

fn refused(why: &str) -> OAuthError {
    OAuthError::new(
        ErrorCode::AccessDenied,
        format!("the Auth0 session token is not valid: {why}"),
    )
}

/// Checks the Action's token: HS256 with `secret` only, `iss` exactly `tenant_host` (the host
/// of the one registered `/continue` URL), not expired, not valid for longer than
/// [`MAX_SESSION_TOKEN_SECS`], not issued in the future, naming a user, and not one of
/// Inherence's own results.
pub fn verify_session_token(
    token: &str,
    secret: &[u8],
    tenant_host: &str,
    now: i64,
) -> Result<SessionClaims, OAuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| refused("not a JWT"))?;
    if header.alg != Algorithm::HS256 {
        return Err(refused("not signed HS256"));
    }
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let key = DecodingKey::from_secret(secret).map_err(|e| OAuthError::internal(&e))?;
    let c = jsonwebtoken::decode::<SessionClaims>(token, &key, &v)
        .map_err(|_| refused("bad signature or claims"))?
        .claims;
    if c.result.is_some() {
        return Err(refused("a result is not a session token"));
    }
    if c.iss != tenant_host {
        return Err(refused("iss is not the registered Auth0 tenant"));
    }
    if c.exp + SKEW_SECS <= now {
        return Err(refused("expired"));
    }
    if c.exp - now > MAX_SESSION_TOKEN_SECS {
        return Err(refused("valid for too long"));
    }
    if c.iat.is_some_and(|iat| iat - SKEW_SECS > now) {
        return Err(refused("issued in the future"));
    }
    if !crate::tenant::check_subject(&c.sub) {
        return Err(refused("sub is not a user id"));
    }
    Ok(c)
}

/// Signs a result (HS256 with the shared secret, as `validateToken` expects).
pub fn sign_result(claims: &ResultClaims, secret: &[u8]) -> Result<String, OAuthError> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    let key = EncodingKey::from_secret(secret).map_err(|e| OAuthError::internal(&e))?;
    jsonwebtoken::encode(&header, claims, &key).map_err(|e| OAuthError::internal(&e))
}

/// The tenant hostname of a registered `/continue` URL, if it is one.
pub fn tenant_host(continue_url: &str) -> Option<String> {
    let u = url::Url::parse(continue_url).ok()?;
    (u.path() == "/continue" && u.query().is_none())
        .then(|| u.host_str().map(str::to_owned))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"auth0-action-secret-0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    fn hs256(claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"iss": "corp.eu.auth0.com", "sub": "auth0|alice", "exp": NOW + 900, "iat": NOW, "ip": "203.0.113.9"})
    }

    #[test]
    fn the_actions_token_is_checked_claim_by_claim() {
        let ok = verify_session_token(&hs256(good(), SECRET), SECRET, "corp.eu.auth0.com", NOW);
        assert_eq!(ok.unwrap().sub, "auth0|alice");
        let edit = |k: &str, v: serde_json::Value| {
            let mut c = good();
            c[k] = v;
            c
        };
        let bad = [
            hs256(good(), b"another-secret-0123456789abcdef0123"),
            hs256(edit("iss", json!("evil.auth0.com")), SECRET),
            hs256(edit("exp", json!(NOW - SKEW_SECS)), SECRET),
            hs256(edit("exp", json!(NOW + MAX_SESSION_TOKEN_SECS + 1)), SECRET),
            hs256(edit("iat", json!(NOW + SKEW_SECS + 1)), SECRET),
            hs256(edit("sub", json!("")), SECRET),
            hs256(edit("result", json!("approved")), SECRET),
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS384),
                &good(),
                &EncodingKey::from_secret(SECRET).unwrap(),
            )
            .unwrap(),
            "not.a.jwt".into(),
        ];
        for (i, t) in bad.iter().enumerate() {
            assert!(
                verify_session_token(t, SECRET, "corp.eu.auth0.com", NOW).is_err(),
                "case {i}"
            );
        }
        // alg none: an unsigned token with the same claims.
        let b64 = |v: serde_json::Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!("{}.{}.", b64(json!({"alg": "none"})), b64(good()));
        assert!(verify_session_token(&none, SECRET, "corp.eu.auth0.com", NOW).is_err());
    }

    #[test]
    fn only_a_plain_continue_url_names_a_tenant() {
        assert_eq!(
            tenant_host("https://corp.eu.auth0.com/continue").as_deref(),
            Some("corp.eu.auth0.com")
        );
        assert!(tenant_host("https://corp.eu.auth0.com/continue?x=1").is_none());
        assert!(tenant_host("https://corp.eu.auth0.com/other").is_none());
    }
}
