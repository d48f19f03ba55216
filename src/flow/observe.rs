//! What the flows tell the metrics: each audited decision (outcome, reasons, scores, attempt),
//! the time its audit append took, and, just before a scrape, the state kept in memory (the
//! audit stream's unsealed tail, the signing keys).

use std::time::Instant;

use super::Provider;
use super::verdict::{Channel, VerdictRecord};
use crate::metrics::{DecisionObs, KeyObs};

fn channel(c: &Channel) -> &'static str {
    match c {
        Channel::Oidc => "oidc",
        Channel::Session => "session",
        Channel::Api => "api",
        Channel::Review => "review",
    }
}

impl Provider {
    /// Appends a decision through `append` and reports it (and the append's time).
    pub(super) fn observed_append<T, E>(
        &self,
        v: &VerdictRecord,
        append: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let t = Instant::now();
        let r = append();
        self.metrics
            .audit_append(t.elapsed().as_secs_f64(), r.is_ok());
        if r.is_ok() {
            self.metrics.decision(&DecisionObs {
                channel: channel(&v.channel),
                outcome: &v.outcome,
                reasons: &v.reasons,
                tenant: v.tenant.as_deref().unwrap_or("default"),
                liveness_score: v.liveness_score,
                face_match_score: v.face_match_score,
                attempt: v.attempt,
            });
        }
        r
    }

    /// Sets the gauges that describe state held in memory; called before each scrape. Reads
    /// no store.
    pub fn refresh_gauges(&self) {
        let now_ms = self.clock.now_millis();
        if let Some((pending, since_ms)) = self.audit.unsealed_tail() {
            let age = if pending == 0 {
                0.0
            } else {
                (now_ms - since_ms) as f64 / 1000.0
            };
            self.metrics.audit_head(age, pending);
        }
        let now = self.clock.now_secs();
        let ring = self.keys.ring();
        let keys: Vec<KeyObs> = ring
            .records()
            .map(|r| KeyObs {
                alg: r.alg.name().to_owned(),
                state: match r.state {
                    crate::keys::KeyState::Published => "published",
                    crate::keys::KeyState::Active => "active",
                    crate::keys::KeyState::Retired => "retired",
                },
                age_secs: now - r.created_at,
            })
            .collect();
        self.metrics.keys(&keys);
    }
}
