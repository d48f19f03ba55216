//! Webhook destinations (`/v3/webhook/destinations/`): where events go, which events, and the
//! shared secret they are signed with. A rotated secret stays valid for a grace period, during
//! which deliveries carry one Standard Webhooks `v1,` signature per secret.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};

use super::wire::DestinationBody;

use crate::store::typed::KvJson;
use crate::store::{Kv, Namespace, StoreError};
use crate::tenant::TenantId;

pub const DESTINATIONS: Namespace = Namespace::new("webhook_destinations").fsynced();
/// How long a replaced secret still signs deliveries (Standard Webhooks rotation).
pub const ROTATION_GRACE_SECS: i64 = 24 * 3600;

/// Every `webhook_type` the contract defines (subscriptions accept them all).
pub const EVENTS: &[&str] = &[
    "status.updated",
    "data.updated",
    "user.status.updated",
    "user.data.updated",
    "business.status.updated",
    "business.data.updated",
    "activity.created",
    "transaction.created",
    "transaction.status.updated",
    "travel_rule.status.updated",
];
/// The events this server emits.
pub const EMITTED: &[&str] = &["status.updated", "data.updated"];

/// A destination as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub uuid: String,
    pub label: String,
    pub url: String,
    pub enabled: bool,
    pub webhook_version: String,
    #[serde(with = "crate::secret::stored")]
    pub secret_shared_key: Secret,
    /// Replaced secrets with the time until which they still sign.
    #[serde(default, with = "crate::secret::stored_pairs")]
    pub previous_secrets: Vec<(Secret, i64)>,
    pub subscribed_events: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The tenant whose events it receives (destinations from before tenants: `default`).
    #[serde(default)]
    pub tenant: TenantId,
}

impl Destination {
    /// The secrets that sign now: current first, then those still in their grace period.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut v = vec![self.secret_shared_key.expose()];
        v.extend(
            self.previous_secrets
                .iter()
                .filter(|(_, until)| *until > now)
                .map(|(s, _)| s.expose()),
        );
        v
    }
}

/// Why a destination request is refused (mapped to the DRF 400 shape by the caller).
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> DestinationError {
    DestinationError::Invalid {
        field,
        message: message.into(),
    }
}

/// Whether an address is private, loopback, link-local or otherwise not on the public internet.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(a) => {
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_documentation()
                || a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64
                || a.octets()[0] == 0
        }
        std::net::IpAddr::V6(a) => {
            a.is_loopback()
                || a.is_unspecified()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(std::net::IpAddr::V4(v4)))
        }
    }
}

fn target(url: &str) -> Result<(String, u16), DestinationError> {
    let u = url::Url::parse(url).map_err(|_| invalid("url", "Enter a valid URL."))?;
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    Ok((host, u.port_or_known_default().unwrap_or(443)))
}

fn judge(addrs: &[std::net::SocketAddr]) -> Result<(), DestinationError> {
    if addrs.is_empty() || addrs.iter().any(|a| is_internal(a.ip())) {
        return Err(invalid(
            "url",
            "The URL points to a private or loopback address (allow it with [webhooks] allow_private_networks).",
        ));
    }
    Ok(())
}

/// Resolves a destination's host and refuses internal addresses unless
/// `[webhooks] allow_private_networks` (server-side request forgery guard, checked when a
/// destination is saved and again before every attempt).
pub async fn check_target(
    url: &str,
    cfg: &crate::webhook::WebhookSettings,
) -> Result<(), DestinationError> {
    if cfg.allow_private_networks {
        return Ok(());
    }
    let (host, port) = target(url)?;
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| invalid("url", "The host name does not resolve."))?
        .collect();
    judge(&addrs)
}

/// [`check_target`] for synchronous callers (blocks on name resolution).
pub fn check_target_blocking(
    url: &str,
    cfg: &crate::webhook::WebhookSettings,
) -> Result<(), DestinationError> {
    use std::net::ToSocketAddrs;
    if cfg.allow_private_networks {
        return Ok(());
    }
    let (host, port) = target(url)?;
    let addrs: Vec<std::net::SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|_| invalid("url", "The host name does not resolve."))?
        .collect();
    judge(&addrs)
}

/// The host of a URL, for logs (paths often carry tokens).
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `https` everywhere; plain `http` only to loopback (local receivers) or when allowed.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), DestinationError> {
    let u = url::Url::parse(url).map_err(|_| invalid("url", "Enter a valid URL."))?;
    if u.cannot_be_a_base() || u.host_str().is_none() || !u.username().is_empty() {
        return Err(invalid("url", "Enter a valid URL."));
    }
    let loopback = matches!(u.host(), Some(url::Host::Domain("localhost")))
        || matches!(u.host(), Some(url::Host::Ipv4(a)) if a.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(a)) if a.is_loopback());
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_http => Ok(()),
        _ => Err(invalid("url", "The URL must use https.")),
    }
}

