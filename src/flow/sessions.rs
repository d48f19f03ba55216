//! Sessions of the Didit-compatible API: creation (with the idempotency rule and the
//! reference-face resolution), the hosted capture (the same page and engine as the OpenID
//! flow), verdict bands, decision, list, deletion, manual review, the status lifecycle with
//! background expiry and abandonment, and the webhook events each status change fires.
//!
//! ```text
//!  create ──> Not Started ──(hosted page opened)──> In Progress ──(capture)──> Approved
//!                 │                                   │   ▲  │                 In Review
//!                 │                                   │   └──┘ retry           Declined
//!                 └──(expires_at passed)──> Expired   └──(idle)──> Abandoned
//!  update-status: Approved | Declined | In Review | Abandoned | Resubmitted
//!                   ──> Approved | Declined | Resubmitted (──> hosted page again)
//! ```

use crate::store::concerns::Counters;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::capture::{CaptureError, CaptureResult, EnrolmentRecord};
use super::didit::{ApiKeyRecord, DiditError, iso8601, uuid_v4, warning_json};
use super::liveness::{Because, Challenge};
use super::state::{Decision, Flow, FlowStatus, Purpose};
use super::verdict::{Channel, RequestContext};
use super::workflows::{self, Action, Rules, Workflow};
use super::{Provider, digest, ns, random_token};
use crate::biometric::score::{LogType, Risk, round2};
use crate::biometric::{CaptureOutcome, Enrolment, Template};
use crate::protocol::OAuthError;
use crate::protocol::authorize::AuthorizationRequest;
use crate::store::StoreError;
use crate::store::typed::KvJson;
use crate::tenant::TenantId;

pub const SESSIONS: &str = "sessions";
const TOKENS: &str = "session_tokens";
/// `{workflow_id}:{vendor_data}` of unfinished sessions (the idempotency rule).
const BY_VENDOR: &str = "session_by_vendor";
/// Ids of sessions that are not final yet (what the background sweep looks at).
const OPEN: &str = "sessions_open";
const COUNTERS: &str = "counters";
/// Webhook events decided but not yet in the outbox, each written just before the session
/// change it describes (see [`Provider::save_with_event`]).
pub const PENDING_EVENTS: &str = "webhook_pending";
/// A pending event older than this is the sweep's to hand over (the request that wrote it
/// stopped or failed before doing so).
const PENDING_GRACE_SECS: i64 = 30;

/// An event waiting for its session change: handed over when the session was saved with it.
#[derive(Debug, Serialize, Deserialize)]
struct PendingEvent {
    session_id: String,
    /// The session's tenant: whose destinations receive the event.
    #[serde(default)]
    tenant: TenantId,
    /// The session's `events` count that the change carries.
    seq: u64,
    at: i64,
    event: Value,
}
/// Faces kept from Approved liveness sessions, by `vendor_data` (v3 sessions only: the OpenID
/// flow never uses them, so no API session can change whose face unlocks a sign-in).
pub const SESSION_FACES: &str = "session_faces";
/// Largest serialised `metadata`, `contact_details` or `expected_details`.
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;
/// Largest decoded `portrait_image` (contract: 2 MB).
pub const MAX_PORTRAIT_BYTES: usize = 2 * 1024 * 1024;
/// The hosted flow's pseudo client id (in flows and verdict records).
pub const SESSION_CLIENT: &str = "v3-session";

const LANGUAGES: &[&str] = &[
    "en", "ar", "bg", "bn", "bs", "ca", "cnr", "cs", "da", "de", "el", "es", "et", "fa", "fi",
    "fr", "he", "hi", "hr", "hu", "hy", "id", "it", "ja", "ka", "kk", "ko", "ky", "lt", "lv", "mk",
    "mn", "ms", "nl", "no", "pl", "pt-BR", "pt", "ro", "ru", "sk", "sl", "so", "sq", "sr", "sv",
    "th", "tr", "uk", "uz", "vi", "zh-CN", "zh-TW", "zh",
];

const FEATURE_ENUM: &[&str] = &[
    "OCR",
    "OCR_BACK",
    "NFC",
    "AML",
    "FACE",
    "LIVENESS",
    "FACE_MATCH",
    "IP_ANALYSIS",
    "AGE_ESTIMATION",
    "PROOF_OF_ADDRESS",
    "PHONE_VERIFICATION",
    "EMAIL_VERIFICATION",
    "FACE_SEARCH",
    "DATABASE_VALIDATION",
    "QUESTIONNAIRE",
    "DOCUMENT_AI",
    "KYB_DOCUMENTS",
    "ID_VERIFICATION",
    "POA",
    "PHONE",
    "EMAIL",
    "KYB_REGISTRY",
    "KYB_KEY_PEOPLE",
    "KYB",
];

/// A face kept from an Approved liveness session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionFace {
    pub template: Template,
    pub session_id: String,
    pub kept_at: i64,
}

/// Session statuses, spelled exactly as the contract does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionStatus {
    #[serde(rename = "Not Started")]
    NotStarted,
    #[serde(rename = "In Progress")]
    InProgress,
    #[serde(rename = "In Review")]
    InReview,
    Approved,
    Declined,
    Expired,
    Abandoned,
    #[serde(rename = "Kyc Expired")]
    KycExpired,
    Resubmitted,
    #[serde(rename = "Awaiting User")]
    AwaitingUser,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "Not Started",
            Self::InProgress => "In Progress",
            Self::InReview => "In Review",
            Self::Approved => "Approved",
            Self::Declined => "Declined",
            Self::Expired => "Expired",
            Self::Abandoned => "Abandoned",
            Self::KycExpired => "Kyc Expired",
            Self::Resubmitted => "Resubmitted",
            Self::AwaitingUser => "Awaiting User",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }

    /// Still waiting for the user (the idempotency rule reuses these).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            Self::NotStarted | Self::InProgress | Self::Resubmitted | Self::AwaitingUser
        )
    }

    /// Statuses whose webhook carries the `decision` object.
    fn carries_decision(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::Declined | Self::InReview | Self::Abandoned
        )
    }
}

/// A feature's verdict (feature-level enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureStatus {
    Approved,
    #[serde(rename = "In Review")]
    InReview,
    Declined,
}

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    pub session_number: i64,
    pub session_token: String,
    pub workflow_id: String,
    pub workflow_version: u32,
    pub rules: Rules,
    pub features: Vec<String>,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub callback: Option<String>,
    pub callback_method: String,
    pub language: Option<String>,
    pub contact_details: Option<Value>,
    pub expected_details: Option<Value>,
    pub status: SessionStatus,
    /// `HOSTED` (created by `POST /v3/session/`) or `API` (a saved standalone check).
    pub session_type: String,
    pub api_service: Option<String>,
    /// The reference face (a template, never the picture).
    pub reference: Option<Template>,
    /// `portrait_image` or `stored_face`.
    pub reference_source: Option<String>,
    pub liveness_checks: Option<Vec<Value>>,
    pub face_matches: Option<Vec<Value>>,
    pub reviews: Vec<Value>,
    pub attempts: u32,
    pub flow_id: Option<String>,
    pub api_key_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity_at: i64,
    pub expires_at: Option<i64>,
    /// How many webhook events this session has caused (each saved together with the change).
    #[serde(default)]
    pub events: u64,
    /// The tenant of the API key that created it (sessions from before tenants: `default`).
    #[serde(default)]
    pub tenant: TenantId,
}

/// The query parameters `GET /v3/sessions/` understands (any other is a 400).
const LIST_FILTERS: &[&str] = &[
    "session_kind",
    "limit",
    "offset",
    "status",
    "vendor_data",
    "search",
    "workflow_id",
    "date_from",
    "date_to",
    "country",
    "document_type",
    "document_name",
    "region",
    "didit_internal_id",
    "session_type",
    "api_service",
    "warning",
    "status_initialized_as_in_review",
];

fn invalid(field: &str, msg: impl Into<String>) -> DiditError {
    DiditError::field(field, msg)
}

/// Contract 400 bodies that are a plain string, not a list.
fn invalid_plain(field: &str, msg: &str) -> DiditError {
    DiditError::Invalid(json!({ field: msg }))
}

