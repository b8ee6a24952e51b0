//! Unit tests of the SQLite backend's own helpers (the contract is checked by `conformance`).

use super::batch::PUSH_DEVICE_SQL;
use super::*;

/// A version 1 database (as the previous release made it) holding one therapist and one
/// client account, an invite and an audit row.
fn version_1_database(path: &Path) {
    let v1 = Format {
        migrations: &[SCHEMA_V1],
        ..FORMAT
    };
    v1.create::<sqlite_file::Error>(path, |tx| {
        tx.execute_batch(
            "INSERT INTO accounts (id, identity_pub, role, created_at_ms)
             VALUES (zeroblob(16), zeroblob(32), 'therapist', 1),
                    (x'01010101010101010101010101010101', x'0101010101010101010101010101010101010101010101010101010101010101', 'client', 2);
             INSERT INTO invites (hash, kind, created_at_ms, expires_at_ms)
             VALUES (zeroblob(32), 'therapist', 1, 9999999999999);",
        )
        .map_err(|source| sqlite_file::Error::Database {
            path: path.to_path_buf(),
            source,
        })
    })
    .unwrap();
}

#[test]
fn a_version_1_database_gains_labels_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    version_1_database(&path);
    let mut store = SqliteStore::open(&path).unwrap();
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let accounts = store.list_accounts(None).unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|a| a.label.is_none()));
    let invite = store.redeem_invite(&InviteHash([0; 32]), 3).unwrap();
    assert_eq!(invite.label, None);
    // Version 3: accounts from before know no inviter, and documents have no list yet.
    let client = AccountId([1; 16]);
    assert_eq!(store.inviter_of(client).unwrap(), None);
    store.create_document(DocId([2; 16]), client, 4).unwrap();
    assert_eq!(store.membership(DocId([2; 16])).unwrap(), None);
    // The schema itself refuses a label on a client row, whatever the code above it does.
    assert!(store
        .conn
        .execute(
            "UPDATE accounts SET label = 'Sam' WHERE role = 'client'",
            []
        )
        .is_err());
    store
        .conn
        .execute(
            "UPDATE accounts SET label = 'Dr Ada Park' WHERE role = 'therapist'",
            [],
        )
        .unwrap();
    assert_eq!(
        store
            .list_accounts(Some(AccountRole::Therapist))
            .unwrap()
            .first()
            .and_then(|a| a.label.clone())
            .as_deref(),
        Some("Dr Ada Park")
    );
    store.verify_integrity().unwrap();
}

#[test]
fn the_statements_of_a_push_are_prepared_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("relay.sqlite3")).unwrap();
    let owner = AccountId([1; 16]);
    store
        .create_account(owner, [1; 32], AccountRole::Client, 1)
        .unwrap();
    let mut docs = Vec::new();
    for i in 1..=4_u8 {
        let device = DeviceId([i; 16]);
        store
            .register_device(&DeviceRecord {
                device,
                account: owner,
                signing_pub: [i; 32],
                certificate: vec![1],
                registered_at_ms: 1,
            })
            .unwrap();
        let doc = DocId([i; 16]);
        store.create_document(doc, owner, 1).unwrap();
        docs.push((doc, device));
    }
    for round in 0..5_u8 {
        let pushes: Vec<Push> = docs
            .iter()
            .map(|&(doc, device)| Push {
                doc,
                device,
                bundle: vec![round; 8],
                at_ms: 2,
                action: "append",
            })
            .collect();
        let writes: Vec<BatchWrite<'_>> = pushes.iter().map(BatchWrite::Push).collect();
        for result in store.write_batch(&writes).unwrap() {
            assert!(
                matches!(result, Ok(Written::Push(PushOutcome::Appended { .. }))),
                "{result:?}"
            );
        }
    }
    // Re-preparing parses and plans the statement again: once per push, it cost about a
    // third of the storage thread's time.
    let stmt = store.conn.prepare_cached(PUSH_DEVICE_SQL).unwrap();
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
}
