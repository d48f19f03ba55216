//! `inherence-tools loadtest-keycloak`: Inherence's token endpoint side by side with a real
//! Keycloak's on this machine, under the same load (wrk, same threads, connections and
//! duration), one server at a time so that neither takes CPU from the other.
//!
//! Both answer the client-credentials grant of a confidential client authenticated with
//! `client_secret_basic`; Inherence's authorization-code exchange (PKCE, single-use code, ID
//! and access token signed) is measured too. Keycloak runs from the same distribution the
//! end-to-end tests use, first in production mode (`kc.sh start`, its dev-file database), then
//! in development mode (`kc.sh start-dev`, which the end-to-end tests run).

use super::*;

const KC_REALM: &str = "bench";
const KC_CLIENT: &str = "bench-client";

#[derive(Debug, Clone, Args)]
pub struct KeycloakArgs {
    /// Where to write the report (keycloak.md) and the servers' logs.
    #[arg(long, default_value = "out/loadtest-keycloak")]
    out: PathBuf,
    /// The unpacked keycloak-quarkus-dist (`make keycloak-dist`).
    #[arg(long, env = "KEYCLOAK_HOME")]
    keycloak_home: PathBuf,
    /// JAVA_HOME for Keycloak (default: the environment's).
    #[arg(long, env = "KEYCLOAK_JAVA_HOME")]
    java_home: Option<PathBuf>,
    /// Seconds per measurement (after a warm-up of the same length).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Open connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    wrk_threads: u32,
    /// Authorization codes minted for Inherence's code exchange.
    #[arg(long, default_value_t = 250_000)]
    codes: usize,
}

/// A running Keycloak (its process group is killed on drop).
struct Keycloak {
    child: Child,
}

impl Drop for Keycloak {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn realm_json() -> String {
    serde_json::json!({
        "realm": KC_REALM,
        "enabled": true,
        "clients": [{
            "clientId": KC_CLIENT,
            "enabled": true,
            "publicClient": false,
            "clientAuthenticatorType": "client-secret",
            "secret": SECRET,
            "serviceAccountsEnabled": true,
            "standardFlowEnabled": false,
            "directAccessGrantsEnabled": false,
        }],
    })
    .to_string()
}

/// How Keycloak is started: `kc.sh start` (production) or `kc.sh start-dev`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Production,
    Development,
}

impl Mode {
    fn command(self) -> &'static str {
        match self {
            Mode::Production => "start",
            Mode::Development => "start-dev",
        }
    }
}

fn start_keycloak(
    args: &KeycloakArgs,
    scratch: &Path,
    mode: Mode,
) -> Result<(Keycloak, String), Failure> {
    use std::os::unix::process::CommandExt as _;
    let kc_sh = args.keycloak_home.join("bin/kc.sh");
    if !kc_sh.is_file() {
        return Err(Failure::usage(format!(
            "{} is not an unpacked Keycloak distribution (make keycloak-dist)",
            args.keycloak_home.display()
        )));
    }
    // A fresh copy: its own database, nothing left from another run.
    let home = scratch.join(format!("keycloak-{}", mode.command()));
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&args.keycloak_home)
        .arg(&home)
        .status()
        .map_err(fail)?;
    if !copied.success() {
        return Err(fail("cannot copy the Keycloak distribution"));
    }
    let import = home.join("data/import");
    std::fs::create_dir_all(&import).map_err(fail)?;
    std::fs::write(import.join("bench-realm.json"), realm_json()).map_err(fail)?;
    let (port, mgmt) = (free_port()?, free_port()?);
    let log = std::fs::File::create(args.out.join(format!("keycloak-{}.log", mode.command())))
        .map_err(fail)?;
    let mut cmd = Command::new(home.join("bin/kc.sh"));
    cmd.args([
        mode.command(),
        "--import-realm",
        "--db=dev-file",
        "--http-enabled=true",
        "--http-host=127.0.0.1",
        &format!("--http-port={port}"),
        &format!("--http-management-port={mgmt}"),
        "--hostname-strict=false",
        "--log-level=WARN",
    ])
    .env("KC_BOOTSTRAP_ADMIN_USERNAME", "admin")
    .env("KC_BOOTSTRAP_ADMIN_PASSWORD", SECRET)
    .stdout(log.try_clone().map_err(fail)?)
    .stderr(log)
    .process_group(0);
    if let Some(j) = &args.java_home {
        cmd.env("JAVA_HOME", j);
    }
    let kc = Keycloak {
        child: cmd.spawn().map_err(fail)?,
    };
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/realms/{KC_REALM}/.well-known/openid-configuration");
    for _ in 0..1200 {
        if reqwest::blocking::get(&ready).is_ok_and(|r| r.status().is_success()) {
            return Ok((kc, base));
        }
        // Waiting for another process in real time: no clock to inject.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(fail(
        "Keycloak did not start in 5 minutes (see keycloak.log)",
    ))
}

