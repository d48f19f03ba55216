//! The tamper-evident audit log: one chained entry per decision (PSD2 SCA evidence), signed
//! checkpoints, retention, erasure, exports and verification.
//!
//! - Entries of a stream are numbered 1, 2, 3... and each carries the hash of the previous
//!   one (`record.rs`); two instances appending to the same stream over Redis cannot both
//!   take a number (`put_new`), the loser re-reads the head and retries.
//! - Every `checkpoint_every` entries, and after `checkpoint_interval_secs` of quiet, the head
//!   is signed as a JWS with the server's signing key; the public keys that signed are kept
//!   (`audit_signers`), so rotation never orphans old checkpoints.
//! - Erasing a subject removes the personal part of its entries (kept out of the hash, see
//!   `record.rs`) and appends a redaction entry listing them; retention removes old entries up
//!   to a signed checkpoint, which stays as the anchor of what remains.
//!
//! Depends on the store traits and `keys` only; `flow` builds the evidence.

pub mod export;
pub mod record;
pub mod verify;
pub mod witness;

use crate::store::concerns::WriteOnce;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::keys::{Alg, KeyError, KeyManager};
use crate::store::{Store, StoreError};
use crate::tenant::TenantId;
use record::{CHECKPOINT_TYP, Checkpoint, Entry, GENESIS, Kind, Personal, Redacted};

/// Store namespaces of the audit log.
pub mod ns {
    use crate::store::Namespace;
    /// Chained entries, key `{stream}/{seq:012}`.
    pub const ENTRIES: Namespace = Namespace::new("audit").fsynced();
    /// Signed checkpoints (compact JWS), key `{stream}/{seq:012}`.
    pub const CHECKPOINTS: Namespace = Namespace::new("audit_checkpoints").fsynced();
    /// Public JWKs of every key that signed a checkpoint, by `kid`.
    pub const SIGNERS: Namespace = Namespace::new("audit_signers").fsynced();
    /// Head pointers (a hint rebuilt from the entries, so not fsynced).
    pub const HEADS: Namespace = Namespace::new("audit_heads");
    /// The pseudonym key (sealed at rest).
    pub const KEYS: Namespace = Namespace::new("audit_keys").sealed().fsynced();
    /// Frames kept as evidence when `keep_frames` is on (sealed, expiring).
    pub const FRAMES: Namespace = Namespace::new("audit_frames").sealed().fsynced().expiring();
    /// The namespaces of the audit log.
    pub const ALL: &[Namespace] = &[ENTRIES, CHECKPOINTS, SIGNERS, HEADS, KEYS, FRAMES];
}

/// `[audit]` settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Name of this instance's chain. Several instances may share one (they take turns).
    pub stream: String,
    /// Sign a checkpoint after this many entries...
    pub checkpoint_every: u64,
    /// ...or when the newest entry has waited this long without one.
    pub checkpoint_interval_secs: u64,
    /// Entries older than this are removed (up to a signed checkpoint); 0 keeps them forever.
    pub retention_days: u32,
    /// Keep the uploaded frames (sealed) as evidence. Off by default: only their hashes.
    pub keep_frames: bool,
    /// How long kept frames live.
    pub frame_retention_days: u32,
    /// Append every signed checkpoint to this file too (`witness.rs`): put it where whoever
    /// can write the store cannot (another volume, a WORM mount, a log shipper's input), and
    /// verify with `inherence audit verify --witness FILE`.
    pub witness_file: Option<std::path::PathBuf>,
    /// Sign checkpoints and export manifests with the key in this file (created, owner-only,
    /// when missing) instead of the token signing keys the store holds: the store never sees
    /// it, so whoever can write the store cannot re-sign. Pin its public key with
    /// `inherence audit pin` and verify with `--jwks`.
    pub signing_key_file: Option<std::path::PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            stream: "main".into(),
            checkpoint_every: 1000,
            checkpoint_interval_secs: 300,
            retention_days: 2557,
            keep_frames: false,
            frame_retention_days: 30,
            witness_file: None,
            signing_key_file: None,
        }
    }
}

impl AuditSettings {
    pub fn validate(&self) -> Result<(), String> {
        valid_stream(&self.stream)?;
        if self.checkpoint_every == 0 {
            return Err("audit.checkpoint_every must be at least 1".into());
        }
        if self.keep_frames && self.frame_retention_days == 0 {
            return Err(
                "audit.frame_retention_days must be at least 1 when keep_frames is on".into(),
            );
        }
        Ok(())
    }
}

fn valid_stream(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "audit stream {s:?}: use 1 to 32 letters, digits, '-' or '_'"
        ));
    }
    Ok(())
}

/// Audit failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
    #[error("more than {0} records match: narrow the time range")]
    TooLarge(u64),
}

/// Store key of an entry or checkpoint.
pub fn key(stream: &str, seq: u64) -> String {
    format!("{stream}/{seq:012}")
}

