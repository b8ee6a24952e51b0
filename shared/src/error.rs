//! Errors of the document layer.

use crate::ids::SHORT_ID_LEN;

/// A value or entry that breaks a template's rules. The message says what is wrong and what is
/// allowed, so a person can correct it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A number outside the field's bounds.
    #[error("{field}: {value} is out of range; enter a whole number from {min} to {max}")]
    OutOfRange {
        /// Field label or id.
        field: String,
        /// The value given.
        value: i64,
        /// Lowest allowed.
        min: i64,
        /// Highest allowed.
        max: i64,
    },
    /// A name that is not in the field's list (an unknown emotion or distortion, say).
    #[error("{field}: '{value}' is not one of the allowed options: {allowed}")]
    UnknownOption {
        /// Field label or id.
        field: String,
        /// The name given.
        value: String,
        /// The allowed names, comma separated.
        allowed: String,
    },
    /// A required field left empty when completing.
    #[error("{field} is required to complete this entry; answer it or save the entry as a draft")]
    MissingRequired {
        /// Field label.
        field: String,
    },
    /// Completing an entry whose required fields are not all answered.
    #[error("not complete yet; still to answer: {}. Answer them, or keep the entry as a draft and finish it later", .missing.join(", "))]
    Incomplete {
        /// Each unanswered required field as `id (label)`, in template order.
        missing: Vec<String>,
    },
    /// A field the template does not have.
    #[error("this template has no field '{field}'; its fields are: {fields}")]
    UnknownField {
        /// The field id given.
        field: String,
        /// The template's field ids, comma separated.
        fields: String,
    },
    /// A value of the wrong kind for the field.
    #[error("{field}: {problem}")]
    WrongKind {
        /// Field label or id.
        field: String,
        /// What is wrong and what the field expects.
        problem: String,
    },
    /// Anything else the input was wrong about.
    #[error("{0}")]
    Invalid(String),
}

/// Errors of the typed document API.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The bytes are not an Automerge document.
    #[error("the document could not be read: {0}")]
    Corrupt(Box<automerge::AutomergeError>),
    /// The document does not have the homework shape.
    #[error("the document does not have the homework shape: {0}")]
    Shape(Box<autosurgeon::HydrateError>),
    /// Writing the change failed.
    #[error("could not write the change: {0}")]
    Write(Box<autosurgeon::ReconcileError>),
    /// Written by a newer version of Between.
    #[error("this document uses schema {found}, but this version of Between understands up to {supported}; upgrade Between to open it")]
    NewerSchema {
        /// The document's schema.
        found: u64,
        /// The newest schema this code knows.
        supported: u64,
    },
    /// No record with that id (or id prefix).
    #[error("no {what} with id '{id}'; `between list --all` shows every id")]
    NotFound {
        /// Kind of record (assignment, entry, goal, comment, template, step).
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// An id prefix that matches more than one record.
    #[error("'{id}' matches more than one {what}; type more of the id (at least {} characters usually suffice)", SHORT_ID_LEN)]
    Ambiguous {
        /// Kind of record.
        what: &'static str,
        /// The prefix given.
        id: String,
    },
    /// Neither an id (prefix) nor a name of any record of that kind.
    #[error("no {what} has the {by} '{name}'; `between list --all` shows them all")]
    NoSuchName {
        /// Kind of record.
        what: &'static str,
        /// What was compared ("id or title", "id, template or title").
        by: &'static str,
        /// The name given.
        name: String,
    },
    /// A name (a template's or a title) that fits more than one record, so it cannot say which.
    #[error("'{name}' fits more than one {what}: {}; give the id instead", .candidates.join(", "))]
    AmbiguousName {
        /// Kind of record.
        what: &'static str,
        /// The name given.
        name: String,
        /// Each record it fits: short id and what it is.
        candidates: Vec<String>,
    },
    /// `last` asked for the newest record of a kind that has none yet.
    #[error("there is no {what} yet, so `last` names none")]
    NoneYet {
        /// Kind of record.
        what: &'static str,
    },
    /// No template with that id.
    #[error("no template '{0}'; list them with `between template list`")]
    UnknownTemplate(String),
    /// A rule of the template was broken.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The operation is not allowed in the current state.
    #[error("{0}")]
    NotAllowed(String),
}

impl From<automerge::AutomergeError> for DocError {
    fn from(err: automerge::AutomergeError) -> Self {
        DocError::Corrupt(Box::new(err))
    }
}

impl From<autosurgeon::HydrateError> for DocError {
    fn from(err: autosurgeon::HydrateError) -> Self {
        DocError::Shape(Box::new(err))
    }
}

impl From<autosurgeon::ReconcileError> for DocError {
    fn from(err: autosurgeon::ReconcileError) -> Self {
        DocError::Write(Box::new(err))
    }
}

/// `error` and its causes, outermost first. Unlike following `source()` alone, this looks inside
/// an [`std::io::Error`] that wraps another error: its `source` skips the error it wraps, and
/// TLS libraries wrap their errors that way, so a caller can find a TLS failure below an I/O one.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |current| {
        match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        }
    })
}
