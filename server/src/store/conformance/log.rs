//! Contract checks of a document's log: sequence numbers, paging, compaction and snapshots.

use super::*;

/// Appends are numbered 1, 2, 3, … per document, and numbers are never reused after
/// compaction.
pub(super) fn sequence_numbers_are_consecutive_and_never_reused(store: &mut dyn RelayStore) {
    let (_, a) = add_document(store, 1);
    let (_, b) = add_document(store, 2);
    assert_eq!(store.head(a).unwrap(), Seq::ZERO);
    for i in 1..=5 {
        assert_eq!(
            store.append_bundle(a, &bundle(i), T0).unwrap(),
            Seq(u64::from(i))
        );
    }
    assert_eq!(store.append_bundle(b, b"b1", T0).unwrap(), Seq(1));
    assert_eq!(store.head(a).unwrap(), Seq(5));
    assert_eq!(store.head(b).unwrap(), Seq(1));

    store.put_snapshot(a, Seq(3), b"snapshot to 3").unwrap();
    assert_eq!(store.head(a).unwrap(), Seq(5));
    assert_eq!(store.append_bundle(a, &bundle(6), T0).unwrap(), Seq(6));

    // Compacting everything away does not reset the numbering either.
    store.put_snapshot(a, Seq(6), b"snapshot to 6").unwrap();
    assert!(all_since(store, a, 0).is_empty());
    assert_eq!(store.head(a).unwrap(), Seq(6));
    assert_eq!(store.append_bundle(a, &bundle(7), T0).unwrap(), Seq(7));
    assert_eq!(seqs(&all_since(store, a, 0)), [7]);
    assert_eq!(all_since(store, a, 0)[0].bytes, bundle(7));

    let err = store.append_bundle(doc_id(99), b"x", T0).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    let err = store.head(doc_id(99)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}

/// `bundles_since` returns bundles in order within its limits, never stalling on an oversized
/// one.
pub(super) fn bundles_since_pages_in_order(store: &mut dyn RelayStore) {
    let (_, doc) = add_document(store, 1);
    for i in 1..=10 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
    }
    let all = all_since(store, doc, 0);
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<_>>());
    for b in &all {
        assert_eq!(b.bytes, bundle(u8::try_from(b.seq.0).unwrap()));
    }
    assert_eq!(seqs(&all_since(store, doc, 4)), [5, 6, 7, 8, 9, 10]);
    let page = |since, limit, max_bytes| {
        seqs(
            &store
                .bundles_since(doc, Seq(since), limit, max_bytes)
                .unwrap(),
        )
    };
    assert_eq!(page(0, 3, usize::MAX), [1, 2, 3]);
    assert_eq!(page(0, 100, 60), [1, 2, 3]); // 10 + 20 + 30 bytes
    assert_eq!(page(0, 100, 59), [1, 2]);
    assert_eq!(page(3, 100, 1), [4]); // the first is returned even if too large
    assert_eq!(page(0, 0, usize::MAX), Vec::<u64>::new());
    assert_eq!(page(10, 100, usize::MAX), Vec::<u64>::new());
    assert_eq!(page(1000, 100, usize::MAX), Vec::<u64>::new());
    assert_eq!(page(u64::MAX, 100, usize::MAX), Vec::<u64>::new());
    let err = store
        .bundles_since(doc_id(99), Seq::ZERO, 10, 10)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}

