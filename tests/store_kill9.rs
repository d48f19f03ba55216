//! The embedded store survives `kill -9` between any two writes: the real server takes writes
//! (workflow creations, each acknowledged with 201 only after its fsynced append), is killed
//! at a different moment in every round, restarts on the same directory, and every
//! acknowledged write is there. Needs the installed models.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_in_every_round() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The per-key write budget would otherwise refuse most of the writes.
    let cfg = write_config(
        dir.path(),
        port,
        "[api]\nwrite_per_minute = 1000000\nread_per_minute = 1000000",
    );
    let key = api_key(&cfg);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..8u64 {
        let mut server = start(&cfg);
        wait_healthy(&base, &mut server).await;
        // Four writers until the kill.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for _ in 0..4 {
            let (base, key, acked, stop) = (base.clone(), key.clone(), acked.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let (st, v) = post(
                        &base,
                        &key,
                        "/v3/workflows/",
                        &json!({"features": [{"feature": "LIVENESS"}]}),
                    )
                    .await;
                    match st {
                        201 => acked
                            .lock()
                            .unwrap()
                            .push(v["uuid"].as_str().unwrap().to_owned()),
                        400 => break, // the 50-workflow limit: enough writes for this round
                        _ => {}
                    }
                }
            }));
        }
        // A different moment in every round (20-300 ms of writing).
        tokio::time::sleep(Duration::from_millis(20 + round * 37 % 280)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in writers {
            w.await.unwrap();
        }
        // Restart on the same directory: every acknowledged write is there. Then make room for
        // the next round (at most 50 workflows): delete them (acknowledged writes too).
        let mut server = start(&cfg);
        wait_healthy(&base, &mut server).await;
        let ids = acked.lock().unwrap().clone();
        assert!(
            !ids.is_empty(),
            "round {round}: nothing was written before the kill"
        );
        for id in &ids {
            assert_eq!(
                get(&base, &key, &format!("/v3/workflows/{id}/")).await,
                200,
                "round {round}: {id} lost"
            );
        }
        for id in &ids {
            let st = reqwest::Client::new()
                .delete(format!("{base}/v3/workflows/{id}/"))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(st, 204);
        }
        acked.lock().unwrap().clear();
        server.kill().unwrap();
        server.wait().unwrap();
    }
}
