//! [`StoreHandle`]: the async front of the relay's storage.
//!
//! One dedicated OS thread owns the store (and so the only SQLite connection, or the one
//! blocking PostgreSQL client, the relay writes through); async tasks send it requests over a
//! bounded channel and await the result on a oneshot channel. No database call ever runs on a
//! tokio worker, so a slow `fsync` delays only the requests queued behind it, never the
//! runtime.
//!
//! - Requests run in the order they were accepted. A closure ([`StoreHandle::call`]) runs
//!   alone, and each store method it calls is its own transaction (see the contract on
//!   [`RelayStore`]).
//! - **Group commit.** Pushes ([`StoreHandle::push`]) and audit records
//!   ([`StoreHandle::audit`]) are *writes*: when the thread takes a write, it also takes every
//!   write queued right behind it (up to [`MAX_BATCH`] writes and [`MAX_BATCH_BYTES`] of
//!   bundles) and carries them out with one [`RelayStore::write_batch`]: one transaction, one
//!   `fsync`, however many devices' pushes it holds. Nothing waits for a batch to fill: a lone
//!   write is committed at once, and writes queue up precisely while the previous commit's
//!   `fsync` runs. Each caller is answered only after the batch committed; if the commit fails,
//!   every caller in it gets the error (none is acknowledged), while a write refused or failing
//!   on its own fails alone. A closure queued between writes ends the batch, so the order of
//!   requests is kept.
//! - A request whose caller stops waiting (its future is dropped) still runs to completion once
//!   accepted; only its result is discarded. The relay acknowledges a push only after the
//!   awaited result came back as appended, so a dropped future never produces a false
//!   acknowledgement.
//! - A request that panics is reported as [`StoreError::Panicked`] and the thread goes on
//!   serving. A store method it was inside is rolled back (its transaction is dropped while
//!   unwinding); store methods it had already completed stay committed, as each is its own
//!   transaction. A batch that panics is rolled back as a whole and all its callers get
//!   [`StoreError::Panicked`].
//! - [`StoreHandle::shutdown`] stops accepting requests, runs every request already accepted,
//!   closes the store and only then returns. When the last handle is dropped the thread does the
//!   same on its own.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot, watch};

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::{AuditRecord, BatchWrite, Push, PushOutcome, RelayStore, StoreError, Written};

/// How many requests may wait for the storage thread before senders wait in turn.
const QUEUE_DEPTH: usize = 1024;

/// Most writes in one group commit: enough to share one `fsync` among every connection that
/// pushes at once in a busy practice, few enough that one transaction stays short (a few tens of
/// milliseconds). Each document has at most one push queued (its ordering lock is held until
/// the commit), so a batch's pushes go to distinct documents and each dirties index pages of
/// its own; what a larger batch shares is the commit, the `fsync` and the pages of the audit
/// head and the documents table (with 800 documents pushing at once, batches of 768 took a
/// fifth less storage time per push than batches of 256). It stays below [`QUEUE_DEPTH`], so
/// that a full batch can be queued.
pub(crate) const MAX_BATCH: usize = 512;

const _: () = assert!(MAX_BATCH < QUEUE_DEPTH);

/// Most bundle bytes in one group commit (a batch always takes at least one write, whatever its
/// size), so large bundles do not make one transaction, and the callers behind it, wait long.
pub(crate) const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Name of the storage thread (shown by debuggers and `top -H`).
const THREAD_NAME: &str = "between-relay-store";

/// A request for the storage thread.
type Job = Box<dyn FnOnce(&mut dyn RelayStore) + Send>;

/// A write that may share a group commit with others.
enum Write {
    /// A push, and where its outcome goes.
    Push(Push, oneshot::Sender<Result<PushOutcome, StoreError>>),
    /// An audit record, and where its row number goes.
    Audit(AuditRecord, oneshot::Sender<Result<u64, StoreError>>),
}

impl Write {
    /// The bytes it adds to a batch (what [`MAX_BATCH_BYTES`] counts).
    fn size(&self) -> usize {
        match self {
            Write::Push(push, _) => push.bundle.len(),
            Write::Audit(..) => 0,
        }
    }

