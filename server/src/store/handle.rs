//! [`StoreHandle`]: the async front of the relay's storage.
//!
//! One dedicated OS thread owns the store (and so the only SQLite connection the relay writes
//! through); async tasks send it closures over a bounded channel and await the result on a
//! oneshot channel. No SQLite call ever runs on a tokio worker, so a slow `fsync` delays only
//! the requests queued behind it, never the runtime. Because every write passes through this one
//! thread in order, it is also the place where group commit (several appends in one
//! transaction, one `fsync`) can be added later without changing callers.
//!
//! - Requests run one at a time, in the order they were accepted. Each store method is its own
//!   transaction (see the contract on [`RelayStore`]).
//! - A request whose caller stops waiting (its future is dropped) still runs to completion once
//!   accepted; only its result is discarded. The relay acknowledges a push only after the
//!   awaited result came back `Ok`, so a dropped future never produces a false acknowledgement.
//! - A request that panics is reported as [`StoreError::Panicked`] and the thread goes on
//!   serving. A store method it was inside is rolled back (its transaction is dropped while
//!   unwinding); store methods it had already completed stay committed, as each is its own
//!   transaction.
//! - [`StoreHandle::shutdown`] stops accepting requests, runs every request already accepted,
//!   closes the store and only then returns. When the last handle is dropped the thread does the
//!   same on its own.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot, watch};

use super::sqlite::SqliteStore;
use super::{RelayStore, StoreError};

/// How many requests may wait for the storage thread before senders wait in turn.
const QUEUE_DEPTH: usize = 1024;

/// Name of the storage thread (shown by debuggers and `top -H`).
const THREAD_NAME: &str = "between-relay-store";

/// A request for the storage thread.
type Job = Box<dyn FnOnce(&mut dyn RelayStore) + Send>;

/// What the storage thread receives.
enum Message {
    /// Run this against the store.
    Job(Job),
    /// Stop accepting requests, finish the accepted ones, then close the store.
    Shutdown,
}

/// A cloneable async handle to a store owned by a dedicated thread. See the module
/// documentation.
#[derive(Debug, Clone)]
pub(crate) struct StoreHandle {
    /// Requests to the storage thread.
    tx: mpsc::Sender<Message>,
    /// Never carries a value: the storage thread drops its sender once it has closed the store,
    /// which is what [`StoreHandle::shutdown`] waits for.
    stopped: watch::Receiver<()>,
}

impl StoreHandle {
    /// Starts the storage thread, opens the store on it with `open` (so that a slow integrity
    /// check at open does not block the runtime either), and returns a handle once it is open.
    pub(crate) async fn spawn<S, F>(open: F) -> Result<StoreHandle, StoreError>
    where
        S: RelayStore + 'static,
        F: FnOnce() -> Result<S, StoreError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (opened_tx, opened_rx) = oneshot::channel();
        let (stopped_tx, stopped) = watch::channel(());
        std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                let store = match catch_unwind(AssertUnwindSafe(open)) {
                    Ok(Ok(store)) => {
                        let _ = opened_tx.send(Ok(()));
                        store
                    }
                    Ok(Err(err)) => {
                        let _ = opened_tx.send(Err(err));
                        return;
                    }
                    Err(_) => {
                        let _ = opened_tx.send(Err(StoreError::Panicked));
                        return;
                    }
                };
                serve(store, rx);
                // Only now, with the store closed, do waiters in `shutdown` return.
                drop(stopped_tx);
            })
            .map_err(StoreError::Spawn)?;
        match opened_rx.await {
            Ok(Ok(())) => Ok(StoreHandle { tx, stopped }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(StoreError::Panicked),
        }
    }

    /// Opens (or creates) the SQLite database at `path` on a new storage thread.
    pub(crate) async fn open_sqlite(path: PathBuf) -> Result<StoreHandle, StoreError> {
        StoreHandle::spawn(move || SqliteStore::open(&path)).await
    }

    /// Runs `f` against the store on the storage thread and returns what it returned.
    /// Fails with [`StoreError::Closed`] if the store has shut down (then `f` did not run) and
    /// with [`StoreError::Panicked`] if `f` panicked (a store method it was inside was rolled
    /// back).
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn RelayStore) -> R + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            // A panic unwinds out of `f` only: the store's open transaction, if any, is
            // dropped on the way, which rolls it back, and the thread goes on serving.
            let result = catch_unwind(AssertUnwindSafe(|| f(store)));
            let _ = reply_tx.send(result.map_err(|_| StoreError::Panicked));
        });
        self.tx
            .send(Message::Job(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        // No reply at all means the thread is gone without running the job.
        reply_rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Like [`call`](StoreHandle::call) for a closure that returns a `Result`, with the two
    /// error layers merged.
    pub(crate) async fn try_call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn RelayStore) -> Result<T, E> + Send + 'static,
    {
        self.call(f).await?
    }

    /// Stops the store: no new request is accepted (they fail with [`StoreError::Closed`]),
    /// every request already accepted runs to completion, the store is closed, and then this
    /// returns. Calling it again, or from a clone, returns once the store is closed.
    pub(crate) async fn shutdown(&self) {
        // Refused if a shutdown is already under way or done; either way, wait for the end.
        let _ = self.tx.send(Message::Shutdown).await;
        let mut stopped = self.stopped.clone();
        while stopped.changed().await.is_ok() {}
    }
}

