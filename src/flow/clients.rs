//! Registered clients and their authentication.

use crate::store::concerns::ReplayCache;
use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;

use crate::clock::Clock;
use crate::flow::settings::ClientAuthMethod;
use crate::flow::settings::ClientConfig;
use crate::protocol::OAuthError;
use crate::protocol::client_auth::{Credentials, verify_assertion};
use crate::store::{Namespace, Store};

/// Namespace of seen client-assertion `jti` values (replay protection).
/// Client-assertion `jti`s seen, until the assertion could no longer be replayed.
pub(crate) const JTI_NS: Namespace = Namespace::new("assertion_jti").expiring();

/// The registered clients.
pub struct Clients {
    by_id: HashMap<String, (ClientConfig, Option<JwkSet>)>,
    store: Store,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("count", &self.by_id.len())
            .finish()
    }
}

impl Clients {
    /// Builds the registry from validated configuration.
    pub fn new(clients: &[ClientConfig], store: Store, clock: Arc<dyn Clock>) -> Self {
        let by_id = clients
            .iter()
            .map(|c| {
                let jwks = c.jwks.clone().and_then(|j| serde_json::from_value(j).ok());
                (c.client_id.clone(), (c.clone(), jwks))
            })
            .collect();
        Self {
            by_id,
            store,
            clock,
        }
    }

    pub fn get(&self, client_id: &str) -> Option<&ClientConfig> {
        self.by_id.get(client_id).map(|(c, _)| c)
    }

    /// Authenticates the caller with the method registered for it. `audiences` are the values
    /// accepted as a client assertion's `aud` (issuer and endpoint URL).
    pub fn authenticate(
        &self,
        creds: &Credentials,
        audiences: &[&str],
    ) -> Result<&ClientConfig, OAuthError> {
        let fail = || OAuthError::invalid_client("client authentication failed");
        let id = creds.claimed_client_id().ok_or_else(fail)?;
        let (client, jwks) = self.by_id.get(&id).ok_or_else(fail)?;
        match (creds, client.auth_method) {
            (Credentials::Basic { secret, .. }, ClientAuthMethod::ClientSecretBasic)
            | (Credentials::Post { secret, .. }, ClientAuthMethod::ClientSecretPost) => {
                let ok = client
                    .client_secret
                    .as_ref()
                    .is_some_and(|s| s.matches(secret.expose()));
                if ok { Ok(client) } else { Err(fail()) }
            }
            (
                Credentials::Assertion {
                    client_id,
                    assertion,
                },
                ClientAuthMethod::PrivateKeyJwt,
            ) => {
                if client_id.as_deref().is_some_and(|c| c != id) {
                    return Err(fail());
                }
                let jwks = jwks.as_ref().ok_or_else(fail)?;
                let now = self.clock.now_secs();
                let (jti, exp) = verify_assertion(assertion, &id, jwks, audiences, now)?;
                let fresh = self
                    .store
                    .first_use(&JTI_NS, &format!("{id}:{jti}"), (exp + 60) * 1000)
                    .map_err(super::store_err)?;
                if !fresh {
                    return Err(OAuthError::invalid_client(
                        "client assertion was already used",
                    ));
                }
                Ok(client)
            }
            _ => Err(OAuthError::invalid_client(
                "this client must use its registered authentication method",
            )),
        }
    }
}
