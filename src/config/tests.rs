//! Unit tests of configuration loading and validation.

use super::*;
use crate::secret::Secret;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

#[test]
fn defaults_are_valid() {
    let c = Config::load_with_env(None, &[]).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn file_then_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "[runtime]\nintra_op_threads = 2\n[biometric.face_match]\ndecline_threshold = 60.0\n",
    )
    .unwrap();
    let c = Config::load_with_env(
        Some(&p),
        &env(&[
            ("INHERENCE_RUNTIME__INTRA_OP_THREADS", "3"),
            ("INHERENCE_MODELS__DIR", "/opt/models"),
            ("INHERENCE_UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.runtime.intra_op_threads, 3);
    assert_eq!(c.models.dir, PathBuf::from("/opt/models"));
    assert_eq!(c.biometric.face_match.decline_threshold, 60.0);
}

#[test]
fn unknown_keys_are_rejected_in_file_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, "[runtime]\nintra_op_thread = 2\n").unwrap();
    let e = Config::load_with_env(Some(&p), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("intra_op_thread"), "{e}");
    let e = Config::load_with_env(None, &env(&[("INHERENCE_RUNTIME__TYPO", "1")])).unwrap_err();
    assert!(e.to_string().contains("typo"), "{e}");
}

#[test]
fn the_example_config_is_valid_and_shows_the_defaults() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config/inherence.toml");
    let c = Config::load_with_env(Some(&p), &[]).unwrap();
    assert_eq!(
        c,
        Config::default(),
        "examples/config/inherence.toml drifted from the defaults"
    );
}

#[test]
fn store_passwords_and_keys_never_print() {
    let c = StoreConfig {
        redis_urls: vec![
            "redis://:hunter2-redis@cache:6379/0".into(),
            "rediss://user:hunter3-redis@cache:6380".into(),
        ],
        encryption_keys: vec![Secret::new("k1:c2VhbGluZy1rZXktbWF0ZXJpYWw=")],
        ..StoreConfig::default()
    };
    let debug = format!(
        "{:?}",
        Config {
            store: c,
            ..Config::default()
        }
    );
    for secret in [
        "hunter2-redis",
        "hunter3-redis",
        "c2VhbGluZy1rZXktbWF0ZXJpYWw",
    ] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(
        debug.contains("cache:6379"),
        "the rest stays readable: {debug}"
    );
}

#[test]
fn a_client_cannot_opt_out_of_the_servers_par_requirement() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    let client = |par: &str| {
        format!(
            "[oidc]\nrequire_par = true\n[[clients]]\nclient_id = \"app\"\n\
             auth_method = \"client_secret_basic\"\n\
             client_secret = \"0123456789abcdef0123456789abcdef\"\n{par}"
        )
    };
    std::fs::write(&p, client("require_par = false\n")).unwrap();
    let e = Config::load_with_env(Some(&p), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("require_par = false conflicts"), "{e}");
    for ok in ["", "require_par = true\n"] {
        std::fs::write(&p, client(ok)).unwrap();
        Config::load_with_env(Some(&p), &[]).unwrap();
    }
}

#[test]
fn invalid_values_are_rejected() {
    let e = Config::load_with_env(
        None,
        &env(&[("INHERENCE_BIOMETRIC__FACE_MATCH__DECLINE_THRESHOLD", "150")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("decline_threshold"), "{e}");
    assert!(Config::load_with_env(Some(Path::new("/nonexistent/x.toml")), &[]).is_err());
}
