//! The page that asks who is signing in, for a client registered with `front_channel_subject`
//! that sent no hint (Okta's IdP authenticator names nobody). It sends the same authorization
//! request again with the typed name as `login_hint`; the client compares the name it gets
//! back in the ID token with its own user.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{html_escape, page};
use crate::protocol::discovery::paths;

pub fn respond(client_name: &str, params: &[(String, String)]) -> Response {
    let hidden: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let who = if client_name.is_empty() {
        "the application".to_owned()
    } else {
        html_escape(client_name)
    };
    let body = format!(
        "<h1>Who is signing in?</h1><p>{who} asks Inherence to check your face. Enter your \
         username at {who}; your face is then compared with the one enrolled for it.</p>\
         <form method=\"post\" action=\"{}\">{hidden}<label for=\"login_hint\">Username</label> \
         <input id=\"login_hint\" name=\"login_hint\" autocomplete=\"username\" required \
         maxlength=\"255\" autofocus> <button type=\"submit\">Continue</button></form>",
        paths::AUTHORIZE
    );
    let mut r = (StatusCode::OK, Html(page("Who is signing in?", &body))).into_response();
    // The request goes back to this origin, which may answer with a redirect to the client's
    // registered redirect URI (an error): the browser applies form-action to that too. Nothing
    // else: this page hands over to no other site.
    let target = params
        .iter()
        .find(|(k, _)| k == "redirect_uri")
        .and_then(|(_, v)| url::Url::parse(v).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'self'; form-action 'self' {target}; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_is_sent_again_escaped_without_its_login_hint_field_twice() {
        let params = vec![
            ("client_id".to_owned(), "okta".to_owned()),
            (
                "redirect_uri".to_owned(),
                "https://org.okta.example/oauth2/v1/authorize/callback".to_owned(),
            ),
            (
                "state".to_owned(),
                "\"><script>alert(1)</script>".to_owned(),
            ),
        ];
        let r = super::respond("<b>Corp</b>", &params);
        let csp = r.headers()[axum::http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("form-action 'self' https://org.okta.example;"),
            "{csp}"
        );
        assert!(
            !csp.contains("script-src"),
            "the page runs no script: {csp}"
        );
        let body = futures_body(r);
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&quot;&gt;&lt;script&gt;"), "{body}");
        assert!(body.contains("&lt;b&gt;Corp&lt;/b&gt;"), "{body}");
        assert_eq!(body.matches("name=\"login_hint\"").count(), 1);
    }

    fn futures_body(r: axum::response::Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(r.into_body(), 1 << 20))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
