//! The conformance suite of [`RelayStore`]: one check per clause of the transaction contract,
//! each a plain function over `&mut dyn RelayStore`.
//!
//! [`contract_suite!`] runs every check against each backend — a fresh [`SqliteStore`] on a
//! temporary file and a fresh [`PostgresStore`] in a test database of its own, and each of them
//! through a [`StoreHandle`] on its storage thread — so a new backend gets the whole suite by
//! adding one module there. Checks use fixed times and ids: the store takes time as an argument
//! and never reads a clock. The PostgreSQL modules need a server (see
//! [`TestDatabase`]); without one they are skipped, unless `BETWEEN_REQUIRE_POSTGRES=1`.
//!
//! The `sqlite_files` module holds what only the SQLite backend can be asked: pragmas, the bytes
//! in its files after a deletion, tampering with raw SQL, damaged and foreign files, a `kill -9`
//! of a real process, backups while writing, and lock contention. What only the PostgreSQL
//! backend can be asked is in `postgres/tests.rs`.

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
    AccountId::from_bytes([n; 16])
}

/// A device id made of one repeated byte.
fn device_id(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 16])
}

/// A document id made of one repeated byte.
fn doc_id(n: u8) -> DocId {
    DocId::from_bytes([n; 16])
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

// ---------------------------------------------------------------------------------------------
// The contract checks.
// ---------------------------------------------------------------------------------------------

/// Accounts and devices: create, look up, conflicts, disable.
fn accounts_and_devices(store: &mut dyn RelayStore) {
    let alice = add_account(store, 1, AccountRole::Client);
    let record = store.account(alice).unwrap().unwrap();
    assert_eq!(
        record,
        AccountRecord {
            account: alice,
            identity_pub: [1; 32],
            role: AccountRole::Client,
            created_at_ms: T0,
            disabled_at_ms: None,
            label: None,
        }
    );
    assert_eq!(store.account_by_identity(&[1; 32]).unwrap(), Some(record));
    assert_eq!(store.account(account_id(99)).unwrap(), None);
    assert_eq!(store.account_by_identity(&[99; 32]).unwrap(), None);

    let err = store
        .create_account(alice, [2; 32], AccountRole::Therapist, T0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::AccountExists(id)) if id == alice),
        "{err:?}"
    );
    let err = store
        .create_account(account_id(2), [1; 32], AccountRole::Therapist, T0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::IdentityKeyInUse)),
        "{err:?}"
    );
    assert_eq!(store.account(account_id(2)).unwrap(), None);

    let laptop = device_record(10, alice);
    store.register_device(&laptop).unwrap();
    let err = store.register_device(&laptop).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::DeviceExists(_))),
        "{err:?}"
    );
    let mut same_key = device_record(11, alice);
    same_key.signing_pub = laptop.signing_pub;
    let err = store.register_device(&same_key).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::SigningKeyInUse)),
        "{err:?}"
    );
    let err = store
        .register_device(&device_record(12, account_id(98)))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );

    let entry = store.device(laptop.device).unwrap().unwrap();
    assert_eq!(entry.record, laptop);
    assert_eq!(entry.role, AccountRole::Client);
    assert!(!entry.disabled);
    assert_eq!(store.device(device_id(97)).unwrap(), None);

    let phone = device_record(13, alice);
    store.register_device(&phone).unwrap();
    let bob = add_account(store, 3, AccountRole::Therapist);
    add_device(store, 14, bob);
    let mine: Vec<_> = store
        .devices_of(alice)
        .unwrap()
        .into_iter()
        .map(|entry| entry.record)
        .collect();
    assert_eq!(mine, [laptop.clone(), phone.clone()]);
    let listed: Vec<_> = store
        .list_devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.device, d.account, d.role, d.registered_at_ms, d.disabled))
        .collect();
    assert_eq!(
        listed,
        [
            (laptop.device, alice, AccountRole::Client, T0 + 10, false),
            (phone.device, alice, AccountRole::Client, T0 + 13, false),
            (device_id(14), bob, AccountRole::Therapist, T0 + 14, false),
        ]
    );

    store.disable_device(phone.device, T0 + 5).unwrap();
    assert!(store.device(phone.device).unwrap().unwrap().disabled);
    assert!(!store.device(laptop.device).unwrap().unwrap().disabled);
    let err = store.disable_device(device_id(96), T0).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Device(_))),
        "{err:?}"
    );

    store.disable_account(alice, T0 + 10).unwrap();
    store.disable_account(alice, T0 + 20).unwrap();
    assert_eq!(
        store.account(alice).unwrap().unwrap().disabled_at_ms,
        Some(T0 + 10)
    );
    assert!(store.device(laptop.device).unwrap().unwrap().disabled);
    assert!(!store.device(device_id(14)).unwrap().unwrap().disabled);
    let err = store
        .register_device(&device_record(15, alice))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::AccountDisabled(id)) if id == alice),
        "{err:?}"
    );
    let err = store.disable_account(account_id(95), T0).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
}

/// An invite redeems once; every refusal reads the same outwardly but differs in its reason.
fn invites_are_one_time(store: &mut dyn RelayStore) {
    let admin = add_account(store, 1, AccountRole::Admin);
    let invite = InviteRecord {
        hash: InviteHash::from_bytes([7; 32]),
        kind: AccountRole::Therapist,
        created_by: Some(admin),
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&invite).unwrap();
    let err = store.create_invite(&invite).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::InviteExists)),
        "{err:?}"
    );
    let orphan = InviteRecord {
        hash: InviteHash::from_bytes([8; 32]),
        created_by: Some(account_id(99)),
        ..invite.clone()
    };
    let err = store.create_invite(&orphan).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );

    assert_eq!(store.redeem_invite(&invite.hash, T0 + 1).unwrap(), invite);
    let used = store.redeem_invite(&invite.hash, T0 + 2).unwrap_err();
    assert!(matches!(used, InviteError::Used), "{used:?}");
    let unknown = store
        .redeem_invite(&InviteHash::from_bytes([9; 32]), T0)
        .unwrap_err();
    assert!(matches!(unknown, InviteError::Unknown), "{unknown:?}");
    // The orphan was never stored.
    let err = store.redeem_invite(&orphan.hash, T0).unwrap_err();
    assert!(matches!(err, InviteError::Unknown), "{err:?}");

    assert_eq!(used.to_string(), unknown.to_string());
    assert_ne!(used.reason(), unknown.reason());
    assert!(!matches!(used, InviteError::Store(_)) && !matches!(unknown, InviteError::Store(_)));
}

