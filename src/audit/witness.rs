//! An external witness of the audit log: every signed checkpoint head (stream, sequence, hash,
//! time and its JWS) is also appended to a file the store's writer does not control
//! (`[audit] witness_file`: another volume, a WORM mount, a log shipper's input). Someone who
//! can rewrite the store can truncate the log, wipe it, or re-chain and re-sign it, but cannot
//! make it agree with what the witness already saw: `inherence audit verify --witness FILE`
//! names each disagreement.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::record::Checkpoint;
use super::verify::Report;
use super::{AuditError, AuditLog, key};

/// One witnessed checkpoint (a JSON line of the witness file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witnessed {
    pub stream: String,
    pub seq: u64,
    pub hash: String,
    pub at_ms: i64,
    /// The signed checkpoint itself.
    pub jws: String,
}

/// Appends a checkpoint to the witness file, durably (fsync) before returning.
pub fn append(path: &Path, c: &Checkpoint, jws: &str) -> Result<(), AuditError> {
    let line = serde_json::to_string(&Witnessed {
        stream: c.stream.clone(),
        seq: c.seq,
        hash: c.hash.clone(),
        at_ms: c.at_ms,
        jws: jws.to_owned(),
    })
    .map_err(|e| AuditError::Invalid(e.to_string()))?;
    let io = |e: std::io::Error| AuditError::Io(format!("witness {}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Reads a witness file (a torn last line, from a crash while appending, is skipped).
pub fn read(path: &Path) -> Result<Vec<Witnessed>, AuditError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuditError::Io(format!("cannot read {}: {e}", path.display())))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str::<Witnessed>(l) {
            Ok(w) => out.push(w),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(AuditError::Invalid(format!(
                    "{} line {}: {e}",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(out)
}

/// Adds to `report` every way the stored log disagrees with what the witness saw: a stream it
/// no longer holds (wiped), a head below a witnessed checkpoint (truncated or rolled back), a
/// witnessed entry that is missing or whose hash differs (rewritten and re-signed).
pub fn check(log: &AuditLog, seen: &[Witnessed], report: &mut Report) -> Result<(), AuditError> {
    let mut latest: std::collections::BTreeMap<&str, &Witnessed> = Default::default();
    for w in seen {
        let e = latest.entry(w.stream.as_str()).or_insert(w);
        if w.seq > e.seq {
            *e = w;
        }
    }
    for (stream, w) in &latest {
        match report.streams.get(*stream) {
            None => report.problems.push(format!(
                "stream {stream}: the witness saw it signed up to #{} (hash {}), the store holds none of it (wiped)",
                w.seq, w.hash
            )),
            Some(s) if s.last_seq < w.seq => report.problems.push(format!(
                "stream {stream}: the witness saw it signed up to #{}, the store ends at #{} (truncated or rolled back)",
                w.seq, s.last_seq
            )),
            Some(_) => {}
        }
    }
    for w in seen {
        let Some(s) = report.streams.get(&w.stream) else {
            continue;
        };
        match log.entry_at(&key(&w.stream, w.seq))? {
            Some(Ok(e)) if e.hash == w.hash => {}
            Some(Ok(e)) => report.problems.push(format!(
                "{}#{}: hash {} differs from the {} the witness saw (rewritten)",
                w.stream, w.seq, e.hash, w.hash
            )),
            Some(Err(why)) => report
                .problems
                .push(format!("{}#{}: {why}", w.stream, w.seq)),
            // Removed by retention: older than the first entry the store keeps.
            None if w.seq < s.first_seq => {}
            None => report.problems.push(format!(
                "{}#{}: witnessed, missing from the store",
                w.stream, w.seq
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::super::record::{CHECKPOINT_TYP, Entry, Kind};
    use super::super::{AuditLog, AuditSettings, Head, key, ns};
    use super::*;
    use crate::clock::FixedClock;
    use crate::keys::{Alg, KeyManager, KeySettings};
    use crate::store::Store;
    use crate::store::embedded::EmbeddedStore;

    /// A log that checkpoints every 10 entries and witnesses into `dir`, with 35 decisions
    /// (three checkpoints witnessed: #10, #20, #30).
    fn witnessed_log(dir: &Path) -> (AuditLog, Store) {
        witnessed_log_with(dir, None)
    }

    fn witnessed_log_with(dir: &Path, key_file: Option<std::path::PathBuf>) -> (AuditLog, Store) {
        let clock = Arc::new(FixedClock::at_secs(1_795_910_400));
        let store: Store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let (keys, _) =
            KeyManager::open(store.clone(), clock.clone(), KeySettings::default(), "t").unwrap();
        let l = AuditLog::new(
            store.clone(),
            clock,
            Arc::new(keys),
            AuditSettings {
                checkpoint_every: 10,
                witness_file: Some(dir.join("witness.jsonl")),
                signing_key_file: key_file,
                ..AuditSettings::default()
            },
            "https://inherence.test".into(),
            Alg::ES256,
        )
        .with_key_file()
        .unwrap();
        for n in 1..=35 {
            let outcome = if n == 15 { "Declined" } else { "Approved" };
            l.append(
                Kind::Decision,
                json!({"id": n, "outcome": outcome, "client": "bank"}),
                None,
            )
            .unwrap();
        }
        (l, store)
    }

    fn verify(l: &AuditLog, dir: &Path) -> (Report, Report) {
        let alone = l.verify_store(None).unwrap();
        let mut with = l.verify_store(None).unwrap();
        check(l, &read(&dir.join("witness.jsonl")).unwrap(), &mut with).unwrap();
        (alone, with)
    }

    /// Re-chains stream `main` from entry `from` on (new prev and hash for each), as a store
    /// writer who edited an entry would, and sets the head to `last`.
    fn rechain(store: &Store, from: u64, last: u64) {
        let mut prev = if from == 1 {
            super::super::GENESIS.to_owned()
        } else {
            let b = store
                .get(&ns::ENTRIES, &key("main", from - 1))
                .unwrap()
                .unwrap();
            serde_json::from_slice::<Entry>(&b).unwrap().hash
        };
        for seq in from..=last {
            let b = store.get(&ns::ENTRIES, &key("main", seq)).unwrap().unwrap();
            let mut e: Entry = serde_json::from_slice(&b).unwrap();
            e.prev = prev;
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            store
                .put(
                    &ns::ENTRIES,
                    &key("main", seq),
                    &serde_json::to_vec(&e).unwrap(),
                    None,
                )
                .unwrap();
        }
        set_head(store, last, &prev);
    }

    fn set_head(store: &Store, seq: u64, hash: &str) {
        let b = store.get(&ns::HEADS, "main").unwrap().unwrap();
        let mut h: Head = serde_json::from_slice(&b).unwrap();
        h.seq = seq;
        h.hash = hash.to_owned();
        if h.checkpoint_seq > seq {
            h.checkpoint_seq = seq;
            h.checkpoint_hash = hash.to_owned();
        }
        store
            .put(&ns::HEADS, "main", &serde_json::to_vec(&h).unwrap(), None)
            .unwrap();
    }

    #[test]
    fn the_untouched_log_agrees_with_its_witness() {
        let dir = tempfile::tempdir().unwrap();
        let (l, _) = witnessed_log(dir.path());
        let seen = read(&dir.path().join("witness.jsonl")).unwrap();
        assert_eq!(seen.iter().map(|w| w.seq).collect::<Vec<_>>(), [10, 20, 30]);
        let (alone, with) = verify(&l, dir.path());
        assert!(alone.ok() && with.ok(), "{:?}", with.problems);
    }

    #[test]
    fn truncating_back_to_an_older_checkpoint_is_caught_by_the_witness() {
        let dir = tempfile::tempdir().unwrap();
        let (l, store) = witnessed_log(dir.path());
        // Back to the checkpoint at #10: entries and checkpoints after it deleted, head
        // rolled back.
        for seq in 11..=35 {
            store.delete(&ns::ENTRIES, &key("main", seq)).unwrap();
            let _ = store.delete(&ns::CHECKPOINTS, &key("main", seq));
        }
        let b = store.get(&ns::ENTRIES, &key("main", 10)).unwrap().unwrap();
        set_head(
            &store,
            10,
            &serde_json::from_slice::<Entry>(&b).unwrap().hash,
        );
        let (alone, with) = verify(&l, dir.path());
        assert!(
            alone.ok(),
            "the store alone cannot tell: {:?}",
            alone.problems
        );
        assert!(
            with.problems
                .iter()
                .any(|p| p.contains("truncated or rolled back")),
            "{:?}",
            with.problems
        );
    }

    #[test]
    fn wiping_every_record_is_caught_by_the_witness() {
        let dir = tempfile::tempdir().unwrap();
        let (l, store) = witnessed_log(dir.path());
        for n in [ns::ENTRIES, ns::CHECKPOINTS, ns::HEADS] {
            for k in store.keys(&n).unwrap() {
                store.delete(&n, &k).unwrap();
            }
        }
        let (alone, with) = verify(&l, dir.path());
        assert!(
            alone.ok() && alone.entries == 0,
            "the store alone says OK (0 entries)"
        );
        assert!(
            with.problems.iter().any(|p| p.contains("wiped")),
            "{:?}",
            with.problems
        );
    }

    #[test]
    fn a_rewritten_and_re_signed_history_is_caught_by_the_witness() {
        let dir = tempfile::tempdir().unwrap();
        let (l, store) = witnessed_log(dir.path());
        // #15 Declined -> Approved, every later entry re-chained, every later checkpoint
        // re-signed with the key the store holds.
        approve_the_declined_one(&store);
        re_sign_with_the_stores_keys(&l, &store);
        let (alone, with) = verify(&l, dir.path());
        assert!(
            alone.ok(),
            "re-signed, the store alone verifies: {:?}",
            alone.problems
        );
        for seq in [20, 30] {
            assert!(
                with.problems
                    .iter()
                    .any(|p| p.contains(&format!("main#{seq}")) && p.contains("rewritten")),
                "{:?}",
                with.problems
            );
        }
    }

    /// Turns #15 from Declined into Approved and re-chains everything after it, as a store
    /// writer would.
    fn approve_the_declined_one(store: &Store) {
        let k = key("main", 15);
        let mut e: Entry =
            serde_json::from_slice(&store.get(&ns::ENTRIES, &k).unwrap().unwrap()).unwrap();
        e.body["outcome"] = json!("Approved");
        store
            .put(&ns::ENTRIES, &k, &serde_json::to_vec(&e).unwrap(), None)
            .unwrap();
        rechain(store, 15, 35);
    }

    /// Re-signs the checkpoints at #20 and #30 over the stored entries with the token keys the
    /// store holds, as a store writer can.
    fn re_sign_with_the_stores_keys(l: &AuditLog, store: &Store) {
        for seq in [20, 30] {
            let b = store.get(&ns::ENTRIES, &key("main", seq)).unwrap().unwrap();
            let e: Entry = serde_json::from_slice(&b).unwrap();
            let claims = super::super::record::Checkpoint {
                iss: "https://inherence.test".into(),
                stream: "main".into(),
                seq,
                hash: e.hash,
                at_ms: e.at_ms,
                iat: 0,
            };
            let jws = l
                .keys
                .ring()
                .sign(Alg::ES256, CHECKPOINT_TYP, &claims)
                .unwrap();
            store
                .put(&ns::CHECKPOINTS, &key("main", seq), jws.as_bytes(), None)
                .unwrap();
        }
    }

    #[test]
    fn with_the_signing_key_outside_the_store_a_re_signed_history_fails_the_pinned_keys() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("audit-signing.json");
        let (l, store) = witnessed_log_with(dir.path(), Some(key_file.clone()));
        let pinned: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(l.pinned_jwks().unwrap()).unwrap();
        assert!(l.verify_store(Some(&pinned)).unwrap().ok());
        // The private key is in the file (owner-only), nowhere in the store.
        let record: crate::keys::KeyRecord =
            serde_json::from_slice(&std::fs::read(&key_file).unwrap()).unwrap();
        // The private scalar (the PKCS#8 header before it is the same for every P-256 key).
        let secret = record.private_pkcs8.expose()[48..90].to_owned();
        for n in [
            crate::keys::SIGNING_KEYS,
            ns::SIGNERS,
            ns::CHECKPOINTS,
            ns::KEYS,
        ] {
            for k in store.keys(&n).unwrap() {
                let v = store.get(&n, &k).unwrap().unwrap();
                assert!(!String::from_utf8_lossy(&v).contains(&secret), "{n}/{k}");
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
        // #15 Declined -> Approved, re-chained, re-signed with what the store holds.
        approve_the_declined_one(&store);
        re_sign_with_the_stores_keys(&l, &store);
        let r = l.verify_store(Some(&pinned)).unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("checkpoint main/000000000020")),
            "the pinned key refuses the re-signed checkpoints: {:?}",
            r.problems
        );
        // Reopened, the same key is used (not a new one).
        let again = witnessed_log_with(tempfile::tempdir().unwrap().path(), Some(key_file)).0;
        assert_eq!(again.pinned_jwks(), l.pinned_jwks());
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_garbage_before_it_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.jsonl");
        std::fs::write(
            &p,
            "{\"stream\":\"main\",\"seq\":1,\"hash\":\"h\",\"at_ms\":0,\"jws\":\"j\"}\n{\"stre",
        )
        .unwrap();
        assert_eq!(read(&p).unwrap().len(), 1);
        std::fs::write(
            &p,
            "garbage\n{\"stream\":\"main\",\"seq\":1,\"hash\":\"h\",\"at_ms\":0,\"jws\":\"j\"}\n",
        )
        .unwrap();
        assert!(read(&p).is_err());
    }
}
