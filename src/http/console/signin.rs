//! `/admin/login`, `/admin/callback`, `/admin/logout`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::{LOGIN_COOKIE, SESSION_COOKIE, console, failure, form_session, refusal, see_other};
use crate::flow::console::Role;
use crate::http::AppState;

/// A cookie for the console's paths: HttpOnly, SameSite=Lax, Secure behind https. Lax, not
/// Strict: the first request after sign-in is a navigation that the provider's page started,
/// on which a browser would not send a Strict cookie (the operator would be sent back to sign
/// in, in a loop). Cross-site posts still come without it, and every form also needs the
/// session's CSRF token.
fn cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let sec = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Lax; Max-Age={max_age}{sec}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Starts a sign-in at the provider.
pub async fn login(State(s): State<AppState>) -> Response {
    let c = match console(&s) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    match c.start_login().await {
        Ok((state, to)) => {
            let mut r = see_other(&to);
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie(LOGIN_COOKIE, &state, 600, c.cfg.secure_cookies()),
            );
            r
        }
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// The provider sends the browser back here.
pub async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let c = match console(&s) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    let (Some(state), Some(code)) = (q.state, q.code) else {
        let why = match q.error.as_deref() {
            Some("access_denied") => "The OpenID provider refused the sign-in.",
            Some(_) => "The OpenID provider answered with an error.",
            None => "The answer from the OpenID provider is incomplete.",
        };
        return refusal(StatusCode::BAD_REQUEST, "Sign-in failed", why);
    };
    if state.len() > 200 || code.len() > 4096 {
        return refusal(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "Malformed answer.",
        );
    }
    let bound = crate::http::extract::cookie(&headers, LOGIN_COOKIE);
    let secure = c.cfg.secure_cookies();
    let (secret, operator) = match c.finish_login(bound.as_deref(), &state, &code).await {
        Ok(v) => v,
        Err(e) => return failure(&e),
    };
    let mut r = if operator.grants.is_empty() {
        tracing::warn!(
            operator = %operator.subject,
            issuer = %operator.issuer,
            "console sign-in refused: no Inherence role"
        );
        refusal(
            StatusCode::FORBIDDEN,
            "No access",
            "You signed in, but your account holds no Inherence console role (viewer, reviewer or admin).",
        )
    } else {
        tracing::info!(operator = %operator.subject, "operator signed in to the console");
        if let Err(e) = c.audit(&operator, "sign_in", None, None) {
            tracing::error!(error = %e, "the console sign-in could not be audited");
        }
        let mut r = see_other("/admin");
        let max = c.cfg.session_secs as i64;
        r.headers_mut().append(
            header::SET_COOKIE,
            cookie(SESSION_COOKIE, &secret, max, secure),
        );
        r
    };
    r.headers_mut()
        .append(header::SET_COOKIE, cookie(LOGIN_COOKIE, "", 0, secure));
    r
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

/// Ends the session (a form post with the CSRF token).
pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LogoutForm>,
) -> Response {
    let (c, sess) = match form_session(&s, &headers, Role::Viewer, f.csrf.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Some(secret) = crate::http::extract::cookie(&headers, SESSION_COOKIE)
        && let Err(e) = c.sign_out(&secret)
    {
        return failure(&e);
    }
    if let Err(e) = c.audit(&sess.operator, "sign_out", None, None) {
        tracing::error!(error = %e, "the console sign-out could not be audited");
    }
    let mut r = refusal(StatusCode::OK, "Signed out", "You are signed out.");
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, "", 0, c.cfg.secure_cookies()),
    );
    r
}
