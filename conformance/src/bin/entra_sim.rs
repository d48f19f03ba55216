//! The Microsoft Entra ID simulator (`conformance::entra`) as a process, for the browser tests:
//! `entra-sim --discovery-url URL --client-id ID --app-id GUID --tenant-id GUID --user UPN...`
//! prints one JSON line (its base URL, key URL, redirect URI and each user's `oid` and `sub`)
//! and serves until killed. A browser opening `/start?upn=UPN` begins an external
//! authentication; the answer's judgement is shown on the page and at `/outcome/{state}`.

use conformance::entra::{Entra, Setup};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut discovery_url, mut client_id, mut app_id, mut tenant_id) = (None, None, None, None);
    let mut users = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--discovery-url" => discovery_url = Some(value()),
            "--client-id" => client_id = Some(value()),
            "--app-id" => app_id = Some(value()),
            "--tenant-id" => tenant_id = Some(value()),
            "--user" => users.push(value()),
            other => die(&format!("unknown argument {other}")),
        }
    }
    let need = |v: Option<String>, n: &str| v.unwrap_or_else(|| die(&format!("--{n} is required")));
    let sim = Entra::start(Setup {
        discovery_url: need(discovery_url, "discovery-url"),
        client_id: need(client_id, "client-id"),
        app_id: need(app_id, "app-id"),
        tenant_id: need(tenant_id, "tenant-id"),
    })
    .await;
    let users: Vec<_> = users
        .iter()
        .map(|upn| {
            let u = sim.add_user(upn);
            serde_json::json!({ "upn": u.upn, "oid": u.oid, "sub": u.sub })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "base": sim.base(),
            "jwks_uri": sim.jwks_uri(),
            "redirect_uri": sim.redirect_uri(),
            "users": users,
        })
    );
    std::future::pending::<()>().await;
}

fn die(m: &str) -> ! {
    eprintln!("entra-sim: {m}");
    std::process::exit(2)
}