/// An invite is valid while `now < expires_at`; a refused redemption consumes nothing; purging
/// removes expired invites.
fn invites_expire(store: &mut dyn RelayStore) {
    let invite = InviteRecord {
        hash: InviteHash::from_bytes([3; 32]),
        kind: AccountRole::Client,
        created_by: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&invite).unwrap();
    let expired = store.redeem_invite(&invite.hash, T0 + 1000).unwrap_err();
    assert!(matches!(expired, InviteError::Expired), "{expired:?}");
    assert_eq!(expired.to_string(), InviteError::Unknown.to_string());
    assert_eq!(expired.reason(), "invite-expired");
    // The refusal changed nothing: a (skewed) earlier clock may still redeem it, once.
    assert_eq!(store.redeem_invite(&invite.hash, T0 + 999).unwrap(), invite);
    let err = store.redeem_invite(&invite.hash, T0 + 999).unwrap_err();
    assert!(matches!(err, InviteError::Used), "{err:?}");

    let later = InviteRecord {
        hash: InviteHash::from_bytes([4; 32]),
        expires_at_ms: T0 + 5000,
        ..invite.clone()
    };
    store.create_invite(&later).unwrap();
    assert_eq!(
        store.purge_expired(T0 + 1000).unwrap(),
        Purged {
            pairings: 0,
            invites: 1
        }
    );
    let err = store.redeem_invite(&invite.hash, T0).unwrap_err();
    assert!(matches!(err, InviteError::Unknown), "{err:?}");
    assert_eq!(store.redeem_invite(&later.hash, T0 + 1001).unwrap(), later);
}

/// Registering with an invite creates account and device and consumes the invite together, or
/// does none of it.
fn registration_with_an_invite_is_atomic(store: &mut dyn RelayStore) {
    let therapist = add_account(store, 1, AccountRole::Therapist);
    let invite = InviteRecord {
        hash: InviteHash::from_bytes([5; 32]),
        kind: AccountRole::Client,
        created_by: Some(therapist),
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&invite).unwrap();

    // The identity key is taken: nothing happens, and the invite is still good.
    let clash = Registration {
        role: AccountRole::Client,
        invite: invite.hash,
        account: account_id(2),
        identity_pub: [1; 32],
        device: device_record(20, account_id(2)),
    };
    let err = store.register_with_invite(&clash, T0 + 1).unwrap_err();
    assert!(
        matches!(
            err,
            InviteError::Store(StoreError::Conflict(Conflict::IdentityKeyInUse))
        ),
        "{err:?}"
    );
    assert_eq!(store.account(account_id(2)).unwrap(), None);
    assert_eq!(store.device(device_id(20)).unwrap(), None);

    let mismatch = Registration {
        role: AccountRole::Client,
        identity_pub: [2; 32],
        device: device_record(20, account_id(3)),
        ..clash.clone()
    };
    let err = store.register_with_invite(&mismatch, T0 + 1).unwrap_err();
    assert!(
        matches!(
            err,
            InviteError::Store(StoreError::Conflict(Conflict::DeviceAccountMismatch))
        ),
        "{err:?}"
    );

    let good = Registration {
        role: AccountRole::Client,
        identity_pub: [2; 32],
        ..clash.clone()
    };
    let account = store.register_with_invite(&good, T0 + 2).unwrap();
    assert_eq!(
        account,
        AccountRecord {
            account: account_id(2),
            identity_pub: [2; 32],
            role: AccountRole::Client,
            created_at_ms: T0 + 2,
            disabled_at_ms: None,
            label: None,
        }
    );
    assert_eq!(store.account(account_id(2)).unwrap(), Some(account));
    let device = store.device(device_id(20)).unwrap().unwrap();
    assert_eq!(device.record, good.device);
    assert_eq!(device.role, AccountRole::Client);

    let again = Registration {
        role: AccountRole::Client,
        account: account_id(4),
        identity_pub: [4; 32],
        device: device_record(21, account_id(4)),
        ..good
    };
    let err = store.register_with_invite(&again, T0 + 3).unwrap_err();
    assert!(matches!(err, InviteError::Used), "{err:?}");
    assert_eq!(store.account(account_id(4)).unwrap(), None);
}

