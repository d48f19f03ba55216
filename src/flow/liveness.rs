//! Which liveness method a capture must pass, the single-use challenges that enforce it, and
//! the one place where frames from a camera are judged: every capture path (OpenID step-up,
//! camera enrolment, hosted v3 sessions, the phone hand-off) goes through
//! [`Provider::check_capture`], which judges the burst against the challenge it answered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::error::FlowError;
use super::state::{Flow, FlowStatus};
use super::verdict::VerdictRecord;
use super::{Provider, ns, random_token, store_err};
use crate::audit::record::CaptureEvidence;
use crate::biometric::capture::{CaptureSpec, LivenessMethod};
use crate::biometric::score::Risk;
use crate::biometric::{CaptureOutcome, CapturedFrame};
use crate::flow::settings::ClientConfig;
use crate::flow::settings::LivenessPolicy;
use crate::protocol::OAuthError;
use crate::protocol::resource::decimal_at_least;
use crate::store::concerns::SingleUse;

/// A challenge as stored under its nonce (single use): the flow it belongs to, what the burst
/// must be, and when it was issued (server time).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Challenge {
    pub flow: String,
    pub spec: CaptureSpec,
    pub issued_ms: i64,
}

/// What the capture page receives: the nonce and what to show and record.
#[derive(Debug, Serialize)]
pub struct IssuedChallenge {
    pub challenge: String,
    pub expires_in: u64,
    #[serde(flatten)]
    pub spec: CaptureSpec,
}

/// Why a step-up needs its method (kept in the audit record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Because {
    #[default]
    /// `liveness.method`.
    Policy,
    /// The client's `liveness_method`.
    Client,
    /// A payment at or above `active_3d_from`.
    Transaction,
    /// A v3 workflow's `face_liveness_method`.
    Workflow,
}

impl Because {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Client => "client",
            Self::Transaction => "transaction",
            Self::Workflow => "workflow",
        }
    }
}

/// The method a step-up or camera enrolment must pass: the deployment's, the client's when
/// stronger, and ACTIVE_3D for a payment at or above the client's (else the deployment's)
/// threshold.
pub fn required_method(
    policy: &LivenessPolicy,
    client: Option<&ClientConfig>,
    authorization_details: Option<&serde_json::Value>,
) -> (LivenessMethod, Because) {
    let mut need = (policy.method, Because::Policy);
    if let Some(m) = client.and_then(|c| c.liveness_method)
        && m > need.0
    {
        need = (m, Because::Client);
    }
    let thresholds = client
        .and_then(|c| c.active_3d_from.as_ref())
        .unwrap_or(&policy.active_3d_from);
    if need.0 < LivenessMethod::Active3d
        && authorization_details.is_some_and(|d| above_threshold(d, thresholds))
    {
        need = (LivenessMethod::Active3d, Because::Transaction);
    }
    need
}

/// Whether any payment in `details` reaches its currency's threshold. With thresholds set, an
/// unlisted currency or an amount that is not a decimal counts as reaching it.
fn above_threshold(details: &serde_json::Value, thresholds: &BTreeMap<String, String>) -> bool {
    if thresholds.is_empty() {
        return false;
    }
    details.as_array().into_iter().flatten().any(|d| {
        let Some(amount) = d.get("instructedAmount") else {
            return false;
        };
        let value = amount.get("amount").and_then(|v| v.as_str()).unwrap_or("");
        let currency = amount
            .get("currency")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        match thresholds.get(currency) {
            Some(from) => decimal_at_least(value, from).unwrap_or(true),
            None => true,
        }
    })
}

