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

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use inherence::cli::Failure;
use inherence::clock::{Clock, SystemClock};
use inherence::config::Config;
use inherence::flow::fixtures;

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

/// Mints one v3 API key and `users` users with a stored face into the store (before the server
/// opens it); returns the key.
fn mint_users(
    store_cfg: &inherence::store::StoreConfig,
    users: usize,
    threads: u32,
) -> Result<String, Failure> {
    let clock = Arc::new(SystemClock);
    let store =
        inherence::store::open(store_cfg, clock.clone(), &inherence::namespaces()).map_err(fail)?;
    let store = &*store;
    let now = clock.now_secs();
    let (_, api_key) =
        inherence::flow::didit::create_api_key(store, now, "loadtest", &Default::default())
            .map_err(fail)?;
    // Stored faces u{thread}-{n} for the session measurement (a placeholder template: creation
    // only resolves and copies it).
    let template = inherence::biometric::Template {
        version: inherence::biometric::template::TEMPLATE_VERSION,
        embedding: vec![0.01; inherence::biometric::embed::DIM],
        model: inherence::biometric::template::ModelRef {
            name: "loadtest".into(),
            sha256: "0".repeat(64),
        },
        mirrored: true,
        quality: inherence::biometric::quality::Quality {
            face_quality: 80.0,
            face_luminance: 50.0,
            eye_distance_px: 60.0,
            sharpness: 100.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
        },
        detection_score: 0.9,
    };
    let per_thread = users / threads.max(1) as usize;
    for t in 0..threads {
        for i in 1..=per_thread {
            fixtures::enrol(store, &format!("u{t}-{i}"), &template, "loadtest", now)
                .map_err(fail)?;
        }
    }
    Ok(api_key)
}

/// Mints `n` codes for [`CLIENT`] into the store (while no server holds it); returns them.
fn mint_codes(
    store_cfg: &inherence::store::StoreConfig,
    n: usize,
    lifetime: u64,
) -> Result<Vec<String>, Failure> {
    let clock = Arc::new(SystemClock);
    let store =
        inherence::store::open(store_cfg, clock.clone(), &inherence::namespaces()).map_err(fail)?;
    let store = &*store;
    let challenge = inherence::protocol::pkce::challenge(VERIFIER);
    // The codes' lifetime starts now, after the users (which take a while on Redis); they are
    // written by several threads, so that minting takes a small part of that lifetime.
    let now = clock.now_secs();
    let mint = |count: usize| -> Result<Vec<String>, Failure> {
        let mut codes = Vec::with_capacity(count);
        let check = fixtures::PassedCheck {
            client_id: CLIENT,
            redirect_uri: "http://127.0.0.1:9/cb",
            code_challenge: &challenge,
            subject: "loadtest-subject",
            acr: "biometric",
            liveness_method: "FLASHING",
        };
        for _ in 0..count {
            codes.push(fixtures::mint_code(store, &check, now, lifetime).map_err(fail)?);
        }
        Ok(codes)
    };
    const MINTERS: usize = 4;
    let parts: Vec<Result<Vec<String>, Failure>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..MINTERS)
            .map(|i| {
                let count = n / MINTERS + usize::from(i < n % MINTERS);
                s.spawn(move || mint(count))
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(fail("a minting thread panicked")))
            })
            .collect()
    });
    let mut codes = Vec::with_capacity(n);
    for p in parts {
        codes.extend(p?);
    }
    let minted_in = clock.now_secs() - now;
    if minted_in * 3 > lifetime as i64 {
        eprintln!("warning: minting took {minted_in} s of the {lifetime} s code lifetime");
    }
    Ok(codes)
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

/// What wrk measured.
struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
}

fn wrk_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mult) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().ok().map(|v| v * mult)
}

