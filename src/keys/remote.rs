//! Public keys published by another party (an identity provider's `jwks_uri`).

use jsonwebtoken::jwk::JwkSet;

use super::KeyError;

/// Fetches a JWKS document: HTTP 200, at most `max_bytes`. A key this server cannot use (a
/// new key type) is left out with a warning; a set with no usable key is an error, so the
/// keys held before are kept.
pub async fn fetch_jwks(
    client: &reqwest::Client,
    uri: &str,
    max_bytes: usize,
) -> Result<JwkSet, KeyError> {
    let bad = |m: String| KeyError::Material(format!("{uri}: {m}"));
    let mut res = client
        .get(uri)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| bad(e.to_string()))?;
    if !res.status().is_success() {
        return Err(bad(format!("HTTP {}", res.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| bad(e.to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            return Err(bad(format!("the key set is larger than {max_bytes} bytes")));
        }
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let keys = doc["keys"]
        .as_array()
        .ok_or_else(|| bad("not a JWKS document (no keys array)".into()))?;
    let mut usable = Vec::new();
    for k in keys {
        match serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone()) {
            Ok(jwk) if jsonwebtoken::DecodingKey::from_jwk(&jwk).is_ok() => usable.push(jwk),
            _ => tracing::warn!(uri, kid = %k["kid"], "a published key cannot be used; left out"),
        }
    }
    if usable.is_empty() {
        return Err(bad("no usable key".into()));
    }
    Ok(JwkSet { keys: usable })
}
