//! `inherence-tools`: what measures and exercises Inherence without being part of it: the load
//! generator, the benchmarks, the liveness evaluation and the responding test camera. Built
//! from the same library as the server, shipped separately (the server binary has none of it).

mod audit_bench;
mod bench;
mod eval_liveness;
mod loadtest;
mod stages;
mod test_camera;
mod webhook_bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use inherence::cli::Failure;
use inherence::config::Config;

/// Inherence's load generator, benchmarks, liveness evaluation and test camera.
#[derive(Debug, Parser)]
#[command(name = "inherence-tools", version, about)]
struct Cli {
    /// Configuration file (TOML), as for `inherence`. Every key can also be set as
    /// INHERENCE_<SECTION>__<KEY>.
    #[arg(long, global = true, env = "INHERENCE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure latency per stage and throughput; optionally run the Python reference alongside.
    Bench(bench::BenchArgs),
    /// Load-test the OpenID provider (token, discovery, JWKS, capture) with the load generated
    /// from other processes than the server's (needs wrk and the `inherence` binary next to
    /// this one).
    Loadtest(loadtest::LoadtestArgs),
    /// The token endpoint side by side with a real Keycloak's, under the same wrk load (needs
    /// wrk, an unpacked Keycloak and the `inherence` binary next to this one).
    LoadtestKeycloak(loadtest::keycloak::KeycloakArgs),
    /// What the metrics cost: /token throughput with metrics on and off (alternating), and
    /// the scrape time of /metrics (needs wrk and the `inherence` binary next to this one).
    LoadtestMetrics(loadtest::metrics::MetricsArgs),
    /// Microsoft Entra ID's external authentication method, the server's time per step-up
    /// without the face check (the conformance suite's Entra simulator plays Entra).
    LoadtestEntra(loadtest::entra::EntraArgs),
    /// Genuine acceptance and attack approvals of every liveness method (the responding test
    /// camera and the attack suite), on the engine.
    EvalLiveness(eval_liveness::EvalLivenessArgs),
    /// The responding test camera for tests outside this process (browser end-to-end tests,
    /// HTTP clients in other languages).
    TestCamera {
        #[command(subcommand)]
        action: test_camera::TestCameraAction,
    },
    /// Audit log: append latency on a durable store, export and verify speed, on synthetic
    /// decisions.
    AuditBench {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    inherence::cli::init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let cfg = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Bench(args) => bench::run(&cfg, args),
        Command::Loadtest(args) => loadtest::run(&cfg, args),
        Command::LoadtestKeycloak(args) => loadtest::keycloak::run(&cfg, args),
        Command::LoadtestMetrics(args) => loadtest::metrics::run(&cfg, args),
        Command::LoadtestEntra(args) => loadtest::entra::run(&cfg, args),
        Command::EvalLiveness(args) => eval_liveness::run(&cfg, args),
        Command::TestCamera { action } => test_camera::run(&cfg, action),
        Command::AuditBench {
            records,
            appends,
            dir,
        } => audit_bench::run(&cfg, records, appends, dir),
    }
}
