//! The embedded client (`between_cli::live::LiveProfile`), end to end over the real relay with
//! TLS: a therapist, a client's laptop and phone made by the real `between` command, then held
//! open in process. Typing on the laptop reaches the phone and the therapist live and is on disk
//! (a later `between` command sees it); edits made offline leave with the next connection;
//! refused edits and unknown documents change nothing and say why; a profile that cannot be
//! opened live says what to do.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use between_cli::live::{LiveError, LiveProfile, NoticeKind};
use between_e2e::practice::{
    client_with_invite, pair_device, sync_clean, therapist_with_invite, tls_relay,
};
use between_e2e::Device;
use between_shared::model::CommentTarget;
use between_shared::protocol::DocId;
use between_shared::template::FieldValue;
use between_shared::{EntryId, HomeworkDoc, Timestamp};

const WAIT: Duration = Duration::from_secs(30);
const NOW: Timestamp = Timestamp(1_772_442_000_000);

fn profile_dir(device: &Device) -> PathBuf {
    device.data_dir.join("profiles").join(&device.profile)
}

fn journal_text(hw: &mut HomeworkDoc, entry: &EntryId) -> String {
    match hw.data().unwrap().entries[entry].values.get("text") {
        Some(FieldValue::LongText(text)) => text.as_str().to_owned(),
        other => panic!("not a journal text: {other:?}"),
    }
}

/// The id of the document of `live` holding `entry`.
async fn doc_with(live: &LiveProfile, entry: &EntryId) -> DocId {
    for doc in live.documents().await.unwrap() {
        let wanted = entry.clone();
        if live
            .read(doc.id, move |hw| hw.entry_text_len(&wanted, "text").is_ok())
            .await
            .unwrap()
        {
            return doc.id;
        }
    }
    panic!("no document holds {entry}");
}

