//! Bad input around profiles, documents and the local store: each is refused with a clear
//! message, and nothing changes (the document, the store file's bytes, the files given).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::{assert_mentions, Device};
use std::path::Path;

const NOW: &str = "2026-03-02T09:00:00+00:00";

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// A therapist with clients Sam (one daily mood check-in) and Alex, and Sam's device started from
/// the document the therapist handed over. Returns (therapist, client, mood assignment id).
fn therapist_and_client(root: &Path) -> (Device, Device, String) {
    let mut dr = Device::new(root, "dr");
    dr.at(NOW);
    dr.run(&["init", "--role", "therapist", "--name", "Dr Rivera"])
        .out();
    dr.run(&["client", "new", "Sam"]).out();
    dr.run(&["client", "new", "Alex"]).out();
    let mood = dr.create(&[
        "--client",
        "Sam",
        "assignment",
        "create",
        "-t",
        "mood-check-in",
        "--every",
        "daily",
    ]);
    let handover = root.join("sam.between");
    dr.run(&["--client", "Sam", "doc", "save", path(&handover)])
        .out();
    let mut sam = Device::new(root, "sam");
    sam.at(NOW);
    sam.run(&[
        "init",
        "--role",
        "client",
        "--name",
        "Sam",
        "--document",
        path(&handover),
    ])
    .out();
    sam.run(&["entry", "new", &mood, "--set", "mood=6"]).out();
    (dr, sam, mood)
}

#[test]
fn documents_that_are_not_this_clients_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dr, sam, _) = therapist_and_client(tmp.path());

    // Another client's homework, on the client's device and into the wrong client on the
    // therapist's.
    let alex = tmp.path().join("alex.between");
    dr.run(&["--client", "Alex", "doc", "save", path(&alex)])
        .out();
    let alex_bytes = std::fs::read(&alex).unwrap();
    for (device, client, args) in [
        (&sam, None, vec!["doc", "merge", path(&alex)]),
        (
            &dr,
            Some("Sam"),
            vec!["--client", "Sam", "doc", "merge", path(&alex)],
        ),
    ] {
        let err = device.refuses(client, &args);
        assert_mentions(
            &err,
            &[
                "different homework document",
                "not this one",
                "nothing was merged",
            ],
        );
    }
    assert_eq!(
        std::fs::read(&alex).unwrap(),
        alex_bytes,
        "the file is only read"
    );

    // Files that are not documents at all.
    let garbage = tmp.path().join("garbage.between");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap())
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "Dear diary, not a homework document.\n").unwrap();
    let empty = tmp.path().join("empty.between");
    std::fs::write(&empty, b"").unwrap();
    for (file, name) in [
        (&garbage, "garbage.between"),
        (&text, "notes.txt"),
        (&empty, "empty.between"),
    ] {
        let err = sam.refuses(None, &["doc", "merge", path(file)]);
        let first_line = err.lines().next().unwrap();
        assert_mentions(first_line, &[name, "is not a Between homework document"]);
        let err = dr.refuses(
            Some("Sam"),
            &["--client", "Sam", "doc", "merge", path(file)],
        );
        assert_mentions(&err, &[name, "is not a Between homework document"]);
    }
    assert_eq!(std::fs::read(&garbage).unwrap(), bytes);

    // A file that is not there.
    let missing = tmp.path().join("missing.between");
    let err = sam.refuses(None, &["doc", "merge", path(&missing)]);
    assert_mentions(&err, &["could not read", "missing.between"]);

    // Starting a profile from garbage creates no profile; a therapist cannot import it either.
    let mut newcomer = Device::new(tmp.path(), "newcomer");
    newcomer.at(NOW);
    let run = newcomer.run(&[
        "init",
        "--role",
        "client",
        "--name",
        "Sam",
        "--document",
        path(&garbage),
    ]);
    assert_mentions(&run.err(), &["is not a Between homework document"]);
    assert!(
        !newcomer.store_file().exists(),
        "a refused init left a store behind"
    );
    assert_mentions(
        &newcomer.run(&["list"]).err(),
        &["no profile", "between init"],
    );
    let err = dr.refuses(Some("Sam"), &["client", "import", path(&garbage)]);
    assert_mentions(&err, &["is not a Between homework document"]);
    assert_eq!(
        dr.run(&["--json", "client", "list"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "no client was added"
    );
}

#[test]
fn init_over_an_existing_profile_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dr, sam, _) = therapist_and_client(tmp.path());
    let handover = tmp.path().join("sam.between");
    for args in [
        vec!["init", "--role", "client", "--name", "Sam"],
        vec!["init", "--role", "therapist", "--name", "Sam"],
        vec![
            "init",
            "--role",
            "client",
            "--name",
            "Sam",
            "--document",
            path(&handover),
        ],
    ] {
        let err = sam.refuses(None, &args);
        assert_mentions(&err, &["a profile named 'sam' already exists", "--profile"]);
    }
    let err = dr.refuses(
        Some("Sam"),
        &["init", "--role", "therapist", "--name", "Dr Rivera"],
    );
    assert_mentions(&err, &["a profile named 'dr' already exists"]);
    // A therapist's first device does not start from a client's document.
    let mut other = Device::new(tmp.path(), "other");
    other.at(NOW);
    let err = other
        .run(&[
            "init",
            "--role",
            "therapist",
            "--name",
            "Dr Lee",
            "--document",
            path(&handover),
        ])
        .err();
    assert_mentions(&err, &["--document", "client import"]);
    assert!(!other.store_file().exists());
}

