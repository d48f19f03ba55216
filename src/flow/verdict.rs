//! One audit record per biometric decision, whichever door it came through: a step-up in the
//! OpenID flow, a hosted session of the Sessions API, a standalone check saved with
//! `save_api_request`, or a reviewer's manual status change. They go to the audit log
//! (`crate::audit`), which chains, signs and exports them.

pub use crate::audit::AuditError;
use crate::audit::DecisionInput;
pub use crate::audit::export::{Format, Selection};
pub use crate::audit::record::{Channel, Evidence as VerdictRecord};
use crate::audit::record::{Entry, Kind, Personal};
pub use crate::audit::verify::Report;
use crate::protocol::{ErrorCode, OAuthError};
use crate::store::StoreError;
use crate::tenant::TenantId;

use super::Provider;

/// What the HTTP layer knows about the request that carried the frames (device signals).
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// Peer address.
    pub ip: Option<String>,
    /// `X-Forwarded-For` as received.
    pub forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
}

impl RequestContext {
    /// The personal part of the audit record, with the frames' digests.
    pub fn personal(&self, frames: &[&[u8]]) -> Personal {
        use sha2::{Digest, Sha256};
        Personal {
            salt: String::new(),
            ip: self.ip.clone(),
            forwarded_for: self.forwarded_for.clone(),
            user_agent: self.user_agent.clone(),
            accept_language: self.accept_language.clone(),
            frames_sha256: frames
                .iter()
                .map(|f| hex::encode(Sha256::digest(f)))
                .collect(),
        }
    }
}

fn to_store(e: AuditError) -> StoreError {
    match e {
        AuditError::Store(s) => s,
        other => StoreError::Unavailable(format!("audit log: {other}")),
    }
}

impl Provider {
    /// A record with the common fields (id, tenant, the models that ran); callers fill in the
    /// rest.
    pub fn new_verdict(
        &self,
        channel: Channel,
        outcome: &str,
        client: String,
        tenant: &TenantId,
    ) -> VerdictRecord {
        let mut v = VerdictRecord::new(super::didit::uuid_v4(), channel, outcome, client);
        v.tenant = Some(tenant.to_string());
        v.models = self
            .engine
            .models()
            .iter()
            .map(|m| format!("{}@{}", m.name, m.sha256))
            .collect();
        v
    }

    /// Appends a decision to the audit log. `ctx` and `frames` are the request behind it (for
    /// decisions taken on uploaded frames); the subject is pseudonymised by the log.
    pub fn record_verdict(
        &self,
        mut v: VerdictRecord,
        ctx: Option<&RequestContext>,
        frames: &[&[u8]],
    ) -> Result<Entry, StoreError> {
        if v.reasons.is_empty() {
            v.reasons
                .push(v.outcome.to_ascii_uppercase().replace(' ', "_"));
        }
        let personal = ctx.map(|c| c.personal(frames));
        // The evidence moves into the log; the metrics read the copy.
        let evidence = v.clone();
        self.observed_append(&v, move || {
            self.audit.record_decision(DecisionInput {
                evidence,
                personal,
                frames,
            })
        })
        .map_err(to_store)
    }

    /// Erases what is personal about a subject beside its template: the personal part of its
    /// audit records (GDPR erasure; see `docs/psd2-sca-audit.md`) and the copies of its face
    /// that its v3 sessions hold as reference. Returns how many audit records were redacted.
    pub fn erase_subject_personal_data(
        &self,
        tenant: &TenantId,
        subject: &str,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let n = self
            .audit
            .redact_subject(tenant, subject, reason)
            .map_err(to_store)?;
        super::sessions::forget_references(&*self.store, tenant, subject)?;
        Ok(n)
    }

    /// The client behind an audit-API bearer token (scope `audit`, client with `audit_api`),
    /// with its tenant: the only one whose records it may export.
    pub fn audit_caller(&self, bearer: Option<&str>) -> Result<super::enrol::Caller, OAuthError> {
        let token = bearer.ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidToken, "a bearer token is required")
        })?;
        let c = self.verify_access_token(token)?;
        let allowed = self
            .clients
            .get(&c.client_id)
            .is_some_and(|cl| cl.audit_api);
        if c.scope != super::token::AUDIT_SCOPE || !allowed {
            return Err(OAuthError::new(
                ErrorCode::InsufficientUserAuthentication,
                "the token does not grant the audit scope",
            ));
        }
        Ok(super::enrol::Caller {
            tenant: self.client_tenant(&c.client_id),
            client_id: c.client_id,
        })
    }

    /// An export of the audit log as one tar archive (directory `inherence-audit-export/`),
    /// built in a private temporary directory; refused when more than `max` records match.
    pub fn export_evidence(
        &self,
        sel: &Selection,
        format: Format,
        max: u64,
    ) -> Result<Vec<u8>, AuditError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir =
            std::env::temp_dir().join(format!("inherence-export-{}", super::random_token(12)));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| AuditError::Io(format!("{}: {e}", dir.display())))?;
        let out = dir.join("export");
        let result = crate::audit::export::export_dir(&self.audit, sel, format, &out, Some(max))
            .and_then(|_| {
                let mut b = tar::Builder::new(Vec::new());
                b.mode(tar::HeaderMode::Deterministic);
                b.append_dir_all("inherence-audit-export", &out)
                    .and_then(|()| b.into_inner())
                    .map_err(|e| AuditError::Io(e.to_string()))
            });
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// Checks the stored audit log.
    pub fn verify_evidence(&self) -> Result<Report, AuditError> {
        self.audit.verify_store(None)
    }

    /// The public keys that signed audit checkpoints and exports (a JWK set to archive and to
    /// give auditors for `inherence audit verify --jwks`).
    pub fn evidence_keys(&self) -> Result<serde_json::Value, AuditError> {
        self.audit.publish_signer()?;
        self.audit.signer_jwks()
    }

    /// Every decision in the audit log with its time (ms since the epoch), oldest first.
    pub fn timed_verdicts(&self) -> Result<Vec<(i64, VerdictRecord)>, StoreError> {
        let mut v = Vec::new();
        for k in self.audit.keys().map_err(to_store)? {
            if let Some(Ok(e)) = self.audit.entry_at(&k).map_err(to_store)?
                && e.kind == Kind::Decision
                && let Ok(r) = serde_json::from_value(e.body)
            {
                v.push((e.at_ms, r));
            }
        }
        Ok(v)
    }

    /// Every decision in the audit log, oldest first (tests and tools).
    pub fn verdicts(&self) -> Result<Vec<VerdictRecord>, StoreError> {
        let mut v = Vec::new();
        for k in self.audit.keys().map_err(to_store)? {
            if let Some(Ok(e)) = self.audit.entry_at(&k).map_err(to_store)?
                && e.kind == Kind::Decision
                && let Ok(r) = serde_json::from_value(e.body)
            {
                v.push(r);
            }
        }
        Ok(v)
    }
}
