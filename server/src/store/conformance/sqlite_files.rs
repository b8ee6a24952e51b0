//! What only the SQLite backend can be asked: its files, pragmas and process-level behaviour.

use crate::store::{AccountStore, AuditStore, DocumentStore, LogStore, PairingStore};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use between_sqlite_file::testing::{
    cut_in_half, file_names, noise, scramble, set_user_version, write_foreign_database,
};
use between_sqlite_file::with_suffix;
use rusqlite::Connection;

use super::super::sqlite::{backup_database, APPLICATION_ID, SCHEMA_VERSION};
use super::*;

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `-wal` file of a database.
fn wal_of(path: &Path) -> PathBuf {
    with_suffix(path, "-wal")
}

/// A store holding one document with some bundles, closed again; returns its path.
fn populated(dir: &Path) -> PathBuf {
    let path = dir.join("relay.sqlite3");
    let mut store = SqliteStore::open(&path).unwrap();
    let (_, doc) = add_document(&mut store, 1);
    for i in 0..40_u8 {
        store
            .append_bundle(doc, &noise(3000, u64::from(i) + 1), T0)
            .unwrap();
    }
    drop(store);
    path
}

#[test]
fn pragmas_are_as_promised() {
    let (_dir, store) = fresh_sqlite();
    let conn = store.raw_connection();
    let text = |name: &str| -> String {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    };
    let number = |name: &str| -> i64 {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    };
    assert_eq!(text("journal_mode"), "wal");
    assert_eq!(number("synchronous"), 2, "synchronous=FULL");
    assert_eq!(number("foreign_keys"), 1);
    assert_eq!(number("secure_delete"), 1);
    assert_eq!(number("application_id"), i64::from(APPLICATION_ID));
    assert_eq!(number("user_version"), SCHEMA_VERSION);
    assert!(number("busy_timeout") > 0);
    store.verify_integrity().unwrap();
}

#[test]
fn creating_leaves_only_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    let names = file_names(dir.path());
    assert_eq!(names, ["relay.sqlite3"]);
    // And it opens again as it is.
    SqliteStore::open(&path).unwrap();
}

#[test]
fn committed_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    let mut store = SqliteStore::open(&path).unwrap();
    let (owner, doc) = add_document(&mut store, 1);
    let device = add_device(&mut store, 2, owner);
    for i in 1..=4 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
    }
    store.put_snapshot(doc, Seq(2), b"S2").unwrap();
    store.put_key_envelope(doc, 0, device, b"env").unwrap();
    store
        .put_pairing(Mailbox([5; 32]), b"pair", T0, T0 + 100)
        .unwrap();
    store
        .create_invite(&InviteRecord {
            hash: InviteHash([6; 32]),
            kind: AccountRole::Therapist,
            created_by: None,
            created_at_ms: T0,
            expires_at_ms: T0 + 100,
            label: None,
        })
        .unwrap();
    store.append_audit(&audit(T0, Some(doc), "append")).unwrap();
    let head = store.verify_audit().unwrap();
    drop(store);

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.head(doc).unwrap(), Seq(4));
    assert_eq!(seqs(&all_since(&store, doc, 0)), [3, 4]);
    assert_eq!(store.snapshot(doc).unwrap().unwrap().parts, [b"S2"]);
    assert_eq!(store.key_envelopes(doc, device).unwrap()[0].bytes, b"env");
    assert!(store.is_member(doc, owner).unwrap());
    assert_eq!(
        store.take_pairing(Mailbox([5; 32]), T0 + 1).unwrap(),
        Some(b"pair".to_vec())
    );
    store.redeem_invite(&InviteHash([6; 32]), T0 + 1).unwrap();
    assert_eq!(store.verify_audit().unwrap(), head);
    assert_eq!(store.append_bundle(doc, b"next", T0).unwrap(), Seq(5));
}

/// Set in the child process of [`acknowledged_appends_survive_kill_9`] to the database
/// path.
const CRASH_CHILD_ENV: &str = "BETWEEN_RELAY_TEST_CRASH_CHILD_DB";

