//! Pushed authorization requests and the authorization endpoint.

use crate::store::concerns::{ReplayCache, SingleUse};
use serde::{Deserialize, Serialize};

use super::state::{Flow, FlowStatus, Origin, Purpose};
use super::{Provider, digest, ns, random_token, store_err};
use crate::protocol::authorize::{
    self, AuthorizationRequest, ClientView, Params, Policy, ResponseType,
};
use crate::protocol::client_auth::Credentials;
use crate::protocol::discovery::paths;
use crate::protocol::{ErrorCode, OAuthError};
use crate::store::typed::KvJson;

const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A pushed request waiting for its authorization call.
#[derive(Debug, Serialize, Deserialize)]
struct Pushed {
    client_id: String,
    request: AuthorizationRequest,
}

/// How the authorization endpoint answers.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Show the capture page for this flow; set the binding cookie to `binding_secret`.
    Capture {
        flow_id: String,
        binding_secret: String,
    },
    /// Ask the user who is signing in (a client registered with `front_channel_subject` sent
    /// no hint): the page sends the request again, with these parameters and the typed
    /// `login_hint`.
    AskSubject {
        client_name: String,
        params: Vec<(String, String)>,
    },
}

/// Clock difference tolerated between an identity provider and this server.
pub const HINT_SKEW_SECS: i64 = 300;

/// An authorization error: shown to the user when the redirect URI is not verified, sent to
/// the client otherwise.
#[derive(Debug)]
pub enum AuthorizeError {
    Show(OAuthError),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
        /// Decides the response mode (query or form_post).
        response_type: ResponseType,
    },
}

impl AuthorizeError {
    /// The error as the client receives it, or (`Err`) the error to show the user because
    /// it cannot be sent to the client.
    pub fn into_reply(self, issuer: &str) -> Result<Reply, OAuthError> {
        match self {
            Self::Show(e) => Err(e),
            Self::Redirect {
                redirect_uri,
                state,
                error,
                response_type,
            } => Ok(error_reply(
                response_type,
                &redirect_uri,
                state.as_deref(),
                &error,
                issuer,
            )),
        }
    }
}

/// How an answer reaches the client's redirect URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A 303 to this URL (response mode `query`).
    Redirect(String),
    /// Fields the browser POSTs to `action` through an auto-submitting form (response mode
    /// `form_post`), so that a token never appears in a URL.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// The answer carrying `params` to `redirect_uri`, in the response type's mode. A query
/// redirect also names the issuer (RFC 9207); a form post carries exactly the documented
/// fields (the ID token names its issuer).
pub fn reply(
    response_type: ResponseType,
    redirect_uri: &str,
    params: &[(&str, &str)],
    issuer: &str,
) -> Reply {
    match response_type {
        ResponseType::Code => Reply::Redirect(redirect_url(redirect_uri, params, issuer)),
        ResponseType::IdToken | ResponseType::Auth0Continue => Reply::FormPost {
            action: redirect_uri.to_owned(),
            fields: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        },
    }
}

/// A successful answer to `req`: `name` (`code` or `id_token`) and its `state`, if any.
pub fn success_reply(req: &AuthorizationRequest, name: &str, value: &str, issuer: &str) -> Reply {
    let mut p = vec![(name, value)];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    reply(req.response_type, &req.redirect_uri, &p, issuer)
}

