//! Docs that run (issue 11): every shell block of `README.md` and `docs/user-guide.md` runs as
//! written, against the binaries this test run built.
//!
//! Each document's fenced `sh` blocks, in order, become one bash script (`set -euo pipefail`),
//! so variables and a background relay carry from block to block, as they do for a reader who
//! types them into one terminal. The script runs in a fresh temporary folder as the working
//! directory, with `HOME`, `TMPDIR` and `BETWEEN_DATA_DIR` inside it, the folder of the built
//! `between` and `between-relay` first on `PATH`, no terminal, and a trap that stops its
//! background jobs (the relay) when it exits. Nothing about the clock is pinned: the documents
//! give dates relative to today. `EDITOR` is a small script that writes a sentence into the
//! file it is given, standing in for the reader's editor behind `--edit`, and
//! `BETWEEN_NOTIFY_COMMAND` a script that notes what `between remind` raises, standing in for
//! the reader's desktop notifications.
//!
//! The harness rewrites nothing, with one exception: lines that invoke `cargo` or
//! `scripts/test` (building Between, and the project's own two commands: running the tests
//! from inside a test would recurse) are left out; the binaries are already built and on
//! `PATH`.
//!
//! Every shell block is fenced as `sh` (a block fenced `bash`, `shell` or `console` fails the
//! test, so none slips past unrun); output is fenced as `text`.
//!
//! When a command fails, the failure names the document, the line, the command and what it
//! printed (set `DOCS_RUN_TRANSCRIPT=1` to see what every command printed). After each script
//! the test checks a few outcomes in what named commands printed (the documents themselves
//! contain no checks). Both documents serve the relay on its default port, 7070, so they run one
//! after the other in this one test.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::binary;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one document may take before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(300);

/// Marks, in the script's output, where the command on a script line starts (bash's `DEBUG`
/// trap prints it before each command). A byte no command prints.
const MARK: char = '\u{1e}';

/// One document's shell, as run.
struct Script {
    /// The document's path in the repository, as named in failures.
    doc: &'static str,
    /// The script's text.
    text: String,
    /// For each line of the script (from 1), the document's line it came from, if any.
    doc_lines: Vec<Option<usize>>,
    /// For each line of the script (from 1), the first line of the block it is in.
    block_starts: Vec<Option<usize>>,
    /// The document's lines (to show a failing command).
    source: Vec<String>,
}

/// What one command (one script line) printed.
#[derive(Debug, Clone, Default)]
struct Printed {
    /// The document's line of the command.
    doc_line: usize,
    /// The command as the document writes it (with continuation lines).
    command: String,
    stdout: String,
    stderr: String,
}

/// The outcome of one document's script.
struct Outcome {
    doc: &'static str,
    /// Each command that ran, in order, with what it printed.
    printed: Vec<Printed>,
}

impl Outcome {
    /// What the last command whose text contains `needle` printed.
    #[track_caller]
    fn of(&self, needle: &str) -> &Printed {
        self.printed
            .iter()
            .rev()
            .find(|p| p.command.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no command containing {needle:?} ran; the test's checks and the document disagree",
                    self.doc
                )
            })
    }

    /// Asserts that the last command containing `needle` printed every one of `words` (on
    /// standard output or error).
    #[track_caller]
    fn shows(&self, needle: &str, words: &[&str]) {
        let printed = self.of(needle);
        let all = format!("{}{}", printed.stdout, printed.stderr);
        for word in words {
            assert!(
                all.contains(word),
                "{} line {}: `{}` should show {word:?}, but printed:\n{all}",
                self.doc,
                printed.doc_line,
                printed.command
            );
        }
    }
}

/// The repository's root (this crate is `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// Whether a shell line runs `cargo` or the test script (after optional indentation).
fn invokes_cargo(line: &str) -> bool {
    let line = line.trim_start();
    ["cargo", "scripts/test"]
        .iter()
        .any(|command| line == *command || line.starts_with(&format!("{command} ")))
}