/// Documents and membership: the owner is a member and stays one.
fn membership(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let therapist = add_account(store, 2, AccountRole::Therapist);
    let err = store.create_document(doc, client, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::DocumentExists(id)) if id == doc),
        "{err:?}"
    );
    let err = store
        .create_document(doc_id(50), account_id(99), T0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
    assert_eq!(store.document(doc_id(50)).unwrap(), None);

    assert!(store.is_member(doc, client).unwrap());
    assert!(!store.is_member(doc, therapist).unwrap());
    assert!(store.add_member(doc, therapist).unwrap());
    assert!(!store.add_member(doc, therapist).unwrap());
    assert!(store.is_member(doc, therapist).unwrap());
    let mut expected = vec![client, therapist];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);

    let err = store.add_member(doc_id(51), therapist).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    let err = store.add_member(doc, account_id(98)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );

    let err = store.remove_member(doc, client).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::OwnerIsAlwaysMember)),
        "{err:?}"
    );
    assert!(store.is_member(doc, client).unwrap());
    assert!(store.remove_member(doc, therapist).unwrap());
    assert!(!store.remove_member(doc, therapist).unwrap());
    assert!(!store.is_member(doc, therapist).unwrap());
    assert_eq!(store.members(doc).unwrap(), [client]);
    let err = store.remove_member(doc_id(51), therapist).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );

    assert!(!store.is_member(doc_id(51), client).unwrap());
    let err = store.members(doc_id(51)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    assert_eq!(
        store.document(doc).unwrap(),
        Some(DocStats {
            doc,
            owner: client,
            created_at_ms: T0,
            bundles: 0,
            bytes: 0,
            head: Seq::ZERO,
            snapshot_covers: None,
        })
    );
}

/// Appends are numbered 1, 2, 3, … per document, and numbers are never reused after
/// compaction.
fn sequence_numbers_are_consecutive_and_never_reused(store: &mut dyn RelayStore) {
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
fn bundles_since_pages_in_order(store: &mut dyn RelayStore) {
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
fn compaction_keeps_only_the_tail(store: &mut dyn RelayStore) {
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
fn snapshot_refusals_change_nothing(store: &mut dyn RelayStore) {
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
fn a_snapshot_in_parts_is_stored_whole_or_not_at_all(store: &mut dyn RelayStore) {
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

/// Deleting a document removes all of it, leaves other documents alone, and retires its id.
fn deleting_a_document_removes_everything(store: &mut dyn RelayStore) {
    let (owner, doc) = add_document(store, 1);
    let (_, other) = add_document(store, 2);
    let therapist = add_account(store, 3, AccountRole::Therapist);
    let device = add_device(store, 4, therapist);
    store
        .put_membership(doc, 1, b"signed list", &[owner, therapist])
        .unwrap();
    for i in 1..=3 {
        store.append_bundle(doc, &bundle(i), T0).unwrap();
        store.append_bundle(other, &bundle(i), T0).unwrap();
    }
    store.put_snapshot(doc, Seq(2), b"snapshot").unwrap();
    store.put_key_envelope(doc, 0, device, b"envelope").unwrap();
    store
        .put_key_envelope(other, 0, device, b"other envelope")
        .unwrap();
    store.append_audit(&audit(T0, Some(doc), "append")).unwrap();

    assert_eq!(store.deleted_at(doc).unwrap(), None);
    store.delete_document(doc, T0 + 1).unwrap();

    assert_eq!(store.document(doc).unwrap(), None);
    assert_eq!(store.deleted_at(doc).unwrap(), Some(T0 + 1));
    assert_eq!(store.deleted_at(other).unwrap(), None);
    assert_eq!(store.deleted_at(doc_id(99)).unwrap(), None);
    assert!(!store.is_member(doc, owner).unwrap());
    assert!(!store.is_member(doc, therapist).unwrap());
    assert!(store.documents_of(therapist).unwrap().is_empty());
    assert!(!store.shares_document(owner, therapist).unwrap());
    for err in [
        store.members(doc).unwrap_err(),
        store.membership(doc).unwrap_err(),
        store.head(doc).unwrap_err(),
        store.snapshot(doc).unwrap_err(),
        store
            .bundles_since(doc, Seq::ZERO, 10, usize::MAX)
            .unwrap_err(),
        store.key_envelopes(doc, device).unwrap_err(),
        store.append_bundle(doc, b"late", T0).unwrap_err(),
        store.delete_document(doc, T0).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::NotFound(Missing::Document(id)) if id == doc),
            "{err:?}"
        );
    }
    // The id is retired, so its sequence numbers can never be handed out again.
    let err = store.create_document(doc, owner, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::DocumentDeleted(id)) if id == doc),
        "{err:?}"
    );

    let docs: Vec<_> = store
        .documents()
        .unwrap()
        .into_iter()
        .map(|d| d.doc)
        .collect();
    assert_eq!(docs, [other]);
    assert_eq!(store.head(other).unwrap(), Seq(3));
    assert_eq!(seqs(&all_since(store, other, 0)), [1, 2, 3]);
    assert_eq!(store.key_envelopes(other, device).unwrap().len(), 1);
    // The audit trail (ids only) keeps the record of what happened.
    assert_eq!(store.audit_for_doc(doc, 0, 10).unwrap().len(), 1);
}

/// Key envelopes: per recipient, by epoch; idempotent; never silently replaced.
fn key_envelopes_per_recipient(store: &mut dyn RelayStore) {
    let (owner, doc) = add_document(store, 1);
    let d1 = add_device(store, 10, owner);
    let d2 = add_device(store, 11, owner);
    store.put_key_envelope(doc, 1, d1, b"e1 for d1").unwrap();
    store.put_key_envelope(doc, 0, d1, b"e0 for d1").unwrap();
    store.put_key_envelope(doc, 0, d2, b"e0 for d2").unwrap();
    store
        .put_key_envelope(doc, u32::MAX, d2, b"last epoch")
        .unwrap();
    let envelope = |epoch, bytes: &[u8]| KeyEnvelope {
        epoch,
        bytes: bytes.to_vec(),
    };
    assert_eq!(
        store.key_envelopes(doc, d1).unwrap(),
        [envelope(0, b"e0 for d1"), envelope(1, b"e1 for d1")]
    );
    assert_eq!(
        store.key_envelopes(doc, d2).unwrap(),
        [envelope(0, b"e0 for d2"), envelope(u32::MAX, b"last epoch")]
    );

    store.put_key_envelope(doc, 0, d1, b"e0 for d1").unwrap();
    store.put_key_envelope(doc, 0, d1, b"replaced").unwrap();
    assert_eq!(
        store.key_envelopes(doc, d1).unwrap(),
        [envelope(0, b"replaced"), envelope(1, b"e1 for d1")],
        "a second envelope for the same epoch and device replaces the first"
    );

    let err = store.put_key_envelope(doc_id(99), 0, d1, b"x").unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    let err = store
        .put_key_envelope(doc, 0, device_id(99), b"x")
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Device(_))),
        "{err:?}"
    );
    assert!(store.key_envelopes(doc, device_id(99)).unwrap().is_empty());
}

