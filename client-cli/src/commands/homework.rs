//! Assignments, goals, comments and templates: the commands that change them.
//!
//! Each command makes one change through the typed document API and saves it before returning.
//! With `--json`, commands that create something print `{"id": ...}` for scripts.
//!
//! Assignments, goals and templates are always in the shared homework document. A comment goes
//! where its target is: on a client's private entry it stays in their private document.

use super::print_json;
use crate::cli::{
    AssignmentCommand, CommentCommand, GoalCommand, ListArgs, ScheduleArgs, StatusArgs,
    TemplateCommand,
};
use crate::profile::{Place, Workspace};
use crate::render;
use anyhow::{bail, Context, Result};
use between_shared::document::{AssignmentAdjustment, NewAssignment};
use between_shared::lookup::{
    find_assignment, find_comment as find_comment_id, find_goal, find_record, RecordRef,
};
use between_shared::model::{AssignmentStatus, CommentTarget, Frequency, GoalStatus, Schedule};
use between_shared::reminders::TimeOfDay;
use between_shared::template::{EntryKind, FieldDef, FieldKind, Template};
use between_shared::{Day, HomeworkDoc, TemplateId};

/// Prints what a creating command made: its id as JSON, or a sentence.
fn created(json: bool, id: &str, sentence: String) -> Result<()> {
    if json {
        print_json(&serde_json::json!({ "id": id }))
    } else {
        outln!("{sentence}");
        Ok(())
    }
}

/// Parses a `YYYY-MM-DD` flag.
pub(crate) fn parse_day(flag: &str, text: &str) -> Result<Day> {
    text.parse()
        .with_context(|| format!("--{flag} must be a date"))
}

/// Finds a template by slug, custom id prefix or name.
pub(crate) fn find_template(doc: &HomeworkDoc, wanted: &str) -> Result<Template> {
    let wanted = wanted.trim();
    let all = doc.templates()?;
    if let Some(exact) = all
        .iter()
        .find(|t| t.id.as_str() == wanted || t.name.eq_ignore_ascii_case(wanted))
    {
        return Ok(exact.clone());
    }
    let matching: Vec<_> = all
        .iter()
        .filter(|t| t.id.as_str().starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        _ => {
            let ids: Vec<_> = all.iter().map(|t| t.id.as_str()).collect();
            bail!(
                "no template '{wanted}'; choose one of: {} (see `between template list`)",
                ids.join(", ")
            )
        }
    }
}

pub(crate) fn schedule_from(args: &ScheduleArgs, base: Schedule, today: Day) -> Result<Schedule> {
    let mut schedule = base;
    if let Some(every) = &args.every {
        schedule.frequency = Frequency::parse_on(every, today)?;
    }
    if let Some(starts) = &args.starts {
        schedule.starts_on = parse_day("starts", starts)?;
    }
    if let Some(ends) = &args.ends {
        schedule.ends_on = Some(parse_day("ends", ends)?);
    }
    Ok(schedule)
}

/// `between assignment ...`.
pub(crate) fn assignment(mut ws: Workspace, command: &AssignmentCommand, json: bool) -> Result<()> {
    match command {
        AssignmentCommand::Create {
            template,
            title,
            instructions,
            schedule,
            minutes,
            focus,
            goal,
            remind,
        } => {
            let now = ws.session.clock.now();
            let today = ws.session.clock.today();
            let me = ws.me().clone();
            let template = find_template(&ws.doc, template)?;
            let remind_at = remind.as_deref().map(str::parse::<TimeOfDay>).transpose()?;
            let data = ws.doc.data()?;
            let goal = goal.as_deref().map(|g| find_goal(&data, g)).transpose()?;
            let base = Schedule {
                frequency: Frequency::Daily,
                starts_on: today,
                ends_on: None,
            };
            let schedule_args = schedule;
            let schedule = schedule_from(schedule_args, base, today)?;
            let described = schedule.frequency.describe();
            let title = title.clone().unwrap_or_else(|| template.name.clone());
            let id = ws.doc.create_assignment(
                &me,
                now,
                NewAssignment {
                    title: title.clone(),
                    template: template.id.clone(),
                    instructions: instructions.clone(),
                    schedule,
                    minutes: *minutes,
                    focus: focus.clone(),
                    goal,
                    remind_at,
                },
            )?;
            ws.save()?;
            // Daily is a default, not a choice the therapist made: say so, and how to change it.
            let defaulted = if schedule_args.every.is_none() {
                " (daily, since no --every was given; `between assignment adjust ID --every weekly:mon,thu --why \"...\"` changes it)"
            } else {
                ""
            };
            created(
                json,
                id.as_str(),
                format!(
                    "Assigned '{title}' ({}), {described}{defaulted}. Id: {}",
                    template.name,
                    id.short()
                ),
            )
        }
        AssignmentCommand::List(args) => super::views::list_assignments(&ws, args, json),
        AssignmentCommand::Adjust {
            id,
            schedule,
            minutes,
            focus,
            why,
        } => adjust_assignment(ws, id, schedule, *minutes, focus, why),
        AssignmentCommand::Remind { id, at } => set_reminder(ws, id, at),
        AssignmentCommand::Pause(args) => set_status(ws, args, AssignmentStatus::Paused),
        AssignmentCommand::Resume(args) => set_status(ws, args, AssignmentStatus::Active),
        AssignmentCommand::Complete(args) => set_status(ws, args, AssignmentStatus::Done),
        AssignmentCommand::Archive(args) => set_status(ws, args, AssignmentStatus::Archived),
    }
}

