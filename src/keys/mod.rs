//! Signing keys: generation, JWKS, publish-then-promote rotation, signing and verification.
//!
//! A key is *published* (in the JWKS, not yet signing) for `promote_after_secs`, then becomes the
//! *active* signer for its algorithm; the key it replaces is *retired*: still in the JWKS and
//! still verifiable for `retire_after_secs`, so relying parties that cache keys (Entra caches
//! them for 24 h) and tokens already issued keep working. Every JWK carries `kid` and an `x5c`
//! self-signed certificate. Keys persist in the store (`keys` namespace).

pub mod remote;

use crate::store::concerns::{Claims, WriteOnce};
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::Clock;
use crate::store::typed::KvJson;
use crate::store::{Namespace, Store, StoreError};

/// Signing keys and their states.
pub const SIGNING_KEYS: Namespace = Namespace::new("keys").fsynced();
/// Claims that make one instance (of several on a shared store) generate a key.
const LOCKS: Namespace = Namespace::new("key_claims").expiring();
/// The webhook signing key (Ed25519, generated once).
const WEBHOOK_KEYS: Namespace = Namespace::new("webhook_keys").fsynced();
/// The namespaces of the signing keys.
pub const NAMESPACES: &[Namespace] = &[SIGNING_KEYS, LOCKS, WEBHOOK_KEYS];

/// Supported signing algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    ES256,
    RS256,
}

impl Alg {
    pub fn jwt(self) -> Algorithm {
        match self {
            Alg::ES256 => Algorithm::ES256,
            Alg::RS256 => Algorithm::RS256,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
        }
    }
}

/// Life-cycle state of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Published,
    Active,
    Retired,
}

/// Key settings (`[keys]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Algorithms to keep an active key for; the first signs ID tokens unless a client asks
    /// for another.
    pub algorithms: Vec<Alg>,
    /// Rotate automatically this often (days); 0 = only on demand.
    pub rotate_every_days: u64,
    /// How long a new key is published before it signs (Entra caches keys for 24 h: >= 2 days).
    pub promote_after_secs: u64,
    /// How long a retired key stays in the JWKS and verifiable.
    pub retire_after_secs: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            algorithms: vec![Alg::ES256, Alg::RS256],
            rotate_every_days: 90,
            promote_after_secs: 2 * 86_400,
            retire_after_secs: 7 * 86_400,
        }
    }
}

/// A key as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: Alg,
    pub state: KeyState,
    pub created_at: i64,
    /// When a published key becomes active.
    pub promote_at: Option<i64>,
    /// When a retired key is dropped.
    pub drop_at: Option<i64>,
    /// PKCS#8 private key, base64 (never printed; sealed at rest by the store).
    #[serde(with = "crate::secret::stored")]
    pub private_pkcs8: crate::secret::Secret,
    /// Self-signed certificate (DER, base64) for `x5c`.
    pub certificate: String,
}

/// Key errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key material: {0}")]
    Material(String),
    #[error("token: {0}")]
    Token(String),
}

/// A loaded key, ready to sign and verify.
pub struct LoadedKey {
    pub record: KeyRecord,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

/// The keys in force at one moment.
#[derive(Default)]
pub struct KeyRing {
    keys: Vec<LoadedKey>,
}

impl KeyRing {
    /// The active signing key for `alg` (the newest active one).
    pub fn signer(&self, alg: Alg) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .filter(|k| k.record.alg == alg && k.record.state == KeyState::Active)
            .max_by_key(|k| k.record.created_at)
    }

    /// JWKS document: every published, active and retired key.
    pub fn jwks(&self) -> serde_json::Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    pub fn records(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.iter().map(|k| &k.record)
    }

    /// Signs `claims` as a compact JWS with the active key for `alg`.
    pub fn sign<T: Serialize>(&self, alg: Alg, typ: &str, claims: &T) -> Result<String, KeyError> {
        let key = self
            .signer(alg)
            .ok_or_else(|| KeyError::Material(format!("no active {} key", alg.name())))?;
        let mut header = Header::new(alg.jwt());
        header.kid = Some(key.record.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| KeyError::Token(e.to_string()))
    }

