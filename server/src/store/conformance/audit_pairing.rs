//! Contract checks of the audit trail and of pairing mailboxes.

use super::*;

/// A pairing payload can be taken once.
pub(super) fn pairing_mailboxes_are_one_time(store: &mut dyn RelayStore) {
    let mailbox = Mailbox([7; 32]);
    store.put_pairing(mailbox, b"hello", T0, T0 + 100).unwrap();
    let err = store
        .put_pairing(mailbox, b"imposter", T0 + 1, T0 + 100)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::MailboxInUse)),
        "{err:?}"
    );
    assert_eq!(
        store.take_pairing(mailbox, T0 + 2).unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(store.take_pairing(mailbox, T0 + 3).unwrap(), None);
    assert_eq!(store.take_pairing(Mailbox([8; 32]), T0).unwrap(), None);
    let err = store
        .put_pairing(mailbox, b"stale", T0 + 10, T0 + 10)
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // Once taken, the mailbox can be used again.
    store
        .put_pairing(mailbox, b"reply", T0 + 4, T0 + 100)
        .unwrap();
    assert_eq!(
        store.take_pairing(mailbox, T0 + 5).unwrap(),
        Some(b"reply".to_vec())
    );
}

/// An expired pairing payload is never handed out, and is deleted.
pub(super) fn pairing_mailboxes_expire(store: &mut dyn RelayStore) {
    let m1 = Mailbox([1; 32]);
    store.put_pairing(m1, b"x", T0, T0 + 100).unwrap();
    assert_eq!(store.take_pairing(m1, T0 + 100).unwrap(), None);
    // It was deleted, not merely withheld: an earlier clock does not bring it back.
    assert_eq!(store.take_pairing(m1, T0 + 50).unwrap(), None);

    let m2 = Mailbox([2; 32]);
    store.put_pairing(m2, b"old", T0, T0 + 10).unwrap();
    store.put_pairing(m2, b"new", T0 + 10, T0 + 20).unwrap();
    assert_eq!(
        store.take_pairing(m2, T0 + 11).unwrap(),
        Some(b"new".to_vec())
    );

    let m3 = Mailbox([3; 32]);
    let m4 = Mailbox([4; 32]);
    store.put_pairing(m3, b"short", T0, T0 + 10).unwrap();
    store.put_pairing(m4, b"long", T0, T0 + 1000).unwrap();
    assert_eq!(
        store.purge_expired(T0 + 10).unwrap(),
        Purged {
            pairings: 1,
            invites: 0
        }
    );
    assert_eq!(store.take_pairing(m3, T0 + 5).unwrap(), None);
    assert_eq!(
        store.take_pairing(m4, T0 + 11).unwrap(),
        Some(b"long".to_vec())
    );
}

/// The audit trail chains, verifies, pages per document, and takes tokens only.
pub(super) fn audit_trail_chains_and_pages(store: &mut dyn RelayStore) {
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditHead {
            rows: 0,
            hash: [0; 32]
        }
    );
    let d1 = doc_id(1);
    let d2 = doc_id(2);
    let records = [
        AuditRecord {
            at_ms: T0,
            account: None,
            device: None,
            doc: None,
            action: "relay-start".to_owned(),
        },
        audit(T0 + 1, Some(d1), "sign-in"),
        audit(T0 + 2, Some(d1), "read"),
        audit(T0 + 3, Some(d2), "append"),
        audit(T0 + 4, Some(d1), "refused-append"),
        audit(T0 + 5, Some(d1), "read:v1.2"),
    ];
    let mut expected_hash = [0_u8; 32];
    for (n, record) in (1_u64..).zip(&records) {
        assert_eq!(store.append_audit(record).unwrap(), n);
        expected_hash = crate::store::audit_hash(&expected_hash, n, record);
    }
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditHead {
            rows: 6,
            hash: expected_hash
        }
    );

    let entry = |id: u64| AuditEntry {
        id,
        record: records[usize::try_from(id - 1).unwrap()].clone(),
    };
    assert_eq!(
        store.audit_for_doc(d1, 0, 100).unwrap(),
        [entry(2), entry(3), entry(5), entry(6)]
    );
    assert_eq!(store.audit_for_doc(d1, 0, 2).unwrap(), [entry(2), entry(3)]);
    assert_eq!(
        store.audit_for_doc(d1, 3, 100).unwrap(),
        [entry(5), entry(6)]
    );
    assert_eq!(store.audit_for_doc(d2, 0, 100).unwrap(), [entry(4)]);
    assert!(store.audit_for_doc(doc_id(9), 0, 100).unwrap().is_empty());

    let too_long = "a".repeat(crate::store::MAX_AUDIT_ACTION_LEN + 1);
    for action in [
        "",
        "Sign-in",
        "read by Alice",
        "naïve",
        "note\n",
        too_long.as_str(),
    ] {
        let err = store
            .append_audit(&audit(T0, Some(d1), action))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{action:?}: {err:?}");
    }
    assert!(store
        .append_audit(&audit(
            T0,
            None,
            &"a".repeat(crate::store::MAX_AUDIT_ACTION_LEN)
        ))
        .is_ok());
    assert_eq!(store.verify_audit().unwrap().rows, 7);
}

