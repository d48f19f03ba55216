//! Microsoft Entra ID external authentication method (EAM): Inherence as the provider, driven
//! by the Entra simulator (`conformance::entra`), which checks every documented rule of the
//! answer. The face check here is the test double's (no models); the browser tests run the same
//! flow in Chromium with the real engine and the test camera.

use conformance::entra::{self, Entra, Outcome, Setup as EntraSetup, User};
use inherence::flow::settings::{ClientAuthMethod, TrustedIssuer};
use inherence::protocol::authorize::ResponseType;
use serde_json::Value;

use crate::server::*;

const CLIENT: &str = "entra-eam";
const ACR: &str = entra::DEFAULT_ACR;
/// Hints older than this are refused (longer than the flow's 600 s, so that a nonce must be
/// remembered beyond its flow).
const MAX_AGE: u64 = 900;

struct World {
    sim: Entra,
    server: TestServer,
    alice: User,
}

/// The simulator, then Inherence configured as the documentation says (an id_token-only
/// client with Entra's redirect URI, the directory as a trusted issuer whose keys are
/// fetched, hints mapped by `oid`, `sub`/`oid`/`tid` echoed), then alice enrolled under her
/// `oid`.
async fn world() -> World {
    let tenant = entra::guid();
    let app_id = entra::guid();
    let sim = Entra::start(EntraSetup {
        discovery_url: String::new(),
        client_id: CLIENT.into(),
        app_id: app_id.clone(),
        tenant_id: tenant.clone(),
    })
    .await;
    let (redirect, jwks_uri) = (sim.redirect_uri(), sim.jwks_uri());
    let server = TestServer::protocol(|c| {
        let mut eam = client(CLIENT, ClientAuthMethod::None);
        eam.response_types = vec![ResponseType::IdToken];
        eam.redirect_uris = vec![redirect];
        eam.id_token_alg = Some(inherence::keys::Alg::RS256);
        c.clients.push(eam);
        c.oidc.acr_values_supported.push(ACR.into());
        // Only the directory: every issuer must bound its hints' age beside an id_token client.
        c.oidc.trusted_issuers.clear();
        c.oidc.trusted_issuers.push(TrustedIssuer {
            issuer: entra::issuer_of(&tenant),
            jwks: None,
            jwks_uri: Some(jwks_uri),
            jwks_refresh_secs: 3600,
            max_age_secs: Some(MAX_AGE),
            echo_claims: vec!["sub".into(), "oid".into(), "tid".into()],
            subject_claim: "oid".into(),
            audiences: vec![app_id],
            tenants: vec![],
        });
    })
    .await;
    sim.set_discovery_url(&server.url("/.well-known/openid-configuration"));
    // The keys are fetched in the background at start.
    let iss = entra::issuer_of(&tenant);
    for _ in 0..200 {
        if server.provider.trusted_issuers().fetched_at(&iss).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        server.provider.trusted_issuers().fetched_at(&iss).is_some(),
        "Entra's keys were fetched"
    );
    let alice = sim.add_user("alice@contoso.example");
    let r = server.enrol(&alice.oid, PERSON_ENROL).await;
    assert_eq!(r.status(), 201);
    World { sim, server, alice }
}

