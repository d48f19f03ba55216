//! The embedded store: one process, no server to run, survives restarts and `kill -9`.
//!
//! Every entry lives in memory; every change is appended to a log file (one JSON line per
//! change) before the call returns, so a killed process loses nothing it acknowledged (the
//! kernel holds the written bytes). Changes in the namespaces declared fsynced (enrolments, keys,
//! ..., see `store/namespace.rs`) are also `fsync`ed, so they survive a power cut; short-lived state (flows, codes) may lose its
//! last moments then, and users simply retry. On start the log is replayed (a torn last line
//! from a crash is ignored) and rewritten with only the live entries; it is compacted again
//! whenever it grows well past the live data.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::{Kv, Namespace, StoreError};
use crate::clock::Clock;

#[derive(Clone)]
struct Entry {
    value: Vec<u8>,
    expires_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    /// `p` put, `d` delete.
    o: char,
    n: String,
    k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<i64>,
}

/// Entries by namespace, then key (so listing a namespace does not scan the others).
type Map = HashMap<String, HashMap<String, Entry>>;

fn len(map: &Map) -> usize {
    map.values().map(HashMap::len).sum()
}

struct Inner {
    map: Map,
    live_len: usize,
    /// `None` for a snapshot: changes stay in memory and never reach the file.
    log: Option<File>,
    records: usize,
}

/// The embedded store.
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    /// Rewrite the file after every deletion, so a deleted value leaves the file at once.
    shred: bool,
    /// The exclusive lock on the directory (`LOCK`) while this process writes it.
    _held: Option<File>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Takes the directory's exclusive lock (released when the process exits, however it exits).
fn hold(dir: &Path) -> Result<File, StoreError> {
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(dir.join("LOCK"))
        .map_err(io)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "the embedded store at {} is in use by another process (a running Inherence \
             server?). Stop it first: a change made beside a running server would not reach \
             it. Several processes sharing one store need the Redis backend",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let existed = dir.is_dir();
        std::fs::create_dir_all(dir).map_err(io)?;
        if !existed
            && let Some(parent) = dir.parent()
            && let Ok(d) = File::open(parent)
        {
            // The new directory itself survives a power cut.
            let _ = d.sync_all();
        }
        // One writer per directory: a second process would compact the log under the first
        // one's appends (losing them) and would never see its changes anyway.
        let held = hold(dir)?;
        let path = dir.join("store.log");
        let map = replay(&path, clock.as_ref())?;
        let log = rewrite(&path, &map)?;
        let mut s = Self::with(map, Some(log), path, clock);
        s._held = Some(held);
        Ok(s)
    }

    /// Like [`EmbeddedStore::open`], but every deletion rewrites the file without the deleted
    /// value before the call returns (for small stores whose deleted values must not linger on
    /// disk: the per-subject keys of crypto-shredding).
    pub fn open_shredding(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let mut s = Self::open(dir, clock)?;
        s.shred = true;
        Ok(s)
    }

    /// A read-only snapshot of the store in `dir`, safe to take while a server uses it: the
    /// log is read, never rewritten; changes made through the snapshot stay in memory.
    pub fn snapshot(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let path = dir.join("store.log");
        if !path.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let map = replay(&path, clock.as_ref())?;
        Ok(Self::with(map, None, path, clock))
    }

    /// A store that lives in memory only (benchmarks and tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Self {
        Self::with(HashMap::new(), None, PathBuf::new(), clock)
    }

    fn with(map: Map, log: Option<File>, path: PathBuf, clock: Arc<dyn Clock>) -> Self {
        let records = len(&map);
        Self {
            inner: Mutex::new(Inner {
                map,
                live_len: records,
                log,
                records,
            }),
            path,
            clock,
            shred: false,
            _held: None,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("store lock poisoned".into()))
    }

    /// Appends a record; `fsync`: also flushed to the disk before returning.
    fn append(&self, inner: &mut Inner, r: &Record, fsync: bool) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        line.push(b'\n');
        let Some(log) = inner.log.as_mut() else {
            return Ok(());
        };
        log.write_all(&line).map_err(io)?;
        if fsync {
            super::blocking(|| log.sync_data()).map_err(io)?;
        }
        inner.records += 1;
        if inner.records > 4 * inner.live_len + 50_000 {
            super::blocking(|| self.compact(inner))?;
        }
        Ok(())
    }

    fn compact(&self, inner: &mut Inner) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        for m in inner.map.values_mut() {
            m.retain(|_, e| e.expires_at.is_none_or(|t| t > now));
        }
        inner.map.retain(|_, m| !m.is_empty());
        inner.log = Some(rewrite(&self.path, &inner.map)?);
        inner.records = len(&inner.map);
        inner.live_len = inner.records;
        Ok(())
    }

    fn live<'a>(&self, inner: &'a mut Inner, ns: &Namespace, key: &str) -> Option<&'a Entry> {
        let now = self.clock.now_millis();
        let m = inner.map.get_mut(ns.name())?;
        if m.get(key)
            .is_some_and(|e| e.expires_at.is_some_and(|t| t <= now))
        {
            m.remove(key);
            inner.live_len = inner.live_len.saturating_sub(1);
        }
        inner.map.get(ns.name())?.get(key)
    }

    /// Appends a put record, then applies it in memory.
    fn write(
        &self,
        inner: &mut Inner,
        ns: &Namespace,
        key: &str,
        value: Vec<u8>,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.append(
            inner,
            &Record {
                o: 'p',
                n: ns.name().to_owned(),
                k: key.to_owned(),
                v: Some(B64.encode(&value)),
                e: expires_at,
            },
            ns.is_fsynced(),
        )?;
        Self::insert(inner, ns, key, Entry { value, expires_at });
        Ok(())
    }

    fn insert(inner: &mut Inner, ns: &Namespace, key: &str, e: Entry) {
        if inner
            .map
            .entry(ns.name().to_owned())
            .or_default()
            .insert(key.to_owned(), e)
            .is_none()
        {
            inner.live_len += 1;
        }
    }
}