/// A device reads its account's own events (no document's) and a member reads a document's,
/// in pages.
pub(super) fn audit_for_account_pages(store: &mut dyn RelayStore) {
    let mine = account_id(1);
    let theirs = account_id(3);
    let event = |account: AccountId, doc: Option<DocId>, action: &str| AuditRecord {
        at_ms: T0,
        account: Some(account),
        device: Some(device_id(2)),
        doc,
        action: action.to_owned(),
    };
    let records = [
        event(mine, None, "sign-in"),
        event(mine, Some(doc_id(1)), "read"),
        event(theirs, None, "sign-in"),
        event(mine, None, "refused-sign-in"),
        event(mine, None, "disable-account"),
        AuditRecord {
            account: None,
            device: None,
            ..event(mine, None, "refused-sign-in")
        },
    ];
    for record in &records {
        store.append_audit(record).unwrap();
    }
    let entry = |id: u64| AuditEntry {
        id,
        record: records[usize::try_from(id - 1).unwrap()].clone(),
    };
    assert_eq!(
        store.audit_for_account(mine, 0, 100).unwrap(),
        [entry(1), entry(4), entry(5)]
    );
    assert_eq!(
        store.audit_for_account(mine, 0, 2).unwrap(),
        [entry(1), entry(4)]
    );
    assert_eq!(store.audit_for_account(mine, 4, 100).unwrap(), [entry(5)]);
    assert!(store.audit_for_account(mine, 5, 100).unwrap().is_empty());
    assert_eq!(store.audit_for_account(theirs, 0, 100).unwrap(), [entry(3)]);
    assert_eq!(store.audit_for_doc(doc_id(1), 0, 100).unwrap(), [entry(2)]);
    assert_eq!(store.audit_hash_at(0).unwrap(), None);
    assert_eq!(store.audit_hash_at(7).unwrap(), None);
    assert!(store.audit_hash_at(6).unwrap().is_some());
}

/// A head recorded earlier: the trail must still pass through it; rows added since are fine.
pub(super) fn audit_verifies_against_a_known_head(store: &mut dyn RelayStore) {
    let empty = store.verify_audit().unwrap();
    for i in 0..3 {
        store.append_audit(&audit(T0 + i, None, "sign-in")).unwrap();
    }
    let known = store.verify_audit().unwrap();
    assert_eq!(store.verify_audit_since(&empty).unwrap(), known);
    assert_eq!(store.verify_audit_since(&known).unwrap(), known);
    store.append_audit(&audit(T0 + 3, None, "read")).unwrap();
    let now = store.verify_audit_since(&known).unwrap();
    assert_eq!(now.rows, 4);

    let wrong = AuditHead {
        rows: 3,
        hash: [7; 32],
    };
    let err = store.verify_audit_since(&wrong).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 3,
                problem: AuditProblem::DiffersFromKnownHead
            }
        ),
        "{err:?}"
    );
    let longer = AuditHead {
        rows: 9,
        hash: now.hash,
    };
    let err = store.verify_audit_since(&longer).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 5,
                problem: AuditProblem::Truncated { recorded_rows: 9 }
            }
        ),
        "{err:?}"
    );

    // The printed form reads back; nothing else does.
    assert_eq!(AuditHead::parse(&now.to_string()), Some(now));
    assert!(now.to_string().starts_with("4:"));
    let hex = "ab".repeat(32);
    for bad in [
        "",
        "4",
        "x:00",
        &format!("4:{}", &hex[1..]),
        &format!("4:+{}", &hex[1..]),
        &format!("-1:{hex}"),
        &format!("4:{hex}00"),
    ] {
        assert_eq!(AuditHead::parse(bad), None, "{bad:?}");
    }
}
