//! Who the face check is for: the pushed `login_hint`, or a verified `id_token_hint` (one of
//! Inherence's own ID tokens, or one from a configured trusted issuer).

use super::Provider;
use super::authorize::HINT_SKEW_SECS;
use super::state::PriorAuthentication;
use crate::protocol::authorize::AuthorizationRequest;
use crate::protocol::values::Subject;
use crate::protocol::{ErrorCode, OAuthError};

impl Provider {
    /// The subject to verify: the pushed `login_hint`, or the `sub` (or configured claim) of a
    /// verified `id_token_hint`; both must agree when both are given. Also returns the
    /// hint's earlier authentication (issuer and `amr`), which the audit record reports as the
    /// other SCA factor.
    pub(super) fn subject_of(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<(Subject, Option<PriorAuthentication>), OAuthError> {
        let from_hint = match &request.id_token_hint {
            Some(t) => Some(self.verify_id_token_hint(t, &request.client_id)?),
            None => None,
        };
        if from_hint
            .as_ref()
            .is_some_and(|(s, _)| !crate::tenant::check_subject(s))
        {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the id_token_hint's subject is not a valid subject identifier",
            ));
        }
        let prior = from_hint.as_ref().map(|(_, p)| p.clone());
        let named = match (&request.login_hint, from_hint) {
            (Some(a), Some((b, _))) if *a != b => {
                return Err(OAuthError::invalid_request(
                    "login_hint and id_token_hint name different users",
                ));
            }
            (Some(a), _) => a.clone(),
            (None, Some((b, _))) => b,
            (None, None) => {
                return Err(OAuthError::invalid_request("the user to verify is unknown"));
            }
        };
        let subject = Subject::parse(&named).map_err(|_| {
            OAuthError::invalid_request("the user to verify is not a valid subject identifier")
        })?;
        Ok((subject, prior))
    }

    /// Checks an `id_token_hint`: an ID token (never an access token: `typ` "at+jwt" is
    /// refused) signed by our keys and issued to the requesting client, or signed by a trusted
    /// issuer and meant for Inherence (its `aud` names one of the issuer's configured
    /// audiences, by default this server's issuer URL). Returns its subject. Expired hints are
    /// accepted (some identity providers send them expired on purpose); the signature, issuer
    /// and audience are what matter.
    fn verify_id_token_hint(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<(String, PriorAuthentication), OAuthError> {
        let bad = || {
            OAuthError::new(
                ErrorCode::LoginRequired,
                "id_token_hint is not a valid ID token from a trusted issuer",
            )
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad())?;
        if header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err(bad());
        }
        let unverified: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(token)
            .map_err(|_| bad())?
            .claims;
        let iss = unverified
            .get("iss")
            .and_then(|v| v.as_str())
            .ok_or_else(bad)?;
        let names = |claims: &serde_json::Value, wanted: &[&str]| match claims.get("aud") {
            Some(serde_json::Value::String(a)) => wanted.contains(&a.as_str()),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .any(|x| x.as_str().is_some_and(|x| wanted.contains(&x))),
            _ => false,
        };
        if iss == self.issuer() {
            let claims: serde_json::Value = self
                .keys
                .ring()
                .verify::<serde_json::Value>(token)
                .map_err(|_| bad())?
                .1;
            if !names(&claims, &[client_id]) {
                return Err(bad());
            }
            return claims
                .get("sub")
                .and_then(|v| v.as_str())
                .map(|s| (s.to_owned(), PriorAuthentication::of(&claims)))
                .ok_or_else(bad);
        }
        let issuer = self.trusted.find(iss).ok_or_else(bad)?;
        let trusted = &issuer.cfg;
        // An identity provider speaks for the tenants it is configured for only.
        let tenant = self.client_tenant(client_id);
        if !trusted.tenants.is_empty() && !trusted.tenants.contains(&tenant) {
            return Err(bad());
        }
        let jwks = self.trusted.keys(issuer, header.kid.as_deref());
        let mut verified = None;
        for jwk in jwks
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        {
            if let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk)
                && let Ok(d) = jsonwebtoken::decode::<serde_json::Value>(
                    token,
                    &key,
                    &crate::protocol::tokens::no_time_validation(header.alg),
                )
            {
                verified = Some(d.claims);
                break;
            }
        }
        let c = verified.ok_or_else(bad)?;
        let audiences: Vec<&str> = if trusted.audiences.is_empty() {
            vec![self.issuer()]
        } else {
            trusted.audiences.iter().map(String::as_str).collect()
        };
        if !names(&c, &audiences) {
            return Err(bad());
        }
        if let Some(max) = trusted.max_age_secs {
            // Issued at most `max` seconds ago (and not in the future beyond clock skew).
            let iat = c.get("iat").and_then(|v| v.as_i64()).ok_or_else(bad)?;
            let now = self.now();
            if iat > now + HINT_SKEW_SECS || now - iat > max as i64 {
                return Err(bad());
            }
        }
        let mut prior = PriorAuthentication::of(&c);
        for name in &trusted.echo_claims {
            // A configured claim that is missing or not a plain string fails the hint: the
            // identity provider checks the token it gets back against it.
            let v = c
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|v| crate::tenant::check_subject(v))
                .ok_or_else(bad)?;
            prior.echo.insert(name.clone(), v.to_owned());
        }
        c.get(&trusted.subject_claim)
            .and_then(|v| v.as_str())
            .map(|s| (s.to_owned(), prior))
            .ok_or_else(bad)
    }
}
