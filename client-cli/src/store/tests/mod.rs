//! Tests of the local store, by concern: opening, creating and migrating the file; documents
//! and compaction; syncing, sharing and the caseload.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod documents;
mod opening;
mod sync;

use tempfile::TempDir;

use super::schema::{APPLICATION_ID, MIGRATIONS};
use super::*;

/// Test document `n`: its id is `n` sixteen times (`"0101…01"` in SQL).
fn doc_id(n: u8) -> DocId {
    DocId([n; 16])
}

fn sample_profile() -> ProfileRecord {
    ProfileRecord {
        role: "client".to_owned(),
        display_name: "Sam".to_owned(),
        actor_id: (1..=16).collect(),
        created_at_ms: 1_700_000_000_000,
    }
}

fn fresh() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = Store::create(&path, &sample_profile()).unwrap();
    (dir, path, store)
}

/// A store as version 3 wrote it, with one shared document that syncs.
fn version_3_store(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    for migration in &MIGRATIONS[..3] {
        conn.execute_batch(migration).unwrap();
    }
    conn.pragma_update(None, "user_version", 3).unwrap();
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
}
