//! `inherence audit verify | export | erase | prune | bench`: the PSD2 evidence tools.
//!
//! `verify` and `export` read a snapshot of the embedded store (safe while the server runs);
//! `erase` and `prune` change the log, so with the embedded store they need the server stopped
//! (the running server offers the same through its admin API).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Subcommand;

use super::{Failure, print_json};
use crate::audit::export::{self, Format, Selection};
use crate::audit::record::{Channel, Evidence, Personal};
use crate::audit::verify::Report;
use crate::audit::{AuditLog, AuditSettings, DecisionInput};
use crate::clock::{Clock, SystemClock, parse_rfc3339_millis};
use crate::config::{Config, StoreBackend};
use crate::keys::{KeyManager, KeySettings};
use crate::store::Store;
use crate::store::embedded::EmbeddedStore;

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the stored audit log (default) or an export directory: every entry's hash, the
    /// chain, the signed checkpoints; names what was edited, deleted, inserted or reordered.
    /// Exits 1 when anything is wrong.
    Verify {
        /// Verify this export directory (offline; the store is not needed).
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// Trust only these public keys (a JWK set from the bank's published keys).
        #[arg(long, value_name = "FILE")]
        jwks: Option<PathBuf>,
        /// Also check the stored log against this witness file (`[audit] witness_file`):
        /// names a wiped or truncated log, a rolled-back head, a rewritten entry.
        #[arg(long, value_name = "FILE")]
        witness: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export entries with a signed manifest into a new directory.
    Export {
        /// From this time (inclusive): YYYY-MM-DD or RFC 3339 (UTC, `Z`).
        #[arg(long)]
        from: Option<String>,
        /// To this time (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Only the decisions of this client (OpenID client id, or api-key:<id>).
        #[arg(long)]
        client: Option<String>,
        /// Only the decisions and erasures of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv"])]
        format: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Erase a subject's personal data from the audit log (the chain stays verifiable).
    Erase {
        subject: String,
        /// The subject's tenant.
        #[arg(long, default_value = crate::tenant::TenantId::DEFAULT)]
        tenant: String,
        #[arg(long, default_value = "erasure request")]
        reason: String,
    },
    /// Apply the retention period now (normally the server does it hourly).
    Prune,
    /// Print the public keys that signed checkpoints and exports (a JWK set): archive it and
    /// give it to auditors for `verify --jwks`.
    Keys,
    /// Print the public key of `[audit] signing_key_file` (a JWK set), read from the key file
    /// and never from the store: the pin auditors pass to `verify --jwks`.
    Pin,
    /// Print the pseudonym under which SUBJECT appears in the log (to find their records).
    Pseudonym {
        subject: String,
        /// The subject's tenant (the same id in two tenants has two pseudonyms).
        #[arg(long, default_value = crate::tenant::TenantId::DEFAULT)]
        tenant: String,
    },
    /// Write the frames kept for a decision (`[audit] keep_frames`) into DIR, after checking
    /// them against the digests in its audit record.
    Frames {
        /// The decision's id (`body.id` of the record).
        decision: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Measure append latency and export/verify speed on synthetic decisions.
    Bench {
        /// Entries to export and verify.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
        records: u64,
        /// Appends timed on a durable (fsynced) embedded store.
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
        appends: u64,
        /// Working directory: a new or empty one (a temporary one by default); removed after.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn host_of(cfg: &Config) -> String {
    url::Url::parse(&cfg.oidc.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into())
}

pub(super) fn log_on(
    cfg: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
) -> Result<AuditLog, Failure> {
    let (keys, _) = KeyManager::open(
        store.clone(),
        clock.clone(),
        cfg.keys.clone(),
        &host_of(cfg),
    )
    .map_err(|e| Failure::runtime(format!("signing keys: {e}")))?;
    AuditLog::new(
        store,
        clock,
        Arc::new(keys),
        cfg.audit.clone(),
        cfg.oidc.issuer.clone(),
        cfg.keys.algorithms[0],
    )
    .with_key_file()
    .map_err(|e| Failure::runtime(format!("audit signing key: {e}")))
}

/// The audit log over a read-only snapshot (embedded) or the shared Redis.
fn reading(cfg: &Config) -> Result<AuditLog, Failure> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = crate::store::open_snapshot(&cfg.store, clock.clone(), &crate::namespaces())
        .map_err(|e| Failure::runtime(format!("cannot read the store: {e}")))?;
    log_on(cfg, store, clock)
}

/// The audit log over the store itself (embedded: the server must be stopped).
fn writing(cfg: &Config) -> Result<AuditLog, Failure> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = crate::store::open(&cfg.store, clock.clone(), &crate::namespaces()).map_err(|e| {
        Failure::runtime(match cfg.store.backend {
            StoreBackend::Embedded => format!(
                "cannot open the store at {} (stop the server first, or use its admin API): {e}",
                cfg.store.path.display()
            ),
            StoreBackend::Redis => format!("cannot use Redis: {e}"),
        })
    })?;
    log_on(cfg, store, clock)
}

fn time_arg(name: &str, v: Option<&str>) -> Result<Option<i64>, Failure> {
    v.map(|s| {
        parse_rfc3339_millis(s).ok_or_else(|| {
            Failure::usage(format!(
                "--{name} {s:?}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"
            ))
        })
    })
    .transpose()
}

fn print_report(r: &Report, json_out: bool, what: &str) -> Result<(), Failure> {
    if json_out {
        print_json(&r.to_json())?;
    } else {
        for (name, s) in &r.streams {
            println!(
                "stream {name}: #{}..#{} ({} entries), last hash {}, signed up to #{}",
                s.first_seq,
                s.last_seq,
                s.entries,
                s.last_hash,
                s.checkpoint_seq
                    .map(|c| c.to_string())
                    .unwrap_or("-".into())
            );
        }
        for w in &r.warnings {
            println!("warning: {w}");
        }
        for p in &r.problems {
            println!("PROBLEM: {p}");
        }
    }
    if r.ok() {
        eprintln!(
            "{what}: OK ({} entries, {} signed checkpoints)",
            r.entries, r.checkpoints
        );
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{what}: {} problem(s) found; the evidence was altered or damaged",
            r.problems.len()
        )))
    }
}