/// wrk script: the client-credentials grant with client_secret_basic.
pub(super) fn client_credentials_script(
    dir: &Path,
    name: &str,
    path: &str,
    client: &str,
    scope: Option<&str>,
) -> Result<PathBuf, Failure> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{SECRET}"));
    let body = match scope {
        Some(s) => format!("grant_type=client_credentials&scope={s}"),
        None => "grant_type=client_credentials".to_owned(),
    };
    let script = format!(
        r#"wrk.method = "POST"
wrk.path = "{path}"
wrk.body = "{body}"
wrk.headers["Authorization"] = "Basic {basic}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"#
    );
    let file = dir.join(name);
    std::fs::write(&file, script).map_err(fail)?;
    Ok(file)
}

/// One token request as a check that the measured requests succeed.
pub(super) fn check_token(
    base: &str,
    path: &str,
    client: &str,
    scope: Option<&str>,
) -> Result<(), Failure> {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(client, Some(SECRET))
        .form(&form)
        .send()
        .map_err(fail)?;
    let status = r.status();
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().map_err(fail)?).unwrap_or_default();
    if !status.is_success() || !v["access_token"].is_string() {
        return Err(fail(format!(
            "{base}{path}: no access token ({status}): {v}"
        )));
    }
    Ok(())
}

