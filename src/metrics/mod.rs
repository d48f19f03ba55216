//! Operational metrics: counters, gauges and histograms in one explicit registry (no global
//! recorder), written in the Prometheus text format by `prometheus-client`.
//!
//! Every label takes its value from a bounded set: a route template (never the raw path), an
//! HTTP method, a status class, a store namespace and operation, a decision's channel,
//! outcome and reason code, a configured tenant. No subject, flow id, IP address or client
//! secret ever becomes a label. The scrape itself (`render`) reads only memory: the gauges that
//! describe stored state (outbox depth, audit checkpoint age, signing keys) are set by the
//! components that already read that state, or from memory just before rendering.

mod settings;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets, linear_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

pub use settings::{MetricsListener, MetricsSettings};

/// A gauge holding a float (ages in seconds).
type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    channel: &'static str,
    outcome: &'static str,
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    channel: &'static str,
    outcome: &'static str,
    reason: String,
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    op: &'static str,
    namespace: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    alg: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgLabels {
    alg: String,
}

/// One decision as the metrics see it (from the audit record's evidence).
#[derive(Clone, Copy, Debug)]
pub struct DecisionObs<'a> {
    /// `oidc`, `session`, `standalone`, `review`...
    pub channel: &'static str,
    /// `Approved`, `Declined`, `In Review` (anything else counts as `other`).
    pub outcome: &'a str,
    pub reasons: &'a [String],
    pub tenant: &'a str,
    pub liveness_score: Option<f64>,
    pub face_match_score: Option<f64>,
    /// Attempt number within its flow or session (0: a manual review).
    pub attempt: u32,
}

/// What happened to one webhook delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookResult {
    Delivered,
    /// Failed; it will be tried again.
    Retry,
    /// Failed for the last time.
    DeadLetter,
}

/// One signing key's state, for the key gauges.
#[derive(Clone, Debug)]
pub struct KeyObs {
    pub alg: String,
    /// `published`, `active` or `retired`.
    pub state: &'static str,
    pub age_secs: i64,
}

/// Every metric of one server process.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram>,
    decisions: Family<DecisionLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    liveness_score: Family<ChannelLabels, Histogram>,
    face_match_score: Family<ChannelLabels, Histogram>,
    attempts: Family<ChannelLabels, Histogram>,
    capture_analysis: Histogram,
    store_duration: Family<StoreLabels, Histogram>,
    store_errors: Family<StoreLabels, Counter>,
    webhook_attempts: Family<ResultLabels, Counter>,
    webhook_lag: Histogram,
    webhook_depth: Gauge,
    webhook_oldest: FloatGauge,
    audit_append: Histogram,
    audit_errors: Counter,
    audit_checkpoint_age: FloatGauge,
    audit_unsealed: Gauge,
    keys: Family<KeyLabels, Gauge>,
    active_key_age: Family<AlgLabels, FloatGauge>,
    /// The key label sets last reported (so that a scrape never sees the families empty).
    key_labels: std::sync::Mutex<(Vec<KeyLabels>, Vec<AlgLabels>)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Request and store latencies: 50 µs to about 1.6 s.
