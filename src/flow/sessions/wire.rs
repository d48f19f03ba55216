//! The Sessions API's requests and responses as typed structs (the OpenAPI document is
//! generated from them). Requests are read by the HTTP edge; what serde cannot check (a known
//! workflow, a valid callback) the use cases check.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{FeatureStatus, SessionStatus};
use crate::biometric::capture::LivenessMethod;
use crate::flow::wire::{NeverRun, Warning};

/// Who the callback is for (`initiator` by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallbackMethod {
    #[default]
    Initiator,
    Completer,
    Both,
}

impl CallbackMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiator => "initiator",
            Self::Completer => "completer",
            Self::Both => "both",
        }
    }
}

/// `POST /v3/session/`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct CreateSession {
    /// The workflow (uuid). Required.
    #[schema(required = true)]
    pub workflow_id: Option<String>,
    /// Your user reference; its stored face is the reference when no portrait is sent.
    #[schema(max_length = 255)]
    pub vendor_data: Option<String>,
    /// Where the hosted page sends the user back, with `verificationSessionId` and `status`
    /// appended (custom schemes allowed).
    #[schema(max_length = 2048)]
    pub callback: Option<String>,
    pub callback_method: Option<CallbackMethod>,
    /// Any JSON; echoed in responses and webhooks.
    pub metadata: Option<Value>,
    /// The hosted page's language (e.g. `en`, `pt-BR`).
    pub language: Option<String>,
    pub contact_details: Option<Map<String, Value>>,
    pub expected_details: Option<Map<String, Value>>,
    /// Reference face, JPEG/PNG/WebP/TIFF, at most 2 MB, base64 (or a `data:` URL).
    pub portrait_image: Option<String>,
    /// Sandbox keys only (none exist here): refused when set.
    #[schema(value_type = Option<String>)]
    pub sandbox_scenario: Option<Value>,
}

/// The 201 body of `POST /v3/session/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionCreated {
    pub session_id: String,
    pub session_number: i64,
    #[schema(min_length = 12, max_length = 12)]
    pub session_token: String,
    /// The hosted capture page.
    pub url: String,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub status: SessionStatus,
    pub workflow_id: String,
    pub workflow_version: u32,
    pub callback: Option<String>,
}

/// The liveness block of a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LivenessCheck {
    pub node_id: String,
    pub status: FeatureStatus,
    pub method: LivenessMethod,
    pub score: Option<f64>,
    /// Not kept here (always null).
    pub reference_image: Option<String>,
    /// Not kept here (always null).
    pub video_url: Option<String>,
    /// Not estimated here (always null).
    pub age_estimation: Option<f64>,
    /// Face search is not run (always empty).
    #[serde(default)]
    pub matches: NeverRun,
    pub warnings: Vec<Warning>,
    pub face_quality: Option<f64>,
    pub face_luminance: Option<f64>,
}

/// The face-match block of a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FaceMatchCheck {
    pub node_id: String,
    pub status: FeatureStatus,
    pub score: Option<f64>,
    pub source_image_session_id: Option<String>,
    /// Not kept here (always null).
    pub source_image: Option<String>,
    /// Not kept here (always null).
    pub target_image: Option<String>,
    pub warnings: Vec<Warning>,
}

/// A manual review of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Review {
    /// Who reviewed (`API Client` for `update-status`).
    pub user: String,
    pub new_status: SessionStatus,
    pub comment: Option<String>,
    pub created_at: String,
}

/// Always `user` (business sessions do not exist here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    #[default]
    User,
}

/// Always `live` (no sandbox).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Live,
}

/// The features a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Feature {
    #[serde(rename = "LIVENESS")]
    Liveness,
    #[serde(rename = "FACE_MATCH")]
    FaceMatch,
}

