//! A therapist's caseload and safety numbers, end to end over TLS with the real binaries: the
//! therapist invites a client, the client's homework arrives through the relay, and
//! `between clients` says what is new since the therapist last looked — new entries, comments
//! waiting for an answer, homework overdue — until a view of the client's homework (or
//! `clients --seen`) marks it seen. `between whois` on both sides shows matching safety numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::practice::{sync_clean as sync, therapist_with_invite, tls_relay};
use between_e2e::relay::RelayProcess;
use between_e2e::{assert_mentions, Device};
use serde_json::Value;
use std::path::Path;

/// Monday morning, when the therapist invites Sam.
const MONDAY_9: &str = "2026-03-02T09:00:00+00:00";
/// Sam writes an hour later.
const MONDAY_10: &str = "2026-03-02T10:00:00+00:00";
/// The therapist looks before lunch.
const MONDAY_11: &str = "2026-03-02T11:00:00+00:00";
/// Thursday, after the once-homework's due day (Tuesday).
const THURSDAY_9: &str = "2026-03-05T09:00:00+00:00";

fn device(root: &Path, profile: &str) -> Device {
    let mut device = Device::new(root, profile);
    device.at(MONDAY_9);
    device
}

/// The therapist's caseload row of the one client, from `clients --json`.
#[track_caller]
fn caseload(dr: &Device) -> Value {
    let rows = dr.run(&["--json", "clients"]).json();
    let rows = rows.as_array().expect("a list of clients");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

/// How many items a list in a caseload row holds.
#[track_caller]
fn len(row: &Value, key: &str) -> usize {
    row[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {row}"))
        .len()
}

/// A therapist "Dr Ada Park" and a client "Sam" sharing homework through the relay.
fn therapist_and_client(dir: &Path, relay: &RelayProcess, ca_file: &str) -> (Device, Device) {
    let (dr, invite) = therapist_with_invite(relay, dir, ca_file, "office");
    let sam = device(dir, "sam-laptop");
    sam.run(&[
        "init",
        "--invite",
        &invite,
        "--name",
        "Sam",
        "--device-name",
        "laptop",
        "--ca-file",
        ca_file,
    ])
    .out();
    sync(&dr);
    (dr, sam)
}

#[test]
fn the_caseload_shows_what_is_new_until_the_therapist_looks() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (mut dr, mut sam) = therapist_and_client(dir.path(), &relay, &ca_file);

    // A new client: their homework is here, nothing new, nothing waiting.
    let row = caseload(&dr);
    assert_eq!(row["name"], "Sam", "{row}");
    assert_eq!(row["status"], "ready", "{row}");
    assert_eq!(row["nothing_new"], true, "{row}");
    assert_eq!(row["needs_attention"], false, "{row}");
    assert_eq!(row["last_looked"], Value::Null, "{row}");
    assert_mentions(&dr.run(&["clients"]).out(), &["CLIENT", "Sam", "never"]);

    // The therapist sets a thought record due Tuesday and marks Sam seen.
    let record = dr.create(&[
        "--client",
        "Sam",
        "assignment",
        "create",
        "-t",
        "thought-record",
        "--every",
        "once:2026-03-03",
    ]);
    sync(&dr);
    assert_mentions(
        &dr.run(&["clients", "--seen", "Sam"]).out(),
        &["Marked Sam's homework as seen"],
    );
    assert!(caseload(&dr)["last_looked"]["at"].is_i64());

    // An hour later Sam writes a journal entry and asks about it.
    sam.at(MONDAY_10);
    sync(&sam);
    let entry = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        "text=Walked to work instead of taking the bus",
    ]);
    let question = sam.create(&[
        "comment",
        "add",
        &entry,
        "Is this the kind of thing you meant?",
    ]);
    sync(&sam);

    // The therapist's caseload: one new entry, one comment waiting for an answer.
    dr.at(MONDAY_11);
    sync(&dr);
    let row = caseload(&dr);
    assert_eq!(row["new_entries"], serde_json::json!([entry]), "{row}");
    assert_eq!(row["new_comments"], serde_json::json!([question]), "{row}");
    assert_eq!(
        row["unanswered_comments"],
        serde_json::json!([question]),
        "{row}"
    );
    assert_eq!(len(&row, "overdue"), 0, "not due until tomorrow: {row}");
    assert_eq!(row["nothing_new"], false, "{row}");
    assert_eq!(row["needs_attention"], true, "{row}");
    let text = dr.run(&["clients"]).out();
    let line = text
        .lines()
        .find(|l| l.contains("Sam"))
        .expect("Sam's row")
        .to_string();
    assert!(line.starts_with('!'), "marked as needing attention: {text}");
    assert_mentions(&line, &["1h ago"]);

    // Showing the entry marks Sam's homework seen: nothing new any more. The question still
    // waits for an answer, until the therapist replies.
    assert_mentions(
        &dr.run(&["--client", "Sam", "show", &entry]).out(),
        &["Walked to work", "Is this the kind of thing you meant?"],
    );
    let row = caseload(&dr);
    assert_eq!(row["nothing_new"], true, "{row}");
    assert_eq!(len(&row, "new_entries"), 0, "{row}");
    assert_eq!(len(&row, "new_comments"), 0, "{row}");
    assert_eq!(len(&row, "unanswered_comments"), 1, "{row}");
    dr.run(&[
        "--client",
        "Sam",
        "comment",
        "reply",
        &question,
        "Exactly that - small choices count.",
    ])
    .out();
    let row = caseload(&dr);
    assert_eq!(len(&row, "unanswered_comments"), 0, "{row}");
    assert_eq!(row["needs_attention"], false, "{row}");

    // New is per record (issue 11): of two more entries, showing one leaves the other new;
    // `list`, `progress` and `today` show overviews and clear nothing; `clients --seen` clears all.
    let second = sam.create(&["entry", "new", "-t", "journal", "--set", "text=Second"]);
    let third = sam.create(&["entry", "new", "-t", "journal", "--set", "text=Third"]);
    sync(&sam);
    sync(&dr);
    for overview in [&["list"][..], &["progress"], &["today"]] {
        let mut args = vec!["--client", "Sam"];
        args.extend_from_slice(overview);
        dr.run(&args).out();
    }
    // Both were saved at the same (pinned) moment: their order is by id, so compare as sets.
    let mut new_entries: Vec<String> = caseload(&dr)["new_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    new_entries.sort();
    let mut expected = vec![second.clone(), third.clone()];
    expected.sort();
    assert_eq!(new_entries, expected);
    dr.run(&["--client", "Sam", "show", &second]).out();
    assert_eq!(caseload(&dr)["new_entries"], serde_json::json!([third]));
    dr.run(&["clients", "--seen", "Sam"]).out();
    assert_eq!(len(&caseload(&dr), "new_entries"), 0);

    // Thursday: the thought record due Tuesday was never done; it shows as overdue and stays
    // so after looking, until it is done.
    dr.at(THURSDAY_9);
    let row = caseload(&dr);
    assert_eq!(len(&row, "overdue"), 1, "{row}");
    assert_eq!(row["overdue"][0]["assignment"], record.as_str(), "{row}");
    assert_eq!(row["overdue"][0]["state"], "overdue", "{row}");
    assert_eq!(row["needs_attention"], true, "{row}");
    dr.run(&["--client", "Sam", "today"]).out();
    let row = caseload(&dr);
    assert_eq!(len(&row, "overdue"), 1, "{row}");
    assert_eq!(row["nothing_new"], true, "{row}");

    // A client's profile has no caseload.
    let refused = sam.run(&["clients"]);
    assert!(!refused.ok, "{}", refused.stdout);
    assert_mentions(&refused.stderr, &["therapist's clients", "client's"]);
    relay.assert_no_panic();
}

