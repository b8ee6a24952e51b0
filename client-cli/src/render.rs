//! Plain-text rendering of records for the terminal: an entry with its comments in place, an
//! assignment with its history, a goal with its steps, a template's fields, measure scores.
//! Every rendering says who wrote what, and on which device when this device knows
//! ([`Provenance`]); on a client's profile, every entry also says who can see it.

use between_shared::measures::{self, MeasureScore};
use between_shared::model::{
    Assignment, Comment, CommentTarget, Entry, EntryStatus, Goal, GoalStatus, HomeworkData,
};
use between_shared::risk::{risk_flags, RiskFlag};
use between_shared::template::input::describe_kind;
use between_shared::template::Template;
use between_shared::{AssignmentId, CommentId, EntryId, GoalId};
use std::fmt::Write;

use crate::audience::Audience;
use crate::provenance::Provenance;

/// Who can see what is in a client's private document.
pub(crate) const ONLY_YOURS: &str = "only on your devices; your therapist cannot see it";

/// What a client's views say about an entry that is private: kept in their private document.
pub(crate) const PRIVATE_NOTE: &str =
    "private — only on your devices; your therapist cannot see it";

/// `n thing` / `n things`.
pub(crate) fn plural(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Who can see an entry, as a phrase: only the client's devices (`private`), or whoever sees
/// their shared homework.
pub(crate) fn who_sees(private: bool, audience: Audience) -> String {
    if private {
        PRIVATE_NOTE.to_owned()
    } else {
        audience.shared_note()
    }
}

/// Who can see an entry, as a sentence.
pub(crate) fn visibility(private: bool, audience: Audience) -> String {
    let mut sentence = who_sees(private, audience);
    if let Some(first) = sentence.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    sentence.push('.');
    sentence
}

/// The word for a goal's status.
pub(crate) fn goal_status(status: GoalStatus) -> &'static str {
    match status {
        GoalStatus::Active => "active",
        GoalStatus::Achieved => "achieved",
        GoalStatus::Dropped => "dropped",
    }
}

/// A measure's score with its band, and a safety note with the crisis resources (the
/// practice's, or the default) when PHQ-9 item 9 is answered above 0.
pub(crate) fn measure_score(score: &MeasureScore, crisis_resources: &str) -> String {
    let mut text = format!(
        "{} score: {} of {} — {}",
        score.measure, score.total, score.max, score.severity
    );
    if score.item9_positive {
        let _ = write!(
            text,
            "\nYou answered that you have had thoughts of being better off dead or of hurting yourself. \
             Please talk to your therapist about this soon.\n{crisis_resources}\n\
             `between help-now` shows this again at any time."
        );
    }
    text
}

/// A template and its fields.
pub(crate) fn template(template: &Template) -> String {
    let mut out = format!(
        "{} ({})\n{}\n\n",
        template.name, template.id, template.description
    );
    for field in &template.fields {
        let required = if field.required { " (required)" } else { "" };
        let _ = writeln!(out, "  {:<18} {}{required}", field.id, field.label);
        let _ = writeln!(out, "  {:<18} {}", "", describe_kind(&field.kind));
        if !field.help.is_empty() {
            let _ = writeln!(out, "  {:<18} {}", "", field.help);
        }
    }
    out
}

/// The comments on a target, threaded: each top-level comment then its replies.
fn comment_threads(
    data: &HomeworkData,
    target: &CommentTarget,
    indent: &str,
    prov: &Provenance,
) -> String {
    let mut out = String::new();
    let mut roots: Vec<(&CommentId, &Comment)> = data
        .comments
        .iter()
        .filter(|(_, c)| &c.target == target && c.reply_to.is_none())
        .collect();
    roots.sort_by_key(|(_, c)| c.created_at);
    for (id, comment) in roots {
        write_comment(&mut out, data, id, comment, indent, prov);
    }
    out
}

fn write_comment(
    out: &mut String,
    data: &HomeworkData,
    id: &CommentId,
    comment: &Comment,
    indent: &str,
    prov: &Provenance,
) {
    let resolved = if comment.resolved { " [resolved]" } else { "" };
    let _ = writeln!(
        out,
        "{indent}💬 {} — {}{}{}, {}{resolved} [{}]",
        comment.text.as_str(),
        comment.author,
        prov.author_check(id.as_str(), &comment.author),
        prov.created_on(id.as_str()),
        comment.created_at,
        id.short()
    );
    let mut replies: Vec<(&CommentId, &Comment)> = data
        .comments
        .iter()
        .filter(|(_, c)| c.reply_to.as_ref() == Some(id))
        .collect();
    replies.sort_by_key(|(_, c)| c.created_at);
    for (reply_id, reply) in replies {
        write_comment(out, data, reply_id, reply, &format!("{indent}   "), prov);
    }
}

