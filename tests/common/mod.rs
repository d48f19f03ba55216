//! Running the real `inherence` binary from integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/eval/dev` (or `$INHERENCE_SHARED_DIR/eval/dev`), or `None` with a SKIPPED line.
pub fn shared_dev() -> Option<PathBuf> {
    let dir = std::env::var_os("INHERENCE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"))
        .join("eval/dev");
    if dir.is_dir() {
        return Some(dir);
    }
    // Absent data fails the test, unless skipping was asked for explicitly.
    if std::env::var("INHERENCE_SKIP_SHARED").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED (INHERENCE_SKIP_SHARED=1): {} is absent",
            dir.display()
        );
        return None;
    }
    panic!(
        "{} is absent (set INHERENCE_SHARED_DIR, or INHERENCE_SKIP_SHARED=1 to skip)",
        dir.display()
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config file for a server on `port` with the embedded store in `dir/store`, plus `extra`.
pub fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let cfg = dir.join("inherence.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:0"
[oidc]
issuer = "http://127.0.0.1:{port}"
[store]
path = "{store}"
[models]
dir = "{models}"
manifest = "{models}/manifest.toml"
{extra}
"#,
            store = dir.join("store").display(),
            models = root().join("models").display()
        ),
    )
    .unwrap();
    cfg
}

/// `inherence api-keys create` (server stopped); returns the key.
pub fn api_key(cfg: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_inherence"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "api-keys",
            "create",
            "test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn start(cfg: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_inherence"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start inherence serve")
}

pub async fn wait_healthy(base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("inherence serve exited early: {status}");
        }
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs JSON with the key; the status and the parsed body.
pub async fn post(base: &str, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await;
    match r {
        Ok(r) => {
            let st = r.status().as_u16();
            (
                st,
                serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or(Value::Null),
            )
        }
        Err(_) => (0, Value::Null),
    }
}

pub async fn get(base: &str, key: &str, path: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("x-api-key", key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}
