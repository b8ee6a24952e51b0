//! The real `between-relay` binary, spoken to frame by frame over a loopback WebSocket with the
//! shared protocol and crypto crates: registration and sign-in, store and forward, membership,
//! bad frames, durability across `kill -9`, and the per-address connection limit.
//!
//! After every refused or hostile input the relay must still be up (invariant 5): `/healthz`
//! answers 200 and a fresh, correctly signed connection still works.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::{
    certificate, expect_welcome, invite_secret, new_device, new_doc, new_epoch_key, new_identity,
    now_ms, register, register_device, register_device_frame, register_frame, sealed_bundle,
    sealed_snapshot, sign_in, sign_in_frame, Event, Peer, RelayProcess,
};
use between_shared::crypto::{
    sign_in_message, DeviceCertificate, MAX_SEALED_BUNDLE, MIN_SEALED_BUNDLE,
};
use between_shared::protocol::limits::{MAX_FRAME_BYTES, MAX_SNAPSHOT_BYTES};
use between_shared::protocol::{
    decode_client, encode_client, encode_server, ClientMessage, DecodeError, DocId, ErrorCode,
    RequestId, Seq, ServerMessage, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const TEN_MINUTES_MS: i64 = 10 * 60 * 1000;

/// 1. Registration and sign-in, with every way of getting them wrong.
#[tokio::test]
async fn registration_and_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());

    // The challenge: fresh bytes, the relay's origin, its clock and version range.
    let (mut first, hello) = Peer::connect(&relay.url()).await;
    assert_eq!(hello.origin, relay.origin());
    assert!(hello.min_version <= PROTOCOL_VERSION && PROTOCOL_VERSION <= hello.max_version);
    assert!((hello.server_time_ms - now_ms()).abs() < 60_000);
    let (mut second, hello2) = Peer::connect(&relay.url()).await;
    assert_ne!(
        hello.challenge, hello2.challenge,
        "challenges must be fresh"
    );
    first.close().await;
    second.close().await;

    // Register with an invite: Welcome, and the connection is signed in.
    let code = relay.invite("client");
    let (mut laptop_conn, laptop) = register(&relay, &code).await;
    laptop_conn.ping().await;

    // A second registration or sign-in on a signed-in connection: unexpected_message (fatal).
    laptop_conn
        .send(&ClientMessage::SignIn {
            device: laptop.device_id(),
            timestamp_ms: now_ms(),
            signature: [0; 64],
        })
        .await;
    laptop_conn.expect_fatal(ErrorCode::UnexpectedMessage).await;
    relay.assert_up(&laptop.device).await;

    // The same invite again (another person): invite_invalid, fatal.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    let (identity, device) = (new_identity(), new_device());
    peer.send(&register_frame(
        &hello,
        &invite_secret(&code),
        &identity,
        &device,
        certificate(&identity, &device),
    ))
    .await;
    peer.expect_fatal(ErrorCode::InviteInvalid).await;
    relay.assert_up(&laptop.device).await;

    // An invite that has already expired: invite_invalid.
    let expired = relay.invite_expiring("client", 0);
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&register_frame(
        &hello,
        &invite_secret(&expired),
        &identity,
        &device,
        certificate(&identity, &device),
    ))
    .await;
    peer.expect_fatal(ErrorCode::InviteInvalid).await;
    relay.assert_up(&laptop.device).await;

    // A made-up invite (right size, and wrong size): invite_invalid.
    for made_up in [rand::random::<[u8; 32]>().to_vec(), b"letmein".to_vec()] {
        let (mut peer, hello) = Peer::connect(&relay.url()).await;
        peer.send(&register_frame(
            &hello,
            &made_up,
            &identity,
            &device,
            certificate(&identity, &device),
        ))
        .await;
        peer.expect_fatal(ErrorCode::InviteInvalid).await;
        relay.assert_up(&laptop.device).await;
    }
    // None of the refused registrations created the device.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&sign_in_frame(&hello, &device, now_ms())).await;
    peer.expect_fatal(ErrorCode::UnknownDevice).await;
    relay.assert_up(&laptop.device).await;

    // Sign in with the registered device on a new connection: Welcome, same account.
    let (mut conn, hello) = Peer::connect(&relay.url()).await;
    let captured = sign_in_frame(&hello, &laptop.device, now_ms());
    conn.send(&captured).await;
    let (account, welcomed) = expect_welcome(conn.recv().await);
    assert_eq!((account, welcomed), (laptop.account, laptop.device_id()));
    conn.ping().await;

    // The exact same SignIn frame replayed on a new connection (new challenge): bad_signature.
    let (mut peer, _) = Peer::connect(&relay.url()).await;
    peer.send(&captured).await;
    peer.expect_fatal(ErrorCode::BadSignature).await;
    relay.assert_up(&laptop.device).await;

    // Correctly signed, but ten minutes old (or ten minutes ahead): stale_sign_in.
    for timestamp_ms in [now_ms() - TEN_MINUTES_MS, now_ms() + TEN_MINUTES_MS] {
        let (mut peer, hello) = Peer::connect(&relay.url()).await;
        peer.send(&sign_in_frame(&hello, &laptop.device, timestamp_ms))
            .await;
        peer.expect_fatal(ErrorCode::StaleSignIn).await;
        relay.assert_up(&laptop.device).await;
    }

    // Signed for another relay's origin, or by another key: bad_signature.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    let timestamp_ms = now_ms();
    let elsewhere = sign_in_message(&hello.challenge, "wss://evil.example", timestamp_ms);
    peer.send(&ClientMessage::SignIn {
        device: laptop.device_id(),
        timestamp_ms,
        signature: laptop.device.sign(&elsewhere),
    })
    .await;
    peer.expect_fatal(ErrorCode::BadSignature).await;
    relay.assert_up(&laptop.device).await;
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    let ClientMessage::SignIn {
        timestamp_ms,
        signature,
        ..
    } = sign_in_frame(&hello, &new_device(), now_ms())
    else {
        unreachable!()
    };
    peer.send(&ClientMessage::SignIn {
        device: laptop.device_id(),
        timestamp_ms,
        signature,
    })
    .await;
    peer.expect_fatal(ErrorCode::BadSignature).await;
    relay.assert_up(&laptop.device).await;

    // A device the relay never registered: unknown_device.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&sign_in_frame(&hello, &new_device(), now_ms()))
        .await;
    peer.expect_fatal(ErrorCode::UnknownDevice).await;
    relay.assert_up(&laptop.device).await;

    // A request before signing in: unauthenticated (fatal), naming the request.
    let (mut peer, _) = Peer::connect(&relay.url()).await;
    let request = peer.request_id();
    peer.send(&ClientMessage::Subscribe {
        request,
        doc: new_doc(),
        since: Seq(0),
    })
    .await;
    peer.expect_error(Some(request), ErrorCode::Unauthenticated)
        .await;
    peer.expect_closed().await;
    relay.assert_up(&laptop.device).await;

    // A second device, certified by the same identity: Welcome into the same account.
    let phone = new_device();
    let (mut phone_conn, account) = register_device(&relay, &laptop.identity, &phone).await;
    assert_eq!(account, laptop.account);
    let request = phone_conn.request_id();
    phone_conn
        .send(&ClientMessage::ListDevices { request })
        .await;
    let ServerMessage::Devices {
        request: got,
        devices,
    } = phone_conn.recv().await
    else {
        panic!("expected devices")
    };
    assert_eq!(got, request);
    let listed: BTreeSet<_> = devices.iter().map(|d| d.device).collect();
    assert_eq!(
        listed,
        BTreeSet::from([laptop.device_id(), phone.device_id()])
    );
    for info in &devices {
        let certificate = DeviceCertificate::from_bytes(&info.certificate).unwrap();
        certificate
            .verify_owner(&laptop.identity.public())
            .expect("each listed certificate is signed by the account's identity");
        assert_eq!(certificate.device_id(), info.device);
    }
    assert_eq!(
        devices
            .iter()
            .find(|d| d.device == laptop.device_id())
            .unwrap()
            .certificate,
        laptop.certificate
    );
    // The phone can now sign in on its own.
    let (_, account) = sign_in(&relay, &phone).await;
    assert_eq!(account, laptop.account);

    // Registering the phone again: already_registered.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&register_device_frame(
        &hello,
        &phone,
        certificate(&laptop.identity, &phone),
    ))
    .await;
    peer.expect_fatal(ErrorCode::AlreadyRegistered).await;
    relay.assert_up(&laptop.device).await;

    // A certificate that claims the laptop's identity as owner but is signed by another
    // identity: bad_certificate.
    let tablet = new_device();
    let mut forged = certificate(&new_identity(), &tablet);
    forged[65..97].copy_from_slice(&laptop.identity.public().0);
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&register_device_frame(&hello, &tablet, forged))
        .await;
    peer.expect_fatal(ErrorCode::BadCertificate).await;
    relay.assert_up(&laptop.device).await;
    // Bytes that are no certificate at all: bad_certificate.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&register_device_frame(&hello, &tablet, vec![1; 40]))
        .await;
    peer.expect_fatal(ErrorCode::BadCertificate).await;
    relay.assert_up(&laptop.device).await;

    // Register claiming identity I with a certificate signed by identity J: bad_certificate,
    // and the invite is not spent by the refusal.
    let code = relay.invite("client");
    let (claimed, signer, device) = (new_identity(), new_identity(), new_device());
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&register_frame(
        &hello,
        &invite_secret(&code),
        &claimed,
        &device,
        certificate(&signer, &device),
    ))
    .await;
    peer.expect_fatal(ErrorCode::BadCertificate).await;
    relay.assert_up(&laptop.device).await;
    let (mut other_conn, other) = register(&relay, &code).await;
    assert_ne!(other.account, laptop.account);
    other_conn.ping().await;

    // The forged tablet never became a device.
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&sign_in_frame(&hello, &tablet, now_ms())).await;
    peer.expect_fatal(ErrorCode::UnknownDevice).await;
    relay.assert_up(&phone).await;
}

