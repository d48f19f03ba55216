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

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;

use super::namespace::Expiry;
use super::{Kv, Namespace, Store, StoreError};

const MAGIC: &[u8] = b"INHSEAL1";

/// The per-subject keys (`<namespace>/<subject>`), sealed with the configured keys.
pub const SUBJECT_KEYS: Namespace = Namespace::new("subject_keys").sealed().fsynced();
/// The namespaces this module owns.
pub const NAMESPACES: &[Namespace] = &[SUBJECT_KEYS];
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

fn aad(ns: &Namespace, key: &str) -> Vec<u8> {
    let mut a = ns.name().as_bytes().to_vec();
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a
}

/// Seals `plain` for (`ns`, `key`) under the active key.
pub fn seal(ring: &KeyRing, ns: &Namespace, key: &str, plain: &[u8]) -> Vec<u8> {
    let k = &ring.keys[0];
    let mut header = MAGIC.to_vec();
    header.push(k.id.len() as u8);
    header.extend_from_slice(k.id.as_bytes());
    seal_after(&header, &k.key, ns, key, plain)
}

/// `header` | random 96-bit nonce | AES-256-GCM ciphertext+tag, bound to (`ns`, `key`).
fn seal_after(header: &[u8], k: &LessSafeKey, ns: &Namespace, key: &str, plain: &[u8]) -> Vec<u8> {
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
    ns: &Namespace,
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
fn open_after(
    rest: &[u8],
    k: &LessSafeKey,
    ns: &Namespace,
    key: &str,
) -> Result<Vec<u8>, StoreError> {
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
    /// The application's namespaces, by name.
    known: HashMap<&'static str, Namespace>,
}

fn subject_key_id(ns: &Namespace, key: &str) -> String {
    format!("{ns}/{key}")
}

/// Identifies a subject key inside the values it seals (8 bytes of its SHA-256), so a value
/// left behind by a destroyed key reads as erased rather than as tampered with.
struct SubjectKey {
    key: LessSafeKey,
    id: [u8; 8],
}

fn seal_with(k: &SubjectKey, ns: &Namespace, key: &str, plain: &[u8]) -> Vec<u8> {
    let mut header = SUBJECT_MAGIC.to_vec();
    header.extend_from_slice(&k.id);
    seal_after(&header, &k.key, ns, key, plain)
}

/// `None`: sealed by another (destroyed) key of this subject, so erased.
fn open_with(
    k: &SubjectKey,
    ns: &Namespace,
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

/// Every call names a namespace the application declares, with the policy declared (a
/// lookalike with another policy would, say, delete a template without shredding its key).
fn declared(known: &HashMap<&'static str, Namespace>, ns: &Namespace) -> Result<(), StoreError> {
    if known.get(ns.name()) != Some(ns) {
        return Err(StoreError::Policy(format!(
            "{ns} is not a declared namespace (the application's list) or its policy differs"
        )));
    }
    Ok(())
}

/// The namespace's policy on writes: the namespace is one the application declares (so a key
/// rotation reseals it), with the policy declared; short-lived state carries an expiry.
fn check_write(
    known: &HashMap<&'static str, Namespace>,
    ns: &Namespace,
    expires_at: Option<i64>,
) -> Result<(), StoreError> {
    declared(known, ns)?;
    if ns.expiry == Expiry::Required && expires_at.is_none() {
        return Err(StoreError::Policy(format!(
            "{ns} holds short-lived state: every write carries an expiry"
        )));
    }
    Ok(())
}

impl EncryptedKv {
    /// `accept_plain`: read values stored before encryption (embedded store only);
    /// `subject_keys`: where the per-subject keys live (may be `inner` itself); `namespaces`:
    /// every namespace the application uses ([`crate::namespaces`]), the only ones written.
    pub fn new(
        inner: Store,
        subject_keys: Store,
        ring: Arc<KeyRing>,
        accept_plain: bool,
        namespaces: &[Namespace],
    ) -> Self {
        Self {
            inner,
            subject_keys,
            ring,
            accept_plain,
            known: namespaces.iter().map(|n| (n.name(), *n)).collect(),
        }
    }

    /// The subject's key; with `create`, made (once, also across instances) if missing.
    /// `None`: the subject has no key (never had one, or it was destroyed by an erasure).
    fn subject_key(
        &self,
        ns: &Namespace,
        key: &str,
        create: bool,
    ) -> Result<Option<SubjectKey>, StoreError> {
        let id = subject_key_id(ns, key);
        let unwrap = |wrapped: &[u8]| -> Result<SubjectKey, StoreError> {
            use sha2::Digest as _;
            let raw = open(&self.ring, &SUBJECT_KEYS, &id, wrapped, false)?;
            let k = UnboundKey::new(&AES_256_GCM, &raw)
                .map_err(|_| StoreError::Corrupt(format!("{SUBJECT_KEYS}/{id} is not a key")))?;
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&sha2::Sha256::digest(&raw)[..8]);
            Ok(SubjectKey {
                key: LessSafeKey::new(k),
                id: fp,
            })
        };
        if let Some(w) = self.subject_keys.get(&SUBJECT_KEYS, &id)? {
            return unwrap(&w).map(Some);
        }
        if !create {
            return Ok(None);
        }
        let mut fresh = [0u8; 32];
        aws_lc_rs::rand::fill(&mut fresh).expect("system randomness");
        let wrapped = seal(&self.ring, &SUBJECT_KEYS, &id, &fresh);
        if self
            .subject_keys
            .put_new(&SUBJECT_KEYS, &id, &wrapped, None)?
        {
            return unwrap(&wrapped).map(Some);
        }
        // Another writer made it first: use theirs.
        match self.subject_keys.get(&SUBJECT_KEYS, &id)? {
            Some(w) => unwrap(&w).map(Some),
            None => Err(StoreError::Unavailable(format!(
                "the key of {ns}/{key} was erased while it was being written"
            ))),
        }
    }

    /// Seals a value of a sealed namespace for storage.
    fn seal_value(&self, ns: &Namespace, key: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        if ns.is_per_subject() {
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
    fn open_value(
        &self,
        ns: &Namespace,
        key: &str,
        v: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if is_subject_sealed(v) {
            return match self.subject_key(ns, key, false)? {
                Some(k) => open_with(&k, ns, key, v),
                None => Ok(None),
            };
        }
        open(&self.ring, ns, key, v, self.accept_plain).map(Some)
    }

    /// Destroys a subject's key (crypto-shredding); `true` if there was one.
    fn shred(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        self.subject_keys
            .delete(&SUBJECT_KEYS, &subject_key_id(ns, key))
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
        for id in self.subject_keys.keys(&SUBJECT_KEYS)? {
            let Some(w) = self.subject_keys.get(&SUBJECT_KEYS, &id)? else {
                continue;
            };
            if key_id(&w) == Some(self.ring.active()) {
                continue;
            }
            let Ok(plain) = open(&self.ring, &SUBJECT_KEYS, &id, &w, false) else {
                skipped += 1;
                continue;
            };
            let again = seal(&self.ring, &SUBJECT_KEYS, &id, &plain);
            if self.subject_keys.replace(&SUBJECT_KEYS, &id, &w, &again)? {
                n += 1;
            }
        }
        let mut sealed: Vec<&Namespace> = self
            .known
            .values()
            .filter(|ns| ns.is_sealed() && **ns != SUBJECT_KEYS)
            .collect();
        sealed.sort_by_key(|ns| ns.name());
        for ns in sealed {
            for k in self.inner.keys(ns)? {
                let Some(v) = self.inner.get(ns, &k)? else {
                    continue;
                };
                let current = if ns.is_per_subject() {
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
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        check_write(&self.known, ns, expires_at)?;
        if ns.is_sealed() {
            let v = self.seal_value(ns, key, value)?;
            self.inner.put(ns, key, &v, expires_at)
        } else {
            self.inner.put(ns, key, value, expires_at)
        }
    }

    fn put_new(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        check_write(&self.known, ns, expires_at)?;
        if !ns.is_sealed() {
            return self.inner.put_new(ns, key, value, expires_at);
        }
        let v = self.seal_value(ns, key, value)?;
        if self.inner.put_new(ns, key, &v, expires_at)? {
            return Ok(true);
        }
        // What is there may be a leftover of an erasure interrupted between destroying the key
        // and deleting the value: erased, so it does not count as present.
        match self.inner.get(ns, key)? {
            Some(raw) if ns.is_per_subject() && self.open_value(ns, key, &raw)?.is_none() => {
                self.inner.replace(ns, key, &raw, &v)
            }
            _ => Ok(false),
        }
    }

    fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        declared(&self.known, ns)?;
        match self.inner.get(ns, key)? {
            Some(v) if ns.is_sealed() => self.open_value(ns, key, &v),
            other => Ok(other),
        }
    }

    fn take(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        declared(&self.known, ns)?;
        match self.inner.take(ns, key)? {
            Some(v) if ns.is_sealed() => {
                let plain = self.open_value(ns, key, &v);
                if ns.is_per_subject() {
                    self.shred(ns, key)?;
                }
                plain
            }
            other => Ok(other),
        }
    }

    fn delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        declared(&self.known, ns)?;
        // The key first: once it is gone, what is left of the value is unreadable, so a crash
        // between the two steps cannot leave a readable template behind.
        let shredded = ns.is_per_subject() && self.shred(ns, key)?;
        let deleted = self.inner.delete(ns, key)?;
        // Once more: a key made by a write that raced with this erasure goes too.
        let raced = ns.is_per_subject() && self.shred(ns, key)?;
        Ok(deleted || shredded || raced)
    }

    fn incr(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        check_write(&self.known, ns, expires_at)?;
        if ns.is_sealed() {
            return Err(StoreError::Policy(format!(
                "{ns} is sealed: counters are stored in clear"
            )));
        }
        self.inner.incr(ns, key, by, expires_at)
    }

    fn keys(&self, ns: &Namespace) -> Result<Vec<String>, StoreError> {
        declared(&self.known, ns)?;
        self.inner.keys(ns)
    }

    fn replace(
        &self,
        ns: &Namespace,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        declared(&self.known, ns)?;
        if !ns.is_sealed() {
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

    /// Namespaces of each policy (the application's own are declared by their owners).
    const FACES: Namespace = Namespace::new("faces").per_subject();
    const KEPT: Namespace = Namespace::new("kept_faces").per_subject();
    const SEALED: Namespace = Namespace::new("sealed_docs").sealed();
    const PLAIN: Namespace = Namespace::new("plain");
    const ALL: &[Namespace] = &[FACES, KEPT, SEALED, PLAIN, SUBJECT_KEYS];
    use crate::clock::FixedClock;
    use crate::store::embedded::EmbeddedStore;

    fn key(id: &str, b: u8) -> TemplateKey {
        TemplateKey::new(id, &[b; 32]).unwrap()
    }

    #[test]
    fn sealed_values_open_only_in_their_slot_and_with_their_key() {
        let ring = KeyRing::new(vec![key("k1", 1)]).unwrap();
        let s = seal(&ring, &FACES, "alice", b"template");
        assert!(!s.windows(8).any(|w| w == b"template"), "no plaintext");
        assert_eq!(key_id(&s), Some("k1"));
        assert_eq!(
            open(&ring, &FACES, "alice", &s, false).unwrap(),
            b"template"
        );
        assert!(
            open(&ring, &FACES, "bob", &s, false).is_err(),
            "bound to its subject"
        );
        let other = KeyRing::new(vec![key("k1", 2)]).unwrap();
        assert!(
            open(&other, &FACES, "alice", &s, false).is_err(),
            "wrong key"
        );
        let mut flipped = s.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(
            open(&ring, &FACES, "alice", &flipped, false).is_err(),
            "tamper"
        );
        assert_eq!(
            open(&ring, &FACES, "alice", b"{\"legacy\":1}", true).unwrap(),
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
        let old = EncryptedKv::new(
            raw.clone(),
            raw.clone(),
            ring(vec![key("old", 3)]),
            true,
            ALL,
        );
        old.put(&SEALED, "s1", b"face-in-session", None).unwrap();
        old.put(&FACES, "alice", b"face-of-alice", None).unwrap();
        old.put(&PLAIN, "c", b"not biometric", None).unwrap();
        assert_eq!(
            key_id(&raw.get(&SEALED, "s1").unwrap().unwrap()),
            Some("old")
        );
        assert!(is_subject_sealed(
            &raw.get(&FACES, "alice").unwrap().unwrap()
        ));
        let wrapped = raw.get(&SUBJECT_KEYS, "faces/alice").unwrap().unwrap();
        assert_eq!(key_id(&wrapped), Some("old"), "subject keys are sealed");
        assert_eq!(raw.get(&PLAIN, "c").unwrap().unwrap(), b"not biometric");
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
            ALL,
        );
        assert_eq!(
            rotated.get(&FACES, "alice").unwrap().unwrap(),
            b"face-of-alice"
        );
        let template_before = raw.get(&FACES, "alice").unwrap().unwrap();
        // The session value and alice's subject key; the template itself stays as it is.
        assert_eq!(rotated.reseal().unwrap(), (2, 0));
        assert_eq!(
            key_id(&raw.get(&SEALED, "s1").unwrap().unwrap()),
            Some("new")
        );
        assert_eq!(
            key_id(&raw.get(&SUBJECT_KEYS, "faces/alice").unwrap().unwrap()),
            Some("new")
        );
        assert_eq!(raw.get(&FACES, "alice").unwrap().unwrap(), template_before);
        assert_eq!(rotated.reseal().unwrap(), (0, 0));
        let only_new = EncryptedKv::new(raw.clone(), raw, ring(vec![key("new", 4)]), false, ALL);
        assert_eq!(
            only_new.get(&FACES, "alice").unwrap().unwrap(),
            b"face-of-alice"
        );
        assert_eq!(
            only_new.get(&SEALED, "s1").unwrap().unwrap(),
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
        let kv = EncryptedKv::new(
            data.clone(),
            keys.clone(),
            ring(vec![key("k1", 9)]),
            false,
            ALL,
        );
        kv.put(&FACES, "alice", b"face-of-alice", None).unwrap();
        kv.put(&FACES, "bob", b"face-of-bob", None).unwrap();
        // What an attacker may still find after the erasure: the old ciphertext (a superseded
        // log line, an AOF segment, a backup) and the configured key.
        let copy = data.get(&FACES, "alice").unwrap().unwrap();
        let wrapped = keys.get(&SUBJECT_KEYS, "faces/alice").unwrap().unwrap();
        assert!(kv.delete(&FACES, "alice").unwrap());
        assert_eq!(kv.get(&FACES, "alice").unwrap(), None);
        assert_eq!(keys.get(&SUBJECT_KEYS, "faces/alice").unwrap(), None);
        let keys_file = std::fs::read(dir.path().join("keys/store.log")).unwrap();
        assert!(
            !contains_b64(&keys_file, &wrapped),
            "the destroyed key is gone from its file"
        );
        // The old ciphertext planted back cannot be opened: its key is gone for good.
        data.put(&FACES, "alice", &copy, None).unwrap();
        assert_eq!(kv.get(&FACES, "alice").unwrap(), None);
        // Re-enrolling makes a new key; the old copy still does not open under it.
        kv.put(&FACES, "alice", b"new-face", None).unwrap();
        assert_eq!(kv.get(&FACES, "alice").unwrap().unwrap(), b"new-face");
        data.put(&FACES, "alice", &copy, None).unwrap();
        assert_eq!(
            kv.get(&FACES, "alice").unwrap(),
            None,
            "an old copy does not open under the new key: it reads as erased"
        );
        // A leftover like that does not block a new enrolment (put_new).
        assert!(kv.put_new(&FACES, "alice", b"newer-face", None).unwrap());
        assert_eq!(kv.get(&FACES, "alice").unwrap().unwrap(), b"newer-face");
        // A tampered value under the live key is an error, not "erased".
        let mut tampered = data.get(&FACES, "alice").unwrap().unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        data.put(&FACES, "alice", &tampered, None).unwrap();
        assert!(kv.get(&FACES, "alice").is_err(), "tampered");
        // Others are untouched; a ciphertext moved to another subject does not open.
        assert_eq!(kv.get(&FACES, "bob").unwrap().unwrap(), b"face-of-bob");
        data.put(&FACES, "bob", &copy, None).unwrap();
        assert!(
            !matches!(kv.get(&FACES, "bob"), Ok(Some(_))),
            "another subject's ciphertext never opens"
        );
        // take (single use) shreds too.
        kv.put(&KEPT, "v1", b"kept-face", None).unwrap();
        assert_eq!(kv.take(&KEPT, "v1").unwrap().unwrap(), b"kept-face");
        assert_eq!(keys.get(&SUBJECT_KEYS, "kept_faces/v1").unwrap(), None);
    }

    #[test]
    fn templates_sealed_before_subject_keys_move_to_them() {
        let clock = Arc::new(FixedClock::at_secs(1_800_000_000));
        let data: Store = Arc::new(EmbeddedStore::in_memory(clock));
        let r = ring(vec![key("k1", 5)]);
        data.put(
            &FACES,
            "carol",
            &seal(&r, &FACES, "carol", b"old-format"),
            None,
        )
        .unwrap();
        let kv = EncryptedKv::new(data.clone(), data.clone(), r, false, ALL);
        assert_eq!(kv.get(&FACES, "carol").unwrap().unwrap(), b"old-format");
        assert_eq!(kv.reseal().unwrap(), (1, 0));
        assert!(is_subject_sealed(
            &data.get(&FACES, "carol").unwrap().unwrap()
        ));
        assert_eq!(kv.get(&FACES, "carol").unwrap().unwrap(), b"old-format");
        // compare-and-set through the sealing layer compares the clear values
        assert!(!kv.replace(&FACES, "carol", b"stale", b"x").unwrap());
        assert!(
            kv.replace(&FACES, "carol", b"old-format", b"updated")
                .unwrap()
        );
        assert_eq!(kv.get(&FACES, "carol").unwrap().unwrap(), b"updated");
    }

    #[test]
    fn unsealed_values_and_duplicate_ids_are_refused() {
        let ring = KeyRing::new(vec![key("k1", 1)]).unwrap();
        assert!(open(&ring, &FACES, "alice", b"{\"planted\":1}", false).is_err());
        assert!(KeyRing::new(vec![key("k1", 1), key("k1", 2)]).is_err());
    }

    #[test]
    fn the_sealing_wrapper_behaves_like_every_backend_and_enforces_the_policy() {
        let clock = Arc::new(FixedClock::at_secs(1_800_000_000));
        let raw: Store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let mut declared = crate::store::suite::DECLARED.to_vec();
        declared.push(SUBJECT_KEYS);
        let kv = EncryptedKv::new(
            raw.clone(),
            raw.clone(),
            ring(vec![key("k1", 1)]),
            false,
            &declared,
        );
        crate::store::suite::run(&kv, &*clock);
        crate::store::suite::policy_is_enforced(&kv, &*clock);
        // What the suite wrote to the sealed namespaces reached the backend sealed.
        for ns in [
            crate::store::suite::SEALED,
            crate::store::suite::PER_SUBJECT,
        ] {
            let keys = raw.keys(&ns).unwrap();
            assert!(!keys.is_empty());
            for k in keys {
                let v = raw.get(&ns, &k).unwrap().unwrap();
                assert!(
                    key_id(&v) == Some("k1") || is_subject_sealed(&v),
                    "{ns}/{k} sealed"
                );
            }
        }
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
