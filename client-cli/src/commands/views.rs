//! Read-only views: `today`, `list`, `show`, `progress`, `export` and the per-kind lists.
//! Each prints text for people or, with `--json`, the same facts as JSON.
//!
//! On a client's profile the views cover both their documents: the shared homework and their
//! private entries, each entry marked with who can see it (`"private": true/false` in JSON).
//! `list --json` and the JSON export are the shared document's records, plus a `private` key
//! with the private document's records when it holds any.

use super::print_json;
use crate::cli::{ExportArgs, ExportFormat, ListArgs, TodayArgs};
use crate::profile::{Homework, Place, Workspace};
use crate::provenance::Provenance;
use crate::render;
use anyhow::{Context, Result};
use between_shared::export;
use between_shared::lookup::{find_record, RecordRef};
use between_shared::model::{AssignmentStatus, EntryStatus, GoalStatus, HomeworkData};
use between_shared::news;
use between_shared::progress::{self, sparkline, Direction, ProgressReport, Trend};
use between_shared::risk::{risk_flags, RiskFlag};
use between_shared::schedule::finished_once;
use between_shared::schedule::{self, DueItem, DueState};
use between_shared::template::vocab::distortion_label;
use between_shared::{Day, EntryId, Role};

/// The due items of `today` (or its week) in `data`.
pub(crate) fn due_items(data: &HomeworkData, today: Day, week: bool) -> Vec<DueItem> {
    if week {
        let monday = today.week_start();
        schedule::due_between(data, monday, monday.add_days(6), today)
    } else {
        schedule::due_today(data, today)
    }
}

/// How far back `today` tells a client what their therapist did, the first time: older records
/// are history, not news (a profile from before `today` said so would otherwise list them all).
const NEWS_WINDOW_DAYS: i64 = 14;

/// What the therapist did that this client's device has not told them yet, oldest first: the
/// shared homework's comments, assignments, adjustments and more ([`news`]). Records older
/// than [`NEWS_WINDOW_DAYS`] are history.
fn unseen_news(ws: &Workspace, data: &HomeworkData) -> Result<Vec<news::Item>> {
    let seen = ws.session.store.seen_records(ws.record.id)?;
    let since = ws.session.clock.now().0 - NEWS_WINDOW_DAYS * 24 * 60 * 60 * 1000;
    Ok(news::news(data, Role::Client, |key| seen.contains_key(key))
        .into_iter()
        .filter(|item| item.at.0 >= since)
        .collect())
}

/// A day as people read it in a week: "Tue 3 Mar".
fn weekday_and_date(day: Day) -> String {
    day.0.format("%a %-d %b").to_string()
}

/// `between today [--week]`.
pub(crate) fn today(ws: &mut Workspace, args: &TodayArgs, json: bool) -> Result<()> {
    let homework = ws.homework()?;
    let data = &homework.data;
    let today = ws.session.clock.today();
    let items = due_items(data, today, args.week);
    let private = private_marks(&homework, &items, today, args.week);
    if json {
        return print_due_json(&items, &private);
    }
    let heading = if args.week { "This week" } else { "Today" };
    outln!("{heading} ({today}), {}'s homework:", data.meta.client_name);
    if items.is_empty() {
        outln!("  Nothing due.");
    }
    print_due_items(items, private, today, args.week)?;
    // A client hears once, here, what their therapist did since they last looked (`sync`
    // says it as it arrives too).
    let from_therapist = tell_news(ws, data)?;
    if !from_therapist.is_empty() {
        outln!("\nFrom your therapist since you last looked:");
        for news in &from_therapist {
            outln!("  {news}");
        }
    }
    Ok(())
}

/// Which of `items` are "private": what was done for them is only in private entries, so the
/// therapist, who sees the shared document alone, sees them as not done.
fn private_marks(homework: &Homework, items: &[DueItem], today: Day, week: bool) -> Vec<bool> {
    let seen_by_therapist = if homework.private_count() > 0 {
        due_items(&homework.shared_only(), today, week)
    } else {
        items.to_vec()
    };
    items
        .iter()
        .map(|item| {
            matches!(item.state, DueState::Done | DueState::InProgress)
                && !seen_by_therapist.iter().any(|s| {
                    s.assignment == item.assignment && s.day == item.day && s.state == item.state
                })
        })
        .collect()
}