/// `RegisterDevice` with a correctly self-signed certificate of an identity the relay has never
/// seen. docs/protocol.md and `ErrorCode::BadCertificate` say `bad_certificate` ("not signed
/// by … a known identity"); `unknown_device` is documented for `sign_in` only.
#[tokio::test]
async fn register_device_for_an_unknown_identity_is_bad_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (_conn, account) = register(&relay, &relay.invite("client")).await;
    let (stranger, device) = (new_identity(), new_device());
    let (mut peer, hello) = Peer::connect(&relay.url()).await;
    peer.send(&register_device_frame(
        &hello,
        &device,
        certificate(&stranger, &device),
    ))
    .await;
    peer.expect_fatal(ErrorCode::BadCertificate).await;
    relay.assert_up(&account.device).await;
}

/// `Register` (with a fresh, valid invite) of an identity that already has an account, or of a
/// device key that is already registered. docs/protocol.md: `already_registered` — "the
/// identity or device is already registered". The relay answers `internal` ("the relay could
/// not complete the request; try again later"), which tells the device to retry forever.
#[tokio::test]
async fn register_with_a_taken_identity_or_device_is_already_registered() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (_conn, account) = register(&relay, &relay.invite("client")).await;
    let mut outcomes = Vec::new();
    for case in ["taken identity", "taken device"] {
        let code = relay.invite("client");
        let (fresh_identity, fresh_device) = (new_identity(), new_device());
        let (identity, device) = if case == "taken identity" {
            (&account.identity, &fresh_device)
        } else {
            (&fresh_identity, &account.device)
        };
        let (mut peer, hello) = Peer::connect(&relay.url()).await;
        peer.send(&register_frame(
            &hello,
            &invite_secret(&code),
            identity,
            device,
            certificate(identity, device),
        ))
        .await;
        match peer.recv().await {
            ServerMessage::Error { code, message, .. } => outcomes.push((case, code, message)),
            other => panic!("{case}: expected an error, got {other:?}"),
        }
        peer.expect_closed().await;
        relay.assert_up(&account.device).await;
    }
    assert!(
        outcomes
            .iter()
            .all(|(_, code, _)| *code == ErrorCode::AlreadyRegistered),
        "{outcomes:#?}"
    );
}

