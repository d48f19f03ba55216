//! The durable webhook outbox: at-least-once delivery with exponential backoff and jitter, a
//! dead-letter state, a delivery log and resend.
//!
//! ```text
//!  enqueue ──> pending ──(2xx)──────────────────────────> delivered   (moved to the log)
//!               │  ▲
//!               │  └─(error / non-2xx, attempts left: next try after backoff)
//!               └────(error, attempts exhausted)────────> dead_letter (moved to the log)
//!  resend(any logged delivery) ──> a new pending delivery of the same event
//! ```
//!
//! Pending deliveries live in a durable namespace, so a restarted (or killed) server picks them
//! up again. A worker claims a delivery with a short lease (`put_new`), so several workers, in
//! one process or several, never send the same attempt twice; a lease that outlives a crashed
//! worker simply expires. Receivers deduplicate by `event_id` (also the `webhook-id` header).

use crate::store::concerns::Claims;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use super::destinations::{self, Destination};
use crate::clock::Clock;
use crate::store::typed::KvJson;
use crate::store::{Namespace, Store, StoreError};
use crate::webhook::WebhookSettings;

pub const OUTBOX: Namespace = Namespace::new("webhook_outbox").fsynced();
pub const LOG: Namespace = Namespace::new("webhook_log").fsynced();
/// One worker per delivery attempt, until the lease lapses.
pub const LEASES: Namespace = Namespace::new("webhook_leases").expiring();
/// Attempts kept in a delivery's log (the first and the latest ones).
const MAX_ATTEMPT_LOG: usize = 20;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    DeadLetter,
}

/// One try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: i64,
    pub response_status: Option<u16>,
    pub response_time_ms: u64,
    pub error: Option<String>,
}

/// What was sent on the latest attempt (shown by the delivery API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentRequest {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One event for one destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub uuid: String,
    pub destination: String,
    pub event_id: String,
    pub webhook_type: String,
    pub session_id: Option<String>,
    /// The envelope without `timestamp`, which is set (and signed) on every attempt.
    pub payload: Value,
    pub created_at_ms: i64,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub log: Vec<Attempt>,
    pub last_request: Option<SentRequest>,
    /// The delivery this one re-sends.
    pub resend_of: Option<String>,
}

/// Delivery figures of a destination.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub total: u64,
    pub failed: u64,
    pub min_ms: Option<u64>,
    pub max_ms: Option<u64>,
    pub sum_ms: u64,
    pub last_at: Option<String>,
}

impl Summary {
    pub fn avg_ms(&self) -> Option<f64> {
        (self.total > 0).then(|| round2(self.sum_ms as f64 / self.total as f64))
    }
}

/// Rounds to two decimals, as the delivery figures are reported.
pub(super) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Delay before retry number `attempt` (1 = first retry): `base * 4^(attempt-1)`, capped, then
/// scaled by a random factor in [0.8, 1.2) so that many failed deliveries do not retry in step.
pub fn backoff_ms(cfg: &WebhookSettings, attempt: u32, jitter_unit: f64) -> i64 {
    let base = cfg.retry_base_secs * 1000.0;
    let exp = base * 4f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let capped = exp.min(cfg.retry_max_secs * 1000.0);
    (capped * (0.8 + 0.4 * jitter_unit.clamp(0.0, 1.0))).round() as i64
}

fn jitter() -> f64 {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// The outbox of one server: store, clock, settings, and a bell that wakes the worker.
pub struct Outbox {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub cfg: WebhookSettings,
    pub wake: Arc<Notify>,
    /// Where attempts and the queue's depth are reported.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish()
    }
}

impl Outbox {
    pub fn new(store: Store, clock: Arc<dyn Clock>, cfg: WebhookSettings) -> Self {
        Self {
            store,
            clock,
            cfg,
            wake: Arc::new(Notify::new()),
            metrics: Arc::default(),
        }
    }

    /// Reports to `metrics` (the server's) instead of a private set.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Queues `event` (an envelope without `timestamp`, with `event_id`, `webhook_type` and
    /// `session_id`) for every enabled destination of `tenant` subscribed to its
    /// `webhook_type`; returns the delivery ids. From here on the envelope is the JSON document
    /// that is signed and sent.
    pub fn enqueue<E: Serialize>(
        &self,
        tenant: &crate::tenant::TenantId,
        event: &E,
    ) -> Result<Vec<String>, StoreError> {
        let payload = &serde_json::to_value(event)
            .map_err(|e| StoreError::Corrupt(format!("webhook event: {e}")))?;
        let kind = payload["webhook_type"].as_str().unwrap_or_default();
        let mut ids = Vec::new();
        for d in destinations::list(&*self.store, tenant)? {
            if !d.enabled || !d.subscribed_events.iter().any(|e| e == kind) {
                continue;
            }
            ids.push(self.enqueue_for(&d, payload, None)?);
        }
        if !ids.is_empty() {
            self.wake.notify_one();
        }
        Ok(ids)
    }

