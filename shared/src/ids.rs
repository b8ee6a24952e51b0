//! Newtype identifiers for the records of a homework document.
//!
//! Records are keyed by random UUIDs so that two devices creating records concurrently never
//! collide. People type ids at the command line, so every id also has a short form (its first
//! eight characters) and lookups accept any unique prefix.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of the short form of an id shown to people.
pub const SHORT_ID_LEN: usize = 8;

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4().simple().to_string())
            }

            /// Wraps an id read from a document or typed by a person.
            pub fn from_string(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The full id.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The first few characters, enough to tell records apart in practice.
            pub fn short(&self) -> &str {
                let end = self.0.char_indices().nth(SHORT_ID_LEN).map_or(self.0.len(), |(i, _)| i);
                &self.0[..end]
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl autosurgeon::Reconcile for $name {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(&self.0)
            }
        }

        impl autosurgeon::Hydrate for $name {
            fn hydrate_string(id: &str) -> Result<Self, autosurgeon::HydrateError> {
                Ok(Self(id.to_string()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

record_id!(
    /// Identifies a goal.
    GoalId
);
record_id!(
    /// Identifies one small step of a goal.
    StepId
);
record_id!(
    /// Identifies an assignment.
    AssignmentId
);
record_id!(
    /// Identifies an entry (one piece of homework done, or a free entry).
    EntryId
);
record_id!(
    /// Identifies a comment.
    CommentId
);
record_id!(
    /// Identifies a template: a built-in slug such as `thought-record`, or `custom-<uuid>`.
    TemplateId
);
record_id!(
    /// Identifies one adjustment in an assignment's history.
    AdjustmentId
);
record_id!(
    /// Identifies one automatic thought inside a thought record.
    ThoughtId
);

impl TemplateId {
    /// A fresh id for a therapist's custom template.
    pub fn custom() -> Self {
        Self(format!("custom-{}", uuid::Uuid::new_v4().simple()))
    }
}
