//! Writing `report.json`, `report.md` and `per_image.csv`.

use std::fmt::Write as _;
use std::path::Path;

use super::{AtThreshold, ImageOutcome, MatchFigures, Report};

fn f4(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

fn pct(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

fn match_row(name: &str, m: &MatchFigures) -> String {
    let at = |k: &str| {
        let res = m.fmr_resolvable.get(k).copied().unwrap_or(false);
        match (m.fnmr_at_fmr.get(k), m.threshold_at_fmr.get(k)) {
            (Some(f), Some(t)) => format!("{f:.4} ({t:.4}){}", if res { "" } else { " *" }),
            _ => "-".into(),
        }
    };
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        m.genuine,
        m.impostor,
        f4(m.auc),
        f4(m.eer),
        f4(m.eer_threshold),
        at("0.01"),
        at("0.001"),
        at("0.0001")
    )
}

/// A table of rates at several score thresholds; `columns` names the raw threshold and the
/// two error rates.
fn threshold_table(s: &mut String, columns: [&str; 3], rows: &[AtThreshold]) {
    let _ = writeln!(
        s,
        "| approve iff score > | {} | {} | {} |\n|---|---|---|---|",
        columns[0], columns[1], columns[2]
    );
    for t in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.score_threshold,
            f4(t.raw_threshold),
            pct(t.fmr),
            pct(t.fnmr)
        );
    }
}