/// An error answer (`error`, `error_description`, `state`) in the response type's mode.
pub fn error_reply(
    response_type: ResponseType,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> Reply {
    let mut p = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = state {
        p.push(("state", s));
    }
    reply(response_type, redirect_uri, &p, issuer)
}

impl Provider {
    fn client_view(&self, client_id: &str) -> Option<ClientView<'_>> {
        self.clients.get(client_id).map(|c| ClientView {
            client_id: &c.client_id,
            redirect_uris: &c.redirect_uris,
            authorization_details_types: &c.authorization_details_types,
            response_types: &c.response_types,
            // An id_token-only client has no authentication to push with, and a front-channel
            // client (an identity provider without PAR) cannot push either.
            par_required: (self.cfg.oidc.require_par || c.require_par == Some(true))
                && c.response_types.contains(&ResponseType::Code)
                && !c.front_channel_subject,
            front_channel_subject: c.front_channel_subject,
        })
    }

    fn policy(&self) -> Policy<'_> {
        Policy {
            acr_values_supported: &self.cfg.oidc.acr_values_supported,
            authorization_details_types: &self.cfg.oidc.authorization_details_types,
        }
    }

    /// RFC 9126: validates and stores a client-authenticated request; returns its
    /// `request_uri` and lifetime.
    pub fn push(&self, creds: &Credentials, params: &Params) -> Result<(String, u64), OAuthError> {
        let auds = self.assertion_audiences(paths::PAR);
        let auds: Vec<&str> = auds.iter().map(String::as_str).collect();
        let client = self.clients.authenticate(creds, &auds)?;
        self.charge(&client.client_id, super::limits::Budget::Par)?;
        if params.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request(
                "request_uri is not allowed in a pushed request",
            ));
        }
        if params
            .get("client_id")
            .is_some_and(|c| c != client.client_id)
        {
            return Err(OAuthError::invalid_request(
                "client_id does not match the authenticated client",
            ));
        }
        let mut with_id = params.clone();
        with_id
            .0
            .insert("client_id".into(), client.client_id.clone());
        let (view, redirect_uri) = authorize::identify(&with_id, |id| self.client_view(id))?;
        let request = authorize::validate(&with_id, &view, redirect_uri, &self.policy(), true)?;
        let reference = random_token(24);
        let ttl = self.cfg.oidc.par_lifetime_secs;
        let expires_at = (self.now() + ttl as i64) * 1000;
        self.store
            .issue(
                &ns::PAR,
                &reference,
                &Pushed {
                    client_id: client.client_id.clone(),
                    request,
                },
                expires_at,
            )
            .map_err(store_err)?;
        Ok((format!("{REQUEST_URI_PREFIX}{reference}"), ttl))
    }

    /// The authorization endpoint (GET or POST parameters).
    pub fn authorize(&self, params: &Params) -> Result<AuthorizeOutcome, AuthorizeError> {
        let client_id = params.get("client_id").ok_or_else(|| {
            AuthorizeError::Show(OAuthError::invalid_request("client_id is missing"))
        })?;
        let Some(client) = self.clients.get(client_id) else {
            return Err(AuthorizeError::Show(OAuthError::invalid_client(
                "unknown client_id",
            )));
        };
        if client.auth0_action() {
            // Its answers go to Auth0's /continue only from a flow its Action started.
            return Err(AuthorizeError::Show(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client starts at /auth0/start, from its Auth0 Action",
            )));
        }
        let request = match params.get("request_uri") {
            Some(uri) => {
                let reference = uri.strip_prefix(REQUEST_URI_PREFIX).ok_or_else(|| {
                    AuthorizeError::Show(OAuthError::new(
                        ErrorCode::InvalidRequestUri,
                        "malformed request_uri",
                    ))
                })?;
                // Single use: consumed here, at the point of authorization.
                let pushed: Pushed = self
                    .store
                    .redeem(&ns::PAR, reference)
                    .map_err(|e| AuthorizeError::Show(store_err(e)))?
                    .ok_or_else(|| {
                        AuthorizeError::Show(OAuthError::new(
                            ErrorCode::InvalidRequestUri,
                            "request_uri is unknown, expired or already used",
                        ))
                    })?;
                if pushed.client_id != client_id {
                    return Err(AuthorizeError::Show(OAuthError::new(
                        ErrorCode::InvalidRequestUri,
                        "request_uri was pushed by another client",
                    )));
                }
                pushed.request
            }
            None => {
                let (view, redirect_uri) = authorize::identify(params, |id| self.client_view(id))
                    .map_err(AuthorizeError::Show)?;
                // Before the checks have run, an error goes back the way the request asked,
                // if the client may ask for it.
                let asked = match params.get("response_type") {
                    Some("id_token") if view.response_types.contains(&ResponseType::IdToken) => {
                        ResponseType::IdToken
                    }
                    _ => ResponseType::Code,
                };
                let redirect = |error: OAuthError| AuthorizeError::Redirect {
                    redirect_uri: redirect_uri.to_string(),
                    state: params.get("state").map(str::to_owned),
                    error,
                    response_type: asked,
                };
                if view.par_required {
                    return Err(redirect(OAuthError::invalid_request(
                        "this client must use pushed authorization requests",
                    )));
                }
                if view.front_channel_subject {
                    // Anyone may start such a request: each start spends the client's budget
                    // for requests (par_per_minute), as a pushed one would.
                    self.charge(client_id, super::limits::Budget::Par)
                        .map_err(redirect)?;
                }
                authorize::validate(params, &view, redirect_uri.clone(), &self.policy(), false)
                    .map_err(redirect)?
            }
        };
        if request.login_hint.is_none() && request.id_token_hint.is_none() {
            // Only a front-channel client's request gets here without a hint (validation).
            let client_name = self
                .clients
                .get(&request.client_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            return Ok(AuthorizeOutcome::AskSubject {
                client_name,
                params: params
                    .0
                    .iter()
                    .filter(|(k, _)| k.as_str() != "login_hint")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        self.start_flow(request)
    }

    /// Starts the face check of a validated request (from `/authorize`, or from an Auth0
    /// Action's redirect): the subject, its enrolment, the single-use nonce, the flow.
    pub(super) fn start_flow(
        &self,
        request: AuthorizationRequest,
    ) -> Result<AuthorizeOutcome, AuthorizeError> {
        let (ru, st) = (request.redirect_uri.clone(), request.state.clone());
        let rt = request.response_type;
        let redirect = |error: OAuthError| AuthorizeError::Redirect {
            redirect_uri: ru.to_string(),
            state: st.clone(),
            error,
            response_type: rt,
        };
        let (subject, prior) = self.subject_of(&request).map_err(redirect)?;
        let purpose = if request.is_enrolment() {
            Purpose::Enrol
        } else {
            Purpose::Verify
        };
        let tenant = self.client_tenant(&request.client_id);
        if purpose == Purpose::Verify {
            let enrolled = self
                .store
                .get(&ns::ENROLMENTS, &tenant.key(&subject))
                .map_err(|e| redirect(store_err(e)))?;
            if enrolled.is_none() {
                return Err(redirect(OAuthError::unmet(
                    "no face is enrolled for this user",
                )));
            }
        }
        if request.response_type == ResponseType::IdToken {
            // The nonce is what ties the ID token to the request that asked for it: one face
            // check per nonce, so a replayed request (same hint, same nonce) starts nothing.
            let nonce = request.nonce.as_deref().unwrap_or_default();
            let until = (self.now() + self.nonce_retention_secs()) * 1000;
            let fresh = self
                .store
                .first_use(
                    &ns::NONCES,
                    &digest(&format!("{}\n{nonce}", request.client_id)),
                    until,
                )
                .map_err(|e| redirect(store_err(e)))?;
            if !fresh {
                // Shown, not posted back: the answer would go out under the state of the
                // sign-in that first used the nonce, and end it while its face check runs.
                return Err(AuthorizeError::Show(OAuthError::invalid_request(
                    "this sign-in request was already used; start the sign-in again",
                )));
            }
        }
        let now = self.now();
        let binding_secret = random_token(24);
        let (liveness, liveness_by) = super::liveness::required_method(
            &self.cfg.liveness,
            self.clients.get(&request.client_id),
            request.authorization_details.as_ref(),
        );
        let request_type = request.response_type;
        let front_channel = self
            .clients
            .get(&request.client_id)
            .is_some_and(|c| c.front_channel_subject);
        let origin = match purpose {
            Purpose::Enrol => Origin::Enrol { request },
            _ => Origin::Verify { request },
        };
        let flow = Flow {
            id: random_token(18),
            origin,
            tenant,
            subject,
            liveness,
            liveness_by,
            binding: digest(&binding_secret),
            // An identity provider's sign-in stays on the device that started it.
            handoff: if request_type == ResponseType::Code && !front_channel {
                super::device::handoff_digest(&binding_secret)
            } else {
                String::new()
            },
            created_at: now,
            expires_at: now + self.cfg.oidc.flow_lifetime_secs as i64,
            attempts: 0,
            max_attempts: self.cfg.oidc.capture_attempts,
            status: FlowStatus::AwaitingCapture,
            decisions: Vec::new(),
            prior,
        };
        self.put_flow(&flow).map_err(redirect)?;
        Ok(AuthorizeOutcome::Capture {
            flow_id: flow.id,
            binding_secret,
        })
    }

    /// How long an ID-token request's nonce is remembered: while its flow lives, and while any
    /// hint it could carry is young enough to be accepted (configuration requires every
    /// trusted issuer to bound that age when an id_token client exists).
    fn nonce_retention_secs(&self) -> i64 {
        let hint_life = self
            .cfg
            .oidc
            .trusted_issuers
            .iter()
            .filter_map(|t| t.max_age_secs)
            .max()
            .map_or(0, |m| m as i64 + HINT_SKEW_SECS);
        (self.cfg.oidc.flow_lifetime_secs as i64).max(hint_life)
    }

    pub(crate) fn put_flow(&self, flow: &Flow) -> Result<(), OAuthError> {
        self.store
            .put_json(&ns::FLOWS, &flow.id, flow, Some(flow.expires_at * 1000))
            .map_err(store_err)
    }

    pub(crate) fn get_flow(&self, id: &str) -> Result<Flow, OAuthError> {
        self.store
            .get_json::<Flow>(&ns::FLOWS, id)
            .map_err(store_err)?
            .ok_or_else(|| {
                OAuthError::invalid_request("this face check has expired or is finished")
            })
    }

    pub(crate) fn take_flow(&self, id: &str) -> Result<Flow, OAuthError> {
        self.store
            .redeem::<Flow>(&ns::FLOWS, id)
            .map_err(store_err)?
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "this face check has expired, is finished, or is being processed",
                )
            })
    }
}

