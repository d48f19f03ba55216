//! `inherence-tools audit-bench`: append latency on a durable store, export and verify speed
//! of a large audit log, on synthetic decisions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use inherence::audit::export::{self, Format, Selection};
use inherence::audit::record::{Channel, Evidence, Personal};
use inherence::audit::{AuditLog, AuditSettings, DecisionInput};
use inherence::cli::Failure;
use inherence::clock::{Clock, SystemClock};
use inherence::config::Config;
use inherence::keys::{KeyManager, KeySettings};
use inherence::store::Store;
use inherence::store::embedded::EmbeddedStore;

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

pub fn run(cfg: &Config, records: u64, appends: u64, dir: Option<PathBuf>) -> Result<(), Failure> {
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
