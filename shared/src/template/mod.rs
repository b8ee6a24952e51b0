//! Worksheet templates: the fields a piece of homework asks for, and the values an entry holds.
//!
//! Built-in templates (thought record, behavioural activation, mood check-in, ...) and a
//! therapist's custom templates are the same data, so one validator, one prompt loop and one
//! renderer serve them all. Custom templates are stored in the document so that every device can
//! render them; built-in ones ship with the code and are looked up by slug.

pub mod builtin;
pub mod input;
pub mod validate;
pub mod vocab;

use crate::author::Author;
use crate::ids::{TemplateId, ThoughtId};
use crate::time::Timestamp;
use autosurgeon::{Hydrate, Reconcile, Text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A worksheet: a named list of fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Template {
    /// Slug for built-ins (`thought-record`), `custom-<uuid>` for custom ones.
    pub id: TemplateId,
    /// What people call it ("CBT thought record").
    pub name: String,
    /// One or two sentences on what it is for.
    pub description: String,
    /// The entry kind it produces, used to group entries and compute progress.
    pub kind: EntryKind,
    /// The fields, in the order they are asked.
    pub fields: Vec<FieldDef>,
    /// Who defined it; `None` for built-ins.
    pub created_by: Option<Author>,
    /// When it was defined; `None` for built-ins.
    pub created_at: Option<Timestamp>,
}

impl Template {
    /// The ids of its fields, comma separated, for messages that list what is allowed.
    pub fn field_ids(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The field with this id, if the template has it.
    pub fn field(&self, field_id: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.id == field_id)
    }
}

/// The broad kind of an entry; progress views group entries by it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// CBT thought record.
    #[autosurgeon(rename = "thought-record")]
    ThoughtRecord,
    /// Behavioural activation: a planned activity and how it went.
    #[autosurgeon(rename = "behavioural-activation")]
    BehaviouralActivation,
    /// Mood check-in.
    #[autosurgeon(rename = "mood-check-in")]
    MoodCheckIn,
    /// Journaling, with or without a prompt.
    #[autosurgeon(rename = "journal")]
    Journal,
    /// Mindfulness or meditation practice log.
    #[autosurgeon(rename = "mindfulness")]
    Mindfulness,
    /// Daily affirmations and positive self-talk.
    #[autosurgeon(rename = "affirmation")]
    Affirmation,
    /// Self-care routine.
    #[autosurgeon(rename = "self-care")]
    SelfCare,
    /// Weekly reflection on the homework's impact.
    #[autosurgeon(rename = "weekly-reflection")]
    WeeklyReflection,
    /// A standard measure scored on the device (PHQ-9, GAD-7).
    #[autosurgeon(rename = "measure")]
    Measure,
    /// An entry following a therapist's custom template.
    #[autosurgeon(rename = "custom")]
    Custom,
}

impl EntryKind {
    /// The kebab-case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::ThoughtRecord => "thought-record",
            EntryKind::BehaviouralActivation => "behavioural-activation",
            EntryKind::MoodCheckIn => "mood-check-in",
            EntryKind::Journal => "journal",
            EntryKind::Mindfulness => "mindfulness",
            EntryKind::Affirmation => "affirmation",
            EntryKind::SelfCare => "self-care",
            EntryKind::WeeklyReflection => "weekly-reflection",
            EntryKind::Measure => "measure",
            EntryKind::Custom => "custom",
        }
    }
}

/// One field of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct FieldDef {
    /// Stable id within the template (`balanced_thought`); comments anchor to it.
    #[key]
    pub id: String,
    /// The question as shown to the client.
    pub label: String,
    /// Extra guidance shown under the question; may be empty.
    pub help: String,
    /// What kind of answer it takes.
    pub kind: FieldKind,
    /// Whether the entry can be completed without it (drafts may always leave it empty).
    pub required: bool,
}

/// The kind of answer a field takes, with its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FieldKind {
    /// One line of text.
    #[autosurgeon(rename = "short-text")]
    ShortText,
    /// Free text, edited collaboratively character by character.
    #[autosurgeon(rename = "long-text")]
    LongText,
    /// A whole number between two bounds, inclusive (ratings, minutes, questionnaire items).
    #[autosurgeon(rename = "scale")]
    Scale {
        /// Lowest allowed value.
        min: i64,
        /// Highest allowed value.
        max: i64,
    },
    /// Yes or no.
    #[autosurgeon(rename = "yes-no")]
    YesNo,
    /// A date and time of day (`YYYY-MM-DD HH:MM`), stored as written.
    #[autosurgeon(rename = "date-time")]
    DateTime,
    /// Exactly one of the options.
    #[autosurgeon(rename = "single-choice")]
    SingleChoice {
        /// The allowed options.
        options: Vec<String>,
    },
    /// Any number of the options.
    #[autosurgeon(rename = "multi-choice")]
    MultiChoice {
        /// The allowed options.
        options: Vec<String>,
    },
    /// A checklist: each item ticked or not.
    #[autosurgeon(rename = "checklist")]
    Checklist {
        /// The items.
        items: Vec<String>,
    },
    /// Named items each rated on a scale, e.g. emotions with intensity 0–100.
    #[autosurgeon(rename = "rated-items")]
    RatedItems {
        /// Lowest allowed rating.
        min: i64,
        /// Highest allowed rating.
        max: i64,
        /// Allowed item names; empty means any name.
        vocabulary: Vec<String>,
        /// Whether names outside `vocabulary` are accepted too: the vocabulary is then a list
        /// of suggestions (the emotions of the built-in worksheets: a person's own word for
        /// what they feel is never refused). Absent from templates written before.
        #[autosurgeon(missing = "Default::default")]
        #[serde(default)]
        open: bool,
    },
    /// Automatic thoughts, each with a belief rating and an optional "hot thought" mark.
    #[autosurgeon(rename = "thoughts")]
    Thoughts {
        /// Lowest belief rating.
        min: i64,
        /// Highest belief rating.
        max: i64,
    },
}

