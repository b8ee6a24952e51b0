//! What only a document's owner (the client) does: share their homework with the therapist who
//! invited them ([`share_with_inviter`]), keep a membership list ([`keep_membership`]), and move
//! a document to a new epoch without someone ([`rotate`], [`remove_others`]).

use between_shared::crypto::{
    DeviceCertificate, EpochKey, IdentityCommitment, Member, SignedMembership,
};
use between_shared::protocol::{AccountId, DeviceId, DocId};
use between_shared::Role;

use super::keys::wrap_missing;
use super::plan::{own_devices, sharing_ended, vouched, Certificate};
use super::relay::{self, Requests};
use super::{sync_record, SharingError};
use crate::store::{DocumentKind, Store};
use crate::sync::account::AccountKeys;
use crate::sync::connection::Connection;
use crate::sync::driver::warn;

/// The client's first device, set up with a therapist's invite: checks the therapist the relay
/// names against the invite, signs the first membership list (client and therapist), stores it
/// on the relay, and wraps the shared document's key for the therapist's devices. Returns the
/// therapist's full fingerprint (safety number).
pub(crate) async fn share_with_inviter(
    conn: &mut Connection,
    store: &mut Store,
    keys: &AccountKeys,
    commitment: IdentityCommitment,
) -> Result<String, SharingError> {
    let mut ids = Requests::from(500);
    let (therapist_account, therapist, devices) = relay::get_account(conn, &mut ids, None).await?;
    if therapist.commitment() != commitment {
        return Err(SharingError::WrongTherapist {
            got: therapist.short_fingerprint(),
        });
    }
    let shared = shared_document(store)?;
    let record = sync_record(store, shared.id)?;
    let doc = shared.id;
    let list = SignedMembership::sign(
        &keys.identity,
        doc,
        1,
        record.epoch,
        &[Member {
            identity: therapist,
            role: Role::Therapist,
        }],
    )
    .map_err(|source| SharingError::BadMembership {
        doc: shared.label.clone(),
        source,
    })?;
    relay::put_membership(
        conn,
        &mut ids,
        doc,
        list.to_bytes(),
        "the membership to be stored",
    )
    .await?;
    store.save_membership(shared.id, list.serial(), &list.to_bytes())?;
    let (certs, ignored) = vouched(&list, &devices);
    ignored.iter().for_each(|text| warn(text));
    record_peers(store, therapist_account, &certs)?;
    wrap_missing(conn, &mut ids, store, keys, shared.id, &record, &certs).await?;
    store.clear_therapist_commitment()?;
    Ok(therapist.fingerprint())
}

/// This profile's shared homework document.
fn shared_document(store: &Store) -> Result<crate::store::DocumentRecord, SharingError> {
    store
        .documents()?
        .into_iter()
        .find(|d| d.kind == DocumentKind::Shared)
        .ok_or_else(|| SharingError::Profile("this profile has no shared homework document".into()))
}