/// Appends acknowledged before a `kill -9` are all there afterwards. The test re-runs its
/// own test binary as a child that appends, prints an acknowledgement after each append
/// returns, and waits to be killed; no destructor of the child runs.
#[test]
fn acknowledged_appends_survive_kill_9() {
    const APPENDS: u8 = 25;
    if let Some(path) = std::env::var_os(CRASH_CHILD_ENV) {
        // The test harness has printed "test … ... " without a newline; end that line.
        println!();
        let mut store = SqliteStore::open(Path::new(&path)).unwrap();
        let (_, doc) = add_document(&mut store, 1);
        for i in 1..=APPENDS {
            let seq = store.append_bundle(doc, &bundle(i), T0).unwrap();
            println!("ack {seq}");
        }
        println!("ready");
        loop {
            std::thread::park();
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    let module = module_path!();
    let test_name = format!(
        "{}::acknowledged_appends_survive_kill_9",
        module.split_once("::").map_or(module, |(_, rest)| rest)
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            test_name.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        if let Some(seq) = line.strip_prefix("ack ") {
            acked.push(seq.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(acked, (1..=u64::from(APPENDS)).collect::<Vec<_>>());
    // The commits were left in the write-ahead log, which the next open must read.
    assert!(std::fs::metadata(wal_of(&path)).unwrap().len() > 0);

    let store = SqliteStore::open(&path).unwrap();
    let doc = doc_id(1);
    assert_eq!(store.head(doc).unwrap(), Seq(u64::from(APPENDS)));
    let stored = all_since(&store, doc, 0);
    assert_eq!(seqs(&stored), acked);
    for b in stored {
        assert_eq!(b.bytes, bundle(u8::try_from(b.seq.0).unwrap()));
    }
    store.verify_integrity().unwrap();
}

#[test]
fn deleted_blobs_are_gone_from_the_files() {
    let marker: &[u8] = b"CANARY-between-relay-7f3a9c1e";
    let (_dir, mut store) = fresh_sqlite();
    let path = store.path().to_path_buf();
    let (owner, doc) = add_document(&mut store, 1);
    let (_, other) = add_document(&mut store, 2);
    let device = add_device(&mut store, 3, owner);
    // A small bundle (inside a b-tree page) and a large one (on overflow pages), the marker
    // at several places.
    let mut small = b"small:".to_vec();
    small.extend_from_slice(marker);
    let mut large = vec![0xA5_u8; 20_000];
    for at in [0, 4093, 9_000, 20_000 - marker.len()] {
        large[at..at + marker.len()].copy_from_slice(marker);
    }
    store.append_bundle(doc, &small, T0).unwrap();
    store.append_bundle(doc, &large, T0).unwrap();
    store.append_bundle(doc, &small, T0).unwrap();
    store.put_snapshot(doc, Seq(1), &large).unwrap();
    store.put_key_envelope(doc, 0, device, &small).unwrap();
    store.put_membership(doc, 1, &small, &[owner]).unwrap();
    store.append_bundle(other, b"unrelated", T0).unwrap();
    assert!(store.checkpoint().unwrap());
    // Reading the file in this process is safe here: nothing else uses it.
    assert!(contains(&std::fs::read(&path).unwrap(), marker));

    store.delete_document(doc, T0).unwrap();

    let main = std::fs::read(&path).unwrap();
    let wal = std::fs::read(wal_of(&path)).unwrap_or_default();
    assert!(
        !contains(&main, marker),
        "the marker is still in the database file"
    );
    assert!(
        !contains(&wal, marker),
        "the marker is still in the write-ahead log"
    );
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(seqs(&all_since(&store, other, 0)), [1]);
    store.verify_integrity().unwrap();
}

/// A store with an audit trail of five rows, and its path.
fn audited() -> (tempfile::TempDir, SqliteStore) {
    let (dir, mut store) = fresh_sqlite();
    for i in 0..5 {
        store
            .append_audit(&audit(T0 + i, Some(doc_id(1)), "read"))
            .unwrap();
    }
    assert_eq!(store.verify_audit().unwrap().rows, 5);
    (dir, store)
}

/// Lifts the append-only triggers, as someone with raw access to the file could.
fn drop_triggers(store: &SqliteStore) {
    store
        .raw_connection()
        .execute_batch(
            "DROP TRIGGER audit_is_append_only_update;
             DROP TRIGGER audit_is_append_only_delete;",
        )
        .unwrap();
}

#[test]
fn audit_rows_cannot_be_changed_through_sql() {
    let (_dir, store) = audited();
    let conn = store.raw_connection();
    assert!(conn
        .execute("UPDATE audit SET action = 'sign-in' WHERE id = 2", [])
        .is_err());
    assert!(conn.execute("DELETE FROM audit WHERE id = 5", []).is_err());
    assert_eq!(store.verify_audit().unwrap().rows, 5);
}

#[test]
fn an_altered_audit_row_is_detected() {
    for sql in [
        "UPDATE audit SET action = 'sign-in' WHERE id = 2",
        "UPDATE audit SET at_ms = at_ms + 1 WHERE id = 2",
        "UPDATE audit SET doc = NULL WHERE id = 2",
        "UPDATE audit SET account = zeroblob(16) WHERE id = 2",
    ] {
        let (_dir, store) = audited();
        drop_triggers(&store);
        store.raw_connection().execute(sql, []).unwrap();
        let err = store.verify_audit().unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::Broken {
                    row: 2,
                    problem: AuditProblem::Altered
                }
            ),
            "{sql}: {err:?}"
        );
        assert!(err.to_string().contains("tampered"), "{err}");
    }
}

#[test]
fn a_deleted_audit_row_is_detected() {
    let (_dir, store) = audited();
    drop_triggers(&store);
    store
        .raw_connection()
        .execute("DELETE FROM audit WHERE id = 3", [])
        .unwrap();
    let err = store.verify_audit().unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 4,
                problem: AuditProblem::Missing
            }
        ),
        "{err:?}"
    );

    // Removing the tail is caught by the recorded head; so is rewriting the head.
    let (_dir, mut store) = audited();
    drop_triggers(&store);
    store
        .raw_connection()
        .execute("DELETE FROM audit WHERE id = 5", [])
        .unwrap();
    let err = store.verify_audit().unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 5,
                problem: AuditProblem::Truncated { recorded_rows: 5 }
            }
        ),
        "{err:?}"
    );
    // Appending afterwards does not paper over the gap.
    store.append_audit(&audit(T0, None, "read")).unwrap();
    let err = store.verify_audit().unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 6,
                problem: AuditProblem::Missing
            }
        ),
        "{err:?}"
    );

    let (_dir, store) = audited();
    store
        .raw_connection()
        .execute("UPDATE audit_head SET rows = 4", [])
        .unwrap();
    let err = store.verify_audit().unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                problem: AuditProblem::HeadMismatch,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Rewrites rows `from..` of the chain and the recorded end so that they are consistent
