//! Subjects: find one by its reference, see its enrolment, erase it (an admin, who types the
//! reference again to confirm). The erasure is the API's (crypto-shredding of the template, the
//! personal part of its audit records redacted) and its audit entry names the operator.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{form_session, layout, refusal, session, tenant_for, when};
use crate::flow::console::Role;
use crate::flow::error::FlowError;
use crate::http::{AppState, html_escape};

#[derive(Deserialize)]
pub struct Find {
    tenant: Option<String>,
    subject: Option<String>,
}

/// `GET /admin/subjects`: the search form and, for a subject found, its enrolment.
pub async fn find(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Find>,
) -> Response {
    let (c, sess) = match session(&s, &headers, Role::Viewer) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let tenants = sess.operator.visible(&c.tenants());
    let chosen = q.tenant.clone().unwrap_or_else(|| {
        tenants
            .first()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default()
    });
    let options: String = tenants
        .iter()
        .map(|t| {
            let sel = if t.as_str() == chosen {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{0}\"{sel}>{0}</option>",
                html_escape(t.as_str())
            )
        })
        .collect();
    let subject = q.subject.as_deref().map(str::trim).unwrap_or("");
    let mut body = format!(
        "<form method=\"get\"><fieldset><legend>Find a subject</legend>\
         <label for=\"tenant\">Tenant</label><select id=\"tenant\" name=\"tenant\">{options}</select>\
         <label for=\"subject\">User reference</label><input type=\"search\" id=\"subject\" name=\"subject\" value=\"{}\" maxlength=\"255\">\
         <button type=\"submit\">Find</button></fieldset></form>",
        html_escape(subject)
    );
    if !subject.is_empty() {
        let Some(t) = tenant_for(&c, &sess, &chosen, Role::Viewer) else {
            return refusal(StatusCode::NOT_FOUND, "Not found", "No such tenant.");
        };
        match c.provider().enrolment(&t, subject) {
            Ok(e) => {
                body.push_str(&format!(
                    "<h2>Enrolment</h2><dl><dt>User reference</dt><dd>{}</dd><dt>Enrolled</dt><dd>{}</dd>\
                     <dt>By</dt><dd>{}</dd><dt>Source</dt><dd>{}</dd><dt>Model</dt><dd>{}</dd>\
                     <dt>Face quality</dt><dd>{:.2}</dd></dl>",
                    html_escape(&e.subject),
                    when(e.enrolled_at),
                    html_escape(&e.enrolled_by),
                    html_escape(&e.source),
                    html_escape(&e.model),
                    e.face_quality,
                ));
                if sess.operator.can(Role::Admin, &t) {
                    body.push_str(&format!(
                        "<form method=\"post\" action=\"/admin/subjects/{}/erase\"><fieldset><legend>Erase this subject</legend>\
                         <p>The template is destroyed (its key is shredded) and the personal part of the subject's audit records is redacted. This cannot be undone.</p>\
                         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"subject\" value=\"{}\">\
                         <label for=\"confirm\">Type the user reference again to confirm</label><input type=\"text\" id=\"confirm\" name=\"confirm\" autocomplete=\"off\">\
                         <button type=\"submit\" class=\"danger\">Erase</button></fieldset></form>",
                        html_escape(t.as_str()),
                        html_escape(&sess.csrf),
                        html_escape(&e.subject),
                    ));
                }
            }
            Err(FlowError::NotFound) | Err(FlowError::Protocol(_)) => {
                body.push_str("<p class=\"notice\">No enrolment for this user reference.</p>");
            }
            Err(e) => {
                tracing::error!(error = %e, "console: reading an enrolment failed");
                return refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The store cannot be read now; try again shortly.",
                );
            }
        }
    }
    layout("Subjects", "/admin/subjects", Some(&sess), &body)
}

#[derive(Deserialize)]
pub struct Erase {
    csrf: Option<String>,
    subject: String,
    confirm: Option<String>,
}

/// `POST /admin/subjects/{tenant}/erase`.
pub async fn erase(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    axum::Form(f): axum::Form<Erase>,
) -> Response {
    let (c, sess) = match form_session(&s, &headers, Role::Admin, f.csrf.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(t) = tenant_for(&c, &sess, &tenant, Role::Admin) else {
        return refusal(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "You are not an administrator in this tenant.",
        );
    };
    if f.confirm.as_deref().map(str::trim) != Some(f.subject.as_str()) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "Not erased",
            "The confirmation does not match the user reference; nothing was erased.",
        );
    }
    let p = c.provider().clone();
    let reason = format!("erased in the console by {}", sess.operator.audit_name());
    let (tt, subject) = (t.clone(), f.subject.clone());
    let done =
        tokio::task::spawn_blocking(move || p.erase_with_reason(&tt, &subject, &reason)).await;
    match done {
        Ok(Ok(())) => {
            tracing::info!(operator = %sess.operator.subject, tenant = %t, "console erasure");
            if let Err(e) = c.audit(&sess.operator, "erase_subject", Some(&t), Some(&f.subject)) {
                tracing::error!(error = %e, "the console erasure could not be audited");
            }
            layout(
                "Subject erased",
                "/admin/subjects",
                Some(&sess),
                "<p class=\"notice\" role=\"status\">The subject was erased.</p>",
            )
        }
        Ok(Err(FlowError::NotFound)) => refusal(
            StatusCode::NOT_FOUND,
            "Not erased",
            "No enrolment for this user reference.",
        ),
        _ => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not erased",
            "The erasure failed; nothing is shown as erased. Try again shortly.",
        ),
    }
}
