//! `inherence-tools loadtest`: the OpenID provider under load, with the load generated from other
//! processes than the server's (wrk for HTTP throughput, this process for capture users).
//!
//! It starts `inherence serve` as a child process on a free loopback port, with a fresh
//! embedded store, and measures:
//! - discovery and JWKS: requests/s and latency (wrk);
//! - the token endpoint: authorization-code exchange including client authentication, single-use
//!   code redemption and ID + access token signing (wrk, one distinct code per request; the codes
//!   are minted into the store before the server starts, because each would otherwise need a
//!   face check first);
//! - capture: N concurrent users each running whole step-ups (PAR, authorization, challenge,
//!   burst upload, finish, token), timing the burst upload until its verdict;
//! - Sessions API: `POST /v3/session/` throughput (wrk, one new session per request);
//! - webhooks, in this process: sign + enqueue latency per event into a durable outbox, then
//!   dispatch throughput of the real delivery worker to a local receiver.

mod capture;
pub mod entra;
pub mod keycloak;
pub mod metrics;
mod redis_server;
mod seed;
mod wrk;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use capture::*;
use inherence::cli::Failure;
use inherence::clock::{Clock, SystemClock};
use inherence::config::Config;
use redis_server::*;
use seed::*;
use wrk::*;

const SECRET: &str = "loadtest-secret-0123456789abcdef0123456789";
const CLIENT: &str = "loadtest-rp";
const VERIFIER: &str = "loadtest-verifier-0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// Where to write the report (loadtest.md) and the server log.
    #[arg(long, default_value = "out/loadtest")]
    out: PathBuf,
    /// Seconds per HTTP throughput measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Open connections for the HTTP throughput measurements.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    wrk_threads: u32,
    /// Authorization codes minted for the token measurement (must outnumber the requests;
    /// they live for the configured code lifetime, at most 60 s).
    #[arg(long, default_value_t = 250_000)]
    codes: usize,
    /// Concurrent capture users (people-paced: they pause before each step-up).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Users for the saturation run (no pause; 0 skips it).
    #[arg(long, default_value_t = 30)]
    saturation_users: usize,
    /// Step-ups per capture user.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Pause of each user before the upload, milliseconds (the camera preview a person goes
    /// through); 0 makes every user upload back to back (saturation).
    #[arg(long, default_value_t = 1500)]
    think_ms: u64,
    /// MJPEG camera recording the test camera answers challenges from, and the portrait of
    /// the same person to enrol.
    #[arg(long)]
    video: Option<PathBuf>,
    #[arg(long)]
    portrait: Option<PathBuf>,
    /// Users with a stored face minted for the session-creation measurement (each request
    /// creates a session for a new one; must outnumber the requests).
    #[arg(long, default_value_t = 40_000)]
    session_users: usize,
    /// Store behind the server: `embedded`, or `redis` (a redis-server is started on loopback;
    /// the token endpoint is then also measured with two instances side by side).
    #[arg(long, default_value = "embedded")]
    store: String,
    /// Webhook events for the dispatch measurement.
    #[arg(long, default_value_t = 5000)]
    webhook_events: usize,
}

impl LoadtestArgs {
    /// The settings of a wrk-only measurement (no capture users, sessions or webhooks).
    fn wrk_only(
        out: &Path,
        duration: u64,
        connections: u32,
        wrk_threads: u32,
        codes: usize,
    ) -> Self {
        Self {
            out: out.to_path_buf(),
            duration,
            connections,
            wrk_threads,
            codes,
            users: 0,
            saturation_users: 0,
            rounds: 0,
            think_ms: 0,
            video: None,
            portrait: None,
            session_users: 0,
            store: "embedded".into(),
            webhook_events: 0,
        }
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::runtime(e.to_string())
}

/// Scratch space (store, configuration, codes) next to a report: `out/run`, fresh every run.
fn fresh_scratch(out: &Path) -> Result<PathBuf, Failure> {
    std::fs::create_dir_all(out).map_err(fail)?;
    let scratch = out.join("run");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(fail)?;
    }
    std::fs::create_dir_all(&scratch).map_err(fail)?;
    Ok(scratch)
}

fn free_port() -> Result<u16, Failure> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(fail)?;
    Ok(l.local_addr().map_err(fail)?.port())
}

