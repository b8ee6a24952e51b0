//! Concurrency tests: fork a homework document, make conflicting edits on both forks, merge both
//! ways, and check that the replicas are identical and nothing a person typed was lost.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use autosurgeon::Text;
use between_shared::document::{AssignmentAdjustment, EntryUpdate, NewAssignment, NewEntry};
use between_shared::model::{CommentTarget, EntryStatus, Frequency, Schedule};
use between_shared::template::{FieldValue, Thought};
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

fn day() -> Day {
    Day::from_ymd(2026, 1, 5).unwrap()
}

fn long(text: &str) -> FieldValue {
    FieldValue::LongText(Text::with_value(text))
}

fn values(pairs: &[(&str, FieldValue)]) -> BTreeMap<String, FieldValue> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// A therapist-created document with one daily assignment, loaded on laptop, phone and the
/// therapist's device (three actors).
struct Devices {
    laptop: HomeworkDoc,
    phone: HomeworkDoc,
    therapist: HomeworkDoc,
}

fn devices() -> Devices {
    let mut therapist =
        HomeworkDoc::create(b"therapist-device", "Sam", &therapist(), now(0)).unwrap();
    let laptop = therapist.fork(b"laptop-device");
    let phone = therapist.fork(b"phone-device");
    Devices {
        laptop,
        phone,
        therapist,
    }
}

/// Merges a into b and b into a, then checks they are identical.
fn sync_pair(a: &mut HomeworkDoc, b: &mut HomeworkDoc) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
    assert_eq!(a.heads(), b.heads(), "heads differ after merging both ways");
    assert_eq!(a.data().unwrap(), b.data().unwrap(), "content differs");
}

fn entry_text(doc: &HomeworkDoc, id: &EntryId, field: &str) -> String {
    match doc.data().unwrap().entries[id].values.get(field) {
        Some(FieldValue::LongText(t)) => t.as_str().to_string(),
        other => panic!("expected long text in {field}, found {other:?}"),
    }
}

fn journal(doc: &mut HomeworkDoc, text: &str) -> EntryId {
    doc.create_entry(
        &client(),
        now(1),
        NewEntry {
            template: TemplateId::from_string("journal"),
            assignment: None,
            date: day(),
            update: EntryUpdate {
                values: values(&[("text", long(text))]),
                ..EntryUpdate::default()
            },
        },
        false,
    )
    .unwrap()
}

#[test]
fn concurrent_edits_of_the_same_journal_text_both_survive() {
    let mut d = devices();
    let id = journal(&mut d.laptop, "Today I walked to work.");
    sync_pair(&mut d.laptop, &mut d.phone);

    let edit = |doc: &mut HomeworkDoc, text: &str, minute| {
        doc.update_entry(
            &client(),
            now(minute),
            &id,
            EntryUpdate {
                values: values(&[("text", long(text))]),
                ..EntryUpdate::default()
            },
            false,
        )
        .unwrap();
    };
    // The phone adds a sentence at the end while the laptop corrects a word at the start.
    edit(
        &mut d.phone,
        "Today I walked to work. It rained but I kept going.",
        5,
    );
    edit(&mut d.laptop, "Today I cycled to work.", 6);

    sync_pair(&mut d.laptop, &mut d.phone);
    assert_eq!(
        entry_text(&d.laptop, &id, "text"),
        "Today I cycled to work. It rained but I kept going."
    );
}

