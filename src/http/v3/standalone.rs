//! Standalone face match and passive liveness (multipart), saved as API sessions when
//! `save_api_request` is true (the default).

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::MethodRouter;
use axum::routing::post;
use serde_json::Value;

use super::{api_key, with_rate};
use crate::flow::didit::{
    DEFAULT_THRESHOLD, DiditError, MAX_IMAGE_BYTES, RateClass, StandaloneOptions,
};
use crate::flow::wire::{ErrorBody, FaceMatchResult, LivenessResult};
use crate::http::{AppState, HttpError};

/// The standalone checks' routes (path, handler), registered by the v3 route table.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let body = 2 * MAX_IMAGE_BYTES + 64 * 1024;
    vec![
        (
            "/v3/face-match/",
            post(face_match).layer(DefaultBodyLimit::max(body)),
        ),
        (
            "/v3/passive-liveness/",
            post(passive_liveness).layer(DefaultBodyLimit::max(body)),
        ),
    ]
}

/// Multipart form of a standalone check.
#[derive(Default)]
struct Form {
    user_image: Option<Vec<u8>>,
    ref_image: Option<Vec<u8>>,
    threshold: Option<f64>,
    save_api_request: Option<bool>,
    vendor_data: Option<String>,
    metadata: Option<Value>,
}

fn parse_bool(field: &str, v: &str) -> Result<bool, DiditError> {
    match v.trim() {
        "true" | "True" | "TRUE" | "1" | "on" | "yes" => Ok(true),
        "false" | "False" | "FALSE" | "0" | "off" | "no" => Ok(false),
        _ => Err(DiditError::field(field, "Must be a valid boolean.")),
    }
}

type MaybeMultipart = Result<Multipart, axum::extract::multipart::MultipartRejection>;

async fn read_form(
    headers: &HeaderMap,
    mp: MaybeMultipart,
    threshold_field: &str,
) -> Result<Form, HttpError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Ok(mut mp) = mp else {
        return Err(DiditError::UnsupportedMediaType(
            ctype.split(';').next().unwrap_or("").to_owned(),
        )
        .into());
    };
    let mut f = Form::default();
    while let Some(field) = mp.next_field().await.map_err(|e| {
        DiditError::detail(format!("Multipart form parse error - {}", e.body_text()))
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                DiditError::field(
                    &name,
                    format!("Image size exceeds {}MB.", MAX_IMAGE_BYTES >> 20),
                )
            } else {
                DiditError::detail(format!("Multipart form parse error - {}", e.body_text()))
            }
        })?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "user_image" | "ref_image" => {
                if bytes.is_empty() {
                    return Err(DiditError::field(&name, "The submitted file is empty.").into());
                }
                if bytes.len() > MAX_IMAGE_BYTES {
                    return Err(DiditError::field(
                        &name,
                        format!("Image size exceeds {}MB.", MAX_IMAGE_BYTES >> 20),
                    )
                    .into());
                }
                if name == "user_image" {
                    f.user_image = Some(bytes.to_vec());
                } else {
                    f.ref_image = Some(bytes.to_vec());
                }
            }
            n if n == threshold_field => {
                let v: f64 = text()
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| DiditError::field(n, "A valid number is required."))?;
                if v < 0.0 {
                    return Err(DiditError::field(
                        n,
                        "Ensure this value is greater than or equal to 0.",
                    )
                    .into());
                }
                if v > 100.0 {
                    return Err(DiditError::field(
                        n,
                        "Ensure this value is less than or equal to 100.",
                    )
                    .into());
                }
                f.threshold = Some(v);
            }
            "save_api_request" => f.save_api_request = Some(parse_bool(&name, &text())?),
            "rotate_image" => {
                parse_bool(&name, &text())?;
            }
            "vendor_data" => {
                let v = text();
                if !crate::tenant::check_subject(&v) {
                    return Err(DiditError::field(
                        "vendor_data",
                        "Ensure this field has 1 to 255 bytes and no control characters.",
                    )
                    .into());
                }
                f.vendor_data = Some(v);
            }
            "metadata" => {
                f.metadata = Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|_| DiditError::field("metadata", "Value must be valid JSON."))?,
                )
            }
            // Fields the reference API does not define are ignored, as it does.
            _ => {}
        }
    }
    Ok(f)
}

