//! The token endpoint (authorization code, client credentials), userinfo and introspection.

use crate::store::concerns::SingleUse;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Provider, digest, ns, random_token, store_err};
use crate::keys::Alg;
use crate::protocol::authorize::Params;
use crate::protocol::client_auth::Credentials;
use crate::protocol::discovery::paths;
use crate::protocol::tokens::{
    AccessTokenClaims, IdTokenClaims, Introspection, TokenResponse, UserInfo, at_hash,
};
use crate::protocol::values::{Acr, ClientId, RedirectUri, Subject};
use crate::protocol::{ErrorCode, OAuthError, pkce};

/// Scope of client-credentials tokens for the enrolment API.
pub const ENROLMENT_SCOPE: &str = "enrolment";
/// Scope of the audit admin API.
pub const AUDIT_SCOPE: &str = "audit";

/// What an authorization code stands for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub code_challenge: String,
    pub subject: Subject,
    pub nonce: Option<String>,
    pub scope: String,
    pub acr: Acr,
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub sid: String,
    pub authorization_details: Option<Value>,
    pub enrolment: bool,
    /// The liveness method the face check passed.
    #[serde(default)]
    pub liveness_method: Option<String>,
}

/// The subject an ID-token response names, and the other repeated claims: the hint's `sub`
/// when its issuer echoes it (Microsoft Entra ID checks it), else Inherence's subject. Only
/// the `id_token` response echoes: code-flow tokens (and so userinfo, introspection and the
/// resource servers behind them) keep Inherence's subject.
pub(crate) fn token_subject(
    subject: &Subject,
    echo: &BTreeMap<String, String>,
) -> (Subject, BTreeMap<String, String>) {
    let mut extra = echo.clone();
    let sub = extra
        .remove("sub")
        .and_then(|s| Subject::parse(&s).ok())
        .unwrap_or_else(|| subject.clone());
    (sub, extra)
}

