//! A small relying-party web app: users sign in with a password, and where the app used to
//! send an SMS code before a transfer, it sends them to Inherence for a face check.
//!
//! It shows what a relying party must do: push the authorization request (PAR) with the user,
//! the transaction (RAR), PKCE, state and nonce; check `state` and `iss` on the way back;
//! exchange the code; validate the ID token (signature, issuer, audience, nonce, expiry) and
//! then check `acr`, `amr` and `auth_time` before executing the transfer.
//!
//!     cargo run --release --example rp_web -- --issuer http://127.0.0.1:8080 \
//!         --client-id demo-bank --client-secret ... --listen 127.0.0.1:8081 --user alice:password:demo

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::reqwest;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde::Deserialize;

/// Command-line options.
struct Options {
    issuer: String,
    client_id: String,
    client_secret: String,
    listen: SocketAddr,
    public_url: String,
    acr: String,
    /// `username:password:subject` (the subject is the id Inherence knows the user by).
    users: Vec<(String, String, String)>,
}

fn options() -> Options {
    let mut o = Options {
        issuer: "http://127.0.0.1:8080".into(),
        client_id: "demo-bank".into(),
        client_secret: String::new(),
        listen: "127.0.0.1:8081".parse().expect("address"),
        public_url: String::new(),
        acr: "biometric".into(),
        users: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--issuer" => o.issuer = v(),
            "--client-id" => o.client_id = v(),
            "--client-secret" => o.client_secret = v(),
            "--listen" => o.listen = v().parse().expect("--listen HOST:PORT"),
            "--public-url" => o.public_url = v(),
            "--acr" => o.acr = v(),
            "--user" => {
                let s = v();
                let p: Vec<&str> = s.splitn(3, ':').collect();
                assert!(p.len() == 3, "--user USER:PASSWORD:SUBJECT");
                o.users.push((p[0].into(), p[1].into(), p[2].into()));
            }
            other => panic!("unknown option {other}"),
        }
    }
    if o.client_secret.is_empty() {
        o.client_secret =
            std::env::var("RP_CLIENT_SECRET").expect("--client-secret or RP_CLIENT_SECRET");
    }
    if o.public_url.is_empty() {
        o.public_url = format!("http://{}", o.listen);
    }
    o
}

/// A signed-in user and their pending step-up.
#[derive(Clone, Default)]
struct Session {
    user: Option<String>,
    subject: Option<String>,
    pending: Option<Pending>,
    message: Option<String>,
}

#[derive(Clone)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    started_at: i64,
    amount: String,
    payee: String,
    enrolment: bool,
}

struct App {
    opt: Options,
    client: CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    par_endpoint: String,
    http: reqwest::Client,
    sessions: Mutex<HashMap<String, Session>>,
}

type Shared = Arc<App>;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Demo Bank</title></head><body style=\"font:17px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem\"><h1>Demo Bank</h1>{body}</body></html>"
    ))
}

fn now() -> i64 {
    inherence::clock::Clock::now_secs(&inherence::clock::SystemClock)
}

fn random() -> String {
    inherence::flow::random_token(24)
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "rp_session")
        .map(|(_, v)| v.to_owned())
}

fn with_session(app: &App, headers: &HeaderMap) -> (String, Session, bool) {
    let mut sessions = app.sessions.lock().expect("sessions");
    match session_id(headers).and_then(|id| sessions.get(&id).cloned().map(|s| (id, s))) {
        Some((id, s)) => (id, s, false),
        None => {
            let id = random();
            sessions.insert(id.clone(), Session::default());
            (id, Session::default(), true)
        }
    }
}

fn save(app: &App, id: &str, s: Session) {
    app.sessions
        .lock()
        .expect("sessions")
        .insert(id.to_owned(), s);
}

