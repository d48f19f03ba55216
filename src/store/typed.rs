//! Typed access on top of [`Kv`]: values are JSON documents.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Kv, Namespace, StoreError};

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(
    ns: &Namespace,
    key: &str,
    b: Option<Vec<u8>>,
) -> Result<Option<T>, StoreError> {
    b.map(|b| {
        serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt(format!("{ns}/{key}: {e}")))
    })
    .transpose()
}

/// JSON helpers for any [`Kv`].
pub trait KvJson {
    fn put_json<T: Serialize>(
        &self,
        ns: &Namespace,
        key: &str,
        v: &T,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError>;
    fn put_new_json<T: Serialize>(
        &self,
        ns: &Namespace,
        key: &str,
        v: &T,
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError>;
    fn get_json<T: DeserializeOwned>(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError>;
    fn take_json<T: DeserializeOwned>(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError>;
}

impl<K: Kv + ?Sized> KvJson for K {
    fn put_json<T: Serialize>(
        &self,
        ns: &Namespace,
        key: &str,
        v: &T,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.put(ns, key, &encode(v)?, expires_at)
    }
    fn put_new_json<T: Serialize>(
        &self,
        ns: &Namespace,
        key: &str,
        v: &T,
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.put_new(ns, key, &encode(v)?, expires_at)
    }
    fn get_json<T: DeserializeOwned>(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        decode(ns, key, self.get(ns, key)?)
    }
    fn take_json<T: DeserializeOwned>(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        decode(ns, key, self.take(ns, key)?)
    }
}