/// `between assignment adjust`: changes schedule, minutes or focus and shows each recorded change.
fn adjust_assignment(
    mut ws: Workspace,
    id: &str,
    schedule: &ScheduleArgs,
    minutes: Option<i64>,
    focus: &Option<String>,
    why: &str,
) -> Result<()> {
    let now = ws.session.clock.now();
    let today = ws.session.clock.today();
    let me = ws.me().clone();
    let data = ws.doc.data()?;
    let id = find_assignment(&data, id)?;
    let current = data.assignments[&id].schedule.clone();
    let changes_schedule =
        schedule.every.is_some() || schedule.starts.is_some() || schedule.ends.is_some();
    let adjustment = AssignmentAdjustment {
        schedule: changes_schedule
            .then(|| schedule_from(schedule, current, today))
            .transpose()?,
        minutes: minutes.map(|m| (m != 0).then_some(m)),
        focus: focus
            .as_ref()
            .map(|f| Some(f.clone()).filter(|f| !f.trim().is_empty())),
    };
    ws.doc.adjust_assignment(&me, now, &id, adjustment, why)?;
    ws.save()?;
    let updated = &ws.doc.data()?.assignments[&id];
    outln!("Adjusted '{}':", updated.title);
    for change in updated.history.iter().filter(|h| h.at == now) {
        outln!(
            "  {}: {} → {}",
            change.kind.as_str(),
            change.from,
            change.to
        );
    }
    Ok(())
}

/// `between assignment remind`: sets or clears the time of day an assignment reminds at.
fn set_reminder(mut ws: Workspace, id: &str, at: &str) -> Result<()> {
    let now = ws.session.clock.now();
    let data = ws.doc.data()?;
    let id = find_assignment(&data, id)?;
    let at = match at.trim() {
        "off" | "none" => None,
        time => Some(time.parse::<TimeOfDay>()?),
    };
    ws.doc.set_reminder(now, &id, at)?;
    ws.save()?;
    let title = &data.assignments[&id].title;
    match at {
        Some(at) => outln!(
            "'{title}' reminds at {at} on the days it is due, on devices that run `between remind`."
        ),
        None => outln!("'{title}' no longer reminds."),
    }
    Ok(())
}

fn set_status(mut ws: Workspace, args: &StatusArgs, status: AssignmentStatus) -> Result<()> {
    let data = ws.doc.data()?;
    let id = find_assignment(&data, &args.id)?;
    let me = ws.me().clone();
    ws.doc
        .set_assignment_status(&me, ws.session.clock.now(), &id, status, &args.why)?;
    ws.save()?;
    outln!(
        "'{}' is now {}.",
        data.assignments[&id].title,
        status.as_str()
    );
    Ok(())
}

