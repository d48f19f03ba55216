//! `inherence-tools bench --data DIR [--reference REFPIPE_DIR]`.

use inherence::biometric::FaceEngine as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::stages::{self, InputSet, RawModel, RunResult};
use inherence::biometric::runtime::OrtRuntime;
use inherence::biometric::{Want, decode};
use inherence::cli::{Failure, build_engine};
use inherence::clock::{Clock, SystemClock, rfc3339};
use inherence::config::Config;
use inherence::eval::data::Split;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Evaluation split whose images.csv lists the images to use.
    #[arg(long)]
    data: PathBuf,
    /// Write bench.json and bench.md here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Passes over the images per configuration.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Use only the first N images (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Which inputs to time: camera (640x480 JPEG), original, or both.
    #[arg(long, default_value = "both", value_parser = ["camera", "original", "both"])]
    inputs: String,
    /// Threads for the "all threads" configurations (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Folder of the Python reference pipeline (refpipe) to run in the same benchmark.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Python interpreter for the reference (default: $HOME/.cache/refpipe-venv/bin/python).
    #[arg(long)]
    reference_python: Option<PathBuf>,
}

#[derive(Serialize)]
struct BenchReport {
    generated_at: String,
    data: String,
    images: usize,
    repeat: usize,
    cpu_threads: usize,
    onnxruntime: String,
    definition: &'static str,
    runs: Vec<RunResult>,
    raw_models: Vec<RawModel>,
    reference: Vec<RunResult>,
    reference_error: Option<String>,
}

const DEFINITION: &str = "one verification = decode + detect + align + embed + liveness of one probe image held in memory (encoded bytes) + euclidean distance to an enrolled 128-D template; stages that do not run (no face) are not timed; total = wall time of the whole call; overhead = total minus time inside ONNX Runtime";

pub fn run(cfg: &Config, args: BenchArgs) -> Result<(), Failure> {
    let split = Split::load(&args.data).map_err(|e| Failure::usage(e.to_string()))?;
    let mut paths: Vec<&str> = split.images.iter().map(|r| r.image.as_str()).collect();
    if let Some(n) = args.limit {
        paths.truncate(n.max(1));
    }
    let originals: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| inherence::cli::read_input(&args.data.join(p)))
        .collect::<Result<_, _>>()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all = args.threads.unwrap_or(cores).max(1);

    let mut limits = cfg.biometric.limits.clone();
    limits.max_bytes = limits.max_bytes.max(64 << 20);
    let camera = stages::camera_like(&originals, &limits)?;
    let original = InputSet {
        name: "original",
        blobs: originals.clone(),
    };

    // (label, streams, intra-op threads)
    let configs = [
        ("1 thread".to_owned(), 1usize, 1usize),
        (format!("{all} threads, 1 stream"), 1, all),
        (format!("{all} streams x 1 thread"), all, 1),
    ];
    let per_config = match args.inputs.as_str() {
        "camera" => camera.blobs.len(),
        "original" => original.blobs.len(),
        _ => camera.blobs.len() + original.blobs.len(),
    };
    let total_jobs = per_config * args.repeat * configs.len();
    let bar = ProgressBar::new(total_jobs as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {wide_bar} {pos}/{len} verifications, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut runs = Vec::new();
    let mut raw_models = Vec::new();
    let rt = OrtRuntime::load(&cfg.runtime)?;
    let ort_version = rt.version();
    for (label, streams, intra) in &configs {
        let mut rs = cfg.runtime.clone();
        rs.intra_op_threads = *intra;
        rs.concurrency = *streams;
        rs.allow_spinning = false;
        let engine = build_engine(cfg, &rt, &rs)?;
        // The enrolled template: the first image with a face.
        let template = originals
            .iter()
            .find_map(|b| {
                engine
                    .analyze(
                        b,
                        Want {
                            embedding: true,
                            liveness: false,
                        },
                    )
                    .ok()
                    .and_then(|a| engine.template_from(&a))
            })
            .ok_or_else(|| Failure::usage("no image of the split has a detectable face"))?;
        let sets: Vec<&InputSet> = match args.inputs.as_str() {
            "camera" => vec![&camera],
            "original" => vec![&original],
            _ => vec![&camera, &original],
        };
        for set in sets {
            let rc = stages::RunConfig {
                label: label.clone(),
                streams: *streams,
                intra_op_threads: *intra,
                repeat: args.repeat,
            };
            let r = stages::run(&engine, &template, set, &rc, &|| bar.inc(1))?;
            runs.push(r);
        }
        if *streams == 1 {
            let sample = decode::decode(&camera.blobs[0], &limits)?.image;
            for mut m in stages::raw_models(&engine, &sample, 200)? {
                m.model = format!("{} [{label}]", m.model);
                raw_models.push(m);
            }
        }
    }
    bar.finish_and_clear();

    let (reference, reference_error) = match &args.reference {
        None => (Vec::new(), None),
        Some(dir) => match run_reference(dir, &args, all) {
            Ok(r) => (r, None),
            Err(e) => {
                eprintln!("reference run failed: {e}");
                (Vec::new(), Some(e))
            }
        },
    };

    let report = BenchReport {
        generated_at: rfc3339(SystemClock.now_secs()),
        data: args.data.display().to_string(),
        images: paths.len(),
        repeat: args.repeat,
        cpu_threads: cores,
        onnxruntime: ort_version,
        definition: DEFINITION,
        runs,
        raw_models,
        reference,
        reference_error,
    };
    let md = markdown(&report);
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)
            .map_err(|e| Failure::usage(format!("{}: {e}", out.display())))?;
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::runtime(e.to_string()))?;
        std::fs::write(out.join("bench.json"), json)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        std::fs::write(out.join("bench.md"), &md).map_err(|e| Failure::runtime(e.to_string()))?;
        eprintln!("wrote {}/bench.json and bench.md", out.display());
    }
    Ok(())
}

