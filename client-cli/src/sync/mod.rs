//! Sync with a relay: the adapter between the sans-IO engine in `between_shared::sync` and the
//! real world (a WebSocket and the local SQLite store).
//!
//! - [`connection`]: dialing, the challenge handshake (sign-in or registration), frames.
//! - [`driver`]: one engine per document against the store.
//! - [`worker`]: the driver's own thread, so that SQLite never blocks the async runtime.
//! - [`progress`]: the progress bar of a large `between sync`.
//! - [`run`]: the loop of `between sync` and `between sync --watch` (reconnection with
//!   back-off and jitter, polling the store for other commands' changes).
//! - [`pairing`]: the sealed payload that lets a new device join without the old one online.
//! - [`account`]: this device's keys as stored, and labels for the account's devices.
//! - [`sharing`]: the pass before each sync that checks signed membership lists, receives
//!   documents shared with this account and wraps keys for the other members' devices.
//! - [`deleted`]: documents their owner deleted from the relay, which no longer sync.
//! - [`tls`]: which certificate authority vouches for the relay, and certificate errors.
//!
//! The commands that reach a relay are listed in the crate's documentation (`lib.rs`); every
//! other command works on the local store alone (invariant 6 of `docs/invariants.md`).

pub(crate) mod account;
pub(crate) mod connection;
pub(crate) mod deleted;
pub(crate) mod driver;
pub(crate) mod pairing;
pub(crate) mod progress;
pub(crate) mod run;
pub(crate) mod sharing;
#[cfg(test)]
mod tests;
pub(crate) mod tls;
pub(crate) mod worker;

use std::path::Path;

use anyhow::{Context, Result};

use account::AccountKeys;
use connection::{Connection, RelayError};
use driver::{Mode, Summary};
use run::SyncFailure;
use worker::Core;

/// Runs a sync of the profile at `store_path` to completion (or, watching, until Ctrl-C).
/// Blocks; builds its own single-threaded runtime.
pub(crate) fn sync_profile(
    store_path: &Path,
    keys: &AccountKeys,
    mode: Mode,
    first: Option<(tokio::runtime::Runtime, Connection)>,
) -> Result<(Summary, account::DeviceDirectory)> {
    refuse_if_deleted(store_path, keys)?;
    let (runtime, first) = match first {
        Some((runtime, conn)) => (runtime, Some(conn)),
        None => (runtime()?, None),
    };
    // Before the driver loads the documents, so that documents shared with this account arrive
    // in this very sync.
    let (first, notes) = runtime
        .block_on(share_pass(store_path, keys, first))
        .map_err(|err| explain(err, &keys.relay.display))?;
    for text in notes {
        note(&text);
    }
    let core = Core::start(store_path.to_path_buf(), mode)
        .context("could not start syncing this profile")?;
    let result = runtime.block_on(async {
        let summary = run::run(&core, keys, mode, first, tokio::signal::ctrl_c(), None).await?;
        let directory = core.call(|d| d.directory()).await?;
        Ok::<_, SyncFailure>((summary, directory))
    });
    let synced = result.map_err(|err| explain(err, &keys.relay.display))?;
    drop(core);
    let mut store = crate::store::Store::open(store_path)?;
    sharing::name_arrived(&mut store)?;
    drop(store);
    // This sync may have found the client's homework deleted (by another of their devices).
    refuse_if_deleted(store_path, keys)?;
    Ok(synced)
}

