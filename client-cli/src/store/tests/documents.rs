//! Documents and their chunks: loading, appending, compacting (safely, with other processes
//! writing), refused ids and labels.

use super::*;
use crate::store::compaction::{AUTO_VACUUM_INCREMENTAL, OVERDUE_FACTOR};

#[test]
fn appended_chunks_load_in_order_after_the_snapshot() {
    let (_dir, path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    store.append_changes(doc_id(1), b"one").unwrap();
    store.append_changes(doc_id(1), b"").unwrap();
    store.append_changes(doc_id(1), b"two").unwrap();
    store.append_changes(doc_id(1), b"three").unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPonetwothree");
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPonetwothree");
    let docs = store.documents().unwrap();
    assert_eq!(
        docs,
        vec![DocumentRecord {
            id: doc_id(1).to_owned(),
            kind: DocumentKind::Shared,
            label: "Sam".to_owned(),
            created_at_ms: 5,
            chunks: 3,
            bytes: 15,
        }]
    );
}

#[test]
fn unknown_documents_are_reported() {
    let (_dir, _path, mut store) = fresh();
    for err in [
        store.load_document(doc_id(0xee)).unwrap_err(),
        store.append_changes(doc_id(0xee), b"x").unwrap_err(),
        store
            .needs_compaction(doc_id(0xee), Compaction::Due)
            .unwrap_err(),
        store.rename_document(doc_id(0xee), "New").unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::UnknownDocument { .. }), "{err}");
    }
}

#[test]
fn a_stored_id_that_is_not_an_id_is_reported_as_damage_not_used() {
    let (_dir, path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    drop(store);
    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE documents SET id = 'doc-1'", [])
        .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    let err = store.documents().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("is damaged") && text.contains("\"doc-1\""),
        "{text}"
    );
}

#[test]
fn compact_replaces_snapshot_and_chunks() {
    let (_dir, path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    store.append_changes(doc_id(1), b"one").unwrap();
    store.append_changes(doc_id(1), b"two").unwrap();
    assert!(store.compact(doc_id(1), b"FULL").unwrap());
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"FULL");
    store.append_changes(doc_id(1), b"three").unwrap();
    assert!(store.compact(doc_id(1), b"FULL2").unwrap());
    drop(store);

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"FULL2");
    let doc = &store.documents().unwrap()[0];
    assert_eq!((doc.chunks, doc.bytes), (0, 5));
    store.append_changes(doc_id(1), b"four").unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"FULL2four");
}

fn pages(path: &Path) -> (i64, i64, i64) {
    let conn = Connection::open(path).unwrap();
    let value = |name: &str| -> i64 {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    };
    (
        value("page_count"),
        value("freelist_count"),
        value("auto_vacuum"),
    )
}

/// Appends 2 MB of chunks to `doc-1` and compacts them into a small snapshot.
fn compact_two_megabytes(store: &mut Store) {
    let chunk = vec![7_u8; 64 * 1024];
    for _ in 0..32 {
        store.append_changes(doc_id(1), &chunk).unwrap();
    }
    assert_eq!(
        store.load_document(doc_id(1)).unwrap().len(),
        4 + 32 * chunk.len()
    );
    assert!(store.compact(doc_id(1), b"FULL").unwrap());
}

#[test]
fn compaction_gives_freed_pages_back_to_the_file_system() {
    let (_dir, path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    assert_eq!(pages(&path).2, AUTO_VACUUM_INCREMENTAL);
    let before = pages(&path).0;
    compact_two_megabytes(&mut store);
    let (after, free, _) = pages(&path);
    assert_eq!(free, 0);
    assert!(after <= before + 4, "{before} pages before, {after} after");
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"FULL");

    // A few freed pages stay in the file for the next writes.
    store.append_changes(doc_id(1), &[1; 50_000]).unwrap();
    store.load_document(doc_id(1)).unwrap();
    assert!(store.compact(doc_id(1), b"FULL2").unwrap());
    assert!(pages(&path).1 > 0);
}

#[test]
fn a_store_made_without_auto_vacuum_is_converted_when_it_has_much_to_give_back() {
    let (_dir, path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    drop(store);
    // As every store made before auto_vacuum was set.
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "auto_vacuum", 0).unwrap();
    conn.execute_batch("VACUUM").unwrap();
    drop(conn);
    assert_eq!(pages(&path).2, 0);

    let mut store = Store::open(&path).unwrap();
    let before = pages(&path).0;
    compact_two_megabytes(&mut store);
    let (after, free, mode) = pages(&path);
    assert_eq!((free, mode), (0, AUTO_VACUUM_INCREMENTAL));
    assert!(after <= before + 4, "{before} pages before, {after} after");
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"FULL");
    assert_eq!(store.profile().unwrap().display_name, "Sam");
}

