//! `inherence-tools loadtest-metrics`: what the metrics cost. The token endpoint
//! (client credentials, the server's cheapest and busiest request) under the same wrk load,
//! with `[metrics] enabled` on and off, alternating (on, off, on, off...) so that drift on the
//! machine falls on both; then the scrape of `/metrics` on the admin listener, timed from the
//! client, after every route has been touched so the registry holds its usual series.

use super::keycloak::{check_token, client_credentials_script};
use super::*;

#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Where to write the report (metrics.md) and the servers' logs.
    #[arg(long, default_value = "out/loadtest-metrics")]
    out: PathBuf,
    /// Seconds per measurement (each server also gets one warm-up run of this length).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Measurements per setting (alternating).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Open connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    wrk_threads: u32,
    /// Scrapes timed.
    #[arg(long, default_value_t = 500)]
    scrapes: usize,
}

/// The configuration written for one setting, with the admin listener on `admin_port`.
fn config_for(
    cfg: &Config,
    scratch: &Path,
    on: bool,
) -> Result<(String, String, PathBuf), Failure> {
    let dir = scratch.join(if on { "on" } else { "off" });
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let (base, config, _) =
        embedded_config(cfg, &dir, "inherence.toml", Variant::TenantsAndLimits)?;
    let admin_port = free_port()?;
    let mut t: toml::Table =
        toml::from_str(&std::fs::read_to_string(&config).map_err(fail)?).map_err(fail)?;
    let server = t
        .entry("server")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    if let toml::Value::Table(s) = server {
        s.insert(
            "admin_listen".into(),
            format!("127.0.0.1:{admin_port}").into(),
        );
    }
    let mut m = toml::Table::new();
    m.insert("enabled".into(), on.into());
    t.insert("metrics".into(), toml::Value::Table(m));
    std::fs::write(&config, toml::to_string(&t).map_err(fail)?).map_err(fail)?;
    Ok((base, format!("http://127.0.0.1:{admin_port}"), config))
}

/// Touches every kind of route once (most answer an error) so that the registry holds the
/// series a server in service has.
fn touch_routes(base: &str) {
    let c = reqwest::blocking::Client::new();
    for p in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks.json",
        "/authorize?client_id=nobody",
        "/userinfo",
        "/capture/none",
        "/capture/none/state",
        "/capture/none/status",
        "/capture/none/finish",
        "/session/none",
        "/v3/sessions/",
        "/v3/workflows/",
        "/api/v1/subjects/count",
        "/api/v1/audit/keys",
        "/readyz",
        "/healthz",
        "/no-such-page",
    ] {
        let _ = c.get(format!("{base}{p}")).send();
        let _ = c.post(format!("{base}{p}")).send();
    }
    for p in [
        "/par",
        "/introspect",
        "/capture/none/challenge",
        "/v3/session/",
    ] {
        let _ = c.post(format!("{base}{p}")).body("x=1").send();
    }
}

pub fn run(cfg: &Config, args: MetricsArgs) -> Result<(), Failure> {
    let scratch = fresh_scratch(&args.out)?;
    let load = LoadtestArgs::wrk_only(
        &args.out,
        args.duration,
        args.connections,
        args.wrk_threads,
        0,
    );
    let settings = [true, false];
    let mut servers = Vec::new();
    for on in settings {
        servers.push((on, config_for(cfg, &scratch, on)?));
    }
    let mut runs: Vec<(bool, WrkResult)> = Vec::new();
    let mut scrape_ms: Vec<f64> = Vec::new();
    let mut scrape_bytes = 0usize;
    let mut series = 0usize;
    for round in 0..args.rounds.max(1) {
        for (on, (base, admin, config)) in &servers {
            let label = if *on { "on" } else { "off" };
            let log = args.out.join(format!("inherence-{label}.log"));
            let server = start_server(config, &log, base.clone())?;
            check_token(base, "/token", "loadtest-admin", Some("enrolment"))?;
            let script = client_credentials_script(
                &scratch,
                "cc.lua",
                "/token",
                "loadtest-admin",
                Some("enrolment"),
            )?;
            eprintln!(
                "round {}: metrics {label}: warm-up, then {} s",
                round + 1,
                args.duration
            );
            let url = format!("{base}/token");
            run_wrk(&load, &url, Some(&script))?;
            runs.push((*on, run_wrk(&load, &url, Some(&script))?));
            if *on && round == 0 {
                touch_routes(base);
                let c = reqwest::blocking::Client::new();
                for i in 0..args.scrapes + 20 {
                    let t = Instant::now();
                    let r = c.get(format!("{admin}/metrics")).send().map_err(fail)?;
                    if !r.status().is_success() {
                        return Err(fail(format!("/metrics answered {}", r.status())));
                    }
                    let body = r.text().map_err(fail)?;
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    // The first scrapes warm the connection.
                    if i >= 20 {
                        scrape_ms.push(ms);
                    }
                    scrape_bytes = body.len();
                    series = body
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.is_empty())
                        .count();
                }
            }
            drop(server);
        }
    }
    scrape_ms.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    let mean = |on: bool| {
        let v: Vec<f64> = runs.iter().filter(|r| r.0 == on).map(|r| r.1.rps).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (with, without) = (mean(true), mean(false));
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# What the metrics cost\n\n\
         `/token` (client credentials, client_secret_basic), wrk -t{} -c{} -d{}s after a \
         warm-up of the same length, {} rounds alternating metrics on and off (a fresh server \
         each time); {} CPUs.\n",
        args.wrk_threads,
        args.connections,
        args.duration,
        args.rounds.max(1),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    md.push_str("| round | metrics | requests/s | p50 ms | p99 ms | errors |\n");
    md.push_str("|---:|---|---:|---:|---:|---:|\n");
    for (i, (on, r)) in runs.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            i / 2 + 1,
            if *on { "on" } else { "off" },
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
    }
    let _ = writeln!(
        md,
        "\nMean requests/s: {with:.0} with metrics, {without:.0} without: the metrics cost \
         {:.1} % of the throughput (target <= 3 %).\n",
        (1.0 - with / without.max(f64::MIN_POSITIVE)) * 100.0
    );
    if !scrape_ms.is_empty() {
        let _ = writeln!(
            md,
            "Scrape of `/metrics` on the admin listener, after the load and one request to \
             every kind of route ({series} samples, {} KiB), timed from the client over \
             loopback, {} scrapes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 5 ms).",
            scrape_bytes / 1024,
            scrape_ms.len(),
            pct(&scrape_ms, 0.50),
            pct(&scrape_ms, 0.99),
            scrape_ms[scrape_ms.len() - 1],
        );
    }
    std::fs::write(args.out.join("metrics.md"), &md).map_err(fail)?;
    let _ = std::io::stdout().write_all(md.as_bytes());
    if runs.iter().any(|(_, r)| r.errors > 0) {
        return Err(fail(
            "some measured requests failed (see the errors column)",
        ));
    }
    Ok(())
}