fn read_jwks(path: Option<&Path>) -> Result<Option<jsonwebtoken::jwk::JwkSet>, Failure> {
    path.map(|p| {
        let b = std::fs::read(p)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))?;
        serde_json::from_slice(&b)
            .map_err(|e| Failure::usage(format!("{} is not a JWK set: {e}", p.display())))
    })
    .transpose()
}

pub fn run(cfg: &Config, action: AuditAction) -> Result<(), Failure> {
    match action {
        AuditAction::Verify {
            export,
            jwks,
            witness,
            json,
        } => {
            let pinned = read_jwks(jwks.as_deref())?;
            let seen = witness
                .as_deref()
                .map(crate::audit::witness::read)
                .transpose()
                .map_err(|e| Failure::usage(e.to_string()))?;
            match export {
                Some(_) if seen.is_some() => Err(Failure::usage(
                    "--witness checks the stored log; verify an export without it",
                )),
                Some(dir) => {
                    let r = export::verify_dir(&dir, pinned.as_ref())
                        .map_err(|e| Failure::usage(e.to_string()))?;
                    print_report(&r, json, &format!("export {}", dir.display()))
                }
                None => {
                    let log = reading(cfg)?;
                    let mut r = log
                        .verify_store(pinned.as_ref())
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    if let Some(seen) = &seen {
                        crate::audit::witness::check(&log, seen, &mut r)
                            .map_err(|e| Failure::runtime(e.to_string()))?;
                    }
                    print_report(&r, json, "audit log")
                }
            }
        }
        AuditAction::Export {
            from,
            to,
            client,
            tenant,
            format,
            out,
        } => {
            let tenant = tenant.map(|t| super::tenant_arg(cfg, &t)).transpose()?;
            let sel = Selection {
                from_ms: time_arg("from", from.as_deref())?,
                to_ms: time_arg("to", to.as_deref())?,
                client,
                tenant: tenant.map(String::from),
            };
            if let (Some(f), Some(t)) = (sel.from_ms, sel.to_ms)
                && f >= t
            {
                return Err(Failure::usage("--from must be before --to"));
            }
            let format = if format == "csv" {
                Format::Csv
            } else {
                Format::Jsonl
            };
            let log = reading(cfg)?;
            let m = export::export_dir(&log, &sel, format, &out, None)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            eprintln!(
                "exported {} records ({} chain links, {} checkpoints) to {}; check it with `inherence audit verify --export {}`",
                m["counts"]["records"],
                m["counts"]["chain"],
                m["counts"]["checkpoints"],
                out.display(),
                out.display()
            );
            Ok(())
        }
        AuditAction::Erase {
            subject,
            tenant,
            reason,
        } => {
            let tenant = super::tenant_arg(cfg, &tenant)?;
            let log = writing(cfg)?;
            let n = log
                .redact_subject(&tenant, &subject, &reason)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            eprintln!("erased the personal data of {n} audit entries");
            Ok(())
        }
        AuditAction::Prune => {
            let log = writing(cfg)?;
            let n = log.prune().map_err(|e| Failure::runtime(e.to_string()))?;
            eprintln!(
                "removed {n} entries older than {} days",
                cfg.audit.retention_days
            );
            Ok(())
        }
        AuditAction::Keys => {
            let log = reading(cfg)?;
            log.publish_signer()
                .map_err(|e| Failure::runtime(e.to_string()))?;
            print_json(
                &log.signer_jwks()
                    .map_err(|e| Failure::runtime(e.to_string()))?,
            )
        }
        AuditAction::Pin => {
            if cfg.audit.signing_key_file.is_none() {
                return Err(Failure::usage(
                    "[audit] signing_key_file is not set: checkpoints are signed with keys the store holds, which a store writer could use; set it, then pin its key",
                ));
            }
            let log = reading(cfg)?;
            print_json(&log.pinned_jwks().unwrap_or_default())
        }
        AuditAction::Pseudonym { subject, tenant } => {
            let tenant = super::tenant_arg(cfg, &tenant)?;
            let log = reading(cfg)?;
            println!(
                "{}",
                log.pseudonym(&tenant, &subject)
                    .map_err(|e| Failure::runtime(e.to_string()))?
            );
            Ok(())
        }
        AuditAction::Frames { decision, out } => {
            let log = reading(cfg)?;
            let entry = log
                .find_decision(&decision)
                .map_err(|e| Failure::runtime(e.to_string()))?
                .ok_or_else(|| {
                    Failure::usage(format!("no decision {decision} in the audit log"))
                })?;
            let want: Vec<String> = entry
                .personal
                .as_ref()
                .and_then(|p| p["frames_sha256"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let frames = log
                .frames(&decision)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            if frames.is_empty() {
                return Err(Failure::usage(format!(
                    "no frames are kept for {decision} (keep_frames off, expired, or erased)"
                )));
            }
            std::fs::create_dir_all(&out)
                .map_err(|e| Failure::runtime(format!("{}: {e}", out.display())))?;
            for (i, f) in frames.iter().enumerate() {
                use sha2::Digest as _;
                let got = hex::encode(sha2::Sha256::digest(f));
                if want.get(i) != Some(&got) {
                    return Err(Failure::runtime(format!(
                        "frame {i} of {decision} does not match the digest in its audit record"
                    )));
                }
                let p = out.join(format!("{decision}-{i}.jpg"));
                std::fs::write(&p, f)
                    .map_err(|e| Failure::runtime(format!("{}: {e}", p.display())))?;
            }
            eprintln!(
                "wrote {} frames of {decision} to {} (each matches its digest in {})",
                frames.len(),
                out.display(),
                entry.name()
            );
            Ok(())
        }
        AuditAction::Bench {
            records,
            appends,
            dir,
        } => bench(cfg, records, appends, dir),
    }
}

/// A realistic decision (the size of a real OpenID step-up record).
fn synthetic(i: u64) -> DecisionInput<'static> {
    let mut e = Evidence::new(
        format!("00000000-0000-4000-8000-{i:012}"),
        Channel::Oidc,
        if i.is_multiple_of(10) {
            "Declined"
        } else {
            "Approved"
        },
        format!("bank-{}", i % 3),
    );
    e.subject = Some(format!("customer-{}", i % 50_000));
    e.flow_id = Some(format!("flow{i:020}"));
    e.attempt = 1;
    e.purpose = Some("verify".into());
    e.acr = Some("biometric".into());
    e.amr = vec!["face".into()];
    e.factors = vec!["knowledge".into(), "inherence".into()];
    e.prior_amr = vec!["pwd".into()];
    e.liveness_method = Some("PASSIVE".into());
    e.liveness_score = Some(79.31 + (i % 7) as f64 / 100.0);
    e.face_match_score = Some(67.74 - (i % 11) as f64 / 10.0);
    e.liveness_thresholds = Some([50.0, 50.0]);
    e.face_match_thresholds = Some([60.0, 60.0]);
    e.reasons = vec!["APPROVED".into()];
    e.models = vec![
        "yunet-2023mar@8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4".into(),
        "dlib-resnet-v1@d64f08080d2cb9a5caaa417723f0157320ab4ed0ac9f9c0283f69b5fc494120b".into(),
        "minifasnet-v2@a0ed2b3c6d2e1c0e5a0b0f5b8b1e5b0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f".into(),
    ];
    e.authorization_details_sha256 =
        Some("3f4c1a2b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708".into());
    DecisionInput {
        evidence: e,
        personal: Some(Personal {
            salt: String::new(),
            ip: Some("192.0.2.10".into()),
            forwarded_for: None,
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0".into()),
            accept_language: Some("en-GB,en;q=0.9".into()),
            frames_sha256: vec!["a".repeat(64), "b".repeat(64), "c".repeat(64)],
        }),
        frames: &[],
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn bench(cfg: &Config, records: u64, appends: u64, dir: Option<PathBuf>) -> Result<(), Failure> {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp =
                std::env::temp_dir().join(format!("inherence-audit-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Failure::usage(format!(
            "{} is not empty: give a new or empty working directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Failure::runtime(e.to_string()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = AuditSettings::default();
    let keys_cfg = KeySettings::default();
    let make = |store: Store| -> Result<AuditLog, Failure> {
        let (keys, _) = KeyManager::open(store.clone(), clock.clone(), keys_cfg.clone(), "bench")
            .map_err(|e| Failure::runtime(e.to_string()))?;
        Ok(AuditLog::new(
            store,
            clock.clone(),
            Arc::new(keys),
            settings.clone(),
            cfg.oidc.issuer.clone(),
            keys_cfg.algorithms[0],
        ))
    };

    // 1. Append latency on the durable embedded store (each entry fsynced, as in production).
    let durable: Store = Arc::new(
        EmbeddedStore::open(&dir.join("durable"), clock.clone())
            .map_err(|e| Failure::runtime(e.to_string()))?,
    );
    let log = make(durable)?;
    let mut lat = Vec::with_capacity(appends as usize);
    for i in 0..appends {
        let d = synthetic(i);
        let t = Instant::now();
        log.record_decision(d)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "append (durable embedded store, fsync per entry, {appends} entries, checkpoint every {}): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        settings.checkpoint_every,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    drop(log);

    // 2. Export and verify a large log (seeded in memory: the seeding is not what is timed).
    let mem: Store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
    let log = make(mem)?;
    let bar = indicatif::ProgressBar::new(records);
    let t = Instant::now();
    for i in 0..records {
        log.record_decision(synthetic(i))
            .map_err(|e| Failure::runtime(e.to_string()))?;
        if i % 10_000 == 0 {
            bar.set_position(i);
        }
    }
    log.checkpoint_now(true)
        .map_err(|e| Failure::runtime(e.to_string()))?;
    bar.finish_and_clear();
    let seed = t.elapsed().as_secs_f64();
    println!(
        "seeded {records} entries in memory in {seed:.1} s ({:.0} appends/s without fsync)",
        records as f64 / seed
    );
    for format in [Format::Jsonl, Format::Csv] {
        let out = dir.join(format!("export-{}", format.file()));
        let t = Instant::now();
        let m = export::export_dir(&log, &Selection::default(), format, &out, None)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        let te = t.elapsed().as_secs_f64();
        let size: u64 = std::fs::read_dir(&out)
            .map_err(|e| Failure::runtime(e.to_string()))?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        let t = Instant::now();
        let r = export::verify_dir(&out, None).map_err(|e| Failure::runtime(e.to_string()))?;
        let tv = t.elapsed().as_secs_f64();
        println!(
            "{}: export {} records in {te:.1} s, verify the export in {tv:.1} s ({}; {:.0} MB on disk)",
            format.file(),
            m["counts"]["records"],
            if r.ok() { "OK" } else { "FAILED" },
            size as f64 / 1e6
        );
        if !r.ok() {
            return Err(Failure::runtime(format!(
                "verify failed: {:?}",
                &r.problems[..r.problems.len().min(5)]
            )));
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    let t = Instant::now();
    let r = log
        .verify_store(None)
        .map_err(|e| Failure::runtime(e.to_string()))?;
    println!(
        "verify the stored log ({} entries): {:.1} s ({})",
        r.entries,
        t.elapsed().as_secs_f64(),
        if r.ok() { "OK" } else { "FAILED" }
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
