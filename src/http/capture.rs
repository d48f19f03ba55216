//! The hosted capture page and its API. The page is static (no server-side templating); what
//! it shows comes from `GET /capture/{id}/state` as JSON and is inserted as text.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::extract::cookie;
use super::oauth::{set_flow_cookie, to_capture};
use super::{AppState, HttpError, html_escape, page as page_html};
use crate::biometric::CapturedFrame;
use crate::flow::Provider;
use crate::flow::device::DeviceProof;
use crate::flow::sessions::{Hosted, Session, SessionStatus};
use crate::protocol::OAuthError;

pub fn routes(max_frames_body: usize, max_preview: usize) -> Router<AppState> {
    Router::new()
        .route("/session/{token}", get(hosted).post(hosted_start))
        .route(
            "/{lang}/session/{token}",
            get(hosted_lang).post(hosted_lang_start),
        )
        .route("/capture/{id}", get(page))
        .route("/capture/{id}/state", get(state))
        .route("/capture/{id}/challenge", post(challenge))
        .route(
            "/capture/{id}/preview",
            post(preview).layer(DefaultBodyLimit::max(max_preview)),
        )
        .route(
            "/capture/{id}/frames",
            post(frames).layer(DefaultBodyLimit::max(max_frames_body)),
        )
        .route("/capture/{id}/status", get(status))
        .route("/capture/{id}/finish", get(finish))
        .route("/capture/{id}/cancel", post(cancel))
        .route("/capture/{id}/qr.svg", get(qr))
        .route("/capture/{id}/handoff", get(handoff))
        .route(
            "/static/capture.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../web/capture.js"),
                )
            }),
        )
        .route(
            "/static/form_post.js",
            get(|| async { asset("text/javascript; charset=utf-8", super::form_post::SCRIPT) }),
        )
        .route(
            "/static/capture.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../web/capture.css"),
                )
            }),
        )
}

fn asset(ct: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn valid_id(id: &str) -> Result<(), HttpError> {
    if id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(HttpError::NotFound)
    }
}

fn session_status_page(sess: &Session) -> Response {
    let text = match sess.status {
        SessionStatus::Approved => "Your verification is complete. You can close this page.",
        SessionStatus::InReview => "Thank you. Your verification is being reviewed.",
        SessionStatus::Declined => {
            "We could not verify you. Please contact the service that sent you here."
        }
        SessionStatus::Expired => "This verification link has expired. Ask for a new one.",
        SessionStatus::Abandoned => "This verification was abandoned. Ask for a new link.",
        _ => "No further attempts are possible with this link. Ask for a new one.",
    };
    let body = format!(
        "<h1>Verification</h1><p id=\"session-status\" data-status=\"{}\">{}</p>",
        html_escape(sess.status.as_str()),
        html_escape(text)
    );
    Html(page_html("Verification", &body)).into_response()
}

