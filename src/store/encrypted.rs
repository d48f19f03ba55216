//! Biometric data encrypted at rest: a [`Kv`] wrapper that seals the values of the namespaces
//! holding face templates (enrolments, faces kept from sessions, sessions with their reference
//! template) with AES-256-GCM, whatever backend is underneath.
//!
//! Sealed value: `INHSEAL1` | key-id length (1 byte) | key id | 96-bit nonce | ciphertext+tag.
//! The additional data is `namespace \0 key`, so a ciphertext cannot be moved to another
//! subject's slot. Keys come from the configuration (`[store] encryption_keys`, or a key file);
//! the first one seals, the others only open (rotation). [`EncryptedKv::reseal`] rewrites
//! everything under the active key in the background, after which a retired key can be removed.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;

use super::{Kv, Store, StoreError};

/// Namespaces whose values are sealed.
pub const SEALED_NAMESPACES: &[&str] = &[
    "enrolments",
    "session_faces",
    "sessions",
    "audit_keys",
    "audit_frames",
];
const MAGIC: &[u8] = b"INHSEAL1";

/// One named AES-256 key.
pub struct TemplateKey {
    pub id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for TemplateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateKey").field("id", &self.id).finish()
    }
}

impl TemplateKey {
    /// A key from its id and 32 raw bytes.
    pub fn new(id: &str, bytes: &[u8]) -> Result<Self, StoreError> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Corrupt(
                "a template key id must be 1-64 printable characters".into(),
            ));
        }
        let k = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| {
            StoreError::Corrupt(format!("template key {id} must be 32 bytes (AES-256)"))
        })?;
        Ok(Self {
            id: id.to_owned(),
            key: LessSafeKey::new(k),
        })
    }

    /// Parses `id:base64` (standard or URL-safe base64 of 32 bytes).
    pub fn parse(line: &str) -> Result<Self, StoreError> {
        let (id, b64) = line.trim().split_once(':').ok_or_else(|| {
            StoreError::Corrupt("a template key is written as id:base64-of-32-bytes".into())
        })?;
        let b64 = b64.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64))
            .map_err(|_| StoreError::Corrupt(format!("template key {id} is not base64")))?;
        Self::new(id.trim(), &bytes)
    }
}

/// The key ring: the first key seals; all open.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<TemplateKey>,
}

impl KeyRing {
    pub fn new(keys: Vec<TemplateKey>) -> Result<Self, StoreError> {
        if keys.is_empty() {
            return Err(StoreError::Corrupt("no template key".into()));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.id == k.id) {
                return Err(StoreError::Corrupt(format!(
                    "template key id {} appears twice",
                    k.id
                )));
            }
        }
        Ok(Self { keys })
    }

    pub fn active(&self) -> &str {
        &self.keys[0].id
    }
}

fn aad(ns: &str, key: &str) -> Vec<u8> {
    let mut a = ns.as_bytes().to_vec();
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a
}

/// Seals `plain` for (`ns`, `key`) under the active key.
pub fn seal(ring: &KeyRing, ns: &str, key: &str, plain: &[u8]) -> Vec<u8> {
    let k = &ring.keys[0];
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("system randomness");
    let mut buf = plain.to_vec();
    k.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(ns, key)),
            &mut buf,
        )
        .expect("AES-GCM sealing does not fail for in-memory buffers");
    let mut out = Vec::with_capacity(MAGIC.len() + 1 + k.id.len() + NONCE_LEN + buf.len());
    out.extend_from_slice(MAGIC);
    out.push(k.id.len() as u8);
    out.extend_from_slice(k.id.as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out
}

/// The key id a sealed value names, or `None` for a value stored before encryption.
pub fn key_id(value: &[u8]) -> Option<&str> {
    let rest = value.strip_prefix(MAGIC)?;
    let n = usize::from(*rest.first()?);
    std::str::from_utf8(rest.get(1..1 + n)?).ok()
}

