//! The Between shared crate: the homework document, its typed API, templates, measures and the
//! progress views derived from it.
//!
//! This crate does no IO: no files, no sockets, no clock. Time comes in as an argument (`now`,
//! `today`) so every function is deterministic and testable, and the same code can drive a CLI, a
//! relay-side test model or a future phone client.

pub mod author;
pub mod caseload;
pub mod charts;
pub mod crypto;
pub mod document;
pub mod error;
pub mod export;
pub mod ids;
pub mod lookup;
pub mod measures;
pub mod model;
pub mod news;
pub mod progress;
pub mod protocol;
pub mod reminders;
pub mod risk;
pub mod schedule;
pub mod sync;
pub mod template;
mod text_json;
pub mod time;

pub use author::{Author, Role};
pub use document::HomeworkDoc;

pub use error::{DocError, ValidationError};
pub use ids::{AssignmentId, CommentId, EntryId, GoalId, StepId, TemplateId};
pub use time::{Day, Timestamp};