/// Refuses to sync a client's profile whose homework was deleted from the relay, saying when
/// and what is left to do ([`deleted::deleted_message`]).
pub(crate) fn refuse_if_deleted(store_path: &Path, keys: &AccountKeys) -> Result<()> {
    let store = crate::store::Store::open(store_path)?;
    match deleted::deleted_message(&store, keys.certificate.role)? {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

/// Runs [`sharing::refresh`] on `first` (or on a new signed-in connection) and tells what
/// arrived; returns the connection for the sync to go on with.
/// Returns the connection to sync on and what the person should be told about sharing.
pub(crate) async fn share_pass(
    store_path: &Path,
    keys: &AccountKeys,
    first: Option<Connection>,
) -> Result<(Option<Connection>, Vec<String>), SyncFailure> {
    let mut notes = Vec::new();
    let mut conn = match first {
        Some(conn) => conn,
        // Not registered yet: the sync registers first, and the next sync shares.
        None if keys.registration != crate::store::Registration::Done => return Ok((None, notes)),
        None => Connection::signed_in(&keys.relay, &keys.device).await?,
    };
    let mut store = crate::store::Store::open(store_path).map_err(driver::DriverError::from)?;
    let before = deleted::syncing(&store).map_err(driver::DriverError::from)?;
    let mut shared = sharing::refresh(&mut conn, &mut store, keys).await?;
    deleted::notice(&mut conn, &mut store, keys, &before, &mut shared).await?;
    if !shared.received.is_empty() {
        notes.push(format!(
            "the homework of {} shared with you arrived; it fills in with this sync",
            crate::render::plural(shared.received.len(), "client")
        ));
    }
    for who in &shared.left {
        notes.push(format!(
            "your therapist ({who}) ended sharing your homework; it moved to a new key they never get"
        ));
    }
    for label in &shared.ended {
        notes.push(format!(
            "{label} no longer shares their homework with you; your copy stays on this device but no longer syncs"
        ));
    }
    if shared.waiting > 0 {
        notes.push(format!(
            "the homework of {} shared with you cannot be opened on this device yet: the client's device gives this device the key on its next sync",
            crate::render::plural(shared.waiting, "client")
        ));
    }
    notes.append(&mut shared.notes);
    Ok((Some(conn), notes))
}

/// Prints a note on standard error (standard output may be JSON).
fn note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

/// A single-threaded runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the network runtime")
}

/// Turns a sync failure into the message a person needs: what happened, that nothing local
/// was lost, and what to do.
pub(crate) fn explain(err: SyncFailure, relay: &str) -> anyhow::Error {
    use between_shared::protocol::ErrorCode;
    let safe = "your changes are safe on this device and will be sent next time";
    match err {
        SyncFailure::Relay(RelayError::Unreachable { detail, .. }) => anyhow::anyhow!(
            "could not reach the relay at {relay}: {detail}; {safe}. Check the network (and that the relay is running), then run `between sync` again"
        ),
        SyncFailure::Relay(err @ RelayError::Timeout { .. }) => {
            anyhow::anyhow!("{err}; {safe}. Try `between sync` again later")
        }
        SyncFailure::Relay(RelayError::Refused { code, message }) => {
            let what = match code {
                ErrorCode::UnknownDevice => {
                    "the relay does not know this device; it may have been reset or this profile paired with another relay"
                }
                ErrorCode::DeviceRevoked => {
                    "this device (or its account) was removed from the relay; pair it again from another device with `between device add`"
                }
                ErrorCode::InviteInvalid => {
                    "the relay does not accept this invite: it is unknown, already used or expired; ask for a new one"
                }
                ErrorCode::BadSignature | ErrorCode::StaleSignIn => {
                    "the relay did not accept this device's sign-in"
                }
                ErrorCode::RateLimited => "the relay asks to slow down; try again in a minute",
                ErrorCode::ShuttingDown => "the relay is restarting; try again in a moment",
                _ => "the relay refused",
            };
            anyhow::anyhow!("{what}: {message} ({code}); {safe}")
        }
        SyncFailure::Relay(err) => anyhow::anyhow!("{err}; {safe}. Run `between sync` again"),
        SyncFailure::Driver(err) => anyhow::Error::new(err).context(format!(
            "sync with {relay} stopped; what is stored on this device is intact"
        )),
        SyncFailure::Sharing(err) => anyhow::Error::new(err).context(format!(
            "sharing through {relay} stopped before the sync; what is stored on this device is intact"
        )),
    }
}
