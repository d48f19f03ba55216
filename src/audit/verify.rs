//! Checking a chain (pure): every entry's hash, the links between consecutive entries, the
//! signed checkpoints, and erasures. Entries are fed one at a time in the order they are
//! stored or exported, so a million of them need no more memory than one.
//!
//! What each tampering looks like:
//! - an edited entry: its content no longer matches its `hash` (named);
//! - a deleted entry: a gap in `seq` (the missing numbers are named), or, at the end of a
//!   stream, a signed checkpoint beyond the last entry;
//! - an inserted or reordered entry: a `seq` that does not follow the previous one, or a
//!   `prev` that is not the previous entry's hash;
//! - a rewritten chain (edited, then every later hash recomputed): the next signed checkpoint
//!   no longer matches.

use std::collections::{BTreeMap, HashMap, HashSet};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use serde_json::Value;

use super::record::{Checkpoint, Entry, GENESIS, Kind, personal_digest};

/// Verifies a compact JWS with a key of `jwks` (by `kid`) and returns its claims.
pub fn verify_jws<T: serde::de::DeserializeOwned>(
    jws: &str,
    jwks: &JwkSet,
    typ: &str,
) -> Result<T, String> {
    // Strict: the compact form only (decoders forgive stray characters; evidence must not).
    if !jws
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("not a compact JWS (unexpected characters)".into());
    }
    let header = jsonwebtoken::decode_header(jws).map_err(|e| format!("malformed JWS: {e}"))?;
    if header.typ.as_deref() != Some(typ) {
        return Err(format!("typ is not {typ}"));
    }
    if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
        return Err("unsupported algorithm".into());
    }
    let kid = header.kid.as_deref().ok_or("no kid")?;
    let jwk = jwks
        .find(kid)
        .ok_or_else(|| format!("signed with unknown key {kid}"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key {kid}: {e}"))?;
    jsonwebtoken::decode::<T>(
        jws,
        &key,
        &crate::protocol::tokens::no_time_validation(header.alg),
    )
    .map(|d| d.claims)
    .map_err(|e| format!("signature does not verify: {e}"))
}

/// What checking one entry on its own found. Pure, so batches are checked in parallel.
#[derive(Debug, Default)]
pub struct Findings {
    problems: Vec<String>,
    /// (name, by, where) when its personal part was erased.
    redacted: Option<(String, String, String)>,
    /// Its name, when it is a redaction entry, and the entries it lists.
    redaction: Option<String>,
    targets: Vec<String>,
    /// (stream, through_seq, anchor_hash) when it is a retention entry.
    retention: Option<(String, u64, String)>,
}

impl Findings {
    /// Adds a problem found about the same entry.
    pub fn problem(&mut self, p: String) {
        self.problems.push(p);
    }
}

/// Checks an entry on its own: its hash, its personal digest, its erasure marker.
pub fn inspect(e: &Entry, where_: &str) -> Findings {
    let mut f = Findings::default();
    let name = e.name();
    if e.compute_hash() != e.hash {
        f.problems.push(format!(
            "{where_}: {name} was edited (its content does not match its hash)"
        ));
    }
    match (&e.personal, &e.personal_sha256) {
        (Some(p), Some(d)) if personal_digest(p) != *d => f.problems.push(format!(
            "{where_}: {name}: its personal data was edited (does not match personal_sha256)"
        )),
        (Some(_), None) => f.problems.push(format!(
            "{where_}: {name}: personal data present without personal_sha256"
        )),
        (Some(_), Some(_)) if e.redacted.is_some() => f.problems.push(format!(
            "{where_}: {name}: marked as erased but still holds personal data"
        )),
        (None, Some(_)) => match &e.redacted {
            Some(r) => f.redacted = Some((name.clone(), r.by.clone(), where_.to_owned())),
            None => f.problems.push(format!(
                "{where_}: {name}: its personal data was removed without a redaction entry"
            )),
        },
        _ => {}
    }
    if e.kind == Kind::Retention {
        let b = &e.body;
        if let (Some(s), Some(t), Some(h)) = (
            b.get("stream").and_then(Value::as_str),
            b.get("through_seq").and_then(Value::as_u64),
            b.get("anchor_hash").and_then(Value::as_str),
        ) {
            f.retention = Some((s.to_owned(), t, h.to_owned()));
        }
    }
    if e.kind == Kind::Redaction {
        f.targets = e
            .body
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        f.redaction = Some(name);
    }
    f
}

/// Maps `f` over `items` on every core, keeping the order.
pub fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<U>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verification thread"))
            .collect()
    })
}

