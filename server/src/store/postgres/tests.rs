//! What only the PostgreSQL backend can be asked: the write lock across connections and
//! processes, savepoints of a group commit, two relays on one database, schema versions, session
//! settings, the `VACUUM` after a deletion, reconnecting, and that no password reaches a message.
//! Each test skips without a server, like the contract suite (see [`super::testing`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::store::{AuditStore, DocumentStore, LogStore};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::schema::SCHEMA_VERSION;
use super::{PostgresStore, WRITE_LOCK_KEY};
use crate::store::conformance::{
    add_device, add_document, all_since, appended, audit, bundle, fresh_postgres, push_of, seqs, T0,
};
use crate::store::postgres::testing::{self, TestDatabase};
use crate::store::{BatchWrite, PushOutcome, RelayStore, Seq, StoreError, Written};

/// When another connection holds the write lock past the busy timeout, a group commit fails
/// whole with `Busy`, writes nothing, and reads go on meanwhile.
#[test]
fn a_batch_that_cannot_take_the_write_lock_is_busy_and_writes_nothing() {
    let Some((db, mut store)) = fresh_postgres() else {
        return;
    };
    let (alice, a) = add_document(&mut store, 1);
    let laptop = add_device(&mut store, 11, alice);
    let mut other = db.connect();
    other
        .execute("SELECT pg_advisory_lock($1)", &[&WRITE_LOCK_KEY])
        .unwrap();
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let push = push_of(a, laptop, bundle(1), T0);
    let record = audit(T0, None, "sign-in");
    let err = store
        .write_batch(&[BatchWrite::Push(&push), BatchWrite::Audit(&record)])
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    assert!(err.to_string().contains("busy"), "{err}");
    // Reads take no lock.
    assert_eq!(store.head(a).unwrap(), Seq::ZERO);
    other
        .execute("SELECT pg_advisory_unlock($1)", &[&WRITE_LOCK_KEY])
        .unwrap();
    assert_eq!(store.verify_audit().unwrap().rows, 0);
    assert!(matches!(
        store.push(&push).unwrap(),
        PushOutcome::Appended { seq: Seq(1), .. }
    ));
}

/// A write of a group commit that fails half-way (its bundle row collides with one planted
/// behind the store's back, after its head was bumped) is rolled back to its savepoint alone:
/// its document's head stays, no audit row is left, and the other writes commit.
#[test]
fn a_write_failing_half_way_is_undone_alone() {
    let Some((db, mut store)) = fresh_postgres() else {
        return;
    };
    let (alice, a) = add_document(&mut store, 1);
    let (bob, b) = add_document(&mut store, 2);
    let laptop = add_device(&mut store, 11, alice);
    let bobs = add_device(&mut store, 21, bob);
    db.connect()
        .execute(
            "INSERT INTO bundles (doc, seq, appended_at_ms, data) VALUES ($1, 1, 0, '\\x00')",
            &[&a.as_bytes().as_slice()],
        )
        .unwrap();
    let first = push_of(b, bobs, bundle(1), T0);
    let failing = push_of(a, laptop, bundle(2), T0);
    let last = push_of(b, bobs, bundle(3), T0);
    let results = store
        .write_batch(&[
            BatchWrite::Push(&first),
            BatchWrite::Push(&failing),
            BatchWrite::Push(&last),
        ])
        .unwrap();
    assert_eq!(appended(&results[0]), (Seq(1), 1));
    assert!(
        matches!(&results[1], Err(StoreError::Postgres { detail, .. }) if detail.contains("23505")),
        "{:?}",
        results[1]
    );
    assert_eq!(appended(&results[2]), (Seq(2), 2));
    assert_eq!(store.head(a).unwrap(), Seq::ZERO);
    assert_eq!(store.head(b).unwrap(), Seq(2));
    assert_eq!(seqs(&all_since(&store, b, 0)), [1, 2]);
    assert!(store.audit_for_doc(a, 0, 10).unwrap().is_empty());
    assert_eq!(store.verify_audit().unwrap().rows, 2);
}

