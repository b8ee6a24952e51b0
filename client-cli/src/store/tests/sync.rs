//! A profile that syncs: created whole, sync writes kept together, known heads, sharing state,
//! documents deleted from the relay, and what a therapist looked at.

use super::*;
use crate::store::sync_state::RelayDeletion;
use between_shared::protocol::{AccountId, DeviceId};

fn synced_profile() -> NewSyncedProfile {
    NewSyncedProfile {
        account: AccountRecord {
            relay_ca_pem: None,
            therapist_commitment: None,
            relay_url: "ws://127.0.0.1:9".to_owned(),
            account_id: None,
            identity_keypair: vec![1; 33],
            device_keypair: vec![2; 65],
            device_certificate: vec![3; 170],
            registration: Registration::Invite(vec![4; 32]),
            last_sync_ms: None,
            devices_listed_ms: None,
        },
        documents: vec![NewDocument {
            id: doc_id(1).to_owned(),
            label: "Sam".to_owned(),
            created_at_ms: 5,
            snapshot: b"SNAP".to_vec(),
            kind: DocumentKind::Shared,
            sync: SyncRecord {
                document_id: doc_id(1).to_owned(),
                epoch: 1,
                on_relay: false,
                state: "{}".to_owned(),
                keys: vec![(1, [9; 32])],
            },
        }],
        devices: vec![DeviceRecord {
            device_id: DeviceId([0xaa; 16]),
            certificate: vec![3; 170],
            this_device: true,
            name: Some("laptop".to_owned()),
            registered_at_ms: None,
            listed: false,
        }],
    }
}

#[test]
fn sharing_state_is_kept_replaced_and_added_with_a_received_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    version_3_store(&path);
    let mut store = Store::open(&path).unwrap();
    // Membership lists: none, then the latest one kept.
    assert_eq!(store.membership(doc_id(1)).unwrap(), None);
    store.save_membership(doc_id(1), 1, b"LIST1").unwrap();
    store.save_membership(doc_id(1), 2, b"LIST2").unwrap();
    assert_eq!(
        store.membership(doc_id(1)).unwrap(),
        Some(b"LIST2".to_vec())
    );
    // Another account's devices are replaced as a whole; other accounts keep theirs.
    store
        .record_peer_devices(
            AccountId([1; 16]),
            &[
                (DeviceId([0xa; 16]), b"A".to_vec()),
                (DeviceId([0xb; 16]), b"B".to_vec()),
            ],
        )
        .unwrap();
    store
        .record_peer_devices(AccountId([2; 16]), &[(DeviceId([0xc; 16]), b"C".to_vec())])
        .unwrap();
    store
        .record_peer_devices(AccountId([1; 16]), &[(DeviceId([0xb; 16]), b"B2".to_vec())])
        .unwrap();
    assert_eq!(
        store.peer_devices().unwrap(),
        vec![b"B2".to_vec(), b"C".to_vec()]
    );
    // Keys wrapped, per document and epoch.
    store
        .record_wrapped(doc_id(1), 1, &[DeviceId([0xa; 16]), DeviceId([0xb; 16])])
        .unwrap();
    store
        .record_wrapped(doc_id(1), 1, &[DeviceId([0xb; 16])])
        .unwrap();
    let wrapped = store.wrapped_for(doc_id(1), 1).unwrap();
    assert_eq!(wrapped.len(), 2);
    assert!(store.wrapped_for(doc_id(1), 2).unwrap().is_empty());
    // A received document arrives with its sync state, keys and membership in one go; the
    // same id twice is refused and changes nothing.
    let received = NewDocument {
        id: doc_id(9),
        label: "client doc-r".into(),
        created_at_ms: 9,
        snapshot: b"EMPTY".to_vec(),
        kind: DocumentKind::Shared,
        sync: SyncRecord {
            document_id: doc_id(9),
            epoch: 3,
            on_relay: true,
            state: "{}".into(),
            keys: vec![(3, [7; 32])],
        },
    };
    store.add_received_document(&received, 5, b"LIST5").unwrap();
    assert_eq!(
        store.membership(doc_id(9)).unwrap(),
        Some(b"LIST5".to_vec())
    );
    assert!(store.sync_documents().unwrap().contains(&received.sync));
    let err = store
        .add_received_document(&received, 6, b"LIST6")
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateDocumentId { .. }),
        "{err}"
    );
    assert_eq!(
        store.membership(doc_id(9)).unwrap(),
        Some(b"LIST5".to_vec())
    );
}

