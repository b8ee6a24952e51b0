//! Creating and opening the store file: what is refused and left untouched, and the
//! migrations from older schema versions.

use between_sqlite_file::testing::{
    cut_in_half, file_names, noise, set_user_version, write_foreign_database,
};
use between_sqlite_file::user_version;

use super::*;
use crate::store::schema::{SCHEMA_V1, SCHEMA_VERSION};

#[test]
fn create_then_open_round_trip() {
    let (dir, path, store) = fresh();
    assert_eq!(store.profile().unwrap(), sample_profile());
    assert_eq!(store.path(), path);
    assert!(store.documents().unwrap().is_empty());
    drop(store);

    // No staging file is left behind.
    let names = file_names(dir.path());
    assert!(
        names.iter().all(|name| !name.contains("creating")),
        "{names:?}"
    );

    let store = Store::open(&path).unwrap();
    assert_eq!(store.profile().unwrap(), sample_profile());
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store
        .conn
        .pragma_query_value(None, "synchronous", |row| row.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = store
        .conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
    let app: i32 = store
        .conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
}

#[test]
fn create_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    std::fs::write(&path, b"precious").unwrap();
    let err = Store::create(&path, &sample_profile()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("a profile already exists at"));
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");

    let (_dir, path, store) = fresh();
    drop(store);
    let before = std::fs::read(&path).unwrap();
    let err = Store::create(&path, &sample_profile()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn open_refuses_a_missing_file_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("between init"), "{message}");
    assert!(!path.exists());
}

#[test]
fn random_bytes_are_reported_as_damage_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let bytes = noise(16 * 1024, 0x9E37_79B9_7F4A_7C15);
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("is damaged"), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn empty_and_tiny_files_are_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    std::fs::write(&path, b"").unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"");

    std::fs::write(&path, b"SQLite format 3\0").unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"SQLite format 3\0");
}

#[test]
fn a_folder_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}

#[test]
fn another_programs_database_is_refused_untouched() {
    for application_id in [0_i32, 0x1234_5678] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        write_foreign_database(&path, application_id);
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("not a Between store"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[test]
fn a_newer_store_asks_for_an_upgrade_and_is_left_untouched() {
    let (_dir, path, store) = fresh();
    drop(store);
    set_user_version(&path, SCHEMA_VERSION + 1);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Between"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_truncated_store_is_an_error_and_left_untouched() {
    let (dir, path, mut store) = fresh();
    store
        .add_document(doc_id(1), "Sam", 1, &noise(40 * 1024, 7))
        .unwrap();
    store.append_changes(doc_id(1), &noise(9000, 8)).unwrap();
    drop(store);

    let copy = dir.path().join("copy.sqlite3");
    std::fs::copy(&path, &copy).unwrap();
    cut_in_half(&copy);
    let before = std::fs::read(&copy).unwrap();
    let err = Store::open(&copy).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);

    // The original is still fine.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.documents().unwrap().len(), 1);
}

#[test]
fn a_store_without_schema_version_is_damage() {
    let (_dir, path, store) = fresh();
    drop(store);
    set_user_version(&path, 0);
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn a_version_1_store_is_migrated_and_keeps_its_documents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    {
        // A store exactly as the previous release wrote it.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO profile VALUES (1, 'client', 'Sam', x'0102', 7)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot) VALUES ('01010101010101010101010101010101', 'Sam', 5, x'534e4150')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO document_chunks (document_id, data) VALUES ('01010101010101010101010101010101', x'6f6e65')",
            [],
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 15);
    assert_eq!(store.profile().unwrap().display_name, "Sam");
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPone");
    // A profile that never synced has no account and nothing to sync.
    assert_eq!(store.account().unwrap(), None);
    assert!(store.sync_documents().unwrap().is_empty());
    assert!(store.devices().unwrap().is_empty());
    assert!(store.change_authors().unwrap().is_empty());
    // It still works as before.
    store.append_changes(doc_id(1), b"two").unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPonetwo");
    drop(store);
    // Opening again does not migrate again.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAPonetwo");
    // The document it held is the shared homework document.
    assert_eq!(store.documents().unwrap()[0].kind, DocumentKind::Shared);
}

#[test]
fn records_of_unsigned_envelopes_are_forgotten_by_version_8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        for migration in &MIGRATIONS[..7] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 7).unwrap();
        conn.execute(
            "INSERT INTO profile VALUES (1, 'client', 'Sam', x'0102', 7)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, kind) VALUES ('01010101010101010101010101010101', 'Sam', 5, x'534e4150', 'shared')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO wrapped_keys VALUES ('01010101010101010101010101010101', 1, 'phone'), ('01010101010101010101010101010101', 2, 'phone')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(store.wrapped_for(doc_id(1), 1).unwrap().is_empty());
    assert!(store.wrapped_for(doc_id(1), 2).unwrap().is_empty());
    assert_eq!(store.load_document(doc_id(1)).unwrap(), b"SNAP");
}

#[test]
fn version_4_marks_existing_documents_shared_and_allows_one_private_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    version_3_store(&path);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
    let docs = store.documents().unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].kind, DocumentKind::Shared);

    let sync = SyncRecord {
        document_id: doc_id(2).to_owned(),
        epoch: 1,
        on_relay: false,
        state: "{}".to_owned(),
        keys: vec![(1, [9; 32])],
    };
    store
        .add_private_document(doc_id(2), "Sam (private)", 6, b"PRIV", Some(&sync))
        .unwrap();
    let kinds: Vec<_> = store
        .documents()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (doc_id(1).to_owned(), DocumentKind::Shared),
            (doc_id(2).to_owned(), DocumentKind::Private)
        ]
    );
    // Its sync state and key were written with it.
    assert_eq!(store.sync_documents().unwrap(), vec![sync]);
    assert_eq!(store.load_document(doc_id(2)).unwrap(), b"PRIV");

    // A second private document is refused, and so is one with a taken id; nothing changes.
    let err = store
        .add_private_document(doc_id(3), "Other", 7, b"X", None)
        .unwrap_err();
    assert!(matches!(err, StoreError::PrivateDocumentExists), "{err}");
    assert_eq!(store.documents().unwrap().len(), 2);
    // The schema itself allows only one, whatever writes to it.
    assert!(store
        .conn
        .execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, kind)
             VALUES ('03030303030303030303030303030303', 'Other', 7, x'00', 'private')",
            [],
        )
        .is_err());
    assert!(store
        .conn
        .execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, kind)
             VALUES ('04040404040404040404040404040404', 'Odd', 7, x'00', 'secret')",
            [],
        )
        .is_err());
}
