//! The Didit-compatible v3 routes (`x-api-key`). Paths end with a slash, as in the reference
//! API; the same path without it answers 301 to the slashed one.

mod extract;
pub(crate) mod resources;
pub(crate) mod sessions;
pub(crate) mod standalone;

use resources::{
    count_templates, create_destination, create_workflow, delete_destination, delete_workflow,
    get_delivery, get_destination, get_template, get_workflow, list_deliveries, list_destinations,
    list_templates, list_workflows, public_keys, purge_template, purge_templates, resend_delivery,
    update_destination, update_workflow,
};
use sessions::{
    create_session, decision, delete_session, delete_sessions, list_sessions, session,
    update_status,
};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use super::AppState;
use crate::flow::didit::RateInfo;
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

pub(crate) fn with_rate<T: serde::Serialize>(
    status: StatusCode,
    body: T,
    info: &RateInfo,
) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    rate_headers(res.headers_mut(), info, false);
    res
}

/// The OpenAPI 3.1 document of this API (public).
#[utoipa::path(
    get,
    path = "/v3/openapi.json",
    tag = "Meta",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")),
)]
pub(crate) async fn openapi(State(s): State<AppState>) -> Response {
    axum::Json(super::openapi::document(s.provider.issuer())).into_response()
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
        let doc =
            serde_json::to_value(super::super::openapi::document("https://inherence.example"))
                .unwrap();
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
        // Every documented query is exactly the one its parser reads (serde names the fields it
        // accepts when refusing an unknown one).
        let parsed = |q: Result<(), crate::flow::didit::DiditError>| -> Vec<String> {
            match q {
                Err(crate::flow::didit::DiditError::Invalid(p)) => p.messages("zzz")[0]
                    .trim_start_matches("Unknown parameter. Supported: ")
                    .trim_end_matches('.')
                    .split(", ")
                    .map(str::to_owned)
                    .collect(),
                other => panic!("{other:?}"),
            }
        };
        let lists = [
            (
                "/v3/sessions/",
                parsed(
                    extract::query_string::<crate::flow::sessions::wire::ListSessions>("zzz=1")
                        .map(|_| ()),
                ),
            ),
            (
                "/v3/biometric-templates/",
                parsed(
                    extract::query_string::<crate::flow::templates::TemplateQuery>("zzz=1")
                        .map(|_| ()),
                ),
            ),
        ];
        for (path, mut understood) in lists {
            let mut documented: Vec<String> = doc["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            documented.sort_unstable();
            understood.sort_unstable();
            assert_eq!(documented, understood, "{path}");
            assert!(understood.len() >= 8, "{path}: {understood:?}");
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
