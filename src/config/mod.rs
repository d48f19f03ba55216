//! One typed configuration: a TOML file, then environment overrides, validated once.
//!
//! Every key can be overridden by an environment variable `INHERENCE_<SECTION>__<KEY>` (double
//! underscore between levels, e.g. `INHERENCE_RUNTIME__INTRA_OP_THREADS=2`); values are read as
//! TOML (`2`, `true`, `"text"`, `[1, 2]`) and fall back to a plain string. Unknown keys, in the
//! file or in the environment, are errors. See `examples/config/inherence.toml`.

pub mod liveness;
mod tenants;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::biometric::EngineSettings;
use crate::biometric::runtime::RuntimeSettings;
use crate::keys::{Alg, KeySettings};
pub use crate::secret::Secret;
pub use liveness::LivenessPolicy;

/// OpenID provider settings (`[oidc]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// The issuer identifier: the public base URL of this server, without a trailing slash.
    pub issuer: String,
    /// acr values this server can satisfy (the first is returned when none is requested).
    pub acr_values_supported: Vec<String>,
    /// Require pushed authorization requests from every client (a client may also require them).
    pub require_par: bool,
    /// Lifetime of a pushed request's `request_uri` (RFC 9126: under 600 s).
    pub par_lifetime_secs: u64,
    /// Lifetime of authorization codes (at most 60 s).
    pub code_lifetime_secs: u64,
    pub access_token_lifetime_secs: u64,
    pub id_token_lifetime_secs: u64,
    /// Time the user has to complete the face check once the flow starts.
    pub flow_lifetime_secs: u64,
    /// Face-check attempts per flow.
    pub capture_attempts: u32,
    /// Lifetime of a capture challenge (one per attempt, single use).
    pub challenge_lifetime_secs: u64,
    /// RAR `authorization_details` types accepted.
    pub authorization_details_types: Vec<String>,
    /// Issuers whose ID tokens are accepted as `id_token_hint` (this server's own always are).
    pub trusted_issuers: Vec<TrustedIssuer>,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            acr_values_supported: vec!["biometric".into()],
            require_par: true,
            par_lifetime_secs: 60,
            code_lifetime_secs: 60,
            access_token_lifetime_secs: 300,
            id_token_lifetime_secs: 300,
            flow_lifetime_secs: 600,
            capture_attempts: 3,
            challenge_lifetime_secs: 120,
            authorization_details_types: vec!["payment_initiation".into()],
            trusted_issuers: Vec::new(),
        }
    }
}

/// An identity provider whose ID tokens may name the subject (`id_token_hint`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    pub issuer: String,
    /// Its public keys (a JWKS document).
    pub jwks: serde_json::Value,
    /// Claim holding the subject identifier Inherence knows (e.g. `oid` for Entra ID).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Audiences a hint from this issuer must name (its `aud`, one of them): the client id
    /// Inherence has at that identity provider. Empty: this server's issuer URL.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The tenants whose clients may present its hints (empty: every tenant).
    #[serde(default)]
    pub tenants: Vec<crate::tenant::TenantId>,
}

fn default_subject_claim() -> String {
    "sub".into()
}

/// How a client authenticates.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

/// A registered client (`[[clients]]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// The tenant whose subjects this client steps up, enrols and audits (`[[tenants]]`;
    /// default: `default`).
    #[serde(default)]
    pub tenant: crate::tenant::TenantId,
    /// Shown on the capture page.
    #[serde(default)]
    pub name: String,
    /// Exact redirect URIs (https, or http on loopback for development).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub auth_method: ClientAuthMethod,
    /// For `client_secret_basic` / `client_secret_post` (at least 32 characters).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// For `private_key_jwt`: the client's public keys (a JWKS document).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// `true`: require pushed authorization requests from this client even if
    /// `oidc.require_par` is off. `false` under `oidc.require_par = true` is a configuration
    /// error: a client cannot opt out of the server's requirement.
    #[serde(default)]
    pub require_par: Option<bool>,
    /// ID-token signing algorithm for this client (default: the first of `keys.algorithms`).
    #[serde(default)]
    pub id_token_alg: Option<Alg>,
    /// May call the enrolment API (client-credentials token with scope `enrolment`).
    #[serde(default)]
    pub enrolment_api: bool,
    /// May export and verify the audit log (client-credentials token with scope `audit`).
    #[serde(default)]
    pub audit_api: bool,
    /// RAR types this client may send (empty: any supported type).
    #[serde(default)]
    pub authorization_details_types: Vec<String>,
    /// The liveness method this client's step-ups need at least (stronger than
    /// `liveness.method` only; a weaker one is a configuration error).
    #[serde(default)]
    pub liveness_method: Option<crate::biometric::capture::LivenessMethod>,
    /// Payment amounts from which this client's step-ups need ACTIVE_3D, replacing
    /// `liveness.active_3d_from`.
    #[serde(default)]
    pub active_3d_from: Option<std::collections::BTreeMap<String, String>>,
}

/// Storage (`[store]`). `Debug` hides the passwords of Redis URLs and the encryption keys.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` (one node, no server to run) or `redis` (several instances).
    pub backend: StoreBackend,
    /// Directory of the embedded store.
    pub path: PathBuf,
    /// Redis: one URL (`redis://host:6379/0`, `rediss://` for TLS), or the seed nodes of a
    /// Redis Cluster (several URLs).
    pub redis_urls: Vec<String>,
    /// AES-256 keys that seal biometric data at rest, `id:base64-of-32-bytes`; the first
    /// seals, the others only open (rotation).
    pub encryption_keys: Vec<Secret>,
    /// A file with one `id:base64` key per line (first = active), instead of or after
    /// `encryption_keys`.
    pub encryption_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self
            .redis_urls
            .iter()
            .map(|u| match url::Url::parse(u) {
                Ok(mut p) if p.password().is_some() => {
                    let _ = p.set_password(Some("redacted"));
                    p.to_string()
                }
                Ok(_) => u.clone(),
                Err(_) => "[unparsable, redacted]".into(),
            })
            .collect();
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("redis_urls", &urls)
            .field("encryption_keys", &self.encryption_keys)
            .field("encryption_key_file", &self.encryption_key_file)
            .finish()
    }
}