/// Per-stream summary of what was checked.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StreamSummary {
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_hash: String,
    pub last_hash: String,
    pub entries: u64,
    /// Highest signed checkpoint that matched this chain.
    pub checkpoint_seq: Option<u64>,
}

/// The outcome of a verification.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub entries: u64,
    pub checkpoints: usize,
    pub streams: BTreeMap<String, StreamSummary>,
    /// Tampering or damage, each naming the entry (`stream#seq`) and where it was found.
    pub problems: Vec<String>,
    /// Not tampering, but worth knowing (e.g. entries not yet under a signed checkpoint).
    pub warnings: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON (`ok` first), as the CLI and the admin API print it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "ok": self.ok(),
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "streams": self.streams,
            "problems": self.problems,
            "warnings": self.warnings,
        })
    }
}

/// Streaming chain checker.
pub struct Checker {
    checkpoints: HashMap<(String, u64), String>,
    checkpoint_list: Vec<Checkpoint>,
    report: Report,
    /// `stream#seq` names listed by redaction entries.
    listed: HashSet<String>,
    /// (name, by, where) of entries whose personal part is gone.
    redacted: Vec<(String, String, String)>,
    /// Only the hashes of entries named by `only` are checked against the chain (exports of
    /// a selection carry the whole chain separately).
    hashes: Option<HashMap<(String, u64), String>>,
    /// The whole log is checked (not an export of a selection).
    complete: bool,
    /// Redaction entries seen.
    seen_redactions: HashSet<String>,
    /// (stream, through_seq, anchor_hash, where) of streams that start after a checkpoint.
    needs_retention: Vec<(String, u64, String, String)>,
    /// (stream, through_seq, anchor_hash) recorded by retention entries.
    retained: HashSet<(String, u64, String)>,
}

impl Checker {
    /// `checkpoints`: checkpoint claims whose signatures were verified (see [`verify_jws`]).
    pub fn new(checkpoints: Vec<Checkpoint>) -> Self {
        Self {
            checkpoints: checkpoints
                .iter()
                .map(|c| ((c.stream.clone(), c.seq), c.hash.clone()))
                .collect(),
            report: Report {
                checkpoints: checkpoints.len(),
                ..Report::default()
            },
            checkpoint_list: checkpoints,
            listed: HashSet::new(),
            redacted: Vec::new(),
            hashes: None,
            complete: true,
            seen_redactions: HashSet::new(),
            needs_retention: Vec::new(),
            retained: HashSet::new(),
        }
    }

    /// For exports: records are a selection, so an erasure may have been recorded outside it.
    pub fn partial(mut self) -> Self {
        self.complete = false;
        self
    }

    /// Also remembers every link's hash, so [`Checker::check_member`] can match records
    /// of a filtered export against the chain.
    pub fn remembering_hashes(mut self) -> Self {
        self.hashes = Some(HashMap::new());
        self
    }

    fn problem(&mut self, s: String) {
        // A badly damaged file could produce millions; the first thousand say enough.
        if self.report.problems.len() < 1000 {
            self.report.problems.push(s);
        } else if self.report.problems.len() == 1000 {
            self.report
                .problems
                .push("... more problems not listed".into());
        }
    }

