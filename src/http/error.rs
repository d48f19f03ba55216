//! The HTTP layer's one error type and its one mapping to responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::biometric::BiometricError;

/// Errors a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Biometric(#[from] BiometricError),
    #[error("the server is busy")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self {
            HttpError::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request", m.clone()),
            HttpError::Biometric(e) if e.is_client_error() => {
                let status = match e {
                    BiometricError::ImageTooLarge { .. } | BiometricError::TooManyPixels { .. } => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, e.code(), e.to_string())
            }
            HttpError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy", self.to_string()),
            HttpError::Biometric(_) | HttpError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Something went wrong".to_owned(),
                )
            }
        };
        (
            status,
            Json(json!({ "error": code, "error_description": description })),
        )
            .into_response()
    }
}
