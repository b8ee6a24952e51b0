//! Documents deleted from the relay by their owner (`between delete-from-relay`).
//!
//! The relay retires a deleted document's id, so such a document can never sync again. Each
//! device learns of it in one of three ways, and from then on keeps its copy without syncing it
//! (the store's `relay_deletions`):
//! - the client's device that deleted it records it at once;
//! - another device of the client gets `document_deleted` when it asks for the document (the
//!   sync driver records it), and the sync then refuses with [`deleted_message`];
//! - a therapist's device no longer finds the document among those shared with it, like after
//!   a removal; [`notice`] asks the relay which of the two it was, so the therapist is told
//!   that the homework is gone rather than that sharing ended.

use std::collections::HashSet;

use between_shared::protocol::{ClientMessage, DocId, ErrorCode, RequestId, ServerMessage};
use between_shared::Role;

use super::account::AccountKeys;
use super::connection::Connection;
use super::driver::DriverError;
use super::run::SyncFailure;
use super::sharing::Shared;
use crate::clock::real_unix_ms;
use crate::store::{DocumentKind, Store, StoreError};

/// Request ids of [`notice`], far above those of the sharing pass on the same connection.
const FIRST_REQUEST: u64 = 900_000;

/// Why a client's profile no longer syncs, or `None` while any of its documents still does
/// (or none was deleted). Says when, and what the person can still do.
pub(crate) fn deleted_message(store: &Store, role: Role) -> Result<Option<String>, StoreError> {
    if role != Role::Client || !store.sync_documents()?.is_empty() {
        return Ok(None);
    }
    let deleted = store.relay_deletions()?;
    let Some(first) = deleted
        .iter()
        .find(|d| d.kind == DocumentKind::Shared)
        .or_else(|| deleted.first())
    else {
        return Ok(None);
    };
    let on = local_day(first.deleted_at_ms);
    let how = if first.by_this_device {
        format!("this homework was deleted from the relay from this device on {on}")
    } else {
        format!("this homework was deleted from the relay from another of your devices (this device learned of it on {on})")
    };
    Ok(Some(format!(
        "{how}, so it no longer syncs. It stays on this device: every command works offline, and `between export` writes it all out. The relay will not take it back; to sync again, ask your therapist for a new invite and set up a new profile with `between init --invite`"
    )))
}

/// A time as a day in this device's time zone.
fn local_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_else(|| "an unknown date".to_owned())
}

/// After the sharing pass: of the documents that stopped syncing in it (`before` minus what
/// still syncs), finds those the owner deleted from the relay, records them and says so; they
/// leave `shared.ended`, which is for removals. Therapists only: a client's own documents are
/// found deleted by the sync itself.
pub(crate) async fn notice(
    conn: &mut Connection,
    store: &mut Store,
    keys: &AccountKeys,
    before: &HashSet<DocId>,
    shared: &mut Shared,
) -> Result<(), SyncFailure> {
    if keys.certificate.role != Role::Therapist {
        return Ok(());
    }
    let still = syncing(store).map_err(DriverError::from)?;
    let mut request = FIRST_REQUEST;
    for doc in store.documents().map_err(DriverError::from)? {
        if !before.contains(&doc.id) || still.contains(&doc.id) {
            continue;
        }
        request += 1;
        let asked = ClientMessage::GetMembership {
            request: RequestId(request),
            doc: doc.id,
        };
        let deleted = matches!(
            conn.request(&asked, "a membership list").await?,
            ServerMessage::Error {
                code: ErrorCode::DocumentDeleted,
                ..
            }
        );
        if !deleted {
            continue;
        }
        store
            .mark_deleted_from_relay(&[doc.id], real_unix_ms(), false)
            .map_err(DriverError::from)?;
        shared.ended.retain(|e| *e != doc.label);
        shared.notes.push(format!(
            "{}'s homework is no longer on the relay: the client deleted it. Your copy stays on this device but gets no more updates",
            doc.label
        ));
    }
    Ok(())
}

/// The documents that sync now, by id (for [`notice`]'s `before`).
pub(crate) fn syncing(store: &Store) -> Result<HashSet<DocId>, StoreError> {
    Ok(store
        .sync_documents()?
        .into_iter()
        .map(|r| r.document_id)
        .collect())
}