    /// The write as the store takes it.
    fn as_batch_write(&self) -> BatchWrite<'_> {
        match self {
            Write::Push(push, _) => BatchWrite::Push(push),
            Write::Audit(record, _) => BatchWrite::Audit(record),
        }
    }

    /// Answers the caller. A result of the wrong kind (a backend bug) is a failure.
    fn reply(self, result: Result<Written, StoreError>) {
        match self {
            Write::Push(_, reply) => {
                let _ = reply.send(match result {
                    Ok(Written::Push(outcome)) => Ok(outcome),
                    Ok(Written::Audit(_)) => Err(StoreError::Mismatched),
                    Err(err) => Err(err),
                });
            }
            Write::Audit(_, reply) => {
                let _ = reply.send(match result {
                    Ok(Written::Audit(row)) => Ok(row),
                    Ok(Written::Push(_)) => Err(StoreError::Mismatched),
                    Err(err) => Err(err),
                });
            }
        }
    }
}

/// What the storage thread receives.
enum Message {
    /// Run this against the store.
    Job(Job),
    /// Carry this out, in a group commit with the writes queued behind it.
    Write(Write),
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

    /// Opens (or creates) the SQLite database at `path` on a new storage thread, with the full
    /// check (tests; `serve` opens with [`StoreHandle::open_sqlite_for_serving`]).
    #[cfg(test)]
    pub(crate) async fn open_sqlite(path: PathBuf) -> Result<StoreHandle, StoreError> {
        StoreHandle::spawn(move || SqliteStore::open(&path)).await
    }

    /// Opens (or creates) the SQLite database at `path` for serving, on a new storage thread:
    /// without the full-file check, which the caller runs itself (see
    /// [`SqliteStore::open_for_serving`]).
    pub(crate) async fn open_sqlite_for_serving(path: PathBuf) -> Result<StoreHandle, StoreError> {
        StoreHandle::spawn(move || SqliteStore::open_for_serving(&path)).await
    }

