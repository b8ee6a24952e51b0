//! Contract checks of documents: members, signed membership lists, key envelopes, listing and deletion.

use super::*;

/// Documents and membership: the owner is a member and stays one.
pub(super) fn membership(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let therapist = add_account(store, 2, AccountRole::Therapist);
    let err = store.create_document(doc, client, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::DocumentExists(id)) if id == doc),
        "{err:?}"
    );
    let err = store
        .create_document(doc_id(50), account_id(99), T0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
    assert_eq!(store.document(doc_id(50)).unwrap(), None);

    assert!(store.is_member(doc, client).unwrap());
    assert!(!store.is_member(doc, therapist).unwrap());
    assert!(store.add_member(doc, therapist).unwrap());
    assert!(!store.add_member(doc, therapist).unwrap());
    assert!(store.is_member(doc, therapist).unwrap());
    let mut expected = vec![client, therapist];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);

    let err = store.add_member(doc_id(51), therapist).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    let err = store.add_member(doc, account_id(98)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );

    let err = store.remove_member(doc, client).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::OwnerIsAlwaysMember)),
        "{err:?}"
    );
    assert!(store.is_member(doc, client).unwrap());
    assert!(store.remove_member(doc, therapist).unwrap());
    assert!(!store.remove_member(doc, therapist).unwrap());
    assert!(!store.is_member(doc, therapist).unwrap());
    assert_eq!(store.members(doc).unwrap(), [client]);
    let err = store.remove_member(doc_id(51), therapist).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );

    assert!(!store.is_member(doc_id(51), client).unwrap());
    let err = store.members(doc_id(51)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    assert_eq!(
        store.document(doc).unwrap(),
        Some(DocStats {
            doc,
            owner: client,
            created_at_ms: T0,
            bundles: 0,
            bytes: 0,
            head: Seq::ZERO,
            snapshot_covers: None,
        })
    );
}

/// Deleting a document removes all of it, leaves other documents alone, and retires its id.
pub(super) fn deleting_a_document_removes_everything(store: &mut dyn RelayStore) {
    let (owner, doc) = add_document(store, 1);
    let (_, other) = add_document(store, 2);
    let therapist = add_account(store, 3, AccountRole::Therapist);
    let device = add_device(store, 4, therapist);
    store
        .put_membership(doc, 1, b"signed list", &[owner, therapist])
        .unwrap();
    for i in 1..=3 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
        store.append_bundle(other, &bundle(i), T0).unwrap();
    }
    store.put_snapshot(doc, Seq(2), b"snapshot").unwrap();
    store.put_key_envelope(doc, 0, device, b"envelope").unwrap();
    store
        .put_key_envelope(other, 0, device, b"other envelope")
        .unwrap();
    store.append_audit(&audit(T0, Some(doc), "append")).unwrap();

    assert_eq!(store.deleted_at(doc).unwrap(), None);
    store.delete_document(doc, T0 + 1).unwrap();

    assert_eq!(store.document(doc).unwrap(), None);
    assert_eq!(store.deleted_at(doc).unwrap(), Some(T0 + 1));
    assert_eq!(store.deleted_at(other).unwrap(), None);
    assert_eq!(store.deleted_at(doc_id(99)).unwrap(), None);
    assert!(!store.is_member(doc, owner).unwrap());
    assert!(!store.is_member(doc, therapist).unwrap());
    assert!(store.documents_of(therapist).unwrap().is_empty());
    assert!(!store.shares_document(owner, therapist).unwrap());
    for err in [
        store.members(doc).unwrap_err(),
        store.membership(doc).unwrap_err(),
        store.head(doc).unwrap_err(),
        store.snapshot(doc).unwrap_err(),
        store
            .bundles_since(doc, Seq::ZERO, 10, usize::MAX)
            .unwrap_err(),
        store.key_envelopes(doc, device).unwrap_err(),
        store.append_bundle(doc, b"late", T0).unwrap_err(),
        store.delete_document(doc, T0).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::NotFound(Missing::Document(id)) if id == doc),
            "{err:?}"
        );
    }
    // The id is retired, so its sequence numbers can never be handed out again.
    let err = store.create_document(doc, owner, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::DocumentDeleted(id)) if id == doc),
        "{err:?}"
    );

    let docs: Vec<_> = store
        .documents()
        .unwrap()
        .into_iter()
        .map(|d| d.doc)
        .collect();
    assert_eq!(docs, [other]);
    assert_eq!(store.head(other).unwrap(), Seq(3));
    assert_eq!(seqs(&all_since(store, other, 0)), [1, 2, 3]);
    assert_eq!(store.key_envelopes(other, device).unwrap().len(), 1);
    // The audit trail (ids only) keeps the record of what happened.
    assert_eq!(store.audit_for_doc(doc, 0, 10).unwrap().len(), 1);
}