/// The hosted link of a Sessions-API session (`GET`): a start page, or where the session
/// stands. Nothing starts on `GET`, so link previews and scanners change nothing.
async fn hosted(
    Path(token): Path<String>,
    State(s): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Response, HttpError> {
    valid_id(&token)?;
    let sess = match s.provider.hosted_session(&token) {
        Ok(sess) => sess,
        Err(crate::flow::didit::DiditError::NotFound) => return Err(HttpError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if !Provider::can_capture(&sess) {
        return Ok(session_status_page(&sess));
    }
    let body = format!(
        "<h1>Confirm it is you</h1><p>We will ask you to look at your camera for a moment. \
         We check that you are present and that you are the account holder. No picture is kept.</p>\
         <form method=\"post\" action=\"{}\"><button id=\"start\" type=\"submit\">Start</button></form>",
        html_escape(uri.path())
    );
    Ok(Html(page_html("Verification", &body)).into_response())
}

/// `POST` on the hosted link: opens the capture, bound to this browser.
async fn hosted_start(
    Path(token): Path<String>,
    State(s): State<AppState>,
) -> Result<Response, HttpError> {
    valid_id(&token)?;
    match s.provider.open_hosted(&token) {
        Ok(Hosted::Capture {
            flow_id,
            binding_secret,
        }) => Ok(to_capture(&s, &flow_id, &binding_secret)),
        Ok(Hosted::Done(sess)) => Ok(session_status_page(&sess)),
        Err(crate::flow::didit::DiditError::NotFound) => Err(HttpError::NotFound),
        Err(e) => Err(e.into()),
    }
}

fn valid_lang(lang: &str) -> Result<(), HttpError> {
    if lang.len() > 5 || !lang.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(HttpError::NotFound);
    }
    Ok(())
}

async fn hosted_lang(
    Path((lang, token)): Path<(String, String)>,
    State(s): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Response, HttpError> {
    valid_lang(&lang)?;
    hosted(Path(token), State(s), uri).await
}

async fn hosted_lang_start(
    Path((lang, token)): Path<(String, String)>,
    State(s): State<AppState>,
) -> Result<Response, HttpError> {
    valid_lang(&lang)?;
    hosted_start(Path(token), State(s)).await
}

/// The device cookies of a capture request (see `flow::device`).
struct Device {
    binding: Option<String>,
    handoff: Option<String>,
}

impl Device {
    fn of(headers: &HeaderMap) -> Self {
        Self {
            binding: cookie(headers, "inh_bind"),
            handoff: cookie(headers, "inh_dev"),
        }
    }

    fn proof(&self) -> DeviceProof<'_> {
        DeviceProof {
            binding: self.binding.as_deref(),
            handoff: self.handoff.as_deref(),
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    /// The hand-off secret of the QR link (a phone continuing the flow).
    handoff: Option<String>,
}

async fn page(
    Path(id): Path<String>,
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    s.provider.flow_view(&id).map_err(|_| HttpError::NotFound)?;
    // A phone opening the QR link: its secret becomes this device's cookie for the flow.
    let handed = match q
        .handoff
        .as_deref()
        .filter(|h| !h.is_empty() && h.len() <= 128)
    {
        Some(h) => {
            s.provider.accept_handoff(&id, h)?;
            Some(h.to_owned())
        }
        None => None,
    };
    let mut r = Html(include_str!("../web/capture.html")).into_response();
    if let Some(h) = handed {
        set_flow_cookie(&s, &mut r, &id, "inh_dev", &h);
        r.headers_mut()
            .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    }
    r.headers_mut().insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=()"),
    );
    Ok(r)
}

async fn state(Path(id): Path<String>, State(s): State<AppState>) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let v = s.provider.flow_view(&id)?;
    Ok(axum::Json(v).into_response())
}

/// `POST /capture/{id}/challenge`: an empty body, or `{"motion_only": true}` for the
/// head-movement alternative to flashing colours.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    #[serde(default)]
    motion_only: bool,
}

async fn challenge(
    Path(id): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let req: ChallengeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ChallengeRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| HttpError::BadRequest(format!("challenge request: {e}")))?
    };
    let device = Device::of(&headers);
    let c = s.provider.challenge(&id, req.motion_only, device.proof())?;
    let mut r = axum::Json(c).into_response();
    no_store(&mut r);
    Ok(r)
}

async fn preview(
    Path(id): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let p = s.provider.clone();
    let device = Device::of(&headers);
    let g = s
        .blocking(move || {
            p.preview(&id, &body, device.proof())
                .map_err(HttpError::from)
        })
        .await?;
    Ok(axum::Json(g).into_response())
}

/// The upload of one attempt: the challenge it answers, the frames in capture order and
/// their capture times (`timestamps`: milliseconds from the start of the challenge's
/// sequence, comma-separated, one per frame).
struct Upload {
    challenge: String,
    frames: Vec<CapturedFrame>,
}