/// What the server runs with: as before tenants and per-client budgets existed (one tenant, no
/// budget counted), or with both (the clients in a tenant of their own beside `default`, every
/// request counted against a budget it never reaches).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Before,
    TenantsAndLimits,
}

/// The server's configuration: the caller's (models, biometric settings), a fresh store and
/// one confidential client.
fn write_config(
    cfg: &Config,
    dir: &Path,
    port: u16,
    issuer: &str,
    store: &inherence::store::StoreConfig,
    name: &str,
    variant: Variant,
) -> Result<PathBuf, Failure> {
    let mut c = cfg.clone();
    c.server.listen = format!("127.0.0.1:{port}");
    // Any free port: several servers may run at once.
    c.server.admin_listen = "127.0.0.1:0".into();
    c.oidc.issuer = issuer.to_owned();
    c.oidc.require_par = false;
    c.store = store.clone();
    c.clients.clear();
    c.oidc.trusted_issuers.clear();
    // The contract's per-key budgets (600/min) would cap the measurement, not the server.
    c.api.session_create_per_minute = i64::MAX / 4;
    c.api.read_per_minute = i64::MAX / 4;
    c.api.write_per_minute = i64::MAX / 4;
    // The per-client OpenID budgets stay on, above what the load generator sends: 10 million
    // a minute, so each instance takes a lease of 100,000 requests from the store at a time
    // (`flow/limits.rs`; with a budget of B a minute, one store operation per B/100 requests).
    c.rate_limits.par_per_minute = 10_000_000;
    c.rate_limits.token_per_minute = 10_000_000;
    c.rate_limits.capture_uploads_per_minute = 10_000_000;
    c.rate_limits.enabled = variant == Variant::TenantsAndLimits;
    c.tenants.clear();
    // Every load-generator connection comes from 127.0.0.1.
    c.server.limits.max_connections_per_ip = 100_000;
    let mut table = toml::Table::try_from(&c).map_err(fail)?;
    table.remove("clients");
    table.remove("tenants");
    let mut text = toml::to_string(&table).map_err(fail)?;
    let tenant = if variant == Variant::TenantsAndLimits {
        text.push_str("\n[[tenants]]\nid = \"other\"\n\n[[tenants]]\nid = \"loadtest\"\n");
        "tenant = \"loadtest\"\n"
    } else {
        ""
    };
    write!(
        text,
        "\n[[clients]]\nclient_id = \"{CLIENT}\"\n{tenant}redirect_uris = [\"http://127.0.0.1:9/cb\"]\n\
         auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\n\
         [[clients]]\nclient_id = \"loadtest-admin\"\n{tenant}auth_method = \"client_secret_basic\"\n\
         client_secret = \"{SECRET}\"\nenrolment_api = true\n"
    )
    .map_err(fail)?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(fail)?;
    Ok(path)
}

/// The responding test camera's footage of `video` (its faces and poses found once by an
/// engine in this process) and its frames rendered and encoded before any clock starts: the
/// users' phones do that work in production, not the server's cores.
fn load_footage(
    cfg: &Config,
    video: &Path,
) -> Result<
    (
        Arc<inherence::eval::camera::Footage>,
        Arc<inherence::eval::camera::Rendered>,
    ),
    Failure,
> {
    let frames = inherence::eval::camera::mjpeg_frames(&std::fs::read(video).map_err(fail)?);
    let mut runtime = cfg.runtime.clone();
    runtime.concurrency = 1;
    let rt = inherence::biometric::runtime::OrtRuntime::load(&runtime)?;
    let engine = inherence::cli::build_engine(cfg, &rt, &runtime)?;
    let ch = &cfg.liveness.challenge;
    let footage = Arc::new(
        inherence::eval::camera::Footage::load(
            &engine,
            &frames,
            ch.frame_width as usize,
            ch.frame_height as usize,
        )
        .map_err(fail)?,
    );
    drop(engine);
    let rendered = Arc::new(inherence::eval::camera::Rendered::default());
    footage.prerender(&Default::default(), &rendered, 2);
    eprintln!("capture: {} camera frames rendered", rendered.len());
    Ok((footage, rendered))
}

