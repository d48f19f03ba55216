//! The flow layer's error type.
//!
//! Flow use cases fail with [`FlowError`], which keeps the cause (a storage outage, an engine
//! fault, a protocol refusal). `http::error` is the one place that turns it into a response and
//! decides what the caller sees: protocol refusals keep their description, storage and engine
//! faults are logged and answered generically.
//!
//! Two other error types leave flow on purpose: the OAuth endpoints (authorize, PAR, token,
//! userinfo) answer `protocol::OAuthError` directly, since every one of their failures is an
//! OAuth error by definition, and the Didit-compatible v3 API answers `didit::DiditError`
//! with its documented bodies. A storage failure reaches those through `store_err` and
//! `From<StoreError> for DiditError`, which log the cause and return a fixed description.

use crate::biometric::BiometricError;
use crate::biometric::score::Risk;
use crate::protocol::OAuthError;
use crate::store::StoreError;

/// Errors of the capture, hosted-capture and enrolment use cases.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A refusal the protocol defines (`invalid_request`, `access_denied`, `invalid_token`,
    /// `unmet_authentication_requirements`...): its code and description are for the caller.
    #[error(transparent)]
    Protocol(#[from] OAuthError),
    /// The image or the engine failed: client faults (not an image, too large) are described,
    /// engine faults are not.
    #[error(transparent)]
    Biometric(#[from] BiometricError),
    /// An enrolment portrait below the enrolment bar, with the reasons.
    #[error("the portrait was refused: {0:?}")]
    Refused(Vec<Risk>),
    /// The subject or record asked for does not exist (in the caller's tenant).
    #[error("not found")]
    NotFound,
    /// Storage failed; the cause is logged, never sent.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

impl FlowError {
    /// A malformed or unacceptable request, described to the caller.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::Protocol(OAuthError::invalid_request(description))
    }
}

/// How a storage failure is told to an OAuth client: 503 `temporarily_unavailable` with a
/// fixed description (the cause is logged here), or a generic `server_error` for a namespace
/// policy violation, which is a programming error and not worth a retry.
pub(crate) fn store_err(e: StoreError) -> OAuthError {
    if matches!(e, StoreError::Policy(_)) {
        return OAuthError::internal(&e);
    }
    tracing::error!(error = %e, "storage failure");
    OAuthError::new(
        crate::protocol::ErrorCode::TemporarilyUnavailable,
        "storage is unavailable, try again",
    )
}
