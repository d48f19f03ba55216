//! The Redis backend against real `redis-server` processes started on loopback by the tests
//! (Debian package `redis-server`; `make test` installs it): the behavioural suite on one node
//! and on a 3-master Redis Cluster, and two server instances over one Redis completing a
//! step-up together.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inherence::clock::{Clock, SystemClock};
use inherence::store::redis::RedisStore;
use inherence::store::{Kv, Namespace};

use crate::common::shared;
use crate::oidc_flows::{par_authorize_url, pass_face_check};
use crate::server::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waiting for another process in real time: no clock to inject.
#[allow(clippy::disallowed_methods)]
fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn redis_server() -> String {
    for p in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("redis-server is not installed (Debian package redis-server; `make test` installs it)");
}

/// A child process killed (and reaped) when the test ends, passing or not.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `redis-server` processes that die with the test.
pub struct Redis {
    children: Vec<Child>,
    pub urls: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(dir: &std::path::Path, port: u16, cluster: bool) -> Child {
    let mut cmd = Command::new(redis_server());
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args(["--dir", dir.to_str().unwrap()]);
    if cluster {
        cmd.args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &format!("nodes-{port}.conf"),
        ]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

fn wait_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            && let Ok(mut con) = c.get_connection()
            && redis::cmd("PING").query::<String>(&mut con).is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on {port} did not start"
        );
        pause(50);
    }
}

impl Redis {
    pub fn single() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(dir.path(), port, false);
        wait_ping(port);
        Self {
            children: vec![child],
            urls: vec![format!("redis://127.0.0.1:{port}/")],
            _dir: dir,
        }
    }

    pub fn cluster() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let children: Vec<Child> = ports.iter().map(|p| spawn(dir.path(), *p, true)).collect();
        for p in &ports {
            wait_ping(*p);
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new(redis_server().replace("redis-server", "redis-cli"))
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for p in &ports {
            loop {
                let c = redis::Client::open(format!("redis://127.0.0.1:{p}/")).unwrap();
                let mut con = c.get_connection().unwrap();
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not converge: {info}"
                );
                pause(100);
            }
        }
        Self {
            children,
            urls: ports
                .iter()
                .map(|p| format!("redis://127.0.0.1:{p}/"))
                .collect(),
            _dir: dir,
        }
    }
}

#[test]
fn the_behavioural_suite_passes_on_one_redis_node() {
    let r = Redis::single();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = RedisStore::connect(&r.urls).unwrap();
    inherence::store::suite::run(&store, &*clock);
    inherence::store::suite::replace_keeps_expiry(&store, &*clock);
    // The same suite through the sealing wrapper that domain code uses, on Redis.
    use inherence::store::encrypted::{EncryptedKv, KeyRing, SUBJECT_KEYS, TemplateKey};
    let raw: inherence::store::Store = Arc::new(store);
    let mut declared = inherence::store::suite::DECLARED.to_vec();
    declared.push(SUBJECT_KEYS);
    let ring = KeyRing::new(vec![TemplateKey::new("k1", &[7; 32]).unwrap()]).unwrap();
    let sealed = EncryptedKv::new(raw.clone(), raw, Arc::new(ring), false, &declared);
    inherence::store::suite::run(&sealed, &*clock);
    inherence::store::suite::replace_keeps_expiry(&sealed, &*clock);
    inherence::store::suite::policy_is_enforced(&sealed, &*clock);
}

#[test]
fn the_behavioural_suite_passes_on_a_three_master_cluster() {
    let r = Redis::cluster();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = RedisStore::connect(&r.urls).unwrap();
    inherence::store::suite::run(&store, &*clock);
    inherence::store::suite::replace_keeps_expiry(&store, &*clock);
    // Namespaces land on different masters (hash tags per namespace) and still list cleanly.
    for i in 0..30 {
        let ns = Namespace::fresh(format!("ns_{i}"));
        store.put(&ns, "k", b"v", None).unwrap();
        assert_eq!(store.keys(&ns).unwrap(), vec!["k".to_owned()]);
    }
}

