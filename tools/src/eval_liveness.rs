//! `inherence-tools eval-liveness`: genuine acceptance and attack approvals of every liveness method
//! (see `eval::liveness`), written as report.md and report.json.

use inherence::biometric::FaceEngine as _;
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use inherence::biometric::Enrolment;
use inherence::biometric::capture::LivenessMethod;
use inherence::cli::Failure;
use inherence::config::Config;
use inherence::eval::attacks::Attack;
use inherence::eval::camera::{Footage, mjpeg_frames};
use inherence::eval::data::Split;
use inherence::eval::liveness::{self, Inputs};

#[derive(Debug, Args)]
pub struct EvalLivenessArgs {
    /// Evaluation split (images.csv, pad.csv): enrolled people and their other photos.
    #[arg(long)]
    data: PathBuf,
    /// MJPEG recording of one real person (the responding test camera plays it).
    #[arg(long)]
    video: PathBuf,
    /// A portrait of the person in the recording, to enrol.
    #[arg(long)]
    portrait: PathBuf,
    #[arg(long, default_value = "out/eval-liveness")]
    out: PathBuf,
    /// Genuine attempts per method.
    #[arg(long, default_value_t = 100)]
    genuine: usize,
    /// Attack photos per enrolled person.
    #[arg(long, default_value_t = 3)]
    photos_per_person: usize,
    /// Attempts per recording-based attack and method.
    #[arg(long, default_value_t = 30)]
    recording_attempts: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only these attacks (names as in the report, e.g. `tinted_photo`); all when absent.
    #[arg(long = "attack")]
    attacks: Vec<String>,
    /// Only these methods (PASSIVE, FLASHING, ACTIVE_3D); all when absent.
    #[arg(long = "method")]
    methods: Vec<String>,
}

pub fn run(cfg: &Config, a: EvalLivenessArgs) -> Result<(), Failure> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))
    };
    let split = Split::load(&a.data).map_err(|e| Failure::usage(e.to_string()))?;
    let (_rt, engine) = inherence::cli::load_engine(cfg)?;
    let (enrolment, _) = engine.enrol(&read(&a.portrait)?)?;
    let Enrolment::Enrolled(template) = enrolment else {
        return Err(Failure::usage(format!(
            "{} cannot be enrolled",
            a.portrait.display()
        )));
    };
    let methods = a
        .methods
        .iter()
        .map(|m| {
            LivenessMethod::parse(m).ok_or_else(|| {
                Failure::usage(format!(
                    "unknown method {m}: PASSIVE, FLASHING or ACTIVE_3D"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let attacks = a
        .attacks
        .iter()
        .map(|n| {
            Attack::ALL
                .into_iter()
                .find(|k| k.name() == *n)
                .ok_or_else(|| {
                    let known: Vec<String> = Attack::ALL.iter().map(|k| k.name()).collect();
                    Failure::usage(format!("unknown attack {n}: one of {}", known.join(", ")))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ch = &cfg.liveness.challenge;
    let footage = Footage::load(
        &engine,
        &mjpeg_frames(&read(&a.video)?),
        ch.frame_width as usize,
        ch.frame_height as usize,
    )
    .map_err(Failure::usage)?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", a.out.display())))?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} attempts, {per_sec}, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let report = liveness::run(
        &Inputs {
            engine: &engine,
            challenge: ch,
            split: &split,
            footage: &footage,
            recorded_person: &template,
            genuine_attempts: a.genuine,
            photos_per_victim: a.photos_per_person,
            recording_attempts: a.recording_attempts,
            seed: a.seed,
            decline_multiple_faces: cfg.capture.decline_multiple_faces,
            methods: &methods,
            attacks: &attacks,
        },
        &|| bar.inc(1),
    );
    bar.finish_and_clear();
    let md = liveness::markdown(&report);
    let json = serde_json::to_vec_pretty(&report).map_err(|e| Failure::runtime(e.to_string()))?;
    for (name, bytes) in [("report.md", md.as_bytes()), ("report.json", &json)] {
        std::fs::write(a.out.join(name), bytes)
            .map_err(|e| Failure::runtime(format!("cannot write {name}: {e}")))?;
    }
    print!("{md}");
    Ok(())
}