/// 2. Store and forward: push, catch-up, live delivery, compaction, header checks.
#[tokio::test]
async fn store_and_forward() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (mut laptop_conn, laptop) = register(&relay, &relay.invite("client")).await;
    let phone = new_device();
    let (mut phone_conn, _) = register_device(&relay, &laptop.identity, &phone).await;
    let key = new_epoch_key();
    let doc = new_doc();

    laptop_conn.create_document(doc).await;
    // Creating it again from the same account is a harmless retry.
    laptop_conn.create_document(doc).await;

    let first = sealed_bundle(doc, &laptop.device, 1, b"first change", &key);
    assert_eq!(laptop_conn.push(doc, first.clone()).await, Seq(1));

    // The phone catches up from nothing: the bundle, byte for byte, then the head.
    let catch_up = phone_conn.subscribe(doc, Seq(0)).await;
    assert!(catch_up.snapshot.is_none());
    assert_eq!(catch_up.bundles, vec![(Seq(1), first.clone())]);
    assert_eq!(catch_up.head, Seq(1));

    // The laptop subscribes too, so that the relay could echo its own push back.
    let catch_up = laptop_conn.subscribe(doc, Seq(1)).await;
    assert!(catch_up.snapshot.is_none() && catch_up.bundles.is_empty());
    assert_eq!(catch_up.head, Seq(1));

    // A live push: the pusher gets Ack 2 (and not its own bundle), the phone gets Bundle 2.
    let second = sealed_bundle(doc, &laptop.device, 2, b"second change", &key);
    assert_eq!(laptop_conn.push(doc, second.clone()).await, Seq(2));
    laptop_conn.ping().await; // the next frame after the ack is the pong, not an echo
    assert_eq!(
        phone_conn.recv().await,
        ServerMessage::Bundle {
            doc,
            seq: Seq(2),
            bundle: second.clone()
        }
    );

    // Catching up from 1 returns only 2 (on a fresh connection of the phone).
    let (mut phone_again, _) = sign_in(&relay, &phone).await;
    let catch_up = phone_again.subscribe(doc, Seq(1)).await;
    assert!(catch_up.snapshot.is_none());
    assert_eq!(catch_up.bundles, vec![(Seq(2), second.clone())]);
    assert_eq!(catch_up.head, Seq(2));
    // From the head: nothing but CaughtUp.
    let catch_up = phone_again.subscribe(doc, Seq(2)).await;
    assert!(catch_up.snapshot.is_none() && catch_up.bundles.is_empty());
    assert_eq!(catch_up.head, Seq(2));
    phone_again.close().await;

    // A snapshot beyond the head is refused (bad_request, not fatal).
    let snapshot = sealed_snapshot(doc, &laptop.device, 3, b"everything so far", &key);
    let request = laptop_conn.request_id();
    laptop_conn
        .send(&ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(3),
            part: 0,
            parts: 1,
            snapshot: snapshot.clone(),
        })
        .await;
    laptop_conn
        .expect_error(Some(request), ErrorCode::BadRequest)
        .await;
    laptop_conn.ping().await;
    relay.assert_up(&laptop.device).await;

    // Compaction: a snapshot covering 2 is acknowledged …
    let request = laptop_conn.request_id();
    laptop_conn
        .send(&ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(2),
            part: 0,
            parts: 1,
            snapshot: snapshot.clone(),
        })
        .await;
    assert_eq!(
        laptop_conn.recv().await,
        ServerMessage::Ack {
            request,
            doc,
            seq: Seq(2)
        }
    );
    // … and a catch-up from 0 or 1 is the snapshot, then CaughtUp: the bundles ≤ 2 are gone.
    let (mut tablet_view, _) = sign_in(&relay, &phone).await;
    for since in [Seq(0), Seq(1)] {
        let catch_up = tablet_view.subscribe(doc, since).await;
        assert_eq!(catch_up.snapshot, Some((Seq(2), snapshot.clone())));
        assert!(catch_up.bundles.is_empty(), "bundles ≤ 2 were dropped");
        assert_eq!(catch_up.head, Seq(2));
    }
    // From 2: only CaughtUp.
    let catch_up = tablet_view.subscribe(doc, Seq(2)).await;
    assert!(catch_up.snapshot.is_none() && catch_up.bundles.is_empty());
    assert_eq!(catch_up.head, Seq(2));

    // A snapshot larger than a frame travels in parts: each acknowledged, the log replaced
    // only by the last, and a catch-up hands back the same parts in order.
    let large: Vec<u8> = (0..2_500_000_u32).map(|i| (i % 251) as u8).collect();
    let sealed = sealed_snapshot(doc, &laptop.device, 4, &large, &key);
    let cut: Vec<&[u8]> = sealed.chunks(MAX_SNAPSHOT_BYTES).collect();
    assert_eq!(cut.len(), 3);
    for (part, bytes) in (0..).zip(&cut) {
        let request = laptop_conn.request_id();
        laptop_conn
            .send(&ClientMessage::PutSnapshot {
                request,
                doc,
                covers: Seq(2),
                part,
                parts: 3,
                snapshot: bytes.to_vec(),
            })
            .await;
        assert_eq!(
            laptop_conn.recv().await,
            ServerMessage::Ack {
                request,
                doc,
                seq: Seq(2)
            }
        );
        if part < 2 {
            let catch_up = tablet_view.subscribe(doc, Seq(0)).await;
            assert_eq!(
                catch_up.snapshot,
                Some((Seq(2), snapshot.clone())),
                "the stored snapshot stays until the last part"
            );
        }
    }
    let catch_up = tablet_view.subscribe(doc, Seq(0)).await;
    assert_eq!(catch_up.snapshot_parts, 3);
    assert_eq!(catch_up.snapshot, Some((Seq(2), sealed.clone())));
    assert_eq!(catch_up.head, Seq(2));
    tablet_view.close().await;

    // A push whose header names another document, or another author: bad_request, not stored.
    let elsewhere = sealed_bundle(new_doc(), &laptop.device, 3, b"moved", &key);
    let by_phone = sealed_bundle(doc, &phone, 1, b"relabelled", &key);
    for bundle in [elsewhere, by_phone] {
        let request = laptop_conn.send_push(doc, bundle).await;
        laptop_conn
            .expect_error(Some(request), ErrorCode::BadRequest)
            .await;
        laptop_conn.ping().await;
        relay.assert_up(&laptop.device).await;
    }
    let (mut check, _) = sign_in(&relay, &phone).await;
    let catch_up = check.subscribe(doc, Seq(2)).await;
    assert!(catch_up.bundles.is_empty());
    assert_eq!(catch_up.head, Seq(2), "the refused pushes were not stored");
    check.close().await;

    // The live subscriber saw none of the refused bundles: its next frame is the next good one.
    let third = sealed_bundle(doc, &laptop.device, 3, b"third change", &key);
    assert_eq!(laptop_conn.push(doc, third.clone()).await, Seq(3));
    assert_eq!(
        phone_conn.recv().await,
        ServerMessage::Bundle {
            doc,
            seq: Seq(3),
            bundle: third.clone()
        }
    );

    // The phone pushes too (its own header), and the laptop receives it live.
    let from_phone = sealed_bundle(doc, &phone, 1, b"from the phone", &key);
    assert_eq!(phone_conn.push(doc, from_phone.clone()).await, Seq(4));
    assert_eq!(
        laptop_conn.recv().await,
        ServerMessage::Bundle {
            doc,
            seq: Seq(4),
            bundle: from_phone
        }
    );

    // After unsubscribing, the phone no longer gets live bundles.
    let request = phone_conn.request_id();
    phone_conn
        .send(&ClientMessage::Unsubscribe { request, doc })
        .await;
    assert_eq!(phone_conn.recv().await, ServerMessage::Done { request });
    let fifth = sealed_bundle(doc, &laptop.device, 4, b"fifth", &key);
    assert_eq!(laptop_conn.push(doc, fifth).await, Seq(5));
    phone_conn.ping().await;
    phone_conn.ping().await;
    laptop_conn.ping().await; // and still no echo of the laptop's own pushes

    let (status, metrics) = relay.http_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("between_connections_open"), "{metrics}");
    relay.assert_up(&laptop.device).await;
}

