//! The conformance suite of [`RelayStore`]: one check per clause of the transaction contract,
//! each a plain function over `&mut dyn RelayStore`.
//!
//! [`contract_suite!`] runs every check against each backend — a fresh [`SqliteStore`] on a
//! temporary file and a fresh [`PostgresStore`] in a test database of its own, and each of them
//! through a [`StoreHandle`] — so a new backend gets the whole suite by adding one module there.
//! Through the handle, the checks reach the store only through its queue ([`ThroughHandle`]):
//! pushes and audit records go through its group commit, and a check's batch of writes is queued
//! as that many callers' writes that the storage thread commits together, so a handle that
//! batches wrongly fails the same checks as a backend would. Checks use fixed times and ids: the
//! store takes time as an argument and never reads a clock. The PostgreSQL modules need a server
//! (see [`TestDatabase`]); without one they are skipped, unless `BETWEEN_REQUIRE_POSTGRES=1`.
//!
//! The checks live by concern: [`accounts`], [`documents`], [`log`], [`group_commit`] and
//! [`audit_pairing`]. The [`sqlite_files`] module holds what only the SQLite backend can be
//! asked: pragmas, the bytes in its files after a deletion, tampering with raw SQL, damaged and
//! foreign files, a `kill -9` of a real process, backups while writing, and lock contention.
//! What only the PostgreSQL backend can be asked is in `postgres/tests.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::handle::StoreHandle;
use super::postgres::testing::{self, TestDatabase};
use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::{
    AccountId, AccountRecord, AccountRole, AccountSummary, AuditEntry, AuditError, AuditHead,
    AuditProblem, AuditRecord, Bundle, Conflict, DeviceId, DeviceRecord, DocId, DocStats,
    InviteError, InviteHash, InviteRecord, KeyEnvelope, LogPage, Mailbox, MemberOf, Missing,
    Purged, Registration, RelayStore, Seq, Snapshot, SnapshotProgress, SnapshotUpload, StoreError,
    StoredMembership,
};

/// A fixed "now" for the checks (Unix milliseconds).
pub(super) const T0: i64 = 1_700_000_000_000;

/// An account id made of one repeated byte.
fn account_id(n: u8) -> AccountId {
    AccountId([n; 16])
}

/// A device id made of one repeated byte.
fn device_id(n: u8) -> DeviceId {
    DeviceId([n; 16])
}

/// A document id made of one repeated byte.
fn doc_id(n: u8) -> DocId {
    DocId([n; 16])
}

/// Creates account `n` with identity key `[n; 32]`.
fn add_account(store: &mut dyn RelayStore, n: u8, role: AccountRole) -> AccountId {
    let account = account_id(n);
    store.create_account(account, [n; 32], role, T0).unwrap();
    account
}

/// A device record `n` for `account`, with signing key `[n; 32]`.
fn device_record(n: u8, account: AccountId) -> DeviceRecord {
    DeviceRecord {
        device: device_id(n),
        account,
        signing_pub: [n; 32],
        certificate: vec![n, 0xCE, 0x27],
        registered_at_ms: T0 + i64::from(n),
    }
}

/// Registers device `n` for `account`.
pub(super) fn add_device(store: &mut dyn RelayStore, n: u8, account: AccountId) -> DeviceId {
    let record = device_record(n, account);
    store.register_device(&record).unwrap();
    record.device
}

/// Creates client account `n` and a document `n` it owns.
pub(super) fn add_document(store: &mut dyn RelayStore, n: u8) -> (AccountId, DocId) {
    let owner = add_account(store, n, AccountRole::Client);
    let doc = doc_id(n);
    store.create_document(doc, owner, T0).unwrap();
    (owner, doc)
}

/// The `i`th test bundle: `i` repeated `10 * i` times.
pub(super) fn bundle(i: u8) -> Vec<u8> {
    vec![i; 10 * usize::from(i)]
}

/// The sequence numbers of some bundles.
pub(super) fn seqs(bundles: &[Bundle]) -> Vec<u64> {
    bundles.iter().map(|b| b.seq.0).collect()
}

/// All stored bundles of `doc` after `since`.
pub(super) fn all_since(store: &dyn RelayStore, doc: DocId, since: u64) -> Vec<Bundle> {
    store
        .bundles_since(doc, Seq(since), usize::MAX, usize::MAX)
        .unwrap()
}

/// An audit record.
pub(super) fn audit(at_ms: i64, doc: Option<DocId>, action: &str) -> AuditRecord {
    AuditRecord {
        at_ms,
        account: Some(account_id(1)),
        device: Some(device_id(2)),
        doc,
        action: action.to_owned(),
    }
}