fn run_wrk(args: &LoadtestArgs, url: &str, script: Option<&Path>) -> Result<WrkResult, Failure> {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{}", args.wrk_threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.duration))
        .arg("--latency");
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(url);
    let out = cmd
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| fail(format!("cannot run wrk (Debian package wrk): {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(fail(format!("wrk failed: {text}")));
    }
    let mut r = WrkResult {
        rps: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        requests: 0,
        errors: 0,
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50_ms = wrk_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_ms = wrk_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if t.starts_with("Socket errors:") {
            r.errors += t
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|x| x.parse::<u64>().ok())
                .sum::<u64>();
        } else if t.contains("requests in") {
            r.requests = t
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
        }
    }
    Ok(r)
}

/// wrk script: each thread takes every k-th code of the file and posts it once.
fn token_script(dir: &Path, codes_file: &Path, threads: u32) -> Result<PathBuf, Failure> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    let script = format!(
        r#"local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  codes = {{}}
  local i = 0
  for line in io.lines("{codes}") do
    if i % {threads} == tid then codes[#codes + 1] = line end
    i = i + 1
  end
  idx = 0
end
function request()
  idx = idx + 1
  local code = codes[idx] or "exhausted"
  return wrk.format("POST", "/token", {{
    ["Authorization"] = "Basic {basic}",
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }}, "grant_type=authorization_code&code=" .. code ..
      "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_verifier={VERIFIER}")
end
"#,
        codes = codes_file.display(),
    );
    let path = dir.join("token.lua");
    std::fs::write(&path, script).map_err(fail)?;
    Ok(path)
}

