//! The Didit webhook signature test vectors (`../shared/docs/reference/
//! webhook-signature-vectors.json`): every digest reproduced from the payload, the sent body
//! reproduced byte for byte, each verifies, and the timestamp-prefixed V2 variant does not.

use inherence::webhook::signature::{Scheme, VerifyError, sign, verify};
use serde_json::Value;

use crate::common::shared;

#[test]
fn all_published_vectors_pass() {
    const VECTORS: &str = "docs/reference/webhook-signature-vectors.json";
    let Some(dir) = shared(VECTORS) else { return };
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(VECTORS)).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let secret = v["secret"].as_str().unwrap();
        let raw = v["body_raw"].as_str().unwrap();
        let payload: Value = serde_json::from_str(raw).unwrap();
        let s = sign(&payload, secret);
        assert_eq!(s.body, raw, "{name}: body");
        assert_eq!(s.x_signature, v["x_signature"], "{name}: X-Signature");
        assert_eq!(
            s.x_signature_v2, v["x_signature_v2"],
            "{name}: X-Signature-V2"
        );
        assert_eq!(
            s.x_signature_simple, v["x_signature_simple"],
            "{name}: X-Signature-Simple"
        );
        assert_eq!(s.x_timestamp, v["x_timestamp"], "{name}: X-Timestamp");
        let ts: i64 = s.x_timestamp.parse().unwrap();
        for (scheme, key) in [
            (Scheme::Raw, "x_signature"),
            (Scheme::V2, "x_signature_v2"),
            (Scheme::Simple, "x_signature_simple"),
        ] {
            let sig = v[key].as_str().unwrap();
            verify(
                raw.as_bytes(),
                secret,
                scheme,
                sig,
                Some(&s.x_timestamp),
                ts + 10,
            )
            .unwrap_or_else(|e| panic!("{name} {key}: {e}"));
        }
        // The timestamp-prefixed V2 variant (a documented mistake) is never accepted.
        let prefixed = {
            use aws_lc_rs::hmac;
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            let canon = inherence::canonical::to_string(&payload, false);
            hex::encode(hmac::sign(&key, format!("{ts}:{canon}").as_bytes()).as_ref())
        };
        assert_eq!(
            verify(raw.as_bytes(), secret, Scheme::V2, &prefixed, None, ts),
            Err(VerifyError::BadSignature),
            "{name}: prefixed V2"
        );
    }
}