impl Provider {
    /// A fresh single-use challenge for one capture attempt of this flow, drawn for the
    /// flow's required method (or the motion-only alternative, when the user asks for it and
    /// the deployment allows it).
    pub fn challenge(
        &self,
        flow_id: &str,
        motion_only: bool,
        device: super::device::DeviceProof<'_>,
    ) -> Result<IssuedChallenge, OAuthError> {
        let f = self.get_flow(flow_id)?;
        self.check_device(&f, device)?;
        if f.status != FlowStatus::AwaitingCapture || f.attempts_left() == 0 {
            return Err(OAuthError::invalid_request(
                "this face check is already decided",
            ));
        }
        let policy = &self.cfg.liveness;
        if motion_only && !policy.motion_only_alternative {
            return Err(OAuthError::invalid_request(
                "the motion-only alternative is not offered here",
            ));
        }
        self.touch_session(&f);
        // The alternative replaces flashing colours; a PASSIVE check has none to replace.
        let (method, motion_only) = match f.liveness {
            LivenessMethod::Passive => (LivenessMethod::Passive, false),
            _ if motion_only => (LivenessMethod::Active3d, true),
            m => (m, false),
        };
        let spec = policy
            .challenge
            .draw(method, motion_only, &mut |n| random_below(n));
        let c = random_token(18);
        let ttl = self.cfg.oidc.challenge_lifetime_secs;
        let now_ms = self.clock.now_millis();
        let exp = (now_ms + ttl as i64 * 1000).min(f.expires_at * 1000);
        let stored = Challenge {
            flow: f.id,
            spec: spec.clone(),
            issued_ms: now_ms,
        };
        self.store
            .issue(&ns::CHALLENGES, &c, &stored, exp)
            .map_err(store_err)?;
        Ok(IssuedChallenge {
            challenge: c,
            expires_in: ttl,
            spec,
        })
    }

