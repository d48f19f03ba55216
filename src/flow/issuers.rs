//! Identity providers whose ID tokens may name the user (`id_token_hint`), with their keys:
//! given in the configuration (`jwks`), or fetched from the provider's `jwks_uri` and kept
//! fresh by a background task ([`refresh`]). A request never waits for the network: it reads
//! the keys held in memory; a hint signed with a key not yet seen is refused and asks for an
//! early refresh (at most one per [`MIN_REFETCH_SECS`]), so a provider that publishes its next
//! key ahead of using it (as Microsoft Entra ID does, days ahead) is never refused.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Notify;

use super::settings::TrustedIssuer;
use crate::clock::Clock;

/// Shortest time between two fetches of one provider's keys.
pub const MIN_REFETCH_SECS: i64 = 30;
/// Largest key set accepted from a provider.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One trusted identity provider and the keys currently held for it.
#[derive(Debug)]
pub struct Issuer {
    pub cfg: TrustedIssuer,
    keys: RwLock<Held>,
}

#[derive(Debug, Default)]
struct Held {
    set: Arc<JwkSet>,
    /// When the keys were last fetched (remote keys only), seconds since the epoch.
    fetched_at: Option<i64>,
    /// When a fetch was last tried.
    tried_at: Option<i64>,
    /// A hint named a key this set does not have.
    wanted: bool,
}

/// All trusted issuers, in configuration order.
#[derive(Debug)]
pub struct TrustedIssuers {
    list: Vec<Issuer>,
    wake: Notify,
}

impl TrustedIssuers {
    /// Issuers with inline keys are ready at once; those with a `jwks_uri` hold no key until
    /// the first fetch.
    pub fn new(cfgs: &[TrustedIssuer]) -> Self {
        let list = cfgs
            .iter()
            .map(|c| {
                let set = c
                    .jwks
                    .as_ref()
                    .and_then(|j| serde_json::from_value(j.clone()).ok())
                    .unwrap_or(JwkSet { keys: Vec::new() });
                Issuer {
                    cfg: c.clone(),
                    keys: RwLock::new(Held {
                        set: Arc::new(set),
                        ..Held::default()
                    }),
                }
            })
            .collect();
        Self {
            list,
            wake: Notify::new(),
        }
    }

    /// The issuer whose `issuer` is exactly `iss`.
    pub fn find(&self, iss: &str) -> Option<&Issuer> {
        self.list.iter().find(|i| i.cfg.issuer == iss)
    }

    /// The keys held for `issuer`. When `kid` is given and none of them has it, a remote
    /// issuer's keys are refreshed soon (the caller refuses the token meanwhile).
    pub fn keys(&self, issuer: &Issuer, kid: Option<&str>) -> Arc<JwkSet> {
        let held = issuer.keys.read().unwrap_or_else(|e| e.into_inner());
        let set = held.set.clone();
        drop(held);
        let known = kid.is_none_or(|k| {
            set.keys
                .iter()
                .any(|j| j.common.key_id.as_deref() == Some(k))
        });
        if !known && issuer.cfg.jwks_uri.is_some() {
            issuer
                .keys
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .wanted = true;
            self.wake.notify_one();
        }
        set
    }

    /// When each remote issuer's keys were fetched (for operators and tests).
    pub fn fetched_at(&self, iss: &str) -> Option<i64> {
        let i = self.find(iss)?;
        i.keys.read().unwrap_or_else(|e| e.into_inner()).fetched_at
    }
}

/// Keeps the remote issuers' keys fresh: fetches each at start, again every
/// `jwks_refresh_secs`, and early when a hint named an unknown key. A failed fetch keeps the
/// keys held and is retried after [`MIN_REFETCH_SECS`].
pub async fn refresh(issuers: Arc<TrustedIssuers>, clock: Arc<dyn Clock>) {
    if !issuers.list.iter().any(|i| i.cfg.jwks_uri.is_some()) {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for the trusted issuers' keys");
            return;
        }
    };
    loop {
        let now = clock.now_secs();
        for i in &issuers.list {
            let Some(uri) = &i.cfg.jwks_uri else { continue };
            let (due, tried_recently) = {
                let h = i.keys.read().unwrap_or_else(|e| e.into_inner());
                let stale = h
                    .fetched_at
                    .is_none_or(|t| now - t >= i.cfg.jwks_refresh_secs as i64);
                (
                    stale || h.wanted,
                    h.tried_at.is_some_and(|t| now - t < MIN_REFETCH_SECS),
                )
            };
            if !due || tried_recently {
                continue;
            }
            let got = crate::keys::remote::fetch_jwks(&client, uri, MAX_JWKS_BYTES).await;
            let mut h = i.keys.write().unwrap_or_else(|e| e.into_inner());
            h.tried_at = Some(now);
            match got {
                Ok(set) => {
                    tracing::info!(issuer = %i.cfg.issuer, keys = set.keys.len(), "trusted issuer keys fetched");
                    h.set = Arc::new(set);
                    h.fetched_at = Some(now);
                    h.wanted = false;
                }
                Err(e) => {
                    tracing::warn!(issuer = %i.cfg.issuer, error = %e, "trusted issuer keys could not be fetched; keeping the keys held")
                }
            }
        }
        // Woken early by an unknown key, else checks again after the shortest interval.
        let _ = tokio::time::timeout(
            Duration::from_secs(MIN_REFETCH_SECS as u64),
            issuers.wake.notified(),
        )
        .await;
    }
}
