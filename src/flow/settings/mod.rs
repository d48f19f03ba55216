//! What the flow reads from the configuration: the OpenID provider (`[oidc]`), the clients
//! (`[[clients]]`), capture limits, request budgets, sessions and the liveness policy. The
//! structs live here, with the code that reads them; `config` combines and validates them.

pub mod console;
pub mod liveness;

use serde::{Deserialize, Serialize};

use crate::audit::AuditSettings;
use crate::biometric::EngineSettings;
use crate::keys::{Alg, KeySettings};
use crate::secret::Secret;
use crate::webhook::WebhookSettings;
pub use liveness::LivenessPolicy;

/// The sections of the configuration the flow and the endpoints read, taken from the whole
/// configuration once it is validated (`Config::flow`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub oidc: OidcSettings,
    pub clients: Vec<ClientConfig>,
    pub capture: CaptureSettings,
    pub liveness: LivenessPolicy,
    pub api: ApiSettings,
    pub rate_limits: RateLimits,
    pub sessions: SessionSettings,
    pub webhooks: WebhookSettings,
    pub audit: AuditSettings,
    pub keys: KeySettings,
    pub biometric: EngineSettings,
    /// Every tenant (`default` first).
    pub tenants: Vec<crate::tenant::TenantId>,
    pub console: console::ConsoleSettings,
}

impl Settings {
    /// Every tenant of the deployment (`default` first).
    pub fn tenant_ids(&self) -> Vec<crate::tenant::TenantId> {
        if self.tenants.is_empty() {
            vec![crate::tenant::TenantId::default()]
        } else {
            self.tenants.clone()
        }
    }
}

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
    /// Compared character for character with a hint's `iss` (for Microsoft Entra ID, one
    /// entry per directory: `https://login.microsoftonline.com/{tenant id}/v2.0`).
    pub issuer: String,
    /// Its public keys inline (a JWKS document); or give `jwks_uri`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Where it publishes its keys (https, or http on loopback); fetched at start and every
    /// `jwks_refresh_secs` by a background task, never while a request waits.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_refresh_secs: u64,
    /// Refuse hints issued (`iat`) longer ago than this. Hints are often sent already
    /// expired on purpose, so `exp` is not checked; this bounds how old a replayed one can be.
    #[serde(default)]
    pub max_age_secs: Option<u64>,
    /// Claims of the hint repeated in the ID token of a `response_type=id_token` answer
    /// (strings only). `sub` replaces that token's subject: Microsoft Entra ID requires the
    /// returned `sub` to be the hint's, while the face is looked up by `subject_claim` (its
    /// `oid`). Code-flow tokens never echo.
    #[serde(default)]
    pub echo_claims: Vec<String>,
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

impl ClientConfig {
    /// Registered for the ID token response alone (an identity provider calling Inherence as
    /// an external factor): no code, so no token endpoint and no client authentication.
    pub fn implicit_only(&self) -> bool {
        self.response_types == [crate::protocol::authorize::ResponseType::IdToken]
    }

    /// An Auth0 tenant's post-login Action (`response_types = ["auth0_continue"]`): its
    /// `client_secret` is the Action's HS256 secret, its one redirect URI the tenant's
    /// `/continue`; it never calls the token endpoint.
    pub fn auth0_action(&self) -> bool {
        self.response_types == [crate::protocol::authorize::ResponseType::Auth0Continue]
    }

    /// What is wrong with an Auth0 Action client's registration, if anything.
    pub fn auth0_problem(&self) -> Option<&'static str> {
        if !self.auth0_action() {
            return None;
        }
        let continue_ok = match self.redirect_uris.as_slice() {
            [u] => crate::protocol::auth0::tenant_host(u).is_some(),
            _ => false,
        };
        if !continue_ok {
            Some(
                "an auth0_continue client has exactly one redirect URI, the tenant's \
                 https://{tenant}/continue",
            )
        } else if self.auth_method != ClientAuthMethod::None {
            Some(
                "an auth0_continue client has auth_method = \"none\": the Action proves itself \
                 with the HS256 session token, never at the token endpoint",
            )
        } else if self.client_secret.as_ref().is_none_or(|s| s.len() < 32) {
            Some(
                "an auth0_continue client needs client_secret, the Action's HS256 secret (at least 32 characters)",
            )
        } else if self.enrolment_api
            || self.audit_api
            || self.front_channel_subject
            || self.require_par == Some(true)
        {
            Some(
                "an auth0_continue client cannot push, name users in the browser, or call the \
                 enrolment or audit API",
            )
        } else {
            None
        }
    }
}

fn default_response_types() -> Vec<crate::protocol::authorize::ResponseType> {
    vec![crate::protocol::authorize::ResponseType::Code]
}

fn default_jwks_refresh_secs() -> u64 {
    3600
}

/// Claims an issuer's hint may not set in the ID token Inherence signs (`sub` may be echoed).
pub const RESERVED_CLAIMS: &[&str] = &[
    "preferred_username",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "nonce",
    "acr",
    "amr",
    "auth_time",
    "sid",
    "azp",
    "at_hash",
    "c_hash",
    "cnf",
    "typ",
    "inherence_enrolment",
    "inherence_liveness_method",
];

/// Whether an issuer's `echo_claims` may name `claim`: not one Inherence sets itself (nor any
/// `inherence_` claim), so the ID token never carries a key twice.
pub fn echo_allowed(claim: &str) -> bool {
    !claim.is_empty() && !RESERVED_CLAIMS.contains(&claim) && !claim.starts_with("inherence_")
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
    /// No client authentication: only for a client registered for `response_types =
    /// ["id_token"]` alone, which never calls the token endpoint (its ID token is posted to its
    /// exact redirect URI; Microsoft Entra ID's external authentication methods).
    None,
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
    /// Response types the client may request: `code` (default) and/or `id_token` (an ID token
    /// posted back with `response_mode=form_post`, for identity providers that call
    /// Inherence as an external factor).
    #[serde(default = "default_response_types")]
    pub response_types: Vec<crate::protocol::authorize::ResponseType>,
    /// Take the user to verify from the browser: a `login_hint` in the front-channel request,
    /// or, without one, the username the user types on Inherence's page. For identity
    /// providers that call Inherence as a factor with neither a signed hint nor PAR (Okta's
    /// IdP authenticator). The name is a claim, not a proof: the identity provider must
    /// compare the ID token's `preferred_username` (carried for this client) or `sub` with the
    /// user it is signing in, as Okta does. Such a client never enrols, not even by PAR; the
    /// server-wide `oidc.require_par` does not apply to such a client, which cannot push.
    #[serde(default)]
    pub front_channel_subject: bool,
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
