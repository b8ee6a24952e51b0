//! A document's epoch keys between devices: wrapping the current key for devices that lack it
//! ([`wrap_missing`]), and taking in the keys the owner's devices wrapped for this one
//! ([`catch_up_keys`], [`fetch_keys`]) — only from envelopes a device of the owner signed.

use between_shared::crypto::{DeviceKeypair, EpochKey, IdentityPublic, KeyContext, SignedEnvelope};
use between_shared::protocol::{DocId, DocumentInfo, KeyEnvelope};

use super::plan::Certificate;
use super::relay::{self, Requests};
use super::SharingError;
use crate::store::{Store, SyncRecord};
use crate::sync::account::AccountKeys;
use crate::sync::connection::{Connection, RelayError};
use crate::sync::driver::warn;

/// Wraps the current epoch key of document `id` for every device in `certs` that does not have
/// it yet, signed by this device ([`SignedEnvelope`]), and stores each envelope on the relay.
///
/// A device counts as given the key only when the relay answers `done` for its envelope. Any
/// refusal — `conflict` included: someone else's envelope may sit where this one belongs — is
/// reported and the envelope is wrapped and stored again at the next sync (the relay replaces
/// an envelope the owner's device puts for the same document, epoch and device).
pub(crate) async fn wrap_missing(
    conn: &mut Connection,
    ids: &mut Requests,
    store: &mut Store,
    keys: &AccountKeys,
    id: DocId,
    record: &SyncRecord,
    certs: &[Certificate],
) -> Result<usize, SharingError> {
    let Some((_, key)) = record.keys.iter().find(|(e, _)| *e == record.epoch) else {
        return Err(SharingError::Profile(format!(
            "this device holds no key for the current epoch of {id}"
        )));
    };
    let key = EpochKey::from_bytes(*key);
    let done = store.wrapped_for(id, record.epoch)?;
    let mut devices = Vec::new();
    let mut rng = rand::rng();
    for (cert, _) in certs {
        let device = cert.device_id();
        if done.contains(&device) {
            continue;
        }
        let context = KeyContext {
            doc_id: id,
            epoch: record.epoch,
            recipient: device,
        };
        let wrapped = SignedEnvelope::seal(
            &mut rng,
            &key,
            &cert.device,
            &context,
            &keys.device,
            &keys.certificate,
        )
        .map_err(|err| {
            SharingError::Profile(format!("could not wrap the key for device {device}: {err}"))
        })?;
        // One request per device, so one refused envelope does not hold back the others.
        let envelope = KeyEnvelope {
            epoch: record.epoch,
            recipient: device,
            envelope: wrapped.to_bytes(),
        };
        match relay::put_key_envelope(conn, ids, id, envelope).await {
            Ok(()) => devices.push(device),
            Err(SharingError::Relay(RelayError::Refused { code, message })) => warn(&format!(
                "the relay did not store the key of epoch {} of {id} for device {device} ({code:?}: {message}); it is offered again at the next sync",
                record.epoch
            )),
            Err(err) => return Err(err),
        }
    }
    if devices.is_empty() {
        return Ok(0);
    }
    store.record_wrapped(id, record.epoch, &devices)?;
    Ok(devices.len())
}

/// Fetches this device's wrapped keys of a document (owned by `owner`) and keeps those it
/// lacks, making `epoch` current if its key is among them.
pub(crate) async fn catch_up_keys(
    conn: &mut Connection,
    ids: &mut Requests,
    store: &mut Store,
    keys: &AccountKeys,
    info: &DocumentInfo,
    owner: &IdentityPublic,
    epoch: u32,
) -> Result<(), SharingError> {
    let unwrapped = fetch_keys(conn, ids, keys, info, owner).await?;
    let id = info.doc;
    let current = unwrapped.iter().any(|(e, _)| *e == epoch).then_some(epoch);
    if current.is_none() {
        warn(&format!(
            "the homework {id} moved to a new key that this device has not been given yet; it syncs again once a device of its owner has run `between sync`"
        ));
    }
    store.add_epoch_keys(id, &unwrapped, current)?;
    Ok(())
}

/// This device's keys of a document owned by `owner`, from the envelopes the relay holds for
/// it (see [`open_envelopes`]).
pub(crate) async fn fetch_keys(
    conn: &mut Connection,
    ids: &mut Requests,
    keys: &AccountKeys,
    info: &DocumentInfo,
    owner: &IdentityPublic,
) -> Result<Vec<(u32, [u8; 32])>, SharingError> {
    let envelopes = relay::key_envelopes(conn, ids, info.doc).await?;
    Ok(open_envelopes(&keys.device, info.doc, owner, &envelopes))
}

/// The epoch keys among `envelopes` wrapped for device `me`, taken only from envelopes signed
/// by a device that `owner` (the document's owner, as this device pinned it) certified. Any
/// other envelope — unsigned, signed by another member's device, refiled by the relay, or
/// altered — is ignored with a warning and its key is never used.
pub(super) fn open_envelopes(
    me: &DeviceKeypair,
    doc: DocId,
    owner: &IdentityPublic,
    envelopes: &[KeyEnvelope],
) -> Vec<(u32, [u8; 32])> {
    let id = me.device_id();
    let mut unwrapped = Vec::new();
    for envelope in envelopes.iter().filter(|e| e.recipient == id) {
        let context = KeyContext {
            doc_id: doc,
            epoch: envelope.epoch,
            recipient: id,
        };
        let key = SignedEnvelope::from_bytes(&envelope.envelope)
            .and_then(|signed| signed.open(me, owner, &context));
        match key {
            Ok(key) => unwrapped.push((envelope.epoch, *key.as_bytes())),
            Err(err) => warn(&format!(
                "ignored the key of epoch {} of {} that the relay gave: it is not one the document's owner wrapped for this device ({err}); it was not used",
                envelope.epoch,
                doc,
            )),
        }
    }
    unwrapped
}
