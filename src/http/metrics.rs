//! Request metrics and spans, and the `/metrics` endpoint.
//!
//! Every request runs in a `request` span carrying its method, route template and, on the
//! routes that name one, the flow or session id (`/capture/{id}`, `/v3/session/{id}/...`), so
//! every log line of the request can be tied to its flow. Secrets in paths (the hand-off
//! link's `/session/{token}`) are never recorded. With metrics on, the request is counted and
//! timed under its route template.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use super::AppState;
use crate::secret::Secret;

/// How this server exposes its metrics.
#[derive(Clone, Debug, Default)]
pub struct MetricsEndpoint {
    /// Count and time requests (and serve `/metrics` on the admin listener).
    pub enabled: bool,
    /// Serve `/metrics` on the public listener too (a token is then required).
    pub on_main: bool,
    /// The bearer token scrapers must send (required on the public listener).
    pub token: Option<Arc<Secret>>,
}

/// The route parameter that names a flow or a session; others (the hand-off token) are secret
/// or meaningless in a log.
const ID_PARAM: &str = "{id}";

/// The value of the `{id}` parameter of `path` matched by `template` (at most 64 bytes).
fn path_id<'a>(template: &str, path: &'a str) -> Option<&'a str> {
    let at = template.split('/').position(|seg| seg == ID_PARAM)?;
    let v = path.split('/').nth(at)?;
    let end = v
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&e| e <= 64)
        .last()
        .unwrap_or(0);
    Some(&v[..end])
}

/// Middleware: the request's span, and (with metrics on) its count and latency.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", |m| m.as_str());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        id = tracing::field::Empty
    );
    if !span.is_disabled()
        && let Some(id) = matched
            .as_ref()
            .and_then(|m| path_id(m.as_str(), req.uri().path()))
    {
        span.record("id", id);
    }
    let t = Instant::now();
    let res = next.run(req).instrument(span).await;
    if s.metrics.enabled {
        s.provider.metrics.http(
            route,
            method.as_str(),
            res.status().as_u16(),
            t.elapsed().as_secs_f64(),
        );
    }
    res
}

/// `GET /metrics`: the Prometheus exposition, behind the bearer token when one is set.
pub async fn scrape(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.metrics.token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !sent.is_some_and(|t| token.matches(t)) {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return r;
        }
    }
    s.provider.refresh_gauges();
    let text = s.provider.metrics.render();
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::path_id;

    #[test]
    fn only_the_id_parameter_is_taken_from_the_path() {
        assert_eq!(
            path_id("/capture/{id}/frames", "/capture/abc/frames"),
            Some("abc")
        );
        assert_eq!(path_id("/v3/session/{id}/", "/v3/session/42/"), Some("42"));
        assert_eq!(path_id("/session/{token}", "/session/secret"), None);
        assert_eq!(path_id("/token", "/token"), None);
        let long = format!("/capture/{}", "x".repeat(300));
        assert_eq!(path_id("/capture/{id}", &long).unwrap().len(), 64);
        // A multi-byte character across the limit is cut before it, not kept whole.
        let wide = format!("/capture/{}{}", "x".repeat(63), "é".repeat(100));
        assert_eq!(path_id("/capture/{id}", &wide).unwrap(), "x".repeat(63));
    }
}