fn parse_key(k: &str) -> Option<(&str, u64)> {
    let (s, n) = k.rsplit_once('/')?;
    Some((s, n.parse().ok()?))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
    at_ms: i64,
    #[serde(default)]
    checkpoint_seq: u64,
    #[serde(default)]
    checkpoint_at_ms: i64,
    #[serde(default)]
    checkpoint_hash: String,
    /// When the first entry after the last checkpoint was written (0: none waits, or not
    /// known for a head stored before this field existed).
    #[serde(default)]
    first_pending_ms: i64,
}

/// The audit log of one server (or CLI) process.
pub struct AuditLog {
    store: Store,
    clock: Arc<dyn Clock>,
    keys: Arc<KeyManager>,
    settings: AuditSettings,
    issuer: String,
    alg: Alg,
    head: Mutex<Option<Head>>,
    pseudonym_key: OnceLock<Vec<u8>>,
    last_prune_ms: Mutex<i64>,
    /// The key of `signing_key_file`, when configured (see [`AuditLog::with_key_file`]).
    file_signer: Option<Arc<crate::keys::KeyRing>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("stream", &self.settings.stream)
            .finish()
    }
}

/// One decision's evidence as `flow` hands it over.
pub struct DecisionInput<'a> {
    pub evidence: record::Evidence,
    pub personal: Option<Personal>,
    /// The uploaded frames (kept only when `keep_frames` is on; never copied otherwise).
    pub frames: &'a [&'a [u8]],
}

