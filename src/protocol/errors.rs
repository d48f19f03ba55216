//! OAuth 2.0 / OpenID Connect errors: RFC codes, HTTP status, and whether they may be sent to
//! the client's redirect URI (only once that URI has been verified).

use serde::{Deserialize, Serialize};

/// Error codes from RFC 6749, OpenID Connect Core, RFC 9126, RFC 9396, RFC 6750 and RFC 9470.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    UnmetAuthenticationRequirements,
    InvalidAuthorizationDetails,
    InvalidRequestUri,
    RequestNotSupported,
    InvalidToken,
    InsufficientUserAuthentication,
    ServerError,
    TemporarilyUnavailable,
    /// A client over its request budget: `temporarily_unavailable` with HTTP 429 and
    /// `Retry-After`.
    TooManyRequests,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestNotSupported => "request_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientUserAuthentication => "insufficient_user_authentication",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable | Self::TooManyRequests => "temporarily_unavailable",
        }
    }

    /// HTTP status when answered directly (not redirected).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientUserAuthentication => 401,
            Self::AccessDenied | Self::UnauthorizedClient => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::TooManyRequests => 429,
            _ => 400,
        }
    }
}

/// What clients are told about any failure inside the server.
pub const INTERNAL_DESCRIPTION: &str = "the server could not complete the request";

/// A protocol error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Seconds the client should wait (`Retry-After`), for [`ErrorCode::TooManyRequests`].
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// A server error's description is always [`INTERNAL_DESCRIPTION`], whatever is given:
    /// the text of an internal failure never travels in the error (see [`Self::internal`]).
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let description = match code {
            ErrorCode::ServerError => INTERNAL_DESCRIPTION.to_owned(),
            _ => description.into(),
        };
        Self {
            code,
            description,
            retry_after: None,
        }
    }
    pub fn too_many_requests(retry_after: u64, d: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(ErrorCode::TooManyRequests, d)
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn unmet(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnmetAuthenticationRequirements, d)
    }
    /// A failure inside the server. The cause is logged here and never becomes part of the
    /// error: what a client sees (body, redirect, page, header) is the fixed description.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal failure");
        Self::new(ErrorCode::ServerError, INTERNAL_DESCRIPTION)
    }
}
