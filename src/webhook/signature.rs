//! Webhook signatures.
//!
//! Didit-compatible (all lowercase hex HMAC-SHA256 keyed with the secret's UTF-8 bytes):
//! - `X-Signature`: over the body bytes as sent (canonical JSON, ASCII-escaped);
//! - `X-Signature-V2`: over the canonical JSON without ASCII escaping (no timestamp prefix);
//! - `X-Signature-Simple`: over `"{timestamp}:{session_id}:{status}:{webhook_type}"` from the body;
//! - `X-Timestamp`: the body's `timestamp`.
//!
//! Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): `v1,` + base64
//! HMAC-SHA256 of `"{id}.{timestamp}.{body}"`, several space-separated during secret rotation;
//! and `v1a,` + base64 Ed25519 when an asymmetric key is configured, so receivers need no shared
//! secret.

use aws_lc_rs::{hmac, signature as sig};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::canonical;

/// Seconds a receiver accepts between the signed timestamp and its clock.
pub const FRESHNESS_SECS: i64 = 300;

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(hmac::sign(&key, msg).as_ref())
}

/// Python's `str()` of a body field, `""` when absent.
fn field(body: &Value, name: &str) -> String {
    match body.get(name) {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => "None".into(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.into(),
        Some(Value::Number(n)) => canonical::to_string(&Value::Number(n.clone()), true),
        Some(other) => canonical::to_string(other, true),
    }
}

/// What `X-Signature-Simple` signs: `"{timestamp}:{session_id}:{status}:{webhook_type}"`.
fn simple_message(body: &Value) -> String {
    format!(
        "{}:{}:{}:{}",
        field(body, "timestamp"),
        field(body, "session_id"),
        field(body, "status"),
        field(body, "webhook_type")
    )
}

/// The body to send and its Didit-compatible headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The exact HTTP body (canonical, ASCII-escaped JSON).
    pub body: String,
    pub x_signature: String,
    pub x_signature_v2: String,
    pub x_signature_simple: String,
    pub x_timestamp: String,
}

/// Serialises `payload` canonically and signs it.
pub fn sign(payload: &Value, secret: &str) -> Signed {
    let body = canonical::to_string(payload, true);
    let v2 = canonical::to_string(payload, false);
    let simple = simple_message(payload);
    Signed {
        x_signature: hmac_hex(secret, body.as_bytes()),
        x_signature_v2: hmac_hex(secret, v2.as_bytes()),
        x_signature_simple: hmac_hex(secret, simple.as_bytes()),
        x_timestamp: field(payload, "timestamp"),
        body,
    }
}

/// Why a delivery does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the body is not JSON")]
    NotJson,
    #[error("no signature matches")]
    BadSignature,
    #[error("the signed timestamp is missing or more than 300 s away")]
    Stale,
    #[error("X-Timestamp differs from the signed body timestamp")]
    TimestampMismatch,
}

fn hex_eq(secret: &str, msg: &[u8], candidate: &str) -> bool {
    let Ok(tag) = hex::decode(candidate.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, msg, &tag).is_ok()
}

/// Which signature header a receiver checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Signature` over the raw bytes received.
    Raw,
    /// `X-Signature-V2` over the re-canonicalised body (survives re-serialising middleware).
    V2,
    /// `X-Signature-Simple` over body fields.
    Simple,
}

/// Verifies a received delivery (constant-time comparison), then freshness of the signed body
/// `timestamp` and its equality with `X-Timestamp` when given.
pub fn verify(
    raw_body: &[u8],
    secret: &str,
    scheme: Scheme,
    signature: &str,
    x_timestamp: Option<&str>,
    now: i64,
) -> Result<Value, VerifyError> {
    let body: Value = serde_json::from_slice(raw_body).map_err(|_| VerifyError::NotJson)?;
    let ok = match scheme {
        Scheme::Raw => hex_eq(secret, raw_body, signature),
        Scheme::V2 => hex_eq(
            secret,
            canonical::to_string(&body, false).as_bytes(),
            signature,
        ),
        Scheme::Simple => hex_eq(secret, simple_message(&body).as_bytes(), signature),
    };
    if !ok {
        return Err(VerifyError::BadSignature);
    }
    let ts = body
        .get("timestamp")
        .and_then(Value::as_i64)
        .ok_or(VerifyError::Stale)?;
    if (now - ts).abs() > FRESHNESS_SECS {
        return Err(VerifyError::Stale);
    }
    if let Some(h) = x_timestamp
        && h.trim() != ts.to_string()
    {
        return Err(VerifyError::TimestampMismatch);
    }
    Ok(body)
}

/// Standard Webhooks: the secret as receivers' libraries expect it (`whsec_` + base64 key).
pub fn standard_secret(secret: &str) -> String {
    format!("whsec_{}", B64.encode(secret.as_bytes()))
}

