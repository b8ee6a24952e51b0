//! A client's week, end to end, through the real `between` binary: a therapist assigns a thought
//! record, a daily mood check-in and behavioural activation; the client does them over Monday to
//! Friday (one thought record saved part-way and finished a day later); the therapist comments on
//! one field; `today`, `progress` and `export` show the right figures. A second scenario walks
//! the same week and checks that bad input at each step is refused clearly and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::{assert_mentions, Device};
use between_shared::model::HomeworkData;
use serde_json::{json, Value};
use std::path::Path;

const MON_EARLY: &str = "2026-03-02T08:00:00+00:00";
const MON: &str = "2026-03-02T19:00:00+00:00";
const TUE: &str = "2026-03-03T20:00:00+00:00";
const WED: &str = "2026-03-04T19:30:00+00:00";
const THU: &str = "2026-03-05T19:00:00+00:00";
const FRI_MORNING: &str = "2026-03-06T08:00:00+00:00";
const FRI: &str = "2026-03-06T09:00:00+00:00";
const FRI_AFTERNOON: &str = "2026-03-06T15:00:00+00:00";
const FRI_EVENING: &str = "2026-03-06T17:00:00+00:00";
const SAT: &str = "2026-03-07T10:00:00+00:00";

const SITUATION: &str = "Boss walked past without saying hello";
const BALANCED: &str = "He was busy; one missed hello says nothing about my job";
const COMMENT: &str = "Lovely reframe. What helped you see it?";