    /// Takes a challenge (whatever happens next, it cannot be used again) and checks it
    /// belongs to the flow.
    pub(crate) fn redeem_challenge(
        &self,
        flow_id: &str,
        challenge: &str,
    ) -> Result<Challenge, OAuthError> {
        let ch: Challenge = self
            .store
            .redeem(&ns::CHALLENGES, challenge)
            .map_err(store_err)?
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "the capture challenge is unknown, expired or already used",
                )
            })?;
        if ch.flow != flow_id {
            return Err(OAuthError::invalid_request(
                "the capture challenge belongs to another flow",
            ));
        }
        Ok(ch)
    }

    /// Judges a burst against the challenge it answered: it must arrive after the sequence
    /// could have been recorded and not long after, then the engine checks every frame
    /// against the challenge. A challenge weaker than the flow requires is refused too (it
    /// cannot be issued, but the check does not rely on that).
    /// Returns the outcome and the time from issuing the challenge to receiving the frames.
    pub(crate) fn check_capture(
        &self,
        flow: &Flow,
        ch: &Challenge,
        frames: &[CapturedFrame],
    ) -> Result<(CaptureOutcome, i64), FlowError> {
        let spec = &ch.spec;
        let waited = self.clock.now_millis() - ch.issued_ms;
        let early = waited < i64::from(spec.duration_ms);
        let late =
            waited > i64::from(spec.duration_ms) + self.cfg.liveness.max_upload_delay_ms as i64;
        let mut outcome = if early {
            CaptureOutcome::refused(spec, Vec::new(), vec![Risk::UploadTooEarly])
        } else if late {
            CaptureOutcome::refused(spec, Vec::new(), vec![Risk::UploadTooLate])
        } else {
            self.engine
                .analyze_capture(frames, spec, &mut random_below)?
        };
        if spec.method < flow.liveness {
            outcome.risks.push(Risk::LivenessMethodTooWeak);
        }
        Ok((outcome, waited))
    }

    /// Fills a decision's audit record with what the capture was asked and showed.
    pub(crate) fn describe_capture(
        &self,
        v: &mut VerdictRecord,
        flow: &Flow,
        ch: &Challenge,
        o: &CaptureOutcome,
        frames: usize,
        waited_ms: i64,
    ) {
        let spec = &ch.spec;
        let r2 = |x: f64| (x * 100.0).round() / 100.0;
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        v.liveness_method = Some(spec.method.as_str().into());
        v.liveness_required = Some(flow.liveness.as_str().into());
        v.liveness_required_by = Some(flow.liveness_by.as_str().into());
        v.capture = Some(CaptureEvidence {
            challenge_sha256: hex::encode(Sha256::digest(crate::canonical::to_string(
                &serde_json::to_value(spec).unwrap_or_default(),
                true,
            ))),
            colours: spec
                .colours
                .iter()
                .map(|c| format!("#{:02x}{:02x}{:02x}", c.rgb[0], c.rgb[1], c.rgb[2]))
                .collect(),
            actions: spec
                .actions
                .iter()
                .map(|a| {
                    serde_json::to_value(a.action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect(),
            motion_only: spec.motion_only(),
            frames,
            upload_after_ms: waited_ms,
            flash_correlation: o.flash.as_ref().map(|f| r3(f.correlation)),
            flash_face_response: o.flash.as_ref().map(|f| r2(f.face_response)),
            flash_background_response: o.flash.as_ref().map(|f| r2(f.background_response)),
            flash_lag_ms: o.flash.as_ref().map(|f| f.lag_ms),
            flash_locality: o.flash.as_ref().map(|f| r2(f.locality)),
            flash_falloff: o.flash.as_ref().map(|f| r2(f.falloff)),
            flash_clipped: o.flash.as_ref().map(|f| r3(f.clipped)),
            flash_steps: o.flash.as_ref().map(|_| spec.colours.len()),
            flash_steps_identified: o.flash.as_ref().map(|f| f.steps_identified),
            motion_peaks_deg: o
                .motion
                .iter()
                .flat_map(|m| m.peaks.iter().map(|&p| r2(f64::from(p))))
                .collect(),
            motion_nonplanar: o
                .motion
                .iter()
                .flat_map(|m| m.nonplanar.iter().map(|&p| r3(f64::from(p))))
                .collect(),
            identity_distance: o.identity_distance.map(r3),
            frame_variation: o.frame_variation.map(r2),
        });
    }
}

/// A uniformly random number below `n` from the system's cryptographic generator.
fn random_below(n: u32) -> u32 {
    let n = n.max(1);
    // Rejection sampling: no modulo bias.
    let zone = u32::MAX - u32::MAX % n;
    loop {
        let mut b = [0u8; 4];
        aws_lc_rs::rand::fill(&mut b).expect("system randomness");
        let v = u32::from_le_bytes(b);
        if v < zone {
            return v % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payment(amount: &str, currency: &str) -> serde_json::Value {
        json!([{"type": "payment_initiation",
                "instructedAmount": {"amount": amount, "currency": currency},
                "creditorName": "A"}])
    }

    #[test]
    fn the_strongest_requirement_wins_and_nothing_lowers_it() {
        let p = LivenessPolicy::default();
        assert_eq!(
            required_method(&p, None, None),
            (LivenessMethod::Flashing, Because::Policy)
        );
        let small = payment("123.50", "EUR");
        assert_eq!(
            required_method(&p, None, Some(&small)).0,
            LivenessMethod::Flashing
        );
        for big in [
            payment("500", "EUR"),
            payment("9999.99", "EUR"),
            // Unlisted currency, or an amount that is not a decimal: the stronger method.
            payment("10.00", "GBP"),
            payment("1e9", "EUR"),
            payment("-5", "EUR"),
        ] {
            assert_eq!(
                required_method(&p, None, Some(&big)),
                (LivenessMethod::Active3d, Because::Transaction),
                "{big}"
            );
        }
        let mut c: ClientConfig = serde_json::from_value(json!({
            "client_id": "bank", "auth_method": "client_secret_basic",
            "liveness_method": "ACTIVE_3D"
        }))
        .unwrap();
        assert_eq!(
            required_method(&p, Some(&c), None),
            (LivenessMethod::Active3d, Because::Client)
        );
        // A client's own thresholds replace the deployment's.
        c.liveness_method = None;
        c.active_3d_from = Some(BTreeMap::from([("GBP".into(), "50".into())]));
        assert_eq!(
            required_method(&p, Some(&c), Some(&payment("60", "GBP"))).0,
            LivenessMethod::Active3d
        );
        assert_eq!(
            required_method(&p, Some(&c), Some(&payment("40", "GBP"))).0,
            LivenessMethod::Flashing
        );
        // No thresholds at all: amounts do not matter.
        c.active_3d_from = Some(BTreeMap::new());
        assert_eq!(
            required_method(&p, Some(&c), Some(&payment("1e9", "XXX"))).0,
            LivenessMethod::Flashing
        );
    }

    #[test]
    fn random_below_stays_below() {
        for n in [1, 2, 6, 1000] {
            for _ in 0..100 {
                assert!(random_below(n) < n);
            }
        }
    }
}
