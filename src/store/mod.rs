//! Storage behind one narrow key-value contract that every backend implements the same way.
//!
//! Domain code uses the typed helpers in [`typed`]; it never knows which backend runs. The
//! contract (checked by the behavioural suite in `store/suite.rs`, run against every backend):
//!
//! - keys live in namespaces (`ns`), values are opaque bytes;
//! - `expires_at` is milliseconds since the epoch; an expired entry behaves as absent;
//! - `take` is atomic: of two concurrent callers, exactly one gets the value (single use);
//! - `put_new` writes only if the key is absent (or expired) and says whether it did;
//! - `incr` adds to a counter atomically, creating it with the given expiry;
//! - `replace` swaps a value only if it is still the one the caller read (compare-and-set), so
//!   a background rewrite never overwrites a concurrent change;
//! - `keys` lists the live keys of a namespace.
//!
//! Every stateful concern goes through this one contract, through the narrow trait of
//! [`concerns`] named by its guarantee (or [`typed::KvJson`] for plain documents); the suite
//! checks those guarantees on every backend:
//!
//! | concern (namespaces) | trait: relies on |
//! |---|---|
//! | authorization flows, capture challenges, PAR requests, codes (`flows`, `challenges`, `par`, `codes`) | `SingleUse`: `put` with expiry, `take` = atomic single use |
//! | replay caches: client-assertion `jti` (`assertion_jti`) | `ReplayCache`: `put_new` with expiry = first use wins |
//! | redeemed codes, sessions revoked by a code replay (`used_codes`, `revoked`) | `put`, `get` with expiry |
//! | rate limits, attempt and session counters (`rate`, `counters`) | `Counters`: `incr` with expiry, atomic across instances |
//! | enrolments / templates, kept faces, subject keys (`enrolments`, `session_faces`, `subject_keys`) | `KvJson` documents; `replace` for resealing; sealed by [`encrypted`] |
//! | clients, API keys, workflows, webhook destinations, sessions, deliveries | `KvJson` documents: `put`, `get`, `delete`, `keys` |
//! | signing keys and their generation (`keys`, `key_claims`, `webhook_keys`) | `Claims` (one instance generates and rotates), `WriteOnce` |
//! | webhook delivery leases (`webhook_leases`) | `Claims` with expiry: one worker per attempt |
//! | audit log (`audit`, `audit_checkpoints`, `audit_signers`, `audit_keys`) | `WriteOnce`: one writer per sequence number |
//!
//! Each namespace is a [`Namespace`] declared once by the module that owns the data, with its
//! policy (sealed, per-subject key, fsynced, expiring); backends and the sealing wrapper read
//! the policy from it, and [`crate::namespaces`] lists them all.
//!
//! A new backend implements [`Kv`] and passes `suite::run` (also through the sealing wrapper);
//! nothing above it changes.

pub mod concerns;
pub mod embedded;
pub mod encrypted;
pub mod metered;
pub mod namespace;
pub mod redis;
mod settings;
#[cfg(any(test, feature = "test-support"))]
pub mod suite;
pub mod typed;

use std::sync::Arc;

pub use namespace::Namespace;
pub use settings::{StoreBackend, StoreConfig};

/// Storage failures. Callers never see which backend failed how beyond the message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A write its namespace's policy forbids (a programming error, never user input).
    #[error("refused by the namespace policy: {0}")]
    Policy(String),
}

