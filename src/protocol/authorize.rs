//! Authorization and pushed authorization requests: parsing and the ordered list of checks.
//!
//! Two phases. [`identify`] finds the client and verifies the redirect URI; until it succeeds no
//! error may be redirected. [`validate`] then runs the remaining named checks in order; their
//! errors are sent to the (verified) redirect URI.

use std::collections::BTreeMap;

use serde_json::Value;

use super::errors::{ErrorCode, OAuthError};
pub use super::response::ResponseType;
use super::values::{Acr, ClientId, RedirectUri};

/// Largest accepted value of one parameter, and of `authorization_details` / `claims` /
/// `id_token_hint` (an identity provider's signed token).
pub const MAX_PARAM_LEN: usize = 2048;
pub const MAX_JSON_PARAM_LEN: usize = 8192;
/// The only scopes an authorization request can be granted.
pub const SCOPES_GRANTED: &[&str] = &["openid"];
/// Longest accepted `nonce` (FAPI asks for at least 64).
pub const MAX_NONCE_LEN: usize = 512;

/// Request parameters with each name at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// Builds from decoded pairs; a repeated name is an error (RFC 6749 section 3.1).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        let mut m = BTreeMap::new();
        for (k, v) in pairs {
            let limit = if k == "authorization_details" || k == "claims" || k == "id_token_hint" {
                MAX_JSON_PARAM_LEN
            } else {
                MAX_PARAM_LEN
            };
            if v.len() > limit {
                return Err(OAuthError::invalid_request(format!("{k} is too long")));
            }
            if m.insert(k.clone(), v).is_some() {
                return Err(OAuthError::invalid_request(format!("{k} is repeated")));
            }
        }
        Ok(Self(m))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// What the server knows about the client at authorization time.
#[derive(Clone, Debug)]
pub struct ClientView<'a> {
    pub client_id: &'a str,
    /// The response types the client is registered for.
    pub response_types: &'a [ResponseType],
    pub redirect_uris: &'a [String],
    pub authorization_details_types: &'a [String],
    pub par_required: bool,
    /// May name the subject in the front channel (`login_hint` outside PAR, or typed by the
    /// user); the client compares the name it gets back with its own user.
    pub front_channel_subject: bool,
}

/// Server-wide policy for the checks.
#[derive(Clone, Debug)]
pub struct Policy<'a> {
    pub acr_values_supported: &'a [String],
    pub authorization_details_types: &'a [String],
}

/// A validated authorization request.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    /// Requests stored before implicit support were all `code`.
    #[serde(default)]
    pub response_type: ResponseType,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Vec<String>,
    pub max_age: Option<u64>,
    /// Acceptable acr values, in the client's order of preference (empty: none requested).
    pub acr_values: Vec<Acr>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub authorization_details: Option<Value>,
    /// Came through a client-authenticated pushed authorization request.
    pub pushed: bool,
}

impl AuthorizationRequest {
    /// Enrolment (`prompt=create`) rather than verification.
    pub fn is_enrolment(&self) -> bool {
        self.prompt.iter().any(|p| p == "create")
    }
}

