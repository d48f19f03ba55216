//! PSD2 evidence end to end, on a real server with real faces: a payment step-up (RAR, an
//! IdP `id_token_hint` with `amr` pwd) becomes a chained, signed audit record; the admin API
//! exports it with a signed manifest that verifies offline; every single-byte change of the
//! export and of the stored log is caught and named; the dynamic-linking helper refuses
//! another amount or payee with the real access token; erasing the subject keeps the chain
//! verifiable.

use std::path::Path;

use inherence::audit::export::verify_dir;
use inherence::audit::ns as audit_ns;
use inherence::audit::record::Kind;
use inherence::protocol::resource::{
    LinkError, Transaction, authorization_details_sha256, check_transaction,
};
use serde_json::{Value, json};

use crate::common::shared;
use crate::oidc_flows::{par_authorize_url, pass_face_check};
use crate::server::*;

fn payment(amount: &str, payee: &str) -> Value {
    json!([{
        "type": "payment_initiation",
        "instructedAmount": {"currency": "EUR", "amount": amount},
        "creditorName": payee,
        "creditorAccount": {"iban": "DE02120300000000202051"}
    }])
}

async fn audit_token(server: &TestServer, scope: &str) -> reqwest::Response {
    http()
        .post(server.url("/token"))
        .basic_auth("admin", Some(ADMIN_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap()
}

/// Runs a step-up for `amount` to `payee` and returns the token response.
async fn pay(server: &TestServer, amount: &str, payee: &str) -> Value {
    let verifier = inherence::flow::random_token(40);
    let challenge = inherence::protocol::pkce::challenge(&verifier);
    let details = payment(amount, payee).to_string();
    let hint = server.idp_id_token("alice");
    let url = par_authorize_url(
        server,
        "rp-par",
        &[
            ("login_hint", "alice"),
            ("id_token_hint", &hint),
            ("authorization_details", &details),
        ],
        &challenge,
    )
    .await;
    let params = pass_face_check(server, &browser(), &url).await;
    exchange_code(server, "rp-par", params["code"].as_str(), verifier.as_str()).await
}

/// Unpacks the API's tar into `dir`.
pub fn untar(bytes: &[u8], dir: &Path) {
    let tar = dir.join("export.tar");
    std::fs::write(&tar, bytes).unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Every byte of every file of the export, flipped one at a time, must fail verification.
fn every_byte_matters(dir: &Path) -> usize {
    let mut tried = 0;
    for name in [
        "records.jsonl",
        "chain.jsonl",
        "checkpoints.jsonl",
        "jwks.json",
        "manifest.json",
        "manifest.jws",
    ] {
        let path = dir.join(name);
        let original = std::fs::read(&path).unwrap();
        for i in 0..original.len() {
            let mut bad = original.clone();
            bad[i] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            let caught = match verify_dir(dir, None) {
                Ok(r) => !r.ok(),
                Err(_) => true,
            };
            assert!(
                caught,
                "{name} byte {i} of {} ({:?}) changed and the export still verifies",
                original.len(),
                original[i] as char
            );
            tried += 1;
        }
        std::fs::write(&path, &original).unwrap();
    }
    tried
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_step_ups_are_evidence_that_exports_verify_and_erasure_keeps() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(|cfg| {
        cfg.audit.checkpoint_every = 2;
        cfg.audit.keep_frames = true;
        for c in &mut cfg.clients {
            if c.client_id == "admin" {
                c.audit_api = true;
            }
        }
    })
    .await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    let p = &server.provider;

    // Three payments approved with the face (and the IdP's password before it).
    let mut tokens = Vec::new();
    for (amount, payee) in [
        ("100.00", "Payee A"),
        ("25.50", "Payee B"),
        ("7", "Payee C"),
    ] {
        tokens.push(pay(&server, amount, payee).await);
    }

    // The evidence: pseudonymous subject, both factors, scores and thresholds, models, the
    // digest of the very details the user approved, and the request's device signals.
    let verdicts = p.verdicts().unwrap();
    assert_eq!(verdicts.len(), 3);
    let v = &verdicts[0];
    assert_eq!(v.outcome, "Approved");
    assert!(v.subject.as_deref().unwrap().starts_with("ps1:"));
    assert!(!v.subject.as_deref().unwrap().contains("alice"));
    assert_eq!(v.factors, ["knowledge", "inherence"]);
    assert_eq!(v.prior_amr, ["pwd"]);
    assert_eq!(v.prior_iss.as_deref(), Some(IDP_ISSUER));
    let now = inherence::clock::Clock::now_secs(&inherence::clock::SystemClock);
    let age = now - v.prior_auth_time.expect("when the password was checked");
    assert!((0..600).contains(&age), "{age}");
    assert_eq!(v.acr.as_deref(), Some("biometric"));
    assert_eq!(v.amr, ["face"]);
    assert_eq!(v.liveness_method.as_deref(), Some("FLASHING"));
    assert_eq!(v.liveness_required_by.as_deref(), Some("policy"));
    assert!(v.liveness_score.is_some() && v.face_match_score.is_some());
    assert!(v.liveness_thresholds.is_some() && v.face_match_thresholds.is_some());
    assert_eq!(v.models.len(), p.engine.models().len());
    assert_eq!(
        v.authorization_details_sha256.as_deref(),
        Some(authorization_details_sha256(&payment("100.00", "Payee A")).as_str())
    );
    let first = p.audit.entry("main", 1).unwrap().unwrap();
    let personal = first.personal.as_ref().unwrap();
    assert_eq!(personal["ip"], "127.0.0.1");
    // One digest per frame of the capture (a FLASHING challenge: a frame every 200 ms).
    let n = v.capture.as_ref().expect("the capture's evidence").frames;
    assert!(n >= 9, "{n} frames");
    assert_eq!(personal["frames_sha256"].as_array().unwrap().len(), n);
    // Frames kept (opt-in) are the ones the digests name.
    let kept = p.audit.frames(&v.id).unwrap();
    assert_eq!(kept.len(), n);
    for (f, d) in kept
        .iter()
        .zip(personal["frames_sha256"].as_array().unwrap())
    {
        use aws_lc_rs::digest::{SHA256, digest};
        assert_eq!(hex::encode(digest(&SHA256, f)), d.as_str().unwrap());
    }

    // Dynamic linking with the real access token: only the approved payment executes.
    let at = tokens[0]["access_token"].as_str().unwrap();
    let claims: inherence::protocol::tokens::AccessTokenClaims =
        p.keys.ring().verify(at).unwrap().1;
    let tx = |amount, payee| Transaction {
        kind: "payment_initiation",
        amount,
        currency: "EUR",
        payee,
        payee_iban: Some("DE02 1203 0000 0000 2020 51"),
    };
    assert_eq!(check_transaction(&claims, &tx("100.00", "Payee A")), Ok(()));
    assert!(matches!(
        check_transaction(&claims, &tx("1000.00", "Payee A")),
        Err(LinkError::Mismatch(_))
    ));
    assert!(matches!(
        check_transaction(&claims, &tx("100.00", "Payee B")),
        Err(LinkError::Mismatch(_))
    ));

    // The stored log verifies, with signed checkpoints.
    let r = p.audit.verify_store(None).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert!(r.checkpoints >= 1);

    // The admin API: audit scope only for a client configured for it.
    assert_eq!(
        http()
            .get(server.url("/api/v1/audit/export"))
            .bearer_auth(server.admin_token().await)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "an enrolment token cannot export"
    );
    let t = audit_token(&server, "audit").await;
    assert_eq!(t.status(), 200);
    let token = t.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let verify: Value = http()
        .get(server.url("/api/v1/audit/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    let bad = http()
        .get(server.url("/api/v1/audit/export?format=xml"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let tar = http()
        .get(server.url("/api/v1/audit/export?client=rp-par&format=jsonl"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tar.status(), 200);
    assert_eq!(tar.headers()["content-type"], "application/x-tar");
    let tmp = tempfile::tempdir().unwrap();
    untar(&tar.bytes().await.unwrap(), tmp.path());
    let dir = tmp.path().join("inherence-audit-export");

    // Round trip: the export verifies against the server's published keys, and holds the
    // three decisions exactly as stored.
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(p.audit.signer_jwks().unwrap()).unwrap();
    let r = verify_dir(&dir, Some(&jwks)).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    let lines: Vec<inherence::audit::record::Entry> =
        std::fs::read_to_string(dir.join("records.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], first);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["records"], 3);
    assert_eq!(manifest["streams"][0]["last_hash"], json!(lines[2].hash));

    // Any single byte changed anywhere in the export is caught.
    let tried = every_byte_matters(&dir);
    assert!(tried > 1000, "{tried}");
    // And an edited record is named, even when its file digest is not what gives it away.
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    std::fs::write(
        dir.join("records.jsonl"),
        text.replacen("\"outcome\":\"Approved\"", "\"outcome\":\"Declined\"", 1),
    )
    .unwrap();
    let r = verify_dir(&dir, None).unwrap();
    assert!(
        r.problems.iter().any(|p| p.contains("main#1 was edited")),
        "{:?}",
        r.problems
    );

    // The stored log: every byte of a stored entry matters too; deletion and reordering are
    // named.
    let key = inherence::audit::key("main", 2);
    let stored = p.store.get(&audit_ns::ENTRIES, &key).unwrap().unwrap();
    for i in 0..stored.len() {
        let mut bad = stored.clone();
        bad[i] ^= 0x01;
        p.store.put(&audit_ns::ENTRIES, &key, &bad, None).unwrap();
        let r = p.audit.verify_store(None).unwrap();
        assert!(
            !r.ok(),
            "stored byte {i} changed and the log still verifies"
        );
    }
    p.store.delete(&audit_ns::ENTRIES, &key).unwrap();
    let r = p.audit.verify_store(None).unwrap();
    assert!(
        r.problems.iter().any(|x| x.contains("main#2 is missing")),
        "{:?}",
        r.problems
    );
    let third = p
        .store
        .get(&audit_ns::ENTRIES, &inherence::audit::key("main", 3))
        .unwrap()
        .unwrap();
    p.store.put(&audit_ns::ENTRIES, &key, &third, None).unwrap();
    let r = p.audit.verify_store(None).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|x| x.contains("moved from its place")),
        "{:?}",
        r.problems
    );
    p.store
        .put(&audit_ns::ENTRIES, &key, &stored, None)
        .unwrap();
    assert!(p.audit.verify_store(None).unwrap().ok());
    // The newest entry deleted (not yet under a checkpoint): the head says it existed.
    let newest = inherence::audit::key("main", 3);
    let last = p.store.get(&audit_ns::ENTRIES, &newest).unwrap().unwrap();
    p.store.delete(&audit_ns::ENTRIES, &newest).unwrap();
    let r = p.audit.verify_store(None).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|x| x.contains("main#3..#3 are missing")),
        "{:?}",
        r.problems
    );
    p.store
        .put(&audit_ns::ENTRIES, &newest, &last, None)
        .unwrap();
    assert!(p.audit.verify_store(None).unwrap().ok());

    // Erasure: the template goes, the records lose their personal part, a redaction entry
    // lists them, and both the log and a fresh export still verify.
    let del = http()
        .delete(server.url("/api/v1/subjects/alice/face"))
        .bearer_auth(server.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let r = p.audit.verify_store(None).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    let mut redacted = 0;
    let mut redactions = 0;
    for k in p.audit.keys().unwrap() {
        let e = p.audit.entry_at(&k).unwrap().unwrap().unwrap();
        match e.kind {
            Kind::Decision => {
                assert!(e.personal.is_none(), "{} kept personal data", e.name());
                assert!(e.redacted.is_some());
                redacted += 1;
            }
            Kind::Redaction => {
                assert_eq!(e.body["targets"].as_array().unwrap().len(), 3);
                redactions += 1;
            }
            Kind::Retention | Kind::Operator => {}
        }
    }
    assert_eq!((redacted, redactions), (3, 1));
    assert!(
        p.audit.frames(&v.id).unwrap().is_empty(),
        "kept frames are erased too"
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("after-erasure");
    inherence::audit::export::export_dir(
        &p.audit,
        &Default::default(),
        inherence::audit::export::Format::Csv,
        &dir,
        None,
    )
    .unwrap();
    let r = verify_dir(&dir, Some(&jwks)).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    // A CSV cell edited by hand is named.
    let csv = std::fs::read_to_string(dir.join("records.csv")).unwrap();
    std::fs::write(
        dir.join("records.csv"),
        csv.replacen(",Approved,", ",Declined,", 1),
    )
    .unwrap();
    let r = verify_dir(&dir, None).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|x| x.contains("column outcome does not match")),
        "{:?}",
        r.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_clients_get_the_audit_scope() {
    let server = TestServer::protocol(|_| {}).await;
    let r = audit_token(&server, "audit").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = audit_token(&server, "enrolment").await;
    assert_eq!(r.status(), 200);
    let r = http()
        .get(server.url("/api/v1/audit/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
