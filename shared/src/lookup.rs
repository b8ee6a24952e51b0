//! Finding a record of any kind by the id (or first characters of the id) a person typed.

use crate::document::resolve_id;
use crate::error::DocError;
use crate::ids::{AssignmentId, CommentId, EntryId, GoalId, TemplateId};
use crate::model::HomeworkData;
use crate::template::builtin;

/// A record of the document, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRef {
    /// An assignment.
    Assignment(AssignmentId),
    /// An entry.
    Entry(EntryId),
    /// A goal.
    Goal(GoalId),
    /// A comment.
    Comment(CommentId),
    /// A built-in or custom template.
    Template(TemplateId),
}

/// Finds the one record whose id starts with `prefix`, whatever its kind.
pub fn find_record(data: &HomeworkData, prefix: &str) -> Result<RecordRef, DocError> {
    let prefix = prefix.trim();
    if builtin::builtin(prefix).is_some() {
        return Ok(RecordRef::Template(TemplateId::from_string(prefix)));
    }
    let candidates = [
        resolve_id(&data.assignments, prefix, "record").map(RecordRef::Assignment),
        resolve_id(&data.entries, prefix, "record").map(RecordRef::Entry),
        resolve_id(&data.goals, prefix, "record").map(RecordRef::Goal),
        resolve_id(&data.comments, prefix, "record").map(RecordRef::Comment),
        resolve_id(&data.templates, prefix, "record").map(RecordRef::Template),
    ];
    let mut found = Vec::new();
    for candidate in candidates {
        match candidate {
            Ok(record) => found.push(record),
            Err(DocError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(DocError::NotFound {
            what: "record",
            id: prefix.to_string(),
        }),
        _ => Err(DocError::Ambiguous {
            what: "record",
            id: prefix.to_string(),
        }),
    }
}