fn run_reference(dir: &Path, args: &BenchArgs, all: usize) -> Result<Vec<RunResult>, String> {
    let script = dir.join("refpipe.py");
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    let python = args.reference_python.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/refpipe-venv/bin/python")
    });
    if !python.is_file() {
        return Err(format!(
            "{} not found; create it with {}/setup.sh",
            python.display(),
            dir.display()
        ));
    }
    let tmp = tempdir()?;
    let mut out = Vec::new();
    for (threads, no_spin, label) in [
        (1usize, false, "1 thread".to_owned()),
        (all, true, format!("{all} threads, 1 stream")),
    ] {
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg("bench")
            .arg("--data")
            .arg(&args.data)
            .arg("--out")
            .arg(&tmp)
            .arg("--threads")
            .arg(threads.to_string())
            .arg("--repeat")
            .arg(args.repeat.to_string());
        if no_spin {
            cmd.arg("--no-spin");
        }
        eprintln!("running the reference: {cmd:?}");
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !status.success() {
            return Err(format!("reference bench exited with {status}"));
        }
        let file = tmp.join(format!(
            "bench_threads{threads}{}.json",
            if no_spin { "_nospin" } else { "" }
        ));
        let v: Value = serde_json::from_slice(
            &std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?,
        )
        .map_err(|e| format!("{}: {e}", file.display()))?;
        for (mode, m) in v["modes"].as_object().into_iter().flatten() {
            let stages: BTreeMap<String, inherence::eval::StagePercentiles> = m["stages_ms"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        inherence::eval::StagePercentiles {
                            n: s["n"].as_u64().unwrap_or(0) as usize,
                            p50: s["p50"].as_f64(),
                            p95: s["p95"].as_f64(),
                            p99: s["p99"].as_f64(),
                            mean: s["mean"].as_f64(),
                        },
                    )
                })
                .collect();
            out.push(RunResult {
                input: mode.clone(),
                config: label.clone(),
                streams: 1,
                intra_op_threads: threads,
                verifications: m["n"].as_u64().unwrap_or(0) as usize,
                faces_found: m["faces_found"].as_u64().unwrap_or(0) as usize,
                wall_s: m["loop_s"].as_f64().unwrap_or(0.0),
                verifications_per_s: m["verifications_per_s"].as_f64().unwrap_or(0.0),
                stages_ms: stages,
                overhead_share: f64::NAN,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(out)
}

fn tempdir() -> Result<PathBuf, String> {
    let p = std::env::temp_dir().join(format!("inherence-bench-ref-{}", std::process::id()));
    std::fs::create_dir_all(&p).map_err(|e| e.to_string())?;
    Ok(p)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

fn markdown(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Inherence bench - `{}` ({} images x {} passes)\n",
        r.data, r.images, r.repeat
    );
    let _ = writeln!(
        s,
        "{}; ONNX Runtime {}; {} CPU threads.\n",
        r.generated_at, r.onnxruntime, r.cpu_threads
    );
    let _ = writeln!(s, "{}.\n", r.definition);
    let _ = writeln!(s, "## Throughput\n");
    let _ = writeln!(
        s,
        "| pipeline | config | input | verifications | faces | verifications/s | overhead share |\n|---|---|---|---|---|---|---|"
    );
    for (who, rows) in [("inherence", &r.runs), ("reference (Python)", &r.reference)] {
        for x in rows.iter() {
            let _ = writeln!(
                s,
                "| {who} | {} | {} | {} | {} | {:.1} | {} |",
                x.config,
                x.input,
                x.verifications,
                x.faces_found,
                x.verifications_per_s,
                if x.overhead_share.is_nan() {
                    "-".into()
                } else {
                    format!("{:.1} %", x.overhead_share * 100.0)
                }
            );
        }
    }
    if let Some(e) = &r.reference_error {
        let _ = writeln!(s, "\nReference not run: {e}");
    }
    let _ = writeln!(s, "\n## Latency per stage (ms)\n");
    let _ = writeln!(
        s,
        "| pipeline | config | input | stage | n | p50 | p95 | p99 | mean |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (who, rows) in [("inherence", &r.runs), ("reference", &r.reference)] {
        for x in rows.iter() {
            for (k, v) in &x.stages_ms {
                let _ = writeln!(
                    s,
                    "| {who} | {} | {} | {k} | {} | {} | {} | {} | {} |",
                    x.config,
                    x.input,
                    v.n,
                    fmt(v.p50),
                    fmt(v.p95),
                    fmt(v.p99),
                    fmt(v.mean)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\n`model_*` rows are the time inside ONNX Runtime during the pipeline run; `overhead` = total - model time.\n"
    );
    let _ = writeln!(
        s,
        "## Raw ONNX Runtime time per model (same run, fixed input)\n"
    );
    let _ = writeln!(
        s,
        "| model | input | runs | p50 ms | p99 ms |\n|---|---|---|---|---|"
    );
    for m in &r.raw_models {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {:.2} |",
            m.model, m.input, m.runs, m.p50_ms, m.p99_ms
        );
    }
    s
}
