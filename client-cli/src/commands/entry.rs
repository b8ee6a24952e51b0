//! Doing homework: `between entry new|edit|complete|share|list`.
//!
//! Field values come from `--set FIELD=VALUE`, from `$EDITOR` (`--edit FIELD`), or from one
//! question per field when run in a terminal. Everything is validated against the template before
//! anything is written, so bad input changes nothing.
//!
//! A client's entry is shared (in the homework document the therapist sees) or private (in
//! their private document, only on their own devices: `--private`, or the question at the end
//! in a terminal). `entry share` moves a private entry into the shared document with the same
//! id; `edit` and `complete` find an entry wherever it is.

use super::homework::{find_template, parse_day};
use super::print_json;
use crate::cli::{EntryCommand, FieldArgs};
use crate::profile::{Place, Workspace};
use crate::{prompt, render};
use anyhow::{bail, Context, Result};
use between_shared::document::{EntryUpdate, NewEntry};
use between_shared::error::ValidationError;
use between_shared::lookup::find_assignment;
use between_shared::measures::{self, Measure};
use between_shared::model::HomeworkData;
use between_shared::model::{Assignment, Entry, EntryStatus};
use between_shared::template::builtin::{field, rated_but_not_done};
use between_shared::template::input::{format_input, parse_input};
use between_shared::template::{EntryKind, FieldKind, FieldValue, Template};
use between_shared::Role;
use between_shared::{AssignmentId, Day, DocError, EntryId};

/// `between entry ...`.
pub(crate) fn entry(ws: Workspace, command: &EntryCommand, json: bool) -> Result<()> {
    match command {
        EntryCommand::New {
            assignment,
            template,
            date,
            draft,
            private,
            fields,
        } => new_entry(
            ws,
            NewEntryArgs {
                assignment: assignment.as_deref(),
                template: template.as_deref(),
                date: date.as_deref(),
                draft: *draft,
                private: *private,
                fields,
            },
            json,
        ),
        EntryCommand::Edit {
            id,
            complete,
            fields,
        } => edit_entry(ws, id, *complete, fields, json),
        EntryCommand::Complete { id } => complete_entry(ws, id, json),
        EntryCommand::Share { id } => share_entry(ws, id, json),
        EntryCommand::List { assignment } => {
            super::views::list_entries(&ws, assignment.as_deref(), json)
        }
    }
}

/// What `between entry new` was given.
struct NewEntryArgs<'a> {
    assignment: Option<&'a str>,
    template: Option<&'a str>,
    date: Option<&'a str>,
    draft: bool,
    private: bool,
    fields: &'a FieldArgs,
}

/// `between entry new`: asks (or takes from `--set`) the answers, then stores the entry in the
/// shared or the private document.
fn new_entry(mut ws: Workspace, args: NewEntryArgs<'_>, json: bool) -> Result<()> {
    let now = ws.session.clock.now();
    let me = ws.me().clone();
    let NewEntryArgs {
        assignment,
        template,
        date,
        draft,
        private,
        fields,
    } = args;
    let data = ws.doc.data()?;
    let (assignment, template) = what_to_write(&ws, &data, assignment, template)?;
    let date = entry_date(&ws, date)?;
    let intro = assignment
        .as_ref()
        .map(|id| instructions(&data.assignments[id]));
    let Collected {
        mut update,
        prompted,
        stopped,
    } = collect_update(&template, None, fields, intro)?;
    if stopped.is_none() {
        question_activity_not_done(&template, None, &mut update, prompted)?;
    }
    if stopped.is_some() && update.is_empty() {
        eprintln!("Stopped before anything was answered, so nothing was saved.");
        return Ok(());
    }
    let place = where_it_goes(
        private,
        prompted && me.role == Role::Client,
        stopped.is_some(),
    );
    let draft = draft || stopped.is_some();
    let new = NewEntry {
        template: template.id.clone(),
        assignment,
        date,
        update,
    };
    let doc = ws.doc_at(place)?;
    let create = |doc: &mut between_shared::HomeworkDoc, new: NewEntry, complete| match place {
        Place::Shared => doc.create_entry(&me, now, new, complete),
        Place::Private => doc.create_private_entry(&me, now, new, complete, &data),
    };
    let id = match create(doc, new.clone(), !draft) {
        // Answers typed at the prompts are never thrown away: an entry that cannot be
        // completed yet is kept as a draft.
        Err(DocError::Invalid(ValidationError::Incomplete { missing })) if prompted => {
            eprintln!(
                "Not complete yet (still to answer: {}), so it is saved as a draft.",
                missing.join(", ")
            );
            create(doc, new, false)?
        }
        other => other.map_err(with_draft_hint)?,
    };
    ws.save()?;
    if let Some(why) = stopped {
        return say_kept(&id, why, place);
    }
    report(&ws, &id, json)?;
    offer_to_share(&mut ws, &id, json)
}

