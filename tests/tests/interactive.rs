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
