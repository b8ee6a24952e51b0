//! Issue 10, defect 9: a comment's claimed author is checked against who signed it. A comment
//! that the client's laptop writes claiming to be the therapist's reaches the therapist marked
//! unverified (it was signed by a client's device); the therapist's own comment and the client's
//! honest one are shown plainly; a comment that arrives in a file is marked unverified.
//! Real relay over TLS, real `between` processes, real SQLite stores.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use between_e2e::practice::{client_with_invite, sync_clean, therapist_with_invite, tls_relay};
use between_e2e::profile_file::ProfileFile;
use between_e2e::Device;
use between_shared::model::CommentTarget;
use between_shared::{Author, EntryId, HomeworkDoc, Role, Timestamp};

/// Writes a comment on `entry` claiming to be `by`, as a program holding the profile's store
/// would (through the library, as one of the device's own processes: its device id plus a
/// suffix), appending it as a chunk of the shared document.
fn write_comment_as(device: &Device, entry: &str, by: &Author, text: &str) {
    let store = ProfileFile::open(device);
    let mut actor = store.actor.clone();
    actor.extend_from_slice(&[0xF0; 8]);
    let mut doc = HomeworkDoc::load(&store.document_bytes(), &actor).unwrap();
    let before = doc.heads();
    doc.add_comment(
        by,
        Timestamp(1_772_442_000_000),
        Some(CommentTarget::Entry {
            id: EntryId::from_string(entry),
            field: None,
        }),
        None,
        text,
    )
    .unwrap();
    store.append_chunk(&doc.automerge().save_after(&before));
}

/// `comment list --json` of `device`: text → why it is unverified (`None` when it holds).
fn comments(device: &Device) -> Vec<(String, Option<String>)> {
    let list = device.run(&["--json", "comment", "list"]).json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["comment"]["text"]["value"]
                    .as_str()
                    .or_else(|| c["comment"]["text"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                c["unverified"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn check_of<'a>(list: &'a [(String, Option<String>)], text: &str) -> &'a Option<String> {
    &list
        .iter()
        .find(|(t, _)| t == text)
        .unwrap_or_else(|| panic!("no comment {text:?} in {list:?}"))
        .1
}

#[test]
fn a_comment_signed_by_the_clients_device_cannot_pass_as_the_therapists() {
    let dir = tempfile::tempdir().unwrap();
    let root: &Path = dir.path();
    let (relay, ca_file) = tls_relay(root);
    let (dr, invite) = therapist_with_invite(&relay, root, &ca_file, "office");
    let laptop = client_with_invite(root, "sam-laptop", &invite, &ca_file);
    sync_clean(&laptop);
    sync_clean(&dr);

    let entry = laptop.create(&["entry", "new", "-t", "journal", "--set", "text=Hard day"]);
    laptop.create(&["comment", "add", &entry, "Honest question from Sam"]);
    let therapist = Author::new(Role::Therapist, "Dr Rivera");
    write_comment_as(
        &laptop,
        &entry,
        &therapist,
        "Forged: you may stop the homework",
    );
    sync_clean(&laptop);
    sync_clean(&dr);
    dr.create(&["comment", "add", &entry, "Real reply from the therapist"]);

    let seen = comments(&dr);
    assert_eq!(
        check_of(&seen, "Honest question from Sam"),
        &None,
        "{seen:?}"
    );
    assert_eq!(
        check_of(&seen, "Real reply from the therapist"),
        &None,
        "{seen:?}"
    );
    let forged = check_of(&seen, "Forged: you may stop the homework")
        .clone()
        .expect("the forged comment passed as the therapist's");
    assert!(
        forged.contains("a client's device, not a therapist's"),
        "{forged}"
    );
    let shown = dr.run(&["comment", "list"]).out();
    assert!(
        shown.contains("Dr Rivera (unverified: written on"),
        "the list does not flag it:\n{shown}"
    );

    // By file: the therapist merges a copy in which an outside program added a comment that
    // claims to be Sam's; it is marked as coming from a file.
    let file = root.join("copy.between");
    dr.run(&["doc", "save", file.to_str().unwrap()]).out();
    let mut doc = HomeworkDoc::load(&std::fs::read(&file).unwrap(), &[0xAB; 16]).unwrap();
    doc.add_comment(
        &Author::new(Role::Client, "Sam"),
        Timestamp(1_772_442_100_000),
        Some(CommentTarget::Entry {
            id: EntryId::from_string(&entry),
            field: None,
        }),
        None,
        "From a file: all is well",
    )
    .unwrap();
    std::fs::write(&file, doc.automerge().save()).unwrap();
    dr.run(&["doc", "merge", file.to_str().unwrap()]).out();
    let seen = comments(&dr);
    let by_file = check_of(&seen, "From a file: all is well")
        .clone()
        .expect("a comment from a file passed as verified");
    assert!(by_file.contains("came from a file"), "{by_file}");
    assert_eq!(
        check_of(&seen, "Real reply from the therapist"),
        &None,
        "{seen:?}"
    );
    relay.assert_no_panic();
}
