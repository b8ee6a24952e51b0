//! The typed API over one homework document.
//!
//! [`HomeworkDoc`] wraps an Automerge document. Every operation hydrates the current
//! [`HomeworkData`] (only the records it touches, see [`parts`]), applies one validated change
//! to it, reconciles the difference back into
//! Automerge (autosurgeon writes only what changed, and long text is spliced character by
//! character) and commits it as one change with a message and the caller's `now`. So each user
//! action is one Automerge change, and two devices' concurrent actions merge field by field.
//!
//! Only the first device creates a document ([`HomeworkDoc::create`]); every other device loads
//! it before editing, because two devices that each create the root maps would produce
//! conflicting objects (the initialisation race in docs/architecture.md, "The document and how it
//! merges").

use crate::author::{Author, Role};
use crate::error::{DocError, ValidationError};
use crate::ids::{AdjustmentId, AssignmentId, CommentId, EntryId, GoalId, StepId, TemplateId};
use crate::model::{
    Adjustment, AdjustmentKind, Assignment, AssignmentStatus, Comment, CommentTarget,
    CrisisResources, Entry, EntryStatus, Frequency, Goal, GoalStatus, HomeworkData, Meta,
    RiskAcknowledgement, Schedule, Step, OBSTACLES, SCHEMA_VERSION,
};
use crate::protocol::DocId;
use crate::reminders::TimeOfDay;
use crate::template::{builtin, validate, FieldKind, FieldValue, Template};
use crate::time::{Day, Timestamp};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use autosurgeon::Text;
use std::collections::BTreeMap;

mod assignments;
mod comments;
mod entries;
mod goals;
mod parts;
mod settings;

use parts::Needs;

/// One homework document, with its Automerge history.
#[derive(Debug)]
pub struct HomeworkDoc {
    doc: AutoCommit,
    /// Heads at the last save or load: `save_incremental` returns what came after them.
    saved_heads: Vec<ChangeHash>,
}

/// A new assignment.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    /// Short title.
    pub title: String,
    /// The template entries will follow (built-in slug or custom id).
    pub template: TemplateId,
    /// Instructions for the client.
    pub instructions: String,
    /// When it is due.
    pub schedule: Schedule,
    /// Minutes per practice.
    pub minutes: Option<i64>,
    /// What to focus on.
    pub focus: Option<String>,
    /// The goal it serves.
    pub goal: Option<GoalId>,
    /// When the client's device reminds them, if at all.
    pub remind_at: Option<TimeOfDay>,
}

/// A change to an assignment's frequency, duration or focus. Fields left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct AssignmentAdjustment {
    /// New schedule.
    pub schedule: Option<Schedule>,
    /// New minutes per practice (`Some(None)` clears it).
    pub minutes: Option<Option<i64>>,
    /// New focus (`Some(None)` clears it).
    pub focus: Option<Option<String>>,
}

/// What to write into an entry: field values and the difficulty report.
#[derive(Debug, Clone, Default)]
pub struct EntryUpdate {
    /// Field id → new value. Long text is merged into the existing text by splicing.
    pub values: BTreeMap<String, FieldValue>,
    /// Field ids to clear.
    pub clear: Vec<String>,
    /// How hard it was, 0–10.
    pub difficulty: Option<i64>,
    /// What got in the way; replaces the previous list when `Some`.
    pub obstacles: Option<Vec<String>>,
}

impl EntryUpdate {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.clear.is_empty()
            && self.difficulty.is_none()
            && self.obstacles.is_none()
    }
}

/// A new entry.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The template it follows.
    pub template: TemplateId,
    /// The assignment it fulfils, if any.
    pub assignment: Option<AssignmentId>,
    /// The day it is for.
    pub date: Day,
    /// The first values.
    pub update: EntryUpdate,
}

/// An entry on its way from a client's private document to their shared one, with every
/// comment on it ([`HomeworkDoc::take_entry`], [`HomeworkDoc::adopt_entry`]).
#[derive(Debug, Clone)]
pub struct MovedEntry {
    /// Its id, kept so that references to it still hold.
    pub id: EntryId,
    /// The entry: fields, texts, difficulty, authors and times.
    pub entry: Entry,
    /// The comments on it and their replies.
    pub comments: BTreeMap<CommentId, Comment>,
}

