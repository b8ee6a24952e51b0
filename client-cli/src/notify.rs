//! Raising a notification: through the platform's notification service (the desktop's
//! notification daemon over D-Bus on Linux and the BSDs, Notification Center on macOS, toasts
//! on Windows, via `notify-rust`), or, when `BETWEEN_NOTIFY_COMMAND` names a program, by
//! running it with the title and the text as its two arguments — for a machine without a
//! desktop, a script that forwards elsewhere, and the end-to-end tests.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The environment variable naming a program to run instead of the desktop notification.
pub(crate) const COMMAND_VARIABLE: &str = "BETWEEN_NOTIFY_COMMAND";

/// Something that shows a person a short message.
pub(crate) trait Notifier {
    /// Shows `body` under `title`.
    fn notify(&self, title: &str, body: &str) -> Result<()>;
}

/// The platform's notification service.
struct Desktop;

impl Notifier for Desktop {
    fn notify(&self, title: &str, body: &str) -> Result<()> {
        notify_rust::Notification::new()
            .appname("Between")
            .summary(title)
            .body(body)
            .show()
            .map(drop)
            .with_context(|| {
                format!("could not show a desktop notification (is a notification service running?); set {COMMAND_VARIABLE} to a program that shows one instead")
            })
    }
}

/// A program run with the title and the body as its arguments.
struct Program(PathBuf);

impl Notifier for Program {
    fn notify(&self, title: &str, body: &str) -> Result<()> {
        let status = Command::new(&self.0)
            .arg(title)
            .arg(body)
            .status()
            .with_context(|| format!("could not run {} ({COMMAND_VARIABLE})", self.0.display()))?;
        if !status.success() {
            bail!(
                "{} ({COMMAND_VARIABLE}) failed ({status}) showing a reminder",
                self.0.display()
            );
        }
        Ok(())
    }
}

/// The notifier this process uses: the program `BETWEEN_NOTIFY_COMMAND` names, else the
/// desktop's.
pub(crate) fn from_env() -> Box<dyn Notifier> {
    match std::env::var_os(COMMAND_VARIABLE) {
        Some(program) if !program.is_empty() => Box::new(Program(PathBuf::from(program))),
        _ => Box::new(Desktop),
    }
}