/// The three assignments of the week.
struct Week {
    thought_record: String,
    mood: String,
    activation: String,
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The therapist sets up Sam's homework on Monday morning and hands the document to Sam's
/// device, which starts from it.
fn assign_the_week(root: &Path) -> (Device, Device, Week) {
    let mut dr = Device::new(root, "dr");
    dr.at(MON_EARLY);
    let out = dr
        .run(&["init", "--role", "therapist", "--name", "Dr Rivera"])
        .out();
    assert_mentions(&out, &["therapist", "Dr Rivera"]);
    let out = dr.run(&["client", "new", "Sam"]).out();
    assert_mentions(&out, &["Sam"]);

    let c = ["--client", "Sam", "assignment", "create", "-t"];
    let thought_record = dr.create(
        &[
            &c[..],
            &[
                "thought-record",
                "--every",
                "once:2026-03-06",
                "--instructions",
                "After a moment that upset you, fill this in the same day.",
            ],
        ]
        .concat(),
    );
    let mood = dr.create(&[&c[..], &["mood-check-in", "--every", "daily"]].concat());
    let activation = dr.create(
        &[
            &c[..],
            &[
                "behavioural-activation",
                "--every",
                "weekly:mon,wed,fri",
                "--minutes",
                "20",
            ],
        ]
        .concat(),
    );

    let handover = root.join("sam.between");
    dr.run(&["--client", "Sam", "doc", "save", path(&handover)])
        .out();

    let mut sam = Device::new(root, "sam");
    sam.at(MON_EARLY);
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
    (
        dr,
        sam,
        Week {
            thought_record,
            mood,
            activation,
        },
    )
}

/// `today --json` as (day, title, state) rows.
fn due(value: &Value) -> Vec<(String, String, String)> {
    value
        .as_array()
        .expect("a list of due items")
        .iter()
        .map(|item| {
            (
                item["day"].as_str().unwrap().to_string(),
                item["title"].as_str().unwrap().to_string(),
                item["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn row(day: &str, title: &str, state: &str) -> (String, String, String) {
    (day.to_string(), title.to_string(), state.to_string())
}

/// Trend points as (day, value).
fn points(trend: &Value) -> Vec<(String, f64)> {
    trend["points"]
        .as_array()
        .expect("trend points")
        .iter()
        .map(|p| {
            (
                p["day"].as_str().unwrap().to_string(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn pts(list: &[(&str, f64)]) -> Vec<(String, f64)> {
    list.iter().map(|(d, v)| ((*d).to_string(), *v)).collect()
}

/// The adherence row of the assignment titled `title`:
/// (scheduled, done, rate, current streak, longest streak).
fn adherence(progress: &Value, title: &str) -> (u64, u64, Option<f64>, u64, u64) {
    let row = progress["adherence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["title"] == title)
        .unwrap_or_else(|| panic!("no adherence row for {title}: {progress}"));
    (
        row["scheduled"].as_u64().unwrap(),
        row["done"].as_u64().unwrap(),
        row["rate"].as_f64(),
        row["current_streak"].as_u64().unwrap(),
        row["longest_streak"].as_u64().unwrap(),
    )
}

/// Monday and Tuesday as Sam lives them; returns the id of the thought record, saved part-way.
fn monday_and_tuesday(sam: &mut Device, week: &Week) -> String {
    // Monday: mood 4 and a walk.
    sam.at(MON);
    let done = sam.run(&[
        "--json",
        "entry",
        "new",
        &week.mood,
        "--set",
        "mood=4",
        "--set",
        "emotions=sad=60, worried=30, Gloomy=20",
    ]);
    let done = done.json();
    assert_eq!(done["status"], "complete");
    // The person's own word for a feeling is kept (in lower case), beside the suggestions.
    let id = done["id"].as_str().unwrap();
    assert_eq!(
        sam.run(&["--json", "show", id]).json()["entry"]["values"]["emotions"]["value"],
        json!({"gloomy": 20, "sad": 60, "worried": 30})
    );
    sam.run(&[
        "entry",
        "new",
        &week.activation,
        "--set",
        "activity=Walk round the park",
        "--set",
        "activity_type=physical",
        "--set",
        "planned_for=2026-03-02 18:00",
        "--set",
        "predicted_mood=4",
        "--set",
        "done=yes",
        "--set",
        "mastery=5",
        "--set",
        "pleasure=6",
        "--set",
        "actual_mood=6",
    ])
    .out();

    // Tuesday: mood 5, and the thought record started as a draft.
    sam.at(TUE);
    sam.run(&["entry", "new", &week.mood, "--set", "mood=5"])
        .out();
    let draft = sam.run(&[
        "--json",
        "entry",
        "new",
        &week.thought_record,
        "--draft",
        "--set",
        &format!("situation={SITUATION}"),
        "--set",
        "emotions=anxious=80, sad=40",
    ]);
    let draft = draft.json();
    assert_eq!(draft["status"], "draft");
    draft["id"].as_str().unwrap().to_string()
}

#[test]
fn a_clients_week_from_assignment_to_progress_comments_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut dr, mut sam, week) = assign_the_week(tmp.path());

    // Monday morning: what is due; the thought record shows with its due day, Friday.
    assert_eq!(
        due(&sam.run(&["--json", "today"]).json()),
        vec![
            row("2026-03-02", "Behavioural activation", "due"),
            row("2026-03-02", "Mood check-in", "due"),
            row("2026-03-06", "CBT thought record", "due"),
        ]
    );

    let record = monday_and_tuesday(&mut sam, &week);

    // Tuesday evening: today's mood is done and the thought record is in progress.
    assert_eq!(
        due(&sam.run(&["--json", "today"]).json()),
        vec![
            row("2026-03-03", "Mood check-in", "done"),
            row("2026-03-06", "CBT thought record", "in-progress"),
        ]
    );
    // The week view shows Friday's thought record in progress, Monday's and
    // Tuesday's homework done, and Wednesday onwards still due.
    let week_view = due(&sam.run(&["--json", "today", "--week"]).json());
    assert_eq!(
        week_view,
        vec![
            row("2026-03-02", "Behavioural activation", "done"),
            row("2026-03-02", "Mood check-in", "done"),
            row("2026-03-03", "Mood check-in", "done"),
            row("2026-03-04", "Behavioural activation", "due"),
            row("2026-03-04", "Mood check-in", "due"),
            row("2026-03-05", "Mood check-in", "due"),
            row("2026-03-06", "Behavioural activation", "due"),
            row("2026-03-06", "CBT thought record", "in-progress"),
            row("2026-03-06", "Mood check-in", "due"),
            row("2026-03-07", "Mood check-in", "due"),
            row("2026-03-08", "Mood check-in", "due"),
        ]
    );
    let shown = sam.run(&["--json", "show", &record]).json();
    assert_eq!(shown["entry"]["status"], "draft");
    assert_eq!(shown["entry"]["values"]["situation"]["value"], SITUATION);
    assert_eq!(
        shown["entry"]["values"]["emotions"]["value"],
        json!({"anxious": 80, "sad": 40})
    );

    // Wednesday: no mood check-in; the thought record is finished, and a call to a sister.
    sam.at(WED);
    let finished = sam
        .run(&[
            "--json",
            "entry",
            "edit",
            &record,
            "--set",
            "thoughts=*I'm going to be fired=90; he thinks I'm useless=60",
            "--set",
            "distortions=mind-reading, catastrophising",
            "--set",
            "evidence_for=He did not look at me",
            "--set",
            "evidence_against=He was on the phone; my last review was good",
            "--set",
            &format!("balanced_thought={BALANCED}"),
            "--set",
            "balanced_belief=70",
            "--set",
            "emotions_after=anxious=30, sad=20",
            "--complete",
        ])
        .json();
    assert_eq!(finished["id"], record.as_str());
    assert_eq!(finished["status"], "complete");
    sam.run(&[
        "entry",
        "new",
        &week.activation,
        "--set",
        "activity=Call my sister",
        "--set",
        "activity_type=social",
        "--set",
        "planned_for=2026-03-04 18:00",
        "--set",
        "done=yes",
        "--set",
        "mastery=7",
        "--set",
        "pleasure=8",
        "--set",
        "actual_mood=7",
    ])
    .out();
    let entry = &sam.run(&["--json", "show", &record]).json()["entry"];
    assert_eq!(entry["status"], "complete");
    // Still dated the day it was started; completed on Wednesday 19:30 UTC.
    assert_eq!(entry["date"], "2026-03-03");
    assert_eq!(entry["completed_at"], 1_772_652_600_000_i64);
    assert_eq!(entry["values"]["situation"]["value"], SITUATION);
    assert_eq!(entry["values"]["balanced_thought"]["value"], BALANCED);
    let thoughts: Vec<(&str, i64, bool)> = entry["values"]["thoughts"]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["text"].as_str().unwrap(),
                t["belief"].as_i64().unwrap(),
                t["hot"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        thoughts,
        vec![
            ("I'm going to be fired", 90, true),
            ("he thinks I'm useless", 60, false)
        ]
    );

    // Thursday: mood 7. The week view now shows Wednesday's check-in as missed.
    sam.at(THU);
    sam.run(&["entry", "new", &week.mood, "--set", "mood=7"])
        .out();
    let week_view = due(&sam.run(&["--json", "today", "--week"]).json());
    assert_eq!(
        week_view[..6],
        [
            row("2026-03-02", "Behavioural activation", "done"),
            row("2026-03-02", "Mood check-in", "done"),
            row("2026-03-03", "Mood check-in", "done"),
            row("2026-03-04", "Behavioural activation", "done"),
            row("2026-03-04", "Mood check-in", "missed"),
            row("2026-03-05", "Mood check-in", "done"),
        ]
    );
    assert!(week_view[6..].contains(&row("2026-03-06", "CBT thought record", "done")));

    // Friday morning, before anything: the thought record is done, the rest due.
    sam.at(FRI_MORNING);
    assert_eq!(
        due(&sam.run(&["--json", "today"]).json()),
        vec![
            row("2026-03-06", "Behavioural activation", "due"),
            row("2026-03-06", "CBT thought record", "done"),
            row("2026-03-06", "Mood check-in", "due"),
        ]
    );
    sam.run(&["entry", "new", &week.mood, "--set", "mood=8"])
        .out();
    // A free PHQ-9, scored on the device: 1+2+1+2+0+1+1+0+0 = 8, "mild" (5–9).
    let phq = sam
        .run(&[
            "--json",
            "entry",
            "new",
            "--template",
            "phq-9",
            "--set",
            "item_1=1",
            "--set",
            "item_2=2",
            "--set",
            "item_3=1",
            "--set",
            "item_4=2",
            "--set",
            "item_5=0",
            "--set",
            "item_6=1",
            "--set",
            "item_7=1",
            "--set",
            "item_8=0",
            "--set",
            "item_9=0",
        ])
        .json();
    assert_eq!(phq["status"], "complete");
    assert_eq!(phq["score"]["total"], 8);
    assert_eq!(phq["score"]["severity"], "mild");
    assert_eq!(phq["score"]["max"], 27);
    assert_eq!(phq["score"]["item9_positive"], false);

    sam.at(FRI);
    assert_eq!(
        due(&sam.run(&["--json", "today"]).json()),
        vec![
            row("2026-03-06", "Behavioural activation", "due"),
            row("2026-03-06", "CBT thought record", "done"),
            row("2026-03-06", "Mood check-in", "done"),
        ]
    );

    // Progress on Friday. Per the rules in shared/src/progress.rs an occurrence counts as
    // scheduled once done or once its day is past: mood Mon–Thu past plus Friday's done = 5,
    // Wednesday missed; activation Mon and Wed (Friday's is today and not done yet, so not a miss
    // yet); the once-assignment done before its due day counts as scheduled and done.
    let progress = sam.run(&["--json", "progress"]).json();
    assert_eq!(progress["today"], "2026-03-06");
    let titles: Vec<&str> = progress["adherence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec![
            "Behavioural activation",
            "CBT thought record",
            "Mood check-in"
        ]
    );
    assert_eq!(
        adherence(&progress, "Mood check-in"),
        (5, 4, Some(0.8), 2, 2)
    );
    assert_eq!(
        adherence(&progress, "Behavioural activation"),
        (2, 2, Some(1.0), 2, 2)
    );
    assert_eq!(
        adherence(&progress, "CBT thought record"),
        (1, 1, Some(1.0), 1, 1)
    );
    // A complete entry on each of Mon–Fri (the thought record is dated Tuesday).
    assert_eq!(progress["overall_streak"], 5);
    // Mood ×4, activation ×2, thought record, PHQ-9.
    assert_eq!(progress["entries_this_week"], 8);
    assert_eq!(
        points(&progress["mood"]),
        pts(&[
            ("2026-03-02", 4.0),
            ("2026-03-03", 5.0),
            ("2026-03-05", 7.0),
            ("2026-03-06", 8.0)
        ])
    );
    assert_eq!(progress["mood"]["latest"], 8.0);
    assert_eq!(progress["mood"]["average"], 6.0);
    // No points in the week before: no direction yet.
    assert_eq!(progress["mood"]["direction"], Value::Null);
    assert_eq!(
        points(&progress["mastery"]),
        pts(&[("2026-03-02", 5.0), ("2026-03-04", 7.0)])
    );
    assert_eq!(
        points(&progress["pleasure"]),
        pts(&[("2026-03-02", 6.0), ("2026-03-04", 8.0)])
    );
    assert_eq!(progress["mastery"]["average"], 6.0);
    assert_eq!(progress["pleasure"]["average"], 7.0);
    assert_eq!(
        progress["distortions"],
        json!([["catastrophising", 1], ["mind-reading", 1]])
    );
    assert_eq!(
        progress["measures"],
        json!([{"template": "phq-9", "day": "2026-03-06", "total": 8, "severity": "mild"}])
    );
    assert_eq!(progress["goals"], json!([]));

    // The text view shows the same figures.
    let text = sam.run(&["progress"]).out();
    assert_mentions(
        &text,
        &[
            "4/5",
            "80%",
            "2/2",
            "1/1",
            "phq-9",
            "8 mild",
            // Thinking traps by their readable names.
            "Most frequent thinking traps: Catastrophising ×1, Mind reading ×1",
        ],
    );

    // Seen from Saturday, Friday's activation was skipped: now a miss, and the streak is broken.
    // Saturday's mood check-in is today and not done, so not counted yet.
    sam.at(SAT);
    let saturday = sam.run(&["--json", "progress"]).json();
    let (scheduled, done, rate, current, longest) = adherence(&saturday, "Behavioural activation");
    assert_eq!((scheduled, done, current, longest), (3, 2, 0, 2));
    assert!((rate.unwrap() - 2.0 / 3.0).abs() < 1e-9, "rate {rate:?}");
    assert_eq!(
        adherence(&saturday, "Mood check-in"),
        (5, 4, Some(0.8), 2, 2)
    );
    assert_eq!(saturday["overall_streak"], 5);

    // Sam hands the week over; the therapist merges it and sees the same entries and figures.
    sam.at(FRI);
    let week_file = tmp.path().join("sam-week.between");
    sam.run(&["doc", "save", path(&week_file)]).out();
    dr.at(FRI_AFTERNOON);
    dr.run(&["--client", "Sam", "doc", "merge", path(&week_file)])
        .out();
    let entries = dr
        .run(&["--client", "Sam", "--json", "entry", "list"])
        .json();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 8);
    assert!(entries
        .iter()
        .all(|e| e["entry"]["created_by"] == json!({"name": "Sam", "role": "client"})));
    let on_therapist = entries
        .iter()
        .find(|e| e["id"] == record.as_str())
        .expect("the thought record reached the therapist");
    assert_eq!(on_therapist["entry"]["status"], "complete");
    assert_eq!(
        on_therapist["entry"]["values"]["balanced_thought"]["value"],
        BALANCED
    );
    assert_eq!(
        dr.run(&["--client", "Sam", "--json", "progress"]).json(),
        progress,
        "the therapist sees the client's figures"
    );

    // The therapist cannot write entries for the client.
    let err = dr.refuses(
        Some("Sam"),
        &[
            "--client", "Sam", "entry", "new", &week.mood, "--set", "mood=5",
        ],
    );
    assert_mentions(&err, &["client's own work", "comment"]);

    // ...but comments on one field, and the comment travels back.
    let comment = dr.create(&[
        "--client",
        "Sam",
        "comment",
        "add",
        &format!("{record}:balanced_thought"),
        COMMENT,
    ]);
    let back = tmp.path().join("sam-back.between");
    dr.run(&["--client", "Sam", "doc", "save", path(&back)])
        .out();
    sam.at(FRI_EVENING);
    sam.run(&["doc", "merge", path(&back)]).out();

    let shown = sam.run(&["show", &record]).out();
    let lines: Vec<&str> = shown.lines().collect();
    let balanced = lines
        .iter()
        .position(|l| l.contains("[balanced_thought]"))
        .unwrap_or_else(|| panic!("no balanced thought line in:\n{shown}"));
    assert!(lines[balanced].contains(BALANCED), "{shown}");
    let under = lines[balanced + 1];
    assert_mentions(under, &[COMMENT, "Dr Rivera", "therapist", &comment[..8]]);
    assert_eq!(
        lines.iter().filter(|l| l.contains(COMMENT)).count(),
        1,
        "the comment is shown once, under its field:\n{shown}"
    );

    let shown = sam.run(&["--json", "show", &record]).json();
    assert_eq!(
        shown["comments"],
        json!([{
            "id": comment,
            "comment": {
                "author": {"name": "Dr Rivera", "role": "therapist"},
                "created_at": 1_772_809_200_000_i64,
                "reply_to": null,
                "resolved": false,
                "resolved_by": null,
                "target": {"on": "entry", "id": record, "field": "balanced_thought"},
                "text": COMMENT,
            }
        }])
    );

    // JSON export: reads back into the same records and writes out the same JSON.
    let exported = sam.run(&["export", "--format", "json"]).out();
    let data: HomeworkData = serde_json::from_str(&exported).expect("the export deserialises");
    assert_eq!(
        serde_json::to_string_pretty(&data).unwrap() + "\n",
        exported
    );
    let as_value: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(serde_json::to_value(&data).unwrap(), as_value);
    assert_eq!(as_value, sam.snapshot(None));
    assert_eq!(data.meta.client_name, "Sam");
    assert_eq!(data.meta.therapist_name.as_deref(), Some("Dr Rivera"));
    assert_eq!(data.assignments.len(), 3);
    assert_eq!(data.entries.len(), 8);
    assert_eq!(data.comments.len(), 1);
    // Both devices hold the same document now.
    assert_eq!(dr.snapshot(Some("Sam")), as_value);

    // Markdown export: titles, what Sam typed, and the comment under the balanced thought.
    let markdown = sam.run(&["export", "--format", "markdown"]).out();
    assert_mentions(
        &markdown,
        &[
            "# Homework of Sam",
            "### CBT thought record",
            "### Mood check-in",
            "### Behavioural activation",
            SITUATION,
            BALANCED,
            COMMENT,
            "Dr Rivera (therapist)",
            "Walk round the park",
        ],
    );
    let at_balanced = markdown.find(BALANCED).unwrap();
    let at_comment = markdown.find(COMMENT).unwrap();
    let at_belief = markdown
        .find("How much do you believe the balanced thought?")
        .unwrap();
    assert!(
        at_balanced < at_comment && at_comment < at_belief,
        "the comment follows the balanced thought:\n{markdown}"
    );
    assert_eq!(
        dr.run(&["--client", "Sam", "export", "--format", "markdown"])
            .out(),
        markdown,
        "the therapist exports the same report"
    );
}

#[test]
fn bad_input_at_each_step_of_the_week_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut dr, mut sam, week) = assign_the_week(tmp.path());
    let sam_doc = Some("Sam");

    // Assigning: bad schedules, an unknown template, a bad duration, an unknown client.
    let create = ["--client", "Sam", "assignment", "create", "-t"];
    let refused = |extra: &[&str]| dr.refuses(sam_doc, &[&create[..], extra].concat());
    assert_mentions(
        &refused(&["mood-check-in", "--every", "fortnightly"]),
        &[
            "'fortnightly' is not a frequency",
            "daily",
            "weekly:mon,wed,fri",
            "once:",
        ],
    );
    assert_mentions(
        &refused(&["mood-check-in", "--every", "weekly:mon,funday"]),
        &["'funday' is not a weekday", "mon, tue"],
    );
    assert_mentions(
        &refused(&["thought-record", "--every", "once:2026-02-30"]),
        &["'2026-02-30' is not a date", "YYYY-MM-DD"],
    );
    assert_mentions(
        &refused(&["mood-check-in", "--every", "daily", "--starts", "tomorrow"]),
        &["--starts", "'tomorrow' is not a date", "YYYY-MM-DD"],
    );
    assert_mentions(
        &refused(&["thoughtrecord", "--every", "daily"]),
        &[
            "no template 'thoughtrecord'",
            "thought-record",
            "template list",
        ],
    );
    assert_mentions(
        &refused(&[
            "behavioural-activation",
            "--every",
            "daily",
            "--minutes",
            "0",
        ]),
        &["minutes", "0 is out of range", "1 to 600"],
    );
    assert_mentions(
        &dr.refuses(
            sam_doc,
            &[
                "--client",
                "Sammy",
                "assignment",
                "create",
                "-t",
                "journal",
                "--every",
                "daily",
            ],
        ),
        &["no client 'Sammy'", "Sam"],
    );
    assert_mentions(
        &dr.refuses(
            sam_doc,
            &["init", "--role", "therapist", "--name", "Dr Rivera"],
        ),
        &["already exists", "--profile"],
    );

    // Monday: out-of-range and unknown values, malformed --set, unknown fields and ids.
    sam.at(MON);
    let new_mood = |extra: &[&str]| {
        sam.refuses(
            None,
            &[&["entry", "new", week.mood.as_str()][..], extra].concat(),
        )
    };
    assert_mentions(
        &new_mood(&["--set", "mood=11"]),
        &["How is your mood?", "11 is out of range", "0 to 10"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood=-1"]),
        &["-1 is out of range", "0 to 10"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood=abc"]),
        &["'abc' is not a whole number"],
    );
    // Any word names an emotion ("gloomy" is saved as typed, see the Monday check-in); a
    // paragraph does not.
    let rambling = format!("emotions=anxious=80, {}=20", "gloomy and ".repeat(6));
    assert_mentions(
        &new_mood(&["--set", "mood=6", "--set", &rambling]),
        &["longer than 60 characters", "a word or two"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood=6", "--set", "emotions=anxious=180"]),
        &["anxious", "180 is out of range", "0 to 100"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood"]),
        &["--set takes FIELD=VALUE", "'mood'"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood=6", "--set", "colour=blue"]),
        &["no field 'colour'", "mood, emotions"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood=6", "--date", "2026-13-40"]),
        &["--date", "'2026-13-40' is not a date", "YYYY-MM-DD"],
    );
    assert_mentions(
        &new_mood(&["--set", "mood=6", "--difficulty", "11"]),
        &["difficulty", "11 is out of range"],
    );
    // An activity recorded as not done, yet rated as if done, is questioned (no terminal: refused).
    assert_mentions(
        &sam.refuses(
            None,
            &[
                "entry",
                "new",
                "-t",
                "behavioural-activation",
                "--set",
                "activity=Walk",
                "--set",
                "done=no",
                "--set",
                "mastery=5",
                "--set",
                "pleasure=6",
            ],
        ),
        &[
            "marked not done",
            "mastery, pleasure are rated",
            "--set done=yes",
            "--clear mastery --clear pleasure",
        ],
    );
    assert_mentions(
        &new_mood(&["--set", "emotions=calm=50"]),
        &["still to answer: mood (How is your mood?)", "--draft"],
    );
    assert_mentions(
        &sam.refuses(None, &["entry", "new", "ffffffff", "--set", "mood=6"]),
        &["no assignment has the id, template or title 'ffffffff'"],
    );
    assert_mentions(
        &sam.refuses(None, &["entry", "new", "--template", "nonsense"]),
        &["no template 'nonsense'", "phq-9"],
    );
    assert_mentions(
        &sam.refuses(None, &["entry", "new", "--set", "mood=6"]),
        &["assignment id", "--template"],
    );
    assert_mentions(
        &sam.refuses(None, &["init", "--role", "client", "--name", "Sam"]),
        &["already exists"],
    );

    let record = monday_and_tuesday(&mut sam, &week);

    // Tuesday: a thought record cannot be completed part-way; drafts are still checked.
    let err = sam.refuses(
        None,
        &[
            "entry",
            "new",
            &week.thought_record,
            "--set",
            &format!("situation={SITUATION}"),
            "--set",
            "emotions=anxious=80",
        ],
    );
    assert_mentions(
        &err,
        &[
            "thoughts (What went through your mind?)",
            "balanced_thought",
            "--set FIELD=VALUE",
            "--draft",
        ],
    );
    assert_mentions(
        &sam.refuses(
            None,
            &[
                "entry",
                "edit",
                &record,
                "--set",
                "distortions=doom-thinking",
            ],
        ),
        &[
            "'doom-thinking' is not one of the allowed options",
            "catastrophising",
        ],
    );
    assert_mentions(
        &sam.refuses(
            None,
            &[
                "entry",
                "edit",
                &record,
                "--set",
                "thoughts=I'm going to be fired=900",
            ],
        ),
        &["900 is out of range", "0 to 100"],
    );

    // Wednesday: completing with required answers missing names every one and the way out.
    sam.at(WED);
    let err = sam.refuses(
        None,
        &[
            "entry",
            "edit",
            &record,
            "--set",
            "thoughts=*I'm going to be fired=90",
            "--complete",
        ],
    );
    assert_mentions(
        &err,
        &[
            "balanced_thought (What is a more balanced way to see it?)",
            "balanced_belief",
            "emotions_after",
            "--draft",
        ],
    );
    assert_mentions(
        &sam.refuses(None, &["entry", "complete", &record]),
        &["thoughts (What went through your mind?)", "--draft"],
    );
    assert_mentions(
        &sam.refuses(None, &["entry", "edit", "ffffffff", "--set", "mood=6"]),
        &["no entry with id 'ffffffff'"],
    );
    // The draft is untouched by all that.
    let entry = &sam.run(&["--json", "show", &record]).json()["entry"];
    assert_eq!(entry["status"], "draft");
    assert_eq!(entry["values"]["thoughts"]["value"], json!([]));

    // Handing over: another client's document and files that are not documents are refused.
    dr.at(FRI_AFTERNOON);
    dr.run(&["client", "new", "Alex"]).out();
    let alex = tmp.path().join("alex.between");
    dr.run(&["--client", "Alex", "doc", "save", path(&alex)])
        .out();
    assert_mentions(
        &sam.refuses(None, &["doc", "merge", path(&alex)]),
        &["different homework document", "nothing was merged"],
    );
    assert_mentions(
        &dr.refuses(sam_doc, &["--client", "Sam", "doc", "merge", path(&alex)]),
        &["different homework document", "nothing was merged"],
    );
    let garbage = tmp.path().join("garbage.between");
    std::fs::write(&garbage, b"\x00\x01not an automerge document\xff\xfe").unwrap();
    assert_mentions(
        &sam.refuses(None, &["doc", "merge", path(&garbage)]),
        &["garbage.between is not a Between homework document"],
    );

    // Commenting: on a field the entry does not have, on nothing, with nothing to say.
    let week_file = tmp.path().join("sam-week.between");
    sam.run(&["doc", "save", path(&week_file)]).out();
    dr.run(&["--client", "Sam", "doc", "merge", path(&week_file)])
        .out();
    assert_mentions(
        &dr.refuses(
            sam_doc,
            &[
                "--client",
                "Sam",
                "comment",
                "add",
                &format!("{record}:colour"),
                "Nice",
            ],
        ),
        &["no field 'colour'", "balanced_thought"],
    );
    assert_mentions(
        &dr.refuses(
            sam_doc,
            &["--client", "Sam", "comment", "add", "ffffffff", "Nice"],
        ),
        &["no record with id 'ffffffff'"],
    );
    assert_mentions(
        &dr.refuses(
            sam_doc,
            &[
                "--client",
                "Sam",
                "comment",
                "add",
                &format!("{record}:balanced_thought"),
                "",
            ],
        ),
        &["comment cannot be empty"],
    );
    // The therapist cannot finish or change the client's draft either.
    assert_mentions(
        &dr.refuses(sam_doc, &["--client", "Sam", "entry", "complete", &record]),
        &["client's own work"],
    );
    assert_mentions(
        &dr.refuses(
            sam_doc,
            &[
                "--client",
                "Sam",
                "entry",
                "edit",
                &record,
                "--set",
                "balanced_belief=50",
            ],
        ),
        &["client's own work"],
    );
}
