//! `between delete-from-relay`: a client deletes their homework from the relay, for good.
//!
//! The relay holds each of the client's documents (the shared homework and the private one) as
//! sealed bundles, a snapshot, wrapped keys and a signed membership list. This command asks the
//! relay to delete every one of them (`delete_document`; only the owner's account may), which
//! removes the bytes from the relay's files, ends live subscriptions and retires the ids. The
//! homework itself stays on this device, and `between export` writes all of it out.
//!
//! Afterwards the documents are marked as no longer on the relay (`relay_deletions` in the
//! store), so `between sync` never sends them again; the sync of a profile whose homework is
//! gone refuses with a message that says when and what the person can still do.
//! The relay refuses to re-create a deleted id anyway; the local mark turns that into words.

use anyhow::{anyhow, bail, Context, Result};
use between_shared::protocol::{ClientMessage, DocId, ErrorCode, RequestId, ServerMessage};
use between_shared::Role;

use crate::clock::real_unix_ms;
use crate::profile::Session;
use crate::store::{Registration, Store};
use crate::sync::account::AccountKeys;
use crate::sync::connection::{Connection, RelayError};
use crate::sync::deleted::deleted_message;
use crate::sync::runtime;

/// What happens, said before anything is deleted.
const WHAT_HAPPENS: &str = "\
This deletes your homework from the relay at {relay}, for good:
  - both of your documents (the homework you share with your therapist, and your private
    entries) are removed from the relay, and the relay cannot bring them back;
  - your therapist keeps the copy already on their devices, but it gets no more updates;
  - this device keeps its copy: every command keeps working here, offline;
  - your other devices keep their copies too, but stop syncing.
Nothing can be synced through this relay afterwards. To keep a copy elsewhere, export first
with `between export --format json --output FILE` (everything, comments and authors included).";

/// `between delete-from-relay [--yes]`.
pub(crate) fn delete_from_relay(session: &mut Session, yes: bool) -> Result<()> {
    let record = session.store.account()?.ok_or_else(|| {
        anyhow!("this profile does not sync with a relay, so no relay holds its homework; everything stays on this device")
    })?;
    if session.me.role != Role::Client {
        bail!("only a client can delete their homework from the relay; a therapist's copy of a client's homework stays on the therapist's devices");
    }
    if record.registration != Registration::Done {
        bail!("this device is not registered with its relay yet, so the relay holds nothing of this profile; run `between sync` first if another device of yours syncs");
    }
    let keys = AccountKeys::from_record(&record)?;
    let documents = own_documents(&session.store)?;
    if documents.is_empty() {
        bail!(
            "{}",
            deleted_message(&session.store, Role::Client)?.unwrap_or_else(|| {
                "this profile has no homework on the relay to delete".to_owned()
            })
        );
    }
    let relay = keys.relay.display.clone();
    outln!("{}", WHAT_HAPPENS.replace("{relay}", &relay));
    if !yes {
        if !crate::prompt::interactive() {
            bail!("nothing was deleted: add --yes to confirm when not in a terminal");
        }
        let confirmed = dialoguer::Confirm::new()
            .with_prompt("Delete your homework from the relay now?")
            .default(false)
            .interact()
            .context("could not ask for confirmation")?;
        if !confirmed {
            outln!("Nothing was deleted.");
            return Ok(());
        }
    }
    let outcome = runtime()?.block_on(delete_all(&keys, &documents));
    // Whatever the relay confirmed is recorded, even if a later document failed, so a retry
    // only asks about what is left.
    let gone: Vec<DocId> = outcome.deleted.iter().map(|i| documents[*i]).collect();
    session
        .store
        .mark_deleted_from_relay(&gone, real_unix_ms(), true)?;
    if let Some(err) = outcome.failed {
        bail!(
            "{err}; {} of {} documents were deleted. Run `between delete-from-relay` again to finish",
            gone.len(),
            documents.len()
        );
    }
    outln!(
        "Deleted your homework from the relay ({} documents). It stays on this device; `between sync` no longer sends it anywhere.",
        gone.len()
    );
    Ok(())
}

/// The documents this client's profile syncs (all of them its own: the shared homework it
/// created and its private document).
fn own_documents(store: &Store) -> Result<Vec<DocId>> {
    Ok(store
        .sync_documents()?
        .into_iter()
        .map(|record| record.document_id)
        .collect())
}

/// What the relay did with each document.
struct Outcome {
    /// Indexes (into the documents) of those no longer on the relay.
    deleted: Vec<usize>,
    /// Why the rest could not be deleted.
    failed: Option<anyhow::Error>,
}

/// Signs in and deletes every document, one request each.
async fn delete_all(keys: &AccountKeys, documents: &[DocId]) -> Outcome {
    let mut deleted = Vec::new();
    let failed = async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        for (i, doc) in documents.iter().enumerate() {
            let request = RequestId(u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1));
            let msg = ClientMessage::DeleteDocument { request, doc: *doc };
            match conn.request(&msg, "the deletion").await? {
                ServerMessage::Done { .. } => {}
                ServerMessage::Error {
                    // Deleted before (a retry, or another device of this account), or never
                    // created there (this device had not synced it yet): either way it is not
                    // on the relay.
                    code: ErrorCode::DocumentDeleted | ErrorCode::UnknownDocument,
                    ..
                } => {}
                ServerMessage::Error { code, message, .. } => {
                    return Err(RelayError::Refused { code, message });
                }
                other => {
                    return Err(RelayError::Protocol(format!(
                        "expected the answer to delete_document, got {}",
                        other.name()
                    )));
                }
            }
            deleted.push(i);
        }
        conn.close().await;
        Ok(())
    }
    .await
    .err()
    .map(|err: RelayError| {
        anyhow!(
            "the relay at {} did not delete everything: {err}",
            keys.relay.display
        )
    });
    Outcome { deleted, failed }
}
