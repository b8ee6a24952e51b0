//! The Markdown export, whole: a document with a goal and its steps, an assignment adjusted
//! once, entries with field comments and a reply, a private entry, a difficulty and a risk
//! answer comes out exactly as a person reads it (every section, in order, nothing left out).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use autosurgeon::Text;
use between_shared::document::{AssignmentAdjustment, EntryUpdate, NewAssignment, NewEntry};
use between_shared::export::markdown;
use between_shared::model::{CommentTarget, Frequency, Schedule};
use between_shared::template::FieldValue;
use between_shared::{Author, Day, HomeworkDoc, Role, TemplateId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

fn client() -> Author {
    Author::new(Role::Client, "Sam")
}

fn therapist() -> Author {
    Author::new(Role::Therapist, "Dr Rivera")
}

fn now(minutes: i64) -> Timestamp {
    Timestamp(1_767_225_600_000 + minutes * 60_000)
}

fn day(d: u32) -> Day {
    Day::from_ymd(2026, 1, d).unwrap()
}

fn journal(
    doc: &mut HomeworkDoc,
    on: u32,
    text: &str,
    difficulty: Option<i64>,
) -> between_shared::EntryId {
    let values = BTreeMap::from([(
        "text".to_owned(),
        FieldValue::LongText(Text::with_value(text)),
    )]);
    doc.create_entry(
        &client(),
        now(i64::from(on) * 100),
        NewEntry {
            template: TemplateId::from_string("journal"),
            assignment: None,
            date: day(on),
            update: EntryUpdate {
                values,
                difficulty,
                ..EntryUpdate::default()
            },
        },
        false,
    )
    .unwrap()
}

#[test]
fn the_markdown_export_reads_whole_and_in_order() {
    let mut doc = HomeworkDoc::create(b"therapist", "Sam", &therapist(), now(0)).unwrap();
    doc.set_therapist_name(now(1), "Dr Rivera").unwrap();
    let goal = doc
        .create_goal(
            &therapist(),
            now(2),
            "Sleep better",
            "Mornings are hard",
            &["Up at 7".to_owned(), "No screens after 10".to_owned()],
        )
        .unwrap();
    let first = doc
        .add_comment(
            &therapist(),
            now(3),
            Some(CommentTarget::Goal { id: goal.clone() }),
            None,
            "Start with one step.",
        )
        .unwrap();
    doc.add_comment(&client(), now(4), None, Some(first), "Will do.")
        .unwrap();
    let assignment = doc
        .create_assignment(
            &therapist(),
            now(5),
            NewAssignment {
                title: "Evening journal".to_owned(),
                template: TemplateId::from_string("journal"),
                instructions: "A few lines before bed.".to_owned(),
                schedule: Schedule {
                    frequency: Frequency::Daily,
                    starts_on: day(5),
                    ends_on: None,
                },
                minutes: Some(10),
                focus: Some("what went well".to_owned()),
                goal: Some(goal),
                remind_at: None,
            },
        )
        .unwrap();
    doc.adjust_assignment(
        &therapist(),
        now(6),
        &assignment,
        AssignmentAdjustment {
            minutes: Some(Some(5)),
            ..AssignmentAdjustment::default()
        },
        "ten minutes felt long",
    )
    .unwrap();
    let walk = journal(&mut doc, 6, "Walked to the river.", Some(3));
    doc.complete_entry(&client(), now(700), &walk).unwrap();
    doc.add_comment(
        &therapist(),
        now(701),
        Some(CommentTarget::Entry {
            id: walk.clone(),
            field: Some("text".to_owned()),
        }),
        None,
        "Lovely.",
    )
    .unwrap();
    let secret = journal(&mut doc, 7, "Only for me.", None);
    // A PHQ-9 with thoughts of self-harm on some days: scored, and flagged for the therapist.
    let values = (1..=9)
        .map(|n| {
            (
                format!("item_{n}"),
                FieldValue::Number(if n == 9 { 1 } else { 2 }),
            )
        })
        .collect();
    let phq9 = doc
        .create_entry(
            &client(),
            now(800),
            NewEntry {
                template: TemplateId::from_string("phq-9"),
                assignment: None,
                date: day(8),
                update: EntryUpdate {
                    values,
                    ..EntryUpdate::default()
                },
            },
            true,
        )
        .unwrap();
    doc.acknowledge_risk(&therapist(), now(801), &phq9, "Called Sam; safe for now.")
        .unwrap();

    let data = doc.data().unwrap();
    let templates = doc.templates().unwrap();
    let private = BTreeSet::from([secret]);
    let text = markdown(&data, &templates, &private);
    let expected = r#"# Homework of Sam

Therapist: Dr Rivera  
Started 2026-01-01 00:00 UTC by Dr Rivera (therapist)

This export includes 1 private entry, marked below: only on the client's own devices, never seen by the therapist.

## Goals

### Sleep better (Active)

Why it matters: Mornings are hard

- [ ] Up at 7
- [ ] No screens after 10

Set by Dr Rivera (therapist) on 2026-01-01 00:02 UTC

> **Dr Rivera (therapist)** (2026-01-01 00:03 UTC): Start with one step.
> ↳ **Sam (client)** (2026-01-01 00:04 UTC): Will do.

## Assignments

### Evening journal (active)

- Template: journal
- When: every day from 2026-01-05
- Duration: 5 min
- Focus: what went well
- Assigned by Dr Rivera (therapist) on 2026-01-01 00:05 UTC

A few lines before bed.
- Dr Rivera (therapist) changed duration: 10 min → 5 min (ten minutes felt long)

## Entries

### 2026-01-06 — Journal (complete)

Written by Sam (client) on 2026-01-01 10:00 UTC

**Your journal entry**: Walked to the river.

> **Dr Rivera (therapist)** (2026-01-01 11:41 UTC): Lovely.

Difficulty: 3/10

### 2026-01-07 — Journal (draft)

*Private — only on the client's own devices; the therapist cannot see it.*

Written by Sam (client) on 2026-01-01 11:40 UTC

**Your journal entry**: Only for me.

### 2026-01-08 — PHQ-9 (depression questionnaire) (complete)

Written by Sam (client) on 2026-01-01 13:20 UTC

**Over the last 2 weeks, how often have you been bothered by: Little interest or pleasure in doing things**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Feeling down, depressed, or hopeless**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Trouble falling or staying asleep, or sleeping too much**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Feeling tired or having little energy**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Poor appetite or overeating**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Feeling bad about yourself, or that you are a failure or have let yourself or your family down**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Trouble concentrating on things, such as reading the newspaper or watching television**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Moving or speaking so slowly that other people could have noticed? Or the opposite: being so fidgety or restless that you have been moving around a lot more than usual**: 2 — more than half the days

**Over the last 2 weeks, how often have you been bothered by: Thoughts that you would be better off dead, or of hurting yourself in some way**: 1 — several days

**Score**: 17 of 27 — moderately severe

**Risk flag**: item 9 (thoughts of being better off dead or of self-harm) answered 1, "several days" (acknowledged by Dr Rivera (therapist) on 2026-01-01 13:21 UTC: "Called Sam; safe for now.")

"#;
    assert_eq!(text, expected, "\n--- got ---\n{text}\n--- end ---");
}
