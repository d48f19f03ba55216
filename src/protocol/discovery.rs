//! OpenID Provider metadata (OIDC Discovery and RFC 8414).

use serde_json::{Value, json};

/// Inputs of the metadata document.
pub struct Metadata<'a> {
    pub issuer: &'a str,
    pub acr_values_supported: &'a [String],
    pub signing_algs: &'a [&'a str],
    pub require_par: bool,
    pub authorization_details_types: &'a [String],
    /// Some client is registered for `response_type=id_token` (answered by `form_post`).
    pub implicit: bool,
    /// Claims repeated from identity providers' hints into ID tokens.
    pub echoed_claims: &'a [String],
}

/// The endpoints, relative to the issuer.
pub mod paths {
    pub const AUTHORIZE: &str = "/authorize";
    pub const PAR: &str = "/par";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const INTROSPECT: &str = "/introspect";
    pub const JWKS: &str = "/jwks.json";
    /// Where an Auth0 post-login Action sends the browser (not OpenID: `protocol::auth0`).
    pub const AUTH0_START: &str = "/auth0/start";
}

/// Builds the document.
pub fn document(m: &Metadata<'_>) -> Value {
    let url = |p: &str| format!("{}{p}", m.issuer.trim_end_matches('/'));
    let auth_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let assertion_algs = ["ES256", "ES384", "PS256", "RS256", "EdDSA"];
    let (response_types, response_modes, grant_types): (&[&str], &[&str], &[&str]) = if m.implicit {
        (
            &["code", "id_token"],
            &["query", "form_post"],
            &["authorization_code", "client_credentials", "implicit"],
        )
    } else {
        (
            &["code"],
            &["query"],
            &["authorization_code", "client_credentials"],
        )
    };
    let mut claims = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "authorization_details",
        "inherence_liveness_method",
    ];
    for c in m.echoed_claims {
        if !claims.contains(&c.as_str()) {
            claims.push(c);
        }
    }
    json!({
        "issuer": m.issuer,
        "authorization_endpoint": url(paths::AUTHORIZE),
        "pushed_authorization_request_endpoint": url(paths::PAR),
        "require_pushed_authorization_requests": m.require_par,
        "token_endpoint": url(paths::TOKEN),
        "userinfo_endpoint": url(paths::USERINFO),
        "introspection_endpoint": url(paths::INTROSPECT),
        "jwks_uri": url(paths::JWKS),
        "scopes_supported": super::authorize::SCOPES_GRANTED,
        "response_types_supported": response_types,
        "response_modes_supported": response_modes,
        "grant_types_supported": grant_types,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": m.signing_algs,
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": m.acr_values_supported,
        "claims_parameter_supported": true,
        "claims_supported": claims,
        "claim_types_supported": ["normal"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "authorization_details_types_supported": m.authorization_details_types,
        "prompt_values_supported": ["login", "consent", "select_account", "create"],
        "ui_locales_supported": ["en"],
    })
}