/// Reads the log into memory (live entries only). A torn last line (the process died
/// mid-write) is expected and skipped; anything earlier is corruption.
fn replay(path: &Path, clock: &dyn Clock) -> Result<Map, StoreError> {
    let mut map = HashMap::new();
    if path.exists() {
        let reader = BufReader::new(File::open(path).map_err(io)?);
        let mut lines = reader.split(b'\n').peekable();
        let mut n = 0usize;
        while let Some(line) = lines.next() {
            let line = line.map_err(io)?;
            n += 1;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Record>(&line) {
                Ok(r) => apply(&mut map, r)?,
                // A torn last line (the process died mid-write) is expected; anything
                // earlier is corruption.
                Err(_) if lines.peek().is_none() => {
                    tracing::warn!(
                        line = n,
                        "ignoring a torn last record in {}",
                        path.display()
                    )
                }
                Err(e) => {
                    return Err(StoreError::Corrupt(format!(
                        "{} line {n}: {e}",
                        path.display()
                    )));
                }
            }
        }
    }
    let now = clock.now_millis();
    for m in map.values_mut() {
        m.retain(|_, e: &mut Entry| e.expires_at.is_none_or(|t| t > now));
    }
    map.retain(|_, m| !m.is_empty());
    Ok(map)
}

fn apply(map: &mut Map, r: Record) -> Result<(), StoreError> {
    match r.o {
        'p' => {
            let value = B64
                .decode(r.v.unwrap_or_default())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            map.entry(r.n).or_default().insert(
                r.k,
                Entry {
                    value,
                    expires_at: r.e,
                },
            );
        }
        'd' => {
            if let Some(m) = map.get_mut(&r.n) {
                m.remove(&r.k);
            }
        }
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown record type {other:?}"
            )));
        }
    }
    Ok(())
}

