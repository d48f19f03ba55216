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

/// SHA-256 (hex) of the canonical JSON of RAR `authorization_details`: the value the audit
/// record keeps as the dynamic-linking evidence, recomputable by anyone holding the details.
pub fn authorization_details_sha256(details: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        crate::canonical::to_string(details, false).as_bytes(),
    ))
}

/// The payment a resource server is about to execute (PSD2 dynamic linking, EBA RTS Art. 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction<'a> {
    /// RAR type, `payment_initiation`.
    pub kind: &'a str,
    /// Decimal amount as a string (`"100.00"`); compared as a number, never as a float.
    pub amount: &'a str,
    /// ISO 4217 currency (`"EUR"`).
    pub currency: &'a str,
    /// The payee's name (`creditorName`).
    pub payee: &'a str,
    /// The payee's IBAN (`creditorAccount.iban`), when the approval named one.
    pub payee_iban: Option<&'a str>,
}

/// Why a transaction is not the one the user approved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The token carries no `authorization_details` at all.
    #[error("the access token is not bound to a transaction (no authorization_details)")]
    NotBound,
    /// No approved transaction matches; `why` names the first difference of the closest one.
    #[error("the transaction differs from the one the user approved: {0}")]
    Mismatch(String),
}

/// A decimal string in a canonical form (`"100.0"`, `"100.00"` and `"100"` are equal; signs,
/// exponents and other characters are refused).
pub fn decimal(s: &str) -> Option<String> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 18
        || frac.len() > 18
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    Some(format!(
        "{}{}{}",
        if int.is_empty() { "0" } else { int },
        if frac.is_empty() { "" } else { "." },
        frac
    ))
}

/// Whether the decimal amount `a` is at least `b`; `None` when either is not a decimal.
pub fn decimal_at_least(a: &str, b: &str) -> Option<bool> {
    let (a, b) = (decimal(a)?, decimal(b)?);
    let split = |s: &str| {
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        (i.to_owned(), f.to_owned())
    };
    let ((ai, af), (bi, bf)) = (split(&a), split(&b));
    let width = af.len().max(bf.len());
    let pad = |f: &str| format!("{f:0<width$}");
    Some((ai.len(), ai, pad(&af)) >= (bi.len(), bi, pad(&bf)))
}

