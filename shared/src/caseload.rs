//! What is new in one client's homework since their therapist last looked at it — the pure part
//! of a therapist's caseload (`between clients`).
//!
//! Everything is computed from the document alone (authors and times of entries and comments,
//! the schedule), so it needs no server and works offline. The caller says when the therapist
//! last looked (their own device remembers that) and what day it is.
//!
//! Rules, in short:
//!
//! - "New" is per record. A **new entry** was started by the client and has not been shown to
//!   the therapist (`between show`) since; an entry the therapist saw that the client changed
//!   since is **updated**. Marking a client's homework all seen (`between clients --seen`) counts
//!   as having seen everything up to that moment. Before that, everything the client wrote is
//!   new.
//! - A client's comment is **unanswered** while its thread is open (neither it nor a comment it
//!   answers is resolved) and no comment by the therapist in the same thread answers it: a
//!   reply to it (directly or further down), or any later comment by the therapist in the
//!   thread. This is a standing count — it stays until the therapist answers or resolves, however
//!   often they look — while **new comments** are the client's comments written since they looked.
//! - **Overdue** assignments are once-assignments whose due day has passed without a complete
//!   entry (as `today` shows them). **Missed** occurrences are days of daily or weekly assignments
//!   that passed without a complete entry, counted from the day the therapist last looked (that
//!   day's occurrence was not over yet then) but no further back than [`MISSED_WINDOW_DAYS`].
//! - **Risk flags** ([`crate::risk`]) that the therapist has not acknowledged come first and
//!   stay until acknowledged, however often the therapist looks.
//! - **Last activity** is the latest time anyone wrote anything in the document; the client's
//!   own latest is kept apart, since a therapist reading the caseload knows their own.

use crate::author::{Author, Role};
use crate::ids::{CommentId, EntryId};
use crate::model::{Comment, HomeworkData};
use crate::risk::{open_flags, RiskFlag};
use crate::schedule::{self, DueItem, DueState};
use crate::time::{Day, Timestamp};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// How many past days missed occurrences are counted over at most (about the time between two
/// weekly sessions).
pub const MISSED_WINDOW_DAYS: i64 = 7;

/// When the therapist last looked at a client's homework in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LastLooked {
    /// The moment.
    pub at: Timestamp,
    /// The therapist's calendar day at that moment.
    pub day: Day,
}

/// What needs a therapist's attention in one client's homework.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatsNew {
    /// Questionnaires whose risk flag the therapist has not acknowledged ([`crate::risk`]),
    /// oldest first. They stay here however often the therapist looks, until acknowledged.
    pub risk: Vec<RiskFlag>,
    /// Entries the client started since the therapist last looked, oldest first.
    pub new_entries: Vec<EntryId>,
    /// Entries started before that which the client changed since (a draft finished, say).
    pub updated_entries: Vec<EntryId>,
    /// The client's comments written since the therapist last looked, oldest first.
    pub new_comments: Vec<CommentId>,
    /// The client's comments the therapist has not answered (see the module docs), oldest first.
    pub unanswered_comments: Vec<CommentId>,
    /// Once-assignments past their due day without a complete entry.
    pub overdue: Vec<DueItem>,
    /// Occurrences of daily and weekly assignments missed since the therapist last looked.
    pub missed: Vec<DueItem>,
    /// The latest time anyone wrote anything in the document.
    pub last_activity: Option<Timestamp>,
    /// The latest time the client wrote anything.
    pub last_client_activity: Option<Timestamp>,
}

impl WhatsNew {
    /// Whether the client wrote nothing since the therapist last looked (no new or changed
    /// entries, no new comments). Unanswered comments and overdue homework may still be waiting.
    pub fn nothing_new(&self) -> bool {
        self.new_entries.is_empty()
            && self.updated_entries.is_empty()
            && self.new_comments.is_empty()
    }

    /// Whether anything waits for the therapist: something new, an unanswered comment, or
    /// homework overdue or missed.
    pub fn needs_attention(&self) -> bool {
        !self.risk.is_empty()
            || !self.nothing_new()
            || !self.unanswered_comments.is_empty()
            || !self.overdue.is_empty()
            || !self.missed.is_empty()
    }

    /// Orders clients by what needs attention first: open risk flags, then unanswered comments,
    /// then overdue homework,
    /// then new entries, missed days and changed entries; among equals, the most recently active
    /// client first.
    pub fn by_attention(&self, other: &Self) -> Ordering {
        let key = |w: &Self| {
            (
                w.risk.len(),
                w.unanswered_comments.len(),
                w.overdue.len(),
                w.new_entries.len(),
                w.missed.len(),
                w.updated_entries.len(),
                w.last_client_activity,
            )
        };
        key(other).cmp(&key(self))
    }
}

