//! `between-relay`: the relay a practice hosts to store and forward end-to-end encrypted
//! homework changes between devices.
//!
//! This first version only identifies itself: the relay's storage, WebSocket endpoint and admin
//! commands arrive with end-to-end encrypted sync. Until then every `between` command works
//! offline and documents move between devices by file (`between doc save` / `doc merge`).

use clap::Parser;

/// The Between relay: stores and forwards encrypted homework changes for a practice.
///
/// Sync is not built yet; this binary only reports its version.
#[derive(Debug, Parser)]
#[command(name = "between-relay", version, about, long_about = None)]
struct Args {}

fn main() {
    let _args = Args::parse();
    println!(
        "between-relay {}: the relay is not built yet; devices exchange homework by file for now (`between doc save` / `between doc merge`).",
        env!("CARGO_PKG_VERSION")
    );
}
