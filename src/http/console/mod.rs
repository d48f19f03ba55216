//! The operator console at `/admin`, on the admin listener: server-rendered pages, no script,
//! a strict CSP. Operators sign in through the console's OpenID provider (`signin.rs`); every
//! page needs a live session and the role it names, every form its CSRF token, and every
//! action is audited with the operator's identity.

mod pages;
mod review;
mod signin;
mod subjects;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{AppState, html_escape};
use crate::flow::console::{Console, ConsoleError, ConsoleSession, Role};
use crate::tenant::TenantId;

/// The session cookie (its value is the session's secret; the store holds its digest).
const SESSION_COOKIE: &str = "inh_console";
/// The cookie binding a sign-in in progress to the browser that started it.
const LOGIN_COOKIE: &str = "inh_console_login";

/// The console's policy: nothing but this origin's stylesheet and images, no script, forms to
/// this origin only, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(pages::overview))
        .route("/admin/", get(pages::overview))
        .route("/admin/console.css", get(stylesheet))
        .route("/admin/login", get(signin::login))
        .route("/admin/callback", get(signin::callback))
        .route("/admin/logout", axum::routing::post(signin::logout))
        .route("/admin/decisions", get(pages::decisions))
        .route("/admin/review", get(review::queue))
        .route("/admin/subjects", get(subjects::find))
        .route(
            "/admin/subjects/{tenant}/erase",
            axum::routing::post(subjects::erase),
        )
        .route(
            "/admin/review/{tenant}/{id}",
            get(review::detail).post(review::act),
        )
}

async fn stylesheet() -> Response {
    let mut r = include_str!("../../web/console.css").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

/// The console of this server, or 404 when it is off.
fn console(s: &AppState) -> Result<&Arc<Console>, Box<Response>> {
    s.console
        .as_ref()
        .ok_or_else(|| Box::new(StatusCode::NOT_FOUND.into_response()))
}

/// The operator's session, with `role` somewhere; else the way out: to the sign-in when there
/// is no session, a refusal when the role is missing.
fn session(
    s: &AppState,
    headers: &HeaderMap,
    role: Role,
) -> Result<(Arc<Console>, ConsoleSession), Box<Response>> {
    let c = console(s)?.clone();
    let secret = super::extract::cookie(headers, SESSION_COOKIE);
    let live = match secret.as_deref().map(|sec| c.session(sec)) {
        Some(Ok(Some(sess))) => sess,
        Some(Err(e)) => return Err(Box::new(failure(&e))),
        _ => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/admin/login"));
            return Err(Box::new(r));
        }
    };
    if live.operator.highest().is_none_or(|h| h < role) {
        return Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "Your roles do not include {} in any tenant. Ask an administrator for the role at your OpenID provider.",
                role.as_str()
            ),
        )));
    }
    Ok((c, live))
}

/// [`session`] for a form post: also the session's CSRF token, compared in constant time.
fn form_session(
    s: &AppState,
    headers: &HeaderMap,
    role: Role,
    csrf: Option<&str>,
) -> Result<(Arc<Console>, ConsoleSession), Box<Response>> {
    let (c, sess) = session(s, headers, role)?;
    if !crate::flow::console::csrf_ok(&sess, csrf) {
        return Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's security token is missing or wrong. Reload the page and try again.",
        )));
    }
    Ok((c, sess))
}

/// A page of the console around `body` (already escaped), with the navigation for `session`.
fn layout(title: &str, current: &str, session: Option<&ConsoleSession>, body: &str) -> Response {
    let nav = match session {
        Some(s) => {
            let link = |href: &str, label: &str| {
                let cur = if href == current {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                format!("<li><a href=\"{href}\"{cur}>{label}</a></li>")
            };
            format!(
                "<nav aria-label=\"Console\"><ul>{}{}{}{}</ul></nav>\
                 <span class=\"who\">{} ({})</span>\
                 <form method=\"post\" action=\"/admin/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button class=\"secondary\" type=\"submit\">Sign out</button></form>",
                link("/admin", "Overview"),
                link("/admin/review", "Review queue"),
                link("/admin/decisions", "Decisions"),
                link("/admin/subjects", "Subjects"),
                html_escape(&s.operator.name),
                s.operator.highest().map_or("no role", Role::as_str),
                html_escape(&s.csrf),
            )
        }
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} - Inherence console</title><link rel=\"stylesheet\" href=\"/admin/console.css\"></head>\
         <body><header><span class=\"brand\">Inherence console</span>{nav}</header>\
         <main id=\"main\"><h1>{}</h1>{body}</main></body></html>",
        html_escape(title),
        html_escape(title)
    );
    let mut r = axum::response::Html(html).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

/// A page that refuses, with `status`.
fn refusal(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<p class=\"notice error\" role=\"alert\">{}</p><p><a href=\"/admin/login\">Sign in again</a></p>",
        html_escape(text)
    );
    let mut r = layout(title, "", None, &body);
    *r.status_mut() = status;
    r
}

/// A failure's page: the operator sees what they can act on, never internal detail.
fn failure(e: &ConsoleError) -> Response {
    match e {
        ConsoleError::Refused(m) => refusal(StatusCode::BAD_REQUEST, "Sign-in refused", m),
        ConsoleError::Provider(m) => {
            tracing::warn!(error = %m, "console sign-in failed at the OpenID provider");
            refusal(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The sign-in could not be completed with the OpenID provider. The server log says why.",
            )
        }
        ConsoleError::Store(err) => {
            tracing::error!(error = %err, "console storage failure");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The store is unavailable; try again shortly.",
            )
        }
    }
}

/// A tenant named in a path, if it exists and the operator holds `role` in it.
fn tenant_for(c: &Console, sess: &ConsoleSession, raw: &str, role: Role) -> Option<TenantId> {
    let t = TenantId::parse(raw).ok()?;
    (c.tenants().contains(&t) && sess.operator.can(role, &t)).then_some(t)
}

/// A 303 to `to`.
fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Seconds since the epoch as `2026-12-06 19:03:12 UTC`.
fn when(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}
