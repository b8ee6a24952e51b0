//! The materialised homework document: plain Rust records hydrated from (and reconciled into)
//! the Automerge document.
//!
//! The shape (docs/architecture.md, "The document and how it merges"): goals, assignments, entries, comments and custom
//! templates, each a map keyed by a random id so that concurrent creation never collides, plus
//! a `schema` number that [`crate::document`] uses to migrate older documents. Lists whose items
//! can be added concurrently (steps, adjustment history, thoughts) key their items by id so that
//! merging keeps both sides' additions.

use crate::author::Author;
use crate::ids::{AdjustmentId, AssignmentId, CommentId, EntryId, GoalId, StepId, TemplateId};
use crate::protocol::DocId;
use crate::template::{EntryKind, FieldValue, Template};
use crate::time::{Day, Timestamp};
use autosurgeon::{Hydrate, Reconcile, Text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema version this code writes. See `docs/architecture.md` for the migration path.
pub const SCHEMA_VERSION: u64 = 1;

/// The whole homework document of one client–therapist relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct HomeworkData {
    /// Schema version of the document's shape.
    pub schema: u64,
    /// Who the document is about and who created it.
    pub meta: Meta,
    /// Goals by id.
    pub goals: BTreeMap<GoalId, Goal>,
    /// Assignments by id.
    pub assignments: BTreeMap<AssignmentId, Assignment>,
    /// Entries by id.
    pub entries: BTreeMap<EntryId, Entry>,
    /// Comments by id.
    pub comments: BTreeMap<CommentId, Comment>,
    /// Custom templates by id.
    pub templates: BTreeMap<TemplateId, Template>,
    /// The therapist's acknowledgements of risk flags ([`crate::risk`]), by the flagged entry.
    /// Absent from documents written before flags existed.
    #[autosurgeon(missing = "BTreeMap::new")]
    #[serde(default)]
    pub risk_acknowledgements: BTreeMap<EntryId, RiskAcknowledgement>,
    /// Where the client can get help at once, as the therapist's practice wrote it; `None`
    /// until set (devices then show [`crate::risk::DEFAULT_CRISIS_RESOURCES`]).
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub crisis_resources: Option<CrisisResources>,
}

/// The practice's crisis resources, written into each client's document by the therapist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct CrisisResources {
    /// The text: numbers, hours, what to do.
    pub text: String,
    /// Who set it.
    pub set_by: Author,
    /// When.
    pub set_at: Timestamp,
}

/// A therapist's acknowledgement that they saw a risk flag (see [`crate::risk`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct RiskAcknowledgement {
    /// Who acknowledged it.
    pub by: Author,
    /// When.
    pub at: Timestamp,
    /// What they did or will do, if they said ("called the client, safety plan reviewed").
    pub note: String,
}

/// Facts about the relationship the document belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Meta {
    /// Identifies the document, so that a file of another client's homework is never merged in.
    pub document_id: DocId,
    /// The client's display name.
    pub client_name: String,
    /// The therapist's display name, once known.
    pub therapist_name: Option<String>,
    /// Who created the document.
    pub created_by: Author,
    /// When the document was created.
    pub created_at: Timestamp,
}

/// Whether a goal is still being worked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum GoalStatus {
    /// Being worked on.
    #[autosurgeon(rename = "active")]
    Active,
    /// Reached.
    #[autosurgeon(rename = "achieved")]
    Achieved,
    /// Set aside.
    #[autosurgeon(rename = "dropped")]
    Dropped,
}

/// A goal with small steps towards it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Goal {
    /// What the client wants to reach.
    pub title: String,
    /// Why it matters to them (collaborative text).
    #[serde(with = "crate::text_json")]
    pub why: Text,
    /// Small steps, in order.
    pub steps: Vec<Step>,
    /// Active, achieved or dropped.
    pub status: GoalStatus,
    /// Who set the goal.
    pub created_by: Author,
    /// When the goal was set.
    pub created_at: Timestamp,
}

/// One small step of a goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Step {
    /// Keeps concurrently added steps apart.
    #[key]
    pub id: StepId,
    /// What the step is.
    pub text: String,
    /// Whether it has been done.
    pub done: bool,
    /// When it was ticked off, and by whom.
    pub done_at: Option<Timestamp>,
    /// Who ticked it off.
    pub done_by: Option<Author>,
}

/// How often an assignment is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "every", rename_all = "lowercase")]
pub enum Frequency {
    /// Once, by a due date.
    #[autosurgeon(rename = "once")]
    Once {
        /// The day it is due.
        due: Day,
    },
    /// Every day.
    #[autosurgeon(rename = "daily")]
    Daily,
    /// On the given weekdays (`mon` … `sun`).
    #[autosurgeon(rename = "weekly")]
    Weekly {
        /// Three-letter lowercase weekday names.
        days: Vec<String>,
    },
    /// A number of times each week (Monday to Sunday), on whichever days suit the client.
    #[autosurgeon(rename = "times-a-week")]
    #[serde(rename = "times-a-week")]
    TimesAWeek {
        /// How many times, 1 to 7.
        times: i64,
    },
}

/// When an assignment is due: its frequency between a first and an optional last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Schedule {
    /// How often.
    pub frequency: Frequency,
    /// The first day it is due.
    pub starts_on: Day,
    /// The last day it is due, if it ends.
    pub ends_on: Option<Day>,
}

/// Where an assignment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum AssignmentStatus {
    /// Due according to its schedule.
    #[autosurgeon(rename = "active")]
    Active,
    /// Temporarily not due.
    #[autosurgeon(rename = "paused")]
    Paused,
    /// Finished.
    #[autosurgeon(rename = "done")]
    Done,
    /// Put away; kept for the record.
    #[autosurgeon(rename = "archived")]
    Archived,
}

