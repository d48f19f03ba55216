//! `inherence serve`: the OpenID provider, capture page, enrolment API and demo.

use std::sync::Arc;
use std::time::Duration;

use super::{Failure, load_engine};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::flow::Provider;
use crate::http::metrics::MetricsEndpoint;
use crate::http::{AppState, admin_app, app};
use crate::keys::KeyManager;
use crate::store::Store;

/// Everything `serve` builds before it listens (also used by the conformance tests).
pub fn build_provider(
    cfg: &Config,
    engine: Arc<dyn crate::biometric::FaceEngine>,
    clock: Arc<dyn Clock>,
) -> Result<Arc<Provider>, Failure> {
    let opened = crate::store::open_sealed(&cfg.store, clock.clone(), &crate::namespaces())
        .map_err(|e| {
            Failure::runtime(match cfg.store.backend {
                crate::store::StoreBackend::Embedded => {
                    format!("cannot open the store at {}: {e}", cfg.store.path.display())
                }
                crate::store::StoreBackend::Redis => format!("cannot use Redis: {e}"),
            })
        })?;
    if opened.generated_key
        || cfg.store.encryption_keys.is_empty() && cfg.store.encryption_key_file.is_none()
    {
        tracing::warn!(
            "DEV SETTING: biometric templates are sealed with a key kept in {}; set store.encryption_keys or store.encryption_key_file before production",
            cfg.store.path.join("template.key").display()
        );
    }
    // Values sealed under an older key (or, in the embedded store, stored before encryption)
    // are resealed in the background under the active one.
    let sealer = opened.sealer.clone();
    std::thread::spawn(move || match sealer.reseal() {
        Ok((0, 0)) => {}
        Ok((n, skipped)) => tracing::info!(
            resealed = n,
            unreadable = skipped,
            "biometric data resealed under the active key"
        ),
        Err(e) => tracing::error!(error = %e, "resealing biometric data failed"),
    });
    let metrics = Arc::new(crate::metrics::Metrics::new());
    // With metrics on, every store call is timed (the wrapper changes nothing else).
    let store: Store = if cfg.metrics.enabled {
        crate::store::metered::MeteredKv::wrap(opened.store, metrics.clone())
    } else {
        opened.store
    };
    let host = url::Url::parse(&cfg.oidc.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    let (keys, generated) = KeyManager::open(store.clone(), clock.clone(), cfg.keys.clone(), &host)
        .map_err(|e| Failure::runtime(format!("signing keys: {e}")))?;
    if generated {
        tracing::warn!(
            "DEV SETTING: signing keys were generated and are stored unencrypted in {}; \
             protect that directory, or provision keys before production",
            cfg.store.path.display()
        );
    }
    for w in cfg.dev_warnings() {
        tracing::warn!("DEV SETTING: {w}");
    }
    let provider = Provider::new(
        Arc::new(cfg.flow()),
        store,
        Arc::new(keys),
        engine,
        clock,
        metrics,
    )
    .map_err(|e| Failure::runtime(format!("audit signing key: {e}")))?;
    Ok(Arc::new(provider))
}

pub fn run(cfg: Config) -> Result<(), Failure> {
    let (_rt, engine) = load_engine(&cfg)?;
    let permits = match cfg.server.max_concurrent_analyses {
        0 => cfg.runtime.effective_concurrency(),
        n => n,
    };
    let listen = cfg.server.listen.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = build_provider(&cfg, Arc::new(engine), clock)?;
    let state = AppState::new(provider.clone(), permits, cfg.server.max_body_bytes)
        .with_metrics(metrics_endpoint(&cfg)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| Failure::runtime(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        // Key rotation and promotion.
        let keys = provider.keys.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = keys.tick() {
                    tracing::error!(error = %e, "key maintenance failed");
                }
            }
        });
        crate::flow::spawn_background(&provider);
        eprintln!(
            "Inherence is listening on http://{addr} (issuer {}); Ctrl-C stops it.",
            provider.issuer()
        );
        let limits = cfg.server.limits.clone();
        if !cfg.server.admin_listen.trim().is_empty()
            && (cfg.metrics.enabled || cfg.console.enabled)
        {
            let admin = &cfg.server.admin_listen;
            let l = tokio::net::TcpListener::bind(admin).await.map_err(|e| {
                Failure::runtime(format!(
                    "cannot listen on {admin} (server.admin_listen): {e}"
                ))
            })?;
            let addr = l
                .local_addr()
                .map_err(|e| Failure::runtime(e.to_string()))?;
            eprintln!(
                "Admin listener (/metrics) on http://{addr}; keep it off the public internet."
            );
            let (router, limits) = (admin_app(state.clone()), limits.clone());
            tokio::spawn(async move {
                let stop = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                if let Err(e) = crate::http::serve::serve(l, router, limits, stop).await {
                    tracing::error!(error = %e, "the admin listener stopped");
                }
            });
        }
        crate::http::serve::serve(listener, app(state), limits, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Failure::runtime(e.to_string()))
    })
}

/// How `/metrics` is served, from `[metrics]` (the token file is read here, once).
pub fn metrics_endpoint(cfg: &Config) -> Result<MetricsEndpoint, Failure> {
    let token = cfg
        .metrics
        .load_token()
        .map_err(Failure::usage)?
        .map(Arc::new);
    Ok(MetricsEndpoint {
        enabled: cfg.metrics.enabled,
        on_main: cfg.metrics.listener == crate::metrics::MetricsListener::Main,
        token,
    })
}
