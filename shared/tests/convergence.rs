//! Property test: random edit sequences on two or three forks of one homework document, with
//! random pairwise merges in between, always converge once every fork has merged every other —
//! identical heads, identical content — and no word that anyone typed is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use autosurgeon::Text;
use between_shared::document::{AssignmentAdjustment, EntryUpdate, NewAssignment, NewEntry};
use between_shared::model::{CommentTarget, Frequency, Schedule};
use between_shared::template::FieldValue;
use between_shared::{Author, Day, HomeworkDoc, Role, TemplateId, Timestamp};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    /// Append a unique word to the shared journal entry's text on a fork.
    Type { fork: usize },
    /// Rewrite the start of the journal text (delete the first word) on a fork.
    DeleteFirstWord { fork: usize },
    /// Comment on the assignment.
    Comment { fork: usize },
    /// Change the assignment's minutes.
    Adjust { fork: usize, minutes: i64 },
    /// Log a mood check-in.
    Mood { fork: usize, mood: i64 },
    /// Tick or untick the goal's step.
    Step { fork: usize, done: bool },
    /// Merge one fork into another.
    Merge { from: usize, into: usize },
}

fn op(forks: usize, deletes: u32) -> impl Strategy<Value = Op> {
    let f = 0..forks;
    prop_oneof![
        4 => f.clone().prop_map(|fork| Op::Type { fork }),
        deletes => f.clone().prop_map(|fork| Op::DeleteFirstWord { fork }),
        1 => f.clone().prop_map(|fork| Op::Comment { fork }),
        1 => (f.clone(), 1..60i64).prop_map(|(fork, minutes)| Op::Adjust { fork, minutes }),
        1 => (f.clone(), 0..=10i64).prop_map(|(fork, mood)| Op::Mood { fork, mood }),
        1 => (f.clone(), any::<bool>()).prop_map(|(fork, done)| Op::Step { fork, done }),
        3 => (f.clone(), f).prop_map(|(from, into)| Op::Merge { from, into }),
    ]
}

/// 2–3 forks and up to 40 operations; `deletes` weighs deletions against 4 for typing.
fn scenario(deletes: u32) -> impl Strategy<Value = (usize, Vec<Op>)> {
    (2usize..=3).prop_flat_map(move |forks| {
        (
            Just(forks),
            prop::collection::vec(op(forks, deletes), 1..40),
        )
    })
}

fn long(text: &str) -> FieldValue {
    FieldValue::LongText(Text::with_value(text))
}

