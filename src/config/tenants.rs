//! `[[tenants]]`: which tenants exist, and the checks that every client names one of them.

use super::{Config, ConfigError};
use crate::tenant::TenantId;

impl Config {
    /// Whether `t` is `default` or a configured tenant.
    pub fn has_tenant(&self, t: &TenantId) -> bool {
        t.is_default() || self.tenants.iter().any(|c| &c.id == t)
    }

    /// The tenant named on the command line or in a request: configured, or an error naming
    /// the configured ones.
    pub fn tenant(&self, name: &str) -> Result<TenantId, ConfigError> {
        let t = TenantId::parse(name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.has_tenant(&t) {
            Ok(t)
        } else {
            let mut known: Vec<&str> = self.tenants.iter().map(|c| c.id.as_str()).collect();
            known.insert(0, TenantId::DEFAULT);
            Err(ConfigError::Invalid(format!(
                "unknown tenant {name:?} (configured: {})",
                known.join(", ")
            )))
        }
    }

    pub(super) fn validate_tenants(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.tenants {
            if t.id.is_default() {
                return Err(ConfigError::Invalid(
                    "tenants: \"default\" always exists; do not declare it".into(),
                ));
            }
            if !seen.insert(&t.id) {
                return Err(ConfigError::Invalid(format!(
                    "tenants: {} is declared twice",
                    t.id
                )));
            }
        }
        for t in &self.oidc.trusted_issuers {
            if let Some(x) = t.tenants.iter().find(|x| !self.has_tenant(x)) {
                return Err(ConfigError::Invalid(format!(
                    "trusted issuer {}: tenant {:?} is not declared in [[tenants]]",
                    t.issuer,
                    x.as_str()
                )));
            }
        }
        for c in &self.clients {
            if !self.has_tenant(&c.tenant) {
                return Err(ConfigError::Invalid(format!(
                    "client {}: tenant {:?} is not declared in [[tenants]]",
                    c.client_id,
                    c.tenant.as_str()
                )));
            }
        }
        Ok(())
    }
}
