//! The Didit-compatible v3 routes (`x-api-key`). Paths end with a slash, as in the reference
//! API; the same path without it answers 301 to the slashed one.

mod standalone;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::{AppState, HttpError};
use crate::flow::didit::{ApiKeyRecord, DiditError, RateClass, RateInfo};
use crate::flow::sessions::MAX_PORTRAIT_BYTES;

/// Largest JSON body (a 2 MB portrait in base64 and the rest of a session request).
const MAX_JSON_BYTES: usize = MAX_PORTRAIT_BYTES * 2 + 256 * 1024;

pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for (path, handler) in table() {
        r = r.route(path, handler);
        // The same path without its trailing slash answers 301 to the slashed one.
        if let Some(bare) = path.strip_suffix('/') {
            r = r.route(bare, any(add_slash));
        }
    }
    r
}

/// Every v3 route: the one list the router, the slashless redirects and the test against the
/// OpenAPI document read.
fn table() -> Vec<(&'static str, axum::routing::MethodRouter<AppState>)> {
    let json_limit = DefaultBodyLimit::max(MAX_JSON_BYTES);
    let mut t = standalone::routes();
    t.extend([
        ("/v3/session/", post(create_session).layer(json_limit)),
        ("/v3/session/{id}/decision/", get(decision)),
        ("/v3/session/{id}/", get(session)),
        (
            "/v3/session/{id}/delete/",
            axum::routing::delete(delete_session),
        ),
        (
            "/v3/session/{id}/update-status/",
            axum::routing::patch(update_status),
        ),
        ("/v3/sessions/", get(list_sessions)),
        ("/v3/sessions/delete/", post(delete_sessions)),
        ("/v3/workflows/", get(list_workflows).post(create_workflow)),
        (
            "/v3/workflows/{id}/",
            get(get_workflow)
                .patch(update_workflow)
                .delete(delete_workflow),
        ),
        (
            "/v3/webhook/destinations/",
            get(list_destinations).post(create_destination),
        ),
        (
            "/v3/webhook/destinations/{id}/",
            get(get_destination)
                .patch(update_destination)
                .delete(delete_destination),
        ),
        (
            "/v3/webhook/destinations/{id}/deliveries/",
            get(list_deliveries),
        ),
        (
            "/v3/webhook/destinations/{id}/deliveries/{delivery}/",
            get(get_delivery),
        ),
        (
            "/v3/webhook/destinations/{id}/deliveries/{delivery}/resend/",
            post(resend_delivery),
        ),
        ("/v3/webhook/public-keys/", get(public_keys)),
        ("/v3/openapi.json", get(openapi)),
        ("/v3/biometric-templates/", get(list_templates)),
        ("/v3/biometric-templates/count/", get(count_templates)),
        ("/v3/biometric-templates/delete/", post(purge_templates)),
        (
            "/v3/biometric-templates/{id}/",
            get(get_template).delete(purge_template),
        ),
    ]);
    t
}

async fn add_slash(uri: axum::http::Uri) -> Response {
    let to = format!(
        "{}/{}",
        uri.path(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)], "").into_response()
}

/// `X-RateLimit-*` (and `Retry-After` when refused).
pub fn rate_headers(h: &mut HeaderMap, info: &RateInfo, refused: bool) {
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("x-ratelimit-limit", info.limit.to_string());
    set("x-ratelimit-remaining", info.remaining.to_string());
    set("x-ratelimit-reset", info.reset.to_string());
    if refused {
        set("retry-after", info.retry_after.to_string());
    }
}

fn api_key(h: &HeaderMap) -> Option<&str> {
    h.get("x-api-key").and_then(|v| v.to_str().ok())
}

fn with_rate(status: StatusCode, body: Value, info: &RateInfo) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    rate_headers(res.headers_mut(), info, false);
    res
}

fn auth(
    s: &AppState,
    h: &HeaderMap,
    class: RateClass,
) -> Result<(ApiKeyRecord, RateInfo), HttpError> {
    Ok(s.provider.authenticate_api_key(api_key(h), class)?)
}

/// A JSON body as the reference API reads it: `application/json` only (415 otherwise), an
/// empty body as `{}` where `empty_ok`.
fn read_json(h: &HeaderMap, body: &Bytes, empty_ok: bool) -> Result<Value, HttpError> {
    if body.is_empty() && empty_ok {
        return Ok(json!({}));
    }
    let ctype = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(DiditError::UnsupportedMediaType(mime).into());
    }
    serde_json::from_slice(body).map_err(|e| {
        DiditError::Invalid(json!({ "detail": format!("JSON parse error - {e}") })).into()
    })
}

fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn id_ok(id: &str) -> Result<(), HttpError> {
    if id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(DiditError::NotFound.into())
    }
}

// --- sessions ---------------------------------------------------------------------------------

async fn create_session(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::SessionCreate)?;
    let v = read_json(&h, &body, false)?;
    let p = s.provider.clone();
    // A portrait runs the biometric engine: off the async workers, bounded.
    let out = if v.get("portrait_image").is_some_and(|x| !x.is_null()) {
        s.blocking(move || Ok(p.create_session(&key, &v)?)).await?
    } else {
        p.create_session(&key, &v)?
    };
    Ok(with_rate(StatusCode::CREATED, out, &rate))
}

async fn decision(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    id_ok(&id)?;
    let sess = s.provider.get_session(&key.tenant, &id)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.decision_json(&sess),
        &rate,
    ))
}

/// `GET /v3/session/{id}/` (not in the reference spec; the unofficial SDK calls it): the
/// decision body.
async fn session(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    decision(State(s), h, Path(id)).await
}

