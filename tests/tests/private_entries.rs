//! Private entries, end to end with the real binaries: a client keeps an entry in their private
//! document (only on their own devices, enforced by keys) or shares it; `show`, `list`, `today`,
//! `progress` and `export` say which is which; the file handed to a therapist (`doc save`) holds
//! the shared document only; `entry share` moves an entry into the shared document with its
//! text, difficulty and the client's comments, and the move reaches the other device. Through a
//! real relay (laptop and a paired phone) and on a profile that does not sync.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::RelayProcess;
use between_e2e::{assert_mentions, Device};
use serde_json::Value;
use std::path::Path;

const NOW: &str = "2026-03-02T09:00:00+00:00";
const SAM: &str = "Sam";
/// Written in a private entry: must never reach the shared document, a file for the
/// therapist, or the relay's files.
const PRIVATE_TEXT: &str = "Canary-private: the argument with my sister still hurts.";
/// Written in a shared entry.
const SHARED_TEXT: &str = "Canary-shared: walked to work and felt calmer.";
/// The client's own note on their private entry, which travels with it when shared.
const NOTE: &str = "Canary-note: bring this up when I am ready.";
const PRIVATE_MARK: &str = "private — only on your devices; your therapist cannot see it";
/// What a client with no therapist yet sees next to a shared entry (the relay account came from
/// an admin invite: no therapist is on the membership list).
const SHARED_MARK: &str = "not shared with anyone: no therapist has joined your homework";
const ONLY_YOURS: &str = "only on your devices; your therapist cannot see it";

/// `between sync --json` that must succeed with nothing failed, refused or left to send.
#[track_caller]
fn sync(device: &Device) {
    let run = device.run(&["--json", "sync"]);
    let stderr = run.stderr.clone();
    let json = run.json();
    assert_eq!(json["failed"], Value::Array(vec![]), "{json}\n{stderr}");
    assert_eq!(json["refused"], Value::Array(vec![]), "{json}\n{stderr}");
    assert_eq!(json["pending_changes"], 0, "{json}\n{stderr}");
}

fn first_device(relay: &RelayProcess, root: &Path) -> Device {
    let mut laptop = Device::new(root, "laptop");
    laptop.at(NOW);
    let invite = relay.invite("client");
    laptop
        .run(&[
            "init",
            "--relay",
            &relay.origin(),
            "--invite",
            &invite,
            "--name",
            SAM,
            "--device-name",
            "laptop",
        ])
        .out();
    laptop
}

fn pair(relay: &RelayProcess, from: &Device, root: &Path) -> Device {
    let out = from.run(&["device", "add"]).out();
    let code = out.trim().to_string();
    let mut phone = Device::new(root, "phone");
    phone.at(NOW);
    phone
        .run(&[
            "init",
            "--relay",
            &relay.url(),
            "--pair",
            &code,
            "--name",
            SAM,
            "--device-name",
            "phone",
        ])
        .out();
    phone
}

