//! Contract checks of group commit: several writes in one transaction, in order, each refused alone.

use super::*;

/// A group commit carries out pushes to several documents and audit records in the order
/// given: per-document sequence numbers, audit rows and their chain come out exactly as if each
/// write had been its own transaction, and every bundle is stored.
pub(super) fn group_commit_keeps_order_across_documents(store: &mut dyn RelayStore) {
    let (alice, a) = add_document(store, 1);
    let (bob, b) = add_document(store, 2);
    let therapist = add_account(store, 3, AccountRole::Therapist);
    store.add_member(a, therapist).unwrap();
    let laptop = add_device(store, 11, alice);
    let phone = add_device(store, 12, alice);
    let bobs = add_device(store, 21, bob);
    let theirs = add_device(store, 31, therapist);
    store.append_bundle(b, &bundle(9), T0).unwrap();
    let before = store.verify_audit().unwrap();

    let pushes = [
        push_of(a, laptop, bundle(1), T0 + 1),
        push_of(b, bobs, bundle(2), T0 + 2),
        push_of(a, phone, bundle(3), T0 + 3),
        push_of(a, theirs, bundle(4), T0 + 4),
        push_of(b, bobs, bundle(5), T0 + 5),
    ];
    let sign_in = audit(T0 + 6, None, "sign-in");
    let mut writes: Vec<_> = pushes.iter().map(crate::store::BatchWrite::Push).collect();
    writes.insert(2, crate::store::BatchWrite::Audit(&sign_in));
    let results = store.write_batch(&writes).unwrap();
    assert_eq!(results.len(), 6);

    let rows = before.rows;
    assert_eq!(appended(&results[0]), (Seq(1), rows + 1));
    assert_eq!(appended(&results[1]), (Seq(2), rows + 2));
    assert!(
        matches!(results[2], Ok(crate::store::Written::Audit(row)) if row == rows + 3),
        "{:?}",
        results[2]
    );
    assert_eq!(appended(&results[3]), (Seq(2), rows + 4));
    assert_eq!(appended(&results[4]), (Seq(3), rows + 5));
    assert_eq!(appended(&results[5]), (Seq(3), rows + 6));

    let stored = |store: &dyn RelayStore, doc| -> Vec<(u64, Vec<u8>)> {
        all_since(store, doc, 0)
            .into_iter()
            .map(|b| (b.seq.0, b.bytes))
            .collect()
    };
    assert_eq!(
        stored(store, a),
        [(1, bundle(1)), (2, bundle(3)), (3, bundle(4))]
    );
    assert_eq!(
        stored(store, b),
        [(1, bundle(9)), (2, bundle(2)), (3, bundle(5))]
    );
    assert_eq!(store.head(a).unwrap(), Seq(3));

    // Each push left exactly one audit record, by the pushing device and its account.
    let trail = store.audit_for_doc(a, rows, 100).unwrap();
    let by: Vec<_> = trail
        .iter()
        .map(|e| {
            (
                e.id,
                e.record.account,
                e.record.device,
                e.record.action.as_str(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            (rows + 1, Some(alice), Some(laptop), "append"),
            (rows + 4, Some(alice), Some(phone), "append"),
            (rows + 5, Some(therapist), Some(theirs), "append"),
        ]
    );
    assert_eq!(trail[0].record.at_ms, T0 + 1);
    let head = store.verify_audit().unwrap();
    assert_eq!(head.rows, rows + 6);

    // The chain over the batch is the one single writes would have made.
    let as_record = |push: &crate::store::Push, account| AuditRecord {
        at_ms: push.at_ms,
        account: Some(account),
        device: Some(push.device),
        doc: Some(push.doc),
        action: "append".to_owned(),
    };
    let expected = [
        as_record(&pushes[0], alice),
        as_record(&pushes[1], bob),
        sign_in.clone(),
        as_record(&pushes[2], alice),
        as_record(&pushes[3], therapist),
        as_record(&pushes[4], bob),
    ];
    let mut hash = before.hash;
    for (id, record) in (rows + 1..).zip(&expected) {
        hash = crate::store::audit_hash(&hash, id, record);
        assert_eq!(store.audit_hash_at(id).unwrap(), Some(hash), "row {id}");
    }
    assert_eq!(head.hash, hash);

    // An empty batch is a valid no-op.
    assert!(store.write_batch(&[]).unwrap().is_empty());
    assert_eq!(store.verify_audit().unwrap(), head);
}

/// In a group commit, a push that is refused (unknown or disabled device, disabled account,
/// unknown or deleted document, not a member) or an audit record that is invalid fails alone:
/// it writes nothing, and the writes around it commit as if it were not there.
pub(super) fn group_commit_refusals_stand_alone(store: &mut dyn RelayStore) {
    let (alice, a) = add_document(store, 1);
    let (bob, b) = add_document(store, 2);
    let (carol, c) = add_document(store, 3);
    let departed = add_account(store, 4, AccountRole::Therapist);
    store.add_member(a, departed).unwrap();
    let laptop = add_device(store, 11, alice);
    let lost = add_device(store, 12, alice);
    let bobs = add_device(store, 21, bob);
    let carols = add_device(store, 31, carol);
    let theirs = add_device(store, 41, departed);
    store.disable_device(lost, T0).unwrap();
    store.disable_account(departed, T0).unwrap();
    store.delete_document(c, T0).unwrap();
    let before = store.verify_audit().unwrap();

    let pushes = [
        push_of(a, laptop, bundle(1), T0),
        push_of(a, lost, bundle(2), T0),
        push_of(a, theirs, bundle(3), T0),
        push_of(a, bobs, bundle(4), T0),
        push_of(c, carols, bundle(5), T0),
        push_of(doc_id(77), laptop, bundle(6), T0),
        push_of(a, device_id(99), bundle(7), T0),
        push_of(b, bobs, bundle(8), T0),
        crate::store::Push {
            action: "Append by Bob",
            ..push_of(b, bobs, bundle(9), T0)
        },
    ];
    let bad_audit = audit(T0, None, "read by Alice");
    let good_audit = audit(T0, None, "sign-in");
    let mut writes: Vec<_> = pushes.iter().map(crate::store::BatchWrite::Push).collect();
    writes.push(crate::store::BatchWrite::Audit(&bad_audit));
    writes.push(crate::store::BatchWrite::Audit(&good_audit));
    let results = store.write_batch(&writes).unwrap();

    use crate::store::{PushOutcome::Refused, PushRefusal, Written};
    let refused = |i: usize| match &results[i] {
        Ok(Written::Push(Refused(refusal))) => *refusal,
        other => panic!("write {i}: expected a refusal, got {other:?}"),
    };
    let rows = before.rows;
    assert_eq!(appended(&results[0]), (Seq(1), rows + 1));
    assert_eq!(
        refused(1),
        PushRefusal::Disabled {
            account_disabled: false
        }
    );
    assert_eq!(
        refused(2),
        PushRefusal::Disabled {
            account_disabled: true
        }
    );
    assert_eq!(refused(3), PushRefusal::NotMember);
    assert_eq!(refused(4), PushRefusal::NoDocument { deleted: true });
    assert_eq!(refused(5), PushRefusal::NoDocument { deleted: false });
    assert_eq!(refused(6), PushRefusal::UnknownDevice);
    assert_eq!(appended(&results[7]), (Seq(1), rows + 2));
    assert!(
        matches!(results[8], Err(StoreError::Invalid(_))),
        "{:?}",
        results[8]
    );
    assert!(
        matches!(results[9], Err(StoreError::Invalid(_))),
        "{:?}",
        results[9]
    );
    assert!(
        matches!(results[10], Ok(Written::Audit(row)) if row == rows + 3),
        "{:?}",
        results[10]
    );

    // Only the accepted writes left a trace.
    assert_eq!(seqs(&all_since(store, a, 0)), [1]);
    assert_eq!(all_since(store, a, 0)[0].bytes, bundle(1));
    assert_eq!(seqs(&all_since(store, b, 0)), [1]);
    assert_eq!(all_since(store, b, 0)[0].bytes, bundle(8));
    assert_eq!(store.document(doc_id(77)).unwrap(), None);
    assert_eq!(store.deleted_at(c).unwrap(), Some(T0));
    let head = store.verify_audit().unwrap();
    assert_eq!(head.rows, rows + 3);
    let actions: Vec<_> = store
        .audit_for_doc(a, rows, 100)
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.record.device))
        .collect();
    assert_eq!(actions, [(rows + 1, Some(laptop))]);

    // The single-write forms give the same answers.
    assert_eq!(
        store.push(&push_of(a, bobs, bundle(4), T0)).unwrap(),
        Refused(PushRefusal::NotMember)
    );
    assert_eq!(
        store.push(&push_of(a, laptop, bundle(2), T0)).unwrap(),
        crate::store::PushOutcome::Appended {
            seq: Seq(2),
            audit_row: rows + 4
        }
    );
    assert_eq!(store.verify_audit().unwrap().rows, rows + 4);
}
