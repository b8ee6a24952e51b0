//! What the app's pages show, as JSON: built from the same homework, rules and wording as the
//! `between` commands (`today`, `show`, `progress`, `clients`), so a page and a command never
//! disagree. Nothing here writes a document.

use anyhow::Result;
use between_shared::charts;
use between_shared::measures::{entry_score, Measure};
use between_shared::model::{CommentTarget, Entry, EntryStatus, HomeworkData};
use between_shared::progress;
use between_shared::risk::{crisis_resources, risk_flags};
use between_shared::schedule::{DueItem, DueState};
use between_shared::template::vocab::{distortion_explanation, distortion_label};
use between_shared::template::{FieldKind, Template};
use between_shared::{Day, EntryId, Role};
use serde_json::{json, Value};

use crate::commands::due_items;
use crate::profile::{Homework, Place, Workspace};

/// The therapist's instructions and the practice details of an assignment, for a page.
fn assignment_json(data: &HomeworkData, id: &between_shared::AssignmentId) -> Value {
    match data.assignments.get(id) {
        Some(a) => json!({
            "id": id,
            "title": a.title,
            "instructions": a.instructions.as_str(),
            "template": a.template,
            "minutes": a.minutes,
            "focus": a.focus,
            "schedule": a.schedule.frequency.describe(),
            "status": a.status.as_str(),
            "set_by": a.created_by.name,
            "remind_at": a.remind_at,
        }),
        None => Value::Null,
    }
}

/// The newest draft entry for an assignment on `day`, to continue instead of starting again.
fn open_draft(homework: &Homework, item: &DueItem) -> Option<EntryId> {
    homework
        .data
        .entries
        .iter()
        .filter(|(_, e)| {
            e.status == EntryStatus::Draft
                && e.assignment.as_ref() == Some(&item.assignment)
                && (item.week.is_some() || e.date == item.day)
        })
        .max_by_key(|(_, e)| e.updated_at)
        .map(|(id, _)| id.clone())
}

fn state_name(state: DueState) -> &'static str {
    match state {
        DueState::Done => "done",
        DueState::InProgress => "in-progress",
        DueState::Due => "due",
        DueState::Overdue => "overdue",
        DueState::Missed => "not-done",
    }
}

/// The client's day: what is due with the instructions, days gone by summed up kindly, the
/// streak and what the therapist did since the client last looked.
pub(crate) fn today(
    ws: &Workspace,
    homework: &Homework,
    news: Vec<String>,
    week: bool,
) -> Result<Value> {
    let data = &homework.data;
    let today = ws.session.clock.today();
    let report = progress::progress(data, today);
    let mut items = Vec::new();
    let mut not_done: Vec<(String, Vec<String>)> = Vec::new();
    for item in due_items(data, today, week) {
        if item.state == DueState::Missed {
            let when = item.day.0.format("%a %-d %b").to_string();
            match not_done.iter_mut().find(|(title, _)| *title == item.title) {
                Some((_, days)) => days.push(when),
                None => not_done.push((item.title.clone(), vec![when])),
            }
            continue;
        }
        items.push(json!({
            "assignment": assignment_json(data, &item.assignment),
            "day": item.day,
            "state": state_name(item.state),
            "done_on": item.done_on,
            "week": item.week.map(|w| json!({"done": w.done, "of": w.of})),
            "draft": open_draft(homework, &item),
        }));
    }
    let not_done: Vec<Value> = not_done
        .into_iter()
        .map(|(title, days)| json!({ "title": title, "days": days }))
        .collect();
    Ok(json!({
        "today": today,
        "weekday": today.0.format("%A %-d %B").to_string(),
        "week": week,
        "client_name": data.meta.client_name,
        "therapist_name": data.meta.therapist_name,
        "items": items,
        "not_done": not_done,
        "streak": report.overall_streak,
        "entries_this_week": report.entries_this_week,
        "mood": report.mood.latest,
        "news": news,
    }))
}