/// The assignment an entry is for, if any, and the template it follows.
fn what_to_write(
    ws: &Workspace,
    data: &HomeworkData,
    assignment: Option<&str>,
    template: Option<&str>,
) -> Result<(Option<AssignmentId>, Template)> {
    match (assignment, template) {
        (Some(_), Some(_)) => bail!(
            "give an assignment or --template, not both: an assignment's entries follow the assignment's template"
        ),
        (Some(a), None) => {
            let id = find_assignment(data, a)?;
            let template = ws.doc.template(&data.assignments[&id].template)?;
            Ok((Some(id), template))
        }
        (None, Some(t)) => Ok((None, find_template(&ws.doc, t)?)),
        (None, None) => bail!(
            "say what the entry is: an assignment id or template (see `between today`), or --template NAME for a free entry"
        ),
    }
}

/// The entry's day: `--date`, or today. A day ahead is kept as asked, with a note.
fn entry_date(ws: &Workspace, date: Option<&str>) -> Result<Day> {
    let today = ws.session.clock.today();
    let date = match date {
        Some(d) => parse_day("date", d)?,
        None => today,
    };
    let ahead = date.days_since(today);
    if ahead > 0 {
        // Saved as asked, but it must not look like today's homework is done.
        eprintln!(
            "Note: this entry is dated {date}, {} from today; it counts from that day, not today.",
            render::plural(usize::try_from(ahead).unwrap_or(usize::MAX), "day")
        );
    }
    Ok(date)
}

/// Which document a new entry goes into: private when asked with `--private`; for a client
/// who answered at the prompts, their choice when asked, and private when they stopped before
/// being asked (where they did not choose, the answers stay on their own devices); otherwise
/// the shared homework.
fn where_it_goes(private: bool, client_prompted: bool, stopped: bool) -> Place {
    if private {
        Place::Private
    } else if client_prompted {
        if stopped {
            return Place::Private;
        }
        match ask_private() {
            Ok(false) => Place::Shared,
            Ok(true) | Err(_) => Place::Private,
        }
    } else {
        Place::Shared
    }
}

/// `between entry edit`: changes an entry's answers, keeping it a draft when it cannot be
/// completed yet.
fn edit_entry(
    mut ws: Workspace,
    id: &str,
    complete: bool,
    fields: &FieldArgs,
    json: bool,
) -> Result<()> {
    let now = ws.session.clock.now();
    let me = ws.me().clone();
    let homework = ws.homework()?;
    let (place, id) = ws.find_entry(id)?;
    let entry = &homework.data.entries[&id];
    let template = homework.template(&entry.template)?;
    let Collected {
        mut update,
        prompted,
        stopped,
    } = collect_update(&template, Some(entry), fields, None)?;
    if stopped.is_none() {
        question_activity_not_done(&template, Some(entry), &mut update, prompted)?;
    }
    let complete = complete && stopped.is_none();
    let doc = ws.doc_at(place)?;
    match doc.update_entry(&me, now, &id, update.clone(), complete) {
        Err(DocError::Invalid(ValidationError::Incomplete { missing })) if prompted => {
            eprintln!(
                "Not complete yet (still to answer: {}); your changes are saved and it stays a draft.",
                missing.join(", ")
            );
            doc.update_entry(&me, now, &id, update, false)?;
        }
        other => other.map_err(with_draft_hint)?,
    }
    ws.save()?;
    if let Some(why) = stopped {
        return say_kept(&id, why, place);
    }
    report(&ws, &id, json)
}

/// `between entry complete`.
fn complete_entry(mut ws: Workspace, id: &str, json: bool) -> Result<()> {
    let now = ws.session.clock.now();
    let me = ws.me().clone();
    let (place, id) = ws.find_entry(id)?;
    let homework = ws.homework()?;
    let entry = &homework.data.entries[&id];
    let template = homework.template(&entry.template)?;
    question_activity_not_done(&template, Some(entry), &mut EntryUpdate::default(), false)?;
    ws.doc_at(place)?
        .complete_entry(&me, now, &id)
        .map_err(with_draft_hint)?;
    ws.save()?;
    report(&ws, &id, json)
}

