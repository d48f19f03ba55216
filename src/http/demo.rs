//! The verification demo: a page that sends a reference portrait and a probe photo to the
//! engine and shows the verdict. Images are processed in memory and not stored.

use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use serde_json::json;

use super::{AppState, HttpError};
use crate::biometric::Want;
use crate::biometric::score::{Risk, Status};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/demo",
            get(|| async { Html(include_str!("../web/demo.html")) }),
        )
        .route(
            "/static/demo.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    include_str!("../web/demo.js"),
                )
            }),
        )
        .route("/demo/verify", post(verify))
}

async fn read_parts(mut mp: Multipart) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
    let (mut reference, mut probe) = (None, None);
    while let Some(field) = mp.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await?;
        match name.as_str() {
            "reference" => reference = Some(bytes.to_vec()),
            "probe" => probe = Some(bytes.to_vec()),
            other => return Err(HttpError::BadRequest(format!("unexpected field {other:?}"))),
        }
    }
    match (reference, probe) {
        (Some(r), Some(p)) => Ok((r, p)),
        _ => Err(HttpError::BadRequest(
            "send two files: reference and probe".into(),
        )),
    }
}

async fn verify(State(s): State<AppState>, mp: Multipart) -> Result<impl IntoResponse, HttpError> {
    let (reference, probe) = read_parts(mp).await?;
    let engine = s.provider.engine.clone();
    let (r, p, m) = s
        .blocking(move || {
            let r = engine.analyze(
                &reference,
                Want {
                    embedding: true,
                    liveness: false,
                },
            )?;
            let p = engine.analyze(&probe, Want::ALL)?;
            let m = match (
                engine.template_from(&r),
                p.face.as_ref().and_then(|f| f.embedding.as_deref()),
            ) {
                (Some(t), Some(e)) => Some(engine.compare(&t, e)?),
                _ => None,
            };
            Ok((r, p, m))
        })
        .await?;
    let liveness = p.face.as_ref().and_then(|f| f.liveness.clone());
    let approved = m.as_ref().is_some_and(|m| m.status == Status::Approved)
        && liveness
            .as_ref()
            .is_some_and(|l| l.verdict.status == Status::Approved);
    let mut warnings = Vec::new();
    if r.face.is_none() {
        warnings.push(Risk::NoReferenceImage.warning());
    }
    warnings.extend(m.iter().flat_map(|m| m.risks.iter().map(|r| r.warning())));
    warnings.extend(p.warnings.iter().cloned());
    Ok(axum::Json(json!({
        "status": if approved { Status::Approved } else { Status::Declined },
        "face_match": m,
        "liveness": liveness,
        "warnings": warnings,
        "timings_ms": { "reference": r.timings, "probe": p.timings },
    })))
}