    /// Verifies a JWS made by one of our keys (any state) and returns its claims and header.
    /// Time claims are not checked here: callers check them against their clock.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<(Header, T), KeyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| KeyError::Token(e.to_string()))?;
        let kid = header
            .kid
            .clone()
            .ok_or_else(|| KeyError::Token("no kid".into()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.record.kid == kid && k.record.alg.jwt() == header.alg)
            .ok_or_else(|| KeyError::Token(format!("unknown key {kid}")))?;
        let data = jsonwebtoken::decode::<T>(
            token,
            &key.decoding,
            &crate::protocol::tokens::no_time_validation(header.alg),
        )
        .map_err(|e| KeyError::Token(e.to_string()))?;
        Ok((data.header, data.claims))
    }
}

fn b64u(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Extracts the inner key of a PKCS#8 `PrivateKeyInfo` (the RSA PKCS#1 key jsonwebtoken wants).
fn pkcs8_inner(der: &[u8]) -> Option<&[u8]> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let first = *b.get(1)?;
        let (len, hdr) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return None;
            }
            let mut l = 0usize;
            for i in 0..n {
                l = (l << 8) | *b.get(2 + i)? as usize;
            }
            (l, 2 + n)
        };
        let body = b.get(hdr..hdr + len)?;
        Some((tag, body, &b[hdr + len..]))
    }
    let (tag, seq, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _version, rest) = tlv(seq)?;
    let (_, _alg, rest) = tlv(rest)?;
    let (tag, key, _) = tlv(rest)?;
    (tag == 0x04).then_some(key)
}

fn generate(alg: Alg, issuer_host: &str, now: i64) -> Result<KeyRecord, KeyError> {
    let m = |e: &dyn std::fmt::Display| KeyError::Material(e.to_string());
    let pkcs8: Vec<u8> = match alg {
        Alg::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| m(&e))?
                .as_ref()
                .to_vec()
        }
        Alg::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|e| m(&e))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = kp.as_der().map_err(|e| m(&e))?;
            der.as_ref().to_vec()
        }
    };
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(|e| m(&e))?;
    let mut params =
        rcgen::CertificateParams::new(vec![issuer_host.to_owned()]).map_err(|e| m(&e))?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("Inherence token signing ({issuer_host})"),
    );
    let cert = params.self_signed(&key_pair).map_err(|e| m(&e))?;
    let mut kid_bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut kid_bytes).map_err(|e| m(&e))?;
    Ok(KeyRecord {
        kid: b64u(&kid_bytes),
        alg,
        state: KeyState::Active,
        created_at: now,
        promote_at: None,
        drop_at: None,
        private_pkcs8: STANDARD.encode(&pkcs8).into(),
        certificate: STANDARD.encode(cert.der()),
    })
}

fn load(record: KeyRecord) -> Result<LoadedKey, KeyError> {
    let m = |e: &dyn std::fmt::Display| KeyError::Material(format!("{}: {e}", record.kid));
    let pkcs8 = STANDARD
        .decode(record.private_pkcs8.expose())
        .map_err(|e| m(&e))?;
    let (encoding, decoding, mut jwk) = match record.alg {
        Alg::ES256 => {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .map_err(|e| m(&e))?;
            let point = kp.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(KeyError::Material("unexpected EC public key".into()));
            }
            let (x, y) = (b64u(&point[1..33]), b64u(&point[33..]));
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| m(&e))?;
            (
                EncodingKey::from_ec_der(&pkcs8),
                decoding,
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            )
        }
        Alg::RS256 => {
            let inner =
                pkcs8_inner(&pkcs8).ok_or_else(|| KeyError::Material("bad PKCS#8".into()))?;
            let kp = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| m(&e))?;
            let pc: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = kp.public_key().into();
            let (n, e) = (b64u(&pc.n), b64u(&pc.e));
            let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|e| m(&e))?;
            (
                EncodingKey::from_rsa_der(inner),
                decoding,
                json!({ "kty": "RSA", "n": n, "e": e }),
            )
        }
    };
    let obj = jwk.as_object_mut().expect("object");
    obj.insert("kid".into(), json!(record.kid));
    obj.insert("use".into(), json!("sig"));
    obj.insert("alg".into(), json!(record.alg.name()));
    obj.insert("x5c".into(), json!([record.certificate]));
    Ok(LoadedKey {
        record,
        encoding,
        decoding,
        jwk,
    })
}

