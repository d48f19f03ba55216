//! `inherence-tools bench`: latency per stage and throughput of one verification (decode -> detect ->
//! align -> embed -> liveness -> distance to an enrolled template), on camera-like 640x480 JPEGs
//! and on the original photos, with 1 thread and with every core, plus the raw ONNX Runtime
//! time of each model measured in the same run so the pipeline's own overhead is visible.

use inherence::biometric::FaceEngine as _;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use inherence::biometric::decode::{self, encode_jpeg};
use inherence::biometric::imageops::{self, Rgb8};
use inherence::biometric::{BiometricError, Engine, Template, Want};
use inherence::eval::{StagePercentiles, stage_percentiles};

/// One benchmark input set.
pub struct InputSet {
    pub name: &'static str,
    pub blobs: Vec<Vec<u8>>,
}

/// Builds the camera-like set: every image resized to exactly 640x480 (aspect ratio not kept,
/// as the reference does) and encoded as JPEG quality 90.
pub fn camera_like(
    originals: &[Vec<u8>],
    limits: &decode::ImageLimits,
) -> Result<InputSet, BiometricError> {
    let mut blobs = Vec::with_capacity(originals.len());
    for b in originals {
        let d = decode::decode(b, limits)?;
        let resized: Rgb8 = imageops::resize_to(&d.image, 640, 480);
        blobs.push(encode_jpeg(&resized, 90)?);
    }
    Ok(InputSet {
        name: "640x480_jpeg",
        blobs,
    })
}

/// Timings of one configuration over one input set.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub input: String,
    pub config: String,
    pub streams: usize,
    pub intra_op_threads: usize,
    pub verifications: usize,
    pub faces_found: usize,
    pub wall_s: f64,
    pub verifications_per_s: f64,
    pub stages_ms: BTreeMap<String, StagePercentiles>,
    /// Mean share of `total` spent outside ONNX Runtime (decode, resize, crop, align, glue).
    pub overhead_share: f64,
}

#[derive(Default)]
struct Samples {
    stages: BTreeMap<&'static str, Vec<f64>>,
    faces: usize,
    model_sum: f64,
    total_sum: f64,
}

impl Samples {
    fn add(&mut self, k: &'static str, v: f64) {
        self.stages.entry(k).or_default().push(v);
    }
}

fn verify_once(
    engine: &Engine,
    template: &Template,
    blob: &[u8],
    s: &mut Samples,
) -> Result<(), BiometricError> {
    let t0 = Instant::now();
    let a = engine.analyze(blob, Want::ALL)?;
    let tm = Instant::now();
    let matched = match a.face.as_ref().and_then(|f| f.embedding.as_deref()) {
        Some(e) => Some(engine.compare(template, e)?),
        None => None,
    };
    let match_ms = tm.elapsed().as_secs_f64() * 1000.0;
    let total = t0.elapsed().as_secs_f64() * 1000.0;
    let t = &a.timings;
    s.add("decode", t.decode_ms);
    s.add("detect", t.detect_ms);
    s.add("model_detect", t.model_detect_ms);
    if a.face.is_some() {
        s.faces += 1;
        s.add("align", t.align_ms);
        s.add("embed", t.embed_ms);
        s.add("liveness", t.liveness_ms);
        s.add("model_embed", t.model_embed_ms);
        s.add("model_liveness", t.model_liveness_ms);
    }
    if matched.is_some() {
        s.add("match", match_ms);
    }
    s.add("total", total);
    s.add("overhead", total - t.model_ms());
    s.model_sum += t.model_ms();
    s.total_sum += total;
    Ok(())
}

/// How one configuration runs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub label: String,
    /// Verifications in flight at once (one thread each).
    pub streams: usize,
    /// ONNX Runtime intra-op threads per model run (as the engine was built).
    pub intra_op_threads: usize,
    /// Passes over the input set.
    pub repeat: usize,
}

/// Runs `repeat` passes over `set` on `streams` threads (after a 5-image warm-up).
pub fn run(
    engine: &Engine,
    template: &Template,
    set: &InputSet,
    cfg: &RunConfig,
    tick: &(dyn Fn() + Sync),
) -> Result<RunResult, BiometricError> {
    let (streams, repeat) = (cfg.streams, cfg.repeat);
    for b in set.blobs.iter().take(5) {
        verify_once(engine, template, b, &mut Samples::default())?;
    }
    let jobs = set.blobs.len() * repeat;
    let next = AtomicUsize::new(0);
    let merged = Mutex::new(Samples::default());
    let failure: Mutex<Option<BiometricError>> = Mutex::new(None);
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..streams.max(1) {
            sc.spawn(|| {
                let mut local = Samples::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        break;
                    }
                    if let Err(e) = verify_once(
                        engine,
                        template,
                        &set.blobs[i % set.blobs.len()],
                        &mut local,
                    ) {
                        *failure.lock().expect("lock") = Some(e);
                        break;
                    }
                    tick();
                }
                let mut m = merged.lock().expect("lock");
                for (k, v) in local.stages {
                    m.stages.entry(k).or_default().extend(v);
                }
                m.faces += local.faces;
                m.model_sum += local.model_sum;
                m.total_sum += local.total_sum;
            });
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    if let Some(e) = failure.into_inner().expect("lock") {
        return Err(e);
    }
    let m = merged.into_inner().expect("lock");
    Ok(RunResult {
        input: set.name.to_owned(),
        config: cfg.label.clone(),
        streams,
        intra_op_threads: cfg.intra_op_threads,
        verifications: jobs,
        faces_found: m.faces,
        wall_s: wall,
        verifications_per_s: jobs as f64 / wall,
        stages_ms: m
            .stages
            .iter()
            .map(|(k, v)| ((*k).to_owned(), stage_percentiles(v)))
            .collect(),
        overhead_share: if m.total_sum > 0.0 {
            1.0 - m.model_sum / m.total_sum
        } else {
            0.0
        },
    })
}

/// Raw ONNX Runtime latency of each model on fixed inputs, for comparison with the pipeline.
#[derive(Clone, Debug, Serialize)]
pub struct RawModel {
    pub model: String,
    pub input: String,
    pub runs: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Times each model alone, `runs` times.
pub fn raw_models(
    engine: &Engine,
    sample: &Rgb8,
    runs: usize,
) -> Result<Vec<RawModel>, BiometricError> {
    let mut out = Vec::new();
    let mut time =
        |name: &str,
         input: &str,
         f: &mut dyn FnMut() -> Result<std::time::Duration, BiometricError>| {
            for _ in 0..3 {
                f()?;
            }
            let mut v = Vec::with_capacity(runs);
            for _ in 0..runs {
                v.push(f()?.as_secs_f64() * 1000.0);
            }
            let p = stage_percentiles(&v);
            out.push(RawModel {
                model: name.to_owned(),
                input: input.to_owned(),
                runs,
                p50_ms: p.p50.unwrap_or(0.0),
                p99_ms: p.p99.unwrap_or(0.0),
            });
            Ok::<_, BiometricError>(())
        };
    let frame = imageops::resize_to(sample, 640, 480);
    let chip = imageops::resize_to(sample, 150, 150);
    for (name, input, f) in engine.raw_model_runners(&frame, &chip) {
        let mut f = f;
        time(&name, &input, &mut f)?;
    }
    Ok(out)
}
