//! The relay over PostgreSQL, end to end with the real binaries over TLS: a therapist, and Sam's
//! laptop and phone, share homework through `between-relay --db postgres://…`; the relay is
//! killed (SIGKILL) and restarted over the same database without a device losing anything; and
//! the practice admin's commands (`accounts`, `documents`, `audit verify`, `check`, `backup`,
//! `disable`) work on the database while it serves. Then two relay processes on one database:
//! a device on each, pushes live both ways (one at a time and all at once), and one relay
//! killed mid-push with nothing acknowledged lost while the devices go on through the other.
//!
//! Each test has a database of its own on the server `scripts/test` starts
//! (`between_e2e::postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::postgres::TestDatabase;
use between_e2e::practice::{
    client_with_invite, pair_device, practice_certificate, sync_clean as sync,
    therapist_with_invite,
};
use between_e2e::relay::{
    new_device, new_doc, new_epoch_key, register, register_device, sealed_bundle, sign_in, Peer,
    RelayProcess,
};
use between_e2e::tls::{PracticeCa, ServerFiles};
use between_e2e::{assert_mentions, Device};
use between_shared::protocol::{DocId, RequestId, Seq, ServerMessage};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::{Duration, Instant};

/// A practice CA and a relay certificate from it under `dir`; the CA file's path.
fn certificate(dir: &Path) -> (PracticeCa, ServerFiles, String) {
    let (ca, files) = practice_certificate(dir);
    let ca_file = ca.write(dir, "practice-ca.pem");
    (ca, files, ca_file.to_string_lossy().into_owned())
}

/// Everything `device` holds (of `client`, for a therapist), as `list --json` prints it.
fn journal(device: &Device, client: Option<&str>) -> String {
    device.snapshot(client).to_string()
}

/// An admin command on the relay's database; must succeed; returns what it printed.
#[track_caller]
fn admin(relay: &RelayProcess, args: &[&str]) -> String {
    let output = relay.admin(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "between-relay {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_practice_syncs_through_a_relay_on_postgres_and_survives_a_kill() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (ca, files, ca_file) = certificate(dir);
    let ca_file = ca_file.as_str();
    let mut relay = RelayProcess::start_tls_over(dir, db.url(), &files, &ca, &[]);
    // Nothing of the relay's lands beside its log: the database is PostgreSQL's.
    assert!(!dir.join("relay.sqlite3").exists());

    let (dr, invite) = therapist_with_invite(&relay, dir, ca_file, "office");
    let sam = client_with_invite(dir, "sam-laptop", &invite, ca_file);
    let phone = pair_device(
        &relay.origin(),
        &sam,
        dir,
        "sam-phone",
        "Sam",
        "phone",
        Some(ca_file),
    );
    sync(&dr);

    // The laptop writes, offline from the phone; both meet through the relay.
    const MONDAY: &str = "Monday: walked to the river before work";
    let monday = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={MONDAY}"),
    ]);
    sync(&sam);
    sync(&phone);
    assert_mentions(&phone.run(&["show", &monday]).out(), &[MONDAY]);
    sync(&dr);
    assert_mentions(&journal(&dr, Some("Sam")), &[&monday]);

    // SIGKILL, then a new relay process over the same database: every acknowledged change is
    // there, and the devices go on.
    relay.kill9();
    relay.restart_on_same_port();
    const TUESDAY: &str = "Tuesday: noticed the thought, let it pass";
    let tuesday = phone.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={TUESDAY}"),
    ]);
    sync(&phone);
    sync(&sam);
    let laptop_sees = journal(&sam, None);
    assert_mentions(&laptop_sees, &[&monday, &tuesday]);
    assert_mentions(&sam.run(&["show", &tuesday]).out(), &[TUESDAY]);
    sync(&dr);
    assert_mentions(&journal(&dr, Some("Sam")), &[&monday, &tuesday]);

    // What the relay stored is opaque: no word of the homework in any table.
    let mut conn = db.connect();
    for table in ["bundles", "snapshots", "snapshot_parts", "key_envelopes"] {
        let rows = conn
            .query(&format!("SELECT data::text FROM {table}"), &[])
            .unwrap_or_else(|err| panic!("read {table}: {err}"));
        for row in rows {
            let hex: String = row.get(0);
            for word in ["river", "thought"] {
                let needle: String = word.bytes().map(|b| format!("{b:02x}")).collect();
                assert!(
                    !hex.contains(&needle),
                    "{table} holds {word:?} in the clear"
                );
            }
        }
    }

    // The admin's commands, on the database the relay is serving.
    let accounts = admin(&relay, &["accounts", "--json"]);
    let accounts: serde_json::Value = serde_json::from_str(&accounts).unwrap();
    let roles: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["therapist", "client"], "{accounts}");
    let documents = admin(&relay, &["documents"]);
    assert!(documents.lines().count() >= 3, "{documents}");
    let verified = admin(&relay, &["audit", "verify"]);
    assert_mentions(&verified, &["hash chain is intact", "Head: "]);
    assert_mentions(
        &admin(&relay, &["check"]),
        &["OK", "hash chain", "is intact"],
    );
    let dump = dir.join("relay.dump");
    let backed_up = admin(&relay, &["backup", dump.to_str().unwrap()]);
    assert_mentions(&backed_up, &["Backed up"]);
    let bytes = std::fs::read(&dump).unwrap();
    assert!(bytes.starts_with(b"PGDMP"), "pg_dump's custom format");

    // Disabling the therapist's account from the admin command refuses their device.
    let therapist = accounts[0]["account"].as_str().unwrap();
    assert_mentions(&admin(&relay, &["disable", therapist]), &["Disabled"]);
    let run = dr.run(&["sync"]);
    assert!(!run.ok, "a disabled account's device syncs: {}", run.stdout);
    relay.assert_no_panic();
}