/// `today --json`: the due items, each with its `private` mark, for scripts.
fn print_due_json(items: &[DueItem], private: &[bool]) -> Result<()> {
    let list = items
        .iter()
        .zip(private)
        .map(|(item, private)| {
            let mut value = serde_json::to_value(item)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("private".to_owned(), (*private).into());
            }
            Ok(value)
        })
        .collect::<Result<Vec<_>>>()?;
    print_json(&list)
}

/// The lines of `today`: one per item still to do or done, then the days gone by without the
/// homework summed up per assignment, plainly, after the list — a week of crosses helps nobody
/// who is finding it hard to keep up.
fn print_due_items(items: Vec<DueItem>, private: Vec<bool>, today: Day, week: bool) -> Result<()> {
    let mut not_done: Vec<(String, Vec<String>)> = Vec::new();
    for (item, private) in items.into_iter().zip(private) {
        if item.state == DueState::Missed {
            let when = match item.week {
                Some(week) => format!("the week of {} ({} of {})", item.day, week.done, week.of),
                None => weekday_and_date(item.day),
            };
            match not_done.iter_mut().find(|(title, _)| *title == item.title) {
                Some((_, days)) => days.push(when),
                None => not_done.push((item.title.clone(), vec![when])),
            }
            continue;
        }
        outln!("{}", due_line(&item, private, today, week));
    }
    if !not_done.is_empty() {
        outln!();
        for (title, days) in not_done {
            outln!("  Not done: {title} on {}.", days.join(", "));
        }
    }
    Ok(())
}

/// One line of `today` for an item not missed: its mark, when, state and who can see it. The
/// day is left out where it goes without saying (today's list, a week-long item).
fn due_line(item: &DueItem, private: bool, today: Day, week: bool) -> String {
    let (mark, state) = match item.state {
        DueState::Done => ("✓", "done".to_owned()),
        DueState::InProgress => ("…", "in progress".to_owned()),
        DueState::Due => ("•", "due".to_owned()),
        DueState::Overdue => ("!", "overdue".to_owned()),
        DueState::Missed => ("·", "not done".to_owned()),
    };
    let day = match item.week {
        Some(_) if week => "this week ".to_owned(),
        Some(_) => String::new(),
        None if week || item.day != today => format!("{} ", weekday_and_date(item.day)),
        None => String::new(),
    };
    let note = match (item.done_on, item.week) {
        (Some(on), _) => format!(" (on {})", weekday_and_date(on)),
        (None, Some(week)) => format!(" ({} of {} this week)", week.done, week.of),
        (None, None) => String::new(),
    };
    let private = if private {
        format!(" (in a private entry — {})", render::ONLY_YOURS)
    } else {
        String::new()
    };
    format!(
        "  {mark} {day}{} — {state}{note}{private} [{}]",
        item.title,
        item.assignment.short()
    )
}

/// On a client's profile: what their therapist did that they have not been told yet, in
/// words, oldest first — recorded as told, so it is said once (by `today` or the app's today
/// page, whichever shows it first). Nothing on a therapist's profile. `data` is what the
/// command already read ([`Workspace::homework`]): the client's private records beside the
/// shared ones are their own, never news, and reading the homework once matters as it grows.
pub(crate) fn tell_news(ws: &mut Workspace, data: &HomeworkData) -> Result<Vec<String>> {
    if ws.me().role != Role::Client {
        return Ok(Vec::new());
    }
    let news = unseen_news(ws, data)?;
    let keys: Vec<String> = news.iter().map(|item| item.key.clone()).collect();
    let now = ws.session.clock.now().0;
    let id = ws.record.id;
    ws.session.store.record_seen(id, &keys, now)?;
    Ok(news.iter().map(|item| item.news.describe()).collect())
}