/// After compaction only the tail is stored; a device behind the snapshot gets the snapshot
/// and then the tail, in one consistent read.
pub(super) fn compaction_keeps_only_the_tail(store: &mut dyn RelayStore) {
    let (owner, doc) = add_document(store, 1);
    for i in 1..=6 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
    }
    assert_eq!(store.snapshot(doc).unwrap(), None);
    store.put_snapshot(doc, Seq(3), b"S3").unwrap();
    assert_eq!(seqs(&all_since(store, doc, 0)), [4, 5, 6]);
    let snapshot = Snapshot {
        covers: Seq(3),
        parts: vec![b"S3".to_vec()],
    };
    assert_eq!(store.snapshot(doc).unwrap(), Some(snapshot.clone()));

    let read = |since| {
        store
            .read_log(doc, Seq(since), usize::MAX, usize::MAX)
            .unwrap()
    };
    for since in [0, 2] {
        let page = read(since);
        assert_eq!(page.snapshot, Some(snapshot.clone()), "since {since}");
        assert_eq!(seqs(&page.bundles), [4, 5, 6]);
        assert_eq!(page.head, Seq(6));
    }
    for (since, tail) in [(3, vec![4, 5, 6]), (5, vec![6]), (6, vec![])] {
        let page = read(since);
        assert_eq!(page.snapshot, None, "since {since}");
        assert_eq!(seqs(&page.bundles), tail);
    }
    // The snapshot counts against the byte budget, and is sent even when it alone exceeds it.
    let page = store.read_log(doc, Seq::ZERO, 10, 2 + 40).unwrap();
    assert_eq!(seqs(&page.bundles), [4]);
    let page = store.read_log(doc, Seq::ZERO, 10, 1).unwrap();
    assert_eq!(
        page,
        LogPage {
            snapshot: Some(snapshot),
            bundles: vec![],
            head: Seq(6),
        }
    );
    // Without a snapshot to send, an oversized first bundle is still sent.
    assert_eq!(
        seqs(&store.read_log(doc, Seq(3), 10, 1).unwrap().bundles),
        [4]
    );

    assert_eq!(
        store.document(doc).unwrap(),
        Some(DocStats {
            doc,
            owner,
            created_at_ms: T0,
            bundles: 3,
            bytes: 2 + 40 + 50 + 60,
            head: Seq(6),
            snapshot_covers: Some(Seq(3)),
        })
    );
    let err = store.read_log(doc_id(99), Seq::ZERO, 1, 1).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}

/// Refused snapshots change nothing; a snapshot at the same position replaces the stored one.
pub(super) fn snapshot_refusals_change_nothing(store: &mut dyn RelayStore) {
    let (_, doc) = add_document(store, 1);
    for i in 1..=4 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
    }
    let err = store.put_snapshot(doc, Seq(5), b"future").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SnapshotBeyondHead {
                covers: Seq(5),
                head: Seq(4),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.snapshot(doc).unwrap(), None);
    assert_eq!(seqs(&all_since(store, doc, 0)), [1, 2, 3, 4]);

    let err = store.put_snapshot(doc, Seq::ZERO, b"empty").unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    store.put_snapshot(doc, Seq(3), b"S3").unwrap();
    let err = store.put_snapshot(doc, Seq(2), b"S2").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SnapshotOutdated {
                covers: Seq(2),
                current: Seq(3),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.snapshot(doc).unwrap().unwrap().parts, [b"S3"]);
    assert_eq!(seqs(&all_since(store, doc, 0)), [4]);

    store.put_snapshot(doc, Seq(3), b"S3 again").unwrap();
    assert_eq!(
        store.snapshot(doc).unwrap(),
        Some(Snapshot {
            covers: Seq(3),
            parts: vec![b"S3 again".to_vec()]
        })
    );
    assert_eq!(seqs(&all_since(store, doc, 0)), [4]);

    for err in [
        store.put_snapshot(doc_id(99), Seq(1), b"x").unwrap_err(),
        store.snapshot(doc_id(99)).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::NotFound(Missing::Document(_))),
            "{err:?}"
        );
    }
}