const NO_STORED_FACE: &str = "No stored face image was found for this user. Send a portrait_image, or complete an approved verification with face liveness or an ID document for this vendor_data first.";
const PORTRAIT_REQUIRED: &str = "A portrait image is required to perform face match for this workflow. Send a portrait_image, or provide the vendor_data of a user with a previously stored face image to reuse it.";
const NOT_AN_IMAGE: &str =
    "Upload a valid image. The file you uploaded was either not an image or a corrupted image.";

fn session_token() -> String {
    let mut b = [0u8; 9];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn opt_string(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, DiditError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(invalid(
            field,
            format!("Ensure this field has no more than {max} characters."),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "Not a valid string.")),
    }
}

fn opt_object(body: &Map<String, Value>, field: &str) -> Result<Option<Value>, DiditError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(invalid(
            field,
            "Invalid data. Expected a dictionary, but got a different type.",
        )),
    }
}

/// Decodes `portrait_image` (plain base64 or a `data:` URL), bounded before and after decoding.
pub fn decode_portrait(v: &Value) -> Result<Vec<u8>, DiditError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid("portrait_image", NOT_AN_IMAGE))?;
    let s = match s.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, d)| d).unwrap_or(""),
        None => s,
    };
    let too_big = || invalid("portrait_image", "Image size exceeds 2MB.");
    if s.len() > MAX_PORTRAIT_BYTES / 3 * 4 + 16 + s.len() / 64 {
        return Err(too_big());
    }
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.trim_end_matches('=').as_bytes())
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('='))
        })
        .map_err(|_| invalid("portrait_image", NOT_AN_IMAGE))?;
    if bytes.len() > MAX_PORTRAIT_BYTES {
        return Err(too_big());
    }
    if bytes.is_empty() {
        return Err(invalid("portrait_image", "The submitted file is empty."));
    }
    Ok(bytes)
}

fn check_callback(s: &str) -> Result<(), DiditError> {
    let u = url::Url::parse(s).map_err(|_| invalid("callback", "Enter a valid URL."))?;
    if u.scheme() == "javascript" || u.scheme() == "data" || u.scheme() == "file" {
        return Err(invalid("callback", "Enter a valid URL."));
    }
    Ok(())
}

/// `callback` with `verificationSessionId` and `status` appended (custom schemes kept).
pub fn callback_url(callback: &str, session_id: &str, status: SessionStatus) -> String {
    match url::Url::parse(callback) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("verificationSessionId", session_id)
                .append_pair("status", status.as_str());
            u.to_string()
        }
        Err(_) => callback.to_owned(),
    }
}

const LIVENESS_NODE: &str = "feature_liveness_1";
const FACE_MATCH_NODE: &str = "feature_face_match_1";

/// The workflow's liveness band for a capture: status, score and warnings. Any deviation
/// from the capture protocol declines, whatever the thresholds.
pub fn liveness_band(
    burst: &CaptureOutcome,
    rules: &Rules,
) -> (FeatureStatus, Option<f64>, Vec<Value>) {
    let score = burst.liveness.as_ref().map(|l| round2(l.score));
    let mut status = FeatureStatus::Approved;
    let mut warnings = Vec::new();
    let mut raise = |risk: Risk, outcome: FeatureStatus, warnings: &mut Vec<Value>| {
        let log = match outcome {
            FeatureStatus::Declined => LogType::Error,
            FeatureStatus::InReview => LogType::Warning,
            FeatureStatus::Approved => LogType::Information,
        };
        warnings.push(warning_json(&risk.warning(), Some(LIVENESS_NODE), log));
        status = match (status, outcome) {
            (FeatureStatus::Declined, _) | (_, FeatureStatus::Declined) => FeatureStatus::Declined,
            (FeatureStatus::InReview, _) | (_, FeatureStatus::InReview) => FeatureStatus::InReview,
            _ => FeatureStatus::Approved,
        };
    };
    for r in burst.risks.iter().filter(|r| r.is_capture_protocol()) {
        raise(*r, FeatureStatus::Declined, &mut warnings);
    }
    if burst.risks.contains(&Risk::NoFaceDetected) || (score.is_none() && burst.protocol_ok()) {
        raise(Risk::NoFaceDetected, FeatureStatus::Declined, &mut warnings);
    }
    if burst.risks.contains(&Risk::LivenessFaceAttack) {
        raise(
            Risk::LivenessFaceAttack,
            FeatureStatus::Declined,
            &mut warnings,
        );
    }
    if let Some(s) = score {
        if s <= rules.liveness_decline {
            raise(
                Risk::LowLivenessScore,
                FeatureStatus::Declined,
                &mut warnings,
            );
        } else if s <= rules.liveness_review {
            raise(
                Risk::LowLivenessScore,
                FeatureStatus::InReview,
                &mut warnings,
            );
        }
    }
    if burst.risks.contains(&Risk::MultipleFacesDetected) {
        let outcome = match rules.multiple_faces_action {
            Action::Decline => FeatureStatus::Declined,
            Action::Review => FeatureStatus::InReview,
            Action::NoAction => FeatureStatus::Approved,
        };
        raise(Risk::MultipleFacesDetected, outcome, &mut warnings);
    }
    for r in [
        Risk::LowFaceQuality,
        Risk::LowFaceLuminance,
        Risk::HighFaceLuminance,
    ] {
        if burst.risks.contains(&r) {
            raise(r, FeatureStatus::Approved, &mut warnings);
        }
    }
    (status, score, warnings)
}

/// The workflow's face-match band: status, score and warnings.
pub fn face_match_band(
    score: Option<f64>,
    has_reference: bool,
    rules: &Rules,
) -> (FeatureStatus, Option<f64>, Vec<Value>) {
    let w = |risk: Risk, log| vec![warning_json(&risk.warning(), Some(FACE_MATCH_NODE), log)];
    if !has_reference {
        return (
            FeatureStatus::Declined,
            None,
            w(Risk::NoReferenceImage, LogType::Error),
        );
    }
    match score.map(round2) {
        None => {
            let (status, log) = match rules.face_match_not_computed_action {
                Action::Review => (FeatureStatus::InReview, LogType::Warning),
                _ => (FeatureStatus::Declined, LogType::Error),
            };
            let warn = json!({
                "risk": "FACE_MATCH_NOT_COMPUTED",
                "feature": "FACEMATCH",
                "additional_data": null,
                "log_type": log,
                "short_description": "Face match not computed",
                "long_description": "No face usable for comparison was found in the capture.",
                "node_id": FACE_MATCH_NODE,
            });
            (status, None, vec![warn])
        }
        Some(s) if s <= rules.face_match_decline => (
            FeatureStatus::Declined,
            Some(s),
            w(Risk::LowFaceMatchSimilarity, LogType::Error),
        ),
        Some(s) if s <= rules.face_match_review => (
            FeatureStatus::InReview,
            Some(s),
            w(Risk::LowFaceMatchSimilarity, LogType::Warning),
        ),
        Some(s) => (FeatureStatus::Approved, Some(s), vec![]),
    }
}

/// Combines feature verdicts: any Declined declines, else any In Review reviews.
pub fn combine(statuses: &[FeatureStatus]) -> FeatureStatus {
    if statuses.contains(&FeatureStatus::Declined) {
        FeatureStatus::Declined
    } else if statuses.contains(&FeatureStatus::InReview) {
        FeatureStatus::InReview
    } else {
        FeatureStatus::Approved
    }
}

/// What the hosted page link leads to.
pub enum Hosted {
    /// A capture flow was opened: redirect there with the browser-binding cookie.
    Capture {
        flow_id: String,
        binding_secret: String,
    },
    /// Nothing left to do; show the status.
    Done(Box<Session>),
}

/// Drops the copies of a subject's face that its v3 sessions hold as their reference (part of
/// erasing the subject: the copies are sealed under the template keys, not the subject's own
/// key). Returns how many sessions held one. A session that still runs afterwards has no
/// reference face to compare against, so its face match cannot pass.
pub fn forget_references(
    store: &dyn crate::store::Kv,
    tenant: &TenantId,
    subject: &str,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for id in store.keys(SESSIONS)? {
        let Some(mut s) = store.get_json::<Session>(SESSIONS, &id)? else {
            continue;
        };
        if &s.tenant == tenant && s.vendor_data.as_deref() == Some(subject) && s.reference.is_some()
        {
            s.reference = None;
            s.reference_source = None;
            store.put_json(SESSIONS, &id, &s, None)?;
            n += 1;
        }
    }
    Ok(n)
}