/// Highest difficulty rating.
pub const DIFFICULTY_MAX: i64 = 10;

/// Longest text one field, comment or instruction may hold, in characters. It keeps every
/// change small enough to travel in one sealed bundle (about 100 pages of writing).
pub const MAX_TEXT_CHARS: usize = 100_000;

fn check_length(what: &str, text: &str) -> Result<(), DocError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ValidationError::Invalid(format!(
            "{what} is {chars} characters long; at most {MAX_TEXT_CHARS} fit in one field. Split it into several entries"
        ))
        .into());
    }
    Ok(())
}

impl HomeworkDoc {
    /// Creates a new, empty homework document. Only the first device of a relationship does this.
    pub fn create(
        actor: &[u8],
        client_name: &str,
        by: &Author,
        now: Timestamp,
    ) -> Result<Self, DocError> {
        let client_name = client_name.trim();
        if client_name.is_empty() {
            return Err(
                ValidationError::Invalid("the client's name cannot be empty".into()).into(),
            );
        }
        let mut doc = AutoCommit::new().with_actor(ActorId::from(actor));
        let data = HomeworkData {
            schema: SCHEMA_VERSION,
            meta: Meta {
                document_id: DocId::random(),
                client_name: client_name.to_string(),
                therapist_name: (by.role == Role::Therapist).then(|| by.name.clone()),
                created_by: by.clone(),
                created_at: now,
            },
            goals: BTreeMap::new(),
            assignments: BTreeMap::new(),
            entries: BTreeMap::new(),
            comments: BTreeMap::new(),
            templates: BTreeMap::new(),
            risk_acknowledgements: BTreeMap::new(),
            crisis_resources: None,
        };
        autosurgeon::reconcile(&mut doc, &data)?;
        doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message("create homework document")
                .with_time(now.as_secs()),
        );
        Ok(Self {
            doc,
            saved_heads: Vec::new(),
        })
    }

    /// A document with nothing in it yet, for a new device that will receive the real one
    /// through sync. It must not be edited before then: only the first device creates the
    /// root objects (the initialisation race), so [`HomeworkDoc::data`] fails until it arrives.
    pub fn empty(actor: &[u8]) -> Self {
        Self {
            doc: AutoCommit::new().with_actor(ActorId::from(actor)),
            saved_heads: Vec::new(),
        }
    }

    /// Loads a document from a save (optionally followed by incremental saves), writing further
    /// changes as `actor`. Refuses a document written by a newer schema.
    pub fn load(bytes: &[u8], actor: &[u8]) -> Result<Self, DocError> {
        let mut doc = AutoCommit::load(bytes)?.with_actor(ActorId::from(actor));
        let saved_heads = doc.get_heads();
        let mut loaded = Self { doc, saved_heads };
        loaded.migrate()?;
        Ok(loaded)
    }

    /// Brings an older document up to [`SCHEMA_VERSION`].
    ///
    /// Migration path: each schema bump adds one step here that rewrites the old shape into the
    /// new one as an ordinary Automerge change, so devices that migrate concurrently make the
    /// same edits and converge. Schema 1 is the first, so there is nothing to rewrite yet.
    fn migrate(&mut self) -> Result<(), DocError> {
        let schema: Option<u64> = autosurgeon::hydrate_prop(&self.doc, automerge::ROOT, "schema")?;
        match schema {
            Some(found) if found > SCHEMA_VERSION => Err(DocError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            }),
            Some(_) => {
                // Its small fields prove it is a homework document; the records are checked
                // as they are read, so opening costs no more as the homework grows.
                parts::hydrate(&self.doc, &Needs::default())?;
                Ok(())
            }
            None => Err(autosurgeon::HydrateError::unexpected(
                "a homework document with a schema number",
                "a document without one".to_string(),
            )
            .into()),
        }
    }

    /// The full document as one compressed save.
    pub fn save(&mut self) -> Vec<u8> {
        self.saved_heads = self.doc.get_heads();
        self.doc.save()
    }

    /// The changes made (or merged in) since the document was loaded or last saved, as an
    /// incremental save; empty if there are none.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        let heads = self.doc.get_heads();
        if heads == self.saved_heads {
            return Vec::new();
        }
        let bytes = self.doc.save_after(&self.saved_heads);
        self.saved_heads = heads;
        bytes
    }

    /// The current heads of the change graph; equal heads mean identical documents.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// A copy of this document that writes as another actor (another device).
    pub fn fork(&mut self, actor: &[u8]) -> Self {
        Self {
            doc: self.doc.fork().with_actor(ActorId::from(actor)),
            saved_heads: Vec::new(),
        }
    }

    /// Merges every change of `other` into this document.
    pub fn merge(&mut self, other: &mut HomeworkDoc) -> Result<(), DocError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Merges another copy of this document, after checking it really is the same document
    /// (same id), so one client's homework is never mixed into another's, and that every entry
    /// in it fits its template: a file written outside Between may hold a mood of 42 on a 0–10
    /// scale, which would silently shift averages. Nothing is merged unless all of it fits.
    pub fn merge_checked(&mut self, other: &mut HomeworkDoc) -> Result<(), DocError> {
        let ours = self.data()?.meta.document_id;
        let theirs = other.data()?.meta.document_id;
        if ours != theirs {
            return Err(DocError::NotAllowed(format!(
                "that file holds a different homework document ({}), not this one ({}); nothing was merged",
                theirs.short(),
                ours.short()
            )));
        }
        let problems = other.entry_problems()?;
        if !problems.is_empty() {
            return Err(DocError::NotAllowed(format!(
                "that file holds {} that Between cannot accept, so nothing was merged:\n  {}",
                if problems.len() == 1 {
                    "an entry".to_owned()
                } else {
                    format!("{} entries", problems.len())
                },
                problems.join("\n  ")
            )));
        }
        self.merge(other)
    }

    /// Every entry whose answers do not fit its template (a value out of range, an unknown
    /// option or field, a value of the wrong kind), its difficulty outside 0 to
    /// [`DIFFICULTY_MAX`], or whose template is unknown: one line each, naming the entry (id,
    /// template, day) and the field.
    pub fn entry_problems(&self) -> Result<Vec<String>, DocError> {
        let data = self.data()?;
        let mut problems = Vec::new();
        for (id, entry) in &data.entries {
            let name = |problem: String| {
                format!(
                    "entry {} ({}, {}): {problem}",
                    id.short(),
                    entry.template,
                    entry.date
                )
            };
            match Self::template_in(&data, &entry.template) {
                Ok(template) => {
                    if let Err(err) = validate::validate_values(&template, &entry.values, false) {
                        problems.push(name(err.to_string()));
                    }
                }
                Err(err) => problems.push(name(err.to_string())),
            }
            if let Some(difficulty) = entry
                .difficulty
                .filter(|d| !(0..=DIFFICULTY_MAX).contains(d))
            {
                problems.push(name(format!(
                    "difficulty {difficulty} is out of range; it runs from 0 to {DIFFICULTY_MAX}"
                )));
            }
        }
        Ok(problems)
    }

    /// Applies changes from a save or incremental save of the same document.
    pub fn apply_bytes(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        self.doc.load_incremental(bytes)?;
        self.migrate()
    }

    /// Wraps an Automerge document that already holds a homework document (the sync layer
    /// keeps documents as Automerge; this lets it apply typed edits to one).
    pub fn from_automerge(mut doc: AutoCommit) -> Self {
        let saved_heads = doc.get_heads();
        Self { doc, saved_heads }
    }

    /// The Automerge document back, for the sync layer.
    pub fn into_automerge(self) -> AutoCommit {
        self.doc
    }

    /// The underlying Automerge document, for the sync layer.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// The materialised document.
    pub fn data(&self) -> Result<HomeworkData, DocError> {
        Ok(autosurgeon::hydrate(&self.doc)?)
    }

    /// Who the document is about and who created it, without reading its records (whose
    /// hydration grows with the homework).
    pub fn meta(&self) -> Result<crate::model::Meta, DocError> {
        Ok(parts::hydrate(&self.doc, &Needs::default())?.meta)
    }

    /// Whether the document holds crisis resources, without reading its records.
    pub fn has_crisis_resources(&self) -> Result<bool, DocError> {
        Ok(parts::hydrate(&self.doc, &Needs::default())?
            .crisis_resources
            .is_some())
    }

    /// Looks up a template by id: a built-in slug or a custom template in this document.
    pub fn template(&self, id: &TemplateId) -> Result<Template, DocError> {
        let needs = Needs {
            templates: vec![id.as_str().to_owned()],
            ..Needs::default()
        };
        Self::template_in(&parts::hydrate(&self.doc, &needs)?, id)
    }

    fn template_in(data: &HomeworkData, id: &TemplateId) -> Result<Template, DocError> {
        builtin::builtin(id.as_str())
            .or_else(|| data.templates.get(id).cloned())
            .ok_or_else(|| DocError::UnknownTemplate(id.to_string()))
    }

    /// Every template usable in this document: built-ins first, then custom ones.
    pub fn templates(&self) -> Result<Vec<Template>, DocError> {
        let mut all = builtin::builtin_templates();
        all.extend(self.data()?.templates.into_values());
        Ok(all)
    }

    /// Applies one change: hydrate, edit, reconcile, commit. Nothing is written if `edit` fails.
    fn change<T>(
        &mut self,
        message: &str,
        now: Timestamp,
        edit: impl FnOnce(&mut HomeworkData) -> Result<T, DocError>,
    ) -> Result<T, DocError> {
        let mut data = self.data()?;
        let result = edit(&mut data)?;
        if let Err(err) = autosurgeon::reconcile(&mut self.doc, &data) {
            self.doc.rollback();
            return Err(err.into());
        }
        self.commit(message, now);
        Ok(result)
    }

    /// Applies one change that reads and writes only the records `needs` names (see
    /// [`parts`]): its cost follows those records, not the whole document.
    fn change_parts<T>(
        &mut self,
        message: &str,
        now: Timestamp,
        needs: Needs,
        edit: impl FnOnce(&mut HomeworkData) -> Result<T, DocError>,
    ) -> Result<T, DocError> {
        let before = parts::hydrate(&self.doc, &needs)?;
        let mut data = before.clone();
        let result = edit(&mut data)?;
        if let Err(err) = parts::reconcile(&mut self.doc, &before, &data) {
            self.doc.rollback();
            return Err(err);
        }
        self.commit(message, now);
        Ok(result)
    }

    fn commit(&mut self, message: &str, now: Timestamp) {
        self.doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(message)
                .with_time(now.as_secs()),
        );
    }

    /// The needs of a comment on `target`, or a reply to `reply_to` (which takes its parent's
    /// target): the parent and whatever the comment is about, with an entry's template.
    fn comment_needs(
        &self,
        target: Option<&CommentTarget>,
        reply_to: Option<&CommentId>,
    ) -> Result<Needs, DocError> {
        let mut needs = Needs::default();
        let parent_target;
        let target = match reply_to {
            Some(parent) => {
                needs.comments.push(parent.as_str().to_owned());
                let found = parts::hydrate(&self.doc, &needs)?;
                parent_target = found.comments.get(parent).map(|c| c.target.clone());
                parent_target.as_ref()
            }
            None => target,
        };
        match target {
            Some(CommentTarget::Assignment { id }) => {
                needs.assignments.push(id.as_str().to_owned())
            }
            Some(CommentTarget::Goal { id }) => needs.goals.push(id.as_str().to_owned()),
            Some(CommentTarget::Entry { id, .. }) => {
                needs.entries.push(id.as_str().to_owned());
                if let Some(entry) = parts::entry(&self.doc, id)? {
                    needs.templates.push(entry.template.as_str().to_owned());
                }
            }
            None => {}
        }
        Ok(needs)
    }

    /// The needs of an edit of entry `id`: the entry and its template.
    fn entry_needs(&self, id: &EntryId) -> Result<Needs, DocError> {
        let entry = parts::entry(&self.doc, id)?.ok_or_else(|| not_found("entry", id.as_str()))?;
        Ok(Needs {
            entries: vec![id.as_str().to_owned()],
            templates: vec![entry.template.as_str().to_owned()],
            ..Needs::default()
        })
    }
}

