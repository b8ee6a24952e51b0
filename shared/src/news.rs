//! What the other side did, in words: the comments (with their text), replies, new and adjusted
//! assignments, goals, acknowledgements and crisis resources a therapist wrote, for the client
//! to read after `between sync` or in `between today`; and, for a therapist, what a client
//! wrote.
//!
//! Every record the document holds has a key ([`record_keys`]); what is news is a record by
//! someone in the other role whose key the reader does not know yet. "Known" is decided by the
//! caller: the keys the document had before a sync, or the records a device already showed.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::author::{Author, Role};
use crate::model::{AdjustmentKind, CommentTarget, HomeworkData};
use crate::template::builtin;
use crate::time::{Day, Timestamp};
use crate::TemplateId;

/// One thing someone in the other role did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum News {
    /// A comment, or a reply to one.
    Comment {
        /// Who wrote it.
        by: Author,
        /// What it is about, in words ("your Thought record of 2026-03-02, balanced thought").
        on: String,
        /// The comment.
        text: String,
        /// Whether it answers another comment.
        reply: bool,
    },
    /// New homework.
    Assignment {
        /// Who assigned it.
        by: Author,
        /// Its title.
        title: String,
        /// How often ("every day").
        schedule: String,
    },
    /// An assignment changed: its schedule, length, focus or status.
    Adjusted {
        /// Who changed it.
        by: Author,
        /// The assignment's title.
        title: String,
        /// What changed, in words ("minutes: 20 → 10").
        change: String,
        /// Why, when they said.
        why: String,
    },
    /// A new goal.
    Goal {
        /// Who set it.
        by: Author,
        /// Its title.
        title: String,
    },
    /// A new entry (what a therapist hears of a client).
    Entry {
        /// Who wrote it.
        by: Author,
        /// The worksheet's name.
        worksheet: String,
        /// The day it is for.
        date: Day,
    },
    /// The therapist saw a questionnaire's risk flag.
    RiskSeen {
        /// The therapist.
        by: Author,
        /// The questionnaire ("PHQ-9 of 2026-03-02").
        questionnaire: String,
    },
    /// The practice's crisis resources changed (`between help-now`).
    CrisisResources {
        /// Who set them.
        by: Author,
    },
}

impl News {
    /// One line a person reads.
    pub fn describe(&self) -> String {
        match self {
            News::Comment {
                by,
                on,
                text,
                reply: false,
            } => format!("{} commented on {on}: “{text}”", by.name),
            News::Comment {
                by,
                on,
                text,
                reply: true,
            } => format!("{} replied about {on}: “{text}”", by.name),
            News::Assignment {
                by,
                title,
                schedule,
            } => format!("New homework from {}: {title}, {schedule}", by.name),
            News::Adjusted {
                by,
                title,
                change,
                why,
            } => {
                let why = if why.trim().is_empty() {
                    String::new()
                } else {
                    format!(" — “{why}”")
                };
                format!("{} changed {title}: {change}{why}", by.name)
            }
            News::Goal { by, title } => format!("{} set a goal: {title}", by.name),
            News::Entry {
                by,
                worksheet,
                date,
            } => format!("{} did {worksheet} ({date})", by.name),
            News::RiskSeen { by, questionnaire } => {
                format!("{} saw your answers in the {questionnaire}", by.name)
            }
            News::CrisisResources { by } => format!(
                "{} updated the crisis resources (`between help-now` shows them)",
                by.name
            ),
        }
    }
}

/// A piece of news with the key of the record it comes from and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The record's key ([`record_keys`]), to remember it as shown.
    pub key: String,
    /// When it was written (the writer's clock).
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub news: News,
}