/// A ring of one signing key kept in a file outside the store (the audit checkpoints'
/// signer): read from `path`, or generated there with owner-only permissions when the file
/// does not exist. The store never sees its private part. Returns the ring and whether the key
/// was generated.
pub fn file_ring(
    path: &std::path::Path,
    alg: Alg,
    issuer_host: &str,
    now: i64,
) -> Result<(KeyRing, bool), KeyError> {
    let m = |e: &dyn std::fmt::Display| KeyError::Material(format!("{}: {e}", path.display()));
    let (record, generated) = match std::fs::read(path) {
        Ok(b) => (
            serde_json::from_slice::<KeyRecord>(&b).map_err(|e| m(&e))?,
            false,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let r = generate(alg, issuer_host, now)?;
            let json = serde_json::to_vec_pretty(&r).map_err(|e| m(&e))?;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(path).map_err(|e| m(&e))?;
            std::io::Write::write_all(&mut f, &json).map_err(|e| m(&e))?;
            f.sync_all().map_err(|e| m(&e))?;
            (r, true)
        }
        Err(e) => return Err(m(&e)),
    };
    let mut record = record;
    record.state = KeyState::Active;
    Ok((
        KeyRing {
            keys: vec![load(record)?],
        },
        generated,
    ))
}

/// Owns the keys: loads them, rotates them, hands out the current ring.
pub struct KeyManager {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: KeySettings,
    issuer_host: String,
    ring: RwLock<Arc<KeyRing>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("settings", &self.settings)
            .finish()
    }
}

impl KeyManager {
    /// Loads the stored keys; creates an active key for each configured algorithm that has none
    /// (returning `true` when keys were generated, so the caller can warn).
    pub fn open(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: KeySettings,
        issuer_host: &str,
    ) -> Result<(Self, bool), KeyError> {
        let km = Self {
            store,
            clock,
            settings,
            issuer_host: issuer_host.to_owned(),
            ring: RwLock::new(Arc::new(KeyRing::default())),
        };
        let mut generated = false;
        let records = km.records()?;
        for alg in km.settings.algorithms.clone() {
            if records
                .iter()
                .any(|r| r.alg == alg && r.state == KeyState::Active)
            {
                continue;
            }
            // Several instances may start on an empty shared store at once: one generates,
            // the others wait for its key.
            let claim = format!("initial:{}", alg.name());
            let until = Some((km.clock.now_secs() + 60) * 1000);
            let mut won = km.store.claim(&LOCKS, &claim, until)?;
            if !won && km.wait_for_active(alg).is_err() {
                // The claimer died: its claim has lapsed by now; claim again.
                won = km.store.claim(&LOCKS, &claim, until)?;
                if !won {
                    km.wait_for_active(alg)?;
                }
            }
            // Re-read after winning: another instance may have finished meanwhile.
            if won
                && !km
                    .records()?
                    .iter()
                    .any(|r| r.alg == alg && r.state == KeyState::Active)
            {
                let rec = generate(alg, &km.issuer_host, km.clock.now_secs())?;
                km.store.put_json(&SIGNING_KEYS, &rec.kid, &rec, None)?;
                generated = true;
            }
        }
        km.tick()?;
        Ok((km, generated))
    }

