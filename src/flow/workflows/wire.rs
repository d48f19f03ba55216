//! The workflow API's requests and responses (`/v3/workflows/`).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::Action;
use crate::biometric::capture::LivenessMethod;

/// `draft` or `published`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    Draft,
    #[default]
    Published,
}

/// The thresholds and actions of one feature (only the fields of its own feature apply).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeatureConfig {
    /// LIVENESS: `PASSIVE`, `FLASHING` or `ACTIVE_3D` (the deployment's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<LivenessMethod>)]
    pub face_liveness_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub face_liveness_score_decline_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub face_liveness_score_review_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_liveness_multiple_faces_action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3)]
    pub face_liveness_max_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub face_match_score_decline_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub face_match_score_review_threshold: Option<f64>,
    /// `REVIEW` or `DECLINE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_match_not_computed_action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3)]
    pub face_match_max_attempts: Option<i64>,
}

/// One feature of a workflow: `LIVENESS` or `FACE_MATCH` (others are refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeatureSpec {
    pub feature: String,
    /// Completed with the defaults in responses.
    #[serde(default)]
    pub config: Option<FeatureConfig>,
    #[serde(default)]
    pub label: Option<String>,
}

/// `POST /v3/workflows/` and `PATCH /v3/workflows/{id}/` (a PATCH keeps what it does not
/// send and publishes a new version).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct WorkflowBody {
    #[schema(max_length = 50)]
    pub workflow_label: Option<String>,
    pub status: Option<WorkflowStatus>,
    /// Required on create.
    pub features: Option<Vec<FeatureSpec>>,
    pub is_default: Option<bool>,
    pub is_white_label_enabled: Option<bool>,
    pub is_desktop_allowed: Option<bool>,
    #[schema(minimum = 0, maximum = 10)]
    pub max_retry_attempts: Option<i64>,
    /// Days (1 to 365); null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 365)]
    pub retry_window_days: Option<Option<i64>>,
    #[schema(minimum = 1, maximum = 3)]
    pub face_liveness_max_attempts: Option<i64>,
    #[schema(minimum = 1, maximum = 3)]
    pub face_match_max_attempts: Option<i64>,
    /// Seconds (3,600 to 2,419,200).
    #[schema(minimum = 3600, maximum = 2419200)]
    pub session_expiration_time: Option<i64>,
    /// Not accepted (not even null): the type follows from the features.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub workflow_type: Option<Option<String>>,
}

/// A field that tells "sent as null" (`Some(None)`) from "not sent" (`None`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Always `biometric_authentication` here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowType {
    #[default]
    BiometricAuthentication,
}

/// A workflow as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowOut {
    pub uuid: String,
    /// Same as `uuid`.
    pub settings_uuid: String,
    /// Same as `uuid`.
    pub workflow_id: String,
    pub workflow_label: String,
    pub workflow_type: WorkflowType,
    pub is_default: bool,
    pub status: WorkflowStatus,
    pub version: u32,
    pub features: Vec<FeatureSpec>,
    pub is_white_label_enabled: bool,
    pub is_desktop_allowed: bool,
    pub max_retry_attempts: u32,
    pub retry_window_days: Option<u32>,
    pub face_liveness_max_attempts: u32,
    pub face_match_max_attempts: u32,
    pub session_expiration_time: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl FeatureSpec {
    /// A feature as an earlier version stored it: the config and label exactly as sent, which
    /// may hold keys of the other feature of any type, or a label that is not text. What does
    /// not fit is left out (the rules the workflow runs with are stored beside, unaffected).
    pub fn from_stored(v: serde_json::Value) -> Self {
        use serde_json::{Map, Value};
        let fits = |k: &String, x: &Value| {
            let one = Value::Object(Map::from_iter([(k.clone(), x.clone())]));
            serde_json::from_value::<FeatureConfig>(one).is_ok()
        };
        let config = v.get("config").and_then(Value::as_object).map(|c| {
            let kept: Map<String, Value> = c
                .iter()
                .filter(|(k, x)| fits(k, x))
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect();
            serde_json::from_value(Value::Object(kept)).unwrap_or_default()
        });
        Self {
            feature: v["feature"].as_str().unwrap_or_default().to_owned(),
            config,
            label: match v.get("label") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            },
        }
    }
}

/// Stored features, read leniently ([`FeatureSpec::from_stored`]).
pub(super) fn stored_features<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<FeatureSpec>, D::Error> {
    Ok(Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(FeatureSpec::from_stored)
        .collect())
}
