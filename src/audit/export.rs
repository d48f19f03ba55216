//! Exports for auditors, and their offline verification.
//!
//! An export is a directory:
//!
//! ```text
//! records.jsonl | records.csv   the selected entries (JSON lines; or CSV with the entry too)
//! chain.jsonl                   {stream, seq, prev, hash} of every entry from the signed
//!                               checkpoint before the selection to the one after it
//! checkpoints.jsonl             the signed checkpoints in that span ({key, jws})
//! jwks.json                     the public keys that signed checkpoints and the manifest
//! manifest.json                 range, filter, counts, first/last hash, checkpoint, sha256
//!                               of every file above
//! manifest.jws                  the same manifest, signed (JWS)
//! ```
//!
//! [`verify_dir`] needs nothing but the directory (and, to be sure of the keys, a JWK set
//! obtained separately from the bank's published keys).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::record::{CHECKPOINT_TYP, Checkpoint, Entry, Kind, MANIFEST_TYP};
use super::verify::{Checker, Findings, Report, inspect, par_map, verify_jws};

/// Entries checked per parallel batch.
const BATCH: usize = 8192;
use super::{AuditError, AuditLog, key, parse_key};

/// Export file format of the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    pub fn file(self) -> &'static str {
        match self {
            Format::Jsonl => "records.jsonl",
            Format::Csv => "records.csv",
        }
    }
}

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Entries at or after this time (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Entries before this time.
    pub to_ms: Option<i64>,
    /// Only decisions of this client.
    pub client: Option<String>,
    /// Only decisions and erasures of this tenant.
    pub tenant: Option<String>,
}

/// CSV columns: readable fields first, then the entry itself (so the row can be verified).
pub const CSV_COLUMNS: &[&str] = &[
    "stream",
    "seq",
    "kind",
    "at",
    "outcome",
    "reasons",
    "client",
    "subject",
    "channel",
    "purpose",
    "flow_id",
    "session_id",
    "workflow_id",
    "workflow_version",
    "attempt",
    "acr",
    "amr",
    "factors",
    "prior_amr",
    "prior_auth_time",
    "liveness_method",
    "liveness_score",
    "face_match_score",
    "liveness_thresholds",
    "face_match_thresholds",
    "models",
    "authorization_details_sha256",
    "ip",
    "user_agent",
    "frames_sha256",
    "redacted_by",
    "prev",
    "hash",
    "entry",
];

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Some(other) => other.to_string(),
    }
}

/// The CSV row of an entry.
pub fn csv_row(e: &Entry) -> Vec<String> {
    let b = |k: &str| cell(e.body.get(k));
    let p = |k: &str| cell(e.personal.as_ref().and_then(|p| p.get(k)));
    CSV_COLUMNS
        .iter()
        .map(|c| match *c {
            "stream" => e.stream.clone(),
            "seq" => e.seq.to_string(),
            "kind" => cell(Some(&json!(e.kind))),
            "at" => crate::clock::rfc3339_millis(e.at_ms),
            "ip" | "user_agent" | "frames_sha256" => p(c),
            "redacted_by" => e
                .redacted
                .as_ref()
                .map(|r| r.by.clone())
                .unwrap_or_default(),
            "prev" => e.prev.clone(),
            "hash" => e.hash.clone(),
            "entry" => serde_json::to_string(e).expect("serialises"),
            other => b(other),
        })
        .collect()
}

fn sha256_file(path: &Path) -> Result<String, AuditError> {
    let mut f = File::open(path).map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)
            .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |e| AuditError::Io(format!("{}: {e}", path.display()))
}

/// Per-stream facts of an export.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct StreamManifest {
    pub stream: String,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_hash: Option<String>,
    pub last_hash: Option<String>,
    /// The chain span exported (`chain.jsonl`).
    pub chain_from: u64,
    pub chain_to: u64,
    /// The highest signed checkpoint in the span.
    pub checkpoint_seq: Option<u64>,
    pub checkpoint_hash: Option<String>,
}

