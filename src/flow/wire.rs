//! The v3 API's shapes shared by its resources: the 400 bodies, warnings, the image blocks of
//! the standalone checks and list pages. Requests and responses are typed structs; the
//! OpenAPI document (`/v3/openapi.json`) is generated from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::biometric::score::{LogType, Warning as RiskWarning};

/// A 400 body: each field (or `detail`) with what is wrong with it, in the reference API's
/// shapes: `{"field": ["message"]}`, `{"detail": "..."}`, nested objects for nested fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Problems(pub BTreeMap<String, Problem>);

/// What is wrong with one field.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Problem {
    /// `["This field is required."]`.
    Messages(Vec<String>),
    /// A plain string: `detail`, and a few contract errors (`"Invalid workflow_id."`).
    Message(String),
    /// The fields of a nested object (or the items of a list, by index).
    Nested(Problems),
}

impl Problems {
    /// `{field: problem}`.
    pub fn one(field: impl Into<String>, p: Problem) -> Self {
        Self(BTreeMap::from([(field.into(), p)]))
    }

    /// `{"field": ["message"]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::one(field, Problem::Messages(vec![message.into()]))
    }

    /// `{"field": "message"}` (the contract's plain-string errors).
    pub fn plain(field: &str, message: impl Into<String>) -> Self {
        Self::one(field, Problem::Message(message.into()))
    }

    /// `{"detail": "message"}`.
    pub fn detail(message: impl Into<String>) -> Self {
        Self::plain("detail", message)
    }

    /// The messages about `field` (tests and logs).
    pub fn messages(&self, field: &str) -> Vec<&str> {
        match self.0.get(field) {
            Some(Problem::Messages(m)) => m.iter().map(String::as_str).collect(),
            Some(Problem::Message(m)) => vec![m.as_str()],
            _ => vec![],
        }
    }
}

/// An error body as the OpenAPI document describes it.
#[derive(ToSchema)]
#[schema(
    as = Error,
    description = "`{\"detail\": \"...\"}`, or field errors `{\"field\": [\"message\"]}` (nested for nested fields; a few contract errors are a plain string: `{\"workflow_id\": \"Invalid workflow_id.\"}`)."
)]
#[allow(dead_code)]
pub struct ErrorBody {
    detail: Option<String>,
}

/// A risk that fired, with the severity the context gives it (standalone checks: the risk's
/// own; sessions: from the workflow's action) and, in sessions, the workflow node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    /// The risk code, e.g. `LOW_FACE_MATCH_SIMILARITY`.
    pub risk: String,
    pub feature: String,
    /// Extra data about the risk (free-form).
    pub additional_data: Option<serde_json::Value>,
    pub log_type: LogType,
    pub short_description: String,
    pub long_description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

impl Warning {
    pub fn of(w: &RiskWarning, node: Option<&str>, log_type: LogType) -> Self {
        Self {
            risk: w.risk.code(),
            feature: w.feature.clone(),
            additional_data: w.additional_data.clone(),
            log_type,
            short_description: w.short_description.clone(),
            long_description: w.long_description.clone(),
            node_id: node.map(str::to_owned),
        }
    }
}

/// One face found in an image of a standalone check.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Entity {
    /// `[x1, y1, x2, y2]` in pixels.
    pub bbox: [f64; 4],
    pub confidence: f64,
    /// Not estimated here (always null).
    #[schema(value_type = Option<f64>)]
    pub age: Option<f64>,
    /// Not estimated here (always null).
    #[schema(value_type = Option<String>)]
    pub gender: Option<String>,
    /// Not estimated here (always null).
    #[schema(value_type = Option<String>)]
    pub race: Option<String>,
}

/// The faces of one image; images are evaluated as sent (`best_angle` 0).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ImageBlock {
    pub entities: Vec<Entity>,
    pub best_angle: u16,
}

/// A page of a list (`next` and `previous` are full URLs, null at the ends).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Page<T> {
    pub count: usize,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// A list returned whole, in the page shape (`count` is its length; `next` and `previous` are
/// always null).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Listing<T> {
    pub count: usize,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

impl<T> Listing<T> {
    pub fn of(results: Vec<T>) -> Self {
        Self {
            count: results.len(),
            next: None,
            previous: None,
            results,
        }
    }
}

/// A feature block of a feature this server never runs: always an empty list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(value_type = Vec<Object>, max_items = 0)]
pub struct NeverRun([(); 0]);

/// The face-match block of `POST /v3/face-match/`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FaceMatchBlock {
    pub status: crate::biometric::score::Status,
    /// Null when no face could be compared (and the request is saved).
    pub score: Option<f64>,
    pub user_image: ImageBlock,
    pub ref_image: ImageBlock,
    pub warnings: Vec<Warning>,
}

/// `POST /v3/face-match/`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FaceMatchResult {
    /// Also the id of the saved API session.
    pub request_id: String,
    pub face_match: FaceMatchBlock,
    pub vendor_data: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_at: String,
}

/// Only `PASSIVE` runs on a single image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub enum PassiveMethod {
    #[default]
    #[serde(rename = "PASSIVE")]
    Passive,
}

/// The liveness block of `POST /v3/passive-liveness/`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PassiveLivenessBlock {
    pub status: crate::biometric::score::Status,
    pub method: PassiveMethod,
    pub score: Option<f64>,
    pub user_image: ImageBlock,
    pub warnings: Vec<Warning>,
    pub face_quality: Option<f64>,
    pub face_luminance: Option<f64>,
}

/// `POST /v3/passive-liveness/`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct LivenessResult {
    /// Also the id of the saved API session.
    pub request_id: String,
    pub liveness: PassiveLivenessBlock,
    pub vendor_data: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_at: String,
}

/// An Ed25519 public key as a JWK (OKP).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ed25519Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// `EdDSA`.
    pub alg: String,
    pub kid: String,
    /// The public key (base64url).
    pub x: String,
}

/// The keys that sign `webhook-signature: v1a,...` (empty when Ed25519 signing is off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PublicKeys {
    pub keys: Vec<Ed25519Jwk>,
}
