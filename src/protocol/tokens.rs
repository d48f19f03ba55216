//! Claims of the tokens Inherence issues.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// ID token claims.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// When the face check finished.
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    /// The step-up transaction (also the grant the tokens belong to).
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Hash of the access token (left half of SHA-256, base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Set on tokens that close an enrolment (`prompt=create`) rather than a verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inherence_enrolment: Option<bool>,
    /// The liveness method the face check passed: `PASSIVE`, `FLASHING` or `ACTIVE_3D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherence_liveness_method: Option<String>,
}

/// JWT access token claims (RFC 9068).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
    /// Grant (step-up transaction) id, used to revoke everything a replayed code issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The liveness method the face check passed (as in the ID token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherence_liveness_method: Option<String>,
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token (ES256 / RS256).
pub fn at_hash(access_token: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
}
