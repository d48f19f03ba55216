//! The step-up transaction as an explicit state machine.
//!
//! ```text
//!   authorize ──> AwaitingCapture ──(capture approved)──> Verified ──(finish)──> code issued
//!                   │  ▲                                                  (flow consumed)
//!                   │  └──(capture declined, attempts left)
//!                   └──(attempts exhausted)──> Failed ──(finish)──> error sent to the client
//! ```
//!
//! Every transition takes the flow out of the store and writes the next state back, so two
//! concurrent requests can never both act on the same state.

use serde::{Deserialize, Serialize};

use super::liveness::Because;
use crate::biometric::capture::LivenessMethod;
use crate::protocol::authorize::AuthorizationRequest;

/// A flow stored without a method (written by an older version) needs the strongest.
fn strongest() -> LivenessMethod {
    LivenessMethod::Active3d
}
use crate::protocol::values::Subject;
use crate::protocol::{ErrorCode, OAuthError};

/// Why the flow exists (what the capture page tells the user).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// 1:1 face check against the subject's enrolled template.
    Verify,
    /// First capture of the subject's face (`prompt=create`).
    Enrol,
    /// A hosted session of the Sessions API (its workflow decides).
    Session,
}

/// Who started the flow and what its capture decides. Stored flat beside the flow's fields
/// (`"purpose": "verify", "request": {...}`), the shape flows had before this type, so flows in
/// the store survive an upgrade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum Origin {
    /// An OpenID client's step-up: a 1:1 face check against the subject's enrolment.
    Verify { request: AuthorizationRequest },
    /// An OpenID client's camera enrolment (asked through PAR or configuration).
    Enrol { request: AuthorizationRequest },
    /// A hosted session of the Sessions API: its workflow decides, the API key that created it
    /// pays its upload budget. No OpenID request exists, so none is made up.
    Session {
        session: String,
        /// The key that created the session (empty for flows stored before it was kept).
        #[serde(default)]
        api_key_id: String,
    },
}

impl Origin {
    pub fn purpose(&self) -> Purpose {
        match self {
            Origin::Verify { .. } => Purpose::Verify,
            Origin::Enrol { .. } => Purpose::Enrol,
            Origin::Session { .. } => Purpose::Session,
        }
    }
}

/// The scores of the attempt that decided the flow (kept for the ID token and the audit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The liveness method the capture passed (absent for captures judged before methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_method: Option<LivenessMethod>,
    pub liveness_score: Option<f64>,
    pub match_score: Option<f64>,
    pub approved: bool,
    pub risks: Vec<String>,
    pub at: i64,
}

/// Where the flow stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FlowStatus {
    AwaitingCapture,
    Verified {
        auth_time: i64,
        acr: String,
        /// The liveness method that was passed (for the ID token).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        liveness: Option<LivenessMethod>,
    },
    Failed {
        error: ErrorCode,
        description: String,
    },
}

/// One step-up transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Also the capture page's handle (unguessable, 128 bits).
    pub id: String,
    /// Who started it (an OpenID request or a hosted session) and what its capture decides.
    #[serde(flatten)]
    pub origin: Origin,
    /// The tenant of the client that started it (the subject is looked up there).
    #[serde(default)]
    pub tenant: crate::tenant::TenantId,
    pub subject: Subject,
    /// The liveness method every capture of this flow must pass (decided when the flow
    /// starts: policy, client, transaction or workflow).
    #[serde(default = "strongest")]
    pub liveness: LivenessMethod,
    /// What decided it.
    #[serde(default)]
    pub liveness_by: Because,
    /// Digest of the secret in the browser cookie that started the flow: only that browser
    /// receives the code.
    pub binding: String,
    /// Digest of the hand-off secret (`device::handoff_secret`): the phone the flow was handed
    /// to through the QR link may capture too.
    #[serde(default)]
    pub handoff: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub status: FlowStatus,
    pub decisions: Vec<Decision>,
    /// The identity provider's earlier authentication, from a verified `id_token_hint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorAuthentication>,
}