impl Upload {
    async fn read(mut mp: Multipart, max_frames: usize) -> Result<Self, HttpError> {
        let mut challenge = None;
        let mut stamps: Option<Vec<f64>> = None;
        let mut bytes = Vec::new();
        while let Some(field) = mp.next_field().await? {
            let name = field.name().unwrap_or_default().to_owned();
            let data = field.bytes().await?;
            match name.as_str() {
                "challenge" if challenge.is_none() => {
                    challenge = Some(String::from_utf8_lossy(&data).into_owned())
                }
                "timestamps" if stamps.is_none() => {
                    let text = String::from_utf8_lossy(&data);
                    let parsed: Result<Vec<f64>, _> =
                        text.split(',').map(|t| t.trim().parse::<f64>()).collect();
                    stamps = Some(parsed.map_err(|_| {
                        HttpError::BadRequest(
                            "timestamps must be comma-separated numbers (milliseconds)".into(),
                        )
                    })?);
                }
                "frame" if bytes.len() < max_frames => bytes.push(data.to_vec()),
                "frame" => {
                    return Err(HttpError::BadRequest(format!(
                        "at most {max_frames} frames per attempt"
                    )));
                }
                "challenge" | "timestamps" => {
                    return Err(HttpError::BadRequest(format!("{name} is sent twice")));
                }
                other => {
                    return Err(HttpError::BadRequest(format!("unexpected field {other:?}")));
                }
            }
        }
        let challenge = challenge.ok_or_else(|| {
            HttpError::from(OAuthError::invalid_request(
                "the capture challenge is missing",
            ))
        })?;
        if bytes.is_empty() {
            return Err(HttpError::BadRequest("no frame was uploaded".into()));
        }
        let stamps = stamps.ok_or_else(|| {
            HttpError::BadRequest("timestamps are missing (one per frame)".into())
        })?;
        if stamps.len() != bytes.len() {
            return Err(HttpError::BadRequest(format!(
                "{} timestamps for {} frames",
                stamps.len(),
                bytes.len()
            )));
        }
        Ok(Self {
            challenge,
            frames: bytes
                .into_iter()
                .zip(stamps)
                .map(|(bytes, t_ms)| CapturedFrame { bytes, t_ms })
                .collect(),
        })
    }
}

async fn frames(
    Path(id): Path<String>,
    State(s): State<AppState>,
    super::extract::Client(ctx): super::extract::Client,
    headers: HeaderMap,
    mp: Multipart,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let device = Device::of(&headers);
    // Refused before the body is read: an unknown device uploads nothing.
    s.provider.may_capture(&id, device.proof())?;
    let up = Upload::read(mp, s.provider.cfg.capture.max_frames).await?;
    let p = s.provider.clone();
    let r = s
        .blocking_capture(move || {
            p.submit(&id, &up.challenge, &up.frames, &ctx, device.proof())
                .map_err(HttpError::from)
        })
        .await?;
    Ok(axum::Json(r).into_response())
}

async fn status(Path(id): Path<String>, State(s): State<AppState>) -> Result<Response, HttpError> {
    valid_id(&id)?;
    Ok(axum::Json(json!({ "status": s.provider.flow_status(&id)? })).into_response())
}

async fn finish(
    Path(id): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let reply = s
        .provider
        .finish(&id, cookie(&headers, "inh_bind").as_deref())?;
    Ok(super::form_post::respond(&reply))
}

async fn cancel(
    Path(id): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    // Answered as JSON: the page navigates itself (a form post could not follow a redirect to
    // the client under the page's form-action policy).
    let to = s
        .provider
        .cancel(&id, cookie(&headers, "inh_bind").as_deref())?;
    Ok(axum::Json(json!({ "redirect": to })).into_response())
}

/// `GET /capture/{id}/handoff`: the link that hands the flow to a phone, for the browser that
/// started it (`{"url": ...}`; the page shows it as a QR code).
async fn handoff(
    Path(id): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let url = s
        .provider
        .handoff_url(&id, cookie(&headers, "inh_bind").as_deref())?;
    let mut r = axum::Json(json!({ "url": url })).into_response();
    no_store(&mut r);
    Ok(r)
}

async fn qr(
    Path(id): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    valid_id(&id)?;
    let url = s
        .provider
        .handoff_url(&id, cookie(&headers, "inh_bind").as_deref())?;
    let code =
        qrcode::QrCode::new(url.as_bytes()).map_err(|e| HttpError::Internal(e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let mut r = svg.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    no_store(&mut r);
    Ok(r)
}

/// Challenges, hand-off links and QR codes are single-use secrets: never cached.
fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