/// Every record of `data` that can be news: its key, when and by whom it was written, and
/// what it says to `reader` (`None`: nothing to them, e.g. a client's entry to the client).
fn records(data: &HomeworkData, reader: Role) -> Vec<(String, Timestamp, &Author, Option<News>)> {
    let mut out = Vec::new();
    for (id, c) in &data.comments {
        let news = News::Comment {
            by: c.author.clone(),
            on: comment_subject(data, &c.target, reader),
            text: c.text.as_str().to_owned(),
            reply: c.reply_to.is_some(),
        };
        out.push((id.to_string(), c.created_at, &c.author, Some(news)));
    }
    for (id, a) in &data.assignments {
        let news = News::Assignment {
            by: a.created_by.clone(),
            title: a.title.clone(),
            schedule: a.schedule.frequency.describe(),
        };
        out.push((id.to_string(), a.created_at, &a.created_by, Some(news)));
        for adj in &a.history {
            let what = match adj.kind {
                AdjustmentKind::Frequency => "how often",
                AdjustmentKind::Duration => "length",
                AdjustmentKind::Focus => "focus",
                AdjustmentKind::Status => "status",
            };
            let news = News::Adjusted {
                by: adj.by.clone(),
                title: a.title.clone(),
                change: format!("{what}: {} → {}", adj.from, adj.to),
                why: adj.why.clone(),
            };
            out.push((format!("{id}/{}", adj.id), adj.at, &adj.by, Some(news)));
        }
    }
    for (id, g) in &data.goals {
        let news = News::Goal {
            by: g.created_by.clone(),
            title: g.title.clone(),
        };
        out.push((id.to_string(), g.created_at, &g.created_by, Some(news)));
    }
    for (id, e) in &data.entries {
        let news = (reader == Role::Therapist).then(|| News::Entry {
            by: e.created_by.clone(),
            worksheet: worksheet_name(data, &e.template),
            date: e.date,
        });
        out.push((id.to_string(), e.created_at, &e.created_by, news));
    }
    for (entry, ack) in &data.risk_acknowledgements {
        let questionnaire = data
            .entries
            .get(entry)
            .map(|e| format!("{} of {}", worksheet_name(data, &e.template), e.date))
            .unwrap_or_else(|| "questionnaire".to_owned());
        let news = News::RiskSeen {
            by: ack.by.clone(),
            questionnaire,
        };
        out.push((format!("risk/{entry}"), ack.at, &ack.by, Some(news)));
    }
    if let Some(resources) = &data.crisis_resources {
        let news = News::CrisisResources {
            by: resources.set_by.clone(),
        };
        out.push((
            format!("crisis-resources/{}", resources.set_at.0),
            resources.set_at,
            &resources.set_by,
            Some(news),
        ));
    }
    out
}

/// The keys of every record of `data` that can be news.
pub fn record_keys(data: &HomeworkData) -> BTreeSet<String> {
    data.comments
        .keys()
        .map(ToString::to_string)
        .chain(data.assignments.iter().flat_map(|(id, a)| {
            std::iter::once(id.to_string())
                .chain(a.history.iter().map(move |adj| format!("{id}/{}", adj.id)))
        }))
        .chain(data.goals.keys().map(ToString::to_string))
        .chain(data.entries.keys().map(ToString::to_string))
        .chain(
            data.risk_acknowledgements
                .keys()
                .map(|e| format!("risk/{e}")),
        )
        .chain(
            data.crisis_resources
                .iter()
                .map(|r| format!("crisis-resources/{}", r.set_at.0)),
        )
        .collect()
}

/// What people in the other role than `reader` wrote in `data` whose key `known` does not
/// know, oldest first. A client hears of comments, assignments, adjustments, goals,
/// acknowledgements and crisis resources; a therapist also of entries.
pub fn news(data: &HomeworkData, reader: Role, known: impl Fn(&str) -> bool) -> Vec<Item> {
    let mut items: Vec<Item> = records(data, reader)
        .into_iter()
        .filter(|(key, _, by, _)| by.role != reader && !known(key))
        .filter_map(|(key, at, _, news)| news.map(|news| Item { key, at, news }))
        .collect();
    items.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.key.cmp(&b.key)));
    items
}

/// The name of a worksheet: the built-in's or the document's own template's, else its id.
fn worksheet_name(data: &HomeworkData, id: &TemplateId) -> String {
    builtin::builtin(id.as_str())
        .map(|t| t.name)
        .or_else(|| data.templates.get(id).map(|t| t.name.clone()))
        .unwrap_or_else(|| id.to_string())
}