/// Renders the human-readable report.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Inherence evaluation - `{}`\n", r.data);
    let _ = writeln!(
        s,
        "Generated {}; ONNX Runtime {}; wall time {:.1} s.\n",
        r.generated_at, r.onnxruntime, r.wall_time_s
    );
    let _ = writeln!(
        s,
        "Images {}, pairs {}, PAD samples {}.\n",
        r.images, r.pairs, r.pad_samples
    );
    let _ = writeln!(s, "## Failure to acquire\n");
    let _ = writeln!(
        s,
        "Overall **{} / {} images ({})**, of which {} could not be decoded.\n",
        r.failure_to_acquire.count,
        r.images,
        pct(r.failure_to_acquire.rate),
        r.failure_to_acquire.decode_errors
    );
    let _ = writeln!(s, "| group | images | FTA | rate |\n|---|---|---|---|");
    for (g, f) in &r.failure_to_acquire.by_group {
        let _ = writeln!(s, "| {g} | {} | {} | {} |", f.images, f.fta, pct(f.rate));
    }
    if !r.failure_to_acquire.images.is_empty() {
        let _ = writeln!(
            s,
            "\nImages without a face: {}",
            r.failure_to_acquire.images.join(", ")
        );
    }
    let fm = &r.face_match;
    let _ = writeln!(s, "\n## Face match ({})\n", fm.metric);
    let head = "| slice | genuine | impostor | AUC | EER | EER thr | FNMR@FMR1e-2 (thr) | FNMR@FMR1e-3 (thr) | FNMR@FMR1e-4 (thr) |\n|---|---|---|---|---|---|---|---|---|\n";
    s.push_str(head);
    s.push_str(&match_row("all pairs, FTA = non-match", &fm.overall));
    s.push_str(&match_row("FTA pairs excluded", &fm.excluding_fta));
    s.push_str(&match_row("cosine (thr = -cos)", &fm.cosine));
    let _ = writeln!(
        s,
        "\n`*` = target FMR below 1/N_impostor: the threshold is the smallest impostor distance (observed FMR 0), not a resolved estimate.\n"
    );
    let d = &fm.at_default_threshold;
    let _ = writeln!(
        s,
        "**Default decision** (approve iff score > {}, i.e. distance < {}): FMR {}, FNMR {}.\n",
        d.score_threshold,
        f4(d.raw_threshold),
        pct(d.fmr),
        pct(d.fnmr)
    );
    threshold_table(
        &mut s,
        ["distance <", "FMR", "FNMR"],
        &fm.at_score_thresholds,
    );
    let _ = writeln!(s, "\n### By group (both images in the group)\n");
    s.push_str(head);
    for (g, m) in &fm.by_group {
        s.push_str(&match_row(g, m));
    }
    let _ = writeln!(
        s,
        "\nImpostor pairs are sampled across all identities, so within-group impostor counts are small and the group's own 1e-3 / 1e-4 thresholds rest on one or two pairs. At the overall thresholds instead:\n"
    );
    let _ = writeln!(
        s,
        "| group | FNMR (FMR) at overall FMR1e-2 thr | at FMR1e-3 thr | at FMR1e-4 thr |\n|---|---|---|---|"
    );
    for (g, r) in &fm.by_group_at_overall_threshold {
        let cell = |k: &str| {
            r.get(k).map_or_else(
                || "-".into(),
                |x| format!("{} ({})", pct(x.fnmr), pct(x.fmr)),
            )
        };
        let _ = writeln!(
            s,
            "| {g} | {} | {} | {} |",
            cell("0.01"),
            cell("0.001"),
            cell("0.0001")
        );
    }
    let _ = writeln!(s);
    let cal: Vec<String> = fm
        .suggested_calibration
        .iter()
        .map(|p| format!("[{:.4}, {:.0}]", p[0], p[1]))
        .collect();
    let _ = writeln!(
        s,
        "Score anchors these distances suggest (`[biometric.face_match] calibration`): `[{}]`\n",
        cal.join(", ")
    );
    let l = &r.liveness;
    let _ = writeln!(s, "## Liveness\n");
    let _ = writeln!(
        s,
        "{} live / {} attack samples; AUC {}, EER {} (P(real) {}).\n",
        l.live,
        l.spoof,
        f4(l.auc),
        f4(l.eer),
        f4(l.eer_p_real)
    );
    let _ = writeln!(
        s,
        "At the configured threshold (approve iff score > {}, P(real) > {}): **APCER {}**, **BPCER {}**. No face found on {} PAD images (scored 0, i.e. rejected).\n",
        l.threshold,
        f4(l.threshold_p_real),
        pct(l.apcer),
        pct(l.bpcer),
        l.fta
    );
    threshold_table(
        &mut s,
        ["P(real) >", "APCER", "BPCER"],
        &l.at_score_thresholds,
    );
    let _ = writeln!(s);
    if !l.decode_errors.is_empty() {
        let _ = writeln!(
            s,
            "Left out (could not be decoded): {}\n",
            l.decode_errors.join("; ")
        );
    }
    let _ = writeln!(
        s,
        "| dataset | live | attacks | AUC | APCER | BPCER |\n|---|---|---|---|---|---|"
    );
    for (k, v) in &l.by_dataset {
        let _ = writeln!(
            s,
            "| {k} | {} | {} | {} | {} | {} |",
            v.live,
            v.spoof,
            f4(v.auc),
            v.apcer.map_or_else(|| "-".into(), pct),
            v.bpcer.map_or_else(|| "-".into(), pct)
        );
    }
    let _ = writeln!(s, "\nAPCER by attack type:");
    for (k, v) in &l.apcer_by_attack_type {
        let _ = writeln!(s, "- {k}: {}", pct(*v));
    }
    let _ = writeln!(
        s,
        "\n### P(real) on the face-match images (bona fide people, but photos and scans, not live captures)\n"
    );
    let _ = writeln!(
        s,
        "| slice | n | share approved | median P(real) |\n|---|---|---|---|"
    );
    for (k, v) in &l.supplementary_match_images {
        let _ = writeln!(
            s,
            "| {k} | {} | {} | {} |",
            v.n,
            pct(v.share_approved),
            f4(v.median_p_real)
        );
    }
    let _ = writeln!(s, "\n## Timing in this run (ms per image)\n");
    let _ = writeln!(
        s,
        "| stage | n | p50 | p95 | p99 | mean |\n|---|---|---|---|---|---|"
    );
    for (k, v) in &r.timings_ms {
        let _ = writeln!(
            s,
            "| {k} | {} | {} | {} | {} | {} |",
            v.n,
            f4(v.p50),
            f4(v.p95),
            f4(v.p99),
            f4(v.mean)
        );
    }
    let _ = writeln!(s, "\n## Models\n");
    for (k, v) in &r.models {
        let _ = writeln!(s, "- `{k}` {v}");
    }
    let _ = writeln!(
        s,
        "\nPlots: `det.svg`, `roc.svg`. Per image: `per_image.csv`, `embeddings.csv`."
    );
    s
}