/// Finds the one key whose id starts with `prefix` (ids are shown shortened to people).
pub fn resolve_id<K: AsRef<str> + Clone, V>(
    map: &BTreeMap<K, V>,
    prefix: &str,
    what: &'static str,
) -> Result<K, DocError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(not_found(what, prefix));
    }
    let mut matches = map.keys().filter(|k| k.as_ref().starts_with(prefix));
    match (matches.next(), matches.next()) {
        (Some(only), None) => Ok(only.clone()),
        (Some(_), Some(_)) => Err(DocError::Ambiguous {
            what,
            id: prefix.to_string(),
        }),
        (None, _) => Err(not_found(what, prefix)),
    }
}

/// The entry with each long text as a new text holding the same characters: a text read from
/// one document is tied to that document's history and cannot be written into another.
fn detach_entry(mut entry: Entry) -> Entry {
    for value in entry.values.values_mut() {
        if let FieldValue::LongText(text) = value {
            *text = Text::with_value(text.as_str());
        }
    }
    entry
}

/// The comment with its text detached from the document it was read from (see
/// [`detach_entry`]).
fn detach_comment(mut comment: Comment) -> Comment {
    comment.text = Text::with_value(comment.text.as_str());
    comment
}

fn not_found(what: &'static str, id: &str) -> DocError {
    DocError::NotFound {
        what,
        id: id.to_string(),
    }
}

