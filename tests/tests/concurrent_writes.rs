//! Many `between` processes on one profile at once, end to end with the real binaries over the
//! real relay with TLS: eight processes each saving fifty entries in parallel while
//! `between sync --watch` runs on the same profile, then an app holding the profile open
//! (`LiveProfile`) typing while commands save beside it. Every record that was reported saved
//! is there afterwards, the profile still opens and syncs, and the therapist receives it all.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use between_cli::live::LiveProfile;
use between_e2e::practice::{client_with_invite, sync_clean, therapist_with_invite, tls_relay};
use between_e2e::profile_file::ProfileFile;
use between_e2e::Device;
use between_shared::template::FieldValue;
use between_shared::{EntryId, Timestamp};

/// Processes saving at the same time.
const WRITERS: usize = 8;
/// Entries each of them saves, one `between entry new` process per entry.
const WRITES: usize = 50;

/// Saves a journal entry with `text` through its own `between` process; returns its id.
#[track_caller]
fn save_entry(device: &Device, text: &str) -> String {
    let set = format!("text={text}");
    device.create(&["entry", "new", "-t", "journal", "--set", &set])
}

/// Every entry `device` holds (of the only client's homework), id → journal text.
fn journal_texts(device: &Device) -> BTreeMap<String, String> {
    let entries = device.run(&["--json", "entry", "list"]).json();
    entries
        .as_array()
        .expect("a list of entries")
        .iter()
        .map(|e| {
            let id = e["id"].as_str().expect("an entry id").to_owned();
            let text = e["entry"]["values"]["text"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (id, text)
        })
        .collect()
}

/// Runs `WRITERS` threads, each saving `WRITES` entries one process after another, so that
/// `WRITERS` processes write the profile at any moment; returns id → text of every entry saved.
fn save_in_parallel(device: &Device, tag: &str) -> BTreeMap<String, String> {
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                scope.spawn(move || {
                    (0..WRITES)
                        .map(|i| {
                            let text = format!("{tag} writer {w} entry {i}");
                            (save_entry(device, &text), text)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|writer| writer.join().expect("a writer thread panicked"))
            .collect()
    })
}

/// Asserts that `held` has every entry of `saved`, with its text.
#[track_caller]
fn assert_holds(who: &str, held: &BTreeMap<String, String>, saved: &BTreeMap<String, String>) {
    let missing: Vec<_> = saved
        .iter()
        .filter(|(id, text)| held.get(*id) != Some(*text))
        .map(|(_, text)| text.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{who} lacks {} of {} saved entries, e.g. {:?}",
        missing.len(),
        saved.len(),
        &missing[..missing.len().min(5)]
    );
}

fn profile_dir(device: &Device) -> PathBuf {
    device.data_dir.join("profiles").join(&device.profile)
}

#[test]
fn eight_processes_saving_at_once_keep_every_entry_and_the_profile_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let laptop = client_with_invite(dir.path(), "sam-laptop", &invite, &ca_file);
    sync_clean(&laptop);
    sync_clean(&dr);

    // `sync --watch` runs on the same profile the whole time, pushing as the commands save.
    let watch_log = dir.path().join("watch.log");
    let mut watch = laptop
        .command(&["sync", "--watch"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&watch_log).unwrap())
        .spawn()
        .unwrap();

    let saved = save_in_parallel(&laptop, "parallel");
    assert_eq!(saved.len(), WRITERS * WRITES, "every save printed an id");

    let still_watching = watch.try_wait().unwrap().is_none();
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert!(
        still_watching,
        "`sync --watch` stopped while the commands saved:\n{}",
        std::fs::read_to_string(&watch_log).unwrap()
    );

    // Every entry is on the laptop, and a later command still opens the profile.
    assert_holds("the laptop", &journal_texts(&laptop), &saved);
    let one_more = save_entry(&laptop, "after the rush");

    // The profile syncs, and the therapist receives every entry.
    sync_clean(&laptop);
    sync_clean(&dr);
    let received = journal_texts(&dr);
    assert_holds("the therapist", &received, &saved);
    assert!(received.contains_key(&one_more));
    relay.assert_no_panic();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_holding_the_profile_open_and_commands_beside_it_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let laptop = client_with_invite(dir.path(), "sam-laptop", &invite, &ca_file);
    sync_clean(&laptop);
    sync_clean(&dr);

    // The app holds the profile open online (syncing, and noticing commands' saves) while
    // commands save entries beside it; the app types into an entry of its own meanwhile.
    let app = LiveProfile::open(&profile_dir(&laptop), true)
        .await
        .unwrap();
    let doc = app.documents().await.unwrap().remove(0).id;
    let typed = app
        .edit(doc, |hw, me| {
            hw.create_entry(
                me,
                Timestamp(1_772_442_000_000),
                between_shared::document::NewEntry {
                    template: between_shared::TemplateId::from_string("journal"),
                    assignment: None,
                    date: between_shared::Day::from_ymd(2026, 3, 2).unwrap(),
                    update: between_shared::document::EntryUpdate::default(),
                },
                false,
            )
        })
        .await
        .unwrap();
    let commands = {
        let laptop = Device::new(dir.path(), "sam-laptop");
        tokio::task::spawn_blocking(move || save_in_parallel(&laptop, "beside the app"))
    };
    let sentence = "Typed in the app while commands saved.";
    for ch in sentence.chars() {
        let entry: EntryId = typed.clone();
        app.edit(doc, move |hw, me| {
            let end = hw.entry_text_len(&entry, "text")?;
            hw.splice_entry_text(
                me,
                Timestamp(1_772_442_000_000),
                &entry,
                "text",
                end,
                0,
                &ch.to_string(),
            )
        })
        .await
        .unwrap();
    }
    let saved = commands.await.unwrap();
    // The app sees what the commands saved, and its own typing is intact.
    let (ids, text) = {
        let entry = typed.clone();
        app.read(doc, move |hw| {
            let data = hw.data().unwrap();
            let text = match data.entries[&entry].values.get("text") {
                Some(FieldValue::LongText(text)) => text.as_str().to_owned(),
                other => panic!("not a journal text: {other:?}"),
            };
            let ids: Vec<String> = data.entries.keys().map(|id| id.to_string()).collect();
            (ids, text)
        })
        .await
        .unwrap()
    };
    assert_eq!(text, sentence);
    let missing = saved.keys().filter(|id| !ids.contains(id)).count();
    assert_eq!(missing, 0, "the app does not see {missing} saved entries");
    assert!(!app.sync_stopped());
    app.close().await.unwrap();

    let mut expected = saved;
    expected.insert(typed.to_string(), sentence.to_owned());
    assert_holds("the laptop", &journal_texts(&laptop), &expected);
    sync_clean(&laptop);
    sync_clean(&dr);
    assert_holds("the therapist", &journal_texts(&dr), &expected);
    relay.assert_no_panic();
}

/// Writes a journal entry into `doc` as the old `between` did (as the profile's one actor) and
/// returns the chunk of changes it appended.
fn old_command_saves(doc: &mut between_shared::HomeworkDoc, text: &str) -> Vec<u8> {
    use between_shared::document::{EntryUpdate, NewEntry};
    let before = doc.heads();
    let update = EntryUpdate {
        values: [(
            "text".to_owned(),
            FieldValue::LongText(autosurgeon::Text::with_value(text)),
        )]
        .into(),
        ..EntryUpdate::default()
    };
    doc.create_entry(
        &between_shared::Author::new(between_shared::Role::Client, "Sam"),
        Timestamp(1_772_442_000_000),
        NewEntry {
            template: between_shared::TemplateId::from_string("journal"),
            assignment: None,
            date: between_shared::Day::from_ymd(2026, 3, 2).unwrap(),
            update,
        },
        false,
    )
    .unwrap();
    doc.automerge().save_after(&before)
}

/// Issue 10, defect 1: a profile that two commands of an older Between saved at the same moment
/// (both as the profile's one actor: "duplicate seq") opens again, keeps everything that still
/// fits, says what was set aside, and syncs.
#[test]
fn a_profile_damaged_by_two_old_commands_at_once_opens_with_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let laptop = client_with_invite(dir.path(), "sam-laptop", &invite, &ca_file);
    let before = save_entry(&laptop, "before the damage");
    sync_clean(&laptop);

    // Two old commands loaded the same state and each saved an entry as the profile's actor;
    // the second then saved another on top of its own.
    let store = ProfileFile::open(&laptop);
    let bytes = store.document_bytes();
    let load = || between_shared::HomeworkDoc::load(&bytes, &store.actor).unwrap();
    let (mut first, mut second) = (load(), load());
    store.append_chunk(&old_command_saves(
        &mut first,
        "kept: the first command's entry",
    ));
    store.append_chunk(&old_command_saves(
        &mut second,
        "lost: the second command's entry",
    ));
    store.append_chunk(&old_command_saves(&mut second, "lost: built on the second"));

    let listed = laptop.run(&["--json", "entry", "list"]);
    assert!(listed.ok, "{}", listed.stderr);
    assert!(
        listed
            .stderr
            .contains("the edits of 2 commands could not be merged"),
        "{}",
        listed.stderr
    );
    let texts: Vec<String> = journal_texts(&laptop).into_values().collect();
    assert!(texts.contains(&"before the damage".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&"kept: the first command's entry".to_owned()),
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.starts_with("lost")), "{texts:?}");
    // What was set aside is still in the file, not deleted.
    assert_eq!(store.count("set_aside_chunks"), 2);
    // The warning is given once: the profile is whole again.
    let again = laptop.run(&["entry", "list"]);
    assert!(!again.stderr.contains("set aside"), "{}", again.stderr);

    // It takes new entries and syncs; the therapist gets what was kept.
    let after = save_entry(&laptop, "after the repair");
    sync_clean(&laptop);
    sync_clean(&dr);
    let received = journal_texts(&dr);
    assert_eq!(
        received.get(&before).map(String::as_str),
        Some("before the damage")
    );
    assert_eq!(
        received.get(&after).map(String::as_str),
        Some("after the repair")
    );
    assert!(received
        .values()
        .any(|t| t == "kept: the first command's entry"));
    relay.assert_no_panic();
}