/// `between entry share`: a client's private entry moved into the homework their therapist
/// sees.
fn share_entry(mut ws: Workspace, id: &str, json: bool) -> Result<()> {
    let me = ws.me().clone();
    if me.role != Role::Client {
        bail!(
            "only the client shares their entries; everything a therapist sees is already shared"
        );
    }
    let (place, id) = ws.find_entry(id)?;
    if place == Place::Shared {
        bail!(
            "the entry {} is already shared with your therapist; nothing was changed",
            id.short()
        );
    }
    let comments = share(&mut ws, &id)?;
    if json {
        return print_json(&serde_json::json!({ "id": id, "private": false }));
    }
    say_shared(&id, comments)
}

/// Moves private entry `id` into the shared document with its comments, both changes stored
/// in one transaction (the entry is never in neither, and never left behind in the private
/// document once shared). Returns how many comments came with it.
fn share(ws: &mut Workspace, id: &EntryId) -> Result<usize> {
    let now = ws.session.clock.now();
    let me = ws.me().clone();
    let moved = ws.doc_at(Place::Private)?.take_entry(&me, now, id)?;
    let comments = moved.comments.len();
    ws.doc.adopt_entry(&me, now, moved)?;
    ws.save()?;
    Ok(comments)
}

fn say_shared(id: &EntryId, comments: usize) -> Result<()> {
    let with = match comments {
        0 => String::new(),
        1 => " with your comment on it".to_owned(),
        n => format!(" with your {n} comments on it"),
    };
    outln!(
        "Shared the entry {}{with}: it is now in the homework your therapist sees, and no longer private.",
        id.short()
    );
    Ok(())
}

/// A questionnaire kept private with PHQ-9 item 9 above 0: the crisis resources were shown
/// with its score; the therapist cannot see it, so ask (in a terminal) whether to share it now,
/// or say how to later.
fn offer_to_share(ws: &mut Workspace, id: &EntryId, json: bool) -> Result<()> {
    if json || ws.me().role != Role::Client {
        return Ok(());
    }
    let homework = ws.homework()?;
    if !homework.is_private(id) {
        return Ok(());
    }
    let Some(entry) = homework.data.entries.get(id) else {
        return Ok(());
    };
    let positive = measures::entry_score(entry).is_some_and(|score| score.item9_positive);
    if !positive {
        return Ok(());
    }
    outln!("This questionnaire is private, so your therapist cannot see this answer. Sharing it lets them help you with it.");
    let share_now = prompt::interactive()
        && dialoguer::Confirm::with_theme(&dialoguer::theme::ColorfulTheme::default())
            .with_prompt("Share this questionnaire with your therapist now?")
            .default(true)
            .interact()
            .context("could not read your answer")?;
    if share_now {
        let comments = share(ws, id)?;
        say_shared(id, comments)?;
    } else {
        outln!(
            "`between entry share {}` shares it whenever you are ready.",
            id.short()
        );
    }
    Ok(())
}

/// Asks, after the fields, whether the new entry stays private.
fn ask_private() -> Result<bool> {
    dialoguer::Confirm::with_theme(&dialoguer::theme::ColorfulTheme::default())
        .with_prompt(
            "Keep this entry private (only on your devices; your therapist will not see it)?",
        )
        .default(false)
        .interact()
        .context("could not read your answer")
}

/// What to write, gathered from the command line or the person at the terminal.
struct Collected {
    update: EntryUpdate,
    /// The person answered questions at the terminal.
    prompted: bool,
    /// Why the questions ended early (Ctrl-C, a closed terminal): what was answered is kept.
    stopped: Option<String>,
}

