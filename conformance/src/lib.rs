//! Test-only crate: the conformance tests (`tests/main.rs`) and the identity-provider
//! simulators they and the browser tests drive.

pub mod entra;
