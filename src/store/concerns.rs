//! The storage traits the stateful concerns use, named by the guarantee each one rests on.
//!
//! Each is a narrow view of the [`Kv`] contract: implemented once here for every backend (so a
//! backend implements [`Kv`] alone and the behavioural suite checks the operations these
//! guarantees come from), and used by domain code instead of raw key-value calls. Plain
//! documents (templates, clients, API keys, sessions, workflows, webhook destinations and
//! deliveries) use [`super::typed::KvJson`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::typed::KvJson;
use super::{Kv, Namespace, StoreError};

/// Single-use items: PAR requests, capture challenges, authorization codes, flows at their end.
pub trait SingleUse {
    /// Stores `item` until `expires_at` (ms since the epoch).
    fn issue<T: Serialize>(
        &self,
        ns: &Namespace,
        key: &str,
        item: &T,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Takes the item: of several redeemers, on any instance, exactly one gets it.
    fn redeem<T: DeserializeOwned>(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError>;
}

/// Replay caches (client-assertion `jti`): remembers a value until it could no longer be
/// replayed.
pub trait ReplayCache {
    /// `true` the first time `key` is seen (before `until`, ms); `false` for a replay.
    fn first_use(&self, ns: &Namespace, key: &str, until: i64) -> Result<bool, StoreError>;
}

/// Counters: rate limits, attempt counters, session numbers; global across instances.
pub trait Counters {
    /// Adds `by` and returns the new value; a new counter lives until `window_end` (ms).
    fn add(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        window_end: Option<i64>,
    ) -> Result<i64, StoreError>;
}

/// Claims and leases: one holder at a time (key generation and rotation, webhook deliveries).
pub trait Claims {
    /// `true` if this caller now holds `key` (until `until`, ms, or until released).
    fn claim(&self, ns: &Namespace, key: &str, until: Option<i64>) -> Result<bool, StoreError>;
    /// Gives a claim up; `true` if it was held.
    fn release(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError>;
}

/// Write-once records: audit entries (one writer per sequence number), checkpoints, the keys
/// that signed them, generated keys that must never be replaced.
pub trait WriteOnce {
    /// Writes `value` unless `key` exists; `true` if written.
    fn write_once(&self, ns: &Namespace, key: &str, value: &[u8]) -> Result<bool, StoreError>;
}

impl<K: Kv + ?Sized> SingleUse for K {
    fn issue<T: Serialize>(
        &self,
        ns: &Namespace,
        key: &str,
        item: &T,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.put_json(ns, key, item, Some(expires_at))
    }
    fn redeem<T: DeserializeOwned>(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.take_json(ns, key)
    }
}

impl<K: Kv + ?Sized> ReplayCache for K {
    fn first_use(&self, ns: &Namespace, key: &str, until: i64) -> Result<bool, StoreError> {
        self.put_new(ns, key, b"1", Some(until))
    }
}

impl<K: Kv + ?Sized> Counters for K {
    fn add(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        window_end: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.incr(ns, key, by, window_end)
    }
}

impl<K: Kv + ?Sized> Claims for K {
    fn claim(&self, ns: &Namespace, key: &str, until: Option<i64>) -> Result<bool, StoreError> {
        self.put_new(ns, key, b"1", until)
    }
    fn release(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        self.delete(ns, key)
    }
}

impl<K: Kv + ?Sized> WriteOnce for K {
    fn write_once(&self, ns: &Namespace, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        self.put_new(ns, key, value, None)
    }
}
