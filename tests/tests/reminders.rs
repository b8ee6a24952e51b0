//! `between remind` with a fake notifier (`BETWEEN_NOTIFY_COMMAND`, a script that writes what
//! it is given to a file) and a pinned clock: reminders are raised at their time of day, for
//! homework due and not done, once a day, and say what is due.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use between_e2e::{assert_mentions, Device};
use std::path::Path;

/// A notifier that appends "TITLE | BODY" lines to `log`.
fn fake_notifier(dir: &Path, log: &Path) -> std::path::PathBuf {
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s | %s\\n' \"$1\" \"$2\" >> '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `between remind --once` at `now`, with the fake notifier; returns what it printed.
fn remind_at(sam: &mut Device, now: &str, notifier: &Path, extra: &[&str]) -> String {
    sam.at(now);
    let mut args = vec!["remind", "--once"];
    args.extend_from_slice(extra);
    let output = sam
        .command(&args)
        .env("BETWEEN_NOTIFY_COMMAND", notifier)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn raised(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn reminders_are_raised_at_their_time_for_homework_not_done_once_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("notifications.log");
    let notifier = fake_notifier(dir.path(), &log);
    let mut sam = Device::new(dir.path(), "sam");
    sam.run(&["init", "--role", "client", "--name", "Sam"])
        .out();
    let mood = sam.create(&[
        "assignment",
        "create",
        "-t",
        "mood-check-in",
        "--every",
        "daily",
        "--remind",
        "19:30",
    ]);
    let walk = sam.create(&[
        "assignment",
        "create",
        "-t",
        "behavioural-activation",
        "--title",
        "Evening walk",
        "--every",
        "daily",
    ]);
    assert_mentions(
        &sam.run(&["assignment", "remind", &walk, "08:00"]).out(),
        &["'Evening walk' reminds at 08:00"],
    );
    assert_mentions(
        &sam.run(&["show", &mood]).out(),
        &["Reminder: 19:30 on the days it is due"],
    );
    assert_mentions(
        &sam.run(&["assignment", "remind", &walk, "25:00"]).err(),
        &["'25:00' is not a time of day", "HH:MM"],
    );

    // Before any reminder time: nothing.
    remind_at(&mut sam, "2026-03-03T07:59:00+00:00", &notifier, &[]);
    assert!(raised(&log).is_empty());
    // At 08:00 the walk; again at 09:00 nothing new (raised once a day).
    let said = remind_at(&mut sam, "2026-03-03T08:00:00+00:00", &notifier, &[]);
    assert_mentions(&said, &["08:00 Evening walk: due today"]);
    remind_at(&mut sam, "2026-03-03T09:00:00+00:00", &notifier, &[]);
    assert_eq!(
        raised(&log),
        vec!["Between: homework due | Evening walk: due today".to_owned()]
    );
    // The mood check-in is done before its time: no reminder at 19:30.
    sam.at("2026-03-03T18:00:00+00:00");
    sam.run(&["entry", "new", &mood, "--set", "mood=6"]).out();
    remind_at(&mut sam, "2026-03-03T19:30:00+00:00", &notifier, &[]);
    assert_eq!(raised(&log).len(), 1, "{:?}", raised(&log));

    // The next day both are due; discreetly, the notification does not say what.
    remind_at(
        &mut sam,
        "2026-03-04T20:00:00+00:00",
        &notifier,
        &["--discreet"],
    );
    assert_eq!(
        raised(&log)[1..],
        [
            "Between | You have homework due (`between today`)".to_owned(),
            "Between | You have homework due (`between today`)".to_owned(),
        ]
    );

    // Switched off, a reminder is never raised again; a therapist's profile has none to raise.
    sam.run(&["assignment", "remind", &walk, "off"]).out();
    remind_at(&mut sam, "2026-03-05T20:00:00+00:00", &notifier, &[]);
    assert_eq!(
        raised(&log).last().unwrap(),
        "Between: homework due | Mood check-in: due today"
    );
    assert_eq!(raised(&log).len(), 4);
    let dr = Device::new(dir.path(), "dr");
    dr.run(&["init", "--role", "therapist", "--name", "Dr Rivera"])
        .out();
    assert_mentions(
        &dr.run(&["remind", "--once"]).err(),
        &["reminders are for a client's own homework"],
    );
}