/// 3. Membership: another account can neither read, append, compact nor subscribe.
#[tokio::test]
async fn membership_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (mut owner_conn, owner) = register(&relay, &relay.invite("client")).await;
    let (mut other_conn, other) = register(&relay, &relay.invite("client")).await;
    assert_ne!(owner.account, other.account);
    let key = new_epoch_key();
    let doc = new_doc();
    owner_conn.create_document(doc).await;
    let first = sealed_bundle(doc, &owner.device, 1, b"private", &key);
    assert_eq!(owner_conn.push(doc, first.clone()).await, Seq(1));
    let catch_up = owner_conn.subscribe(doc, Seq(1)).await;
    assert_eq!(catch_up.head, Seq(1));

    // Every request on the owner's document: not_member, and the connection stays open.
    let theirs = sealed_bundle(doc, &other.device, 1, b"intrusion", &key);
    let attempts: [fn(RequestId, DocId) -> ClientMessage; 2] = [
        |request, doc| ClientMessage::Subscribe {
            request,
            doc,
            since: Seq(0),
        },
        |request, doc| ClientMessage::GetKeyEnvelopes { request, doc },
    ];
    for make in attempts {
        let request = other_conn.request_id();
        other_conn.send(&make(request, doc)).await;
        other_conn
            .expect_error(Some(request), ErrorCode::NotMember)
            .await;
        other_conn.ping().await;
        relay.assert_up(&owner.device).await;
    }
    let request = other_conn.send_push(doc, theirs.clone()).await;
    other_conn
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;
    other_conn.ping().await;
    relay.assert_up(&owner.device).await;
    let request = other_conn.request_id();
    other_conn
        .send(&ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(1),
            part: 0,
            parts: 1,
            snapshot: theirs.clone(),
        })
        .await;
    other_conn
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;
    other_conn.ping().await;
    relay.assert_up(&owner.device).await;
    // Claiming the owner's document id: conflict.
    let request = other_conn.request_id();
    other_conn
        .send(&ClientMessage::CreateDocument { request, doc })
        .await;
    other_conn
        .expect_error(Some(request), ErrorCode::Conflict)
        .await;
    other_conn.ping().await;
    relay.assert_up(&owner.device).await;

    // A document nobody created: unknown_document.
    let nowhere = new_doc();
    let request = other_conn.send_subscribe(nowhere, Seq(0)).await;
    other_conn
        .expect_error(Some(request), ErrorCode::UnknownDocument)
        .await;
    other_conn.ping().await;
    relay.assert_up(&owner.device).await;
    let stray = sealed_bundle(nowhere, &other.device, 1, b"stray", &key);
    let request = other_conn.send_push(nowhere, stray).await;
    other_conn
        .expect_error(Some(request), ErrorCode::UnknownDocument)
        .await;
    other_conn.ping().await;

    // Nothing reached the owner's log or its live subscriber, and no snapshot replaced it.
    owner_conn.ping().await; // no bundle arrived before the pong
    let (mut check, _) = sign_in(&relay, &owner.device).await;
    let catch_up = check.subscribe(doc, Seq(0)).await;
    assert!(catch_up.snapshot.is_none());
    assert_eq!(catch_up.bundles, vec![(Seq(1), first)]);
    assert_eq!(catch_up.head, Seq(1));
    // The owner still works normally.
    let second = sealed_bundle(doc, &owner.device, 2, b"still mine", &key);
    assert_eq!(owner_conn.push(doc, second).await, Seq(2));
    relay.assert_up(&other.device).await;
    relay.assert_up(&owner.device).await;
}

