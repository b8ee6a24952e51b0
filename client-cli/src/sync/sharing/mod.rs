//! Sharing a client's homework with their therapist, before each sync.
//!
//! The client owns the shared document and decides who may read it with a membership list signed
//! by their identity key (`SignedMembership`). The relay keeps the list and enforces it, but
//! devices never take the relay's word: this pass checks every list against the owner this
//! device already knows (itself for a client; for a therapist, the owner pinned when the
//! document first arrived), refuses a list whose serial goes back, and trusts another person's
//! device only when the list vouches for its certificate.
//!
//! - A client's first device, set up with a therapist's invite, shares the document with the
//!   therapist whose identity matches the commitment in the invite ([`share_with_inviter`]); a
//!   relay that hands out another key is caught here, before any key leaves the device.
//! - On every sync the owner wraps the document's current epoch key for member devices that do
//!   not have it yet (a therapist's new phone), and every device refreshes the other members'
//!   devices ([`refresh`]).
//! - A therapist's devices find the documents shared with them, pin the owner, unwrap the key
//!   and add the document; the normal sync then fills it.
//!
//! The decisions are pure functions of the local view and the relay's answers ([`plan`]),
//! tested without sockets; [`refresh`] asks the relay, calls them, and carries out the steps
//! they return. SQLite is touched only between network round trips of this one-shot pass, on
//! the command's own thread, before the sync driver starts.

mod arrived;
mod keys;
mod owner;
pub(crate) mod plan;
mod relay;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use between_shared::crypto::MembershipError;
use between_shared::protocol::DocId;

pub(crate) use arrived::{name_arrived, ARRIVING_LABEL_PREFIX};
pub(crate) use owner::{remove_others, rotate, share_with_inviter};

use super::account::AccountKeys;
use super::connection::{Connection, RelayError};
use crate::store::{Store, StoreError, SyncRecord};
use plan::{own_devices, LocalDoc, LocalView, Peer, Step};
use relay::Requests;

/// Why sharing could not go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SharingError {
    /// Talking to the relay failed.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The relay named a therapist whose identity is not the one in the invite.
    #[error("the relay says your therapist's key is {got}, but your invite was made by someone else. The relay may be trying to impersonate your therapist: nothing was shared. Tell your therapist and your practice")]
    WrongTherapist {
        /// The short fingerprint of the key the relay gave.
        got: String,
    },
    /// A membership list did not check.
    #[error("the relay served a membership list of {doc} that does not check: {source}")]
    BadMembership {
        /// The document.
        doc: String,
        /// Why.
        source: MembershipError,
    },
    /// The relay answered with something else than asked.
    #[error("the relay answered {asked} with {got}")]
    Unexpected {
        /// The request.
        asked: &'static str,
        /// The answer.
        got: &'static str,
    },
    /// Something about this profile prevents sharing.
    #[error("{0}")]
    Profile(String),
}

/// What one pass did, for the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Shared {
    /// Documents that arrived (therapist side).
    pub(crate) received: Vec<DocId>,
    /// Devices this device wrapped a key for.
    pub(crate) keys_wrapped: usize,
    /// Documents shared with this account whose key the owner has not wrapped for this device
    /// yet (it arrives after the owner's next sync).
    pub(crate) waiting: usize,
    /// Documents whose owner removed this account: they stop syncing (their labels).
    pub(crate) ended: Vec<String>,
    /// Members who left this account's homework (short fingerprints); it moved to a new epoch.
    pub(crate) left: Vec<String>,
    /// Other things to tell the person, in words.
    pub(crate) notes: Vec<String>,
}

/// The sync record of a document this device syncs.
fn sync_record(store: &Store, id: DocId) -> Result<SyncRecord, SharingError> {
    store
        .sync_documents()?
        .into_iter()
        .find(|r| r.document_id == id)
        .ok_or_else(|| SharingError::Profile(format!("the document {id} does not sync")))
}

