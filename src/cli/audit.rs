//! `inherence audit verify | export | erase | prune | frames`: the PSD2 evidence tools.
//!
//! `verify` and `export` read a snapshot of the embedded store (safe while the server runs);
//! `erase` and `prune` change the log, so with the embedded store they need the server stopped
//! (the running server offers the same through its admin API).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;

use super::{Failure, print_json};
use crate::audit::AuditLog;
use crate::audit::export::{self, Format, Selection};
use crate::audit::verify::Report;
use crate::clock::{Clock, SystemClock, parse_rfc3339_millis};
use crate::config::Config;
use crate::keys::KeyManager;
use crate::store::Store;
use crate::store::StoreBackend;

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
    }
}
