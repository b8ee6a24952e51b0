//! Edits read and write only the records they touch (`document::parts`): a damaged record
//! elsewhere in the document does not stop them, they leave every other record as it was, and
//! what they write merges with another device's edits as whole-document edits did.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use automerge::transaction::Transactable;
use automerge::{ReadDoc, ROOT};
use autosurgeon::Text;
use between_shared::document::{EntryUpdate, NewEntry};
use between_shared::model::{CommentTarget, EntryStatus};
use between_shared::template::FieldValue;
use between_shared::{Author, Day, EntryId, HomeworkDoc, Role, TemplateId, Timestamp};
use std::collections::BTreeMap;

fn client() -> Author {
    Author::new(Role::Client, "Sam")
}

fn therapist() -> Author {
    Author::new(Role::Therapist, "Dr Rivera")
}

fn now(minutes: i64) -> Timestamp {
    Timestamp(1_767_225_600_000 + minutes * 60_000)
}

fn journal(doc: &mut HomeworkDoc, text: &str) -> EntryId {
    let values = BTreeMap::from([(
        "text".to_owned(),
        FieldValue::LongText(Text::with_value(text)),
    )]);
    doc.create_entry(
        &client(),
        now(1),
        NewEntry {
            template: TemplateId::from_string("journal"),
            assignment: None,
            date: Day::from_ymd(2026, 1, 5).unwrap(),
            update: EntryUpdate {
                values,
                ..EntryUpdate::default()
            },
        },
        false,
    )
    .unwrap()
}

/// Overwrites entry `id`'s status with a number, as a buggy device might.
fn damage(doc: &mut HomeworkDoc, id: &EntryId) {
    let am = doc.automerge();
    let (_, entries) = am.get(ROOT, "entries").unwrap().unwrap();
    let (_, entry) = am.get(&entries, id.as_str()).unwrap().unwrap();
    am.put(&entry, "status", 42_i64).unwrap();
    am.commit();
}

#[test]
fn a_damaged_record_elsewhere_does_not_stop_edits_of_others() {
    let mut doc = HomeworkDoc::create(b"therapist", "Sam", &therapist(), now(0)).unwrap();
    let mut laptop = doc.fork(b"laptop");
    let broken = journal(&mut laptop, "This one will be damaged.");
    let fine = journal(&mut laptop, "This one is fine.");
    damage(&mut laptop, &broken);
    assert!(
        laptop.data().is_err(),
        "the whole document no longer hydrates"
    );

    laptop
        .splice_entry_text(&client(), now(2), &fine, "text", 17, 0, " Still.")
        .unwrap();
    laptop.complete_entry(&client(), now(3), &fine).unwrap();
    let target = CommentTarget::Entry {
        id: fine.clone(),
        field: Some("text".into()),
    };
    let comment = laptop
        .add_comment(&client(), now(4), Some(target), None, "Proud of this.")
        .unwrap();
    laptop
        .set_comment_resolved(&client(), now(5), &comment, true)
        .unwrap();

    // Repair the damaged record as a later version would, and check everything else held.
    let am = laptop.automerge();
    let (_, entries) = am.get(ROOT, "entries").unwrap().unwrap();
    let (_, entry) = am.get(&entries, broken.as_str()).unwrap().unwrap();
    am.put(&entry, "status", "draft").unwrap();
    am.commit();
    let data = laptop.data().unwrap();
    assert_eq!(data.entries[&fine].status, EntryStatus::Complete);
    assert_eq!(data.entries[&broken].status, EntryStatus::Draft);
    match &data.entries[&fine].values["text"] {
        FieldValue::LongText(t) => assert_eq!(t.as_str(), "This one is fine. Still."),
        other => panic!("{other:?}"),
    }
    assert!(data.comments[&comment].resolved);
}

#[test]
fn edits_of_different_records_on_two_devices_merge_and_leave_the_rest_alone() {
    let mut dr = HomeworkDoc::create(b"therapist", "Sam", &therapist(), now(0)).unwrap();
    let mut laptop = dr.fork(b"laptop");
    let ids: Vec<EntryId> = (0..20)
        .map(|k| journal(&mut laptop, &format!("Entry {k}.")))
        .collect();
    dr.merge(&mut laptop).unwrap();
    let before = laptop.data().unwrap();

    laptop.complete_entry(&client(), now(6), &ids[3]).unwrap();
    let target = CommentTarget::Entry {
        id: ids[3].clone(),
        field: None,
    };
    let comment = dr
        .add_comment(&therapist(), now(7), Some(target), None, "Good work.")
        .unwrap();
    laptop.merge(&mut dr).unwrap();
    let reply = laptop
        .add_comment(&client(), now(8), None, Some(comment.clone()), "Thanks!")
        .unwrap();
    dr.merge(&mut laptop).unwrap();

    let after = laptop.data().unwrap();
    assert_eq!(after, dr.data().unwrap());
    for (k, id) in ids.iter().enumerate() {
        if k != 3 {
            assert_eq!(after.entries[id], before.entries[id], "entry {k} changed");
        }
    }
    assert_eq!(after.entries[&ids[3]].status, EntryStatus::Complete);
    assert_eq!(after.comments[&reply].reply_to.as_ref(), Some(&comment));
    assert_eq!(after.comments.len(), 2);
}