/// One user's step-ups; returns the upload-to-verdict latencies (ms) and the outcomes. The
/// user answers each challenge with the responding test camera (`eval::camera`) playing the
/// recording, and uploads once the challenge's sequence would have been recorded.
async fn capture_user(
    base: String,
    footage: Arc<inherence::eval::camera::Footage>,
    rendered: Arc<inherence::eval::camera::Rendered>,
    offset: usize,
    rounds: usize,
    think_ms: u64,
) -> Result<(Vec<f64>, usize), String> {
    // People do not start in step: each user arrives at a random moment of the first six
    // seconds (about one step-up), then pauses `think_ms` plus 0-500 ms, drawn each round.
    let mut pace = inherence::eval::camera::Rng::new(0x5eed ^ offset as u64);
    if think_ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(pace.below(6_000)))).await;
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut lat = Vec::new();
    let mut approved = 0;
    let challenge = inherence::protocol::pkce::challenge(VERIFIER);
    for round in 0..rounds {
        let r = http
            .post(format!("{base}/par"))
            .basic_auth(CLIENT, Some(SECRET))
            .form(&[
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", "http://127.0.0.1:9/cb"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "s"),
                ("nonce", "n"),
                ("login_hint", "loadtest-face"),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let uri = v["request_uri"].as_str().ok_or("PAR refused")?.to_owned();
        let r = http
            .get(format!("{base}/authorize"))
            .query(&[("client_id", CLIENT), ("request_uri", uri.as_str())])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let capture = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or("authorize did not redirect")?
            .to_owned();
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or("")
            .to_owned();
        if think_ms > 0 {
            let pause = think_ms + u64::from(pace.below(500));
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        let asked = Instant::now();
        let c: serde_json::Value = serde_json::from_slice(
            &http
                .post(format!("{base}{capture}/challenge"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let spec: inherence::biometric::capture::CaptureSpec =
            serde_json::from_value(c.clone()).map_err(|e| format!("challenge: {e}"))?;
        let (f, r) = (footage.clone(), rendered.clone());
        let seed = (offset * 1_000 + round) as u64;
        let shots = tokio::task::spawn_blocking(move || {
            let mut rng = inherence::eval::camera::Rng::new(seed);
            inherence::eval::camera::record_with(&f, &spec, &Default::default(), &mut rng, Some(&r))
        })
        .await
        .map_err(|e| e.to_string())?;
        let duration = Duration::from_millis(c["duration_ms"].as_u64().unwrap_or(0) + 100);
        tokio::time::sleep(duration.saturating_sub(asked.elapsed())).await;
        let stamps: Vec<String> = shots.iter().map(|s| format!("{:.1}", s.t_ms)).collect();
        let mut form = reqwest::multipart::Form::new()
            .text(
                "challenge",
                c["challenge"].as_str().unwrap_or("").to_owned(),
            )
            .text("timestamps", stamps.join(","));
        for s in shots {
            form = form.part(
                "frame",
                reqwest::multipart::Part::bytes(s.bytes).file_name("f.jpg"),
            );
        }
        let t0 = Instant::now();
        let r = http
            .post(format!("{base}{capture}/frames"))
            .multipart(form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if v["status"] == "approved" {
            approved += 1;
            let r = http
                .get(format!("{base}{capture}/finish"))
                .header("cookie", &cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let to = r
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let code = url::Url::parse(&to)
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned())
                })
                .ok_or("no code after an approved face check")?;
            let r = http
                .post(format!("{base}/token"))
                .basic_auth(CLIENT, Some(SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", "http://127.0.0.1:9/cb"),
                    ("code_verifier", VERIFIER),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("token exchange failed: {}", r.status()));
            }
        }
    }
    Ok((lat, approved))
}

struct CaptureResult {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    n: usize,
    approved: usize,
    wall_s: f64,
}

fn run_capture(
    args: &LoadtestArgs,
    base: &str,
    footage: Arc<inherence::eval::camera::Footage>,
    rendered: Arc<inherence::eval::camera::Rendered>,
    users: usize,
    think_ms: u64,
) -> Result<CaptureResult, Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(fail)?;
    let t0 = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for u in 0..users {
            tasks.push(tokio::spawn(capture_user(
                base.to_owned(),
                footage.clone(),
                rendered.clone(),
                u,
                args.rounds,
                think_ms,
            )));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(all)
    });
    let wall_s = t0.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let mut approved = 0;
    for r in results.map_err(fail)? {
        let (l, a) = r.map_err(fail)?;
        lat.extend(l);
        approved += a;
    }
    let pct = |q| inherence::eval::metrics::percentile(&lat, q).unwrap_or(f64::NAN);
    Ok(CaptureResult {
        p50: pct(50.0),
        p95: pct(95.0),
        p99: pct(99.0),
        max: pct(100.0),
        n: lat.len(),
        approved,
        wall_s,
    })
}

pub fn run(cfg: &Config, args: LoadtestArgs) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.out).map_err(fail)?;
    // Scratch space (store, config, codes) next to the report, fresh for every run.
    let scratch = args.out.join("run");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(fail)?;
    }
    std::fs::create_dir_all(&scratch).map_err(fail)?;
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
            let frames =
                inherence::eval::camera::mjpeg_frames(&std::fs::read(video).map_err(fail)?);
            // The responding test camera runs in this process (its own ONNX Runtime, one
            // session) to find the recording's faces and poses once.
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
            // The camera's frames are rendered and encoded before the clock starts: the
            // users' phones do that work in production, not the server's cores.
            let rendered = Arc::new(inherence::eval::camera::Rendered::default());
            footage.prerender(&Default::default(), &rendered, 2);
            eprintln!("capture: {} camera frames rendered", rendered.len());
            enrol(&base, portrait)?;
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

