//! The operator console's identities and sessions: who signed in (through the operators'
//! OpenID provider, `signin.rs`), which role they hold in which tenant, their short session and
//! its CSRF token. Every action an operator takes is audited with their identity.

mod signin;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Provider, digest, random_token};
use crate::protocol::operator::OperatorIdentity;
use crate::store::Namespace;
use crate::store::typed::KvJson as _;
use crate::tenant::TenantId;

pub use super::settings::console::ConsoleSettings;
pub use signin::{ConsoleError, SignIn};

/// Sign-ins in progress (state -> nonce, PKCE verifier), single use, 10 minutes.
pub const LOGINS: Namespace = Namespace::new("console_logins").expiring();
/// Operators' console sessions, by digest of the cookie's secret.
pub const SESSIONS: Namespace = Namespace::new("console_sessions").expiring();

/// What an operator may do; each level includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// See decisions, sessions, subjects, deliveries, the audit log.
    Viewer,
    /// Also approve, decline or resubmit sessions in review.
    Reviewer,
    /// Also erase subjects, manage API keys and webhook destinations, export the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

/// One role, in every tenant (`tenant: None`) or in one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    pub tenant: Option<TenantId>,
}

/// A signed-in operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub issuer: String,
    pub subject: String,
    pub name: String,
    pub grants: Vec<Grant>,
}

impl Operator {
    /// The grants the provider's roles give under `cfg` (unknown values give nothing; a value
    /// naming an unknown tenant gives nothing).
    pub fn from_identity(
        id: OperatorIdentity,
        cfg: &ConsoleSettings,
        tenants: &[TenantId],
    ) -> Self {
        let mut grants = Vec::new();
        for r in &id.roles {
            let (value, tenant) = match r.split_once('@') {
                Some((v, t)) => match TenantId::parse(t) {
                    Ok(t) if tenants.contains(&t) => (v, Some(t)),
                    _ => continue,
                },
                None => (r.as_str(), None),
            };
            let role = if value == cfg.admin_role {
                Role::Admin
            } else if value == cfg.reviewer_role {
                Role::Reviewer
            } else if value == cfg.viewer_role {
                Role::Viewer
            } else {
                continue;
            };
            grants.push(Grant { role, tenant });
        }
        // The name is the user's to edit at many providers: it must not be able to read as
        // another operator's subject or provider in the audit log.
        let name: String = id
            .name
            .chars()
            .filter(|c| !c.is_control() && *c != '<' && *c != '>')
            .collect();
        Self {
            issuer: id.issuer,
            subject: id.subject,
            name: name.trim().to_owned(),
            grants,
        }
    }

    /// Whether the operator holds `role` (or a higher one) in `tenant`.
    pub fn can(&self, role: Role, tenant: &TenantId) -> bool {
        self.grants
            .iter()
            .any(|g| g.role >= role && g.tenant.as_ref().is_none_or(|t| t == tenant))
    }

    /// The tenants (of `all`) the operator may see.
    pub fn visible(&self, all: &[TenantId]) -> Vec<TenantId> {
        all.iter()
            .filter(|t| self.can(Role::Viewer, t))
            .cloned()
            .collect()
    }

    /// The highest role held anywhere (`None`: no role at all).
    pub fn highest(&self) -> Option<Role> {
        self.grants.iter().map(|g| g.role).max()
    }

    /// How the audit log names the operator.
    pub fn audit_name(&self) -> String {
        format!("{} <{}> via {}", self.name, self.subject, self.issuer)
    }
}

/// An operator's console session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub operator: Operator,
    /// Sent back in every form; compared in constant time.
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

/// The console of one server: its settings, the provider's endpoints and keys, and the
/// sessions (in the store, so that every instance knows them).
pub struct Console {
    pub cfg: ConsoleSettings,
    provider: Arc<Provider>,
    signin: SignIn,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("issuer", &self.cfg.issuer)
            .finish_non_exhaustive()
    }
}

impl Console {
    pub fn new(provider: Arc<Provider>, cfg: ConsoleSettings) -> Self {
        let signin = SignIn::new(&cfg);
        Self {
            cfg,
            provider,
            signin,
        }
    }

    pub fn provider(&self) -> &Arc<Provider> {
        &self.provider
    }

    /// Every tenant of this deployment.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.provider.cfg.tenant_ids()
    }

    /// The session behind a cookie's secret, if it is live; each request moves its idle
    /// deadline. Expired sessions are deleted.
    pub fn session(&self, secret: &str) -> Result<Option<ConsoleSession>, ConsoleError> {
        let key = digest(secret);
        let store = &self.provider.store;
        let Some(mut s) = store.get_json::<ConsoleSession>(&SESSIONS, &key)? else {
            return Ok(None);
        };
        let now = self.provider.now();
        if now - s.created_at >= self.cfg.session_secs as i64
            || now - s.last_seen >= self.cfg.idle_secs as i64
        {
            store.delete(&SESSIONS, &key)?;
            return Ok(None);
        }
        if now > s.last_seen {
            s.last_seen = now;
            store.put_json(&SESSIONS, &key, &s, Some(self.expiry(&s)))?;
        }
        Ok(Some(s))
    }

    fn expiry(&self, s: &ConsoleSession) -> i64 {
        let end = (s.created_at + self.cfg.session_secs as i64)
            .min(s.last_seen + self.cfg.idle_secs as i64);
        end * 1000
    }

    /// Opens a session for `operator`; returns the cookie's secret.
    pub(crate) fn open_session(&self, operator: Operator) -> Result<String, ConsoleError> {
        let secret = random_token(32);
        let now = self.provider.now();
        let s = ConsoleSession {
            operator,
            csrf: random_token(24),
            created_at: now,
            last_seen: now,
        };
        self.provider
            .store
            .put_json(&SESSIONS, &digest(&secret), &s, Some(self.expiry(&s)))?;
        Ok(secret)
    }

    /// Ends the session behind `secret`.
    pub fn sign_out(&self, secret: &str) -> Result<(), ConsoleError> {
        self.provider.store.delete(&SESSIONS, &digest(secret))?;
        Ok(())
    }
}

impl Console {
    /// Writes what `operator` did to the audit log (a failure is returned: the caller
    /// reports it, the action itself has happened).
    pub fn audit(
        &self,
        operator: &Operator,
        action: &str,
        tenant: Option<&TenantId>,
        subject: Option<&str>,
    ) -> Result<(), ConsoleError> {
        self.provider
            .audit
            .record_operator(action, operator.audit_name(), tenant, subject)
            .map(|_| ())
            .map_err(|e| match e {
                crate::audit::AuditError::Store(s) => ConsoleError::Store(s),
                other => ConsoleError::Store(crate::store::StoreError::Unavailable(format!(
                    "audit log: {other}"
                ))),
            })
    }
}

/// Whether a form's CSRF token is the session's (constant time).
pub fn csrf_ok(session: &ConsoleSession, sent: Option<&str>) -> bool {
    sent.is_some_and(|t| super::device::subtle_eq(t, &session.csrf))
}

#[cfg(test)]
mod tests;
