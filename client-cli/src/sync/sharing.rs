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
//! SQLite is touched only between network round trips of this one-shot pass, on the command's
//! own thread, before the sync driver starts.

use std::collections::HashSet;

use between_shared::crypto::{
    DeviceCertificate, DeviceKeypair, EpochKey, IdentityCommitment, IdentityPublic, KeyContext,
    Member, MembershipError, SignedEnvelope, SignedMembership,
};
use between_shared::protocol::{
    AccountId, ClientMessage, DeviceInfo, DocId, DocumentInfo, ErrorCode, KeyEnvelope, RequestId,
    ServerMessage,
};
use between_shared::Role;

use super::account::AccountKeys;
use super::connection::{Connection, RelayError};
use crate::store::{DocumentKind, NewDocument, Store, StoreError, SyncRecord};

/// The label a received document has until its content (and the client's name) arrives.
pub(crate) const ARRIVING_LABEL_PREFIX: &str = "client ";

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
    /// Documents that arrived (therapist side), by id.
    pub(crate) received: Vec<String>,
    /// Devices this device wrapped a key for.
    pub(crate) keys_wrapped: usize,
    /// Documents shared with this account whose key the owner has not wrapped for this device
    /// yet (it arrives after the owner's next sync).
    pub(crate) waiting: usize,
    /// Documents whose owner removed this account: they stop syncing (labels or ids).
    pub(crate) ended: Vec<String>,
    /// Members who left this account's homework (short fingerprints); it moved to a new epoch.
    pub(crate) left: Vec<String>,
    /// Other things to tell the person, in words.
    pub(crate) notes: Vec<String>,
}

struct Requests(u64);

impl Requests {
    fn next(&mut self) -> RequestId {
        self.0 += 1;
        RequestId(self.0)
    }
}

async fn ask(
    conn: &mut Connection,
    msg: ClientMessage,
    asked: &'static str,
) -> Result<ServerMessage, SharingError> {
    match conn.request(&msg, asked).await? {
        ServerMessage::Error { code, message, .. } => {
            Err(RelayError::Refused { code, message }.into())
        }
        reply => Ok(reply),
    }
}

async fn get_account(
    conn: &mut Connection,
    ids: &mut Requests,
    account: Option<AccountId>,
) -> Result<(AccountId, IdentityPublic, Vec<DeviceInfo>), SharingError> {
    let request = ids.next();
    match ask(
        conn,
        ClientMessage::GetAccount { request, account },
        "an account's devices",
    )
    .await?
    {
        ServerMessage::Account {
            account,
            identity,
            devices,
            ..
        } => Ok((account, IdentityPublic(identity), devices)),
        other => Err(SharingError::Unexpected {
            asked: "get_account",
            got: other.name(),
        }),
    }
}

/// The certificates among `devices` that `list` vouches for, as (device id, bytes); the others
/// are reported and left out.
fn vouched(list: &SignedMembership, devices: &[DeviceInfo]) -> Vec<(DeviceCertificate, Vec<u8>)> {
    let mut out = Vec::new();
    for info in devices {
        let checked = DeviceCertificate::from_bytes(&info.certificate)
            .map_err(MembershipError::from)
            .and_then(|cert| {
                if cert.device_id() == info.device {
                    list.vouch_for(&cert).map(|()| cert)
                } else {
                    Err(MembershipError::NotAMemberDevice {
                        device: cert.device_id(),
                        why: "the relay filed it under another device id",
                    })
                }
            });
        match checked {
            Ok(cert) => out.push((cert, info.certificate.clone())),
            Err(err) => super::driver::warn(&format!(
                "ignored device {} the relay listed: {err}",
                info.device
            )),
        }
    }
    out
}

