//! `between entry new` at a real terminal (a pseudo-terminal): the therapist's instructions come
//! before the questions, and Ctrl-C part-way keeps what was answered as a draft and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use between_e2e::Device;
use rexpect::session::spawn_command;
use std::process::Stdio;

/// `between` with `args` on `device`, attached to a pseudo-terminal.
fn at_terminal(device: &Device, args: &[&str]) -> rexpect::session::PtySession {
    let mut command = device.command(args);
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .env("TERM", "xterm");
    spawn_command(command, Some(20_000)).expect("start between in a pseudo-terminal")
}

#[test]
fn ctrl_c_part_way_keeps_the_answers_as_a_draft_after_showing_the_instructions() {
    let dir = tempfile::tempdir().unwrap();
    let sam = Device::new(dir.path(), "sam");
    sam.run(&["init", "--role", "client", "--name", "Sam"])
        .out();
    let assignment = sam.create(&[
        "assignment",
        "create",
        "-t",
        "mood-check-in",
        "--every",
        "daily",
        "--minutes",
        "2",
        "--instructions",
        "Before bed, notice the day's strongest feeling.",
    ]);

    let mut terminal = at_terminal(&sam, &["entry", "new", &assignment]);
    terminal
        .exp_string("Before bed, notice the day's strongest feeling.")
        .unwrap();
    terminal.exp_string("About 2 minutes.").unwrap();
    terminal.exp_string("How is your mood?").unwrap();
    terminal.send_line("6").unwrap();
    terminal.exp_string("Which emotions are there?").unwrap();
    terminal.send("anxious=40").unwrap();
    terminal.flush().unwrap();
    terminal.send_control('c').unwrap();
    let said = terminal.exp_eof().unwrap();
    assert!(
        said.contains("What you answered is saved as a draft"),
        "{said}"
    );
    assert!(said.contains("between entry edit"), "{said}");

    // Not asked whether to share it, the draft stays on Sam's devices only.
    assert!(said.contains("It is private"), "{said}");

    // The answer given before Ctrl-C is there, as a draft for the assignment; the half-typed
    // one is not.
    let list = sam.run(&["--json", "list"]).json();
    assert_eq!(list["entries"], serde_json::json!({}), "{list}");
    let entries = list["private"]["entries"].as_object().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    let (_, entry) = entries.iter().next().unwrap();
    assert_eq!(entry["status"], "draft");
    assert_eq!(entry["assignment"], assignment.as_str());
    assert_eq!(entry["values"]["mood"]["value"], 6);
    assert_eq!(
        entry["values"]["emotions"]["value"],
        serde_json::json!({}),
        "{entry}"
    );

    // Stopping before the first answer saves nothing.
    let mut terminal = at_terminal(&sam, &["entry", "new", "-t", "journal"]);
    terminal.exp_string("Ctrl-C stops here").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    terminal.send_control('c').unwrap();
    let said = terminal.exp_eof().unwrap();
    assert!(said.contains("nothing was saved"), "{said}");
    let list = sam.run(&["--json", "list"]).json();
    assert_eq!(list["private"]["entries"].as_object().unwrap().len(), 1);
    assert_eq!(list["entries"], serde_json::json!({}));
}

/// Waits for `prompt`, then types `answer` and Enter.
fn answer(terminal: &mut rexpect::session::PtySession, prompt: &str, answer: &str) {
    terminal.exp_string(prompt).unwrap();
    terminal.send_line(answer).unwrap();
}

/// Waits for the yes/no question `prompt`, then presses `key` alone (a yes/no question takes
/// the key without Enter).
fn press(terminal: &mut rexpect::session::PtySession, prompt: &str, key: &str) {
    terminal.exp_string(prompt).unwrap();
    terminal.send(key).unwrap();
    terminal.flush().unwrap();
}

#[test]
fn an_activity_not_done_but_rated_is_questioned_and_the_answer_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let sam = Device::new(dir.path(), "sam");
    sam.run(&["init", "--role", "client", "--name", "Sam"])
        .out();

    let mut terminal = at_terminal(&sam, &["entry", "new", "-t", "behavioural-activation"]);
    answer(
        &mut terminal,
        "What activity do you plan?",
        "Walk round the park",
    );
    answer(&mut terminal, "What kind of activity is it?", ""); // (skip)
    answer(&mut terminal, "When will you do it?", "");
    answer(&mut terminal, "Does it repeat?", "");
    answer(&mut terminal, "How do you expect to feel afterwards?", "4");
    press(&mut terminal, "Did you do it?", "n");
    answer(&mut terminal, "sense of achievement", "6");
    answer(&mut terminal, "How much did you enjoy it?", "5");
    answer(&mut terminal, "How was your mood afterwards?", "");
    answer(&mut terminal, "How hard was it", "");
    answer(&mut terminal, "What got in the way?", "");
    // No: the ratings are left out, the record stays "not done".
    press(
        &mut terminal,
        "You said you did not do the activity, but rated mastery, pleasure",
        "n",
    );
    terminal.exp_string("Left out mastery, pleasure").unwrap();
    press(&mut terminal, "Keep this entry private", "n");
    terminal.exp_eof().unwrap();

    let list = sam.run(&["--json", "list"]).json();
    let (_, entry) = list["entries"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(entry["values"]["done"]["value"], false, "{entry}");
    assert!(
        entry["values"]
            .get("mastery")
            .is_none_or(|v| v["value"].is_null()),
        "{entry}"
    );
    assert!(
        entry["values"]
            .get("pleasure")
            .is_none_or(|v| v["value"].is_null()),
        "{entry}"
    );
    assert_eq!(entry["values"]["predicted_mood"]["value"], 4);
}
