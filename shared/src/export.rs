//! A readable Markdown export of a homework document: goals, assignments with their history,
//! entries with every answer and the comments on them, each with its author. (The JSON export
//! is the serde form of [`HomeworkData`], which reads back into the same records.)
//!
//! A completed questionnaire shows its score and band, and its risk flag (see [`crate::risk`])
//! with whether and how the therapist acknowledged it.
//!
//! A client's export also holds their private entries (from their private document), each
//! marked as private so the reader knows the therapist has never seen it.

use crate::ids::EntryId;
use crate::measures;
use crate::model::{Comment, CommentTarget, Entry, EntryStatus, HomeworkData};
use crate::risk::{risk_flags, RiskFlag};
use crate::template::Template;
use std::collections::BTreeSet;
use std::fmt::Write;

/// The mark of a private entry in the export.
const PRIVATE_MARK: &str =
    "*Private — only on the client's own devices; the therapist cannot see it.*";

/// Renders the whole document as Markdown. `templates` are the templates its entries follow
/// (built-in and custom), used for field labels; the entries in `private` are marked as private
/// (a client's export of both their documents; empty for the shared document alone).
pub fn markdown(
    data: &HomeworkData,
    templates: &[Template],
    private: &BTreeSet<EntryId>,
) -> String {
    let mut out = String::new();
    write_heading(&mut out, data, private);
    write_goals(&mut out, data);
    write_assignments(&mut out, data);
    write_entries(&mut out, data, templates, private);
    out
}

/// Whose homework this is, who started it, and how many private entries the export includes.
fn write_heading(out: &mut String, data: &HomeworkData, private: &BTreeSet<EntryId>) {
    let meta = &data.meta;
    let _ = writeln!(out, "# Homework of {}\n", meta.client_name);
    if let Some(therapist) = &meta.therapist_name {
        let _ = writeln!(out, "Therapist: {therapist}  ");
    }
    let _ = writeln!(out, "Started {} by {}\n", meta.created_at, meta.created_by);
    if !private.is_empty() {
        let _ = writeln!(
            out,
            "This export includes {} private {}, marked below: only on the client's own devices, never seen by the therapist.\n",
            private.len(),
            if private.len() == 1 { "entry" } else { "entries" }
        );
    }
}

/// The comments on `target`, oldest first, as quoted lines (nothing when there are none).
fn write_comments(out: &mut String, data: &HomeworkData, target: &CommentTarget) {
    let mut found: Vec<&Comment> = data
        .comments
        .values()
        .filter(|c| &c.target == target)
        .collect();
    if found.is_empty() {
        return;
    }
    found.sort_by_key(|c| c.created_at);
    for c in found {
        let resolved = if c.resolved { " (resolved)" } else { "" };
        let reply = if c.reply_to.is_some() { "↳ " } else { "" };
        let _ = writeln!(
            out,
            "> {reply}**{}** ({}): {}{resolved}",
            c.author,
            c.created_at,
            c.text.as_str()
        );
    }
    out.push('\n');
}

/// Each goal with its steps and comments.
fn write_goals(out: &mut String, data: &HomeworkData) {
    let _ = writeln!(out, "## Goals\n");
    if data.goals.is_empty() {
        let _ = writeln!(out, "None yet.\n");
    }
    for (id, goal) in &data.goals {
        let _ = writeln!(out, "### {} ({:?})\n", goal.title, goal.status);
        if !goal.why.as_str().is_empty() {
            let _ = writeln!(out, "Why it matters: {}\n", goal.why.as_str());
        }
        for step in &goal.steps {
            let _ = writeln!(
                out,
                "- [{}] {}",
                if step.done { "x" } else { " " },
                step.text
            );
        }
        let _ = writeln!(out, "\nSet by {} on {}\n", goal.created_by, goal.created_at);
        write_comments(out, data, &CommentTarget::Goal { id: id.clone() });
    }
}

