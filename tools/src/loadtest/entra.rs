//! `inherence-tools loadtest-entra`: Microsoft Entra ID's external authentication method,
//! timed on the server's side of the flow.
//!
//! The Entra simulator of the conformance suite (`conformance::entra`: its own RSA key and
//! JWKS, the documented request, every documented rule of the answer) plays Entra; the
//! `inherence` server runs as a child process with the real engine. Each step-up is Entra's
//! form POST to `/authorize` (a fresh signed `id_token_hint` and nonce), the capture page, the
//! face check answered by the responding test camera, and the finish page that posts the ID
//! token back, which the simulator must judge "satisfied". Timed apart: the server's part
//! without the face check (authorization request, capture page, finish), and the face check's
//! upload-to-verdict.

use super::*;
use conformance::entra::{self, Entra, Outcome};

const EAM_CLIENT: &str = "entra-eam";
const ACR: &str = entra::DEFAULT_ACR;

#[derive(Debug, Clone, Args)]
pub struct EntraArgs {
    /// Where to write the report (entra.md) and the server log.
    #[arg(long, default_value = "out/loadtest-entra")]
    out: PathBuf,
    /// Step-ups per user.
    #[arg(long, default_value_t = 25)]
    rounds: usize,
    /// Concurrent users of the second run (the first has one).
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// MJPEG camera recording the test camera answers challenges from, and the portrait of the
    /// same person to enrol.
    #[arg(long)]
    video: PathBuf,
    #[arg(long)]
    portrait: PathBuf,
}

/// One user's step-ups: (server ms without the face check, face check upload ms) each.
async fn entra_user(
    sim: Entra,
    user: entra::User,
    base: String,
    footage: Arc<inherence::eval::camera::Footage>,
    rendered: Arc<inherence::eval::camera::Rendered>,
    offset: usize,
    rounds: usize,
) -> Result<Vec<(f64, f64)>, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for round in 0..rounds {
        let (_, fields) = sim.request(&user, &[ACR], None);
        let t0 = Instant::now();
        let r = http
            .post(format!("{base}/authorize"))
            .form(&fields)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let (capture, cookie) = to_capture(&r)?;
        let page = http
            .get(format!("{base}{capture}"))
            .header("cookie", &cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !page.status().is_success() {
            return Err(format!("capture page: {}", page.status()));
        }
        page.bytes().await.map_err(|e| e.to_string())?;
        let before = t0.elapsed();
        let (upload_ms, approved) = face_check(
            &http,
            &base,
            &capture,
            &cookie,
            &footage,
            &rendered,
            (offset * 1_000 + round) as u64,
        )
        .await?;
        if !approved {
            return Err("the face check declined the test camera".into());
        }
        let t1 = Instant::now();
        let r = http
            .get(format!("{base}{capture}/finish"))
            .header("cookie", &cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let html = r.text().await.map_err(|e| e.to_string())?;
        let server = (before + t1.elapsed()).as_secs_f64() * 1000.0;
        match sim.receive(&hidden_fields(&html)).await {
            Outcome::Satisfied { .. } => out.push((server, upload_ms)),
            other => return Err(format!("Entra did not accept the answer: {other:?}")),
        }
    }
    Ok(out)
}

/// The hidden fields of the auto-posting form Inherence answers with.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        let at = tag.find(&key)? + key.len();
        let len = tag[at..].find('"')?;
        Some(unescape(&tag[at..at + len]))
    };
    html.split("<input ")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect()
}