/// The relay's id of a document this profile stores: the same 32 hex digits.
fn relay_doc(id: &str) -> Result<DocId, SharingError> {
    id.parse()
        .map_err(|_| SharingError::Profile(format!("the document id {id} is damaged")))
}

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
    let mut ids = Requests(500);
    let (therapist_account, therapist, devices) = get_account(conn, &mut ids, None).await?;
    if therapist.commitment() != commitment {
        return Err(SharingError::WrongTherapist {
            got: therapist.short_fingerprint(),
        });
    }
    let shared = store
        .documents()?
        .into_iter()
        .find(|d| d.kind == DocumentKind::Shared)
        .ok_or_else(|| {
            SharingError::Profile("this profile has no shared homework document".into())
        })?;
    let record = sync_record(store, &shared.id)?;
    let doc = relay_doc(&shared.id)?.0;
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
    let request = ids.next();
    ask(
        conn,
        ClientMessage::PutMembership {
            request,
            doc: DocId(doc),
            membership: list.to_bytes(),
        },
        "the membership to be stored",
    )
    .await?;
    store.save_membership(&shared.id, list.serial(), &list.to_bytes())?;
    let certs = vouched(&list, &devices);
    store.record_peer_devices(
        therapist_account.0,
        &certs
            .iter()
            .map(|(c, b)| (c.device_id().to_string(), b.clone()))
            .collect::<Vec<_>>(),
    )?;
    wrap_missing(conn, &mut ids, store, keys, &shared.id, &record, &certs).await?;
    store.clear_therapist_commitment()?;
    Ok(therapist.fingerprint())
}

fn sync_record(store: &Store, id: &str) -> Result<SyncRecord, SharingError> {
    store
        .sync_documents()?
        .into_iter()
        .find(|r| r.document_id == id)
        .ok_or_else(|| SharingError::Profile(format!("the document {id} does not sync")))
}