/// Each assignment with its schedule, the history of its changes and its comments.
fn write_assignments(out: &mut String, data: &HomeworkData) {
    let _ = writeln!(out, "## Assignments\n");
    if data.assignments.is_empty() {
        let _ = writeln!(out, "None yet.\n");
    }
    for (id, a) in &data.assignments {
        let _ = writeln!(out, "### {} ({})\n", a.title, a.status.as_str());
        let _ = writeln!(out, "- Template: {}", a.template);
        let _ = writeln!(
            out,
            "- When: {} from {}",
            a.schedule.frequency.describe(),
            a.schedule.starts_on
        );
        if let Some(minutes) = a.minutes {
            let _ = writeln!(out, "- Duration: {minutes} min");
        }
        if let Some(focus) = &a.focus {
            let _ = writeln!(out, "- Focus: {focus}");
        }
        let _ = writeln!(out, "- Assigned by {} on {}", a.created_by, a.created_at);
        if !a.instructions.as_str().is_empty() {
            let _ = writeln!(out, "\n{}", a.instructions.as_str());
        }
        for h in &a.history {
            let _ = writeln!(
                out,
                "- {} changed {}: {} → {} ({})",
                h.by,
                h.kind.as_str(),
                h.from,
                h.to,
                h.why
            );
        }
        out.push('\n');
        write_comments(out, data, &CommentTarget::Assignment { id: id.clone() });
    }
}

/// Every entry, by date.
fn write_entries(
    out: &mut String,
    data: &HomeworkData,
    templates: &[Template],
    private: &BTreeSet<EntryId>,
) {
    let flags = risk_flags(data);
    let _ = writeln!(out, "## Entries\n");
    let mut entries: Vec<_> = data.entries.iter().collect();
    entries.sort_by_key(|(_, e)| (e.date, e.created_at));
    if entries.is_empty() {
        let _ = writeln!(out, "None yet.\n");
    }
    for (id, entry) in entries {
        let template = templates.iter().find(|t| t.id == entry.template);
        let name = template.map_or(entry.template.as_str(), |t| t.name.as_str());
        let status = if entry.status == EntryStatus::Complete {
            "complete"
        } else {
            "draft"
        };
        let _ = writeln!(out, "### {} — {name} ({status})\n", entry.date);
        if private.contains(id) {
            let _ = writeln!(out, "{PRIVATE_MARK}\n");
        }
        let _ = writeln!(
            out,
            "Written by {} on {}\n",
            entry.created_by, entry.created_at
        );
        write_fields(out, data, id, entry, template);
        if let Some(score) = measures::entry_score(entry) {
            let _ = writeln!(
                out,
                "**Score**: {} of {} — {}\n",
                score.total, score.max, score.severity
            );
        }
        if let Some(flag) = flags.iter().find(|f| &f.entry == id) {
            write_risk_flag(out, flag);
        }
        if let Some(d) = entry.difficulty {
            let _ = writeln!(out, "Difficulty: {d}/10\n");
        }
        write_comments(
            out,
            data,
            &CommentTarget::Entry {
                id: id.clone(),
                field: None,
            },
        );
    }
}

/// An entry's filled-in fields with the comments on each: in the template's order first (as the
/// client filled it in), then any field the template no longer has, so nothing typed is left
/// out of the export.
fn write_fields(
    out: &mut String,
    data: &HomeworkData,
    id: &EntryId,
    entry: &Entry,
    template: Option<&Template>,
) {
    let mut order: Vec<(&str, &str)> = template
        .map(|t| {
            t.fields
                .iter()
                .map(|f| (f.id.as_str(), f.label.as_str()))
                .collect()
        })
        .unwrap_or_default();
    for field_id in entry.values.keys() {
        if !order.iter().any(|(id, _)| id == field_id) {
            order.push((field_id.as_str(), field_id.as_str()));
        }
    }
    for (field_id, label) in order {
        let Some(value) = entry.values.get(field_id).filter(|v| !v.is_empty()) else {
            continue;
        };
        let shown = value.shown_in(entry.kind, field_id);
        let _ = writeln!(out, "**{label}**: {shown}\n");
        write_comments(
            out,
            data,
            &CommentTarget::Entry {
                id: id.clone(),
                field: Some(field_id.to_string()),
            },
        );
    }
}

/// A risk answer's reasons and whether the therapist acknowledged it.
fn write_risk_flag(out: &mut String, flag: &RiskFlag) {
    let reasons: Vec<String> = flag.reasons.iter().map(ToString::to_string).collect();
    let state = match &flag.acknowledged {
        None => "not acknowledged yet".to_owned(),
        Some(done) if done.note.is_empty() => {
            format!("acknowledged by {} on {}", done.by, done.at)
        }
        Some(done) => format!(
            "acknowledged by {} on {}: \"{}\"",
            done.by, done.at, done.note
        ),
    };
    let _ = writeln!(out, "**Risk flag**: {} ({state})\n", reasons.join("; "));
}
