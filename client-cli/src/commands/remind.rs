//! `between remind`: raises the reminders set on a client's assignments (`between assignment
//! remind ID HH:MM`) at their time of day, on the days the homework is due and not done yet,
//! each once a day, through the platform's notification service ([`crate::notify`]). It works
//! offline from the local store; it stays running (looking again at the next reminder time, and
//! at least every minute, so homework that syncs in meanwhile is seen), or with `--once` raises
//! what is due now and stops, for a scheduler such as cron. Which reminders are due is decided
//! by `between_shared::reminders`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use between_shared::reminders::{due_reminders, next_reminder};
use between_shared::Role;

use crate::cli::RemindArgs;
use crate::notify::{self, Notifier};
use crate::profile::Session;

/// The longest `between remind` sleeps before looking again.
const LOOK_AGAIN: Duration = Duration::from_secs(60);

/// `between remind [--once] [--discreet]`.
pub(crate) fn remind(store: &Path, args: &RemindArgs) -> Result<()> {
    let notifier = notify::from_env();
    let session = Session::open_store(store)?;
    if session.me.role != Role::Client {
        bail!("reminders are for a client's own homework; this profile is a therapist's");
    }
    drop(session);
    if !args.once {
        outln!(
            "Reminding you of homework at the times set on it; leave this running (Ctrl-C stops)."
        );
    }
    loop {
        let next = raise_due(store, notifier.as_ref(), args.discreet)?;
        if args.once {
            return Ok(());
        }
        std::thread::sleep(next.map_or(LOOK_AGAIN, |wait| wait.min(LOOK_AGAIN)));
    }
}

/// Raises the reminders due now that this device has not raised today; returns how long until
/// the next one today, if any.
fn raise_due(store: &Path, notifier: &dyn Notifier, discreet: bool) -> Result<Option<Duration>> {
    let ws = Session::open_store(store)?.workspace(None)?;
    let clock = ws.session.clock;
    let (today, now) = (clock.today(), clock.time_of_day());
    let data = ws.homework()?.data;
    let day = today.to_string();
    let document = ws.record.id;
    let raised = ws.session.store.reminders_raised(document, &day)?;
    let mut store_handle = ws.session.store;
    for reminder in due_reminders(&data, today, now)
        .into_iter()
        .filter(|r| !raised.contains(r.assignment.as_str()))
    {
        let text = reminder.describe(today);
        outln!("{} {text}", reminder.at);
        let (title, body) = words(&text, discreet);
        notifier.notify(title, &body)?;
        store_handle.record_reminder(
            document,
            reminder.assignment.as_str(),
            &day,
            clock.now().0,
        )?;
    }
    Ok(next_reminder(&data, today, now).map(|at| {
        let minutes = at.minutes_since_midnight() - now.minutes_since_midnight();
        Duration::from_secs(u64::from(minutes) * 60)
    }))
}

/// The notification's title and text: what is due, or, discreetly, only that something is.
fn words(text: &str, discreet: bool) -> (&'static str, String) {
    if discreet {
        (
            "Between",
            "You have homework due (`between today`)".to_owned(),
        )
    } else {
        ("Between: homework due", text.to_owned())
    }
}