impl Session {
    /// The risk codes of the warnings in its liveness checks and face matches.
    pub fn risks(&self) -> Vec<String> {
        self.liveness_checks
            .iter()
            .chain(self.face_matches.iter())
            .flatten()
            .filter_map(|c| c["warnings"].as_array())
            .flatten()
            .filter_map(|w| w["risk"].as_str().map(str::to_owned))
            .collect()
    }

    fn feature_list(&self) -> Vec<Value> {
        let status_of = |blocks: &Option<Vec<Value>>| {
            blocks
                .as_ref()
                .and_then(|b| b.first())
                .and_then(|b| b.get("status").cloned())
                .unwrap_or(json!("Not Finished"))
        };
        self.features
            .iter()
            .map(|f| {
                let st = match f.as_str() {
                    "LIVENESS" => status_of(&self.liveness_checks),
                    _ => status_of(&self.face_matches),
                };
                json!({"feature": f, "status": st})
            })
            .collect()
    }
}

impl Provider {
    fn session_url(&self, s: &Session) -> String {
        match &s.language {
            Some(l) => format!("{}/{l}/session/{}", self.issuer(), s.session_token),
            None => format!("{}/session/{}", self.issuer(), s.session_token),
        }
    }

    /// The 201 body of `POST /v3/session/`.
    pub fn session_created_json(&self, s: &Session) -> Value {
        json!({
            "session_id": s.session_id,
            "session_number": s.session_number,
            "session_token": s.session_token,
            "url": self.session_url(s),
            "vendor_data": s.vendor_data,
            "metadata": s.metadata,
            "status": s.status.as_str(),
            "workflow_id": s.workflow_id,
            "workflow_version": s.workflow_version,
            "callback": s.callback,
        })
    }

    /// A session of `tenant` (another tenant's answers "not found", like a wrong id).
    pub fn get_session(&self, tenant: &TenantId, id: &str) -> Result<Session, DiditError> {
        self.load_session(id)?
            .filter(|s| &s.tenant == tenant)
            .ok_or(DiditError::NotFound)
    }

    /// A session by id, whatever its tenant: only for ids the server holds itself (a hosted
    /// link's token, a capture flow), never for ids from a request.
    fn load_session(&self, id: &str) -> Result<Option<Session>, DiditError> {
        if id.len() > 64 {
            return Ok(None);
        }
        Ok(self.store.get_json::<Session>(SESSIONS, id)?)
    }

    /// The next session number of a tenant (each tenant counts its own, so numbers reveal
    /// nothing about another tenant's traffic).
    fn next_session_number(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        self.store
            .add(COUNTERS, &tenant.key("session_number"), 1, None)
    }

    fn save_session(&self, s: &Session) -> Result<(), StoreError> {
        self.store.put_json(SESSIONS, &s.session_id, s, None)?;
        if s.status.is_unfinished() {
            self.store.put(OPEN, &s.session_id, b"1", None)?;
            if let Some(v) = &s.vendor_data {
                self.store.put(
                    BY_VENDOR,
                    &format!("{}:{v}", s.workflow_id),
                    s.session_id.as_bytes(),
                    None,
                )?;
            }
        } else {
            self.close_indexes(s)?;
        }
        Ok(())
    }

    /// Drops a session from the open-session and idempotency indexes (the latter only while
    /// it still points at this session).
    fn close_indexes(&self, s: &Session) -> Result<(), StoreError> {
        self.store.delete(OPEN, &s.session_id)?;
        if let Some(v) = &s.vendor_data {
            let k = format!("{}:{v}", s.workflow_id);
            if self.store.get(BY_VENDOR, &k)?.as_deref() == Some(s.session_id.as_bytes()) {
                self.store.delete(BY_VENDOR, &k)?;
            }
        }
        Ok(())
    }

    /// The `status.updated` / `data.updated` envelope (without `timestamp`, which the delivery
    /// sets and signs on every attempt).
    pub fn session_event(&self, s: &Session, webhook_type: &str) -> Value {
        let mut e = json!({
            "event_id": uuid_v4(),
            "webhook_type": webhook_type,
            "created_at": self.now(),
            "application_id": self.application_id(),
            "environment": "live",
            "session_id": s.session_id,
            "status": s.status.as_str(),
            "workflow_version": s.workflow_version,
        });
        if !s.workflow_id.is_empty() {
            e["workflow_id"] = json!(s.workflow_id);
        }
        if let Some(v) = &s.vendor_data {
            e["vendor_data"] = json!(v);
        }
        if let Some(m) = &s.metadata {
            e["metadata"] = m.clone();
        }
        if s.status.carries_decision() {
            e["decision"] = self.decision_json(s);
        }
        e
    }

    /// `application_id` of the envelopes: configured, or a stable UUID derived from the issuer.
    pub fn application_id(&self) -> String {
        if !self.cfg.webhooks.application_id.is_empty() {
            return self.cfg.webhooks.application_id.clone();
        }
        crate::ids::uuid_from(self.issuer())
    }

    /// Saves a session together with the webhook event its change causes, so the event is never
    /// lost: the event is first recorded as pending, then the session is saved, then the event
    /// is queued for the destinations and the pending record dropped. If the process stops or
    /// the queue fails in between, the sweep queues it later; if the session was never saved,
    /// the sweep drops it (no event for a change that did not happen).
    fn save_with_event(&self, s: &mut Session, webhook_type: &str) -> Result<(), StoreError> {
        s.events += 1;
        let event = self.session_event(s, webhook_type);
        let id = event["event_id"].as_str().unwrap_or_default().to_owned();
        let pending = PendingEvent {
            session_id: s.session_id.clone(),
            tenant: s.tenant.clone(),
            seq: s.events,
            at: self.now(),
            event,
        };
        self.store.put_json(PENDING_EVENTS, &id, &pending, None)?;
        self.save_session(s)?;
        if let Err(err) = self.hand_over(&id, &pending.tenant, &pending.event) {
            tracing::warn!(error = %err, session = %s.session_id, "webhook event left for the sweep");
        }
        Ok(())
    }

    fn hand_over(&self, id: &str, tenant: &TenantId, event: &Value) -> Result<(), StoreError> {
        self.outbox.enqueue(tenant, event)?;
        self.store.delete(PENDING_EVENTS, id)?;
        Ok(())
    }

    /// Queues the pending events whose requests stopped before doing so (see
    /// [`Provider::save_with_event`]); drops those whose session change never happened.
    /// Returns how many were queued.
    pub fn sweep_pending_events(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let mut queued = 0;
        for id in self.store.keys(PENDING_EVENTS)? {
            let Some(p) = self.store.get_json::<PendingEvent>(PENDING_EVENTS, &id)? else {
                continue;
            };
            if p.at > now - PENDING_GRACE_SECS {
                continue;
            }
            let saved = self
                .store
                .get_json::<Session>(SESSIONS, &p.session_id)?
                .is_some_and(|cur| cur.events >= p.seq);
            if saved {
                self.hand_over(&id, &p.tenant, &p.event)?;
                queued += 1;
            } else {
                tracing::info!(session = %p.session_id, event = %id, "dropping the event of a session change that was not saved");
                self.store.delete(PENDING_EVENTS, &id)?;
            }
        }
        Ok(queued)
    }

    fn set_status(&self, s: &mut Session, status: SessionStatus) -> Result<(), StoreError> {
        let changed = s.status != status;
        s.status = status;
        s.updated_at = self.now();
        if !changed {
            return self.save_session(s);
        }
        tracing::info!(session = %s.session_id, status = status.as_str(), "session status");
        self.save_with_event(s, "status.updated")
    }