/// The pass before every sync (see the module docs): documents shared with this account arrive,
/// membership lists are checked and kept, other members' devices are refreshed, and an owner
/// wraps the current key for member devices that lack it.
pub(crate) async fn refresh(
    conn: &mut Connection,
    store: &mut Store,
    keys: &AccountKeys,
) -> Result<Shared, SharingError> {
    // A client invited by a therapist shares with them once the document is on the relay (the
    // first sync after `init` creates it); until then the commitment waits in the store.
    if let Some(commitment) = store.account()?.and_then(|a| a.therapist_commitment) {
        let on_relay = store.sync_documents()?.iter().any(|r| r.on_relay);
        if on_relay {
            share_with_inviter(conn, store, keys, commitment).await?;
        }
    }
    let mut ids = Requests::from(1000);
    let mut shared = Shared::default();
    let documents = relay::list_documents(conn, &mut ids).await?;
    // Each document's steps change only that document, so one view serves the whole pass.
    let view = local_view(store, keys)?;
    for info in &documents {
        let Some(bytes) = relay::membership(conn, &mut ids, info.doc).await? else {
            continue;
        };
        let checked = view.check(info, &bytes)?;
        let peer = match view.peer_to_ask(info, &checked) {
            Some(account) => {
                let (account, identity, devices) =
                    relay::get_account(conn, &mut ids, account).await?;
                let still_shared = !view.asks_whether_still_shared(&checked, &identity)
                    || relay::still_shared(conn, &mut ids, account).await?;
                Some(Peer {
                    account,
                    identity,
                    devices,
                    still_shared,
                })
            }
            None => None,
        };
        for step in view.steps(info, &checked, peer)? {
            carry_out(step, conn, &mut ids, store, keys, &mut shared).await?;
        }
    }
    let listed: HashSet<DocId> = documents.iter().map(|d| d.doc).collect();
    for step in view.unlisted(&listed)? {
        carry_out(step, conn, &mut ids, store, keys, &mut shared).await?;
    }
    Ok(shared)
}

/// What this device stores, as the sharing plan reads it.
fn local_view(store: &Store, keys: &AccountKeys) -> Result<LocalView, SharingError> {
    let epochs: HashMap<DocId, u32> = store
        .sync_documents()?
        .into_iter()
        .map(|r| (r.document_id, r.epoch))
        .collect();
    let mut documents = HashMap::new();
    for doc in store.documents()? {
        let local = LocalDoc {
            membership: store.membership(doc.id)?,
            epoch: epochs.get(&doc.id).copied(),
            label: doc.label,
            kind: doc.kind,
        };
        documents.insert(doc.id, local);
    }
    Ok(LocalView {
        me: keys.identity.public(),
        role: keys.certificate.role,
        own_devices: own_devices(
            store.devices()?.into_iter().map(|d| d.certificate),
            &keys.identity.public(),
            keys.device.device_id(),
        ),
        documents,
    })
}

/// Carries out one step of the plan, and counts it for the summary.
async fn carry_out(
    step: Step,
    conn: &mut Connection,
    ids: &mut Requests,
    store: &mut Store,
    keys: &AccountKeys,
    shared: &mut Shared,
) -> Result<(), SharingError> {
    match step {
        Step::End { id, label } => {
            store.stop_syncing(id, crate::clock::real_unix_ms(), false)?;
            shared.ended.push(label);
        }
        Step::Rotate { id, without } => {
            rotate(conn, store, keys, id, |m| m.identity != without, None).await?;
            shared.left.push(without.short_fingerprint());
        }
        Step::RecordPeers { account, devices } => owner::record_peers(store, account, &devices)?,
        Step::Keep {
            id,
            list,
            sharing_ended,
        } => owner::keep_membership(store, id, &list, sharing_ended)?,
        Step::CatchUp { info, owner, epoch } => {
            keys::catch_up_keys(conn, ids, store, keys, &info, &owner, epoch).await?;
        }
        Step::Wrap { id, recipients } => {
            // Read now: a catch-up just before may have made a new epoch current.
            let record = sync_record(store, id)?;
            shared.keys_wrapped +=
                keys::wrap_missing(conn, ids, store, keys, id, &record, &recipients).await?;
        }
        Step::Receive { info, list } => {
            if arrived::receive(conn, ids, store, keys, &info, &list).await? {
                shared.received.push(info.doc);
            } else {
                shared.waiting += 1;
            }
        }
        Step::Warn(text) => super::driver::warn(&text),
    }
    Ok(())
}
