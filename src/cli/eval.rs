//! `inherence eval --data DIR --out DIR`.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::Failure;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::config::Config;
use crate::eval::{self, Framing, ReportMeta, data::Split, plot, report};

fn parse_frame(spec: Option<&str>) -> Result<Framing, Failure> {
    let Some(spec) = spec else {
        return Ok(Framing::AsIs);
    };
    let bad = || {
        Failure::usage(format!(
            "--frame {spec:?}: expected WIDTHxHEIGHT, e.g. 640x480"
        ))
    };
    let (w, h) = spec.split_once('x').ok_or_else(bad)?;
    let (width, height): (usize, usize) =
        (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(32..=8192).contains(&width) || !(32..=8192).contains(&height) {
        return Err(bad());
    }
    Ok(Framing::Camera { width, height })
}

pub fn run(
    cfg: &Config,
    data: &Path,
    out: &Path,
    workers: Option<usize>,
    frame: Option<&str>,
) -> Result<(), Failure> {
    let framing = parse_frame(frame)?;
    let split = Split::load(data).map_err(|e| Failure::usage(e.to_string()))?;
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", out.display())))?;
    let workers = workers
        .unwrap_or_else(|| cfg.runtime.effective_concurrency())
        .max(1);
    let mut runtime = cfg.runtime.clone();
    runtime.concurrency = workers;
    let rt = crate::biometric::runtime::OrtRuntime::load(&runtime)?;
    let engine = super::build_engine(cfg, &rt, &runtime)?;
    let t0 = Instant::now();
    let total = {
        let mut s: std::collections::HashSet<&str> =
            split.images.iter().map(|r| r.image.as_str()).collect();
        s.extend(split.pad.iter().map(|p| p.image.as_str()));
        s.len()
    };
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {wide_bar} {pos}/{len} images, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let outcomes = eval::process_images(&engine, &split, workers, framing, &|| bar.inc(1));
    bar.finish_and_clear();
    let wall = t0.elapsed().as_secs_f64();
    let report = eval::build_report(
        &engine,
        &split,
        &outcomes,
        ReportMeta {
            generated_at: rfc3339(SystemClock.now_secs()),
            onnxruntime: rt.version(),
            wall_time_s: wall,
        },
    );
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).map_err(|e| {
            Failure::runtime(format!("cannot write {}: {e}", out.join(name).display()))
        })
    };
    write(
        "report.json",
        serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::runtime(e.to_string()))?
            .as_bytes(),
    )?;
    write("report.md", report::markdown(&report).as_bytes())?;
    report::per_image_csv(&out.join("per_image.csv"), &outcomes)
        .map_err(|e| Failure::runtime(format!("per_image.csv: {e}")))?;
    report::embeddings_csv(&out.join("embeddings.csv"), &outcomes)
        .map_err(|e| Failure::runtime(format!("embeddings.csv: {e}")))?;
    let dists = eval::pair_distances(&split, &outcomes);
    let (live, spoof) = eval::pad_scores(&split, &outcomes);
    plot::det(&out.join("det.svg"), &dists, &live, &spoof)
        .map_err(|e| Failure::runtime(format!("det.svg: {e}")))?;
    plot::roc(&out.join("roc.svg"), &dists)
        .map_err(|e| Failure::runtime(format!("roc.svg: {e}")))?;
    let fm = &report.face_match;
    eprintln!(
        "{} images, {} pairs, {} PAD samples in {:.1} s; FTA {}; face match AUC {:.4}, EER {:.4}, FNMR@FMR0.1% {:.4}; liveness AUC {:.4}, APCER {:.4}, BPCER {:.4}",
        report.images,
        report.pairs,
        report.pad_samples,
        wall,
        report.failure_to_acquire.count,
        fm.overall.auc.unwrap_or(f64::NAN),
        fm.overall.eer.unwrap_or(f64::NAN),
        fm.overall
            .fnmr_at_fmr
            .get("0.001")
            .copied()
            .unwrap_or(f64::NAN),
        report.liveness.auc.unwrap_or(f64::NAN),
        report.liveness.apcer,
        report.liveness.bpcer,
    );
    eprintln!(
        "wrote {}/report.json, report.md, per_image.csv, embeddings.csv, det.svg, roc.svg",
        out.display()
    );
    Ok(())
}