/// The value an entry holds for one field.
///
/// Maps rather than lists hold selections and ratings, so two devices that each tick a different
/// option concurrently both keep their tick after merging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum FieldValue {
    /// A short text answer.
    #[autosurgeon(rename = "text")]
    Text(String),
    /// A collaborative long text answer.
    #[autosurgeon(rename = "long-text")]
    #[serde(with = "crate::text_json")]
    LongText(Text),
    /// A number (scale).
    #[autosurgeon(rename = "number")]
    Number(i64),
    /// Yes or no.
    #[autosurgeon(rename = "yes-no")]
    YesNo(bool),
    /// A date and time as written (`YYYY-MM-DD HH:MM`).
    #[autosurgeon(rename = "date-time")]
    DateTime(String),
    /// The chosen option of a single choice.
    #[autosurgeon(rename = "choice")]
    Choice(String),
    /// The chosen options of a multi choice (option → true).
    #[autosurgeon(rename = "choices")]
    Choices(BTreeMap<String, bool>),
    /// Checklist items and whether each is ticked.
    #[autosurgeon(rename = "checks")]
    Checks(BTreeMap<String, bool>),
    /// Item name → rating.
    #[autosurgeon(rename = "ratings")]
    Ratings(BTreeMap<String, i64>),
    /// Automatic thoughts.
    #[autosurgeon(rename = "thoughts")]
    Thoughts(Vec<Thought>),
}

/// One automatic thought in a thought record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Thought {
    /// Keeps concurrent additions apart when lists merge.
    #[key]
    pub id: String,
    /// The thought as the client put it.
    pub text: String,
    /// How strongly it is believed, within the field's bounds.
    pub belief: Option<i64>,
    /// Whether this is the "hot" thought, the one carrying most emotion.
    pub hot: bool,
}

impl Thought {
    /// A new thought with a fresh id.
    pub fn new(text: impl Into<String>, belief: Option<i64>, hot: bool) -> Self {
        Self {
            id: ThoughtId::random().to_string(),
            text: text.into(),
            belief,
            hot,
        }
    }
}

impl FieldValue {
    /// Whether the value counts as "not answered" (empty text, no choices, ...).
    pub fn is_empty(&self) -> bool {
        match self {
            FieldValue::Text(s) | FieldValue::DateTime(s) | FieldValue::Choice(s) => {
                s.trim().is_empty()
            }
            FieldValue::LongText(t) => t.as_str().trim().is_empty(),
            FieldValue::Number(_) | FieldValue::YesNo(_) => false,
            FieldValue::Choices(m) | FieldValue::Checks(m) => !m.values().any(|v| *v),
            FieldValue::Ratings(m) => m.is_empty(),
            FieldValue::Thoughts(t) => t.is_empty(),
        }
    }

    /// The number, if this is a number.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            FieldValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The selected options of a multi choice, in order.
    pub fn selected(&self) -> Vec<&str> {
        match self {
            FieldValue::Choices(m) | FieldValue::Checks(m) => m
                .iter()
                .filter(|(_, on)| **on)
                .map(|(k, _)| k.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// How the answer reads to people in field `field` of an entry of `kind`: a
    /// questionnaire's answers as the instrument labels them ("2 — more than half the days"),
    /// thinking traps by their readable names ("Mind reading"), anything else as
    /// [`FieldValue::display`].
    pub fn shown_in(&self, kind: EntryKind, field: &str) -> String {
        match self {
            FieldValue::Number(n) if kind == EntryKind::Measure => {
                crate::measures::shown_answer(field, *n)
            }
            FieldValue::Choices(_) if field == builtin::field::DISTORTIONS => self
                .selected()
                .iter()
                .map(|name| match vocab::distortion_label(name) {
                    "" => name.to_string(),
                    label => label.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => self.display(),
        }
    }

    /// A one-line human rendering of the value.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(s) | FieldValue::DateTime(s) | FieldValue::Choice(s) => s.clone(),
            FieldValue::LongText(t) => t.as_str().to_string(),
            FieldValue::Number(n) => n.to_string(),
            FieldValue::YesNo(b) => if *b { "yes" } else { "no" }.to_string(),
            FieldValue::Choices(_) | FieldValue::Checks(_) => self.selected().join(", "),
            FieldValue::Ratings(m) => m
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            FieldValue::Thoughts(ts) => ts
                .iter()
                .map(|t| {
                    let belief = t.belief.map(|b| format!(" ({b})")).unwrap_or_default();
                    let hot = if t.hot { " [hot]" } else { "" };
                    format!("{}{belief}{hot}", t.text)
                })
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_people_name_them() {
        let traps = FieldValue::Choices(
            [
                ("mental-filter".to_owned(), true),
                ("mind-reading".to_owned(), true),
            ]
            .into(),
        );
        assert_eq!(
            traps.shown_in(EntryKind::ThoughtRecord, builtin::field::DISTORTIONS),
            "Mental filter, Mind reading"
        );
        // Another field with the same names is shown as written.
        assert_eq!(
            traps.shown_in(EntryKind::ThoughtRecord, "other"),
            "mental-filter, mind-reading"
        );
        assert_eq!(
            FieldValue::Number(2).shown_in(EntryKind::Measure, "item_1"),
            "2 — more than half the days"
        );
        assert_eq!(
            FieldValue::Number(2).shown_in(EntryKind::MoodCheckIn, "mood"),
            "2"
        );
    }
}
