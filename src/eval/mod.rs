//! `inherence eval`: accuracy of the engine on a labelled split. Every image is decoded,
//! detected, embedded and scored for liveness exactly once; pairs only compare embeddings.

pub mod attacks;
pub mod camera;
pub mod data;
pub mod liveness;
pub mod metrics;
pub mod plot;
pub mod report;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::biometric::detect::Face;
use crate::biometric::engine::Timings;
use crate::biometric::quality::Quality;
use crate::biometric::score::round2;
use crate::biometric::{Engine, Want, decode, embed, imageops};
use data::Split;
use metrics::{FMR_TARGETS, Summary, percentile, summarise};

/// How one image went.
#[derive(Clone, Debug, Serialize)]
pub struct ImageOutcome {
    pub image: String,
    /// `ok`, `no_face` or `decode_error`.
    pub status: String,
    pub error: Option<String>,
    pub width: usize,
    pub height: usize,
    pub greyscale: bool,
    pub faces_found: usize,
    pub face: Option<Face>,
    pub quality: Option<Quality>,
    pub align_shrink: Option<f64>,
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
    pub p_real: Option<f64>,
    pub p_models: Vec<(String, f32)>,
    pub liveness_score: Option<f64>,
    pub timings: Option<Timings>,
}

/// Optional transformation of every image before analysis.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    /// Analyse the files as they are.
    AsIs,
    /// Fit each photo into a `w` x `h` black canvas (aspect kept) and encode it as JPEG q90,
    /// like a camera frame from the capture page.
    Camera { width: usize, height: usize },
}

/// Processes every image of the split once, on `workers` threads, calling `tick` after each.
pub fn process_images(
    engine: &Engine,
    split: &Split,
    workers: usize,
    framing: Framing,
    tick: &(dyn Fn() + Sync),
) -> Vec<ImageOutcome> {
    let match_images: HashSet<&str> = split.images.iter().map(|r| r.image.as_str()).collect();
    let mut all: Vec<String> = split.images.iter().map(|r| r.image.clone()).collect();
    let mut seen: HashSet<String> = all.iter().cloned().collect();
    for p in &split.pad {
        if seen.insert(p.image.clone()) {
            all.push(p.image.clone());
        }
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ImageOutcome>>> = Mutex::new(vec![None; all.len()]);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= all.len() {
                        break;
                    }
                    let rel = &all[i];
                    let want = Want {
                        embedding: match_images.contains(rel.as_str()),
                        liveness: true,
                    };
                    let out = process_one(engine, &split.root, rel, want, framing);
                    results.lock().expect("results lock")[i] = Some(out);
                    tick();
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|o| o.expect("every image processed"))
        .collect()
}

