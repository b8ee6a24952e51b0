//! Finding a record by what a person typed: the id (or its first characters), or a name they
//! know instead of an id they would have to copy.
//!
//! - An assignment by its template (`thought-record`, or the template's name) or its title,
//!   when only one open assignment fits ([`find_assignment`]).
//! - A goal by its title ([`find_goal`]).
//! - The newest entry or comment as [`NEWEST`], `last` ([`find_entry`], [`find_comment`]).
//!
//! An id (prefix) always wins over a name, so nothing that worked with an id changes. A name
//! that fits several records is refused with each of them listed ([`DocError::AmbiguousName`]),
//! never guessed.

use crate::document::resolve_id;
use crate::error::DocError;
use crate::ids::{AssignmentId, CommentId, EntryId, GoalId, TemplateId};
use crate::model::{AssignmentStatus, GoalStatus, HomeworkData};
use crate::template::builtin;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// What a person types for the newest entry or comment.
pub const NEWEST: &str = "last";

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

/// Finds the one record whose id starts with `prefix`, whatever its kind; [`NEWEST`] is the
/// newest entry.
pub fn find_record(data: &HomeworkData, prefix: &str) -> Result<RecordRef, DocError> {
    let prefix = prefix.trim();
    if prefix == NEWEST {
        return find_entry(data, prefix).map(RecordRef::Entry);
    }
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

/// Finds an entry by id (prefix), or the newest one ([`NEWEST`]: the latest created).
pub fn find_entry(data: &HomeworkData, wanted: &str) -> Result<EntryId, DocError> {
    if wanted.trim() == NEWEST {
        return newest(&data.entries, "entry", |e| e.created_at);
    }
    resolve_id(&data.entries, wanted, "entry")
}

/// Finds a comment by id (prefix), or the newest one ([`NEWEST`]: the latest written, replies
/// included).
pub fn find_comment(data: &HomeworkData, wanted: &str) -> Result<CommentId, DocError> {
    if wanted.trim() == NEWEST {
        return newest(&data.comments, "comment", |c| c.created_at);
    }
    resolve_id(&data.comments, wanted, "comment")
}

/// Finds an assignment by id (prefix), or by its template (id, or name in any case) or its
/// title (in any case). A name picks among open assignments (active or paused) first, so the
/// template of a client's one current assignment names it even with older ones done or
/// archived; if none is open, among all.
pub fn find_assignment(data: &HomeworkData, wanted: &str) -> Result<AssignmentId, DocError> {
    let name = match resolve_id(&data.assignments, wanted, "assignment") {
        Err(DocError::NotFound { id, .. }) => id,
        found => return found,
    };
    let fits: Vec<_> = data
        .assignments
        .iter()
        .filter(|(_, a)| {
            a.title.trim().eq_ignore_ascii_case(name.trim())
                || a.template.as_str() == name.trim()
                || template_name(data, &a.template)
                    .is_some_and(|t| t.eq_ignore_ascii_case(name.trim()))
        })
        .map(|(id, a)| {
            let open = matches!(
                a.status,
                AssignmentStatus::Active | AssignmentStatus::Paused
            );
            (
                id,
                open,
                format!("{} ({}, {})", id.short(), a.title, a.status.as_str()),
            )
        })
        .collect();
    by_name(fits, "assignment", "id, template or title", &name)
}

/// Finds a goal by id (prefix), or by its title (in any case). A title picks among active goals
/// first; if none is active, among all.
pub fn find_goal(data: &HomeworkData, wanted: &str) -> Result<GoalId, DocError> {
    let name = match resolve_id(&data.goals, wanted, "goal") {
        Err(DocError::NotFound { id, .. }) => id,
        found => return found,
    };
    let fits: Vec<_> = data
        .goals
        .iter()
        .filter(|(_, g)| g.title.trim().eq_ignore_ascii_case(name.trim()))
        .map(|(id, g)| {
            let open = g.status == GoalStatus::Active;
            (id, open, format!("{} ({})", id.short(), g.title))
        })
        .collect();
    by_name(fits, "goal", "id or title", &name)
}

/// The name of a built-in or custom template.
fn template_name(data: &HomeworkData, id: &TemplateId) -> Option<String> {
    builtin::builtin(id.as_str())
        .or_else(|| data.templates.get(id).cloned())
        .map(|t| t.name)
}

/// The one record a name fits: `fits` holds each record it fits, whether it is open, and how
/// to describe it when the name is ambiguous. Open records are preferred.
fn by_name<K: Clone>(
    fits: Vec<(&K, bool, String)>,
    what: &'static str,
    by: &'static str,
    name: &str,
) -> Result<K, DocError> {
    let open: Vec<_> = fits.iter().filter(|(_, open, _)| *open).collect();
    let chosen: Vec<_> = if open.is_empty() {
        fits.iter().collect()
    } else {
        open
    };
    match chosen.as_slice() {
        [(id, _, _)] => Ok((*id).clone()),
        [] => Err(DocError::NoSuchName {
            what,
            by,
            name: name.to_owned(),
        }),
        several => Err(DocError::AmbiguousName {
            what,
            name: name.to_owned(),
            candidates: several.iter().map(|(_, _, d)| d.clone()).collect(),
        }),
    }
}

/// The record created last; two created at the same moment are refused rather than guessed.
fn newest<K: Clone + AsRef<str>, V>(
    records: &BTreeMap<K, V>,
    what: &'static str,
    created: impl Fn(&V) -> Timestamp,
) -> Result<K, DocError> {
    let Some(latest) = records.values().map(&created).max() else {
        return Err(DocError::NoneYet { what });
    };
    let newest: Vec<&K> = records
        .iter()
        .filter(|(_, v)| created(v) == latest)
        .map(|(k, _)| k)
        .collect();
    match newest.as_slice() {
        [one] => Ok((*one).clone()),
        several => Err(DocError::AmbiguousName {
            what,
            name: NEWEST.to_owned(),
            candidates: several
                .iter()
                .map(|k| format!("{} (written at the same moment)", short(k.as_ref())))
                .collect(),
        }),
    }
}

/// The first characters of an id, as the commands show it.
fn short(id: &str) -> &str {
    id.get(..crate::ids::SHORT_ID_LEN).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::document::{EntryUpdate, NewAssignment, NewEntry};
    use crate::model::{CommentTarget, Frequency, Schedule};
    use crate::{Author, Day, HomeworkDoc, Role};

    fn therapist() -> Author {
        Author::new(Role::Therapist, "Dr Rivera")
    }

    fn client() -> Author {
        Author::new(Role::Client, "Sam")
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp(1_767_225_600_000 + minute * 60_000)
    }

    fn day() -> Day {
        Day::from_ymd(2026, 1, 5).unwrap()
    }

    fn doc() -> HomeworkDoc {
        HomeworkDoc::create(b"device", "Sam", &therapist(), at(0)).unwrap()
    }

    fn assign(doc: &mut HomeworkDoc, template: &str, title: &str, minute: i64) -> AssignmentId {
        doc.create_assignment(
            &therapist(),
            at(minute),
            NewAssignment {
                title: title.into(),
                template: TemplateId::from_string(template),
                instructions: String::new(),
                schedule: Schedule {
                    frequency: Frequency::Daily,
                    starts_on: day(),
                    ends_on: None,
                },
                minutes: None,
                focus: None,
                goal: None,
                remind_at: None,
            },
        )
        .unwrap()
    }

    fn draft(doc: &mut HomeworkDoc, minute: i64) -> EntryId {
        let new = NewEntry {
            template: TemplateId::from_string("journal"),
            assignment: None,
            date: day(),
            update: EntryUpdate::default(),
        };
        doc.create_entry(&client(), at(minute), new, false).unwrap()
    }

    #[test]
    fn an_assignment_is_found_by_its_template_or_title_in_any_case() {
        let mut doc = doc();
        let mood = assign(&mut doc, "mood-check-in", "Mood check-in", 1);
        let evening = assign(&mut doc, "journal", "Evening journal", 2);
        let data = doc.data().unwrap();
        for name in ["mood-check-in", "Mood Check-in", " mood check-in "] {
            assert_eq!(find_assignment(&data, name).unwrap(), mood, "{name}");
        }
        assert_eq!(find_assignment(&data, "journal").unwrap(), evening);
        assert_eq!(find_assignment(&data, "evening JOURNAL").unwrap(), evening);
        // An id prefix still works, and wins.
        assert_eq!(find_assignment(&data, &mood.as_str()[..8]).unwrap(), mood);
        let err = find_assignment(&data, "thought-record").unwrap_err();
        assert!(matches!(err, DocError::NoSuchName { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("no assignment has the id, template or title 'thought-record'"),
            "{err}"
        );
    }

    #[test]
    fn a_template_with_two_open_assignments_is_refused_with_both_listed() {
        let mut doc = doc();
        let morning = assign(&mut doc, "journal", "Morning pages", 1);
        let evening = assign(&mut doc, "journal", "Evening journal", 2);
        let data = doc.data().unwrap();
        let err = find_assignment(&data, "journal").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DocError::AmbiguousName { .. }), "{text}");
        for expected in [
            morning.short(),
            evening.short(),
            "Morning pages",
            "give the id",
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
        // A title still tells them apart.
        assert_eq!(find_assignment(&data, "morning pages").unwrap(), morning);
    }

    #[test]
    fn an_open_assignment_is_preferred_to_done_ones_and_a_done_one_is_found_alone() {
        let mut doc = doc();
        let old = assign(&mut doc, "journal", "Journal", 1);
        doc.set_assignment_status(&therapist(), at(2), &old, AssignmentStatus::Done, "")
            .unwrap();
        let data = doc.data().unwrap();
        assert_eq!(find_assignment(&data, "journal").unwrap(), old);
        let new = assign(&mut doc, "journal", "Journal", 3);
        doc.set_assignment_status(&therapist(), at(4), &new, AssignmentStatus::Paused, "")
            .unwrap();
        let data = doc.data().unwrap();
        // Paused is still open: `resume journal` finds it.
        assert_eq!(find_assignment(&data, "journal").unwrap(), new);
    }

    #[test]
    fn a_goal_is_found_by_its_title_active_ones_first() {
        let mut doc = doc();
        let old = doc
            .create_goal(&therapist(), at(1), "Sleep better", "", &[])
            .unwrap();
        let data = doc.data().unwrap();
        assert_eq!(find_goal(&data, "sleep better").unwrap(), old);
        doc.set_goal_status(at(2), &old, GoalStatus::Achieved)
            .unwrap();
        let new = doc
            .create_goal(&therapist(), at(3), "Sleep better", "", &[])
            .unwrap();
        let data = doc.data().unwrap();
        assert_eq!(find_goal(&data, "Sleep better").unwrap(), new);
        doc.set_goal_status(at(4), &new, GoalStatus::Dropped)
            .unwrap();
        let data = doc.data().unwrap();
        let err = find_goal(&data, "Sleep better").unwrap_err();
        assert!(matches!(err, DocError::AmbiguousName { .. }), "{err}");
        let err = find_goal(&data, "Run a marathon").unwrap_err();
        assert!(matches!(err, DocError::NoSuchName { .. }), "{err}");
    }

    #[test]
    fn last_is_the_newest_entry_or_comment() {
        let mut doc = doc();
        let data = doc.data().unwrap();
        let err = find_entry(&data, NEWEST).unwrap_err();
        assert!(matches!(err, DocError::NoneYet { what: "entry" }), "{err}");
        assert!(err.to_string().contains("no entry yet"), "{err}");
        let err = find_comment(&data, NEWEST).unwrap_err();
        assert!(
            matches!(err, DocError::NoneYet { what: "comment" }),
            "{err}"
        );

        let first = draft(&mut doc, 5);
        let second = draft(&mut doc, 7);
        let data = doc.data().unwrap();
        assert_eq!(find_entry(&data, "last").unwrap(), second);
        assert_eq!(find_entry(&data, &first.as_str()[..8]).unwrap(), first);
        assert_eq!(
            find_record(&data, "last").unwrap(),
            RecordRef::Entry(second.clone())
        );

        let on_first = CommentTarget::Entry {
            id: first,
            field: None,
        };
        let comment = doc
            .add_comment(&therapist(), at(8), Some(on_first), None, "How was it?")
            .unwrap();
        let reply = doc
            .add_comment(&therapist(), at(9), None, Some(comment.clone()), "Good.")
            .unwrap();
        let data = doc.data().unwrap();
        assert_eq!(find_comment(&data, "last").unwrap(), reply);
        assert_eq!(
            find_comment(&data, &comment.as_str()[..8]).unwrap(),
            comment
        );
    }

    #[test]
    fn two_entries_written_at_the_same_moment_are_not_guessed_between() {
        let mut doc = doc();
        let a = draft(&mut doc, 5);
        let b = draft(&mut doc, 5);
        let data = doc.data().unwrap();
        let err = find_entry(&data, NEWEST).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DocError::AmbiguousName { .. }), "{text}");
        assert!(
            text.contains(a.short()) && text.contains(b.short()),
            "{text}"
        );
    }
}