/// Remembers another member's devices (by their account), for wrapping keys and removals.
pub(crate) fn record_peers(
    store: &mut Store,
    account: AccountId,
    certs: &[Certificate],
) -> Result<(), SharingError> {
    store.record_peer_devices(
        account,
        &certs
            .iter()
            .map(|(c, b)| (c.device_id(), b.clone()))
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}

/// Stores a verified membership list of a document this device syncs. When the list before it
/// had a therapist and this one has none, sharing ended: the client's views say so from then on
/// ([`crate::audience`]), on every device of theirs.
pub(crate) fn keep_membership(
    store: &mut Store,
    id: DocId,
    list: &SignedMembership,
    ended: bool,
) -> Result<(), SharingError> {
    store.save_membership(id, list.serial(), &list.to_bytes())?;
    if ended {
        // The owner's account signed the list that ended it, whoever asked first.
        store.note_sharing_ended(id, crate::clock::real_unix_ms(), true)?;
    }
    Ok(())
}

/// The client removes everyone else from their shared homework (their therapist): see
/// [`rotate`]. Returns the removed members' short fingerprints.
pub(crate) async fn remove_others(
    conn: &mut Connection,
    store: &mut Store,
    keys: &AccountKeys,
) -> Result<Vec<String>, SharingError> {
    let shared = shared_document(store)?;
    let me = keys.identity.public();
    let shared_with_others = match store.membership(shared.id)? {
        Some(bytes) => SignedMembership::from_bytes(&bytes)
            .map(|list| list.members().iter().any(|m| m.identity != me))
            .unwrap_or(false),
        None => false,
    };
    if !shared_with_others {
        return Err(SharingError::Profile(
            "your homework is not shared with anyone through the relay".into(),
        ));
    }
    rotate(conn, store, keys, shared.id, |m| m.identity == me, None).await
}

/// The owner moves document `id` to a new epoch: a new key, a membership list keeping the
/// members `keep` accepts (signed, stored on the relay, which refuses the others from then on),
/// and the new key wrapped for this account's other devices and the kept members' devices.
/// Bundles written from now on are sealed under the new key, which no removed party ever gets.
/// Safe to run again after an interruption: a new epoch made locally and not yet announced is
/// reused. Returns the removed members' short fingerprints.
pub(crate) async fn rotate(
    conn: &mut Connection,
    store: &mut Store,
    keys: &AccountKeys,
    id: DocId,
    keep: impl Fn(&Member) -> bool,
    removed_device: Option<DeviceId>,
) -> Result<Vec<String>, SharingError> {
    let me = keys.identity.public();
    let doc = id;
    let bad = |source| SharingError::BadMembership {
        doc: id.to_string(),
        source,
    };
    // A document never shared (the private one, or homework before sharing) has the owner alone.
    let list = match store.membership(id)? {
        Some(bytes) => {
            let list = SignedMembership::from_bytes(&bytes).map_err(bad)?;
            list.verify(&me, doc).map_err(bad)?;
            Some(list)
        }
        None => None,
    };
    let (serial, listed_epoch, members) = match &list {
        Some(list) => (list.serial(), list.epoch(), list.members().to_vec()),
        None => (0, 0, Vec::new()),
    };
    let (kept, removed): (Vec<Member>, Vec<Member>) = members
        .into_iter()
        .filter(|m| m.identity != me)
        .partition(|m| keep(m));
    let record = sync_record(store, id)?;
    let epoch = if record.epoch > listed_epoch && list.is_some() {
        record.epoch
    } else {
        let epoch = record.epoch + 1;
        let key = EpochKey::generate(&mut rand::rng());
        store.add_epoch_keys(id, &[(epoch, *key.as_bytes())], Some(epoch))?;
        epoch
    };
    let next =
        SignedMembership::sign(&keys.identity, doc, serial + 1, epoch, &kept).map_err(bad)?;
    let mut ids = Requests::from(2000);
    relay::put_membership(
        conn,
        &mut ids,
        doc,
        next.to_bytes(),
        "the new membership to be stored",
    )
    .await?;
    let ended = sharing_ended(store.membership(id)?.as_deref(), &next);
    keep_membership(store, id, &next, ended)?;
    let record = sync_record(store, id)?;
    let mut recipients = own_devices(
        store.devices()?.into_iter().map(|d| d.certificate),
        &keys.identity.public(),
        keys.device.device_id(),
    );
    recipients.retain(|(cert, _)| Some(cert.device_id()) != removed_device);
    let peers: Vec<Certificate> = store
        .peer_devices()?
        .into_iter()
        .filter_map(|bytes| {
            let cert = DeviceCertificate::from_bytes(&bytes).ok()?;
            next.vouch_for(&cert).is_ok().then_some((cert, bytes))
        })
        .filter(|(cert, _)| cert.owner != me)
        .collect();
    recipients.extend(peers);
    wrap_missing(conn, &mut ids, store, keys, id, &record, &recipients).await?;
    Ok(removed
        .iter()
        .map(|m| m.identity.short_fingerprint())
        .collect())
}