fn process_one(
    engine: &Engine,
    root: &Path,
    rel: &str,
    want: Want,
    framing: Framing,
) -> ImageOutcome {
    let mut out = ImageOutcome {
        image: rel.to_owned(),
        status: "decode_error".into(),
        error: None,
        width: 0,
        height: 0,
        greyscale: false,
        faces_found: 0,
        face: None,
        quality: None,
        align_shrink: None,
        embedding: None,
        p_real: None,
        p_models: Vec::new(),
        liveness_score: None,
        timings: None,
    };
    let bytes = match std::fs::read(root.join(rel)) {
        Ok(b) => b,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let bytes = match framing {
        Framing::AsIs => bytes,
        Framing::Camera { width, height } => {
            let framed = decode::decode(&bytes, &engine.settings().limits).and_then(|d| {
                decode::encode_jpeg(&imageops::letterbox(&d.image, width, height), 90)
            });
            match framed {
                Ok(b) => b,
                Err(e) => {
                    out.error = Some(format!("{}: {e}", e.code()));
                    return out;
                }
            }
        }
    };
    match engine.analyze(&bytes, want) {
        Err(e) => out.error = Some(format!("{}: {e}", e.code())),
        Ok(a) => {
            out.width = a.image.width;
            out.height = a.image.height;
            out.greyscale = a.image.greyscale;
            out.faces_found = a.faces_found;
            out.timings = Some(a.timings.clone());
            match a.face {
                None => out.status = "no_face".into(),
                Some(f) => {
                    out.status = "ok".into();
                    out.align_shrink = Some(f.align_shrink);
                    out.embedding = f.embedding;
                    out.quality = Some(f.quality);
                    if let Some(l) = f.liveness {
                        out.p_real = Some(l.verdict.p_real);
                        out.liveness_score = Some(l.verdict.score);
                        out.p_models = l.per_model;
                    }
                    out.face = Some(f.face);
                }
            }
        }
    }
    out
}

/// Face-match figures in the report's shape.
#[derive(Clone, Debug, Serialize)]
pub struct MatchFigures {
    pub genuine: usize,
    pub impostor: usize,
    pub auc: Option<f64>,
    pub eer: Option<f64>,
    pub eer_threshold: Option<f64>,
    /// Keyed "0.01", "0.001", "0.0001".
    pub fnmr_at_fmr: BTreeMap<String, f64>,
    pub threshold_at_fmr: BTreeMap<String, f64>,
    /// Whether each target FMR is resolvable with this many impostor pairs.
    pub fmr_resolvable: BTreeMap<String, bool>,
}

impl From<&Summary> for MatchFigures {
    fn from(s: &Summary) -> Self {
        let key = |t: f64| {
            FMR_TARGETS
                .iter()
                .find(|(f, _)| *f == t)
                .map_or_else(|| t.to_string(), |(_, k)| (*k).to_owned())
        };
        Self {
            genuine: s.genuine,
            impostor: s.impostor,
            auc: s.auc,
            eer: s.eer,
            eer_threshold: s.eer_threshold,
            fnmr_at_fmr: s.at_fmr.iter().map(|a| (key(a.target), a.fnmr)).collect(),
            threshold_at_fmr: s
                .at_fmr
                .iter()
                .map(|a| (key(a.target), a.threshold))
                .collect(),
            fmr_resolvable: s
                .at_fmr
                .iter()
                .map(|a| (key(a.target), a.resolvable))
                .collect(),
        }
    }
}

/// FMR and FNMR of one slice at one threshold.
#[derive(Clone, Debug, Serialize)]
pub struct Rates {
    pub threshold: f64,
    pub fmr: f64,
    pub fnmr: f64,
}

/// Rates at the configured decision threshold.
#[derive(Clone, Debug, Serialize)]
pub struct AtThreshold {
    /// Score threshold (approve iff score > this).
    pub score_threshold: f64,
    /// The raw threshold it corresponds to.
    pub raw_threshold: Option<f64>,
    pub fmr: f64,
    pub fnmr: f64,
}

/// Everything `report.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub data: String,
    pub onnxruntime: String,
    pub images: usize,
    pub pairs: usize,
    pub pad_samples: usize,
    pub models: BTreeMap<String, String>,
    pub settings: serde_json::Value,
    pub failure_to_acquire: Fta,
    pub face_match: FaceMatchReport,
    pub liveness: LivenessReport,
    pub timings_ms: BTreeMap<String, StagePercentiles>,
    pub wall_time_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fta {
    pub count: usize,
    pub rate: f64,
    pub decode_errors: usize,
    pub by_group: BTreeMap<String, GroupFta>,
    pub images: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupFta {
    pub images: usize,
    pub fta: usize,
    pub rate: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaceMatchReport {
    pub metric: String,
    #[serde(flatten)]
    pub overall: MatchFigures,
    pub excluding_fta: MatchFigures,
    pub cosine: MatchFigures,
    pub by_group: BTreeMap<String, MatchFigures>,
    /// Per group, FMR and FNMR at the overall thresholds for FMR 1e-2 / 1e-3 / 1e-4 (keyed as
    /// `fnmr_at_fmr`): comparable across groups, unlike thresholds fitted to each group's few
    /// impostor pairs.
    pub by_group_at_overall_threshold: BTreeMap<String, BTreeMap<String, Rates>>,
    pub at_default_threshold: AtThreshold,
    /// FMR / FNMR at other score thresholds, to choose one.
    pub at_score_thresholds: Vec<AtThreshold>,
    /// Score anchors `[distance, score]` these results suggest (100 / 70 / 50 / 30 / 0 at
    /// distance 0 / FMR 1e-4 / 1e-3 / 1e-2 / 1.0).
    pub suggested_calibration: Vec<[f64; 2]>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LivenessReport {
    pub live: usize,
    pub spoof: usize,
    pub auc: Option<f64>,
    pub eer: Option<f64>,
    /// P(real) at the EER.
    pub eer_p_real: Option<f64>,
    /// Score threshold used for APCER/BPCER (approve iff score > threshold).
    pub threshold: f64,
    pub threshold_p_real: Option<f64>,
    /// Share of attacks approved.
    pub apcer: f64,
    /// Share of live samples declined.
    pub bpcer: f64,
    /// APCER / BPCER at other score thresholds (`fmr` = APCER, `fnmr` = BPCER).
    pub at_score_thresholds: Vec<AtThreshold>,
    pub fta: usize,
    pub decode_errors: Vec<String>,
    pub by_dataset: BTreeMap<String, PadFigures>,
    pub apcer_by_attack_type: BTreeMap<String, f64>,
    /// P(real) on the face-match images (bona fide people, not live captures) by slice.
    pub supplementary_match_images: BTreeMap<String, Supplementary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PadFigures {
    pub live: usize,
    pub spoof: usize,
    pub auc: Option<f64>,
    pub apcer: Option<f64>,
    pub bpcer: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Supplementary {
    pub n: usize,
    pub share_approved: f64,
    pub median_p_real: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StagePercentiles {
    pub n: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub mean: Option<f64>,
}

pub fn stage_percentiles(v: &[f64]) -> StagePercentiles {
    StagePercentiles {
        n: v.len(),
        p50: percentile(v, 50.0),
        p95: percentile(v, 95.0),
        p99: percentile(v, 99.0),
        mean: (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64),
    }
}

/// Score thresholds every report tabulates.
pub const SCORE_THRESHOLDS: [f64; 5] = [10.0, 30.0, 50.0, 70.0, 90.0];

fn share(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// Computes the report from per-image outcomes.
pub fn build_report(
    engine: &Engine,
    split: &Split,
    outcomes: &[ImageOutcome],
    meta: ReportMeta,
) -> Report {
    let by_path: HashMap<&str, &ImageOutcome> =
        outcomes.iter().map(|o| (o.image.as_str(), o)).collect();
    let group_of: HashMap<&str, &str> = split
        .images
        .iter()
        .map(|r| (r.image.as_str(), r.group.as_str()))
        .collect();

    // Failure to acquire on face-match images.
    let mut fta_images = Vec::new();
    let mut by_group: BTreeMap<String, GroupFta> = BTreeMap::new();
    let mut decode_errors = 0;
    for r in &split.images {
        let o = by_path[r.image.as_str()];
        let g = by_group.entry(r.group.clone()).or_insert(GroupFta {
            images: 0,
            fta: 0,
            rate: 0.0,
        });
        g.images += 1;
        if o.embedding.is_none() {
            g.fta += 1;
            fta_images.push(r.image.clone());
            if o.status == "decode_error" {
                decode_errors += 1;
            }
        }
    }
    for g in by_group.values_mut() {
        g.rate = share(g.fta, g.images);
    }
    let fta = Fta {
        count: fta_images.len(),
        rate: share(fta_images.len(), split.images.len()),
        decode_errors,
        by_group,
        images: fta_images,
    };

    // Pairs.
    let emb = |p: &str| by_path.get(p).and_then(|o| o.embedding.as_deref());
    let mut gen_d = Vec::new();
    let mut imp_d = Vec::new();
    let mut gen_x = Vec::new();
    let mut imp_x = Vec::new();
    let mut gen_c = Vec::new();
    let mut imp_c = Vec::new();
    let mut groups: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for p in &split.pairs {
        let (d, c) = match (emb(&p.a), emb(&p.b)) {
            (Some(a), Some(b)) => (
                f64::from(embed::distance(a, b)),
                Some(-f64::from(embed::cosine(a, b))),
            ),
            _ => (f64::INFINITY, None),
        };
        let (gd, gx, gc) = if p.same {
            (&mut gen_d, &mut gen_x, &mut gen_c)
        } else {
            (&mut imp_d, &mut imp_x, &mut imp_c)
        };
        gd.push(d);
        if d.is_finite() {
            gx.push(d);
        }
        gc.push(c.unwrap_or(f64::INFINITY));
        if let (Some(ga), Some(gb)) = (group_of.get(p.a.as_str()), group_of.get(p.b.as_str()))
            && ga == gb
        {
            let e = groups.entry((*ga).to_owned()).or_default();
            if p.same {
                e.0.push(d);
            } else {
                e.1.push(d);
            }
        }
    }
    let overall = summarise(&gen_d, &imp_d);
    let fm = &engine.settings().face_match;
    // Approve iff score > threshold; scores are rounded to two decimals as reported.
    let match_at = |score_threshold: f64| {
        let approved = |d: f64| d.is_finite() && round2(fm.calibration.score(d)) > score_threshold;
        AtThreshold {
            score_threshold,
            raw_threshold: fm.calibration.raw_at(score_threshold),
            fmr: share(imp_d.iter().filter(|&&d| approved(d)).count(), imp_d.len()),
            fnmr: share(gen_d.iter().filter(|&&d| !approved(d)).count(), gen_d.len()),
        }
    };
    let at_default = match_at(fm.decline_threshold);
    let thr = |t: f64| {
        overall
            .at_fmr
            .iter()
            .find(|a| a.target == t)
            .map_or(f64::NAN, |a| a.threshold)
    };
    let suggested_calibration = vec![
        [0.0, 100.0],
        [thr(0.0001), 70.0],
        [thr(0.001), 50.0],
        [thr(0.01), 30.0],
        [1.0, 0.0],
    ];
    let face_match = FaceMatchReport {
        metric:
            "euclidean distance; accept iff distance < threshold; FTA pairs count as non-matches"
                .into(),
        overall: (&overall).into(),
        excluding_fta: (&summarise(&gen_x, &imp_x)).into(),
        cosine: (&summarise(&gen_c, &imp_c)).into(),
        by_group: groups
            .iter()
            .map(|(g, (ge, im))| (g.clone(), (&summarise(ge, im)).into()))
            .collect(),
        by_group_at_overall_threshold: groups
            .iter()
            .map(|(g, (ge, im))| {
                let (mut gs, mut is) = (ge.clone(), im.clone());
                gs.sort_by(f64::total_cmp);
                is.sort_by(f64::total_cmp);
                let rates = overall
                    .at_fmr
                    .iter()
                    .map(|a| {
                        let (fmr, fnmr) = metrics::rates_at(&gs, &is, a.threshold);
                        let key = FMR_TARGETS
                            .iter()
                            .find(|(f, _)| *f == a.target)
                            .map_or_else(|| a.target.to_string(), |(_, k)| (*k).to_owned());
                        (
                            key,
                            Rates {
                                threshold: a.threshold,
                                fmr,
                                fnmr,
                            },
                        )
                    })
                    .collect();
                (g.clone(), rates)
            })
            .collect(),
        at_default_threshold: at_default,
        at_score_thresholds: SCORE_THRESHOLDS.iter().map(|&t| match_at(t)).collect(),
        suggested_calibration,
    };

    // Liveness on PAD samples.
    let lv = &engine.settings().liveness;
    let p_thr = lv.calibration.raw_at(lv.decline_threshold);
    let mut live_p = Vec::new();
    let mut spoof_p = Vec::new();
    let mut pad_decode_errors = Vec::new();
    let mut pad_fta = 0;
    let mut ds: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut attack: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut live_scores = Vec::new();
    let mut spoof_scores = Vec::new();
    for p in &split.pad {
        let o = by_path[p.image.as_str()];
        if o.status == "decode_error" {
            pad_decode_errors.push(format!(
                "{} ({})",
                p.image,
                o.error.clone().unwrap_or_default()
            ));
            continue;
        }
        if o.status == "no_face" {
            pad_fta += 1;
        }
        let pr = o.p_real.unwrap_or(0.0);
        let score = o.liveness_score.unwrap_or(0.0);
        let e = ds.entry(p.dataset.clone()).or_default();
        if p.live {
            live_p.push(pr);
            live_scores.push(score);
            e.0.push(pr);
        } else {
            spoof_p.push(pr);
            spoof_scores.push(score);
            e.1.push(pr);
            let a = attack
                .entry(if p.attack_type.is_empty() {
                    "unknown".into()
                } else {
                    p.attack_type.clone()
                })
                .or_default();
            a.1 += 1;
            if score > lv.decline_threshold {
                a.0 += 1;
            }
        }
    }
    let neg = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<f64>>();
    let lv_eer = metrics::eer(&neg(&live_p), &neg(&spoof_p));
    let apcer_of = |s: &[f64]| {
        share(
            s.iter().filter(|&&x| x > lv.decline_threshold).count(),
            s.len(),
        )
    };
    let bpcer_of = |s: &[f64]| {
        share(
            s.iter().filter(|&&x| x <= lv.decline_threshold).count(),
            s.len(),
        )
    };
    let score_of = |p: &[f64]| {
        p.iter()
            .map(|&x| lv.calibration.score(x))
            .collect::<Vec<f64>>()
    };
    let liveness = LivenessReport {
        live: live_p.len(),
        spoof: spoof_p.len(),
        auc: metrics::auc(&neg(&live_p), &neg(&spoof_p)),
        eer: lv_eer.map(|e| e.0),
        eer_p_real: lv_eer.map(|e| -e.1),
        threshold: lv.decline_threshold,
        threshold_p_real: p_thr,
        apcer: apcer_of(&spoof_scores),
        bpcer: bpcer_of(&live_scores),
        at_score_thresholds: SCORE_THRESHOLDS
            .iter()
            .map(|&t| AtThreshold {
                score_threshold: t,
                raw_threshold: lv.calibration.raw_at(t),
                fmr: share(
                    spoof_scores.iter().filter(|&&x| x > t).count(),
                    spoof_scores.len(),
                ),
                fnmr: share(
                    live_scores.iter().filter(|&&x| x <= t).count(),
                    live_scores.len(),
                ),
            })
            .collect(),
        fta: pad_fta,
        decode_errors: pad_decode_errors,
        by_dataset: ds
            .iter()
            .map(|(k, (l, s))| {
                (
                    k.clone(),
                    PadFigures {
                        live: l.len(),
                        spoof: s.len(),
                        auc: metrics::auc(&neg(l), &neg(s)),
                        apcer: (!s.is_empty()).then(|| apcer_of(&score_of(s))),
                        bpcer: (!l.is_empty()).then(|| bpcer_of(&score_of(l))),
                    },
                )
            })
            .collect(),
        apcer_by_attack_type: attack
            .into_iter()
            .map(|(k, (acc, n))| (k, share(acc, n)))
            .collect(),
        supplementary_match_images: supplementary(split, &by_path, lv.decline_threshold),
    };

    // Timings.
    let mut stages: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for o in outcomes {
        if let Some(t) = &o.timings {
            for (k, v, ran) in [
                ("decode", t.decode_ms, true),
                ("detect", t.detect_ms, true),
                ("align", t.align_ms, o.face.is_some()),
                ("embed", t.embed_ms, o.embedding.is_some()),
                ("liveness", t.liveness_ms, o.p_real.is_some()),
                ("total", t.total_ms, true),
            ] {
                if ran {
                    stages.entry(k.into()).or_default().push(v);
                }
            }
        }
    }

    Report {
        generated_at: meta.generated_at,
        data: split.root.display().to_string(),
        onnxruntime: meta.onnxruntime,
        images: split.images.len(),
        pairs: split.pairs.len(),
        pad_samples: split.pad.len(),
        models: engine
            .models()
            .iter()
            .map(|m| (m.name.clone(), m.sha256.clone()))
            .collect(),
        settings: serde_json::to_value(engine.settings()).unwrap_or_default(),
        failure_to_acquire: fta,
        face_match,
        liveness,
        timings_ms: stages
            .iter()
            .map(|(k, v)| (k.clone(), stage_percentiles(v)))
            .collect(),
        wall_time_s: meta.wall_time_s,
    }
}

fn supplementary(
    split: &Split,
    by_path: &HashMap<&str, &ImageOutcome>,
    threshold: f64,
) -> BTreeMap<String, Supplementary> {
    let mut slices: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &split.images {
        let o = by_path[r.image.as_str()];
        let (Some(p), Some(s)) = (o.p_real, o.liveness_score) else {
            continue;
        };
        let mode = if o.greyscale { "grey" } else { "colour" };
        slices
            .entry(format!("mode={mode}"))
            .or_default()
            .push((p, s));
        slices
            .entry(format!("group={}", r.group))
            .or_default()
            .push((p, s));
    }
    slices
        .into_iter()
        .map(|(k, v)| {
            let ps: Vec<f64> = v.iter().map(|x| x.0).collect();
            (
                k,
                Supplementary {
                    n: v.len(),
                    share_approved: share(v.iter().filter(|x| x.1 > threshold).count(), v.len()),
                    median_p_real: percentile(&ps, 50.0),
                },
            )
        })
        .collect()
}

/// Run facts recorded in the report.
#[derive(Clone, Debug)]
pub struct ReportMeta {
    pub generated_at: String,
    pub onnxruntime: String,
    pub wall_time_s: f64,
}

/// Genuine and impostor distances per group, for plots.
pub fn pair_distances(
    split: &Split,
    outcomes: &[ImageOutcome],
) -> BTreeMap<String, (Vec<f64>, Vec<f64>)> {
    let by_path: HashMap<&str, &ImageOutcome> =
        outcomes.iter().map(|o| (o.image.as_str(), o)).collect();
    let group_of: HashMap<&str, &str> = split
        .images
        .iter()
        .map(|r| (r.image.as_str(), r.group.as_str()))
        .collect();
    let mut out: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for p in &split.pairs {
        let d = match (
            by_path
                .get(p.a.as_str())
                .and_then(|o| o.embedding.as_deref()),
            by_path
                .get(p.b.as_str())
                .and_then(|o| o.embedding.as_deref()),
        ) {
            (Some(a), Some(b)) => f64::from(embed::distance(a, b)),
            _ => f64::INFINITY,
        };
        let mut keys = vec!["all".to_owned()];
        if let (Some(ga), Some(gb)) = (group_of.get(p.a.as_str()), group_of.get(p.b.as_str()))
            && ga == gb
        {
            keys.push((*ga).to_owned());
        }
        for k in keys {
            let e = out.entry(k).or_default();
            if p.same {
                e.0.push(d);
            } else {
                e.1.push(d);
            }
        }
    }
    out
}

/// Live and spoof P(real), for plots.
pub fn pad_scores(split: &Split, outcomes: &[ImageOutcome]) -> (Vec<f64>, Vec<f64>) {
    let by_path: HashMap<&str, &ImageOutcome> =
        outcomes.iter().map(|o| (o.image.as_str(), o)).collect();
    let (mut live, mut spoof) = (Vec::new(), Vec::new());
    for p in &split.pad {
        let o = by_path[p.image.as_str()];
        if o.status == "decode_error" {
            continue;
        }
        let v = o.p_real.unwrap_or(0.0);
        if p.live { live.push(v) } else { spoof.push(v) }
    }
    (live, spoof)
}