#[test]
fn a_synced_profile_is_created_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let synced = synced_profile();
    let mut store = Store::create_synced(&path, &sample_profile(), &synced).unwrap();
    assert_eq!(store.account().unwrap(), Some(synced.account.clone()));
    assert_eq!(
        store.sync_documents().unwrap(),
        vec![synced.documents[0].sync.clone()]
    );
    assert_eq!(store.devices().unwrap(), synced.devices);
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAP");

    store.set_registered(Some(AccountId([5; 16]))).unwrap();
    store.mark_on_relay(doc_id(1)).unwrap();
    store.set_last_sync(99).unwrap();
    let account = store.account().unwrap().unwrap();
    assert_eq!(account.account_id, Some(AccountId([5; 16])));
    assert_eq!(account.registration, Registration::Done);
    assert_eq!(account.last_sync_ms, Some(99));
    assert!(store.sync_documents().unwrap()[0].on_relay);

    // The relay's list replaces which devices are listed, and never forgets a name.
    let phone = DeviceRecord {
        device_id: DeviceId([0xbb; 16]),
        certificate: vec![6; 170],
        this_device: false,
        name: None,
        registered_at_ms: Some(20),
        listed: true,
    };
    let mut me = synced.devices[0].clone();
    me.name = None;
    me.this_device = false;
    me.registered_at_ms = Some(10);
    me.listed = true;
    store
        .record_listed_devices(&[me, phone.clone()], 30)
        .unwrap();
    let devices = store.devices().unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices[0].this_device && devices[0].listed);
    assert_eq!(devices[0].name.as_deref(), Some("laptop"));
    assert_eq!(devices[1], phone);
    store.record_listed_devices(&[], 31).unwrap();
    assert!(store.devices().unwrap().iter().all(|d| !d.listed));
    assert_eq!(
        store.account().unwrap().unwrap().devices_listed_ms,
        Some(31)
    );

    // A label clash refuses the whole profile and leaves nothing behind.
    let other = dir.path().join("other.sqlite3");
    let mut clash = synced_profile();
    let mut second = clash.documents[0].clone();
    second.id = doc_id(2).to_owned();
    second.label = "SAM".to_owned();
    clash.documents.push(second);
    let err = Store::create_synced(&other, &sample_profile(), &clash).unwrap_err();
    assert!(matches!(err, StoreError::DuplicateLabel { .. }), "{err}");
    assert!(!other.exists());
}

#[test]
fn changes_and_sync_state_are_written_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
    store.load_document(doc_id(1)).unwrap();
    let authors = vec![(vec![1, 2], DeviceId([0xcc; 16]))];
    store
        .persist_sync(
            doc_id(1),
            &SyncWrite {
                changes: b"one",
                state: r#"{"cursor":1}"#,
                authors: &authors,
                heads: None,
            },
        )
        .unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPone");
    assert_eq!(store.sync_documents().unwrap()[0].state, r#"{"cursor":1}"#);
    assert_eq!(
        store.change_authors().unwrap().get(&vec![1, 2]),
        Some(&DeviceId([0xcc; 16]))
    );

    // The state write fails (not JSON) after the chunk was inserted: neither is kept.
    let err = store
        .persist_sync(
            doc_id(1),
            &SyncWrite {
                changes: b"two",
                state: "not json",
                authors: &[(vec![3], DeviceId([0xdd; 16]))],
                heads: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPone");
    assert_eq!(store.sync_documents().unwrap()[0].state, r#"{"cursor":1}"#);
    assert_eq!(store.change_authors().unwrap().len(), 1);

    // A state-only write (an acknowledgement) appends no chunk; the first author of an
    // actor is kept.
    store
        .persist_sync(
            doc_id(1),
            &SyncWrite {
                changes: b"",
                state: r#"{"cursor":2}"#,
                authors: &[(vec![1, 2], DeviceId([0xee; 16]))],
                heads: None,
            },
        )
        .unwrap();
    assert_eq!(store.documents().unwrap()[0].chunks, 1);
    assert_eq!(
        store.change_authors().unwrap().get(&vec![1, 2]),
        Some(&DeviceId([0xcc; 16]))
    );
    // Sync writes count as this handle's own for compaction.
    assert!(store.compact(doc_id(1), b"FULL").unwrap());
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"FULL");
    assert!(matches!(
        store.persist_sync(
            doc_id(0xee),
            &SyncWrite {
                changes: b"x",
                state: "{}",
                authors: &[],
                heads: None,
            }
        ),
        Err(StoreError::UnknownDocument { .. })
    ));
}

/// The heads a sync write records are known only while the stored document is exactly
/// what that handle held: a chunk stored by another process, or a compaction, forgets them;
/// and a handle that holds less than is stored records none.
#[test]
fn known_heads_last_only_as_long_as_the_stored_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
    let write = |store: &mut Store, changes: &'static [u8], heads: &[[u8; 32]]| {
        store
            .persist_sync(
                doc_id(1),
                &SyncWrite {
                    changes,
                    state: "{}",
                    authors: &[],
                    heads: Some(heads),
                },
            )
            .unwrap();
    };
    assert_eq!(store.known_heads(doc_id(1)).unwrap(), None);
    store.load_document(doc_id(1)).unwrap();
    write(&mut store, b"one", &[[1; 32], [2; 32]]);
    assert_eq!(
        store.known_heads(doc_id(1)).unwrap(),
        Some(vec![[1; 32], [2; 32]])
    );
    // A state-only write without heads leaves them as they are.
    store
        .persist_sync(
            doc_id(1),
            &SyncWrite {
                changes: b"",
                state: "{}",
                authors: &[],
                heads: None,
            },
        )
        .unwrap();
    assert_eq!(
        store.known_heads(doc_id(1)).unwrap(),
        Some(vec![[1; 32], [2; 32]])
    );

    // Another process stores a chunk: the heads are no longer known ...
    let mut other = Store::open(&path).unwrap();
    other.append_changes(doc_id(1), b"theirs").unwrap();
    assert_eq!(store.known_heads(doc_id(1)).unwrap(), None);
    // ... and this handle, which never read that chunk, cannot record them again.
    write(&mut store, b"two", &[[3; 32]]);
    assert_eq!(store.known_heads(doc_id(1)).unwrap(), None);
    // Once it has read everything, it can.
    store.load_changes_since_seen(doc_id(1)).unwrap();
    write(&mut store, b"", &[[4; 32]]);
    assert_eq!(store.known_heads(doc_id(1)).unwrap(), Some(vec![[4; 32]]));

    // A compaction is a new stored version.
    assert!(store.compact(doc_id(1), b"FULL").unwrap());
    assert_eq!(store.known_heads(doc_id(1)).unwrap(), None);
    write(&mut store, b"", &[[5; 32]]);
    assert_eq!(store.known_heads(doc_id(1)).unwrap(), Some(vec![[5; 32]]));
}

