//! The form_post response mode (OAuth 2.0 Form Post Response Mode): the answer to the client
//! travels in an auto-submitting form, so an ID token never appears in a URL, a log line or a
//! Referer header.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::html_escape;
use super::oauth::see_other;
use crate::flow::authorize::Reply;

/// The page's script, served from this origin (the page's policy allows no inline script).
pub const SCRIPT: &str = include_str!("../web/form_post.js");

/// A reply as a response: a 303 for a redirect, the auto-submitting page for a form post.
pub fn respond(reply: &Reply) -> Response {
    match reply {
        Reply::Redirect(to) => see_other(to),
        Reply::FormPost { action, fields } => page(action, fields),
    }
}

fn page(action: &str, fields: &[(String, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Returning to the application - Inherence</title><link rel=\"stylesheet\" href=\"/static/capture.css\"></head><body><main class=\"card\"><form method=\"post\" action=\"{}\">{inputs}<p>Returning you to the application.</p><button type=\"submit\">Continue</button></form></main><script src=\"/static/form_post.js\"></script></body></html>",
        html_escape(action)
    );
    let mut r = (StatusCode::OK, Html(body)).into_response();
    // Forms may go to the client's registered redirect URI's origin, and over https: the
    // browser applies `form-action` to the redirects that follow the post too, and the
    // identity provider may redirect onwards once it has the answer.
    let target = url::Url::parse(action)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null");
    let csp = match target {
        Some(origin) => format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin} https:; base-uri 'none'; frame-ancestors 'none'"
        ),
        None => "default-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
            .to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_form_posts_escaped_fields_to_the_redirect_origin_only() {
        let r = respond(&Reply::FormPost {
            action: "https://login.example/common/federation/externalauthprovider".into(),
            fields: vec![
                ("id_token".into(), "a.b.c".into()),
                ("state".into(), "\"><script>alert(1)</script>".into()),
            ],
        });
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("form-action https://login.example https:;"),
            "{csp}"
        );
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let html = String::from_utf8(b.to_vec()).unwrap();
        assert!(html.contains("name=\"id_token\" value=\"a.b.c\""), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
        assert!(
            html.contains(
                "action=\"https://login.example/common/federation/externalauthprovider\""
            ),
            "{html}"
        );
    }
}
