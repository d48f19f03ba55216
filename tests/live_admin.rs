//! The CLI beside a running server on the embedded store: the store belongs to the server, so
//! `api-keys` and `subjects` commands refuse clearly instead of printing success for a change
//! the server would never see (and compacting the log under its appends). With the server
//! stopped they work, and the server sees the change when it starts. (Over Redis, changes
//! reach running instances: conformance `redis_store::cli_changes_reach_every_running_instance_within_a_second`.)
//! Needs the installed models.

mod common;

use std::process::Command;

use common::*;

fn cli(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inherence"))
        .args(["--config", cfg.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_to_change_a_store_a_running_server_owns() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = write_config(dir.path(), port, "");
    let key = api_key(&cfg);
    let mut server = start(&cfg);
    wait_healthy(&base, &mut server).await;
    assert_eq!(get(&base, &key, "/v3/workflows/").await, 200);

    let listed = cli(&cfg, &["api-keys", "list"]);
    assert!(
        !listed.status.success(),
        "the CLI opened the store a running server owns"
    );
    let err = String::from_utf8_lossy(&listed.stderr).into_owned();
    assert!(err.contains("in use by another process"), "{err}");
    assert!(err.contains("Stop it first"), "{err}");
    for args in [
        &["api-keys", "create", "second"][..],
        &["api-keys", "revoke", "anything"][..],
        &["subjects", "delete", "alice"][..],
        &["subjects", "list"][..],
    ] {
        let o = cli(&cfg, args);
        assert!(
            !o.status.success(),
            "{args:?} must refuse while the server runs"
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("in use by another process"), "{args:?}: {err}");
    }
    // Nothing changed: the key still works, and the server's store is intact.
    assert_eq!(get(&base, &key, "/v3/workflows/").await, 200);

    // Stopped, the CLI works, and the restarted server sees its change.
    server.kill().unwrap();
    server.wait().unwrap();
    let listed = cli(&cfg, &["api-keys", "list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = keys[0]["id"].as_str().unwrap().to_owned();
    let o = cli(&cfg, &["api-keys", "revoke", &id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut server = start(&cfg);
    wait_healthy(&base, &mut server).await;
    assert_eq!(get(&base, &key, "/v3/workflows/").await, 403);
    server.kill().unwrap();
    let _ = server.wait();
}
