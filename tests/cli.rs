//! The `inherence` command as a user runs it: JSON on stdout, clear errors and exit codes.
//! Needs the installed models (`make models`); image cases need ../shared/eval/dev.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{root, shared_dev};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inherence"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run inherence")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn verify_prints_scores_warnings_boxes_and_timings() {
    let Some(dev) = shared_dev() else { return };
    let a = dev.join("images/lfw_George_W_Bush");
    let mut files: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let o = run(&[
        "verify",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let score = v["face_match"]["score"].as_f64().unwrap();
    assert!(score > 50.0, "same person scored {score}");
    assert_eq!(v["face_match"]["status"], "Approved");
    assert!(v["liveness"]["score"].as_f64().is_some());
    assert_eq!(v["probe"]["face"]["bbox"].as_array().unwrap().len(), 4);
    for stage in [
        "decode_ms",
        "detect_ms",
        "align_ms",
        "embed_ms",
        "liveness_ms",
        "total_ms",
    ] {
        assert!(
            v["probe"]["timings_ms"][stage].as_f64().is_some(),
            "missing {stage}"
        );
    }
    assert!(v["warnings"].is_array());

    // Someone else: declined with the reference code.
    let other = dev.join("images/lfw_Vladimir_Putin");
    let p = std::fs::read_dir(&other)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let v = json(&run(&[
        "verify",
        files[0].to_str().unwrap(),
        p.to_str().unwrap(),
    ]));
    assert_eq!(v["status"], "Declined");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["risk"] == "LOW_FACE_MATCH_SIMILARITY"),
        "{v}"
    );
}

#[test]
fn liveness_of_a_print_attack_and_a_live_face() {
    let Some(dev) = shared_dev() else { return };
    let spoof = json(&run(&[
        "liveness",
        dev.join("pad_images/silentface/image_F2.jpg")
            .to_str()
            .unwrap(),
    ]));
    assert_eq!(spoof["status"], "Declined", "{spoof}");
    assert_eq!(spoof["method"], "PASSIVE");
    let live = json(&run(&[
        "liveness",
        dev.join("pad_images/silentface/image_T1.jpg")
            .to_str()
            .unwrap(),
    ]));
    assert_eq!(live["status"], "Approved", "{live}");
    assert_eq!(live["image"]["exif_orientation"], 6);
    assert!(live["score"].as_f64().unwrap() > spoof["score"].as_f64().unwrap());
}

fn write_tmp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (d, p)
}

fn assert_clear_error(path: &Path, code: &str) {
    let o = run(&["liveness", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("error: ") && e.contains(code), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn bad_files_give_clear_errors() {
    let (_d1, empty) = write_tmp("empty.jpg", b"");
    assert_clear_error(&empty, "EMPTY_IMAGE");
    let (_d2, text) = write_tmp("notes.jpg", b"this is a text file, not a picture\n");
    assert_clear_error(&text, "UNSUPPORTED_IMAGE_FORMAT");
    let o = run(&["liveness", "/nonexistent/picture.jpg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read /nonexistent/picture.jpg"));
    if let Some(dev) = shared_dev() {
        let jpeg = std::fs::read(dev.join("images/celeb_barack_obama/facerec_obama.jpg")).unwrap();
        let (_d3, cut) = write_tmp("cut.jpg", &jpeg[..jpeg.len() / 2]);
        assert_clear_error(&cut, "IMAGE_DECODE_FAILED");
    }
}

#[test]
fn missing_onnxruntime_says_what_to_install() {
    let o = Command::new(env!("CARGO_BIN_EXE_inherence"))
        .args(["liveness", "Cargo.toml"])
        .current_dir(root())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(!e.contains("panicked"), "{e}");
    assert!(
        e.contains("make onnxruntime") && e.contains("onnxruntime==1.31.1"),
        "{e}"
    );
}

#[test]
fn unknown_config_keys_are_refused() {
    let (_d, cfg) = write_tmp("c.toml", b"[runtime]\nthreads = 4\n");
    let o = run(&["--config", cfg.to_str().unwrap(), "models", "verify"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("threads"), "{}", stderr(&o));
}

#[test]
fn models_verify_passes_on_the_installed_models() {
    let o = run(&["models", "verify"]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("dlib-resnet-v1"));
}

#[test]
fn audit_export_and_verify_bad_arguments_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    // A bad date, an empty range, a missing export: clear errors, exit 2.
    let cfg = dir.path().join("inherence.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = \"{}\"\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let out_dir = dir.path().join("x");
    let o = run(&[
        "--config",
        c,
        "audit",
        "export",
        "--from",
        "2026-13-01",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--from \"2026-13-01\": use YYYY-MM-DD"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "--config",
        c,
        "audit",
        "export",
        "--from",
        "2026-12-01",
        "--to",
        "2026-11-01",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--from must be before --to"));
    let o = run(&[
        "audit",
        "verify",
        "--export",
        dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nothing/jwks.json"), "{}", stderr(&o));
}

#[test]
fn audit_verify_with_a_witness_names_a_wiped_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("inherence.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = \"{}\"\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    // An empty store (as after someone deleted every audit record)...
    assert!(run(&["--config", c, "api-keys", "list"]).status.success());
    let o = run(&["--config", c, "audit", "verify"]);
    assert!(
        o.status.success(),
        "alone, an empty log verifies: {}",
        stderr(&o)
    );
    // ...that a witness saw signed up to #10.
    let witness = dir.path().join("witness.jsonl");
    std::fs::write(
        &witness,
        "{\"stream\":\"main\",\"seq\":10,\"hash\":\"ab\",\"at_ms\":0,\"jws\":\"x.y.z\"}\n",
    )
    .unwrap();
    let o = run(&[
        "--config",
        c,
        "audit",
        "verify",
        "--witness",
        witness.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o);
    assert!(out.contains("wiped"), "{out}");
    // A witness file that is not one: a clear usage error.
    std::fs::write(&witness, "not json\nnot json\n").unwrap();
    let o = run(&[
        "--config",
        c,
        "audit",
        "verify",
        "--witness",
        witness.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn audit_pin_prints_the_key_file_public_key_and_refuses_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("inherence.toml");
    let store = dir.path().join("store");
    std::fs::write(&cfg, format!("[store]\npath = \"{}\"\n", store.display())).unwrap();
    let c = cfg.to_str().unwrap();
    assert!(run(&["--config", c, "api-keys", "list"]).status.success());
    let o = run(&["--config", c, "audit", "pin"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("signing_key_file is not set"),
        "{}",
        stderr(&o)
    );
    let key = dir.path().join("audit-signing.json");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = \"{}\"\n[audit]\nsigning_key_file = \"{}\"\n",
            store.display(),
            key.display()
        ),
    )
    .unwrap();
    let o = run(&["--config", c, "audit", "pin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let jwks = json(&o);
    let k = &jwks["keys"][0];
    assert_eq!(k["kty"], "EC");
    assert!(k.get("d").is_none(), "public only: {k}");
    assert!(key.exists(), "the key file was created");
    // The same key on every run.
    assert_eq!(json(&run(&["--config", c, "audit", "pin"])), jwks);
}

#[test]
fn the_server_binary_ships_only_its_commands() {
    let o = run(&["--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "models", "verify", "liveness", "enrol", "eval", "serve", "api-keys", "audit",
            "subjects", "help"
        ],
        "{help}"
    );
    let o = run(&["audit", "--help"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("bench"));
}