/// Two relays on one database, each pushing 100 bundles to the same document in small group
/// commits at the same time: the write lock gives sequence numbers 1 to 200 without a gap or a
/// repeat, each relay's in the order it pushed, and one unbroken audit chain.
#[test]
fn two_relays_pushing_to_one_document_share_one_sequence_and_one_chain() {
    const PER_RELAY: u8 = 100;
    const BATCH: usize = 4;
    let Some((db, mut first)) = fresh_postgres() else {
        return;
    };
    let (owner, doc) = add_document(&mut first, 1);
    let devices = [
        add_device(&mut first, 11, owner),
        add_device(&mut first, 12, owner),
    ];
    let second = testing::open(&db);
    let start = Arc::new(Barrier::new(2));
    let relays: Vec<_> = [first, second]
        .into_iter()
        .zip(devices)
        .enumerate()
        .map(|(relay, (mut store, device))| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let tag = u8::try_from(relay).unwrap();
                let pushes: Vec<_> = (0..PER_RELAY)
                    .map(|i| push_of(doc, device, vec![tag, i], T0))
                    .collect();
                start.wait();
                let mut got = Vec::new();
                for chunk in pushes.chunks(BATCH) {
                    let writes: Vec<_> = chunk.iter().map(BatchWrite::Push).collect();
                    for (push, result) in chunk.iter().zip(store.write_batch(&writes).unwrap()) {
                        got.push((appended(&result).0, push.bundle.clone()));
                    }
                }
                (store, got)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut store = None;
    for relay in relays {
        let (relay_store, got) = relay.join().unwrap();
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{got:?}");
        all.extend(got);
        store = Some(relay_store);
    }
    let store = store.unwrap();
    all.sort();
    let numbers: Vec<u64> = all.iter().map(|(seq, _)| seq.0).collect();
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>());
    let stored: Vec<_> = all_since(&store, doc, 0)
        .into_iter()
        .map(|b| (b.seq, b.bytes))
        .collect();
    assert_eq!(stored, all);
    assert_eq!(store.verify_audit().unwrap().rows, 200);
}

/// The tables and the schema version of the test database, to compare before and after.
fn schema_of(db: &TestDatabase) -> (Vec<String>, Vec<i64>) {
    let mut client = db.connect();
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' ORDER BY table_name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let versions = client
        .query("SELECT version FROM between_relay_schema", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    (tables, versions)
}

/// A database a newer relay migrated is refused with an error that says to upgrade, and is
/// left as it was.
#[test]
fn a_newer_schema_asks_for_an_upgrade_and_is_left_untouched() {
    let Some((db, store)) = fresh_postgres() else {
        return;
    };
    drop(store);
    db.connect()
        .execute(
            "UPDATE between_relay_schema SET version = $1",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    let before = schema_of(&db);
    let err = PostgresStore::open(db.url()).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, supported, .. }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("upgrade between-relay"), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    assert_eq!(schema_of(&db), before);
}

/// Two relays starting together on an empty database both open it, and leave one schema; a
/// later open changes nothing and keeps the data.
#[test]
fn opening_twice_at_once_leaves_one_schema() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let start = Arc::new(Barrier::new(2));
    let opens: Vec<_> = (0..2)
        .map(|_| {
            let (start, url) = (Arc::clone(&start), db.url().to_owned());
            std::thread::spawn(move || {
                start.wait();
                PostgresStore::open(&url)
            })
        })
        .collect();
    let mut stores: Vec<PostgresStore> = opens
        .into_iter()
        .map(|open| open.join().unwrap().unwrap())
        .collect();
    let (tables, versions) = schema_of(&db);
    assert_eq!(versions, [SCHEMA_VERSION]);
    assert!(tables.contains(&"bundles".to_owned()), "{tables:?}");
    let (_, doc) = add_document(&mut stores[0], 1);
    drop(stores);
    let store = testing::open(&db);
    assert_eq!(schema_of(&db), (tables, versions));
    assert_eq!(store.head(doc).unwrap(), Seq::ZERO);
}

