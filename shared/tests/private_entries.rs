//! A client's private document: entries written there may do an assignment and follow a custom
//! template of the shared document, and sharing moves an entry with its texts and comments into
//! the shared document under the same id.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use autosurgeon::Text;
use between_shared::document::{EntryUpdate, NewAssignment, NewEntry};
use between_shared::model::{CommentTarget, Frequency, Schedule};
use between_shared::template::{EntryKind, FieldDef, FieldKind, FieldValue, Template};
use between_shared::{Author, Day, DocError, EntryId, HomeworkDoc, Role, TemplateId, Timestamp};
use std::collections::BTreeMap;

const PRIVATE_TEXT: &str = "Something I am not ready to tell anyone yet.";

fn client() -> Author {
    Author::new(Role::Client, "Sam")
}

fn therapist() -> Author {
    Author::new(Role::Therapist, "Dr Rivera")
}

fn now(minutes: i64) -> Timestamp {
    Timestamp(1_767_225_600_000 + minutes * 60_000)
}

fn day() -> Day {
    Day::from_ymd(2026, 1, 5).unwrap()
}

fn journal_text(text: &str) -> EntryUpdate {
    EntryUpdate {
        values: BTreeMap::from([(
            "text".to_owned(),
            FieldValue::LongText(Text::with_value(text)),
        )]),
        difficulty: Some(4),
        ..EntryUpdate::default()
    }
}

/// The shared document (with a journal assignment and a custom template) and the client's
/// private one.
fn documents() -> (
    HomeworkDoc,
    HomeworkDoc,
    between_shared::AssignmentId,
    TemplateId,
) {
    let mut shared = HomeworkDoc::create(b"therapist-device", "Sam", &therapist(), now(0)).unwrap();
    let assignment = shared
        .create_assignment(
            &therapist(),
            now(1),
            NewAssignment {
                title: "Evening journal".into(),
                template: TemplateId::from_string("journal"),
                instructions: String::new(),
                schedule: Schedule {
                    frequency: Frequency::Daily,
                    starts_on: day(),
                    ends_on: None,
                },
                minutes: None,
                focus: None,
                goal: None,
                remind_at: None,
            },
        )
        .unwrap();
    let custom = shared
        .add_template(
            &therapist(),
            now(2),
            Template {
                id: TemplateId::from_string("ignored"),
                name: "Urge log".into(),
                description: "Urges and what helped.".into(),
                kind: EntryKind::Custom,
                fields: vec![FieldDef {
                    id: "urge".into(),
                    label: "How strong was the urge?".into(),
                    help: String::new(),
                    kind: FieldKind::Scale { min: 0, max: 10 },
                    required: true,
                }],
                created_by: None,
                created_at: None,
            },
        )
        .unwrap();
    let private = HomeworkDoc::create(b"laptop-device", "Sam", &client(), now(3)).unwrap();
    (shared, private, assignment, custom)
}

fn private_journal(
    private: &mut HomeworkDoc,
    shared: &HomeworkDoc,
    assignment: &between_shared::AssignmentId,
) -> EntryId {
    private
        .create_private_entry(
            &client(),
            now(4),
            NewEntry {
                template: TemplateId::from_string("journal"),
                assignment: Some(assignment.clone()),
                date: day(),
                update: journal_text(PRIVATE_TEXT),
            },
            true,
            &shared.data().unwrap(),
        )
        .unwrap()
}

#[test]
fn a_private_entry_may_do_a_shared_assignment_and_follow_a_shared_custom_template() {
    let (shared, mut private, assignment, custom) = documents();
    let id = private_journal(&mut private, &shared, &assignment);
    let data = private.data().unwrap();
    assert_eq!(data.entries[&id].assignment.as_ref(), Some(&assignment));
    assert!(data.assignments.is_empty(), "assignments stay shared");

    let urge = private
        .create_private_entry(
            &client(),
            now(5),
            NewEntry {
                template: custom.clone(),
                assignment: None,
                date: day(),
                update: EntryUpdate {
                    values: BTreeMap::from([("urge".to_owned(), FieldValue::Number(7))]),
                    ..EntryUpdate::default()
                },
            },
            true,
            &shared.data().unwrap(),
        )
        .unwrap();
    // The template was copied in: the private document alone can edit the entry.
    assert!(private.template(&custom).is_ok());
    private
        .update_entry(
            &client(),
            now(6),
            &urge,
            EntryUpdate {
                values: BTreeMap::from([("urge".to_owned(), FieldValue::Number(3))]),
                ..EntryUpdate::default()
            },
            true,
        )
        .unwrap();

    // Without the shared document, an unknown assignment is still refused.
    let err = private
        .create_entry(
            &client(),
            now(7),
            NewEntry {
                template: TemplateId::from_string("journal"),
                assignment: Some(assignment),
                date: day(),
                update: journal_text("x"),
            },
            true,
        )
        .unwrap_err();
    assert!(matches!(err, DocError::NotFound { .. }), "{err}");
}

#[test]
fn sharing_moves_the_entry_with_its_text_difficulty_and_comments_under_the_same_id() {
    let (mut shared, mut private, assignment, _) = documents();
    let id = private_journal(&mut private, &shared, &assignment);
    let note = private
        .add_comment(
            &client(),
            now(5),
            Some(CommentTarget::Entry {
                id: id.clone(),
                field: Some("text".into()),
            }),
            None,
            "Remember to bring this up.",
        )
        .unwrap();
    let reply = private
        .add_comment(
            &client(),
            now(6),
            None,
            Some(note.clone()),
            "Maybe next week.",
        )
        .unwrap();
    let before = private.data().unwrap().entries[&id].clone();

    let moved = private.take_entry(&client(), now(7), &id).unwrap();
    shared.adopt_entry(&client(), now(7), moved).unwrap();

    let private_now = private.data().unwrap();
    assert!(private_now.entries.is_empty());
    assert!(private_now.comments.is_empty());
    let shared_now = shared.data().unwrap();
    assert_eq!(shared_now.entries[&id], before);
    assert_eq!(
        shared_now.comments[&note].text.as_str(),
        "Remember to bring this up."
    );
    assert_eq!(shared_now.comments[&reply].reply_to.as_ref(), Some(&note));
    assert_eq!(shared_now.entries[&id].difficulty, Some(4));

    // The shared copy survives a save and reload with its text intact.
    let mut reloaded = HomeworkDoc::load(&shared.save(), b"phone-device").unwrap();
    match &reloaded.data().unwrap().entries[&id].values["text"] {
        FieldValue::LongText(text) => assert_eq!(text.as_str(), PRIVATE_TEXT),
        other => panic!("expected long text, found {other:?}"),
    }
    // Sharing it again is refused: it is already in the shared document.
    let mut again = HomeworkDoc::create(b"laptop-device", "Sam", &client(), now(8)).unwrap();
    let second = private_journal(&mut again, &reloaded, &assignment);
    let mut moved = again.take_entry(&client(), now(9), &second).unwrap();
    moved.id = id.clone();
    let err = reloaded.adopt_entry(&client(), now(9), moved).unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
}

#[test]
fn only_the_client_moves_entries() {
    let (_, mut private, _, _) = documents();
    let err = private
        .take_entry(&therapist(), now(5), &EntryId::random())
        .unwrap_err();
    assert!(matches!(err, DocError::NotAllowed(_)), "{err}");
}