/// The records as JSON: the shared document's, plus `"private"` with the private document's
/// when it holds any (so a profile without private entries prints exactly the shared document,
/// as the therapist's device does, field for field and in the same order).
#[derive(serde::Serialize)]
struct Records<'a> {
    #[serde(flatten)]
    shared: &'a HomeworkData,
    #[serde(skip_serializing_if = "Option::is_none")]
    private: Option<&'a HomeworkData>,
}

/// `between list`: assignments, goals and recent entries.
pub(crate) fn list(ws: &Workspace, args: &ListArgs, json: bool) -> Result<()> {
    if json {
        let homework = ws.homework()?;
        return print_json(&Records {
            shared: &ws.doc.data()?,
            private: homework.private.as_ref(),
        });
    }
    list_assignments(ws, args, false)?;
    outln!();
    list_goals(ws, args.all, false)?;
    outln!();
    list_entries(ws, None, false)
}

/// `between assignment list`.
pub(crate) fn list_assignments(ws: &Workspace, args: &ListArgs, json: bool) -> Result<()> {
    let data = ws.doc.data()?;
    let today = ws.session.clock.today();
    let shown: Vec<_> = data
        .assignments
        .iter()
        .filter(|(id, a)| {
            args.all
                || (matches!(
                    a.status,
                    AssignmentStatus::Active | AssignmentStatus::Paused
                ) && !finished_once(&data, id, today))
        })
        .collect();
    if json {
        let list: Vec<_> = shown
            .iter()
            .map(|(id, a)| serde_json::json!({"id": id, "assignment": a}))
            .collect();
        return print_json(&list);
    }
    outln!("Assignments:");
    if shown.is_empty() {
        outln!("  none");
    }
    for (id, a) in shown {
        let status = if finished_once(&data, id, today) {
            "done"
        } else {
            a.status.as_str()
        };
        outln!(
            "  [{}] {} — {}, {status} ({}, by {})",
            id.short(),
            a.title,
            a.schedule.frequency.describe(),
            a.template,
            a.created_by.name
        );
    }
    Ok(())
}

/// `between goal list`.
pub(crate) fn list_goals(ws: &Workspace, all: bool, json: bool) -> Result<()> {
    let data = ws.doc.data()?;
    let shown: Vec<_> = data
        .goals
        .iter()
        .filter(|(_, g)| all || g.status == GoalStatus::Active)
        .collect();
    if json {
        let list: Vec<_> = shown
            .iter()
            .map(|(id, g)| serde_json::json!({"id": id, "goal": g}))
            .collect();
        return print_json(&list);
    }
    outln!("Goals:");
    if shown.is_empty() {
        outln!("  none");
    }
    for (id, g) in shown {
        let done = g.steps.iter().filter(|s| s.done).count();
        outln!(
            "  [{}] {} — {done}/{}, {} (set by {})",
            id.short(),
            g.title,
            render::plural(g.steps.len(), "step"),
            render::goal_status(g.status),
            g.created_by.name
        );
    }
    Ok(())
}