async fn delete_session(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    let v = read_json(&h, &body, true)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.delete_session(&key.tenant, &id, &v)?,
        &rate,
    ))
}

async fn update_status(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    let v = read_json(&h, &body, false)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.update_session_status(&key, &id, &v)?,
        &rate,
    ))
}

async fn list_sessions(
    State(s): State<AppState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    let p = s.provider.clone();
    let body = tokio::task::spawn_blocking(move || p.list_sessions(&key.tenant, &query_pairs(&q)))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))??;
    Ok(with_rate(StatusCode::OK, body, &rate))
}

async fn delete_sessions(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    let v = read_json(&h, &body, false)?;
    let p = s.provider.clone();
    let out = tokio::task::spawn_blocking(move || p.delete_sessions(&key.tenant, &v))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))??;
    Ok(with_rate(StatusCode::OK, out, &rate))
}

// --- workflows --------------------------------------------------------------------------------

async fn list_workflows(State(s): State<AppState>, h: HeaderMap) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_workflows(&key.tenant)?,
        &rate,
    ))
}

async fn create_workflow(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    let v = read_json(&h, &body, false)?;
    Ok(with_rate(
        StatusCode::CREATED,
        s.provider.create_workflow(&key.tenant, &v)?,
        &rate,
    ))
}

async fn get_workflow(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    id_ok(&id)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_workflow(&key.tenant, &id)?,
        &rate,
    ))
}

async fn update_workflow(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    let v = read_json(&h, &body, false)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.update_workflow(&key.tenant, &id, &v)?,
        &rate,
    ))
}

async fn delete_workflow(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    s.provider.delete_workflow(&key.tenant, &id)?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    rate_headers(res.headers_mut(), &rate, false);
    Ok(res)
}

// --- webhook destinations and deliveries ------------------------------------------------------

async fn list_destinations(State(s): State<AppState>, h: HeaderMap) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_destinations(&key.tenant)?,
        &rate,
    ))
}

async fn create_destination(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    let v = read_json(&h, &body, false)?;
    Ok(with_rate(
        StatusCode::CREATED,
        s.provider.create_destination(&key.tenant, &v)?,
        &rate,
    ))
}

async fn get_destination(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    id_ok(&id)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_destination(&key.tenant, &id)?,
        &rate,
    ))
}

async fn update_destination(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    let v = read_json(&h, &body, false)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.update_destination(&key.tenant, &id, &v)?,
        &rate,
    ))
}

async fn delete_destination(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    s.provider.delete_destination(&key.tenant, &id)?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    rate_headers(res.headers_mut(), &rate, false);
    Ok(res)
}

async fn list_deliveries(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    id_ok(&id)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_deliveries(&key.tenant, &id)?,
        &rate,
    ))
}

async fn get_delivery(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    id_ok(&id)?;
    id_ok(&delivery)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_delivery(&key.tenant, &id, &delivery)?,
        &rate,
    ))
}

async fn resend_delivery(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    id_ok(&delivery)?;
    Ok(with_rate(
        StatusCode::ACCEPTED,
        s.provider.resend_delivery(&key.tenant, &id, &delivery)?,
        &rate,
    ))
}

/// The OpenAPI 3.1 document of this API (public).
async fn openapi(State(s): State<AppState>) -> Response {
    axum::Json(super::openapi::document(s.provider.issuer())).into_response()
}

/// The Ed25519 key webhooks are signed with (`webhook-signature: v1a,...`); public, no key.
async fn public_keys(State(s): State<AppState>) -> Response {
    axum::Json(s.provider.webhook_public_keys()).into_response()
}

// --- biometric templates ----------------------------------------------------------------------

async fn list_templates(
    State(s): State<AppState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_templates(&key.tenant, &query_pairs(&q))?,
        &rate,
    ))
}

async fn count_templates(
    State(s): State<AppState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.count_templates(&key.tenant, &query_pairs(&q))?,
        &rate,
    ))
}

async fn get_template(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Read)?;
    id_ok(&id)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_template(&key.tenant, &id)?,
        &rate,
    ))
}

async fn purge_template(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    id_ok(&id)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.purge_template(&key.tenant, &id)?,
        &rate,
    ))
}

async fn purge_templates(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (key, rate) = auth(&s, &h, RateClass::Write)?;
    let v = read_json(&h, &body, false)?;
    Ok(with_rate(
        StatusCode::OK,
        s.provider.purge_templates(&key.tenant, &v)?,
        &rate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(p: &str) -> String {
        let mut out = String::new();
        let mut skip = false;
        for c in p.chars() {
            match c {
                '{' => {
                    skip = true;
                    out.push_str("{}");
                }
                '}' => skip = false,
                _ if skip => {}
                _ => out.push(c),
            }
        }
        out
    }

    #[test]
    fn the_routes_and_the_openapi_document_name_the_same_paths() {
        let doc = super::super::openapi::document("https://inherence.example");
        let documented: std::collections::BTreeSet<String> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| shape(k))
            .collect();
        let routed: std::collections::BTreeSet<String> =
            table().iter().map(|(p, _)| shape(p)).collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routed, not documented: {undocumented:?}"
        );
        assert!(unrouted.is_empty(), "documented, not routed: {unrouted:?}");
        // The list's documented query parameters are exactly the ones it understands.
        let mut documented: Vec<&str> = doc["paths"]["/v3/sessions/"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let mut understood = crate::flow::sessions::LIST_FILTERS.to_vec();
        documented.sort_unstable();
        understood.sort_unstable();
        assert_eq!(documented, understood);
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