/// An entry with every answered field, comments under the field they are about, then comments
/// on the whole entry. `visibility` says who can see it, on a client's profile (`None` on a
/// therapist's, where everything is shared).
pub(crate) fn entry(
    data: &HomeworkData,
    id: &EntryId,
    entry: &Entry,
    template: &Template,
    prov: &Provenance,
    visibility: Option<String>,
) -> String {
    let mut out = entry_header(data, id, entry, template, prov);
    if let Some(visibility) = visibility {
        let _ = writeln!(out, "{visibility}");
    }
    out.push('\n');
    write_entry_fields(&mut out, data, id, entry, template, prov);
    write_entry_afterword(&mut out, data, id, entry);
    let whole = comment_threads(
        data,
        &CommentTarget::Entry {
            id: id.clone(),
            field: None,
        },
        "  ",
        prov,
    );
    if !whole.is_empty() {
        let _ = writeln!(out, "\nComments:\n{whole}");
    }
    out
}

/// An entry's first lines: its template, date and status, the assignment it is for, and who
/// wrote and last changed it, where.
fn entry_header(
    data: &HomeworkData,
    id: &EntryId,
    entry: &Entry,
    template: &Template,
    prov: &Provenance,
) -> String {
    let status = match entry.status {
        EntryStatus::Complete => "complete",
        EntryStatus::Draft => "draft",
    };
    let mut out = format!(
        "{} — {} ({status}) [{}]\n",
        template.name,
        entry.date,
        id.short()
    );
    if let Some(assignment) = entry
        .assignment
        .as_ref()
        .and_then(|a| data.assignments.get(a))
    {
        let _ = writeln!(out, "For: {}", assignment.title);
    }
    let _ = writeln!(
        out,
        "Written by {}{}, {}",
        entry.created_by,
        prov.created_on(id.as_str()),
        entry.created_at
    );
    if entry.updated_at != entry.created_at {
        let _ = writeln!(
            out,
            "Last changed by {}{}, {}",
            entry.updated_by,
            prov.updated_on(id.as_str()),
            entry.updated_at
        );
    }
    out
}

/// An entry's fields in the template's order, each followed by the comments on it. A field
/// neither answered nor commented on is left out; a commented one unanswered says so.
fn write_entry_fields(
    out: &mut String,
    data: &HomeworkData,
    id: &EntryId,
    entry: &Entry,
    template: &Template,
    prov: &Provenance,
) {
    for field in &template.fields {
        let value = entry.values.get(&field.id).filter(|v| !v.is_empty());
        let target = CommentTarget::Entry {
            id: id.clone(),
            field: Some(field.id.clone()),
        };
        let comments = comment_threads(data, &target, "    ", prov);
        if value.is_none() && comments.is_empty() {
            continue;
        }
        let shown = match value {
            None => "(not answered)".to_string(),
            Some(v) => v.shown_in(entry.kind, &field.id),
        };
        if shown.contains('\n') {
            let _ = writeln!(out, "{} [{}]:", field.label, field.id);
            for line in shown.lines() {
                let _ = writeln!(out, "    {line}");
            }
        } else {
            let _ = writeln!(out, "{} [{}]: {shown}", field.label, field.id);
        }
        out.push_str(&comments);
    }
}

/// What follows an entry's fields: a measure's score (with its risk flag, if raised), how
/// hard it was and what got in the way.
fn write_entry_afterword(out: &mut String, data: &HomeworkData, id: &EntryId, entry: &Entry) {
    if let Some(score) = measures::entry_score(entry) {
        let _ = writeln!(
            out,
            "\n{} score: {} of {} — {}",
            score.measure, score.total, score.max, score.severity
        );
        if let Some(flag) = risk_flags(data).into_iter().find(|f| &f.entry == id) {
            let _ = writeln!(out, "{}", risk_flag(&flag));
        }
    }
    if let Some(difficulty) = entry.difficulty {
        let _ = writeln!(out, "Difficulty: {difficulty}/10");
    }
    let obstacles: Vec<&str> = entry
        .obstacles
        .iter()
        .filter(|(_, on)| **on)
        .map(|(k, _)| k.as_str())
        .collect();
    if !obstacles.is_empty() {
        let _ = writeln!(out, "What got in the way: {}", obstacles.join(", "));
    }
}

/// An assignment with its schedule, instructions, history, entries (each private one marked)
/// and comments.
pub(crate) fn assignment(
    data: &HomeworkData,
    id: &AssignmentId,
    a: &Assignment,
    prov: &Provenance,
    is_private: &dyn Fn(&EntryId) -> bool,
) -> String {
    let mut out = assignment_header(data, id, a, prov);
    if !a.instructions.as_str().is_empty() {
        let _ = writeln!(out, "\nInstructions:\n{}", a.instructions.as_str());
    }
    write_assignment_history(&mut out, a);
    write_assignment_entries(&mut out, data, id, is_private);
    let comments = comment_threads(
        data,
        &CommentTarget::Assignment { id: id.clone() },
        "  ",
        prov,
    );
    if !comments.is_empty() {
        let _ = writeln!(out, "\nComments:\n{comments}");
    }
    out
}