/// Phase 1: the client exists (`known`) and `redirect_uri` is one of its registered URIs,
/// compared as exact strings. Errors here are shown to the user, never redirected.
pub fn identify<'a>(
    params: &Params,
    known: impl Fn(&str) -> Option<ClientView<'a>>,
) -> Result<(ClientView<'a>, RedirectUri), OAuthError> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
    let client = known(client_id).ok_or_else(|| OAuthError::invalid_client("unknown client_id"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(OAuthError::invalid_request(
            "redirect_uri does not exactly match a registered redirect URI",
        ));
    }
    Ok((client, RedirectUri::registered(redirect_uri)))
}

type Check =
    fn(&Params, &ClientView<'_>, &Policy<'_>, &mut AuthorizationRequest) -> Result<(), OAuthError>;

/// Phase 2, in order. Each check is small and named after what it enforces.
pub const CHECKS: &[(&str, Check)] = &[
    ("request_object", check_request_object),
    ("response_type", check_response_type),
    ("response_mode", check_response_mode),
    ("scope", check_scope),
    ("pkce", check_pkce),
    ("state_nonce", check_state_nonce),
    ("prompt", check_prompt),
    ("max_age", check_max_age),
    ("acr", check_acr),
    ("amr", check_amr),
    ("enrolment", check_enrolment),
    ("authorization_details", check_authorization_details),
    ("subject_hints", check_subject_hints),
];

/// Runs every check; `pushed` says whether the parameters arrived in a client-authenticated
/// pushed authorization request.
pub fn validate(
    params: &Params,
    client: &ClientView<'_>,
    redirect_uri: RedirectUri,
    policy: &Policy<'_>,
    pushed: bool,
) -> Result<AuthorizationRequest, OAuthError> {
    let mut req = AuthorizationRequest {
        client_id: ClientId::registered(client.client_id),
        redirect_uri,
        response_type: ResponseType::Code,
        scope: Vec::new(),
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: String::new(),
        prompt: Vec::new(),
        max_age: None,
        acr_values: Vec::new(),
        login_hint: None,
        id_token_hint: None,
        authorization_details: None,
        pushed,
    };
    for (_, check) in CHECKS {
        check(params, client, policy, &mut req)?;
    }
    Ok(req)
}

/// Request objects (`request`) are not supported: refused (OpenID Connect Core 6.1), never
/// ignored, since what they ask for could differ from the plain parameters.
fn check_request_object(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    _: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    if p.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported; send the parameters themselves (PAR)",
        ));
    }
    Ok(())
}

/// One response mode per response type: `query` (the default) for a code, `form_post` for an
/// ID token, which is never put in a URL (no `fragment`).
fn check_response_mode(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    match (r.response_type, p.get("response_mode")) {
        (ResponseType::Code, None | Some("query")) => Ok(()),
        (ResponseType::IdToken, Some("form_post")) => Ok(()),
        (t, m) => Err(OAuthError::invalid_request(format!(
            "response_mode {} is not supported for response_type {}; only {} is",
            m.unwrap_or("(default)"),
            t.as_str(),
            t.response_mode()
        ))),
    }
}

/// `code` for every client; `id_token` only for a client registered with it (so a code
/// client's step-up can never be turned into one whose ID token travels without PKCE).
fn check_response_type(
    p: &Params,
    client: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    let t = match p.get("response_type") {
        Some("code") => ResponseType::Code,
        Some("id_token") => ResponseType::IdToken,
        None => return Err(OAuthError::invalid_request("response_type is missing")),
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other} is not supported; code and id_token are"),
            ));
        }
    };
    if !client.response_types.contains(&t) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "this client is not registered for response_type {}",
                t.as_str()
            ),
        ));
    }
    r.response_type = t;
    Ok(())
}

fn check_scope(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    let scope: Vec<String> = p
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scope.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope must include openid",
        ));
    }
    // Other scopes are ignored (OpenID Connect Core 3.1.2.1): nothing is issued for them, so
    // they are not granted either.
    r.scope = SCOPES_GRANTED.iter().map(|s| (*s).to_owned()).collect();
    Ok(())
}

/// A code is bound to its requester by PKCE S256. An ID token response has no code; its
/// binding is the nonce (required below) and the exact redirect URI.
fn check_pkce(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    if r.response_type == ResponseType::IdToken {
        if p.get("code_challenge").is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge belongs to response_type=code",
            ));
        }
        return Ok(());
    }
    let challenge = p.get("code_challenge").ok_or_else(|| {
        OAuthError::invalid_request("code_challenge is required (PKCE with S256)")
    })?;
    if p.get("code_challenge_method") != Some("S256") {
        return Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(OAuthError::invalid_request(
            "code_challenge must be a base64url SHA-256 digest",
        ));
    }
    r.code_challenge = challenge.to_owned();
    Ok(())
}