/// An earlier authentication reported by a verified ID token: who issued it and how the user
/// authenticated (`amr`, e.g. `["pwd"]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorAuthentication {
    pub iss: String,
    pub amr: Vec<String>,
    /// When it happened (`auth_time`, else `iat`), seconds since the epoch.
    #[serde(default)]
    pub at: Option<i64>,
    /// Claims of the hint its issuer's `echo_claims` repeat in the ID token (`sub` replaces
    /// the token's subject).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub echo: std::collections::BTreeMap<String, String>,
}

impl PriorAuthentication {
    /// From verified ID-token claims.
    pub fn of(claims: &serde_json::Value) -> Self {
        Self {
            iss: claims["iss"].as_str().unwrap_or_default().to_owned(),
            amr: claims["amr"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .take(16)
                .map(|s| s.chars().take(32).collect())
                .collect(),
            at: claims["auth_time"].as_i64().or(claims["iat"].as_i64()),
            echo: Default::default(),
        }
    }
}

impl Flow {
    pub fn purpose(&self) -> Purpose {
        self.origin.purpose()
    }

    /// The OpenID authorization request that started the flow (none for a hosted session).
    pub fn oidc_request(&self) -> Option<&AuthorizationRequest> {
        match &self.origin {
            Origin::Verify { request } | Origin::Enrol { request } => Some(request),
            Origin::Session { .. } => None,
        }
    }

    /// Whose capture-upload budget the flow's uploads spend: the OpenID client's, or the API
    /// key's that created the hosted session (the name its audit records carry too).
    pub fn payer(&self) -> String {
        match &self.origin {
            Origin::Verify { request } | Origin::Enrol { request } => request.client_id.to_string(),
            Origin::Session { api_key_id, .. } => format!("api-key:{api_key_id}"),
        }
    }

    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }

    /// Records an attempt's decision and moves to the next state.
    pub fn record(&mut self, decision: Decision, acr: &str) -> Result<(), OAuthError> {
        if self.status != FlowStatus::AwaitingCapture {
            return Err(OAuthError::invalid_request(
                "this face check is already decided",
            ));
        }
        self.attempts += 1;
        let approved = decision.approved;
        let at = decision.at;
        let liveness = decision.liveness_method;
        self.decisions.push(decision);
        self.status = if approved {
            FlowStatus::Verified {
                auth_time: at,
                acr: acr.to_owned(),
                liveness,
            }
        } else if self.attempts >= self.max_attempts {
            FlowStatus::Failed {
                error: ErrorCode::UnmetAuthenticationRequirements,
                description: "the face check did not succeed within the allowed attempts".into(),
            }
        } else {
            FlowStatus::AwaitingCapture
        };
        Ok(())
    }

    /// Whether the check may move to another device: decided when the flow starts (an empty
    /// hand-off digest), never for an identity provider's sign-in (an ID-token or Auth0 answer,
    /// or a client that names its users in the browser): whoever holds the password there
    /// could otherwise send the hand-off link to the real user and relay their face to a
    /// sign-in of their own.
    pub fn handoff_allowed(&self) -> bool {
        !self.handoff.is_empty()
            && self
                .oidc_request()
                .is_none_or(|r| r.response_type == crate::protocol::authorize::ResponseType::Code)
    }

