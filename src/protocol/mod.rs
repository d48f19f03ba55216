//! Pure OAuth 2.0 / OpenID Connect: request parsing and checks, client authentication, PKCE,
//! token claims, metadata and RFC 9470 challenges. No I/O, no HTTP framework, no storage.

pub mod auth0;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod errors;
pub mod operator;
pub mod pkce;
pub mod resource;
pub mod response;
pub mod step_up;
pub mod tokens;
pub mod values;

pub use errors::{ErrorCode, OAuthError};