/// Which store backend runs.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Embedded,
    Redis,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Embedded,
            path: PathBuf::from("data"),
            redis_urls: Vec::new(),
            encryption_keys: Vec::new(),
            encryption_key_file: None,
        }
    }
}

/// Capture page limits (`[capture]`). What a burst must be is fixed per attempt by its
/// challenge (`[liveness]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureSettings {
    /// Decline a capture where any frame shows several faces.
    pub decline_multiple_faces: bool,
    /// Largest preview frame (live guidance), bytes.
    pub max_preview_bytes: usize,
    /// Most frames one upload may carry, whatever the challenge (a bound on the request).
    pub max_frames: usize,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            decline_multiple_faces: true,
            max_preview_bytes: 256 * 1024,
            max_frames: 64,
        }
    }
}

/// Webhook delivery (`[webhooks]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Attempts per delivery before it goes to the dead letters (first try included).
    pub max_attempts: u32,
    /// First retry delay; each further retry waits four times longer (with +-20 % jitter).
    pub retry_base_secs: f64,
    /// Longest delay between two attempts.
    pub retry_max_secs: f64,
    /// How long a receiver may take to answer.
    pub timeout_secs: u64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// How often the worker looks for due deliveries when nothing wakes it.
    pub poll_interval_ms: u64,
    /// Allow plain-http destinations other than loopback (never in production).
    pub allow_http: bool,
    /// Allow destinations on private, loopback or link-local addresses (off: such URLs are
    /// refused, a guard against server-side request forgery).
    pub allow_private_networks: bool,
    /// Days delivered and dead deliveries stay in the delivery log.
    pub log_retention_days: u32,
    /// Also sign with an Ed25519 key (`webhook-signature: v1a,...`), published at
    /// `/v3/webhook/public-keys/`.
    pub ed25519: bool,
    /// `application_id` in every envelope (default: derived from the issuer).
    pub application_id: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            retry_base_secs: 60.0,
            retry_max_secs: 6.0 * 3600.0,
            timeout_secs: 10,
            concurrency: 32,
            poll_interval_ms: 1000,
            allow_http: false,
            allow_private_networks: false,
            log_retention_days: 30,
            ed25519: false,
            application_id: String::new(),
        }
    }
}

/// Per-key request budgets of the v3 API, per minute (`[api]`; defaults are the contract's).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    pub read_per_minute: i64,
    pub write_per_minute: i64,
    pub session_create_per_minute: i64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            read_per_minute: 600,
            write_per_minute: 300,
            session_create_per_minute: 600,
        }
    }
}

/// Per-client request budgets of the OpenID endpoints, per minute (`[rate_limits]`). Counted
/// in the store, so every instance shares them; over budget: 429 with `Retry-After`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// `false`: no budget is counted (leave them to a proxy in front).
    pub enabled: bool,
    /// Pushed authorization requests (`/par`), after client authentication.
    pub par_per_minute: i64,
    /// Token requests (`/token`), after client authentication.
    pub token_per_minute: i64,
    /// Capture uploads of the client's flows (each one runs the face check).
    pub capture_uploads_per_minute: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            par_per_minute: 3000,
            token_per_minute: 6000,
            capture_uploads_per_minute: 3000,
        }
    }
}

/// Sessions of the Didit-compatible API (`[sessions]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A started session with no activity for this long becomes `Abandoned`.
    pub abandon_after_secs: u64,
    /// How often expiry and abandonment are checked.
    pub sweep_interval_secs: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            abandon_after_secs: 3600,
            sweep_interval_secs: 30,
        }
    }
}

/// Where models live and how they are installed.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory holding the installed model files.
    pub dir: PathBuf,
    /// The manifest listing every file with its sha256.
    pub manifest: PathBuf,
    /// Python interpreter used to rebuild models that have no downloadable upstream file.
    pub python: PathBuf,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("models"),
            manifest: PathBuf::from("models/manifest.toml"),
            python: PathBuf::from(".venv/bin/python"),
        }
    }
}

/// HTTP server settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted on upload routes, in bytes.
    pub max_body_bytes: usize,
    /// Requests processed by the biometric engine at the same time; more wait in line.
    pub max_concurrent_analyses: usize,
    /// Header and body deadlines, minimum upload rate, connections per address.
    pub limits: crate::http::serve::ConnectionLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 24 * 1024 * 1024,
            max_concurrent_analyses: 0,
            limits: Default::default(),
        }
    }
}

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
    pub audit: crate::audit::AuditSettings,
    /// The tenants besides `default` (`[[tenants]]`); none: one deployment, one tenant.
    pub tenants: Vec<crate::tenant::TenantConfig>,
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
        for t in &o.trusted_issuers {
            if serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(t.jwks.clone()).is_err() {
                return bad(format!(
                    "oidc.trusted_issuers {}: jwks is not a JWKS document",
                    t.issuer
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
            match c.auth_method {
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
                liveness::check_thresholds(&format!("{who}: active_3d_from"), t)
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
