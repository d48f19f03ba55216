//! Command-line interface: parses arguments, loads the configuration once, dispatches.

pub mod api_keys;
mod audit;
mod check;
mod eval;
mod models;
pub mod serve;
pub mod subjects;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::biometric::models::Manifest;
use crate::biometric::runtime::OrtRuntime;
use crate::biometric::{BiometricError, Engine};
use crate::config::Config;

/// Inherence: a self-hosted biometric step-up factor (passive liveness + 1:1 face match).
#[derive(Debug, Parser)]
#[command(name = "inherence", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Every key can also be set as INHERENCE_<SECTION>__<KEY>.
    #[arg(long, global = true, env = "INHERENCE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install or verify the model files listed in models/manifest.toml.
    Models {
        #[command(subcommand)]
        action: models::ModelsAction,
    },
    /// Compare two images: IMG_A is the enrolled reference, IMG_B the live probe (liveness is
    /// checked on IMG_B). Prints JSON.
    Verify { img_a: PathBuf, img_b: PathBuf },
    /// Passive liveness of the largest face in IMG. Prints JSON.
    Liveness { img: PathBuf },
    /// Build an enrolment template from a portrait (quality-gated). Prints the template JSON.
    Enrol { img: PathBuf },
    /// Evaluate accuracy on a labelled split (images.csv, pairs.csv, pad.csv).
    Eval {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Fit every photo into a WIDTHxHEIGHT black frame (aspect kept) and JPEG-encode it
        /// first, to measure accuracy on camera-like frames (e.g. 640x480).
        #[arg(long, value_name = "WIDTHxHEIGHT")]
        frame: Option<String>,
    },
    /// Run the OpenID provider, capture page and enrolment API.
    Serve,
    /// Manage API keys of the Didit-compatible v3 API while the server is stopped.
    ApiKeys {
        #[command(subcommand)]
        action: api_keys::ApiKeysAction,
    },
    /// PSD2 evidence: verify the tamper-evident audit log, export it with a signed manifest,
    /// erase a subject's personal data, apply retention.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
    /// Manage enrolments in the embedded store while the server is stopped.
    Subjects {
        #[command(subcommand)]
        action: subjects::SubjectsAction,
    },
}

/// A failure reported to the user: message and exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

/// A `--tenant` argument: a configured tenant, or a usage error naming them.
pub(crate) fn tenant_arg(cfg: &Config, name: &str) -> Result<crate::tenant::TenantId, Failure> {
    cfg.tenant(name).map_err(|e| Failure::usage(e.to_string()))
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<BiometricError> for Failure {
    fn from(e: BiometricError) -> Self {
        Self {
            message: format!("{}: {e}", e.code()),
            code: if e.is_client_error() { 2 } else { 1 },
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::usage(e.to_string())
    }
}

impl From<crate::biometric::models::ModelError> for Failure {
    fn from(e: crate::biometric::models::ModelError) -> Self {
        Self::runtime(e.to_string())
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings, and Inherence's info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,inherence=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> Result<(), Failure> {
    let cfg = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Models { action } => models::run(&cfg, action),
        Command::Verify { img_a, img_b } => check::verify(&cfg, &img_a, &img_b),
        Command::Liveness { img } => check::liveness(&cfg, &img),
        Command::Enrol { img } => check::enrol(&cfg, &img),
        Command::Eval {
            data,
            out,
            workers,
            frame,
        } => eval::run(&cfg, &data, &out, workers, frame.as_deref()),
        Command::Serve => serve::run(cfg),
        Command::Subjects { action } => subjects::run(&cfg, action),
        Command::ApiKeys { action } => api_keys::run(&cfg, action),
        Command::Audit { action } => audit::run(&cfg, action),
    }
}

/// Loads ONNX Runtime, verifies the models and builds the engine.
pub fn load_engine(cfg: &Config) -> Result<(OrtRuntime, Engine), Failure> {
    let rt = OrtRuntime::load(&cfg.runtime)?;
    let engine = build_engine(cfg, &rt, &cfg.runtime)?;
    Ok((rt, engine))
}

/// Builds an engine on a loaded runtime with the given thread settings (ONNX Runtime allows
/// one environment per process; bench builds several engines on it).
pub fn build_engine(
    cfg: &Config,
    rt: &OrtRuntime,
    runtime: &crate::biometric::runtime::RuntimeSettings,
) -> Result<Engine, Failure> {
    let manifest = Manifest::load(&cfg.models.manifest)?;
    Ok(Engine::load(
        rt,
        runtime,
        &manifest,
        &cfg.models.dir,
        cfg.biometric.clone(),
    )?)
}

/// Reads an input file with a clear error.
pub fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::runtime(e.to_string()))?;
    println!("{s}");
    Ok(())
}
