//! Test fixture: a PostgreSQL database of its own for each test (`between_e2e::postgres`,
//! which the end-to-end tests use too), and a store opened on it.

#![allow(clippy::unwrap_used)]

pub(crate) use between_e2e::postgres::TestDatabase;

use super::PostgresStore;

/// Opens a store on the test database (call from a plain thread, not an async task).
pub(crate) fn open(db: &TestDatabase) -> PostgresStore {
    PostgresStore::open(db.url()).unwrap()
}
