//! The v3 request extractors: a JSON body ([`V3Json`]) or a query string ([`V3Query`])
//! deserialised into its request type. This is the one place where what serde could not read
//! becomes the contract's field-error body (`{"workflow_id": ["This field is required."]}`,
//! nested for nested fields); the checks serde cannot express (a known workflow, a valid
//! callback URL) are the use cases' own.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use std::marker::PhantomData;

use crate::flow::didit::{ApiKeyRecord, DiditError, RateClass, RateInfo};
use crate::flow::wire::{Problem, Problems};
use crate::http::AppState;
use crate::http::HttpError;

/// A JSON body (`application/json` or `+json`, else 415). An empty body reads as `{}`, as the
/// reference API reads it (its required fields then say so).
pub struct V3Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for V3Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !body.is_empty() && mime != "application/json" && !mime.ends_with("+json") {
            return Err(reject(DiditError::UnsupportedMediaType(mime)));
        }
        json_body(&body).map(V3Json).map_err(reject)
    }
}

/// Reads a JSON body into `T`: it must be a JSON object (an empty body is `{}`).
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, DiditError> {
    let body = if body.is_empty() { b"{}" } else { body };
    let parse_error = |e: serde_json::Error| DiditError::detail(format!("JSON parse error - {e}"));
    let got = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => None,
        Some(b'[') => Some("list"),
        Some(b'"') => Some("str"),
        Some(b't' | b'f') => Some("bool"),
        Some(b'n') => Some("NoneType"),
        _ => Some("int"),
    };
    if let Some(got) = got {
        // Not an object: a parse error if it is not JSON at all, else the wrong type.
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(parse_error)?;
        return Err(DiditError::detail(format!(
            "Invalid data. Expected a dictionary, but got {got}."
        )));
    }
    // One pass: serde tells a syntax error from a value it could not read.
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => v,
        Err(e) if e.inner().is_syntax() || e.inner().is_eof() => {
            return Err(parse_error(e.into_inner()));
        }
        // A value it could not read in a body that is not JSON either: the parse error.
        Err(e) => {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(parse_error)?;
            return Err(invalid(&e));
        }
    };
    de.end().map_err(parse_error)?;
    Ok(v)
}

/// A query string; parameters the type does not name are refused (400), never ignored.
pub struct V3Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for V3Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        query_string(parts.uri.query().unwrap_or(""))
            .map(V3Query)
            .map_err(reject)
    }
}

pub(crate) fn query_string<T: DeserializeOwned>(q: &str) -> Result<T, DiditError> {
    read(serde_urlencoded::Deserializer::new(
        url::form_urlencoded::parse(q.as_bytes()),
    ))
}

/// The caller's API key (`x-api-key`), authenticated and charged to its budget of class `C`
/// before anything else of the request is read: a request without a valid key gets 403
/// whatever its body.
pub struct Key<C> {
    pub record: ApiKeyRecord,
    pub rate: RateInfo,
    class: PhantomData<C>,
}

/// The budget a route spends.
pub trait Class {
    const CLASS: RateClass;
}

/// Reads (600 a minute by default).
pub struct Reads;
/// Writes: POST, PATCH, DELETE (300).
pub struct Writes;
/// Session creation (600).
pub struct Creates;

impl Class for Reads {
    const CLASS: RateClass = RateClass::Read;
}
impl Class for Writes {
    const CLASS: RateClass = RateClass::Write;
}
impl Class for Creates {
    const CLASS: RateClass = RateClass::SessionCreate;
}

impl<C: Class> FromRequestParts<AppState> for Key<C> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let presented = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        let (record, rate) = s
            .provider
            .authenticate_api_key(presented, C::CLASS)
            .map_err(reject)?;
        Ok(Self {
            record,
            rate,
            class: PhantomData,
        })
    }
}

/// A path id of the v3 API (a uuid, a delivery id): at most 64 of `[A-Za-z0-9_-]`, anything
/// else answers 404 as an unknown id does. Read after the key (`Key` comes first in every
/// handler), so a caller without a key learns nothing from an id's shape.
pub struct Id(pub String);

/// Two path ids (a destination and one of its deliveries).
pub struct Ids(pub String, pub String);