/// Questions a behavioural-activation record that says the activity was not done but rates
/// doing it (mastery, pleasure, mood afterwards): at the terminal (`prompted`) the person says
/// which is true and `update` follows; otherwise nothing is saved and the error says how to
/// put it right.
fn question_activity_not_done(
    template: &Template,
    existing: Option<&Entry>,
    update: &mut EntryUpdate,
    prompted: bool,
) -> Result<()> {
    let mut values = existing.map(|e| e.values.clone()).unwrap_or_default();
    for id in &update.clear {
        values.remove(id);
    }
    values.extend(update.values.clone());
    let rated = rated_but_not_done(template.kind, &values);
    if rated.is_empty() {
        return Ok(());
    }
    let list = rated.join(", ");
    if !prompted {
        let verb = if rated.len() == 1 { "is" } else { "are" };
        bail!(
            "the activity is marked not done (done=no), but {list} {verb} rated, which describes doing it; nothing was saved. If you did it, add --set done=yes; if not, leave the ratings out ({})",
            rated
                .iter()
                .map(|id| format!("--clear {id}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let did_it = dialoguer::Confirm::with_theme(&dialoguer::theme::ColorfulTheme::default())
        .with_prompt(format!(
            "You said you did not do the activity, but rated {list}. Did you do it after all?"
        ))
        .default(false)
        .interact()
        .context("could not read your answer")?;
    if did_it {
        update
            .values
            .insert(field::DONE.to_owned(), FieldValue::YesNo(true));
    } else {
        for id in rated {
            update.values.remove(id);
            update.clear.push(id.to_owned());
        }
        eprintln!(
            "Left out {list}: they rate doing the activity; the record says it was not done."
        );
    }
    Ok(())
}

/// The therapist's words for an assignment, shown before its questions.
fn instructions(assignment: &Assignment) -> String {
    let mut text = format!("{} (from {})", assignment.title, assignment.created_by.name);
    let words = assignment.instructions.as_str().trim();
    if !words.is_empty() {
        text.push_str(&format!("\n  {words}"));
    }
    if let Some(minutes) = assignment.minutes {
        text.push_str(&format!("\n  About {minutes} minutes."));
    }
    if let Some(focus) = assignment.focus.as_deref().filter(|f| !f.trim().is_empty()) {
        text.push_str(&format!("\n  Focus: {focus}"));
    }
    text
}

/// Says that questions stopped early and the answers so far were kept as a draft. Written
/// without failing: the terminal may be gone.
fn say_kept(id: &EntryId, why: String, place: Place) -> Result<()> {
    use std::io::Write;
    let private = if place == Place::Private {
        " It is private (only on your devices) until you share it with `between entry share`."
    } else {
        ""
    };
    let _ = writeln!(
        std::io::stderr(),
        "\nStopped ({why}). What you answered is saved as a draft [{}].{private} Finish it with `between entry edit {}`.",
        id.short(),
        id.short()
    );
    Ok(())
}

/// Gathers the values to write: `--set`, `--edit`, `--clear`, then prompts in a terminal,
/// after `intro` (the therapist's instructions). Ctrl-C or a closed terminal ends the
/// questions but keeps the answers given.
fn collect_update(
    template: &Template,
    existing: Option<&Entry>,
    args: &FieldArgs,
    intro: Option<String>,
) -> Result<Collected> {
    let mut update = scripted_update(template, existing, args)?;
    let scripted = !args.set.is_empty() || !args.edit.is_empty() || !args.clear.is_empty();
    let prompted = !scripted && !args.no_input && prompt::interactive();
    let stopped = if prompted {
        ask_fields(template, existing, intro, &mut update)?
    } else {
        None
    };
    Ok(Collected {
        update,
        prompted,
        stopped,
    })
}

/// The values the flags give: `--clear`, `--difficulty` and `--obstacle` as they are, each
/// `--set FIELD=VALUE` parsed, and each `--edit FIELD` written in $EDITOR from the current text.
fn scripted_update(
    template: &Template,
    existing: Option<&Entry>,
    args: &FieldArgs,
) -> Result<EntryUpdate> {
    let mut update = EntryUpdate {
        clear: args.clear.clone(),
        difficulty: args.difficulty,
        obstacles: (!args.obstacles.is_empty()).then(|| args.obstacles.clone()),
        ..EntryUpdate::default()
    };
    for pair in &args.set {
        let Some((field_id, text)) = pair.split_once('=') else {
            bail!("--set takes FIELD=VALUE, e.g. --set mood=6; got '{pair}'");
        };
        let field = field_of(template, field_id.trim())?;
        let value = parse_input(field, text)?;
        update.values.insert(field.id.clone(), value);
    }
    for field_id in &args.edit {
        let field = field_of(template, field_id.trim())?;
        if field.kind != FieldKind::LongText {
            bail!(
                "--edit opens an editor for long-text fields; '{}' is not one, use --set",
                field.id
            );
        }
        let current = existing
            .and_then(|e| e.values.get(&field.id))
            .map(format_input)
            .unwrap_or_default();
        if let Some(text) = prompt::edit_text(&field.label, &current)? {
            update
                .values
                .insert(field.id.clone(), parse_input(field, &text)?);
        }
    }
    Ok(update)
}

/// Asks each field in the terminal, after `intro`, then how hard it was unless the flags said
/// so. Returns why the questions stopped early, if they did; the answers given until then are
/// in `update` either way, so they are kept as a draft.
fn ask_fields(
    template: &Template,
    existing: Option<&Entry>,
    intro: Option<String>,
    update: &mut EntryUpdate,
) -> Result<Option<String>> {
    let mut stopped = None;
    prompt::hold_interruptions()?;
    if let Some(intro) = intro {
        eprintln!("{intro}\n");
    }
    eprintln!("{} — {}", template.name, template.description);
    eprintln!("(Ctrl-C stops here and keeps what you answered as a draft.)");
    let stop = |err: anyhow::Error| {
        if prompt::stop_requested() {
            "you pressed Ctrl-C or the terminal closed".to_owned()
        } else {
            format!("the terminal could not be read: {err:#}")
        }
    };
    for field in &template.fields {
        let current = existing
            .and_then(|e| e.values.get(&field.id))
            .filter(|v| !v.is_empty());
        match prompt::ask_field(field, current) {
            Ok(Some(value)) => {
                update.values.insert(field.id.clone(), value);
            }
            Ok(None) => {}
            Err(err) => {
                stopped = Some(stop(err));
                break;
            }
        }
    }
    // A questionnaire is answered as the instrument asks, not rated like homework.
    if stopped.is_none()
        && template.kind != EntryKind::Measure
        && update.difficulty.is_none()
        && update.obstacles.is_none()
    {
        match prompt::ask_difficulty() {
            Ok((difficulty, obstacles)) => {
                update.difficulty = difficulty;
                update.obstacles = obstacles;
            }
            Err(err) => stopped = Some(stop(err)),
        }
    }
    Ok(stopped)
}

fn field_of<'t>(
    template: &'t Template,
    id: &str,
) -> Result<&'t between_shared::template::FieldDef> {
    template.field(id).ok_or_else(|| {
        ValidationError::UnknownField {
            field: id.to_string(),
            fields: template.field_ids(),
        }
        .into()
    })
}

/// Adds how to act on an incomplete entry from the command line.
fn with_draft_hint(err: DocError) -> anyhow::Error {
    match err {
        DocError::Invalid(ValidationError::Incomplete { .. }) => anyhow::Error::new(err).context(
            "the entry was not saved: add the missing answers with --set FIELD=VALUE, or save it part-way with --draft (`entry edit` keeps a draft a draft)",
        ),
        other => other.into(),
    }
}

/// Tells what was saved: status, score for measures, what is still missing for drafts, and
/// who can see it.
fn report(ws: &Workspace, id: &EntryId, json: bool) -> Result<()> {
    let homework = ws.homework()?;
    let private = homework.is_private(id);
    let data = &homework.data;
    let entry = data.entries.get(id).context("the entry just saved")?;
    let template = homework.template(&entry.template)?;
    let score = Measure::from_template(entry.template.as_str())
        .filter(|_| entry.status == EntryStatus::Complete)
        .map(|m| measures::score(m, &entry.values))
        .transpose()?;
    if json {
        return print_json(
            &serde_json::json!({ "id": id, "status": entry.status, "score": score, "private": private }),
        );
    }
    match entry.status {
        EntryStatus::Complete => outln!(
            "Saved {} ({}) — complete. Id: {}",
            template.name,
            entry.date,
            id.short()
        ),
        EntryStatus::Draft => {
            let missing: Vec<&str> = template
                .fields
                .iter()
                .filter(|f| f.required && entry.values.get(&f.id).is_none_or(FieldValue::is_empty))
                .map(|f| f.id.as_str())
                .collect();
            outln!(
                "Saved {} ({}) as a draft. Id: {}",
                template.name,
                entry.date,
                id.short()
            );
            if !missing.is_empty() {
                outln!("Still to answer before completing: {}", missing.join(", "));
            }
        }
    }
    if let Some(score) = score {
        let resources = between_shared::risk::crisis_resources(&ws.doc.data()?).to_owned();
        outln!("{}", render::measure_score(&score, &resources));
    }
    if ws.me().role == Role::Client {
        outln!("{}", render::visibility(private, ws.audience()?));
    }
    Ok(())
}
