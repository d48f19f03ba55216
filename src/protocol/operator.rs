//! The operator console's sign-in, relying-party side: the authorization request Inherence
//! sends to the operators' OpenID provider, and the checks of the ID token it gets back.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Who signed in, as the provider's ID token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorIdentity {
    pub issuer: String,
    pub subject: String,
    /// `name`, else `preferred_username`, else `email` (for display and the audit log).
    pub name: String,
    /// The values of the roles claim (at most 100, each at most 200 characters).
    pub roles: Vec<String>,
}

/// What the ID token must match.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Dotted path of the roles claim (`roles`, `realm_access.roles`).
    pub roles_claim: &'a str,
}

/// Signature algorithms accepted from the provider: asymmetric only (a shared-secret HS256
/// token could be minted by anyone holding the client secret).
const ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies the provider's ID token: signature by a key of `keys` (by `kid`), an asymmetric
/// algorithm, `iss` exactly, `aud` containing the client (and `azp`, if present, the client),
/// `exp`, `iat` (60 s leeway), `sub`, and the nonce of this sign-in. `Err` says which check
/// failed, never echoing the token.
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    want: &Expected<'_>,
) -> Result<OperatorIdentity, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JWT".to_string())?;
    if !ALGS.contains(&header.alg) {
        return Err(format!("algorithm {:?} is not accepted", header.alg));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or("signed with an unknown key")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "the provider's key is unusable")?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[want.issuer]);
    v.set_audience(&[want.client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = 60;
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v)
        .map_err(|e| format!("ID token refused: {e}"))?
        .claims;
    // jsonwebtoken checks `exp` and `aud`; `iat` must be there (a number) and not ahead.
    let now = jsonwebtoken::get_current_timestamp() as i64;
    if claims["iat"].as_i64().is_none_or(|iat| iat > now + 60) {
        return Err("no iat, or an iat in the future".into());
    }
    if claims["nonce"].as_str() != Some(want.nonce) {
        return Err("the nonce is not this sign-in's".into());
    }
    if let Some(azp) = claims.get("azp")
        && azp.as_str() != Some(want.client_id)
    {
        return Err("the token was issued to another client (azp)".into());
    }
    let subject = claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or("no usable sub")?
        .to_owned();
    let name = ["name", "preferred_username", "email"]
        .iter()
        .find_map(|k| claims[*k].as_str())
        .unwrap_or(&subject)
        .chars()
        .take(200)
        .collect();
    let mut node = &claims;
    for part in want.roles_claim.split('.') {
        node = &node[part];
    }
    let roles = match node {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| r.len() <= 200)
            .take(100)
            .map(str::to_owned)
            .collect(),
        Value::String(s) if s.len() <= 200 => vec![s.clone()],
        _ => Vec::new(),
    };
    Ok(OperatorIdentity {
        issuer: want.issuer.to_owned(),
        subject,
        name,
        roles,
    })
}

#[cfg(test)]
mod tests;
