//! `[console]`: the operator console on the admin listener, and the OpenID provider its
//! operators sign in with.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// `[console]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Serve `/admin` on the admin listener.
    pub enabled: bool,
    /// The admin listener's address as operators' browsers reach it (`https://ops.bank.example`
    /// behind a proxy): the sign-in's redirect URI is `{public_url}/admin/callback`.
    pub public_url: String,
    /// The OpenID provider operators sign in with (its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// The console's client secret at that provider (`client_secret_basic`).
    pub client_secret: Option<Secret>,
    /// The ID-token claim holding the operator's roles: a list of strings, found by a dotted
    /// path (`roles`, `groups`, `realm_access.roles`).
    pub roles_claim: String,
    /// The role values that grant each level, in every tenant; `<value>@<tenant>` grants it in
    /// that tenant only. A reviewer may also view; an admin may do everything.
    pub viewer_role: String,
    pub reviewer_role: String,
    pub admin_role: String,
    /// An operator's console session ends this long after sign-in.
    pub session_secs: u64,
    /// ...or after this long without a request.
    pub idle_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            public_url: "http://127.0.0.1:9464".into(),
            issuer: String::new(),
            client_id: "inherence-console".into(),
            client_secret: None,
            roles_claim: "roles".into(),
            viewer_role: "inherence-viewer".into(),
            reviewer_role: "inherence-reviewer".into(),
            admin_role: "inherence-admin".into(),
            session_secs: 8 * 3600,
            idle_secs: 900,
        }
    }
}

impl ConsoleSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let url = |name: &str, v: &str| -> Result<url::Url, String> {
            let u = url::Url::parse(v).map_err(|e| format!("console.{name} {v:?}: {e}"))?;
            if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
                return Err(format!("console.{name} must be an http(s) URL"));
            }
            if u.scheme() == "http" && !is_loopback(&u) {
                return Err(format!(
                    "console.{name} must be https (plain http only on loopback)"
                ));
            }
            Ok(u)
        };
        url("issuer", &self.issuer)?;
        let p = url("public_url", &self.public_url)?;
        if p.path() != "/" || p.query().is_some() {
            return Err("console.public_url is an origin, without a path".into());
        }
        if self.client_id.is_empty() || self.client_secret.as_ref().is_none_or(Secret::is_empty) {
            return Err("console.client_id and console.client_secret are required".into());
        }
        if self.roles_claim.is_empty()
            || [&self.viewer_role, &self.reviewer_role, &self.admin_role]
                .iter()
                .any(|r| r.is_empty() || r.contains('@'))
        {
            return Err(
                "console: roles_claim and the three role values must be set (without '@')".into(),
            );
        }
        if self.session_secs == 0 || self.idle_secs == 0 {
            return Err("console.session_secs and console.idle_secs must be at least 1".into());
        }
        Ok(())
    }

    /// The sign-in's redirect URI.
    pub fn redirect_uri(&self) -> String {
        format!("{}/admin/callback", self.public_url.trim_end_matches('/'))
    }

    /// Whether the console's cookies must be `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}