/// `between entry list`.
pub(crate) fn list_entries(ws: &Workspace, assignment: Option<&str>, json: bool) -> Result<()> {
    let homework = ws.homework()?;
    let data = &homework.data;
    let audience = (ws.me().role == Role::Client)
        .then(|| ws.audience())
        .transpose()?;
    let assignment = assignment
        .map(|a| between_shared::lookup::find_assignment(data, a))
        .transpose()?;
    let mut shown: Vec<_> = data
        .entries
        .iter()
        .filter(|(_, e)| assignment.is_none() || e.assignment == assignment)
        .collect();
    shown.sort_by_key(|(_, e)| (e.date, e.created_at));
    if json {
        let list: Vec<_> = shown
            .iter()
            .map(|(id, e)| {
                serde_json::json!({"id": id, "entry": e, "private": homework.is_private(id)})
            })
            .collect();
        return print_json(&list);
    }
    outln!("Entries:");
    if shown.is_empty() {
        outln!("  none");
    }
    if ws.private_not_arrived() {
        outln!("  (your private entries have not arrived on this device yet; run `between sync`)");
    }
    for (id, e) in shown {
        let status = if e.status == EntryStatus::Complete {
            "✓"
        } else {
            "… draft"
        };
        let comments = data
            .comments
            .values()
            .filter(|c| matches!(&c.target, between_shared::model::CommentTarget::Entry { id: target, .. } if target == id))
            .count();
        let comments = if comments > 0 {
            format!(", {}", render::plural(comments, "comment"))
        } else {
            String::new()
        };
        let visibility = match audience {
            None => String::new(),
            Some(audience) => format!(" — {}", render::who_sees(homework.is_private(id), audience)),
        };
        outln!(
            "  [{}] {} {} {status} (by {}{comments}){visibility}",
            id.short(),
            e.date,
            e.kind.as_str(),
            e.created_by.name
        );
    }
    Ok(())
}

/// `between comment list`.
pub(crate) fn list_comments(ws: &mut Workspace, open_only: bool, json: bool) -> Result<()> {
    let shared_prov = ws.provenance(Place::Shared)?;
    let private_prov = ws.provenance(Place::Private)?;
    let homework = ws.homework()?;
    let data = &homework.data;
    let mut shown: Vec<_> = data
        .comments
        .iter()
        .filter(|(_, c)| !open_only || !c.resolved)
        .collect();
    shown.sort_by_key(|(_, c)| c.created_at);
    if json {
        let list: Vec<_> = shown
            .iter()
            .map(|(id, c)| {
                let is_private = homework.is_private_comment(id);
                let prov = if is_private {
                    &private_prov
                } else {
                    &shared_prov
                };
                serde_json::json!({
                    "id": id,
                    "comment": c,
                    "private": is_private,
                    "unverified": prov.unverified(id.as_str(), &c.author),
                })
            })
            .collect();
        return print_json(&list);
    }
    for (id, c) in shown {
        let on = match &c.target {
            between_shared::model::CommentTarget::Assignment { id } => {
                format!("assignment {}", id.short())
            }
            between_shared::model::CommentTarget::Goal { id } => format!("goal {}", id.short()),
            between_shared::model::CommentTarget::Entry { id, field: Some(f) } => {
                format!("entry {}:{f}", id.short())
            }
            between_shared::model::CommentTarget::Entry { id, field: None } => {
                format!("entry {}", id.short())
            }
        };
        let resolved = if c.resolved { " [resolved]" } else { "" };
        let private = if homework.is_private_comment(id) {
            format!(" — {}", render::PRIVATE_NOTE)
        } else {
            String::new()
        };
        let prov = if homework.is_private_comment(id) {
            &private_prov
        } else {
            &shared_prov
        };
        outln!(
            "  [{}] on {on}: {} — {}{}{resolved}{private}",
            id.short(),
            c.text.as_str(),
            c.author.name,
            prov.author_check(id.as_str(), &c.author)
        );
    }
    Ok(())
}

/// `between show ID`.
pub(crate) fn show(ws: &mut Workspace, id: &str, json: bool) -> Result<()> {
    let homework = ws.homework()?;
    let data = &homework.data;
    let prov = ws.provenance(Place::Shared)?;
    let record = find_record(data, id)?;
    match record {
        RecordRef::Entry(id) => show_entry(ws, &homework, &id, prov, json)?,
        RecordRef::Assignment(id) => {
            let a = data.assignments.get(&id).context("assignment")?;
            if json {
                return print_json(&serde_json::json!({"id": id, "assignment": a}));
            }
            out!(
                "{}",
                render::assignment(data, &id, a, &prov, &|e| homework.is_private(e))
            );
        }
        RecordRef::Goal(id) => {
            let g = data.goals.get(&id).context("goal")?;
            if json {
                return print_json(&serde_json::json!({"id": id, "goal": g}));
            }
            out!("{}", render::goal(data, &id, g, &prov));
        }
        RecordRef::Comment(id) => {
            let c = data.comments.get(&id).context("comment")?;
            if json {
                return print_json(&serde_json::json!({
                    "id": id,
                    "comment": c,
                    "unverified": prov.unverified(id.as_str(), &c.author),
                }));
            }
            outln!(
                "{} — {}{}{}, {} [{}]",
                c.text.as_str(),
                c.author,
                prov.author_check(id.as_str(), &c.author),
                prov.created_on(id.as_str()),
                c.created_at,
                id.short()
            );
        }
        RecordRef::Template(id) => {
            let template = homework.template(&id)?;
            if json {
                return print_json(&template);
            }
            out!("{}", render::template(&template));
        }
    }
    Ok(())
}

