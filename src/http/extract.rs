//! Request extractors with OAuth-shaped rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;

use super::HttpError;
use crate::protocol::OAuthError;
use crate::protocol::authorize::Params;

/// Largest form body accepted by the OAuth endpoints.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// An `application/x-www-form-urlencoded` body as [`Params`] (repeated names refused).
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            HttpError::from(OAuthError::invalid_request(
                "the request body is too large or unreadable",
            ))
        })?;
        if bytes.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request("the request body is too large").into());
        }
        Ok(Self(parse(&bytes)?))
    }
}

/// Decodes form or query pairs into [`Params`].
pub fn parse(bytes: &[u8]) -> Result<Params, OAuthError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Params::from_pairs(pairs)
}

/// The query string as [`Params`].
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        if q.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request("the query is too long").into());
        }
        Ok(Self(parse(q.as_bytes())?))
    }
}

/// The `Authorization` header value, if any.
pub fn authorization(parts: &axum::http::HeaderMap) -> Option<String> {
    parts
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A bearer token from the `Authorization` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let h = authorization(headers)?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// A cookie value.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The request facts the audit record keeps as device signals: peer address (when the server
/// was started with connection info), `X-Forwarded-For`, `User-Agent`, `Accept-Language`,
/// each cut to 256 characters.
pub struct Client(pub crate::flow::verdict::RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let h = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(256).collect::<String>())
        };
        Ok(Client(crate::flow::verdict::RequestContext {
            ip: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            forwarded_for: h("x-forwarded-for"),
            user_agent: h("user-agent"),
            accept_language: h("accept-language"),
        }))
    }
}
