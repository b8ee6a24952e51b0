//! Documents shared with this account arriving: added empty under a placeholder label once a
//! key for their current epoch is wrapped for this device ([`receive`]), then named after the
//! client once their content is here ([`name_arrived`]).

use between_shared::crypto::SignedMembership;
use between_shared::protocol::DocumentInfo;

use super::keys::fetch_keys;
use super::relay::Requests;
use super::SharingError;
use crate::store::{DocumentKind, NewDocument, Store, StoreError, SyncRecord};
use crate::sync::account::AccountKeys;
use crate::sync::connection::Connection;

/// The label a received document has until its content (and the client's name) arrives.
pub(crate) const ARRIVING_LABEL_PREFIX: &str = "client ";

/// A document shared with this account arrives: unwrap its keys and add it (empty until the
/// sync fills it). `false` when no key for its current epoch is wrapped for this device yet.
pub(crate) async fn receive(
    conn: &mut Connection,
    ids: &mut Requests,
    store: &mut Store,
    keys: &AccountKeys,
    info: &DocumentInfo,
    list: &SignedMembership,
) -> Result<bool, SharingError> {
    let unwrapped = fetch_keys(conn, ids, keys, info, &list.owner()).await?;
    if !unwrapped.iter().any(|(epoch, _)| *epoch == list.epoch()) {
        // The owner's device has not wrapped the key for this device yet: it will on its next
        // sync, and the document arrives on this device's sync after that.
        return Ok(false);
    }
    let id = info.doc;
    let label = format!("{ARRIVING_LABEL_PREFIX}{}", id.short());
    store.add_received_document(
        &NewDocument {
            id,
            label,
            created_at_ms: crate::clock::real_unix_ms(),
            snapshot: automerge::AutoCommit::new().save(),
            kind: DocumentKind::Shared,
            sync: SyncRecord {
                document_id: id,
                epoch: list.epoch(),
                on_relay: true,
                state: serde_json::to_string(&between_shared::sync::SyncState::default())
                    .map_err(|err| SharingError::Profile(err.to_string()))?,
                keys: unwrapped,
            },
        },
        list.serial(),
        &list.to_bytes(),
    )?;
    Ok(true)
}

/// After a sync: documents that arrived under a placeholder label take the client's name from
/// their content, once it is there (`" (2)"` and so on when the name is taken).
pub(crate) fn name_arrived(store: &mut Store) -> Result<(), StoreError> {
    for doc in store.documents()? {
        if doc.kind != DocumentKind::Shared || !doc.label.starts_with(ARRIVING_LABEL_PREFIX) {
            continue;
        }
        let bytes = store.load_document(doc.id)?;
        let Ok(loaded) = between_shared::HomeworkDoc::load(&bytes, &[0; 16]) else {
            continue;
        };
        let Ok(meta) = loaded.meta() else {
            continue;
        };
        let name = meta.client_name.trim().to_owned();
        if name.is_empty() {
            continue;
        }
        for attempt in 1..=20 {
            let label = if attempt == 1 {
                name.clone()
            } else {
                format!("{name} ({attempt})")
            };
            match store.rename_document(doc.id, &label) {
                Ok(()) => break,
                Err(StoreError::DuplicateLabel { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}