/// The key-value contract.
pub trait Kv: Send + Sync {
    /// Writes `value` (replacing any previous one).
    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Writes `value` only if `key` is absent; `true` if written.
    fn put_new(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Reads a value.
    fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads and deletes a value atomically.
    fn take(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes a value; `true` if it existed.
    fn delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError>;
    /// Adds `by` to a counter (created at 0 with `expires_at`) and returns the new value.
    fn incr(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError>;
    /// Live keys of a namespace.
    fn keys(&self, ns: &Namespace) -> Result<Vec<String>, StoreError>;
    /// Replaces the value of `key` with `new` (keeping its expiry) only if it is exactly
    /// `expected`; `true` if replaced.
    fn replace(
        &self,
        ns: &Namespace,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError>;
}

/// A shared store handle.
pub type Store = Arc<dyn Kv>;

/// Runs a call that may block its thread (a network round trip to Redis, an `fsync`) without
/// stalling an async worker: on a worker of a multi-threaded Tokio runtime, the worker's other
/// tasks move to another thread while it runs (`block_in_place`); anywhere else (the command
/// line, a blocking pool, a current-thread runtime) it simply runs. The store traits stay
/// synchronous, so every caller, async or not, gets this without knowing the backend.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// An opened store: the handle domain code uses and, to reseal after a key rotation, the
/// encryption layer.
pub struct Opened {
    pub store: Store,
    pub sealer: Arc<encrypted::EncryptedKv>,
    /// The template key was generated into the store directory (development only).
    pub generated_key: bool,
}

fn template_keys(
    cfg: &crate::store::StoreConfig,
) -> Result<(encrypted::KeyRing, bool), StoreError> {
    let mut keys = Vec::new();
    for k in &cfg.encryption_keys {
        keys.push(encrypted::TemplateKey::parse(k.expose())?);
    }
    if let Some(f) = &cfg.encryption_key_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            StoreError::Unavailable(format!("template key file {}: {e}", f.display()))
        })?;
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            keys.push(encrypted::TemplateKey::parse(line)?);
        }
    }
    if !keys.is_empty() {
        return Ok((encrypted::KeyRing::new(keys)?, false));
    }
    if cfg.backend == crate::store::StoreBackend::Redis {
        return Err(StoreError::Unavailable(
            "with Redis, set store.encryption_keys or store.encryption_key_file (templates are sealed at rest)".into(),
        ));
    }
    // Development: one key generated next to the embedded store, readable by its owner only.
    use base64::Engine as _;
    let path = cfg.path.join("template.key");
    std::fs::create_dir_all(&cfg.path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let generated = !path.exists();
    if generated {
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).expect("system randomness");
        let line = format!(
            "dev-1:{}\n",
            base64::engine::general_purpose::STANDARD.encode(k)
        );
        write_private(&path, line.as_bytes())?;
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let keys = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(encrypted::TemplateKey::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((encrypted::KeyRing::new(keys)?, generated))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Opens the configured backend, with biometric data sealed at rest.
/// `namespaces`: every namespace the application uses (`crate::namespaces()`), the only ones
/// the store accepts writes to.
pub fn open_sealed(
    cfg: &crate::store::StoreConfig,
    clock: Arc<dyn crate::clock::Clock>,
    namespaces: &[Namespace],
) -> Result<Opened, StoreError> {
    open_with(cfg, clock, false, namespaces)
}

/// Opens the store for reading while a server may be using it: for the embedded store, a
/// snapshot of its log (changes through it stay in memory); Redis is shared anyway.
pub fn open_snapshot(
    cfg: &crate::store::StoreConfig,
    clock: Arc<dyn crate::clock::Clock>,
    namespaces: &[Namespace],
) -> Result<Store, StoreError> {
    Ok(open_with(cfg, clock, true, namespaces)?.store)
}

fn open_with(
    cfg: &crate::store::StoreConfig,
    clock: Arc<dyn crate::clock::Clock>,
    snapshot: bool,
    namespaces: &[Namespace],
) -> Result<Opened, StoreError> {
    // The embedded store keeps the per-subject keys (crypto-shredding) in a file of their own,
    // rewritten on every deletion; Redis keeps them in their namespace.
    let subject_keys_dir = cfg.path.join("subject-keys");
    let (inner, subject_keys): (Store, Store) = match cfg.backend {
        crate::store::StoreBackend::Embedded if snapshot => (
            Arc::new(embedded::EmbeddedStore::snapshot(&cfg.path, clock.clone())?),
            if subject_keys_dir.exists() {
                Arc::new(embedded::EmbeddedStore::snapshot(&subject_keys_dir, clock)?)
            } else {
                Arc::new(embedded::EmbeddedStore::in_memory(clock))
            },
        ),
        crate::store::StoreBackend::Embedded => (
            Arc::new(embedded::EmbeddedStore::open(&cfg.path, clock.clone())?),
            Arc::new(embedded::EmbeddedStore::open_shredding(
                &subject_keys_dir,
                clock,
            )?),
        ),
        crate::store::StoreBackend::Redis => {
            let r: Store = Arc::new(redis::RedisStore::connect(&cfg.redis_urls)?);
            (r.clone(), r)
        }
    };
    let (ring, generated_key) = template_keys(cfg)?;
    // Only the embedded store can hold data from before encryption; Redis never did.
    let accept_plain = cfg.backend == crate::store::StoreBackend::Embedded;
    let sealer = Arc::new(encrypted::EncryptedKv::new(
        inner,
        subject_keys,
        Arc::new(ring),
        accept_plain,
        namespaces,
    ));
    Ok(Opened {
        store: sealer.clone(),
        sealer,
        generated_key,
    })
}

/// Opens the configured backend (see [`open_sealed`]).
pub fn open(
    cfg: &crate::store::StoreConfig,
    clock: Arc<dyn crate::clock::Clock>,
    namespaces: &[Namespace],
) -> Result<Store, StoreError> {
    Ok(open_sealed(cfg, clock, namespaces)?.store)
}

#[cfg(test)]
mod blocking_tests {
    use super::blocking;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A store call in progress on the only worker (a Redis round trip, an fsync) must not
    /// hold up the other requests: here the call waits for a message that only another task
    /// on that runtime sends, so it times out if the worker is stalled.
    #[test]
    fn a_blocking_store_call_does_not_stall_the_other_tasks_of_its_worker() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got = rt.block_on(async {
            let (tx, rx) = mpsc::channel::<()>();
            let call = tokio::spawn(async move {
                blocking(|| rx.recv_timeout(Duration::from_secs(10)).is_ok())
            });
            tokio::task::yield_now().await;
            let other = tokio::spawn(async move { tx.send(()).is_ok() });
            other.await.unwrap();
            call.await.unwrap()
        });
        assert!(got, "the other task never ran while the call blocked");
    }

    #[test]
    fn it_runs_the_call_anywhere_else() {
        assert_eq!(blocking(|| 1), 1);
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(current.block_on(async { blocking(|| 2) }), 2);
        let multi = tokio::runtime::Runtime::new().unwrap();
        let v = multi.block_on(async { tokio::task::spawn_blocking(|| blocking(|| 3)).await });
        assert_eq!(v.unwrap(), 3);
    }
}