/// Posts the request fields to the authorization endpoint, as the browser does for Entra.
async fn authorize(
    b: &reqwest::Client,
    w: &World,
    fields: &[(String, String)],
) -> reqwest::Response {
    b.post(w.server.url("/authorize"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The answer the browser carries back to Entra, judged by the simulator.
async fn deliver(w: &World, page: reqwest::Response) -> Outcome {
    let (action, fields) = form_of(page).await;
    assert_eq!(
        action,
        w.sim.redirect_uri(),
        "posted to Entra's redirect URI"
    );
    w.sim.receive(&fields).await
}

/// One sign-in of `user` up to the face check; returns the capture path.
async fn to_capture(b: &reqwest::Client, w: &World, fields: &[(String, String)]) -> String {
    let r = authorize(b, w, fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let loc = location(&r);
    assert!(loc.starts_with("/capture/"), "{loc}");
    loc
}

async fn finish_page(b: &reqwest::Client, w: &World, capture: &str) -> reqwest::Response {
    b.get(w.server.url(&format!("{capture}/finish")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_entra_sign_in_is_satisfied_by_the_face_check_as_microsoft_documents() {
    let w = world().await;
    // Entra reads the provider's metadata first: id_token, RS256, keys with x5c.
    w.sim
        .discover()
        .await
        .expect("the metadata satisfies Entra");
    let b = browser();
    let (state, fields) = w.sim.request(&w.alice, &[ACR], None);
    let capture = to_capture(&b, &w, &fields).await;
    // The check stays on this device: no hand-off link a password holder could send on.
    let h = b
        .get(w.server.url(&format!("{capture}/handoff")))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 403);
    let v = attempt(&b, &w.server, &capture).await;
    assert_eq!(v["status"], "approved", "{v}");
    let page = finish_page(&b, &w, &capture).await;
    let outcome = deliver(&w, page).await;
    assert_eq!(
        outcome,
        Outcome::Satisfied {
            acr: ACR.into(),
            amr: "face".into(),
            sub: w.alice.sub.clone(),
            oid: w.alice.oid.clone(),
            tid: w.sim.setup().tenant_id.clone(),
        }
    );
    assert_eq!(w.sim.outcome(&state), Some(outcome));
    // The answer is single use: the finish page is gone, and Entra refuses it a second time.
    assert_eq!(finish_page(&b, &w, &capture).await.status(), 400);
}

#[tokio::test]
async fn entra_refuses_an_answer_that_breaks_a_documented_rule() {
    let w = world().await;
    let b = browser();
    let (state, fields) = w.sim.request(&w.alice, &[ACR], None);
    let capture = to_capture(&b, &w, &fields).await;
    attempt(&b, &w.server, &capture).await;
    let (_, answer) = form_of(finish_page(&b, &w, &capture).await).await;
    let token = answer
        .iter()
        .find(|(k, _)| k == "id_token")
        .unwrap()
        .1
        .clone();
    let (issuer, _, jwks) = w.sim.discover().await.unwrap();
    let claims = entra::verify_rs256(&token, &jwks).unwrap();
    assert_eq!(
        w.sim.check_claims(&state, &claims, &issuer),
        Vec::<String>::new()
    );
    // The simulator is strict: each change to Inherence's valid claims breaks a rule (so a
    // missing or wrong claim from Inherence would have failed the test above).
    let edits: Vec<(&str, Option<Value>)> = vec![
        ("iss", Some(Value::from("https://elsewhere.example"))),
        ("sub", Some(Value::from(w.alice.oid.clone()))),
        ("sub", None),
        ("aud", Some(Value::from("someone-else"))),
        ("aud", Some(serde_json::json!([CLIENT, "other"]))),
        ("acr", Some(Value::from("possession"))),
        ("acr", None),
        ("amr", Some(serde_json::json!(["face", "pwd"]))),
        ("amr", Some(serde_json::json!("face"))),
        ("amr", Some(serde_json::json!(["pwd"]))),
        ("amr", Some(serde_json::json!(["sms"]))),
        ("nonce", Some(Value::from("other"))),
        ("nonce", None),
        ("oid", Some(Value::from(entra::guid()))),
        ("tid", None),
        ("exp", Some(Value::from(0))),
        ("iat", None),
    ];
    for (k, v) in edits {
        let mut c = claims.clone();
        match v.clone() {
            Some(v) => c[k] = v,
            None => {
                c.as_object_mut().unwrap().remove(k);
            }
        }
        // `sms` (possession) does not satisfy an `inherence` request.
        let st = if k == "amr" && v == Some(serde_json::json!(["sms"])) {
            let (st, f) = w.sim.request(&w.alice, &["inherence"], None);
            c["acr"] = Value::from("inherence");
            c["nonce"] = Value::from(f.iter().find(|(k, _)| k == "nonce").unwrap().1.clone());
            assert!(
                w.sim
                    .check_claims(
                        &st,
                        &{
                            let mut ok = c.clone();
                            ok["amr"] = serde_json::json!(["face"]);
                            ok
                        },
                        &issuer
                    )
                    .is_empty()
            );
            st
        } else {
            state.clone()
        };
        let why = w.sim.check_claims(&st, &c, &issuer);
        assert!(!why.is_empty(), "{k} = {v:?} broke no rule");
    }
    // A token signed by a key the provider does not publish, a signature changed under the
    // provider's kid, another algorithm, and a field beyond id_token and state.
    assert!(entra::verify_rs256(&w.sim.sign(&claims), &jwks).is_err());
    let (body, sig) = token.rsplit_once('.').unwrap();
    let mut flipped = sig.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{body}.{}", String::from_utf8(flipped).unwrap());
    assert!(entra::verify_rs256(&flipped, &jwks).is_err());
    let (header, rest) = token.split_once('.').unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut h: Value = serde_json::from_slice(&b64.decode(header).unwrap()).unwrap();
    h["alg"] = Value::from("none");
    let unsigned = format!("{}.{rest}", b64.encode(h.to_string()));
    assert!(entra::verify_rs256(&unsigned, &jwks).is_err());
    assert!(entra::response_fields(&answer).is_empty());
    let mut extra = answer.clone();
    extra.push(("iss".into(), w.server.base.clone()));
    assert!(!entra::response_fields(&extra).is_empty());
    // The genuine answer is accepted once; replayed, its state was answered already.
    assert!(matches!(
        w.sim.receive(&answer).await,
        Outcome::Satisfied { .. }
    ));
    let o = w.sim.receive(&answer).await;
    assert!(matches!(o, Outcome::Invalid { .. }), "{o:?}");
}

#[tokio::test]
async fn hints_from_another_directory_tampered_or_too_old_start_nothing() {
    let w = world().await;
    let b = browser();
    // The control: alice's genuine hint starts a face check.
    let (_, fields) = w.sim.request(&w.alice, &[ACR], None);
    to_capture(&b, &w, &fields).await;
    // Another directory's hint, signed with the same (Microsoft-wide) keys.
    let other = entra::guid();
    let (_, fields) = w.sim.request_in(&w.alice, &other, &[ACR], None);
    let o = deliver(&w, authorize(&b, &w, &fields).await).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "login_required"),
        "{o:?}"
    );
    // A hint whose payload was changed (mallory's oid) under alice's signature.
    let mallory = w.sim.add_user("mallory@contoso.example");
    let good = w
        .sim
        .sign(&w.sim.hint_claims(&w.alice, &w.sim.setup().tenant_id));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut claims = w.sim.hint_claims(&w.alice, &w.sim.setup().tenant_id);
    claims["oid"] = Value::from(mallory.oid.clone());
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let (_, fields) = w.sim.request(&w.alice, &[ACR], Some(parts.join(".")));
    let o = deliver(&w, authorize(&b, &w, &fields).await).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "login_required"),
        "{o:?}"
    );
    // A genuine hint issued an hour ago (max_age_secs = 900).
    let mut old = w.sim.hint_claims(&w.alice, &w.sim.setup().tenant_id);
    old["iat"] = Value::from(w.server.now_secs() - 3600);
    old["nbf"] = old["iat"].clone();
    let (_, fields) = w.sim.request(&w.alice, &[ACR], Some(w.sim.sign(&old)));
    let o = deliver(&w, authorize(&b, &w, &fields).await).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "login_required"),
        "{o:?}"
    );
    // A hint for the App ID of another integration.
    let mut elsewhere = w.sim.hint_claims(&w.alice, &w.sim.setup().tenant_id);
    elsewhere["aud"] = Value::from(entra::guid());
    let (_, fields) = w
        .sim
        .request(&w.alice, &[ACR], Some(w.sim.sign(&elsewhere)));
    let o = deliver(&w, authorize(&b, &w, &fields).await).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "login_required"),
        "{o:?}"
    );
}