    /// Checks one link of the chain: `e`'s seq and prev against the previous entry of its
    /// stream, and the checkpoints. `where_` locates it for the report (a line, a key).
    pub fn link(&mut self, stream: &str, seq: u64, prev: &str, hash: &str, where_: &str) {
        let name = format!("{stream}#{seq}");
        if seq == 0 {
            self.problem(format!("{where_}: {name}: sequence numbers start at 1"));
            return;
        }
        self.report.entries += 1;
        if let Some(h) = self.hashes.as_mut() {
            h.insert((stream.to_owned(), seq), hash.to_owned());
        }
        let anchor = self
            .checkpoints
            .get(&(stream.to_owned(), seq.wrapping_sub(1)));
        let anchor = anchor.cloned();
        match self.report.streams.get(stream).cloned() {
            None => {
                let ok_start = if seq == 1 {
                    prev == GENESIS
                } else {
                    anchor.as_deref() == Some(prev)
                };
                if ok_start && seq > 1 {
                    // A stream that starts after a checkpoint was pruned: a retention entry
                    // must say so (checked in `finish`, for the whole log only).
                    self.needs_retention.push((
                        stream.to_owned(),
                        seq - 1,
                        prev.to_owned(),
                        where_.to_owned(),
                    ));
                }
                if !ok_start {
                    self.problem(if seq == 1 {
                        format!("{where_}: {name} is the first entry but does not start from the genesis hash")
                    } else {
                        format!(
                            "{where_}: the chain starts at {name} but no signed checkpoint anchors #{} (entries before it were removed, or {name} was altered)",
                            seq - 1
                        )
                    });
                }
                self.report.streams.insert(
                    stream.to_owned(),
                    StreamSummary {
                        first_seq: seq,
                        last_seq: seq,
                        first_hash: hash.to_owned(),
                        last_hash: hash.to_owned(),
                        entries: 1,
                        checkpoint_seq: None,
                    },
                );
            }
            Some(s) => {
                if seq <= s.last_seq {
                    self.problem(format!(
                        "{where_}: {name} comes after {stream}#{}: entries are reordered, duplicated or inserted",
                        s.last_seq
                    ));
                    return;
                } else if seq > s.last_seq + 1 {
                    let (a, b) = (s.last_seq + 1, seq - 1);
                    self.problem(if a == b {
                        format!("{where_}: {stream}#{a} is missing (deleted) between {stream}#{} and {name}", s.last_seq)
                    } else {
                        format!("{where_}: {stream}#{a}..#{b} are missing (deleted) between {stream}#{} and {name}", s.last_seq)
                    });
                } else if prev != s.last_hash {
                    self.problem(format!(
                        "{where_}: {name} does not follow {stream}#{} (its prev is not that entry's hash): inserted, or the chain was rewritten",
                        s.last_seq
                    ));
                }
                let st = self.report.streams.get_mut(stream).expect("present");
                st.last_seq = seq;
                st.last_hash = hash.to_owned();
                st.entries += 1;
            }
        }
        if let Some(cp) = self.checkpoints.get(&(stream.to_owned(), seq)).cloned() {
            if cp == hash {
                let st = self.report.streams.get_mut(stream).expect("present");
                st.checkpoint_seq = Some(seq);
            } else {
                self.problem(format!(
                    "{where_}: {name} does not match the signed checkpoint at #{seq}: an entry at or before it was altered and the chain rewritten"
                ));
            }
        }
    }

    /// Checks a full entry: its own hash and personal digest, then its link.
    pub fn push(&mut self, e: &Entry, where_: &str) {
        self.check_entry(e, where_);
        self.link(&e.stream, e.seq, &e.prev, &e.hash, where_);
    }

    /// Checks an entry on its own: hash, personal digest, erasure marker.
    pub fn check_entry(&mut self, e: &Entry, where_: &str) {
        let f = inspect(e, where_);
        self.absorb(f);
    }

    /// Takes in what [`inspect`] found (possibly on another thread).
    pub fn absorb(&mut self, f: Findings) {
        for p in f.problems {
            self.problem(p);
        }
        if let Some(r) = f.redacted {
            self.redacted.push(r);
        }
        if let Some(name) = f.redaction {
            // Each listed entry is remembered with the redaction that lists it.
            self.listed
                .extend(f.targets.into_iter().map(|t| format!("{t} by {name}")));
            self.seen_redactions.insert(name);
        }
        if let Some(r) = f.retention {
            self.retained.insert(r);
        }
    }