/// Key envelopes: per recipient, by epoch; idempotent; never silently replaced.
pub(super) fn key_envelopes_per_recipient(store: &mut dyn RelayStore) {
    let (owner, doc) = add_document(store, 1);
    let d1 = add_device(store, 10, owner);
    let d2 = add_device(store, 11, owner);
    store.put_key_envelope(doc, 1, d1, b"e1 for d1").unwrap();
    store.put_key_envelope(doc, 0, d1, b"e0 for d1").unwrap();
    store.put_key_envelope(doc, 0, d2, b"e0 for d2").unwrap();
    store
        .put_key_envelope(doc, u32::MAX, d2, b"last epoch")
        .unwrap();
    let envelope = |epoch, bytes: &[u8]| KeyEnvelope {
        epoch,
        bytes: bytes.to_vec(),
    };
    assert_eq!(
        store.key_envelopes(doc, d1).unwrap(),
        [envelope(0, b"e0 for d1"), envelope(1, b"e1 for d1")]
    );
    assert_eq!(
        store.key_envelopes(doc, d2).unwrap(),
        [envelope(0, b"e0 for d2"), envelope(u32::MAX, b"last epoch")]
    );

    store.put_key_envelope(doc, 0, d1, b"e0 for d1").unwrap();
    store.put_key_envelope(doc, 0, d1, b"replaced").unwrap();
    assert_eq!(
        store.key_envelopes(doc, d1).unwrap(),
        [envelope(0, b"replaced"), envelope(1, b"e1 for d1")],
        "a second envelope for the same epoch and device replaces the first"
    );

    let err = store.put_key_envelope(doc_id(99), 0, d1, b"x").unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    let err = store
        .put_key_envelope(doc, 0, device_id(99), b"x")
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Device(_))),
        "{err:?}"
    );
    assert!(store.key_envelopes(doc, device_id(99)).unwrap().is_empty());
}

/// Listing documents shows ids and sizes only, oldest first.
pub(super) fn documents_list_ids_and_sizes(store: &mut dyn RelayStore) {
    assert!(store.documents().unwrap().is_empty());
    let (a_owner, a) = add_document(store, 2);
    let b_owner = add_account(store, 1, AccountRole::Client);
    let b = doc_id(1);
    store.create_document(b, b_owner, T0 + 1).unwrap();
    store.append_bundle(a, &bundle(1), T0).unwrap();
    store.append_bundle(a, &bundle(2), T0).unwrap();
    store.append_bundle(b, &bundle(5), T0).unwrap();
    store.put_snapshot(b, Seq(1), b"12345").unwrap();
    assert_eq!(
        store.documents().unwrap(),
        [
            DocStats {
                doc: a,
                owner: a_owner,
                created_at_ms: T0,
                bundles: 2,
                bytes: 30,
                head: Seq(2),
                snapshot_covers: None,
            },
            DocStats {
                doc: b,
                owner: b_owner,
                created_at_ms: T0 + 1,
                bundles: 0,
                bytes: 5,
                head: Seq(1),
                snapshot_covers: Some(Seq(1)),
            },
        ]
    );
}

/// A signed membership list replaces the document's members in one step; the owner always stays;
/// the accounts that left are reported.
pub(super) fn signed_membership_replaces_members(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let ada = add_account(store, 2, AccountRole::Therapist);
    let ben = add_account(store, 3, AccountRole::Therapist);
    assert_eq!(store.membership(doc).unwrap(), None);

    assert_eq!(
        store
            .put_membership(doc, 1, b"list-1", &[client, ada])
            .unwrap(),
        []
    );
    assert_eq!(
        store.membership(doc).unwrap(),
        Some(StoredMembership {
            serial: 1,
            bytes: b"list-1".to_vec()
        })
    );
    let mut expected = vec![client, ada];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);

    // Ada is replaced by Ben: she is reported as removed and is no member any more.
    assert_eq!(
        store
            .put_membership(doc, 2, b"list-2", &[client, ben])
            .unwrap(),
        [ada]
    );
    assert!(!store.is_member(doc, ada).unwrap());
    assert!(store.is_member(doc, ben).unwrap());

    // A list that leaves the owner out still keeps the owner a member (never reported removed).
    assert_eq!(store.put_membership(doc, 7, b"list-7", &[ben]).unwrap(), []);
    let mut expected = vec![client, ben];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);
    assert_eq!(store.membership(doc).unwrap().unwrap().serial, 7);

    // Only the owner left.
    assert_eq!(
        store.put_membership(doc, 8, b"list-8", &[client]).unwrap(),
        [ben]
    );
    assert_eq!(store.members(doc).unwrap(), [client]);

    let err = store.membership(doc_id(50)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}

