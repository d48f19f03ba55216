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
use serde_json::Value;

use super::capture::{CaptureResult, EnrolmentRecord};
use super::didit::{ApiKeyRecord, DiditError, iso8601, uuid_v4};
use super::liveness::{Because, Challenge};
use super::state::{Decision as FlowDecision, Flow, FlowStatus, Origin};
use super::verdict::{Channel, RequestContext};
use super::wire::{Problems, Warning};
use super::workflows::{self, Action, Rules, Workflow};
use super::{Provider, digest, ns, random_token};
use crate::biometric::score::{LogType, Risk, round2};
use crate::biometric::{CaptureOutcome, Enrolment, Template};
use crate::protocol::OAuthError;
use crate::store::typed::KvJson;
use crate::store::{Namespace, StoreError};
use crate::tenant::TenantId;
use wire::{
    CreateSession, Decision, DeleteSession, DeleteSessions, FaceMatchCheck, FaceRetention, Feature,
    FeatureProgress, FeatureState, ListSessions, LivenessCheck, Review, SessionCreated,
    SessionDeleted, SessionEvent, SessionRow, SessionType, SessionsDeleted, StatusUpdated,
    UpdateStatus, WebhookType,
};

mod bands;
mod create;
mod hosted;
mod read;
mod review;
pub use review::Reviewer;
mod store;
pub mod wire;

use bands::{FACE_MATCH_NODE, LIVENESS_NODE};
pub use bands::{combine, face_match_band, liveness_band};

/// v3 sessions: sealed (they carry the reference template), fsynced.
pub const SESSIONS: Namespace = Namespace::new("sessions").sealed().fsynced();
/// Hosted-page tokens to session ids. Logged, not fsynced: each is written just before its
/// session, whose fsync flushes it too (one log file).
const TOKENS: Namespace = Namespace::new("session_tokens");
/// `{workflow_id}:{vendor_data}` of unfinished sessions (the idempotency rule).
const BY_VENDOR: Namespace = Namespace::new("session_by_vendor");
/// Ids of sessions that are not final yet (what the background sweep looks at).
const OPEN: Namespace = Namespace::new("sessions_open");
/// Session numbers.
const COUNTERS: Namespace = Namespace::new("counters").fsynced();
/// Webhook events decided but not yet in the outbox, each written just before the session
/// change it describes (see [`Provider::save_with_event`]), whose fsync flushes it too.
pub const PENDING_EVENTS: Namespace = Namespace::new("webhook_pending");
/// The namespaces of v3 sessions.
pub const NAMESPACES: &[Namespace] = &[
    SESSIONS,
    TOKENS,
    BY_VENDOR,
    OPEN,
    COUNTERS,
    PENDING_EVENTS,
    SESSION_FACES,
];
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
    event: SessionEvent,
}
/// Faces kept from Approved liveness sessions, by `vendor_data` (v3 sessions only: the OpenID
/// flow never uses them, so no API session can change whose face unlocks a sign-in).
/// Sealed with the subject's own key (erasure shreds it), fsynced.
pub const SESSION_FACES: Namespace = Namespace::new("session_faces").per_subject().fsynced();
/// Largest serialised `metadata`, `contact_details` or `expected_details`.
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;
/// Largest decoded `portrait_image` (contract: 2 MB).
pub const MAX_PORTRAIT_BYTES: usize = 2 * 1024 * 1024;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

    pub const ALL: [Self; 10] = [
        Self::NotStarted,
        Self::InProgress,
        Self::InReview,
        Self::Approved,
        Self::Declined,
        Self::Expired,
        Self::Abandoned,
        Self::KycExpired,
        Self::Resubmitted,
        Self::AwaitingUser,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Still waiting for the user (the idempotency rule reuses these).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            Self::NotStarted | Self::InProgress | Self::Resubmitted | Self::AwaitingUser
        )
    }

    /// The moves of the lifecycle (the diagram at the top): opening the hosted page, a verdict,
    /// expiry, abandonment, a manual review. Staying is always allowed (a save).
    pub fn can_become(self, to: Self) -> bool {
        use SessionStatus::*;
        if self == to {
            return true;
        }
        match self {
            // Opened, judged at once (a saved standalone check), or expired before opening.
            NotStarted => matches!(to, InProgress | Approved | Declined | Expired),
            // Opened again, or decided by a reviewer meanwhile.
            Resubmitted => matches!(to, InProgress | Approved | Declined | Expired),
            InProgress | AwaitingUser => {
                matches!(to, Approved | Declined | InReview | Expired | Abandoned)
            }
            // A reviewer's decision (`update-status`).
            Approved | Declined | InReview | KycExpired | Abandoned => {
                matches!(to, Approved | Declined | Resubmitted)
            }
            Expired => false,
        }
    }

    /// Statuses whose webhook carries the `decision` object.
    fn carries_decision(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::Declined | Self::InReview | Self::Abandoned
        )
    }
}

/// What can go wrong when a session changes.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("a session that is \"{}\" cannot become \"{}\"", from.as_str(), to.as_str())]
    IllegalMove {
        from: SessionStatus,
        to: SessionStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SessionError> for DiditError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::IllegalMove { .. } => DiditError::detail(e.to_string()),
            SessionError::Store(s) => s.into(),
        }
    }
}