/// An assignment's first lines: title and status, template, schedule, the optional duration,
/// focus, reminder and goal, and who assigned it, where.
fn assignment_header(
    data: &HomeworkData,
    id: &AssignmentId,
    a: &Assignment,
    prov: &Provenance,
) -> String {
    let mut out = format!("{} [{}] — {}\n", a.title, id.short(), a.status.as_str());
    let _ = writeln!(out, "Template: {}", a.template);
    let _ = write!(
        out,
        "When: {} from {}",
        a.schedule.frequency.describe(),
        a.schedule.starts_on
    );
    if let Some(ends) = a.schedule.ends_on {
        let _ = write!(out, " until {ends}");
    }
    out.push('\n');
    if let Some(minutes) = a.minutes {
        let _ = writeln!(out, "Duration: {minutes} min");
    }
    if let Some(focus) = &a.focus {
        let _ = writeln!(out, "Focus: {focus}");
    }
    if let Some(at) = &a.remind_at {
        let _ = writeln!(
            out,
            "Reminder: {at} on the days it is due (`between remind`)"
        );
    }
    if let Some(goal) = a.goal.as_ref().and_then(|g| data.goals.get(g)) {
        let _ = writeln!(out, "Goal: {}", goal.title);
    }
    let _ = writeln!(
        out,
        "Assigned by {}{}, {}",
        a.created_by,
        prov.created_on(id.as_str()),
        a.created_at
    );
    out
}

/// The recorded changes to an assignment, oldest first, each with who made it and why.
fn write_assignment_history(out: &mut String, a: &Assignment) {
    if !a.history.is_empty() {
        let _ = writeln!(out, "\nChanges:");
        let mut history: Vec<_> = a.history.iter().collect();
        history.sort_by_key(|h| h.at);
        for h in history {
            let why = if h.why.is_empty() {
                String::new()
            } else {
                format!(" — \"{}\"", h.why)
            };
            let _ = writeln!(
                out,
                "  {} {}: {} → {} by {}{why}",
                h.at,
                h.kind.as_str(),
                h.from,
                h.to,
                h.by
            );
        }
    }
}

/// The entries done for an assignment, by date, each marked complete or draft and, when it
/// is in the client's private document, private.
fn write_assignment_entries(
    out: &mut String,
    data: &HomeworkData,
    id: &AssignmentId,
    is_private: &dyn Fn(&EntryId) -> bool,
) {
    let mut entries: Vec<(&EntryId, &Entry)> = data
        .entries
        .iter()
        .filter(|(_, e)| e.assignment.as_ref() == Some(id))
        .collect();
    entries.sort_by_key(|(_, e)| (e.date, e.created_at));
    if !entries.is_empty() {
        let _ = writeln!(out, "\nEntries:");
        for (entry_id, e) in entries {
            let status = if e.status == EntryStatus::Complete {
                "✓"
            } else {
                "…"
            };
            let private = if is_private(entry_id) {
                format!(" — {PRIVATE_NOTE}")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {status} {} [{}] by {}{private}",
                e.date,
                entry_id.short(),
                e.created_by.name
            );
        }
    }
}

/// A goal with numbered steps and comments.
pub(crate) fn goal(data: &HomeworkData, id: &GoalId, goal: &Goal, prov: &Provenance) -> String {
    let done = goal.steps.iter().filter(|s| s.done).count();
    let mut out = format!(
        "{} [{}] — {}, {done} of {} done\n",
        goal.title,
        id.short(),
        goal_status(goal.status),
        plural(goal.steps.len(), "step")
    );
    if !goal.why.as_str().is_empty() {
        let _ = writeln!(out, "Why it matters: {}", goal.why.as_str());
    }
    let _ = writeln!(
        out,
        "Set by {}{}, {}",
        goal.created_by,
        prov.created_on(id.as_str()),
        goal.created_at
    );
    for (i, step) in goal.steps.iter().enumerate() {
        let mark = if step.done { "[x]" } else { "[ ]" };
        let by = step
            .done_by
            .as_ref()
            .map(|b| format!(" — ticked by {}", b.name))
            .unwrap_or_default();
        let _ = writeln!(out, "  {}. {mark} {}{by}", i + 1, step.text);
    }
    let comments = comment_threads(data, &CommentTarget::Goal { id: id.clone() }, "  ", prov);
    if !comments.is_empty() {
        let _ = writeln!(out, "\nComments:\n{comments}");
    }
    out
}

/// One flag: open or who acknowledged it, the score and band, the reasons.
pub(crate) fn risk_flag(flag: &RiskFlag) -> String {
    let state = match &flag.acknowledged {
        None => "OPEN".to_owned(),
        Some(done) => {
            let note = if done.note.is_empty() {
                String::new()
            } else {
                format!(": \"{}\"", done.note)
            };
            format!("acknowledged by {} at {}{note}", done.by, done.at)
        }
    };
    format!(
        "⚠ [{}] {} — score {} of {}, {} — {state}",
        flag.entry.short(),
        flag.describe(),
        flag.score.total,
        flag.score.max,
        flag.score.severity
    )
}