/// Waits until `check` holds on `live`'s copy of `doc`, re-checking whenever other devices'
/// changes are stored.
async fn until(
    live: &LiveProfile,
    doc: DocId,
    check: impl Fn(&mut HomeworkDoc) -> bool + Clone + Send + 'static,
) {
    let mut changes = live.changes();
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let check = check.clone();
            if live.read(doc, check).await.unwrap() {
                return;
            }
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(waited.is_ok(), "the change did not arrive within {WAIT:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_live_reaches_the_other_devices_and_offline_edits_leave_later() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let laptop = client_with_invite(dir.path(), "sam-laptop", &invite, &ca_file);
    let created = laptop
        .run(&[
            "--json",
            "entry",
            "new",
            "-t",
            "journal",
            "--set",
            "text=Evening.",
        ])
        .json();
    let entry = EntryId::from_string(created["id"].as_str().unwrap());
    sync_clean(&laptop);
    let phone = pair_device(
        &relay.origin(),
        &laptop,
        dir.path(),
        "sam-phone",
        "Sam",
        "phone",
        Some(&ca_file),
    );
    sync_clean(&dr);

    let sam = LiveProfile::open(&profile_dir(&laptop), true)
        .await
        .unwrap();
    let sam_phone = LiveProfile::open(&profile_dir(&phone), true).await.unwrap();
    let therapist = LiveProfile::open(&profile_dir(&dr), true).await.unwrap();
    assert_eq!(sam.me().name, "Sam");
    let (doc, phone_doc, dr_doc) = (
        doc_with(&sam, &entry).await,
        doc_with(&sam_phone, &entry).await,
        doc_with(&therapist, &entry).await,
    );

    // Sam types a sentence key by key on the laptop: each keystroke its own change.
    for ch in " Walked to the park.".chars() {
        let entry = entry.clone();
        sam.edit(doc, move |hw, me| {
            let end = hw.entry_text_len(&entry, "text")?;
            hw.splice_entry_text(me, NOW, &entry, "text", end, 0, &ch.to_string())
        })
        .await
        .unwrap();
    }
    let want = "Evening. Walked to the park.";
    for (live, doc) in [(&sam_phone, phone_doc), (&therapist, dr_doc)] {
        let entry = entry.clone();
        until(live, doc, move |hw| journal_text(hw, &entry) == want).await;
    }

    // The therapist comments live; the laptop sees it.
    let target = CommentTarget::Entry {
        id: entry.clone(),
        field: Some("text".into()),
    };
    therapist
        .edit(dr_doc, move |hw, me| {
            hw.add_comment(me, NOW, Some(target), None, "Lovely to read.")
        })
        .await
        .unwrap();
    until(&sam, doc, |hw| {
        hw.data()
            .unwrap()
            .comments
            .values()
            .any(|c| c.text.as_str() == "Lovely to read.")
    })
    .await;

    // Refused edits change nothing and say why; an unknown document is named.
    let typed = entry.clone();
    let refused = therapist
        .edit(dr_doc, move |hw, me| {
            hw.splice_entry_text(me, NOW, &typed, "text", 0, 0, "x")
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, LiveError::Refused(_)), "{refused:?}");
    assert!(
        refused.to_string().contains("client's own work"),
        "{refused}"
    );
    // An invalid value comes back as the document's validation error, naming the field.
    let mood = entry.clone();
    let invalid = sam
        .edit(doc, move |hw, me| {
            let update = between_shared::document::EntryUpdate {
                values: [("text".to_owned(), FieldValue::Number(42))].into(),
                ..Default::default()
            };
            hw.update_entry(me, NOW, &mood, update, false)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            invalid,
            LiveError::Refused(between_shared::DocError::Invalid(_))
        ),
        "{invalid:?}"
    );
    let nowhere = DocId([0; 16]);
    let unknown = sam.edit(nowhere, |_, _| Ok(())).await.unwrap_err();
    assert!(
        matches!(&unknown, LiveError::UnknownDocument { id } if *id == nowhere),
        "{unknown:?}"
    );
    assert!(unknown.to_string().contains("does not sync"), "{unknown}");

    // What a command would print arrives as notices: the profile connected.
    let mut notices = sam.notices();
    let online = tokio::time::timeout(WAIT, async {
        loop {
            match notices.recv().await {
                Ok(notice) if notice.kind == NoticeKind::Online => return notice,
                Ok(_) => continue,
                Err(err) => panic!("notices ended: {err}"),
            }
        }
    })
    .await
    .expect("an online notice");
    assert!(online.text.contains("connected"), "{online:?}");

    sam.close().await.unwrap();
    sam_phone.close().await.unwrap();
    therapist.close().await.unwrap();

    // What the live laptop stored is what the command line sees.
    let shown = laptop.run(&["--json", "show", entry.as_str()]).json();
    assert!(shown.to_string().contains(want), "{shown}");

    // Offline, the phone types; the edit is stored at once and leaves with the next sync.
    let offline = LiveProfile::open(&profile_dir(&phone), false)
        .await
        .unwrap();
    let typed = entry.clone();
    offline
        .edit(phone_doc, move |hw, me| {
            let end = hw.entry_text_len(&typed, "text")?;
            hw.splice_entry_text(me, NOW, &typed, "text", end, 0, " Then rain.")
        })
        .await
        .unwrap();
    assert!(!offline.sync_stopped());
    offline.close().await.unwrap();
    sync_clean(&phone);
    sync_clean(&laptop);
    let shown = laptop.run(&["--json", "show", entry.as_str()]).json();
    assert!(
        shown
            .to_string()
            .contains("Evening. Walked to the park. Then rain."),
        "{shown}"
    );

    // An app that lets go of a profile without closing it stops its sync all the same: the
    // background task ends and frees the profile, which closes its notices.
    let dropped = LiveProfile::open(&profile_dir(&phone), true).await.unwrap();
    let mut notices = dropped.notices();
    drop(dropped);
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match notices.recv().await {
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "a dropped live profile kept syncing");
    relay.assert_no_panic();
}

#[tokio::test]
async fn a_profile_that_cannot_be_opened_live_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // No profile at all.
    let missing = LiveProfile::open(&dir.path().join("nobody"), false)
        .await
        .err()
        .unwrap();
    assert!(matches!(missing, LiveError::Profile(_)), "{missing:?}");
    // A profile that does not sync with a relay.
    let local = Device::new(dir.path(), "local");
    local
        .run(&["init", "--role", "client", "--name", "Sam"])
        .out();
    let unsynced = LiveProfile::open(&profile_dir(&local), false)
        .await
        .err()
        .unwrap();
    assert!(
        unsynced.to_string().contains("between init --relay"),
        "{unsynced}"
    );
}
