//! For resource servers: verify an Inherence JWT access token (RFC 9068) against the issuer's
//! JWKS, then decide whether it carries a recent enough face check for the request (RFC 9470),
//! answering with the `WWW-Authenticate` challenge that tells the client to step up.
//!
//! Pure: the caller fetches the JWKS (and caches it) and passes the current time.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::step_up::StepUpChallenge;
use super::tokens::AccessTokenClaims;

/// What a protected endpoint accepts.
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    /// Inherence's issuer identifier.
    pub issuer: String,
    /// Accepted `aud` values (Inherence sets the client id of the relying party).
    pub audiences: Vec<String>,
    /// The step-up requirement (acceptable acr values, maximum age of the face check).
    pub step_up: StepUpChallenge,
    /// Clock skew tolerated on `exp` and `iat`, seconds.
    pub leeway_secs: i64,
}

/// Why a request is refused, and the header that says so.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No usable token: 401 with `Bearer error="invalid_token"`.
    #[error("invalid access token: {0}")]
    InvalidToken(String),
    /// A valid token whose authentication is not strong or recent enough: 401 with the
    /// RFC 9470 `insufficient_user_authentication` challenge.
    #[error("insufficient user authentication")]
    StepUpRequired(StepUpChallenge),
}

impl AccessError {
    /// The `WWW-Authenticate` value to send with the 401 response.
    pub fn www_authenticate(&self) -> String {
        match self {
            AccessError::InvalidToken(why) => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                super::step_up::quote(why)
            ),
            AccessError::StepUpRequired(c) => c.to_header(),
        }
    }
}

/// Verifies the token's signature (ES256 or RS256, key chosen by `kid`), `typ` "at+jwt",
/// issuer, audience and lifetime, then the step-up requirement.
pub fn authorize_request(
    bearer: &str,
    jwks: &JwkSet,
    policy: &AccessPolicy,
    now: i64,
) -> Result<AccessTokenClaims, AccessError> {
    let bad = |s: &str| AccessError::InvalidToken(s.to_owned());
    let header = jsonwebtoken::decode_header(bearer).map_err(|_| bad("malformed token"))?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt") || t == "application/at+jwt")
    {
        return Err(bad("not a JWT access token (typ at+jwt)"));
    }
    if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
        return Err(bad("unsupported signing algorithm"));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| bad("token has no kid"))?;
    let jwk = jwks.find(kid).ok_or_else(|| bad("unknown signing key"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("unusable signing key"))?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&policy.issuer]);
    v.set_audience(&policy.audiences);
    // Time is checked below against the caller's clock.
    v.validate_exp = false;
    v.required_spec_claims = ["iss", "aud", "exp"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(bearer, &key, &v)
        .map_err(|e| bad(&format!("token rejected ({:?})", e.kind())))?
        .claims;
    if claims.exp + policy.leeway_secs <= now {
        return Err(bad("token expired"));
    }
    if claims.iat - policy.leeway_secs > now {
        return Err(bad("token issued in the future"));
    }
    let face = claims.amr.iter().any(|m| m == "face");
    if !face
        || !policy
            .step_up
            .satisfied_by(claims.acr.as_deref(), claims.auth_time, now)
    {
        return Err(AccessError::StepUpRequired(policy.step_up.clone()));
    }
    Ok(claims)
}
