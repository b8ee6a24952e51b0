//! Issue 11, safety: a PHQ-9 with item 9 above 0 saved on the client's phone reaches the
//! therapist's caseload through the relay as a risk flag with its reason, in text and JSON; it
//! stays however often the therapist looks, until they acknowledge it with a note; the
//! acknowledgement is in the document (the client's device has it after a sync) and `show`,
//! `progress` and both exports carry the score, band and flag. Real relay over TLS, real
//! `between` processes, real SQLite stores.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::assert_mentions;
use between_e2e::practice::{client_with_invite, sync_clean, therapist_with_invite, tls_relay};
use between_e2e::Device;

/// The arguments that save a complete PHQ-9 with these nine answers (`--private` too, if so).
fn phq9_args(answers: [i64; 9], private: bool) -> Vec<String> {
    let mut args: Vec<String> = ["entry", "new", "--template", "phq-9"]
        .map(str::to_owned)
        .into();
    if private {
        args.push("--private".to_owned());
    }
    for (i, answer) in answers.iter().enumerate() {
        args.push("--set".to_owned());
        args.push(format!("item_{}={answer}", i + 1));
    }
    args
}

/// Saves a complete shared PHQ-9 with these nine answers; returns the entry id.
fn phq9(device: &Device, answers: [i64; 9]) -> String {
    let args = phq9_args(answers, false);
    device.create(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Saves a PHQ-9 and returns what the command printed.
fn phq9_printed(device: &Device, answers: [i64; 9], private: bool) -> String {
    let args = phq9_args(answers, private);
    device
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .out()
}

fn caseload_row(dr: &Device) -> serde_json::Value {
    let rows = dr.run(&["--json", "clients"]).json();
    rows.as_array().unwrap()[0].clone()
}

#[test]
fn item_9_on_the_phone_reaches_the_caseload_until_the_therapist_acknowledges_it() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let sam = client_with_invite(dir.path(), "sam-phone", &invite, &ca_file);
    sync_clean(&sam);
    sync_clean(&dr);

    // A mild total, but item 9 answered "several days".
    let calm = phq9(&sam, [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let flagged = phq9(&sam, [1, 2, 1, 1, 0, 1, 1, 0, 1]);
    sync_clean(&sam);
    sync_clean(&dr);

    let row = caseload_row(&dr);
    let risk = row["risk"].as_array().unwrap();
    assert_eq!(risk.len(), 1, "{row}");
    assert_eq!(risk[0]["entry"], flagged.as_str());
    assert_eq!(risk[0]["reasons"][0]["kind"], "item9");
    assert_eq!(risk[0]["reasons"][0]["meaning"], "several days");
    assert_eq!(risk[0]["score"]["total"], 8);
    assert_eq!(row["needs_attention"], true);
    let text = dr.run(&["clients"]).out();
    assert_mentions(
        &text,
        &["⚠", &flagged[..8], "item 9", "several days", "risk ack"],
    );
    assert!(!text.contains(&calm[..8]), "{text}");

    // Looking at the client's homework does not clear it.
    dr.run(&["show", &flagged]).out();
    dr.run(&["progress"]).out();
    assert_eq!(caseload_row(&dr)["risk"].as_array().unwrap().len(), 1);
    let shown = dr.run(&["show", &flagged]).out();
    assert_mentions(
        &shown,
        &[
            "PHQ-9 score: 8 of 27",
            "mild",
            "item 9",
            "OPEN",
            "2 — more than half the days",
        ],
    );

    // Only the therapist acknowledges; the client is pointed to help instead.
    let refused = sam.run(&["risk", "ack", &flagged]);
    assert!(!refused.ok, "{}", refused.stdout);
    assert_mentions(&refused.stderr, &["only the therapist", "help-now"]);
    let note = "Called Sam the same day; safety plan reviewed.";
    dr.run(&["risk", "ack", &flagged, "--note", note]).out();
    assert!(caseload_row(&dr)["risk"].as_array().unwrap().is_empty());
    let again = dr.run(&["risk", "ack", &flagged]);
    assert!(!again.ok);
    assert_mentions(&again.stderr, &["already acknowledged"]);

    // The acknowledgement travels in the document: the client's device has it.
    sync_clean(&dr);
    sync_clean(&sam);
    let flags = sam.run(&["--json", "risk", "list"]).json();
    assert_eq!(flags[0]["acknowledged"]["note"], note, "{flags}");
    assert_eq!(
        flags[0]["acknowledged"]["by"]["role"], "therapist",
        "{flags}"
    );

    // Progress, show and both exports carry score, band and flag.
    let progress = dr.run(&["--json", "progress"]).json();
    assert_eq!(
        progress["risk_flags"][0]["entry"],
        flagged.as_str(),
        "{progress}"
    );
    assert_mentions(
        &dr.run(&["progress"]).out(),
        &["Risk flags", "item 9", note],
    );
    let markdown = dr.run(&["export", "--format", "markdown"]).out();
    assert_mentions(
        &markdown,
        &[
            "**Score**: 8 of 27 — mild",
            "**Risk flag**",
            "item 9",
            note,
            "1 — several days",
        ],
    );
    let exported = dr.run(&["export", "--format", "json"]).json();
    assert_eq!(
        exported["risk_acknowledgements"][flagged.as_str()]["note"],
        note,
        "{exported}"
    );
    relay.assert_no_panic();
}

/// The practice's crisis resources reach the client's device; `between help-now` shows them
/// (and a sensible default where there is no homework to read them from), and so does the note
/// after a questionnaire with item 9 above 0.
#[test]
fn the_practices_crisis_resources_reach_the_client_and_help_now_always_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let sam = client_with_invite(dir.path(), "sam-laptop", &invite, &ca_file);
    sync_clean(&sam);
    sync_clean(&dr);

    // Before the practice sets anything: the default, with emergency numbers.
    assert_mentions(
        &sam.run(&["help-now"]).out(),
        &["emergency number", "988", "116 123"],
    );
    let nobody = Device::new(dir.path(), "no-such-profile");
    assert_mentions(&nobody.run(&["help-now"]).out(), &["emergency number"]);

    let ours = "Riverside Practice crisis line: 0800 123 4567, any hour. In danger now: call 112.";
    let refused = sam.run(&["crisis-resources", "mine"]);
    assert!(!refused.ok);
    assert_mentions(
        &refused.stderr,
        &["set by your therapist's practice", "help-now"],
    );
    assert_mentions(
        &dr.run(&["crisis-resources", ours]).out(),
        &["Set the crisis resources"],
    );
    sync_clean(&dr);
    sync_clean(&sam);
    assert_eq!(sam.run(&["help-now"]).out().trim(), ours);
    let saved = phq9_printed(&sam, [0, 0, 0, 0, 0, 0, 0, 0, 2], false);
    assert_mentions(&saved, &["talk to your therapist", ours, "help-now"]);

    // Kept private, the same answer is not seen by the therapist: the client is told so, shown
    // the resources, and how to share it.
    let text = phq9_printed(&sam, [0, 0, 0, 0, 0, 0, 0, 0, 1], true);
    assert_mentions(
        &text,
        &[
            ours,
            "is private, so your therapist cannot see this answer",
            "between entry share",
        ],
    );
    sync_clean(&sam);
    sync_clean(&dr);
    let flagged: Vec<String> = dr
        .run(&["--json", "risk", "list"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["entry"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        flagged.len(),
        1,
        "the therapist sees the private one: {flagged:?}"
    );

    // The practice's text stays on the therapist's profile: a client who joins afterwards gets
    // it with the therapist's next sync, and so does one started by file.
    assert_mentions(
        &dr.run(&["crisis-resources"]).out(),
        &["Your practice's crisis resources", ours],
    );
    let invite = dr.run(&["--json", "client", "invite"]).json()["invite"]
        .as_str()
        .unwrap()
        .to_owned();
    let alex = Device::new(dir.path(), "alex-laptop");
    alex.run(&[
        "init",
        "--invite",
        &invite,
        "--name",
        "Alex",
        "--device-name",
        "laptop",
        "--ca-file",
        &ca_file,
    ])
    .out();
    sync_clean(&alex);
    sync_clean(&dr);
    sync_clean(&alex);
    assert_eq!(alex.run(&["help-now"]).out().trim(), ours);
    dr.run(&["client", "new", "Robin"]).out();
    assert_mentions(
        &dr.run(&["-c", "Robin", "crisis-resources"]).out(),
        &["Robin's devices show", ours],
    );
    relay.assert_no_panic();
}