/// `between-relay --db DB ARGS…` from an empty folder, with no database from the environment.
fn relay_admin_at(db: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(between_e2e::binary("between-relay"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("BETWEEN_RELAY_DB")
        .env_remove("BETWEEN_RELAY_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !dir.path().join("between-relay.sqlite3").exists(),
        "a PostgreSQL URL never falls back to a SQLite file"
    );
    output
}

/// Runs an admin command that must fail; returns its stderr.
#[track_caller]
fn refused_at(db: &str, args: &[&str]) -> String {
    let output = relay_admin_at(db, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{args:?} on {db} succeeded: {stderr}"
    );
    stderr
}

#[test]
fn a_postgres_database_that_cannot_be_reached_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let stderr = refused_at(
        "postgres://between:hunter2@127.0.0.1:1/between",
        &["accounts"],
    );
    assert_mentions(&stderr, &["127.0.0.1:1"]);
    assert!(
        !stderr.contains("hunter2"),
        "the password is never printed: {stderr}"
    );
}

/// Two relay processes over `db`, each with a folder of its own under `dir` for its log.
fn two_relays(dir: &Path, db: &TestDatabase) -> (RelayProcess, RelayProcess) {
    let (a, b) = (dir.join("relay-a"), dir.join("relay-b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    (
        RelayProcess::start_over(&a, db.url(), &[]),
        RelayProcess::start_over(&b, db.url(), &[]),
    )
}

/// Reads frames until `peer` has the acks of its `pushed` requests and holds every entry in
/// `expected`, if any (its own by ack, the others' as live bundles); checks that live bundles arrive in
/// log order. Returns every entry it heard of, with its bytes.
async fn drain(
    peer: &mut Peer,
    doc: DocId,
    pushed: &[(RequestId, Vec<u8>)],
    expected: Option<RangeInclusive<u64>>,
) -> BTreeMap<u64, Vec<u8>> {
    let expected = expected.into_iter().flatten();
    let mut heard = BTreeMap::new();
    let mut acks = 0;
    let mut last_live = 0;
    while acks < pushed.len() || !expected.clone().all(|seq| heard.contains_key(&seq)) {
        match peer.recv().await {
            ServerMessage::Ack { request, seq, .. } => {
                let (_, bundle) = pushed.iter().find(|(r, _)| *r == request).unwrap();
                if let Some(echoed) = heard.insert(seq.0, bundle.clone()) {
                    assert_eq!(&echoed, bundle, "seq {} twice, with other bytes", seq.0);
                }
                acks += 1;
            }
            ServerMessage::Bundle {
                doc: got,
                seq,
                bundle,
            } => {
                assert_eq!(got, doc);
                assert!(
                    seq.0 > last_live,
                    "live bundles in order: {} after {last_live}",
                    seq.0
                );
                last_live = seq.0;
                // A session filling a gap from the log may send a device its own entry back
                // (as one relay does too, when its ack and another's entry cross); the same
                // bytes at the same position, which the device ignores.
                if let Some(own) = heard.insert(seq.0, bundle.clone()) {
                    assert_eq!(own, bundle, "seq {} twice, with other bytes", seq.0);
                }
            }
            other => panic!("unexpected frame: {other:?}"),
        }
    }
    heard
}

#[tokio::test]
async fn two_relays_on_one_database_forward_live_both_ways() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (relay_a, relay_b) = two_relays(dir.path(), &db);
    let (mut laptop, sam) = register(&relay_a, &relay_a.invite("client")).await;
    let phone_keys = new_device();
    let (mut phone, _) = register_device(&relay_b, &sam.identity, &phone_keys).await;
    let (key, doc) = (new_epoch_key(), new_doc());
    laptop.create_document(doc).await;
    assert_eq!(laptop.subscribe(doc, Seq(0)).await.head, Seq(0));
    assert_eq!(phone.subscribe(doc, Seq(0)).await.head, Seq(0));

    // One at a time, each way: a push through one relay is live on the other.
    let mut slowest = Duration::ZERO;
    for counter in 1..=10_u64 {
        let (from, from_keys, to) = if counter % 2 == 1 {
            (&mut laptop, &sam.device, &mut phone)
        } else {
            (&mut phone, &phone_keys, &mut laptop)
        };
        let bundle = sealed_bundle(doc, from_keys, counter, b"one line", &key);
        let sent = Instant::now();
        let seq = from.push(doc, bundle.clone()).await;
        assert_eq!(seq, Seq(counter));
        assert_eq!(
            to.recv().await,
            ServerMessage::Bundle { doc, seq, bundle },
            "entry {counter} live on the other relay"
        );
        slowest = slowest.max(sent.elapsed());
    }
    eprintln!("slowest push-to-live across relays: {slowest:?}");

    // Both at once, without waiting: each device ends with the whole log, in order, and the
    // two agree on every entry's bytes.
    let mut from_laptop = Vec::new();
    let mut from_phone = Vec::new();
    for counter in 11..=40_u64 {
        let bundle = sealed_bundle(doc, &sam.device, counter, b"laptop", &key);
        from_laptop.push((laptop.send_push(doc, bundle.clone()).await, bundle));
        let bundle = sealed_bundle(doc, &phone_keys, counter, b"phone", &key);
        from_phone.push((phone.send_push(doc, bundle.clone()).await, bundle));
    }
    let laptop_heard = drain(&mut laptop, doc, &from_laptop, Some(11..=70)).await;
    let phone_heard = drain(&mut phone, doc, &from_phone, Some(11..=70)).await;
    assert_eq!(
        laptop_heard.keys().copied().collect::<Vec<_>>(),
        (11..=70).collect::<Vec<_>>()
    );
    assert_eq!(laptop_heard, phone_heard);

    // Whichever relay a device asks, the log is the same.
    let (mut late, _) = sign_in(&relay_a, &phone_keys).await;
    let catch_up = late.subscribe(doc, Seq(10)).await;
    assert_eq!(catch_up.head, Seq(70));
    let logged: BTreeMap<u64, Vec<u8>> = catch_up
        .bundles
        .into_iter()
        .map(|(seq, bytes)| (seq.0, bytes))
        .collect();
    assert_eq!(logged, laptop_heard);
    for relay in [&relay_a, &relay_b] {
        relay.assert_no_panic();
    }
    let verified = admin(&relay_b, &["audit", "verify"]);
    assert_mentions(&verified, &["hash chain is intact"]);
}

#[tokio::test]
async fn a_relay_killed_mid_push_loses_nothing_acknowledged() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut relay_a, relay_b) = two_relays(dir.path(), &db);
    let (mut laptop, sam) = register(&relay_a, &relay_a.invite("client")).await;
    let phone_keys = new_device();
    let (mut phone, _) = register_device(&relay_b, &sam.identity, &phone_keys).await;
    let (key, doc) = (new_epoch_key(), new_doc());
    laptop.create_document(doc).await;
    phone.subscribe(doc, Seq(0)).await;

    // The laptop sends 200 pushes through relay A without waiting, and A is killed once it has
    // acknowledged the first 20: some of the rest are committed, some in flight, some unsent.
    let bundles: Vec<Vec<u8>> = (1..=200_u64)
        .map(|counter| sealed_bundle(doc, &sam.device, counter, b"entry", &key))
        .collect();
    let mut requests = Vec::new();
    for bundle in &bundles {
        requests.push(laptop.send_push(doc, bundle.clone()).await);
    }
    let mut acknowledged = BTreeMap::new();
    while acknowledged.len() < 20 {
        if let ServerMessage::Ack { request, seq, .. } = laptop.recv().await {
            let at = requests.iter().position(|r| *r == request).unwrap();
            acknowledged.insert(seq.0, at);
        }
    }
    relay_a.kill9();

    // Every acknowledged push is in the log, with its bytes, through relay B.
    let (mut laptop_b, _) = sign_in(&relay_b, &sam.device).await;
    let catch_up = laptop_b.subscribe(doc, Seq(0)).await;
    let logged: BTreeMap<u64, Vec<u8>> = catch_up
        .bundles
        .into_iter()
        .map(|(seq, bytes)| (seq.0, bytes))
        .collect();
    for (seq, at) in &acknowledged {
        assert_eq!(
            logged.get(seq),
            Some(&bundles[*at]),
            "acknowledged entry {seq} lost"
        );
    }
    assert_eq!(
        logged.keys().copied().collect::<Vec<_>>(),
        (1..=catch_up.head.0).collect::<Vec<_>>()
    );

    // The laptop goes on through B: what the log lacks it sends again (a device resends what
    // was never acknowledged), and the phone, live on B all along, ends with all 200.
    let stored: Vec<&Vec<u8>> = logged.values().collect();
    let mut resent = Vec::new();
    for bundle in bundles.iter().filter(|b| !stored.contains(b)) {
        resent.push((
            laptop_b.send_push(doc, bundle.clone()).await,
            bundle.clone(),
        ));
    }
    drain(&mut laptop_b, doc, &resent, None).await;
    let phone_heard = drain(&mut phone, doc, &[], Some(1..=200)).await;
    let mut heard: Vec<&Vec<u8>> = phone_heard.values().collect();
    heard.sort();
    let mut expected: Vec<&Vec<u8>> = bundles.iter().collect();
    expected.sort();
    assert_eq!(heard, expected, "the phone holds every entry exactly once");
    relay_b.assert_no_panic();
    assert_mentions(
        &admin(&relay_b, &["audit", "verify"]),
        &["hash chain is intact"],
    );
}

