//! A store that times every call: the operation, its namespace, how long it took and whether
//! it failed go to the metrics. It wraps whichever backend runs (sealing included) and changes
//! nothing else, so the behavioural suite passes through it unchanged.

use std::sync::Arc;
use std::time::Instant;

use super::{Kv, Namespace, Store, StoreError};
use crate::metrics::Metrics;

/// `inner`, timed.
pub struct MeteredKv {
    inner: Store,
    metrics: Arc<Metrics>,
}

impl MeteredKv {
    pub fn wrap(inner: Store, metrics: Arc<Metrics>) -> Store {
        Arc::new(Self { inner, metrics })
    }

    fn timed<T>(
        &self,
        op: &'static str,
        ns: &Namespace,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let t = Instant::now();
        let r = f();
        self.metrics
            .store_op(op, ns.name(), t.elapsed().as_secs_f64(), r.is_ok());
        r
    }
}

impl Kv for MeteredKv {
    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.timed("put", ns, || self.inner.put(ns, key, value, expires_at))
    }

    fn put_new(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.timed("put_new", ns, || {
            self.inner.put_new(ns, key, value, expires_at)
        })
    }

    fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed("get", ns, || self.inner.get(ns, key))
    }

    fn take(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed("take", ns, || self.inner.take(ns, key))
    }

    fn delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        self.timed("delete", ns, || self.inner.delete(ns, key))
    }

    fn incr(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.timed("incr", ns, || self.inner.incr(ns, key, by, expires_at))
    }

    fn keys(&self, ns: &Namespace) -> Result<Vec<String>, StoreError> {
        self.timed("keys", ns, || self.inner.keys(ns))
    }

    fn replace(
        &self,
        ns: &Namespace,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.timed("replace", ns, || self.inner.replace(ns, key, expected, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::embedded::EmbeddedStore;

    #[test]
    fn behaves_like_every_backend_and_times_each_call() {
        let clock = Arc::new(FixedClock::at_secs(1_000));
        let metrics = Arc::new(Metrics::new());
        let store = MeteredKv::wrap(
            Arc::new(EmbeddedStore::in_memory(clock.clone())),
            metrics.clone(),
        );
        crate::store::suite::run(&*store, &*clock);
        let text = metrics.render();
        for op in [
            "put", "put_new", "get", "take", "delete", "incr", "keys", "replace",
        ] {
            assert!(
                text.contains(&format!(
                    "inherence_store_operation_duration_seconds_count{{op=\"{op}\""
                )),
                "{op} not timed"
            );
        }
    }

    /// A failing backend: every call fails.
    struct Down;
    impl Kv for Down {
        fn put(&self, _: &Namespace, _: &str, _: &[u8], _: Option<i64>) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn put_new(
            &self,
            _: &Namespace,
            _: &str,
            _: &[u8],
            _: Option<i64>,
        ) -> Result<bool, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn get(&self, _: &Namespace, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn take(&self, _: &Namespace, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn delete(&self, _: &Namespace, _: &str) -> Result<bool, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn incr(&self, _: &Namespace, _: &str, _: i64, _: Option<i64>) -> Result<i64, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn keys(&self, _: &Namespace) -> Result<Vec<String>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn replace(&self, _: &Namespace, _: &str, _: &[u8], _: &[u8]) -> Result<bool, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
    }

    #[test]
    fn failures_are_counted_by_operation_and_namespace() {
        let metrics = Arc::new(Metrics::new());
        let store = MeteredKv::wrap(Arc::new(Down), metrics.clone());
        let ns = Namespace::new("codes");
        assert!(store.get(&ns, "k").is_err());
        assert!(store.get(&ns, "k").is_err());
        assert!(store.put(&ns, "k", b"v", None).is_err());
        let text = metrics.render();
        assert!(
            text.contains("inherence_store_errors_total{op=\"get\",namespace=\"codes\"} 2"),
            "{text}"
        );
        assert!(text.contains("inherence_store_errors_total{op=\"put\",namespace=\"codes\"} 1"));
    }
}