    /// Resolves the reference face: an explicit portrait wins; otherwise the stored face of
    /// `vendor_data`.
    fn reference_face(
        &self,
        tenant: &TenantId,
        portrait: Option<&Value>,
        vendor_data: Option<&str>,
    ) -> Result<(Template, &'static str), DiditError> {
        if let Some(p) = portrait {
            let bytes = decode_portrait(p)?;
            let (enrolment, analysis) = self.engine.enrol(&bytes).map_err(|e| {
                if e.is_client_error() {
                    invalid("portrait_image", NOT_AN_IMAGE)
                } else {
                    tracing::error!(error = %e, "portrait analysis failed");
                    DiditError::Unavailable("the biometric engine failed".into())
                }
            })?;
            return match enrolment {
                Enrolment::Enrolled(t) => Ok((t, "portrait_image")),
                Enrolment::Refused(_) if analysis.face.is_none() => Err(invalid(
                    "portrait_image",
                    "No face was detected in the portrait image.",
                )),
                Enrolment::Refused(risks) => {
                    // A usable face that misses enrolment quality still serves as reference.
                    self.engine
                        .template_from(&analysis)
                        .map(|t| (t, "portrait_image"))
                        .ok_or_else(|| {
                            invalid(
                                "portrait_image",
                                format!(
                                    "The portrait cannot be used as a reference face ({risks:?})."
                                ),
                            )
                        })
                }
            };
        }
        match vendor_data {
            Some(v) => {
                let rec: Option<EnrolmentRecord> =
                    self.store.get_json(ns::ENROLMENTS, &tenant.key(v))?;
                if let Some(r) = rec {
                    return Ok((r.template, "stored_face"));
                }
                let kept: Option<SessionFace> =
                    self.store.get_json(SESSION_FACES, &tenant.key(v))?;
                kept.map(|f| (f.template, "stored_face"))
                    .ok_or_else(|| invalid_plain("portrait_image", NO_STORED_FACE))
            }
            None => Err(invalid_plain("portrait_image", PORTRAIT_REQUIRED)),
        }
    }

