//! Secrets (client secrets, webhook signing secrets, private keys): never printed by `Debug`
//! or `Serialize`, compared in constant time. Records that must store one use the
//! [`stored`] / [`stored_pairs`] serde helpers, which write the value itself.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string. `Debug` and `Serialize` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the few places that need it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison (digests first, so lengths do not leak either).
    pub fn matches(&self, candidate: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(candidate.as_bytes());
        a.ct_eq(&b).into()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// `#[serde(with = "crate::secret::stored")]`: a secret field of a stored record, written
/// as its value (the store seals it at rest where its namespace says so).
pub mod stored {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// `#[serde(with = "crate::secret::stored_pairs")]`: secrets with a number each (e.g. the
/// time until which a replaced secret still signs), written as `[[value, n], ...]`.
pub mod stored_pairs {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[(Secret, i64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(k, n)| (k.expose(), *n)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(Secret, i64)>, D::Error> {
        Vec::<(String, i64)>::deserialize(d)
            .map(|v| v.into_iter().map(|(k, n)| (Secret(k), n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_compared_exactly() {
        let s = Secret::new("hunter2-but-longer");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert!(s.matches("hunter2-but-longer"));
        assert!(!s.matches("hunter2-but-longeR"));
        assert!(!s.matches(""));
    }

    #[test]
    fn stored_records_keep_the_value_and_still_never_print_it() {
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        struct Record {
            #[serde(with = "stored")]
            key: Secret,
            #[serde(with = "stored_pairs")]
            old: Vec<(Secret, i64)>,
        }
        let r = Record {
            key: Secret::new("current-secret-value"),
            old: vec![(Secret::new("previous-secret-value"), 42)],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"key":"current-secret-value","old":[["previous-secret-value",42]]}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
        let debug = format!("{r:?}");
        assert!(!debug.contains("secret-value"), "{debug}");
    }
}