/// Wraps the current epoch key of document `id` for every device in `certs` that does not have
/// it yet, signed by this device ([`SignedEnvelope`]), and stores each envelope on the relay.
///
/// A device counts as given the key only when the relay answers `done` for its envelope. Any
/// refusal — `conflict` included: someone else's envelope may sit where this one belongs — is
/// reported and the envelope is wrapped and stored again at the next sync (the relay replaces
/// an envelope the owner's device puts for the same document, epoch and device).
async fn wrap_missing(
    conn: &mut Connection,
    ids: &mut Requests,
    store: &mut Store,
    keys: &AccountKeys,
    id: &str,
    record: &SyncRecord,
    certs: &[(DeviceCertificate, Vec<u8>)],
) -> Result<usize, SharingError> {
    let Some((_, key)) = record.keys.iter().find(|(e, _)| *e == record.epoch) else {
        return Err(SharingError::Profile(format!(
            "this device holds no key for the current epoch of {id}"
        )));
    };
    let key = EpochKey::from_bytes(*key);
    let doc = relay_doc(id)?.0;
    let done = store.wrapped_for(id, record.epoch)?;
    let mut devices = Vec::new();
    let mut rng = rand::rng();
    for (cert, _) in certs {
        let device = cert.device_id();
        if done.contains(&device.to_string()) {
            continue;
        }
        let context = KeyContext {
            doc_id: doc,
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
        let request = ids.next();
        let stored = ask(
            conn,
            ClientMessage::PutKeyEnvelopes {
                request,
                doc: DocId(doc),
                envelopes: vec![KeyEnvelope {
                    epoch: record.epoch,
                    recipient: device,
                    envelope: wrapped.to_bytes(),
                }],
            },
            "the wrapped key to be stored",
        )
        .await;
        match stored {
            Ok(ServerMessage::Done { .. }) => devices.push(device.to_string()),
            Ok(other) => {
                return Err(SharingError::Unexpected {
                    asked: "put_key_envelopes",
                    got: other.name(),
                })
            }
            Err(SharingError::Relay(RelayError::Refused { code, message })) => {
                super::driver::warn(&format!(
                    "the relay did not store the key of epoch {} of {id} for device {device} ({code:?}: {message}); it is offered again at the next sync",
                    record.epoch
                ));
            }
            Err(err) => return Err(err),
        }
    }
    if devices.is_empty() {
        return Ok(0);
    }
    store.record_wrapped(id, record.epoch, &devices)?;
    Ok(devices.len())
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
            share_with_inviter(conn, store, keys, IdentityCommitment(commitment)).await?;
        }
    }
    let mut ids = Requests(1000);
    let mut shared = Shared::default();
    let request = ids.next();
    let documents = match ask(
        conn,
        ClientMessage::ListDocuments { request },
        "the list of documents",
    )
    .await?
    {
        ServerMessage::Documents { documents, .. } => documents,
        other => {
            return Err(SharingError::Unexpected {
                asked: "list_documents",
                got: other.name(),
            })
        }
    };
    let me = keys.identity.public();
    let local: HashSet<String> = store.documents()?.into_iter().map(|d| d.id).collect();
    let listed: HashSet<String> = documents.iter().map(|d| d.doc.to_string()).collect();
    for info in documents {
        let id = info.doc.to_string();
        let request = ids.next();
        let list = match ask(
            conn,
            ClientMessage::GetMembership {
                request,
                doc: info.doc,
            },
            "a membership list",
        )
        .await
        {
            Ok(ServerMessage::Membership {
                membership: Some(bytes),
                ..
            }) => bytes,
            Ok(ServerMessage::Membership {
                membership: None, ..
            }) => continue,
            Ok(other) => {
                return Err(SharingError::Unexpected {
                    asked: "get_membership",
                    got: other.name(),
                })
            }
            Err(SharingError::Relay(RelayError::Refused {
                code: ErrorCode::NotMember,
                ..
            })) => continue,
            Err(err) => return Err(err),
        };
        let bad = |source| SharingError::BadMembership {
            doc: id.clone(),
            source,
        };
        let list = SignedMembership::from_bytes(&list).map_err(bad)?;
        let known = store.membership(&id)?;
        let owner = match &known {
            Some(bytes) => SignedMembership::from_bytes(bytes).map_err(bad)?.owner(),
            // A client's documents are their own.
            None if keys.certificate.role == Role::Client => me,
            // A document shared with a therapist: pin its owner now, on first sight (the
            // safety numbers of `between whois` let both compare it out of band).
            None => list.owner(),
        };
        list.verify(&owner, info.doc.0).map_err(bad)?;
        if let Some(bytes) = &known {
            let previous = SignedMembership::from_bytes(bytes).map_err(bad)?;
            if list.serial() != previous.serial() {
                list.check_follows(&previous).map_err(bad)?;
            } else if list != previous {
                return Err(bad(MembershipError::Rollback {
                    seen: previous.serial(),
                    got: list.serial(),
                }));
            }
        }
        if list.role_of(&me).is_none() {
            // This account was removed from the document; the relay refuses it from now on.
            if local.contains(&id) && end_sharing(store, &id)? {
                let label = store
                    .documents()?
                    .into_iter()
                    .find(|d| d.id == id)
                    .map_or(id, |d| d.label);
                shared.ended.push(label);
            }
            continue;
        }
        // The other members' devices: the owner's (for a therapist) or the inviter's (for a
        // client: the relay answers for the account that invited it).
        let other = if owner == me { None } else { Some(info.owner) };
        let certs = if list.members().len() > 1 {
            let (account, identity, devices) = get_account(conn, &mut ids, other).await?;
            // An owner's therapist may have left (`between client end`): the relay then no longer
            // lets this account look them up by id, as they share nothing any more. Move the
            // document to a new epoch without them.
            if owner == me && list.role_of(&identity).is_some() {
                let request = ids.next();
                let still = ask(
                    conn,
                    ClientMessage::GetAccount {
                        request,
                        account: Some(account),
                    },
                    "whether the other member still shares",
                )
                .await;
                if let Err(SharingError::Relay(RelayError::Refused {
                    code: ErrorCode::Forbidden,
                    ..
                })) = still
                {
                    rotate(conn, store, keys, &id, |m| m.identity != identity, None).await?;
                    shared.left.push(identity.short_fingerprint());
                    continue;
                }
                still?;
            }
            if list.role_of(&identity).is_none() || identity == me {
                Vec::new()
            } else {
                let certs = vouched(&list, &devices);
                store.record_peer_devices(
                    account.0,
                    &certs
                        .iter()
                        .map(|(c, b)| (c.device_id().to_string(), b.clone()))
                        .collect::<Vec<_>>(),
                )?;
                certs
            }
        } else {
            Vec::new()
        };
        if local.contains(&id) {
            keep_membership(store, &id, &list)?;
            let record = sync_record(store, &id)?;
            if list.epoch() > record.epoch {
                // The owner moved to a new epoch (someone was removed): fetch its key.
                catch_up_keys(conn, &mut ids, store, keys, &info, &owner, list.epoch()).await?;
            }
            if owner == me {
                let record = sync_record(store, &id)?;
                if record.epoch > list.epoch() {
                    // A removal on this device made a new key but did not announce it: finish
                    // it with the command (which knows whom to leave out), not by guessing here.
                    super::driver::warn(&format!(
                        "a removal started on this device did not finish for {id}; run `between therapist remove` or `between device remove` again"
                    ));
                    continue;
                }
                let mut recipients = own_devices(store, keys)?;
                recipients.extend(certs);
                shared.keys_wrapped +=
                    wrap_missing(conn, &mut ids, store, keys, &id, &record, &recipients).await?;
            }
        } else {
            if receive(conn, &mut ids, store, keys, &info, &list).await? {
                shared.received.push(id);
            } else {
                shared.waiting += 1;
            }
        }
    }
    // Documents shared with this account that the relay no longer lists: the owner removed
    // this account (or deleted the document).
    for doc in store.documents()? {
        if listed.contains(&doc.id) || doc.kind != DocumentKind::Shared {
            continue;
        }
        let Some(bytes) = store.membership(&doc.id)? else {
            continue;
        };
        let list =
            SignedMembership::from_bytes(&bytes).map_err(|source| SharingError::BadMembership {
                doc: doc.label.clone(),
                source,
            })?;
        if list.owner() != me && end_sharing(store, &doc.id)? {
            shared.ended.push(doc.label);
        }
    }
    Ok(shared)
}