/// A pairing payload can be taken once.
fn pairing_mailboxes_are_one_time(store: &mut dyn RelayStore) {
    let mailbox = Mailbox::from_bytes([7; 32]);
    store.put_pairing(mailbox, b"hello", T0, T0 + 100).unwrap();
    let err = store
        .put_pairing(mailbox, b"imposter", T0 + 1, T0 + 100)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::MailboxInUse)),
        "{err:?}"
    );
    assert_eq!(
        store.take_pairing(mailbox, T0 + 2).unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(store.take_pairing(mailbox, T0 + 3).unwrap(), None);
    assert_eq!(
        store
            .take_pairing(Mailbox::from_bytes([8; 32]), T0)
            .unwrap(),
        None
    );
    let err = store
        .put_pairing(mailbox, b"stale", T0 + 10, T0 + 10)
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // Once taken, the mailbox can be used again.
    store
        .put_pairing(mailbox, b"reply", T0 + 4, T0 + 100)
        .unwrap();
    assert_eq!(
        store.take_pairing(mailbox, T0 + 5).unwrap(),
        Some(b"reply".to_vec())
    );
}

/// An expired pairing payload is never handed out, and is deleted.
fn pairing_mailboxes_expire(store: &mut dyn RelayStore) {
    let m1 = Mailbox::from_bytes([1; 32]);
    store.put_pairing(m1, b"x", T0, T0 + 100).unwrap();
    assert_eq!(store.take_pairing(m1, T0 + 100).unwrap(), None);
    // It was deleted, not merely withheld: an earlier clock does not bring it back.
    assert_eq!(store.take_pairing(m1, T0 + 50).unwrap(), None);

    let m2 = Mailbox::from_bytes([2; 32]);
    store.put_pairing(m2, b"old", T0, T0 + 10).unwrap();
    store.put_pairing(m2, b"new", T0 + 10, T0 + 20).unwrap();
    assert_eq!(
        store.take_pairing(m2, T0 + 11).unwrap(),
        Some(b"new".to_vec())
    );

    let m3 = Mailbox::from_bytes([3; 32]);
    let m4 = Mailbox::from_bytes([4; 32]);
    store.put_pairing(m3, b"short", T0, T0 + 10).unwrap();
    store.put_pairing(m4, b"long", T0, T0 + 1000).unwrap();
    assert_eq!(
        store.purge_expired(T0 + 10).unwrap(),
        Purged {
            pairings: 1,
            invites: 0
        }
    );
    assert_eq!(store.take_pairing(m3, T0 + 5).unwrap(), None);
    assert_eq!(
        store.take_pairing(m4, T0 + 11).unwrap(),
        Some(b"long".to_vec())
    );
}

/// The audit trail chains, verifies, pages per document, and takes tokens only.
fn audit_trail_chains_and_pages(store: &mut dyn RelayStore) {
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditHead {
            rows: 0,
            hash: [0; 32]
        }
    );
    let d1 = doc_id(1);
    let d2 = doc_id(2);
    let records = [
        AuditRecord {
            at_ms: T0,
            account: None,
            device: None,
            doc: None,
            action: "relay-start".to_owned(),
        },
        audit(T0 + 1, Some(d1), "sign-in"),
        audit(T0 + 2, Some(d1), "read"),
        audit(T0 + 3, Some(d2), "append"),
        audit(T0 + 4, Some(d1), "refused-append"),
        audit(T0 + 5, Some(d1), "read:v1.2"),
    ];
    let mut expected_hash = [0_u8; 32];
    for (n, record) in (1_u64..).zip(&records) {
        assert_eq!(store.append_audit(record).unwrap(), n);
        expected_hash = super::audit_hash(&expected_hash, n, record);
    }
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditHead {
            rows: 6,
            hash: expected_hash
        }
    );

    let entry = |id: u64| AuditEntry {
        id,
        record: records[usize::try_from(id - 1).unwrap()].clone(),
    };
    assert_eq!(
        store.audit_for_doc(d1, 0, 100).unwrap(),
        [entry(2), entry(3), entry(5), entry(6)]
    );
    assert_eq!(store.audit_for_doc(d1, 0, 2).unwrap(), [entry(2), entry(3)]);
    assert_eq!(
        store.audit_for_doc(d1, 3, 100).unwrap(),
        [entry(5), entry(6)]
    );
    assert_eq!(store.audit_for_doc(d2, 0, 100).unwrap(), [entry(4)]);
    assert!(store.audit_for_doc(doc_id(9), 0, 100).unwrap().is_empty());

    let too_long = "a".repeat(super::MAX_AUDIT_ACTION_LEN + 1);
    for action in [
        "",
        "Sign-in",
        "read by Alice",
        "naïve",
        "note\n",
        too_long.as_str(),
    ] {
        let err = store
            .append_audit(&audit(T0, Some(d1), action))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{action:?}: {err:?}");
    }
    assert!(store
        .append_audit(&audit(T0, None, &"a".repeat(super::MAX_AUDIT_ACTION_LEN)))
        .is_ok());
    assert_eq!(store.verify_audit().unwrap().rows, 7);
}

