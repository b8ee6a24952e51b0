//! `between`: the command-line client of Between, for clients and therapists.
//!
//! Everything lives in the library (`lib.rs`); this runs one command and exits with its status.

fn main() -> std::process::ExitCode {
    between_cli::run_command_line()
}