/// The head `audit verify` printed (`ROWS:HASH`).
fn audit_head(verified: &str) -> String {
    verified
        .lines()
        .find_map(|line| line.strip_prefix("Head: "))
        .unwrap_or_else(|| panic!("no head in {verified}"))
        .trim()
        .to_string()
}

#[test]
fn a_relay_moves_from_sqlite_to_postgres_and_devices_notice_only_a_restart() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (ca, files, ca_file) = certificate(dir);
    let ca_file = ca_file.as_str();
    let mut relay = RelayProcess::start_tls(dir, &files, &ca, &[]);
    let (dr, invite) = therapist_with_invite(&relay, dir, ca_file, "office");
    let sam = client_with_invite(dir, "sam-laptop", &invite, ca_file);
    let phone = pair_device(
        &relay.origin(),
        &sam,
        dir,
        "sam-phone",
        "Sam",
        "phone",
        Some(ca_file),
    );
    const BEFORE: &str = "Before the move: a walk by the river";
    let before = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={BEFORE}"),
    ]);
    for device in [&sam, &phone, &dr] {
        sync(device);
    }
    let sqlite_head = audit_head(&admin(&relay, &["audit", "verify"]));
    relay.stop();

    // Refused, saying why: a missing source, and a target that is not PostgreSQL.
    let sqlite = format!("sqlite:{}", dir.join("relay.sqlite3").display());
    let missing = relay.admin(&[
        "migrate",
        "--from",
        "sqlite:/nonexistent/relay.sqlite3",
        "--to",
        db.url(),
    ]);
    assert!(!missing.status.success());
    assert_mentions(
        &String::from_utf8_lossy(&missing.stderr),
        &["no relay database", "--from"],
    );
    let backwards = relay.admin(&["migrate", "--from", db.url(), "--to", &sqlite]);
    assert!(!backwards.status.success());
    assert_mentions(
        &String::from_utf8_lossy(&backwards.stderr),
        &["SQLite to PostgreSQL"],
    );

    let moved = admin(&relay, &["migrate", "--from", &sqlite, "--to", db.url()]);
    assert_mentions(&moved, &["bundles", "audit", "Moved the relay", "verifies"]);
    // A second move into the same database is refused and changes nothing.
    let again = relay.admin(&["migrate", "--from", &sqlite, "--to", db.url()]);
    assert!(!again.status.success());
    assert_mentions(
        &String::from_utf8_lossy(&again.stderr),
        &["already holds a relay's data"],
    );

    // The same address, now over PostgreSQL: the devices go on as after a restart.
    relay.restart_over(db.url());
    let postgres_head = audit_head(&admin(
        &relay,
        &["audit", "verify", "--known-head", &sqlite_head],
    ));
    assert_eq!(
        postgres_head, sqlite_head,
        "the audit chain continues where it was"
    );
    const AFTER: &str = "After the move: slept before eleven";
    let after = phone.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={AFTER}"),
    ]);
    for device in [&phone, &sam, &dr] {
        sync(device);
    }
    assert_mentions(&sam.run(&["show", &after]).out(), &[AFTER]);
    assert_mentions(&phone.run(&["show", &before]).out(), &[BEFORE]);
    assert_mentions(&journal(&dr, Some("Sam")), &[&before, &after]);
    // The trail goes on from the moved head: it still passes through it.
    admin(&relay, &["audit", "verify", "--known-head", &sqlite_head]);
    relay.assert_no_panic();
}