#[test]
fn the_same_assignment_adjusted_differently_keeps_both_adjustments_and_history() {
    let mut d = devices();
    let assignment = d
        .therapist
        .create_assignment(
            &therapist(),
            now(1),
            NewAssignment {
                title: "Mindful breathing".into(),
                template: TemplateId::from_string("mindfulness"),
                instructions: "Ten minutes after waking.".into(),
                schedule: Schedule {
                    frequency: Frequency::Daily,
                    starts_on: day(),
                    ends_on: None,
                },
                minutes: Some(10),
                focus: None,
                goal: None,
                remind_at: None,
            },
        )
        .unwrap();
    sync_pair(&mut d.therapist, &mut d.laptop);

    // Therapist shortens the practice; the client (offline) changes the days.
    d.therapist
        .adjust_assignment(
            &therapist(),
            now(10),
            &assignment,
            AssignmentAdjustment {
                minutes: Some(Some(5)),
                ..AssignmentAdjustment::default()
            },
            "ten minutes felt too long",
        )
        .unwrap();
    d.laptop
        .adjust_assignment(
            &client(),
            now(11),
            &assignment,
            AssignmentAdjustment {
                schedule: Some(Schedule {
                    frequency: Frequency::Weekly {
                        days: vec!["mon".into(), "wed".into(), "fri".into()],
                    },
                    starts_on: day(),
                    ends_on: None,
                }),
                focus: Some(Some("notice the breath at the nose".into())),
                ..AssignmentAdjustment::default()
            },
            "daily is too much with my shifts",
        )
        .unwrap();

    sync_pair(&mut d.therapist, &mut d.laptop);
    let merged = &d.laptop.data().unwrap().assignments[&assignment];
    assert_eq!(merged.minutes, Some(5));
    assert!(matches!(
        merged.schedule.frequency,
        Frequency::Weekly { .. }
    ));
    assert_eq!(
        merged.focus.as_deref(),
        Some("notice the breath at the nose")
    );
    let whys: Vec<_> = merged.history.iter().map(|a| a.why.as_str()).collect();
    assert_eq!(merged.history.len(), 3, "history: {whys:?}");
    assert!(whys.contains(&"ten minutes felt too long"));
    assert!(whys.contains(&"daily is too much with my shifts"));
}

#[test]
fn comments_added_on_both_sides_and_a_completion_during_a_comment_all_survive() {
    let mut d = devices();
    let id = d
        .laptop
        .create_entry(
            &client(),
            now(1),
            NewEntry {
                template: TemplateId::from_string("mood-check-in"),
                assignment: None,
                date: day(),
                update: EntryUpdate {
                    values: values(&[("note", long("Slept badly."))]),
                    ..EntryUpdate::default()
                },
            },
            false,
        )
        .unwrap();
    sync_pair(&mut d.laptop, &mut d.therapist);

    // The client completes the entry on the laptop while the therapist comments on it, and the
    // client's phone comments too.
    d.laptop
        .update_entry(
            &client(),
            now(5),
            &id,
            EntryUpdate {
                values: values(&[("mood", FieldValue::Number(4))]),
                ..EntryUpdate::default()
            },
            true,
        )
        .unwrap();
    sync_pair(&mut d.laptop, &mut d.phone);
    let target = CommentTarget::Entry {
        id: id.clone(),
        field: Some("note".into()),
    };
    let from_therapist = d
        .therapist
        .add_comment(
            &therapist(),
            now(6),
            Some(target.clone()),
            None,
            "What kept you awake?",
        )
        .unwrap();
    let from_phone = d
        .phone
        .add_comment(
            &client(),
            now(7),
            Some(target),
            None,
            "Adding: it was noisy outside.",
        )
        .unwrap();

    sync_pair(&mut d.therapist, &mut d.laptop);
    sync_pair(&mut d.laptop, &mut d.phone);
    sync_pair(&mut d.therapist, &mut d.phone);
    let data = d.phone.data().unwrap();
    assert_eq!(data.entries[&id].status, EntryStatus::Complete);
    assert_eq!(data.entries[&id].number("mood"), Some(4));
    assert_eq!(data.comments.len(), 2);
    assert_eq!(data.comments[&from_therapist].author, therapist());
    assert_eq!(
        data.comments[&from_phone].text.as_str(),
        "Adding: it was noisy outside."
    );
}