    /// The user gives up before a decision: the flow fails with `access_denied`.
    pub fn cancel(&mut self) -> Result<(), OAuthError> {
        if self.status != FlowStatus::AwaitingCapture {
            return Err(OAuthError::invalid_request(
                "this face check is already decided",
            ));
        }
        self.status = FlowStatus::Failed {
            error: ErrorCode::AccessDenied,
            description: "the user cancelled the face check".into(),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::values::{ClientId, RedirectUri};

    fn flow() -> Flow {
        Flow {
            id: "f".into(),
            origin: Origin::Verify {
                request: AuthorizationRequest {
                    client_id: ClientId::registered("c"),
                    redirect_uri: RedirectUri::registered("https://c/cb"),
                    response_type: Default::default(),
                    scope: vec!["openid".into()],
                    state: None,
                    nonce: None,
                    code_challenge: "x".into(),
                    prompt: vec![],
                    max_age: None,
                    acr_values: vec![],
                    login_hint: Some("alice".into()),
                    id_token_hint: None,
                    authorization_details: None,
                    pushed: true,
                },
            },
            tenant: Default::default(),
            subject: Subject::parse("alice").unwrap(),
            liveness: LivenessMethod::Flashing,
            liveness_by: Because::Policy,
            binding: "b".into(),
            handoff: String::new(),
            created_at: 0,
            expires_at: 600,
            attempts: 0,
            max_attempts: 2,
            status: FlowStatus::AwaitingCapture,
            decisions: vec![],
            prior: None,
        }
    }

    #[test]
    fn flows_keep_their_stored_shape() {
        let f = flow();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["purpose"], "verify");
        assert_eq!(v["request"]["client_id"], "c");
        assert_eq!(serde_json::from_value::<Flow>(v).unwrap(), f);
        // A hosted-session flow stored before `Origin`: a made-up request beside the session.
        let mut old = serde_json::to_value(&f).unwrap();
        old["purpose"] = "session".into();
        old["session"] = "s-1".into();
        let back: Flow = serde_json::from_value(old).unwrap();
        assert_eq!(
            back.origin,
            Origin::Session {
                session: "s-1".into(),
                api_key_id: String::new()
            }
        );
        assert!(back.oidc_request().is_none());
        assert_eq!(back.payer(), "api-key:");
    }

    fn decision(approved: bool) -> Decision {
        Decision {
            liveness_method: Some(LivenessMethod::Flashing),
            liveness_score: Some(90.0),
            match_score: Some(80.0),
            approved,
            risks: vec![],
            at: 42,
        }
    }

    #[test]
    fn approval_verifies_once() {
        let mut f = flow();
        f.record(decision(true), "biometric").unwrap();
        assert_eq!(
            f.status,
            FlowStatus::Verified {
                auth_time: 42,
                acr: "biometric".into(),
                liveness: Some(LivenessMethod::Flashing),
            }
        );
        assert!(
            f.record(decision(true), "biometric").is_err(),
            "a decided flow cannot be decided again"
        );
    }

    #[test]
    fn attempts_run_out() {
        let mut f = flow();
        f.record(decision(false), "biometric").unwrap();
        assert_eq!(f.status, FlowStatus::AwaitingCapture);
        assert_eq!(f.attempts_left(), 1);
        f.record(decision(false), "biometric").unwrap();
        assert!(matches!(
            f.status,
            FlowStatus::Failed {
                error: ErrorCode::UnmetAuthenticationRequirements,
                ..
            }
        ));
        assert!(f.record(decision(true), "biometric").is_err());
    }

    #[test]
    fn a_cancel_fails_an_undecided_flow_only() {
        let mut f = flow();
        f.cancel().unwrap();
        assert!(matches!(
            f.status,
            FlowStatus::Failed {
                error: ErrorCode::AccessDenied,
                ..
            }
        ));
        assert!(f.record(decision(true), "biometric").is_err());
        let mut v = flow();
        v.record(decision(true), "biometric").unwrap();
        assert!(
            v.cancel().is_err(),
            "a verified flow is not turned into a refusal"
        );
    }

    #[test]
    fn requests_stored_before_the_id_token_response_are_code_requests() {
        let mut v = serde_json::to_value(flow()).unwrap();
        v["request"]
            .as_object_mut()
            .unwrap()
            .remove("response_type");
        let back: Flow = serde_json::from_value(v).unwrap();
        assert_eq!(
            back.oidc_request().unwrap().response_type,
            crate::protocol::authorize::ResponseType::Code
        );
    }
}
