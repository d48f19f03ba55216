//! One verdict record per biometric decision, whichever door it came through: a step-up in the
//! OpenID flow, a hosted session of the Sessions API, a standalone check saved with
//! `save_api_request`, or a reviewer's manual status change. Audit exports read these.

use serde::{Deserialize, Serialize};

use super::Provider;
use crate::store::typed::KvJson;

pub const VERDICTS: &str = "verdicts";

/// Through which door the decision was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The OpenID step-up (or enrolment) flow.
    Oidc,
    /// A hosted session of the Sessions API.
    Session,
    /// A standalone face-match or passive-liveness call saved as a session.
    Api,
    /// A manual status change (`update-status`).
    Review,
}

/// A decision as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub id: String,
    pub at_ms: i64,
    pub channel: Channel,
    /// `Approved`, `In Review` or `Declined` (the OpenID flow uses `Approved` / `Declined`).
    pub outcome: String,
    /// The user reference (OpenID subject or `vendor_data`).
    pub subject: Option<String>,
    /// OpenID client id, or `api-key:<id>` for the v3 API.
    pub client: String,
    pub flow_id: Option<String>,
    pub session_id: Option<String>,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<u32>,
    pub attempt: u32,
    pub liveness_score: Option<f64>,
    pub face_match_score: Option<f64>,
    /// `[decline, review]` thresholds applied.
    pub liveness_thresholds: Option<[f64; 2]>,
    pub face_match_thresholds: Option<[f64; 2]>,
    pub risks: Vec<String>,
    /// `name@sha256` of the models that ran.
    pub models: Vec<String>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// Digest of the RAR `authorization_details` the user saw (OpenID flow).
    pub authorization_details_sha256: Option<String>,
}

impl VerdictRecord {
    /// A record with the common fields; callers fill in the rest.
    pub fn new(p: &Provider, channel: Channel, outcome: &str, client: String) -> Self {
        Self {
            id: super::didit::uuid_v4(),
            at_ms: p.clock.now_millis(),
            channel,
            outcome: outcome.to_owned(),
            subject: None,
            client,
            flow_id: None,
            session_id: None,
            workflow_id: None,
            workflow_version: None,
            attempt: 0,
            liveness_score: None,
            face_match_score: None,
            liveness_thresholds: None,
            face_match_thresholds: None,
            risks: Vec::new(),
            models: p
                .engine
                .models()
                .iter()
                .map(|m| format!("{}@{}", m.name, m.sha256))
                .collect(),
            acr: None,
            amr: Vec::new(),
            authorization_details_sha256: None,
        }
    }
}

impl Provider {
    /// Stores a verdict record. Keys sort by time, so a listing is chronological.
    pub fn record_verdict(&self, r: &VerdictRecord) -> Result<(), crate::store::StoreError> {
        self.store
            .put_json(VERDICTS, &format!("{:013}-{}", r.at_ms, r.id), r, None)
    }

    /// Every verdict record, oldest first.
    pub fn verdicts(&self) -> Result<Vec<VerdictRecord>, crate::store::StoreError> {
        let mut v = Vec::new();
        for k in self.store.keys(VERDICTS)? {
            if let Some(r) = self.store.get_json(VERDICTS, &k)? {
                v.push(r);
            }
        }
        Ok(v)
    }
}
