//! The audit admin API (server to server, bearer token with the `audit` scope, from a client
//! configured with `audit_api = true`).
//!
//! ```text
//! GET /api/v1/audit/export?from=&to=&client=&format=jsonl|csv   a tar of the export directory
//! GET /api/v1/audit/verify                                      the stored log's report (JSON)
//! GET /api/v1/audit/keys                                        the keys that signed (JWK set)
//! ```
//!
//! The tar unpacks into `inherence-audit-export/`, which `inherence audit verify --export`
//! checks offline. Larger exports than [`MAX_API_RECORDS`] are refused: narrow the window or
//! use the CLI.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::extract::{Query, bearer};
use super::{AppState, HttpError};
use crate::flow::verdict::{AuditError, Format, Selection};

/// Most records one API export may hold (the archive is built in memory).
pub const MAX_API_RECORDS: u64 = 250_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/export", get(export_tar))
        .route("/api/v1/audit/verify", get(verify))
        .route("/api/v1/audit/keys", get(keys))
}

fn internal(e: AuditError) -> HttpError {
    match e {
        AuditError::TooLarge(_) => {
            HttpError::BadRequest(format!("{e}, or use `inherence audit export`"))
        }
        other => HttpError::Internal(other.to_string()),
    }
}

fn time(q: &crate::protocol::authorize::Params, name: &str) -> Result<Option<i64>, HttpError> {
    q.get(name)
        .map(|v| {
            crate::clock::parse_rfc3339_millis(v).ok_or_else(|| {
                HttpError::BadRequest(format!(
                    "{name}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"
                ))
            })
        })
        .transpose()
}

async fn export_tar(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, HttpError> {
    let caller = s.provider.audit_caller(bearer(&headers).as_deref())?;
    let sel = Selection {
        from_ms: time(&q, "from")?,
        to_ms: time(&q, "to")?,
        client: q.get("client").map(str::to_owned),
        // An audit client exports its own tenant's records only.
        tenant: Some(caller.tenant.to_string()),
    };
    if let (Some(f), Some(t)) = (sel.from_ms, sel.to_ms)
        && f >= t
    {
        return Err(HttpError::BadRequest("from must be before to".into()));
    }
    let format = match q.get("format").unwrap_or("jsonl") {
        "jsonl" => Format::Jsonl,
        "csv" => Format::Csv,
        other => {
            return Err(HttpError::BadRequest(format!(
                "format {other:?}: use jsonl or csv"
            )));
        }
    };
    let p = s.provider.clone();
    let tar = tokio::task::spawn_blocking(move || p.export_evidence(&sel, format, MAX_API_RECORDS))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
        .map_err(internal)?;
    tracing::info!(client = %caller.client_id, tenant = %caller.tenant, bytes = tar.len(), "audit export served");
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/x-tar"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"inherence-audit-export.tar\"",
            ),
        ],
        tar,
    )
        .into_response())
}

async fn verify(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    s.provider.audit_caller(bearer(&headers).as_deref())?;
    let p = s.provider.clone();
    let r = tokio::task::spawn_blocking(move || p.verify_evidence())
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
        .map_err(internal)?;
    Ok(axum::Json(r.to_json()).into_response())
}

async fn keys(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    s.provider.audit_caller(bearer(&headers).as_deref())?;
    Ok(axum::Json(s.provider.evidence_keys().map_err(internal)?).into_response())
}
