//! The review queue: v3 sessions a workflow sent to "In Review", their evidence, and the
//! reviewer's decision (the same transition, webhook and audit record as `update-status`,
//! naming the operator).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{form_session, layout, refusal, see_other, session, tenant_for, when};
use crate::flow::console::Role;
use crate::flow::sessions::Reviewer;
use crate::flow::sessions::wire::{ListSessions, ReviewStatus, UpdateStatus};
use crate::http::{AppState, html_escape};

/// The wire name of an enum value (its serde name).
fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn score(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.1}"))
}

/// `GET /admin/review`: every session in review the operator may see, oldest first.
pub async fn queue(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (c, sess) = match session(&s, &headers, Role::Viewer) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let p = c.provider();
    let mut rows = String::new();
    let mut n = 0;
    for t in sess.operator.visible(&c.tenants()) {
        let q = ListSessions {
            status: Some("In Review".into()),
            limit: Some(1000),
            ..Default::default()
        };
        let page = match p.list_sessions(&t, &q) {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = ?e, "console: listing sessions failed");
                return refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The sessions cannot be read now; try again shortly.",
                );
            }
        };
        for r in page.results.iter().rev() {
            n += 1;
            let features: Vec<String> = r
                .features
                .iter()
                .map(|f| format!("{} {}", name(&f.feature), name(&f.status)))
                .collect();
            rows.push_str(&format!(
                "<tr><td><a href=\"/admin/review/{}/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(t.as_str()),
                html_escape(&r.session_id),
                html_escape(&r.session_id),
                html_escape(t.as_str()),
                html_escape(r.vendor_data.as_deref().unwrap_or("-")),
                html_escape(&features.join(", ")),
                html_escape(&r.created_at),
            ));
        }
    }
    let body = if n == 0 {
        "<p>No session is waiting for review.</p>".to_owned()
    } else {
        format!(
            "<p>{n} session(s) waiting for review, oldest first.</p>\
             <table><caption class=\"muted\">Sessions in review</caption><thead><tr><th scope=\"col\">Session</th><th scope=\"col\">Tenant</th><th scope=\"col\">User reference</th><th scope=\"col\">Checks</th><th scope=\"col\">Created</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    layout("Review queue", "/admin/review", Some(&sess), &body)
}

/// `GET /admin/review/{tenant}/{id}`: one session's evidence and, for a reviewer, the form.
pub async fn detail(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let (c, sess) = match session(&s, &headers, Role::Viewer) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(t) = tenant_for(&c, &sess, &tenant, Role::Viewer) else {
        return refusal(StatusCode::NOT_FOUND, "Not found", "No such session.");
    };
    let Ok(x) = c.provider().get_session(&t, &id) else {
        return refusal(StatusCode::NOT_FOUND, "Not found", "No such session.");
    };
    let mut body = format!(
        "<dl><dt>Session</dt><dd>{}</dd><dt>Tenant</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd>\
         <dt>User reference</dt><dd>{}</dd><dt>Workflow</dt><dd>{} (version {})</dd>\
         <dt>Attempts</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Enrolment reference</dt><dd>{}</dd></dl>",
        html_escape(&x.session_id),
        html_escape(t.as_str()),
        html_escape(x.status.as_str()),
        html_escape(x.vendor_data.as_deref().unwrap_or("-")),
        html_escape(&x.workflow_id),
        x.workflow_version,
        x.attempts,
        when(x.created_at),
        html_escape(x.reference_source.as_deref().unwrap_or("none")),
    );
    let mut checks = String::new();
    for l in x.liveness_checks.iter().flatten() {
        let w: Vec<&str> = l.warnings.iter().map(|w| w.risk.as_str()).collect();
        checks.push_str(&format!(
            "<tr><td>Liveness ({})</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            html_escape(&name(&l.method)),
            html_escape(&name(&l.status)),
            score(l.score),
            html_escape(&w.join(", ")),
        ));
    }
    for m in x.face_matches.iter().flatten() {
        let w: Vec<&str> = m.warnings.iter().map(|w| w.risk.as_str()).collect();
        checks.push_str(&format!(
            "<tr><td>Face match</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            html_escape(&name(&m.status)),
            score(m.score),
            html_escape(&w.join(", ")),
        ));
    }
    if !checks.is_empty() {
        body.push_str(&format!(
            "<h2>Checks</h2><table><thead><tr><th scope=\"col\">Check</th><th scope=\"col\">Result</th><th scope=\"col\" class=\"num\">Score</th><th scope=\"col\">Warnings</th></tr></thead><tbody>{checks}</tbody></table>"
        ));
    }
    if !x.reviews.is_empty() {
        body.push_str("<h2>Reviews</h2><ul>");
        for r in &x.reviews {
            body.push_str(&format!(
                "<li>{}: {} by {}{}</li>",
                html_escape(&r.created_at),
                html_escape(r.new_status.as_str()),
                html_escape(&r.user),
                r.comment
                    .as_deref()
                    .map(|c| format!(" - {}", html_escape(c)))
                    .unwrap_or_default(),
            ));
        }
        body.push_str("</ul>");
    }
    if sess.operator.can(Role::Reviewer, &t) {
        body.push_str(&format!(
            "<form method=\"post\"><fieldset><legend>Decide</legend>\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label for=\"comment\">Comment (kept in the audit log and the session)</label>\
             <textarea id=\"comment\" name=\"comment\" rows=\"3\" maxlength=\"2000\"></textarea>\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
             <button type=\"submit\" name=\"decision\" value=\"decline\" class=\"danger\">Decline</button>\
             <button type=\"submit\" name=\"decision\" value=\"resubmit\" class=\"secondary\">Ask for a new capture</button>\
             </fieldset></form>",
            html_escape(&sess.csrf)
        ));
    }
    layout(
        &format!("Session {}", x.session_number),
        "/admin/review",
        Some(&sess),
        &body,
    )
}

#[derive(Deserialize)]
pub struct Decide {
    csrf: Option<String>,
    decision: String,
    comment: Option<String>,
}

/// `POST /admin/review/{tenant}/{id}`: a reviewer's decision.
pub async fn act(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
    axum::Form(f): axum::Form<Decide>,
) -> Response {
    let (c, sess) = match form_session(&s, &headers, Role::Reviewer, f.csrf.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(t) = tenant_for(&c, &sess, &tenant, Role::Reviewer) else {
        return refusal(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "You are not a reviewer in this tenant.",
        );
    };
    let new_status = match f.decision.as_str() {
        "approve" => ReviewStatus::Approved,
        "decline" => ReviewStatus::Declined,
        "resubmit" => ReviewStatus::Resubmitted,
        _ => return refusal(StatusCode::BAD_REQUEST, "Refused", "Unknown decision."),
    };
    let req = UpdateStatus {
        new_status,
        comment: f.comment.filter(|c| !c.trim().is_empty()),
        nodes_to_resubmit: None,
        send_email: None,
        email_address: None,
    };
    let p = c.provider().clone();
    let op = sess.operator.clone();
    let tt = t.clone();
    let sid = id.clone();
    let done = tokio::task::spawn_blocking(move || {
        p.review_session(Reviewer::Operator(&op), &tt, &sid, req)
    })
    .await;
    match done {
        Ok(Ok(_)) => {
            tracing::info!(operator = %sess.operator.subject, session = %id, decision = %f.decision, "console review");
            see_other(&format!("/admin/review/{}/{}", t.as_str(), id))
        }
        Ok(Err(e)) => refusal(
            StatusCode::CONFLICT,
            "Not changed",
            &format!("The session was not changed: {}", e.public_text()),
        ),
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not changed",
            "The session was not changed.",
        ),
    }
}
