//! The Between client as a library. The `between` binary (`main.rs`) is a thin shell around
//! [`run_command_line`]; [`live`] is the in-process API an app embeds (and the benchmark
//! harness drives): an open profile that stays synced, takes typed edits and says when other
//! devices' changes arrived.
//!
//! Every command works offline against the local store (invariant 6 of `docs/invariants.md`).
//! Only these talk to a relay: `init --relay` and `init --invite` (joining), `sync` (with or
//! without `--watch`), `device add`, `device remove`, `client invite`, `client end`, `therapist
//! remove`, `audit`, `delete-from-relay`, and `app` (like a [`live::LiveProfile`] opened online);
//! see `sync`.

/// Prints a line to standard output. Unlike `println!`, a closed pipe (`between list | head`)
/// becomes an error the command returns instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?;
    }};
}

/// Prints to standard output without a newline; see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?;
    }};
}

mod app;
mod audience;
mod cli;
mod clock;
mod commands;
mod notify;
mod profile;
mod prompt;
mod provenance;
mod render;
mod salvage;
mod store;
mod sync;

pub mod live;

use clap::Parser;
use std::process::ExitCode;

/// Parses the command line, runs one command against the local profile and prints the full
/// error chain on failure.
pub fn run_command_line() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`between list | head`): nothing more to say.
        Err(err) if closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