#[test]
fn compaction_keeps_chunks_it_did_not_see() {
    let (_dir, path, mut mine) = fresh();
    mine.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    mine.append_changes(doc_id(1), b"a").unwrap();
    let mut theirs = Store::open(&path).unwrap();

    assert_eq!(mine.load_document(doc_id(1)).unwrap(), b"SNAPa");
    theirs.append_changes(doc_id(1), b"B").unwrap(); // e.g. `between sync --watch`
    mine.append_changes(doc_id(1), b"c").unwrap();
    // `mine` holds SNAP + a + c in memory, not B.
    assert!(mine.compact(doc_id(1), b"FULL").unwrap());
    assert_eq!(theirs.load_document(doc_id(1)).unwrap(), b"FULLB");

    // A handle that never loaded the document does not compact it.
    let mut other = Store::open(&path).unwrap();
    assert!(!other.compact(doc_id(1), b"X").unwrap());

    // After someone else compacted, a stale handle does not overwrite their snapshot.
    assert!(theirs.compact(doc_id(1), b"FULL+B").unwrap());
    mine.append_changes(doc_id(1), b"d").unwrap();
    assert!(!mine.compact(doc_id(1), b"stale").unwrap());
    assert_eq!(mine.load_document(doc_id(1)).unwrap(), b"FULL+Bd");
}

#[test]
fn a_handle_reads_only_what_others_stored_since_and_still_compacts_safely() {
    let (_dir, path, mut mine) = fresh();
    mine.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    let mut theirs = Store::open(&path).unwrap();
    assert_eq!(mine.load_document(doc_id(1)).unwrap(), b"SNAP");
    assert_eq!(mine.load_changes_since_seen(doc_id(1)).unwrap(), b"");

    theirs.append_changes(doc_id(1), b"B").unwrap();
    mine.append_changes(doc_id(1), b"c").unwrap();
    theirs.append_changes(doc_id(1), b"D").unwrap();
    // Only the other process's chunks, in order; this handle's own is already in memory.
    assert_eq!(mine.load_changes_since_seen(doc_id(1)).unwrap(), b"BD");
    assert_eq!(mine.load_changes_since_seen(doc_id(1)).unwrap(), b"");
    theirs.append_changes(doc_id(1), b"E").unwrap();
    assert_eq!(mine.load_changes_since_seen(doc_id(1)).unwrap(), b"E");

    // Having seen B, c, D and E, compacting keeps what came after: F.
    theirs.append_changes(doc_id(1), b"F").unwrap();
    assert!(mine.compact(doc_id(1), b"SNAP+BcDE").unwrap());
    assert_eq!(theirs.load_document(doc_id(1)).unwrap(), b"SNAP+BcDEF");

    // Another process compacted: the whole document, then increments again.
    assert!(theirs.compact(doc_id(1), b"ALL").unwrap());
    assert_eq!(mine.load_changes_since_seen(doc_id(1)).unwrap(), b"ALL");
    theirs.append_changes(doc_id(1), b"G").unwrap();
    assert_eq!(mine.load_changes_since_seen(doc_id(1)).unwrap(), b"G");

    // A handle that never loaded it reads it whole.
    let other = Store::open(&path).unwrap();
    assert_eq!(other.load_changes_since_seen(doc_id(1)).unwrap(), b"ALLG");
}

