//! `between`: the command-line client of Between, for clients and therapists.
//!
//! `main` parses the arguments, runs one command against the local profile and prints the full
//! error chain on failure. Every command works offline against the local store.

mod cli;
mod clock;
mod commands;
mod profile;
mod prompt;
mod render;
mod store;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