/// `entry list --json`: entry id → whether it is private.
fn privacy(device: &Device) -> Vec<(String, bool)> {
    device
        .run(&["--json", "entry", "list"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["private"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn is_private(device: &Device, id: &str) -> bool {
    privacy(device)
        .into_iter()
        .find(|(e, _)| e == id)
        .unwrap_or_else(|| panic!("{} has no entry {id}", device.profile))
        .1
}

/// The line of `between list` about an entry.
fn list_line(device: &Device, id: &str) -> String {
    let out = device.run(&["list"]).out();
    out.lines()
        .find(|l| l.contains(&id[..8]) && l.contains("journal"))
        .unwrap_or_else(|| panic!("no line for {id} in:\n{out}"))
        .to_string()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// What a therapist who imports `file` (written by `doc save`) sees, as `list --json`.
fn as_therapist_sees(root: &Path, name: &str, file: &Path) -> String {
    let mut dr = Device::new(root, name);
    dr.at(NOW);
    dr.run(&["init", "--role", "therapist", "--name", "Dr Rivera"])
        .out();
    dr.run(&["client", "import", file.to_str().unwrap()]).out();
    dr.snapshot(Some(SAM)).to_string()
}

/// Every byte of every file under `dir`.
fn bytes_under(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(bytes_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

#[test]
fn a_private_entry_stays_on_the_clients_devices_until_it_is_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("relay")).unwrap();
    let relay = RelayProcess::start(&root.join("relay"));

    // The laptop: a daily journal, done today in a private entry; a free shared entry.
    let laptop = first_device(&relay, root);
    let journal = laptop.create(&["assignment", "create", "-t", "journal", "--every", "daily"]);
    let private = laptop
        .run(&[
            "--json",
            "entry",
            "new",
            &journal,
            "--private",
            "--set",
            &format!("text={PRIVATE_TEXT}"),
            "--difficulty",
            "7",
            "--obstacle",
            "discomfort",
        ])
        .json();
    assert_eq!(private["private"], true, "{private}");
    let private = private["id"].as_str().unwrap().to_string();
    let shared = laptop
        .run(&[
            "--json",
            "entry",
            "new",
            "--template",
            "journal",
            "--set",
            &format!("text={SHARED_TEXT}"),
        ])
        .json();
    assert_eq!(shared["private"], false, "{shared}");
    let shared = shared["id"].as_str().unwrap().to_string();
    // A note to self on the private entry stays private with it.
    let note_out = laptop
        .run(&["comment", "add", &format!("{private}:text"), NOTE])
        .out();
    assert_mentions(&note_out, &["on your private entry", ONLY_YOURS]);
    sync(&laptop);

    // The phone, paired afterwards, receives the private document through the pairing.
    let phone = pair(&relay, &laptop, root);
    sync(&phone);
    let mut seen = privacy(&phone);
    seen.sort();
    let mut expected = vec![(private.clone(), true), (shared.clone(), false)];
    expected.sort();
    assert_eq!(seen, expected);
    assert_mentions(&list_line(&phone, &private), &[PRIVATE_MARK]);
    assert_mentions(&list_line(&phone, &shared), &[SHARED_MARK]);
    let shown = phone.run(&["show", &private]).out();
    assert_mentions(
        &shown,
        &[
            "Private — only on your devices; your therapist cannot see it.",
            PRIVATE_TEXT,
            NOTE,
            "Difficulty: 7/10",
        ],
    );
    assert_mentions(
        &phone.run(&["show", &shared]).out(),
        &["Not shared with anyone: no therapist has joined your homework."],
    );
    let shown = phone.run(&["--json", "show", &private]).json();
    assert_eq!(shown["private"], true);
    assert_eq!(shown["entry"]["values"]["text"]["value"], PRIVATE_TEXT);

    // Today: the journal is done, but only privately; progress counts it and says so.
    let today = phone.run(&["--json", "today"]).json();
    let item = today
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["assignment"] == journal.as_str())
        .unwrap_or_else(|| panic!("no journal in {today}"));
    assert_eq!(
        (item["state"].as_str(), item["private"].as_bool()),
        (Some("done"), Some(true))
    );
    assert_mentions(
        &phone.run(&["today"]).out(),
        &["done (in a private entry — only on your devices; your therapist cannot see it)"],
    );
    assert_eq!(
        phone.run(&["--json", "progress"]).json()["private_entries"],
        1
    );
    assert_mentions(&phone.run(&["progress"]).out(), &["Counts 1 private entry"]);

    // The file for the therapist holds the shared document only; the export holds everything.
    let file = root.join("for-dr.between");
    let saved = phone.run(&["doc", "save", file.to_str().unwrap()]).out();
    assert_mentions(&saved, &["private entry is not in it"]);
    let bytes = std::fs::read(&file).unwrap();
    assert!(!contains(&bytes, PRIVATE_TEXT) && !contains(&bytes, NOTE));
    let dr_sees = as_therapist_sees(root, "dr", &file);
    assert!(dr_sees.contains(SHARED_TEXT), "{dr_sees}");
    assert!(
        !dr_sees.contains(PRIVATE_TEXT) && !dr_sees.contains(NOTE) && !dr_sees.contains(&private),
        "{dr_sees}"
    );
    let markdown = phone.run(&["export", "--format", "markdown"]).out();
    assert_mentions(
        &markdown,
        &[
            PRIVATE_TEXT,
            SHARED_TEXT,
            NOTE,
            "includes 1 private entry",
            "*Private — only on the client's own devices; the therapist cannot see it.*",
        ],
    );
    let exported = phone.run(&["export", "--format", "json"]).json();
    assert_eq!(
        exported["private"]["entries"][&private]["values"]["text"]["value"],
        PRIVATE_TEXT
    );
    assert!(exported["entries"].get(&private).is_none());
    assert_eq!(
        exported["entries"][&shared]["values"]["text"]["value"],
        SHARED_TEXT
    );
    // Editing works on a private entry, from either device.
    phone
        .run(&["entry", "edit", &private, "--difficulty", "5"])
        .out();
    assert!(is_private(&phone, &private));

    // Refused, and nothing changes: sharing a shared entry, or an unknown one.
    let err = phone.refuses(None, &["entry", "share", &shared]);
    assert_mentions(&err, &["already shared", "nothing was changed"]);
    let err = phone.refuses(None, &["entry", "share", "0123abcd"]);
    assert_mentions(&err, &["no entry", "0123abcd"]);

    // The phone shares it: it moves, with its text, difficulty and note, under the same id.
    let out = phone.run(&["entry", "share", &private]).out();
    assert_mentions(
        &out,
        &[
            "Shared the entry",
            "with your comment on it",
            "no longer private",
        ],
    );
    assert!(!is_private(&phone, &private));
    let after = phone.snapshot(None);
    assert!(
        after.get("private").is_none(),
        "nothing private is left: {after}"
    );
    assert_eq!(
        after["entries"][&private]["values"]["text"]["value"],
        PRIVATE_TEXT
    );
    assert_eq!(after["entries"][&private]["difficulty"], 5);
    assert_eq!(after["entries"][&private]["assignment"], journal.as_str());
    assert!(after["comments"].to_string().contains(NOTE));
    let err = phone.refuses(None, &["entry", "share", &private]);
    assert_mentions(&err, &["already shared"]);

    // After syncing, the laptop shows it as shared and no longer private.
    sync(&phone);
    sync(&laptop);
    assert!(!is_private(&laptop, &private));
    assert_mentions(&list_line(&laptop, &private), &[SHARED_MARK]);
    assert!(!list_line(&laptop, &private).contains(PRIVATE_MARK));
    assert_mentions(
        &laptop.run(&["show", &private]).out(),
        &[
            "Not shared with anyone: no therapist has joined your homework.",
            PRIVATE_TEXT,
            NOTE,
        ],
    );
    assert_eq!(
        laptop.snapshot(None),
        phone.snapshot(None),
        "the devices converge"
    );
    assert_eq!(
        laptop.run(&["--json", "progress"]).json()["private_entries"],
        0
    );
    // Now the therapist's file has it.
    let file = root.join("for-dr-2.between");
    laptop.run(&["doc", "save", file.to_str().unwrap()]).out();
    let dr_sees = as_therapist_sees(root, "dr2", &file);
    assert!(
        dr_sees.contains(PRIVATE_TEXT) && dr_sees.contains(NOTE),
        "{dr_sees}"
    );

    // The relay held the private document only as ciphertext (invariant 1).
    let relay_bytes = bytes_under(relay.dir());
    for canary in [PRIVATE_TEXT, SHARED_TEXT, NOTE] {
        assert!(
            !contains(&relay_bytes, canary),
            "the relay's files hold {canary:?}"
        );
    }
}

#[test]
fn a_profile_that_does_not_sync_keeps_private_entries_and_shares_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut sam = Device::new(root, "sam");
    sam.at(NOW);
    sam.run(&["init", "--role", "client", "--name", SAM]).out();
    // The profile holds the shared homework and the private document; `client list` names only
    // the homework.
    let clients = sam.run(&["--json", "client", "list"]).json();
    assert_eq!(clients.as_array().unwrap().len(), 1, "{clients}");

    let draft = sam.create(&[
        "entry",
        "new",
        "--template",
        "mood-check-in",
        "--private",
        "--draft",
        "--set",
        "note=just for me",
    ]);
    let private = sam.create(&[
        "entry",
        "new",
        "--template",
        "journal",
        "--private",
        "--set",
        &format!("text={PRIVATE_TEXT}"),
    ]);
    assert!(is_private(&sam, &draft) && is_private(&sam, &private));
    // Completing a private draft works where it lives.
    sam.run(&["entry", "edit", &draft, "--set", "mood=6"]).out();
    let done = sam.run(&["--json", "entry", "complete", &draft]).json();
    assert_eq!(
        (done["status"].as_str(), done["private"].as_bool()),
        (Some("complete"), Some(true))
    );

    let file = root.join("sam.between");
    sam.run(&["doc", "save", file.to_str().unwrap()]).out();
    assert!(!contains(&std::fs::read(&file).unwrap(), PRIVATE_TEXT));
    assert!(!as_therapist_sees(root, "dr", &file).contains(PRIVATE_TEXT));

    let err = sam.refuses(None, &["entry", "share", "ffffffff"]);
    assert_mentions(&err, &["no entry"]);
    sam.run(&["entry", "share", &private]).out();
    assert!(!is_private(&sam, &private));
    assert!(is_private(&sam, &draft), "only the shared entry moved");
    let file = root.join("sam-2.between");
    sam.run(&["doc", "save", file.to_str().unwrap()]).out();
    let dr_sees = as_therapist_sees(root, "dr2", &file);
    assert!(dr_sees.contains(PRIVATE_TEXT), "{dr_sees}");
    assert!(!dr_sees.contains("just for me"), "{dr_sees}");

    // A therapist keeps no private entries.
    let mut dr = Device::new(root, "dr3");
    dr.at(NOW);
    dr.run(&["init", "--role", "therapist", "--name", "Dr Rivera"])
        .out();
    dr.run(&["client", "import", file.to_str().unwrap()]).out();
    let err = dr.refuses(
        Some(SAM),
        &[
            "--client",
            SAM,
            "entry",
            "new",
            "--template",
            "journal",
            "--private",
            "--set",
            "text=x",
        ],
    );
    assert_mentions(&err, &["only a client keeps private entries"]);
}