/// A LIVENESS + FACE_MATCH workflow for the session measurement.
fn create_workflow(base: &str, api_key: &str) -> Result<String, Failure> {
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/v3/workflows/"))
        .header("x-api-key", api_key)
        .header("content-type", "application/json")
        .body(r#"{"features":[{"feature":"LIVENESS"},{"feature":"FACE_MATCH"}]}"#)
        .send()
        .map_err(fail)?;
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().map_err(fail)?).map_err(fail)?;
    v["uuid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("workflow creation failed: {v}")))
}

/// wrk script: every request creates a new session for a distinct user that has a stored face
/// (enrolled into the store before the run).
fn session_script(dir: &Path, api_key: &str, workflow: &str) -> Result<PathBuf, Failure> {
    let script = format!(
        r#"local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  n = 0
end
function request()
  n = n + 1
  local body = '{{"workflow_id":"{workflow}","vendor_data":"u' .. tid .. '-' .. n .. '","callback":"https://app.example/done","metadata":{{"n":' .. n .. '}}}}'
  return wrk.format("POST", "/v3/session/", {{
    ["x-api-key"] = "{api_key}",
    ["Content-Type"] = "application/json",
  }}, body)
end
"#
    );
    let path = dir.join("session.lua");
    std::fs::write(&path, script).map_err(fail)?;
    Ok(path)
}

/// Enrols the capture users' face through the enrolment API.
fn enrol(base: &str, portrait: &Path) -> Result<(), Failure> {
    let http = reqwest::blocking::Client::new();
    let r = http
        .post(format!("{base}/token"))
        .basic_auth("loadtest-admin", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .map_err(fail)?;
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().map_err(fail)?).map_err(fail)?;
    let token = v["access_token"]
        .as_str()
        .ok_or_else(|| fail("no admin token"))?;
    let r = http
        .put(format!("{base}/api/v1/subjects/loadtest-face/face"))
        .bearer_auth(token)
        .body(std::fs::read(portrait).map_err(fail)?)
        .send()
        .map_err(fail)?;
    if !r.status().is_success() {
        return Err(fail(format!(
            "enrolment failed: {}",
            r.text().unwrap_or_default()
        )));
    }
    Ok(())
}

/// A `redis-server` for the measurement (no persistence), stopped with the run.
struct RedisChild {
    child: Child,
    urls: Vec<String>,
    version: String,
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisChild {
    fn start(dir: &Path) -> Result<Self, Failure> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot start redis-server (Debian package redis-server): {e}"
                ))
            })?;
        let url = format!("redis://127.0.0.1:{port}/");
        let mut r = Self {
            child,
            urls: vec![url.clone()],
            version: String::new(),
        };
        for _ in 0..200 {
            if let Ok(c) = redis::Client::open(url.as_str())
                && let Ok(mut con) = c.get_connection()
                && let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(&mut con)
            {
                let version = info
                    .lines()
                    .find_map(|l| l.strip_prefix("redis_version:"))
                    .unwrap_or("?")
                    .trim()
                    .to_owned();
                r.version = format!("Redis {version}");
                return Ok(r);
            }
            // Waiting for another process in real time: no clock to inject.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(fail("redis-server did not start"))
    }

    /// The servers' store settings: this Redis and a fresh template key in a file.
    fn store_config(&self, dir: &Path) -> Result<inherence::store::StoreConfig, Failure> {
        use base64::Engine as _;
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).map_err(|_| fail("no randomness"))?;
        let file = dir.join("template-keys");
        std::fs::write(
            &file,
            format!(
                "loadtest-1:{}\n",
                base64::engine::general_purpose::STANDARD.encode(k)
            ),
        )
        .map_err(fail)?;
        Ok(inherence::store::StoreConfig {
            backend: inherence::store::StoreBackend::Redis,
            path: dir.join("store"),
            redis_urls: self.urls.clone(),
            encryption_keys: Vec::new(),
            encryption_key_file: Some(file),
        })
    }
}

/// Latency of `n` store operations (a third each of put with expiry, get and take), ms.
fn store_latency(kv: &dyn inherence::store::Kv, n: usize) -> Result<(f64, f64, f64), Failure> {
    // A short-lived namespace like the codes and flows (the raw backend is measured).
    const LATENCY: inherence::store::Namespace =
        inherence::store::Namespace::new("latency").expiring();
    let mut lat = Vec::with_capacity(n);
    let exp = Some(SystemClock.now_millis() + 600_000);
    for i in 0..n / 3 {
        let key = format!("k{i}");
        let t = Instant::now();
        kv.put(
            &LATENCY,
            &key,
            b"a value of some sixty bytes, like a small JSON record....",
            exp,
        )
        .map_err(fail)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        kv.get(&LATENCY, &key).map_err(fail)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        kv.take(&LATENCY, &key).map_err(fail)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let pct = |q| inherence::eval::metrics::percentile(&lat, q).unwrap_or(f64::NAN);
    Ok((pct(50.0), pct(99.0), pct(100.0)))
}
