//! The protocol values that cross layers, as types: a client id, a redirect URI, an acr value
//! and a subject are all strings on the wire, but a function that takes a `&ClientId` cannot
//! be handed a subject. Each serialises as its plain string (stored records and tokens keep
//! their format). Where a value arrives from outside, its constructor is the check.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! protocol_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        /// Read as a string where a string is all that is needed (a store key, a log field);
        /// the type is what keeps one kind of value from standing in for another.
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

protocol_string!(
    /// A registered client's `client_id` (from the configuration, or a lookup that found it).
    ClientId
);
protocol_string!(
    /// A redirect URI that exactly matches one the client registered.
    RedirectUri
);
protocol_string!(
    /// An authentication context class reference (`acr`), e.g. `biometric`.
    Acr
);
protocol_string!(
    /// The user a step-up or an enrolment is about, as the relying party names them:
    /// 1 to [`crate::tenant::MAX_SUBJECT_LEN`] bytes, no control characters.
    Subject
);

impl ClientId {
    /// The id of a client known to this server (configuration, store): no check here, the
    /// lookup that produced it was the check.
    pub fn registered(id: impl Into<String>) -> Self {
        Self(id.into())
    }
}

impl RedirectUri {
    /// A URI that was compared, as an exact string, with the client's registered ones.
    pub fn registered(uri: impl Into<String>) -> Self {
        Self(uri.into())
    }
}

impl Acr {
    /// An acr value this server supports (checked against `acr_values_supported`).
    pub fn supported(acr: impl Into<String>) -> Self {
        Self(acr.into())
    }
}

/// A subject that is empty, too long or carries control characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a subject is 1 to {} bytes without control characters",
    crate::tenant::MAX_SUBJECT_LEN
)]
pub struct InvalidSubject;

impl Subject {
    /// A subject from outside (a request, a hint, a token): checked.
    pub fn parse(s: &str) -> Result<Self, InvalidSubject> {
        if crate::tenant::check_subject(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSubject)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serialise_as_their_plain_strings() {
        let c = ClientId::registered("bank");
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"bank\"");
        let s: Subject = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(s, "alice");
        assert_eq!(format!("{s} {s:?}"), "alice Subject(\"alice\")");
    }

    #[test]
    fn a_subject_from_outside_is_checked() {
        assert!(Subject::parse("alice").is_ok());
        for bad in ["", "a\nb", "\u{7f}x"] {
            assert_eq!(Subject::parse(bad), Err(InvalidSubject), "{bad:?}");
        }
        let long = "x".repeat(crate::tenant::MAX_SUBJECT_LEN + 1);
        assert_eq!(Subject::parse(&long), Err(InvalidSubject));
        let max = "x".repeat(crate::tenant::MAX_SUBJECT_LEN);
        assert!(Subject::parse(&max).is_ok());
    }
}
