//! Who is subscribed to which document, and the per-document ordering lock.
//!
//! A device must see a document's log in sequence order, live entries included. So appending
//! (commit, then forward) and subscribing (catch-up, then join the live set) both happen under
//! the document's lock: a catch-up never misses an entry committed meanwhile, and a live entry
//! never overtakes the catch-up. Each connection has a bounded outgoing queue; a device too slow
//! to drain it is disconnected (it catches up when it reconnects) rather than silently skipped.

use between_shared::protocol::{DocId, ServerMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{mpsc, Mutex, OwnedMutexGuard};

/// Identifies one connection.
pub(crate) type ConnectionId = u64;

/// How many messages may wait for a slow device before it is disconnected.
pub(crate) const OUTGOING_QUEUE: usize = 1024;

/// The outgoing queue of a connection, and the signal that it must close.
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub(crate) queue: mpsc::Sender<ServerMessage>,
    pub(crate) kick: mpsc::Sender<()>,
}

#[derive(Default)]
struct DocEntry {
    lock: Arc<Mutex<()>>,
    subscribers: HashMap<ConnectionId, Outgoing>,
}

/// The subscriptions of the whole relay.
#[derive(Default)]
pub(crate) struct Hub {
    docs: StdMutex<HashMap<DocId, DocEntry>>,
}

impl Hub {
    /// Takes a document's ordering lock (held across commit-and-forward or catch-up-and-join).
    pub(crate) async fn lock(&self, doc: DocId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut docs = self
                .docs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            docs.entry(doc).or_default().lock.clone()
        };
        lock.lock_owned().await
    }

    /// Adds a connection to a document's live set (call with the document's lock held).
    pub(crate) fn join(&self, doc: DocId, connection: ConnectionId, outgoing: Outgoing) {
        let mut docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        docs.entry(doc)
            .or_default()
            .subscribers
            .insert(connection, outgoing);
    }

    /// Removes a connection from one document's live set.
    pub(crate) fn leave(&self, doc: DocId, connection: ConnectionId) {
        let mut docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = docs.get_mut(&doc) {
            entry.subscribers.remove(&connection);
        }
    }

    /// Removes a connection from every live set (when it closes).
    pub(crate) fn leave_all(&self, connection: ConnectionId) {
        let mut docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for entry in docs.values_mut() {
            entry.subscribers.remove(&connection);
        }
        // Forget documents nobody watches, so memory follows connections, not documents.
        docs.retain(|_, entry| !entry.subscribers.is_empty() || Arc::strong_count(&entry.lock) > 1);
    }

    /// Sends a committed entry to every subscriber except its author (call with the lock held).
    pub(crate) fn forward(&self, doc: DocId, from: ConnectionId, message: &ServerMessage) {
        let docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(entry) = docs.get(&doc) else {
            return;
        };
        for (connection, outgoing) in &entry.subscribers {
            if *connection == from {
                continue;
            }
            if outgoing.queue.try_send(message.clone()).is_err() {
                // Too slow (or closing): disconnect rather than drop an entry from its stream.
                let _ = outgoing.kick.try_send(());
            }
        }
    }

    /// How many documents have someone watching (for metrics and tests).
    pub(crate) fn watched_documents(&self) -> usize {
        let docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        docs.values().filter(|e| !e.subscribers.is_empty()).count()
    }
}