/// `between show` of an entry: with its template and comments as JSON, or as text with its
/// provenance and, on a client's profile, who can see it.
fn show_entry(
    ws: &mut Workspace,
    homework: &Homework,
    id: &EntryId,
    prov: Provenance,
    json: bool,
) -> Result<()> {
    let data = &homework.data;
    let entry = data.entries.get(id).context("entry")?;
    let template = homework.template(&entry.template)?;
    let private = homework.is_private(id);
    if json {
        let comments: Vec<_> = data
            .comments
            .iter()
            .filter(|(_, c)| matches!(&c.target, between_shared::model::CommentTarget::Entry { id: t, .. } if t == id))
            .map(|(cid, c)| serde_json::json!({"id": cid, "comment": c}))
            .collect();
        return print_json(
            &serde_json::json!({"id": id, "entry": entry, "template": template, "comments": comments, "private": private}),
        );
    }
    // A private entry's history is in the private document.
    let prov = if private {
        ws.provenance(Place::Private)?
    } else {
        prov
    };
    let visibility = (ws.me().role == Role::Client)
        .then(|| ws.audience())
        .transpose()?
        .map(|audience| render::visibility(private, audience));
    out!(
        "{}",
        render::entry(data, id, entry, &template, &prov, visibility)
    );
    Ok(())
}

fn direction(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::Improving) => "improving",
        Some(Direction::Steady) => "steady",
        Some(Direction::Worsening) => "worsening",
        None => "not enough data for a trend yet",
    }
}

fn trend_line(name: &str, trend: &Trend, max: f64) -> String {
    if trend.points.is_empty() {
        return format!("{name}: no entries yet");
    }
    let values: Vec<f64> = trend.points.iter().map(|p| p.value).collect();
    format!(
        "{name}: {} latest {:.1}, average {:.1} (0–{max}), {}",
        sparkline(&values, 0.0, max),
        trend.latest.unwrap_or_default(),
        trend.average.unwrap_or_default(),
        direction(trend.direction)
    )
}

/// `between progress`: on a client's profile, private entries count too.
pub(crate) fn progress(ws: &Workspace, json: bool) -> Result<()> {
    let homework = ws.homework()?;
    let data = &homework.data;
    let report = progress::progress(data, ws.session.clock.today());
    // Flags are of the shared homework: what the therapist sees and acknowledges. (From what
    // was read already: reading the homework again would double the command's cost.)
    let flags = if homework.private_count() > 0 {
        risk_flags(&homework.shared_only())
    } else {
        risk_flags(data)
    };
    if json {
        return print_progress_json(&report, homework.private_count(), &flags);
    }
    outln!(
        "Progress for {} as of {}",
        data.meta.client_name,
        report.today
    );
    match homework.private_count() {
        0 => {}
        1 => outln!(
            "Counts 1 private entry ({}); your therapist's figures leave it out.",
            render::ONLY_YOURS
        ),
        n => outln!(
            "Counts {n} private entries ({}); your therapist's figures leave them out.",
            render::ONLY_YOURS
        ),
    }
    print_adherence(&report)?;
    outln!(
        "\nDays in a row with homework done: {}; entries this week: {}",
        report.overall_streak,
        report.entries_this_week
    );
    outln!();
    outln!("{}", trend_line("Mood", &report.mood, 10.0));
    outln!("{}", trend_line("Mastery", &report.mastery, 10.0));
    outln!("{}", trend_line("Pleasure", &report.pleasure, 10.0));
    print_thinking_traps(&report)?;
    if !report.measures.is_empty() {
        outln!("\nMeasures:");
        for m in &report.measures {
            outln!(
                "  {} {:<6} {:>2} {}",
                m.day,
                m.template.as_str(),
                m.total,
                m.severity
            );
        }
    }
    if !flags.is_empty() {
        outln!("\nRisk flags:");
        for flag in &flags {
            outln!("  {}", render::risk_flag(flag));
        }
    }
    print_goals(&report)?;
    Ok(())
}

