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
//! - `keys` lists the live keys of a namespace.

pub mod embedded;
pub mod redis;
#[cfg(any(test, feature = "test-support"))]
pub mod suite;
pub mod typed;

use std::sync::Arc;

/// Storage failures. Callers never see which backend failed how beyond the message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The key-value contract.
pub trait Kv: Send + Sync {
    /// Writes `value` (replacing any previous one).
    fn put(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Writes `value` only if `key` is absent; `true` if written.
    fn put_new(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Reads a value.
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads and deletes a value atomically.
    fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes a value; `true` if it existed.
    fn delete(&self, ns: &str, key: &str) -> Result<bool, StoreError>;
    /// Adds `by` to a counter (created at 0 with `expires_at`) and returns the new value.
    fn incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError>;
    /// Live keys of a namespace.
    fn keys(&self, ns: &str) -> Result<Vec<String>, StoreError>;
}

/// A shared store handle.
pub type Store = Arc<dyn Kv>;

/// Opens the configured backend.
pub fn open(
    cfg: &crate::config::StoreConfig,
    clock: Arc<dyn crate::clock::Clock>,
) -> Result<Store, StoreError> {
    Ok(match cfg.backend {
        crate::config::StoreBackend::Embedded => {
            Arc::new(embedded::EmbeddedStore::open(&cfg.path, clock)?)
        }
        crate::config::StoreBackend::Redis => {
            Arc::new(redis::RedisStore::connect(&cfg.redis_urls, clock)?)
        }
    })
}