/// A feature's verdict (feature-level enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    pub features: Vec<Feature>,
    pub vendor_data: Option<String>,
    /// Caller-supplied, free-form.
    pub metadata: Option<Value>,
    pub callback: Option<String>,
    pub callback_method: String,
    pub language: Option<String>,
    /// Caller-supplied, free-form.
    pub contact_details: Option<serde_json::Map<String, Value>>,
    /// Caller-supplied, free-form.
    pub expected_details: Option<serde_json::Map<String, Value>>,
    pub status: SessionStatus,
    pub session_type: SessionType,
    pub api_service: Option<String>,
    /// The reference face (a template, never the picture).
    pub reference: Option<Template>,
    /// `portrait_image` or `stored_face`.
    pub reference_source: Option<String>,
    pub liveness_checks: Option<Vec<LivenessCheck>>,
    pub face_matches: Option<Vec<FaceMatchCheck>>,
    pub reviews: Vec<Review>,
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

fn invalid(field: &str, msg: impl Into<String>) -> DiditError {
    DiditError::field(field, msg)
}

/// Contract 400 bodies that are a plain string, not a list.
fn invalid_plain(field: &str, msg: &str) -> DiditError {
    DiditError::Invalid(Problems::plain(field, msg))
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

/// A caller-supplied string of at most `max` characters.
fn bounded(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, DiditError> {
    match v {
        Some(s) if s.chars().count() > max => Err(invalid(
            field,
            format!("Ensure this field has no more than {max} characters."),
        )),
        v => Ok(v),
    }
}

/// Decodes `portrait_image` (plain base64 or a `data:` URL), bounded before and after decoding.
pub fn decode_portrait(s: &str) -> Result<Vec<u8>, DiditError> {
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
    for id in store.keys(&SESSIONS)? {
        let Some(mut s) = store.get_json::<Session>(&SESSIONS, &id)? else {
            continue;
        };
        if &s.tenant == tenant && s.vendor_data.as_deref() == Some(subject) && s.reference.is_some()
        {
            s.reference = None;
            s.reference_source = None;
            store.put_json(&SESSIONS, &id, &s, None)?;
            n += 1;
        }
    }
    Ok(n)
}

impl Session {
    /// The risk codes of the warnings in its liveness checks and face matches.
    pub fn risks(&self) -> Vec<String> {
        let liveness = self.liveness_checks.iter().flatten().map(|c| &c.warnings);
        let face = self.face_matches.iter().flatten().map(|c| &c.warnings);
        liveness
            .chain(face)
            .flatten()
            .map(|w| w.risk.clone())
            .collect()
    }

    fn feature_list(&self) -> Vec<FeatureState> {
        let liveness = self
            .liveness_checks
            .as_ref()
            .and_then(|b| b.first())
            .map(|b| b.status);
        let face = self
            .face_matches
            .as_ref()
            .and_then(|b| b.first())
            .map(|b| b.status);
        self.features
            .iter()
            .map(|&feature| {
                let st = match feature {
                    Feature::Liveness => liveness,
                    Feature::FaceMatch => face,
                };
                FeatureState {
                    feature,
                    status: st.map_or(FeatureProgress::NotFinished, FeatureProgress::from),
                }
            })
            .collect()
    }
}

/// A template's public uuid: stable for one stored face (`kind` enrolment or session) of one
/// subject.
pub fn template_uuid(kind: &str, subject: &str, at: i64) -> String {
    crate::ids::uuid_from(&format!("{kind}\n{subject}\n{at}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        workflows::from_body(
            &serde_json::from_value(json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_score_decline_threshold": 50, "face_liveness_score_review_threshold": 60}}, {"feature": "FACE_MATCH"}]}))
            .unwrap(),
            None,
            "w".into(),
            0,
            crate::biometric::capture::LivenessMethod::Flashing,
        )
        .unwrap()
        .rules
    }

    #[test]
    fn the_lifecycle_refuses_illegal_moves() {
        use SessionStatus::*;
        for (from, to) in [
            (NotStarted, InProgress),
            (NotStarted, Approved),
            (InProgress, InReview),
            (InProgress, Abandoned),
            (InReview, Approved),
            (Approved, Resubmitted),
            (Resubmitted, InProgress),
            (Expired, Expired),
        ] {
            assert!(from.can_become(to), "{from:?} -> {to:?}");
        }
        for (from, to) in [
            (Expired, Approved),
            (Expired, InProgress),
            (Approved, InProgress),
            (Declined, InReview),
            (InProgress, Resubmitted),
            (NotStarted, InReview),
            (Abandoned, Expired),
        ] {
            assert!(!from.can_become(to), "{from:?} -> {to:?}");
        }
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
        assert_eq!(w[0].risk, "NO_REFERENCE_IMAGE");
        assert_eq!(
            face_match_band(None, true, &r).2[0].risk,
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
        let e = decode_portrait(&big).unwrap_err();
        assert!(
            matches!(e, DiditError::Invalid(v) if v.messages("portrait_image") == ["Image size exceeds 2MB."])
        );
        assert!(decode_portrait("@@not base64@@").is_err());
        assert_eq!(decode_portrait("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(
            decode_portrait("data:image/png;base64,aGVsbG8=").unwrap(),
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