    /// `POST /v3/session/`. Returns the 201 body.
    pub fn create_session(&self, key: &ApiKeyRecord, body: &Value) -> Result<Value, DiditError> {
        let b = body
            .as_object()
            .ok_or_else(|| DiditError::Invalid(json!({"detail": "Expected a JSON object."})))?;
        let wf_id = match b.get("workflow_id") {
            None | Some(Value::Null) => {
                return Err(invalid("workflow_id", "This field is required."));
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid_plain("workflow_id", "Invalid workflow_id.")),
        };
        let wf: Workflow = if wf_id.len() == 36 {
            workflows::get(&*self.store, &key.tenant, &wf_id)?
        } else {
            None
        }
        .ok_or_else(|| invalid_plain("workflow_id", "Invalid workflow_id."))?;
        let vendor_data = opt_string(b, "vendor_data", 255)?;
        if vendor_data
            .as_deref()
            .is_some_and(|v| !crate::tenant::check_subject(v))
        {
            return Err(invalid(
                "vendor_data",
                "Control characters are not allowed in this field.",
            ));
        }
        let callback = opt_string(b, "callback", 2048)?;
        if let Some(c) = &callback {
            check_callback(c)?;
        }
        let callback_method =
            opt_string(b, "callback_method", 16)?.unwrap_or_else(|| "initiator".into());
        if !["initiator", "completer", "both"].contains(&callback_method.as_str()) {
            return Err(invalid(
                "callback_method",
                format!("\"{callback_method}\" is not a valid choice."),
            ));
        }
        let language = opt_string(b, "language", 8)?;
        if let Some(l) = &language
            && !LANGUAGES.contains(&l.as_str())
        {
            return Err(invalid(
                "language",
                format!("\"{l}\" is not a valid choice."),
            ));
        }
        for f in ["metadata", "contact_details", "expected_details"] {
            if let Some(v) = b.get(f)
                && serde_json::to_vec(v).map_or(0, |x| x.len()) > MAX_DETAILS_BYTES
            {
                return Err(invalid(
                    f,
                    format!(
                        "Ensure this field has no more than {MAX_DETAILS_BYTES} bytes of JSON."
                    ),
                ));
            }
        }
        let contact_details = opt_object(b, "contact_details")?;
        let expected_details = opt_object(b, "expected_details")?;
        if let Some(e) = &expected_details
            && e.get("address").is_some_and(|a| !a.is_null())
            && e.get("country").is_none_or(Value::is_null)
            && e.get("poa_country").is_none_or(Value::is_null)
        {
            return Err(DiditError::Invalid(json!({"expected_details": {
                "address": ["An address needs its country (country or poa_country)."]
            }})));
        }
        if b.get("sandbox_scenario").is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                "sandbox_scenario",
                "This field is only accepted with sandbox API keys.",
            ));
        }
        let metadata = b.get("metadata").filter(|v| !v.is_null()).cloned();
        let portrait = b.get("portrait_image").filter(|v| !v.is_null());
        let now = self.now();

        // Idempotency: the same user with an unfinished session of this workflow version.
        if let Some(v) = &vendor_data
            && let Some(id) = self.store.get(BY_VENDOR, &format!("{wf_id}:{v}"))?
            && let Some(mut s) = self
                .store
                .get_json::<Session>(SESSIONS, &String::from_utf8_lossy(&id))?
            && s.status.is_unfinished()
            && s.workflow_version == wf.version
            && s.expires_at.is_none_or(|e| e > now)
        {
            let mut changed = false;
            if callback.is_some() && callback != s.callback {
                s.callback = callback;
                changed = true;
            }
            if metadata.is_some() && metadata != s.metadata {
                s.metadata = metadata;
                changed = true;
            }
            if wf.rules.face_match && portrait.is_some() {
                let (t, src) = self.reference_face(&key.tenant, portrait, Some(v))?;
                s.reference = Some(t);
                s.reference_source = Some(src.into());
                changed = true;
            }
            if changed {
                s.updated_at = now;
                self.save_with_event(&mut s, "data.updated")?;
            }
            return Ok(self.session_created_json(&s));
        }

        let (reference, reference_source) = if wf.rules.face_match {
            let (t, src) = self.reference_face(&key.tenant, portrait, vendor_data.as_deref())?;
            (Some(t), Some(src.to_owned()))
        } else {
            (None, None)
        };
        let session_number = self.next_session_number(&key.tenant)?;
        let mut s = Session {
            session_id: uuid_v4(),
            session_number,
            session_token: session_token(),
            workflow_id: wf.uuid.clone(),
            workflow_version: wf.version,
            rules: wf.rules.clone(),
            features: wf.feature_names(),
            vendor_data,
            metadata,
            callback,
            callback_method,
            language,
            contact_details,
            expected_details,
            status: SessionStatus::NotStarted,
            session_type: "HOSTED".into(),
            api_service: None,
            reference,
            reference_source,
            liveness_checks: None,
            face_matches: None,
            reviews: Vec::new(),
            attempts: 0,
            flow_id: None,
            api_key_id: key.id.clone(),
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            expires_at: Some(now + wf.session_expiration_time as i64),
            events: 0,
            tenant: key.tenant.clone(),
        };
        self.store
            .put(TOKENS, &s.session_token, s.session_id.as_bytes(), None)?;
        self.save_with_event(&mut s, "status.updated")?;
        Ok(self.session_created_json(&s))
    }

    /// The session behind a hosted link (moved to Expired when its time is up), without
    /// starting anything: what `GET` on the link shows.
    pub fn hosted_session(&self, token: &str) -> Result<Session, DiditError> {
        if token.len() > 32 {
            return Err(DiditError::NotFound);
        }
        let id = self.store.get(TOKENS, token)?.ok_or(DiditError::NotFound)?;
        let mut s = self
            .load_session(&String::from_utf8_lossy(&id))?
            .ok_or(DiditError::NotFound)?;
        if s.status.is_unfinished() && s.expires_at.is_some_and(|e| e <= self.now()) {
            self.set_status(&mut s, SessionStatus::Expired)?;
        }
        Ok(s)
    }

    /// Whether the hosted link can still start a capture.
    pub fn can_capture(s: &Session) -> bool {
        s.status.is_unfinished() && s.attempts < s.rules.max_attempts()
    }

    /// The hosted link's start (`POST`): opens a capture flow bound to this browser, or says
    /// the session is done.
    pub fn open_hosted(&self, token: &str) -> Result<Hosted, DiditError> {
        let mut s = self.hosted_session(token)?;
        let now = self.now();
        let budget = s.rules.max_attempts();
        if !Self::can_capture(&s) {
            return Ok(Hosted::Done(Box::new(s)));
        }
        if let Some(old) = s.flow_id.take() {
            self.store.delete(ns::FLOWS, &old)?;
        }
        let binding_secret = random_token(24);
        let subject = s
            .vendor_data
            .clone()
            .unwrap_or_else(|| s.session_id.clone());
        let flow = Flow {
            id: random_token(18),
            request: AuthorizationRequest {
                client_id: SESSION_CLIENT.into(),
                redirect_uri: s.callback.clone().unwrap_or_default(),
                scope: vec![],
                state: None,
                nonce: None,
                code_challenge: String::new(),
                prompt: vec![],
                max_age: None,
                acr_values: vec![],
                login_hint: Some(subject.clone()),
                id_token_hint: None,
                authorization_details: None,
                pushed: false,
            },
            tenant: s.tenant.clone(),
            subject,
            purpose: Purpose::Session,
            liveness: s.rules.liveness_method,
            liveness_by: Because::Workflow,
            binding: digest(&binding_secret),
            handoff: super::device::handoff_digest(&binding_secret),
            created_at: now,
            expires_at: (now + self.cfg.oidc.flow_lifetime_secs as i64)
                .min(s.expires_at.unwrap_or(i64::MAX)),
            attempts: 0,
            max_attempts: budget - s.attempts,
            status: FlowStatus::AwaitingCapture,
            decisions: Vec::new(),
            session: Some(s.session_id.clone()),
            prior: None,
        };
        self.put_flow(&flow)
            .map_err(|_| DiditError::Unavailable("storage unavailable".into()))?;
        s.flow_id = Some(flow.id.clone());
        s.last_activity_at = now;
        let status =
            if s.status == SessionStatus::NotStarted || s.status == SessionStatus::Resubmitted {
                SessionStatus::InProgress
            } else {
                s.status
            };
        self.set_status(&mut s, status)?;
        Ok(Hosted::Capture {
            flow_id: flow.id,
            binding_secret,
        })
    }

    /// Judges a hosted-session capture with the workflow's bands.
    pub(crate) fn judge_session(
        &self,
        flow: &mut Flow,
        ch: &Challenge,
        burst: &CaptureOutcome,
        frames: &[&[u8]],
        waited_ms: i64,
        ctx: &RequestContext,
    ) -> Result<CaptureResult, CaptureError> {
        let proto = |e: DiditError| CaptureError::Protocol(OAuthError::server(e.to_string()));
        let store = |e: StoreError| CaptureError::Protocol(super::store_err(e));
        let sid = flow.session.clone().unwrap_or_default();
        let mut s = self.get_session(&flow.tenant, &sid).map_err(proto)?;
        if !s.status.is_unfinished() {
            return Err(CaptureError::Protocol(OAuthError::invalid_request(
                "this verification is already decided",
            )));
        }
        // Only the capture the link opened last may decide, within the session's budget.
        if s.flow_id.as_deref() != Some(flow.id.as_str()) || s.attempts >= s.rules.max_attempts() {
            return Err(CaptureError::Protocol(OAuthError::invalid_request(
                "this capture was replaced by a newer one or has no attempts left",
            )));
        }
        let now = self.now();
        let mut statuses = Vec::new();
        let mut verdict = self.new_verdict(
            Channel::Session,
            "",
            format!("api-key:{}", s.api_key_id),
            &s.tenant,
        );
        self.describe_capture(&mut verdict, flow, ch, burst, frames.len(), waited_ms);
        if !burst.protocol_ok() && !s.rules.liveness {
            // No LIVENESS feature to report it, but a capture that broke its challenge never
            // decides in the user's favour.
            statuses.push(FeatureStatus::Declined);
        }
        if s.rules.liveness {
            let (st, score, warnings) = liveness_band(burst, &s.rules);
            let q = burst.quality.as_ref();
            s.liveness_checks = Some(vec![json!({
                "node_id": LIVENESS_NODE,
                "status": st,
                "method": burst.method.as_str(),
                "score": score,
                "reference_image": null,
                "video_url": null,
                "age_estimation": null,
                "matches": [],
                "warnings": warnings,
                "face_quality": q.map(|q| round2(f64::from(q.face_quality))),
                "face_luminance": q.map(|q| round2(f64::from(q.face_luminance))),
            })]);
            statuses.push(st);
            verdict.liveness_score = score;
            verdict.liveness_thresholds = Some([s.rules.liveness_decline, s.rules.liveness_review]);
        }
        if s.rules.face_match {
            let scored = match (&s.reference, &burst.embedding) {
                (Some(t), Some(e)) => Some(
                    self.engine
                        .compare(t, e)
                        .map_err(CaptureError::Biometric)?
                        .score,
                ),
                _ => None,
            };
            let (st, score, warnings) = face_match_band(scored, s.reference.is_some(), &s.rules);
            s.face_matches = Some(vec![json!({
                "node_id": FACE_MATCH_NODE,
                "status": st,
                "score": score,
                "source_image_session_id": s.session_id,
                "source_image": null,
                "target_image": null,
                "warnings": warnings,
            })]);
            statuses.push(st);
            verdict.face_match_score = score;
            verdict.face_match_thresholds =
                Some([s.rules.face_match_decline, s.rules.face_match_review]);
        }
        let outcome = combine(&statuses);
        s.attempts += 1;
        s.last_activity_at = now;
        let decided = outcome != FeatureStatus::Declined;
        flow.record(
            Decision {
                liveness_method: Some(burst.method),
                liveness_score: verdict.liveness_score,
                match_score: verdict.face_match_score,
                approved: decided,
                risks: burst.risks.iter().map(|r| r.code()).collect(),
                at: now,
            },
            "",
        )
        .map_err(CaptureError::Protocol)?;
        let final_status = match (outcome, &flow.status) {
            (FeatureStatus::Approved, _) => Some(SessionStatus::Approved),
            (FeatureStatus::InReview, _) => Some(SessionStatus::InReview),
            (FeatureStatus::Declined, FlowStatus::Failed { .. }) => Some(SessionStatus::Declined),
            (FeatureStatus::Declined, _) => None,
        };
        let outcome_name = match outcome {
            FeatureStatus::Approved => "Approved",
            FeatureStatus::InReview => "In Review",
            FeatureStatus::Declined => "Declined",
        };
        verdict.outcome = outcome_name.into();
        verdict.subject = s.vendor_data.clone();
        verdict.flow_id = Some(flow.id.clone());
        verdict.session_id = Some(s.session_id.clone());
        verdict.workflow_id = Some(s.workflow_id.clone());
        verdict.workflow_version = Some(s.workflow_version);
        verdict.attempt = s.attempts;
        verdict.reasons = burst.risks.iter().map(|r| r.code()).collect();
        verdict.factors = crate::audit::record::factors(true, &[]);
        tracing::info!(session = %s.session_id, outcome = outcome_name, attempt = s.attempts, liveness = ?verdict.liveness_score, face_match = ?verdict.face_match_score, "session capture judged");
        self.record_verdict(verdict, Some(ctx), frames)
            .map_err(store)?;
        // An approved, good-quality live face becomes the user's stored face for later API
        // sessions when they have none yet (never for the OpenID flow: see SESSION_FACES).
        let clean = !burst.risks.iter().any(|r| {
            matches!(
                r,
                Risk::MultipleFacesDetected
                    | Risk::LowFaceQuality
                    | Risk::LowFaceLuminance
                    | Risk::HighFaceLuminance
            )
        });
        if outcome == FeatureStatus::Approved
            && s.rules.liveness
            && clean
            && let Some(v) = &s.vendor_data
            && self
                .store
                .get(ns::ENROLMENTS, &s.tenant.key(v))
                .map_err(store)?
                .is_none()
            && burst.protocol_ok()
            && let Some(t) = self.engine.template_from_capture(burst)
        {
            let face = SessionFace {
                template: t,
                session_id: s.session_id.clone(),
                kept_at: now,
            };
            self.store
                .put_new_json(SESSION_FACES, &s.tenant.key(v), &face, None)
                .map_err(store)?;
        }
        match final_status {
            Some(st) => self.set_status(&mut s, st).map_err(store)?,
            None => {
                s.updated_at = now;
                self.save_session(&s).map_err(store)?;
            }
        }
        let (status, message) = match (outcome, &flow.status) {
            (FeatureStatus::Approved, _) => {
                ("approved", "Verified. Returning you to the application.")
            }
            (FeatureStatus::InReview, _) => (
                "approved",
                "Thank you. Your verification is being reviewed.",
            ),
            (_, FlowStatus::Failed { .. }) => ("failed", "We could not verify you."),
            _ => (
                "retry",
                "We could not verify you. Face the camera in good light and try again.",
            ),
        };
        Ok(CaptureResult {
            status,
            attempts_left: flow.attempts_left(),
            message: message.into(),
        })
    }

    /// Where the hosted page goes when the capture is over: the callback with
    /// `verificationSessionId` and `status`, or the session's own status page.
    pub(crate) fn session_finish_url(&self, flow: &Flow) -> String {
        let sid = flow.session.clone().unwrap_or_default();
        match self.get_session(&flow.tenant, &sid) {
            Ok(s) => match (&s.callback, s.status) {
                (
                    Some(c),
                    st @ (SessionStatus::Approved
                    | SessionStatus::Declined
                    | SessionStatus::InReview),
                ) => callback_url(c, &s.session_id, st),
                _ => format!("/session/{}", s.session_token),
            },
            Err(_) => "/".into(),
        }
    }

    /// `GET /v3/session/{id}/decision/`.
    pub fn decision_json(&self, s: &Session) -> Value {
        json!({
            "session_id": s.session_id,
            "session_kind": "user",
            "session_number": s.session_number,
            "session_url": self.session_url(s),
            "url": self.session_url(s),
            "status": s.status.as_str(),
            "workflow_id": s.workflow_id,
            "workflow_version": s.workflow_version,
            "features": s.features,
            "vendor_data": s.vendor_data,
            "metadata": s.metadata,
            "expected_details": s.expected_details,
            "contact_details": s.contact_details,
            "callback": s.callback,
            // Every feature block is a list, empty until its feature has run: strict clients
            // model them as lists and refuse null.
            "id_verifications": [],
            "nfc_verifications": [],
            "liveness_checks": s.liveness_checks.clone().unwrap_or_default(),
            "face_matches": s.face_matches.clone().unwrap_or_default(),
            "phone_verifications": [],
            "email_verifications": [],
            "poa_verifications": [],
            "document_ai_documents": [],
            "questionnaire_responses": [],
            "aml_screenings": [],
            "ip_analyses": [],
            "database_validations": [],
            "reviews": s.reviews,
            "created_at": iso8601(s.created_at),
            "expires_at": s.expires_at.map(iso8601),
            "environment": "live",
        })
    }

    fn list_row(&self, s: &Session) -> Value {
        let lv = s.liveness_checks.as_ref().and_then(|v| v.first());
        let fm = s.face_matches.as_ref().and_then(|v| v.first());
        json!({
            "session_id": s.session_id,
            "session_kind": "user",
            "session_number": s.session_number,
            "session_url": self.session_url(s),
            "portrait_image": null,
            "document_type": null,
            "full_name": null,
            "country": null,
            "status": s.status.as_str(),
            "vendor_data": s.vendor_data,
            "didit_internal_id": null,
            "created_at": iso8601(s.created_at),
            "features": s.feature_list(),
            "phone_number": null,
            "email_address": null,
            "session_type": s.session_type,
            "workflow_id": s.workflow_id,
            "additional_details": {
                "liveness": lv.map(|l| json!({"method": l["method"], "score": l["score"]})),
                "face_match": fm.map(|f| json!({"score": f["score"], "source_image": null, "target_image": null})),
            },
        })
    }

    /// `GET /v3/sessions/` with filters and pagination (newest first).
    pub fn list_sessions(
        &self,
        tenant: &TenantId,
        query: &[(String, String)],
    ) -> Result<Value, DiditError> {
        let mut no_document_filter = false;
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let list = |k: &str| -> Option<Vec<String>> {
            q(k).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        let num = |k: &str, default: usize| -> Result<usize, DiditError> {
            match q(k) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| invalid(k, "A valid integer is required.")),
            }
        };
        if let Some((k, _)) = query
            .iter()
            .find(|(k, _)| !LIST_FILTERS.contains(&k.as_str()))
        {
            return Err(invalid(
                k,
                format!("Unknown filter. Supported: {}.", LIST_FILTERS.join(", ")),
            ));
        }
        // Filters on data this server never collects (documents, addresses, Didit's internal
        // ids): checked, and no session matches them (its value is null), never ignored.
        for k in [
            "country",
            "document_type",
            "document_name",
            "region",
            "didit_internal_id",
        ] {
            if let Some(v) = list(k) {
                if k == "country"
                    && v.iter()
                        .any(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
                {
                    return Err(invalid(
                        k,
                        "Use ISO 3166-1 alpha-3 codes (e.g. ESP), comma-separated.",
                    ));
                }
                if !v.is_empty() {
                    no_document_filter = true;
                }
            }
        }
        let initialized_in_review = match q("status_initialized_as_in_review") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(invalid(
                    "status_initialized_as_in_review",
                    "Must be a valid boolean.",
                ));
            }
        };
        let limit = num("limit", 50)?.clamp(1, 1000);
        let offset = num("offset", 0)?;
        let kind = q("session_kind").unwrap_or("user");
        if !["user", "business", "all"].contains(&kind) {
            return Err(invalid(
                "session_kind",
                format!("\"{kind}\" is not a valid choice."),
            ));
        }
        let statuses = list("status");
        if let Some(st) = &statuses {
            for x in st {
                if SessionStatus::parse(x).is_none() {
                    return Err(invalid("status", format!("\"{x}\" is not a valid choice.")));
                }
            }
        }
        let dates =
            super::didit::DateRange::parse(q("date_from"), q("date_to"), ["date_from", "date_to"])?;
        let workflows = list("workflow_id");
        let vendor = q("vendor_data");
        let search = q("search").map(str::to_lowercase);
        let session_type = q("session_type");
        let api_service = q("api_service");
        let warnings = list("warning");
        let mut rows: Vec<Session> = Vec::new();
        if kind != "business" {
            for k in self.store.keys(SESSIONS)? {
                let Some(s) = self.store.get_json::<Session>(SESSIONS, &k)? else {
                    continue;
                };
                let keep = &s.tenant == tenant
                    && !no_document_filter
                    // Sessions start Not Started, never In Review.
                    && initialized_in_review != Some(true)
                    && statuses
                        .as_ref()
                        .is_none_or(|st| st.iter().any(|x| x == s.status.as_str()))
                    && workflows
                        .as_ref()
                        .is_none_or(|w| w.contains(&s.workflow_id))
                    && vendor.is_none_or(|v| s.vendor_data.as_deref() == Some(v))
                    && dates.contains_secs(s.created_at)
                    && session_type.is_none_or(|t| t == s.session_type)
                    && api_service.is_none_or(|a| s.api_service.as_deref() == Some(a))
                    && warnings
                        .as_ref()
                        .is_none_or(|w| s.risks().iter().any(|r| w.contains(r)))
                    && search.as_ref().is_none_or(|x| {
                        s.session_id.contains(x.as_str())
                            || s.vendor_data
                                .as_ref()
                                .is_some_and(|v| v.to_lowercase().contains(x.as_str()))
                            || s.session_number.to_string() == *x
                    });
                if keep {
                    rows.push(s);
                }
            }
        }
        rows.sort_by_key(|s| std::cmp::Reverse(s.session_number));
        let count = rows.len();
        let page_url = |off: usize| {
            let mut u = url::Url::parse(&self.endpoint("/v3/sessions/")).expect("issuer is a URL");
            {
                let mut qp = u.query_pairs_mut();
                for (k, v) in query.iter().filter(|(k, _)| k != "offset" && k != "limit") {
                    qp.append_pair(k, v);
                }
                qp.append_pair("limit", &limit.to_string());
                qp.append_pair("offset", &off.to_string());
            }
            u.to_string()
        };
        let results: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|s| self.list_row(s))
            .collect();
        Ok(json!({
            "count": count,
            "next": (offset + limit < count).then(|| page_url(offset + limit)),
            "previous": (offset > 0).then(|| page_url(offset.saturating_sub(limit))),
            "results": results,
        }))
    }

    /// `DELETE /v3/session/{id}/delete/`.
    pub fn delete_session(
        &self,
        tenant: &TenantId,
        id: &str,
        body: &Value,
    ) -> Result<Value, DiditError> {
        let s = self.get_session(tenant, id)?;
        let b = body.as_object().cloned().unwrap_or_default();
        let retain = match b.get("retain_face_embeddings") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(x)) => *x,
            Some(_) => {
                return Err(invalid(
                    "retain_face_embeddings",
                    "Must be a valid boolean.",
                ));
            }
        };
        if let Some(d) = b.get("face_retention_days").filter(|v| !v.is_null()) {
            let n = d.as_i64().unwrap_or(0);
            if !(1..=3650).contains(&n) {
                return Err(invalid(
                    "face_retention_days",
                    "Ensure this value is between 1 and 3650.",
                ));
            }
        }
        let instruction = b.get("deletion_instruction").and_then(Value::as_str);
        if let Some(i) = instruction
            && i != "operational_session_delete"
            && i != "privacy_erasure"
        {
            return Err(invalid(
                "deletion_instruction",
                format!("\"{i}\" is not a valid choice."),
            ));
        }
        let enrolled: Option<EnrolmentRecord> = match &s.vendor_data {
            Some(v) => self.store.get_json(ns::ENROLMENTS, &tenant.key(v))?,
            None => None,
        };
        let kept: Option<SessionFace> = match &s.vendor_data {
            Some(v) => self.store.get_json(SESSION_FACES, &tenant.key(v))?,
            None => None,
        };
        let kept_here = kept.as_ref().is_some_and(|f| f.session_id == s.session_id);
        let (outcome, template) = if retain && instruction != Some("privacy_erasure") {
            match (&s.vendor_data, &enrolled, &kept) {
                (None, _, _) => ("ineligible_no_vendor_user", None),
                (Some(v), Some(r), _) => (
                    "retained_with_user",
                    Some(template_uuid("enrolment", &tenant.key(v), r.enrolled_at)),
                ),
                (Some(v), None, Some(f)) => (
                    "retained_with_user",
                    Some(template_uuid("session", &tenant.key(v), f.kept_at)),
                ),
                (Some(_), None, None) => ("none", None),
            }
        } else if s.reference.is_some() || kept_here {
            if kept_here && let Some(v) = &s.vendor_data {
                self.store.delete(SESSION_FACES, &tenant.key(v))?;
            }
            ("deleted", None)
        } else {
            ("none", None)
        };
        if let Some(f) = &s.flow_id {
            self.store.delete(ns::FLOWS, f)?;
        }
        self.store.delete(TOKENS, &s.session_token)?;
        self.close_indexes(&s)?;
        self.store.delete(SESSIONS, &s.session_id)?;
        tracing::info!(session = %s.session_id, outcome, "session deleted");
        Ok(json!({
            "session_id": s.session_id,
            "session_number": s.session_number,
            "face_retention_outcome": outcome,
            "biometric_template_uuid": template,
        }))
    }

    /// `POST /v3/sessions/delete/`: by `session_numbers` (digit strings or numbers) or
    /// `delete_all`; the same retention fields as the single delete.
    pub fn delete_sessions(&self, tenant: &TenantId, body: &Value) -> Result<Value, DiditError> {
        let b = body
            .as_object()
            .ok_or_else(|| DiditError::Invalid(json!({"detail": "Expected a JSON object."})))?;
        let all = b.get("delete_all") == Some(&Value::Bool(true));
        let wanted: Option<Vec<i64>> = match b.get("session_numbers") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) if a.len() <= 1000 => Some(
                a.iter()
                    .map(|n| match n {
                        Value::String(x) => x.parse().ok(),
                        Value::Number(x) => x.as_i64(),
                        _ => None,
                    })
                    .collect::<Option<Vec<i64>>>()
                    .ok_or_else(|| {
                        invalid("session_numbers", "A list of session numbers is required.")
                    })?,
            ),
            Some(_) => {
                return Err(invalid(
                    "session_numbers",
                    "A list of at most 1000 session numbers is required.",
                ));
            }
        };
        if !all && wanted.is_none() {
            return Err(invalid(
                "session_numbers",
                "Send session_numbers or delete_all.",
            ));
        }
        let mut ids = Vec::new();
        for k in self.store.keys(SESSIONS)? {
            if let Some(s) = self.store.get_json::<Session>(SESSIONS, &k)?
                && &s.tenant == tenant
                && (all
                    || wanted
                        .as_ref()
                        .is_some_and(|w| w.contains(&s.session_number)))
            {
                ids.push(s.session_id);
            }
        }
        let mut per = b.clone();
        per.remove("session_numbers");
        per.remove("delete_all");
        let per = Value::Object(per);
        let mut results = Vec::new();
        for id in ids {
            results.push(self.delete_session(tenant, &id, &per)?);
        }
        Ok(json!({ "results": results }))
    }

    /// `PATCH /v3/session/{id}/update-status/` (manual review through the API).
    pub fn update_session_status(
        &self,
        key: &ApiKeyRecord,
        id: &str,
        body: &Value,
    ) -> Result<Value, DiditError> {
        let b = body
            .as_object()
            .ok_or_else(|| DiditError::Invalid(json!({"detail": "Expected a JSON object."})))?;
        let new = match b.get("new_status").and_then(Value::as_str) {
            None => return Err(invalid("new_status", "This field is required.")),
            Some(x @ ("Approved" | "Declined" | "Resubmitted")) => {
                SessionStatus::parse(x).expect("known status")
            }
            Some(x) => {
                return Err(invalid(
                    "new_status",
                    format!("\"{x}\" is not a valid choice."),
                ));
            }
        };
        let comment = opt_string(b, "comment", 2000)?;
        if let Some(nodes) = b.get("nodes_to_resubmit").filter(|v| !v.is_null()) {
            let arr = nodes
                .as_array()
                .ok_or_else(|| invalid("nodes_to_resubmit", "Expected a list of items."))?;
            for n in arr {
                let ok = n.get("node_id").and_then(Value::as_str).is_some()
                    && n.get("feature")
                        .and_then(Value::as_str)
                        .is_some_and(|f| FEATURE_ENUM.contains(&f));
                if !ok {
                    return Err(invalid(
                        "nodes_to_resubmit",
                        "Each item needs a node_id and a valid feature.",
                    ));
                }
            }
        }
        if b.get("send_email") == Some(&Value::Bool(true)) {
            if b.get("email_address").is_none_or(Value::is_null) {
                return Err(invalid(
                    "email_address",
                    "This field is required when send_email is true.",
                ));
            }
            return Err(invalid(
                "send_email",
                "This server does not send e-mails; notify the user yourself.",
            ));
        }
        let mut s = self.get_session(&key.tenant, id)?;
        let allowed = matches!(
            s.status,
            SessionStatus::Approved
                | SessionStatus::Declined
                | SessionStatus::InReview
                | SessionStatus::KycExpired
                | SessionStatus::Abandoned
                | SessionStatus::Resubmitted
        );
        if !allowed {
            return Err(DiditError::Invalid(json!({"detail": format!(
                "The status of a session that is \"{}\" cannot be changed.", s.status.as_str()
            )})));
        }
        if s.status == new {
            return Err(invalid(
                "new_status",
                format!("The session is already \"{}\".", new.as_str()),
            ));
        }
        let now = self.now();
        s.reviews.push(json!({
            "user": "API Client",
            "new_status": new.as_str(),
            "comment": comment,
            "created_at": iso8601(now),
        }));
        if new == SessionStatus::Resubmitted {
            s.attempts = 0;
            s.expires_at = Some(s.expires_at.unwrap_or(now).max(now + 3600));
            self.store
                .put(TOKENS, &s.session_token, s.session_id.as_bytes(), None)?;
        }
        let mut v = self.new_verdict(
            Channel::Review,
            new.as_str(),
            format!("api-key:{}", key.id),
            &key.tenant,
        );
        v.subject = s.vendor_data.clone();
        v.session_id = Some(s.session_id.clone());
        v.workflow_id = Some(s.workflow_id.clone());
        v.workflow_version = Some(s.workflow_version);
        v.attempt = s.attempts;
        v.reasons = vec![format!("MANUAL_REVIEW:{}", s.status.as_str())];
        self.record_verdict(v, None, &[])?;
        self.set_status(&mut s, new)?;
        Ok(json!({"session_id": s.session_id}))
    }

    /// Saves a standalone check as an API-type session (`save_api_request=true`) and fires its
    /// `status.updated`. `request_id` becomes the session id.
    pub fn save_api_session(
        &self,
        key: &ApiKeyRecord,
        api_service: &str,
        response: &Value,
        vendor_data: Option<String>,
        metadata: Option<Value>,
    ) -> Result<(), DiditError> {
        let now = self.now();
        let (block_key, feature) = if api_service == "FACE_MATCH" {
            ("face_match", "FACE_MATCH")
        } else {
            ("liveness", "LIVENESS")
        };
        let block = &response[block_key];
        let approved = block["status"] == "Approved";
        let mut b = block.clone();
        if let Some(o) = b.as_object_mut() {
            o.remove("user_image");
            o.remove("ref_image");
            o.insert(
                "node_id".into(),
                json!(if feature == "FACE_MATCH" {
                    FACE_MATCH_NODE
                } else {
                    LIVENESS_NODE
                }),
            );
        }
        let id = response["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let session_number = self.next_session_number(&key.tenant)?;
        let mut s = Session {
            session_id: id,
            session_number,
            session_token: session_token(),
            workflow_id: String::new(),
            workflow_version: 0,
            rules: Rules {
                // A standalone check is one uploaded image: PASSIVE, and said so.
                liveness_method: crate::biometric::capture::LivenessMethod::Passive,
                liveness: feature == "LIVENESS",
                face_match: feature == "FACE_MATCH",
                liveness_decline: 0.0,
                liveness_review: 0.0,
                face_match_decline: 0.0,
                face_match_review: 0.0,
                multiple_faces_action: Action::NoAction,
                face_match_not_computed_action: Action::Decline,
                face_liveness_max_attempts: 1,
                face_match_max_attempts: 1,
            },
            features: vec![feature.into()],
            vendor_data,
            metadata,
            callback: None,
            callback_method: "initiator".into(),
            language: None,
            contact_details: None,
            expected_details: None,
            status: SessionStatus::NotStarted,
            session_type: "API".into(),
            api_service: Some(
                if feature == "FACE_MATCH" {
                    "FACE_MATCH"
                } else {
                    "PASSIVE_LIVENESS"
                }
                .into(),
            ),
            reference: None,
            reference_source: None,
            liveness_checks: (feature == "LIVENESS").then(|| vec![b.clone()]),
            face_matches: (feature == "FACE_MATCH").then(|| vec![b.clone()]),
            reviews: Vec::new(),
            attempts: 1,
            flow_id: None,
            api_key_id: key.id.clone(),
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            expires_at: None,
            events: 0,
            tenant: key.tenant.clone(),
        };
        let mut v = self.new_verdict(
            Channel::Api,
            if approved { "Approved" } else { "Declined" },
            format!("api-key:{}", key.id),
            &key.tenant,
        );
        v.subject = s.vendor_data.clone();
        v.session_id = Some(s.session_id.clone());
        v.attempt = 1;
        if feature == "FACE_MATCH" {
            v.face_match_score = b["score"].as_f64();
        } else {
            v.liveness_score = b["score"].as_f64();
        }
        v.reasons = s.risks();
        if feature != "FACE_MATCH" {
            v.liveness_method = Some("PASSIVE".into());
        }
        self.record_verdict(v, None, &[])?;
        self.set_status(
            &mut s,
            if approved {
                SessionStatus::Approved
            } else {
                SessionStatus::Declined
            },
        )?;
        Ok(())
    }

    /// Moves overdue sessions to `Expired` and idle started ones to `Abandoned`; returns how
    /// many changed. Run periodically by the background task.
    pub fn sweep_sessions(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let idle = self.cfg.sessions.abandon_after_secs as i64;
        let mut changed = 0;
        for id in self.store.keys(OPEN)? {
            let Some(mut s) = self.store.get_json::<Session>(SESSIONS, &id)? else {
                self.store.delete(OPEN, &id)?;
                continue;
            };
            let next = if !s.status.is_unfinished() {
                None
            } else if s.expires_at.is_some_and(|e| e <= now) {
                Some(SessionStatus::Expired)
            } else if s.status == SessionStatus::InProgress && s.last_activity_at + idle <= now {
                Some(SessionStatus::Abandoned)
            } else {
                None
            };
            match next {
                Some(st) => {
                    if let Some(f) = s.flow_id.take() {
                        self.store.delete(ns::FLOWS, &f)?;
                    }
                    self.set_status(&mut s, st)?;
                    changed += 1;
                }
                None if !s.status.is_unfinished() => {
                    self.store.delete(OPEN, &id)?;
                }
                None => {}
            }
        }
        Ok(changed)
    }

    /// The hosted page's touch: a user interacting keeps the session from being abandoned.
    pub(crate) fn touch_session(&self, flow: &Flow) {
        if let Some(id) = &flow.session
            && let Ok(Some(mut s)) = self.store.get_json::<Session>(SESSIONS, id)
            && s.status == SessionStatus::InProgress
        {
            s.last_activity_at = self.now();
            let _ = self.store.put_json(SESSIONS, id, &s, None);
        }
    }
}