/// `GET /v3/session/{id}/decision/` (also the `decision` of webhooks). Every feature block is
/// a list, empty until its feature has run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub session_id: String,
    pub session_kind: SessionKind,
    pub session_number: i64,
    pub session_url: String,
    /// The hosted link (same as `session_url`).
    pub url: String,
    pub status: SessionStatus,
    pub workflow_id: String,
    pub workflow_version: u32,
    pub features: Vec<Feature>,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub expected_details: Option<Map<String, Value>>,
    pub contact_details: Option<Map<String, Value>>,
    pub callback: Option<String>,
    pub liveness_checks: Vec<LivenessCheck>,
    pub face_matches: Vec<FaceMatchCheck>,
    pub reviews: Vec<Review>,
    pub id_verifications: NeverRun,
    pub nfc_verifications: NeverRun,
    pub phone_verifications: NeverRun,
    pub email_verifications: NeverRun,
    pub poa_verifications: NeverRun,
    pub document_ai_documents: NeverRun,
    pub questionnaire_responses: NeverRun,
    pub aml_screenings: NeverRun,
    pub ip_analyses: NeverRun,
    pub database_validations: NeverRun,
    /// ISO 8601.
    pub created_at: String,
    pub expires_at: Option<String>,
    pub environment: Environment,
}

/// A feature's progress in a list row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum FeatureProgress {
    #[serde(rename = "Not Finished")]
    NotFinished,
    Approved,
    #[serde(rename = "In Review")]
    InReview,
    Declined,
}

impl From<FeatureStatus> for FeatureProgress {
    fn from(s: FeatureStatus) -> Self {
        match s {
            FeatureStatus::Approved => Self::Approved,
            FeatureStatus::InReview => Self::InReview,
            FeatureStatus::Declined => Self::Declined,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeatureState {
    pub feature: Feature,
    pub status: FeatureProgress,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LivenessSummary {
    pub method: LivenessMethod,
    pub score: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FaceMatchSummary {
    pub score: Option<f64>,
    /// Not kept here (always null).
    pub source_image: Option<String>,
    /// Not kept here (always null).
    pub target_image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdditionalDetails {
    pub liveness: Option<LivenessSummary>,
    pub face_match: Option<FaceMatchSummary>,
}

/// `HOSTED` (created by `POST /v3/session/`) or `API` (a saved standalone check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SessionType {
    #[serde(rename = "HOSTED")]
    Hosted,
    #[serde(rename = "API")]
    Api,
}

/// A row of `GET /v3/sessions/`. Fields about documents this server never collects are null.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionRow {
    pub session_id: String,
    pub session_kind: SessionKind,
    pub session_number: i64,
    pub session_url: String,
    pub portrait_image: Option<String>,
    pub document_type: Option<String>,
    pub full_name: Option<String>,
    pub country: Option<String>,
    pub status: SessionStatus,
    pub vendor_data: Option<String>,
    pub didit_internal_id: Option<String>,
    pub created_at: String,
    pub features: Vec<FeatureState>,
    pub phone_number: Option<String>,
    pub email_address: Option<String>,
    pub session_type: SessionType,
    pub workflow_id: String,
    pub additional_details: AdditionalDetails,
}

/// How `session_kind` filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KindFilter {
    #[default]
    User,
    Business,
    All,
}

/// The query of `GET /v3/sessions/`; any other parameter is a 400. Lists are comma-separated.
/// Dates: a day (YYYY-MM-DD, UTC) or an ISO 8601 instant with Z or an offset
/// (2026-12-01T00:00:00+00:00); the upper bound includes its day or instant.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSessions {
    /// Page size (default 50, at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Rows to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// `user` (default), `business` (none here) or `all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_kind: Option<KindFilter>,
    /// Comma list of session statuses (case-sensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Exact user reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_data: Option<String>,
    /// Session id, number or vendor_data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Comma list of workflow ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// Created at or after (a day or an instant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_from: Option<String>,
    /// Created at or before (includes its day or instant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_to: Option<String>,
    /// ISO 3166-1 alpha-3 codes (documents are not collected here: matches no session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Documents are not collected here: matches no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    /// Documents are not collected here: matches no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_name: Option<String>,
    /// Addresses are not collected here: matches no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Not issued here: matches no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub didit_internal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
    /// `FACE_MATCH` or `PASSIVE_LIVENESS` (saved standalone checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_service: Option<String>,
    /// Comma list of risk codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Sessions start Not Started: `true` matches none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_initialized_as_in_review: Option<bool>,
}

/// What `deletion_instruction` asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletionInstruction {
    OperationalSessionDelete,
    /// Never retains the face, whatever `retain_face_embeddings` says.
    PrivacyErasure,
}

/// `DELETE /v3/session/{id}/delete/` (body optional).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct DeleteSession {
    /// Keep the user's face as their stored face (never with `privacy_erasure`).
    pub retain_face_embeddings: Option<bool>,
    #[schema(minimum = 1, maximum = 3650)]
    pub face_retention_days: Option<i64>,
    pub deletion_instruction: Option<DeletionInstruction>,
    #[schema(max_length = 255)]
    pub instruction_id: Option<String>,
}