fn journal_text(doc: &HomeworkDoc) -> String {
    let data = doc.data().unwrap();
    let entry = data
        .entries
        .values()
        .find(|e| e.template.as_str() == "journal")
        .unwrap();
    match &entry.values["text"] {
        FieldValue::LongText(t) => t.as_str().to_string(),
        other => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_on_forks_converge((forks, ops) in scenario(1)) {
        check(forks, &ops)?;
    }

    #[test]
    fn concurrent_typing_on_forks_loses_nothing((forks, ops) in scenario(0)) {
        check(forks, &ops)?;
    }
}

/// Runs one scenario and checks convergence (and, without deletions, that nothing is lost).
fn check(forks: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let client = Author::new(Role::Client, "Sam");
    let therapist = Author::new(Role::Therapist, "Dr Rivera");
    let day = Day::from_ymd(2026, 1, 5).unwrap();
    let t = |i: usize| Timestamp(1_767_225_600_000 + i as i64 * 1000);

    let mut origin = HomeworkDoc::create(b"origin", "Sam", &therapist, t(0)).unwrap();
    let assignment = origin
        .create_assignment(
            &therapist,
            t(1),
            NewAssignment {
                title: "Breathing".into(),
                template: TemplateId::from_string("mindfulness"),
                instructions: "Slow breaths.".into(),
                schedule: Schedule {
                    frequency: Frequency::Daily,
                    starts_on: day,
                    ends_on: None,
                },
                minutes: Some(10),
                focus: None,
                goal: None,
                remind_at: None,
            },
        )
        .unwrap();
    let goal = origin
        .create_goal(
            &client,
            t(2),
            "Sleep better",
            "",
            &["No phone in bed".to_string()],
        )
        .unwrap();
    let step = origin.data().unwrap().goals[&goal].steps[0].id.clone();
    let entry = origin
        .create_entry(
            &client,
            t(3),
            NewEntry {
                template: TemplateId::from_string("journal"),
                assignment: None,
                date: day,
                update: EntryUpdate {
                    values: [("text".to_string(), long("start"))].into(),
                    ..EntryUpdate::default()
                },
            },
            false,
        )
        .unwrap();

    let mut docs: Vec<HomeworkDoc> = (0..forks)
        .map(|i| origin.fork(format!("fork-{i}").as_bytes()))
        .collect();
    // Words typed, and words deleted, so that "nothing lost" can be checked exactly.
    let mut typed: Vec<String> = vec!["start".into()];
    let mut deleted: Vec<String> = Vec::new();

    for (i, op) in ops.iter().enumerate() {
        let now = t(10 + i);
        match op.clone() {
            Op::Type { fork } => {
                let word = format!("w{i}f{fork}");
                let text = format!("{} {word}", journal_text(&docs[fork]));
                docs[fork]
                    .update_entry(
                        &client,
                        now,
                        &entry,
                        EntryUpdate {
                            values: [("text".to_string(), long(&text))].into(),
                            ..EntryUpdate::default()
                        },
                        false,
                    )
                    .unwrap();
                typed.push(word);
            }
            Op::DeleteFirstWord { fork } => {
                let text = journal_text(&docs[fork]);
                if let Some((first, rest)) = text.trim_start().split_once(' ') {
                    deleted.push(first.to_string());
                    docs[fork]
                        .update_entry(
                            &client,
                            now,
                            &entry,
                            EntryUpdate {
                                values: [("text".to_string(), long(rest))].into(),
                                ..EntryUpdate::default()
                            },
                            false,
                        )
                        .unwrap();
                }
            }
            Op::Comment { fork } => {
                docs[fork]
                    .add_comment(
                        &therapist,
                        now,
                        Some(CommentTarget::Assignment {
                            id: assignment.clone(),
                        }),
                        None,
                        &format!("comment {i}"),
                    )
                    .unwrap();
            }
            Op::Adjust { fork, minutes } => {
                // "Nothing to change" is a refusal that writes nothing; that is fine here.
                let _ = docs[fork].adjust_assignment(
                    &therapist,
                    now,
                    &assignment,
                    AssignmentAdjustment {
                        minutes: Some(Some(minutes)),
                        ..AssignmentAdjustment::default()
                    },
                    "adjusting",
                );
            }
            Op::Mood { fork, mood } => {
                docs[fork]
                    .create_entry(
                        &client,
                        now,
                        NewEntry {
                            template: TemplateId::from_string("mood-check-in"),
                            assignment: None,
                            date: day,
                            update: EntryUpdate {
                                values: BTreeMap::from([(
                                    "mood".to_string(),
                                    FieldValue::Number(mood),
                                )]),
                                ..EntryUpdate::default()
                            },
                        },
                        true,
                    )
                    .unwrap();
            }
            Op::Step { fork, done } => {
                docs[fork]
                    .set_step_done(&client, now, &goal, &step, done)
                    .unwrap();
            }
            Op::Merge { from, into } if from != into => {
                let (a, b) = if from < into {
                    let (left, right) = docs.split_at_mut(into);
                    (&mut left[from], &mut right[0])
                } else {
                    let (left, right) = docs.split_at_mut(from);
                    (&mut right[0], &mut left[into])
                };
                b.merge(a).unwrap();
            }
            Op::Merge { .. } => {}
        }
    }

    // Everyone syncs with everyone.
    for i in 0..forks {
        for j in 0..forks {
            if i != j {
                let mut other = docs[j].fork(b"tmp");
                docs[i].merge(&mut other).unwrap();
            }
        }
    }
    let heads = docs[0].heads();
    let data = docs[0].data().unwrap();
    for doc in docs.iter_mut().skip(1) {
        prop_assert_eq!(doc.heads(), heads.clone());
        prop_assert_eq!(doc.data().unwrap(), data.clone());
    }
    let text = journal_text(&docs[0]);
    // Nothing typed is lost. Checked when nobody deleted: a deletion is recorded as the
    // character diff of the whole text, and when words share letters that diff may keep a
    // letter of the deleted word and drop the same letter of a neighbour, so "which word was
    // deleted" is not well defined; convergence above is still checked in that case.
    if deleted.is_empty() {
        for word in &typed {
            prop_assert!(
                text.contains(word.as_str()),
                "lost '{}' from '{}'",
                word,
                text
            );
        }
    }
    let comments = data.comments.len();
    let expected = ops
        .iter()
        .filter(|o| matches!(o, Op::Comment { .. }))
        .count();
    prop_assert_eq!(comments, expected);
    let moods = data
        .entries
        .values()
        .filter(|e| e.template.as_str() == "mood-check-in")
        .count();
    prop_assert_eq!(
        moods,
        ops.iter().filter(|o| matches!(o, Op::Mood { .. })).count()
    );
    Ok(())
}