#[test]
fn clients_the_therapist_does_not_have_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dr, sam, mood) = therapist_and_client(tmp.path());
    let nobody = tmp.path().join("nobody.between");
    for args in [
        vec!["--client", "Nobody", "list"],
        vec!["--client", "Nobody", "progress"],
        vec![
            "--client",
            "Nobody",
            "assignment",
            "create",
            "-t",
            "journal",
            "--every",
            "daily",
        ],
        vec!["--client", "Nobody", "doc", "save", path(&nobody)],
    ] {
        let err = dr.refuses(Some("Sam"), &args);
        assert_mentions(&err, &["no client 'Nobody'", "Sam", "Alex"]);
    }
    assert!(!nobody.exists());
    // With several clients, leaving --client out is refused with the choices.
    let err = dr.refuses(
        Some("Sam"),
        &["assignment", "create", "-t", "journal", "--every", "daily"],
    );
    assert_mentions(&err, &["several clients", "--client", "Sam", "Alex"]);
    // A client's profile holds only their own homework.
    let err = sam.refuses(
        None,
        &["--client", "Bob", "entry", "new", &mood, "--set", "mood=5"],
    );
    assert_mentions(&err, &["no client 'Bob'", "Sam"]);
}

/// Commands that all need the store; each must fail on a damaged one.
fn every_kind_of_command(root: &Path, mood: &str) -> Vec<Vec<String>> {
    let out = root.join("out.between");
    let handover = root.join("sam.between");
    let list: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["--json", "list"],
        vec!["today"],
        vec!["today", "--week"],
        vec!["progress"],
        vec!["show", mood],
        vec!["export", "--format", "json"],
        vec!["export", "--format", "markdown"],
        vec!["entry", "new", mood, "--set", "mood=5"],
        vec!["entry", "list"],
        vec!["comment", "list"],
        vec!["goal", "create", "Sleep better"],
        vec!["assignment", "list"],
        vec!["template", "list"],
        vec!["doc", "save", path(&out)],
        vec!["doc", "merge", path(&handover)],
    ];
    list.into_iter()
        .map(|args| args.into_iter().map(String::from).collect())
        .collect()
}

