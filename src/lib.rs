//! Inherence: a self-hosted biometric step-up factor.
//!
//! Layers (dependencies point downwards only): `cli` and `http` -> `biometric`, `eval`;
//! `biometric` never reaches HTTP or storage. See `docs/` for how to run and operate it.

pub mod audit;
pub mod bench;
pub mod biometric;
pub mod canonical;
pub mod cli;
pub mod clock;
pub mod config;
pub mod eval;
pub mod flow;
pub mod http;
pub mod ids;
pub mod keys;
pub mod protocol;
pub mod secret;
pub mod store;
pub mod tenant;
pub mod webhook;
