//! `between-relay`: the relay a practice hosts to store and forward end-to-end encrypted
//! homework changes between devices. It never sees plaintext: documents reach it sealed by the
//! devices, and it keeps ids, sizes and sequence numbers only.
//!
//! The binary's [`main`] parses the command line (flags, then `BETWEEN_RELAY_*` environment
//! variables, then an optional TOML config file), runs one command and prints the full error
//! chain on failure. The library also offers [`local::LocalRelay`], the relay's rules in process
//! over a real store, so the devices' own tests (and the deterministic sync simulation) run
//! against the real relay rather than a model of it.

mod admin;
mod config;
mod database;
mod integrity;
pub mod local;
mod migrate;
mod relay;
mod store;

use clap::Parser;
use std::process::ExitCode;

/// Runs the `between-relay` command line.
pub fn main() -> ExitCode {
    let cli = config::Cli::parse();
    match admin::run(cli) {
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