fn id_ok(id: &str) -> bool {
    id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Response> {
        match Path::<String>::from_request_parts(parts, s).await {
            Ok(Path(id)) if id_ok(&id) => Ok(Self(id)),
            _ => Err(reject(DiditError::NotFound)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Response> {
        match Path::<(String, String)>::from_request_parts(parts, s).await {
            Ok(Path((a, b))) if id_ok(&a) && id_ok(&b) => Ok(Self(a, b)),
            _ => Err(reject(DiditError::NotFound)),
        }
    }
}

fn reject(e: DiditError) -> Response {
    HttpError::from(e).into_response()
}

fn read<'de, T: DeserializeOwned, D>(de: D) -> Result<T, DiditError>
where
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display + 'static,
{
    serde_path_to_error::deserialize(de).map_err(|e| invalid(&e))
}

/// The contract's 400 for a value serde could not read, at its path.
fn invalid<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> DiditError {
    let path: Vec<String> = e
        .path()
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            _ => None,
        })
        .collect();
    DiditError::Invalid(problems(path, &e.inner().to_string()))
}

/// Strips serde_json's " at line L column C".
fn bare(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => &message[..i],
        _ => message,
    }
}

/// The contract's body for what serde said about the value at `path`.
pub fn problems(mut path: Vec<String>, message: &str) -> Problems {
    let m = bare(message);
    let quoted = |s: &str| s.split('`').nth(1).unwrap_or("").to_owned();
    // The field a message names, unless the path already ends with it.
    let name_field = |path: &mut Vec<String>, name: String| {
        if path.last() != Some(&name) {
            path.push(name);
        }
    };
    let kind = |m: &str| {
        let got = m
            .trim_start_matches("invalid type: ")
            .split(',')
            .next()
            .unwrap_or("");
        match got.split_whitespace().next().unwrap_or("") {
            "sequence" => "list",
            "map" => "dict",
            "string" => "str",
            "integer" | "floating" => "number",
            "boolean" => "bool",
            other => other,
        }
        .to_owned()
    };
    let text = if let Some(rest) = m.strip_prefix("missing field ") {
        path.push(quoted(rest));
        "This field is required.".to_owned()
    } else if m.starts_with("unknown field ") {
        name_field(&mut path, quoted(m));
        let supported: Vec<String> = m
            .split("expected one of ")
            .nth(1)
            .or_else(|| m.split("expected ").nth(1))
            .unwrap_or("")
            .split(", ")
            .map(|s| s.trim_matches('`').to_owned())
            .filter(|s| !s.is_empty() && s != "there are no fields")
            .collect();
        format!("Unknown parameter. Supported: {}.", supported.join(", "))
    } else if m.starts_with("unknown variant ") {
        format!("\"{}\" is not a valid choice.", quoted(m))
    } else if m.starts_with("invalid type: null") {
        "This field may not be null.".to_owned()
    } else if m.starts_with("invalid type: ") || m.starts_with("invalid value: ") {
        let expected = m.split(", expected ").nth(1).unwrap_or("");
        if expected.contains("string") {
            "Not a valid string.".to_owned()
        } else if expected.contains("bool") {
            "Must be a valid boolean.".to_owned()
        } else if [
            "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "integer",
        ]
        .iter()
        .any(|t| expected.contains(t))
        {
            "A valid integer is required.".to_owned()
        } else if expected.contains("f64") || expected.contains("f32") {
            "A valid number is required.".to_owned()
        } else if expected.contains("sequence") {
            format!("Expected a list of items but got type \"{}\".", kind(m))
        } else if expected.contains("map") || expected.contains("struct") {
            format!("Invalid data. Expected a dictionary, but got {}.", kind(m))
        } else {
            m.to_owned()
        }
    } else if m.starts_with("invalid digit")
        || m.starts_with("cannot parse integer")
        || m.starts_with("number too large")
        || m.starts_with("number too small")
    {
        // A query string's numbers are text that did not parse.
        "A valid integer is required.".to_owned()
    } else if m.starts_with("invalid float literal") {
        "A valid number is required.".to_owned()
    } else if m.starts_with("provided string was not `true` or `false`") {
        "Must be a valid boolean.".to_owned()
    } else if m.starts_with("duplicate field ") {
        name_field(&mut path, quoted(m));
        "Give this parameter once.".to_owned()
    } else {
        m.to_owned()
    };
    if path.is_empty() {
        return Problems::detail(text);
    }
    let mut p = Problem::Messages(vec![text]);
    while path.len() > 1 {
        let k = path.pop().unwrap_or_default();
        p = Problem::Nested(Problems::one(k, p));
    }
    Problems::one(path.pop().unwrap_or_default(), p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
        choice: Option<Choice>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Choice {
        A,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        flag: Option<bool>,
        items: Option<Vec<Inner>>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        limit: Option<u32>,
    }

    fn body_error(v: serde_json::Value) -> serde_json::Value {
        let bytes = serde_json::to_vec(&v).unwrap();
        match json_body::<Body>(&bytes).unwrap_err() {
            DiditError::Invalid(p) => serde_json::to_value(p).unwrap(),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn serde_errors_become_the_contracts_field_errors() {
        assert_eq!(
            body_error(json!({})),
            json!({"name": ["This field is required."]})
        );
        assert_eq!(
            body_error(json!({"name": null})),
            json!({"name": ["This field may not be null."]})
        );
        assert_eq!(
            body_error(json!({"name": 3})),
            json!({"name": ["Not a valid string."]})
        );
        assert_eq!(
            body_error(json!({"name": "x", "flag": "yes"})),
            json!({"flag": ["Must be a valid boolean."]})
        );
        assert_eq!(
            body_error(json!({"name": "x", "inner": {"n": "1"}})),
            json!({"inner": {"n": ["A valid integer is required."]}})
        );
        assert_eq!(
            body_error(json!({"name": "x", "inner": {}})),
            json!({"inner": {"n": ["This field is required."]}})
        );
        assert_eq!(
            body_error(json!({"name": "x", "items": [{"n": 1}, {"n": 1, "choice": "B"}]})),
            json!({"items": {"1": {"choice": ["\"B\" is not a valid choice."]}}})
        );
        assert_eq!(
            body_error(json!({"name": "x", "items": {"n": 1}})),
            json!({"items": ["Expected a list of items but got type \"dict\"."]})
        );
        assert_eq!(
            body_error(json!([1])),
            json!({"detail": "Invalid data. Expected a dictionary, but got list."})
        );
        for broken in [
            &b"{oops"[..],
            b"{\"name\": \"x\"} trailing",
            b"[1,",
            b"{\"name\": ",
            b"{\"name\": 3, oops",
        ] {
            assert!(
                matches!(
                    json_body::<Body>(broken),
                    Err(DiditError::Invalid(p)) if p.messages("detail")[0].starts_with("JSON parse error - ")
                ),
                "{}",
                String::from_utf8_lossy(broken)
            );
        }
        assert_eq!(
            serde_json::to_value(match json_body::<Body>(b"") {
                Err(DiditError::Invalid(p)) => p,
                _ => panic!("an empty body reads as {{}}"),
            })
            .unwrap(),
            json!({"name": ["This field is required."]})
        );
    }

    #[test]
    fn bulk_deletion_errors_name_their_field() {
        let e = json_body::<crate::flow::sessions::wire::DeleteSessions>(
            br#"{"delete_all": true, "retain_face_embeddings": "yes"}"#,
        );
        match e {
            Err(DiditError::Invalid(p)) => assert_eq!(
                serde_json::to_value(p).unwrap(),
                json!({"retain_face_embeddings": ["Must be a valid boolean."]})
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn unknown_query_parameters_are_named() {
        let err = |q: &str| match query_string::<Query>(q).unwrap_err() {
            DiditError::Invalid(p) => serde_json::to_value(p).unwrap(),
            e => panic!("{e}"),
        };
        assert_eq!(
            err("limit=1&colour=red"),
            json!({"colour": ["Unknown parameter. Supported: limit."]})
        );
        assert_eq!(
            err("limit=x"),
            json!({"limit": ["A valid integer is required."]})
        );
        assert_eq!(
            err("limit=1&limit=2"),
            json!({"limit": ["Give this parameter once."]})
        );
        assert_eq!(query_string::<Query>("limit=3").unwrap().limit, Some(3));
    }
}