fn non_empty(what: &str, text: &str) -> Result<String, DocError> {
    let text = text.trim();
    check_length(what, text)?;
    if text.is_empty() {
        Err(ValidationError::Invalid(format!("{what} cannot be empty")).into())
    } else {
        Ok(text.to_string())
    }
}

fn new_step(text: &str) -> Result<Step, DocError> {
    Ok(Step {
        id: StepId::random(),
        text: non_empty("a step", text)?,
        done: false,
        done_at: None,
        done_by: None,
    })
}

fn goal_mut<'a>(data: &'a mut HomeworkData, id: &GoalId) -> Result<&'a mut Goal, DocError> {
    data.goals
        .get_mut(id)
        .ok_or_else(|| not_found("goal", id.as_str()))
}

fn assignment_mut<'a>(
    data: &'a mut HomeworkData,
    id: &AssignmentId,
) -> Result<&'a mut Assignment, DocError> {
    data.assignments
        .get_mut(id)
        .ok_or_else(|| not_found("assignment", id.as_str()))
}

fn check_writer(by: &Author) -> Result<(), DocError> {
    if by.role == Role::Client {
        Ok(())
    } else {
        Err(DocError::NotAllowed(
            "entries are the client's own work; as the therapist, comment on the entry instead"
                .into(),
        ))
    }
}

