//! `[metrics]`: whether `/metrics` is served, and where.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which listener serves `/metrics`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetricsListener {
    /// The admin listener (`[server] admin_listen`, loopback by default), without a token.
    #[default]
    Admin,
    /// The public listener as well, behind `Authorization: Bearer <token_file's content>`.
    Main,
}

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Record and serve metrics. Off: no `/metrics`, and requests and store calls are not
    /// timed at all.
    pub enabled: bool,
    pub listener: MetricsListener,
    /// A file holding the bearer token scrapers must send (at least 32 characters; required
    /// when `listener = "main"`, optional on the admin listener).
    pub token_file: Option<PathBuf>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listener: MetricsListener::Admin,
            token_file: None,
        }
    }
}

impl MetricsSettings {
    /// Checks the combination with the admin listener's address (`""`: no admin listener).
    pub fn validate(&self, admin_listen: &str) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        match self.listener {
            MetricsListener::Main if self.token_file.is_none() => Err(
                "metrics.listener = \"main\" serves /metrics on the public listener: set \
                 metrics.token_file to a file holding the scrapers' bearer token"
                    .into(),
            ),
            MetricsListener::Admin if admin_listen.trim().is_empty() => Err(
                "metrics.listener = \"admin\" needs server.admin_listen (or set \
                 metrics.enabled = false, or listener = \"main\" with a token_file)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// Reads the scrapers' token, if one is configured.
    pub fn load_token(&self) -> Result<Option<crate::secret::Secret>, String> {
        let Some(p) = &self.token_file else {
            return Ok(None);
        };
        let t = std::fs::read_to_string(p)
            .map_err(|e| format!("metrics.token_file {}: {e}", p.display()))?;
        let t = t.trim();
        if t.len() < 32 {
            return Err(format!(
                "metrics.token_file {}: the token must be at least 32 characters",
                p.display()
            ));
        }
        Ok(Some(crate::secret::Secret::new(t)))
    }
}
