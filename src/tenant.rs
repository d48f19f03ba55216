//! Tenants: separate customers (banks, brands, business units) served by one deployment.
//!
//! Every subject belongs to exactly one tenant, and so does every OpenID client
//! (`[[clients]] tenant = "..."`) and every v3 API key (`inherence api-keys create --tenant`).
//! A caller only ever sees its own tenant: enrolments, templates, sessions, workflows, webhook
//! destinations, step-ups, erasures and audit exports.
//!
//! How the store keeps them apart (one rule per kind of record):
//! - records keyed by a name the caller chooses (a subject, a `vendor_data`) are keyed by
//!   [`TenantId::key`]: the plain name for the default tenant, `\u{1f}tenant\u{1f}name` for the
//!   others. Subject names never contain control characters ([`check_subject`]), so two
//!   tenants' keys can never be equal: the same subject id in two tenants is two subjects.
//! - records with a random id (sessions, workflows, destinations) carry a `tenant` field that
//!   every read checks; another tenant's id answers "not found", exactly like a wrong id.
//!
//! A deployment without `[[tenants]]` has one tenant, `default`. A store written before
//! tenants existed is the default tenant's as it is: its keys are the plain names and its
//! records without a `tenant` field read as `default` (no copy, nothing to run).

use serde::{Deserialize, Serialize};

/// Separates the tenant from the name in a tenant-qualified key (a control character: never
/// part of a valid subject or tenant id).
const SEP: char = '\u{1f}';

/// Longest subject identifier accepted.
pub const MAX_SUBJECT_LEN: usize = 255;

/// A tenant's id: 1-63 of `a-z 0-9 - _`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// An invalid tenant id.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid tenant id {0:?}: use 1-63 characters a-z, 0-9, '-' or '_', starting with a letter or digit"
)]
pub struct BadTenant(pub String);

impl TenantId {
    /// The tenant of a deployment without tenants, and of everything stored before them.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(s: &str) -> Result<Self, BadTenant> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadTenant(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    /// The store key of `name` (a subject, a `vendor_data`, a template id) in this tenant.
    /// Callers check names with [`check_subject`] first; a name that would pass for another
    /// tenant's key anyway (it starts with the separator) gets a key no tenant owns.
    pub fn key(&self, name: &str) -> String {
        if name.starts_with(SEP) {
            format!("{SEP}{SEP}{name}")
        } else if self.is_default() {
            name.to_owned()
        } else {
            format!("{SEP}{}{SEP}{name}", self.0)
        }
    }

    /// The name behind a store key, if the key is this tenant's.
    pub fn owns<'k>(&self, key: &'k str) -> Option<&'k str> {
        match key.strip_prefix(SEP) {
            None if self.is_default() => Some(key),
            None => None,
            Some(rest) => {
                let (t, name) = rest.split_once(SEP)?;
                (t == self.0).then_some(name)
            }
        }
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = BadTenant;
    fn try_from(s: String) -> Result<Self, BadTenant> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

/// A tenant as configured (`[[tenants]]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: TenantId,
    /// Shown to operators only.
    #[serde(default)]
    pub name: String,
}

/// A subject (user) id: 1-255 bytes, no control characters (so tenant-qualified keys stay
/// unambiguous, and logs and exports stay one line per record).
pub fn check_subject(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBJECT_LEN && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for good in ["default", "bank", "b-1", "shop_eu", "9"] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Bank", "-x", "a b", "a/b", "a\u{1f}b", &"x".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<TenantId>("\"Bad\"").is_err());
    }

    #[test]
    fn keys_of_two_tenants_never_meet() {
        let (d, bank, shop) = (
            TenantId::default(),
            TenantId::parse("bank").unwrap(),
            TenantId::parse("shop").unwrap(),
        );
        assert_eq!(d.key("alice"), "alice");
        for t in [&d, &bank, &shop] {
            assert_eq!(t.owns(&t.key("alice")), Some("alice"));
        }
        assert_ne!(bank.key("alice"), shop.key("alice"));
        assert_eq!(shop.owns(&bank.key("alice")), None);
        assert_eq!(d.owns(&bank.key("alice")), None);
        assert_eq!(bank.owns("alice"), None);
        // A name that looks like a qualified key cannot be a subject, and even unchecked it
        // never reaches another tenant's key or anyone's listing.
        assert!(!check_subject(&bank.key("alice")));
        let forged = bank.key("alice");
        for t in [&d, &bank, &shop] {
            assert_ne!(t.key(&forged), bank.key("alice"));
            assert_eq!(t.owns(&t.key(&forged)), None);
        }
        assert!(check_subject("bank/alice"));
        assert_eq!(bank.owns(&d.key("bank/alice")), None);
    }
}
