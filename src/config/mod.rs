//! One typed configuration: a TOML file, then environment overrides, validated once.
//!
//! Every key can be overridden by an environment variable `INHERENCE_<SECTION>__<KEY>` (double
//! underscore between levels, e.g. `INHERENCE_RUNTIME__INTRA_OP_THREADS=2`); values are read as
//! TOML (`2`, `true`, `"text"`, `[1, 2]`) and fall back to a plain string. Unknown keys, in the
//! file or in the environment, are errors. See `examples/config/inherence.toml`.

mod tenants;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::AuditSettings;
use crate::biometric::EngineSettings;
use crate::biometric::models::ModelsConfig;
use crate::biometric::runtime::RuntimeSettings;
use crate::flow::settings::console::ConsoleSettings;
use crate::flow::settings::{
    ApiSettings, CaptureSettings, ClientAuthMethod, ClientConfig, LivenessPolicy, OidcSettings,
    RateLimits, SessionSettings,
};
use crate::http::serve::ServerConfig;
use crate::keys::KeySettings;
use crate::metrics::MetricsSettings;
use crate::store::{StoreBackend, StoreConfig};
use crate::tenant::TenantConfig;
use crate::webhook::WebhookSettings;

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub runtime: RuntimeSettings,
    pub models: ModelsConfig,
    pub biometric: EngineSettings,
    pub server: ServerConfig,
    pub oidc: OidcSettings,
    pub keys: KeySettings,
    pub store: StoreConfig,
    pub capture: CaptureSettings,
    pub liveness: LivenessPolicy,
    pub api: ApiSettings,
    pub rate_limits: RateLimits,
    pub webhooks: WebhookSettings,
    pub sessions: SessionSettings,
    pub audit: AuditSettings,
    pub metrics: MetricsSettings,
    pub console: ConsoleSettings,
    /// The tenants besides `default` (`[[tenants]]`); none: one deployment, one tenant.
    pub tenants: Vec<TenantConfig>,
    pub clients: Vec<ClientConfig>,
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

const ENV_PREFIX: &str = "INHERENCE_";

impl Config {
    /// The sections the flow and the endpoints read.
    pub fn flow(&self) -> crate::flow::settings::Settings {
        crate::flow::settings::Settings {
            oidc: self.oidc.clone(),
            clients: self.clients.clone(),
            capture: self.capture.clone(),
            liveness: self.liveness.clone(),
            api: self.api.clone(),
            rate_limits: self.rate_limits.clone(),
            sessions: self.sessions.clone(),
            webhooks: self.webhooks.clone(),
            audit: self.audit.clone(),
            keys: self.keys.clone(),
            biometric: self.biometric.clone(),
            tenants: std::iter::once(crate::tenant::TenantId::default())
                .chain(self.tenants.iter().map(|t| t.id.clone()))
                .collect(),
            console: self.console.clone(),
        }
    }