/// Writes the live entries to a new log and swaps it in atomically; returns it open for append.
fn rewrite(path: &Path, map: &Map) -> Result<File, StoreError> {
    let tmp = path.with_extension("log.tmp");
    {
        let mut f = std::io::BufWriter::new(File::create(&tmp).map_err(io)?);
        for (n, k, e) in map
            .iter()
            .flat_map(|(n, m)| m.iter().map(move |(k, e)| (n, k, e)))
        {
            let r = Record {
                o: 'p',
                n: n.clone(),
                k: k.clone(),
                v: Some(B64.encode(&e.value)),
                e: e.expires_at,
            };
            serde_json::to_writer(&mut f, &r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            f.write_all(b"\n").map_err(io)?;
        }
        let f = f.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    OpenOptions::new().append(true).open(path).map_err(io)
}

impl Kv for EmbeddedStore {
    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        self.write(&mut inner, ns, key, value.to_vec(), expires_at)?;
        Ok(())
    }

    fn put_new(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        if self.live(&mut inner, ns, key).is_some() {
            return Ok(false);
        }
        self.write(&mut inner, ns, key, value.to_vec(), expires_at)?;
        Ok(true)
    }

    fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut inner = self.lock()?;
        Ok(self.live(&mut inner, ns, key).map(|e| e.value.clone()))
    }

    fn take(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut inner = self.lock()?;
        if self.live(&mut inner, ns, key).is_none() {
            return Ok(None);
        }
        self.append(
            &mut inner,
            &Record {
                o: 'd',
                n: ns.name().to_owned(),
                k: key.to_owned(),
                v: None,
                e: None,
            },
            ns.is_fsynced(),
        )?;
        let v = inner.map.get_mut(ns.name()).and_then(|m| m.remove(key));
        if v.is_some() {
            inner.live_len = inner.live_len.saturating_sub(1);
        }
        if self.shred && inner.log.is_some() {
            super::blocking(|| self.compact(&mut inner))?;
        }
        Ok(v.map(|e| e.value))
    }

    fn delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        Ok(self.take(ns, key)?.is_some())
    }

    fn incr(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut inner = self.lock()?;
        let (current, exp) = match self.live(&mut inner, ns, key) {
            Some(e) => {
                let v = std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("{ns}/{key} is not a counter")))?;
                (v, e.expires_at)
            }
            None => (0, expires_at),
        };
        let next = current + by;
        self.write(&mut inner, ns, key, next.to_string().into_bytes(), exp)?;
        Ok(next)
    }

    fn replace(
        &self,
        ns: &Namespace,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let expires_at = match self.live(&mut inner, ns, key) {
            Some(e) if e.value == expected => e.expires_at,
            _ => return Ok(false),
        };
        self.write(&mut inner, ns, key, new.to_vec(), expires_at)?;
        Ok(true)
    }

    fn keys(&self, ns: &Namespace) -> Result<Vec<String>, StoreError> {
        let inner = self.lock()?;
        let now = self.clock.now_millis();
        let mut v: Vec<String> = inner
            .map
            .get(ns.name())
            .into_iter()
            .flatten()
            .filter(|(_, e)| e.expires_at.is_none_or(|t| t > now))
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACES: Namespace = Namespace::new("faces").fsynced();
    const CODES: Namespace = Namespace::new("codes").expiring();
    const ATTEMPTS: Namespace = Namespace::new("attempts");
    const KEYS: Namespace = Namespace::new("keys").fsynced();
    use crate::clock::FixedClock;

    #[test]
    fn behaves_like_every_backend() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at_secs(1_000));
        let store = EmbeddedStore::open(dir.path(), clock.clone()).unwrap();
        super::super::suite::run(&store, &*clock);
        let clock = Arc::new(crate::clock::SystemClock);
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), clock.clone()).unwrap();
        super::super::suite::replace_keeps_expiry(&store, &*clock);
    }

    #[test]
    fn a_shredding_store_leaves_no_deleted_value_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::at_secs(1_000));
        let s = EmbeddedStore::open_shredding(dir.path(), clock.clone()).unwrap();
        s.put(&KEYS, "a", b"secret-of-a", None).unwrap();
        s.put(&KEYS, "b", b"secret-of-b", None).unwrap();
        let file = || std::fs::read(dir.path().join("store.log")).unwrap();
        let has = |bytes: &[u8], what: &[u8]| {
            let b64 = B64.encode(what);
            bytes.windows(b64.len()).any(|w| w == b64.as_bytes())
        };
        assert!(has(&file(), b"secret-of-a"));
        assert!(s.delete(&KEYS, "a").unwrap());
        assert!(!has(&file(), b"secret-of-a"), "gone from the file at once");
        assert!(has(&file(), b"secret-of-b"));
        drop(s);
        let s = EmbeddedStore::open_shredding(dir.path(), clock).unwrap();
        assert_eq!(s.get(&KEYS, "a").unwrap(), None);
        assert_eq!(
            s.get(&KEYS, "b").unwrap().as_deref(),
            Some(&b"secret-of-b"[..])
        );
    }

    #[test]
    fn a_second_writer_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::at_secs(1_000));
        let first = EmbeddedStore::open(dir.path(), clock.clone()).unwrap();
        first.put(&FACES, "alice", b"template", None).unwrap();
        let e = EmbeddedStore::open(dir.path(), clock.clone()).unwrap_err();
        assert!(e.to_string().contains("in use by another process"), "{e}");
        // A read-only snapshot stays possible (audit export beside a running server).
        let snap = EmbeddedStore::snapshot(dir.path(), clock.clone()).unwrap();
        assert!(snap.get(&FACES, "alice").unwrap().is_some());
        drop(first);
        let again = EmbeddedStore::open(dir.path(), clock).unwrap();
        assert!(again.get(&FACES, "alice").unwrap().is_some());
    }

    #[test]
    fn survives_reopening_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::at_secs(1_000));
        {
            let s = EmbeddedStore::open(dir.path(), clock.clone()).unwrap();
            s.put(&FACES, "alice", b"template", None).unwrap();
            s.put(&CODES, "c1", b"grant", Some(2_000_000)).unwrap();
            s.put(&CODES, "gone", b"x", Some(500)).unwrap();
            s.incr(&ATTEMPTS, "f", 2, None).unwrap();
            s.take(&CODES, "c1").unwrap();
        }
        // Simulate a crash in the middle of writing a record.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("store.log"))
            .unwrap();
        f.write_all(b"{\"o\":\"p\",\"n\":\"enrol").unwrap();
        drop(f);
        let s = EmbeddedStore::open(dir.path(), clock).unwrap();
        assert_eq!(
            s.get(&FACES, "alice").unwrap().as_deref(),
            Some(&b"template"[..])
        );
        assert_eq!(s.get(&CODES, "c1").unwrap(), None);
        assert_eq!(s.get(&CODES, "gone").unwrap(), None);
        assert_eq!(s.incr(&ATTEMPTS, "f", 1, None).unwrap(), 3);
    }

    #[test]
    fn corruption_before_the_end_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("store.log"),
            b"not json\n{\"o\":\"p\",\"n\":\"a\",\"k\":\"b\",\"v\":\"\"}\n",
        )
        .unwrap();
        let err = EmbeddedStore::open(dir.path(), Arc::new(FixedClock::at_secs(1))).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }
}
