//! HTTP layer: router assembly, one error type with one mapping, security headers.

mod ask_subject;
mod audit;
mod capture;
mod console;
mod demo;
mod enrol;
mod error;
pub mod extract;
mod form_post;
pub mod metrics;
mod oauth;
pub mod openapi;
pub mod serve;
mod slow_body;
pub mod v3;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::Semaphore;

pub use error::HttpError;

use crate::flow::Provider;
use crate::keys::KeyRing;

/// The JWKS document serialised for one key ring.
type JwksCache = (Arc<KeyRing>, Vec<u8>);

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub provider: Arc<Provider>,
    /// Bounds how many requests run the biometric engine at once (the rest wait, in order).
    pub analyses: Arc<Semaphore>,
    /// Permits one capture burst takes: it spreads its frames over this many threads, so two
    /// bursts at once would only share the same cores and both finish late.
    capture_permits: u32,
    /// Largest request body on upload routes (`[server] max_body_bytes`).
    max_body_bytes: usize,
    jwks: Arc<Mutex<Option<JwksCache>>>,
    /// Whether requests are counted, and where `/metrics` is served.
    metrics: metrics::MetricsEndpoint,
    /// The operator console (`[console] enabled`).
    console: Option<Arc<crate::flow::console::Console>>,
}

impl AppState {
    pub fn new(provider: Arc<Provider>, concurrent_analyses: usize, max_body_bytes: usize) -> Self {
        let permits = concurrent_analyses.max(1);
        let threads = match provider.cfg.biometric.capture_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            analyses: Arc::new(Semaphore::new(permits)),
            capture_permits: u32::try_from(threads.clamp(1, permits)).unwrap_or(1),
            max_body_bytes,
            jwks: Arc::new(Mutex::new(None)),
            metrics: metrics::MetricsEndpoint {
                enabled: true,
                on_main: false,
                token: None,
            },
            console: provider.cfg.console.enabled.then(|| {
                Arc::new(crate::flow::console::Console::new(
                    provider.clone(),
                    provider.cfg.console.clone(),
                ))
            }),
            provider,
        }
    }

    /// Sets how metrics are recorded and served (default: recorded, served on the admin
    /// listener without a token).
    pub fn with_metrics(mut self, m: metrics::MetricsEndpoint) -> Self {
        self.metrics = m;
        self
    }

    /// The JWKS document, serialised once per key ring.
    fn jwks_bytes(&self) -> Vec<u8> {
        let ring = self.provider.keys.ring();
        let mut cache = self.jwks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((r, b)) = cache.as_ref()
            && Arc::ptr_eq(r, &ring)
        {
            return b.clone();
        }
        let b = serde_json::to_vec(&ring.jwks()).unwrap_or_default();
        *cache = Some((ring, b.clone()));
        b
    }

    /// Runs CPU-heavy work (the biometric engine) off the async workers, a bounded number at
    /// a time.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
    ) -> Result<T, HttpError> {
        self.blocking_weighted(1, f).await
    }

    /// Runs blocking I/O (host-name resolution) on the blocking pool, off the async workers,
    /// without taking an analysis permit.
    pub async fn offload<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
    ) -> Result<T, HttpError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| HttpError::Internal(e.to_string()))?
    }

    /// Runs the analysis of a capture burst, which uses as many cores as its frames are
    /// spread over: it waits until that many permits are free.
    pub async fn blocking_capture<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
    ) -> Result<T, HttpError> {
        self.blocking_weighted(self.capture_permits, f).await
    }

    async fn blocking_weighted<T: Send + 'static>(
        &self,
        permits: u32,
        f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
    ) -> Result<T, HttpError> {
        let _permit = self
            .analyses
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| HttpError::Busy)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| HttpError::Internal(e.to_string()))?
    }
}

/// Builds the application router.
pub fn app(state: AppState) -> Router {
    let cfg = state.provider.cfg.clone();
    let frames_body = state.max_body_bytes;
    let r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(oauth::routes())
        .merge(capture::routes(frames_body, cfg.capture.max_preview_bytes))
        .merge(enrol::routes(cfg.biometric.limits.max_bytes))
        .merge(audit::routes())
        .merge(demo::routes())
        .merge(v3::routes());
    let r = if state.metrics.enabled && state.metrics.on_main {
        r.route("/metrics", get(metrics::scrape))
    } else {
        r
    };
    r.layer(DefaultBodyLimit::max(frames_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The router of the admin listener (`[server] admin_listen`, loopback by default): health,
/// and `/metrics` when metrics are on. Keep this listener off the public internet.
pub fn admin_app(state: AppState) -> Router {
    let r = Router::new().route("/healthz", get(|| async { "ok" }));
    let r = if state.console.is_some() {
        r.merge(console::routes())
    } else {
        r
    };
    let r = if state.metrics.enabled {
        r.route("/metrics", get(metrics::scrape))
    } else {
        r
    };
    r.layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn ready(axum::extract::State(s): axum::extract::State<AppState>) -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ready", "models": s.provider.engine.models() }))
}

async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        if !h.contains_key(&k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    res
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A minimal HTML page around `body` (which must already be escaped).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} - Inherence</title><link rel=\"stylesheet\" href=\"/static/capture.css\"></head><body><main class=\"card\">{body}</main></body></html>",
        html_escape(title)
    )
}