/// Opens a sealed value. A value stored before encryption is returned as is only when
/// `accept_plain` (the embedded store, which may hold data from before encryption); otherwise
/// it is refused, so nobody who can write to the backend can plant an unsealed template.
pub fn open(
    ring: &KeyRing,
    ns: &str,
    key: &str,
    value: &[u8],
    accept_plain: bool,
) -> Result<Vec<u8>, StoreError> {
    let Some(rest) = value.strip_prefix(MAGIC) else {
        if accept_plain {
            return Ok(value.to_vec());
        }
        return Err(StoreError::Corrupt(format!(
            "{ns}/{key} is not sealed (refused)"
        )));
    };
    let corrupt = || StoreError::Corrupt(format!("{ns}/{key}: sealed value cannot be opened"));
    let n = usize::from(*rest.first().ok_or_else(corrupt)?);
    let id = std::str::from_utf8(rest.get(1..1 + n).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
    let k = ring.keys.iter().find(|k| k.id == id).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{ns}/{key} is sealed with template key {id}, which is not configured"
        ))
    })?;
    let nonce: [u8; NONCE_LEN] = rest
        .get(1 + n..1 + n + NONCE_LEN)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let mut buf = rest.get(1 + n + NONCE_LEN..).ok_or_else(corrupt)?.to_vec();
    let plain = k
        .key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(ns, key)),
            &mut buf,
        )
        .map_err(|_| corrupt())?;
    Ok(plain.to_vec())
}

/// A store whose biometric namespaces are sealed.
pub struct EncryptedKv {
    inner: Store,
    ring: Arc<KeyRing>,
    accept_plain: bool,
}

impl std::fmt::Debug for EncryptedKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedKv")
            .field("active_key", &self.ring.active())
            .finish()
    }
}

fn sealed(ns: &str) -> bool {
    SEALED_NAMESPACES.contains(&ns)
}

impl EncryptedKv {
    /// `accept_plain`: read values stored before encryption (embedded store only).
    pub fn new(inner: Store, ring: Arc<KeyRing>, accept_plain: bool) -> Self {
        Self {
            inner,
            ring,
            accept_plain,
        }
    }

    /// Rewrites every sealed value that is not under the active key (older key, or stored
    /// before encryption); returns how many were resealed and how many could not be opened
    /// (left as they are, logged by the caller). Values in the sealed namespaces have no
    /// expiry. A value changed between the read and the rewrite is re-read, not overwritten.
    pub fn reseal(&self) -> Result<(usize, usize), StoreError> {
        let (mut n, mut skipped) = (0, 0);
        for ns in SEALED_NAMESPACES {
            for k in self.inner.keys(ns)? {
                let Some(v) = self.inner.get(ns, &k)? else {
                    continue;
                };
                if key_id(&v) == Some(self.ring.active()) {
                    continue;
                }
                let Ok(plain) = open(&self.ring, ns, &k, &v, self.accept_plain) else {
                    skipped += 1;
                    continue;
                };
                // Only if it is still the value read (not erased or updated meanwhile).
                if self.inner.get(ns, &k)?.as_deref() == Some(v.as_slice()) {
                    self.inner
                        .put(ns, &k, &seal(&self.ring, ns, &k, &plain), None)?;
                    n += 1;
                }
            }
        }
        Ok((n, skipped))
    }
}

impl Kv for EncryptedKv {
    fn put(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        if sealed(ns) {
            self.inner
                .put(ns, key, &seal(&self.ring, ns, key, value), expires_at)
        } else {
            self.inner.put(ns, key, value, expires_at)
        }
    }

