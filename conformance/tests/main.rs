//! Black-box tests of Inherence, in one test binary (one ONNX Runtime environment per process).
//!
//! Tests that need `../shared` (evaluation data, the reference pipeline's results) skip with a
//! message when it is absent. Tests that need the models fail with instructions when they are
//! not installed (`make models` installs them).

mod audit;
mod auth0_action;
mod bad_input;
mod common;
mod console;
mod didit_sessions;
mod didit_standalone;
mod dlib_rebuild;
mod entra_eam;
mod golden;
mod http_demo;
mod liveness_attacks;
mod liveness_flows;
mod metrics_endpoint;
mod metrics_reference;
mod models_upstream;
mod oidc_flows;
mod oidc_negative;
mod okta_idp;
mod prelu_rewrite;
mod protocol_attacks;
mod receiver;
mod redis_store;
mod resource_server;
mod server;
mod tenants;
mod webhook_vectors;
