//! Storage settings (`[store]`): which backend, where, and the keys that seal at rest.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

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