/// The storage thread's loop: runs jobs in order until shut down or every handle is gone, then
/// closes the store.
fn serve<S: RelayStore>(mut store: S, mut rx: mpsc::Receiver<Message>) {
    while let Some(message) = rx.blocking_recv() {
        match message {
            Message::Job(job) => job(&mut store),
            // Refuse new messages; those already queued are still received and run.
            Message::Shutdown => rx.close(),
        }
    }
    drop(store);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::{AccountId, AccountRole, DocId, Seq};

    /// A fixed "now" (Unix milliseconds).
    const T0: i64 = 1_700_000_000_000;

    /// A handle on a new database holding one empty document.
    async fn with_document() -> (tempfile::TempDir, StoreHandle, DocId) {
        let dir = tempfile::tempdir().unwrap();
        let handle = StoreHandle::open_sqlite(dir.path().join("relay.sqlite3"))
            .await
            .unwrap();
        let doc = DocId::from_bytes([1; 16]);
        handle
            .try_call(move |store| {
                let owner = AccountId::from_bytes([1; 16]);
                store.create_account(owner, [1; 32], AccountRole::Client, T0)?;
                store.create_document(doc, owner, T0)
            })
            .await
            .unwrap();
        (dir, handle, doc)
    }

    /// Requests accepted but not yet taken by the storage thread.
    fn queued(handle: &StoreHandle) -> usize {
        handle.tx.max_capacity() - handle.tx.capacity()
    }

    /// Yields until `handle` has `n` requests queued.
    async fn until_queued(handle: &StoreHandle, n: usize) {
        while queued(handle) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_get_distinct_consecutive_seqs() {
        const TASKS: u8 = 16;
        const PER_TASK: u8 = 20;
        let (_dir, handle, doc) = with_document().await;
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let handle = handle.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..PER_TASK {
                    let seq = handle
                        .try_call(move |store| store.append_bundle(doc, &[task, i], T0))
                        .await
                        .unwrap();
                    seqs.push(seq);
                }
                (task, seqs)
            }));
        }
        let mut all = Vec::new();
        let mut written = Vec::new();
        for task in tasks {
            let (task, seqs) = task.await.unwrap();
            // Each task's appends committed in the order it made them.
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
            for (i, seq) in (0_u8..).zip(&seqs) {
                written.push((*seq, vec![task, i]));
            }
            all.extend(seqs);
        }
        all.sort();
        let total = u64::from(TASKS) * u64::from(PER_TASK);
        assert_eq!(all, (1..=total).map(Seq).collect::<Vec<_>>());

        written.sort();
        let stored = handle
            .try_call(move |store| store.bundles_since(doc, Seq::ZERO, usize::MAX, usize::MAX))
            .await
            .unwrap();
        let stored: Vec<_> = stored.into_iter().map(|b| (b.seq, b.bytes)).collect();
        assert_eq!(stored, written);
        handle.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_drains_accepted_requests_then_refuses() {
        const APPENDS: usize = 30;
        let (dir, handle, doc) = with_document().await;
        let path = dir.path().join("relay.sqlite3");

        // Hold the storage thread so requests pile up in the queue.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let gate = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .call(move |_| {
                        let _ = started_tx.send(());
                        release_rx.recv().ok()
                    })
                    .await
            }
        });
        started_rx.await.unwrap();
        assert_eq!(queued(&handle), 0);
        let mut appends = Vec::new();
        for i in 0..APPENDS {
            let handle = handle.clone();
            appends.push(tokio::spawn(async move {
                handle
                    .try_call(move |store| store.append_bundle(doc, &i.to_be_bytes(), T0))
                    .await
            }));
        }
        until_queued(&handle, APPENDS).await;
        let shutdown = tokio::spawn({
            let handle = handle.clone();
            async move { handle.shutdown().await }
        });
        until_queued(&handle, APPENDS + 1).await;
        release_tx.send(()).unwrap();

        shutdown.await.unwrap();
        assert_eq!(gate.await.unwrap().unwrap(), Some(()));
        let mut seqs = Vec::new();
        for append in appends {
            seqs.push(append.await.unwrap().unwrap());
        }
        seqs.sort();
        let expected: Vec<_> = (1..=u64::try_from(APPENDS).unwrap()).map(Seq).collect();
        assert_eq!(seqs, expected);

        // Nothing is accepted any more, from any clone.
        let err = handle.call(|_| ()).await.unwrap_err();
        assert!(matches!(err, StoreError::Closed), "{err:?}");
        handle.clone().shutdown().await;

        // The store was closed before shutdown returned: the last connection checkpointed and
        // removed its write-ahead log.
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        assert!(!std::path::Path::new(&wal).exists());
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.head(doc).unwrap(), Seq(30));
    }

    #[tokio::test]
    async fn a_panicking_request_is_reported_and_the_store_keeps_serving() {
        let (_dir, handle, doc) = with_document().await;
        let err = handle
            .call(|_store| -> u8 { panic!("a bug in a request") })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Panicked), "{err:?}");
        let seq = handle
            .try_call(move |store| store.append_bundle(doc, b"after", T0))
            .await
            .unwrap();
        assert_eq!(seq, Seq(1));
        handle.shutdown().await;
    }

    #[tokio::test]
    async fn opening_a_damaged_file_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite3");
        std::fs::write(&path, vec![0x5A_u8; 8192]).unwrap();
        let err = StoreHandle::open_sqlite(path).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

        let err =
            StoreHandle::spawn(|| -> Result<SqliteStore, StoreError> { panic!("open panicked") })
                .await
                .unwrap_err();
        assert!(matches!(err, StoreError::Panicked), "{err:?}");
    }

    #[tokio::test]
    async fn dropping_every_handle_stops_the_thread_after_its_work() {
        let (dir, handle, doc) = with_document().await;
        let mut stopped = handle.stopped.clone();
        let pending = {
            let handle = handle.clone();
            tokio::spawn(async move {
                handle
                    .try_call(move |store| store.append_bundle(doc, b"last", T0))
                    .await
            })
        };
        drop(handle);
        assert_eq!(pending.await.unwrap().unwrap(), Seq(1));
        while stopped.changed().await.is_ok() {}
        let store = SqliteStore::open(&dir.path().join("relay.sqlite3")).unwrap();
        assert_eq!(store.head(doc).unwrap(), Seq(1));
    }
}
