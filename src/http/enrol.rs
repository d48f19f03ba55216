//! The enrolment API (server to server, bearer token with the `enrolment` scope).
//!
//! ```text
//! PUT    /api/v1/subjects/{subject}/face   body: the portrait (image/jpeg, image/png, image/webp, image/tiff)
//! GET    /api/v1/subjects/{subject}/face   enrolment metadata (never the template)
//! DELETE /api/v1/subjects/{subject}/face   erase the template
//! GET    /api/v1/subjects?after=&limit=    list
//! GET    /api/v1/subjects/count            count
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::extract::{Query, bearer};
use super::{AppState, HttpError};

pub fn routes(max_image: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/subjects/{subject}/face",
            get(get_one)
                .put(put)
                .delete(delete)
                .layer(DefaultBodyLimit::max(max_image + 4096)),
        )
        .route("/api/v1/subjects", get(list))
        .route("/api/v1/subjects/count", get(count))
}

async fn put(
    State(s): State<AppState>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let caller = s.provider.enrolment_caller(bearer(&headers).as_deref())?;
    let p = s.provider.clone();
    let info = s
        .blocking(move || {
            p.enrol_portrait(&caller, &subject, &body)
                .map_err(HttpError::from)
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(info)).into_response())
}

async fn get_one(
    State(s): State<AppState>,
    Path(subject): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = s.provider.enrolment_caller(bearer(&headers).as_deref())?;
    Ok(axum::Json(s.provider.enrolment(&caller.tenant, &subject)?).into_response())
}

async fn delete(
    State(s): State<AppState>,
    Path(subject): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = s.provider.enrolment_caller(bearer(&headers).as_deref())?;
    s.provider.erase(&caller.tenant, &subject)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, HttpError> {
    let caller = s.provider.enrolment_caller(bearer(&headers).as_deref())?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| HttpError::BadRequest("limit must be a number".into()))?,
        None => 100,
    };
    let (items, total) = s
        .provider
        .enrolments(&caller.tenant, q.get("after"), limit)?;
    let next = (items.len() == limit.clamp(1, 1000))
        .then(|| items.last().map(|i| i.subject.clone()))
        .flatten();
    Ok(
        axum::Json(json!({ "subjects": items, "count": total, "next_after": next }))
            .into_response(),
    )
}

async fn count(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    let caller = s.provider.enrolment_caller(bearer(&headers).as_deref())?;
    let (_, total) = s.provider.enrolments(&caller.tenant, None, 1)?;
    Ok(axum::Json(json!({ "count": total })).into_response())
}