/// The bytes of a well-formed `ping` frame whose version is 99.
fn version_99_frame() -> Vec<u8> {
    let frame = encode_client(&ClientMessage::Ping { nonce: 5 }).unwrap();
    // `{ "v": 1, …`: a2 (map of 2) 61 76 ("v") 01 (1) …; 99 is written 18 63.
    assert_eq!(frame[..4], [0xa2, 0x61, 0x76, 0x01]);
    let mut patched = vec![0xa2, 0x61, 0x76, 0x18, 99];
    patched.extend_from_slice(&frame[4..]);
    assert!(matches!(
        decode_client(&patched),
        Err(DecodeError::UnsupportedVersion { got: 99, .. })
    ));
    patched
}

/// 4. Bad frames end the connection (never the relay); a good connection keeps working.
#[tokio::test]
async fn bad_frames_end_the_connection_not_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (mut good, account) = register(&relay, &relay.invite("client")).await;
    let key = new_epoch_key();
    let doc = new_doc();
    good.create_document(doc).await;
    let mut counter = 0;
    let mut head = 0;
    // After each bad input: the good connection's push is acknowledged, and the relay is up.
    macro_rules! still_fine {
        () => {
            counter += 1;
            head += 1;
            let bundle = sealed_bundle(doc, &account.device, counter, b"still here", &key);
            assert_eq!(good.push(doc, bundle).await, Seq(head));
            relay.assert_up(&account.device).await;
        };
    }
    still_fine!();

    // Random garbage, before and after signing in: malformed, then closed.
    let mut garbage: [u8; 64] = rand::random();
    garbage[0] = 0xff; // a CBOR "break" where an item must start: never a valid frame
    assert_eq!(
        decode_client(&garbage).unwrap_err().code(),
        ErrorCode::Malformed
    );
    let mut peer = Peer::connect(&relay.url()).await.0;
    peer.send_raw(Message::Binary(garbage.to_vec().into()))
        .await
        .unwrap();
    peer.expect_fatal(ErrorCode::Malformed).await;
    still_fine!();
    let mut peer = sign_in(&relay, &account.device).await.0;
    peer.send_raw(Message::Binary(garbage.to_vec().into()))
        .await
        .unwrap();
    peer.expect_fatal(ErrorCode::Malformed).await;
    still_fine!();

    // A valid frame followed by trailing bytes: malformed.
    let mut trailing = encode_client(&ClientMessage::Ping { nonce: 1 }).unwrap();
    trailing.push(0);
    let mut peer = sign_in(&relay, &account.device).await.0;
    peer.send_raw(Message::Binary(trailing.into()))
        .await
        .unwrap();
    peer.expect_fatal(ErrorCode::Malformed).await;
    still_fine!();

    // A text frame (even one holding JSON): malformed, then closed.
    let mut peer = sign_in(&relay, &account.device).await.0;
    peer.send_raw(Message::text(r#"{"v":1,"msg":{"ping":{"nonce":1}}}"#))
        .await
        .unwrap();
    peer.expect_fatal(ErrorCode::Malformed).await;
    still_fine!();

    // The largest legal bundle (1 MiB sealed) in a legal frame is stored.
    let plaintext = vec![7u8; MAX_SEALED_BUNDLE - MIN_SEALED_BUNDLE];
    counter += 1;
    let biggest = sealed_bundle(doc, &account.device, counter, &plaintext, &key);
    assert_eq!(biggest.len(), MAX_SEALED_BUNDLE);
    head += 1;
    assert_eq!(good.push(doc, biggest).await, Seq(head));

    // A frame over MAX_FRAME_BYTES: the documented `too_large` error, then the connection ends.
    let mut peer = sign_in(&relay, &account.device).await.0;
    let oversized = vec![0u8; MAX_FRAME_BYTES + 1];
    let _ = peer.send_raw(Message::Binary(oversized.into())).await; // may fail mid-write
    match peer.next_event().await {
        Event::Message(ServerMessage::Error {
            code: ErrorCode::TooLarge,
            request: None,
            message,
        }) => {
            assert!(message.contains(&MAX_FRAME_BYTES.to_string()), "{message}");
            peer.expect_closed().await;
        }
        other => panic!("expected too_large for the oversized frame, got {other:?}"),
    }
    still_fine!();

    // Protocol version 99: unsupported_version, then closed.
    let mut peer = sign_in(&relay, &account.device).await.0;
    peer.send_raw(Message::Binary(version_99_frame().into()))
        .await
        .unwrap();
    peer.expect_fatal(ErrorCode::UnsupportedVersion).await;
    still_fine!();
    // Also as the very first frame of a connection.
    let mut peer = Peer::connect(&relay.url()).await.0;
    peer.send_raw(Message::Binary(version_99_frame().into()))
        .await
        .unwrap();
    peer.expect_fatal(ErrorCode::UnsupportedVersion).await;
    still_fine!();

    // A well-formed relay-direction message sent by a device: unknown message → malformed.
    let ack = encode_server(&ServerMessage::Ack {
        request: RequestId(1),
        doc,
        seq: Seq(1),
    })
    .unwrap();
    assert!(matches!(
        decode_client(&ack),
        Err(DecodeError::UnknownMessage { .. })
    ));
    let mut peer = sign_in(&relay, &account.device).await.0;
    peer.send_raw(Message::Binary(ack.into())).await.unwrap();
    let message = peer.expect_fatal(ErrorCode::Malformed).await;
    assert!(message.contains("ack"), "{message}");
    still_fine!();

    // A push whose bundle is not a sealed bundle at all: malformed (fatal), naming the request.
    let mut peer = sign_in(&relay, &account.device).await.0;
    let request = peer.send_push(doc, b"not a bundle".to_vec()).await;
    peer.expect_error(Some(request), ErrorCode::Malformed).await;
    peer.expect_closed().await;
    still_fine!();

    // Nothing the bad connections sent reached the log: it holds exactly the good pushes.
    let (mut check, _) = sign_in(&relay, &account.device).await;
    let catch_up = check.subscribe(doc, Seq(0)).await;
    assert_eq!(catch_up.head, Seq(head));
    assert_eq!(
        catch_up
            .bundles
            .iter()
            .map(|(s, _)| s.0)
            .collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>()
    );
    good.ping().await;
}

/// The handshake timeout: a connection that never signs in is closed once it passes (the
/// relay here runs with a one-second timeout instead of the default ten).
#[tokio::test]
async fn a_handshake_that_never_signs_in_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start_with(dir.path(), &["--handshake-timeout", "1"]);
    let started = Instant::now();
    let (mut peer, _) = Peer::connect(&relay.url()).await;
    // `Peer::next_event` waits at most 10 s, so wait for the close in two steps.
    let event = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), async { peer.next_event().await })
                .await
            {
                Ok(event) => break event,
                Err(_) => continue,
            }
        }
    })
    .await
    .expect("closed within 15 s");
    match event {
        Event::Message(ServerMessage::Error {
            code: ErrorCode::Unauthenticated,
            ..
        }) => peer.expect_closed().await,
        other => panic!("expected unauthenticated, got {other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout"
    );
    relay.assert_healthy().await;
}

