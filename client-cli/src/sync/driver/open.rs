//! Opening the driver on a profile: every synced document's engine from its stored state.

use super::*;
use crate::store::SyncRecord;
use between_shared::crypto::IdentityPublic;

/// Whom this device's envelopes trust, the same for every document: the account's own devices
/// (certified by its identity) and other people's devices, which count for a document only when
/// its signed membership list vouches for them.
struct Trust<'a> {
    keys: &'a AccountKeys,
    /// This device's key pair as stored.
    device_keypair: &'a [u8],
    identity: IdentityPublic,
    own_devices: Vec<DeviceCertificate>,
    peers: Vec<DeviceCertificate>,
}

impl Driver {
    /// Opens the store at `path` and loads every synced document with its engine and keys.
    pub(crate) fn open(path: &Path, mode: Mode) -> Result<Self, DriverError> {
        let mut store = Store::open(path)?;
        let account = store.account()?.ok_or_else(|| {
            DriverError::Account(AccountError::Damaged(
                "this profile has no account on a relay".to_owned(),
            ))
        })?;
        let keys = AccountKeys::from_record(&account)?;
        let me = keys.device.device_id();
        let devices = store.devices()?;
        let identity = keys.identity.public();
        let trust = Trust {
            keys: &keys,
            device_keypair: &account.device_keypair,
            identity,
            own_devices: devices
                .iter()
                .filter_map(|d| DeviceCertificate::from_bytes(&d.certificate).ok())
                .filter(|c| c.verify_owner(&identity).is_ok())
                .collect(),
            peers: store
                .peer_devices()?
                .iter()
                .filter_map(|bytes| DeviceCertificate::from_bytes(bytes).ok())
                .collect(),
        };
        let labels: HashMap<DocId, (String, DocumentKind)> = store
            .documents()?
            .into_iter()
            .map(|d| (d.id, (d.label, d.kind)))
            .collect();
        let mut early = Vec::new();
        let mut docs = Vec::new();
        for record in store.sync_documents()? {
            let (label, kind) = labels
                .get(&record.document_id)
                .cloned()
                .unwrap_or_else(|| (record.document_id.to_string(), DocumentKind::Shared));
            docs.push(open_slot(
                &mut store, &record, label, kind, &trust, mode, &mut early,
            )?);
        }
        let known_actors = store.change_authors()?.into_keys().collect();
        let data_version = store.data_version()?;
        Ok(Self {
            directory: DeviceDirectory::new(&devices),
            store,
            keys,
            me,
            mode,
            docs,
            requests: HashMap::new(),
            next_request: 1,
            phase: Phase::Disconnected,
            devices_pending: false,
            data_version,
            known_actors,
            summary: Summary::default(),
            report: Summary::default(),
            progress: Progress::new(mode),
            was_settled: false,
            observer: None,
            notices: None,
            early,
            last_sync_recorded: None,
            pushes: Vec::new(),
            wrote_since_poll: false,
        })
    }
}

/// One synced document's slot: its engine, its keys and (unless a sync that runs once can do
/// without it) the document itself. Notices for the app go to `early`.
fn open_slot(
    store: &mut Store,
    record: &SyncRecord,
    label: String,
    kind: DocumentKind,
    trust: &Trust<'_>,
    mode: Mode,
    early: &mut Vec<Notice>,
) -> Result<Slot, DriverError> {
    let bad = |detail: String| DriverError::Document {
        label: label.clone(),
        detail,
    };
    let state: SyncState = serde_json::from_str(&record.state)
        .map_err(|e| bad(format!("its sync state is damaged: {e}")))?;
    let (mut doc, stored_heads) =
        stored_document(store, record, &state, &label, trust.keys, mode, early)?;
    let mut envelope = envelope(record, trust).map_err(bad)?;
    let mut sync = DocSync::new(state);
    if mode.stays_connected() {
        sync = sync.with_snapshots_when_quiet();
    }
    // Other people's devices count only if the document's signed membership vouches for them
    // (the relay's word that they are members counts for nothing).
    if let Some(list) = store.membership(record.document_id)? {
        let list = SignedMembership::from_bytes(&list)
            .map_err(|e| bad(format!("its membership list is damaged: {e}")))?;
        for cert in &trust.peers {
            if list.vouch_for(cert).is_ok() {
                let _ = envelope.add_member(cert, &cert.owner);
            }
        }
        // Only the owner's devices compact (the relay refuses anyone else's snapshot).
        if list.owner() != trust.identity {
            sync = sync.without_snapshots();
        }
    }
    Ok(Slot {
        id: record.document_id,
        label,
        kind,
        heads_recorded: doc.is_none(),
        stored_changes: doc.as_mut().map_or(0, change_count),
        doc,
        stored_heads,
        sync,
        envelope,
        on_relay: record.on_relay,
        dirty: false,
        authors: Vec::new(),
        held: VecDeque::new(),
        received: false,
        queued: Vec::new(),
        failed: None,
    })
}

/// The document's envelope: this device's keys for every epoch it holds, the current one
/// sealing, and this account's own devices as members; what is wrong, in words.
fn envelope(record: &SyncRecord, trust: &Trust<'_>) -> Result<KeyedEnvelope<StdRng>, String> {
    let Some((_, current)) = record.keys.iter().find(|(e, _)| *e == record.epoch) else {
        return Err(format!(
            "this device holds no key for its epoch {}",
            record.epoch
        ));
    };
    let device = DeviceKeypair::from_bytes(trust.device_keypair).map_err(|e| e.to_string())?;
    let mut envelope = KeyedEnvelope::new(
        record.document_id,
        record.epoch,
        EpochKey::from_bytes(*current),
        device,
        rand::make_rng::<StdRng>(),
    );
    for (epoch, key) in &record.keys {
        envelope.add_epoch_key(*epoch, EpochKey::from_bytes(*key));
    }
    for cert in &trust.own_devices {
        // Verified when `Trust` was made; cannot fail.
        let _ = envelope.add_member(cert, &trust.identity);
    }
    Ok(envelope)
}

/// The document as stored with its heads, or only its heads: a sync that runs once loads a
/// document only when the relay sends something for it, it holds something the relay lacks (the
/// stored heads, known without a load, must all be among the relay's), or its store is due a
/// compaction (which saves it). Changes set aside while loading are said (to the app, or on
/// stderr).
fn stored_document(
    store: &mut Store,
    record: &SyncRecord,
    state: &SyncState,
    label: &str,
    keys: &AccountKeys,
    mode: Mode,
    early: &mut Vec<Notice>,
) -> Result<(Option<AutoCommit>, Vec<ChangeHash>), DriverError> {
    let known_heads =
        if mode == Mode::Once && !store.needs_compaction(record.document_id, Compaction::Due)? {
            store
                .known_heads(record.document_id)?
                .filter(|heads| heads.iter().all(|head| state.relay_heads.contains(head)))
        } else {
            None
        };
    if let Some(heads) = known_heads {
        return Ok((None, to_hashes(&heads)));
    }
    let (mut doc, set_aside) = load(store, record.document_id, label, keys)?;
    if let Some(text) = set_aside {
        if mode == Mode::Embedded {
            early.push(Notice {
                kind: NoticeKind::SetAside,
                text,
            });
        } else {
            warn(&text);
        }
    }
    let heads = doc.get_heads();
    Ok((Some(doc), heads))
}
