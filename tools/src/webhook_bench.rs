//! Webhook figures for `inherence-tools loadtest`, measured in this process on the real parts: a
//! durable outbox in a fresh embedded store, the delivery worker, and a receiver on loopback
//! that verifies `X-Signature` on every delivery.
//!
//! 1. sign + enqueue: for each event, the time to queue it durably for its destination plus the
//!    time to sign one attempt (canonical JSON, three HMACs, Standard Webhooks signature);
//! 2. dispatch: with every event queued, the worker starts; deliveries/s until the receiver has
//!    acknowledged them all.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use inherence::cli::Failure;
use inherence::clock::{Clock, SystemClock};
use inherence::store::Store;
use inherence::store::embedded::EmbeddedStore;
use inherence::webhook::WebhookSettings;
use inherence::webhook::outbox::Outbox;
use inherence::webhook::signature::{self, Scheme};
use inherence::webhook::{destinations, worker};

pub struct WebhookBench {
    pub events: usize,
    pub concurrency: usize,
    pub sign_enqueue_p50_ms: f64,
    pub sign_enqueue_p99_ms: f64,
    pub enqueue_p99_ms: f64,
    pub deliveries_per_s: f64,
    pub verified: usize,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::runtime(e.to_string())
}

#[derive(Clone)]
struct Rx {
    secret: Arc<Mutex<String>>,
    accepted: Arc<AtomicUsize>,
}

async fn receive(
    axum::extract::State(rx): axum::extract::State<Rx>,
    h: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let secret = rx.secret.lock().map(|s| s.clone()).unwrap_or_default();
    let sig = h
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ts = h.get("x-timestamp").and_then(|v| v.to_str().ok());
    match signature::verify(&body, &secret, Scheme::Raw, sig, ts, SystemClock.now_secs()) {
        Ok(_) => {
            rx.accepted.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::OK
        }
        Err(_) => axum::http::StatusCode::UNAUTHORIZED,
    }
}

pub fn run(n: usize, dir: &Path) -> Result<WebhookBench, Failure> {
    let n = n.max(1);
    std::fs::create_dir_all(dir).map_err(fail)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    let rx = Rx {
        secret: Arc::default(),
        accepted: Arc::default(),
    };
    let url = rt.block_on(async {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(fail)?;
        let addr = listener.local_addr().map_err(fail)?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok::<_, Failure>(format!("http://{addr}/hook"))
    })?;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Store = Arc::new(EmbeddedStore::open(dir, clock.clone()).map_err(fail)?);
    let now = clock.now_secs();
    // The receiver is on loopback, which destinations refuse unless allowed.
    let cfg = WebhookSettings {
        poll_interval_ms: 50,
        allow_private_networks: true,
        ..WebhookSettings::default()
    };
    let dest = destinations::create(
        &*store,
        &Default::default(),
        &inherence::webhook::wire::DestinationBody {
            label: Some("bench".into()),
            url: Some(url.clone()),
            ..Default::default()
        },
        inherence::ids::uuid_v4(),
        inherence::flow::random_token(32),
        &cfg,
        now,
    )
    .map_err(fail)?;
    if let Ok(mut s) = rx.secret.lock() {
        *s = dest.secret_shared_key.expose().to_owned();
    }
    let concurrency = cfg.concurrency;
    let outbox = Arc::new(Outbox::new(store.clone(), clock.clone(), cfg));

    let mut total = Vec::with_capacity(n);
    let mut enqueue = Vec::with_capacity(n);
    for i in 0..n {
        let session = inherence::ids::uuid_v4();
        let payload = json!({
            "event_id": inherence::ids::uuid_v4(),
            "webhook_type": "status.updated",
            "created_at": now,
            "application_id": "11111111-2222-3333-4444-555555555555",
            "environment": "live",
            "session_id": session,
            "status": "Approved",
            "workflow_id": "22222222-3333-4444-5555-666666666666",
            "workflow_version": 1,
            "vendor_data": format!("user-{i}"),
            "metadata": {"login_attempt": "2"},
            "decision": {
                "session_id": session,
                "status": "Approved",
                "features": ["LIVENESS", "FACE_MATCH"],
                "liveness_checks": [{"node_id": "feature_liveness_1", "status": "Approved", "method": "PASSIVE", "score": 95.4, "face_quality": 88.25, "face_luminance": 52.0, "matches": [], "warnings": []}],
                "face_matches": [{"node_id": "feature_face_match_1", "status": "Approved", "score": 92.15, "source_image_session_id": session, "warnings": []}],
                "reviews": [],
            },
        });
        let t0 = Instant::now();
        let ids = outbox
            .enqueue(&Default::default(), &payload)
            .map_err(fail)?;
        let t1 = Instant::now();
        let d = outbox
            .get(&ids[0])
            .map_err(fail)?
            .ok_or_else(|| fail("queued delivery missing"))?;
        let t2 = Instant::now();
        let sent = worker::prepare(&d, &dest, clock.now_secs(), None);
        let t3 = Instant::now();
        std::hint::black_box(sent);
        enqueue.push((t1 - t0).as_secs_f64() * 1000.0);
        total.push(((t1 - t0) + (t3 - t2)).as_secs_f64() * 1000.0);
    }

    let started = Instant::now();
    let accepted = rx.accepted.clone();
    let worker_task = rt.spawn(worker::run(outbox.clone(), None));
    let done = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(300);
        while accepted.load(Ordering::SeqCst) < n {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    });
    let elapsed = started.elapsed().as_secs_f64();
    worker_task.abort();
    if !done {
        return Err(fail(format!(
            "only {} of {n} webhooks were delivered in 300 s",
            accepted.load(Ordering::SeqCst)
        )));
    }
    let pct = |v: &[f64], q| inherence::eval::metrics::percentile(v, q).unwrap_or(f64::NAN);
    Ok(WebhookBench {
        events: n,
        concurrency,
        sign_enqueue_p50_ms: pct(&total, 50.0),
        sign_enqueue_p99_ms: pct(&total, 99.0),
        enqueue_p99_ms: pct(&enqueue, 99.0),
        deliveries_per_s: n as f64 / elapsed,
        verified: accepted.load(Ordering::SeqCst),
    })
}