#[test]
fn a_thought_record_begun_on_the_laptop_is_finished_on_the_phone() {
    let mut d = devices();
    let id = d
        .laptop
        .create_entry(
            &client(),
            now(1),
            NewEntry {
                template: TemplateId::from_string("thought-record"),
                assignment: None,
                date: day(),
                update: EntryUpdate {
                    values: values(&[
                        ("situation", long("Boss walked past without saying hello.")),
                        (
                            "emotions",
                            FieldValue::Ratings([("anxious".to_string(), 80)].into()),
                        ),
                    ]),
                    ..EntryUpdate::default()
                },
            },
            false,
        )
        .unwrap();
    // Completing now fails: required fields are missing, and nothing is written.
    let heads = d.laptop.heads();
    assert!(d
        .laptop
        .update_entry(&client(), now(2), &id, EntryUpdate::default(), true)
        .is_err());
    assert_eq!(d.laptop.heads(), heads);

    sync_pair(&mut d.laptop, &mut d.phone);
    // Concurrently: the phone fills the rest; the laptop adds a second emotion and a distortion.
    d.phone
        .update_entry(
            &client(),
            now(10),
            &id,
            EntryUpdate {
                values: values(&[
                    (
                        "thoughts",
                        FieldValue::Thoughts(vec![Thought::new(
                            "I'm about to be fired",
                            Some(90),
                            true,
                        )]),
                    ),
                    (
                        "distortions",
                        FieldValue::Choices([("mind-reading".to_string(), true)].into()),
                    ),
                    (
                        "balanced_thought",
                        long("He was on a call; he greets me most days."),
                    ),
                    ("balanced_belief", FieldValue::Number(70)),
                    (
                        "emotions_after",
                        FieldValue::Ratings([("anxious".to_string(), 30)].into()),
                    ),
                ]),
                ..EntryUpdate::default()
            },
            true,
        )
        .unwrap();
    d.laptop
        .update_entry(
            &client(),
            now(11),
            &id,
            EntryUpdate {
                values: values(&[
                    (
                        "emotions",
                        FieldValue::Ratings(
                            [("anxious".to_string(), 80), ("ashamed".to_string(), 40)].into(),
                        ),
                    ),
                    (
                        "distortions",
                        FieldValue::Choices([("catastrophising".to_string(), true)].into()),
                    ),
                ]),
                ..EntryUpdate::default()
            },
            false,
        )
        .unwrap();

    sync_pair(&mut d.phone, &mut d.laptop);
    let entry = &d.laptop.data().unwrap().entries[&id];
    assert_eq!(entry.status, EntryStatus::Complete);
    assert_eq!(
        entry.values["emotions"],
        FieldValue::Ratings([("anxious".to_string(), 80), ("ashamed".to_string(), 40)].into())
    );
    let FieldValue::Choices(distortions) = &entry.values["distortions"] else {
        panic!("distortions should be choices")
    };
    assert!(distortions["mind-reading"] && distortions["catastrophising"]);
    assert_eq!(entry.number("balanced_belief"), Some(70));
}

#[test]
fn bad_input_changes_nothing() {
    let mut d = devices();
    let heads = d.laptop.heads();
    let bad_rating = d.laptop.create_entry(
        &client(),
        now(1),
        NewEntry {
            template: TemplateId::from_string("mood-check-in"),
            assignment: None,
            date: day(),
            update: EntryUpdate {
                values: values(&[("mood", FieldValue::Number(11))]),
                ..EntryUpdate::default()
            },
        },
        true,
    );
    assert!(bad_rating.unwrap_err().to_string().contains("from 0 to 10"));
    let unknown_template = d.laptop.create_entry(
        &client(),
        now(1),
        NewEntry {
            template: TemplateId::from_string("no-such-template"),
            assignment: None,
            date: day(),
            update: EntryUpdate::default(),
        },
        false,
    );
    assert!(unknown_template.is_err());
    let therapist_entry = d.therapist.create_entry(
        &therapist(),
        now(1),
        NewEntry {
            template: TemplateId::from_string("journal"),
            assignment: None,
            date: day(),
            update: EntryUpdate::default(),
        },
        false,
    );
    assert!(therapist_entry.is_err());
    assert_eq!(d.laptop.heads(), heads);
}

#[test]
fn save_and_load_round_trips_and_incremental_saves_apply() {
    let mut d = devices();
    let id = journal(&mut d.laptop, "first words");
    let full = d.laptop.save();
    let mut reloaded = HomeworkDoc::load(&full, b"laptop-device").unwrap();
    assert_eq!(reloaded.data().unwrap(), d.laptop.data().unwrap());

    d.laptop
        .update_entry(
            &client(),
            now(3),
            &id,
            EntryUpdate {
                values: values(&[("text", long("first words, then more"))]),
                ..EntryUpdate::default()
            },
            false,
        )
        .unwrap();
    let increment = d.laptop.save_incremental();
    reloaded.apply_bytes(&increment).unwrap();
    assert_eq!(reloaded.heads(), d.laptop.heads());
    assert!(HomeworkDoc::load(b"not an automerge document", b"x").is_err());
}