/// A configuration for one server on a free loopback port with a fresh embedded store in
/// `scratch`: its base URL, the configuration file and the store's settings (to seed it).
fn embedded_config(
    cfg: &Config,
    scratch: &Path,
    name: &str,
    variant: Variant,
) -> Result<(String, PathBuf, inherence::store::StoreConfig), Failure> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let store_cfg = inherence::store::StoreConfig {
        path: scratch.join("store"),
        ..Default::default()
    };
    let config = write_config(cfg, scratch, port, &base, &store_cfg, name, variant)?;
    Ok((base, config, store_cfg))
}

/// The `inherence` server binary: `INHERENCE_BIN`, or the one built next to this tool.
fn server_binary() -> Result<PathBuf, Failure> {
    let path = match std::env::var_os("INHERENCE_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(fail)?
            .with_file_name("inherence"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Failure::usage(format!(
            "the server binary {} is missing: build it (cargo build --release) or set INHERENCE_BIN",
            path.display()
        )))
    }
}

fn start_server(config: &Path, log: &Path, base: String) -> Result<Server, Failure> {
    let exe = server_binary()?;
    let log = std::fs::File::create(log).map_err(fail)?;
    let child = Command::new(exe)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone().map_err(fail)?)
        .stderr(log)
        .spawn()
        .map_err(fail)?;
    let server = Server { child, base };
    let health = format!("{}/healthz", server.base);
    for _ in 0..240 {
        if reqwest::blocking::get(&health).is_ok_and(|r| r.status().is_success()) {
            return Ok(server);
        }
        // Waiting for another process in real time: no clock to inject.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(fail("the server did not start (see its log)"))
}