    fn put_new(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        if sealed(ns) {
            self.inner
                .put_new(ns, key, &seal(&self.ring, ns, key, value), expires_at)
        } else {
            self.inner.put_new(ns, key, value, expires_at)
        }
    }

    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self.inner.get(ns, key)?;
        match v {
            Some(v) if sealed(ns) => open(&self.ring, ns, key, &v, self.accept_plain).map(Some),
            other => Ok(other),
        }
    }

    fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self.inner.take(ns, key)?;
        match v {
            Some(v) if sealed(ns) => open(&self.ring, ns, key, &v, self.accept_plain).map(Some),
            other => Ok(other),
        }
    }

    fn delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(ns, key)
    }

    fn incr(
        &self,
        ns: &str,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.inner.incr(ns, key, by, expires_at)
    }

    fn keys(&self, ns: &str) -> Result<Vec<String>, StoreError> {
        self.inner.keys(ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::embedded::EmbeddedStore;

    fn key(id: &str, b: u8) -> TemplateKey {
        TemplateKey::new(id, &[b; 32]).unwrap()
    }

    #[test]
    fn sealed_values_open_only_in_their_slot_and_with_their_key() {
        let ring = KeyRing::new(vec![key("k1", 1)]).unwrap();
        let s = seal(&ring, "enrolments", "alice", b"template");
        assert!(!s.windows(8).any(|w| w == b"template"), "no plaintext");
        assert_eq!(key_id(&s), Some("k1"));
        assert_eq!(
            open(&ring, "enrolments", "alice", &s, false).unwrap(),
            b"template"
        );
        assert!(
            open(&ring, "enrolments", "bob", &s, false).is_err(),
            "bound to its subject"
        );
        let other = KeyRing::new(vec![key("k1", 2)]).unwrap();
        assert!(
            open(&other, "enrolments", "alice", &s, false).is_err(),
            "wrong key"
        );
        let mut flipped = s.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(
            open(&ring, "enrolments", "alice", &flipped, false).is_err(),
            "tamper"
        );
        assert_eq!(
            open(&ring, "enrolments", "alice", b"{\"legacy\":1}", true).unwrap(),
            b"{\"legacy\":1}"
        );
    }

    #[test]
    fn the_backend_never_sees_templates_and_rotation_reseals() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at_secs(1_800_000_000));
        let raw: Store = Arc::new(EmbeddedStore::open(dir.path(), clock).unwrap());
        let old = EncryptedKv::new(
            raw.clone(),
            Arc::new(KeyRing::new(vec![key("old", 3)]).unwrap()),
            true,
        );
        old.put("enrolments", "alice", b"face-of-alice", None)
            .unwrap();
        old.put("codes", "c", b"not biometric", None).unwrap();
        assert_eq!(
            key_id(&raw.get("enrolments", "alice").unwrap().unwrap()),
            Some("old")
        );
        assert_eq!(raw.get("codes", "c").unwrap().unwrap(), b"not biometric");
        let log = std::fs::read(dir.path().join("store.log")).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"face-of-alice");
        assert!(
            !log.windows(b64.len()).any(|w| w == b64.as_bytes()),
            "nothing in clear on disk"
        );

        let rotated = EncryptedKv::new(
            raw.clone(),
            Arc::new(KeyRing::new(vec![key("new", 4), key("old", 3)]).unwrap()),
            true,
        );
        assert_eq!(
            rotated.get("enrolments", "alice").unwrap().unwrap(),
            b"face-of-alice"
        );
        assert_eq!(rotated.reseal().unwrap(), (1, 0));
        assert_eq!(
            key_id(&raw.get("enrolments", "alice").unwrap().unwrap()),
            Some("new")
        );
        assert_eq!(rotated.reseal().unwrap(), (0, 0));
        let only_new = EncryptedKv::new(
            raw,
            Arc::new(KeyRing::new(vec![key("new", 4)]).unwrap()),
            false,
        );
        assert_eq!(
            only_new.get("enrolments", "alice").unwrap().unwrap(),
            b"face-of-alice"
        );
    }

    #[test]
    fn unsealed_values_and_duplicate_ids_are_refused() {
        let ring = KeyRing::new(vec![key("k1", 1)]).unwrap();
        assert!(open(&ring, "enrolments", "alice", b"{\"planted\":1}", false).is_err());
        assert!(KeyRing::new(vec![key("k1", 1), key("k1", 2)]).is_err());
    }

    #[test]
    fn keys_are_checked() {
        assert!(TemplateKey::parse("k1:AAAA").is_err(), "too short");
        assert!(TemplateKey::parse("no-colon").is_err());
        let b = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(TemplateKey::parse(&format!("k2:{b}")).unwrap().id, "k2");
        assert!(KeyRing::new(vec![]).is_err());
    }
}