/// `between goal ...`.
pub(crate) fn goal(mut ws: Workspace, command: &GoalCommand, json: bool) -> Result<()> {
    let now = ws.session.clock.now();
    let me = ws.me().clone();
    let data = ws.doc.data()?;
    match command {
        GoalCommand::Create { title, why, steps } => {
            let id = ws.doc.create_goal(&me, now, title, why, steps)?;
            ws.save()?;
            created(
                json,
                id.as_str(),
                format!(
                    "Set the goal '{}' with {}. Id: {}",
                    title.trim(),
                    render::plural(steps.len(), "step"),
                    id.short()
                ),
            )
        }
        GoalCommand::List(ListArgs { all }) => super::views::list_goals(&ws, *all, json),
        GoalCommand::AddStep { goal, text } => {
            let goal = find_goal(&data, goal)?;
            ws.doc.add_step(now, &goal, text)?;
            ws.save()?;
            outln!("Added the step '{}'.", text.trim());
            Ok(())
        }
        GoalCommand::Tick { goal, step } | GoalCommand::Untick { goal, step } => {
            let done = matches!(command, GoalCommand::Tick { .. });
            let goal = find_goal(&data, goal)?;
            let steps = &data.goals[&goal].steps;
            let Some(found) = step.checked_sub(1).and_then(|i| steps.get(i)) else {
                bail!(
                    "the goal has {}; give a number from 1 to {}",
                    render::plural(steps.len(), "step"),
                    steps.len()
                );
            };
            ws.doc.set_step_done(&me, now, &goal, &found.id, done)?;
            ws.save()?;
            let goal = &ws.doc.data()?.goals[&goal];
            let done_count = goal.steps.iter().filter(|s| s.done).count();
            outln!(
                "{} '{}' — {done_count} of {} done.",
                if done { "Ticked off" } else { "Un-ticked" },
                found.text,
                render::plural(goal.steps.len(), "step")
            );
            Ok(())
        }
        GoalCommand::Achieve { goal }
        | GoalCommand::Drop { goal }
        | GoalCommand::Reopen { goal } => {
            let status = match command {
                GoalCommand::Achieve { .. } => GoalStatus::Achieved,
                GoalCommand::Drop { .. } => GoalStatus::Dropped,
                _ => GoalStatus::Active,
            };
            let goal = find_goal(&data, goal)?;
            ws.doc.set_goal_status(now, &goal, status)?;
            ws.save()?;
            outln!(
                "'{}' is now {}.",
                data.goals[&goal].title,
                render::goal_status(status)
            );
            Ok(())
        }
    }
}

/// Parses a comment target: an id, or `ENTRY_ID:FIELD`; and says which document it is in.
fn comment_target(ws: &Workspace, target: &str) -> Result<(Place, CommentTarget)> {
    let homework = ws.homework()?;
    let (id, field) = match target.split_once(':') {
        Some((id, field)) => (id, Some(field.trim().to_string())),
        None => (target, None),
    };
    let place = |private: bool| {
        if private {
            Place::Private
        } else {
            Place::Shared
        }
    };
    let target = match find_record(&homework.data, id)? {
        RecordRef::Entry(id) => {
            return Ok((
                place(homework.is_private(&id)),
                CommentTarget::Entry { id, field },
            ))
        }
        RecordRef::Assignment(id) if field.is_none() => CommentTarget::Assignment { id },
        RecordRef::Goal(id) if field.is_none() => CommentTarget::Goal { id },
        RecordRef::Comment(_) => {
            bail!("that is a comment; answer it with `between comment reply ID TEXT`")
        }
        RecordRef::Template(_) => {
            bail!("comments go on assignments, entries and goals, not templates")
        }
        _ => bail!(
            "only entries have fields to comment on; drop the ':{}'",
            field.unwrap_or_default()
        ),
    };
    Ok((Place::Shared, target))
}

/// Finds a comment by id (or prefix), and which document it is in.
pub(crate) fn find_comment(
    ws: &Workspace,
    prefix: &str,
) -> Result<(Place, between_shared::CommentId)> {
    let homework = ws.homework()?;
    let id = find_comment_id(&homework.data, prefix)?;
    let place = if homework.is_private_comment(&id) {
        Place::Private
    } else {
        Place::Shared
    };
    Ok((place, id))
}

/// `between comment ...`.
pub(crate) fn comment(mut ws: Workspace, command: &CommentCommand, json: bool) -> Result<()> {
    let now = ws.session.clock.now();
    let me = ws.me().clone();
    match command {
        CommentCommand::Add { target, text } => {
            let (place, target) = comment_target(&ws, target)?;
            let id = ws
                .doc_at(place)?
                .add_comment(&me, now, Some(target), None, text)?;
            ws.save()?;
            created(json, id.as_str(), commented("Commented", &id, place))
        }
        CommentCommand::Reply { id, text } => {
            let (place, parent) = find_comment(&ws, id)?;
            let id = ws
                .doc_at(place)?
                .add_comment(&me, now, None, Some(parent), text)?;
            ws.save()?;
            created(json, id.as_str(), commented("Replied", &id, place))
        }
        CommentCommand::Resolve { id } | CommentCommand::Reopen { id } => {
            let resolved = matches!(command, CommentCommand::Resolve { .. });
            let (place, id) = find_comment(&ws, id)?;
            ws.doc_at(place)?
                .set_comment_resolved(&me, now, &id, resolved)?;
            ws.save()?;
            outln!("{}", if resolved { "Resolved." } else { "Reopened." });
            Ok(())
        }
        CommentCommand::List { open } => super::views::list_comments(&mut ws, *open, json),
    }
}