/// Bounded `nonce` (and `state`, as every parameter); an ID token response needs a nonce (OpenID Connect Core
/// 3.2.2.1), the only value that ties the token to the request that asked for it.
fn check_state_nonce(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    // `state` is the client's own context (an identity provider's can be long): bounded by
    // MAX_PARAM_LEN like every parameter; the nonce goes into the ID token, so it is shorter.
    if p.get("nonce").is_some_and(|v| v.len() > MAX_NONCE_LEN) {
        return Err(OAuthError::invalid_request(format!(
            "nonce is longer than {MAX_NONCE_LEN} characters"
        )));
    }
    if r.response_type == ResponseType::IdToken && p.get("nonce").is_none() {
        return Err(OAuthError::invalid_request(
            "nonce is required with response_type=id_token",
        ));
    }
    Ok(())
}

fn check_prompt(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    let prompt: Vec<String> = p
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if prompt.iter().any(|v| v == "none") {
        if prompt.len() > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        // A face check always needs the user.
        return Err(OAuthError::new(
            ErrorCode::LoginRequired,
            "a biometric step-up always needs user interaction",
        ));
    }
    if let Some(bad) = prompt.iter().find(|v| {
        !matches!(
            v.as_str(),
            "login" | "consent" | "select_account" | "create"
        )
    }) {
        return Err(OAuthError::invalid_request(format!(
            "unsupported prompt value {bad}"
        )));
    }
    r.prompt = prompt;
    Ok(())
}

fn check_max_age(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    if let Some(v) = p.get("max_age") {
        let n: u64 = v
            .parse()
            .map_err(|_| OAuthError::invalid_request("max_age must be a non-negative integer"))?;
        r.max_age = Some(n);
    }
    Ok(())
}

/// `acr_values` and an essential `acr` in `claims` are both treated as essential: the returned
/// acr must be one of them, and unknown values fail instead of mapping to "the best we have".
fn check_acr(
    p: &Params,
    _: &ClientView<'_>,
    policy: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    let mut wanted: Vec<String> = p
        .get("acr_values")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(claims) = p.get("claims") {
        let v: Value = serde_json::from_str(claims)
            .map_err(|e| OAuthError::invalid_request(format!("claims is not JSON: {e}")))?;
        if !v.is_object() {
            return Err(OAuthError::invalid_request("claims must be a JSON object"));
        }
        for target in ["id_token", "userinfo"] {
            if let Some(acr) = v
                .get(target)
                .and_then(|t| t.get("acr"))
                .filter(|a| !a.is_null())
            {
                let mut vals: Vec<String> = acr
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(one) = acr.get("value").and_then(Value::as_str) {
                    vals.push(one.to_owned());
                }
                for v in vals {
                    if !wanted.contains(&v) {
                        wanted.push(v);
                    }
                }
            }
        }
    }
    if !wanted.is_empty() {
        let supported: Vec<String> = wanted
            .iter()
            .filter(|a| policy.acr_values_supported.contains(a))
            .cloned()
            .collect();
        if supported.is_empty() {
            return Err(OAuthError::unmet(format!(
                "none of the requested acr values ({}) can be met; supported: {}",
                wanted.join(" "),
                policy.acr_values_supported.join(" ")
            )));
        }
        r.acr_values = supported.into_iter().map(Acr::supported).collect();
    }
    Ok(())
}

/// The only method Inherence returns is `face`: an essential `amr` request in `claims` that
/// does not list it cannot be met (it is refused rather than answered with a method the
/// client did not accept).
fn check_amr(
    p: &Params,
    _: &ClientView<'_>,
    _: &Policy<'_>,
    _: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    let Some(claims) = p.get("claims") else {
        return Ok(());
    };
    // Parsed (and its shape checked) by check_acr before this runs.
    let v: Value = serde_json::from_str(claims).unwrap_or_default();
    for target in ["id_token", "userinfo"] {
        let Some(amr) = v.get(target).and_then(|t| t.get("amr")) else {
            continue;
        };
        if amr.get("essential") != Some(&Value::Bool(true)) {
            continue;
        }
        let mut vals: Vec<&str> = amr
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        vals.extend(amr.get("value").and_then(Value::as_str));
        if !vals.is_empty() && !vals.contains(&"face") {
            return Err(OAuthError::unmet(format!(
                "none of the requested amr values ({}) can be met; Inherence returns face",
                vals.join(" ")
            )));
        }
    }
    Ok(())
}

