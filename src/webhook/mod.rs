//! Webhooks: Python-compatible canonical JSON and the Didit-compatible and Standard Webhooks
//! signatures (pure: no I/O).

pub mod canonical;
pub mod signature;
