//! Inherence: a self-hosted biometric step-up factor.
//!
//! Layers (dependencies point downwards only, checked by `layering.rs`): `cli` -> `config` ->
//! `http` -> `flow` -> {`protocol`, `biometric`, `audit`, `keys`, `webhook`, `store`};
//! `protocol` and `biometric` are pure. `docs/DEVELOPING.md` has the picture; `docs/` explains
//! how to run and operate it.

pub mod audit;
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
pub mod metrics;
pub mod protocol;
pub mod secret;
pub mod store;
pub mod tenant;
pub mod webhook;

/// Every store namespace of the application, each declared once by the module that owns its
/// data, with its policy (`store/namespace.rs`). The sealing wrapper refuses writes to a
/// namespace missing here, so a key rotation reseals everything sealed.
pub fn namespaces() -> Vec<store::Namespace> {
    let mut all = flow::ns::all();
    all.extend_from_slice(audit::ns::ALL);
    all.extend_from_slice(keys::NAMESPACES);
    all.extend_from_slice(webhook::NAMESPACES);
    all.extend_from_slice(store::encrypted::NAMESPACES);
    all
}

#[cfg(test)]
mod layering;

#[cfg(test)]
mod namespace_tests {
    use crate::store::namespace::{self, Sealing};

    #[test]
    fn every_namespace_is_declared_once_with_a_policy() {
        let all = super::namespaces();
        namespace::check(&all).unwrap();
        let named = |pick: &dyn Fn(&store::Namespace) -> bool| {
            let mut v: Vec<_> = all.iter().filter(|n| pick(n)).map(|n| n.name()).collect();
            v.sort_unstable();
            v
        };
        use crate::store;
        // Biometric data and what protects it are sealed; the per-subject ones shred.
        assert_eq!(
            named(&|n| n.sealing == Sealing::PerSubject),
            ["enrolments", "session_faces"]
        );
        assert_eq!(
            named(&|n| n.sealing == Sealing::Sealed),
            ["audit_frames", "audit_keys", "sessions", "subject_keys"]
        );
        // What must survive a power cut is fsynced (the embedded store's list before the
        // policies moved to their owners, less the `clients` name nothing used, plus the
        // purge tombstones, the kept faces and the evidence frames).
        assert_eq!(
            named(&|n| n.is_fsynced()),
            [
                "api_keys",
                "audit",
                "audit_checkpoints",
                "audit_frames",
                "audit_keys",
                "audit_signers",
                "counters",
                "enrolments",
                "keys",
                "session_faces",
                "sessions",
                "subject_keys",
                "template_tombstones",
                "webhook_destinations",
                "webhook_keys",
                "webhook_log",
                "webhook_outbox",
                "workflows",
            ]
        );
    }
}
