//! Webhook delivery settings (`[webhooks]`).

use serde::{Deserialize, Serialize};

/// Webhook delivery (`[webhooks]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Attempts per delivery before it goes to the dead letters (first try included).
    pub max_attempts: u32,
    /// First retry delay; each further retry waits four times longer (with +-20 % jitter).
    pub retry_base_secs: f64,
    /// Longest delay between two attempts.
    pub retry_max_secs: f64,
    /// How long a receiver may take to answer.
    pub timeout_secs: u64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// How often the worker looks for due deliveries when nothing wakes it.
    pub poll_interval_ms: u64,
    /// Allow plain-http destinations other than loopback (never in production).
    pub allow_http: bool,
    /// Allow destinations on private, loopback or link-local addresses (off: such URLs are
    /// refused, a guard against server-side request forgery).
    pub allow_private_networks: bool,
    /// Days delivered and dead deliveries stay in the delivery log.
    pub log_retention_days: u32,
    /// Also sign with an Ed25519 key (`webhook-signature: v1a,...`), published at
    /// `/v3/webhook/public-keys/`.
    pub ed25519: bool,
    /// `application_id` in every envelope (default: derived from the issuer).
    pub application_id: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            retry_base_secs: 60.0,
            retry_max_secs: 6.0 * 3600.0,
            timeout_secs: 10,
            concurrency: 32,
            poll_interval_ms: 1000,
            allow_http: false,
            allow_private_networks: false,
            log_retention_days: 30,
            ed25519: false,
            application_id: String::new(),
        }
    }
}