/// The bash script of `doc`'s `sh` blocks (see the module docs).
fn script(doc: &'static str) -> Script {
    let source: Vec<String> = std::fs::read_to_string(repo_root().join(doc))
        .unwrap_or_else(|e| panic!("read {doc}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect();
    // Before the documents' lines: strict mode, the output marks, a record of the failing line,
    // and stopping the background jobs (the relay) however the script ends.
    let header = [
        "set -euo pipefail".to_owned(),
        format!("trap 'printf \"\\n{MARK}%s\\n\" \"$LINENO\"; printf \"\\n{MARK}%s\\n\" \"$LINENO\" >&2' DEBUG"),
        "trap 'echo \"$LINENO\" > \"$DOCS_FAILED_AT\"' ERR".to_owned(),
        "trap 'trap - DEBUG; jobs -p | xargs -r kill 2>/dev/null; wait' EXIT".to_owned(),
    ];
    let mut text = String::new();
    let mut doc_lines = vec![None];
    let mut block_starts = vec![None];
    for line in &header {
        text.push_str(line);
        text.push('\n');
        doc_lines.push(None);
        block_starts.push(None);
    }
    let mut fenced = Fenced::Outside;
    let mut skipping_continuation = false;
    for (index, line) in source.iter().enumerate() {
        let number = index + 1;
        let fence = line.trim_start().starts_with("```");
        match fenced {
            Fenced::Outside if fence => {
                let language = line.trim().trim_start_matches('`');
                assert!(
                    !["bash", "shell", "console", "zsh"].contains(&language),
                    "{doc} line {number}: fence shell commands as ```sh (so this test runs them) and output as ```text"
                );
                fenced = if language == "sh" {
                    Fenced::Shell(number)
                } else {
                    // Output, configuration files: shown, not run.
                    Fenced::Other
                };
            }
            Fenced::Outside => {}
            Fenced::Shell(_) | Fenced::Other if fence => fenced = Fenced::Outside,
            Fenced::Other => {}
            Fenced::Shell(start) => {
                let skipped = skipping_continuation || invokes_cargo(line);
                skipping_continuation = skipped && line.trim_end().ends_with('\\');
                if skipped {
                    text.push_str("# (a cargo line, left out by the docs test)");
                } else {
                    text.push_str(line);
                }
                text.push('\n');
                doc_lines.push(Some(number));
                block_starts.push(Some(start));
            }
        }
    }
    assert!(
        matches!(fenced, Fenced::Outside),
        "{doc}: a fenced block is not closed"
    );
    assert!(
        doc_lines.iter().flatten().next().is_some(),
        "{doc} has no sh block"
    );
    Script {
        doc,
        text,
        doc_lines,
        block_starts,
        source,
    }
}

/// Where a line of Markdown is.
#[derive(Clone, Copy)]
enum Fenced {
    /// In the text.
    Outside,
    /// In an `sh` block that opened at this line.
    Shell(usize),
    /// In another fenced block.
    Other,
}

/// Kills a whole process group (the script and the relay it started) when dropped, so a test
/// that fails or times out leaves nothing running.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// A stand-in for the reader's editor: appends a sentence to the file it is given.
fn editor(dir: &Path) -> PathBuf {
    executable(
        dir,
        "editor",
        "#!/bin/sh\nprintf 'Wrote this in my editor: the walk helped.\\n' >> \"$1\"\n",
    )
}

/// The program `between remind` runs instead of a desktop notification
/// (`BETWEEN_NOTIFY_COMMAND`), standing in for the reader's desktop: it notes the reminder
/// in `notifications` beside it.
fn notifier(dir: &Path) -> PathBuf {
    let log = dir.join("notifications");
    executable(
        dir,
        "notify",
        &format!(
            "#!/bin/sh\nprintf '%s: %s\\n' \"$1\" \"$2\" >> '{}'\n",
            log.display()
        ),
    )
}

/// Writes an executable script `name` into `dir`.
fn executable(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&path, permissions).unwrap();
    path
}

/// Runs `script` (see the module docs); panics naming the failing command, or returns what
/// every command printed.
fn run(script: &Script) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let home = dir.path().join("home");
    let tmp = dir.path().join("tmp");
    let data = dir.path().join("data");
    let own = dir.path().join("harness");
    for folder in [&work, &home, &tmp, &data, &own] {
        std::fs::create_dir(folder).unwrap();
    }
    let script_file = own.join("script.sh");
    std::fs::write(&script_file, &script.text).unwrap();
    let failed_at = own.join("failed-at");
    let stdout_file = own.join("stdout");
    let stderr_file = own.join("stderr");

    let bin_dir = binary("between").parent().unwrap().to_path_buf();
    assert_eq!(binary("between-relay").parent(), Some(bin_dir.as_path()));
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();

    let mut command = Command::new("bash");
    command
        .arg(&script_file)
        .current_dir(&work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("BETWEEN_DATA_DIR", &data)
        .env("EDITOR", editor(&own))
        .env("BETWEEN_NOTIFY_COMMAND", notifier(&own))
        .env("LANG", "C.UTF-8")
        .env("DOCS_FAILED_AT", &failed_at)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_file).unwrap())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .process_group(0);
    let started = Instant::now();
    let mut group = Group(command.spawn().expect("run bash"));
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(group);
    eprintln!(
        "{}: its shell blocks ran in {:.1} s",
        script.doc,
        started.elapsed().as_secs_f64()
    );

    let stdout = std::fs::read_to_string(&stdout_file).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    let printed = split(script, &stdout, &stderr);
    let outcome = Outcome {
        doc: script.doc,
        printed,
    };
    match status {
        Some(status) if status.success() => outcome,
        Some(status) => {
            let line = std::fs::read_to_string(&failed_at)
                .ok()
                .and_then(|l| l.trim().parse::<usize>().ok());
            panic!("{}", failure(script, &outcome, line, &status.to_string()));
        }
        None => panic!(
            "{}",
            failure(
                script,
                &outcome,
                None,
                &format!("still running after {} s", DEADLINE.as_secs())
            )
        ),
    }
}

