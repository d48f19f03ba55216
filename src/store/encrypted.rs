//! Biometric data encrypted at rest: a [`Kv`] wrapper that seals the values of the namespaces
//! holding face templates (enrolments, faces kept from sessions, sessions with their reference
//! template) with AES-256-GCM, whatever backend is underneath.
//!
//! Sealed value: `INHSEAL1` | key-id length (1 byte) | key id | 96-bit nonce | ciphertext+tag.
//! The additional data is `namespace \0 key`, so a ciphertext cannot be moved to another
//! subject's slot. Keys come from the configuration (`[store] encryption_keys`, or a key file);
//! the first one seals, the others only open (rotation). [`EncryptedKv::reseal`] rewrites
//! everything under the active key in the background, after which a retired key can be removed.
//!
//! Crypto-shredding: the namespaces keyed by subject (enrolled templates, faces kept from
//! sessions) are sealed with a random AES-256 key of their own per subject (`INHSUBJ1` | nonce
//! | ciphertext+tag, same additional data), kept in the `subject_keys` namespace sealed with the
//! configured keys. Deleting the subject's value deletes its key first, so every copy of the
//! template that outlives the deletion (superseded log lines, an AOF segment, a backup of the
//! data without that key) can no longer be opened by anyone, with or without the configured
//! keys. The embedded store keeps subject keys in a file of their own that is rewritten on every
//! deletion, so a destroyed key leaves the disk file at once.

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

/// Namespaces keyed by subject, sealed with a key per subject (crypto-shredding).
pub const SUBJECT_NAMESPACES: &[&str] = &["enrolments", "session_faces"];
/// The per-subject keys (`<namespace>/<subject>`), sealed with the configured keys.
pub const SUBJECT_KEYS: &str = "subject_keys";
const SUBJECT_MAGIC: &[u8] = b"INHSUBJ1";

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
    let mut header = MAGIC.to_vec();
    header.push(k.id.len() as u8);
    header.extend_from_slice(k.id.as_bytes());
    seal_after(&header, &k.key, ns, key, plain)
}

/// `header` | random 96-bit nonce | AES-256-GCM ciphertext+tag, bound to (`ns`, `key`).
fn seal_after(header: &[u8], k: &LessSafeKey, ns: &str, key: &str, plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("system randomness");
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(ns, key)),
        &mut buf,
    )
    .expect("AES-GCM sealing does not fail for in-memory buffers");
    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + buf.len());
    out.extend_from_slice(header);
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
    open_after(&rest[1 + n..], &k.key, ns, key)
}

/// Opens what follows a header: random 96-bit nonce | AES-256-GCM ciphertext+tag, bound to
/// (`ns`, `key`).
fn open_after(rest: &[u8], k: &LessSafeKey, ns: &str, key: &str) -> Result<Vec<u8>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("{ns}/{key}: sealed value cannot be opened"));
    let nonce: [u8; NONCE_LEN] = rest
        .get(..NONCE_LEN)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let mut buf = rest.get(NONCE_LEN..).ok_or_else(corrupt)?.to_vec();
    let plain = k
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
    /// Where the per-subject keys live (the embedded store: a file of its own).
    subject_keys: Store,
    ring: Arc<KeyRing>,
    accept_plain: bool,
}

fn subject_key_id(ns: &str, key: &str) -> String {
    format!("{ns}/{key}")
}

/// Identifies a subject key inside the values it seals (8 bytes of its SHA-256), so a value
/// left behind by a destroyed key reads as erased rather than as tampered with.
struct SubjectKey {
    key: LessSafeKey,
    id: [u8; 8],
}

fn seal_with(k: &SubjectKey, ns: &str, key: &str, plain: &[u8]) -> Vec<u8> {
    let mut header = SUBJECT_MAGIC.to_vec();
    header.extend_from_slice(&k.id);
    seal_after(&header, &k.key, ns, key, plain)
}