#[test]
fn a_stopped_redis_is_a_clear_error_not_a_panic() {
    let r = Redis::single();
    let store = RedisStore::connect(&r.urls).unwrap();
    store.put(&Namespace::new("n"), "k", b"v", None).unwrap();
    drop(r);
    let e = store.get(&Namespace::new("n"), "k").unwrap_err();
    assert!(e.to_string().contains("redis"), "{e}");
    let port = free_port();
    let e = RedisStore::connect(&[format!("redis://127.0.0.1:{port}/")]).unwrap_err();
    assert!(e.to_string().contains("storage unavailable"), "{e}");
}

/// The template key both instances share (as an operator's secret manager would give them).
pub fn template_key() -> inherence::secret::Secret {
    use base64::Engine as _;
    inherence::secret::Secret::new(format!(
        "test-1:{}",
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    ))
}

/// Two instances behind one issuer over one Redis: PAR on A, capture on B, token on A; the code
/// cannot be redeemed again on B; the rate limit is global.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_one_redis_share_a_step_up() {
    let Some(_) = shared("eval/dev") else { return };
    two_instances_share_a_step_up(&Redis::single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_a_redis_cluster_share_a_step_up() {
    let Some(_) = shared("eval/dev") else { return };
    two_instances_share_a_step_up(&Redis::cluster()).await;
}

/// Reads a raw value from Redis (one node or the cluster), as someone with access to it would.
fn raw_get(r: &Redis, key: &str) -> Option<Vec<u8>> {
    if r.urls.len() > 1 {
        let c = redis::cluster::ClusterClient::new(r.urls.clone()).unwrap();
        let mut con = c.get_connection().unwrap();
        redis::cmd("GET").arg(key).query(&mut con).unwrap()
    } else {
        let c = redis::Client::open(r.urls[0].as_str()).unwrap();
        let mut con = c.get_connection().unwrap();
        redis::cmd("GET").arg(key).query(&mut con).unwrap()
    }
}

fn raw_set(r: &Redis, key: &str, value: &[u8]) {
    let cmd = || {
        let mut c = redis::cmd("SET");
        c.arg(key).arg(value);
        c
    };
    if r.urls.len() > 1 {
        let c = redis::cluster::ClusterClient::new(r.urls.clone()).unwrap();
        let mut con = c.get_connection().unwrap();
        cmd().query::<()>(&mut con).unwrap();
    } else {
        let c = redis::Client::open(r.urls[0].as_str()).unwrap();
        let mut con = c.get_connection().unwrap();
        cmd().query::<()>(&mut con).unwrap();
    }
}

/// PAR on A, capture on B, token on A; single-use codes, shared keys, global rate limits, two
/// step-ups at once (one per instance) appending to one audit chain, erasure crypto-shreds.
async fn two_instances_share_a_step_up(r: &Redis) {
    let urls = r.urls.clone();
    let a = TestServer::start(|c| {
        c.store.backend = inherence::store::StoreBackend::Redis;
        c.store.redis_urls = urls.clone();
        c.store.encryption_keys = vec![template_key()];
        c.api.read_per_minute = 6;
    })
    .await;
    let issuer = a.base.clone();
    let urls = r.urls.clone();
    let b = TestServer::start(move |c| {
        c.oidc.issuer = issuer;
        c.store.backend = inherence::store::StoreBackend::Redis;
        c.store.redis_urls = urls;
        c.store.encryption_keys = vec![template_key()];
        c.api.read_per_minute = 6;
    })
    .await;
    assert_eq!(a.enrol("alice", PERSON_ENROL).await.status(), 201);
    // Redis holds the template sealed with the subject's own key (no embedding in clear), and
    // that key sealed under the configured key id.
    let raw = raw_get(r, "inh:{enrolments}:k:alice").expect("template");
    assert!(inherence::store::encrypted::is_subject_sealed(&raw));
    assert!(!String::from_utf8_lossy(&raw).contains("embedding"));
    let wrapped = raw_get(r, "inh:{subject_keys}:k:enrolments/alice").expect("subject key");
    assert_eq!(
        inherence::store::encrypted::key_id(&wrapped),
        Some("test-1")
    );
    let verifier = "multi-instance-verifier-0123456789abcdef0123456789";
    let challenge = inherence::protocol::pkce::challenge(verifier);
    let url = par_authorize_url(&a, "rp-basic", &[("login_hint", "alice")], &challenge).await;
    let other = par_authorize_url(&a, "rp-basic", &[("login_hint", "alice")], &challenge).await;
    // The browser reaches instance B for the authorization and the capture; at the same time
    // another step-up runs entirely on A (both append to the one audit chain).
    let on_b = url.replace(&a.base, &b.base);
    let (browser_b, browser_a) = (browser(), browser());
    let (q, _) = tokio::join!(
        pass_face_check(&b, &browser_b, &on_b),
        pass_face_check(&a, &browser_a, &other)
    );
    let code = q["code"].clone();
    let t = exchange_code(&a, "rp-basic", &code, verifier).await;
    assert!(t["id_token"].is_string(), "{t}");
    let again = exchange_code(&b, "rp-basic", &code, verifier).await;
    assert_eq!(
        again["error"], "invalid_grant",
        "a code is single-use across instances: {again}"
    );
    // Without the template key, Redis is refused at start (templates are sealed at rest).
    let mut cfg = inherence::config::Config::default();
    cfg.store.backend = inherence::store::StoreBackend::Redis;
    cfg.store.redis_urls = r.urls.clone();
    let e = inherence::store::open(&cfg.store, Arc::new(SystemClock), &inherence::namespaces())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("encryption_keys"), "{e}");
    // Both instances sign with the same keys: B's JWKS verifies A's token.
    let jwks: serde_json::Value = http()
        .get(b.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
    // One API-key budget for both instances: 8 reads, alternating, with a limit of 6.
    let now = SystemClock.now_secs();
    let (_, key) =
        inherence::flow::didit::create_api_key(&*a.provider.store, now, "t", &Default::default())
            .unwrap();
    let mut statuses = Vec::new();
    let mut resets = std::collections::HashSet::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { &a } else { &b };
        let r = http()
            .get(s.url("/v3/workflows/"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        if let Some(v) = r.headers().get("x-ratelimit-reset") {
            resets.insert(v.to_str().unwrap().to_owned());
        }
        statuses.push(r.status().as_u16());
    }
    if resets.len() == 1 {
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            6,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            2,
            "{statuses:?}"
        );
    }
    // One audit chain, written by both instances at once, verifies from either.
    let report = b.provider.audit.verify_store(None).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 2, "two decisions, one entry each");
    // Erasure through B destroys the subject's key: the template's old ciphertext (as a
    // backup or an AOF segment would keep it) can no longer be opened.
    let erased = http()
        .delete(b.url("/api/v1/subjects/alice/face"))
        .bearer_auth(b.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    assert_eq!(raw_get(r, "inh:{enrolments}:k:alice"), None);
    assert_eq!(raw_get(r, "inh:{subject_keys}:k:enrolments/alice"), None);
    raw_set(r, "inh:{enrolments}:k:alice", &raw);
    assert!(
        a.provider
            .store
            .get(&inherence::flow::ns::ENROLMENTS, "alice")
            .unwrap()
            .is_none(),
        "the planted old ciphertext does not open"
    );
}

/// Webhook workers run in both instances: every event reaches the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_webhook_once() {
    use crate::didit_sessions::{call, destination, fast_webhooks, key, workflow};
    let Some(_) = shared("eval/dev") else { return };
    let r = Redis::single();
    let urls = r.urls.clone();
    let a = TestServer::start(|c| {
        fast_webhooks(c);
        c.store.backend = inherence::store::StoreBackend::Redis;
        c.store.redis_urls = urls.clone();
        c.store.encryption_keys = vec![template_key()];
    })
    .await;
    let (issuer, urls) = (a.base.clone(), r.urls.clone());
    let b = TestServer::start(move |c| {
        fast_webhooks(c);
        c.oidc.issuer = issuer;
        c.store.backend = inherence::store::StoreBackend::Redis;
        c.store.redis_urls = urls;
        c.store.encryption_keys = vec![template_key()];
    })
    .await;
    let k = key(&a);
    let rx = crate::receiver::Receiver::start(0).await;
    destination(&a, &k, &rx).await;
    let wf = workflow(
        &b,
        &k,
        serde_json::json!({"features": [{"feature": "LIVENESS"}]}),
    )
    .await;
    for i in 0..40 {
        let s = if i % 2 == 0 { &a } else { &b };
        let (st, v) = call(
            s,
            reqwest::Method::POST,
            "/v3/session/",
            Some(&k),
            Some(serde_json::json!({"workflow_id": wf})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
    }
    rx.wait_for(30, "40 creation events", |got| got.len() >= 40)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.accepted();
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.body["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (40, 40), "each event once");
    assert_eq!(rx.attempts(), 40, "no attempt was sent twice");
    assert!(rx.problems().is_empty(), "{:?}", rx.problems());
}

/// Redis restarted in the middle of a step-up (AOF on): while it is down the server answers
/// "temporarily unavailable" and approves nothing; after the restart the flow resumes and the
/// enrolment is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_flow_resumes_and_loses_no_enrolment() {
    let Some(_) = shared("eval/dev") else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start_aof = || {
        let c = Command::new(redis_server())
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_ping(port);
        c
    };
    let mut redis_proc = KillOnDrop(start_aof());
    let url = format!("redis://127.0.0.1:{port}/");
    let u = url.clone();
    let server = TestServer::start(move |c| {
        c.store.backend = inherence::store::StoreBackend::Redis;
        c.store.redis_urls = vec![u];
        c.store.encryption_keys = vec![template_key()];
    })
    .await;
    assert_eq!(server.enrol("alice", PERSON_ENROL).await.status(), 201);
    let verifier = "redis-restart-verifier-0123456789abcdef0123456789ab";
    let challenge = inherence::protocol::pkce::challenge(verifier);
    let authorize =
        par_authorize_url(&server, "rp-basic", &[("login_hint", "alice")], &challenge).await;
    let b = browser();
    let capture = open_capture(&b, &authorize).await;

    // Redis goes away (SIGKILL: no graceful shutdown) while the user is on the capture page.
    redis_proc.0.kill().unwrap();
    redis_proc.0.wait().unwrap();
    let r = b
        .post(server.url(&format!("{capture}/challenge")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "a clear error, not an approval");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    // Back (same data directory): the flow resumes and passes; the enrolment survived.
    let _redis_proc = KillOnDrop(start_aof());
    let result = attempt(&b, &server, &capture).await;
    assert_eq!(result["status"], "approved", "{result}");
    let to = finish(&b, &server, &capture).await;
    let t = exchange_code(&server, "rp-basic", &query(&to)["code"], verifier).await;
    assert!(t["id_token"].is_string(), "{t}");
    let enrolled = http()
        .get(server.url("/api/v1/subjects/alice/face"))
        .bearer_auth(server.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 200);
    let _keep = url;
}

/// Key rotation with two instances on one store happens once: both tick past the rotation
/// period, one successor is published. Two instances starting on an empty store share one key.
#[test]
fn key_generation_and_rotation_happen_once_across_instances() {
    let r = Redis::single();
    // Redis expires claims by its own (real) clock: start the test clock at real time.
    let clock = Arc::new(inherence::clock::FixedClock::at_secs(
        SystemClock.now_secs(),
    ));
    let store: inherence::store::Store = Arc::new(RedisStore::connect(&r.urls).unwrap());
    let settings = inherence::keys::KeySettings {
        rotate_every_days: 1,
        ..Default::default()
    };
    let open = || {
        inherence::keys::KeyManager::open(store.clone(), clock.clone(), settings.clone(), "t")
            .unwrap()
    };
    let ((a, ga), (b, gb)) = std::thread::scope(|s| {
        let ha = s.spawn(open);
        let hb = s.spawn(open);
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(ga ^ gb, "exactly one instance generated the first keys");
    assert_eq!(
        store.keys(&inherence::keys::SIGNING_KEYS).unwrap().len(),
        settings.algorithms.len()
    );
    assert_eq!(a.ring().jwks(), b.ring().jwks());
    clock.advance(Duration::from_secs(2 * 86_400));
    std::thread::scope(|s| {
        s.spawn(|| a.tick().unwrap());
        s.spawn(|| b.tick().unwrap());
    });
    a.tick().unwrap();
    b.tick().unwrap();
    let keys = store.keys(&inherence::keys::SIGNING_KEYS).unwrap();
    assert_eq!(
        keys.len(),
        2 * settings.algorithms.len(),
        "per algorithm one active key and exactly one successor: {keys:?}"
    );
    assert_eq!(a.ring().jwks(), b.ring().jwks());
}

/// Administration with the CLI while two instances run over one Redis: a revoked API key and
/// an erased subject are refused by both instances within a second (they read the store per
/// request; nothing is cached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_changes_reach_every_running_instance_within_a_second() {
    let Some(_) = shared("eval/dev") else { return };
    let r = Redis::single();
    let start = |urls: Vec<String>| {
        TestServer::start(move |c| {
            c.store.backend = inherence::store::StoreBackend::Redis;
            c.store.redis_urls = urls;
            c.store.encryption_keys = vec![template_key()];
        })
    };
    let a = start(r.urls.clone()).await;
    let b = start(r.urls.clone()).await;
    let mut cfg = inherence::config::Config::default();
    cfg.store.backend = inherence::store::StoreBackend::Redis;
    cfg.store.redis_urls = r.urls.clone();
    cfg.store.encryption_keys = vec![template_key()];

    // A key made for the test, accepted by both instances.
    let (rec, key) = {
        let store =
            inherence::store::open(&cfg.store, Arc::new(SystemClock), &inherence::namespaces())
                .unwrap();
        inherence::flow::didit::create_api_key(&*store, 0, "live", &Default::default()).unwrap()
    };
    let list = |s: &TestServer| {
        let (url, key) = (s.url("/v3/workflows/"), key.clone());
        async move {
            http()
                .get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!((list(&a).await, list(&b).await), (200, 200));
    // Revoked with the CLI: refused by both within a second.
    inherence::cli::api_keys::run(
        &cfg,
        inherence::cli::api_keys::ApiKeysAction::Revoke { id: rec.id.clone() },
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((list(&a).await, list(&b).await), (403, 403));

    // A subject enrolled on A, erased with the CLI: gone for both.
    assert_eq!(a.enrol("carol", PERSON_ENROL).await.status(), 201);
    async fn face(s: &TestServer) -> u16 {
        http()
            .get(s.url("/api/v1/subjects/carol/face"))
            .bearer_auth(s.admin_token().await)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
    assert_eq!((face(&a).await, face(&b).await), (200, 200));
    inherence::cli::subjects::run(
        &cfg,
        inherence::cli::subjects::SubjectsAction::Delete {
            subject: "carol".into(),
            tenant: "default".into(),
        },
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((face(&a).await, face(&b).await), (404, 404));
}