/// `progress --json`: the report, with the count of private entries it includes and the shared
/// homework's risk flags.
fn print_progress_json(
    report: &ProgressReport,
    private_entries: usize,
    flags: &[RiskFlag],
) -> Result<()> {
    let mut value = serde_json::to_value(report)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("private_entries".to_owned(), private_entries.into());
        object.insert("risk_flags".to_owned(), serde_json::to_value(flags)?);
    }
    print_json(&value)
}

/// The adherence table of `progress`: done of scheduled, rate and streaks per assignment.
fn print_adherence(report: &ProgressReport) -> Result<()> {
    outln!("\nAdherence (done / scheduled so far):");
    if report.adherence.is_empty() {
        outln!("  no assignments yet");
    }
    for a in &report.adherence {
        let rate = a
            .rate
            .map_or_else(|| "—".to_string(), |r| format!("{:.0}%", r * 100.0));
        outln!(
            "  {:<32} {:>2}/{:<2} {rate:>5}  streak {} (best {})",
            a.title,
            a.done,
            a.scheduled,
            a.current_streak,
            a.longest_streak
        );
    }
    Ok(())
}

/// The five thinking traps ticked most often, by their readable names where they have one;
/// nothing when none was ticked.
fn print_thinking_traps(report: &ProgressReport) -> Result<()> {
    if !report.distortions.is_empty() {
        let top: Vec<String> = report
            .distortions
            .iter()
            .take(5)
            .map(|(name, count)| match distortion_label(name) {
                "" => format!("{name} ×{count}"),
                label => format!("{label} ×{count}"),
            })
            .collect();
        outln!("\nMost frequent thinking traps: {}", top.join(", "));
    }
    Ok(())
}

/// The steps done of each goal, with its status; nothing when there are no goals.
fn print_goals(report: &ProgressReport) -> Result<()> {
    if !report.goals.is_empty() {
        outln!("\nGoals:");
        for g in &report.goals {
            outln!(
                "  {:<32} {}/{}, {}",
                g.title,
                g.steps_done,
                render::plural(usize::try_from(g.steps_total).unwrap_or(usize::MAX), "step"),
                render::goal_status(g.status)
            );
        }
    }
    Ok(())
}

/// `between export`: everything this profile holds — on a client's profile their shared
/// homework and their private entries, each private one marked.
pub(crate) fn export(ws: &Workspace, args: &ExportArgs) -> Result<()> {
    let text = export_text(ws, args.format)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("could not write {}", path.display()))?;
            eprintln!("Exported to {}.", path.display());
        }
        None => out!("{text}"),
    }
    Ok(())
}

/// The homework as `export` writes it: JSON that reads back, or a readable Markdown report.
pub(crate) fn export_text(ws: &Workspace, format: ExportFormat) -> Result<String> {
    let homework = ws.homework()?;
    Ok(match format {
        ExportFormat::Json => {
            let records = Records {
                shared: &ws.doc.data()?,
                private: homework.private.as_ref(),
            };
            serde_json::to_string_pretty(&records)? + "\n"
        }
        ExportFormat::Markdown => export::markdown(
            &homework.data,
            &homework.templates(),
            homework.private_entries(),
        ),
    })
}