    /// For exports of a selection: `e` (already checked with [`Entry::compute_hash`]) must be
    /// the chain link at its seq.
    pub fn check_member(&mut self, e: &Entry, where_: &str) {
        let known = self
            .hashes
            .as_ref()
            .and_then(|h| h.get(&(e.stream.clone(), e.seq)))
            .cloned();
        match known {
            Some(h) if h == e.hash => {}
            Some(_) => self.problem(format!(
                "{where_}: {} is not the entry the chain holds at that position",
                e.name()
            )),
            None => self.problem(format!(
                "{where_}: {} is outside the exported chain",
                e.name()
            )),
        }
    }

    /// Ends the check: deletions at the end of a stream, erasures, uncovered tails.
    pub fn finish(mut self) -> Report {
        let mut cps: Vec<Checkpoint> = std::mem::take(&mut self.checkpoint_list);
        cps.sort_by(|a, b| (&a.stream, a.seq).cmp(&(&b.stream, b.seq)));
        for cp in &cps {
            match self.report.streams.get(&cp.stream).cloned() {
                Some(s) if cp.seq > s.last_seq => self.problem(format!(
                    "{}#{}..#{} are missing (deleted after the last entry; a checkpoint signed at {} covers #{})",
                    cp.stream,
                    s.last_seq + 1,
                    cp.seq,
                    cp.at_ms,
                    cp.seq
                )),
                None if cp.seq > 0
                    && !self
                        .retained
                        .contains(&(cp.stream.clone(), cp.seq, cp.hash.clone())) =>
                {
                    self.problem(format!(
                        "stream {} has a signed checkpoint at #{} but no entries (all deleted)",
                        cp.stream, cp.seq
                    ))
                }
                _ => {}
            }
        }
        for (name, by, where_) in std::mem::take(&mut self.redacted) {
            if self.listed.contains(&format!("{name} by {by}")) {
                continue;
            }
            if !self.complete && !self.seen_redactions.contains(&by) {
                self.report.warnings.push(format!(
                    "{where_}: {name} was erased by {by}, which is outside this export"
                ));
            } else {
                self.problem(format!(
                    "{where_}: {name}: marked as erased by {by}, but that redaction entry does not list it"
                ));
            }
        }
        if self.complete {
            for (stream, through, anchor, where_) in std::mem::take(&mut self.needs_retention) {
                if !self.retained.contains(&(stream.clone(), through, anchor)) {
                    self.problem(format!(
                        "{where_}: {stream}#1..#{through} are missing, and no retention entry records removing them (deleted)"
                    ));
                }
            }
        }
        for (name, s) in &self.report.streams {
            let covered = s.checkpoint_seq.unwrap_or(0);
            if s.last_seq > covered {
                self.report.warnings.push(format!(
                    "{name}#{}..#{} are not yet covered by a signed checkpoint (the next one covers them)",
                    covered.max(s.first_seq.saturating_sub(1)) + 1,
                    s.last_seq
                ));
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Redacted;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Entry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = Entry::seal(
                    "main",
                    seq,
                    Kind::Decision,
                    1000 + seq as i64,
                    &prev,
                    json!({"id": seq, "outcome": "Approved", "subject": "ps1:x"}),
                    Some(json!({"salt": "s", "ip": "192.0.2.1"})),
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn cp(e: &Entry) -> Checkpoint {
        Checkpoint {
            iss: "i".into(),
            stream: e.stream.clone(),
            seq: e.seq,
            hash: e.hash.clone(),
            at_ms: e.at_ms,
            iat: 0,
        }
    }

    fn check(entries: &[Entry], cps: Vec<Checkpoint>) -> Report {
        let mut c = Checker::new(cps);
        for (i, e) in entries.iter().enumerate() {
            c.push(e, &format!("line {}", i + 1));
        }
        c.finish()
    }

    #[test]
    fn an_intact_chain_passes_and_every_tampering_is_named() {
        let v = chain(6);
        let last = cp(&v[5]);
        let r = check(&v, vec![last.clone()]);
        assert!(r.ok(), "{:?}", r.problems);
        assert!(r.warnings.is_empty());

        let mut edited = v.clone();
        edited[2].body["outcome"] = json!("Declined");
        let r = check(&edited, vec![last.clone()]);
        assert!(
            r.problems[0].contains("main#3 was edited"),
            "{:?}",
            r.problems
        );

        let mut deleted = v.clone();
        deleted.remove(3);
        let r = check(&deleted, vec![last.clone()]);
        assert!(
            r.problems[0].contains("main#4 is missing"),
            "{:?}",
            r.problems
        );

        let mut tail = v.clone();
        tail.pop();
        let r = check(&tail, vec![last.clone()]);
        assert!(
            r.problems[0].contains("main#6..#6 are missing"),
            "{:?}",
            r.problems
        );

        let mut swapped = v.clone();
        swapped.swap(1, 2);
        let r = check(&swapped, vec![last.clone()]);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("main#2 comes after main#3")),
            "{:?}",
            r.problems
        );

        // Inserted: a forged entry, and every later one renumbered and rehashed.
        let mut inserted = v[..2].to_vec();
        let mut prev = inserted[1].hash.clone();
        let forged = Entry::seal(
            "main",
            3,
            Kind::Decision,
            1,
            &prev,
            json!({"outcome": "Approved"}),
            None,
        );
        prev = forged.hash.clone();
        inserted.push(forged);
        for e in &v[2..] {
            let r = Entry::seal(
                "main",
                e.seq + 1,
                e.kind,
                e.at_ms,
                &prev,
                e.body.clone(),
                e.personal.clone(),
            );
            prev = r.hash.clone();
            inserted.push(r);
        }
        let r = check(&inserted, vec![last.clone()]);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("main#6 does not match the signed checkpoint")),
            "{:?}",
            r.problems
        );

        // Personal data: edited, or removed without a redaction.
        let mut p = v.clone();
        p[0].personal.as_mut().unwrap()["ip"] = json!("198.51.100.7");
        assert!(check(&p, vec![]).problems[0].contains("main#1: its personal data was edited"));
        let mut p = v.clone();
        p[0].personal = None;
        assert!(check(&p, vec![]).problems[0].contains("removed without a redaction"));
    }

