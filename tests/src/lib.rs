//! Helpers for the end-to-end tests: run the real `between` binary against a real profile in a
//! temporary folder, with the clock pinned so a week of homework can be replayed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod flood;
pub mod postgres;
pub mod practice;
pub mod profile_file;
pub mod relay;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace's target folder for this profile (`target/<profile>`), found from the running
/// executable's own path: a test lives in `target/<profile>/deps/<test>`, a workspace binary
/// using this crate (the benchmark harness) in `target/<profile>/<binary>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable's path");
    let parent = exe
        .parent()
        .expect("the running executable lives in a folder");
    if parent.ends_with("deps") {
        parent
            .parent()
            .expect("deps lives in target/<profile>")
            .to_path_buf()
    } else {
        parent.to_path_buf()
    }
}

/// The path of a workspace binary. A test builds the binaries once per test run (so running one
/// test alone never uses a stale binary); another workspace binary using this crate (the
/// benchmark harness, built with the binaries it needs) builds them only if `name` is missing.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path = target_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let from_test = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.ends_with("deps")))
        .unwrap_or(true);
    if !from_test && path.exists() {
        return path;
    }
    BUILT.get_or_init(|| {
        // `cargo test --workspace` builds the binaries too; this covers running one test alone.
        let release = target_dir().ends_with("release");
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--bins", "--workspace"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
    });
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The outcome of one command.
#[derive(Debug)]
pub struct Run {
    /// Exit status was success.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn out(self) -> String {
        assert!(
            self.ok,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    #[track_caller]
    pub fn json(self) -> serde_json::Value {
        let out = self.out();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn err(self) -> String {
        assert!(
            !self.ok,
            "command should have failed but printed:\n{}",
            self.stdout
        );
        self.stderr
    }
}

/// One device profile of one person, in its own data folder.
pub struct Device {
    /// The data folder (`--data-dir`).
    pub data_dir: PathBuf,
    /// The profile name.
    pub profile: String,
    /// The pinned time, RFC 3339.
    pub now: String,
}

impl Device {
    /// A device profile named `profile` under `root`.
    pub fn new(root: &Path, profile: &str) -> Self {
        Self {
            data_dir: root.join(profile),
            profile: profile.to_string(),
            now: "2026-03-02T09:00:00+00:00".to_string(),
        }
    }

    /// Sets the device's clock.
    pub fn at(&mut self, rfc3339: &str) -> &mut Self {
        self.now = rfc3339.to_string();
        self
    }

    /// Runs `between` with these arguments on this profile, no terminal attached.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run between");
        Run::from(output)
    }

    /// The `between` command [`Device::run`] runs, to start it in the background (e.g. a
    /// `sync` to interrupt) or with more environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("between"));
        command
            .args(["--profile", &self.profile, "--data-dir"])
            .arg(&self.data_dir)
            .args(args)
            .env("BETWEEN_NOW", &self.now)
            .env_remove("BETWEEN_PROFILE")
            .env_remove("BETWEEN_DATA_DIR")
            .env_remove("BETWEEN_CLIENT")
            .env_remove("EDITOR")
            .env_remove("VISUAL")
            .stdin(std::process::Stdio::null());
        command
    }

    /// Runs a command that creates something with `--json` and returns the new id.
    #[track_caller]
    pub fn create(&self, args: &[&str]) -> String {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let value = self.run(&with_json).json();
        value["id"].as_str().expect("an id").to_string()
    }

    /// The whole document as JSON (`list --json`), to check that a refused command changed nothing.
    pub fn snapshot(&self, client: Option<&str>) -> serde_json::Value {
        let mut args = vec!["--json"];
        if let Some(c) = client {
            args.extend(["--client", c]);
        }
        args.push("list");
        self.run(&args).json()
    }

    /// Runs a command that must be refused and returns its standard error, after checking that
    /// it failed and changed nothing: the document (`list --json`, of `client`'s homework on a
    /// therapist's profile) and the store file's bytes are the same before and after.
    #[track_caller]
    pub fn refuses(&self, client: Option<&str>, args: &[&str]) -> String {
        let before = self.snapshot(client);
        let bytes = std::fs::read(self.store_file()).expect("read the store file");
        let run = self.run(args);
        let command = args.join(" ");
        assert!(
            !run.ok,
            "`between {command}` should have been refused but printed:\n{}",
            run.stdout
        );
        assert!(
            run.stderr.trim_start().starts_with("error:"),
            "`between {command}` failed without an error message: {}",
            run.stderr
        );
        assert_eq!(
            self.snapshot(client),
            before,
            "`between {command}` was refused but changed the document"
        );
        assert!(
            std::fs::read(self.store_file()).expect("read the store file") == bytes,
            "`between {command}` was refused but changed the store file"
        );
        run.stderr
    }

    /// The path of the profile's store file.
    pub fn store_file(&self) -> PathBuf {
        self.data_dir
            .join("profiles")
            .join(&self.profile)
            .join("store.sqlite3")
    }
}

/// Asserts that `text` (an error message, say) contains every one of `words`.
#[track_caller]
pub fn assert_mentions(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "expected {word:?} in:\n{text}");
    }
}