    fn enqueue_for(
        &self,
        d: &Destination,
        payload: &Value,
        resend_of: Option<String>,
    ) -> Result<String, StoreError> {
        let now = self.clock.now_millis();
        let event_id = payload["event_id"].as_str().unwrap_or_default();
        // One delivery per event and destination: queuing the same event again (a sweep after
        // a crash) is a no-op. A resend is a new delivery.
        let uuid = match &resend_of {
            None if !event_id.is_empty() => {
                crate::ids::uuid_from(&format!("{event_id}/{}", d.uuid))
            }
            _ => crate::ids::uuid_v4(),
        };
        if resend_of.is_none() && self.store.get(&LOG, &uuid)?.is_some() {
            return Ok(uuid);
        }
        let del = Delivery {
            uuid,
            destination: d.uuid.clone(),
            event_id: payload["event_id"].as_str().unwrap_or_default().to_owned(),
            webhook_type: payload["webhook_type"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            session_id: payload["session_id"].as_str().map(str::to_owned),
            payload: payload.clone(),
            created_at_ms: now,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at_ms: now,
            log: Vec::new(),
            last_request: None,
            resend_of,
        };
        self.store.put_new_json(&OUTBOX, &del.uuid, &del, None)?;
        Ok(del.uuid)
    }

    /// A delivery, pending or logged.
    pub fn get(&self, uuid: &str) -> Result<Option<Delivery>, StoreError> {
        if let Some(d) = self.store.get_json(&OUTBOX, uuid)? {
            return Ok(Some(d));
        }
        self.store.get_json(&LOG, uuid)
    }

    /// Deliveries of a destination (or all), newest first.
    pub fn list(&self, destination: Option<&str>) -> Result<Vec<Delivery>, StoreError> {
        let mut v = Vec::new();
        for ns in [OUTBOX, LOG] {
            for k in self.store.keys(&ns)? {
                if let Some(d) = self.store.get_json::<Delivery>(&ns, &k)?
                    && destination.is_none_or(|x| x == d.destination)
                {
                    v.push(d);
                }
            }
        }
        v.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then(b.uuid.cmp(&a.uuid))
        });
        Ok(v)
    }

    /// Figures over every attempt made to a destination.
    pub fn summary(&self, destination: &str) -> Result<Summary, StoreError> {
        let mut s = Summary::default();
        let mut last: Option<i64> = None;
        for d in self.list(Some(destination))? {
            for a in &d.log {
                s.total += 1;
                if a.error.is_some() {
                    s.failed += 1;
                }
                s.sum_ms += a.response_time_ms;
                s.min_ms = Some(
                    s.min_ms
                        .map_or(a.response_time_ms, |m| m.min(a.response_time_ms)),
                );
                s.max_ms = Some(
                    s.max_ms
                        .map_or(a.response_time_ms, |m| m.max(a.response_time_ms)),
                );
                last = Some(last.map_or(a.at_ms, |l| l.max(a.at_ms)));
            }
        }
        s.last_at = last.map(|ms| crate::ids::iso8601(ms / 1000));
        Ok(s)
    }

    /// Queues the event of a logged delivery again, to the same destination; it is signed
    /// afresh (new timestamp, current secret) when sent.
    pub fn resend(&self, uuid: &str) -> Result<Option<Delivery>, StoreError> {
        let Some(old) = self.get(uuid)? else {
            return Ok(None);
        };
        let Some(dest) = destinations::get(&*self.store, &old.destination)? else {
            return Ok(None);
        };
        let id = self.enqueue_for(&dest, &old.payload, Some(old.uuid.clone()))?;
        self.wake.notify_one();
        // The worker may deliver it before this read: `get` looks in the queue, then in the
        // log, which `record` writes before it removes the delivery from the queue.
        self.get(&id)
    }

    /// Claims up to `max` due deliveries (not leased by another worker).
    pub fn claim_due(
        &self,
        max: usize,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = self.clock.now_millis();
        let lease_until = now + (self.cfg.timeout_secs as i64 + 5) * 1000;
        let mut out = Vec::new();
        for k in self.store.keys(&OUTBOX)? {
            if out.len() >= max {
                break;
            }
            if skip(&k) {
                continue;
            }
            let Some(d) = self.store.get_json::<Delivery>(&OUTBOX, &k)? else {
                continue;
            };
            if d.next_attempt_at_ms > now {
                continue;
            }
            if self.store.claim(&LEASES, &k, Some(lease_until))? {
                // Re-read under the lease: another worker may have finished it meanwhile.
                match self.store.get_json::<Delivery>(&OUTBOX, &k)? {
                    Some(fresh)
                        if fresh.state == DeliveryState::Pending
                            && fresh.next_attempt_at_ms <= now =>
                    {
                        out.push(fresh)
                    }
                    _ => {
                        self.store.release(&LEASES, &k)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Earliest time a pending delivery is due (for the worker's sleep). On the way, reports
    /// the queue's depth and the age of its oldest delivery to the metrics.
    pub fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let mut next = None;
        let (mut depth, mut oldest) = (0usize, None);
        for k in self.store.keys(&OUTBOX)? {
            if let Some(d) = self.store.get_json::<Delivery>(&OUTBOX, &k)? {
                next =
                    Some(next.map_or(d.next_attempt_at_ms, |n: i64| n.min(d.next_attempt_at_ms)));
                depth += 1;
                oldest = Some(oldest.map_or(d.created_at_ms, |o: i64| o.min(d.created_at_ms)));
            }
        }
        let age_ms = oldest.map_or(0, |o| self.clock.now_millis() - o);
        self.metrics.webhook_queue(depth, age_ms as f64 / 1000.0);
        Ok(next)
    }

    /// Records an attempt's outcome: delivered, retry later, or dead letter.
    pub fn record(
        &self,
        mut d: Delivery,
        attempt: Attempt,
        sent: SentRequest,
    ) -> Result<DeliveryState, StoreError> {
        let ok = attempt.error.is_none();
        d.attempts += 1;
        if d.log.len() >= MAX_ATTEMPT_LOG {
            d.log.remove(1);
        }
        d.log.push(attempt);
        d.last_request = Some(sent);
        if ok {
            d.state = DeliveryState::Delivered;
        } else if d.attempts >= self.cfg.max_attempts.max(1) {
            d.state = DeliveryState::DeadLetter;
        } else {
            d.next_attempt_at_ms =
                self.clock.now_millis() + backoff_ms(&self.cfg, d.attempts, jitter());
        }
        if d.state == DeliveryState::Pending {
            // Only while it is still queued (a delivery finished elsewhere is not revived).
            if self.store.get(&OUTBOX, &d.uuid)?.is_some() {
                self.store.put_json(&OUTBOX, &d.uuid, &d, None)?;
            }
        } else {
            // Logged first, then removed from the queue: a crash in between re-sends (at least
            // once), never loses. The log is kept for the configured retention.
            let keep = self.clock.now_millis() + self.cfg.log_retention_days as i64 * 86_400_000;
            self.store.put_json(&LOG, &d.uuid, &d, Some(keep))?;
            self.store.delete(&OUTBOX, &d.uuid)?;
        }
        self.store.release(&LEASES, &d.uuid)?;
        use crate::metrics::WebhookResult;
        match d.state {
            DeliveryState::Delivered => self.metrics.webhook_attempt(
                WebhookResult::Delivered,
                Some((self.clock.now_millis() - d.created_at_ms) as f64 / 1000.0),
            ),
            DeliveryState::Pending => self.metrics.webhook_attempt(WebhookResult::Retry, None),
            DeliveryState::DeadLetter => self
                .metrics
                .webhook_attempt(WebhookResult::DeadLetter, None),
        }
        Ok(d.state)
    }

    /// Gives a claimed delivery back untouched (e.g. its destination is disabled for now).
    pub fn release(&self, d: &Delivery, retry_at_ms: i64) -> Result<(), StoreError> {
        let mut d = d.clone();
        d.next_attempt_at_ms = retry_at_ms;
        self.store.put_json(&OUTBOX, &d.uuid, &d, None)?;
        self.store.release(&LEASES, &d.uuid)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_four_with_bounded_jitter() {
        let cfg = WebhookSettings {
            retry_base_secs: 60.0,
            retry_max_secs: 3600.0,
            ..WebhookSettings::default()
        };
        assert_eq!(backoff_ms(&cfg, 1, 0.5), 60_000);
        assert_eq!(backoff_ms(&cfg, 2, 0.5), 240_000);
        assert_eq!(backoff_ms(&cfg, 3, 0.5), 960_000);
        assert_eq!(backoff_ms(&cfg, 4, 0.5), 3_600_000, "capped");
        assert_eq!(backoff_ms(&cfg, 1, 0.0), 48_000);
        assert_eq!(backoff_ms(&cfg, 1, 1.0), 72_000);
    }
}
