//! The delivery worker: claims due deliveries from the outbox, signs each attempt afresh (body
//! `timestamp`, `X-Timestamp`, the three Didit signatures, Standard Webhooks headers) and posts
//! it, a bounded number at a time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::Ed25519KeyPair;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::destinations::{self, Destination};
use super::outbox::{Attempt, Delivery, Outbox, SentRequest};
use super::signature;

pub const USER_AGENT: &str = concat!("Inherence-Webhook/", env!("CARGO_PKG_VERSION"));

/// Builds the headers and body of one attempt.
pub fn prepare(
    d: &Delivery,
    dest: &Destination,
    now: i64,
    ed25519: Option<&Ed25519KeyPair>,
) -> SentRequest {
    let mut payload: Value = d.payload.clone();
    payload["timestamp"] = Value::from(now);
    let signed = signature::sign(&payload, dest.secret_shared_key.expose());
    let standard = signature::standard_signature(
        &d.event_id,
        now,
        &signed.body,
        &dest.signing_secrets(now),
        ed25519,
    );
    SentRequest {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), USER_AGENT.into()),
            ("X-Signature".into(), signed.x_signature),
            ("X-Signature-V2".into(), signed.x_signature_v2),
            ("X-Signature-Simple".into(), signed.x_signature_simple),
            ("X-Timestamp".into(), signed.x_timestamp),
            ("webhook-id".into(), d.event_id.clone()),
            ("webhook-timestamp".into(), now.to_string()),
            ("webhook-signature".into(), standard),
        ],
        body: signed.body,
    }
}

/// Runs forever (until the runtime stops), delivering what the outbox holds.
pub async fn run(outbox: Arc<Outbox>, ed25519: Option<Arc<Ed25519KeyPair>>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(outbox.cfg.timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook worker cannot start its HTTP client");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(outbox.cfg.concurrency.max(1)));
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let poll = Duration::from_millis(outbox.cfg.poll_interval_ms.max(10));
    // While deliveries keep coming due, the loop never sleeps (where the queue is measured):
    // measure it at least this often anyway.
    let mut observed = Instant::now();
    loop {
        if observed.elapsed() >= Duration::from_secs(5) {
            observed = Instant::now();
            let ob = outbox.clone();
            let _ = tokio::task::spawn_blocking(move || ob.next_due_ms()).await;
        }
        let claimed = {
            let flying = in_flight.lock().map(|s| s.clone()).unwrap_or_default();
            let ob = outbox.clone();
            // Never claim more than can be sent now: a lease must not lapse while waiting.
            let room = permits.available_permits().max(1);
            tokio::task::spawn_blocking(move || ob.claim_due(room, &|k| flying.contains(k)))
                .await
                .unwrap_or_else(|e| Err(crate::store::StoreError::Unavailable(e.to_string())))
        };
        match claimed {
            Ok(list) if !list.is_empty() => {
                for d in list {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return;
                    };
                    if let Ok(mut s) = in_flight.lock() {
                        s.insert(d.uuid.clone());
                    }
                    let (ob, client, key, flying) = (
                        outbox.clone(),
                        client.clone(),
                        ed25519.clone(),
                        in_flight.clone(),
                    );
                    tokio::spawn(async move {
                        let id = d.uuid.clone();
                        deliver(&ob, &client, key.as_deref(), d).await;
                        if let Ok(mut s) = flying.lock() {
                            s.remove(&id);
                        }
                        drop(permit);
                    });
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "webhook outbox unavailable"),
        }
        // Sleep until woken by a new event, the next retry is due, or the poll interval ends.
        observed = Instant::now();
        let wait = match outbox.next_due_ms() {
            Ok(Some(t)) => {
                let ms = (t - outbox.clock.now_millis()).clamp(0, poll.as_millis() as i64);
                Duration::from_millis(ms as u64)
            }
            _ => poll,
        };
        tokio::select! {
            _ = outbox.wake.notified() => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
        }
    }
}

async fn deliver(
    outbox: &Outbox,
    client: &reqwest::Client,
    key: Option<&Ed25519KeyPair>,
    d: Delivery,
) {
    let dest = match destinations::get(&*outbox.store, &d.destination) {
        Ok(Some(dest)) => dest,
        Ok(None) => {
            let sent = SentRequest {
                headers: vec![],
                body: String::new(),
            };
            let attempt = Attempt {
                at_ms: outbox.clock.now_millis(),
                response_status: None,
                response_time_ms: 0,
                error: Some("the destination was deleted".into()),
            };
            let mut d = d;
            d.attempts = outbox.cfg.max_attempts.saturating_sub(1);
            if let Err(e) = outbox.record(d, attempt, sent) {
                tracing::error!(error = %e, "cannot record a webhook delivery");
            }
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook destinations unavailable");
            let _ = outbox.release(&d, outbox.clock.now_millis() + 1000);
            return;
        }
    };
    if !dest.enabled {
        // Kept pending while the destination is switched off.
        let _ = outbox.release(&d, outbox.clock.now_millis() + 60_000);
        return;
    }
    if let Err(e) = super::destinations::check_target(&dest.url, &outbox.cfg).await {
        let attempt = Attempt {
            at_ms: outbox.clock.now_millis(),
            response_status: None,
            response_time_ms: 0,
            error: Some(e.to_string()),
        };
        let sent = SentRequest {
            headers: vec![],
            body: String::new(),
        };
        if let Err(e) = outbox.record(d, attempt, sent) {
            tracing::error!(error = %e, "cannot record a webhook delivery");
        }
        return;
    }
    let now = outbox.clock.now_secs();
    let sent = prepare(&d, &dest, now, key);
    let mut req = client.post(&dest.url).body(sent.body.clone());
    for (k, v) in &sent.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let started = Instant::now();
    let result = req.send().await;
    let elapsed = started.elapsed().as_millis() as u64;
    let attempt = match result {
        Ok(res) if res.status().is_success() => Attempt {
            at_ms: outbox.clock.now_millis(),
            response_status: Some(res.status().as_u16()),
            response_time_ms: elapsed,
            error: None,
        },
        Ok(res) => Attempt {
            at_ms: outbox.clock.now_millis(),
            response_status: Some(res.status().as_u16()),
            response_time_ms: elapsed,
            error: Some(format!("the receiver answered {}", res.status().as_u16())),
        },
        Err(e) => Attempt {
            at_ms: outbox.clock.now_millis(),
            response_status: None,
            response_time_ms: elapsed,
            error: Some(if e.is_timeout() {
                "the receiver did not answer in time".into()
            } else if e.is_connect() {
                "the receiver could not be reached".into()
            } else {
                "the request failed".into()
            }),
        },
    };
    let (id, event, failed) = (d.uuid.clone(), d.event_id.clone(), attempt.error.clone());
    match outbox.record(d, attempt, sent) {
        Ok(state) => {
            tracing::info!(delivery = %id, event = %event, ?state, error = ?failed, "webhook attempt")
        }
        Err(e) => tracing::error!(delivery = %id, error = %e, "cannot record a webhook delivery"),
    }
}