/// Stores a verified membership list of a document this device syncs. When the list before it
/// had a therapist and this one has none, sharing ended: the client's views say so from then on
/// ([`crate::audience`]), on every device of theirs.
fn keep_membership(
    store: &mut Store,
    id: &str,
    list: &SignedMembership,
) -> Result<(), SharingError> {
    let has_therapist =
        |list: &SignedMembership| list.members().iter().any(|m| m.role == Role::Therapist);
    let had_therapist = store
        .membership(id)?
        .and_then(|bytes| SignedMembership::from_bytes(&bytes).ok())
        .is_some_and(|before| has_therapist(&before));
    store.save_membership(id, list.serial(), &list.to_bytes())?;
    if had_therapist && !has_therapist(list) {
        // The owner's account signed the list that ended it, whoever asked first.
        store.note_sharing_ended(id, crate::clock::real_unix_ms(), true)?;
    }
    Ok(())
}

/// Stops syncing a document this account was removed from; `false` if it had stopped already.
fn end_sharing(store: &mut Store, id: &str) -> Result<bool, SharingError> {
    if !store.sync_documents()?.iter().any(|r| r.document_id == id) {
        return Ok(false);
    }
    store.stop_syncing(id, crate::clock::real_unix_ms(), false)?;
    Ok(true)
}

