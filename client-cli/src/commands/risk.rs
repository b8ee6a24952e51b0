//! `between risk`: the risk flags of a client's questionnaires (see `between_shared::risk`),
//! and the therapist's acknowledgement of one, recorded in the homework document itself.

use super::print_json;
use crate::cli::RiskCommand;
use crate::profile::{Place, Workspace};
use crate::render;
use anyhow::{bail, Result};
use between_shared::risk::risk_flags;
use between_shared::Role;

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