/// Both relays reach PostgreSQL over TLS here, the server's certificate verified against the
/// CA `scripts/test` made for its throwaway server (plain text, saying so, on a server the tests
/// know no CA of).
#[test]
fn a_therapist_on_one_relay_receives_what_a_client_shares_through_another() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let database_ca = between_e2e::postgres::test_server_ca();
    let url = match &database_ca {
        Some(ca) => db.tls_url(ca),
        None => db.url().to_owned(),
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (ca, files, ca_file) = certificate(dir);
    let ca_file = ca_file.as_str();
    let (a_dir, b_dir) = (dir.join("relay-a"), dir.join("relay-b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let relay_a = RelayProcess::start_tls_over(&a_dir, &url, &files, &ca, &[]);
    let relay_b = RelayProcess::start_tls_over(&b_dir, &url, &files, &ca, &[]);

    // Dr Park works through relay B; her client invite names B, and Sam, whose connection the
    // practice's load balancer would send anywhere, joins through A with the same code.
    let (dr, invite) = therapist_with_invite(&relay_b, dir, ca_file, "office");
    let (_, code) = invite.split_once('#').expect("an invite is RELAY#CODE");
    let through_a = format!("{}#{code}", relay_a.origin());
    let sam = client_with_invite(dir, "sam-laptop", &through_a, ca_file);
    const SHARED: &str = "Shared through relay A";
    let entry = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={SHARED}"),
    ]);
    sync(&sam);

    // Through B, the therapist finds her new client, the keys Sam's device wrapped for her
    // through A, and the entry.
    sync(&dr);
    let clients = dr.run(&["--json", "client", "list"]).out();
    assert_mentions(&clients, &["Sam"]);
    assert_mentions(
        &dr.run(&["--client", "Sam", "show", &entry]).out(),
        &[SHARED],
    );
    for relay in [&relay_a, &relay_b] {
        relay.assert_no_panic();
    }

    if database_ca.is_some() {
        // Every connection of both relays (each one's store and its listener) is encrypted.
        let sessions = db
            .connect()
            .query(
                "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
                 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
                &[],
            )
            .unwrap();
        let encrypted: Vec<bool> = sessions.iter().map(|row| row.get(0)).collect();
        assert!(
            encrypted.len() >= 4 && encrypted.iter().all(|ssl| *ssl),
            "the relays' connections, encrypted or not: {encrypted:?}"
        );
        // A certificate the relay cannot verify is refused, saying what to do; so are modes
        // that fall back to plain text.
        let unverified = format!("{}&sslmode=require", db.url());
        assert_mentions(
            &refused_at(&unverified, &["accounts"]),
            &["not signed by a CA this relay trusts", "sslrootcert"],
        );
        let downgradable = format!("{}&sslmode=prefer", db.url());
        assert_mentions(
            &refused_at(&downgradable, &["accounts"]),
            &["sslmode=prefer", "sslmode=require"],
        );
    }
}