/// A registration of account `n` (identity `[n; 32]`) with device `n` through invite `invite`.
fn registration(n: u8, invite: InviteHash, role: AccountRole) -> Registration {
    Registration {
        invite,
        account: account_id(n),
        identity_pub: [n; 32],
        device: device_record(n, account_id(n)),
        role,
    }
}

/// Staff labels: a therapist's invite carries one to its account; a client's invite or account
/// never does; malformed labels are refused. The listing shows roles, labels and device counts.
fn staff_labels_and_account_listing(store: &mut dyn RelayStore) {
    let invite = |n: u8, kind: AccountRole, label: Option<&str>| InviteRecord {
        hash: InviteHash::from_bytes([n; 32]),
        kind,
        created_by: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: label.map(str::to_owned),
    };
    let staff = invite(1, AccountRole::Therapist, Some("Dr Ada Park"));
    store.create_invite(&staff).unwrap();
    assert_eq!(store.redeem_invite(&staff.hash, T0).unwrap(), staff);
    let staff = invite(2, AccountRole::Therapist, Some("Dr Ada Park"));
    store.create_invite(&staff).unwrap();
    let therapist = store
        .register_with_invite(
            &registration(10, staff.hash, AccountRole::Therapist),
            T0 + 1,
        )
        .unwrap();
    assert_eq!(therapist.label.as_deref(), Some("Dr Ada Park"));
    assert_eq!(store.account(account_id(10)).unwrap(), Some(therapist));

    // A client's invite takes no label, however it is spelled; nothing is stored.
    for label in ["Sam", "Dr Ada Park"] {
        let err = store
            .create_invite(&invite(3, AccountRole::Client, Some(label)))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains("client"), "{err}");
    }
    let err = store
        .redeem_invite(&InviteHash::from_bytes([3; 32]), T0)
        .unwrap_err();
    assert!(matches!(err, InviteError::Unknown), "{err:?}");
    let long = "x".repeat(super::MAX_LABEL_CHARS + 1);
    for bad in [
        "",
        " Dr Ada",
        "Dr Ada ",
        "Dr\nAda",
        "Dr\u{1b}[2JAda",
        long.as_str(),
    ] {
        let err = store
            .create_invite(&invite(4, AccountRole::Therapist, Some(bad)))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
    }
    let longest = "é".repeat(super::MAX_LABEL_CHARS);
    store
        .create_invite(&invite(4, AccountRole::Therapist, Some(&longest)))
        .unwrap();

    let plain = invite(5, AccountRole::Client, None);
    store.create_invite(&plain).unwrap();
    let client = store
        .register_with_invite(&registration(20, plain.hash, AccountRole::Client), T0 + 2)
        .unwrap();
    assert_eq!(client.label, None);
    add_device(store, 21, client.account);
    let admin = add_account(store, 30, AccountRole::Admin);
    store.disable_account(client.account, T0 + 3).unwrap();

    let therapist_row = AccountSummary {
        account: account_id(10),
        role: AccountRole::Therapist,
        label: Some("Dr Ada Park".to_owned()),
        devices: 1,
        created_at_ms: T0 + 1,
        disabled_at_ms: None,
    };
    let client_row = AccountSummary {
        account: account_id(20),
        role: AccountRole::Client,
        label: None,
        devices: 2,
        created_at_ms: T0 + 2,
        disabled_at_ms: Some(T0 + 3),
    };
    let admin_row = AccountSummary {
        account: admin,
        role: AccountRole::Admin,
        label: None,
        devices: 0,
        created_at_ms: T0,
        disabled_at_ms: None,
    };
    assert_eq!(
        store.list_accounts(None).unwrap(),
        [admin_row.clone(), therapist_row.clone(), client_row.clone()]
    );
    assert_eq!(
        store.list_accounts(Some(AccountRole::Therapist)).unwrap(),
        [therapist_row]
    );
    assert_eq!(
        store.list_accounts(Some(AccountRole::Client)).unwrap(),
        [client_row]
    );
    assert_eq!(
        store.list_accounts(Some(AccountRole::Admin)).unwrap(),
        [admin_row]
    );
}

/// Disabling an account refuses all its devices at once and leaves other accounts alone;
/// enabling restores it, but not a device disabled on its own.
fn disabling_and_enabling_accounts(store: &mut dyn RelayStore) {
    let therapist = add_account(store, 1, AccountRole::Therapist);
    let laptop = add_device(store, 11, therapist);
    let phone = add_device(store, 12, therapist);
    let client = add_account(store, 2, AccountRole::Client);
    let other = add_device(store, 21, client);
    let state = |store: &dyn RelayStore, device: DeviceId| {
        let entry = store.device(device).unwrap().unwrap();
        (entry.disabled, entry.account_disabled)
    };
    assert_eq!(state(store, laptop), (false, false));

    store.disable_device(phone, T0).unwrap();
    assert_eq!(state(store, phone), (true, false));
    store.disable_account(therapist, T0 + 1).unwrap();
    assert_eq!(state(store, laptop), (true, true));
    assert_eq!(state(store, phone), (true, true));
    assert_eq!(state(store, other), (false, false));
    assert_eq!(
        store.account(therapist).unwrap().unwrap().disabled_at_ms,
        Some(T0 + 1)
    );
    let err = store
        .register_device(&device_record(13, therapist))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::AccountDisabled(_))),
        "{err:?}"
    );

    assert!(store.enable_account(therapist).unwrap());
    assert!(!store.enable_account(therapist).unwrap());
    assert!(!store.enable_account(client).unwrap());
    assert_eq!(
        store.account(therapist).unwrap().unwrap().disabled_at_ms,
        None
    );
    assert_eq!(state(store, laptop), (false, false));
    assert_eq!(state(store, phone), (true, false));
    let err = store.enable_account(account_id(99)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
}