/// Whether `at` comes after the therapist last looked (always, if they never did).
fn after(at: Timestamp, looked: Option<LastLooked>) -> bool {
    looked.is_none_or(|l| at > l.at)
}

/// Records the therapist has been shown one by one (`between show`), by record id, with when.
pub type SeenRecords = BTreeMap<String, Timestamp>;

/// What is new in `data` since `looked` (`None`: never; the therapist's "mark all seen"), as of
/// `today`. A record shown to the therapist (`seen`) at or after its relevant time (created,
/// or for a changed entry, changed) is not new, whatever else they have not seen.
pub fn whats_new(
    data: &HomeworkData,
    looked: Option<LastLooked>,
    seen: &SeenRecords,
    today: Day,
) -> WhatsNew {
    let unseen =
        |id: &str, at: Timestamp| after(at, looked) && seen.get(id).is_none_or(|s| *s < at);
    let mut new_entries: Vec<_> = data
        .entries
        .iter()
        .filter(|(id, e)| e.created_by.role == Role::Client && unseen(id.as_str(), e.created_at))
        .map(|(id, e)| (e.created_at, id.clone()))
        .collect();
    new_entries.sort();
    let mut updated_entries: Vec<_> = data
        .entries
        .iter()
        .filter(|(id, e)| {
            !(e.created_by.role == Role::Client && unseen(id.as_str(), e.created_at))
                && e.updated_by.role == Role::Client
                && unseen(id.as_str(), e.updated_at)
        })
        .map(|(id, e)| (e.updated_at, id.clone()))
        .collect();
    updated_entries.sort();
    let mut new_comments: Vec<_> = data
        .comments
        .iter()
        .filter(|(id, c)| c.author.role == Role::Client && unseen(id.as_str(), c.created_at))
        .map(|(id, c)| (c.created_at, id.clone()))
        .collect();
    new_comments.sort();

    let overdue = schedule::due_today(data, today)
        .into_iter()
        .filter(|item| item.state == DueState::Overdue)
        .collect();
    let window_start = today.add_days(-MISSED_WINDOW_DAYS);
    let from = looked.map_or(window_start, |l| l.day.max(window_start));
    let yesterday = today.pred();
    let missed = if from <= yesterday {
        schedule::due_between(data, from, yesterday, today)
            .into_iter()
            .filter(|item| item.state == DueState::Missed)
            .collect()
    } else {
        Vec::new()
    };

    let (last_activity, last_client_activity) = last_activity(data);
    WhatsNew {
        risk: open_flags(data),
        new_entries: new_entries.into_iter().map(|(_, id)| id).collect(),
        updated_entries: updated_entries.into_iter().map(|(_, id)| id).collect(),
        new_comments: new_comments.into_iter().map(|(_, id)| id).collect(),
        unanswered_comments: unanswered(&data.comments),
        overdue,
        missed,
        last_activity,
        last_client_activity,
    }
}

/// The comments `id` answers, nearest first. Stops at a comment that is missing or already
/// seen, so a malformed document (a reply chain that loops) cannot make it run forever.
fn ancestors<'a>(
    comments: &'a BTreeMap<CommentId, Comment>,
    id: &'a CommentId,
) -> Vec<&'a CommentId> {
    let mut chain: Vec<&CommentId> = Vec::new();
    let mut current = comments.get(id).and_then(|c| c.reply_to.as_ref());
    while let Some(parent) = current {
        if parent == id || chain.contains(&parent) {
            break;
        }
        chain.push(parent);
        current = comments.get(parent).and_then(|c| c.reply_to.as_ref());
    }
    chain
}

/// The client's comments that the therapist has not answered, oldest first (see the module docs).
fn unanswered(comments: &BTreeMap<CommentId, Comment>) -> Vec<CommentId> {
    // Each comment's thread (the comment it ultimately answers) and the chain up to it.
    let chains: BTreeMap<&CommentId, Vec<&CommentId>> = comments
        .keys()
        .map(|id| (id, ancestors(comments, id)))
        .collect();
    let root = |id: &'_ CommentId| -> CommentId {
        chains
            .get(id)
            .and_then(|chain| chain.last())
            .map_or_else(|| id.clone(), |root| (*root).clone())
    };
    let resolved = |id: &CommentId| {
        comments.get(id).is_some_and(|c| c.resolved)
            || chains.get(id).is_some_and(|chain| {
                chain
                    .iter()
                    .any(|a| comments.get(*a).is_some_and(|c| c.resolved))
            })
    };
    let mut open: Vec<_> = comments
        .iter()
        .filter(|(id, c)| c.author.role == Role::Client && !resolved(id))
        .filter(|(id, c)| {
            let thread = root(id);
            !comments.iter().any(|(other, t)| {
                t.author.role == Role::Therapist
                    && root(other) == thread
                    && (chains.get(other).is_some_and(|chain| chain.contains(id))
                        || t.created_at > c.created_at)
            })
        })
        .map(|(id, c)| (c.created_at, id.clone()))
        .collect();
    open.sort();
    open.into_iter().map(|(_, id)| id).collect()
}