#[test]
fn a_damaged_store_is_reported_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, sam, mood) = therapist_and_client(tmp.path());
    let store = sam.store_file();
    let good = std::fs::read(&store).unwrap();
    assert!(good.len() > 4096, "a real store to damage");
    let noise: Vec<u8> = (0..good.len())
        .map(|i| u8::try_from((i * 7919 + 13) % 251).unwrap())
        .collect();

    let damages: Vec<(&str, Vec<u8>)> = vec![
        ("overwritten with garbage", noise),
        ("emptied", Vec::new()),
        ("cut to 100 bytes", good[..100].to_vec()),
        // A valid SQLite header, but the pages after the first are scrambled.
        (
            "scrambled after the header page",
            good.iter()
                .enumerate()
                .map(|(i, b)| {
                    if i < 4096 {
                        *b
                    } else {
                        b.wrapping_mul(7).wrapping_add(13)
                    }
                })
                .collect(),
        ),
    ];
    let commands = every_kind_of_command(tmp.path(), &mood);
    for (damage, bytes) in damages {
        std::fs::write(&store, &bytes).unwrap();
        for args in &commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let err = sam.run(&args).err();
            let command = args.join(" ");
            assert_mentions(
                &err,
                &[
                    "the local store",
                    "is damaged",
                    "left untouched",
                    "store.sqlite3",
                ],
            );
            assert!(
                std::fs::read(&store).unwrap() == bytes,
                "`between {command}` changed the damaged store ({damage})"
            );
        }
        assert!(
            !tmp.path().join("out.between").exists(),
            "a document was saved from a damaged store ({damage})"
        );
        // init does not paper over it either.
        let err = sam
            .run(&["init", "--role", "client", "--name", "Sam"])
            .err();
        assert_mentions(&err, &["already exists"]);
        assert!(
            std::fs::read(&store).unwrap() == bytes,
            "init changed the store ({damage})"
        );
    }

    // Put the good bytes back and everything works again, with the entry from before.
    std::fs::write(&store, &good).unwrap();
    let entries = sam.run(&["--json", "entry", "list"]).json();
    assert_eq!(entries.as_array().unwrap().len(), 1);
}

#[test]
fn a_damaged_therapist_store_is_reported_too() {
    let tmp = tempfile::tempdir().unwrap();
    let (dr, _, _) = therapist_and_client(tmp.path());
    let store = dr.store_file();
    let bytes = b"this is not a database".repeat(100);
    std::fs::write(&store, &bytes).unwrap();
    for args in [
        vec!["client", "list"],
        vec!["--client", "Sam", "progress"],
        vec!["client", "new", "Jo"],
        vec![
            "--client",
            "Sam",
            "assignment",
            "create",
            "-t",
            "journal",
            "--every",
            "daily",
        ],
    ] {
        let err = dr.run(&args).err();
        assert_mentions(&err, &["is damaged", "left untouched"]);
        assert!(std::fs::read(&store).unwrap() == bytes);
    }
}

