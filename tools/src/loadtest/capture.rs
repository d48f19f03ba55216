//! Capture users: whole step-ups answered by the responding test camera.

use super::*;

/// One user's step-ups; returns the upload-to-verdict latencies (ms) and the outcomes. The
/// user answers each challenge with the responding test camera (`eval::camera`) playing the
/// recording, and uploads once the challenge's sequence would have been recorded.
pub(super) async fn capture_user(
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
        let (capture, cookie) = to_capture(&r)?;
        if think_ms > 0 {
            let pause = think_ms + u64::from(pace.below(500));
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        let (upload_ms, verdict) = face_check(
            &http,
            &base,
            &capture,
            &cookie,
            &footage,
            &rendered,
            (offset * 1_000 + round) as u64,
        )
        .await?;
        lat.push(upload_ms);
        if verdict {
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

/// Where the authorization endpoint sent the browser (the capture page's path) and the
/// binding cookie it set.
pub(super) fn to_capture(r: &reqwest::Response) -> Result<(String, String), String> {
    let capture = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("authorize answered {} without a redirect", r.status()))?
        .to_owned();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .to_owned();
    Ok((capture, cookie))
}

/// One face check on the capture page at `capture` (a path): asks for the challenge, answers
/// it with the test camera (in the browser `cookie` binds), waits for the sequence to be over and uploads the burst. Returns
/// the upload-to-verdict latency (ms) and whether the check approved.
pub(super) async fn face_check(
    http: &reqwest::Client,
    base: &str,
    capture: &str,
    cookie: &str,
    footage: &Arc<inherence::eval::camera::Footage>,
    rendered: &Arc<inherence::eval::camera::Rendered>,
    seed: u64,
) -> Result<(f64, bool), String> {
    let asked = Instant::now();
    let c: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!("{base}{capture}/challenge"))
            .header("cookie", cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let spec: inherence::biometric::capture::CaptureSpec =
        serde_json::from_value(c.clone()).map_err(|e| format!("challenge: {e}: {c}"))?;
    let (f, r) = (footage.clone(), rendered.clone());
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
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    let upload_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok((upload_ms, v["status"] == "approved"))
}

pub(super) struct CaptureResult {
    pub(super) p50: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
    pub(super) n: usize,
    pub(super) approved: usize,
    pub(super) wall_s: f64,
}

pub(super) fn run_capture(
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

/// Enrols the capture users' face for `subject` through the enrolment API.
pub(super) fn enrol(base: &str, portrait: &Path, subject: &str) -> Result<(), Failure> {
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
        .put(format!("{base}/api/v1/subjects/{subject}/face"))
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
