//! The embedded store survives `kill -9` between any two writes: the real server takes writes
//! (workflow creations and deletions, each acknowledged only after its fsynced append) from
//! four writers, is killed at a different moment in every round, restarts on the same
//! directory, and every acknowledged write is there (and every acknowledged deletion stays
//! deleted). A second test does the same with enrolments and erasures of face templates (each
//! one write of the subject's key into its own file, then one of the sealed template). Needs the
//! installed models; the enrolment test needs ../shared/eval/dev.

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
    let gone: Arc<Mutex<Vec<String>>> = Arc::default();
    // Deletions cut off by the kill: either outcome is correct; cleaned up after the round.
    let unsure: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..8u64 {
        let mut server = start(&cfg);
        wait_healthy(&base, &mut server).await;
        // Four writers until the kill, each creating and deleting (keeping at most 5 of its
        // own), so writes are in flight whenever the kill comes.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for _ in 0..4 {
            let (base, key, acked, gone, unsure, stop) = (
                base.clone(),
                key.clone(),
                acked.clone(),
                gone.clone(),
                unsure.clone(),
                stop.clone(),
            );
            writers.push(tokio::spawn(async move {
                let mut mine: Vec<String> = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let (st, v) = post(
                        &base,
                        &key,
                        "/v3/workflows/",
                        &json!({"features": [{"feature": "LIVENESS"}]}),
                    )
                    .await;
                    if st == 201 {
                        let id = v["uuid"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push(id.clone());
                        mine.push(id);
                    }
                    if mine.len() > 5 {
                        let old = mine.remove(0);
                        // Until its answer arrives, a deletion may or may not have happened.
                        acked.lock().unwrap().retain(|x| *x != old);
                        let r = reqwest::Client::new()
                            .delete(format!("{base}/v3/workflows/{old}/"))
                            .header("x-api-key", &key)
                            .send()
                            .await;
                        if r.is_ok_and(|r| r.status().as_u16() == 204) {
                            gone.lock().unwrap().push(old);
                        } else {
                            unsure.lock().unwrap().push(old);
                        }
                    }
                }
            }));
        }
        // A different moment in every round: 20-300 ms of writing after the first
        // acknowledged write (a busy machine may take longer than that to acknowledge one).
        let first = std::time::Instant::now();
        while acked.lock().unwrap().is_empty() && first.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
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
        let leftovers: Vec<String> = unsure.lock().unwrap().drain(..).collect();
        for id in ids.iter().chain(leftovers.iter()) {
            let st = reqwest::Client::new()
                .delete(format!("{base}/v3/workflows/{id}/"))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap()
                .status();
            assert!(
                st == 204 || st == 404 && leftovers.contains(id),
                "round {round}: deleting {id} answered {st}"
            );
        }
        acked.lock().unwrap().clear();
        server.kill().unwrap();
        server.wait().unwrap();
    }
}

const ADMIN_SECRET: &str = "kill9-admin-secret-0123456789abcdef012345";

async fn admin_token(base: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("admin", Some(ADMIN_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=enrolment")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
    v["access_token"].as_str().expect("admin token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_enrolments_and_erasures_survive_kill_9_in_every_round() {
    let Some(dev) = shared_dev() else { return };
    let portrait =
        std::fs::read(dev.join("images/lfw_Donald_Rumsfeld/Donald_Rumsfeld_0001.jpg")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = write_config(
        dir.path(),
        port,
        &format!(
            "[[clients]]\nclient_id = \"admin\"\nname = \"Admin\"\nredirect_uris = []\n\
             auth_method = \"client_secret_basic\"\nclient_secret = \"{ADMIN_SECRET}\"\n\
             enrolment_api = true\n"
        ),
    );
    let enrolled: Arc<Mutex<Vec<String>>> = Arc::default();
    let erased: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut checked = (0usize, 0usize);
    for round in 0..6u64 {
        let mut server = start(&cfg);
        wait_healthy(&base, &mut server).await;
        let token = admin_token(&base).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // One writer: enrol a subject, erase the one before (acknowledged erasures only count).
        let writer = {
            let (base, token, portrait, enrolled, erased, stop) = (
                base.clone(),
                token.clone(),
                portrait.clone(),
                enrolled.clone(),
                erased.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut previous: Option<String> = None;
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    let subject = format!("r{round}-s{n}");
                    let r = client
                        .put(format!("{base}/api/v1/subjects/{subject}/face"))
                        .bearer_auth(&token)
                        .body(portrait.clone())
                        .send()
                        .await;
                    let Ok(r) = r else { break };
                    if r.status().as_u16() != 201 {
                        break;
                    }
                    enrolled.lock().unwrap().push(subject.clone());
                    if let Some(p) = previous.replace(subject) {
                        // Until its answer arrives, an erasure may or may not have happened.
                        enrolled.lock().unwrap().retain(|x| *x != p);
                        let r = client
                            .delete(format!("{base}/api/v1/subjects/{p}/face"))
                            .bearer_auth(&token)
                            .send()
                            .await;
                        if r.is_ok_and(|r| r.status().as_u16() == 204) {
                            erased.lock().unwrap().push(p);
                        }
                    }
                }
            })
        };
        // A different moment in every round (0.3-1.5 s of enrolling).
        tokio::time::sleep(Duration::from_millis(300 + round * 457 % 1200)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.await.unwrap();
        // Restart: every acknowledged enrolment opens (its subject key survived with it), and
        // every acknowledged erasure stayed erased.
        let mut server = start(&cfg);
        wait_healthy(&base, &mut server).await;
        let token = admin_token(&base).await;
        let client = reqwest::Client::new();
        let status = |s: String| {
            let req = client
                .get(format!("{base}/api/v1/subjects/{s}/face"))
                .bearer_auth(&token);
            async move { (req.send().await.unwrap().status().as_u16(), s) }
        };
        let acked: Vec<String> = enrolled.lock().unwrap().drain(..).collect();
        for s in acked {
            let (st, s) = status(s).await;
            assert_eq!(st, 200, "round {round}: enrolment {s} lost");
            checked.0 += 1;
        }
        let gone: Vec<String> = erased.lock().unwrap().drain(..).collect();
        for s in gone {
            let (st, s) = status(s).await;
            assert_eq!(st, 404, "round {round}: erased {s} is back");
            checked.1 += 1;
        }
        server.kill().unwrap();
        server.wait().unwrap();
    }
    assert!(
        checked.0 > 0 && checked.1 > 0,
        "nothing checked: {checked:?}"
    );
    eprintln!(
        "after kill -9: {} acknowledged enrolments found, {} acknowledged erasures stayed",
        checked.0, checked.1
    );
}
