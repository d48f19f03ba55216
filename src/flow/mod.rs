//! The step-up transaction: pushed and front-channel authorization requests, the capture
//! flow, codes and tokens, and enrolment. This is the domain core; it uses `protocol` for the
//! rules, `biometric` for the face check, `keys` to sign, and the store traits to remember.
//!
//! A flow moves through explicit states (`state.rs`); every step that must happen once (a
//! pushed request, a capture challenge, a code, the final redirect) is a `take` from the store,
//! so it cannot happen twice, even with several server instances.

pub(crate) mod auth0;
pub(crate) mod authorize;
pub(crate) mod capture;
pub(crate) mod clients;
pub mod console;
pub(crate) mod device;
pub mod didit;
pub(crate) mod enrol;
pub mod error;
pub(crate) mod finish;
pub(crate) mod hints;
pub mod issuers;
pub(crate) mod observe;
pub(crate) use error::store_err;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub(crate) mod limits;
pub(crate) mod liveness;
pub mod sessions;
pub mod settings;
pub(crate) mod state;
pub(crate) mod templates;
pub(crate) mod token;
pub(crate) mod verdict;
pub(crate) mod webhooks;
pub(crate) mod wire;
pub mod workflows;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;
use crate::biometric::FaceEngine;
use crate::clock::Clock;
use crate::flow::settings::Settings;
use crate::keys::{Alg, KeyManager};
use crate::metrics::Metrics;
use crate::protocol::discovery::{self, Metadata, paths};
use crate::store::Store;
use crate::webhook::outbox::Outbox;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use clients::Clients;

/// Store namespaces used by the flows, with their policies (`store/namespace.rs`).
pub mod ns {
    use crate::store::Namespace;
    /// Pushed authorization requests, until their `expires_in`.
    pub const PAR: Namespace = Namespace::new("par").expiring();
    /// Authorization flows in progress (short-lived; a user retries after a power cut).
    pub const FLOWS: Namespace = Namespace::new("flows").expiring();
    /// Active-liveness challenges, single use.
    pub const CHALLENGES: Namespace = Namespace::new("challenges").expiring();
    /// Authorization codes (by digest), single use.
    pub const CODES: Namespace = Namespace::new("codes").expiring();
    /// Redeemed codes, kept while a replay could still be answered by revocation.
    pub const USED_CODES: Namespace = Namespace::new("used_codes").expiring();
    /// Sessions revoked by a code replay, until their tokens expire.
    pub const REVOKED: Namespace = Namespace::new("revoked").expiring();
    /// Nonces of ID-token (implicit) requests, by digest: each starts one face check only.
    pub const NONCES: Namespace = Namespace::new("implicit_nonces").expiring();
    /// Enrolled templates, by subject: sealed with the subject's own key (erasure shreds it).
    pub const ENROLMENTS: Namespace = Namespace::new("enrolments").per_subject().fsynced();

    /// Every namespace of the flows: these, and those their submodules declare.
    pub fn all() -> Vec<Namespace> {
        let mine = [
            PAR, FLOWS, CHALLENGES, CODES, USED_CODES, REVOKED, NONCES, ENROLMENTS,
        ];
        let theirs = [
            super::templates::TOMBSTONES,
            super::clients::JTI_NS,
            super::didit::API_KEYS,
            super::didit::RATE,
            super::workflows::WORKFLOWS,
            super::console::LOGINS,
            super::console::SESSIONS,
        ];
        mine.into_iter()
            .chain(theirs)
            .chain(super::sessions::NAMESPACES.iter().copied())
            .collect()
    }
}

/// 128 bits (or more) of randomness, base64url.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes.max(16)];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256, base64url: how secrets (codes, bindings) are looked up without being stored.
pub(crate) fn digest(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(s.as_bytes()))
}

/// Everything the endpoints need, built once at start-up and shared.
pub struct Provider {
    pub cfg: Arc<Settings>,
    pub store: Store,
    pub keys: Arc<KeyManager>,
    pub engine: Arc<dyn FaceEngine>,
    pub clock: Arc<dyn Clock>,
    pub clients: Clients,
    /// Webhook events waiting for delivery.
    pub outbox: Arc<Outbox>,
    /// Signs webhooks with Ed25519 too (`[webhooks] ed25519 = true`).
    pub webhook_key: Option<Arc<Ed25519KeyPair>>,
    /// The tamper-evident audit log every decision goes to.
    pub audit: Arc<AuditLog>,
    /// Operational metrics (also fed by the store and the webhook worker).
    pub metrics: Arc<Metrics>,
    /// This instance's shares of the per-client budgets (`limits.rs`).
    leases: limits::Leases,
    trusted: Arc<issuers::TrustedIssuers>,
    discovery: Vec<u8>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.cfg.oidc.issuer)
            .finish()
    }
}

