//! Public keys published by another party (an identity provider's `jwks_uri`).

use jsonwebtoken::jwk::JwkSet;

use super::KeyError;

/// Fetches a JWKS document: HTTP 200, at most `max_bytes`, a JWKS whose every key can verify
/// (a key of a type this server cannot use is refused rather than silently dropped).
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
    let set: JwkSet =
        serde_json::from_slice(&body).map_err(|e| bad(format!("not a JWKS document: {e}")))?;
    for k in &set.keys {
        jsonwebtoken::DecodingKey::from_jwk(k)
            .map_err(|e| bad(format!("key {:?}: {e}", k.common.key_id)))?;
    }
    Ok(set)
}