impl AuditLog {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyManager>,
        settings: AuditSettings,
        issuer: String,
        alg: Alg,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            settings,
            issuer,
            alg,
            head: Mutex::new(None),
            pseudonym_key: OnceLock::new(),
            last_prune_ms: Mutex::new(0),
            file_signer: None,
        }
    }

    /// Loads (or creates) the signing key of `signing_key_file`, when configured; from then on
    /// checkpoints and manifests are signed with it, not with the keys the store holds.
    pub fn with_key_file(mut self) -> Result<Self, AuditError> {
        if let Some(path) = self.settings.signing_key_file.clone() {
            let host = url::Url::parse(&self.issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "inherence".into());
            let (ring, generated) =
                crate::keys::file_ring(&path, self.alg, &host, self.clock.now_secs())?;
            if generated {
                tracing::warn!(path = %path.display(), "created the audit signing key; back it up and pin its public key (inherence audit pin)");
            }
            self.file_signer = Some(Arc::new(ring));
        }
        Ok(self)
    }

    /// The ring that signs checkpoints and manifests.
    fn signing_ring(&self) -> Arc<crate::keys::KeyRing> {
        match &self.file_signer {
            Some(r) => r.clone(),
            None => self.keys.ring(),
        }
    }

    /// The public keys of `signing_key_file` (a JWK set), read from the file, never the store.
    pub fn pinned_jwks(&self) -> Option<Value> {
        self.file_signer.as_ref().map(|r| r.jwks())
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// The keyed pseudonym of a user reference in a tenant: `ps1:` +
    /// base64url(HMAC-SHA256(key, tenant-qualified subject)); the same id in two tenants gets
    /// two unrelated pseudonyms (for `default`, the qualified subject is the subject itself, so
    /// pseudonyms from before tenants stay the same). The key is generated once per deployment
    /// and sealed at rest; without it a pseudonym cannot be linked back to the person.
    pub fn pseudonym(&self, tenant: &TenantId, subject: &str) -> Result<String, AuditError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.pseudonym_key()?);
        Ok(format!(
            "ps1:{}",
            URL_SAFE_NO_PAD.encode(hmac::sign(&key, tenant.key(subject).as_bytes()).as_ref())
        ))
    }

    /// The pseudonym key: loaded, or generated once (before the first entry) for the whole
    /// deployment.
    fn pseudonym_key(&self) -> Result<&[u8], AuditError> {
        Ok(match self.pseudonym_key.get() {
            Some(k) => k,
            None if self.store.get(&ns::KEYS, "pseudonym")?.is_none()
                && !self.store.keys(&ns::HEADS)?.is_empty() =>
            {
                // Entries exist, so a key existed: a new one would silently break erasure
                // (the old pseudonyms could no longer be found).
                return Err(AuditError::Invalid(
                    "the audit pseudonym key is missing from the store although the log has entries: restore it from a backup".into(),
                ));
            }
            None => {
                let mut fresh = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut fresh).expect("system randomness");
                self.store.write_once(&ns::KEYS, "pseudonym", &fresh)?;
                let k = self
                    .store
                    .get(&ns::KEYS, "pseudonym")?
                    .ok_or_else(|| AuditError::Invalid("the pseudonym key vanished".into()))?;
                let _ = self.pseudonym_key.set(k);
                self.pseudonym_key.get().expect("set")
            }
        })
    }

    fn load_head(&self, stream: &str) -> Result<Head, AuditError> {
        let mut head = match self.store.get(&ns::HEADS, stream)? {
            Some(b) => serde_json::from_slice::<Head>(&b)
                .map_err(|e| StoreError::Corrupt(format!("audit head: {e}")))?,
            None => {
                // No pointer (first start, or it was lost): find the newest entry.
                let prefix = format!("{stream}/");
                let last = self
                    .store
                    .keys(&ns::ENTRIES)?
                    .into_iter()
                    .filter(|k| k.starts_with(&prefix))
                    .filter_map(|k| parse_key(&k).map(|(_, n)| n))
                    .max();
                match last {
                    Some(n) => {
                        let e = self
                            .entry(stream, n)?
                            .ok_or_else(|| AuditError::Invalid(format!("{stream}#{n} vanished")))?;
                        Head {
                            seq: n,
                            hash: e.hash,
                            at_ms: e.at_ms,
                            checkpoint_seq: 0,
                            checkpoint_at_ms: 0,
                            checkpoint_hash: String::new(),
                            first_pending_ms: 0,
                        }
                    }
                    // No entries: a new stream, or one retention emptied up to its anchor
                    // checkpoint, which the chain then continues from.
                    None => {
                        let anchor = self.latest_checkpoint(stream)?;
                        Head {
                            seq: anchor.as_ref().map_or(0, |c| c.seq),
                            hash: anchor
                                .as_ref()
                                .map_or_else(|| GENESIS.to_owned(), |c| c.hash.clone()),
                            at_ms: anchor.as_ref().map_or(0, |c| c.at_ms),
                            checkpoint_seq: 0,
                            checkpoint_at_ms: 0,
                            checkpoint_hash: String::new(),
                            first_pending_ms: 0,
                        }
                    }
                }
            }
        };
        // The pointer may lag behind (another instance, or a crash between the two writes).
        while let Some(e) = self.entry(stream, head.seq + 1)? {
            head.seq = e.seq;
            head.hash = e.hash;
            head.at_ms = e.at_ms;
        }
        match self.latest_checkpoint(stream)? {
            Some(c) => {
                head.checkpoint_seq = c.seq;
                head.checkpoint_at_ms = c.at_ms;
                head.checkpoint_hash = c.hash;
            }
            None => {
                head.checkpoint_seq = 0;
                head.checkpoint_at_ms = 0;
                head.checkpoint_hash = GENESIS.into();
            }
        }
        Ok(head)
    }

    /// The newest checkpoint of `stream` (its claims, as stored by this log).
    fn latest_checkpoint(&self, stream: &str) -> Result<Option<Checkpoint>, AuditError> {
        let prefix = format!("{stream}/");
        let Some(k) = self
            .store
            .keys(&ns::CHECKPOINTS)?
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .max()
        else {
            return Ok(None);
        };
        let Some(jws) = self.store.get(&ns::CHECKPOINTS, &k)? else {
            return Ok(None);
        };
        let payload = jws
            .split(|b| *b == b'.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|p| serde_json::from_slice::<Checkpoint>(&p).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("audit checkpoint {k} is unreadable")))?;
        Ok(Some(payload))
    }

    /// Before signing, the entries since the last checkpoint must still form an intact chain
    /// from it: a checkpoint must never make an altered tail look genuine.
    fn segment_ok(
        &self,
        stream: &str,
        from: (u64, &str),
        to: (u64, &str),
    ) -> Result<(), AuditError> {
        let (mut seq, mut prev) = (from.0, from.1.to_owned());
        while seq < to.0 {
            seq += 1;
            let e = self
                .entry(stream, seq)?
                .ok_or_else(|| AuditError::Invalid(format!("{stream}#{seq} is missing")))?;
            if e.prev != prev || e.compute_hash() != e.hash {
                return Err(AuditError::Invalid(format!(
                    "{stream}#{seq} does not chain from the last checkpoint (#{})",
                    from.0
                )));
            }
            prev = e.hash;
        }
        if prev != to.1 {
            return Err(AuditError::Invalid(format!(
                "{stream}#{} is not the entry being signed",
                to.0
            )));
        }
        Ok(())
    }

    /// Reads one entry.
    pub fn entry(&self, stream: &str, seq: u64) -> Result<Option<Entry>, AuditError> {
        match self.store.get(&ns::ENTRIES, &key(stream, seq))? {
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                StoreError::Corrupt(format!("audit entry {stream}#{seq}: {e}"))
            })?)),
            None => Ok(None),
        }
    }

    /// Appends an entry to this instance's stream and returns it.
    pub fn append(
        &self,
        kind: Kind,
        body: Value,
        personal: Option<Personal>,
    ) -> Result<Entry, AuditError> {
        // The key exists before the first entry does (see `pseudonym_key`).
        self.pseudonym_key()?;
        let personal = personal
            .map(|mut p| {
                if p.salt.is_empty() {
                    let mut salt = [0u8; 16];
                    aws_lc_rs::rand::fill(&mut salt).expect("system randomness");
                    p.salt = URL_SAFE_NO_PAD.encode(salt);
                }
                serde_json::to_value(p)
            })
            .transpose()
            .map_err(|e| AuditError::Invalid(e.to_string()))?;
        let stream = self.settings.stream.clone();
        let mut guard = self
            .head
            .lock()
            .map_err(|_| AuditError::Invalid("audit lock poisoned".into()))?;
        for _ in 0..64 {
            let h = match guard.as_ref() {
                Some(h) => h.clone(),
                None => self.load_head(&stream)?,
            };
            let at_ms = self.clock.now_millis().max(h.at_ms);
            let e = Entry::seal(
                &stream,
                h.seq + 1,
                kind,
                at_ms,
                &h.hash,
                body.clone(),
                personal.clone(),
            );
            let bytes = serde_json::to_vec(&e).map_err(|e| AuditError::Invalid(e.to_string()))?;
            if self
                .store
                .write_once(&ns::ENTRIES, &key(&stream, e.seq), &bytes)?
            {
                let first_pending_ms = if h.seq <= h.checkpoint_seq || h.first_pending_ms == 0 {
                    at_ms
                } else {
                    h.first_pending_ms
                };
                let mut next = Head {
                    seq: e.seq,
                    hash: e.hash.clone(),
                    at_ms,
                    first_pending_ms,
                    ..h
                };
                let ptr = serde_json::to_vec(&next).expect("serialises");
                self.store.put(&ns::HEADS, &stream, &ptr, None)?;
                if e.seq >= next.checkpoint_seq + self.settings.checkpoint_every {
                    let from = (next.checkpoint_seq, next.checkpoint_hash.clone());
                    match self.checkpoint(&stream, (from.0, &from.1), e.seq, &e.hash, at_ms) {
                        Ok(()) => {
                            next.checkpoint_seq = e.seq;
                            next.checkpoint_at_ms = at_ms;
                            next.checkpoint_hash = e.hash.clone();
                            next.first_pending_ms = 0;
                        }
                        // The entry is written; the next checkpoint will cover it.
                        Err(err) => tracing::error!(error = %err, "audit checkpoint failed"),
                    }
                }
                *guard = Some(next);
                return Ok(e);
            }
            // Another instance took this number: re-read the head.
            *guard = None;
        }
        Err(AuditError::Invalid(
            "the audit stream is too contended; give each instance its own [audit] stream".into(),
        ))
    }

    /// Appends what a console operator did; a subject is recorded as its pseudonym.
    pub fn record_operator(
        &self,
        action: &str,
        operator: String,
        tenant: Option<&TenantId>,
        subject: Option<&str>,
    ) -> Result<Entry, AuditError> {
        let subject = match (tenant, subject) {
            (Some(t), Some(s)) => Some(self.pseudonym(t, s)?),
            _ => None,
        };
        let body = record::OperatorAction {
            action: action.to_owned(),
            operator,
            tenant: tenant.map(|t| t.to_string()),
            subject,
        };
        let body = serde_json::to_value(&body).map_err(|e| AuditError::Invalid(e.to_string()))?;
        self.append(Kind::Operator, body, None)
    }

    /// Appends a decision (and keeps its frames when configured).
    pub fn record_decision(&self, mut d: DecisionInput<'_>) -> Result<Entry, AuditError> {
        let tenant = match &d.evidence.tenant {
            Some(t) => TenantId::parse(t).map_err(|e| AuditError::Invalid(e.to_string()))?,
            None => TenantId::default(),
        };
        d.evidence.tenant = Some(tenant.to_string());
        if let Some(s) = d.evidence.subject.take() {
            d.evidence.subject = Some(self.pseudonym(&tenant, &s)?);
        }
        let body =
            serde_json::to_value(&d.evidence).map_err(|e| AuditError::Invalid(e.to_string()))?;
        let e = self.append(Kind::Decision, body, d.personal)?;
        if self.settings.keep_frames && !d.frames.is_empty() {
            let until = self.clock.now_millis()
                + i64::from(self.settings.frame_retention_days) * 86_400_000;
            for (i, f) in d.frames.iter().enumerate() {
                self.store.put(
                    &ns::FRAMES,
                    &format!("{}/{i}", d.evidence.id),
                    f,
                    Some(until),
                )?;
            }
        }
        Ok(e)
    }

    /// The frames kept for a decision (empty when none were kept or they expired).
    pub fn frames(&self, decision_id: &str) -> Result<Vec<Vec<u8>>, AuditError> {
        let mut out = Vec::new();
        for i in 0.. {
            match self.store.get(&ns::FRAMES, &format!("{decision_id}/{i}"))? {
                Some(f) => out.push(f),
                None => break,
            }
        }
        Ok(out)
    }

    /// The decision record with this id (a scan of the log).
    pub fn find_decision(&self, id: &str) -> Result<Option<Entry>, AuditError> {
        for k in self.keys()? {
            if let Some(Ok(e)) = self.entry_at(&k)?
                && e.kind == Kind::Decision
                && e.body.get("id").and_then(Value::as_str) == Some(id)
            {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Signs the head `(seq, hash)` of `stream` and stores the checkpoint, once the entries
    /// since the previous checkpoint `from` are checked.
    fn checkpoint(
        &self,
        stream: &str,
        from: (u64, &str),
        seq: u64,
        hash: &str,
        at_ms: i64,
    ) -> Result<(), AuditError> {
        if let Err(e) = self.segment_ok(stream, from, (seq, hash)) {
            tracing::error!(error = %e, "the audit log was altered since its last checkpoint; not signing it (run `inherence audit verify`)");
            return Err(e);
        }
        let ring = self.signing_ring();
        let claims = Checkpoint {
            iss: self.issuer.clone(),
            stream: stream.to_owned(),
            seq,
            hash: hash.to_owned(),
            at_ms,
            iat: self.clock.now_secs(),
        };
        let jws = ring.sign(self.alg, CHECKPOINT_TYP, &claims)?;
        self.remember_signer(&ring)?;
        self.store
            .write_once(&ns::CHECKPOINTS, &key(stream, seq), jws.as_bytes())?;
        // The checkpoint is stored; a witness that cannot be written is reported, and the next
        // checkpoint (which covers this one's entries) is witnessed again.
        if let Some(path) = &self.settings.witness_file
            && let Err(e) = witness::append(path, &claims, &jws)
        {
            tracing::error!(error = %e, "the audit witness was not written");
        }
        Ok(())
    }

    /// Keeps the public key of the active signer, so what it signs stays verifiable after
    /// rotation.
    fn remember_signer(&self, ring: &crate::keys::KeyRing) -> Result<(), AuditError> {
        let kid = ring
            .signer(self.alg)
            .map(|k| k.record.kid.clone())
            .unwrap_or_default();
        if self.store.get(&ns::SIGNERS, &kid)?.is_none()
            && let Some(jwk) = ring.jwks()["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["kid"] == kid.as_str())
        {
            self.store
                .write_once(&ns::SIGNERS, &kid, jwk.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Makes sure the active signing key is among [`AuditLog::signer_jwks`].
    pub fn publish_signer(&self) -> Result<(), AuditError> {
        self.remember_signer(&self.signing_ring())
    }

    /// Signs an export manifest (the claims are the manifest itself).
    pub fn sign_manifest(&self, manifest: &Value) -> Result<String, AuditError> {
        let ring = self.signing_ring();
        let jws = ring.sign(self.alg, record::MANIFEST_TYP, manifest)?;
        self.remember_signer(&ring)?;
        Ok(jws)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Signs a checkpoint now if entries wait uncovered longer than the interval (or
    /// `force`); returns the checkpointed seq.
    pub fn checkpoint_now(&self, force: bool) -> Result<Option<u64>, AuditError> {
        let stream = self.settings.stream.clone();
        let mut guard = self
            .head
            .lock()
            .map_err(|_| AuditError::Invalid("audit lock poisoned".into()))?;
        let mut h = self.load_head(&stream)?;
        let due = h.seq > h.checkpoint_seq
            && (force
                || self.clock.now_millis() - h.at_ms
                    >= self.settings.checkpoint_interval_secs as i64 * 1000
                || self.clock.now_millis() - h.checkpoint_at_ms
                    >= self.settings.checkpoint_interval_secs as i64 * 1000);
        if !due {
            *guard = Some(h);
            return Ok(None);
        }
        let from = (h.checkpoint_seq, h.checkpoint_hash.clone());
        self.checkpoint(&stream, (from.0, &from.1), h.seq, &h.hash, h.at_ms)?;
        h.checkpoint_seq = h.seq;
        h.checkpoint_at_ms = h.at_ms;
        h.checkpoint_hash = h.hash.clone();
        h.first_pending_ms = 0;
        let seq = h.seq;
        *guard = Some(h);
        Ok(Some(seq))
    }

    /// This instance's stream as last seen (no store read, never waiting): entries after the
    /// last signed checkpoint, and since when the oldest of them has waited (ms since the
    /// epoch; the newest entry's time when that is not known). `None` while an append or a
    /// checkpoint holds the head (the caller keeps its last value), and until the head is
    /// loaded (the first append, or the background tick within seconds of start).
    pub fn unsealed_tail(&self) -> Option<(u64, i64)> {
        let guard = self.head.try_lock().ok()?;
        let h = guard.as_ref()?;
        let pending = h.seq.saturating_sub(h.checkpoint_seq);
        let since = if h.first_pending_ms > 0 {
            h.first_pending_ms
        } else {
            h.at_ms
        };
        Some((pending, since))
    }

    /// Background duty: checkpoint quiet tails, and prune once an hour.
    pub fn tick(&self) -> Result<(), AuditError> {
        self.checkpoint_now(false)?;
        let now = self.clock.now_millis();
        let due = {
            let mut last = self
                .last_prune_ms
                .lock()
                .map_err(|_| AuditError::Invalid("audit lock poisoned".into()))?;
            let due = now - *last >= 3_600_000;
            if due {
                *last = now;
            }
            due
        };
        if due {
            self.prune()?;
        }
        Ok(())
    }

    /// Every stored entry, in (stream, seq) order.
    pub fn keys(&self) -> Result<Vec<String>, AuditError> {
        Ok(self.store.keys(&ns::ENTRIES)?)
    }

    /// The stored bytes of an entry (its JSON).
    pub fn raw_entry(&self, k: &str) -> Result<Option<Vec<u8>>, AuditError> {
        Ok(self.store.get(&ns::ENTRIES, k)?)
    }

    /// Reads an entry by store key (with its key checked against its content).
    pub fn entry_at(&self, k: &str) -> Result<Option<Result<Entry, String>>, AuditError> {
        Ok(self.store.get(&ns::ENTRIES, k)?.map(|b| {
            let e: Entry = serde_json::from_slice(&b).map_err(|e| format!("unreadable: {e}"))?;
            if key(&e.stream, e.seq) != k {
                return Err(format!("holds {} (moved from its place)", e.name()));
            }
            Ok(e)
        }))
    }

    /// Every checkpoint JWS, with its store key.
    pub fn checkpoints(&self) -> Result<Vec<(String, String)>, AuditError> {
        let mut v = Vec::new();
        for k in self.store.keys(&ns::CHECKPOINTS)? {
            if let Some(b) = self.store.get(&ns::CHECKPOINTS, &k)? {
                v.push((k, String::from_utf8_lossy(&b).into_owned()));
            }
        }
        Ok(v)
    }

    /// The public keys that signed checkpoints (a JWK set).
    pub fn signer_jwks(&self) -> Result<Value, AuditError> {
        let mut keys = Vec::new();
        for k in self.store.keys(&ns::SIGNERS)? {
            if let Some(b) = self.store.get(&ns::SIGNERS, &k)? {
                keys.push(
                    serde_json::from_slice::<Value>(&b)
                        .map_err(|e| StoreError::Corrupt(format!("audit signer {k}: {e}")))?,
                );
            }
        }
        Ok(json!({ "keys": keys }))
    }

    /// Checks the stored log: every entry, link and checkpoint.
    pub fn verify_store(
        &self,
        pinned: Option<&jsonwebtoken::jwk::JwkSet>,
    ) -> Result<verify::Report, AuditError> {
        let stored: jsonwebtoken::jwk::JwkSet = serde_json::from_value(self.signer_jwks()?)
            .map_err(|e| AuditError::Invalid(format!("audit signers: {e}")))?;
        let jwks = pinned.unwrap_or(&stored);
        let mut problems = Vec::new();
        let mut verified = Vec::new();
        for (k, jws) in self.checkpoints()? {
            match verify::verify_jws::<Checkpoint>(&jws, jwks, CHECKPOINT_TYP) {
                Ok(c) if c.iss != self.issuer => problems.push(format!(
                    "checkpoint {k}: issued by {:?}, not this issuer",
                    c.iss
                )),
                Ok(c) if key(&c.stream, c.seq) == k => verified.push(c),
                Ok(c) => problems.push(format!(
                    "checkpoint {k}: signed for {}#{} (moved from its place)",
                    c.stream, c.seq
                )),
                Err(e) => problems.push(format!("checkpoint {k}: {e}")),
            }
        }
        let mut checker = verify::Checker::new(verified);
        // In batches: reading, parsing and hashing on every core; the chain checks in order.
        for keys in self.keys()?.chunks(8192) {
            let checked = verify::par_map(keys, |k| {
                let where_ = format!("stored entry {k}");
                match self.entry_at(k) {
                    Ok(Some(Ok(e))) => {
                        let f = verify::inspect(&e, &where_);
                        Ok(Some((e, f, where_)))
                    }
                    Ok(Some(Err(why))) => Err(format!("{where_}: {why}")),
                    Ok(None) => Ok(None),
                    Err(e) => Err(format!("{where_}: {e}")),
                }
            });
            for c in checked {
                match c {
                    Ok(Some((e, f, where_))) => {
                        checker.absorb(f);
                        checker.link(&e.stream, e.seq, &e.prev, &e.hash, &where_);
                    }
                    Ok(None) => {}
                    Err(p) => problems.push(p),
                }
            }
        }
        let mut report = checker.finish();
        // Entries after the last checkpoint are not signed yet; the head pointer each append
        // leaves still tells whether some were removed from the end.
        for k in self.store.keys(&ns::HEADS)? {
            let Some(b) = self.store.get(&ns::HEADS, &k)? else {
                continue;
            };
            let Ok(h) = serde_json::from_slice::<Head>(&b) else {
                problems.push(format!("the head pointer of stream {k} is unreadable"));
                continue;
            };
            let last = report.streams.get(&k).map_or(0, |s| s.last_seq);
            if h.seq > last {
                problems.push(format!(
                    "{k}#{}..#{} are missing (deleted from the end; the stream's head was #{})",
                    last + 1,
                    h.seq,
                    h.seq
                ));
            }
        }
        problems.append(&mut report.problems);
        report.problems = problems;
        Ok(report)
    }

    /// Erases a subject's personal data from the log: the personal part of its entries goes
    /// (their hashes stay valid), a redaction entry lists them, and kept frames are deleted.
    /// Returns how many entries were redacted.
    pub fn redact_subject(
        &self,
        tenant: &TenantId,
        subject: &str,
        reason: &str,
    ) -> Result<usize, AuditError> {
        let pseudonym = self.pseudonym(tenant, subject)?;
        let mut targets = Vec::new();
        let mut decision_ids = Vec::new();
        for k in self.keys()? {
            if let Some(Ok(e)) = self.entry_at(&k)?
                && e.kind == Kind::Decision
                && e.subject() == Some(pseudonym.as_str())
                && e.tenant() == tenant.as_str()
            {
                if let Some(id) = e.body.get("id").and_then(Value::as_str) {
                    decision_ids.push(id.to_owned());
                }
                if e.personal.is_some() {
                    targets.push(e);
                }
            }
        }
        for id in &decision_ids {
            for i in 0.. {
                if !self.store.delete(&ns::FRAMES, &format!("{id}/{i}"))? {
                    break;
                }
            }
        }
        if targets.is_empty() {
            return Ok(0);
        }
        let names: Vec<String> = targets.iter().map(Entry::name).collect();
        let red = self.append(
            Kind::Redaction,
            json!({ "subject": pseudonym, "tenant": tenant, "reason": reason, "targets": names }),
            None,
        )?;
        for mut e in targets.iter().cloned() {
            e.personal = None;
            e.redacted = Some(Redacted {
                at_ms: red.at_ms,
                by: red.name(),
            });
            let bytes = serde_json::to_vec(&e).map_err(|e| AuditError::Invalid(e.to_string()))?;
            self.store
                .put(&ns::ENTRIES, &key(&e.stream, e.seq), &bytes, None)?;
        }
        tracing::info!(entries = targets.len(), by = %red.name(), "audit: personal data erased");
        Ok(targets.len())
    }

    /// Removes entries older than the retention period, up to the newest signed checkpoint
    /// that is older too (it stays, anchoring what remains), and records that it did.
    /// Returns how many entries were removed.
    pub fn prune(&self) -> Result<usize, AuditError> {
        if self.settings.retention_days == 0 {
            return Ok(0);
        }
        let cutoff = self.clock.now_millis() - i64::from(self.settings.retention_days) * 86_400_000;
        let mut removed = 0;
        let cps = self.checkpoints()?;
        let mut streams: Vec<String> = cps
            .iter()
            .filter_map(|(k, _)| parse_key(k).map(|(s, _)| s.to_owned()))
            .collect();
        streams.dedup();
        let mut all_keys: Option<Vec<String>> = None;
        let ring_jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(self.signer_jwks()?)
            .map_err(|e| AuditError::Invalid(format!("audit signers: {e}")))?;
        for stream in streams {
            // The newest checkpoint of this stream older than the cutoff (its own signature
            // checked: an anchor must be genuine).
            let anchor = cps
                .iter()
                .filter(|(k, _)| parse_key(k).is_some_and(|(s, _)| s == stream))
                .filter_map(|(_, j)| {
                    verify::verify_jws::<Checkpoint>(j, &ring_jwks, CHECKPOINT_TYP).ok()
                })
                .filter(|c| c.at_ms < cutoff)
                .max_by_key(|c| c.seq);
            let Some(anchor) = anchor else { continue };
            let prefix = format!("{stream}/");
            let mut n = 0;
            // One listing of the log for every stream pruned (streams never share keys).
            let listed = match &all_keys {
                Some(k) => k,
                None => all_keys.insert(self.keys()?),
            };
            for k in listed {
                if let Some((s, seq)) = parse_key(k)
                    && k.starts_with(&prefix)
                    && s == stream
                    && seq <= anchor.seq
                    && self.store.delete(&ns::ENTRIES, k)?
                {
                    n += 1;
                }
            }
            for (k, _) in cps.iter() {
                if let Some((s, seq)) = parse_key(k)
                    && s == stream
                    && seq < anchor.seq
                {
                    self.store.delete(&ns::CHECKPOINTS, k)?;
                }
            }
            if n > 0 {
                self.append(
                    Kind::Retention,
                    json!({
                        "stream": stream,
                        "through_seq": anchor.seq,
                        "anchor_hash": anchor.hash,
                        "older_than_ms": cutoff,
                        "removed": n,
                    }),
                    None,
                )?;
                tracing::info!(stream = %stream, removed = n, through = anchor.seq, "audit: retention applied");
            }
            removed += n;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::keys::KeySettings;
    use crate::store::embedded::EmbeddedStore;
    use std::time::Duration;

    fn log(settings: AuditSettings) -> (AuditLog, Arc<FixedClock>, Store) {
        let clock = Arc::new(FixedClock::at_secs(1_795_910_400));
        let store: Store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let (keys, _) =
            KeyManager::open(store.clone(), clock.clone(), KeySettings::default(), "test").unwrap();
        let l = AuditLog::new(
            store.clone(),
            clock.clone(),
            Arc::new(keys),
            settings,
            "https://inherence.test".into(),
            Alg::ES256,
        );
        (l, clock, store)
    }

    fn decision(l: &AuditLog, n: u64) -> Entry {
        l.append(
            Kind::Decision,
            json!({"id": n, "outcome": "Approved", "client": "bank"}),
            Some(Personal {
                ip: Some("192.0.2.1".into()),
                ..Personal::default()
            }),
        )
        .unwrap()
    }

    #[test]
    fn a_checkpoint_never_signs_an_altered_tail() {
        let (l, _, store) = log(AuditSettings::default());
        for n in 1..=3 {
            decision(&l, n);
        }
        let k = key("main", 2);
        let original = store.get(&ns::ENTRIES, &k).unwrap().unwrap();
        let mut e: Entry = serde_json::from_slice(&original).unwrap();
        e.body["outcome"] = json!("Declined");
        store
            .put(&ns::ENTRIES, &k, &serde_json::to_vec(&e).unwrap(), None)
            .unwrap();
        assert!(
            l.checkpoint_now(true).is_err(),
            "an altered tail is not signed"
        );
        assert!(l.checkpoints().unwrap().is_empty());
        let r = l.verify_store(None).unwrap();
        assert!(r.problems.iter().any(|p| p.contains("main#2 was edited")));
        store.put(&ns::ENTRIES, &k, &original, None).unwrap();
        assert_eq!(l.checkpoint_now(true).unwrap(), Some(3));
        let r = l.verify_store(None).unwrap();
        assert!(r.ok() && r.warnings.is_empty(), "{r:?}");
    }

    #[test]
    fn retention_removes_old_entries_up_to_a_checkpoint_and_the_rest_verifies() {
        let (l, clock, _) = log(AuditSettings {
            checkpoint_every: 2,
            retention_days: 1,
            ..AuditSettings::default()
        });
        for n in 1..=3 {
            decision(&l, n);
        }
        clock.advance(Duration::from_secs(2 * 86_400));
        decision(&l, 4);
        assert_eq!(
            l.prune().unwrap(),
            2,
            "#1 and #2, up to the checkpoint at #2"
        );
        let r = l.verify_store(None).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.streams["main"].first_seq, 3);
        // Another instance's retention empties this stream; a fresh process whose head
        // pointer was lost continues the chain from the anchor, not a new one from genesis.
        assert_eq!(
            decision(&l, 5).seq,
            6,
            "#5 is the retention entry; #6 is checkpointed"
        );
        clock.advance(Duration::from_secs(2 * 86_400));
        let other = |stream: &str| {
            AuditLog::new(
                l.store.clone(),
                clock.clone(),
                l.keys.clone(),
                AuditSettings {
                    stream: stream.into(),
                    ..l.settings.clone()
                },
                l.issuer.clone(),
                Alg::ES256,
            )
        };
        assert!(other("other").prune().unwrap() > 0);
        assert!(l.keys().unwrap().iter().all(|k| !k.starts_with("main/")));
        l.store.delete(&ns::HEADS, "main").unwrap();
        let fresh = other("main");
        let e = decision(&fresh, 9);
        assert!(e.seq > 1, "continues after the anchor");
        let r = fresh.verify_store(None).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        // Deleting entries is still caught.
        let first = r.streams["main"].first_seq;
        l.store.delete(&ns::ENTRIES, &key("main", first)).unwrap();
        assert!(!l.verify_store(None).unwrap().ok());
    }

    #[test]
    fn erasure_redacts_personal_parts_and_keeps_the_chain() {
        let (l, _, _) = log(AuditSettings::default());
        let d_in = |tenant: Option<&str>, subject: &str| {
            let mut ev = record::Evidence::new(
                subject.into(),
                record::Channel::Oidc,
                "Approved",
                "bank".into(),
            );
            ev.subject = Some(subject.into());
            ev.tenant = tenant.map(str::to_owned);
            l.record_decision(DecisionInput {
                evidence: ev,
                personal: Some(Personal::default()),
                frames: &[],
            })
            .unwrap()
        };
        let d = |subject: &str| d_in(None, subject);
        let (a, b, a2) = (d("alice"), d("bob"), d("alice"));
        // The same id in another tenant is another person, with another pseudonym.
        let shop_alice = d_in(Some("shop"), "alice");
        assert_eq!(a.tenant(), "default");
        assert_eq!(shop_alice.tenant(), "shop");
        assert_ne!(a.subject(), shop_alice.subject());
        let default = TenantId::default();
        assert_eq!(l.redact_subject(&default, "alice", "request").unwrap(), 2);
        assert_eq!(
            l.redact_subject(&default, "alice", "request").unwrap(),
            0,
            "idempotent"
        );
        for (e, erased) in [(&a, true), (&b, false), (&a2, true), (&shop_alice, false)] {
            let now = l.entry("main", e.seq).unwrap().unwrap();
            assert_eq!(now.personal.is_none(), erased);
            assert_eq!(now.hash, e.hash);
        }
        assert!(l.verify_store(None).unwrap().ok());
    }
}