    /// Waits (up to 65 s, past the 60 s claim) for another instance to store an active key for
    /// `alg`.
    fn wait_for_active(&self, alg: Alg) -> Result<(), KeyError> {
        for _ in 0..650 {
            if self
                .records()?
                .iter()
                .any(|r| r.alg == alg && r.state == KeyState::Active)
            {
                return Ok(());
            }
            // Waiting for another process: real time, not the injected clock.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(KeyError::Material(format!(
            "another instance claimed the first {} key but none appeared",
            alg.name()
        )))
    }

    fn records(&self) -> Result<Vec<KeyRecord>, KeyError> {
        let mut v = Vec::new();
        for kid in self.store.keys(&SIGNING_KEYS)? {
            if let Some(r) = self.store.get_json::<KeyRecord>(&SIGNING_KEYS, &kid)? {
                v.push(r);
            }
        }
        Ok(v)
    }

    /// The keys in force now.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Publishes a new key for `alg`; it starts signing after `promote_after_secs`.
    pub fn rotate(&self, alg: Alg) -> Result<String, KeyError> {
        let now = self.clock.now_secs();
        let mut rec = generate(alg, &self.issuer_host, now)?;
        rec.state = KeyState::Published;
        rec.promote_at = Some(now + self.settings.promote_after_secs as i64);
        self.store.put_json(&SIGNING_KEYS, &rec.kid, &rec, None)?;
        self.tick()?;
        Ok(rec.kid)
    }

    /// Applies due transitions (promote, retire, drop, scheduled rotation) and reloads the ring.
    pub fn tick(&self) -> Result<(), KeyError> {
        let now = self.clock.now_secs();
        let mut records = self.records()?;
        for alg in self.settings.algorithms.clone() {
            // Promote published keys that are due; the previous active key retires.
            let due: Vec<String> = records
                .iter()
                .filter(|r| {
                    r.alg == alg
                        && r.state == KeyState::Published
                        && r.promote_at.is_some_and(|t| t <= now)
                })
                .map(|r| r.kid.clone())
                .collect();
            if let Some(newest) = due.last() {
                for r in records.iter_mut().filter(|r| r.alg == alg) {
                    if &r.kid == newest {
                        r.state = KeyState::Active;
                        r.promote_at = None;
                        self.store.put_json(&SIGNING_KEYS, &r.kid, &*r, None)?;
                    } else if r.state == KeyState::Active || due.contains(&r.kid) {
                        r.state = KeyState::Retired;
                        r.drop_at = Some(now + self.settings.retire_after_secs as i64);
                        self.store.put_json(&SIGNING_KEYS, &r.kid, &*r, None)?;
                    }
                }
            }
            // Scheduled rotation: publish a successor when the active key is old enough.
            if self.settings.rotate_every_days > 0 {
                let period = self.settings.rotate_every_days as i64 * 86_400;
                let active_old = records
                    .iter()
                    .filter(|r| r.alg == alg && r.state == KeyState::Active)
                    .all(|r| now - r.created_at >= period);
                let pending = records
                    .iter()
                    .any(|r| r.alg == alg && r.state == KeyState::Published);
                let has_active = records
                    .iter()
                    .any(|r| r.alg == alg && r.state == KeyState::Active);
                // One successor per active key, whichever instance ticks first.
                let active_kid = records
                    .iter()
                    .find(|r| r.alg == alg && r.state == KeyState::Active)
                    .map(|r| r.kid.clone())
                    .unwrap_or_default();
                if has_active
                    && active_old
                    && !pending
                    && self.store.claim(
                        &LOCKS,
                        &format!("successor-of:{active_kid}"),
                        Some((now + period) * 1000),
                    )?
                {
                    let mut rec = generate(alg, &self.issuer_host, now)?;
                    rec.state = KeyState::Published;
                    rec.promote_at = Some(now + self.settings.promote_after_secs as i64);
                    self.store.put_json(&SIGNING_KEYS, &rec.kid, &rec, None)?;
                    records.push(rec);
                }
            }
        }
        // Drop retired keys past their time.
        for r in records
            .iter()
            .filter(|r| r.state == KeyState::Retired && r.drop_at.is_some_and(|t| t <= now))
        {
            self.store.delete(&SIGNING_KEYS, &r.kid)?;
        }
        let keep: Vec<KeyRecord> = records
            .into_iter()
            .filter(|r| !(r.state == KeyState::Retired && r.drop_at.is_some_and(|t| t <= now)))
            .collect();
        let mut loaded = keep.into_iter().map(load).collect::<Result<Vec<_>, _>>()?;
        loaded.sort_by(|a, b| {
            b.record
                .created_at
                .cmp(&a.record.created_at)
                .then(a.record.kid.cmp(&b.record.kid))
        });
        if let Ok(mut w) = self.ring.write() {
            *w = Arc::new(KeyRing { keys: loaded });
        }
        Ok(())
    }
}

