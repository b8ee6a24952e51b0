//! The real `between-relay` when a device is slow or the relay's own disk fails it: a device
//! that stops reading mid catch-up never delays another device's push to the same document,
//! and an access the relay cannot record in its audit trail is refused, not served.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::{
    new_device, new_doc, new_epoch_key, register, register_device, sealed_bundle, RelayProcess,
};
use between_shared::crypto::{MAX_SEALED_BUNDLE, MIN_SEALED_BUNDLE};
use between_shared::protocol::{ErrorCode, Seq, ServerMessage};
use std::time::Duration;

/// Long enough for a healthy relay on a loaded CI machine; a push stuck behind another
/// device's socket never completes at all.
const PUSH_DEADLINE: Duration = Duration::from_secs(30);

/// Incompressible bytes, so the catch-up really is this large on the wire.
fn noise(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

#[tokio::test]
async fn a_device_that_stops_reading_its_catch_up_does_not_hold_up_other_devices() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (mut laptop, client) = register(&relay, &relay.invite("client")).await;
    let phone_keys = new_device();
    let (mut phone, _) = register_device(&relay, &client.identity, &phone_keys).await;
    let tablet_keys = new_device();
    let (mut tablet, _) = register_device(&relay, &client.identity, &tablet_keys).await;
    let doc = new_doc();
    let key = new_epoch_key();
    laptop.create_document(doc).await;

    // About 24 MB of log: far more than the socket buffers between the relay and the phone.
    let plaintext_len = MAX_SEALED_BUNDLE - MIN_SEALED_BUNDLE;
    let logged = 24_u64;
    for counter in 1..=logged {
        let bundle = sealed_bundle(doc, &client.device, counter, &noise(plaintext_len), &key);
        assert_eq!(laptop.push(doc, bundle).await, Seq(counter));
    }

    // The phone asks for everything, reads the first entry (so its catch-up is under way),
    // then stops reading: the relay's writes to it soon block.
    let request = phone.send_subscribe(doc, Seq(0)).await;
    match phone.recv().await {
        ServerMessage::Bundle { seq, .. } => assert_eq!(seq, Seq(1)),
        other => panic!("expected the first bundle, got {other:?}"),
    }

    // Meanwhile the tablet's pushes to the same document are acknowledged as usual.
    for counter in 1..=3 {
        let bundle = sealed_bundle(doc, &tablet_keys, counter, b"a quick note", &key);
        let seq = tokio::time::timeout(PUSH_DEADLINE, tablet.push(doc, bundle))
            .await
            .expect("a push waited for another device's slow catch-up");
        assert_eq!(seq, Seq(logged + counter));
    }

    // When the phone reads again it gets the whole log once, in order, then the tablet's
    // entries live (each exactly once, whether they came with the catch-up or after it).
    let mut seen = vec![1];
    let mut caught_up = None;
    while seen.len() < usize::try_from(logged + 3).unwrap() || caught_up.is_none() {
        match phone.recv().await {
            ServerMessage::Bundle { seq, .. } => seen.push(seq.0),
            ServerMessage::CaughtUp {
                request: got, head, ..
            } => {
                assert_eq!(got, request);
                caught_up = Some(head);
            }
            other => panic!("unexpected frame: {other:?}"),
        }
    }
    assert_eq!(seen, (1..=logged + 3).collect::<Vec<_>>());
    assert!(caught_up.is_some_and(|head| head.0 >= logged));
    phone.ping().await;
    relay.assert_no_panic();
}

/// Makes every insert into the relay's audit trail fail, as a full disk would, from another
/// connection to its SQLite file (the relay sees the schema change at its next statement).
fn break_the_audit_trail(db: &std::path::Path, broken: bool) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let sql = if broken {
        "CREATE TRIGGER audit_disk_full BEFORE INSERT ON audit
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
    } else {
        "DROP TRIGGER audit_disk_full;"
    };
    conn.execute_batch(sql).unwrap();
}

#[tokio::test]
async fn an_access_that_cannot_be_recorded_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (mut laptop, client) = register(&relay, &relay.invite("client")).await;
    let phone_keys = new_device();
    let (mut phone, _) = register_device(&relay, &client.identity, &phone_keys).await;
    let doc = new_doc();
    let key = new_epoch_key();
    laptop.create_document(doc).await;
    let secret = sealed_bundle(doc, &client.device, 1, b"what happened at work", &key);
    laptop.push(doc, secret.clone()).await;

    break_the_audit_trail(relay.db(), true);

    // Reading the log: the catch-up is not served, the connection ends with `internal`.
    let request = phone.send_subscribe(doc, Seq(0)).await;
    let _ = request;
    match phone.recv().await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Internal),
        other => panic!("the relay served an access it could not record: {other:?}"),
    }
    phone.expect_closed().await;

    // Appending: the bundle and its record are one transaction, so nothing is stored.
    let bundle = sealed_bundle(doc, &client.device, 2, b"more", &key);
    let request = laptop.send_push(doc, bundle).await;
    let _ = request;
    match laptop.recv().await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Internal),
        other => panic!("the relay acknowledged a push it could not record: {other:?}"),
    }
    laptop.expect_closed().await;

    // Once the trail can be written again, everything is served, and only the first bundle
    // was ever stored.
    break_the_audit_trail(relay.db(), false);
    let (mut phone, _) = between_e2e::relay::sign_in(&relay, &phone_keys).await;
    let catch_up = phone.subscribe(doc, Seq(0)).await;
    assert_eq!(catch_up.bundles, [(Seq(1), secret)]);
    assert_eq!(catch_up.head, Seq(1));
    relay.assert_no_panic();
}