impl Provider {
    /// POST /token.
    pub fn token(&self, creds: &Credentials, params: &Params) -> Result<TokenResponse, OAuthError> {
        let auds = self.assertion_audiences(paths::TOKEN);
        let auds: Vec<&str> = auds.iter().map(String::as_str).collect();
        let client = self.clients.authenticate(creds, &auds)?.clone();
        self.charge(&client.client_id, super::limits::Budget::Token)?;
        match params.get("grant_type") {
            Some("authorization_code") => self.exchange_code(&client.client_id, params),
            Some("client_credentials") => {
                if !client.enrolment_api && !client.audit_api {
                    return Err(OAuthError::new(
                        ErrorCode::UnauthorizedClient,
                        "this client may not use client_credentials",
                    ));
                }
                let default = if client.enrolment_api {
                    ENROLMENT_SCOPE
                } else {
                    AUDIT_SCOPE
                };
                let scope = params.get("scope").unwrap_or(default);
                let allowed = (scope == ENROLMENT_SCOPE && client.enrolment_api)
                    || (scope == AUDIT_SCOPE && client.audit_api);
                if !allowed {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "this client may ask for the enrolment or audit scope it is configured for, one at a time",
                    ));
                }
                let now = self.now();
                let claims = AccessTokenClaims {
                    iss: self.issuer().to_owned(),
                    sub: client.client_id.clone(),
                    aud: self.issuer().to_owned(),
                    exp: now + self.cfg.oidc.access_token_lifetime_secs as i64,
                    iat: now,
                    jti: random_token(16),
                    client_id: ClientId::registered(client.client_id.clone()),
                    scope: scope.into(),
                    acr: None,
                    auth_time: None,
                    amr: vec![],
                    authorization_details: None,
                    sid: None,
                    inherence_liveness_method: None,
                };
                let at = self.sign_access_token(&claims)?;
                Ok(TokenResponse {
                    access_token: at,
                    token_type: "Bearer".into(),
                    expires_in: self.cfg.oidc.access_token_lifetime_secs,
                    id_token: None,
                    scope: scope.into(),
                    authorization_details: None,
                })
            }
            Some(_) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type is not supported",
            )),
            None => Err(OAuthError::invalid_request("grant_type is missing")),
        }
    }

    fn exchange_code(&self, client_id: &str, params: &Params) -> Result<TokenResponse, OAuthError> {
        let code = params
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let key = digest(code);
        let now = self.now();
        let grant: CodeGrant = match self.store.redeem(&ns::CODES, &key).map_err(store_err)? {
            Some(g) => g,
            None => {
                // Replayed code: revoke everything it issued.
                if let Some(sid) = self.store.get(&ns::USED_CODES, &key).map_err(store_err)? {
                    let sid = String::from_utf8_lossy(&sid).into_owned();
                    let until = (now + self.cfg.oidc.access_token_lifetime_secs as i64 + 60) * 1000;
                    self.store
                        .put(&ns::REVOKED, &sid, b"code replay", Some(until))
                        .map_err(store_err)?;
                    tracing::warn!(sid = %sid, client = %client_id, "authorization code replayed: tokens revoked");
                    return Err(OAuthError::invalid_grant(
                        "the code was already used; the tokens it issued are revoked",
                    ));
                }
                return Err(OAuthError::invalid_grant("the code is unknown or expired"));
            }
        };
        let tombstone_until = (now + self.cfg.oidc.access_token_lifetime_secs as i64 + 60) * 1000;
        self.store
            .put(
                &ns::USED_CODES,
                &key,
                grant.sid.as_bytes(),
                Some(tombstone_until),
            )
            .map_err(store_err)?;
        if grant.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier = params
            .get("code_verifier")
            .ok_or_else(|| OAuthError::invalid_grant("code_verifier is missing (PKCE)"))?;
        if !pkce::verify(verifier, &grant.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let at_claims = AccessTokenClaims {
            iss: self.issuer().to_owned(),
            sub: grant.subject.to_string(),
            aud: grant.client_id.to_string(),
            exp: now + self.cfg.oidc.access_token_lifetime_secs as i64,
            iat: now,
            jti: random_token(16),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            acr: Some(grant.acr.clone()),
            auth_time: Some(grant.auth_time),
            amr: grant.amr.clone(),
            authorization_details: grant.authorization_details.clone(),
            sid: Some(grant.sid.clone()),
            inherence_liveness_method: grant.liveness_method.clone(),
        };
        let access_token = self.sign_access_token(&at_claims)?;
        let id_claims = IdTokenClaims {
            iss: self.issuer().to_owned(),
            sub: grant.subject.clone(),
            aud: grant.client_id.clone(),
            exp: now + self.cfg.oidc.id_token_lifetime_secs as i64,
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.nonce.clone(),
            acr: grant.acr.clone(),
            amr: grant.amr.clone(),
            sid: grant.sid.clone(),
            azp: Some(grant.client_id.to_string()),
            at_hash: Some(at_hash(&access_token)),
            inherence_enrolment: grant.enrolment.then_some(true),
            inherence_liveness_method: grant.liveness_method.clone(),
            preferred_username: self
                .clients
                .get(&grant.client_id)
                .is_some_and(|c| c.front_channel_subject)
                .then(|| grant.subject.to_string()),
            echoed: BTreeMap::new(),
        };
        let id_token = self
            .keys
            .ring()
            .sign(self.id_token_alg(&grant.client_id), "JWT", &id_claims)
            .map_err(|e| OAuthError::internal(&e))?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.cfg.oidc.access_token_lifetime_secs,
            id_token: Some(id_token),
            scope: grant.scope,
            authorization_details: grant.authorization_details,
        })
    }

    /// The ID token of an implicit (`response_type=id_token`) flow, returned by the finish
    /// page's form post: no code, no access token, so no `at_hash`; bound to its request by
    /// the nonce (single use since the authorization request) and to the client by `aud`.
    pub(crate) fn implicit_id_token(
        &self,
        flow: &super::state::Flow,
        req: &crate::protocol::authorize::AuthorizationRequest,
        auth_time: i64,
        acr: &str,
        liveness: Option<crate::biometric::capture::LivenessMethod>,
    ) -> Result<String, OAuthError> {
        let no_echo = BTreeMap::new();
        let echo = flow.prior.as_ref().map_or(&no_echo, |p| &p.echo);
        let (sub, echoed) = token_subject(&flow.subject, echo);
        let now = self.now();
        let claims = IdTokenClaims {
            iss: self.issuer().to_owned(),
            sub,
            aud: req.client_id.clone(),
            exp: now + self.cfg.oidc.id_token_lifetime_secs as i64,
            iat: now,
            auth_time,
            nonce: req.nonce.clone(),
            acr: Acr::supported(acr),
            amr: vec!["face".into()],
            sid: flow.id.clone(),
            azp: Some(req.client_id.to_string()),
            at_hash: None,
            inherence_enrolment: None,
            inherence_liveness_method: liveness.map(|m| m.as_str().to_owned()),
            preferred_username: None,
            echoed,
        };
        self.keys
            .ring()
            .sign(self.id_token_alg(&req.client_id), "JWT", &claims)
            .map_err(|e| OAuthError::internal(&e))
    }

    fn sign_access_token(&self, claims: &AccessTokenClaims) -> Result<String, OAuthError> {
        let alg = self
            .cfg
            .keys
            .algorithms
            .first()
            .copied()
            .unwrap_or(Alg::ES256);
        self.keys
            .ring()
            .sign(alg, "at+jwt", claims)
            .map_err(|e| OAuthError::internal(&e))
    }

    /// Verifies one of our access tokens: signature, type, issuer, expiry, not revoked.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessTokenClaims, OAuthError> {
        let bad = |d: &str| OAuthError::new(ErrorCode::InvalidToken, d);
        let (header, claims): (_, AccessTokenClaims) = self
            .keys
            .ring()
            .verify(token)
            .map_err(|_| bad("the access token is invalid"))?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(bad("not an access token"));
        }
        if claims.iss != self.issuer() {
            return Err(bad("the access token is from another issuer"));
        }
        if claims.exp <= self.now() {
            return Err(bad("the access token has expired"));
        }
        if let Some(sid) = &claims.sid
            && self
                .store
                .get(&ns::REVOKED, sid)
                .map_err(store_err)?
                .is_some()
        {
            return Err(bad("the access token was revoked"));
        }
        Ok(claims)
    }

    /// GET/POST /userinfo.
    pub fn userinfo(&self, bearer: &str) -> Result<UserInfo, OAuthError> {
        let c = self.verify_access_token(bearer)?;
        if !c.scope.split(' ').any(|s| s == "openid") {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token does not carry the openid scope",
            ));
        }
        let front_channel = self
            .clients
            .get(&c.client_id)
            .is_some_and(|k| k.front_channel_subject);
        Ok(UserInfo {
            preferred_username: front_channel.then(|| c.sub.clone()),
            sub: c.sub,
            acr: c.acr,
            auth_time: c.auth_time,
            amr: c.amr,
        })
    }

    /// POST /introspect (RFC 7662); the caller must be a registered client.
    pub fn introspect(
        &self,
        creds: &Credentials,
        params: &Params,
    ) -> Result<Introspection, OAuthError> {
        let auds = self.assertion_audiences(paths::INTROSPECT);
        let auds: Vec<&str> = auds.iter().map(String::as_str).collect();
        self.clients.authenticate(creds, &auds)?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        Ok(match self.verify_access_token(token) {
            Err(_) => Introspection::default(),
            Ok(c) => Introspection {
                active: true,
                iss: Some(c.iss),
                sub: Some(c.sub),
                aud: Some(c.aud),
                client_id: Some(c.client_id),
                scope: Some(c.scope),
                token_type: Some("Bearer".into()),
                exp: Some(c.exp),
                iat: Some(c.iat),
                jti: Some(c.jti),
                acr: c.acr,
                auth_time: c.auth_time,
                amr: c.amr,
                inherence_liveness_method: c.inherence_liveness_method,
                authorization_details: c.authorization_details,
            },
        })
    }
}