/// A device reads its account's own events (no document's) and a member reads a document's,
/// in pages.
fn audit_for_account_pages(store: &mut dyn RelayStore) {
    let mine = account_id(1);
    let theirs = account_id(3);
    let event = |account: AccountId, doc: Option<DocId>, action: &str| AuditRecord {
        at_ms: T0,
        account: Some(account),
        device: Some(device_id(2)),
        doc,
        action: action.to_owned(),
    };
    let records = [
        event(mine, None, "sign-in"),
        event(mine, Some(doc_id(1)), "read"),
        event(theirs, None, "sign-in"),
        event(mine, None, "refused-sign-in"),
        event(mine, None, "disable-account"),
        AuditRecord {
            account: None,
            device: None,
            ..event(mine, None, "refused-sign-in")
        },
    ];
    for record in &records {
        store.append_audit(record).unwrap();
    }
    let entry = |id: u64| AuditEntry {
        id,
        record: records[usize::try_from(id - 1).unwrap()].clone(),
    };
    assert_eq!(
        store.audit_for_account(mine, 0, 100).unwrap(),
        [entry(1), entry(4), entry(5)]
    );
    assert_eq!(
        store.audit_for_account(mine, 0, 2).unwrap(),
        [entry(1), entry(4)]
    );
    assert_eq!(store.audit_for_account(mine, 4, 100).unwrap(), [entry(5)]);
    assert!(store.audit_for_account(mine, 5, 100).unwrap().is_empty());
    assert_eq!(store.audit_for_account(theirs, 0, 100).unwrap(), [entry(3)]);
    assert_eq!(store.audit_for_doc(doc_id(1), 0, 100).unwrap(), [entry(2)]);
    assert_eq!(store.audit_hash_at(0).unwrap(), None);
    assert_eq!(store.audit_hash_at(7).unwrap(), None);
    assert!(store.audit_hash_at(6).unwrap().is_some());
}

/// A head recorded earlier: the trail must still pass through it; rows added since are fine.
fn audit_verifies_against_a_known_head(store: &mut dyn RelayStore) {
    let empty = store.verify_audit().unwrap();
    for i in 0..3 {
        store.append_audit(&audit(T0 + i, None, "sign-in")).unwrap();
    }
    let known = store.verify_audit().unwrap();
    assert_eq!(store.verify_audit_since(&empty).unwrap(), known);
    assert_eq!(store.verify_audit_since(&known).unwrap(), known);
    store.append_audit(&audit(T0 + 3, None, "read")).unwrap();
    let now = store.verify_audit_since(&known).unwrap();
    assert_eq!(now.rows, 4);

    let wrong = AuditHead {
        rows: 3,
        hash: [7; 32],
    };
    let err = store.verify_audit_since(&wrong).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 3,
                problem: AuditProblem::DiffersFromKnownHead
            }
        ),
        "{err:?}"
    );
    let longer = AuditHead {
        rows: 9,
        hash: now.hash,
    };
    let err = store.verify_audit_since(&longer).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Broken {
                row: 5,
                problem: AuditProblem::Truncated { recorded_rows: 9 }
            }
        ),
        "{err:?}"
    );

    // The printed form reads back; nothing else does.
    assert_eq!(AuditHead::parse(&now.to_string()), Some(now));
    assert!(now.to_string().starts_with("4:"));
    let hex = "ab".repeat(32);
    for bad in [
        "",
        "4",
        "x:00",
        &format!("4:{}", &hex[1..]),
        &format!("4:+{}", &hex[1..]),
        &format!("-1:{hex}"),
        &format!("4:{hex}00"),
    ] {
        assert_eq!(AuditHead::parse(bad), None, "{bad:?}");
    }
}

/// Listing documents shows ids and sizes only, oldest first.
fn documents_list_ids_and_sizes(store: &mut dyn RelayStore) {
    assert!(store.documents().unwrap().is_empty());
    let (a_owner, a) = add_document(store, 2);
    let b_owner = add_account(store, 1, AccountRole::Client);
    let b = doc_id(1);
    store.create_document(b, b_owner, T0 + 1).unwrap();
    store.append_bundle(a, &bundle(1), T0).unwrap();
    store.append_bundle(a, &bundle(2), T0).unwrap();
    store.append_bundle(b, &bundle(5), T0).unwrap();
    store.put_snapshot(b, Seq(1), b"12345").unwrap();
    assert_eq!(
        store.documents().unwrap(),
        [
            DocStats {
                doc: a,
                owner: a_owner,
                created_at_ms: T0,
                bundles: 2,
                bytes: 30,
                head: Seq(2),
                snapshot_covers: None,
            },
            DocStats {
                doc: b,
                owner: b_owner,
                created_at_ms: T0 + 1,
                bundles: 0,
                bytes: 5,
                head: Seq(1),
                snapshot_covers: Some(Seq(1)),
            },
        ]
    );
}

/// A signed membership list replaces the document's members in one step; the owner always stays;
/// the accounts that left are reported.
fn signed_membership_replaces_members(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let ada = add_account(store, 2, AccountRole::Therapist);
    let ben = add_account(store, 3, AccountRole::Therapist);
    assert_eq!(store.membership(doc).unwrap(), None);

    assert_eq!(
        store
            .put_membership(doc, 1, b"list-1", &[client, ada])
            .unwrap(),
        []
    );
    assert_eq!(
        store.membership(doc).unwrap(),
        Some(StoredMembership {
            serial: 1,
            bytes: b"list-1".to_vec()
        })
    );
    let mut expected = vec![client, ada];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);

    // Ada is replaced by Ben: she is reported as removed and is no member any more.
    assert_eq!(
        store
            .put_membership(doc, 2, b"list-2", &[client, ben])
            .unwrap(),
        [ada]
    );
    assert!(!store.is_member(doc, ada).unwrap());
    assert!(store.is_member(doc, ben).unwrap());

    // A list that leaves the owner out still keeps the owner a member (never reported removed).
    assert_eq!(store.put_membership(doc, 7, b"list-7", &[ben]).unwrap(), []);
    let mut expected = vec![client, ben];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);
    assert_eq!(store.membership(doc).unwrap().unwrap().serial, 7);

    // Only the owner left.
    assert_eq!(
        store.put_membership(doc, 8, b"list-8", &[client]).unwrap(),
        [ben]
    );
    assert_eq!(store.members(doc).unwrap(), [client]);

    let err = store.membership(doc_id(50)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}