/// What a comment command says it did; a comment on a private entry is private too.
fn commented(done: &str, id: &between_shared::CommentId, place: Place) -> String {
    match place {
        Place::Shared => format!("{done}. Id: {}", id.short()),
        Place::Private => format!(
            "{done} on your private entry ({}). Id: {}",
            render::ONLY_YOURS,
            id.short()
        ),
    }
}

/// `between template ...`.
pub(crate) fn template(mut ws: Workspace, command: &TemplateCommand, json: bool) -> Result<()> {
    match command {
        TemplateCommand::List => {
            let templates = ws.doc.templates()?;
            if json {
                return print_json(&templates);
            }
            for t in templates {
                let origin = if t.created_by.is_some() {
                    "custom"
                } else {
                    "built-in"
                };
                outln!("{:<24} {:<9} {}", t.id.as_str(), origin, t.name);
            }
            Ok(())
        }
        TemplateCommand::Show { id } => {
            let template = find_template(&ws.doc, id)?;
            if json {
                return print_json(&template);
            }
            out!("{}", render::template(&template));
            Ok(())
        }
        TemplateCommand::Create {
            name,
            description,
            fields,
        } => {
            let fields = fields
                .iter()
                .map(|spec| parse_field_spec(spec))
                .collect::<Result<Vec<_>>>()?;
            let template = Template {
                id: TemplateId::from_string(""),
                name: name.trim().to_string(),
                description: description.trim().to_string(),
                kind: EntryKind::Custom,
                fields,
                created_by: None,
                created_at: None,
            };
            let me = ws.me().clone();
            let id = ws.doc.add_template(&me, ws.session.clock.now(), template)?;
            ws.save()?;
            created(
                json,
                id.as_str(),
                format!("Created the template '{}'. Id: {}", name.trim(), id.short()),
            )
        }
    }
}

/// Parses `ID[!]:KIND:LABEL`, e.g. `urge!:scale(0..10):How strong was the urge?`.
fn parse_field_spec(spec: &str) -> Result<FieldDef> {
    let hint = "write a field as ID:KIND:LABEL, e.g. 'urge!:scale(0..10):How strong was the urge?'";
    let mut parts = spec.splitn(3, ':');
    let (Some(id), Some(kind), Some(label)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("'{spec}': {hint}");
    };
    let (id, required) = match id.trim().strip_suffix('!') {
        Some(id) => (id, true),
        None => (id.trim(), false),
    };
    let kind = kind.trim();
    let (name, arg) = match kind.split_once('(') {
        Some((name, rest)) => (
            name,
            Some(
                rest.strip_suffix(')')
                    .with_context(|| format!("'{kind}' is missing its closing ')'"))?,
            ),
        ),
        None => (kind, None),
    };
    let options = |arg: Option<&str>| -> Result<Vec<String>> {
        let arg = arg.with_context(|| format!("'{name}' needs its options, e.g. {name}(a|b|c)"))?;
        Ok(arg.split('|').map(|o| o.trim().to_string()).collect())
    };
    let kind = match name {
        "short-text" => FieldKind::ShortText,
        "long-text" => FieldKind::LongText,
        "yes-no" => FieldKind::YesNo,
        "date-time" => FieldKind::DateTime,
        "scale" => {
            let arg = arg.context("a scale needs its bounds, e.g. scale(0..10)")?;
            let (min, max) = arg
                .split_once("..")
                .context("write a scale's bounds as MIN..MAX, e.g. scale(0..10)")?;
            FieldKind::Scale {
                min: min.trim().parse().context("the scale's lower bound is not a whole number")?,
                max: max.trim().parse().context("the scale's upper bound is not a whole number")?,
            }
        }
        "single" => FieldKind::SingleChoice { options: options(arg)? },
        "multi" => FieldKind::MultiChoice { options: options(arg)? },
        "checklist" => FieldKind::Checklist { items: options(arg)? },
        other => bail!(
            "'{other}' is not a field kind; use short-text, long-text, scale(MIN..MAX), yes-no, date-time, single(A|B), multi(A|B) or checklist(A|B)"
        ),
    };
    Ok(FieldDef {
        id: id.to_string(),
        label: label.trim().to_string(),
        help: String::new(),
        kind,
        required,
    })
}