pub fn run(cfg: &Config, args: KeycloakArgs) -> Result<(), Failure> {
    let scratch = fresh_scratch(&args.out)?;
    let load = LoadtestArgs::wrk_only(
        &args.out,
        args.duration,
        args.connections,
        args.wrk_threads,
        args.codes,
    );
    // Every code is spent once: as many seconds as the codes last at the expected rate.
    let code_load = LoadtestArgs {
        duration: args.duration.min(10),
        ..load.clone()
    };
    let measure = |url: &str, script: &Path, what: &str| -> Result<WrkResult, Failure> {
        eprintln!("{what}: warm-up, then {} s", args.duration);
        run_wrk(&load, url, Some(script))?;
        run_wrk(&load, url, Some(script))
    };

    // Inherence alone on the machine, with the configuration the load test runs. The code
    // exchange first, while the minted codes are fresh (they live code_lifetime_secs).
    let (base, config, store_cfg) =
        embedded_config(cfg, &scratch, "inherence.toml", Variant::TenantsAndLimits)?;
    eprintln!("minting {} authorization codes", args.codes);
    let codes = mint_codes(&store_cfg, args.codes, cfg.oidc.code_lifetime_secs)?;
    let codes_file = scratch.join("codes.txt");
    std::fs::write(&codes_file, codes.join("\n") + "\n").map_err(fail)?;
    let server = start_server(&config, &args.out.join("inherence.log"), base.clone())?;
    // The code exchange: one distinct code per request, no warm-up run (it would spend them).
    let script = token_script(&scratch, &codes_file, args.wrk_threads)?;
    eprintln!("Inherence code exchange: {} s", code_load.duration);
    let inherence_code = run_wrk(&code_load, &format!("{base}/token"), Some(&script))?;
    check_token(&base, "/token", "loadtest-admin", Some("enrolment"))?;
    let script = client_credentials_script(
        &scratch,
        "inh.lua",
        "/token",
        "loadtest-admin",
        Some("enrolment"),
    )?;
    let inherence_cc = measure(
        &format!("{base}/token"),
        &script,
        "Inherence client credentials",
    )?;
    drop(server);

    // Then Keycloak alone on the machine, in each mode.
    let kc_path = format!("/realms/{KC_REALM}/protocol/openid-connect/token");
    let mut kc_runs = Vec::new();
    for mode in [Mode::Production, Mode::Development] {
        eprintln!(
            "starting Keycloak, kc.sh {} ({})",
            mode.command(),
            args.keycloak_home.display()
        );
        let started = Instant::now();
        let (kc, kc_base) = start_keycloak(&args, &scratch, mode)?;
        let startup = started.elapsed().as_secs_f64();
        check_token(&kc_base, &kc_path, KC_CLIENT, None)?;
        let script = client_credentials_script(&scratch, "kc.lua", &kc_path, KC_CLIENT, None)?;
        let r = measure(
            &format!("{kc_base}{kc_path}"),
            &script,
            &format!("Keycloak ({}) client credentials", mode.command()),
        )?;
        drop(kc);
        kc_runs.push((mode, startup, r));
    }

    let jvm = args
        .java_home
        .as_ref()
        .map(|j| j.display().to_string())
        .unwrap_or_else(|| "the default java".into());
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Token endpoint: Inherence and Keycloak on this machine\n\n\
         wrk -t{} -c{} -d{}s after a warm-up run of the same length (the code exchange: \
         {} s on fresh single-use codes, no warm-up); one server at a time; {} CPUs. Keycloak: \
         `kc.sh start` (production mode, dev-file database) and `kc.sh start-dev` on {jvm}, \
         started in {:.0} s and {:.0} s; its access tokens are signed RS256. Inherence: embedded \
         store, tenants and client budgets on; access tokens signed ES256 (its first \
         `keys.algorithms`).\n",
        args.wrk_threads,
        args.connections,
        args.duration,
        code_load.duration,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kc_runs[0].1,
        kc_runs[1].1,
    );
    md.push_str("| server | request | requests/s | p50 ms | p99 ms | errors |\n");
    md.push_str("|---|---|---:|---:|---:|---:|\n");
    for (server, what, r) in [
        (
            "Keycloak (kc.sh start)",
            "client credentials (client_secret_basic)",
            &kc_runs[0].2,
        ),
        (
            "Keycloak (kc.sh start-dev)",
            "client credentials (client_secret_basic)",
            &kc_runs[1].2,
        ),
        (
            "Inherence",
            "client credentials (client_secret_basic, scope enrolment)",
            &inherence_cc,
        ),
        (
            "Inherence",
            "authorization code + PKCE (ID and access token signed)",
            &inherence_code,
        ),
    ] {
        let _ = writeln!(
            md,
            "| {server} | {what} | {:.0} | {:.2} | {:.2} | {} |",
            r.rps, r.p50_ms, r.p99_ms, r.errors
        );
    }
    for (mode, _, r) in &kc_runs {
        let _ = writeln!(
            md,
            "\nInherence's client credentials / Keycloak's (kc.sh {}): {:.1}x requests/s.",
            mode.command(),
            inherence_cc.rps / r.rps.max(f64::MIN_POSITIVE)
        );
    }
    std::fs::write(args.out.join("keycloak.md"), &md).map_err(fail)?;
    let _ = std::io::stdout().write_all(md.as_bytes());
    let kc_errors: u64 = kc_runs.iter().map(|(_, _, r)| r.errors).sum();
    if kc_errors + inherence_cc.errors + inherence_code.errors > 0 {
        return Err(fail(
            "some measured requests failed (see the errors column)",
        ));
    }
    Ok(())
}