/// A list's serial must grow: an equal or smaller one (an old list replayed) is refused and
/// changes nothing, and so is a serial the store cannot keep.
fn membership_serial_never_goes_back(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let ada = add_account(store, 2, AccountRole::Therapist);
    store
        .put_membership(doc, 5, b"list-5", &[client, ada])
        .unwrap();
    for (serial, members) in [(5, vec![client]), (4, vec![client]), (0, vec![client])] {
        let err = store
            .put_membership(doc, serial, b"old", &members)
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict(Conflict::MembershipSerial { stored: 5, given }) if given == serial
            ),
            "{err:?}"
        );
    }
    let err = store
        .put_membership(doc, u64::MAX, b"huge", &[client])
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(
        store.membership(doc).unwrap(),
        Some(StoredMembership {
            serial: 5,
            bytes: b"list-5".to_vec()
        })
    );
    assert!(store.is_member(doc, ada).unwrap());
    // The largest storable serial is accepted, and then nothing can follow it but refusals.
    let max = u64::try_from(i64::MAX).unwrap();
    store.put_membership(doc, max, b"last", &[client]).unwrap();
    assert!(!store.is_member(doc, ada).unwrap());
}

/// A list naming an unknown account, or for an unknown document, is refused as a whole: members,
/// stored list and serial stay as they were.
fn membership_refusals_change_nothing(store: &mut dyn RelayStore) {
    let (client, doc) = add_document(store, 1);
    let ada = add_account(store, 2, AccountRole::Therapist);
    let ben = add_account(store, 3, AccountRole::Therapist);
    store
        .put_membership(doc, 1, b"list-1", &[client, ada])
        .unwrap();

    // Ben is known, account 99 is not: neither the removal of Ada nor Ben's addition happen.
    let err = store
        .put_membership(doc, 2, b"list-2", &[client, ben, account_id(99)])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(id)) if id == account_id(99)),
        "{err:?}"
    );
    let mut expected = vec![client, ada];
    expected.sort();
    assert_eq!(store.members(doc).unwrap(), expected);
    assert_eq!(
        store.membership(doc).unwrap(),
        Some(StoredMembership {
            serial: 1,
            bytes: b"list-1".to_vec()
        })
    );
    // The refused serial 2 was not consumed.
    store
        .put_membership(doc, 2, b"list-2", &[client, ben])
        .unwrap();
    assert_eq!(store.membership(doc).unwrap().unwrap().serial, 2);

    let err = store
        .put_membership(doc_id(50), 1, b"x", &[client])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
    assert_eq!(store.document(doc_id(50)).unwrap(), None);
}

/// Which documents an account belongs to (with owners), who shares a document with whom, and
/// that deleting a document takes its list and members with it.
fn documents_of_and_shared_documents(store: &mut dyn RelayStore) {
    let (cleo, cleo_doc) = add_document(store, 1);
    let (dan, dan_doc) = add_document(store, 2);
    let ada = add_account(store, 3, AccountRole::Therapist);
    let ben = add_account(store, 4, AccountRole::Therapist);
    store.create_document(doc_id(5), cleo, T0 + 1).unwrap();

    assert_eq!(
        store.documents_of(cleo).unwrap(),
        [
            MemberOf {
                doc: cleo_doc,
                owner: cleo
            },
            MemberOf {
                doc: doc_id(5),
                owner: cleo
            }
        ]
    );
    assert_eq!(store.documents_of(ada).unwrap(), []);
    assert_eq!(store.documents_of(account_id(99)).unwrap(), []);
    assert!(!store.shares_document(cleo, ada).unwrap());

    store
        .put_membership(cleo_doc, 1, b"c", &[cleo, ada])
        .unwrap();
    store.put_membership(dan_doc, 1, b"d", &[dan, ada]).unwrap();
    assert_eq!(
        store.documents_of(ada).unwrap(),
        [
            MemberOf {
                doc: cleo_doc,
                owner: cleo
            },
            MemberOf {
                doc: dan_doc,
                owner: dan
            }
        ]
    );
    assert!(store.shares_document(cleo, ada).unwrap());
    assert!(store.shares_document(ada, cleo).unwrap());
    assert!(store.shares_document(ada, dan).unwrap());
    assert!(store.shares_document(cleo, cleo).unwrap());
    // Two clients of the same therapist share nothing with each other.
    assert!(!store.shares_document(cleo, dan).unwrap());
    assert!(!store.shares_document(ben, cleo).unwrap());
    assert!(!store.shares_document(ben, ben).unwrap());

    store.delete_document(cleo_doc, T0 + 2).unwrap();
    assert!(!store.shares_document(cleo, ada).unwrap());
    assert_eq!(
        store.documents_of(ada).unwrap(),
        [MemberOf {
            doc: dan_doc,
            owner: dan
        }]
    );
    let err = store.membership(cleo_doc).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Document(_))),
        "{err:?}"
    );
}