impl Provider {
    pub fn new(
        cfg: Arc<Settings>,
        store: Store,
        keys: Arc<KeyManager>,
        engine: Arc<dyn FaceEngine>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, crate::audit::AuditError> {
        let clients = Clients::new(&cfg.clients, store.clone(), clock.clone());
        let trusted = Arc::new(issuers::TrustedIssuers::new(&cfg.oidc.trusted_issuers));
        let algs: Vec<&str> = cfg.keys.algorithms.iter().map(|a| a.name()).collect();
        let mut echoed: Vec<String> = cfg
            .oidc
            .trusted_issuers
            .iter()
            .flat_map(|t| t.echo_claims.iter().cloned())
            .collect();
        if cfg.clients.iter().any(|c| c.front_channel_subject) {
            echoed.push("preferred_username".into());
        }
        let doc = discovery::document(&Metadata {
            issuer: &cfg.oidc.issuer,
            acr_values_supported: &cfg.oidc.acr_values_supported,
            signing_algs: &algs,
            require_par: cfg.oidc.require_par,
            authorization_details_types: &cfg.oidc.authorization_details_types,
            implicit: cfg.clients.iter().any(|c| {
                c.response_types
                    .contains(&crate::protocol::authorize::ResponseType::IdToken)
            }),
            echoed_claims: &echoed,
        });
        let discovery = serde_json::to_vec(&doc).expect("metadata serialises");
        let outbox = Arc::new(
            Outbox::new(store.clone(), clock.clone(), cfg.webhooks.clone())
                .with_metrics(metrics.clone()),
        );
        let webhook_key = if cfg.webhooks.ed25519 {
            match crate::keys::webhook_ed25519(&*store) {
                Ok(k) => Some(Arc::new(k)),
                Err(e) => {
                    tracing::error!(error = %e, "the Ed25519 webhook key cannot be loaded; webhooks are signed with HMAC only");
                    None
                }
            }
        } else {
            None
        };
        let audit = Arc::new(
            AuditLog::new(
                store.clone(),
                clock.clone(),
                keys.clone(),
                cfg.audit.clone(),
                cfg.oidc.issuer.clone(),
                cfg.keys.algorithms[0],
            )
            .with_key_file()?,
        );
        Ok(Self {
            audit,
            metrics,
            cfg,
            store,
            keys,
            engine,
            clock,
            clients,
            outbox,
            webhook_key,
            leases: Default::default(),
            trusted,
            discovery,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.cfg.oidc.issuer
    }

    /// The metadata document, serialised once.
    pub fn discovery(&self) -> &[u8] {
        &self.discovery
    }

    /// Full URL of one of our endpoints.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// Values accepted as `aud` of a client assertion at `path`.
    pub fn assertion_audiences(&self, path: &str) -> Vec<String> {
        let mut v = vec![self.issuer().to_owned(), self.endpoint(path)];
        if path != paths::TOKEN {
            v.push(self.endpoint(paths::TOKEN));
        }
        v
    }

    /// ID-token algorithm for a client.
    pub fn id_token_alg(&self, client_id: &str) -> Alg {
        self.clients
            .get(client_id)
            .and_then(|c| c.id_token_alg)
            .unwrap_or(self.cfg.keys.algorithms[0])
    }

    /// The tenant of a client (`default` for the v3 hosted sessions' internal client, whose
    /// flows carry their session's tenant instead).
    pub fn client_tenant(&self, client_id: &str) -> crate::tenant::TenantId {
        self.clients
            .get(client_id)
            .map(|c| c.tenant.clone())
            .unwrap_or_default()
    }

    /// The identity providers whose hints name users, with the keys held for them.
    pub fn trusted_issuers(&self) -> &issuers::TrustedIssuers {
        &self.trusted
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// The Ed25519 webhook public key as a JWK set (empty when not configured).
    pub fn webhook_public_keys(&self) -> wire::PublicKeys {
        let keys = self
            .webhook_key
            .iter()
            .map(|k| {
                let x = URL_SAFE_NO_PAD.encode(k.public_key().as_ref());
                wire::Ed25519Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    use_: "sig".into(),
                    alg: "EdDSA".into(),
                    kid: digest(&x)[..16].to_owned(),
                    x,
                }
            })
            .collect();
        wire::PublicKeys { keys }
    }
}

/// Starts the background work of one server: the webhook delivery worker and the session
/// sweep (expiry and abandonment). Both stop with the runtime.
pub fn spawn_background(p: &Arc<Provider>) -> Vec<tokio::task::JoinHandle<()>> {
    let keys = tokio::spawn(issuers::refresh(p.trusted.clone(), p.clock.clone()));
    let worker = tokio::spawn(crate::webhook::worker::run(
        p.outbox.clone(),
        p.webhook_key.clone(),
    ));
    let sweeper = {
        let p = p.clone();
        tokio::spawn(async move {
            let every = std::time::Duration::from_secs(p.cfg.sessions.sweep_interval_secs.max(1));
            loop {
                tokio::time::sleep(every).await;
                let q = p.clone();
                let swept = tokio::task::spawn_blocking(move || {
                    (q.sweep_sessions(), q.sweep_pending_events())
                })
                .await;
                let Ok((sessions, events)) = swept else {
                    continue;
                };
                match sessions {
                    Ok(n) if n > 0 => {
                        tracing::info!(sessions = n, "sessions expired or abandoned")
                    }
                    Err(e) => tracing::error!(error = %e, "session sweep failed"),
                    _ => {}
                }
                match events {
                    Ok(n) if n > 0 => {
                        tracing::info!(events = n, "webhook events queued by the sweep")
                    }
                    Err(e) => tracing::error!(error = %e, "webhook event sweep failed"),
                    _ => {}
                }
            }
        })
    };
    let auditor = {
        let p = p.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                let a = p.audit.clone();
                match tokio::task::spawn_blocking(move || a.tick()).await {
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "audit checkpoint or retention failed")
                    }
                    Err(e) => tracing::error!(error = %e, "audit task failed"),
                    _ => {}
                }
            }
        })
    };
    vec![worker, sweeper, auditor, keys]
}