/// This account's other devices, as certificates verified against its identity.
fn own_devices(
    store: &Store,
    keys: &AccountKeys,
) -> Result<Vec<(DeviceCertificate, Vec<u8>)>, SharingError> {
    let me = keys.device.device_id();
    let identity = keys.identity.public();
    Ok(store
        .devices()?
        .into_iter()
        .filter_map(|d| {
            let cert = DeviceCertificate::from_bytes(&d.certificate).ok()?;
            (cert.verify_owner(&identity).is_ok() && cert.device_id() != me)
                .then_some((cert, d.certificate))
        })
        .collect())
}

/// Fetches this device's wrapped keys of a document (owned by `owner`) and keeps those it
/// lacks, making `epoch` current if its key is among them.
async fn catch_up_keys(
    conn: &mut Connection,
    ids: &mut Requests,
    store: &mut Store,
    keys: &AccountKeys,
    info: &DocumentInfo,
    owner: &IdentityPublic,
    epoch: u32,
) -> Result<(), SharingError> {
    let unwrapped = fetch_keys(conn, ids, keys, info, owner).await?;
    let id = info.doc.to_string();
    let current = unwrapped.iter().any(|(e, _)| *e == epoch).then_some(epoch);
    if current.is_none() {
        super::driver::warn(&format!(
            "the homework {id} moved to a new key that this device has not been given yet; it syncs again once a device of its owner has run `between sync`"
        ));
    }
    store.add_epoch_keys(&id, &unwrapped, current)?;
    Ok(())
}

/// This device's keys of a document owned by `owner`, from the envelopes the relay holds for
/// it (see [`open_envelopes`]).
async fn fetch_keys(
    conn: &mut Connection,
    ids: &mut Requests,
    keys: &AccountKeys,
    info: &DocumentInfo,
    owner: &IdentityPublic,
) -> Result<Vec<(u32, [u8; 32])>, SharingError> {
    let request = ids.next();
    let envelopes = match ask(
        conn,
        ClientMessage::GetKeyEnvelopes {
            request,
            doc: info.doc,
        },
        "the wrapped keys",
    )
    .await?
    {
        ServerMessage::KeyEnvelopes { envelopes, .. } => envelopes,
        other => {
            return Err(SharingError::Unexpected {
                asked: "get_key_envelopes",
                got: other.name(),
            })
        }
    };
    Ok(open_envelopes(&keys.device, info.doc.0, owner, &envelopes))
}

/// The epoch keys among `envelopes` wrapped for device `me`, taken only from envelopes signed
/// by a device that `owner` (the document's owner, as this device pinned it) certified. Any
/// other envelope — unsigned, signed by another member's device, refiled by the relay, or
/// altered — is ignored with a warning and its key is never used.
fn open_envelopes(
    me: &DeviceKeypair,
    doc: [u8; 16],
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
            Err(err) => super::driver::warn(&format!(
                "ignored the key of epoch {} of {} that the relay gave: it is not one the document's owner wrapped for this device ({err}); it was not used",
                envelope.epoch,
                DocId(doc),
            )),
        }
    }
    unwrapped
}