#[test]
fn whois_shows_the_same_safety_numbers_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, sam) = therapist_and_client(dir.path(), &relay, &ca_file);
    // The therapist signs their work: the client learns their name from the homework.
    dr.create(&[
        "--client",
        "Sam",
        "assignment",
        "create",
        "-t",
        "mood-check-in",
        "--every",
        "daily",
    ]);
    sync(&dr);
    sync(&sam);
    sync(&dr);

    let dr_who = dr.run(&["--json", "whois"]).json();
    let sam_who = sam.run(&["--json", "whois"]).json();
    let dr_number = dr_who["me"]["safety_number"].as_str().unwrap();
    let sam_number = sam_who["me"]["safety_number"].as_str().unwrap();
    // The full safety number: 12 groups of 5 digits.
    for number in [dr_number, sam_number] {
        let groups: Vec<&str> = number.split(' ').collect();
        assert_eq!(groups.len(), 12, "{number}");
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit())));
    }
    assert_ne!(dr_number, sam_number);
    // The same number `status` shows.
    assert_eq!(
        dr.run(&["--json", "status"]).json()["fingerprint"],
        dr_number
    );

    // Sam sees the therapist's number as the therapist sees their own, with a name and devices.
    let docs = sam_who["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{sam_who}");
    let members = docs[0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{sam_who}");
    assert_eq!(members[0]["role"], "therapist");
    assert_eq!(members[0]["name"], "Dr Ada Park");
    assert_eq!(members[0]["owner"], false);
    assert_eq!(members[0]["safety_number"], dr_number);
    assert!(
        !members[0]["devices"].as_array().unwrap().is_empty(),
        "{sam_who}"
    );

    // And the therapist sees Sam's number as Sam sees their own.
    let docs = dr_who["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{dr_who}");
    assert_eq!(docs[0]["name"], "Sam");
    let members = docs[0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{dr_who}");
    assert_eq!(members[0]["role"], "client");
    assert_eq!(members[0]["name"], "Sam");
    assert_eq!(members[0]["owner"], true);
    assert_eq!(members[0]["safety_number"], sam_number);
    assert!(
        !members[0]["devices"].as_array().unwrap().is_empty(),
        "{dr_who}"
    );

    // The text says how to compare, and shows the full numbers.
    let text = sam.run(&["whois"]).out();
    assert_mentions(
        &text,
        &[
            sam_number,
            dr_number,
            "Dr Ada Park (therapist)",
            "in person or on a call",
            "tell your practice",
        ],
    );
    let text = dr.run(&["whois"]).out();
    assert_mentions(&text, &[dr_number, sam_number, "Sam's homework"]);
    relay.assert_no_panic();
}