/// The latest time anyone wrote in the document, and the latest the client did.
fn last_activity(data: &HomeworkData) -> (Option<Timestamp>, Option<Timestamp>) {
    let mut writes: Vec<(&Author, Timestamp)> = vec![(&data.meta.created_by, data.meta.created_at)];
    for goal in data.goals.values() {
        writes.push((&goal.created_by, goal.created_at));
        for step in &goal.steps {
            if let (Some(by), Some(at)) = (&step.done_by, step.done_at) {
                writes.push((by, at));
            }
        }
    }
    for assignment in data.assignments.values() {
        writes.push((&assignment.created_by, assignment.created_at));
        writes.extend(assignment.history.iter().map(|a| (&a.by, a.at)));
    }
    for entry in data.entries.values() {
        writes.push((&entry.created_by, entry.created_at));
        writes.push((&entry.updated_by, entry.updated_at));
    }
    writes.extend(data.comments.values().map(|c| (&c.author, c.created_at)));
    for template in data.templates.values() {
        if let (Some(by), Some(at)) = (&template.created_by, template.created_at) {
            writes.push((by, at));
        }
    }
    let anyone = writes.iter().map(|(_, at)| *at).max();
    let client = writes
        .iter()
        .filter(|(by, _)| by.role == Role::Client)
        .map(|(_, at)| *at)
        .max();
    (anyone, client)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{AssignmentStatus, CommentTarget, EntryStatus};
    use crate::schedule::testkit::{d, noon, therapist, Doc};
    use crate::template::EntryKind;
    use autosurgeon::Text;

    fn client() -> Author {
        Author::new(Role::Client, "Sam")
    }

    fn looked(day: &str) -> Option<LastLooked> {
        Some(LastLooked {
            at: noon(day),
            day: d(day),
        })
    }

    /// Adds a comment on `entry` (or a reply to `reply_to`) by `author` at noon of `day`.
    fn comment(
        doc: &mut Doc,
        id: &str,
        entry: &EntryId,
        reply_to: Option<&str>,
        author: Author,
        day: &str,
    ) -> CommentId {
        let id = CommentId::from_string(id);
        doc.data.comments.insert(
            id.clone(),
            Comment {
                target: CommentTarget::Entry {
                    id: entry.clone(),
                    field: None,
                },
                reply_to: reply_to.map(CommentId::from_string),
                author,
                text: Text::with_value("…"),
                created_at: noon(day),
                resolved: false,
                resolved_by: None,
            },
        );
        id
    }

    fn journal(doc: &mut Doc, day: &str) -> EntryId {
        doc.entry(
            None,
            "journal",
            EntryKind::Journal,
            day,
            EntryStatus::Complete,
            vec![],
        )
    }

    /// Issue 11: showing one record does not clear the others; a shown entry the client changes
    /// afterwards is updated again.
    #[test]
    fn new_is_per_record_until_shown() {
        let mut doc = Doc::new();
        let goal_day = journal(&mut doc, "2026-01-02");
        let mood = journal(&mut doc, "2026-01-03");
        let question = comment(&mut doc, "c1", &mood, None, client(), "2026-01-03");
        let none = SeenRecords::new();
        let news = whats_new(&doc.data, None, &none, d("2026-01-04"));
        assert_eq!(news.new_entries, vec![goal_day.clone(), mood.clone()]);
        assert_eq!(news.new_comments, vec![question.clone()]);

        // The therapist is shown the first entry only.
        let seen: SeenRecords = [(goal_day.to_string(), noon("2026-01-04"))].into();
        let news = whats_new(&doc.data, None, &seen, d("2026-01-04"));
        assert_eq!(news.new_entries, vec![mood.clone()]);
        assert_eq!(news.new_comments, vec![question.clone()]);

        // The client changes it afterwards: it is updated, not new, until shown again.
        doc.data.entries.get_mut(&goal_day).unwrap().updated_at = noon("2026-01-05");
        let news = whats_new(&doc.data, None, &seen, d("2026-01-05"));
        assert_eq!(news.updated_entries, vec![goal_day.clone()]);
        let seen_again: SeenRecords = [(goal_day.to_string(), noon("2026-01-05"))].into();
        let news = whats_new(&doc.data, None, &seen_again, d("2026-01-05"));
        assert!(news.updated_entries.is_empty(), "{news:?}");
    }

    #[test]
    fn a_new_client_has_nothing_new_and_nothing_waiting() {
        let doc = Doc::new();
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-05"));
        assert!(news.nothing_new());
        assert!(!news.needs_attention());
        // The client created the document: that is their latest activity.
        assert_eq!(news.last_client_activity, Some(noon("2026-01-01")));
        assert_eq!(news.last_activity, Some(noon("2026-01-01")));
    }

    #[test]
    fn entries_since_the_therapist_last_looked_are_new_and_earlier_ones_changed_since_are_updated()
    {
        let mut doc = Doc::new();
        let old = journal(&mut doc, "2026-01-02");
        let new = journal(&mut doc, "2026-01-04");
        // The old entry was edited by the client after the therapist looked.
        let entry = doc.data.entries.get_mut(&old).unwrap();
        entry.updated_at = noon("2026-01-05");
        let news = whats_new(
            &doc.data,
            looked("2026-01-03"),
            &SeenRecords::new(),
            d("2026-01-06"),
        );
        assert_eq!(news.new_entries, vec![new.clone()]);
        assert_eq!(news.updated_entries, vec![old.clone()]);
        assert!(!news.nothing_new());
        assert_eq!(news.last_client_activity, Some(noon("2026-01-05")));

        // Looking again afterwards: nothing new.
        let news = whats_new(
            &doc.data,
            looked("2026-01-05"),
            &SeenRecords::new(),
            d("2026-01-06"),
        );
        assert!(news.nothing_new(), "{news:?}");
        // Never looked: everything the client wrote is new.
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-06"));
        assert_eq!(news.new_entries, vec![old, new]);
        assert!(news.updated_entries.is_empty());
    }

    #[test]
    fn entries_the_therapist_wrote_are_not_news_to_them() {
        let mut doc = Doc::new();
        let id = journal(&mut doc, "2026-01-04");
        let entry = doc.data.entries.get_mut(&id).unwrap();
        entry.created_by = therapist();
        entry.updated_by = therapist();
        let news = whats_new(
            &doc.data,
            looked("2026-01-03"),
            &SeenRecords::new(),
            d("2026-01-05"),
        );
        assert!(news.nothing_new(), "{news:?}");
        assert_eq!(news.last_activity, Some(noon("2026-01-04")));
        assert_eq!(news.last_client_activity, Some(noon("2026-01-01")));
    }

    #[test]
    fn a_client_comment_is_unanswered_until_the_therapist_replies_in_its_thread() {
        let mut doc = Doc::new();
        let entry = journal(&mut doc, "2026-01-02");
        let question = comment(&mut doc, "c1", &entry, None, client(), "2026-01-03");
        let news = whats_new(
            &doc.data,
            looked("2026-01-02"),
            &SeenRecords::new(),
            d("2026-01-04"),
        );
        assert_eq!(news.unanswered_comments, vec![question.clone()]);
        assert_eq!(news.new_comments, vec![question.clone()]);
        assert!(news.needs_attention());

        // Looking does not answer it: it stays unanswered, but is no longer new.
        let news = whats_new(
            &doc.data,
            looked("2026-01-03"),
            &SeenRecords::new(),
            d("2026-01-04"),
        );
        assert_eq!(news.unanswered_comments, vec![question.clone()]);
        assert!(news.nothing_new());

        // The therapist's reply answers it; the client's follow-up is unanswered again.
        comment(
            &mut doc,
            "c2",
            &entry,
            Some("c1"),
            therapist(),
            "2026-01-04",
        );
        let news = whats_new(
            &doc.data,
            looked("2026-01-03"),
            &SeenRecords::new(),
            d("2026-01-05"),
        );
        assert!(news.unanswered_comments.is_empty(), "{news:?}");
        let follow_up = comment(&mut doc, "c3", &entry, Some("c2"), client(), "2026-01-05");
        let news = whats_new(
            &doc.data,
            looked("2026-01-04"),
            &SeenRecords::new(),
            d("2026-01-06"),
        );
        assert_eq!(news.unanswered_comments, vec![follow_up]);
    }

    #[test]
    fn a_direct_reply_answers_even_with_an_earlier_clock_and_a_resolved_thread_needs_no_answer() {
        let mut doc = Doc::new();
        let entry = journal(&mut doc, "2026-01-02");
        comment(&mut doc, "c1", &entry, None, client(), "2026-01-05");
        // The therapist's device clock was behind: the reply carries an earlier time.
        comment(
            &mut doc,
            "c2",
            &entry,
            Some("c1"),
            therapist(),
            "2026-01-04",
        );
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-06"));
        assert!(news.unanswered_comments.is_empty(), "{news:?}");

        // An unrelated thread: a therapist comment elsewhere answers nothing here.
        let other = comment(&mut doc, "c3", &entry, None, client(), "2026-01-05");
        comment(&mut doc, "c4", &entry, None, therapist(), "2026-01-06");
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-07"));
        assert_eq!(news.unanswered_comments, vec![other.clone()]);

        // A reply in a thread whose first comment is resolved needs no answer.
        doc.data.comments.get_mut(&other).unwrap().resolved = true;
        comment(&mut doc, "c5", &entry, Some("c3"), client(), "2026-01-07");
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-08"));
        assert!(news.unanswered_comments.is_empty(), "{news:?}");
    }

    #[test]
    fn a_reply_chain_that_loops_does_not_hang() {
        let mut doc = Doc::new();
        let entry = journal(&mut doc, "2026-01-02");
        comment(&mut doc, "c1", &entry, Some("c2"), client(), "2026-01-03");
        comment(&mut doc, "c2", &entry, Some("c1"), client(), "2026-01-03");
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-04"));
        assert_eq!(news.unanswered_comments.len(), 2);
    }

    #[test]
    fn overdue_once_assignments_stay_and_missed_days_count_from_the_last_look() {
        let mut doc = Doc::new();
        let report = doc.assign(
            "Report",
            "thought-record",
            "once:2026-01-05",
            "2026-01-01",
            None,
        );
        let mood = doc.assign("Mood", "mood-check-in", "daily", "2026-01-01", None);
        doc.done(&mood, "2026-01-06");

        let today = d("2026-01-08");
        let news = whats_new(&doc.data, looked("2026-01-06"), &SeenRecords::new(), today);
        assert_eq!(news.overdue.len(), 1);
        assert_eq!(news.overdue[0].assignment, report);
        // Since the look on the 6th (done): the 7th was missed; today is not over yet.
        let days: Vec<Day> = news.missed.iter().map(|m| m.day).collect();
        assert_eq!(days, vec![d("2026-01-07")]);
        assert!(news.needs_attention());

        // Never looked: missed days go back a week at most.
        let news = whats_new(&doc.data, None, &SeenRecords::new(), today);
        let days: Vec<Day> = news.missed.iter().map(|m| m.day).collect();
        assert_eq!(
            days,
            vec![
                d("2026-01-01"),
                d("2026-01-02"),
                d("2026-01-03"),
                d("2026-01-04"),
                d("2026-01-05"),
                d("2026-01-07")
            ]
        );
        let news = whats_new(&doc.data, None, &SeenRecords::new(), d("2026-01-20"));
        assert_eq!(news.missed.len(), 7);

        // Done late, or archived: no longer overdue.
        doc.done(&report, "2026-01-08");
        doc.set_status(&mood, "2026-01-06", AssignmentStatus::Archived);
        let news = whats_new(&doc.data, looked("2026-01-06"), &SeenRecords::new(), today);
        assert!(news.overdue.is_empty(), "{news:?}");
        assert!(news.missed.is_empty(), "{news:?}");
    }

    #[test]
    fn clients_sort_by_what_needs_attention_first() {
        let quiet = whats_new(&Doc::new().data, None, &SeenRecords::new(), d("2026-01-02"));
        let mut busy_doc = Doc::new();
        journal(&mut busy_doc, "2026-01-02");
        let busy = whats_new(&busy_doc.data, None, &SeenRecords::new(), d("2026-01-03"));
        let mut asking_doc = Doc::new();
        let entry = journal(&mut asking_doc, "2026-01-02");
        comment(&mut asking_doc, "c1", &entry, None, client(), "2026-01-02");
        let asking = whats_new(
            &asking_doc.data,
            looked("2026-01-02"),
            &SeenRecords::new(),
            d("2026-01-03"),
        );
        let mut all = [&quiet, &busy, &asking];
        all.sort_by(|a, b| a.by_attention(b));
        assert_eq!(all, [&asking, &busy, &quiet]);
    }
}
