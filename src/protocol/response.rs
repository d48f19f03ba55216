//! The authorization response types Inherence answers, and the one mode each travels in.

/// What the authorization response carries, and so how it travels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// An authorization code in the redirect's query (with PKCE S256); the default.
    #[default]
    Code,
    /// An ID token alone (OpenID Connect implicit flow), POSTed to the redirect URI by an
    /// auto-submitting form (`response_mode=form_post`), never in a URL. For identity
    /// providers that call Inherence as an external factor and have no token endpoint client
    /// (Microsoft Entra ID's external authentication methods). Only for clients registered
    /// with it.
    IdToken,
    /// Auth0's redirect Action protocol (`protocol::auth0`): a signed `session_token` and the
    /// `state`, POSTed to the tenant's `/continue` URL. Never asked for at `/authorize`: an
    /// Auth0 step-up starts at `/auth0/start` with the Action's token.
    #[serde(rename = "auth0_continue")]
    Auth0Continue,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::IdToken => "id_token",
            Self::Auth0Continue => "auth0_continue",
        }
    }

    /// The one response mode each type is answered with.
    pub fn response_mode(self) -> &'static str {
        match self {
            Self::Code => "query",
            Self::IdToken | Self::Auth0Continue => "form_post",
        }
    }
}
