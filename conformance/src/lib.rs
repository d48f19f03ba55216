//! Test-only crate; see `tests/main.rs`.
