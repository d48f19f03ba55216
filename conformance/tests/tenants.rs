//! Tenants: two customers of one deployment ("bank" and "shop") try every way into each
//! other's data, on one server and on two instances over one Redis; and a store written before
//! tenants existed becomes the default tenant's as it is.
//!
//! The attack this answers: client "bank" listed, read, deleted and overwrote the enrolment of
//! client "shop"'s customer, and shop's own step-up then approved another person.

use inherence::biometric::FaceEngine as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::shared;
use crate::didit_sessions::call;
use crate::oidc_flows::push_as;
use crate::receiver::Receiver;
use crate::server::*;
use inherence::config::Config;
use inherence::flow::settings::ClientAuthMethod;
use inherence::secret::Secret;
use inherence::tenant::{TenantConfig, TenantId};
use reqwest::Method;

pub const BANK_SECRET: &str = "bank-secret-0123456789abcdef0123456789abcd";
pub const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123456789abcd";

/// `[[tenants]]` bank and shop, each with one client allowed the enrolment and audit APIs.
pub fn two_tenants(c: &mut Config) {
    for t in ["bank", "shop"] {
        c.tenants.push(TenantConfig {
            id: TenantId::parse(t).unwrap(),
            name: t.to_uppercase(),
        });
        let mut app = c
            .clients
            .iter()
            .find(|c| c.client_id == "rp-basic")
            .unwrap()
            .clone();
        app.client_id = format!("{t}-app");
        app.tenant = TenantId::parse(t).unwrap();
        app.client_secret = Some(Secret::new(if t == "bank" {
            BANK_SECRET
        } else {
            SHOP_SECRET
        }));
        app.enrolment_api = true;
        app.audit_api = true;
        c.clients.push(app);
    }
    c.webhooks.allow_private_networks = true;
    // The test identity provider speaks for the shop's users only (and the default tenant's).
    for t in &mut c.oidc.trusted_issuers {
        t.tenants = vec![TenantId::default(), TenantId::parse("shop").unwrap()];
    }
}

fn secret_of(client: &str) -> &'static str {
    match client {
        "bank-app" => BANK_SECRET,
        "shop-app" => SHOP_SECRET,
        _ => BASIC_SECRET,
    }
}

async fn token(server: &TestServer, client: &str, scope: &str) -> String {
    let r: Value = http()
        .post(server.url("/token"))
        .basic_auth(client, Some(secret_of(client)))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().expect("token").to_owned()
}