/// Crisis resources found in a document count only for the stored version they were found
/// in: anything stored for it since (a chunk, a compaction) means reading it again.
#[test]
fn crisis_resources_found_last_until_the_document_is_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
    let first = store.stored_version(doc_id(1)).unwrap();
    assert!(!store.crisis_resources_found(doc_id(1)).unwrap());
    store.found_crisis_resources(doc_id(1)).unwrap();
    assert!(store.crisis_resources_found(doc_id(1)).unwrap());
    assert_eq!(store.stored_version(doc_id(1)).unwrap(), first);

    store.append_changes(doc_id(1), b"more").unwrap();
    assert_ne!(store.stored_version(doc_id(1)).unwrap(), first);
    assert!(!store.crisis_resources_found(doc_id(1)).unwrap());
    store.found_crisis_resources(doc_id(1)).unwrap();
    assert!(store.crisis_resources_found(doc_id(1)).unwrap());

    store.load_document(doc_id(1)).unwrap();
    assert!(store.compact(doc_id(1), b"FULL").unwrap());
    assert!(!store.crisis_resources_found(doc_id(1)).unwrap());
    assert!(matches!(
        store.stored_version(doc_id(0xee)),
        Err(StoreError::UnknownDocument { .. })
    ));
}

#[test]
fn a_document_deleted_from_the_relay_stops_syncing_and_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
    assert!(store.relay_deletions().unwrap().is_empty());
    assert_eq!(store.sync_documents().unwrap().len(), 1);

    store
        .mark_deleted_from_relay(&[doc_id(1)], 1_000, true)
        .unwrap();
    // Marking again (a retried deletion) keeps the first record.
    store
        .mark_deleted_from_relay(&[doc_id(1)], 2_000, false)
        .unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    assert!(store.sync_documents().unwrap().is_empty());
    assert_eq!(
        store.relay_deletions().unwrap(),
        [RelayDeletion {
            document_id: doc_id(1).to_owned(),
            label: "Sam".to_owned(),
            kind: DocumentKind::Shared,
            deleted_at_ms: 1_000,
            by_this_device: true,
        }]
    );
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAP");
}

#[test]
fn the_last_look_at_a_document_is_kept_and_replaced() {
    let (_dir, path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    assert!(store.looked_at().unwrap().is_empty());
    store.record_looked_at(doc_id(1), 10, "2026-03-02").unwrap();
    store.record_looked_at(doc_id(1), 20, "2026-03-03").unwrap();
    let reopened = Store::open(&path).unwrap();
    assert_eq!(
        reopened.looked_at().unwrap(),
        HashMap::from([(doc_id(1).to_owned(), (20, "2026-03-03".to_owned()))])
    );
    assert!(matches!(
        store.record_looked_at(doc_id(2), 30, "2026-03-04"),
        Err(StoreError::UnknownDocument { .. })
    ));
}
