//! Webhooks: Python-compatible canonical JSON and the Didit-compatible and Standard Webhooks
//! signatures (pure), destinations, the durable outbox and the delivery worker.

pub mod destinations;
pub mod outbox;
mod settings;
pub mod signature;
pub mod wire;
pub mod worker;

pub use settings::WebhookSettings;

/// The namespaces of webhooks.
pub const NAMESPACES: &[crate::store::Namespace] = &[
    destinations::DESTINATIONS,
    outbox::OUTBOX,
    outbox::LOG,
    outbox::LEASES,
];