/// A list's serial must grow: an equal or smaller one (an old list replayed) is refused and
/// changes nothing, and so is a serial the store cannot keep.
pub(super) fn membership_serial_never_goes_back(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let ada = add_account(store, 2, AccountRole::Therapist);
    store
        .put_membership(doc, 5, b"list-5", &[client, ada])
        .unwrap();
    for (serial, members) in [(5, vec![client]), (4, vec![client]), (0, vec![client])] {
        let err = store
            .put_membership(doc, serial, b"old", &members)
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict(Conflict::MembershipSerial { stored: 5, given }) if given == serial
            ),
            "{err:?}"
        );
    }
    let err = store
        .put_membership(doc, u64::MAX, b"huge", &[client])
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(
        store.membership(doc).unwrap(),
        Some(StoredMembership {
            serial: 5,
            bytes: b"list-5".to_vec()
        })
    );
    assert!(store.is_member(doc, ada).unwrap());
    // The largest storable serial is accepted, and then nothing can follow it but refusals.
    let max = u64::try_from(i64::MAX).unwrap();
    store.put_membership(doc, max, b"last", &[client]).unwrap();
    assert!(!store.is_member(doc, ada).unwrap());
}

/// A list naming an unknown account, or for an unknown document, is refused as a whole: members,
/// stored list and serial stay as they were.
pub(super) fn membership_refusals_change_nothing(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let ada = add_account(store, 2, AccountRole::Therapist);
    let ben = add_account(store, 3, AccountRole::Therapist);
    store
        .put_membership(doc, 1, b"list-1", &[client, ada])
        .unwrap();

    // Ben is known, account 99 is not: neither the removal of Ada nor Ben's addition happen.
    let err = store
        .put_membership(doc, 2, b"list-2", &[client, ben, account_id(99)])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(id)) if id == account_id(99)),
        "{err:?}"
    );
    let mut expected = vec![client, ada];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);
    assert_eq!(
        store.membership(doc).unwrap(),
        Some(StoredMembership {
            serial: 1,
            bytes: b"list-1".to_vec()
        })
    );
    // The refused serial 2 was not consumed.
    store
        .put_membership(doc, 2, b"list-2", &[client, ben])
        .unwrap();
    assert_eq!(store.membership(doc).unwrap().unwrap().serial, 2);

    let err = store
        .put_membership(doc_id(50), 1, b"x", &[client])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    assert_eq!(store.document(doc_id(50)).unwrap(), None);
}

/// Which documents an account belongs to (with owners), who shares a document with whom, and
/// that deleting a document takes its list and members with it.
pub(super) fn documents_of_and_shared_documents(store: &mut dyn RelayStore) {
    let (cleo, cleo_doc) = add_document(store, 1);
    let (dan, dan_doc) = add_document(store, 2);
    let ada = add_account(store, 3, AccountRole::Therapist);
    let ben = add_account(store, 4, AccountRole::Therapist);
    store.create_document(doc_id(5), cleo, T0 + 1).unwrap();

    assert_eq!(
        store.documents_of(cleo).unwrap(),
        [
            MemberOf {
                doc: cleo_doc,
                owner: cleo
            },
            MemberOf {
                doc: doc_id(5),
                owner: cleo
            }
        ]
    );
    assert_eq!(store.documents_of(ada).unwrap(), []);
    assert_eq!(store.documents_of(account_id(99)).unwrap(), []);
    assert!(!store.shares_document(cleo, ada).unwrap());

    store
        .put_membership(cleo_doc, 1, b"c", &[cleo, ada])
        .unwrap();
    store.put_membership(dan_doc, 1, b"d", &[dan, ada]).unwrap();
    assert_eq!(
        store.documents_of(ada).unwrap(),
        [
            MemberOf {
                doc: cleo_doc,
                owner: cleo
            },
            MemberOf {
                doc: dan_doc,
                owner: dan
            }
        ]
    );
    assert!(store.shares_document(cleo, ada).unwrap());
    assert!(store.shares_document(ada, cleo).unwrap());
    assert!(store.shares_document(ada, dan).unwrap());
    assert!(store.shares_document(cleo, cleo).unwrap());
    // Two clients of the same therapist share nothing with each other.
    assert!(!store.shares_document(cleo, dan).unwrap());
    assert!(!store.shares_document(ben, cleo).unwrap());
    assert!(!store.shares_document(ben, ben).unwrap());

    store.delete_document(cleo_doc, T0 + 2).unwrap();
    assert!(!store.shares_document(cleo, ada).unwrap());
    assert_eq!(
        store.documents_of(ada).unwrap(),
        [MemberOf {
            doc: dan_doc,
            owner: dan
        }]
    );
    let err = store.membership(cleo_doc).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}
