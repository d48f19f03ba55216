//! Claims of the tokens Inherence issues.

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use super::values::{Acr, ClientId, Subject};
use serde_json::Value;

/// ID token claims.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: Subject,
    pub aud: ClientId,
    pub exp: i64,
    pub iat: i64,
    /// When the face check finished.
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: Acr,
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
    /// The user's name as the client knows it (the subject), for clients that named the user
    /// in the front channel (`front_channel_subject`) and compare it with their own user, as
    /// Okta's IdP authenticator does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Claims repeated from the identity provider's hint (its issuer's `echo_claims`, e.g.
    /// Entra ID's `oid` and `tid`); never a claim above (the configuration refuses those).
    #[serde(
        flatten,
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub echoed: std::collections::BTreeMap<String, String>,
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
    pub client_id: ClientId,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<Acr>,
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

/// The token endpoint's answer (RFC 6749 5.1; OpenID Connect Core 3.1.3.3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    /// With the authorization code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
    /// The granted RFC 9396 details, as the client sent them (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

/// The userinfo answer: who was verified, and how.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UserInfo {
    pub sub: String,
    pub acr: Option<Acr>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    /// As in the ID token: for clients registered with `front_channel_subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// An RFC 7662 introspection answer; an inactive token says only `{"active": false}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<Acr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherence_liveness_method: Option<String>,
    /// Free-form, as granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

/// Signature-only validation: times, audience and issuer are checked by the caller.
pub fn no_time_validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}