fn events_of(a: &[String]) -> Result<Vec<String>, DestinationError> {
    if a.is_empty() {
        return Err(invalid(
            "subscribed_events",
            "Subscribe to at least one event.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in a {
        if !EVENTS.contains(&s.as_str()) {
            return Err(invalid(
                "subscribed_events",
                format!("\"{s}\" is not a valid choice."),
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// A sent string field: not blank, at most `max` characters.
fn str_field(
    v: &Option<String>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, DestinationError> {
    match v {
        Some(s) if s.trim().is_empty() => Err(invalid(field, "This field may not be blank.")),
        Some(s) if s.chars().count() > max => Err(invalid(
            field,
            format!("Ensure this field has no more than {max} characters."),
        )),
        v => Ok(v.clone()),
    }
}

/// The destinations of `tenant`, oldest first.
pub fn list(store: &dyn Kv, tenant: &TenantId) -> Result<Vec<Destination>, StoreError> {
    let mut v = Vec::new();
    for k in store.keys(&DESTINATIONS)? {
        if let Some(d) = store.get_json::<Destination>(&DESTINATIONS, &k)?
            && &d.tenant == tenant
        {
            v.push(d);
        }
    }
    v.sort_by(|a, b| (a.created_at, &a.uuid).cmp(&(b.created_at, &b.uuid)));
    Ok(v)
}

/// A destination by id, whatever its tenant: for the delivery worker, which holds ids the
/// server wrote itself. Requests go through [`get_in`].
pub fn get(store: &dyn Kv, uuid: &str) -> Result<Option<Destination>, StoreError> {
    store.get_json(&DESTINATIONS, uuid)
}

/// A destination of `tenant` (another tenant's is not found).
pub fn get_in(
    store: &dyn Kv,
    tenant: &TenantId,
    uuid: &str,
) -> Result<Option<Destination>, StoreError> {
    Ok(get(store, uuid)?.filter(|d| &d.tenant == tenant))
}

/// Creates a destination with a fresh 43-character secret.
pub fn create(
    store: &dyn Kv,
    tenant: &TenantId,
    b: &DestinationBody,
    uuid: String,
    secret: String,
    cfg: &crate::webhook::WebhookSettings,
    now: i64,
) -> Result<Destination, DestinationError> {
    let label = str_field(&b.label, "label", 255)?
        .ok_or_else(|| invalid("label", "This field is required."))?;
    let url =
        str_field(&b.url, "url", 2048)?.ok_or_else(|| invalid("url", "This field is required."))?;
    check_url(&url, cfg.allow_http)?;
    check_target_blocking(&url, cfg)?;
    if list(store, tenant)?.iter().any(|d| d.url == url) {
        return Err(invalid(
            "url",
            "A webhook destination with this URL already exists.",
        ));
    }
    let version = b.webhook_version.unwrap_or_default().as_str().to_owned();
    let enabled = b.enabled.unwrap_or(true);
    let events = match &b.subscribed_events {
        None => EMITTED.iter().map(|s| (*s).to_owned()).collect(),
        Some(v) => events_of(v)?,
    };
    let d = Destination {
        uuid,
        label,
        url,
        enabled,
        webhook_version: version,
        secret_shared_key: Secret::new(secret),
        previous_secrets: Vec::new(),
        subscribed_events: events,
        created_at: now,
        updated_at: now,
        tenant: tenant.clone(),
    };
    store.put_json(&DESTINATIONS, &d.uuid, &d, None)?;
    Ok(d)
}

/// Partial update. `rotate_secret_key: true` replaces the secret (the old one keeps signing
/// for [`ROTATION_GRACE_SECS`]); `new_secret` is the replacement to use.
pub fn update(
    store: &dyn Kv,
    tenant: &TenantId,
    uuid: &str,
    b: &DestinationBody,
    new_secret: String,
    cfg: &crate::webhook::WebhookSettings,
    now: i64,
) -> Result<Destination, DestinationError> {
    let mut d = get_in(store, tenant, uuid)?.ok_or(DestinationError::NotFound)?;
    if let Some(l) = str_field(&b.label, "label", 255)? {
        d.label = l;
    }
    if let Some(u) = str_field(&b.url, "url", 2048)? {
        check_url(&u, cfg.allow_http)?;
        check_target_blocking(&u, cfg)?;
        if list(store, tenant)?
            .iter()
            .any(|o| o.url == u && o.uuid != d.uuid)
        {
            return Err(invalid(
                "url",
                "A webhook destination with this URL already exists.",
            ));
        }
        d.url = u;
    }
    if let Some(v) = b.webhook_version {
        d.webhook_version = v.as_str().to_owned();
    }
    if let Some(x) = b.enabled {
        d.enabled = x;
    }
    if let Some(v) = &b.subscribed_events {
        d.subscribed_events = events_of(v)?;
    }
    if b.rotate_secret_key == Some(true) {
        d.previous_secrets.retain(|(_, until)| *until > now);
        d.previous_secrets.truncate(4);
        d.previous_secrets
            .insert(0, (d.secret_shared_key.clone(), now + ROTATION_GRACE_SECS));
        d.secret_shared_key = Secret::new(new_secret);
    }
    d.updated_at = now;
    store.put_json(&DESTINATIONS, uuid, &d, None)?;
    Ok(d)
}

pub fn delete(store: &dyn Kv, tenant: &TenantId, uuid: &str) -> Result<(), DestinationError> {
    if get_in(store, tenant, uuid)?.is_some() && store.delete(&DESTINATIONS, uuid)? {
        Ok(())
    } else {
        Err(DestinationError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_ok());
        assert!(check_url("http://localhost/hook", false).is_ok());
        assert!(check_url("http://example.com/hook", false).is_err());
        assert!(check_url("http://example.com/hook", true).is_ok());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("not a url", true).is_err());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
    }

    #[test]
    fn internal_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_internal(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_a_while() {
        let d = Destination {
            uuid: "u".into(),
            label: "l".into(),
            url: "https://x/".into(),
            enabled: true,
            webhook_version: "v3".into(),
            secret_shared_key: "new".into(),
            previous_secrets: vec![("old".into(), 100), ("older".into(), 10)],
            subscribed_events: vec![],
            created_at: 0,
            updated_at: 0,
            tenant: Default::default(),
        };
        assert_eq!(d.signing_secrets(50), vec!["new", "old"]);
        let debug = format!("{d:?}");
        assert!(
            !debug.contains("\"new\"") && !debug.contains("\"old\""),
            "{debug}"
        );
        assert_eq!(d.signing_secrets(100), vec!["new"]);
    }
}
