//! Who is subscribed to which document, and the per-document ordering lock.
//!
//! A device must see a document's log in sequence order, live entries included. So appending
//! (commit, then forward) and subscribing (catch-up, then join the live set) both happen under
//! the document's lock: a catch-up never misses an entry committed meanwhile, and a live entry
//! never overtakes the catch-up. Each connection has a bounded outgoing queue; a device too slow
//! to drain it is disconnected (it catches up when it reconnects) rather than silently skipped.
//!
//! Each subscription remembers the account of its device, so that when the owner removes an
//! account from a document its devices stop receiving live bundles at once
//! ([`Hub::drop_accounts`]), not at their next request; when the owner deletes the document, all
//! of its subscriptions end ([`Hub::end_document`]).

use between_shared::protocol::{AccountId, DocId, ServerMessage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{mpsc, Mutex, OwnedMutexGuard};

/// Identifies one connection.
pub(crate) type ConnectionId = u64;

/// The sender of entries another relay committed ([`super::peers`]): no connection here, so
/// [`Hub::forward`] skips nobody.
pub(crate) const ANOTHER_RELAY: ConnectionId = ConnectionId::MAX;

/// How many messages may wait for a slow device before it is disconnected.
pub(crate) const OUTGOING_QUEUE: usize = 1024;

/// The outgoing queue of a connection, and the signal that it must close.
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub(crate) queue: mpsc::Sender<ServerMessage>,
    pub(crate) kick: mpsc::Sender<()>,
}

/// One live subscription: where to send, and whose device it is.
struct Subscriber {
    account: AccountId,
    outgoing: Outgoing,
}

#[derive(Default)]
struct DocEntry {
    lock: Arc<Mutex<()>>,
    subscribers: HashMap<ConnectionId, Subscriber>,
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

    /// Adds a connection of a device of `account` to a document's live set (call with the
    /// document's lock held).
    pub(crate) fn join(
        &self,
        doc: DocId,
        connection: ConnectionId,
        account: AccountId,
        outgoing: Outgoing,
    ) {
        let mut docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        docs.entry(doc)
            .or_default()
            .subscribers
            .insert(connection, Subscriber { account, outgoing });
    }

    /// Ends the live subscriptions to `doc` of every device of `accounts` (accounts the owner
    /// just removed; call with the document's lock held, after the removal is committed). Returns
    /// how many were ended.
    pub(crate) fn drop_accounts(&self, doc: DocId, accounts: &[AccountId]) -> usize {
        let mut docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(entry) = docs.get_mut(&doc) else {
            return 0;
        };
        let before = entry.subscribers.len();
        entry
            .subscribers
            .retain(|_, subscriber| !accounts.contains(&subscriber.account));
        before - entry.subscribers.len()
    }

    /// Ends every live subscription to `doc` (its owner deleted it; call with the document's
    /// lock held, after the deletion is committed). Returns how many were ended.
    pub(crate) fn end_document(&self, doc: DocId) -> usize {
        let mut docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        docs.get_mut(&doc).map_or(0, |entry| {
            let ended = entry.subscribers.len();
            entry.subscribers.clear();
            ended
        })
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
        for (connection, subscriber) in &entry.subscribers {
            if *connection == from {
                continue;
            }
            let outgoing = &subscriber.outgoing;
            if outgoing.queue.try_send(message.clone()).is_err() {
                // Too slow (or closing): disconnect rather than drop an entry from its stream.
                let _ = outgoing.kick.try_send(());
            }
        }
    }

    /// The documents someone here watches.
    pub(crate) fn watched(&self) -> Vec<DocId> {
        let docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        docs.iter()
            .filter(|(_, entry)| !entry.subscribers.is_empty())
            .map(|(doc, _)| *doc)
            .collect()
    }

    /// The accounts whose devices watch `doc` here (each once).
    pub(crate) fn watching_accounts(&self, doc: DocId) -> Vec<AccountId> {
        let docs = self
            .docs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut accounts: Vec<AccountId> = docs
            .get(&doc)
            .map(|entry| entry.subscribers.values().map(|s| s.account).collect())
            .unwrap_or_default();
        accounts.sort_unstable();
        accounts.dedup();
        accounts
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An outgoing queue and the receiving end its messages land in.
    fn outgoing() -> (Outgoing, mpsc::Receiver<ServerMessage>) {
        let (queue, rx) = mpsc::channel(4);
        let (kick, _) = mpsc::channel(1);
        (Outgoing { queue, kick }, rx)
    }

    #[test]
    fn dropping_an_account_ends_only_its_subscriptions() {
        let hub = Hub::default();
        let doc = DocId([1; 16]);
        let owner = AccountId([1; 16]);
        let removed = AccountId([2; 16]);
        let (owner_out, mut owner_rx) = outgoing();
        let (laptop_out, mut laptop_rx) = outgoing();
        let (phone_out, mut phone_rx) = outgoing();
        hub.join(doc, 1, owner, owner_out);
        hub.join(doc, 2, removed, laptop_out);
        hub.join(doc, 3, removed, phone_out);

        assert_eq!(hub.drop_accounts(doc, &[removed]), 2);
        hub.forward(doc, 99, &ServerMessage::Pong { nonce: 7 });
        assert_eq!(
            owner_rx.try_recv().unwrap(),
            ServerMessage::Pong { nonce: 7 }
        );
        assert!(laptop_rx.try_recv().is_err());
        assert!(phone_rx.try_recv().is_err());

        assert_eq!(hub.drop_accounts(doc, &[removed]), 0);
        assert_eq!(hub.end_document(doc), 1);
        hub.forward(doc, 99, &ServerMessage::Pong { nonce: 8 });
        assert!(owner_rx.try_recv().is_err());
        assert_eq!(hub.end_document(doc), 0);
        assert_eq!(hub.drop_accounts(DocId([9; 16]), &[owner]), 0);
        assert_eq!(hub.watched_documents(), 0);
    }
}
