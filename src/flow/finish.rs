//! Ending a flow: the browser that started it comes back, and the client gets its answer
//! (a code, an ID token, or the error) the way its response type says; or the user cancels.

use super::authorize::{Reply, error_reply, success_reply};
use super::device::subtle_eq;
use super::state::{FlowStatus, Origin};
use super::token::CodeGrant;
use super::{Provider, digest, ns, random_token, store_err};
use crate::protocol::OAuthError;
use crate::protocol::authorize::ResponseType;
use crate::protocol::values::Acr;
use crate::store::concerns::SingleUse;

impl Provider {
    /// Ends the flow in the browser that started it: issues the code or the ID token (or the
    /// error) and returns the answer to the client. Single use.
    pub fn finish(&self, flow_id: &str, binding_secret: Option<&str>) -> Result<Reply, OAuthError> {
        let flow = self.get_flow(flow_id)?;
        let bound = binding_secret.is_some_and(|b| subtle_eq(&digest(b), &flow.binding));
        if !bound {
            return Err(OAuthError::new(
                crate::protocol::ErrorCode::AccessDenied,
                "finish the face check in the browser where it started",
            ));
        }
        if flow.status == FlowStatus::AwaitingCapture {
            return Err(OAuthError::invalid_request(
                "the face check is not finished yet",
            ));
        }
        let flow = self.take_flow(flow_id)?;
        let (req, enrol) = match &flow.origin {
            Origin::Session { session, .. } => {
                return Ok(Reply::Redirect(self.session_finish_url(&flow, session)));
            }
            Origin::Verify { request } => (request, false),
            Origin::Enrol { request } => (request, true),
        };
        match &flow.status {
            FlowStatus::Verified {
                auth_time,
                acr,
                liveness,
            } if req.response_type == ResponseType::Auth0Continue => {
                if enrol {
                    // An Auth0 step-up is built without prompt=create.
                    return Err(OAuthError::internal(&"an enrolment has no Auth0 answer"));
                }
                self.auth0_result(&flow, req, *auth_time, acr, *liveness)
            }
            FlowStatus::Verified {
                auth_time,
                acr,
                liveness,
            } if req.response_type == ResponseType::IdToken => {
                if enrol {
                    // Refused at authorization (an enrolment is answered with a code only).
                    return Err(OAuthError::internal(&"an enrolment has no ID-token answer"));
                }
                let id_token = self.implicit_id_token(&flow, req, *auth_time, acr, *liveness)?;
                Ok(success_reply(req, "id_token", &id_token, self.issuer()))
            }
            FlowStatus::Verified {
                auth_time,
                acr,
                liveness,
            } => {
                let code = random_token(32);
                let grant = CodeGrant {
                    client_id: req.client_id.clone(),
                    redirect_uri: req.redirect_uri.clone(),
                    code_challenge: req.code_challenge.clone(),
                    subject: flow.subject.clone(),
                    nonce: req.nonce.clone(),
                    scope: req.scope.join(" "),
                    acr: if enrol {
                        Acr::supported("0")
                    } else {
                        // The acr the flow recorded: one of acr_values_supported.
                        Acr::supported(acr.as_str())
                    },
                    amr: if enrol { vec![] } else { vec!["face".into()] },
                    auth_time: *auth_time,
                    sid: flow.id.clone(),
                    authorization_details: req.authorization_details.clone(),
                    enrolment: enrol,
                    liveness_method: liveness.map(|m| m.as_str().to_owned()),
                };
                let exp = (self.now() + self.cfg.oidc.code_lifetime_secs as i64) * 1000;
                self.store
                    .issue(&ns::CODES, &digest(&code), &grant, exp)
                    .map_err(store_err)?;
                Ok(success_reply(req, "code", &code, self.issuer()))
            }
            FlowStatus::Failed { error, description } => Ok(error_reply(
                req.response_type,
                &req.redirect_uri,
                req.state.as_deref(),
                &OAuthError::new(*error, description.clone()),
                self.issuer(),
            )),
            FlowStatus::AwaitingCapture => Err(OAuthError::invalid_request(
                "the face check is not finished yet",
            )),
        }
    }

    /// The user gives up: the client receives `access_denied`. Returns where the page goes: the
    /// client's redirect (query mode), or this flow's finish page, which posts the error
    /// (form_post mode: a page cannot post across origins from a script's answer).
    pub fn cancel(
        &self,
        flow_id: &str,
        binding_secret: Option<&str>,
    ) -> Result<String, OAuthError> {
        let flow = self.get_flow(flow_id)?;
        if !binding_secret.is_some_and(|b| subtle_eq(&digest(b), &flow.binding)) {
            return Err(OAuthError::new(
                crate::protocol::ErrorCode::AccessDenied,
                "cancel in the browser where the check started",
            ));
        }
        let mut flow = self.take_flow(flow_id)?;
        let cancelled = OAuthError::new(
            crate::protocol::ErrorCode::AccessDenied,
            "the user cancelled the face check",
        );
        let request = match &flow.origin {
            // The session stays open (the link works again) until it expires or is abandoned.
            Origin::Session { session, .. } => return Ok(self.session_finish_url(&flow, session)),
            Origin::Verify { request } | Origin::Enrol { request } => request.clone(),
        };
        if request.response_type != ResponseType::Code {
            // A form post: the finish page posts the error (a script cannot post across origins).
            let cancelled = flow.cancel();
            self.put_flow(&flow)?;
            cancelled?;
            return Ok(format!("/capture/{}/finish", flow.id));
        }
        match error_reply(
            request.response_type,
            &request.redirect_uri,
            request.state.as_deref(),
            &cancelled,
            self.issuer(),
        ) {
            Reply::Redirect(to) => Ok(to),
            Reply::FormPost { .. } => Err(OAuthError::internal(&"a query reply was expected")),
        }
    }
}