/// Builds the CSV rows of a batch of stored entries on every core, then writes them in order.
fn write_csv_rows(
    w: &mut csv::Writer<BufWriter<File>>,
    pending: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), AuditError> {
    let rows = par_map(pending, |(k, raw)| {
        serde_json::from_slice::<Entry>(raw)
            .map(|e| csv_row(&e))
            .map_err(|e| AuditError::Invalid(format!("stored entry {k}: {e}")))
    });
    for r in rows {
        w.write_record(r?)
            .map_err(|e| AuditError::Io(e.to_string()))?;
    }
    pending.clear();
    Ok(())
}

enum Sink {
    Json(BufWriter<File>),
    Csv(Box<csv::Writer<BufWriter<File>>>),
}

/// The fields an export needs to route an entry, read without building its body.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    stream: &'a str,
    seq: u64,
    kind: Kind,
    at_ms: i64,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    hash: &'a str,
    #[serde(borrow)]
    body: PeekBody<'a>,
}

#[derive(serde::Deserialize)]
struct PeekBody<'a> {
    #[serde(default, borrow)]
    client: Option<&'a str>,
    #[serde(default, borrow)]
    tenant: Option<&'a str>,
}

struct Link {
    seq: u64,
    prev: String,
    hash: String,
}

/// Writes an export of `sel` into `dir` (created; must be empty) and returns the manifest.
/// With `max_records`, gives up (with [`AuditError::TooLarge`]) as soon as more match.
pub fn export_dir(
    log: &AuditLog,
    sel: &Selection,
    format: Format,
    dir: &Path,
    max_records: Option<u64>,
) -> Result<Value, AuditError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(AuditError::Invalid(format!(
            "{} is not empty: export into a new directory",
            dir.display()
        )));
    }
    let rec_path = dir.join(format.file());
    let file = BufWriter::with_capacity(1 << 20, File::create(&rec_path).map_err(io(&rec_path))?);
    let csv_err = |e: csv::Error| AuditError::Io(e.to_string());
    let mut out = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(file);
            w.write_record(CSV_COLUMNS).map_err(csv_err)?;
            Sink::Csv(Box::new(w))
        }
        Format::Jsonl => Sink::Json(file),
    };
    // One pass: selected entries are written as they come; every link is kept to write the
    // chain span afterwards.
    let mut links: BTreeMap<String, Vec<Link>> = BTreeMap::new();
    let mut pending: Vec<(String, Vec<u8>)> = Vec::new();
    let mut streams: BTreeMap<String, StreamManifest> = BTreeMap::new();
    let mut records = 0u64;
    for k in log.keys()? {
        let Some(raw) = log.raw_entry(&k)? else {
            continue;
        };
        let e: Peek = serde_json::from_slice(&raw).map_err(|e| {
            AuditError::Invalid(format!(
                "stored entry {k} is unreadable ({e}): run `inherence audit verify` and resolve it first"
            ))
        })?;
        if key(e.stream, e.seq) != k {
            return Err(AuditError::Invalid(format!(
                "stored entry {k} holds {}#{}: run `inherence audit verify` and resolve it first",
                e.stream, e.seq
            )));
        }
        links.entry(e.stream.to_owned()).or_default().push(Link {
            seq: e.seq,
            prev: e.prev.to_owned(),
            hash: e.hash.to_owned(),
        });
        let takes = sel.from_ms.is_none_or(|f| e.at_ms >= f)
            && sel.to_ms.is_none_or(|t| e.at_ms < t)
            && match &sel.client {
                None => true,
                Some(c) => e.kind == Kind::Decision && e.body.client == Some(c.as_str()),
            }
            && match &sel.tenant {
                None => true,
                // Decisions and erasures of the tenant (entries from before tenants are the
                // default tenant's); retention entries concern the whole deployment.
                Some(t) => {
                    e.kind != Kind::Retention
                        && e.body.tenant.unwrap_or(crate::tenant::TenantId::DEFAULT) == t
                }
            };
        if !takes {
            continue;
        }
        records += 1;
        if max_records.is_some_and(|m| records > m) {
            return Err(AuditError::TooLarge(max_records.unwrap_or(0)));
        }
        let s = streams
            .entry(e.stream.to_owned())
            .or_insert_with(|| StreamManifest {
                stream: e.stream.to_owned(),
                ..Default::default()
            });
        s.records += 1;
        s.first_seq.get_or_insert(e.seq);
        s.first_hash.get_or_insert_with(|| e.hash.to_owned());
        s.last_seq = Some(e.seq);
        s.last_hash = Some(e.hash.to_owned());
        match &mut out {
            Sink::Csv(w) => {
                pending.push((k, raw));
                if pending.len() >= BATCH {
                    write_csv_rows(w, &mut pending)?;
                }
            }
            // The stored bytes are the entry's JSON: written as they are.
            Sink::Json(w) => {
                w.write_all(&raw).map_err(io(&rec_path))?;
                w.write_all(b"\n").map_err(io(&rec_path))?;
            }
        }
    }
    match out {
        Sink::Csv(mut w) => {
            write_csv_rows(&mut w, &mut pending)?;
            w.flush().map_err(io(&rec_path))?
        }
        Sink::Json(mut w) => w.flush().map_err(io(&rec_path))?,
    }

    // Checkpoints by stream.
    let mut cps: BTreeMap<String, Vec<(u64, String, String)>> = BTreeMap::new();
    for (k, jws) in log.checkpoints()? {
        if let Some((s, seq)) = parse_key(&k) {
            cps.entry(s.to_owned())
                .or_default()
                .push((seq, k.clone(), jws));
        }
    }
    let chain_path = dir.join("chain.jsonl");
    let cp_path = dir.join("checkpoints.jsonl");
    let mut chain = BufWriter::new(File::create(&chain_path).map_err(io(&chain_path))?);
    let mut cpf = BufWriter::new(File::create(&cp_path).map_err(io(&cp_path))?);
    let (mut chain_n, mut cp_n) = (0u64, 0u64);
    for s in streams.values_mut() {
        let (Some(first), Some(last)) = (s.first_seq, s.last_seq) else {
            continue;
        };
        let list = cps.get(&s.stream).map(Vec::as_slice).unwrap_or_default();
        // From the checkpoint before the selection (or the stream's first entry)...
        let stream_links = &links[&s.stream];
        let oldest = stream_links.first().map(|l| l.seq).unwrap_or(first);
        let from = list
            .iter()
            .map(|c| c.0)
            .filter(|&q| q < first && q + 1 >= oldest)
            .max()
            .map(|q| q + 1)
            .unwrap_or(oldest);
        // ...to the checkpoint after it (or the newest entry).
        let newest = stream_links.last().map(|l| l.seq).unwrap_or(last);
        let to = list
            .iter()
            .map(|c| c.0)
            .filter(|&q| q >= last && q <= newest)
            .min()
            .unwrap_or(newest);
        s.chain_from = from;
        s.chain_to = to;
        for l in stream_links.iter().filter(|l| l.seq >= from && l.seq <= to) {
            serde_json::to_writer(
                &mut chain,
                &json!({"stream": s.stream, "seq": l.seq, "prev": l.prev, "hash": l.hash}),
            )
            .map_err(|e| AuditError::Io(e.to_string()))?;
            chain.write_all(b"\n").map_err(io(&chain_path))?;
            chain_n += 1;
        }
        for (seq, k, jws) in list.iter().filter(|c| c.0 + 1 >= from && c.0 <= to) {
            serde_json::to_writer(&mut cpf, &json!({"key": k, "jws": jws}))
                .map_err(|e| AuditError::Io(e.to_string()))?;
            cpf.write_all(b"\n").map_err(io(&cp_path))?;
            cp_n += 1;
            if *seq >= first.saturating_sub(1) && s.checkpoint_seq.is_none_or(|c| *seq > c) {
                s.checkpoint_seq = Some(*seq);
                s.checkpoint_hash = stream_links
                    .iter()
                    .find(|l| l.seq == *seq)
                    .map(|l| l.hash.clone());
            }
        }
    }
    chain.flush().map_err(io(&chain_path))?;
    cpf.flush().map_err(io(&cp_path))?;
    drop((chain, cpf));

    // The key that signs the manifest is among the exported keys.
    log.publish_signer()?;
    let jwks_path = dir.join("jwks.json");
    std::fs::write(
        &jwks_path,
        serde_json::to_vec_pretty(&log.signer_jwks()?).expect("serialises"),
    )
    .map_err(io(&jwks_path))?;

    let mut files = serde_json::Map::new();
    for name in [
        format.file(),
        "chain.jsonl",
        "checkpoints.jsonl",
        "jwks.json",
    ] {
        files.insert(name.into(), json!(sha256_file(&dir.join(name))?));
    }
    let manifest = json!({
        "format": "inherence-audit-export/1",
        "iss": log.issuer(),
        "generated_at_ms": log.now_ms(),
        "selection": {
            "from_ms": sel.from_ms,
            "to_ms": sel.to_ms,
            "client": sel.client,
            "tenant": sel.tenant,
        },
        "records_format": format,
        "counts": { "records": records, "chain": chain_n, "checkpoints": cp_n },
        "streams": streams.values().collect::<Vec<_>>(),
        "files": files,
    });
    let jws = log.sign_manifest(&manifest)?;
    let mp = dir.join("manifest.json");
    std::fs::write(
        &mp,
        serde_json::to_vec_pretty(&manifest).expect("serialises"),
    )
    .map_err(io(&mp))?;
    let jp = dir.join("manifest.jws");
    std::fs::write(&jp, format!("{jws}\n")).map_err(io(&jp))?;
    Ok(manifest)
}