    /// Connects to the PostgreSQL database at `url` on a new storage thread and brings its
    /// schema up to date (see [`PostgresStore::open`]). The blocking client runs on that thread
    /// only, never on the async runtime.
    pub(crate) async fn open_postgres(url: String) -> Result<StoreHandle, StoreError> {
        StoreHandle::spawn(move || PostgresStore::open(&url)).await
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

    /// Checks and appends a push, with its audit record, in a group commit (see the module
    /// documentation and [`RelayStore::write_batch`]). Returns once the batch committed.
    pub(crate) async fn push(&self, push: Push) -> Result<PushOutcome, StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.write(Write::Push(push, reply_tx)).await?;
        reply_rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Appends an audit record in a group commit. Returns its row number once committed.
    pub(crate) async fn audit(&self, record: AuditRecord) -> Result<u64, StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.write(Write::Audit(record, reply_tx)).await?;
        reply_rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Queues a write for the storage thread.
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.tx
            .send(Message::Write(write))
            .await
            .map_err(|_| StoreError::Closed)
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

/// The storage thread's loop: runs requests in order until shut down or every handle is gone,
/// then closes the store.
fn serve<S: RelayStore>(mut store: S, mut rx: mpsc::Receiver<Message>) {
    // A request taken from the queue while gathering a batch, to run right after it.
    let mut next: Option<Message> = None;
    loop {
        let message = match next.take() {
            Some(message) => message,
            None => match rx.blocking_recv() {
                Some(message) => message,
                None => break,
            },
        };
        match message {
            Message::Job(job) => job(&mut store),
            Message::Write(first) => {
                let mut bytes = first.size();
                let mut batch = vec![first];
                // Only what is queued now: a lone write never waits for company.
                while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(Message::Write(write)) => {
                            bytes = bytes.saturating_add(write.size());
                            batch.push(write);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit(&mut store, batch);
            }
            // Refuse new messages; those already queued are still received and run.
            Message::Shutdown => rx.close(),
        }
    }
    drop(store);
}

/// Carries out a batch of writes in one [`RelayStore::write_batch`] and answers each caller.
fn commit<S: RelayStore>(store: &mut S, batch: Vec<Write>) {
    let writes: Vec<BatchWrite<'_>> = batch.iter().map(Write::as_batch_write).collect();
    let outcome = catch_unwind(AssertUnwindSafe(|| store.write_batch(&writes)));
    drop(writes);
    match outcome {
        Ok(Ok(results)) if results.len() == batch.len() => {
            for (write, result) in batch.into_iter().zip(results) {
                write.reply(result);
            }
        }
        // A backend that answers some other number of results is broken: acknowledge nothing.
        Ok(Ok(_)) => {
            for write in batch {
                write.reply(Err(StoreError::Mismatched));
            }
        }
        // A batch of one passes its error on as it is.
        Ok(Err(err)) if batch.len() == 1 => {
            if let Some(write) = batch.into_iter().next() {
                write.reply(Err(err));
            }
        }
        Ok(Err(err)) => {
            // Every caller gets the same failure; the error itself is not `Clone`.
            let err = std::sync::Arc::new(err);
            for write in batch {
                write.reply(Err(StoreError::Batch(err.clone())));
            }
        }
        Err(_) => {
            for write in batch {
                write.reply(Err(StoreError::Panicked));
            }
        }
    }
}

/// Test helpers that line requests up in the queue, so that a test (the conformance suite's
/// group commits among them) knows which requests the storage thread finds queued together.
#[cfg(test)]
impl StoreHandle {
    /// Requests accepted but not yet taken by the storage thread.
    pub(crate) fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Yields until `n` requests are queued.
    pub(crate) async fn until_queued(&self, n: usize) {
        while self.queued() < n {
            tokio::task::yield_now().await;
        }
    }

    /// Holds the storage thread (with a request that waits) until the returned sender is used
    /// or dropped, so that requests pile up in its queue. Call from a tokio runtime, which
    /// drives the waiting request's task.
    pub(crate) async fn hold(&self) -> std::sync::mpsc::Sender<()> {
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let gate = self.clone();
        tokio::spawn(async move {
            gate.call(move |_| {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
            })
            .await
        });
        // Once it runs, the request has left the queue. (If the storage thread is gone it never
        // runs, and the caller's own requests fail with `Closed`.)
        let _ = started_rx.await;
        release_tx
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::LogStore;
    use crate::store::{AccountId, AccountRole, DeviceId, DocId, Seq};

    /// A fixed "now" (Unix milliseconds).
    const T0: i64 = 1_700_000_000_000;

    /// A handle on a new database holding one empty document.
    async fn with_document() -> (tempfile::TempDir, StoreHandle, DocId) {
        let dir = tempfile::tempdir().unwrap();
        let handle = StoreHandle::open_sqlite(dir.path().join("relay.sqlite3"))
            .await
            .unwrap();
        let doc = DocId([1; 16]);
        handle
            .try_call(move |store| {
                let owner = AccountId([1; 16]);
                store.create_account(owner, [1; 32], AccountRole::Client, T0)?;
                store.create_document(doc, owner, T0)
            })
            .await
            .unwrap();
        (dir, handle, doc)
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
        assert_eq!(handle.queued(), 0);
        let mut appends = Vec::new();
        for i in 0..APPENDS {
            let handle = handle.clone();
            appends.push(tokio::spawn(async move {
                handle
                    .try_call(move |store| store.append_bundle(doc, &i.to_be_bytes(), T0))
                    .await
            }));
        }
        handle.until_queued(APPENDS).await;
        let shutdown = tokio::spawn({
            let handle = handle.clone();
            async move { handle.shutdown().await }
        });
        handle.until_queued(APPENDS + 1).await;
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

    /// A push to `doc` by device 1 (the owner's device in these tests).
    fn push(doc: DocId, bytes: &[u8]) -> Push {
        Push {
            doc,
            device: DeviceId([1; 16]),
            bundle: bytes.to_vec(),
            at_ms: T0,
            action: "append",
        }
    }

    /// A handle like [`with_document`]'s, whose owner also has device 1 and a second document,
    /// opened with `busy` as the busy timeout.
    async fn with_two_documents(
        busy: std::time::Duration,
    ) -> (tempfile::TempDir, StoreHandle, DocId, DocId) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite3");
        let handle = StoreHandle::spawn(move || {
            let mut store = SqliteStore::open(&path)?;
            store.set_busy_timeout(busy)?;
            Ok(store)
        })
        .await
        .unwrap();
        let (a, b) = (DocId([1; 16]), DocId([2; 16]));
        handle
            .try_call(move |store| {
                let owner = AccountId([1; 16]);
                store.create_account(owner, [1; 32], AccountRole::Client, T0)?;
                store.register_device(&crate::store::DeviceRecord {
                    device: DeviceId([1; 16]),
                    account: owner,
                    signing_pub: [1; 32],
                    certificate: vec![1],
                    registered_at_ms: T0,
                })?;
                store.create_document(a, owner, T0)?;
                store.create_document(b, owner, T0)
            })
            .await
            .unwrap();
        (dir, handle, a, b)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_commit_together_in_order_around_other_requests() {
        let (_dir, handle, a, b) = with_two_documents(std::time::Duration::from_secs(5)).await;
        let release = handle.hold().await;
        // Queued one by one, so their order in the queue is known.
        let mut pending = Vec::new();
        let spawn_push = |doc, bytes: &'static [u8]| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.push(push(doc, bytes)).await })
        };
        pending.push(spawn_push(a, b"a1"));
        handle.until_queued(1).await;
        pending.push(spawn_push(b, b"b1"));
        handle.until_queued(2).await;
        let audit = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .audit(AuditRecord {
                        at_ms: T0,
                        account: None,
                        device: None,
                        doc: None,
                        action: "sign-in".to_owned(),
                    })
                    .await
            }
        });
        handle.until_queued(3).await;
        // A request between writes sees exactly the writes queued before it.
        let between = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .try_call(move |store| Ok::<_, StoreError>((store.head(a)?, store.head(b)?)))
                    .await
            }
        });
        handle.until_queued(4).await;
        pending.push(spawn_push(a, b"a2"));
        handle.until_queued(5).await;
        drop(release);

        let mut seqs = Vec::new();
        for task in pending {
            match task.await.unwrap().unwrap() {
                PushOutcome::Appended { seq, audit_row } => seqs.push((seq.0, audit_row)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seqs, [(1, 1), (1, 2), (2, 4)]);
        assert_eq!(audit.await.unwrap().unwrap(), 3);
        assert_eq!(between.await.unwrap().unwrap(), (Seq(1), Seq(1)));
        let verified = handle.call(|store| store.verify_audit()).await.unwrap();
        assert_eq!(verified.unwrap().rows, 4);
        handle.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_cannot_commit_fails_every_write_in_it_and_no_more() {
        let (dir, handle, a, b) = with_two_documents(std::time::Duration::from_millis(50)).await;
        let release = handle.hold().await;
        // Another process holds the write lock: the commit of whatever is queued will fail.
        let other = rusqlite::Connection::open(dir.path().join("relay.sqlite3")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut pending = Vec::new();
        for i in 0..=MAX_BATCH {
            let writer = handle.clone();
            let doc = if i % 2 == 0 { a } else { b };
            pending.push(tokio::spawn(async move {
                writer.push(push(doc, &i.to_be_bytes())).await
            }));
            handle.until_queued(i + 1).await;
        }
        drop(release);
        let mut errors = Vec::new();
        for task in pending {
            errors.push(task.await.unwrap().unwrap_err());
        }
        // The first MAX_BATCH writes were one batch and share one failure; the last one, beyond
        // the cap, was a batch of its own and gets its error as it is.
        let Some(StoreError::Batch(shared)) = errors.first() else {
            panic!("{:?}", errors.first());
        };
        assert!(matches!(**shared, StoreError::Busy { .. }), "{shared:?}");
        for err in &errors[..MAX_BATCH] {
            assert!(
                matches!(err, StoreError::Batch(e) if std::sync::Arc::ptr_eq(e, shared)),
                "{err:?}"
            );
        }
        assert!(
            matches!(errors[MAX_BATCH], StoreError::Busy { .. }),
            "{:?}",
            errors[MAX_BATCH]
        );

        // Nothing was written, and the store serves on once the lock is free.
        other.execute_batch("ROLLBACK").unwrap();
        let state = handle
            .try_call(move |store| {
                Ok::<_, StoreError>((store.head(a)?, store.head(b)?, store.audit_hash_at(1)?))
            })
            .await
            .unwrap();
        assert_eq!(state, (Seq::ZERO, Seq::ZERO, None));
        assert!(matches!(
            handle.push(push(a, b"after")).await.unwrap(),
            PushOutcome::Appended { seq: Seq(1), .. }
        ));
        handle.shutdown().await;
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