    /// Loads `path` (or defaults when `None`), applies environment overrides, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    /// As [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        let mut table: toml::Table = toml::from_str(&text)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", describe(path))))?;
        apply_env(&mut table, env)?;
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.biometric.validate().map_err(ConfigError::Invalid)?;
        self.metrics
            .validate(&self.server.admin_listen)
            .map_err(ConfigError::Invalid)?;
        self.console.validate().map_err(ConfigError::Invalid)?;
        if self.console.enabled && self.server.admin_listen.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "console.enabled needs server.admin_listen: the console is served there".into(),
            ));
        }
        if self.runtime.intra_op_threads == 0 {
            return Err(ConfigError::Invalid(
                "runtime.intra_op_threads must be at least 1".into(),
            ));
        }
        if self.server.max_body_bytes < self.biometric.limits.max_bytes {
            return Err(ConfigError::Invalid(format!(
                "server.max_body_bytes ({}) must be at least biometric.limits.max_bytes ({})",
                self.server.max_body_bytes, self.biometric.limits.max_bytes
            )));
        }
        let w = &self.webhooks;
        if w.max_attempts == 0 || w.max_attempts > 20 {
            return Err(ConfigError::Invalid(
                "webhooks.max_attempts must be 1..=20".into(),
            ));
        }
        if !(w.retry_base_secs > 0.0 && w.retry_max_secs >= w.retry_base_secs) {
            return Err(ConfigError::Invalid(
                "webhooks.retry_base_secs must be > 0 and <= webhooks.retry_max_secs".into(),
            ));
        }
        if w.concurrency == 0 || w.timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "webhooks.concurrency and webhooks.timeout_secs must be at least 1".into(),
            ));
        }
        if self.api.read_per_minute < 1
            || self.api.write_per_minute < 1
            || self.api.session_create_per_minute < 1
        {
            return Err(ConfigError::Invalid(
                "api.*_per_minute must be at least 1".into(),
            ));
        }
        if self.store.backend == StoreBackend::Redis && self.store.redis_urls.is_empty() {
            return Err(ConfigError::Invalid(
                "store.redis_urls must name Redis (one URL, or a cluster's seed nodes)".into(),
            ));
        }
        if self.sessions.sweep_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "sessions.sweep_interval_secs must be at least 1".into(),
            ));
        }
        self.audit.validate().map_err(ConfigError::Invalid)?;
        self.validate_tenants()?;
        self.validate_oidc()
    }

    fn validate_oidc(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let o = &self.oidc;
        let issuer = url::Url::parse(&o.issuer)
            .map_err(|e| ConfigError::Invalid(format!("oidc.issuer: {e}")))?;
        if o.issuer.ends_with('/') || issuer.query().is_some() || issuer.fragment().is_some() {
            return bad("oidc.issuer must have no trailing slash, query or fragment".into());
        }
        if issuer.scheme() != "https" && !is_loopback(&issuer) {
            return bad("oidc.issuer must be https (http only on 127.0.0.1 / localhost)".into());
        }
        if o.acr_values_supported.is_empty() {
            return bad("oidc.acr_values_supported must not be empty".into());
        }
        if o.code_lifetime_secs == 0 || o.code_lifetime_secs > 60 {
            return bad("oidc.code_lifetime_secs must be 1..=60".into());
        }
        if o.par_lifetime_secs == 0 || o.par_lifetime_secs >= 600 {
            return bad("oidc.par_lifetime_secs must be 1..599".into());
        }
        if o.capture_attempts == 0 || o.capture_attempts > 10 {
            return bad("oidc.capture_attempts must be 1..=10".into());
        }
        for (name, v) in [
            (
                "oidc.access_token_lifetime_secs",
                o.access_token_lifetime_secs,
            ),
            ("oidc.id_token_lifetime_secs", o.id_token_lifetime_secs),
            ("oidc.flow_lifetime_secs", o.flow_lifetime_secs),
            ("oidc.challenge_lifetime_secs", o.challenge_lifetime_secs),
        ] {
            if v == 0 || v > 86_400 {
                return bad(format!("{name} must be 1..=86400"));
            }
        }
        self.server
            .limits
            .validate()
            .map_err(ConfigError::Invalid)?;
        let r = &self.rate_limits;
        if [
            r.par_per_minute,
            r.token_per_minute,
            r.capture_uploads_per_minute,
        ]
        .iter()
        .any(|&n| n < 1)
        {
            return bad("rate_limits: every budget must be at least 1 per minute".into());
        }
        if self.keys.algorithms.is_empty() {
            return bad("keys.algorithms must not be empty".into());
        }
        if !(2..=256).contains(&self.capture.max_frames) {
            return bad("capture.max_frames must be 2..=256".into());
        }
        self.liveness.validate().map_err(ConfigError::Invalid)?;
        let implicit_clients = self.clients.iter().any(|c| c.implicit_only());
        for t in &o.trusted_issuers {
            let who = format!("oidc.trusted_issuers {}", t.issuer);
            match (&t.jwks, &t.jwks_uri) {
                (Some(j), None) => {
                    if serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(j.clone()).is_err() {
                        return bad(format!("{who}: jwks is not a JWKS document"));
                    }
                }
                (None, Some(u)) => {
                    let parsed = url::Url::parse(u)
                        .map_err(|e| ConfigError::Invalid(format!("{who}: jwks_uri {u}: {e}")))?;
                    if parsed.scheme() != "https" && !is_loopback(&parsed) {
                        return bad(format!(
                            "{who}: jwks_uri must be https (http only on loopback)"
                        ));
                    }
                    if t.jwks_refresh_secs < 60 {
                        return bad(format!("{who}: jwks_refresh_secs must be at least 60"));
                    }
                }
                _ => return bad(format!("{who}: give exactly one of jwks and jwks_uri")),
            }
            if o.trusted_issuers
                .iter()
                .filter(|x| x.issuer == t.issuer)
                .count()
                > 1
            {
                return bad(format!(
                    "{who}: listed twice (give one entry several tenants instead)"
                ));
            }
            if implicit_clients && t.max_age_secs.is_none_or(|m| m > 86_400) {
                return bad(format!(
                    "{who}: max_age_secs (at most 86400) is required while a client is \
                     registered for response_type id_token: its hints are not checked for \
                     expiry, and their nonces are remembered only that long"
                ));
            }
            if let Some(c) = t
                .echo_claims
                .iter()
                .find(|c| !crate::flow::settings::echo_allowed(c))
            {
                return bad(format!(
                    "{who}: echo_claims cannot include {c:?} (Inherence sets it itself)"
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for c in &self.clients {
            let who = format!("client {}", c.client_id);
            if c.client_id.is_empty() || !ids.insert(&c.client_id) {
                return bad(format!("{who}: client_id must be non-empty and unique"));
            }
            if o.require_par && c.require_par == Some(false) {
                return bad(format!(
                    "{who}: require_par = false conflicts with oidc.require_par = true (a client \
                     cannot opt out of pushed authorization requests; remove the key)"
                ));
            }
            for u in &c.redirect_uris {
                let parsed = url::Url::parse(u)
                    .map_err(|e| ConfigError::Invalid(format!("{who}: redirect URI {u}: {e}")))?;
                if parsed.fragment().is_some() {
                    return bad(format!("{who}: redirect URI {u} must not have a fragment"));
                }
                if parsed.scheme() != "https" && !is_loopback(&parsed) {
                    return bad(format!(
                        "{who}: redirect URI {u} must be https (http only on loopback)"
                    ));
                }
            }
            if c.response_types.len() != 1 {
                return bad(format!(
                    "{who}: response_types is [\"code\"] or [\"id_token\"]: one client answers \
                     one way (an id_token client cannot push, enrol, or use the token endpoint)"
                ));
            }
            let implicit_only = c.implicit_only();
            if let Some(why) = c.auth0_problem() {
                return bad(format!("{who}: {why}"));
            }
            if c.auth0_action() {
                // Checked above.
            } else if (c.auth_method == ClientAuthMethod::None) != implicit_only {
                return bad(format!(
                    "{who}: auth_method = \"none\" goes with response_types = [\"id_token\"] \
                     and only with it (a client without authentication never calls the token \
                     endpoint; an id_token-only client has nothing to authenticate for)"
                ));
            }
            if implicit_only && c.require_par == Some(true) {
                return bad(format!(
                    "{who}: an id_token-only client cannot push its requests (PAR needs client \
                     authentication)"
                ));
            }
            if c.front_channel_subject && (implicit_only || c.require_par == Some(true)) {
                return bad(format!(
                    "{who}: front_channel_subject is for a code client that does not push \
                     (an identity provider calling Inherence without PAR or a signed hint); \
                     drop require_par or front_channel_subject"
                ));
            }
            if implicit_only && (c.enrolment_api || c.audit_api) {
                return bad(format!(
                    "{who}: an id_token-only client cannot call the enrolment or audit API"
                ));
            }
            match c.auth_method {
                ClientAuthMethod::None => {}
                ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                    if c.client_secret.as_ref().is_none_or(|s| s.len() < 32) {
                        return bad(format!(
                            "{who}: client_secret of at least 32 characters is required"
                        ));
                    }
                }
                ClientAuthMethod::PrivateKeyJwt => {
                    let ok = c.jwks.as_ref().is_some_and(|j| {
                        serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(j.clone()).is_ok()
                    });
                    if !ok {
                        return bad(format!(
                            "{who}: private_key_jwt needs jwks (a JWKS document)"
                        ));
                    }
                }
            }
            if let Some(a) = c.id_token_alg
                && !self.keys.algorithms.contains(&a)
            {
                return bad(format!(
                    "{who}: id_token_alg {a:?} is not in keys.algorithms"
                ));
            }
            if let Some(m) = c.liveness_method
                && m < self.liveness.method
            {
                return bad(format!(
                    "{who}: liveness_method {m} is weaker than liveness.method {}: a client may \
                     ask for more, never for less",
                    self.liveness.method
                ));
            }
            if let Some(t) = &c.active_3d_from {
                crate::flow::settings::liveness::check_thresholds(
                    &format!("{who}: active_3d_from"),
                    t,
                )
                .map_err(ConfigError::Invalid)?;
            }
        }
        Ok(())
    }

    /// Settings that are fine for a demo and wrong for production; printed loudly at start-up.
    pub fn dev_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Ok(u) = url::Url::parse(&self.oidc.issuer)
            && u.scheme() != "https"
        {
            w.push(format!(
                "the issuer {} is plain http: use https in production",
                self.oidc.issuer
            ));
        }
        for c in &self.clients {
            if c.client_secret
                .as_ref()
                .is_some_and(|s| s.expose().contains("demo"))
            {
                w.push(format!("client {} uses a demo secret", c.client_id));
            }
        }
        if self.audit.signing_key_file.is_none() {
            w.push(
                "audit checkpoints are signed with a key the store holds: set [audit] \
                 signing_key_file (and witness_file) so that whoever can write the store cannot \
                 re-sign the evidence"
                    .into(),
            );
        }
        if let Ok(a) = self.server.admin_listen.parse::<std::net::SocketAddr>()
            && !a.ip().is_loopback()
            && self.metrics.enabled
            && self.metrics.token_file.is_none()
        {
            w.push(format!(
                "the admin listener {a} is not loopback and /metrics on it has no token: keep it \
                 on a private network, or set metrics.token_file"
            ));
        }
        if self.audit.witness_file.is_none() {
            w.push(
                "no [audit] witness_file: a truncated or wiped audit log is only detectable \
                 from an outside copy of its checkpoints"
                    .into(),
            );
        }
        w
    }
}

fn is_loopback(u: &url::Url) -> bool {
    matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

fn describe(path: Option<&Path>) -> String {
    path.map_or_else(|| "defaults".into(), |p| p.display().to_string())
}

fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    let mut overrides: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    overrides.sort();
    for (key, raw) in overrides {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(format!(
                "malformed override variable {key}"
            )));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let mut cur = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = cur
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cur = entry
                .as_table_mut()
                .ok_or_else(|| ConfigError::Invalid(format!("{key}: {part} is not a section")))?;
        }
        cur.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