/// A document shared with this account arrives: unwrap its keys and add it (empty until the
/// sync fills it). `false` when no key for its current epoch is wrapped for this device yet.
async fn receive(
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
    let id = info.doc.to_string();
    let label = format!("{ARRIVING_LABEL_PREFIX}{}", &id[..8]);
    store.add_received_document(
        &NewDocument {
            id: id.clone(),
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
        let bytes = store.load_document(&doc.id)?;
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
            match store.rename_document(&doc.id, &label) {
                Ok(()) => break,
                Err(StoreError::DuplicateLabel { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
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
    let shared = store
        .documents()?
        .into_iter()
        .find(|d| d.kind == DocumentKind::Shared)
        .ok_or_else(|| SharingError::Profile("this profile has no shared homework".into()))?;
    let me = keys.identity.public();
    let shared_with_others = match store.membership(&shared.id)? {
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
    rotate(conn, store, keys, &shared.id, |m| m.identity == me, None).await
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
    id: &str,
    keep: impl Fn(&Member) -> bool,
    removed_device: Option<&str>,
) -> Result<Vec<String>, SharingError> {
    let me = keys.identity.public();
    let doc = relay_doc(id)?.0;
    let bad = |source| SharingError::BadMembership {
        doc: id.to_owned(),
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
    let mut ids = Requests(2000);
    let request = ids.next();
    ask(
        conn,
        ClientMessage::PutMembership {
            request,
            doc: DocId(doc),
            membership: next.to_bytes(),
        },
        "the new membership to be stored",
    )
    .await?;
    keep_membership(store, id, &next)?;
    let record = sync_record(store, id)?;
    let mut recipients = own_devices(store, keys)?;
    recipients.retain(|(cert, _)| Some(cert.device_id().to_string().as_str()) != removed_device);
    let peers: Vec<(DeviceCertificate, Vec<u8>)> = store
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use between_shared::crypto::IdentityKeypair;
    use between_shared::Timestamp;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const DOC: [u8; 16] = [5; 16];

    /// A device of `identity` with its certificate.
    fn device(
        identity: &IdentityKeypair,
        role: Role,
        seed: u64,
    ) -> (DeviceKeypair, DeviceCertificate) {
        let keys = DeviceKeypair::generate(&mut StdRng::seed_from_u64(seed));
        let cert = identity.certify(&keys.public(), role, Timestamp(1));
        (keys, cert)
    }

    /// `key` for `epoch`, wrapped for `to` and signed by `by`, as the relay hands it out.
    fn envelope(
        key: &EpochKey,
        epoch: u32,
        to: &DeviceKeypair,
        by: &(DeviceKeypair, DeviceCertificate),
    ) -> KeyEnvelope {
        let context = KeyContext {
            doc_id: DOC,
            epoch,
            recipient: to.device_id(),
        };
        let mut rng = StdRng::seed_from_u64(u64::from(epoch));
        let signed =
            SignedEnvelope::seal(&mut rng, key, &to.public(), &context, &by.0, &by.1).unwrap();
        KeyEnvelope {
            epoch,
            recipient: to.device_id(),
            envelope: signed.to_bytes(),
        }
    }

    #[test]
    fn only_envelopes_signed_by_an_owner_device_give_a_key() {
        let owner = IdentityKeypair::generate(&mut StdRng::seed_from_u64(1));
        let therapist = IdentityKeypair::generate(&mut StdRng::seed_from_u64(2));
        let laptop = device(&owner, Role::Client, 3);
        let phone = device(&owner, Role::Client, 4).0;
        let member = device(&therapist, Role::Therapist, 5);
        let real = EpochKey::from_bytes([1; 32]);
        let squatted = EpochKey::from_bytes([2; 32]);
        let mut envelopes = vec![
            envelope(&real, 1, &phone, &laptop),
            // A member squats a future epoch with a key of its own, properly signed by its own
            // certified device.
            envelope(&squatted, 2, &phone, &member),
        ];
        // An unsigned wrapped key (what builds before signed envelopes stored) for epoch 3.
        let bare = between_shared::crypto::wrap_epoch_key(
            &mut StdRng::seed_from_u64(6),
            &squatted,
            &phone.public(),
            &KeyContext {
                doc_id: DOC,
                epoch: 3,
                recipient: phone.device_id(),
            },
        )
        .unwrap();
        envelopes.push(KeyEnvelope {
            epoch: 3,
            recipient: phone.device_id(),
            envelope: bare.to_bytes(),
        });
        // The owner's envelope refiled by the relay under another epoch.
        envelopes.push(KeyEnvelope {
            epoch: 4,
            ..envelopes[0].clone()
        });
        let keys = open_envelopes(&phone, DOC, &owner.public(), &envelopes);
        assert_eq!(keys, vec![(1, [1; 32])]);
        // Pinned to the wrong owner, even the real envelope is refused.
        assert!(open_envelopes(&phone, DOC, &therapist.public(), &envelopes[..1]).is_empty());
    }
}