/// Writes per-image figures as CSV.
pub fn per_image_csv(path: &Path, outcomes: &[ImageOutcome]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "image",
        "status",
        "width",
        "height",
        "greyscale",
        "faces",
        "det_score",
        "x",
        "y",
        "w",
        "h",
        "reye_x",
        "reye_y",
        "leye_x",
        "leye_y",
        "nose_x",
        "nose_y",
        "rmouth_x",
        "rmouth_y",
        "lmouth_x",
        "lmouth_y",
        "align_shrink",
        "face_quality",
        "face_luminance",
        "p_real",
        "liveness_score",
        "t_decode_ms",
        "t_detect_ms",
        "t_align_ms",
        "t_embed_ms",
        "t_liveness_ms",
        "t_total_ms",
        "error",
    ])?;
    for o in outcomes {
        let mut rec: Vec<String> = vec![
            o.image.clone(),
            o.status.clone(),
            o.width.to_string(),
            o.height.to_string(),
            o.greyscale.to_string(),
            o.faces_found.to_string(),
        ];
        match &o.face {
            Some(f) => {
                rec.push(format!("{:.5}", f.score));
                rec.extend(f.bbox.iter().map(|v| format!("{v:.3}")));
                rec.extend(
                    f.landmarks
                        .iter()
                        .flat_map(|p| p.iter().map(|v| format!("{v:.3}"))),
                );
            }
            None => rec.extend(std::iter::repeat_n(String::new(), 15)),
        }
        let opt = |v: Option<f64>, p: usize| v.map_or_else(String::new, |x| format!("{x:.p$}"));
        rec.push(opt(o.align_shrink, 3));
        rec.push(opt(
            o.quality.as_ref().map(|q| f64::from(q.face_quality)),
            2,
        ));
        rec.push(opt(
            o.quality.as_ref().map(|q| f64::from(q.face_luminance)),
            2,
        ));
        rec.push(opt(o.p_real, 6));
        rec.push(opt(o.liveness_score, 2));
        match &o.timings {
            Some(t) => rec.extend(
                [
                    t.decode_ms,
                    t.detect_ms,
                    t.align_ms,
                    t.embed_ms,
                    t.liveness_ms,
                    t.total_ms,
                ]
                .iter()
                .map(|v| format!("{v:.3}")),
            ),
            None => rec.extend(std::iter::repeat_n(String::new(), 6)),
        }
        rec.push(o.error.clone().unwrap_or_default());
        w.write_record(&rec)?;
    }
    w.flush()
}

/// Writes every embedding (`image, e0 .. e127`; images without a face are left out).
pub fn embeddings_csv(path: &Path, outcomes: &[ImageOutcome]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    let dim = outcomes
        .iter()
        .find_map(|o| o.embedding.as_ref().map(Vec::len))
        .unwrap_or(0);
    let mut header = vec!["image".to_owned()];
    header.extend((0..dim).map(|i| format!("e{i}")));
    w.write_record(&header)?;
    for o in outcomes {
        if let Some(e) = &o.embedding {
            let mut rec = vec![o.image.clone()];
            rec.extend(e.iter().map(|v| format!("{v:.7}")));
            w.write_record(&rec)?;
        }
    }
    w.flush()
}