    #[test]
    fn erasure_with_a_redaction_entry_keeps_the_chain_valid() {
        let mut v = chain(3);
        let red = Entry::seal(
            "main",
            4,
            Kind::Redaction,
            2000,
            &v[2].hash,
            json!({"subject": "ps1:x", "targets": ["main#1", "main#3"]}),
            None,
        );
        v.push(red);
        for i in [0, 2] {
            v[i].personal = None;
            v[i].redacted = Some(Redacted {
                at_ms: 2000,
                by: "main#4".into(),
            });
        }
        let r = check(&v, vec![]);
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.warnings.len(), 1, "nothing signed yet");
        // A redaction marker no redaction entry lists is caught.
        v[1].personal = None;
        v[1].redacted = Some(Redacted {
            at_ms: 2000,
            by: "main#4".into(),
        });
        assert!(check(&v, vec![]).problems[0].contains("main#2: marked as erased"));
    }

    #[test]
    fn a_pruned_start_needs_a_checkpoint_anchor_and_a_retention_entry() {
        let v = chain(5);
        // Entries 1-2 gone, anchored by the checkpoint at #2, but nothing says retention
        // removed them: a deletion.
        let r = check(&v[2..], vec![cp(&v[1]), cp(&v[4])]);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("main#1..#2 are missing, and no retention entry")),
            "{:?}",
            r.problems
        );
        // Recorded by a retention entry: fine.
        let mut kept = v[2..].to_vec();
        kept.push(Entry::seal(
            "main",
            6,
            Kind::Retention,
            3000,
            &v[4].hash,
            json!({"stream": "main", "through_seq": 2, "anchor_hash": v[1].hash, "removed": 2}),
            None,
        ));
        let r = check(&kept, vec![cp(&v[1]), cp(&v[4])]);
        assert!(r.ok(), "{:?}", r.problems);
        // No anchor at all.
        let r = check(&v[2..], vec![cp(&v[4])]);
        assert!(
            r.problems[0].contains("no signed checkpoint anchors #2"),
            "{:?}",
            r.problems
        );
        // Crafted sequence numbers do not panic.
        let mut zero = v[..1].to_vec();
        zero[0].seq = 0;
        assert!(!check(&zero, vec![]).ok());
    }
}
