//! Who did something: the person's role and display name.
//!
//! Every record carries its author so that both the client and the therapist can see who wrote
//! each entry, comment and change. Names live only inside the (later: encrypted) document.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The two kinds of people who hold a homework document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person in therapy, who owns the document.
    #[autosurgeon(rename = "client")]
    Client,
    /// The therapist who assigns homework and comments.
    #[autosurgeon(rename = "therapist")]
    Therapist,
}

impl Role {
    /// The lowercase name used in documents, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Therapist => "therapist",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The author of a record or a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Author {
    /// Client or therapist.
    pub role: Role,
    /// The display name the person chose for their profile.
    pub name: String,
}

impl Author {
    /// An author with the given role and display name.
    pub fn new(role: Role, name: impl Into<String>) -> Self {
        Self {
            role,
            name: name.into(),
        }
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role)
    }
}