/// The Ed25519 key webhooks are signed with (`webhook-signature: v1a,...`), kept in the store
/// and created on first use, so every instance on a shared store signs with the same key.
pub fn webhook_ed25519(
    store: &dyn crate::store::Kv,
) -> Result<aws_lc_rs::signature::Ed25519KeyPair, crate::store::StoreError> {
    use crate::store::StoreError;
    use aws_lc_rs::signature::Ed25519KeyPair;
    const NS: &crate::store::Namespace = &WEBHOOK_KEYS;
    const KEY: &str = "ed25519";
    let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("webhook key: {e}"));
    if store.get(NS, KEY)?.is_none() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|e| bad(&e))?;
        store.write_once(NS, KEY, pkcs8.as_ref())?;
    }
    let pkcs8 = store.get(NS, KEY)?.ok_or_else(|| bad(&"missing"))?;
    Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::embedded::EmbeddedStore;

    fn manager(
        dir: &std::path::Path,
        clock: Arc<FixedClock>,
        settings: KeySettings,
    ) -> (KeyManager, bool) {
        let store: Store = Arc::new(EmbeddedStore::open(dir, clock.clone()).unwrap());
        KeyManager::open(store, clock, settings, "idp.example").unwrap()
    }

    #[test]
    fn signs_and_verifies_with_both_algorithms_and_publishes_x5c() {
        let dir = tempfile::tempdir().unwrap();
        let (km, generated) = manager(
            dir.path(),
            Arc::new(FixedClock::at_secs(1_000_000)),
            KeySettings::default(),
        );
        assert!(generated);
        let ring = km.ring();
        for alg in [Alg::ES256, Alg::RS256] {
            let t = ring.sign(alg, "JWT", &json!({"sub": "alice"})).unwrap();
            let (h, c): (Header, serde_json::Value) = ring.verify(&t).unwrap();
            assert_eq!(h.alg, alg.jwt());
            assert_eq!(c["sub"], "alice");
        }
        let jwks = ring.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for k in keys {
            assert!(k["kid"].is_string() && k["x5c"][0].is_string() && k["use"] == "sig");
            assert!(
                k.get("d").is_none(),
                "private material must not be published"
            );
        }
        // A tampered token fails.
        let t = ring
            .sign(Alg::ES256, "JWT", &json!({"sub": "alice"}))
            .unwrap();
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = b64u(br#"{"sub":"mallory"}"#);
        assert!(ring.verify::<serde_json::Value>(&parts.join(".")).is_err());
    }

    #[test]
    fn keys_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at_secs(1_000_000));
        let (km, _) = manager(dir.path(), clock.clone(), KeySettings::default());
        let t = km.ring().sign(Alg::ES256, "JWT", &json!({"a": 1})).unwrap();
        drop(km);
        let (km2, generated) = manager(dir.path(), clock, KeySettings::default());
        assert!(!generated);
        assert!(km2.ring().verify::<serde_json::Value>(&t).is_ok());
    }

    #[test]
    fn rotation_publishes_first_promotes_later_and_keeps_the_old_key_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at_secs(1_000_000));
        let settings = KeySettings {
            algorithms: vec![Alg::ES256],
            rotate_every_days: 0,
            promote_after_secs: 100,
            retire_after_secs: 1_000,
        };
        let (km, _) = manager(dir.path(), clock.clone(), settings);
        let old_kid = km.ring().signer(Alg::ES256).unwrap().record.kid.clone();
        let old_token = km.ring().sign(Alg::ES256, "JWT", &json!({"n": 1})).unwrap();
        let new_kid = km.rotate(Alg::ES256).unwrap();
        // Published: in the JWKS but not signing yet.
        let ring = km.ring();
        assert_eq!(ring.signer(Alg::ES256).unwrap().record.kid, old_kid);
        assert!(
            ring.jwks()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == new_kid.as_str())
        );
        // After the delay it signs; the old key is retired but still verifies.
        clock.advance(std::time::Duration::from_secs(101));
        km.tick().unwrap();
        let ring = km.ring();
        assert_eq!(ring.signer(Alg::ES256).unwrap().record.kid, new_kid);
        assert!(ring.verify::<serde_json::Value>(&old_token).is_ok());
        // Once the retirement period is over it disappears.
        clock.advance(std::time::Duration::from_secs(1_001));
        km.tick().unwrap();
        assert!(km.ring().verify::<serde_json::Value>(&old_token).is_err());
        assert_eq!(km.ring().jwks()["keys"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn private_keys_never_print() {
        let r = generate(Alg::ES256, "127.0.0.1", 0).unwrap();
        let pkcs8 = r.private_pkcs8.expose().to_owned();
        assert!(pkcs8.len() > 40);
        let debug = format!("{r:?}");
        assert!(!debug.contains(&pkcs8[48..90]), "{debug}");
        // Stored, it keeps the key (the store seals the namespace at rest).
        let stored = serde_json::to_string(&r).unwrap();
        let back: KeyRecord = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.private_pkcs8.expose(), pkcs8);
    }

    #[test]
    fn pkcs8_inner_key_is_found() {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = kp.as_der().unwrap();
        let inner = pkcs8_inner(der.as_ref()).unwrap();
        assert!(aws_lc_rs::signature::RsaKeyPair::from_der(inner).is_ok());
    }
}