fn iban(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Dynamic linking for resource servers: checks that the transaction about to execute is
/// exactly one the token's `authorization_details` approved (same type, amount, currency,
/// payee and payee IBAN: an IBAN the user did not see is refused too). Call it after
/// [`authorize_request`]; a
/// token approved for 100 EUR to A cannot execute 1000 EUR, or 100 EUR to B.
pub fn check_transaction(claims: &AccessTokenClaims, tx: &Transaction) -> Result<(), LinkError> {
    let details = claims
        .authorization_details
        .as_ref()
        .and_then(|d| d.as_array())
        .filter(|a| !a.is_empty())
        .ok_or(LinkError::NotBound)?;
    let want_amount = decimal(tx.amount)
        .ok_or_else(|| LinkError::Mismatch(format!("amount {:?} is not a decimal", tx.amount)))?;
    let mut first_difference = None;
    for d in details {
        let s = |p: &str| d.pointer(p).and_then(|v| v.as_str());
        let difference = if s("/type") != Some(tx.kind) {
            Some(format!("type is {:?}, not {:?}", s("/type"), tx.kind))
        } else if s("/instructedAmount/amount").and_then(decimal).as_deref()
            != Some(want_amount.as_str())
        {
            Some(format!(
                "approved amount {:?}, requested {:?}",
                s("/instructedAmount/amount"),
                tx.amount
            ))
        } else if s("/instructedAmount/currency") != Some(tx.currency) {
            Some(format!(
                "approved currency {:?}, requested {:?}",
                s("/instructedAmount/currency"),
                tx.currency
            ))
        } else if s("/creditorName") != Some(tx.payee) {
            Some(format!(
                "approved payee {:?}, requested {:?}",
                s("/creditorName"),
                tx.payee
            ))
        } else {
            match (s("/creditorAccount/iban"), tx.payee_iban) {
                (None, None) => None,
                (Some(a), Some(b)) if iban(a) == iban(b) => None,
                (a, b) => Some(format!("approved payee IBAN {a:?}, requested {b:?}")),
            }
        };
        match difference {
            None => return Ok(()),
            Some(why) => {
                first_difference.get_or_insert(why);
            }
        }
    }
    Err(LinkError::Mismatch(first_difference.unwrap_or_default()))
}

#[cfg(test)]
mod linking_tests {
    use super::*;
    use serde_json::json;

    use crate::protocol::values::{Acr, ClientId};

    fn token(details: Option<serde_json::Value>) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://inherence.example".into(),
            sub: "alice".into(),
            aud: "bank".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            client_id: ClientId::registered("bank"),
            scope: String::new(),
            acr: Some(Acr::supported("biometric")),
            auth_time: Some(1),
            amr: vec!["face".into()],
            authorization_details: details,
            sid: None,
            inherence_liveness_method: None,
        }
    }

    fn approved() -> AccessTokenClaims {
        token(Some(json!([{
            "type": "payment_initiation",
            "instructedAmount": {"currency": "EUR", "amount": "100.00"},
            "creditorName": "Payee A",
            "creditorAccount": {"iban": "DE02 1203 0000 0000 2020 51"}
        }])))
    }

    fn tx<'a>(
        amount: &'a str,
        currency: &'a str,
        payee: &'a str,
        iban: Option<&'a str>,
    ) -> Transaction<'a> {
        Transaction {
            kind: "payment_initiation",
            amount,
            currency,
            payee,
            payee_iban: iban,
        }
    }

    #[test]
    fn only_the_approved_transaction_executes() {
        let t = approved();
        let a = Some("DE02120300000000202051");
        assert_eq!(
            check_transaction(&t, &tx("100.00", "EUR", "Payee A", a)),
            Ok(())
        );
        assert_eq!(
            check_transaction(
                &t,
                &tx("100", "EUR", "Payee A", Some("de02 1203 0000 0000 2020 51"))
            ),
            Ok(())
        );
        for (bad, why) in [
            (tx("1000.00", "EUR", "Payee A", a), "approved amount"),
            (tx("100.01", "EUR", "Payee A", a), "approved amount"),
            (tx("10.00", "EUR", "Payee A", a), "approved amount"),
            (tx("100.00", "USD", "Payee A", a), "approved currency"),
            (tx("100.00", "EUR", "Payee B", a), "approved payee"),
            (
                tx("100.00", "EUR", "Payee A", Some("DE89370400440532013000")),
                "approved payee IBAN",
            ),
            (tx("100.00", "EUR", "Payee A", None), "approved payee IBAN"),
            (tx("1e2", "EUR", "Payee A", a), "not a decimal"),
            (tx("-100.00", "EUR", "Payee A", a), "not a decimal"),
        ] {
            match check_transaction(&t, &bad) {
                Err(LinkError::Mismatch(w)) => assert!(w.contains(why), "{bad:?}: {w}"),
                other => panic!("{bad:?} executed: {other:?}"),
            }
        }
        assert_eq!(
            check_transaction(&token(None), &tx("100.00", "EUR", "Payee A", a)),
            Err(LinkError::NotBound)
        );
        // Approved without an IBAN: only a payment without one executes.
        let no_iban = token(Some(json!([{
            "type": "payment_initiation",
            "instructedAmount": {"currency": "EUR", "amount": "100.00"},
            "creditorName": "Payee A"
        }])));
        assert_eq!(
            check_transaction(&no_iban, &tx("100.00", "EUR", "Payee A", None)),
            Ok(())
        );
        assert!(check_transaction(&no_iban, &tx("100.00", "EUR", "Payee A", a)).is_err());
        assert_eq!(
            check_transaction(&token(Some(json!([]))), &tx("100.00", "EUR", "Payee A", a)),
            Err(LinkError::NotBound)
        );
    }

    #[test]
    fn decimal_amounts_compare_by_value() {
        for (a, b, ge) in [
            ("500.00", "500", true),
            ("499.99", "500.00", false),
            ("1000", "500.00", true),
            ("500.001", "500", true),
            ("0500.1", "500.09", true),
            ("99", "100", false),
        ] {
            assert_eq!(decimal_at_least(a, b), Some(ge), "{a} >= {b}");
        }
        assert_eq!(decimal_at_least("1e3", "500"), None);
        assert_eq!(decimal_at_least("-1", "500"), None);
    }

    #[test]
    fn the_digest_is_independent_of_key_order() {
        let a = json!({"type": "payment_initiation", "instructedAmount": {"amount": "1", "currency": "EUR"}});
        let b: serde_json::Value = serde_json::from_str(
            r#"{"instructedAmount":{"currency":"EUR","amount":"1"},"type":"payment_initiation"}"#,
        )
        .unwrap();
        assert_eq!(
            authorization_details_sha256(&a),
            authorization_details_sha256(&b)
        );
        assert_eq!(authorization_details_sha256(&a).len(), 64);
    }
}
