//! The simulator's pages: Entra's keys, the start of a sign-in (the auto-submitting POST to
//! the provider), the redirect URI that judges the answer, and the recorded outcomes.

use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Response};

use super::{DEFAULT_ACR, Entra, Outcome};

/// The simulator's routes.
pub(super) fn router(sim: Entra) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/common/discovery/v2.0/keys", get(keys))
        .route("/start", get(start))
        .route("/common/federation/externalauthprovider", post(answer))
        .route("/outcome/{state}", get(outcome))
        .with_state(sim)
}

async fn keys(State(sim): State<Entra>) -> Response {
    axum::Json(sim.jwks()).into_response()
}

#[derive(serde::Deserialize)]
struct StartQuery {
    upn: String,
    #[serde(default)]
    acr: Option<String>,
}

/// The page Entra shows the browser: an auto-submitting form POST to the provider.
async fn start(State(sim): State<Entra>, Query(q): Query<StartQuery>) -> Response {
    let Some(user) = sim.user(&q.upn) else {
        return (axum::http::StatusCode::NOT_FOUND, "no such user").into_response();
    };
    let endpoint = match sim.discover().await {
        Ok((_, endpoint, _)) => endpoint,
        Err(why) => {
            return (axum::http::StatusCode::BAD_GATEWAY, why.join("; ")).into_response();
        }
    };
    let acr = q.acr.unwrap_or_else(|| DEFAULT_ACR.to_owned());
    let (_, fields) = sim.request(&user, &[acr.as_str()], None);
    Html(auto_post(&endpoint, &fields)).into_response()
}

/// An auto-submitting form, as Entra (and every form_post sender) uses.
pub fn auto_post(action: &str, fields: &[(String, String)]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    format!(
        "<!doctype html><html><body><form method=\"post\" action=\"{}\">{inputs}</form><script>document.forms[0].submit()</script></body></html>",
        esc(action)
    )
}

async fn answer(State(sim): State<Entra>, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let outcome = sim.receive(&fields).await;
    let title = match &outcome {
        Outcome::Satisfied { .. } => "MFA satisfied",
        _ => "Sign-in failed",
    };
    let detail = serde_json::to_string_pretty(&outcome).unwrap_or_default();
    Html(format!(
        "<!doctype html><html><body><h1 id=\"outcome\">{title}</h1><pre id=\"detail\">{}</pre></body></html>",
        detail.replace('&', "&amp;").replace('<', "&lt;")
    ))
    .into_response()
}

async fn outcome(State(sim): State<Entra>, Path(state): Path<String>) -> Response {
    match sim.outcome(&state) {
        Some(o) => axum::Json(o).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