/// Verifies an export directory offline. `pinned`: the JWK set to trust (otherwise the
/// export's own `jwks.json`, which proves integrity but not origin).
pub fn verify_dir(dir: &Path, pinned: Option<&JwkSet>) -> Result<Report, AuditError> {
    let read = |name: &str| -> Result<Vec<u8>, AuditError> {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| AuditError::Io(format!("{}: {e}", p.display())))
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let own: Option<JwkSet> = match serde_json::from_slice(&read("jwks.json")?) {
        Ok(j) => Some(j),
        Err(e) => {
            problems.push(format!("jwks.json is not a JWK set: {e}"));
            None
        }
    };
    let jwks = match (pinned, own.as_ref()) {
        (Some(p), _) => p.clone(),
        (None, Some(o)) => {
            warnings.push(
                "keys taken from the export's own jwks.json: pass --jwks with the bank's published keys to check origin too"
                    .into(),
            );
            o.clone()
        }
        (None, None) => JwkSet { keys: vec![] },
    };
    let raw = read("manifest.jws")?;
    let jws = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(&raw)).into_owned();
    let manifest: Value = match verify_jws(&jws, &jwks, MANIFEST_TYP) {
        Ok(m) => m,
        Err(e) => {
            problems.push(format!("manifest.jws: {e}"));
            return Ok(Report {
                problems,
                warnings,
                ..Report::default()
            });
        }
    };
    match serde_json::from_slice::<Value>(&read("manifest.json")?) {
        Ok(m) if m == manifest => {}
        _ => problems.push("manifest.json differs from the signed manifest (manifest.jws)".into()),
    }
    let format = match manifest["records_format"].as_str() {
        Some("csv") => Format::Csv,
        _ => Format::Jsonl,
    };
    let known = [
        format.file(),
        "chain.jsonl",
        "checkpoints.jsonl",
        "jwks.json",
    ];
    let files = manifest["files"].as_object().cloned().unwrap_or_default();
    for name in known {
        if !files.contains_key(name) {
            problems.push(format!("the signed manifest does not list {name}"));
        }
    }
    for (name, want) in &files {
        if !known.contains(&name.as_str()) {
            problems.push(format!("the manifest lists an unexpected file {name:?}"));
            continue;
        }
        let got = sha256_file(&dir.join(name))?;
        if Some(got.as_str()) != want.as_str() {
            problems.push(format!(
                "{name} was altered (its sha256 differs from the signed manifest)"
            ));
        }
    }

    // Checkpoints.
    let mut cps: Vec<Checkpoint> = Vec::new();
    for (i, line) in read_lines(&dir.join("checkpoints.jsonl"))?.enumerate() {
        let line = line?;
        let where_ = format!("checkpoints.jsonl line {}", i + 1);
        let item: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{where_}: unreadable: {e}"));
                continue;
            }
        };
        match verify_jws::<Checkpoint>(
            item["jws"].as_str().unwrap_or_default(),
            &jwks,
            CHECKPOINT_TYP,
        ) {
            Ok(c) if item["key"].as_str() == Some(key(&c.stream, c.seq).as_str()) => cps.push(c),
            Ok(c) => problems.push(format!(
                "{where_}: signed for {}#{}, filed elsewhere",
                c.stream, c.seq
            )),
            Err(e) => problems.push(format!("{where_}: {e}")),
        }
    }
    let ncp = cps.len();
    let mut checker = Checker::new(cps).remembering_hashes().partial();
    let mut chain_n = 0u64;
    for (i, line) in read_lines(&dir.join("chain.jsonl"))?.enumerate() {
        let line = line?;
        let where_ = format!("chain.jsonl line {}", i + 1);
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{where_}: unreadable: {e}"));
                continue;
            }
        };
        match (
            v["stream"].as_str(),
            v["seq"].as_u64(),
            v["prev"].as_str(),
            v["hash"].as_str(),
        ) {
            (Some(s), Some(q), Some(p), Some(h)) => {
                chain_n += 1;
                checker.link(s, q, p, h, &where_);
            }
            _ => problems.push(format!("{where_}: incomplete link")),
        }
    }
    // Records.
    let mut seen: BTreeMap<String, StreamManifest> = BTreeMap::new();
    let mut records = 0u64;
    let mut on_entry = |checker: &mut Checker, e: Entry, f: Findings, where_: String| {
        records += 1;
        checker.absorb(f);
        checker.check_member(&e, &where_);
        let s = seen.entry(e.stream.clone()).or_default();
        s.records += 1;
        s.first_seq.get_or_insert(e.seq);
        s.first_hash.get_or_insert_with(|| e.hash.clone());
        s.last_seq = Some(e.seq);
        s.last_hash = Some(e.hash.clone());
    };
    match format {
        Format::Jsonl => {
            // In batches: parsing and hashing run on every core, the chain checks in order.
            let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH);
            let path = dir.join(format.file());
            let mut lines = read_lines(&path)?.enumerate();
            loop {
                batch.clear();
                for (i, line) in lines.by_ref().take(BATCH) {
                    batch.push((i + 1, line?));
                }
                if batch.is_empty() {
                    break;
                }
                let checked = par_map(&batch, |(n, line)| {
                    let where_ = format!("{} line {n}", format.file());
                    match serde_json::from_str::<Entry>(line) {
                        Ok(e) => {
                            let f = inspect(&e, &where_);
                            Ok((e, f, where_))
                        }
                        Err(e) => Err(format!("{where_}: unreadable: {e}")),
                    }
                });
                for c in checked {
                    match c {
                        Ok((e, f, where_)) => on_entry(&mut checker, e, f, where_),
                        Err(p) => problems.push(p),
                    }
                }
            }
        }
        Format::Csv => {
            let path = dir.join(format.file());
            let mut r = csv::Reader::from_path(&path).map_err(|e| AuditError::Io(e.to_string()))?;
            let header: Vec<String> = r
                .headers()
                .map_err(|e| AuditError::Io(e.to_string()))?
                .iter()
                .map(str::to_owned)
                .collect();
            if header != CSV_COLUMNS {
                problems.push(format!(
                    "{}: the header is not the documented one",
                    format.file()
                ));
            }
            let mut rows = r.records().enumerate();
            let mut batch: Vec<(usize, csv::StringRecord)> = Vec::with_capacity(BATCH);
            loop {
                batch.clear();
                for (i, row) in rows.by_ref().take(BATCH) {
                    match row {
                        Ok(r) => batch.push((i + 1, r)),
                        Err(e) => problems.push(format!(
                            "{} row {}: unreadable: {e}",
                            format.file(),
                            i + 1
                        )),
                    }
                }
                if batch.is_empty() {
                    break;
                }
                let checked = par_map(&batch, |(n, row)| {
                    let where_ = format!("{} row {n}", format.file());
                    let e: Entry =
                        match serde_json::from_str(row.get(CSV_COLUMNS.len() - 1).unwrap_or("")) {
                            Ok(e) => e,
                            Err(e) => {
                                return Err(format!(
                                    "{where_}: the entry column is unreadable: {e}"
                                ));
                            }
                        };
                    let mut f = inspect(&e, &where_);
                    let want = csv_row(&e);
                    for (c, (got, want)) in CSV_COLUMNS.iter().zip(row.iter().zip(&want)) {
                        if got != want {
                            f.problem(format!(
                                "{where_}: {}: column {c} does not match the entry",
                                e.name()
                            ));
                        }
                    }
                    Ok((e, f, where_))
                });
                for c in checked {
                    match c {
                        Ok((e, f, where_)) => on_entry(&mut checker, e, f, where_),
                        Err(p) => problems.push(p),
                    }
                }
            }
        }
    }
    let mut report = checker.finish();
    // The signed counts and hashes.
    let counts = &manifest["counts"];
    for (what, got) in [
        ("records", records),
        ("chain", chain_n),
        ("checkpoints", ncp as u64),
    ] {
        if counts[what].as_u64() != Some(got) {
            problems.push(format!(
                "the manifest says {} {what}, the export holds {got}",
                counts[what]
            ));
        }
    }
    let signed: Vec<StreamManifest> =
        serde_json::from_value(manifest["streams"].clone()).unwrap_or_default();
    for s in &signed {
        let got = seen.get(&s.stream).cloned().unwrap_or_default();
        if (
            got.records,
            got.first_seq,
            got.last_seq,
            &got.first_hash,
            &got.last_hash,
        ) != (
            s.records,
            s.first_seq,
            s.last_seq,
            &s.first_hash,
            &s.last_hash,
        ) {
            problems.push(format!(
                "stream {}: records, first or last hash differ from the signed manifest",
                s.stream
            ));
        }
    }
    for s in seen.keys() {
        if !signed.iter().any(|m| &m.stream == s) {
            problems.push(format!("stream {s} is not in the signed manifest"));
        }
    }
    problems.append(&mut report.problems);
    warnings.append(&mut report.warnings);
    report.problems = problems;
    report.warnings = warnings;
    report.checkpoints = ncp;
    Ok(report)
}

fn read_lines(path: &Path) -> Result<impl Iterator<Item = Result<String, AuditError>>, AuditError> {
    let f = File::open(path).map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
    let p = path.display().to_string();
    Ok(BufReader::with_capacity(1 << 20, f)
        .lines()
        .map(move |l| l.map_err(|e| AuditError::Io(format!("{p}: {e}")))))
}
