//! Flexible schedules over a replayed week with the real binary and a pinned clock: homework
//! "3 times a week" counts any day, a weekday assignment done on another day of its week counts
//! there (and is noted) instead of leaving a missed day, the week view sums up what was not
//! done instead of a row of crosses, progress and the therapist's caseload follow the same
//! rules, and an entry dated after today does not count today.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::{assert_mentions, Device};
use serde_json::json;

/// Monday 2 March 2026, and the days after it, at noon.
fn day(n: u32) -> String {
    format!("2026-03-{:02}T12:00:00+00:00", 2 + n)
}

#[test]
fn times_a_week_and_moved_weekdays_count_without_missed_days() {
    let dir = tempfile::tempdir().unwrap();
    let mut dr = Device::new(dir.path(), "dr");
    dr.at(&day(0));
    dr.run(&["init", "--role", "therapist", "--name", "Dr Rivera"])
        .out();
    dr.run(&["client", "new", "Sam"]).out();
    let walk = dr.create(&[
        "-c",
        "Sam",
        "assignment",
        "create",
        "-t",
        "journal",
        "--title",
        "Walk",
        "--every",
        "3 times a week",
    ]);
    let calls = dr.create(&[
        "-c",
        "Sam",
        "assignment",
        "create",
        "-t",
        "mood-check-in",
        "--title",
        "Call a friend",
        "--every",
        "weekly:mon,wed,fri",
    ]);
    assert_mentions(
        &dr.run(&["-c", "Sam", "show", &walk]).out(),
        &["3 times a week"],
    );
    let file = dir.path().join("sam.between");
    dr.run(&["-c", "Sam", "doc", "save", file.to_str().unwrap()])
        .out();
    let mut sam = Device::new(dir.path(), "sam");
    sam.at(&day(0));
    sam.run(&[
        "init",
        "--role",
        "client",
        "--name",
        "Sam",
        "--document",
        file.to_str().unwrap(),
    ])
    .out();

    // Monday: nothing done. Tuesday: a walk, and the call Sam could not make on Monday.
    sam.at(&day(1));
    let journal = |sam: &Device, id: &str, text: &str| {
        sam.run(&["entry", "new", id, "--set", &format!("text={text}")])
            .out();
    };
    journal(&sam, &walk, "Round the park");
    sam.run(&["entry", "new", &calls, "--set", "mood=6"]).out();
    let today = sam.run(&["today"]).out();
    assert_mentions(&today, &["• Walk — due (1 of 3 this week)"]);
    // Wednesday: the call on its day; two walks on Thursday and Saturday.
    sam.at(&day(2));
    sam.run(&["entry", "new", &calls, "--set", "mood=5"]).out();
    sam.at(&day(3));
    journal(&sam, &walk, "Along the river");
    sam.at(&day(5));
    journal(&sam, &walk, "To the shop and back");
    assert_mentions(
        &sam.run(&["today"]).out(),
        &["✓ Walk — done (3 of 3 this week)"],
    );

    // Seen on Saturday: Monday's call was made on Tuesday; only Friday's is not done, and it is
    // said plainly, once, below the list — no crosses.
    let week = sam.run(&["today", "--week"]).out();
    assert_mentions(
        &week,
        &[
            "✓ Mon 2 Mar Call a friend — done (on Tue 3 Mar)",
            "✓ Wed 4 Mar Call a friend — done",
            "✓ this week Walk — done (3 of 3 this week)",
            "Not done: Call a friend on Fri 6 Mar.",
        ],
    );
    assert!(!week.contains('✗'), "{week}");
    let items = sam.run(&["--json", "today", "--week"]).json();
    let monday = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["assignment"] == calls.as_str() && i["day"] == "2026-03-02")
        .cloned()
        .unwrap();
    assert_eq!(monday["state"], "done");
    assert_eq!(monday["done_on"], "2026-03-03");

    // Progress counts the same way: calls 2 of 3 so far (Friday missed), walks 3 of 3.
    let progress = sam.run(&["--json", "progress"]).json();
    let rows: Vec<(String, u64, u64)> = progress["adherence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["title"].as_str().unwrap().to_owned(),
                r["scheduled"].as_u64().unwrap(),
                r["done"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("Call a friend".to_owned(), 3, 2),
            ("Walk".to_owned(), 3, 3)
        ]
    );

    // The therapist's caseload, from Sam's file the next Monday: one missed call (Friday), no
    // missed walk, nothing for Monday's call made on Tuesday.
    sam.at(&day(7));
    sam.run(&["doc", "save", file.to_str().unwrap()]).out();
    dr.at(&day(7));
    dr.run(&["-c", "Sam", "doc", "merge", file.to_str().unwrap()])
        .out();
    let rows = dr.run(&["--json", "clients"]).json();
    let missed: Vec<(String, String)> = rows[0]["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["title"].as_str().unwrap().to_owned(),
                m["day"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        missed,
        vec![("Call a friend".to_owned(), "2026-03-06".to_owned())],
        "{rows}"
    );

    // An entry dated ahead is saved with a note, and does not count today.
    sam.at(&day(7));
    let ahead = sam.run(&[
        "--json",
        "entry",
        "new",
        &calls,
        "--date",
        "2026-03-11",
        "--set",
        "mood=7",
    ]);
    assert!(ahead.ok, "{}", ahead.stderr);
    assert_mentions(
        &ahead.stderr,
        &[
            "dated 2026-03-11, 2 days from today",
            "counts from that day, not today",
        ],
    );
    let today = sam.run(&["--json", "today"]).json();
    let call_today = today
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["assignment"] == calls.as_str())
        .cloned()
        .unwrap();
    assert_eq!(call_today["state"], "due", "{today}");
    assert_eq!(call_today["day"], json!("2026-03-09"));
}