impl AssignmentStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::Active => "active",
            AssignmentStatus::Paused => "paused",
            AssignmentStatus::Done => "done",
            AssignmentStatus::Archived => "archived",
        }
    }
}

/// A piece of homework: what to do, following which template, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Assignment {
    /// Short title ("Thought record after difficult moments").
    pub title: String,
    /// The template entries for this assignment follow.
    pub template: TemplateId,
    /// Instructions from the therapist (collaborative text).
    #[serde(with = "crate::text_json")]
    pub instructions: Text,
    /// When it is due.
    pub schedule: Schedule,
    /// How long each practice should take, in minutes.
    pub minutes: Option<i64>,
    /// What to focus on this time.
    pub focus: Option<String>,
    /// Active, paused, done or archived.
    pub status: AssignmentStatus,
    /// The goal it serves, if any.
    pub goal: Option<GoalId>,
    /// Every change of frequency, duration, focus or status, oldest first.
    pub history: Vec<Adjustment>,
    /// The therapist, or the client for self-set homework.
    pub created_by: Author,
    /// When it was assigned.
    pub created_at: Timestamp,
    /// The time of day (`HH:MM`, the client's own clock) a client's device reminds them when it
    /// is due ([`crate::reminders`]). Absent from documents written before reminders.
    #[autosurgeon(missing = "Option::default")]
    #[serde(default)]
    pub remind_at: Option<String>,
}

/// What an adjustment changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum AdjustmentKind {
    /// The schedule.
    #[autosurgeon(rename = "frequency")]
    Frequency,
    /// Minutes per practice.
    #[autosurgeon(rename = "duration")]
    Duration,
    /// The focus.
    #[autosurgeon(rename = "focus")]
    Focus,
    /// Paused, resumed, completed or archived.
    #[autosurgeon(rename = "status")]
    Status,
}

impl AdjustmentKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdjustmentKind::Frequency => "frequency",
            AdjustmentKind::Duration => "duration",
            AdjustmentKind::Focus => "focus",
            AdjustmentKind::Status => "status",
        }
    }
}

/// One recorded change to an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Adjustment {
    /// Keeps concurrent adjustments apart.
    #[key]
    pub id: AdjustmentId,
    /// What changed.
    pub kind: AdjustmentKind,
    /// The old value, as shown to people.
    pub from: String,
    /// The new value, as shown to people.
    pub to: String,
    /// For frequency changes: the schedule before the change, so progress counts the days
    /// before the change by the schedule that applied then.
    pub previous_schedule: Option<Schedule>,
    /// Why it changed.
    pub why: String,
    /// Who changed it.
    pub by: Author,
    /// When.
    pub at: Timestamp,
}

/// Whether an entry is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// Saved part-way; required fields may be missing.
    #[autosurgeon(rename = "draft")]
    Draft,
    /// Finished; every required field was answered.
    #[autosurgeon(rename = "complete")]
    Complete,
}

/// Standard reasons homework was hard.
pub const OBSTACLES: &[&str] = &["motivation", "time", "discomfort", "forgot", "other"];

/// One piece of homework done, or a free entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Entry {
    /// The assignment it fulfils, if any.
    pub assignment: Option<AssignmentId>,
    /// The template it follows.
    pub template: TemplateId,
    /// Its kind, copied from the template so progress works without the template.
    pub kind: EntryKind,
    /// The day it is for.
    pub date: Day,
    /// Draft or complete.
    pub status: EntryStatus,
    /// Field id → answer.
    pub values: BTreeMap<String, FieldValue>,
    /// How hard it was, 0 (easy) to 10 (very hard).
    pub difficulty: Option<i64>,
    /// What got in the way (motivation, time, discomfort, ...), name → true.
    pub obstacles: BTreeMap<String, bool>,
    /// Who started the entry.
    pub created_by: Author,
    /// When it was started.
    pub created_at: Timestamp,
    /// Who changed it last.
    pub updated_by: Author,
    /// When it was changed last.
    pub updated_at: Timestamp,
    /// When it was completed.
    pub completed_at: Option<Timestamp>,
}

impl Entry {
    /// The number in a field, if answered.
    pub fn number(&self, field: &str) -> Option<i64> {
        self.values.get(field).and_then(FieldValue::as_number)
    }
}

/// What a comment is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "on", rename_all = "lowercase")]
pub enum CommentTarget {
    /// A whole assignment.
    #[autosurgeon(rename = "assignment")]
    Assignment {
        /// Which one.
        id: AssignmentId,
    },
    /// A whole entry, or one field of it.
    #[autosurgeon(rename = "entry")]
    Entry {
        /// Which entry.
        id: EntryId,
        /// The field id, when the comment is about one field.
        field: Option<String>,
    },
    /// A goal.
    #[autosurgeon(rename = "goal")]
    Goal {
        /// Which one.
        id: GoalId,
    },
}

/// A comment by the therapist or the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Comment {
    /// What it is about.
    pub target: CommentTarget,
    /// The comment it answers, for replies.
    pub reply_to: Option<CommentId>,
    /// Who wrote it.
    pub author: Author,
    /// The comment (collaborative text).
    #[serde(with = "crate::text_json")]
    pub text: Text,
    /// When it was written.
    pub created_at: Timestamp,
    /// Whether the thread is resolved.
    pub resolved: bool,
    /// Who resolved it.
    pub resolved_by: Option<Author>,
}