#[test]
fn incremental_save_after_load_holds_only_new_changes() {
    let mut d = devices();
    journal(&mut d.laptop, "some words");
    let full = d.laptop.save();
    let mut reloaded = HomeworkDoc::load(&full, b"laptop-device").unwrap();
    assert!(reloaded.save_incremental().is_empty(), "nothing new yet");
    reloaded
        .create_goal(&client(), now(9), "Walk daily", "", &[])
        .unwrap();
    let increment = reloaded.save_incremental();
    assert!(!increment.is_empty());
    assert!(increment.len() < full.len(), "only the new change is saved");
    let mut combined = full.clone();
    combined.extend_from_slice(&increment);
    let mut again = HomeworkDoc::load(&combined, b"x").unwrap();
    assert_eq!(again.heads(), reloaded.heads());
}

#[test]
fn text_too_long_for_one_bundle_is_refused_and_changes_nothing() {
    let mut d = devices();
    let id = journal(&mut d.laptop, "short");
    let heads = d.laptop.heads();
    let huge = "x".repeat(between_shared::document::MAX_TEXT_CHARS + 1);
    let err = d
        .laptop
        .update_entry(
            &client(),
            now(2),
            &id,
            EntryUpdate {
                values: values(&[("text", long(&huge))]),
                ..EntryUpdate::default()
            },
            false,
        )
        .unwrap_err();
    assert!(err.to_string().contains("at most 100000"), "{err}");
    assert_eq!(d.laptop.heads(), heads);
}

#[test]
fn typing_keystroke_by_keystroke_on_two_devices_merges_and_checks_bounds() {
    let mut d = devices();
    let id = journal(&mut d.laptop, "Walked.");
    sync_pair(&mut d.laptop, &mut d.phone);

    // The laptop types " Rain." at the end one character per change; the phone, offline,
    // types "Today I " at the start.
    for (i, ch) in " Rain.".chars().enumerate() {
        let at = "Walked.".len() + i;
        d.laptop
            .splice_entry_text(&client(), now(2), &id, "text", at, 0, &ch.to_string())
            .unwrap();
    }
    d.phone
        .splice_entry_text(&client(), now(3), &id, "text", 0, 0, "Today I ")
        .unwrap();
    // Replace "Walked" with "walked" (delete 1, insert 1) on the phone.
    d.phone
        .splice_entry_text(&client(), now(3), &id, "text", 8, 1, "w")
        .unwrap();
    assert_eq!(d.laptop.entry_text_len(&id, "text").unwrap(), 13);

    sync_pair(&mut d.laptop, &mut d.phone);
    assert_eq!(entry_text(&d.laptop, &id, "text"), "Today I walked. Rain.");
    let entry = &d.laptop.data().unwrap().entries[&id];
    assert_eq!(entry.updated_by, client());

    // Out of range, a field that is not long text, an unknown entry, the therapist: refused,
    // and nothing changes.
    let heads = d.laptop.heads();
    let past_end = d
        .laptop
        .splice_entry_text(&client(), now(4), &id, "text", 21, 1, "x")
        .unwrap_err();
    assert!(
        past_end.to_string().contains("holds 21 characters"),
        "{past_end}"
    );
    let no_field = d
        .laptop
        .splice_entry_text(&client(), now(4), &id, "mood", 0, 0, "x")
        .unwrap_err();
    assert!(
        no_field.to_string().contains("no long-text field 'mood'"),
        "{no_field}"
    );
    let unknown = EntryId::from_string("0000000000000000");
    assert!(d
        .laptop
        .splice_entry_text(&client(), now(4), &unknown, "text", 0, 0, "x")
        .is_err());
    assert!(d
        .laptop
        .splice_entry_text(&therapist(), now(4), &id, "text", 0, 0, "x")
        .is_err());
    let too_long = "x".repeat(between_shared::document::MAX_TEXT_CHARS);
    assert!(d
        .laptop
        .splice_entry_text(&client(), now(4), &id, "text", 0, 0, &too_long)
        .unwrap_err()
        .to_string()
        .contains("at most"));
    assert_eq!(d.laptop.heads(), heads);
}