fn check_schedule(schedule: &Schedule) -> Result<(), DocError> {
    if let Some(ends) = schedule.ends_on {
        if ends < schedule.starts_on {
            return Err(ValidationError::Invalid(format!(
                "the schedule ends ({ends}) before it starts ({})",
                schedule.starts_on
            ))
            .into());
        }
    }
    match &schedule.frequency {
        Frequency::Weekly { days } if days.is_empty() => Err(ValidationError::Invalid(
            "a weekly schedule needs at least one day, e.g. weekly:mon,thu".into(),
        )
        .into()),
        Frequency::Weekly { days } => {
            for day in days {
                if crate::time::parse_weekday(day).is_none() {
                    return Err(ValidationError::Invalid(format!(
                        "'{day}' is not a weekday; use mon, tue, wed, thu, fri, sat or sun"
                    ))
                    .into());
                }
            }
            Ok(())
        }
        Frequency::TimesAWeek { times } if !(1..=7).contains(times) => {
            Err(ValidationError::OutOfRange {
                field: "times a week".into(),
                value: *times,
                min: 1,
                max: 7,
            }
            .into())
        }
        Frequency::Once { due } if *due < schedule.starts_on => {
            Err(ValidationError::Invalid(format!(
                "the due date {due} is before the start {}",
                schedule.starts_on
            ))
            .into())
        }
        _ => Ok(()),
    }
}

/// Longest practice an assignment may ask for, in minutes.
pub const MINUTES_MAX: i64 = 600;

fn check_minutes(minutes: Option<i64>) -> Result<(), DocError> {
    match minutes {
        Some(m) if !(1..=MINUTES_MAX).contains(&m) => Err(ValidationError::OutOfRange {
            field: "minutes per practice".into(),
            value: m,
            min: 1,
            max: MINUTES_MAX,
        }
        .into()),
        _ => Ok(()),
    }
}

fn describe_schedule(schedule: &Schedule) -> String {
    let mut text = schedule.frequency.describe();
    text.push_str(&format!(" from {}", schedule.starts_on));
    if let Some(ends) = schedule.ends_on {
        text.push_str(&format!(" until {ends}"));
    }
    text
}

