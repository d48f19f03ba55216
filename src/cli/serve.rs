//! `inherence serve`.

use std::sync::Arc;

use super::{Failure, load_engine};
use crate::config::Config;
use crate::http::{AppState, app};

pub fn run(cfg: Config) -> Result<(), Failure> {
    let (rt, engine) = load_engine(&cfg)?;
    let permits = match cfg.server.max_concurrent_analyses {
        0 => cfg.runtime.effective_concurrency(),
        n => n,
    };
    let state = AppState {
        engine: Arc::new(engine),
        analyses: Arc::new(tokio::sync::Semaphore::new(permits)),
        max_body_bytes: cfg.server.max_body_bytes,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
            .await
            .map_err(|e| {
                Failure::runtime(format!("cannot listen on {}: {e}", cfg.server.listen))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        tracing::info!(onnxruntime = %rt.library().display(), "models verified and loaded");
        eprintln!("Inherence is listening on http://{addr}/ (verification demo); Ctrl-C stops it.");
        axum::serve(listener, app(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Failure::runtime(e.to_string()))
    })
}