/// A snapshot in parts: parts before the last are staged and change nothing a reader sees;
/// the last stores the whole snapshot and compacts in one step; a part that does not follow
/// its device's upload is refused; one device's parts never mix with another's.
pub(super) fn a_snapshot_in_parts_is_stored_whole_or_not_at_all(store: &mut dyn RelayStore) {
    let (_, doc) = add_document(store, 1);
    for i in 1..=5 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
    }
    let laptop = |covers, parts| SnapshotUpload {
        uploader: device_id(1),
        covers: Seq(covers),
        parts,
    };
    let phone = |covers, parts| SnapshotUpload {
        uploader: device_id(2),
        covers: Seq(covers),
        parts,
    };
    let untouched = |store: &mut dyn RelayStore| {
        assert_eq!(store.snapshot(doc).unwrap(), None);
        assert_eq!(seqs(&all_since(store, doc, 0)), [1, 2, 3, 4, 5]);
    };

    assert_eq!(
        store
            .put_snapshot_part(doc, laptop(4, 3), 0, b"A0")
            .unwrap(),
        SnapshotProgress::Staged
    );
    assert_eq!(
        store
            .put_snapshot_part(doc, laptop(4, 3), 1, b"A1")
            .unwrap(),
        SnapshotProgress::Staged
    );
    untouched(store);
    // Staged parts count as stored bytes.
    assert_eq!(
        store.document(doc).unwrap().unwrap().bytes,
        4 + 10 + 20 + 30 + 40 + 50
    );
    // Parts that do not continue the upload: repeated, skipping, another position or count,
    // another device's; each refused, changing nothing.
    for (upload, part) in [
        (laptop(4, 3), 1),
        (laptop(4, 3), 3),
        (laptop(3, 3), 2),
        (laptop(4, 4), 2),
        (phone(4, 3), 2),
    ] {
        let err = store
            .put_snapshot_part(doc, upload, part, b"x")
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SnapshotPartOutOfOrder { .. } | StoreError::Invalid(_)
            ),
            "{upload:?} part {part}: {err:?}"
        );
        untouched(store);
    }
    let stored = store.put_snapshot_part(doc, laptop(4, 3), 2, b"x").unwrap();
    assert_eq!(
        stored,
        SnapshotProgress::Stored,
        "the refusals left the laptop's upload as it was"
    );
    assert_eq!(
        store.snapshot(doc).unwrap(),
        Some(Snapshot {
            covers: Seq(4),
            parts: vec![b"A0".to_vec(), b"A1".to_vec(), b"x".to_vec()],
        })
    );
    assert_eq!(seqs(&all_since(store, doc, 0)), [5]);
    let page = store.read_log(doc, Seq::ZERO, 10, usize::MAX).unwrap();
    assert_eq!(
        page.snapshot.map(|s| s.parts.concat()),
        Some(b"A0A1x".to_vec())
    );

    // Two devices uploading at once keep their parts apart; the first to finish wins and the
    // other's staged parts are dropped with it.
    store.append_bundle(doc, &bundle(6), T0).unwrap();
    store
        .put_snapshot_part(doc, laptop(6, 2), 0, b"L0")
        .unwrap();
    store.put_snapshot_part(doc, phone(6, 2), 0, b"P0").unwrap();
    store.put_snapshot_part(doc, phone(6, 2), 1, b"P1").unwrap();
    assert_eq!(
        store.snapshot(doc).unwrap().unwrap().parts,
        [b"P0".to_vec(), b"P1".to_vec()]
    );
    let err = store
        .put_snapshot_part(doc, laptop(6, 2), 1, b"L1")
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SnapshotPartOutOfOrder { expected: None, .. }
        ),
        "{err:?}"
    );
    // A whole snapshot replaces one in parts, leaving none of its parts behind.
    store.put_snapshot(doc, Seq(6), b"whole").unwrap();
    assert_eq!(
        store.snapshot(doc).unwrap().unwrap().parts,
        [b"whole".to_vec()]
    );
    assert_eq!(store.document(doc).unwrap().unwrap().bytes, 5);

    // An abandoned upload is dropped with the document.
    store.append_bundle(doc, &bundle(7), T0).unwrap();
    store
        .put_snapshot_part(doc, laptop(7, 2), 0, b"L0")
        .unwrap();
    let err = store
        .put_snapshot_part(doc, laptop(8, 2), 0, b"L0")
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SnapshotBeyondHead { .. }),
        "{err:?}"
    );
    let err = store
        .put_snapshot_part(doc, laptop(7, 2), 2, b"L2")
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    store.delete_document(doc, T0).unwrap();
    assert!(store.documents().unwrap().iter().all(|d| d.doc != doc));
}
