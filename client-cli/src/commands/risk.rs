//! `between risk`: the risk flags of a client's questionnaires (see `between_shared::risk`),
//! and the therapist's acknowledgement of one, recorded in the homework document itself.

use super::print_json;
use crate::cli::RiskCommand;
use crate::profile::Session;
use crate::profile::{Place, Workspace};
use crate::render;
use crate::store::DocumentRecord;
use anyhow::{bail, Result};
use between_shared::risk::{crisis_resources, risk_flags, DEFAULT_CRISIS_RESOURCES};
use between_shared::Role;
use std::path::Path;

/// `between risk list` / `between risk ack ENTRY [--note TEXT]`.
pub(crate) fn risk(mut ws: Workspace, command: &RiskCommand, json: bool) -> Result<()> {
    match command {
        RiskCommand::List => list(&ws, json),
        RiskCommand::Ack { entry, note } => {
            let me = ws.me().clone();
            if me.role != Role::Therapist {
                bail!("only the therapist acknowledges a risk flag; if you need help now, run `between help-now`");
            }
            let (place, id) = ws.find_entry(entry)?;
            if place == Place::Private {
                bail!("that entry is private to the client; nothing to acknowledge");
            }
            let now = ws.session.clock.now();
            ws.doc.acknowledge_risk(&me, now, &id, note)?;
            ws.save()?;
            if json {
                return print_json(&serde_json::json!({"acknowledged": id, "at": now}));
            }
            outln!(
                "Acknowledged the flag on {} [{}]. It is recorded in {}'s homework{}, and leaves `between clients`.",
                ws.record.label,
                id.short(),
                ws.record.label,
                if note.trim().is_empty() { String::new() } else { " with your note".to_owned() }
            );
            Ok(())
        }
    }
}

fn list(ws: &Workspace, json: bool) -> Result<()> {
    let mut flags = risk_flags(&ws.doc.data()?);
    // Open flags first, newest first within each group.
    flags.sort_by(|a, b| {
        (a.acknowledged.is_some(), std::cmp::Reverse((a.date, a.at)))
            .cmp(&(b.acknowledged.is_some(), std::cmp::Reverse((b.date, b.at))))
    });
    if json {
        return print_json(&flags);
    }
    if flags.is_empty() {
        outln!(
            "No questionnaire of {} raises a risk flag.",
            ws.record.label
        );
        return Ok(());
    }
    for flag in &flags {
        outln!("{}", render::risk_flag(flag));
    }
    if ws.me().role == Role::Therapist && flags.iter().any(|f| f.acknowledged.is_none()) {
        outln!("\n`between risk ack ENTRY --note \"what you did\"` records that you saw a flag.");
    }
    Ok(())
}

/// `between help-now`: the crisis resources of the homework `ws` holds, or the default ones
/// when there is none to read (no profile, several clients, a damaged file). It never fails: it
/// is what someone in crisis types.
pub(crate) fn help_now(ws: Option<Workspace>) -> Result<()> {
    let text = ws
        .and_then(|ws| ws.doc.data().ok())
        .map(|data| crisis_resources(&data).to_owned())
        .unwrap_or_else(|| DEFAULT_CRISIS_RESOURCES.to_owned());
    outln!("{text}");
    Ok(())
}

/// `between crisis-resources [TEXT]`: with a text, sets the practice's crisis resources in
/// every client's homework on this therapist's profile and keeps it for clients added later
/// ([`fill_crisis_resources`]); with `client`, only in that client's homework. Without a text,
/// shows what is set.
pub(crate) fn set_crisis_resources(
    mut session: Session,
    client: Option<&str>,
    text: Option<&str>,
) -> Result<()> {
    if session.me.role != Role::Therapist {
        bail!("the crisis resources are set by your therapist's practice; `between help-now` shows them");
    }
    let Some(text) = text.map(str::trim) else {
        return show_crisis_resources(session, client);
    };
    if text.is_empty() {
        bail!("the crisis resources cannot be empty: give the numbers and hours a client can call");
    }
    let targets: Vec<DocumentRecord> = match client {
        Some(name) => vec![session.select(Some(name))?],
        None => {
            session.store.set_practice_crisis_resources(text)?;
            session.shared_records()?
        }
    };
    let store = session.store.path().to_path_buf();
    drop(session);
    let mut names = Vec::new();
    let mut not_arrived = Vec::new();
    for record in targets {
        let label = record.label.clone();
        let Some(mut ws) = Session::open_store(&store)?.workspace_of(record)? else {
            not_arrived.push(label);
            continue;
        };
        let me = ws.me().clone();
        let now = ws.session.clock.now();
        ws.doc.set_crisis_resources(&me, now, text)?;
        ws.save()?;
        names.push(ws.record.label.clone());
    }
    if names.is_empty() {
        outln!("No client's homework is on this device yet.");
    } else {
        outln!(
            "Set the crisis resources in the homework of {}; their devices get them with the next sync.",
            names.join(", ")
        );
    }
    if !not_arrived.is_empty() {
        outln!(
            "The homework of {} has not arrived yet; it gets them when it does (`between sync`).",
            not_arrived.join(", ")
        );
    }
    if client.is_none() {
        outln!("Clients you add later get them too.");
    }
    Ok(())
}

/// `between crisis-resources` without a text: the practice's text, or the default, and the
/// client named with `client`, if any.
fn show_crisis_resources(session: Session, client: Option<&str>) -> Result<()> {
    if let Some(name) = client {
        let ws = session.workspace(Some(name))?;
        outln!("{}'s devices show:\n", ws.record.label);
        outln!("{}", crisis_resources(&ws.doc.data()?));
        return Ok(());
    }
    match session.store.practice_crisis_resources()? {
        Some(text) => outln!("Your practice's crisis resources, in every client's homework:\n\n{text}"),
        None => outln!(
            "Your practice has not set its crisis resources; clients see the default:\n\n{DEFAULT_CRISIS_RESOURCES}\n\nSet yours with `between crisis-resources \"TEXT\"`."
        ),
    }
    Ok(())
}

/// Writes the practice's crisis resources (when it set them) into every client's homework on
/// this therapist's profile that has none yet: a client added by `client new` or `client
/// import`, or whose homework arrived through the relay. Returns the clients' names.
///
/// It runs before and after every `between sync`, so it reads only homework stored differently
/// since it last found resources in it (the store remembers at which stored version), and then
/// only the document's small fields: a caseload's idle sync loads no homework.
pub(crate) fn fill_crisis_resources(store: &Path) -> Result<Vec<String>> {
    let session = Session::open_store(store)?;
    if session.me.role != Role::Therapist {
        return Ok(Vec::new());
    }
    let Some(text) = session.store.practice_crisis_resources()? else {
        return Ok(Vec::new());
    };
    let mut records = Vec::new();
    for record in session.shared_records()? {
        if !session.store.crisis_resources_found(record.id)? {
            records.push(record);
        }
    }
    drop(session);
    let mut filled = Vec::new();
    for record in records {
        let label = record.label.clone();
        let Some(mut ws) = Session::open_store(store)?.workspace_of(record)? else {
            continue;
        };
        if !ws.doc.has_crisis_resources()? {
            let me = ws.me().clone();
            let now = ws.session.clock.now();
            ws.doc.set_crisis_resources(&me, now, &text)?;
            ws.save()?;
            filled.push(label);
        }
        ws.session.store.found_crisis_resources(ws.record.id)?;
    }
    Ok(filled)
}