/// 5. Invariant 2: every acknowledged push survives `kill -9` of the relay.
#[tokio::test]
async fn acknowledged_pushes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::start(dir.path());
    let (mut conn, account) = register(&relay, &relay.invite("client")).await;
    let key = new_epoch_key();
    let doc = new_doc();
    conn.create_document(doc).await;

    // Every bundle sent, in order (one pusher, so the n-th push is stored at seq n).
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut acked: BTreeMap<u64, usize> = BTreeMap::new(); // seq → index in `sent`
    let bundle = |n: usize| {
        let plaintext = format!("change number {n} ").repeat(20);
        sealed_bundle(
            doc,
            &account.device,
            n as u64 + 1,
            plaintext.as_bytes(),
            &key,
        )
    };

    // 50 pushes, each acknowledged before the next.
    for n in 0..50 {
        sent.push(bundle(n));
        let seq = conn.push(doc, sent[n].clone()).await;
        assert_eq!(seq, Seq(n as u64 + 1));
        acked.insert(seq.0, n);
    }

    // 50 more without waiting; kill -9 the relay after ~10 of their acks.
    let mut requests = BTreeMap::new();
    for n in 50..100 {
        sent.push(bundle(n));
        let request = conn.send_push(doc, sent[n].clone()).await;
        requests.insert(request, n);
    }
    let mut burst_acks = 0;
    while burst_acks < 10 {
        match conn.recv().await {
            ServerMessage::Ack {
                request,
                doc: got,
                seq,
            } => {
                assert_eq!(got, doc);
                let n = requests[&request];
                assert_eq!(seq, Seq(n as u64 + 1), "acks come in order, without gaps");
                acked.insert(seq.0, n);
                burst_acks += 1;
            }
            other => panic!("expected ack, got {other:?}"),
        }
    }
    relay.kill9();
    drop(conn);
    eprintln!("killed the relay after {} acknowledged pushes", acked.len());

    // Restart on the same database: every acknowledged seq is there, byte for byte, and the
    // log is gap-free 1..=head, each entry exactly what was sent at that position.
    relay.restart();
    let (mut conn, account_id) = sign_in(&relay, &account.device).await;
    assert_eq!(account_id, account.account);
    let catch_up = conn.subscribe(doc, Seq(0)).await;
    assert!(catch_up.snapshot.is_none());
    let head = catch_up.head.0;
    let last_acked = *acked.keys().last().unwrap();
    assert!(
        head >= last_acked,
        "head {head} is below the last acknowledged seq {last_acked}"
    );
    assert!(head <= 100);
    eprintln!("after the restart the log's head is {head}");
    assert_eq!(
        catch_up
            .bundles
            .iter()
            .map(|(s, _)| s.0)
            .collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>(),
        "the log must be gap-free"
    );
    for (seq, bytes) in &catch_up.bundles {
        let n = usize::try_from(seq.0 - 1).unwrap();
        assert!(*bytes == sent[n], "seq {} holds other bytes", seq.0);
    }
    for (seq, n) in &acked {
        let (_, bytes) = &catch_up.bundles[usize::try_from(seq - 1).unwrap()];
        assert!(
            *bytes == sent[*n],
            "acknowledged seq {seq} was lost or changed"
        );
    }

    // The log continues right after the head.
    let next = bundle(200);
    assert_eq!(conn.push(doc, next).await, Seq(head + 1));
    relay.assert_up(&account.device).await;
}

