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

/// A client that names its user in the front channel (Okta's IdP authenticator) is a code
/// client that cannot push; the server-wide PAR requirement does not stop it from loading.
#[test]
fn a_front_channel_client_is_a_code_client_without_par() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    let okta = |extra: &str| {
        format!(
            "[oidc]\nrequire_par = true\n[[clients]]\nclient_id = \"okta\"\n\
             redirect_uris = [\"https://org.okta.example/oauth2/v1/authorize/callback\"]\n\
             front_channel_subject = true\n{extra}"
        )
    };
    let secret = "auth_method = \"client_secret_post\"\n\
                  client_secret = \"0123456789abcdef0123456789abcdef\"\n";
    let load = |text: String| {
        std::fs::write(&p, text).unwrap();
        Config::load_with_env(Some(&p), &[]).map_err(|e| e.to_string())
    };
    load(okta(secret)).unwrap();
    let e = load(okta(&format!("{secret}require_par = true\n"))).unwrap_err();
    assert!(e.contains("front_channel_subject"), "{e}");
    let e = load(okta(
        "response_types = [\"id_token\"]\nauth_method = \"none\"\n",
    ))
    .unwrap_err();
    assert!(e.contains("front_channel_subject"), "{e}");
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

/// An identity provider's id_token client (Entra ID's external methods) and its issuer: each
/// rule that keeps it from weakening the code clients or echoing what Inherence signs.
#[test]
fn id_token_clients_and_their_issuers_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    let eam = "[[clients]]\nclient_id = \"eam\"\nredirect_uris = [\"https://login.example/cb\"]\n";
    let issuer = |extra: &str| {
        format!(
            "[[oidc.trusted_issuers]]\nissuer = \"https://login.example/t/v2.0\"\n\
             jwks_uri = \"https://login.example/keys\"\n{extra}"
        )
    };
    let good_client = format!("{eam}response_types = [\"id_token\"]\nauth_method = \"none\"\n");
    let good_issuer = issuer("max_age_secs = 600\necho_claims = [\"sub\", \"oid\", \"tid\"]\n");
    let load = |text: String| {
        std::fs::write(&p, text).unwrap();
        Config::load_with_env(Some(&p), &[]).map_err(|e| e.to_string())
    };
    load(format!("{good_issuer}{good_client}")).unwrap();
    let cases = [
        // One client answers one way.
        (
            format!(
                "{good_issuer}{eam}response_types = [\"code\", \"id_token\"]\nauth_method = \"none\"\n"
            ),
            "response_types is",
        ),
        // No authentication goes with id_token only, and the other way round.
        (
            format!("{good_issuer}{eam}response_types = [\"code\"]\nauth_method = \"none\"\n"),
            "auth_method = \"none\"",
        ),
        (
            format!(
                "{good_issuer}{eam}response_types = [\"id_token\"]\nauth_method = \"client_secret_basic\"\n\
                 client_secret = \"0123456789abcdef0123456789abcdef\"\n"
            ),
            "auth_method = \"none\"",
        ),
        (
            format!("{good_issuer}{good_client}enrolment_api = true\n"),
            "cannot call the enrolment",
        ),
        // Hints are not checked for expiry: their age must be bounded.
        (format!("{}{good_client}", issuer("")), "max_age_secs"),
        (
            format!("{}{good_client}", issuer("max_age_secs = 90000\n")),
            "max_age_secs",
        ),
        // Nothing Inherence signs itself can be echoed.
        (
            format!(
                "{}{good_client}",
                issuer("max_age_secs = 600\necho_claims = [\"iss\"]\n")
            ),
            "echo_claims",
        ),
        (
            format!(
                "{}{good_client}",
                issuer("max_age_secs = 600\necho_claims = [\"inherence_liveness_method\"]\n")
            ),
            "echo_claims",
        ),
        // Keys inline or fetched, not both; fetched over https.
        (
            format!(
                "{}{good_client}",
                issuer("max_age_secs = 600\njwks = { keys = [] }\n")
            ),
            "exactly one of jwks and jwks_uri",
        ),
        (
            format!(
                "[[oidc.trusted_issuers]]\nissuer = \"x\"\njwks_uri = \"http://keys.example/\"\n\
                 max_age_secs = 600\n{good_client}"
            ),
            "https",
        ),
        // One entry per issuer.
        (
            format!("{good_issuer}{good_issuer}{good_client}"),
            "listed twice",
        ),
    ];
    for (text, why) in cases {
        let e = load(text.clone()).expect_err(&text);
        assert!(e.contains(why), "{why}: {e}");
    }
}
