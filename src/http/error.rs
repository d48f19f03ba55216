//! The HTTP layer's one error type and its one mapping to responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::biometric::BiometricError;
use crate::flow::didit::DiditError;
use crate::flow::error::FlowError;
use crate::protocol::{ErrorCode, OAuthError};

/// Errors a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Biometric(#[from] BiometricError),
    #[error("the portrait was refused")]
    Refused(Vec<crate::biometric::score::Risk>),
    #[error("not found")]
    NotFound,
    #[error("the upload is too large")]
    PayloadTooLarge,
    #[error("the server is busy")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
    /// The Didit-compatible v3 API, with its own documented bodies.
    #[error(transparent)]
    Didit(#[from] DiditError),
}

impl From<axum::extract::multipart::MultipartError> for HttpError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge
        } else {
            Self::BadRequest(format!("malformed upload: {}", e.body_text()))
        }
    }
}

impl From<FlowError> for HttpError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Protocol(o) => Self::OAuth(o),
            FlowError::Biometric(b) => Self::Biometric(b),
            FlowError::Refused(r) => Self::Refused(r),
            FlowError::NotFound => Self::NotFound,
            // Logged with its cause there; answered 503 `temporarily_unavailable` (500
            // `server_error` for a policy violation) with a fixed description.
            FlowError::Store(s) => Self::OAuth(crate::flow::store_err(s)),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        if let HttpError::Didit(e) = self {
            return didit_response(e);
        }
        let (status, body) = match &self {
            HttpError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_request", "error_description": m }),
            ),
            HttpError::OAuth(e) => {
                if e.code == ErrorCode::ServerError {
                    tracing::error!(error = %e, "request failed");
                }
                let status =
                    StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
                // Internal failures are described the same way whatever their cause.
                let description = if e.code == ErrorCode::ServerError {
                    crate::protocol::errors::INTERNAL_DESCRIPTION
                } else {
                    e.description.as_str()
                };
                (
                    status,
                    json!({ "error": e.code.as_str(), "error_description": description }),
                )
            }
            HttpError::Biometric(e) if e.is_client_error() => {
                let status = match e {
                    BiometricError::ImageTooLarge { .. } | BiometricError::TooManyPixels { .. } => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                (
                    status,
                    json!({ "error": e.code(), "error_description": e.to_string() }),
                )
            }
            HttpError::Refused(risks) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "enrolment_refused", "error_description": "the portrait does not meet the enrolment requirements", "reasons": risks }),
            ),
            HttpError::NotFound => (
                StatusCode::NOT_FOUND,
                json!({ "error": "not_found", "error_description": "not found" }),
            ),
            HttpError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": "invalid_request", "error_description": "the upload is too large" }),
            ),
            HttpError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "temporarily_unavailable", "error_description": "the server is busy" }),
            ),
            HttpError::Biometric(_) | HttpError::Internal(_) | HttpError::Didit(_) => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "server_error", "error_description": "Something went wrong" }),
                )
            }
        };
        let mut res = (status, Json(body)).into_response();
        if let HttpError::OAuth(e) = &self
            && let Some(secs) = e.retry_after
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let HttpError::OAuth(e) = &self {
            let challenge = match e.code {
                ErrorCode::InvalidClient => Some("Basic realm=\"inherence\"".to_owned()),
                ErrorCode::InvalidToken | ErrorCode::InsufficientUserAuthentication => {
                    Some(format!(
                        "Bearer error=\"{}\", error_description=\"{}\"",
                        e.code.as_str(),
                        e.description.replace('"', "'")
                    ))
                }
                _ => None,
            };
            if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, c);
            }
        }
        res
    }
}

/// The v3 API's documented error shapes: 403 `{"detail": ...}` for any authentication failure,
/// 400 DRF field errors, 404 `{"detail": "Not found."}`, 429 with `Retry-After` and
/// `X-RateLimit-*`.
fn didit_response(e: DiditError) -> Response {
    match e {
        DiditError::Forbidden => (
            StatusCode::FORBIDDEN,
            Json(json!({ "detail": "You do not have permission to perform this action." })),
        )
            .into_response(),
        DiditError::Invalid(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
        DiditError::UnsupportedMediaType(t) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({ "detail": format!("Unsupported media type \"{t}\" in request.") })),
        )
            .into_response(),
        DiditError::NotFound => (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": "Not found." })),
        )
            .into_response(),
        DiditError::RateLimited(info) => {
            let detail = if info.class == crate::flow::didit::RateClass::SessionCreate {
                format!(
                    "Session creation rate limit exceeded. You can make up to {} requests per minute.",
                    info.limit
                )
            } else {
                "Request was throttled.".to_owned()
            };
            let mut res = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "detail": detail })),
            )
                .into_response();
            super::v3::rate_headers(res.headers_mut(), &info, true);
            res
        }
        DiditError::Unavailable(m) => {
            tracing::error!(error = %m, "v3 request failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "detail": "Service temporarily unavailable, try again later." })),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod exposure_tests {
    use super::*;
    use crate::protocol::authorize::ResponseType;
    use crate::store::StoreError;

    const CAUSE: &str = "redis://:hunter2@10.0.0.5:6379 connection refused";

    async fn body(e: HttpError) -> (u16, String) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let headers = format!("{:?}", r.headers());
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, format!("{headers} {}", String::from_utf8_lossy(&b)))
    }

    /// The one mapping decides what is exposed: no internal cause reaches a response, by
    /// whichever layer's error it travelled.
    #[tokio::test]
    async fn internal_error_text_never_reaches_a_response() {
        let store = || StoreError::Unavailable(CAUSE.into());
        let cases = [
            HttpError::OAuth(OAuthError::internal(&CAUSE)),
            HttpError::OAuth(crate::flow::store_err(store())),
            // A server_error built with a cause in its description is still described
            // generically.
            HttpError::OAuth(OAuthError::new(ErrorCode::ServerError, CAUSE)),
            HttpError::Internal(CAUSE.into()),
            HttpError::Biometric(BiometricError::Runtime(CAUSE.into())),
            HttpError::Didit(DiditError::from(store())),
            HttpError::Didit(DiditError::Unavailable(CAUSE.into())),
            HttpError::from(FlowError::Store(store())),
            HttpError::from(FlowError::Store(StoreError::Policy(CAUSE.into()))),
            HttpError::from(FlowError::Biometric(BiometricError::Runtime(CAUSE.into()))),
        ];
        for e in cases {
            let label = format!("{e:?}");
            let (status, text) = body(e).await;
            assert!(status >= 500, "{label}: {status}");
            assert!(
                !text.contains("hunter2") && !text.contains("10.0.0.5"),
                "{label}: {text}"
            );
        }
        // The other ways an OAuth error leaves the server (an error redirect, the error page,
        // a WWW-Authenticate header) read the error's own description, which is fixed for
        // server errors however it was built.
        for e in [
            OAuthError::new(ErrorCode::ServerError, CAUSE),
            OAuthError::internal(&CAUSE),
        ] {
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
            for rt in [ResponseType::Code, ResponseType::IdToken] {
                let to = format!(
                    "{:?}",
                    crate::flow::authorize::error_reply(
                        rt,
                        "https://rp.example/cb",
                        Some("s"),
                        &e,
                        "https://op.example",
                    )
                );
                assert!(!to.contains("hunter2") && !to.contains("10.0.0.5"), "{to}");
            }
        }
    }
}