pub fn run(cfg: &Config, args: EntraArgs) -> Result<(), Failure> {
    let scratch = fresh_scratch(&args.out)?;
    let (footage, rendered) = load_footage(cfg, &args.video)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(fail)?;
    let (tenant, app_id) = (entra::guid(), entra::guid());
    let sim = rt.block_on(Entra::start(entra::Setup {
        discovery_url: String::new(),
        client_id: EAM_CLIENT.into(),
        app_id: app_id.clone(),
        tenant_id: tenant.clone(),
    }));

    let (base, config, _) = embedded_config(cfg, &scratch, "config.toml", Variant::Before)?;
    add_entra(&config, &sim, &tenant, &app_id)?;
    let _server = start_server(&config, &args.out.join("server.log"), base.clone())?;
    sim.set_discovery_url(&format!("{base}/.well-known/openid-configuration"));
    let users: Vec<entra::User> = (0..args.users.max(1))
        .map(|i| sim.add_user(&format!("user{i}@contoso.example")))
        .collect();
    for u in &users {
        enrol(&base, &args.portrait, &u.oid)?;
    }
    // The directory's keys are fetched in the background at start: wait for the first
    // accepted request.
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(fail)?;
    let mut ready = false;
    for _ in 0..40 {
        let (_, fields) = sim.request(&users[0], &[ACR], None);
        let r = http
            .post(format!("{base}/authorize"))
            .form(&fields)
            .send()
            .map_err(fail)?;
        if r.status().is_redirection() {
            ready = true;
            break;
        }
        // Waiting for another process in real time: no clock to inject.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(250));
    }
    if !ready {
        return Err(fail("the Entra hint was never accepted (see server.log)"));
    }

    let mut report = format!(
        "# Entra external authentication method: server time\n\n\
         Each step-up: the Entra simulator's form POST to /authorize (a fresh signed \
         id_token_hint and nonce), the capture page, the face check (the responding test camera \
         playing `{}`; liveness method {}), then the finish page posting the ID token, which \
         the simulator judged satisfied every time. \"Server, without the face check\" = \
         authorization request + capture page + finish, measured by this client over loopback \
         (an upper bound of the server's time).\n\n\
         | users | step-ups | server without the face check p50 ms | p99 ms | max ms | face check upload p50 ms | p99 ms |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
        args.video.file_name().unwrap_or_default().to_string_lossy(),
        cfg.liveness.method,
    );
    let mut runs = vec![1];
    if args.users > 1 {
        runs.push(args.users);
    }
    for n in runs {
        eprintln!("entra: {n} users x {} step-ups", args.rounds);
        let results = rt.block_on(async {
            let tasks: Vec<_> = users[..n]
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    tokio::spawn(entra_user(
                        sim.clone(),
                        u.clone(),
                        base.clone(),
                        footage.clone(),
                        rendered.clone(),
                        i,
                        args.rounds,
                    ))
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.map_err(|e| e.to_string())??);
            }
            Ok::<_, String>(all)
        });
        let all = results.map_err(fail)?;
        let server: Vec<f64> = all.iter().map(|(s, _)| *s).collect();
        let face: Vec<f64> = all.iter().map(|(_, f)| *f).collect();
        let pct = |v: &[f64], q| inherence::eval::metrics::percentile(v, q).unwrap_or(f64::NAN);
        let _ = writeln!(
            report,
            "| {n} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
            all.len(),
            pct(&server, 50.0),
            pct(&server, 99.0),
            pct(&server, 100.0),
            pct(&face, 50.0),
            pct(&face, 99.0),
        );
    }
    let path = args.out.join("entra.md");
    std::fs::write(&path, &report).map_err(fail)?;
    print!("{report}");
    eprintln!("report: {}", path.display());
    Ok(())
}

/// Adds what the Entra documentation has the admin configure: the id_token client with
/// Entra's redirect URI, the directory as a trusted issuer (keys from its JWKS URI, hints at
/// most 900 s old, mapped by `oid`, `sub`/`oid`/`tid` echoed), and the acr Entra asks for.
fn add_entra(config: &Path, sim: &Entra, tenant: &str, app_id: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(config).map_err(fail)?;
    let mut c: inherence::config::Config = toml::from_str(&text).map_err(fail)?;
    c.oidc.acr_values_supported.push(ACR.into());
    c.oidc
        .trusted_issuers
        .push(inherence::flow::settings::TrustedIssuer {
            issuer: entra::issuer_of(tenant),
            jwks: None,
            jwks_uri: Some(sim.jwks_uri()),
            jwks_refresh_secs: 3600,
            max_age_secs: Some(900),
            echo_claims: vec!["sub".into(), "oid".into(), "tid".into()],
            subject_claim: "oid".into(),
            audiences: vec![app_id.to_owned()],
            tenants: vec![],
        });
    let mut table = toml::Table::try_from(&c).map_err(fail)?;
    table.remove("clients");
    let mut out = toml::to_string(&table).map_err(fail)?;
    // The clients as written (their secrets are not serialised back).
    let clients = text.find("\n[[clients]]").map(|i| &text[i..]).unwrap_or("");
    out.push_str(clients);
    write!(
        out,
        "\n[[clients]]\nclient_id = \"{EAM_CLIENT}\"\nauth_method = \"none\"\n\
         response_types = [\"id_token\"]\nredirect_uris = [\"{}\"]\nid_token_alg = \"RS256\"\n",
        sim.redirect_uri()
    )
    .map_err(fail)?;
    std::fs::write(config, out).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_posted_fields_are_read_back_unescaped() {
        let html = "<form method=\"post\" action=\"https://x/cb\"><input type=\"hidden\" name=\"id_token\" value=\"a.b.c\"><input type=\"hidden\" name=\"state\" value=\"s&amp;&quot;t&lt;\"><p>x</p></form>";
        assert_eq!(
            super::hidden_fields(html),
            vec![
                ("id_token".to_owned(), "a.b.c".to_owned()),
                ("state".to_owned(), "s&\"t<".to_owned())
            ]
        );
        assert!(super::hidden_fields("<p>no form</p>").is_empty());
    }
}
