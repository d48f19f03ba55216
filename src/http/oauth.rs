//! OpenID provider endpoints: discovery, JWKS, PAR, authorization, token, userinfo,
//! introspection.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::extract::{Form, Query, authorization, bearer};
use super::{AppState, HttpError, html_escape, page};
use crate::flow::authorize::{AuthorizeError, AuthorizeOutcome};
use crate::protocol::authorize::Params;
use crate::protocol::client_auth;
use crate::protocol::discovery::paths;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/oauth-authorization-server", get(discovery))
        .route(paths::JWKS, get(jwks))
        .route(paths::PAR, post(par))
        .route(paths::AUTHORIZE, get(authorize_get).post(authorize_post))
        .route(paths::AUTH0_START, get(auth0_start))
        .route(paths::TOKEN, post(token))
        .route(paths::USERINFO, get(userinfo).post(userinfo))
        .route(paths::INTROSPECT, post(introspect))
}

fn json_bytes(bytes: Vec<u8>, cache: &'static str) -> Response {
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

async fn discovery(State(s): State<AppState>) -> Response {
    json_bytes(s.provider.discovery().to_vec(), "public, max-age=300")
}

async fn jwks(State(s): State<AppState>) -> Response {
    json_bytes(s.jwks_bytes(), "public, max-age=300")
}

/// A JSON body that must not be cached (token responses).
fn no_store<T: serde::Serialize>(status: StatusCode, v: T) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

async fn par(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form,
) -> Result<Response, HttpError> {
    let creds = client_auth::extract(authorization(&headers).as_deref(), &form)?;
    let (request_uri, expires_in) = s.provider.push(&creds, &form)?;
    Ok(no_store(
        StatusCode::CREATED,
        json!({ "request_uri": request_uri, "expires_in": expires_in }),
    ))
}

async fn authorize_get(State(s): State<AppState>, Query(q): Query) -> Response {
    authorize(&s, &q)
}

async fn authorize_post(State(s): State<AppState>, Form(f): Form) -> Response {
    authorize(&s, &f)
}

/// 303 See Other to `location`.
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// 303 to the capture page, binding the flow to this browser with a cookie scoped to it.
pub fn to_capture(s: &AppState, flow_id: &str, binding_secret: &str) -> Response {
    let mut r = see_other(&format!("/capture/{flow_id}"));
    set_flow_cookie(s, &mut r, flow_id, "inh_bind", binding_secret);
    r
}

/// Sets a device cookie of a flow: scoped to its capture paths, HttpOnly, SameSite=Lax, and
/// Secure when the issuer is https.
pub fn set_flow_cookie(s: &AppState, r: &mut Response, flow_id: &str, name: &str, value: &str) {
    let secure = if s.provider.issuer().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{name}={value}; Path=/capture/{flow_id}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// An Auth0 post-login Action's redirect (`flow::auth0`).
async fn auth0_start(State(s): State<AppState>, Query(q): Query) -> Response {
    answer(&s, s.provider.auth0_start(&q))
}

fn authorize(s: &AppState, params: &Params) -> Response {
    answer(s, s.provider.authorize(params))
}

/// The browser's next step after a request that starts a face check: the capture page, the
/// "who is signing in" page, the answer to the client, or a page explaining the refusal.
fn answer(s: &AppState, outcome: Result<AuthorizeOutcome, AuthorizeError>) -> Response {
    match outcome {
        Ok(AuthorizeOutcome::Capture {
            flow_id,
            binding_secret,
        }) => to_capture(s, &flow_id, &binding_secret),
        Ok(AuthorizeOutcome::AskSubject {
            client_name,
            params,
        }) => super::ask_subject::respond(&client_name, &params),
        Err(e) => {
            let error = match e.into_reply(s.provider.issuer()) {
                Ok(reply) => return super::form_post::respond(&reply),
                Err(error) => error,
            };
            let status =
                StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = page(
                "Request refused",
                &format!(
                    "<h1>This sign-in request cannot continue</h1><p>The application sent a request Inherence cannot accept, so you were not sent back to it.</p><p><code>{}</code>: {}</p>",
                    error.code.as_str(),
                    html_escape(&error.description)
                ),
            );
            (status, Html(body)).into_response()
        }
    }
}

async fn token(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form,
) -> Result<Response, HttpError> {
    let creds = client_auth::extract(authorization(&headers).as_deref(), &form)?;
    let body = s.provider.token(&creds, &form)?;
    Ok(no_store(StatusCode::OK, body))
}

async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    let token = bearer(&headers).ok_or_else(|| {
        HttpError::OAuth(crate::protocol::OAuthError::new(
            crate::protocol::ErrorCode::InvalidToken,
            "a bearer token is required",
        ))
    })?;
    Ok(no_store(StatusCode::OK, s.provider.userinfo(&token)?))
}

async fn introspect(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form,
) -> Result<Response, HttpError> {
    let creds = client_auth::extract(authorization(&headers).as_deref(), &form)?;
    Ok(no_store(
        StatusCode::OK,
        s.provider.introspect(&creds, &form)?,
    ))
}
