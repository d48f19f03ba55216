//! The Sessions API's handlers: typed requests in (`V3Json`, `V3Query`), typed responses out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::{Creates, Id, Key, Reads, V3Json, V3Query, Writes};
use super::with_rate;
use crate::flow::sessions::wire::{
    CreateSession, Decision, DeleteSession, DeleteSessions, ListSessions, SessionCreated,
    SessionDeleted, SessionRow, SessionsDeleted, StatusUpdated, UpdateStatus,
};
use crate::flow::wire::{ErrorBody, Page};
use crate::http::{AppState, HttpError};

#[utoipa::path(
    post,
    path = "/v3/session/",
    tag = "Sessions",
    summary = "Create a session (idempotent per vendor_data while unfinished)",
    request_body = CreateSession,
    responses(
        (status = 201, description = "Created (or the user's unfinished session)", body = SessionCreated),
        (status = 400, description = "Validation error, e.g. `{\"portrait_image\": [\"Image size exceeds 2MB.\"]}`", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn create_session(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Creates>,
    V3Json(req): V3Json<CreateSession>,
) -> Result<Response, HttpError> {
    let p = s.provider.clone();
    // A portrait runs the biometric engine: off the async workers, bounded.
    let out = if req.portrait_image.is_some() {
        s.blocking(move || Ok(p.create_session(&key, req)?)).await?
    } else {
        p.create_session(&key, req)?
    };
    Ok(with_rate(StatusCode::CREATED, out, &rate))
}

#[utoipa::path(
    get,
    path = "/v3/session/{sessionId}/decision/",
    tag = "Sessions",
    summary = "Decision of a session",
    params(("sessionId" = String, Path, description = "Session id (uuid)")),
    responses(
        (status = 200, description = "The decision", body = Decision),
        (status = 404, description = "Unknown session", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn decision(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    let sess = s.provider.get_session(&key.tenant, &id)?;
    Ok(with_rate(StatusCode::OK, s.provider.decision(&sess), &rate))
}

#[utoipa::path(
    get,
    path = "/v3/session/{sessionId}/",
    tag = "Sessions",
    summary = "Same as the decision (called by some SDKs)",
    params(("sessionId" = String, Path, description = "Session id (uuid)")),
    responses(
        (status = 200, description = "The decision", body = Decision),
        (status = 404, description = "Unknown session", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
/// `GET /v3/session/{id}/` (not in the reference spec; the unofficial SDK calls it): the
/// decision body.
pub(crate) async fn session(
    State(s): State<AppState>,
    key: Key<Reads>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    decision(State(s), key, Id(id)).await
}

#[utoipa::path(
    delete,
    path = "/v3/session/{sessionId}/delete/",
    tag = "Sessions",
    summary = "Delete a session and its biometric data",
    params(("sessionId" = String, Path, description = "Session id (uuid)")),
    request_body = Option<DeleteSession>,
    responses(
        (status = 200, description = "Deleted", body = SessionDeleted),
        (status = 400, description = "Validation error", body = ErrorBody),
        (status = 404, description = "Unknown or already deleted", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn delete_session(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
    V3Json(req): V3Json<DeleteSession>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.delete_session(&key.tenant, &id, &req)?,
        &rate,
    ))
}

#[utoipa::path(
    patch,
    path = "/v3/session/{sessionId}/update-status/",
    tag = "Sessions",
    summary = "Manual review: change a decided session's status",
    params(("sessionId" = String, Path, description = "Session id (uuid)")),
    request_body = UpdateStatus,
    responses(
        (status = 200, description = "Updated", body = StatusUpdated),
        (status = 400, description = "Not allowed from the current status", body = ErrorBody),
        (status = 404, description = "Unknown session", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn update_status(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
    V3Json(req): V3Json<UpdateStatus>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.update_session_status(&key, &id, req)?,
        &rate,
    ))
}

#[utoipa::path(
    get,
    path = "/v3/sessions/",
    tag = "Sessions",
    summary = "List sessions (newest first)",
    params(ListSessions),
    responses(
        (status = 200, description = "A page", body = Page<SessionRow>),
        (status = 400, description = "Bad or unknown filter", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn list_sessions(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    V3Query(q): V3Query<ListSessions>,
) -> Result<Response, HttpError> {
    let p = s.provider.clone();
    let body = tokio::task::spawn_blocking(move || p.list_sessions(&key.tenant, &q))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))??;
    Ok(with_rate(StatusCode::OK, body, &rate))
}

#[utoipa::path(
    post,
    path = "/v3/sessions/delete/",
    tag = "Sessions",
    summary = "Delete several sessions",
    request_body = DeleteSessions,
    responses(
        (status = 200, description = "One result per deleted session", body = SessionsDeleted),
        (status = 400, description = "Neither session_numbers nor delete_all", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn delete_sessions(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    V3Json(req): V3Json<DeleteSessions>,
) -> Result<Response, HttpError> {
    let p = s.provider.clone();
    let out = tokio::task::spawn_blocking(move || p.delete_sessions(&key.tenant, &req))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))??;
    Ok(with_rate(StatusCode::OK, out, &rate))
}