/// 6. More than 64 connections from one address: the extra ones are refused with
/// `rate_limited`; closing some lets new ones in.
#[tokio::test]
async fn connections_per_address_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (mut conn, account) = register(&relay, &relay.invite("client")).await;
    conn.close().await;

    let started = Instant::now();
    let mut open = Vec::new();
    for _ in 0..64 {
        open.push(Peer::connect(&relay.url()).await.0);
    }
    for _ in 0..3 {
        let mut extra = Peer::connect_raw(&relay.url()).await;
        extra.expect_error(None, ErrorCode::RateLimited).await;
        extra.expect_closed().await;
    }
    let took = started.elapsed();
    eprintln!("opened 64 connections and was refused 3 more in {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // /healthz is not a device connection and still answers.
    let (status, _) = relay.http_get("/healthz").await;
    assert_eq!(status, 200);

    for mut peer in open {
        peer.close().await;
    }
    // The slots are released as the relay finishes each connection; wait for that event (a
    // challenge instead of a refusal) rather than sleeping.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut peer = Peer::connect_raw(&relay.url()).await;
        match peer.recv().await {
            ServerMessage::Challenge { .. } => {
                peer.close().await;
                break;
            }
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => assert!(Instant::now() < deadline, "slots were never released"),
            other => panic!("unexpected {other:?}"),
        }
    }
    relay.assert_up(&account.device).await;
}