/// Cuts the script's output at the marks into what each command printed.
fn split(script: &Script, stdout: &str, stderr: &str) -> Vec<Printed> {
    let stdout = by_line(stdout);
    let stderr = by_line(stderr);
    let mut printed: Vec<Printed> = Vec::new();
    // The marks come in the same order on both streams; pair them up.
    for (index, (line, out)) in stdout.iter().enumerate() {
        let err = stderr
            .get(index)
            .filter(|(l, _)| l == line)
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
        let Some(doc_line) = script.doc_lines.get(*line).copied().flatten() else {
            continue;
        };
        // A pipeline marks each of its commands; keep one record per line in a row.
        if let Some(last) = printed.last_mut().filter(|p| p.doc_line == doc_line) {
            last.stdout.push_str(out);
            last.stderr.push_str(&err);
            continue;
        }
        printed.push(Printed {
            doc_line,
            command: command_at(script, doc_line),
            stdout: out.clone(),
            stderr: err,
        });
    }
    printed
}

/// A stream cut at the marks: (script line, what followed it).
fn by_line(stream: &str) -> Vec<(usize, String)> {
    let mut parts = Vec::new();
    for chunk in stream.split(&format!("\n{MARK}")).skip(1) {
        let (line, rest) = chunk.split_once('\n').unwrap_or((chunk, ""));
        if let Ok(line) = line.trim().parse() {
            parts.push((line, rest.to_owned()));
        }
    }
    parts
}

/// The command starting on `doc_line`, with its continuation lines.
fn command_at(script: &Script, doc_line: usize) -> String {
    let mut command = String::new();
    for line in script.source.iter().skip(doc_line - 1) {
        command.push_str(line);
        if !line.trim_end().ends_with('\\') {
            break;
        }
        command.push('\n');
    }
    command
}