fn fast_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Scores are 0 to 100: buckets of 5.
fn score_buckets() -> Histogram {
    Histogram::new(linear_buckets(5.0, 5.0, 20))
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("inherence");
        let http_requests = Family::<HttpLabels, Counter>::default();
        r.register(
            "http_requests",
            "HTTP requests by route template, method and status class",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(fast_buckets);
        r.register_with_unit(
            "http_request_duration",
            "Time from the request's headers to the response's headers, by route template",
            Unit::Seconds,
            http_duration.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        r.register(
            "decisions",
            "Audited decisions by channel, outcome and tenant (each decision once)",
            decisions.clone(),
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        r.register(
            "decision_reasons",
            "Reason codes of audited decisions by channel, outcome and tenant (a decision \
             counts once per reason)",
            reasons.clone(),
        );
        let liveness_score =
            Family::<ChannelLabels, Histogram>::new_with_constructor(score_buckets);
        r.register(
            "liveness_score",
            "Liveness scores (0-100) of audited decisions",
            liveness_score.clone(),
        );
        let face_match_score =
            Family::<ChannelLabels, Histogram>::new_with_constructor(score_buckets);
        r.register(
            "face_match_score",
            "Face-match scores (0-100) of audited decisions",
            face_match_score.clone(),
        );
        let attempts = Family::<ChannelLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(linear_buckets(1.0, 1.0, 10))
        });
        r.register(
            "decision_attempt",
            "Attempt number of each decision within its flow or session (0 for a manual review)",
            attempts.clone(),
        );
        let capture_analysis = Histogram::new(exponential_buckets(0.01, 1.6, 16));
        r.register_with_unit(
            "capture_analysis",
            "Time the engine took to analyse one capture burst (all its frames)",
            Unit::Seconds,
            capture_analysis.clone(),
        );
        let store_duration = Family::<StoreLabels, Histogram>::new_with_constructor(fast_buckets);
        r.register_with_unit(
            "store_operation_duration",
            "Store operations by kind and namespace (sealing included)",
            Unit::Seconds,
            store_duration.clone(),
        );
        let store_errors = Family::<StoreLabels, Counter>::default();
        r.register(
            "store_errors",
            "Store operations that failed",
            store_errors.clone(),
        );
        let webhook_attempts = Family::<ResultLabels, Counter>::default();
        r.register(
            "webhook_attempts",
            "Webhook delivery attempts by result: delivered, retry (failed, tried again later) \
             or dead_letter (failed for the last time)",
            webhook_attempts.clone(),
        );
        let webhook_lag = Histogram::new(exponential_buckets(0.01, 3.0, 16));
        r.register_with_unit(
            "webhook_delivery_lag",
            "Time from an event's queueing to its successful delivery",
            Unit::Seconds,
            webhook_lag.clone(),
        );
        let webhook_depth = Gauge::default();
        r.register(
            "webhook_outbox_depth",
            "Deliveries waiting in the outbox (as last seen by this instance's worker)",
            webhook_depth.clone(),
        );
        let webhook_oldest = FloatGauge::default();
        r.register_with_unit(
            "webhook_oldest_pending_age",
            "Age of the oldest delivery waiting in the outbox (0 when empty)",
            Unit::Seconds,
            webhook_oldest.clone(),
        );
        let audit_append = fast_buckets();
        r.register_with_unit(
            "audit_append_duration",
            "Time to append one decision to the audit log (chain, write, checkpoint when due)",
            Unit::Seconds,
            audit_append.clone(),
        );
        let audit_errors = Counter::default();
        r.register(
            "audit_append_errors",
            "Decisions the audit log could not append",
            audit_errors.clone(),
        );
        let audit_checkpoint_age = FloatGauge::default();
        r.register_with_unit(
            "audit_checkpoint_age",
            "How long this instance's newest audit entries have waited for a signed checkpoint \
             (0 when every entry is covered)",
            Unit::Seconds,
            audit_checkpoint_age.clone(),
        );
        let audit_unsealed = Gauge::default();
        r.register(
            "audit_entries_since_checkpoint",
            "Entries of this instance's audit stream not yet covered by a signed checkpoint",
            audit_unsealed.clone(),
        );
        let keys = Family::<KeyLabels, Gauge>::default();
        r.register(
            "signing_keys",
            "Signing keys by algorithm and state (published: in the JWKS, not yet signing)",
            keys.clone(),
        );
        let active_key_age = Family::<AlgLabels, FloatGauge>::default();
        r.register_with_unit(
            "signing_key_age",
            "Age of the key that signs, by algorithm",
            Unit::Seconds,
            active_key_age.clone(),
        );
        Self {
            registry: r,
            http_requests,
            http_duration,
            decisions,
            reasons,
            liveness_score,
            face_match_score,
            attempts,
            capture_analysis,
            store_duration,
            store_errors,
            webhook_attempts,
            webhook_lag,
            webhook_depth,
            webhook_oldest,
            audit_append,
            audit_errors,
            audit_checkpoint_age,
            audit_unsealed,
            keys,
            active_key_age,
            key_labels: Default::default(),
        }
    }

    /// One HTTP request answered. `route` is the matched route template (`unmatched` when no
    /// route matched), never the raw path.
    pub fn http(&self, route: &str, method: &str, status: u16, secs: f64) {
        let method = match method {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
            _ => "other",
        };
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(secs);
    }

    /// One audited decision.
    pub fn decision(&self, d: &DecisionObs<'_>) {
        let outcome = match d.outcome {
            "Approved" => "approved",
            "Declined" => "declined",
            "In Review" => "in_review",
            "Resubmitted" => "resubmitted",
            _ => "other",
        };
        let tenant = label_code(d.tenant, false);
        let reasons: Vec<String> = if d.reasons.is_empty() {
            vec![outcome.to_ascii_uppercase()]
        } else {
            d.reasons.iter().map(|r| label_code(r, true)).collect()
        };
        self.decisions
            .get_or_create(&DecisionLabels {
                channel: d.channel,
                outcome,
                tenant: tenant.clone(),
            })
            .inc();
        for reason in reasons {
            self.reasons
                .get_or_create(&ReasonLabels {
                    channel: d.channel,
                    outcome,
                    reason,
                    tenant: tenant.clone(),
                })
                .inc();
        }
        let ch = ChannelLabels { channel: d.channel };
        if let Some(s) = d.liveness_score {
            self.liveness_score.get_or_create(&ch).observe(s);
        }
        if let Some(s) = d.face_match_score {
            self.face_match_score.get_or_create(&ch).observe(s);
        }
        self.attempts
            .get_or_create(&ch)
            .observe(f64::from(d.attempt));
    }

    /// One capture burst analysed in `ms`.
    pub fn capture_analysis(&self, ms: f64) {
        self.capture_analysis.observe(ms.max(0.0) / 1000.0);
    }

    /// One store operation.
    pub fn store_op(&self, op: &'static str, namespace: &'static str, secs: f64, ok: bool) {
        let l = StoreLabels { op, namespace };
        self.store_duration.get_or_create(&l).observe(secs);
        if !ok {
            self.store_errors.get_or_create(&l).inc();
        }
    }

    /// One webhook attempt's result; `lag_secs` is the time since queueing, for deliveries.
    pub fn webhook_attempt(&self, result: WebhookResult, lag_secs: Option<f64>) {
        let result = match result {
            WebhookResult::Delivered => "delivered",
            WebhookResult::Retry => "retry",
            WebhookResult::DeadLetter => "dead_letter",
        };
        self.webhook_attempts
            .get_or_create(&ResultLabels { result })
            .inc();
        if let Some(l) = lag_secs {
            self.webhook_lag.observe(l.max(0.0));
        }
    }

    /// The outbox as the worker last saw it.
    pub fn webhook_queue(&self, depth: usize, oldest_age_secs: f64) {
        self.webhook_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.webhook_oldest.set(oldest_age_secs.max(0.0));
    }

    /// One audit append (`ok` false: it failed).
    pub fn audit_append(&self, secs: f64, ok: bool) {
        self.audit_append.observe(secs);
        if !ok {
            self.audit_errors.inc();
        }
    }

    /// This instance's audit head: how long its uncovered entries have waited for a signed
    /// checkpoint (0 when none wait), and how many there are.
    pub fn audit_head(&self, checkpoint_age_secs: f64, entries_since: u64) {
        self.audit_checkpoint_age.set(checkpoint_age_secs.max(0.0));
        self.audit_unsealed
            .set(i64::try_from(entries_since).unwrap_or(i64::MAX));
    }

    /// The signing keys now held. Label sets that disappeared are removed after the new
    /// values are set, so a concurrent scrape never sees no key at all.
    pub fn keys(&self, keys: &[KeyObs]) {
        use std::collections::HashMap;
        let mut counts: HashMap<KeyLabels, i64> = HashMap::new();
        let mut ages: HashMap<AlgLabels, f64> = HashMap::new();
        for k in keys {
            *counts
                .entry(KeyLabels {
                    alg: k.alg.clone(),
                    state: k.state,
                })
                .or_default() += 1;
            if k.state == "active" {
                // The newest active key signs.
                let a = ages
                    .entry(AlgLabels { alg: k.alg.clone() })
                    .or_insert(f64::MAX);
                *a = a.min(k.age_secs as f64);
            }
        }
        let Ok(mut last) = self.key_labels.lock() else {
            return;
        };
        for (l, n) in &counts {
            self.keys.get_or_create(l).set(*n);
        }
        for (l, a) in &ages {
            self.active_key_age.get_or_create(l).set(*a);
        }
        for l in last.0.iter().filter(|l| !counts.contains_key(l)) {
            self.keys.remove(l);
        }
        for l in last.1.iter().filter(|l| !ages.contains_key(l)) {
            self.active_key_age.remove(l);
        }
        *last = (counts.into_keys().collect(), ages.into_keys().collect());
    }

    /// The exposition document (Prometheus text format 0.0.4 / OpenMetrics text).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// A reason code or tenant id fit for a label: letters, digits and `_`/`-`, at most 48
/// characters (anything else is replaced), upper-cased for reason codes. The values come from
/// the code or the configuration, never from a request, but a label must stay bounded anyway.
fn label_code(s: &str, upper: bool) -> String {
    let mut v: String = s
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if upper {
        v.make_ascii_uppercase();
    }
    v
}

#[cfg(test)]
mod tests;