/// A session number, as a number or a digit string.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SessionNumber {
    Number(i64),
    Text(String),
}

/// `POST /v3/sessions/delete/`: `session_numbers` or `delete_all`, with the single delete's
/// retention fields.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct DeleteSessions {
    #[schema(max_items = 1000)]
    pub session_numbers: Option<Vec<SessionNumber>>,
    pub delete_all: Option<bool>,
    /// As in the single delete.
    pub retain_face_embeddings: Option<bool>,
    #[schema(minimum = 1, maximum = 3650)]
    pub face_retention_days: Option<i64>,
    pub deletion_instruction: Option<DeletionInstruction>,
    #[schema(max_length = 255)]
    pub instruction_id: Option<String>,
}

impl DeleteSessions {
    /// What each deletion is asked.
    pub fn each(&self) -> DeleteSession {
        DeleteSession {
            retain_face_embeddings: self.retain_face_embeddings,
            face_retention_days: self.face_retention_days,
            deletion_instruction: self.deletion_instruction,
            instruction_id: self.instruction_id.clone(),
        }
    }
}

/// What happened to the session's face.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaceRetention {
    RetainedWithUser,
    Deleted,
    None,
    IneligibleNoVendorUser,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionDeleted {
    pub session_id: String,
    pub session_number: i64,
    pub face_retention_outcome: FaceRetention,
    pub biometric_template_uuid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionsDeleted {
    pub results: Vec<SessionDeleted>,
}

/// The statuses a review may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ReviewStatus {
    Approved,
    Declined,
    /// Re-opens the hosted link for a new capture.
    Resubmitted,
}

impl From<ReviewStatus> for SessionStatus {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::Approved => Self::Approved,
            ReviewStatus::Declined => Self::Declined,
            ReviewStatus::Resubmitted => Self::Resubmitted,
        }
    }
}

/// A workflow node to capture again.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NodeToResubmit {
    pub node_id: String,
    pub feature: String,
}

/// `PATCH /v3/session/{id}/update-status/`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct UpdateStatus {
    pub new_status: ReviewStatus,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    pub nodes_to_resubmit: Option<Vec<NodeToResubmit>>,
    /// E-mails are not sent here: `true` is refused.
    pub send_email: Option<bool>,
    pub email_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusUpdated {
    pub session_id: String,
}

/// The webhook types a session causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum WebhookType {
    /// The status changed (also sent for saved standalone checks).
    #[serde(rename = "status.updated")]
    StatusUpdated,
    /// Metadata, callback or reference face changed.
    #[serde(rename = "data.updated")]
    DataUpdated,
}

impl WebhookType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusUpdated => "status.updated",
            Self::DataUpdated => "data.updated",
        }
    }
}

/// The body of every webhook delivery (canonical JSON, ASCII-escaped). `timestamp` is set
/// and signed on every attempt. Headers: `X-Signature`, `X-Signature-V2`,
/// `X-Signature-Simple`, `X-Timestamp`, `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionEvent {
    pub event_id: String,
    pub webhook_type: WebhookType,
    /// Unix time the event was decided.
    pub created_at: i64,
    /// Unix time of this delivery attempt (signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    pub application_id: String,
    pub environment: Environment,
    pub session_id: String,
    pub status: SessionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    pub workflow_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// With Approved, Declined, In Review and Abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Box<Decision>>,
}