fn set_cookie(mut r: Response, id: &str, new: bool) -> Response {
    if new
        && let Ok(v) =
            HeaderValue::from_str(&format!("rp_session={id}; Path=/; HttpOnly; SameSite=Lax"))
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn home(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (id, mut s, new) = with_session(&app, &headers);
    let msg = s
        .message
        .take()
        .map(|m| format!("<p role=\"status\"><strong>{}</strong></p>", esc(&m)))
        .unwrap_or_default();
    save(&app, &id, s.clone());
    let body = match &s.user {
        None => format!(
            "{msg}<form method=\"post\" action=\"/login\"><label>User <input name=\"username\" autocomplete=\"username\" required></label><br><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label><br><button type=\"submit\">Sign in</button></form>"
        ),
        Some(u) => format!(
            "{msg}<p>Signed in as <strong>{}</strong> (password only).</p><h2>Make a transfer</h2><p>Transfers need a second factor. Instead of a code by SMS, you will confirm with your face.</p><form method=\"post\" action=\"/transfer\"><label>Amount (EUR) <input name=\"amount\" value=\"123.50\" required></label><br><label>Payee <input name=\"payee\" value=\"Merchant A\" required></label><br><button type=\"submit\" id=\"transfer\">Send money</button></form><form method=\"post\" action=\"/enrol\"><button type=\"submit\" id=\"enrol\">Set up face confirmation</button></form><form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>",
            esc(u)
        ),
    };
    set_cookie(page(&body).into_response(), &id, new)
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(app): State<Shared>, headers: HeaderMap, Form(f): Form<Login>) -> Response {
    let (id, mut s, new) = with_session(&app, &headers);
    match app
        .opt
        .users
        .iter()
        .find(|(u, p, _)| *u == f.username && *p == f.password)
    {
        Some((u, _, subject)) => {
            s.user = Some(u.clone());
            s.subject = Some(subject.clone());
        }
        None => s.message = Some("Wrong user or password.".into()),
    }
    save(&app, &id, s);
    set_cookie(Redirect::to("/").into_response(), &id, new)
}

async fn logout(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (id, _, _) = with_session(&app, &headers);
    save(&app, &id, Session::default());
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
struct Transfer {
    amount: String,
    payee: String,
}

/// Pushes the authorization request and sends the browser to Inherence.
async fn step_up(
    app: &App,
    id: &str,
    mut s: Session,
    amount: String,
    payee: String,
    enrolment: bool,
) -> Response {
    let Some(subject) = s.subject.clone() else {
        return Redirect::to("/").into_response();
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (state, nonce) = (random(), random());
    let details = serde_json::json!([{
        "type": "payment_initiation",
        "instructedAmount": { "currency": "EUR", "amount": amount },
        "creditorName": payee,
    }])
    .to_string();
    let redirect = format!("{}/callback", app.opt.public_url);
    let mut form = vec![
        ("response_type", "code".to_owned()),
        ("scope", "openid".to_owned()),
        ("redirect_uri", redirect),
        ("code_challenge", challenge.as_str().to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("state", state.clone()),
        ("nonce", nonce.clone()),
        ("login_hint", subject),
        ("max_age", "0".to_owned()),
    ];
    // An enrolment is not an authentication: it asks for no acr (Inherence refuses both).
    if enrolment {
        form.push(("prompt", "create".to_owned()));
    } else {
        form.push(("acr_values", app.opt.acr.clone()));
        form.push(("authorization_details", details));
    }
    let res = app
        .http
        .post(&app.par_endpoint)
        .basic_auth(&app.opt.client_id, Some(&app.opt.client_secret))
        .form(&form)
        .send()
        .await;
    let body = match res {
        Ok(r) if r.status().as_u16() == 201 => r.bytes().await.ok(),
        Ok(r) => {
            let t = r.text().await.unwrap_or_default();
            return (
                StatusCode::BAD_GATEWAY,
                page(&format!(
                    "<p>Inherence refused the request: <code>{}</code></p>",
                    esc(&t)
                )),
            )
                .into_response();
        }
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                page(&format!(
                    "<p>Inherence is unreachable: {}</p>",
                    esc(&e.to_string())
                )),
            )
                .into_response();
        }
    };
    let uri = body
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["request_uri"].as_str().map(str::to_owned))
        .unwrap_or_default();
    s.pending = Some(Pending {
        state,
        nonce,
        verifier: verifier.secret().clone(),
        started_at: now(),
        amount,
        payee,
        enrolment,
    });
    save(app, id, s);
    let to = format!(
        "{}/authorize?client_id={}&request_uri={}",
        app.opt.issuer,
        url::form_urlencoded::byte_serialize(app.opt.client_id.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    );
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn transfer(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(t): Form<Transfer>,
) -> Response {
    let (id, s, _) = with_session(&app, &headers);
    step_up(&app, &id, s, t.amount, t.payee, false).await
}

async fn enrol(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (id, s, _) = with_session(&app, &headers);
    step_up(&app, &id, s, String::new(), String::new(), true).await
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Response {
    let (id, mut s, _) = with_session(&app, &headers);
    let Some(p) = s.pending.take() else {
        return page("<p>No step-up in progress.</p><p><a href=\"/\">Back</a></p>").into_response();
    };
    let result = finish(&app, &s, &p, cb).await;
    s.message = Some(match result {
        Ok(m) => m,
        Err(e) => format!("Not done: {e}"),
    });
    save(&app, &id, s);
    Redirect::to("/").into_response()
}

/// Everything the relying party checks before it acts.
async fn finish(app: &App, s: &Session, p: &Pending, cb: Callback) -> Result<String, String> {
    if cb.state.as_deref() != Some(p.state.as_str()) {
        return Err("the state does not match".into());
    }
    if cb.iss.as_deref() != Some(app.opt.issuer.as_str()) {
        return Err("the response is not from the expected issuer".into());
    }
    if let Some(e) = cb.error {
        return Err(match e.as_str() {
            "unmet_authentication_requirements" => format!(
                "face confirmation is not possible ({}). If you never set it up, use \"Set up face confirmation\".",
                cb.error_description.unwrap_or_default()
            ),
            "access_denied" => "you cancelled the face check".into(),
            _ => format!("{e}: {}", cb.error_description.unwrap_or_default()),
        });
    }
    let code = cb.code.ok_or("no code")?;
    let tokens = app
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(p.verifier.clone()))
        .request_async(&app.http)
        .await
        .map_err(|e| format!("code exchange failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("no ID token")?;
    let verifier = app.client.id_token_verifier().set_allowed_algs(vec![
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    ]);
    let claims = id_token
        .claims(&verifier, &Nonce::new(p.nonce.clone()))
        .map_err(|e| format!("ID token rejected: {e}"))?;
    if claims.subject().as_str() != s.subject.as_deref().unwrap_or_default() {
        return Err("the ID token is for another user".into());
    }
    if p.enrolment {
        return Ok("Face confirmation is set up. Your next transfer will ask for it.".into());
    }
    let acr = claims
        .auth_context_ref()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    if acr != app.opt.acr {
        return Err(format!(
            "the authentication level is {acr:?}, {:?} is required",
            app.opt.acr
        ));
    }
    let amr: Vec<String> = claims
        .auth_method_refs()
        .map(|v| v.iter().map(|a| a.to_string()).collect())
        .unwrap_or_default();
    if !amr.iter().any(|a| a == "face") {
        return Err("the face factor is missing from amr".into());
    }
    let auth_time = claims
        .auth_time()
        .map(|t| t.timestamp())
        .ok_or("auth_time is missing")?;
    if auth_time < p.started_at - 5 {
        return Err("the face check is older than this transfer".into());
    }
    Ok(format!(
        "Transfer of EUR {} to {} approved with a face check (acr {acr}, amr {}, at {auth_time}).",
        p.amount,
        p.payee,
        amr.join(",")
    ))
}

#[tokio::main]
async fn main() {
    let opt = options();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    // Wait for the provider (make run starts both at once).
    let meta = loop {
        match CoreProviderMetadata::discover_async(
            IssuerUrl::new(opt.issuer.clone()).expect("issuer URL"),
            &http,
        )
        .await
        {
            Ok(m) => break m,
            Err(e) => {
                eprintln!("waiting for Inherence at {}: {e}", opt.issuer);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    let par_endpoint = format!("{}/par", opt.issuer);
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(opt.client_id.clone()),
        Some(ClientSecret::new(opt.client_secret.clone())),
    )
    .set_redirect_uri(
        RedirectUrl::new(format!("{}/callback", opt.public_url)).expect("redirect URL"),
    );
    let listen = opt.listen;
    let app = Arc::new(App {
        opt,
        client,
        par_endpoint,
        http,
        sessions: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/transfer", post(transfer))
        .route("/enrol", post(enrol))
        .route("/callback", get(callback))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.expect("listen");
    eprintln!("Demo Bank (relying party) on {}/", app.opt.public_url);
    axum::serve(listener, router).await.expect("serve");
}