/// What a comment is about, in words for `reader`.
fn comment_subject(data: &HomeworkData, target: &CommentTarget, reader: Role) -> String {
    let whose = if reader == Role::Client { "your " } else { "" };
    match target {
        CommentTarget::Entry { id, field } => {
            let Some(entry) = data.entries.get(id) else {
                return "an entry".to_owned();
            };
            let name = worksheet_name(data, &entry.template);
            let field = field
                .as_deref()
                .map(|f| {
                    let label = data
                        .templates
                        .get(&entry.template)
                        .cloned()
                        .or_else(|| builtin::builtin(entry.template.as_str()))
                        .and_then(|t| t.field(f).map(|d| d.label.clone()))
                        .unwrap_or_else(|| f.to_owned());
                    format!(" (“{label}”)")
                })
                .unwrap_or_default();
            format!("{whose}{name} of {}{field}", entry.date)
        }
        CommentTarget::Assignment { id } => data
            .assignments
            .get(id)
            .map(|a| format!("the homework “{}”", a.title))
            .unwrap_or_else(|| "an assignment".to_owned()),
        CommentTarget::Goal { id } => data
            .goals
            .get(id)
            .map(|g| format!("{whose}goal “{}”", g.title))
            .unwrap_or_else(|| "a goal".to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::document::{AssignmentAdjustment, EntryUpdate, NewAssignment, NewEntry};
    use crate::model::{Frequency, Schedule};
    use crate::template::FieldValue;
    use crate::HomeworkDoc;

    fn at(minutes: i64) -> Timestamp {
        Timestamp(1_772_442_000_000 + minutes * 60_000)
    }

    #[test]
    fn the_client_hears_what_the_therapist_did_and_nothing_twice() {
        let sam = Author::new(Role::Client, "Sam");
        let dr = Author::new(Role::Therapist, "Dr Rivera");
        let mut doc = HomeworkDoc::create(b"actor-1", "Sam", &dr, at(0)).unwrap();
        let entry = doc
            .create_entry(
                &sam,
                at(1),
                NewEntry {
                    template: TemplateId::from("thought-record".to_owned()),
                    assignment: None,
                    date: "2026-03-02".parse::<Day>().unwrap(),
                    update: EntryUpdate {
                        values: [(
                            "situation".to_owned(),
                            FieldValue::LongText(autosurgeon::Text::with_value("Meeting")),
                        )]
                        .into(),
                        ..EntryUpdate::default()
                    },
                },
                false,
            )
            .unwrap();
        let before = record_keys(&doc.data().unwrap());
        let homework = doc
            .create_assignment(
                &dr,
                at(2),
                NewAssignment {
                    title: "Mood check-in".into(),
                    template: TemplateId::from("mood-check-in".to_owned()),
                    instructions: String::new(),
                    schedule: Schedule {
                        frequency: Frequency::Daily,
                        starts_on: "2026-03-02".parse::<Day>().unwrap(),
                        ends_on: None,
                    },
                    minutes: Some(20),
                    focus: None,
                    goal: None,
                    remind_at: None,
                },
            )
            .unwrap();
        doc.adjust_assignment(
            &dr,
            at(3),
            &homework,
            AssignmentAdjustment {
                minutes: Some(Some(10)),
                ..AssignmentAdjustment::default()
            },
            "twenty minutes was too long",
        )
        .unwrap();
        let target = CommentTarget::Entry {
            id: entry.clone(),
            field: Some("situation".into()),
        };
        let comment = doc
            .add_comment(&dr, at(4), Some(target), None, "What happened next?")
            .unwrap();
        doc.add_comment(&sam, at(5), None, Some(comment.clone()), "I left early.")
            .unwrap();
        doc.add_comment(&dr, at(6), None, Some(comment), "That took courage.")
            .unwrap();
        let data = doc.data().unwrap();

        let lines: Vec<String> = news(&data, Role::Client, |k| before.contains(k))
            .iter()
            .map(|item| item.news.describe())
            .collect();
        assert_eq!(
            lines,
            vec![
                "New homework from Dr Rivera: Mood check-in, every day".to_owned(),
                "Dr Rivera changed Mood check-in: length: 20 min → 10 min — “twenty minutes was too long”"
                    .to_owned(),
                "Dr Rivera commented on your CBT thought record of 2026-03-02 (“What was the situation?”): “What happened next?”"
                    .to_owned(),
                "Dr Rivera replied about your CBT thought record of 2026-03-02 (“What was the situation?”): “That took courage.”"
                    .to_owned(),
            ]
        );
        // Known records are not news again; the client's own are never news to them.
        let all = record_keys(&data);
        assert!(news(&data, Role::Client, |k| all.contains(k)).is_empty());
        // The therapist hears of the client's entry and reply.
        let for_therapist: Vec<String> = news(&data, Role::Therapist, |_| false)
            .iter()
            .map(|item| item.news.describe())
            .collect();
        assert_eq!(
            for_therapist,
            vec![
                "Sam did CBT thought record (2026-03-02)".to_owned(),
                "Sam replied about CBT thought record of 2026-03-02 (“What was the situation?”): “I left early.”"
                    .to_owned(),
            ]
        );
    }
}