/// A template as a form: its fields with their kinds and, for thinking traps, what each means.
pub(crate) fn template_json(template: &Template) -> Value {
    let fields: Vec<Value> = template
        .fields
        .iter()
        .map(|f| {
            let explanations: Value = match &f.kind {
                FieldKind::MultiChoice { options } if f.id == "distortions" => options
                    .iter()
                    .map(|o| {
                        (
                            o.clone(),
                            json!({"label": distortion_label(o), "explanation": distortion_explanation(o)}),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into(),
                _ => Value::Null,
            };
            json!({
                "id": f.id,
                "label": f.label,
                "help": f.help,
                "kind": f.kind,
                "required": f.required,
                "options_help": explanations,
                "answer_labels": answer_labels(&template.id, &f.id, &f.kind),
            })
        })
        .collect();
    json!({
        "id": template.id,
        "name": template.name,
        "description": template.description,
        "kind": template.kind.as_str(),
        "fields": fields,
    })
}

/// The words of each answer of a questionnaire item ("Not at all" … "Nearly every day").
fn answer_labels(template: &between_shared::TemplateId, field: &str, kind: &FieldKind) -> Value {
    let FieldKind::Scale { min, max } = kind else {
        return Value::Null;
    };
    if between_shared::measures::Measure::from_template(template.as_str()).is_none() {
        return Value::Null;
    }
    (*min..=*max)
        .map(|v| between_shared::measures::answer_label(field, v).map(str::to_owned))
        .collect::<Option<Vec<String>>>()
        .map_or(Value::Null, |labels| json!(labels))
}

/// The comments on an entry, with replies to them.
fn comments_of(data: &HomeworkData, entry: &EntryId) -> Vec<Value> {
    comments_where(
        data,
        |target| matches!(target, CommentTarget::Entry { id, .. } if id == entry),
    )
}

/// The comments about what `about` accepts, oldest first (a reply carries the target of the
/// comment it answers, so threads come whole).
fn comments_where(data: &HomeworkData, about: impl Fn(&CommentTarget) -> bool) -> Vec<Value> {
    let mut comments: Vec<_> = data
        .comments
        .iter()
        .filter(|(_, c)| about(&c.target))
        .collect();
    comments.sort_by_key(|(_, c)| c.created_at);
    comments
        .into_iter()
        .map(|(id, c)| {
            let field = match &c.target {
                CommentTarget::Entry { field, .. } => field.clone(),
                _ => None,
            };
            json!({
                "id": id,
                "field": field,
                "reply_to": c.reply_to,
                "author": c.author.name,
                "role": c.author.role,
                "text": c.text.as_str(),
                "at": c.created_at.to_datetime().to_rfc3339(),
                "resolved": c.resolved,
            })
        })
        .collect()
}

/// One entry as a form to fill in: the template, the values, the comments beside their fields,
/// the score of a questionnaire and, when an answer calls for it, where to get help now.
pub(crate) fn entry(ws: &mut Workspace, id: &EntryId) -> Result<Value> {
    let homework = ws.homework()?;
    let place = if homework.is_private(id) {
        Place::Private
    } else {
        Place::Shared
    };
    let heads = super::api::hex_heads(ws.doc_at(place)?);
    let data = &homework.data;
    let Some(entry) = data.entries.get(id) else {
        anyhow::bail!(between_shared::DocError::NotFound {
            what: "entry",
            id: id.to_string(),
        });
    };
    let template = homework.template(&entry.template)?;
    let score = entry_score(entry);
    let flagged = risk_flags(data).iter().any(|f| &f.entry == id);
    // As soon as PHQ-9 item 9 is answered above 0, draft or not: the person may be in danger
    // now, not when they finish the questionnaire.
    let item9 = Measure::from_template(entry.template.as_str()) == Some(Measure::Phq9)
        && entry
            .number(&between_shared::measures::item_field(9))
            .is_some_and(|answer| answer > 0);
    let help_now = (item9 || score.is_some_and(|s| s.item9_positive) || flagged)
        && ws.me().role == Role::Client;
    Ok(json!({
        "id": id,
        "heads": heads,
        "template": template_json(&template),
        "status": match entry.status { EntryStatus::Draft => "draft", EntryStatus::Complete => "complete" },
        "date": entry.date,
        "private": homework.is_private(id),
        "assignment": entry.assignment.as_ref().map(|a| assignment_json(data, a)),
        "values": entry.values,
        "difficulty": entry.difficulty,
        "obstacles": entry.obstacles.iter().filter(|(_, on)| **on).map(|(name, _)| name).collect::<Vec<_>>(),
        "created_by": entry.created_by.name,
        "updated_by": entry.updated_by.name,
        "updated_at": entry.updated_at.to_datetime().to_rfc3339(),
        "comments": comments_of(data, id),
        "score": score.map(|s| json!({
            "total": s.total, "max": s.max, "severity": s.severity.label(),
            "item9_positive": s.item9_positive,
        })),
        "help_now": help_now.then(|| crisis_resources(data)),
    }))
}

/// A line about an entry for lists: what, when, how far, who sees it.
fn entry_line(homework: &Homework, id: &EntryId, entry: &Entry) -> Value {
    let data = &homework.data;
    let title = entry
        .assignment
        .as_ref()
        .and_then(|a| data.assignments.get(a))
        .map(|a| a.title.clone())
        .or_else(|| homework.template(&entry.template).ok().map(|t| t.name))
        .unwrap_or_else(|| entry.template.to_string());
    let comments = data
        .comments
        .values()
        .filter(|c| matches!(&c.target, CommentTarget::Entry { id: e, .. } if e == id))
        .count();
    json!({
        "id": id,
        "title": title,
        "date": entry.date,
        "status": match entry.status { EntryStatus::Draft => "draft", EntryStatus::Complete => "complete" },
        "private": homework.is_private(id),
        "comments": comments,
        "by": entry.created_by.name,
    })
}

/// Every entry, newest first.
pub(crate) fn entries(ws: &Workspace) -> Result<Value> {
    let homework = ws.homework()?;
    let mut list: Vec<_> = homework.data.entries.iter().collect();
    list.sort_by_key(|(_, e)| std::cmp::Reverse((e.date, e.updated_at)));
    Ok(Value::Array(
        list.into_iter()
            .map(|(id, e)| entry_line(&homework, id, e))
            .collect(),
    ))
}

/// The templates an entry or an assignment can follow.
pub(crate) fn templates(ws: &Workspace) -> Result<Value> {
    Ok(Value::Array(
        ws.homework()?
            .templates()
            .iter()
            .map(|t| json!({"id": t.id, "name": t.name, "description": t.description, "kind": t.kind.as_str()}))
            .collect(),
    ))
}

/// Assignments (active first) and goals with their steps.
pub(crate) fn plan(ws: &Workspace) -> Result<Value> {
    let data = ws.homework()?.data;
    let mut assignments: Vec<Value> = data
        .assignments
        .keys()
        .map(|id| {
            let mut a = assignment_json(&data, id);
            a["comments"] = comments_where(
                &data,
                |t| matches!(t, CommentTarget::Assignment { id: on } if on == id),
            )
            .into();
            a
        })
        .collect();
    assignments.sort_by_key(|a| a["status"] != "active");
    let goals: Vec<Value> = data
        .goals
        .iter()
        .map(|(id, g)| {
            json!({
                "id": id,
                "title": g.title,
                "why": g.why.as_str(),
                "status": g.status,
                "steps": g.steps.iter().map(|s| json!({"id": s.id, "text": s.text, "done": s.done})).collect::<Vec<_>>(),
                "comments": comments_where(&data, |t| matches!(t, CommentTarget::Goal { id: on } if on == id)),
            })
        })
        .collect();
    Ok(json!({ "assignments": assignments, "goals": goals }))
}

/// How far back the progress charts look.
const CHART_DAYS: i64 = 56;

/// The charts the progress page shows, by name.
pub(crate) const CHARTS: [&str; 6] = [
    "mood",
    "adherence",
    "phq-9",
    "gad-7",
    "mastery-pleasure",
    "distortions",
];

/// Progress as numbers, with the addresses of the charts that have something to show.
pub(crate) fn progress(ws: &Workspace, today: Day) -> Result<Value> {
    let data = ws.homework()?.data;
    let report = progress::progress(&data, today);
    let has = |name: &str| match name {
        "mood" => true,
        "adherence" => !data.assignments.is_empty(),
        "phq-9" | "gad-7" => report.measures.iter().any(|m| m.template.as_str() == name),
        "mastery-pleasure" => {
            !report.mastery.points.is_empty() || !report.pleasure.points.is_empty()
        }
        "distortions" => !report.distortions.is_empty(),
        _ => false,
    };
    let charts: Vec<Value> = CHARTS
        .iter()
        .filter(|name| has(name))
        .map(|name| {
            json!({
                "name": name,
                "title": chart_title(name),
                "alt": chart_title(name),
                "url": format!("/api/docs/{}/charts/{name}.svg", ws.record.id),
            })
        })
        .collect();
    Ok(json!({ "report": report, "charts": charts }))
}

fn chart_title(name: &str) -> &'static str {
    match name {
        "mood" => "Mood over the last eight weeks",
        "adherence" => "Homework done, day by day",
        "phq-9" => "PHQ-9 scores, with the severity bands",
        "gad-7" => "GAD-7 scores, with the severity bands",
        "mastery-pleasure" => "Achievement and enjoyment of activities",
        _ => "Thinking traps noticed",
    }
}

/// One progress chart as SVG, drawn here so every device shows the same picture, offline.
pub(crate) fn chart(ws: &Workspace, name: &str, today: Day) -> Result<Option<String>> {
    let data = ws.homework()?.data;
    let report = progress::progress(&data, today);
    let from = today.add_days(1 - CHART_DAYS);
    Ok(Some(match name {
        "mood" => charts::trend_chart("Mood", &report.mood, 0.0, 10.0, from, today),
        "adherence" => {
            let items = between_shared::schedule::due_between(&data, from, today, today);
            charts::adherence_calendar(&items, from, today, today)
        }
        "phq-9" => charts::measure_chart(Measure::Phq9, &report.measures, from, today),
        "gad-7" => charts::measure_chart(Measure::Gad7, &report.measures, from, today),
        "mastery-pleasure" => {
            charts::mastery_pleasure_chart(&report.mastery, &report.pleasure, from, today)
        }
        "distortions" => charts::distortion_chart(&report.distortions),
        _ => return Ok(None),
    }))
}
