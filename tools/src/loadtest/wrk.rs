//! The HTTP measurements: wrk runs and the Lua scripts they post with.

use super::*;

/// What wrk measured.
pub(super) struct WrkResult {
    pub(super) rps: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) requests: u64,
    pub(super) errors: u64,
}

pub(super) fn wrk_ms(s: &str) -> Option<f64> {
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

pub(super) fn run_wrk(
    args: &LoadtestArgs,
    url: &str,
    script: Option<&Path>,
) -> Result<WrkResult, Failure> {
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
pub(super) fn token_script(
    dir: &Path,
    codes_file: &Path,
    threads: u32,
) -> Result<PathBuf, Failure> {
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

/// A LIVENESS + FACE_MATCH workflow for the session measurement.
pub(super) fn create_workflow(base: &str, api_key: &str) -> Result<String, Failure> {
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
pub(super) fn session_script(
    dir: &Path,
    api_key: &str,
    workflow: &str,
) -> Result<PathBuf, Failure> {
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
