//! A store namespace and its policy, declared once by the module that owns the data.
//!
//! Every [`super::Kv`] call names a [`Namespace`], not a string, so the policy travels with the
//! name: the sealing wrapper (`store/encrypted.rs`) seals what the declaration says is sealed
//! and refuses a write without an expiry to a namespace of short-lived state, and the embedded
//! store fsyncs what the declaration says is fsynced. Renaming a namespace cannot silently drop
//! its encryption or its durability, because there is no second list to keep in step.
//!
//! The owners list their namespaces (a `NAMESPACES` or `ALL` constant, or `flow::ns::all()`);
//! the application's full list ([`crate::namespaces`]) is the only set the sealing wrapper
//! accepts and what a key rotation reseals.

/// How values are protected at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealing {
    /// Stored as written.
    Plain,
    /// AES-256-GCM under the configured template keys, bound to namespace and key.
    Sealed,
    /// Sealed with a random key of the subject's own (crypto-shredding: deleting the value
    /// destroys its key first). The store key is the subject.
    PerSubject,
}

/// Whether a change must survive a power cut before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Appended to the log before returning (survives `kill -9`), fsynced later: short-lived
    /// state a user simply retries.
    Logged,
    /// Also fsynced before returning.
    Fsynced,
}

/// Whether entries must carry an expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Kept until deleted, or until the expiry a write gives.
    Optional,
    /// Every write carries an expiry: short-lived state cannot pile up.
    Required,
}

/// A namespace: its name (part of every stored key, and of the sealed values' additional
/// data, so it never changes once data exists) and its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespace {
    name: &'static str,
    pub sealing: Sealing,
    pub durability: Durability,
    pub expiry: Expiry,
}

impl Namespace {
    /// A plain, logged namespace whose entries may expire.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            sealing: Sealing::Plain,
            durability: Durability::Logged,
            expiry: Expiry::Optional,
        }
    }

    /// Values sealed under the configured keys.
    pub const fn sealed(self) -> Self {
        Self {
            sealing: Sealing::Sealed,
            ..self
        }
    }

    /// Values sealed under a key per subject (crypto-shredding).
    pub const fn per_subject(self) -> Self {
        Self {
            sealing: Sealing::PerSubject,
            ..self
        }
    }

    /// Changes fsynced before the call returns.
    pub const fn fsynced(self) -> Self {
        Self {
            durability: Durability::Fsynced,
            ..self
        }
    }

    /// Every entry expires.
    pub const fn expiring(self) -> Self {
        Self {
            expiry: Expiry::Required,
            ..self
        }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    pub const fn is_sealed(&self) -> bool {
        !matches!(self.sealing, Sealing::Plain)
    }

    pub const fn is_per_subject(&self) -> bool {
        matches!(self.sealing, Sealing::PerSubject)
    }

    pub const fn is_fsynced(&self) -> bool {
        matches!(self.durability, Durability::Fsynced)
    }

    /// A namespace whose name is made at run time (tests).
    #[cfg(any(test, feature = "test-support"))]
    pub fn fresh(name: String) -> Self {
        Self::new(Box::leak(name.into_boxed_str()))
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Checks a list of namespaces: names unique and well-formed (lower case, digits, `_`).
pub fn check(all: &[Namespace]) -> Result<(), String> {
    for (i, ns) in all.iter().enumerate() {
        if ns.name.is_empty()
            || !ns
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!("namespace name {:?} is not [a-z0-9_]+", ns.name));
        }
        if let Some(other) = all[..i].iter().find(|o| o.name == ns.name) {
            return Err(format!(
                "namespace {} is declared twice ({other:?} and {ns:?})",
                ns.name
            ));
        }
    }
    Ok(())
}