mod accounts;
mod audit_pairing;
mod documents;
mod group_commit;
mod log;
mod sqlite_files;
mod through_handle;

use accounts::*;
use audit_pairing::*;
use documents::*;
use group_commit::*;
use log::*;
use through_handle::ThroughHandle;

/// A push by `device` of `bundle` to `doc`, recorded as an `append`.
pub(super) fn push_of(doc: DocId, device: DeviceId, bundle: Vec<u8>, at_ms: i64) -> super::Push {
    super::Push {
        doc,
        device,
        bundle,
        at_ms,
        action: "append",
    }
}

/// The outcome of an accepted push, or a panic naming what came back instead.
pub(super) fn appended(result: &Result<super::Written, StoreError>) -> (Seq, u64) {
    match result {
        Ok(super::Written::Push(super::PushOutcome::Appended { seq, audit_row })) => {
            (*seq, *audit_row)
        }
        other => panic!("expected an appended push, got {other:?}"),
    }
}

/// Generates one test per check and backend. Every check must be listed here.
macro_rules! contract_suite {
    ($($check:ident),* $(,)?) => {
        /// Every contract check against a fresh [`SqliteStore`] on a temporary file.
        mod sqlite_store {
            $(
                #[test]
                fn $check() {
                    let (_dir, mut store) = super::fresh_sqlite();
                    super::$check(&mut store);
                }
            )*
        }

        /// Every contract check through a [`StoreHandle`] on a [`SqliteStore`]: each call
        /// goes through its queue, and group commits through its batching.
        mod store_handle {
            $(
                #[test]
                fn $check() {
                    let (_dir, mut store) = super::fresh_handle();
                    super::$check(&mut store);
                    store.shutdown();
                }
            )*
        }

        /// Every contract check against a fresh [`PostgresStore`] in a test database of its
        /// own (skipped without a server).
        mod postgres_store {
            $(
                #[test]
                fn $check() {
                    let Some((_db, mut store)) = super::fresh_postgres() else {
                        return;
                    };
                    super::$check(&mut store);
                }
            )*
        }

        /// Every contract check through a [`StoreHandle`] on a [`PostgresStore`], like
        /// `store_handle` (skipped without a server).
        mod postgres_handle {
            $(
                #[test]
                fn $check() {
                    let Some((_db, mut store)) = super::fresh_postgres_handle() else {
                        return;
                    };
                    super::$check(&mut store);
                    store.shutdown();
                }
            )*
        }
    };
}

contract_suite!(
    accounts_and_devices,
    invites_are_one_time,
    invites_expire,
    registration_with_an_invite_is_atomic,
    membership,
    sequence_numbers_are_consecutive_and_never_reused,
    bundles_since_pages_in_order,
    compaction_keeps_only_the_tail,
    snapshot_refusals_change_nothing,
    a_snapshot_in_parts_is_stored_whole_or_not_at_all,
    deleting_a_document_removes_everything,
    key_envelopes_per_recipient,
    pairing_mailboxes_are_one_time,
    pairing_mailboxes_expire,
    audit_trail_chains_and_pages,
    documents_list_ids_and_sizes,
    staff_labels_and_account_listing,
    disabling_and_enabling_accounts,
    audit_for_account_pages,
    audit_verifies_against_a_known_head,
    signed_membership_replaces_members,
    membership_serial_never_goes_back,
    membership_refusals_change_nothing,
    documents_of_and_shared_documents,
    the_inviter_is_remembered,
    group_commit_keeps_order_across_documents,
    group_commit_refusals_stand_alone,
);

/// A new SQLite store in a new temporary folder (kept alive by the returned guard).
fn fresh_sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.sqlite3")).unwrap();
    (dir, store)
}

/// A new SQLite store behind a [`StoreHandle`], reached only through it.
fn fresh_handle() -> (tempfile::TempDir, ThroughHandle) {
    let dir = tempfile::tempdir().unwrap();
    let store = ThroughHandle::open(StoreHandle::open_sqlite(dir.path().join("relay.sqlite3")));
    (dir, store)
}

/// A new PostgreSQL store in a new test database (dropped with the returned guard); `None` when
/// no server is configured.
pub(super) fn fresh_postgres() -> Option<(TestDatabase, PostgresStore)> {
    let db = TestDatabase::create()?;
    let store = testing::open(&db);
    Some((db, store))
}

/// A new PostgreSQL store behind a [`StoreHandle`], reached only through it; `None` when no
/// server is configured.
fn fresh_postgres_handle() -> Option<(TestDatabase, ThroughHandle)> {
    let db = TestDatabase::create()?;
    let store = ThroughHandle::open(StoreHandle::open_postgres(db.url().to_owned()));
    Some((db, store))
}
