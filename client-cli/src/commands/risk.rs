//! `between risk`: the risk flags of a client's questionnaires (see `between_shared::risk`),
//! and the therapist's acknowledgement of one, recorded in the homework document itself.

use super::print_json;
use crate::cli::RiskCommand;
use crate::profile::Session;
use crate::profile::{Place, Workspace};
use crate::render;
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

/// `between crisis-resources TEXT`: sets the practice's text in every client's homework on this
/// therapist's profile, or only in `client`'s.
pub(crate) fn set_crisis_resources(
    session: Session,
    data_dir: Option<&Path>,
    profile: &str,
    client: Option<&str>,
    text: &str,
) -> Result<()> {
    if session.me.role != Role::Therapist {
        bail!("the crisis resources are set by your therapist's practice; `between help-now` shows them");
    }
    let targets: Vec<String> = match client {
        Some(name) => vec![session.select(Some(name))?.id],
        None => session
            .shared_records()?
            .into_iter()
            .map(|r| r.id)
            .collect(),
    };
    if targets.is_empty() {
        bail!("you have no clients yet; the crisis resources go into each client's homework");
    }
    drop(session);
    let mut names = Vec::new();
    for id in &targets {
        let mut ws = Session::open(data_dir, profile)?.workspace(Some(id))?;
        let me = ws.me().clone();
        let now = ws.session.clock.now();
        ws.doc.set_crisis_resources(&me, now, text)?;
        ws.save()?;
        names.push(ws.record.label.clone());
    }
    outln!(
        "Set the crisis resources in the homework of {}; their devices get them with the next sync.",
        names.join(", ")
    );
    Ok(())
}