/// An editor (the web app's page) that last read the text at some heads types at positions of
/// that version, while another device's typing has arrived meanwhile: the edit lands among the
/// same words, and both sides' typing is kept.
#[test]
fn typing_at_positions_of_an_older_version_lands_among_the_same_words() {
    let mut d = devices();
    let id = journal(&mut d.laptop, "Walked home.");
    sync_pair(&mut d.laptop, &mut d.phone);
    let seen = d.laptop.heads();

    // The phone prepends a word and replaces "home" with "to work"; it reaches the laptop.
    d.phone
        .splice_entry_text(&client(), now(2), &id, "text", 0, 0, "Monday: ")
        .unwrap();
    d.phone
        .splice_entry_text(&client(), now(2), &id, "text", 15, 4, "to work")
        .unwrap();
    sync_pair(&mut d.laptop, &mut d.phone);
    assert_eq!(
        entry_text(&d.laptop, &id, "text"),
        "Monday: Walked to work."
    );

    // The page, still showing "Walked home.", types " It rained." at its end (12) and turns
    // "Walked" into "walked" (replace 1 at 0).
    let text = d
        .laptop
        .splice_entry_text_since(&client(), now(3), &id, "text", &seen, 12, 0, " It rained.")
        .unwrap();
    assert_eq!(text, "Monday: Walked to work. It rained.");
    let text = d
        .laptop
        .splice_entry_text_since(&client(), now(3), &id, "text", &seen, 0, 1, "w")
        .unwrap();
    assert_eq!(text, "Monday: walked to work. It rained.");

    // Beyond the old version's end: refused, nothing changes. Unknown heads: positions as now.
    let heads = d.laptop.heads();
    let err = d
        .laptop
        .splice_entry_text_since(&client(), now(4), &id, "text", &seen, 13, 0, "x")
        .unwrap_err();
    assert!(err.to_string().contains("held 12 characters"), "{err}");
    assert_eq!(d.laptop.heads(), heads);
    let unknown = [automerge::ChangeHash([7; 32])];
    let text = d
        .laptop
        .splice_entry_text_since(&client(), now(4), &id, "text", &unknown, 0, 0, "» ")
        .unwrap();
    assert_eq!(text, "» Monday: walked to work. It rained.");
}

/// Issue 10, defect 9: a copy of the document that a program outside Between wrote, with a mood
/// of 42 on a 0–10 scale and a difficulty of 99, is refused as a whole, naming the entry and the
/// fields; nothing of it is merged.
#[test]
fn a_file_with_values_out_of_range_is_not_merged_and_says_which_entry_and_field() {
    let mut d = devices();
    let id = d
        .laptop
        .create_entry(
            &client(),
            now(1),
            NewEntry {
                template: TemplateId::from_string("mood-check-in"),
                assignment: None,
                date: day(),
                update: EntryUpdate {
                    values: values(&[("mood", FieldValue::Number(4))]),
                    ..EntryUpdate::default()
                },
            },
            false,
        )
        .unwrap();
    sync_pair(&mut d.laptop, &mut d.phone);
    // The other program rewrites the answers without Between's checks.
    let mut data = d.phone.data().unwrap();
    let entry = data.entries.get_mut(&id).unwrap();
    entry.values.insert("mood".into(), FieldValue::Number(42));
    entry.difficulty = Some(99);
    autosurgeon::reconcile(d.phone.automerge(), &data).unwrap();
    d.phone.automerge().commit();
    journal(&mut d.phone, "written by the other program too");

    let before = d.laptop.heads();
    let refused = d
        .laptop
        .merge_checked(&mut d.phone)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("nothing was merged"), "{refused}");
    assert!(refused.contains(id.short()), "{refused}");
    assert!(refused.contains("mood-check-in"), "{refused}");
    assert!(refused.contains("42"), "{refused}");
    assert!(refused.contains("difficulty 99"), "{refused}");
    assert_eq!(d.laptop.heads(), before);
    assert_eq!(
        d.laptop.data().unwrap().entries[&id].number("mood"),
        Some(4)
    );

    // Put right, the same file merges.
    let mut data = d.phone.data().unwrap();
    let entry = data.entries.get_mut(&id).unwrap();
    entry.values.insert("mood".into(), FieldValue::Number(7));
    entry.difficulty = Some(3);
    autosurgeon::reconcile(d.phone.automerge(), &data).unwrap();
    d.laptop.merge_checked(&mut d.phone).unwrap();
    assert_eq!(
        d.laptop.data().unwrap().entries[&id].number("mood"),
        Some(7)
    );
}
