//! Client authentication at the token, PAR and introspection endpoints: `client_secret_basic`,
//! `client_secret_post` and `private_key_jwt` (RFC 7523), exactly one per request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::authorize::Params;
use super::errors::OAuthError;
use crate::secret::Secret;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Credentials found in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        client_id: String,
        secret: Secret,
    },
    Post {
        client_id: String,
        secret: Secret,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
}

impl Credentials {
    /// The client the credentials claim to be (for an assertion: its `sub`, checked later).
    pub fn claimed_client_id(&self) -> Option<String> {
        match self {
            Credentials::Basic { client_id, .. } | Credentials::Post { client_id, .. } => {
                Some(client_id.clone())
            }
            Credentials::Assertion {
                client_id,
                assertion,
            } => client_id.clone().or_else(|| {
                jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(assertion)
                    .ok()
                    .map(|d| d.claims.sub)
            }),
        }
    }
}

fn form_decode(s: &str) -> Result<String, OAuthError> {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))
}

/// Finds the client's credentials; more than one method is an error.
pub fn extract(authorization: Option<&str>, form: &Params) -> Result<Credentials, OAuthError> {
    let mut found = Vec::new();
    if let Some(h) = authorization {
        let (scheme, value) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = STANDARD
                .decode(value.trim())
                .map_err(|_| OAuthError::invalid_client("malformed Basic credentials"))?;
            let raw = String::from_utf8(raw)
                .map_err(|_| OAuthError::invalid_client("malformed Basic credentials"))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            found.push(Credentials::Basic {
                client_id: form_decode(id)?,
                secret: form_decode(secret)?.into(),
            });
        }
    }
    if let Some(secret) = form.get("client_secret") {
        let client_id = form
            .get("client_id")
            .ok_or_else(|| OAuthError::invalid_client("client_id is missing"))?;
        found.push(Credentials::Post {
            client_id: client_id.to_owned(),
            secret: secret.into(),
        });
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_client(
                "client_assertion_type must be jwt-bearer",
            ));
        }
        found.push(Credentials::Assertion {
            client_id: form.get("client_id").map(str::to_owned),
            assertion: assertion.to_owned(),
        });
    }
    match found.len() {
        0 => Err(OAuthError::invalid_client(
            "client authentication is required",
        )),
        1 => Ok(found.remove(0)),
        _ => Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        )),
    }
}

/// Claims of a `private_key_jwt` assertion.
#[derive(Debug, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: serde_json::Value,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
    pub jti: String,
}

/// Verifies a client assertion: signature by one of the client's keys (asymmetric algorithms
/// only), `iss` = `sub` = client, `aud` among `audiences` (issuer, token or PAR endpoint), not
/// expired, `exp` at most 5 minutes ahead, `iat`/`nbf` at most 10 s in the future. Returns its
/// `jti` and `exp` so the caller can refuse a replay.
pub fn verify_assertion(
    assertion: &str,
    client_id: &str,
    keys: &JwkSet,
    audiences: &[&str],
    now: i64,
) -> Result<(String, i64), OAuthError> {
    let bad = |d: &str| OAuthError::invalid_client(format!("client assertion: {d}"));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad("malformed"))?;
    if !matches!(
        header.alg,
        Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::PS256
            | Algorithm::RS256
            | Algorithm::EdDSA
    ) {
        return Err(bad("algorithm not allowed"));
    }
    let candidates: Vec<_> = keys
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .collect();
    let mut claims = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if let Ok(d) = jsonwebtoken::decode::<AssertionClaims>(
            assertion,
            &key,
            &crate::protocol::tokens::no_time_validation(header.alg),
        ) {
            claims = Some(d.claims);
            break;
        }
    }
    let c = claims.ok_or_else(|| bad("signature does not verify with the client's keys"))?;
    if c.iss != client_id || c.sub != client_id {
        return Err(bad("iss and sub must be the client_id"));
    }
    let aud_ok = match &c.aud {
        serde_json::Value::String(s) => audiences.contains(&s.as_str()),
        serde_json::Value::Array(a) => a
            .iter()
            .any(|v| v.as_str().is_some_and(|s| audiences.contains(&s))),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud must be the issuer or the endpoint URL"));
    }
    if c.exp <= now {
        return Err(bad("expired"));
    }
    if c.exp > now + 300 {
        return Err(bad("lifetime too long (exp more than 5 minutes ahead)"));
    }
    if c.iat.is_some_and(|t| t > now + 10) || c.nbf.is_some_and(|t| t > now + 10) {
        return Err(bad("issued in the future"));
    }
    if c.iat.is_some_and(|t| t < now - 60) && c.exp > now + 60 {
        return Err(bad("too old"));
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err(bad("jti is required"));
    }
    Ok((c.jti, c.exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(a, b)| ((*a).into(), (*b).into()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn basic_is_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%3Aapp:s%20ecret"));
        let c = extract(Some(&h), &form(&[])).unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                client_id: "my:app".into(),
                secret: "s ecret".into()
            }
        );
        assert!(!format!("{c:?}").contains("s ecret"), "never printed");
    }

    #[test]
    fn exactly_one_method() {
        let h = format!("Basic {}", STANDARD.encode("app:secret"));
        assert!(
            extract(
                Some(&h),
                &form(&[("client_id", "app"), ("client_secret", "secret")])
            )
            .is_err()
        );
        assert!(extract(None, &form(&[("client_id", "app")])).is_err());
        assert!(matches!(
            extract(None, &form(&[("client_id", "app"), ("client_secret", "x")])).unwrap(),
            Credentials::Post { .. }
        ));
        assert!(
            extract(
                None,
                &form(&[
                    ("client_assertion", "a.b.c"),
                    ("client_assertion_type", "other")
                ])
            )
            .is_err()
        );
        assert!(extract(Some("Basic %%%"), &form(&[])).is_err());
    }
}