/// `None`: sealed by another (destroyed) key of this subject, so erased.
fn open_with(
    k: &SubjectKey,
    ns: &str,
    key: &str,
    value: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("{ns}/{key}: sealed value cannot be opened"));
    let rest = value.strip_prefix(SUBJECT_MAGIC).ok_or_else(corrupt)?;
    if rest.get(..8).ok_or_else(corrupt)? != k.id {
        return Ok(None);
    }
    open_after(&rest[8..], &k.key, ns, key).map(Some)
}

/// Whether a value is sealed with a per-subject key.
pub fn is_subject_sealed(value: &[u8]) -> bool {
    value.starts_with(SUBJECT_MAGIC)
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

fn per_subject(ns: &str) -> bool {
    SUBJECT_NAMESPACES.contains(&ns)
}

impl EncryptedKv {
    /// `accept_plain`: read values stored before encryption (embedded store only);
    /// `subject_keys`: where the per-subject keys live (may be `inner` itself).
    pub fn new(inner: Store, subject_keys: Store, ring: Arc<KeyRing>, accept_plain: bool) -> Self {
        Self {
            inner,
            subject_keys,
            ring,
            accept_plain,
        }
    }

    /// The subject's key; with `create`, made (once, also across instances) if missing.
    /// `None`: the subject has no key (never had one, or it was destroyed by an erasure).
    fn subject_key(
        &self,
        ns: &str,
        key: &str,
        create: bool,
    ) -> Result<Option<SubjectKey>, StoreError> {
        let id = subject_key_id(ns, key);
        let unwrap = |wrapped: &[u8]| -> Result<SubjectKey, StoreError> {
            use sha2::Digest as _;
            let raw = open(&self.ring, SUBJECT_KEYS, &id, wrapped, false)?;
            let k = UnboundKey::new(&AES_256_GCM, &raw)
                .map_err(|_| StoreError::Corrupt(format!("{SUBJECT_KEYS}/{id} is not a key")))?;
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&sha2::Sha256::digest(&raw)[..8]);
            Ok(SubjectKey {
                key: LessSafeKey::new(k),
                id: fp,
            })
        };
        if let Some(w) = self.subject_keys.get(SUBJECT_KEYS, &id)? {
            return unwrap(&w).map(Some);
        }
        if !create {
            return Ok(None);
        }
        let mut fresh = [0u8; 32];
        aws_lc_rs::rand::fill(&mut fresh).expect("system randomness");
        let wrapped = seal(&self.ring, SUBJECT_KEYS, &id, &fresh);
        if self
            .subject_keys
            .put_new(SUBJECT_KEYS, &id, &wrapped, None)?
        {
            return unwrap(&wrapped).map(Some);
        }
        // Another writer made it first: use theirs.
        match self.subject_keys.get(SUBJECT_KEYS, &id)? {
            Some(w) => unwrap(&w).map(Some),
            None => Err(StoreError::Unavailable(format!(
                "the key of {ns}/{key} was erased while it was being written"
            ))),
        }
    }

    /// Seals a value of a sealed namespace for storage.
    fn seal_value(&self, ns: &str, key: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        if per_subject(ns) {
            let k = self
                .subject_key(ns, key, true)?
                .expect("created when missing");
            Ok(seal_with(&k, ns, key, plain))
        } else {
            Ok(seal(&self.ring, ns, key, plain))
        }
    }

    /// Opens a stored value of a sealed namespace; `None` when it was crypto-shredded (its
    /// subject key is gone: the value is erased, whatever copy is left).
    fn open_value(&self, ns: &str, key: &str, v: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if is_subject_sealed(v) {
            return match self.subject_key(ns, key, false)? {
                Some(k) => open_with(&k, ns, key, v),
                None => Ok(None),
            };
        }
        open(&self.ring, ns, key, v, self.accept_plain).map(Some)
    }

    /// Destroys a subject's key (crypto-shredding); `true` if there was one.
    fn shred(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.subject_keys
            .delete(SUBJECT_KEYS, &subject_key_id(ns, key))
    }

    /// Rewrites every sealed value that is not under the active key (older key, or stored
    /// before encryption), and moves values of the per-subject namespaces that are still under a
    /// configured key to their subject's key; returns how many were rewritten and how many could
    /// not be opened (left as they are, logged by the caller). Each rewrite is a
    /// compare-and-set: a value erased or changed meanwhile is left alone, never overwritten
    /// with the old content.
    pub fn reseal(&self) -> Result<(usize, usize), StoreError> {
        let (mut n, mut skipped) = (0, 0);
        // The subject keys themselves (under the configured keys).
        for id in self.subject_keys.keys(SUBJECT_KEYS)? {
            let Some(w) = self.subject_keys.get(SUBJECT_KEYS, &id)? else {
                continue;
            };
            if key_id(&w) == Some(self.ring.active()) {
                continue;
            }
            let Ok(plain) = open(&self.ring, SUBJECT_KEYS, &id, &w, false) else {
                skipped += 1;
                continue;
            };
            let again = seal(&self.ring, SUBJECT_KEYS, &id, &plain);
            if self.subject_keys.replace(SUBJECT_KEYS, &id, &w, &again)? {
                n += 1;
            }
        }
        for ns in SEALED_NAMESPACES {
            for k in self.inner.keys(ns)? {
                let Some(v) = self.inner.get(ns, &k)? else {
                    continue;
                };
                let current = if per_subject(ns) {
                    is_subject_sealed(&v)
                } else {
                    key_id(&v) == Some(self.ring.active())
                };
                if current {
                    continue;
                }
                let Ok(plain) = open(&self.ring, ns, &k, &v, self.accept_plain) else {
                    skipped += 1;
                    continue;
                };
                let again = self.seal_value(ns, &k, &plain)?;
                if self.inner.replace(ns, &k, &v, &again)? {
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
            let v = self.seal_value(ns, key, value)?;
            self.inner.put(ns, key, &v, expires_at)
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
        if !sealed(ns) {
            return self.inner.put_new(ns, key, value, expires_at);
        }
        let v = self.seal_value(ns, key, value)?;
        if self.inner.put_new(ns, key, &v, expires_at)? {
            return Ok(true);
        }
        // What is there may be a leftover of an erasure interrupted between destroying the key
        // and deleting the value: erased, so it does not count as present.
        match self.inner.get(ns, key)? {
            Some(raw) if per_subject(ns) && self.open_value(ns, key, &raw)?.is_none() => {
                self.inner.replace(ns, key, &raw, &v)
            }
            _ => Ok(false),
        }
    }

    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.get(ns, key)? {
            Some(v) if sealed(ns) => self.open_value(ns, key, &v),
            other => Ok(other),
        }
    }

    fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.take(ns, key)? {
            Some(v) if sealed(ns) => {
                let plain = self.open_value(ns, key, &v);
                if per_subject(ns) {
                    self.shred(ns, key)?;
                }
                plain
            }
            other => Ok(other),
        }
    }

    fn delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        // The key first: once it is gone, what is left of the value is unreadable, so a crash
        // between the two steps cannot leave a readable template behind.
        let shredded = per_subject(ns) && self.shred(ns, key)?;
        let deleted = self.inner.delete(ns, key)?;
        // Once more: a key made by a write that raced with this erasure goes too.
        let raced = per_subject(ns) && self.shred(ns, key)?;
        Ok(deleted || shredded || raced)
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

    fn replace(
        &self,
        ns: &str,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        if !sealed(ns) {
            return self.inner.replace(ns, key, expected, new);
        }
        // Compared in clear, swapped on the exact stored ciphertext.
        let Some(raw) = self.inner.get(ns, key)? else {
            return Ok(false);
        };
        if self.open_value(ns, key, &raw)?.as_deref() != Some(expected) {
            return Ok(false);
        }
        let v = self.seal_value(ns, key, new)?;
        self.inner.replace(ns, key, &raw, &v)
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

    fn ring(keys: Vec<TemplateKey>) -> Arc<KeyRing> {
        Arc::new(KeyRing::new(keys).unwrap())
    }

    fn contains_b64(bytes: &[u8], what: &[u8]) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(what);
        bytes.windows(b64.len()).any(|w| w == b64.as_bytes())
    }

    #[test]
    fn the_backend_never_sees_templates_and_rotation_reseals() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at_secs(1_800_000_000));
        let raw: Store = Arc::new(EmbeddedStore::open(dir.path(), clock).unwrap());
        let old = EncryptedKv::new(raw.clone(), raw.clone(), ring(vec![key("old", 3)]), true);
        old.put("sessions", "s1", b"face-in-session", None).unwrap();
        old.put("enrolments", "alice", b"face-of-alice", None)
            .unwrap();
        old.put("codes", "c", b"not biometric", None).unwrap();
        assert_eq!(
            key_id(&raw.get("sessions", "s1").unwrap().unwrap()),
            Some("old")
        );
        assert!(is_subject_sealed(
            &raw.get("enrolments", "alice").unwrap().unwrap()
        ));
        let wrapped = raw.get(SUBJECT_KEYS, "enrolments/alice").unwrap().unwrap();
        assert_eq!(key_id(&wrapped), Some("old"), "subject keys are sealed");
        assert_eq!(raw.get("codes", "c").unwrap().unwrap(), b"not biometric");
        let log = std::fs::read(dir.path().join("store.log")).unwrap();
        assert!(
            !contains_b64(&log, b"face-of-alice") && !contains_b64(&log, b"face-in-session"),
            "nothing in clear on disk"
        );

        let rotated = EncryptedKv::new(
            raw.clone(),
            raw.clone(),
            ring(vec![key("new", 4), key("old", 3)]),
            true,
        );
        assert_eq!(
            rotated.get("enrolments", "alice").unwrap().unwrap(),
            b"face-of-alice"
        );
        let template_before = raw.get("enrolments", "alice").unwrap().unwrap();
        // The session value and alice's subject key; the template itself stays as it is.
        assert_eq!(rotated.reseal().unwrap(), (2, 0));
        assert_eq!(
            key_id(&raw.get("sessions", "s1").unwrap().unwrap()),
            Some("new")
        );
        assert_eq!(
            key_id(&raw.get(SUBJECT_KEYS, "enrolments/alice").unwrap().unwrap()),
            Some("new")
        );
        assert_eq!(
            raw.get("enrolments", "alice").unwrap().unwrap(),
            template_before
        );
        assert_eq!(rotated.reseal().unwrap(), (0, 0));
        let only_new = EncryptedKv::new(raw.clone(), raw, ring(vec![key("new", 4)]), false);
        assert_eq!(
            only_new.get("enrolments", "alice").unwrap().unwrap(),
            b"face-of-alice"
        );
        assert_eq!(
            only_new.get("sessions", "s1").unwrap().unwrap(),
            b"face-in-session"
        );
    }

    #[test]
    fn erasing_a_subject_destroys_its_key_so_no_copy_opens() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at_secs(1_800_000_000));
        let data: Store =
            Arc::new(EmbeddedStore::open(&dir.path().join("data"), clock.clone()).unwrap());
        let keys: Store =
            Arc::new(EmbeddedStore::open_shredding(&dir.path().join("keys"), clock).unwrap());
        let kv = EncryptedKv::new(data.clone(), keys.clone(), ring(vec![key("k1", 9)]), false);
        kv.put("enrolments", "alice", b"face-of-alice", None)
            .unwrap();
        kv.put("enrolments", "bob", b"face-of-bob", None).unwrap();
        // What an attacker may still find after the erasure: the old ciphertext (a superseded
        // log line, an AOF segment, a backup) and the configured key.
        let copy = data.get("enrolments", "alice").unwrap().unwrap();
        let wrapped = keys.get(SUBJECT_KEYS, "enrolments/alice").unwrap().unwrap();
        assert!(kv.delete("enrolments", "alice").unwrap());
        assert_eq!(kv.get("enrolments", "alice").unwrap(), None);
        assert_eq!(keys.get(SUBJECT_KEYS, "enrolments/alice").unwrap(), None);
        let keys_file = std::fs::read(dir.path().join("keys/store.log")).unwrap();
        assert!(
            !contains_b64(&keys_file, &wrapped),
            "the destroyed key is gone from its file"
        );
        // The old ciphertext planted back cannot be opened: its key is gone for good.
        data.put("enrolments", "alice", &copy, None).unwrap();
        assert_eq!(kv.get("enrolments", "alice").unwrap(), None);
        // Re-enrolling makes a new key; the old copy still does not open under it.
        kv.put("enrolments", "alice", b"new-face", None).unwrap();
        assert_eq!(kv.get("enrolments", "alice").unwrap().unwrap(), b"new-face");
        data.put("enrolments", "alice", &copy, None).unwrap();
        assert_eq!(
            kv.get("enrolments", "alice").unwrap(),
            None,
            "an old copy does not open under the new key: it reads as erased"
        );
        // A leftover like that does not block a new enrolment (put_new).
        assert!(
            kv.put_new("enrolments", "alice", b"newer-face", None)
                .unwrap()
        );
        assert_eq!(
            kv.get("enrolments", "alice").unwrap().unwrap(),
            b"newer-face"
        );
        // A tampered value under the live key is an error, not "erased".
        let mut tampered = data.get("enrolments", "alice").unwrap().unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        data.put("enrolments", "alice", &tampered, None).unwrap();
        assert!(kv.get("enrolments", "alice").is_err(), "tampered");
        // Others are untouched; a ciphertext moved to another subject does not open.
        assert_eq!(
            kv.get("enrolments", "bob").unwrap().unwrap(),
            b"face-of-bob"
        );
        data.put("enrolments", "bob", &copy, None).unwrap();
        assert!(
            !matches!(kv.get("enrolments", "bob"), Ok(Some(_))),
            "another subject's ciphertext never opens"
        );
        // take (single use) shreds too.
        kv.put("session_faces", "v1", b"kept-face", None).unwrap();
        assert_eq!(
            kv.take("session_faces", "v1").unwrap().unwrap(),
            b"kept-face"
        );
        assert_eq!(keys.get(SUBJECT_KEYS, "session_faces/v1").unwrap(), None);
    }

    #[test]
    fn templates_sealed_before_subject_keys_move_to_them() {
        let clock = Arc::new(FixedClock::at_secs(1_800_000_000));
        let data: Store = Arc::new(EmbeddedStore::in_memory(clock));
        let r = ring(vec![key("k1", 5)]);
        data.put(
            "enrolments",
            "carol",
            &seal(&r, "enrolments", "carol", b"old-format"),
            None,
        )
        .unwrap();
        let kv = EncryptedKv::new(data.clone(), data.clone(), r, false);
        assert_eq!(
            kv.get("enrolments", "carol").unwrap().unwrap(),
            b"old-format"
        );
        assert_eq!(kv.reseal().unwrap(), (1, 0));
        assert!(is_subject_sealed(
            &data.get("enrolments", "carol").unwrap().unwrap()
        ));
        assert_eq!(
            kv.get("enrolments", "carol").unwrap().unwrap(),
            b"old-format"
        );
        // compare-and-set through the sealing layer compares the clear values
        assert!(!kv.replace("enrolments", "carol", b"stale", b"x").unwrap());
        assert!(
            kv.replace("enrolments", "carol", b"old-format", b"updated")
                .unwrap()
        );
        assert_eq!(kv.get("enrolments", "carol").unwrap().unwrap(), b"updated");
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