/// The enrolment API as `client`: (status, body).
async fn subjects(
    server: &TestServer,
    client: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let t = token(server, client, "enrolment").await;
    let mut r = http()
        .request(method, server.url(&format!("/api/v1/subjects{path}")))
        .bearer_auth(t);
    if let Some(image) = body {
        r = r.body(std::fs::read(dev_image(image)).unwrap());
    }
    let r = r.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn api_key(server: &TestServer, tenant: &str) -> String {
    inherence::flow::didit::create_api_key(
        &*server.provider.store,
        0,
        tenant,
        &TenantId::parse(tenant).unwrap(),
    )
    .unwrap()
    .1
}

/// A step-up of `subject` for `client` with the real face recording: "approved" or the
/// capture's other status, or the authorization error when no flow starts.
async fn step_up(server: &TestServer, client: &str, subject: &str) -> String {
    let verifier = "tenant-verifier-0123456789abcdef0123456789abcdef";
    let challenge = inherence::protocol::pkce::challenge(verifier);
    let r = push_as(
        server,
        client,
        secret_of(client),
        &[("login_hint", subject)],
        &challenge,
    )
    .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let url = format!(
        "{}/authorize?client_id={client}&request_uri={}",
        server.base,
        url::form_urlencoded::byte_serialize(v["request_uri"].as_str().unwrap().as_bytes())
            .collect::<String>()
    );
    let b = browser();
    let r = b.get(&url).send().await.unwrap();
    let to = location(&r);
    if to.starts_with(REDIRECT) {
        return query(&to)
            .get("error")
            .cloned()
            .unwrap_or_else(|| "redirected without error".into());
    }
    assert!(to.starts_with("/capture/"), "unexpected redirect {to}");
    // As a person would: try again while the flow allows it (a genuine capture can be declined
    // once on a loaded machine; someone else's face must fail every attempt).
    loop {
        let r = attempt(&b, server, &to).await;
        let status = r["status"].as_str().unwrap_or_default().to_owned();
        if status != "retry" {
            return status;
        }
    }
}

/// Every cross-tenant read, write, step-up and deletion, with the shop working through
/// `shop_on` and the bank through `bank_on` (the same server, or two instances of one store).
pub async fn tenants_stay_apart(shop_on: &TestServer, bank_on: &TestServer) {
    let (s, b) = (shop_on, bank_on);
    // Enrolment API: the same subject id in two tenants is two people.
    assert_eq!(
        subjects(
            s,
            "shop-app",
            Method::PUT,
            "/alice/face",
            Some(PERSON_ENROL)
        )
        .await
        .0,
        201
    );
    assert_eq!(
        subjects(b, "bank-app", Method::PUT, "/alice/face", Some(OTHER_ENROL))
            .await
            .0,
        201,
        "bank enrols its own alice, it does not overwrite shop's"
    );
    assert_eq!(
        subjects(b, "bank-app", Method::PUT, "/carol/face", Some(OTHER_ENROL))
            .await
            .0,
        201
    );
    let (st, alice) = subjects(s, "shop-app", Method::GET, "/alice/face", None).await;
    assert_eq!((st, alice["enrolled_by"].as_str()), (200, Some("shop-app")));
    let (_, list) = subjects(b, "bank-app", Method::GET, "", None).await;
    let names: Vec<&str> = list["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        (names, list["count"].as_u64()),
        (vec!["alice", "carol"], Some(2))
    );
    let (_, list) = subjects(s, "shop-app", Method::GET, "", None).await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(
        subjects(s, "shop-app", Method::GET, "/count", None).await.1["count"],
        1
    );
    for (method, path) in [
        (Method::GET, "/carol/face"),
        (Method::DELETE, "/carol/face"),
    ] {
        assert_eq!(
            subjects(s, "shop-app", method, path, None).await.0,
            404,
            "shop reaching bank's carol"
        );
    }
    // Step-ups: each client's alice is its own enrolment; bank's carol does not exist for shop.
    assert_eq!(step_up(s, "shop-app", "alice").await, "approved");
    let other = step_up(b, "bank-app", "alice").await;
    assert_eq!(
        other, "failed",
        "bank's alice is another face: the same recording must fail every attempt"
    );
    assert_eq!(
        step_up(s, "shop-app", "carol").await,
        "unmet_authentication_requirements"
    );
    // Erasure by the bank leaves shop's alice alone.
    assert_eq!(
        subjects(b, "bank-app", Method::DELETE, "/alice/face", None)
            .await
            .0,
        204
    );
    assert_eq!(
        subjects(s, "shop-app", Method::GET, "/alice/face", None)
            .await
            .0,
        200
    );

    forged_names_never_reach_another_tenant(s, b).await;
    v3_stays_apart(s, b).await;
    audit_stays_apart(s, b).await;
}

/// A default-tenant caller naming bank's store key for alice (`\x1fbank\x1falice`, what the
/// default tenant's plain keys could collide with) as a subject or a `vendor_data`; and an
/// identity provider configured for the shop speaking for the bank.
async fn forged_names_never_reach_another_tenant(s: &TestServer, b: &TestServer) {
    let forged = "\u{1f}bank\u{1f}carol";
    let verifier = "tenant-verifier-0123456789abcdef0123456789abcdef";
    let challenge = inherence::protocol::pkce::challenge(verifier);
    for (prompt, server) in [("", s), ("create", b)] {
        let r = push_as(
            server,
            "rp-basic",
            BASIC_SECRET,
            &[("login_hint", forged), ("prompt", prompt)],
            &challenge,
        )
        .await;
        assert_eq!(r.status(), 400, "({prompt})");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains("login_hint"),
            "{v}"
        );
    }
    // An ID token naming the forged subject, from a trusted identity provider.
    let hint = s.idp_id_token(forged);
    let url = format!(
        "{}/authorize?client_id=rp-basic&response_type=code&scope=openid&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&id_token_hint={hint}",
        s.base,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
    // The identity provider is configured for the shop only: the bank cannot use its hints.
    let url = url
        .replace("rp-basic", "bank-app")
        .replace(&s.base, &b.base);
    let url = url.replace(&hint, &b.idp_id_token("carol"));
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(
        query(&location(&r))["error"],
        "login_required",
        "another tenant's identity provider"
    );
    // The standalone checks' vendor_data.
    let key = crate::didit_sessions::key(s);
    let r = passive_liveness(s, &key, &[("vendor_data", forged)]).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["vendor_data"].is_array(), "{v}");
    // A saved standalone check has no capture to redo: it cannot be re-armed as a hosted
    // session by a review.
    let r: Value = passive_liveness(
        s,
        &key,
        &[("vendor_data", "dave"), ("save_api_request", "true")],
    )
    .await
    .json()
    .await
    .unwrap();
    let id = r["request_id"].as_str().expect("request id").to_owned();
    let (st, v) = call(
        s,
        Method::PATCH,
        &format!("/v3/session/{id}/update-status/"),
        Some(&key),
        Some(json!({"new_status": "Resubmitted"})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    // Bank's carol is untouched.
    assert_eq!(
        subjects(b, "bank-app", Method::GET, "/carol/face", None)
            .await
            .1["enrolled_by"],
        "bank-app"
    );
}

/// Workflows, sessions, stored faces, templates, destinations and deliveries of the v3 API.
async fn v3_stays_apart(s: &TestServer, b: &TestServer) {
    let (shop, bank) = (api_key(s, "shop"), api_key(b, "bank"));
    let (st, wf) = call(
        s,
        Method::POST,
        "/v3/workflows/",
        Some(&shop),
        Some(json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}]})),
    )
    .await;
    assert_eq!(st, 201, "{wf}");
    let wf = wf["uuid"].as_str().unwrap().to_owned();
    let rx_shop = Receiver::start(0).await;
    let (st, dest) = call(
        s,
        Method::POST,
        "/v3/webhook/destinations/",
        Some(&shop),
        Some(json!({"label": "shop", "url": rx_shop.url})),
    )
    .await;
    assert_eq!(st, 201, "{dest}");
    let dest = dest["uuid"].as_str().unwrap().to_owned();
    let rx_bank = Receiver::start(0).await;
    let (st, bank_dest) = call(
        b,
        Method::POST,
        "/v3/webhook/destinations/",
        Some(&bank),
        // The same URL in another tenant is no conflict, and reveals nothing.
        Some(json!({"label": "bank", "url": rx_bank.url})),
    )
    .await;
    assert_eq!(st, 201, "{bank_dest}");
    let bank_dest = bank_dest["uuid"].as_str().unwrap().to_owned();
    // A shop session for shop's alice (her stored face is the reference).
    let (st, sess) = call(
        s,
        Method::POST,
        "/v3/session/",
        Some(&shop),
        Some(json!({"workflow_id": wf, "vendor_data": "alice"})),
    )
    .await;
    assert_eq!(st, 201, "{sess}");
    let sid = sess["session_id"].as_str().unwrap().to_owned();
    // The bank cannot use shop's workflow, nor its stored faces.
    let (st, v) = call(
        b,
        Method::POST,
        "/v3/session/",
        Some(&bank),
        Some(json!({"workflow_id": wf, "vendor_data": "carol"})),
    )
    .await;
    assert_eq!(
        (st, &v["workflow_id"]),
        (400, &json!("Invalid workflow_id."))
    );
    let (st, bank_wf) = call(
        b,
        Method::POST,
        "/v3/workflows/",
        Some(&bank),
        Some(json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}]})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, v) = call(
        b,
        Method::POST,
        "/v3/session/",
        Some(&bank),
        Some(json!({"workflow_id": bank_wf["uuid"], "vendor_data": "alice"})),
    )
    .await;
    assert_eq!(st, 400, "bank's alice was erased; shop's is not hers: {v}");
    // Every read, change and deletion of shop's objects with the bank's key: not found.
    for (method, path, body) in [
        (Method::GET, format!("/v3/session/{sid}/decision/"), None),
        (Method::GET, format!("/v3/session/{sid}/"), None),
        (
            Method::PATCH,
            format!("/v3/session/{sid}/update-status/"),
            Some(json!({"new_status": "Approved"})),
        ),
        (Method::DELETE, format!("/v3/session/{sid}/delete/"), None),
        (Method::GET, format!("/v3/workflows/{wf}/"), None),
        (
            Method::PATCH,
            format!("/v3/workflows/{wf}/"),
            Some(json!({"workflow_label": "mine"})),
        ),
        (Method::DELETE, format!("/v3/workflows/{wf}/"), None),
        (
            Method::GET,
            format!("/v3/webhook/destinations/{dest}/"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v3/webhook/destinations/{dest}/"),
            Some(json!({"url": rx_bank.url})),
        ),
        (
            Method::DELETE,
            format!("/v3/webhook/destinations/{dest}/"),
            None,
        ),
        (
            Method::GET,
            format!("/v3/webhook/destinations/{dest}/deliveries/"),
            None,
        ),
    ] {
        let (st, v) = call(b, method.clone(), &path, Some(&bank), body).await;
        assert_eq!(st, 404, "{method} {path} with another tenant's key: {v}");
    }
    // Listings and bulk deletion see only the caller's tenant.
    let count = |v: &Value| v["count"].as_u64().unwrap();
    let (_, v) = call(b, Method::GET, "/v3/sessions/", Some(&bank), None).await;
    assert_eq!(count(&v), 0, "{v}");
    let (_, v) = call(b, Method::GET, "/v3/workflows/", Some(&bank), None).await;
    assert_eq!(count(&v), 1);
    let (_, v) = call(
        b,
        Method::GET,
        "/v3/webhook/destinations/",
        Some(&bank),
        None,
    )
    .await;
    assert_eq!(count(&v), 1);
    let (st, v) = call(
        b,
        Method::POST,
        "/v3/sessions/delete/",
        Some(&bank),
        Some(json!({"delete_all": true})),
    )
    .await;
    assert_eq!(
        (st, v["results"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
    let (st, v) = call(
        s,
        Method::GET,
        &format!("/v3/session/{sid}/decision/"),
        Some(&shop),
        None,
    )
    .await;
    assert_eq!(st, 200, "shop's session survives: {v}");
    // The session's webhook went to shop's destination only (queued with the change).
    assert!(deliveries(s, &shop, &dest).await >= 1);
    assert_eq!(deliveries(b, &bank, &bank_dest).await, 0);
    // Templates: shop sees its alice; the bank sees no template of shop and purges none.
    let (_, t) = call(
        s,
        Method::GET,
        "/v3/biometric-templates/",
        Some(&shop),
        None,
    )
    .await;
    assert_eq!(count(&t), 1, "{t}");
    let uuid = t["results"][0]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(t["results"][0]["vendor_data"], "alice");
    let (_, v) = call(
        b,
        Method::GET,
        "/v3/biometric-templates/",
        Some(&bank),
        None,
    )
    .await;
    let bank_uuids: Vec<&Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["uuid"])
        .collect();
    assert!(!bank_uuids.contains(&&json!(uuid)), "{v}");
    let path = format!("/v3/biometric-templates/{uuid}/");
    assert_eq!(call(b, Method::GET, &path, Some(&bank), None).await.0, 404);
    assert_eq!(
        call(b, Method::DELETE, &path, Some(&bank), None).await.0,
        404
    );
    let (_, v) = call(
        b,
        Method::POST,
        "/v3/biometric-templates/delete/",
        Some(&bank),
        Some(json!({"uuids": [uuid]})),
    )
    .await;
    assert_eq!(v["results"][0]["outcome"], "not_found", "{v}");
    assert_eq!(call(s, Method::GET, &path, Some(&shop), None).await.0, 200);
}

/// `POST /v3/passive-liveness/` with the enrolment portrait and `fields`.
async fn passive_liveness(
    server: &TestServer,
    key: &str,
    fields: &[(&'static str, &'static str)],
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "user_image",
        reqwest::multipart::Part::bytes(std::fs::read(dev_image(PERSON_ENROL)).unwrap())
            .file_name("u.png"),
    );
    for (k, v) in fields {
        form = form.text(*k, *v);
    }
    http()
        .post(server.url("/v3/passive-liveness/"))
        .header("x-api-key", key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn deliveries(server: &TestServer, key: &str, destination: &str) -> u64 {
    let (st, v) = call(
        server,
        Method::GET,
        &format!("/v3/webhook/destinations/{destination}/deliveries/"),
        Some(key),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["count"].as_u64().unwrap()
}

/// Unpacks an audit export tar and returns its records.
fn export_records(bytes: &[u8], dir: &Path) -> Vec<inherence::audit::record::Entry> {
    crate::audit::untar(bytes, dir);
    let d = dir.join("inherence-audit-export");
    assert!(inherence::audit::export::verify_dir(&d, None).unwrap().ok());
    std::fs::read_to_string(d.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each audit client exports its own tenant's records only, even when it asks for another
/// tenant's client; the same subject id has another pseudonym in each tenant.
async fn audit_stays_apart(s: &TestServer, b: &TestServer) {
    let mut pseudonyms = Vec::new();
    for (server, client, other) in [(s, "shop-app", "bank-app"), (b, "bank-app", "shop-app")] {
        let t = token(server, client, "audit").await;
        for asked in ["", &format!("?client={other}")] {
            let r = http()
                .get(server.url(&format!("/api/v1/audit/export{asked}")))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let tmp = tempfile::tempdir().unwrap();
            let records = export_records(&r.bytes().await.unwrap(), tmp.path());
            let tenant = client.trim_end_matches("-app");
            assert!(
                records.iter().all(|e| e.tenant() == tenant),
                "{client} exported another tenant's records"
            );
            if asked.is_empty() {
                assert!(!records.is_empty(), "{client} has decisions");
                pseudonyms.extend(
                    records
                        .iter()
                        .filter(|e| e.client() == Some(client))
                        .filter_map(|e| e.subject().map(|p| (tenant.to_owned(), p.to_owned()))),
                );
            } else {
                assert!(records.is_empty(), "{client} asked for {other}'s records");
            }
        }
    }
    let p = &s.provider.audit;
    let (shop_alice, bank_alice) = (
        p.pseudonym(&TenantId::parse("shop").unwrap(), "alice")
            .unwrap(),
        p.pseudonym(&TenantId::parse("bank").unwrap(), "alice")
            .unwrap(),
    );
    assert_ne!(shop_alice, bank_alice);
    assert!(pseudonyms.contains(&("shop".into(), shop_alice)));
    assert!(pseudonyms.contains(&("bank".into(), bank_alice)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_on_one_server_never_meet() {
    let Some(_) = shared("eval/dev") else { return };
    let server = TestServer::start(two_tenants).await;
    tenants_stay_apart(&server, &server).await;
}

#[test]
fn clients_and_keys_must_name_a_configured_tenant() {
    let mut c = Config::default();
    two_tenants_config_only(&mut c);
    c.clients[0].tenant = TenantId::parse("bnak").unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("bnak") && e.contains("not declared"), "{e}");
    let mut c = Config::default();
    c.tenants.push(TenantConfig {
        id: TenantId::default(),
        name: String::new(),
    });
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("always exists")
    );
    let mut c = Config::default();
    two_tenants_config_only(&mut c);
    assert!(c.tenant("bank").is_ok() && c.tenant("default").is_ok());
    let e = c.tenant("other").unwrap_err().to_string();
    assert!(e.contains("default, bank, shop"), "{e}");
}

fn two_tenants_config_only(c: &mut Config) {
    let mut app = client("bank-app", ClientAuthMethod::ClientSecretBasic);
    app.tenant = TenantId::parse("bank").unwrap();
    app.client_secret = Some(Secret::new(BANK_SECRET));
    c.clients.push(app.clone());
    app.client_id = "shop-app".into();
    app.tenant = TenantId::parse("shop").unwrap();
    c.clients.push(app);
    for t in ["bank", "shop"] {
        c.tenants.push(TenantConfig {
            id: TenantId::parse(t).unwrap(),
            name: String::new(),
        });
    }
}

/// A store written before tenants existed: records without a `tenant` field, subjects under
/// their plain ids. With tenants configured, it is the default tenant's, untouched: the default
/// client steps its subject up, its API key sees its workflow and destination, and the new
/// tenants see none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_tenants_becomes_the_default_tenant() {
    let Some(_) = shared("eval/dev") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let legacy_key;
    {
        let mut cfg = Config::default();
        cfg.store.path = store_dir.clone();
        let clock: std::sync::Arc<dyn inherence::clock::Clock> =
            std::sync::Arc::new(inherence::clock::SystemClock);
        let store = inherence::store::open(&cfg.store, clock, &inherence::namespaces()).unwrap();
        use inherence::store::typed::KvJson;
        // The enrolment as the enrolment API wrote it then.
        let engine = crate::common::engine();
        let portrait = std::fs::read(dev_image(PERSON_ENROL)).unwrap();
        let inherence::biometric::Enrolment::Enrolled(template) =
            engine.enrol(&portrait).unwrap().0
        else {
            panic!("portrait refused")
        };
        inherence::flow::fixtures::enrol(&*store, "legacy-user", &template, "admin", 1).unwrap();
        // An API key, a workflow and a destination in the format of the time (no tenant).
        let (_, key) =
            inherence::flow::didit::create_api_key(&*store, 1, "legacy", &TenantId::default())
                .unwrap();
        legacy_key = key;
        let strip = |ns: &inherence::store::Namespace| {
            for k in store.keys(ns).unwrap() {
                let mut v: Value = store.get_json(ns, &k).unwrap().unwrap();
                assert!(v.as_object_mut().unwrap().remove("tenant").is_some());
                store.put_json(ns, &k, &v, None).unwrap();
            }
        };
        strip(&inherence::flow::didit::API_KEYS);
        let wf = inherence::flow::workflows::create(
            &*store,
            &TenantId::default(),
            &serde_json::from_value(
                json!({"workflow_label": "legacy", "features": [{"feature": "LIVENESS"}]}),
            )
            .unwrap(),
            1,
            inherence::biometric::capture::LivenessMethod::Passive,
        )
        .unwrap();
        assert_eq!(wf.tenant, TenantId::default());
        strip(&inherence::flow::workflows::WORKFLOWS);
    }
    let server = TestServer::start(move |c| {
        c.store.path = store_dir;
        two_tenants(c);
    })
    .await;
    // The default tenant's client and key: everything as before.
    assert_eq!(
        step_up(&server, "rp-basic", "legacy-user").await,
        "approved"
    );
    let (st, v) = call(
        &server,
        Method::GET,
        "/v3/workflows/",
        Some(&legacy_key),
        None,
    )
    .await;
    assert_eq!((st, v["count"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["results"][0]["workflow_label"], "legacy");
    let admin = server.admin_token().await;
    let r = http()
        .get(server.url("/api/v1/subjects/legacy-user/face"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The new tenants see none of it.
    assert_eq!(
        subjects(&server, "bank-app", Method::GET, "/legacy-user/face", None)
            .await
            .0,
        404
    );
    assert_eq!(
        step_up(&server, "shop-app", "legacy-user").await,
        "unmet_authentication_requirements"
    );
    let bank = api_key(&server, "bank");
    let (_, v) = call(&server, Method::GET, "/v3/workflows/", Some(&bank), None).await;
    assert_eq!(v["count"], 0, "{v}");
}

/// The same attacks with the shop on one instance and the bank on another, over one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_on_two_instances_over_redis_never_meet() {
    let Some(_) = shared("eval/dev") else { return };
    let r = crate::redis_store::Redis::single();
    let redis = |c: &mut Config, urls: Vec<String>| {
        c.store.backend = inherence::store::StoreBackend::Redis;
        c.store.redis_urls = urls;
        c.store.encryption_keys = vec![crate::redis_store::template_key()];
        two_tenants(c);
    };
    let urls = r.urls.clone();
    let a = TestServer::start(|c| redis(c, urls)).await;
    let (issuer, urls) = (a.base.clone(), r.urls.clone());
    let b = TestServer::start(move |c| {
        redis(c, urls);
        c.oidc.issuer = issuer;
    })
    .await;
    tenants_stay_apart(&a, &b).await;
}