/// An account registered with an invite a therapist made remembers that therapist as its
/// inviter; one registered with the admin's invite has none.
fn the_inviter_is_remembered(store: &mut dyn RelayStore) {
    let therapist_invite = InviteRecord {
        hash: InviteHash::from_bytes([1; 32]),
        kind: AccountRole::Therapist,
        created_by: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&therapist_invite).unwrap();
    let ada = store
        .register_with_invite(
            &registration(2, therapist_invite.hash, AccountRole::Therapist),
            T0 + 1,
        )
        .unwrap()
        .account;
    assert_eq!(store.inviter_of(ada).unwrap(), None);

    let client_invite = InviteRecord {
        hash: InviteHash::from_bytes([3; 32]),
        kind: AccountRole::Client,
        created_by: Some(ada),
        ..therapist_invite.clone()
    };
    store.create_invite(&client_invite).unwrap();
    // A refused registration (wrong role) records nothing, and leaves the invite usable.
    let err = store
        .register_with_invite(
            &registration(4, client_invite.hash, AccountRole::Therapist),
            T0 + 2,
        )
        .unwrap_err();
    assert!(matches!(err, InviteError::WrongRole { .. }), "{err:?}");
    let err = store.inviter_of(account_id(4)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
    let cleo = store
        .register_with_invite(
            &registration(5, client_invite.hash, AccountRole::Client),
            T0 + 3,
        )
        .unwrap()
        .account;
    assert_eq!(store.inviter_of(cleo).unwrap(), Some(ada));
    // An account created without an invite has no inviter either.
    let plain = add_account(store, 6, AccountRole::Client);
    assert_eq!(store.inviter_of(plain).unwrap(), None);
}

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

/// A group commit carries out pushes to several documents and audit records in the order
/// given: per-document sequence numbers, audit rows and their chain come out exactly as if each
/// write had been its own transaction, and every bundle is stored.
fn group_commit_keeps_order_across_documents(store: &mut dyn RelayStore) {
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
    let mut writes: Vec<_> = pushes.iter().map(super::BatchWrite::Push).collect();
    writes.insert(2, super::BatchWrite::Audit(&sign_in));
    let results = store.write_batch(&writes).unwrap();
    assert_eq!(results.len(), 6);

    let rows = before.rows;
    assert_eq!(appended(&results[0]), (Seq(1), rows + 1));
    assert_eq!(appended(&results[1]), (Seq(2), rows + 2));
    assert!(
        matches!(results[2], Ok(super::Written::Audit(row)) if row == rows + 3),
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
    let as_record = |push: &super::Push, account| AuditRecord {
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
        hash = super::audit_hash(&hash, id, record);
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
fn group_commit_refusals_stand_alone(store: &mut dyn RelayStore) {
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
        super::Push {
            action: "Append by Bob",
            ..push_of(b, bobs, bundle(9), T0)
        },
    ];
    let bad_audit = audit(T0, None, "read by Alice");
    let good_audit = audit(T0, None, "sign-in");
    let mut writes: Vec<_> = pushes.iter().map(super::BatchWrite::Push).collect();
    writes.push(super::BatchWrite::Audit(&bad_audit));
    writes.push(super::BatchWrite::Audit(&good_audit));
    let results = store.write_batch(&writes).unwrap();

    use super::{PushOutcome::Refused, PushRefusal, Written};
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
        super::PushOutcome::Appended {
            seq: Seq(2),
            audit_row: rows + 4
        }
    );
    assert_eq!(store.verify_audit().unwrap().rows, rows + 4);
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

        /// Every contract check through a [`StoreHandle`], on its storage thread.
        mod store_handle {
            $(
                #[tokio::test]
                async fn $check() {
                    let (_dir, handle) = super::fresh_handle().await;
                    handle.call(|store| super::$check(store)).await.unwrap();
                    handle.shutdown().await;
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

        /// Every contract check through a [`StoreHandle`] on a [`PostgresStore`] (skipped
        /// without a server).
        mod postgres_handle {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some((_db, handle)) = super::fresh_postgres_handle().await else {
                        return;
                    };
                    handle.call(|store| super::$check(store)).await.unwrap();
                    handle.shutdown().await;
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

/// A new SQLite store behind a [`StoreHandle`].
async fn fresh_handle() -> (tempfile::TempDir, StoreHandle) {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open_sqlite(dir.path().join("relay.sqlite3"))
        .await
        .unwrap();
    (dir, handle)
}

/// A new PostgreSQL store in a new test database (dropped with the returned guard); `None` when
/// no server is configured.
pub(super) fn fresh_postgres() -> Option<(TestDatabase, PostgresStore)> {
    let db = TestDatabase::create()?;
    let store = testing::open(&db);
    Some((db, store))
}

/// A new PostgreSQL store behind a [`StoreHandle`]; `None` when no server is configured.
async fn fresh_postgres_handle() -> Option<(TestDatabase, StoreHandle)> {
    let db = TestDatabase::create()?;
    let handle = StoreHandle::open_postgres(db.url().to_owned())
        .await
        .unwrap();
    Some((db, handle))
}

/// What only the SQLite backend can be asked: its files, pragmas and process-level behaviour.
mod sqlite_files {
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
            .put_pairing(Mailbox::from_bytes([5; 32]), b"pair", T0, T0 + 100)
            .unwrap();
        store
            .create_invite(&InviteRecord {
                hash: InviteHash::from_bytes([6; 32]),
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
            store
                .take_pairing(Mailbox::from_bytes([5; 32]), T0 + 1)
                .unwrap(),
            Some(b"pair".to_vec())
        );
        store
            .redeem_invite(&InviteHash::from_bytes([6; 32]), T0 + 1)
            .unwrap();
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
            .prepare("SELECT id, at_ms, account, device, doc, action FROM audit WHERE id >= ?1 ORDER BY id")
            .unwrap()
            .query_map([from], |row| {
                Ok((
                    row.get(0)?,
                    AuditRecord {
                        at_ms: row.get(1)?,
                        account: row.get(2)?,
                        device: row.get(3)?,
                        doc: row.get(4)?,
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
                [a],
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
}