#[test]
fn contradictory_or_odd_arguments_get_clear_answers() {
    let root = tempfile::tempdir().unwrap();
    let (dr, sam, mood) = therapist_and_client(root.path());

    // An assignment already decides the template; naming another one is refused.
    assert_mentions(
        &sam.refuses(
            None,
            &[
                "entry",
                "new",
                &mood,
                "--template",
                "journal",
                "--set",
                "mood=4",
            ],
        ),
        &["not both"],
    );
    // A negative number reaches the range check instead of confusing the argument parser.
    assert_mentions(
        &dr.refuses(
            Some("Sam"),
            &[
                "--client",
                "Sam",
                "assignment",
                "create",
                "-t",
                "journal",
                "--minutes",
                "-5",
            ],
        ),
        &["-5 is out of range", "1 to 600"],
    );
    // Creating a client with --json prints its id for scripts.
    let created = dr.run(&["--json", "client", "new", "Robin"]).json();
    assert_eq!(created["name"], "Robin");
    assert_eq!(created["id"].as_str().map(str::len), Some(32));
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let root = tempfile::tempdir().unwrap();
    let (_dr, sam, _mood) = therapist_and_client(root.path());
    let mut child = std::process::Command::new(between_e2e::binary("between"))
        .args(["--profile", &sam.profile, "--data-dir"])
        .arg(&sam.data_dir)
        .args(["template", "list"])
        .env("BETWEEN_NOW", NOW)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of the pipe before the command writes, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 10, defect 9: a copy of the homework that a program outside Between wrote, with a mood
/// of 42 on the 0–10 scale, is refused by `doc merge` and by `client import`, naming the entry
/// and the field; the client's mood of 6 is unchanged.
#[test]
fn a_file_with_a_mood_out_of_range_is_refused_naming_the_entry_and_field() {
    use between_shared::template::FieldValue;
    let tmp = tempfile::tempdir().unwrap();
    let (dr, sam, _) = therapist_and_client(tmp.path());
    let file = tmp.path().join("edited.between");
    sam.run(&["doc", "save", path(&file)]).out();
    let mut doc =
        between_shared::HomeworkDoc::load(&std::fs::read(&file).unwrap(), &[5; 16]).unwrap();
    let mut data = doc.data().unwrap();
    let (id, entry) = data.entries.iter_mut().next().unwrap();
    let id = id.to_string();
    entry.values.insert("mood".into(), FieldValue::Number(42));
    autosurgeon::reconcile(doc.automerge(), &data).unwrap();
    std::fs::write(&file, doc.automerge().save()).unwrap();

    let err = sam.refuses(None, &["doc", "merge", path(&file)]);
    assert_mentions(
        &err,
        &[
            "edited.between",
            "cannot accept",
            &id[..8],
            "mood",
            "42",
            "0 to 10",
        ],
    );
    let entries = sam.run(&["--json", "entry", "list"]).json();
    assert_eq!(
        entries[0]["entry"]["values"]["mood"]["value"], 6,
        "{entries}"
    );

    let mut importer = Device::new(tmp.path(), "dr2");
    importer.at(NOW);
    importer
        .run(&["init", "--role", "therapist", "--name", "Dr Lee"])
        .out();
    let run = importer.run(&["client", "import", path(&file)]);
    assert!(!run.ok, "the import was not refused: {}", run.stdout);
    assert_mentions(&run.stderr, &["cannot accept", "mood", "42"]);
    let clients = importer.run(&["--json", "client", "list"]).json();
    assert_eq!(clients.as_array().map(Vec::len), Some(0), "{clients}");
    drop(dr);
}

/// Names a person knows stand for ids (an assignment's template or title, a goal's title, `last`
/// for the newest entry or comment); a name that fits two records is refused with both listed,
/// and changes nothing.
#[test]
fn names_stand_for_ids_and_an_ambiguous_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dr, mut sam, mood) = therapist_and_client(tmp.path());
    // The one mood check-in, by its template.
    let out = sam
        .run(&["entry", "new", "mood-check-in", "--set", "mood=7"])
        .out();
    assert_mentions(&out, &["Saved Mood check-in", "complete"]);
    // Two entries at one pinned moment: `last` refuses to guess between them.
    let err = sam.refuses(None, &["show", "last"]);
    assert_mentions(&err, &["'last' fits more than one entry", "same moment"]);
    // An hour later, by the template's name in another case; `last` is that entry.
    sam.at("2026-03-02T10:00:00+00:00");
    sam.run(&["entry", "new", "MOOD CHECK-IN", "--set", "mood=8"])
        .out();
    let newest = sam.run(&["--json", "show", "last"]).json();
    assert_eq!(newest["entry"]["values"]["mood"]["value"], 8, "{newest}");
    sam.run(&["entry", "edit", "last", "--set", "note=A good day"])
        .out();
    sam.run(&["comment", "add", "last:mood", "Better than yesterday."])
        .out();
    sam.run(&["comment", "resolve", "last"]).out();
    let out = sam
        .run(&[
            "goal",
            "create",
            "Sleep better",
            "--step",
            "No phone in bed",
        ])
        .out();
    assert_mentions(&out, &["Sleep better"]);
    let out = sam.run(&["goal", "tick", "sleep better", "1"]).out();
    assert_mentions(&out, &["Ticked off 'No phone in bed'"]);

    // A second mood check-in: the template no longer says which; both are listed.
    dr.run(&[
        "-c",
        "Sam",
        "assignment",
        "create",
        "-t",
        "mood-check-in",
        "--title",
        "Evening mood",
    ])
    .out();
    let err = dr.refuses(
        Some("Sam"),
        &["-c", "Sam", "assignment", "pause", "mood-check-in"],
    );
    assert_mentions(
        &err,
        &[
            "'mood-check-in' fits more than one assignment",
            &mood[..8],
            "Evening mood",
            "give the id instead",
        ],
    );
    // The title still does.
    let out = dr
        .run(&["-c", "Sam", "assignment", "pause", "evening mood"])
        .out();
    assert_mentions(&out, &["'Evening mood' is now paused"]);
    // A new profile has no entry for `last` to name.
    let err = dr.refuses(Some("Alex"), &["-c", "Alex", "show", "last"]);
    assert_mentions(&err, &["no entry yet"]);
}