fn describe_minutes(minutes: Option<i64>) -> String {
    minutes.map_or_else(|| "(none)".to_string(), |m| format!("{m} min"))
}

fn check_target(data: &HomeworkData, target: &CommentTarget) -> Result<(), DocError> {
    match target {
        CommentTarget::Assignment { id } => data
            .assignments
            .get(id)
            .map(|_| ())
            .ok_or_else(|| not_found("assignment", id.as_str())),
        CommentTarget::Goal { id } => data
            .goals
            .get(id)
            .map(|_| ())
            .ok_or_else(|| not_found("goal", id.as_str())),
        CommentTarget::Entry { id, field } => {
            let entry = data
                .entries
                .get(id)
                .ok_or_else(|| not_found("entry", id.as_str()))?;
            if let Some(field) = field {
                let template = HomeworkDoc::template_in(data, &entry.template)?;
                if template.field(field).is_none() {
                    return Err(ValidationError::UnknownField {
                        field: field.clone(),
                        fields: template.field_ids(),
                    }
                    .into());
                }
            }
            Ok(())
        }
    }
}

/// The empty collaborative value a field starts with, for kinds that merge inside themselves.
fn empty_value(kind: &FieldKind) -> Option<FieldValue> {
    match kind {
        FieldKind::LongText => Some(FieldValue::LongText(Text::with_value(""))),
        FieldKind::MultiChoice { .. } => Some(FieldValue::Choices(BTreeMap::new())),
        FieldKind::Checklist { .. } => Some(FieldValue::Checks(BTreeMap::new())),
        FieldKind::RatedItems { .. } => Some(FieldValue::Ratings(BTreeMap::new())),
        FieldKind::Thoughts { .. } => Some(FieldValue::Thoughts(Vec::new())),
        _ => None,
    }
}

/// Writes an update into an entry, validating every value against the template. Long text is
/// spliced into the existing text so concurrent edits on other devices survive.
fn apply_update(
    entry: &mut Entry,
    template: &Template,
    update: EntryUpdate,
) -> Result<(), DocError> {
    for field in &update.clear {
        let def = template
            .field(field)
            .ok_or_else(|| ValidationError::UnknownField {
                field: field.clone(),
                fields: template.field_ids(),
            })?;
        match empty_value(&def.kind) {
            Some(empty) => {
                entry.values.insert(field.clone(), empty);
            }
            None => {
                entry.values.remove(field);
            }
        }
    }
    validate::validate_values(template, &update.values, false)?;
    for (field, value) in &update.values {
        if let FieldValue::LongText(_) | FieldValue::Text(_) = value {
            let label = template
                .field(field)
                .map_or(field.as_str(), |f| f.label.as_str());
            check_length(label, &value.display())?;
        }
    }
    for (field, value) in update.values {
        match (entry.values.get_mut(&field), value) {
            (Some(FieldValue::LongText(existing)), FieldValue::LongText(new)) => {
                existing.update(new.as_str());
            }
            (_, value) => {
                entry.values.insert(field, value);
            }
        }
    }
    if let Some(difficulty) = update.difficulty {
        if !(0..=DIFFICULTY_MAX).contains(&difficulty) {
            return Err(ValidationError::OutOfRange {
                field: "difficulty".into(),
                value: difficulty,
                min: 0,
                max: DIFFICULTY_MAX,
            }
            .into());
        }
        entry.difficulty = Some(difficulty);
    }
    if let Some(obstacles) = update.obstacles {
        let mut chosen = BTreeMap::new();
        for obstacle in obstacles {
            let name = obstacle.trim().to_ascii_lowercase();
            if !OBSTACLES.contains(&name.as_str()) {
                return Err(ValidationError::UnknownOption {
                    field: "what got in the way".into(),
                    value: obstacle,
                    allowed: OBSTACLES.join(", "),
                }
                .into());
            }
            chosen.insert(name, true);
        }
        entry.obstacles = chosen;
    }
    Ok(())
}

/// Completes the entry when asked, after checking every required field is answered.
fn finish(
    entry: &mut Entry,
    template: &Template,
    complete: bool,
    now: Timestamp,
) -> Result<(), DocError> {
    if complete {
        validate::validate_values(template, &entry.values, true)?;
        if entry.status != EntryStatus::Complete {
            entry.status = EntryStatus::Complete;
            entry.completed_at = Some(now);
        }
    }
    Ok(())
}
