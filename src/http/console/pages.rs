//! The overview and the decisions list, read from the audit log (the decisions the operator's
//! tenants made).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{layout, refusal, session, when};
use crate::flow::console::{ConsoleSession, Role};
use crate::flow::verdict::VerdictRecord;
use crate::http::{AppState, html_escape};
use crate::tenant::TenantId;

/// The decisions of the operator's tenants, newest first (the audit log is read on the
/// blocking pool, off the async workers).
async fn visible_decisions(
    c: &crate::flow::console::Console,
    sess: &ConsoleSession,
) -> Result<Vec<(i64, VerdictRecord)>, Box<Response>> {
    let tenants = sess.operator.visible(&c.tenants());
    let p = c.provider().clone();
    let read = tokio::task::spawn_blocking(move || p.timed_verdicts()).await;
    let all = match read {
        Ok(Ok(all)) => all,
        other => {
            if let Ok(Err(e)) = other {
                tracing::error!(error = %e, "console: reading the audit log failed");
            }
            return Err(Box::new(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The audit log cannot be read now; try again shortly.",
            )));
        }
    };
    let mut v: Vec<(i64, VerdictRecord)> = all
        .into_iter()
        .filter(|(_, r)| {
            let t = r
                .tenant
                .as_deref()
                .and_then(|t| TenantId::parse(t).ok())
                .unwrap_or_default();
            tenants.contains(&t)
        })
        .collect();
    v.reverse();
    Ok(v)
}

/// `GET /admin`: the last day and week at a glance.
pub async fn overview(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (c, sess) = match session(&s, &headers, Role::Viewer) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let decisions = match visible_decisions(&c, &sess).await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let now_ms = c.provider().clock.now_millis();
    let mut body = String::new();
    for (label, days) in [("Last 24 hours", 1i64), ("Last 7 days", 7)] {
        let since = now_ms - days * 86_400_000;
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        let mut declines: BTreeMap<String, u64> = BTreeMap::new();
        let (mut attempts, mut with_attempts) = (0u64, 0u64);
        for (_, r) in decisions.iter().filter(|(at, _)| *at >= since) {
            *outcomes.entry(r.outcome.clone()).or_default() += 1;
            if r.outcome == "Declined" {
                for reason in &r.reasons {
                    *declines.entry(reason.clone()).or_default() += 1;
                }
            }
            if r.attempt > 0 {
                attempts += u64::from(r.attempt);
                with_attempts += 1;
            }
        }
        body.push_str(&format!("<h2>{label}</h2>"));
        if outcomes.is_empty() {
            body.push_str("<p class=\"muted\">No decision.</p>");
            continue;
        }
        body.push_str(&bars("Decisions by outcome", &outcomes));
        if !declines.is_empty() {
            body.push_str(&bars("Declines by reason", &declines));
        }
        if with_attempts > 0 {
            body.push_str(&format!(
                "<p>Mean attempt number of a decision: {:.2}</p>",
                attempts as f64 / with_attempts as f64
            ));
        }
    }
    layout("Overview", "/admin", Some(&sess), &body)
}

/// A horizontal bar chart as a table (readable without the bars, and by screen readers).
fn bars(caption: &str, counts: &BTreeMap<String, u64>) -> String {
    let max = counts.values().copied().max().unwrap_or(1).max(1);
    let mut rows = String::new();
    for (k, n) in counts {
        let width = (*n as f64 / max as f64 * 300.0).round().max(1.0);
        rows.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{n}</td><td aria-hidden=\"true\"><svg width=\"{width}\" height=\"12\" focusable=\"false\"><rect width=\"{width}\" height=\"12\" fill=\"#0b5cad\"/></svg></td></tr>",
            html_escape(k)
        ));
    }
    format!(
        "<table><caption>{}</caption><thead><tr><th scope=\"col\">Value</th><th scope=\"col\" class=\"num\">Count</th><th scope=\"col\">Chart</th></tr></thead><tbody>{rows}</tbody></table>",
        html_escape(caption)
    )
}

#[derive(Deserialize, Default)]
pub struct DecisionFilter {
    outcome: Option<String>,
    channel: Option<String>,
    client: Option<String>,
    reason: Option<String>,
}

/// `GET /admin/decisions`: the newest 200 decisions matching the filter.
pub async fn decisions(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<DecisionFilter>,
) -> Response {
    let (c, sess) = match session(&s, &headers, Role::Viewer) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let all = match visible_decisions(&c, &sess).await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    fn want(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|x| !x.is_empty())
    }
    let (outcome, channel, client, reason) = (
        want(&f.outcome),
        want(&f.channel),
        want(&f.client),
        want(&f.reason),
    );
    let mut rows = String::new();
    let mut n = 0;
    for (at, r) in &all {
        let ch = serde_json::to_value(r.channel)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if outcome.is_some_and(|o| o != r.outcome)
            || channel.is_some_and(|c| c != ch)
            || client.is_some_and(|c| c != r.client)
            || reason.is_some_and(|x| !r.reasons.iter().any(|y| y == x))
        {
            continue;
        }
        n += 1;
        if n > 200 {
            continue;
        }
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            when(at / 1000),
            html_escape(r.tenant.as_deref().unwrap_or("default")),
            html_escape(&ch),
            html_escape(&r.client),
            html_escape(&r.outcome),
            html_escape(&r.reasons.join(", ")),
            html_escape(r.operator.as_deref().unwrap_or("")),
            html_escape(&r.id),
        ));
    }
    let field = |id: &str, label: &str, v: Option<&str>| {
        format!(
            "<label for=\"{id}\">{label}</label><input type=\"text\" id=\"{id}\" name=\"{id}\" value=\"{}\">",
            html_escape(v.unwrap_or(""))
        )
    };
    let body = format!(
        "<form method=\"get\"><fieldset><legend>Filter</legend>{}{}{}{}<button type=\"submit\">Search</button></fieldset></form>\
         <p>{n} decision(s) match{}.</p>\
         <table><caption class=\"muted\">Decisions, newest first</caption><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Tenant</th><th scope=\"col\">Channel</th><th scope=\"col\">Client</th><th scope=\"col\">Outcome</th><th scope=\"col\">Reasons</th><th scope=\"col\">Operator</th><th scope=\"col\">Audit record</th></tr></thead><tbody>{rows}</tbody></table>",
        field(
            "outcome",
            "Outcome (Approved, Declined, In Review...)",
            outcome
        ),
        field("channel", "Channel (oidc, session, api, review)", channel),
        field("client", "Client", client),
        field("reason", "Reason code", reason),
        if n > 200 {
            "; the newest 200 are shown"
        } else {
            ""
        },
    );
    layout("Decisions", "/admin/decisions", Some(&sess), &body)
}
