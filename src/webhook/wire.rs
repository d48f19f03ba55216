//! The webhook API's requests and responses (`/v3/webhook/destinations/...`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::outbox::{Delivery, DeliveryState, Summary};
use crate::ids::iso8601;

/// The envelope version a destination receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookVersion {
    V1,
    V2,
    #[default]
    V3,
}

impl WebhookVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
            Self::V3 => "v3",
        }
    }
}

/// `POST /v3/webhook/destinations/` (`label` and `url` required) and `PATCH .../{uuid}/`
/// (what is not sent stays).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct DestinationBody {
    #[schema(max_length = 255)]
    pub label: Option<String>,
    /// https (http only for loopback, or when the deployment allows it).
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    pub enabled: Option<bool>,
    pub webhook_version: Option<WebhookVersion>,
    /// `status.updated` and `data.updated` by default.
    pub subscribed_events: Option<Vec<String>>,
    /// PATCH only: replace the secret; the old one keeps signing (as a second `v1,`
    /// signature) for 24 h.
    pub rotate_secret_key: Option<bool>,
}

/// Delivery figures of a destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliverySummary {
    pub total_deliveries: u64,
    pub failed_deliveries: u64,
    pub error_rate_percentage: f64,
    pub min_response_time_ms: Option<u64>,
    pub avg_response_time_ms: Option<f64>,
    pub max_response_time_ms: Option<u64>,
    pub last_delivery_at: Option<String>,
}

impl From<&Summary> for DeliverySummary {
    fn from(s: &Summary) -> Self {
        Self {
            total_deliveries: s.total,
            failed_deliveries: s.failed,
            error_rate_percentage: if s.total == 0 {
                0.0
            } else {
                super::outbox::round2(100.0 * s.failed as f64 / s.total as f64)
            },
            min_response_time_ms: s.min_ms,
            avg_response_time_ms: s.avg_ms(),
            max_response_time_ms: s.max_ms,
            last_delivery_at: s.last_at.clone(),
        }
    }
}

/// A destination as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DestinationOut {
    pub uuid: String,
    pub label: String,
    pub url: String,
    pub enabled: bool,
    pub webhook_version: WebhookVersion,
    /// The HMAC secret (43 characters).
    #[schema(min_length = 43, max_length = 43)]
    pub secret_shared_key: String,
    pub subscribed_events: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub summary: DeliverySummary,
}

/// One try of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptOut {
    pub at: String,
    pub response_status: Option<u16>,
    pub response_time_ms: u64,
    pub error: Option<String>,
}

/// A delivery of one event to one destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryOut {
    pub uuid: String,
    pub destination: String,
    pub event_id: String,
    pub webhook_type: String,
    pub session_id: Option<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the next try is due (pending deliveries only).
    pub next_attempt_at: Option<String>,
    pub response_status: Option<u16>,
    pub response_time_ms: Option<u64>,
    pub error: Option<String>,
    pub created_at: String,
    /// The delivery this one re-sends.
    pub resend_of: Option<String>,
    pub attempt_log: Vec<AttemptOut>,
    /// The headers of the latest try (reading one delivery only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header: Option<BTreeMap<String, String>>,
    /// The body of the latest try, exactly the signed document that was sent (reading one
    /// delivery only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<serde_json::Value>,
}

impl DeliveryOut {
    /// `include_request`: the headers and body of the latest try.
    pub fn of(d: &Delivery, include_request: bool) -> Self {
        let last = d.log.last();
        let sent = d.last_request.as_ref().filter(|_| include_request);
        Self {
            uuid: d.uuid.clone(),
            destination: d.destination.clone(),
            event_id: d.event_id.clone(),
            webhook_type: d.webhook_type.clone(),
            session_id: d.session_id.clone(),
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: (d.state == DeliveryState::Pending)
                .then(|| iso8601(d.next_attempt_at_ms / 1000)),
            response_status: last.and_then(|a| a.response_status),
            response_time_ms: last.map(|a| a.response_time_ms),
            error: last.and_then(|a| a.error.clone()),
            created_at: iso8601(d.created_at_ms / 1000),
            resend_of: d.resend_of.clone(),
            attempt_log: d
                .log
                .iter()
                .map(|a| AttemptOut {
                    at: iso8601(a.at_ms / 1000),
                    response_status: a.response_status,
                    response_time_ms: a.response_time_ms,
                    error: a.error.clone(),
                })
                .collect(),
            request_header: sent.map(|r| r.headers.iter().cloned().collect()),
            request_body: sent.map(|r| serde_json::from_str(&r.body).unwrap_or_default()),
        }
    }
}