/// A template's public uuid: stable for one stored face (`kind` enrolment or session) of one
/// subject.
pub fn template_uuid(kind: &str, subject: &str, at: i64) -> String {
    crate::ids::uuid_from(&format!("{kind}\n{subject}\n{at}"))
}

/// `YYYY-MM-DD` to the Unix time of its midnight (UTC).
#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        workflows::from_body(
            &json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_score_decline_threshold": 50, "face_liveness_score_review_threshold": 60}}, {"feature": "FACE_MATCH"}]}),
            None,
            "w".into(),
            0,
            crate::biometric::capture::LivenessMethod::Flashing,
        )
        .unwrap()
        .rules
    }

    #[test]
    fn statuses_are_spelled_exactly() {
        for s in [
            "Not Started",
            "In Progress",
            "In Review",
            "Approved",
            "Declined",
            "Expired",
            "Abandoned",
            "Kyc Expired",
            "Resubmitted",
            "Awaiting User",
        ] {
            assert_eq!(SessionStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(SessionStatus::parse("approved").is_none());
    }

    #[test]
    fn face_match_bands_are_strictly_above() {
        let r = rules();
        assert_eq!(
            face_match_band(Some(70.01), true, &r).0,
            FeatureStatus::Approved
        );
        assert_eq!(
            face_match_band(Some(70.0), true, &r).0,
            FeatureStatus::InReview
        );
        assert_eq!(
            face_match_band(Some(50.01), true, &r).0,
            FeatureStatus::InReview
        );
        assert_eq!(
            face_match_band(Some(50.0), true, &r).0,
            FeatureStatus::Declined
        );
        let (st, score, w) = face_match_band(Some(99.0), false, &r);
        assert_eq!((st, score), (FeatureStatus::Declined, None));
        assert_eq!(w[0]["risk"], "NO_REFERENCE_IMAGE");
        assert_eq!(
            face_match_band(None, true, &r).2[0]["risk"],
            "FACE_MATCH_NOT_COMPUTED"
        );
    }

    #[test]
    fn combining() {
        use FeatureStatus::*;
        assert_eq!(combine(&[Approved, Approved]), Approved);
        assert_eq!(combine(&[Approved, InReview]), InReview);
        assert_eq!(combine(&[InReview, Declined]), Declined);
    }

    #[test]
    fn portraits_are_bounded_and_checked() {
        let big =
            base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_PORTRAIT_BYTES + 1]);
        let e = decode_portrait(&json!(big)).unwrap_err();
        assert!(
            matches!(e, DiditError::Invalid(v) if v["portrait_image"][0] == "Image size exceeds 2MB.")
        );
        assert!(decode_portrait(&json!("@@not base64@@")).is_err());
        assert!(decode_portrait(&json!(12)).is_err());
        assert_eq!(decode_portrait(&json!("aGVsbG8=")).unwrap(), b"hello");
        assert_eq!(
            decode_portrait(&json!("data:image/png;base64,aGVsbG8=")).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn callbacks_keep_their_query_and_scheme() {
        assert_eq!(
            callback_url(
                "https://app.example/done?x=1",
                "abc",
                SessionStatus::InReview
            ),
            "https://app.example/done?x=1&verificationSessionId=abc&status=In+Review"
        );
        assert_eq!(
            callback_url("myapp://verified", "abc", SessionStatus::Approved),
            "myapp://verified?verificationSessionId=abc&status=Approved"
        );
    }
}