#[tokio::test]
async fn an_acr_inherence_does_not_offer_and_a_replayed_nonce_are_refused() {
    let w = world().await;
    let b = browser();
    // Entra asks for possession (the first factor was inherence-based): a face cannot answer.
    let (_, fields) = w.sim.request(&w.alice, &["possession"], None);
    let o = deliver(&w, authorize(&b, &w, &fields).await).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "unmet_authentication_requirements"),
        "{o:?}"
    );
    // The same request (same hint, same nonce) posted twice starts one face check only; the
    // refusal is shown, not posted under the first sign-in's state.
    let (state, fields) = w.sim.request(&w.alice, &[ACR], None);
    to_capture(&b, &w, &fields).await;
    let again = authorize(&b, &w, &fields).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("already used"));
    assert_eq!(w.sim.outcome(&state), None, "nothing was posted to Entra");
    // Still once the first flow has expired (600 s), while the hint is young enough (900 s).
    w.server.pass(std::time::Duration::from_secs(700)).await;
    let late = authorize(&b, &w, &fields).await;
    assert_eq!(late.status(), 400, "a replay after the flow's lifetime");
    // A fresh request at that time is accepted: the refusal was the nonce's.
    let (_, fresh) = w.sim.request(&w.alice, &[ACR], None);
    to_capture(&b, &w, &fresh).await;
    // A redirect URI other than the registered one is never posted to.
    let (_, mut fields) = w.sim.request(&w.alice, &[ACR], None);
    for f in fields.iter_mut().filter(|(k, _)| k == "redirect_uri") {
        f.1 = "https://attacker.example/common/federation/externalauthprovider".into();
    }
    let r = authorize(&b, &w, &fields).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("redirect_uri"));
}

#[tokio::test]
async fn a_cancelled_or_failed_face_check_is_posted_back_as_an_error() {
    let w = world().await;
    let b = browser();
    // The user cancels on the capture page.
    let (_, fields) = w.sim.request(&w.alice, &[ACR], None);
    let capture = to_capture(&b, &w, &fields).await;
    let r: Value = b
        .post(w.server.url(&format!("{capture}/cancel")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let to = r["redirect"].as_str().unwrap();
    assert_eq!(to, format!("{capture}/finish"));
    let o = deliver(&w, b.get(w.server.url(to)).send().await.unwrap()).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "access_denied"),
        "{o:?}"
    );
    // Someone else's face, every attempt.
    let (_, fields) = w.sim.request(&w.alice, &[ACR], None);
    let capture = to_capture(&b, &w, &fields).await;
    let stranger = inherence::biometric::double::DoubleEngine::portrait(person(OTHER_ENROL));
    loop {
        let v = attempt_with(&b, &w.server, &capture, |spec| {
            inherence::biometric::double::DoubleEngine::burst(spec, &stranger)
        })
        .await;
        if v["status"] != "retry" {
            assert_eq!(v["status"], "failed", "{v}");
            break;
        }
    }
    let o = deliver(&w, finish_page(&b, &w, &capture).await).await;
    assert!(
        matches!(&o, Outcome::ProviderError { error, .. } if error == "unmet_authentication_requirements"),
        "{o:?}"
    );
}