/// Standard Webhooks `webhook-signature` value: one `v1,` entry per secret (current first, then
/// the previous ones during rotation), then `v1a,` with the Ed25519 key if any.
pub fn standard_signature(
    id: &str,
    timestamp: i64,
    body: &str,
    secrets: &[&str],
    ed25519: Option<&sig::Ed25519KeyPair>,
) -> String {
    let msg = format!("{id}.{timestamp}.{body}");
    let mut parts: Vec<String> = secrets
        .iter()
        .map(|s| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes());
            format!(
                "v1,{}",
                B64.encode(hmac::sign(&key, msg.as_bytes()).as_ref())
            )
        })
        .collect();
    if let Some(k) = ed25519 {
        parts.push(format!(
            "v1a,{}",
            B64.encode(k.sign(msg.as_bytes()).as_ref())
        ));
    }
    parts.join(" ")
}

/// Verifies a Standard Webhooks signature header with a `whsec_` secret (any `v1,` entry).
pub fn verify_standard(
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    whsec: &str,
    now: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > FRESHNESS_SECS {
        return Err(VerifyError::Stale);
    }
    let key_bytes = B64
        .decode(whsec.strip_prefix("whsec_").unwrap_or(whsec))
        .map_err(|_| VerifyError::BadSignature)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let mut msg = format!("{id}.{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    let ok = header.split(' ').any(|p| {
        p.strip_prefix("v1,")
            .and_then(|s| B64.decode(s).ok())
            .is_some_and(|tag| hmac::verify(&key, &msg, &tag).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Verifies the `v1a,` (Ed25519) entry against a published raw 32-byte public key.
pub fn verify_standard_ed25519(
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    public_key: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > FRESHNESS_SECS {
        return Err(VerifyError::Stale);
    }
    let key = sig::UnparsedPublicKey::new(&sig::ED25519, public_key);
    let mut msg = format!("{id}.{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    let ok = header.split(' ').any(|p| {
        p.strip_prefix("v1a,")
            .and_then(|s| B64.decode(s).ok())
            .is_some_and(|s| key.verify(&msg, &s).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::KeyPair as _;
    use serde_json::json;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let payload = json!({"session_id": "s1", "status": "Approved", "timestamp": 1000,
            "webhook_type": "status.updated", "decision": {"score": 95.5, "name": "Zoë"}});
        let s = sign(&payload, "k");
        assert_eq!(s.x_timestamp, "1000");
        assert!(s.body.contains("Zo\\u00eb"));
        for (scheme, sg) in [
            (Scheme::Raw, &s.x_signature),
            (Scheme::V2, &s.x_signature_v2),
            (Scheme::Simple, &s.x_signature_simple),
        ] {
            assert!(verify(s.body.as_bytes(), "k", scheme, sg, Some("1000"), 1100).is_ok());
            assert_eq!(
                verify(s.body.as_bytes(), "other", scheme, sg, None, 1100),
                Err(VerifyError::BadSignature)
            );
            assert_eq!(
                verify(s.body.as_bytes(), "k", scheme, sg, None, 1400),
                Err(VerifyError::Stale)
            );
        }
        assert_eq!(
            verify(
                s.body.as_bytes(),
                "k",
                Scheme::Raw,
                &s.x_signature,
                Some("999"),
                1000
            ),
            Err(VerifyError::TimestampMismatch)
        );
        let tampered = s.body.replace("95.5", "96.5");
        assert_eq!(
            verify(
                tampered.as_bytes(),
                "k",
                Scheme::Raw,
                &s.x_signature,
                None,
                1000
            ),
            Err(VerifyError::BadSignature)
        );
        // Re-serialised by middleware (whitespace, key order): V2 still verifies, raw does not.
        let reserialised = serde_json::to_string_pretty(&payload).unwrap();
        assert!(
            verify(
                reserialised.as_bytes(),
                "k",
                Scheme::V2,
                &s.x_signature_v2,
                None,
                1000
            )
            .is_ok()
        );
        assert!(
            verify(
                reserialised.as_bytes(),
                "k",
                Scheme::Raw,
                &s.x_signature,
                None,
                1000
            )
            .is_err()
        );
    }

    #[test]
    fn standard_webhooks_with_rotation_and_ed25519() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let h = standard_signature("msg_1", 1000, "{}", &["new", "old"], Some(&kp));
        assert_eq!(h.split(' ').count(), 3);
        for s in ["new", "old"] {
            assert!(verify_standard("msg_1", 1000, b"{}", &h, &standard_secret(s), 1000).is_ok());
        }
        assert!(verify_standard("msg_1", 1000, b"{}", &h, &standard_secret("x"), 1000).is_err());
        assert!(verify_standard("msg_2", 1000, b"{}", &h, &standard_secret("new"), 1000).is_err());
        let public = kp.public_key().as_ref().to_vec();
        assert!(verify_standard_ed25519("msg_1", 1000, b"{}", &h, &public, 1000).is_ok());
        assert!(verify_standard_ed25519("msg_1", 1000, b"{ }", &h, &public, 1000).is_err());
    }
}