#[test]
fn needs_compaction_thresholds() {
    let (_dir, _path, mut store) = fresh();
    let snapshot = vec![0_u8; 10_000];
    store.add_document(doc_id(1), "Sam", 5, &snapshot).unwrap();
    assert!(!store.needs_compaction(doc_id(1), Compaction::Due).unwrap());
    for _ in 0..COMPACT_AFTER_CHUNKS {
        store.append_changes(doc_id(1), b"x").unwrap();
    }
    assert!(!store.needs_compaction(doc_id(1), Compaction::Due).unwrap());
    store.append_changes(doc_id(1), b"x").unwrap();
    assert!(store.needs_compaction(doc_id(1), Compaction::Due).unwrap());

    store.add_document(doc_id(2), "Alex", 6, &snapshot).unwrap();
    store.append_changes(doc_id(2), &vec![1_u8; 9_000]).unwrap();
    assert!(!store.needs_compaction(doc_id(2), Compaction::Due).unwrap());
    store.append_changes(doc_id(2), &vec![1_u8; 1_001]).unwrap();
    assert!(store.needs_compaction(doc_id(2), Compaction::Due).unwrap());

    // A tiny snapshot is not rewritten for every small edit.
    store.add_document(doc_id(3), "Kim", 7, b"tiny").unwrap();
    store.append_changes(doc_id(3), &[2_u8; 100]).unwrap();
    assert!(!store.needs_compaction(doc_id(3), Compaction::Due).unwrap());
    store.append_changes(doc_id(3), &[2_u8; 4_000]).unwrap();
    assert!(store.needs_compaction(doc_id(3), Compaction::Due).unwrap());

    // Put off while changes stream in, it becomes overdue at sixteen times as much.
    for _ in 0..COMPACT_AFTER_CHUNKS * (OVERDUE_FACTOR - 1) - 1 {
        store.append_changes(doc_id(1), b"x").unwrap();
    }
    assert!(!store
        .needs_compaction(doc_id(1), Compaction::Overdue)
        .unwrap());
    store.append_changes(doc_id(1), b"x").unwrap();
    assert!(store
        .needs_compaction(doc_id(1), Compaction::Overdue)
        .unwrap());
    store.load_document(doc_id(1)).unwrap();
    assert!(store
        .compact_if(doc_id(1), Compaction::Overdue, || b"FULL".to_vec())
        .unwrap());
    assert!(!store
        .compact_if(doc_id(1), Compaction::Due, || unreachable!())
        .unwrap());
}

#[test]
fn duplicate_ids_and_labels_are_refused() {
    let (_dir, _path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    let err = store.add_document(doc_id(1), "Other", 6, b"X").unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateDocumentId { .. }),
        "{err}"
    );
    let err = store.add_document(doc_id(2), "sam", 6, b"X").unwrap_err();
    assert!(matches!(err, StoreError::DuplicateLabel { .. }), "{err}");
    assert!(err.to_string().contains("choose another name"), "{err}");
    assert_eq!(store.documents().unwrap().len(), 1);
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAP");

    store.add_document(doc_id(2), "Alex", 6, b"X").unwrap();
    let err = store.rename_document(doc_id(2), "SAM").unwrap_err();
    assert!(matches!(err, StoreError::DuplicateLabel { .. }), "{err}");
    store.rename_document(doc_id(2), "Alex B.").unwrap();
    store.rename_document(doc_id(1), "sam").unwrap(); // changing only the case is fine
    let labels: Vec<_> = store
        .documents()
        .unwrap()
        .into_iter()
        .map(|doc| doc.label)
        .collect();
    assert_eq!(labels, ["sam", "Alex B."]);
}

#[test]
fn changes_to_two_documents_are_appended_together_or_not_at_all() {
    let (_dir, _path, mut store) = fresh();
    store.add_document(doc_id(1), "Sam", 5, b"ONE").unwrap();
    store
        .add_private_document(doc_id(2), "Sam (private)", 5, b"TWO", None)
        .unwrap();
    store
        .append_changes_together(&[(doc_id(1), b"+a".as_slice()), (doc_id(2), b"+b".as_slice())])
        .unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"ONE+a");
    assert_eq!(store.load_document(doc_id(2)).unwrap(), b"TWO+b");
    // One unknown document: neither chunk is written.
    let err = store
        .append_changes_together(&[
            (doc_id(1), b"+c".as_slice()),
            (doc_id(0xee), b"+d".as_slice()),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownDocument { .. }), "{err}");
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"ONE+a");
    // Empty chunks are skipped.
    store
        .append_changes_together(&[(doc_id(1), b"".as_slice()), (doc_id(2), b"+e".as_slice())])
        .unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"ONE+a");
    assert_eq!(store.load_document(doc_id(2)).unwrap(), b"TWO+b+e");
}

#[test]
fn data_version_moves_when_another_connection_commits() {
    let (_dir, path, mut mine) = fresh();
    mine.add_document(doc_id(1), "Sam", 5, b"SNAP").unwrap();
    let before = mine.data_version().unwrap();
    mine.append_changes(doc_id(1), b"own").unwrap();
    assert_eq!(mine.data_version().unwrap(), before);
    let mut theirs = Store::open(&path).unwrap();
    theirs.append_changes(doc_id(1), b"theirs").unwrap();
    assert_ne!(mine.data_version().unwrap(), before);
}