/// Builds the redirect to the client: `redirect_uri` plus the response parameters and `iss`
/// (RFC 9207), keeping any query the registered URI already has.
pub fn redirect_url(redirect_uri: &str, params: &[(&str, &str)], issuer: &str) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
                q.append_pair("iss", issuer);
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_registered_query_and_add_iss() {
        let u = redirect_url(
            "https://app.example/cb?tenant=a",
            &[("code", "c 1"), ("state", "s")],
            "https://idp.example",
        );
        assert_eq!(
            u,
            "https://app.example/cb?tenant=a&code=c+1&state=s&iss=https%3A%2F%2Fidp.example"
        );
        let Reply::Redirect(e) = error_reply(
            ResponseType::Code,
            "https://app.example/cb",
            None,
            &OAuthError::unmet("no"),
            "https://idp.example",
        ) else {
            panic!("a code error is a redirect")
        };
        assert!(e.contains("error=unmet_authentication_requirements") && e.contains("iss="));
        // The form post carries exactly the documented fields.
        let posted = error_reply(
            ResponseType::IdToken,
            "https://login.example/cb",
            Some("s"),
            &OAuthError::unmet("no"),
            "https://idp.example",
        );
        assert_eq!(
            posted,
            Reply::FormPost {
                action: "https://login.example/cb".into(),
                fields: vec![
                    ("error".into(), "unmet_authentication_requirements".into()),
                    ("error_description".into(), "no".into()),
                    ("state".into(), "s".into()),
                ],
            }
        );
    }
}
