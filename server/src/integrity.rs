//! The integrity check a serving relay runs at start, in the background.
//!
//! The relay checks its database's integrity at start (a damaged file must stop it before it
//! serves wrong data, docs/self-hosting.md). `PRAGMA quick_check` reads
//! every page of the file, about a second per half gigabyte, and the relay would serve nobody
//! meanwhile. So `serve` opens the store with only the cheap checks (application id, schema
//! version, migrations: [`SqliteStore::open_for_serving`](crate::store::sqlite::SqliteStore::open_for_serving))
//! and [`check_in_background`] runs `quick_check` on a read-only connection of its own, on a
//! thread of its own (never a tokio worker), while the relay already serves. If it finds damage
//! it says so loudly and cancels the shutdown token: the relay stops accepting, finishes what is
//! in flight and `serve` exits non-zero. Commits made meanwhile went to a file that was already
//! damaged; the way back is the same either way, a backup.
//!
//! Every other opener of the database (the admin commands, `init`, `check`, backups) keeps the
//! full check before it touches the file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::store::sqlite::IntegrityCheck;
use crate::store::StoreError;

/// Name of the checking thread (shown by debuggers and `top -H`).
const THREAD_NAME: &str = "between-relay-check";

/// How the start-up check ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The whole file passed, in this long.
    Passed(Duration),
    /// The relay was told to stop before the check finished; it was interrupted.
    Interrupted,
    /// The check found damage, or could not read the file: the relay was told to stop.
    Failed(StoreError),
}

/// What the operator is told when the start-up check fails: what it found and what to do.
/// ([`StoreError::Corrupt`]'s own message says the file was left untouched, which is not so
/// here: the relay served it while the check ran.)
pub(crate) fn failure_message(path: &Path, err: &StoreError) -> String {
    let finding = match err {
        StoreError::Corrupt { detail, .. } => {
            format!(
                "the relay database at {} is damaged ({detail})",
                path.display()
            )
        }
        other => format!("it could not be completed: {other}"),
    };
    format!(
        "the start-up integrity check failed: {finding}. The relay stops serving. Keep the damaged file for investigation, restore the database from your latest backup (`between-relay backup` makes them), and run `between-relay check` on the restored file before serving again"
    )
}

/// Runs `quick_check` over the database at `path` on its own thread and read-only connection.
/// On damage (or a file that cannot be read), logs it with what to do and cancels `shutdown`;
/// if `shutdown` is cancelled first (a signal), interrupts the check. Returns how it ended.
pub(crate) async fn check_in_background(path: PathBuf, shutdown: CancellationToken) -> Outcome {
    let started = Instant::now();
    let outcome = run_on_thread(&path, &shutdown).await;
    match &outcome {
        Outcome::Passed(took) => info!(
            db = %path.display(),
            took_ms = took.as_millis(),
            "start-up integrity check passed"
        ),
        Outcome::Interrupted => info!(
            took_ms = started.elapsed().as_millis(),
            "start-up integrity check interrupted: the relay is stopping"
        ),
        Outcome::Failed(err) => {
            error!(
                db = %path.display(),
                took_ms = started.elapsed().as_millis(),
                "DATABASE DAMAGED: {}",
                failure_message(&path, err)
            );
            shutdown.cancel();
        }
    }
    outcome
}

/// The check itself: a thread running it, raced against `shutdown`.
async fn run_on_thread(path: &Path, shutdown: &CancellationToken) -> Outcome {
    let check = match IntegrityCheck::new(path) {
        Ok(check) => check,
        Err(err) => return Outcome::Failed(err),
    };
    let interrupt = check.interrupt_handle();
    let (done_tx, mut done_rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(THREAD_NAME.to_owned())
        .spawn(move || {
            let started = Instant::now();
            let result = check.run();
            let _ = done_tx.send(result.map(|()| started.elapsed()));
        });
    if let Err(err) = spawned {
        // Without a thread the check cannot run off the runtime; serving on unchecked would
        // break the promise of a check at start.
        return Outcome::Failed(StoreError::Spawn(err));
    }
    let result = tokio::select! {
        result = &mut done_rx => result,
        () = shutdown.cancelled() => {
            interrupt.interrupt();
            // The interrupted check ends within a page or so; its error is expected.
            let _ = done_rx.await;
            return Outcome::Interrupted;
        }
    };
    match result {
        Ok(Ok(took)) => Outcome::Passed(took),
        Ok(Err(err)) => Outcome::Failed(err),
        Err(_) => {
            warn!("the start-up integrity check's thread ended without an answer");
            Outcome::Failed(StoreError::Panicked)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{AccountId, AccountRole, DocId};
    use crate::store::{AccountStore, DocumentStore, LogStore};
    use between_sqlite_file::testing::scramble;

    /// A relay database with enough bundles to span many pages, closed again.
    fn populated(dir: &Path) -> PathBuf {
        let path = dir.join("relay.sqlite3");
        let mut store = SqliteStore::open(&path).unwrap();
        let owner = AccountId([1; 16]);
        store
            .create_account(owner, [1; 32], AccountRole::Client, 1)
            .unwrap();
        let doc = DocId([2; 16]);
        store.create_document(doc, owner, 1).unwrap();
        for i in 0..64_u8 {
            store.append_bundle(doc, &[i; 2000], 1).unwrap();
        }
        drop(store);
        path
    }

    /// Overwrites the last 16 pages, which hold bundles (appended after the schema was
    /// created): damage that only a full-file check finds.
    fn damage_the_bundles(path: &Path) {
        let len = usize::try_from(std::fs::metadata(path).unwrap().len()).unwrap();
        scramble(path, len - 16 * 4096..len, 11);
    }

    #[tokio::test]
    async fn a_healthy_database_passes_and_the_relay_serves_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        let shutdown = CancellationToken::new();
        let outcome = check_in_background(path, shutdown.clone()).await;
        assert!(matches!(outcome, Outcome::Passed(_)), "{outcome:?}");
        assert!(!shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn damage_found_in_the_background_stops_the_relay() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        damage_the_bundles(&path);
        // Serving opens it: only the cheap checks run at open.
        let store = SqliteStore::open_for_serving(&path).unwrap();
        let shutdown = CancellationToken::new();
        let outcome = check_in_background(path.clone(), shutdown.clone()).await;
        assert!(
            matches!(outcome, Outcome::Failed(StoreError::Corrupt { .. })),
            "{outcome:?}"
        );
        assert!(shutdown.is_cancelled());
        drop(store);
        // Every other opener still refuses the file at open.
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_relay_told_to_stop_does_not_wait_for_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let outcome = check_in_background(path, shutdown).await;
        // Either the check was interrupted, or it was quicker than the interruption.
        assert!(
            matches!(outcome, Outcome::Interrupted | Outcome::Passed(_)),
            "{outcome:?}"
        );
    }
}