/// The failure message: the document, the block and the line, the command, and what it printed.
fn failure(script: &Script, outcome: &Outcome, line: Option<usize>, status: &str) -> String {
    let mut message = String::new();
    let doc_line = line.and_then(|l| script.doc_lines.get(l).copied().flatten());
    let last = match doc_line {
        Some(doc_line) => outcome
            .printed
            .iter()
            .rev()
            .find(|p| p.doc_line == doc_line),
        None => outcome.printed.last(),
    };
    match doc_line.or(last.map(|p| p.doc_line)) {
        Some(doc_line) => {
            let block = line
                .and_then(|l| script.block_starts.get(l).copied().flatten())
                .map(|b| format!(" (the block opened at line {b})"))
                .unwrap_or_default();
            let _ = writeln!(
                message,
                "{} line {doc_line}{block} failed ({status}):\n  {}",
                script.doc,
                command_at(script, doc_line)
            );
        }
        None => {
            let _ = writeln!(message, "{}: the script failed ({status})", script.doc);
        }
    }
    if let Some(printed) = last {
        let _ = writeln!(
            message,
            "--- its standard output:\n{}\n--- its standard error:\n{}",
            printed.stdout.trim_end(),
            printed.stderr.trim_end()
        );
    }
    message
}

#[test]
fn the_readme_and_the_user_guide_run_as_written() {
    let readme = run(&script("README.md"));
    // The laptop and the phone: the goal set on the laptop reaches the phone through pairing,
    // and the laptop lists both devices after the phone's journal entry came back.
    readme.shows("--profile phone goal list", &["Sleep better"]);
    let status = &readme.of("--profile laptop status").stdout;
    assert_eq!(
        status.matches("client, registered").count(),
        2,
        "the laptop lists two devices:\n{status}"
    );
    // The therapist sees the client's homework after sync.
    readme.shows("--profile dr clients", &["Sam"]);
    // By file: the client's thought record reached the therapist, whose progress shows it done.
    readme.shows(
        "--profile desk -c Sam progress",
        &["CBT thought record", "1/1"],
    );
    readme.shows("comment add last:balanced_thought", &["Commented"]);

    let guide = run(&script("docs/user-guide.md"));
    if std::env::var_os("DOCS_RUN_TRANSCRIPT").is_some() {
        for printed in readme.printed.iter().chain(&guide.printed) {
            eprintln!(
                "=== line {}: {}\n{}--- standard error:\n{}",
                printed.doc_line, printed.command, printed.stdout, printed.stderr
            );
        }
    }
    // By file: Dr Rivera holds Robin's homework she started and Kim's she imported, and Robin's
    // goal came back in the merged file.
    guide.shows("--profile rivera client list", &["Robin", "Kim"]);
    guide.shows("-c Robin doc merge", &["Merged"]);
    // Through the relay: Jo's phone joined her account; Dr Park's sync brought in both clients
    // who joined with her invites, and Sam's flagged questionnaire.
    let status = &guide.of("--profile jo-laptop status").stdout;
    assert_eq!(
        status.matches("client, registered").count(),
        2,
        "Jo's laptop lists two devices:\n{status}"
    );
    guide.shows("--profile park client list", &["Sam", "Alex"]);
    guide.shows("--profile park -c Sam risk list", &["item 9", "OPEN"]);
    // Sam's progress shows the homework done, the acknowledged flag and the goal.
    guide.shows(
        "--profile sam progress",
        &[
            "CBT thought record",
            "Mood check-in",
            "1/1",
            "acknowledged by Dr Park",
            "Sleep better",
        ],
    );
    // The entry written in the editor, and the private entry shared afterwards.
    guide.shows("--template journal --edit text", &["complete"]);
    guide.shows("entry share last", &["no longer private"]);
}