/// The form of `POST /v3/face-match/` (for the OpenAPI document; read by [`read_form`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct FaceMatchForm {
    /// The live selfie: JPEG, PNG, WebP or TIFF, at most 5 MB.
    #[schema(value_type = String, format = Binary)]
    user_image: Vec<u8>,
    /// The reference face, same formats.
    #[schema(value_type = String, format = Binary)]
    ref_image: Vec<u8>,
    /// Approved when the score is strictly above it (default 30).
    #[schema(minimum = 0, maximum = 100)]
    face_match_score_decline_threshold: Option<f64>,
    /// Accepted; images are evaluated as sent.
    rotate_image: Option<bool>,
    /// Save the check as an API session (default true).
    save_api_request: Option<bool>,
    vendor_data: Option<String>,
    /// JSON text.
    metadata: Option<String>,
}

/// The form of `POST /v3/passive-liveness/`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct PassiveLivenessForm {
    /// JPEG, PNG, WebP or TIFF, at most 5 MB.
    #[schema(value_type = String, format = Binary)]
    user_image: Vec<u8>,
    /// Declined at or below it (default 30).
    #[schema(minimum = 0, maximum = 100)]
    face_liveness_score_decline_threshold: Option<f64>,
    rotate_image: Option<bool>,
    save_api_request: Option<bool>,
    vendor_data: Option<String>,
    /// JSON text.
    metadata: Option<String>,
}

fn options(f: &Form) -> StandaloneOptions {
    StandaloneOptions {
        threshold: f.threshold.unwrap_or(DEFAULT_THRESHOLD),
        save_api_request: f.save_api_request.unwrap_or(true),
        vendor_data: f.vendor_data.clone(),
        metadata: f.metadata.clone(),
    }
}

#[utoipa::path(
    post,
    path = "/v3/face-match/",
    tag = "Standalone",
    summary = "1:1 face match of two images",
    request_body(content = FaceMatchForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Result", body = FaceMatchResult),
        (status = 400, description = "Validation error", body = ErrorBody),
        (status = 415, description = "Not multipart", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn face_match(
    State(s): State<AppState>,
    headers: HeaderMap,
    mp: MaybeMultipart,
) -> Result<Response, HttpError> {
    let (key, rate) = s
        .provider
        .authenticate_api_key(api_key(&headers), RateClass::Write)?;
    let f = read_form(&headers, mp, "face_match_score_decline_threshold").await?;
    let required = "This field is required.";
    let (user, reference) = match (&f.user_image, &f.ref_image) {
        (Some(u), Some(r)) => (u.clone(), r.clone()),
        (None, _) => return Err(DiditError::field("user_image", required).into()),
        (_, None) => return Err(DiditError::field("ref_image", required).into()),
    };
    let opt = options(&f);
    let p = s.provider.clone();
    let body = s
        .blocking(move || {
            let body = p.standalone_face_match(&user, &reference, &opt)?;
            if opt.save_api_request {
                p.save_face_match_session(&key, &body)?;
            }
            Ok(body)
        })
        .await?;
    Ok(with_rate(StatusCode::OK, body, &rate))
}

#[utoipa::path(
    post,
    path = "/v3/passive-liveness/",
    tag = "Standalone",
    summary = "Passive liveness of one image",
    request_body(content = PassiveLivenessForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Result", body = LivenessResult),
        (status = 400, description = "Validation error", body = ErrorBody),
        (status = 415, description = "Not multipart", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn passive_liveness(
    State(s): State<AppState>,
    headers: HeaderMap,
    mp: MaybeMultipart,
) -> Result<Response, HttpError> {
    let (key, rate) = s
        .provider
        .authenticate_api_key(api_key(&headers), RateClass::Write)?;
    let f = read_form(&headers, mp, "face_liveness_score_decline_threshold").await?;
    let user = f
        .user_image
        .clone()
        .ok_or_else(|| DiditError::field("user_image", "This field is required."))?;
    let opt = options(&f);
    let p = s.provider.clone();
    let body = s
        .blocking(move || {
            let body = p.standalone_passive_liveness(&user, &opt)?;
            if opt.save_api_request {
                p.save_liveness_session(&key, &body)?;
            }
            Ok(body)
        })
        .await?;
    Ok(with_rate(StatusCode::OK, body, &rate))
}