pub fn run(cfg: &Config, args: LoadtestArgs) -> Result<(), Failure> {
    // Scratch space (store, config, codes) next to the report, fresh for every run.
    let scratch = fresh_scratch(&args.out)?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let (store_cfg, redis) = match args.store.as_str() {
        "embedded" => (
            inherence::store::StoreConfig {
                path: scratch.join("store"),
                ..Default::default()
            },
            None,
        ),
        "redis" => {
            let r = RedisChild::start(&scratch)?;
            (r.store_config(&scratch)?, Some(r))
        }
        other => {
            return Err(Failure::usage(format!(
                "--store {other}: use embedded or redis"
            )));
        }
    };
    let config_for = |variant, name| {
        write_config(
            cfg,
            scratch.as_path(),
            port,
            &base,
            &store_cfg,
            name,
            variant,
        )
    };
    let before = config_for(Variant::Before, "inherence-before.toml")?;
    let config = config_for(Variant::TenantsAndLimits, "inherence.toml")?;
    let lifetime = cfg.oidc.code_lifetime_secs;
    if args.duration + 15 > lifetime {
        return Err(Failure::usage(format!(
            "--duration {} leaves too little of the {lifetime} s code lifetime",
            args.duration
        )));
    }
    eprintln!("minting {} users with a stored face", args.session_users);
    let api_key = mint_users(&store_cfg, args.session_users, args.wrk_threads)?;
    // The token endpoint as before tenants and budgets, then with both, in this one run: each
    // on its own fresh codes, the server restarted on the same store in between.
    let token_run = |config: &Path, log: &str, name: &str| -> Result<_, Failure> {
        eprintln!("minting {} authorization codes", args.codes);
        let codes = mint_codes(&store_cfg, args.codes, lifetime)?;
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let codes_file = dir.join("codes.txt");
        std::fs::write(&codes_file, codes.join("\n") + "\n").map_err(fail)?;
        let script = token_script(&dir, &codes_file, args.wrk_threads)?;
        let server = start_server(config, &args.out.join(log), base.clone())?;
        eprintln!("token endpoint, {name} ({} s)", args.duration);
        let token = run_wrk(&args, &format!("{base}/token"), Some(&script))?;
        if token.requests as usize > codes.len() {
            eprintln!(
                "warning: {} requests for {} codes: the excess failed",
                token.requests,
                codes.len()
            );
        }
        Ok((server, token, codes))
    };
    let (server, token_before, _) = token_run(&before, "server-before.log", "before")?;
    drop(server);
    let (server, token, codes) = token_run(&config, "server.log", "tenants")?;
    // Two instances over the same Redis, side by side with the one-instance figure.
    let two = match &redis {
        Some(_) => {
            let port_b = free_port()?;
            let config_b = write_config(
                cfg,
                scratch.as_path(),
                port_b,
                &base,
                &store_cfg,
                "inherence-b.toml",
                Variant::TenantsAndLimits,
            )?;
            let base_b = format!("http://127.0.0.1:{port_b}");
            let server_b = start_server(&config_b, &args.out.join("server-b.log"), base_b.clone())?;
            // The youngest codes first: the oldest may be near their lifetime by now.
            let mut unused: Vec<String> =
                codes[(token.requests as usize).min(codes.len())..].to_vec();
            unused.reverse();
            let half = unused.len() / 2;
            let mut scripts = Vec::new();
            for (i, part) in [&unused[..half], &unused[half..]].iter().enumerate() {
                let f = scratch.join(format!("codes-{i}.txt"));
                std::fs::write(&f, part.join("\n") + "\n").map_err(fail)?;
                let d = scratch.join(format!("two-{i}"));
                std::fs::create_dir_all(&d).map_err(fail)?;
                scripts.push(token_script(&d, &f, 1)?);
            }
            eprintln!("token endpoint, two instances ({} s)", args.duration);
            let each = LoadtestArgs {
                wrk_threads: 1,
                connections: (args.connections / 2).max(1),
                ..args.clone()
            };
            let (ra, rb) = std::thread::scope(|sc| {
                let ha = sc.spawn(|| run_wrk(&each, &format!("{base}/token"), Some(&scripts[0])));
                let hb = sc.spawn(|| run_wrk(&each, &format!("{base_b}/token"), Some(&scripts[1])));
                (ha.join(), hb.join())
            });
            drop(server_b);
            let ra = ra.map_err(|_| fail("wrk thread panicked"))??;
            let rb = rb.map_err(|_| fail("wrk thread panicked"))??;
            Some((ra, rb))
        }
        None => None,
    };

    eprintln!("discovery ({} s)", args.duration);
    let discovery = run_wrk(
        &args,
        &format!("{base}/.well-known/openid-configuration"),
        None,
    )?;
    eprintln!("JWKS ({} s)", args.duration);
    let jwks = run_wrk(&args, &format!("{base}/jwks.json"), None)?;

    eprintln!("POST /v3/session/ ({} s)", args.duration);
    let workflow = create_workflow(&base, &api_key)?;
    let script = session_script(scratch.as_path(), &api_key, &workflow)?;
    let sessions = run_wrk(&args, &format!("{base}/v3/session/"), Some(&script))?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Load test\n\nServer: `inherence serve` ({} store) in its own process; load from \
         wrk ({} threads, {} connections, {} s per row) and from this process.\n\n\
         | endpoint | requests/s | p50 ms | p99 ms | requests | errors |\n|---|---:|---:|---:|---:|---:|",
        args.store, args.wrk_threads, args.connections, args.duration
    );
    for (name, r) in [
        (
            "POST /token (code exchange, ID + access token signed), as before tenants and client budgets",
            &token_before,
        ),
        (
            "POST /token, with tenants declared and the client's budget counted (the configuration every other row runs)",
            &token,
        ),
        ("GET /.well-known/openid-configuration", &discovery),
        ("GET /jwks.json", &jwks),
        (
            "POST /v3/session/ (new session, LIVENESS + FACE_MATCH, stored face)",
            &sessions,
        ),
    ] {
        let _ = writeln!(
            report,
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {} |",
            r.rps, r.p50_ms, r.p99_ms, r.requests, r.errors
        );
    }

    // Capture users, when a camera recording and a portrait of its person are available.
    match (&args.video, &args.portrait) {
        (Some(video), Some(portrait)) => {
            let (footage, rendered) = load_footage(cfg, video)?;
            enrol(&base, portrait, "loadtest-face")?;
            let _ = writeln!(
                report,
                "\nCapture: step-ups (PAR, authorize, challenge, the test camera's answer from `{}`, \
                 its frames rendered before the clock starts, uploaded once the challenge's sequence is over, finish, token); liveness method \
                 {}; latency = upload until its verdict. Each user waits for the sequence \
                 (the server refuses an earlier upload), so \"back to back\" keeps more users \
                 busy instead.\n\n\
                 | users | pause before the challenge | p50 ms | p95 ms | p99 ms | max ms | uploads | approved | verdicts/s |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|",
                video.file_name().unwrap_or_default().to_string_lossy(),
                cfg.liveness.method,
            );
            let mut runs = vec![(args.users, args.think_ms)];
            if args.saturation_users > 0 {
                runs.push((args.saturation_users, 0));
            }
            for (users, think) in runs {
                eprintln!("capture: {users} users, pause {think} ms");
                let c = run_capture(
                    &args,
                    &base,
                    footage.clone(),
                    rendered.clone(),
                    users,
                    think,
                )?;
                let _ = writeln!(
                    report,
                    "| {users} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} |",
                    if think == 0 {
                        "none (back to back)".to_owned()
                    } else {
                        format!("{think}-{} ms, random start", think + 500)
                    },
                    c.p50,
                    c.p95,
                    c.p99,
                    c.max,
                    c.n,
                    c.approved,
                    c.n as f64 / c.wall_s
                );
            }
        }
        _ => {
            let _ = writeln!(
                report,
                "\nCapture: skipped (pass --video and --portrait to measure it)."
            );
        }
    }
    drop(server);

    if let (Some(r), Some((ra, rb))) = (&redis, &two) {
        let _ = writeln!(
            report,
            "\nRedis ({}; AOF off, loopback): token endpoint with one and two `inherence serve` \
             instances over the same Redis (two instances: one wrk per instance, {} connections \
             each, run at the same time; all processes share the 2 cores).\n\n\
             | instances | requests/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|\n\
             | 1 | {:.0} | {:.2} | {:.2} | {} |\n\
             | 2 | {:.0} ({:.0} + {:.0}) | {:.2} / {:.2} | {:.2} / {:.2} | {} |",
            r.version,
            (args.connections / 2).max(1),
            token.rps,
            token.p50_ms,
            token.p99_ms,
            token.errors,
            ra.rps + rb.rps,
            ra.rps,
            rb.rps,
            ra.p50_ms,
            rb.p50_ms,
            ra.p99_ms,
            rb.p99_ms,
            ra.errors + rb.errors
        );
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let redis_store = inherence::store::redis::RedisStore::connect(&r.urls).map_err(fail)?;
        let embedded = inherence::store::embedded::EmbeddedStore::open(
            &scratch.join("latency-embedded"),
            clock,
        )
        .map_err(fail)?;
        let _ = writeln!(
            report,
            "\nStore operation latency from this process (20,000 operations each: put with \
             expiry, get, take; sequential):\n\n| store | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|"
        );
        for (name, kv) in [
            ("redis", &redis_store as &dyn inherence::store::Kv),
            ("embedded", &embedded as &dyn inherence::store::Kv),
        ] {
            let (p50, p99, max) = store_latency(kv, 20_000)?;
            let _ = writeln!(report, "| {name} | {p50:.3} | {p99:.3} | {max:.3} |");
        }
    }

    eprintln!("webhooks: {} events", args.webhook_events);
    let w = crate::webhook_bench::run(args.webhook_events, &scratch.as_path().join("webhooks"))?;
    let _ = writeln!(
        report,
        "\nWebhooks ({} events, durable outbox in a fresh embedded store, one destination on \
         loopback, real delivery worker with {} connections in flight):\n\n\
         | measure | value |\n|---|---:|\n\
         | sign (canonical JSON + 3 HMAC + Standard Webhooks) + enqueue, p50 | {:.3} ms |\n\
         | sign + enqueue, p99 | {:.3} ms |\n\
         | enqueue only (durable write), p99 | {:.3} ms |\n\
         | dispatch: all events delivered and acknowledged | {:.0} deliveries/s |\n\
         | deliveries accepted by the receiver (signature verified) | {} |",
        w.events,
        w.concurrency,
        w.sign_enqueue_p50_ms,
        w.sign_enqueue_p99_ms,
        w.enqueue_p99_ms,
        w.deliveries_per_s,
        w.verified
    );
    let path = args.out.join("loadtest.md");
    std::fs::write(&path, &report).map_err(fail)?;
    println!("{report}");
    std::io::stdout().flush().ok();
    eprintln!("report written to {}", path.display());
    Ok(())
}