/// Enrolment (`prompt=create`) records the subject's face instead of authenticating it (its
/// code carries acr "0"), so it is only what a client asks for through an authenticated
/// channel (a pushed request), and never together with a request for an acr: an attacker who
/// adds `prompt=create` to a step-up in the browser must not turn it into an enrolment.
fn check_enrolment(
    _: &Params,
    client: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    if !r.is_enrolment() {
        return Ok(());
    }
    if client.front_channel_subject {
        // Its users are named by whoever holds the browser: never let one record a face.
        return Err(OAuthError::invalid_request(
            "prompt=create (enrolment) is not available to a client that names its users in the browser",
        ));
    }
    if !r.pushed {
        return Err(OAuthError::invalid_request(
            "prompt=create (enrolment) is only accepted in a pushed authorization request",
        ));
    }
    if r.response_type != ResponseType::Code {
        return Err(OAuthError::invalid_request(
            "prompt=create (enrolment) is answered with a code only: an enrolment is not an authentication",
        ));
    }
    if !r.acr_values.is_empty() {
        return Err(OAuthError::invalid_request(
            "prompt=create (enrolment) cannot be combined with acr_values or an acr claim: an enrolment is not an authentication",
        ));
    }
    Ok(())
}

/// RFC 9396: a JSON array of objects, each with a known `type`.
fn check_authorization_details(
    p: &Params,
    client: &ClientView<'_>,
    policy: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    let Some(raw) = p.get("authorization_details") else {
        return Ok(());
    };
    let bad = |d: String| OAuthError::new(ErrorCode::InvalidAuthorizationDetails, d);
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| bad(format!("authorization_details is not JSON: {e}")))?;
    let items = v
        .as_array()
        .ok_or_else(|| bad("authorization_details must be a JSON array".into()))?;
    if items.is_empty() {
        return Err(bad("authorization_details is empty".into()));
    }
    for item in items {
        let t = item
            .as_object()
            .and_then(|o| o.get("type"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("each authorization_details entry needs a string type".into()))?;
        let allowed = policy.authorization_details_types.iter().any(|x| x == t)
            && (client.authorization_details_types.is_empty()
                || client.authorization_details_types.iter().any(|x| x == t));
        if !allowed {
            return Err(bad(format!(
                "authorization_details type {t} is not supported"
            )));
        }
    }
    r.authorization_details = Some(v);
    Ok(())
}

/// `login_hint` names the subject only when it arrives in a client-authenticated pushed request
/// (a front-channel hint could be edited by anyone), or from a client registered with
/// `front_channel_subject`, which compares the name it gets back with its own user (without
/// any hint, the user is asked); `id_token_hint` is verified later.
fn check_subject_hints(
    p: &Params,
    client: &ClientView<'_>,
    _: &Policy<'_>,
    r: &mut AuthorizationRequest,
) -> Result<(), OAuthError> {
    if let Some(h) = p.get("login_hint") {
        if !r.pushed && !client.front_channel_subject {
            return Err(OAuthError::invalid_request(
                "login_hint is only accepted in a pushed authorization request",
            ));
        }
        if !crate::tenant::check_subject(h) {
            return Err(OAuthError::invalid_request(
                "login_hint must be 1 to 255 bytes without control characters",
            ));
        }
        r.login_hint = Some(h.to_owned());
    }
    r.id_token_hint = p.get("id_token_hint").map(str::to_owned);
    let may_ask = client.front_channel_subject && !r.pushed;
    if r.login_hint.is_none() && r.id_token_hint.is_none() && !may_ask {
        return Err(OAuthError::invalid_request(
            "the subject to verify is required: login_hint (in a pushed request) or id_token_hint",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