/// The session commits synchronously and waits 5 s for the write lock, even where the
/// database's defaults say otherwise; blob columns are stored uncompressed; the audit trail
/// cannot be changed through SQL.
#[test]
fn the_session_and_schema_are_as_promised() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    drop(testing::open(&db));
    let mut admin = db.connect();
    let name: String = admin
        .query_one("SELECT current_database()::text", &[])
        .unwrap()
        .get(0);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET synchronous_commit = off;
             ALTER DATABASE {name} SET lock_timeout = 0"
        ))
        .unwrap();
    let store = testing::open(&db);
    let settings: Vec<String> = ["synchronous_commit", "lock_timeout"]
        .iter()
        .map(|setting| {
            store
                .raw_client()
                .query_one(&format!("SHOW {setting}"), &[])
                .unwrap()
                .get(0)
        })
        .collect();
    assert_eq!(settings, ["on", "5s"]);
    let external: Vec<String> = admin
        .query(
            "SELECT c.relname::text || '.' || a.attname::text
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE a.atttypid = 'bytea'::regtype AND a.attstorage = 'e'
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        external,
        [
            "bundles.data",
            "key_envelopes.data",
            "memberships.data",
            "pairings.payload",
            "snapshot_parts.data",
            "snapshot_uploads.data",
            "snapshots.data",
        ]
    );
    let mut store = store;
    store.append_audit(&audit(T0, None, "sign-in")).unwrap();
    for sql in [
        "UPDATE audit SET action = 'read'",
        "DELETE FROM audit",
        "TRUNCATE audit",
    ] {
        let err = admin.batch_execute(sql).unwrap_err();
        assert!(format!("{err:?}").contains("append-only"), "{sql}: {err:?}");
    }
    assert_eq!(store.verify_audit().unwrap().rows, 1);
}

/// Deleting a document vacuums the tables that held its blobs, right after the commit.
#[test]
fn deleting_a_document_vacuums_its_blob_tables() {
    let Some((db, mut store)) = fresh_postgres() else {
        return;
    };
    let (_, doc) = add_document(&mut store, 1);
    for i in 1..=3 {
        store.append_bundle(doc, &vec![i; 4096], T0).unwrap();
    }
    store.delete_document(doc, T0).unwrap();
    let vacuumed: Vec<String> = db
        .connect()
        .query(
            "SELECT relname::text FROM pg_stat_user_tables
              WHERE last_vacuum IS NOT NULL ORDER BY relname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for table in super::BLOB_TABLES.split(", ") {
        assert!(vacuumed.iter().any(|t| t == table), "{table}: {vacuumed:?}");
    }
}

/// When the server ends the relay's session (a restart, an admin), the store connects again
/// and serves on: at most the request that found the connection gone fails.
#[test]
fn a_lost_connection_is_made_again() {
    let Some((db, mut store)) = fresh_postgres() else {
        return;
    };
    let (_, doc) = add_document(&mut store, 1);
    let pid: i32 = store
        .raw_client()
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    db.connect()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    // The first request may be the one that finds the connection closed.
    let _ = store.head(doc);
    assert_eq!(store.append_bundle(doc, b"after", T0).unwrap(), Seq(1));
    let results = store
        .write_batch(&[BatchWrite::Audit(&audit(T0, None, "sign-in"))])
        .unwrap();
    assert!(
        matches!(results[..], [Ok(Written::Audit(1))]),
        "{results:?}"
    );
}

/// A password in the URL never reaches a message: not when the server cannot be reached, and
/// not in how the store names the database.
#[test]
fn the_password_never_reaches_a_message() {
    let url = "postgresql://relay:s3cret-pw@127.0.0.1:1/between?connect_timeout=2";
    let err = PostgresStore::open(url).unwrap_err();
    assert!(matches!(err, StoreError::Postgres { .. }), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("s3cret-pw"), "{text}");
    }
    assert!(
        err.to_string()
            .contains("postgresql://relay@127.0.0.1:1/between"),
        "{err}"
    );
    let err = PostgresStore::open("postgresql://relay:s3cret-pw@[::1/x").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cret-pw"), "{err:?}");
}