/// again, as someone with write access to the file and this source could.
fn rechain_from(store: &SqliteStore, from: i64) {
    let conn = store.raw_connection();
    let mut prev: [u8; 32] = if from == 1 {
        [0; 32]
    } else {
        conn.query_row("SELECT hash FROM audit WHERE id = ?1", [from - 1], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let rows: Vec<(i64, AuditRecord)> = conn
        .prepare(
            "SELECT id, at_ms, account, device, doc, action FROM audit WHERE id >= ?1 ORDER BY id",
        )
        .unwrap()
        .query_map([from], |row| {
            Ok((
                row.get(0)?,
                AuditRecord {
                    at_ms: row.get(1)?,
                    account: row.get::<_, Option<_>>(2)?.map(AccountId),
                    device: row.get::<_, Option<_>>(3)?.map(DeviceId),
                    doc: row.get::<_, Option<_>>(4)?.map(DocId),
                    action: row.get(5)?,
                },
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut last = from - 1;
    for (id, record) in rows {
        prev = super::super::audit_hash(&prev, u64::try_from(id).unwrap(), &record);
        conn.execute(
            "UPDATE audit SET hash = ?2 WHERE id = ?1",
            rusqlite::params![id, prev],
        )
        .unwrap();
        last = id;
    }
    conn.execute(
        "UPDATE audit_head SET rows = ?1, hash = ?2",
        rusqlite::params![last, prev],
    )
    .unwrap();
}

#[test]
fn a_consistently_truncated_trail_is_caught_by_a_known_head() {
    let (_dir, store) = audited();
    let known = store.verify_audit().unwrap();
    drop_triggers(&store);
    store
        .raw_connection()
        .execute("DELETE FROM audit WHERE id >= 4", [])
        .unwrap();
    rechain_from(&store, 4);
    // The chain alone cannot tell a cut tail from a short trail …
    assert_eq!(store.verify_audit().unwrap().rows, 3);
    // … the head recorded earlier can.
    let err = store.verify_audit_since(&known).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 4,
                problem: AuditProblem::Truncated { recorded_rows: 5 }
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_consistently_rewritten_trail_is_caught_by_a_known_head() {
    let (_dir, store) = audited();
    let known = store.verify_audit().unwrap();
    drop_triggers(&store);
    store
        .raw_connection()
        .execute("UPDATE audit SET action = 'refused-read' WHERE id = 2", [])
        .unwrap();
    assert!(matches!(
        store.verify_audit().unwrap_err(),
        AuditError::Broken {
            row: 2,
            problem: AuditProblem::Altered
        }
    ));
    rechain_from(&store, 2);
    assert_eq!(store.verify_audit().unwrap().rows, 5);
    let err = store.verify_audit_since(&known).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 5,
                problem: AuditProblem::DiffersFromKnownHead
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("rewritten"), "{err}");
}

/// Asserts that opening `path` fails with `Corrupt` and leaves the file as it was.
fn assert_refused_as_damaged(path: &Path) {
    let before = std::fs::read(path).unwrap();
    let err = SqliteStore::open(path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("restore"), "{message}");
    assert!(message.contains("backup"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the file was modified"
    );
}

#[test]
fn random_bytes_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    std::fs::write(&path, noise(64 * 1024, 0x9E37_79B9_7F4A_7C15)).unwrap();
    assert_refused_as_damaged(&path);
}

#[test]
fn empty_and_tiny_files_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    for contents in [&b""[..], b"SQLite format 3\0"] {
        std::fs::write(&path, contents).unwrap();
        assert_refused_as_damaged(&path);
    }
}

#[test]
fn a_truncated_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path());
    cut_in_half(&path);
    assert_refused_as_damaged(&path);
}

#[test]
fn a_damaged_schema_page_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path());
    // Page 1 after the 100-byte header holds the schema b-tree.
    scramble(&path, 100..4096, 42);
    assert_refused_as_damaged(&path);
}

#[test]
fn a_newer_schema_asks_for_an_upgrade_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    set_user_version(&path, SCHEMA_VERSION + 1);
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade between-relay"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn other_databases_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for application_id in [0_i32, 0x4254_574E] {
        let path = dir.path().join(format!("other-{application_id}.sqlite3"));
        write_foreign_database(&path, application_id);
        let before = std::fs::read(&path).unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");

    // Ours, but without a schema version: damaged.
    let path = dir.path().join("relay.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    set_user_version(&path, 0);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_backup_is_consistent_while_the_relay_writes() {
    let (dir, mut store) = fresh_sqlite();
    let (_, doc) = add_document(&mut store, 1);
    for i in 0..50_u8 {
        store
            .append_bundle(doc, &noise(2000, u64::from(i) + 1), T0)
            .unwrap();
    }
    let path = store.path().to_path_buf();
    let dest = dir.path().join("backup.sqlite3");
    let writer = std::thread::spawn(move || {
        for i in 0..200_u8 {
            store
                .append_bundle(doc, &noise(2000, u64::from(i) + 100), T0)
                .unwrap();
        }
        store
    });
    backup_database(&path, &dest).unwrap();
    let store = writer.join().unwrap();
    assert_eq!(store.head(doc).unwrap(), Seq(250));

    let backup = SqliteStore::open(&dest).unwrap();
    backup.verify_integrity().unwrap();
    let head = backup.head(doc).unwrap();
    assert!(head >= Seq(50) && head <= Seq(250), "{head}");
    // A consistent state: every bundle up to its head, nothing after.
    let stored = all_since(&backup, doc, 0);
    assert_eq!(seqs(&stored), (1..=head.0).collect::<Vec<_>>());
    drop(backup);

    // An existing file is never overwritten.
    let before = std::fs::read(&dest).unwrap();
    let err = backup_database(store.path(), &dest).unwrap_err();
    assert!(
        matches!(&err, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), before);

    let second = dir.path().join("backup-2.sqlite3");
    backup_database(store.path(), &second).unwrap();
    assert_eq!(
        SqliteStore::open(&second).unwrap().head(doc).unwrap(),
        Seq(250)
    );
    let leftovers: Vec<_> = file_names(dir.path())
        .into_iter()
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_held_write_lock_is_busy_and_changes_nothing() {
    let (_dir, mut store) = fresh_sqlite();
    let (_, doc) = add_document(&mut store, 1);
    store.append_bundle(doc, b"one", T0).unwrap();
    let other = Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let err = store.append_bundle(doc, b"two", T0).unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    assert!(err.to_string().contains("busy"), "{err}");
    // Reads go on meanwhile.
    assert_eq!(store.head(doc).unwrap(), Seq(1));
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.append_bundle(doc, b"two", T0).unwrap(), Seq(2));
}

/// A write of a group commit that fails half-way (here: its bundle row collides with one
/// planted behind the store's back, after its head was already bumped) is rolled back to its
/// savepoint alone: its document's head stays, no audit row is left, and the other writes of
/// the batch commit.
#[test]
fn a_write_failing_half_way_is_undone_alone() {
    let (_dir, mut store) = fresh_sqlite();
    let (alice, a) = add_document(&mut store, 1);
    let (bob, b) = add_document(&mut store, 2);
    let laptop = add_device(&mut store, 11, alice);
    let bobs = add_device(&mut store, 21, bob);
    store
        .raw_connection()
        .execute(
            "INSERT INTO bundles (doc, seq, appended_at_ms, data) VALUES (?1, 1, 0, x'00')",
            [a.as_bytes()],
        )
        .unwrap();
    let first = push_of(b, bobs, bundle(1), T0);
    let failing = push_of(a, laptop, bundle(2), T0);
    let last = push_of(b, bobs, bundle(3), T0);
    let results = store
        .write_batch(&[
            super::super::BatchWrite::Push(&first),
            super::super::BatchWrite::Push(&failing),
            super::super::BatchWrite::Push(&last),
        ])
        .unwrap();
    assert_eq!(appended(&results[0]), (Seq(1), 1));
    assert!(
        matches!(results[1], Err(StoreError::Database { .. })),
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

/// When a group commit cannot commit (another process holds the write lock past the busy
/// timeout), the whole batch fails and nothing of it is written.
#[test]
fn a_batch_that_cannot_commit_writes_nothing() {
    let (_dir, mut store) = fresh_sqlite();
    let (alice, a) = add_document(&mut store, 1);
    let laptop = add_device(&mut store, 11, alice);
    let other = Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let push = push_of(a, laptop, bundle(1), T0);
    let record = audit(T0, None, "sign-in");
    let err = store
        .write_batch(&[
            super::super::BatchWrite::Push(&push),
            super::super::BatchWrite::Audit(&record),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.head(a).unwrap(), Seq::ZERO);
    assert_eq!(store.verify_audit().unwrap().rows, 0);
}
