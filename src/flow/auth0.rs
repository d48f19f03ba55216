//! Auth0's post-login Action redirect (custom MFA, `protocol::auth0`): the Action's signed
//! `session_token` names the Auth0 user, the face check runs for that user, and the browser
//! POSTs the signed result and the `state` back to the tenant's `/continue`.

use super::authorize::{AuthorizeError, AuthorizeOutcome, Reply, success_reply};
use super::state::Flow;
use super::{Provider, digest, ns, random_token, store_err};
use crate::biometric::capture::LivenessMethod;
use crate::protocol::OAuthError;
use crate::protocol::auth0::{self, ResultClaims};
use crate::protocol::authorize::{AuthorizationRequest, Params, ResponseType};
use crate::protocol::values::{ClientId, RedirectUri};
use crate::store::concerns::ReplayCache;

impl Provider {
    /// `GET /auth0/start?client_id&session_token&state`: checks the Action's token (HS256
    /// with the client's secret, issued by the registered tenant, single use) and starts the
    /// face check for its `sub`. Errors before the token is trusted are shown, never sent.
    pub fn auth0_start(&self, params: &Params) -> Result<AuthorizeOutcome, AuthorizeError> {
        let show = AuthorizeError::Show;
        let client_id = params
            .get("client_id")
            .ok_or_else(|| show(OAuthError::invalid_request("client_id is missing")))?;
        let client = self
            .clients
            .get(client_id)
            .filter(|c| c.auth0_action())
            .ok_or_else(|| show(OAuthError::invalid_client("unknown client_id")))?;
        let continue_url = client.redirect_uris.first().cloned().unwrap_or_default();
        let host = auth0::tenant_host(&continue_url).ok_or_else(|| {
            show(OAuthError::internal(
                &"the continue URL was checked at start",
            ))
        })?;
        let state = params.get("state").ok_or_else(|| {
            show(OAuthError::invalid_request(
                "state is missing: sign in again from the application",
            ))
        })?;
        let token = params
            .get("session_token")
            .ok_or_else(|| show(OAuthError::invalid_request("session_token is missing")))?;
        let secret = client
            .client_secret
            .as_ref()
            .ok_or_else(|| show(OAuthError::internal(&"the secret was checked at start")))?;
        let claims =
            auth0::verify_session_token(token, secret.expose().as_bytes(), &host, self.now())
                .map_err(show)?;
        self.charge(client_id, super::limits::Budget::Par)
            .map_err(show)?;
        // One face check per token: a replayed link starts nothing.
        let fresh = self
            .store
            .first_use(
                &ns::NONCES,
                &digest(&format!("auth0\n{token}")),
                (claims.exp + auth0::SKEW_SECS) * 1000,
            )
            .map_err(|e| show(store_err(e)))?;
        if !fresh {
            return Err(show(OAuthError::invalid_request(
                "this sign-in link was already used; sign in again from the application",
            )));
        }
        let request = AuthorizationRequest {
            client_id: ClientId::registered(client_id),
            redirect_uri: RedirectUri::registered(continue_url),
            response_type: ResponseType::Auth0Continue,
            scope: Vec::new(),
            state: Some(state.to_owned()),
            nonce: None,
            code_challenge: String::new(),
            prompt: Vec::new(),
            max_age: None,
            acr_values: Vec::new(),
            login_hint: Some(claims.sub),
            id_token_hint: None,
            authorization_details: None,
            pushed: false,
        };
        self.start_flow(request)
    }

    /// The signed result of a verified Auth0 flow, posted with its `state` to `/continue`.
    pub(super) fn auth0_result(
        &self,
        flow: &Flow,
        req: &AuthorizationRequest,
        auth_time: i64,
        acr: &str,
        liveness: Option<LivenessMethod>,
    ) -> Result<Reply, OAuthError> {
        let secret = self
            .clients
            .get(&req.client_id)
            .and_then(|c| c.client_secret.as_ref())
            .ok_or_else(|| OAuthError::internal(&"the Auth0 client is gone"))?;
        let now = self.now();
        let claims = ResultClaims {
            iss: self.issuer().to_owned(),
            aud: auth0::tenant_host(&req.redirect_uri).unwrap_or_default(),
            sub: flow.subject.to_string(),
            state: req.state.clone().unwrap_or_default(),
            iat: now,
            exp: now + auth0::RESULT_TOKEN_SECS,
            jti: random_token(16),
            result: "approved".into(),
            acr: acr.to_owned(),
            amr: vec!["face".into()],
            auth_time,
            inherence_liveness_method: liveness.map(|m| m.as_str().to_owned()),
        };
        let token = auth0::sign_result(&claims, secret.expose().as_bytes())?;
        Ok(success_reply(req, "session_token", &token, self.issuer()))
    }
}
