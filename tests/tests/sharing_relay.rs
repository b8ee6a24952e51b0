//! The relay's side of sharing a client's document with their therapist, spoken directly over
//! the wire protocol against the real `between-relay` binary, with real identity keys, device
//! certificates and owner-signed membership lists.
//!
//! One practice is set up: therapist Ada (admin invite) invites client Cleo with a client invite
//! made through `create_invite`; Cleo creates her homework document and shares it first with Ada
//! and therapist Ben, then (a new signed list) with Ada only. Around them: Dan, another client;
//! Carl, another therapist; and a device the relay has never seen. The authorisation matrix then
//! checks every request on the document (and the account-level sharing requests) for every role,
//! allowed or refused with the designed error code, and the refusals are in the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::{
    expect_welcome, invite_secret, new_device, new_doc, new_epoch_key, new_identity, now_ms,
    register_frame, sealed_bundle, sign_in_frame, Account, Peer, RelayProcess,
};
use between_shared::crypto::{InviteSecret, Member, SignedMembership};
use between_shared::protocol::limits::MAX_INVITE_LIFETIME;
use between_shared::protocol::{
    AccountId, ClientMessage, DocId, DocumentInfo, ErrorCode, KeyEnvelope, RequestId, Seq,
    ServerMessage,
};
use between_shared::{Role, Timestamp};

/// Registers a new account in `role` (fresh identity, a device certified for that role) with the
/// raw invite `secret`; returns the signed-in connection and the account.
async fn register_as(relay: &RelayProcess, secret: &[u8], role: Role) -> (Peer, Account) {
    let identity = new_identity();
    let device = new_device();
    let certificate = identity
        .certify(&device.public(), role, Timestamp(now_ms()))
        .to_bytes()
        .to_vec();
    let (mut peer, hello) = relay.connect().await;
    peer.send(&register_frame(
        &hello,
        secret,
        &identity,
        &device,
        certificate.clone(),
    ))
    .await;
    let (account, welcomed) = expect_welcome(peer.recv().await);
    assert_eq!(welcomed, device.device_id());
    (
        peer,
        Account {
            identity,
            device,
            certificate,
            account,
        },
    )
}

/// Sends the request `build` makes with a fresh request id; returns the id and the reply.
async fn call(
    peer: &mut Peer,
    build: impl FnOnce(RequestId) -> ClientMessage,
) -> (RequestId, ServerMessage) {
    let request = peer.request_id();
    peer.send(&build(request)).await;
    (request, peer.recv().await)
}

/// Asserts that `reply` refuses `request` with `code`; returns the message.
#[track_caller]
fn refused(request: RequestId, reply: ServerMessage, code: ErrorCode) -> String {
    match reply {
        ServerMessage::Error {
            request: got,
            code: got_code,
            message,
        } => {
            assert_eq!(
                (got_code, got),
                (code, Some(request)),
                "unexpected error: {message}"
            );
            assert!(!code.fatal());
            message
        }
        other => panic!("expected a {code:?} refusal, got {other:?}"),
    }
}

/// Asserts that `reply` is `Done` for `request`.
#[track_caller]
fn done(request: RequestId, reply: ServerMessage) {
    assert_eq!(reply, ServerMessage::Done { request });
}

/// A membership list for `doc` signed by `owner`, with `others` as further members.
fn signed_list(owner: &Account, doc: DocId, serial: u64, others: &[(&Account, Role)]) -> Vec<u8> {
    let others: Vec<Member> = others
        .iter()
        .map(|(account, role)| Member {
            identity: account.identity.public(),
            role: *role,
        })
        .collect();
    SignedMembership::sign(&owner.identity, doc, serial, 1, &others)
        .unwrap()
        .to_bytes()
}

async fn put_membership(
    peer: &mut Peer,
    doc: DocId,
    membership: Vec<u8>,
) -> (RequestId, ServerMessage) {
    call(peer, |request| ClientMessage::PutMembership {
        request,
        doc,
        membership,
    })
    .await
}

async fn create_invite(
    peer: &mut Peer,
    invite_hash: [u8; 32],
    expires_at_ms: i64,
) -> (RequestId, ServerMessage) {
    call(peer, |request| ClientMessage::CreateInvite {
        request,
        invite_hash,
        expires_at_ms,
    })
    .await
}

async fn get_account(peer: &mut Peer, account: Option<AccountId>) -> (RequestId, ServerMessage) {
    call(peer, |request| ClientMessage::GetAccount {
        request,
        account,
    })
    .await
}

async fn list_documents(peer: &mut Peer) -> Vec<DocumentInfo> {
    let (request, reply) = call(peer, |request| ClientMessage::ListDocuments { request }).await;
    match reply {
        ServerMessage::Documents {
            request: got,
            documents,
        } => {
            assert_eq!(got, request);
            documents
        }
        other => panic!("expected documents, got {other:?}"),
    }
}

/// Asserts that `reply` is the `Account` of `expected`, listing its (one) device.
#[track_caller]
fn is_account(request: RequestId, reply: ServerMessage, expected: &Account) {
    match reply {
        ServerMessage::Account {
            request: got,
            account,
            identity,
            devices,
        } => {
            assert_eq!(got, request);
            assert_eq!(account, expected.account);
            assert_eq!(identity, expected.identity.public().0);
            let ids: Vec<_> = devices.iter().map(|d| d.device).collect();
            assert_eq!(ids, [expected.device_id()]);
            assert_eq!(devices[0].certificate, expected.certificate);
        }
        other => panic!("expected an account, got {other:?}"),
    }
}

/// A one-time invite secret and its hash, as a therapist's device makes them.
fn new_invite() -> (InviteSecret, [u8; 32]) {
    let secret = InviteSecret::generate(&mut rand::rng());
    let hash = secret.hash();
    (secret, hash)
}

/// Everyone in the practice, signed in, and Cleo's shared document.
struct Practice {
    relay: RelayProcess,
    doc: DocId,
    cleo: (Peer, Account),
    ada: (Peer, Account),
    ben: (Peer, Account),
    carl: (Peer, Account),
    dan: (Peer, Account),
}

/// Sets up the practice: Ada and Ben share Cleo's document (serial 1), then Cleo's list with
/// serial 2 leaves Ben out. Ben is subscribed live before he is removed.
async fn practice(dir: &std::path::Path) -> Practice {
    let relay = RelayProcess::start(dir);
    let ada = register_as(
        &relay,
        &invite_secret(&relay.invite("therapist")),
        Role::Therapist,
    )
    .await;
    let mut ben = register_as(
        &relay,
        &invite_secret(&relay.invite("therapist")),
        Role::Therapist,
    )
    .await;
    let carl = register_as(
        &relay,
        &invite_secret(&relay.invite("therapist")),
        Role::Therapist,
    )
    .await;
    let dan = register_as(
        &relay,
        &invite_secret(&relay.invite("client")),
        Role::Client,
    )
    .await;

    // Ada invites Cleo through the relay; Cleo joins with the secret from Ada's code.
    let (mut ada_peer, ada_account) = ada;
    let (secret, hash) = new_invite();
    let (request, reply) = create_invite(&mut ada_peer, hash, now_ms() + 60_000).await;
    done(request, reply);
    let mut cleo = register_as(&relay, secret.as_bytes(), Role::Client).await;
    let ada = (ada_peer, ada_account);

    let doc = new_doc();
    cleo.0.create_document(doc).await;
    let first = signed_list(
        &cleo.1,
        doc,
        1,
        &[(&ada.1, Role::Therapist), (&ben.1, Role::Therapist)],
    );
    let (request, reply) = put_membership(&mut cleo.0, doc, first).await;
    done(request, reply);
    let catch_up = ben.0.subscribe(doc, Seq(0)).await;
    assert_eq!(catch_up.head, Seq(0));

    let second = signed_list(&cleo.1, doc, 2, &[(&ada.1, Role::Therapist)]);
    let (request, reply) = put_membership(&mut cleo.0, doc, second).await;
    done(request, reply);

    Practice {
        relay,
        doc,
        cleo,
        ada,
        ben,
        carl,
        dan,
    }
}

#[tokio::test]
async fn a_client_invited_by_a_therapist_finds_that_therapist() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = practice(dir.path()).await;

    // Cleo's inviter is Ada, with Ada's certified device.
    let (request, reply) = get_account(&mut p.cleo.0, None).await;
    is_account(request, reply, &p.ada.1);
    // Accounts registered with the admin's invite have no inviter.
    for (peer, _) in [&mut p.ada, &mut p.dan] {
        let (request, reply) = get_account(peer, None).await;
        let message = refused(request, reply, ErrorCode::Forbidden);
        assert!(message.contains("invited"), "{message}");
    }
    p.relay.assert_no_panic();
}

#[tokio::test]
async fn only_therapists_make_client_invites_and_only_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = practice(dir.path()).await;
    let now = now_ms();
    let longest = i64::try_from(MAX_INVITE_LIFETIME.as_millis()).unwrap();

    for (peer, _) in [&mut p.cleo, &mut p.dan] {
        let (request, reply) = create_invite(peer, new_invite().1, now + 60_000).await;
        let message = refused(request, reply, ErrorCode::Forbidden);
        assert!(message.contains("only a therapist"), "{message}");
    }
    for expires_at_ms in [now - 1, now - 3_600_000, now + longest + 60_000, i64::MAX] {
        let (request, reply) = create_invite(&mut p.carl.0, new_invite().1, expires_at_ms).await;
        refused(request, reply, ErrorCode::BadRequest);
    }
    // Every therapist may invite, up to the longest lifetime; a hash is stored once.
    let (_, hash) = new_invite();
    let (request, reply) = create_invite(&mut p.carl.0, hash, now + longest - 60_000).await;
    done(request, reply);
    let (request, reply) = create_invite(&mut p.ben.0, hash, now + 60_000).await;
    refused(request, reply, ErrorCode::Conflict);

    // An invite that expired is refused at registration like any other bad invite.
    let (secret, hash) = new_invite();
    let (request, reply) = create_invite(&mut p.carl.0, hash, now_ms() + 300).await;
    done(request, reply);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (mut late, hello) = p.relay.connect().await;
    let identity = new_identity();
    let device = new_device();
    let certificate = identity
        .certify(&device.public(), Role::Client, Timestamp(now_ms()))
        .to_bytes()
        .to_vec();
    late.send(&register_frame(
        &hello,
        secret.as_bytes(),
        &identity,
        &device,
        certificate,
    ))
    .await;
    late.expect_fatal(ErrorCode::InviteInvalid).await;
    p.relay.assert_no_panic();
}

/// Every role × every request on the document, allowed or refused as designed.
#[tokio::test]
async fn authorisation_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = practice(dir.path()).await;
    let doc = p.doc;
    let key = new_epoch_key();

    // Subscribe (read the log): the owner and Ada; nobody else.
    assert_eq!(p.cleo.0.subscribe(doc, Seq(0)).await.head, Seq(0));
    assert_eq!(p.ada.0.subscribe(doc, Seq(0)).await.head, Seq(0));
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let request = peer.send_subscribe(doc, Seq(0)).await;
        peer.expect_error(Some(request), ErrorCode::NotMember).await;
    }

    // Push (append): the owner and Ada; the other subscriber receives it live. Ben, subscribed
    // before his removal, no longer receives anything: his next frame is the pong.
    let bundle = sealed_bundle(doc, &p.cleo.1.device, 1, b"cleo's entry", &key);
    assert_eq!(p.cleo.0.push(doc, bundle.clone()).await, Seq(1));
    assert_eq!(
        p.ada.0.recv().await,
        ServerMessage::Bundle {
            doc,
            seq: Seq(1),
            bundle
        }
    );
    p.ben.0.ping().await;
    let bundle = sealed_bundle(doc, &p.ada.1.device, 1, b"ada's comment", &key);
    assert_eq!(p.ada.0.push(doc, bundle).await, Seq(2));
    assert!(matches!(
        p.cleo.0.recv().await,
        ServerMessage::Bundle { seq: Seq(2), .. }
    ));
    for (peer, account) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let bundle = sealed_bundle(doc, &account.device, 1, b"intruder", &key);
        let request = peer.send_push(doc, bundle).await;
        peer.expect_error(Some(request), ErrorCode::NotMember).await;
    }

    // Put key envelopes: members, for enabled devices of members only.
    let envelope = |recipient: &Account| KeyEnvelope {
        epoch: 1,
        recipient: recipient.device_id(),
        envelope: vec![0xe1; 48],
    };
    let for_ada = envelope(&p.ada.1);
    let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::PutKeyEnvelopes {
        request,
        doc,
        envelopes: vec![envelope(&p.cleo.1), for_ada.clone()],
    })
    .await;
    done(request, reply);
    for stranger in [&p.ben.1, &p.carl.1, &p.dan.1] {
        let planted = vec![envelope(stranger)];
        let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: planted,
        })
        .await;
        let message = refused(request, reply, ErrorCode::BadRequest);
        assert!(
            message.contains("not an enabled device of a member"),
            "{message}"
        );
    }
    // A member who is not the owner stores no envelope at all, not even for its own device:
    // only the owner gives out the document's keys.
    for planted in [envelope(&p.ada.1), envelope(&p.cleo.1)] {
        let (request, reply) = call(&mut p.ada.0, |request| ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: vec![planted],
        })
        .await;
        let message = refused(request, reply, ErrorCode::Forbidden);
        assert!(
            message.contains("only the devices of the client"),
            "{message}"
        );
    }
    // One bad recipient refuses the whole message: nothing is stored for the good one either.
    let unknown = KeyEnvelope {
        recipient: new_device().device_id(),
        ..envelope(&p.cleo.1)
    };
    let mixed = vec![
        KeyEnvelope {
            epoch: 2,
            ..for_ada.clone()
        },
        unknown,
    ];
    let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::PutKeyEnvelopes {
        request,
        doc,
        envelopes: mixed,
    })
    .await;
    refused(request, reply, ErrorCode::BadRequest);
    let ben_envelope = vec![envelope(&p.ben.1)];
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let planted = ben_envelope.clone();
        let (request, reply) = call(peer, |request| ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: planted,
        })
        .await;
        refused(request, reply, ErrorCode::NotMember);
    }

    // Get key envelopes: members get their own (epoch 2 was never stored); others are refused.
    let (request, reply) = call(&mut p.ada.0, |request| ClientMessage::GetKeyEnvelopes {
        request,
        doc,
    })
    .await;
    assert_eq!(
        reply,
        ServerMessage::KeyEnvelopes {
            request,
            doc,
            envelopes: vec![for_ada],
        }
    );
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let (request, reply) = call(peer, |request| ClientMessage::GetKeyEnvelopes {
            request,
            doc,
        })
        .await;
        refused(request, reply, ErrorCode::NotMember);
    }

    // Get membership: members get the latest list; others are refused.
    let latest = signed_list(&p.cleo.1, doc, 2, &[(&p.ada.1, Role::Therapist)]);
    for (peer, _) in [&mut p.cleo, &mut p.ada] {
        let (request, reply) = call(peer, |request| ClientMessage::GetMembership {
            request,
            doc,
        })
        .await;
        assert_eq!(
            reply,
            ServerMessage::Membership {
                request,
                doc,
                membership: Some(latest.clone()),
            }
        );
    }
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let (request, reply) = call(peer, |request| ClientMessage::GetMembership {
            request,
            doc,
        })
        .await;
        refused(request, reply, ErrorCode::NotMember);
    }

    // Put membership: only the owner. A member or a stranger with a list they signed
    // themselves (naming themselves as owner) is refused.
    for (peer, account) in [&mut p.ada, &mut p.ben, &mut p.carl, &mut p.dan] {
        let own = SignedMembership::sign(&account.identity, doc, 9, 1, &[])
            .unwrap()
            .to_bytes();
        let (request, reply) = put_membership(peer, doc, own).await;
        refused(request, reply, ErrorCode::Forbidden);
    }

    // Get account: yourself, and accounts you share a document with.
    let (ada_id, cleo_id, ben_id, dan_id) = (
        p.ada.1.account,
        p.cleo.1.account,
        p.ben.1.account,
        p.dan.1.account,
    );
    let (request, reply) = get_account(&mut p.cleo.0, Some(ada_id)).await;
    is_account(request, reply, &p.ada.1);
    let (request, reply) = get_account(&mut p.ada.0, Some(cleo_id)).await;
    is_account(request, reply, &p.cleo.1);
    let (request, reply) = get_account(&mut p.dan.0, Some(dan_id)).await;
    is_account(request, reply, &p.dan.1);
    // Not a removed member, not another client, not a stranger, not an unknown account.
    for wanted in [ben_id, dan_id] {
        let (request, reply) = get_account(&mut p.cleo.0, Some(wanted)).await;
        refused(request, reply, ErrorCode::Forbidden);
    }
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        for wanted in [cleo_id, ada_id, AccountId([0x5a; 16])] {
            let (request, reply) = get_account(peer, Some(wanted)).await;
            refused(request, reply, ErrorCode::Forbidden);
        }
    }

    // List documents: the owner and Ada see the document with its owner; the rest nothing.
    let shared = vec![DocumentInfo {
        doc,
        owner: cleo_id,
    }];
    assert_eq!(list_documents(&mut p.cleo.0).await, shared);
    assert_eq!(list_documents(&mut p.ada.0).await, shared);
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        assert_eq!(list_documents(peer).await, []);
    }

    // An unregistered device cannot sign in, and nothing works before signing in.
    let stranger = new_device();
    let (mut peer, hello) = p.relay.connect().await;
    peer.send(&sign_in_frame(&hello, &stranger, now_ms())).await;
    peer.expect_fatal(ErrorCode::UnknownDevice).await;
    for attempt in [
        ClientMessage::GetMembership {
            request: RequestId(1),
            doc,
        },
        ClientMessage::ListDocuments {
            request: RequestId(1),
        },
        ClientMessage::GetAccount {
            request: RequestId(1),
            account: None,
        },
        ClientMessage::CreateInvite {
            request: RequestId(1),
            invite_hash: [1; 32],
            expires_at_ms: now_ms() + 60_000,
        },
        ClientMessage::Subscribe {
            request: RequestId(1),
            doc,
            since: Seq(0),
        },
    ] {
        let (mut peer, _) = p.relay.connect().await;
        peer.send(&attempt).await;
        peer.expect_error(Some(RequestId(1)), ErrorCode::Unauthenticated)
            .await;
        peer.expect_closed().await;
    }

    // Delete the document: only the owner (tested in data_rights.rs, as it ends the document);
    // a member therapist is forbidden, everyone else is not a member.
    let (request, reply) = call(&mut p.ada.0, |request| ClientMessage::DeleteDocument {
        request,
        doc,
    })
    .await;
    refused(request, reply, ErrorCode::Forbidden);
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let (request, reply) = call(peer, |request| ClientMessage::DeleteDocument {
            request,
            doc,
        })
        .await;
        refused(request, reply, ErrorCode::NotMember);
    }

    // Remove a device: only one's own account's other devices.
    let cleo_device = p.cleo.1.device.device_id();
    for (peer, _) in [&mut p.ada, &mut p.dan] {
        let (request, reply) = call(peer, |request| ClientMessage::RevokeDevice {
            request,
            device: cleo_device,
        })
        .await;
        refused(request, reply, ErrorCode::Forbidden);
    }
    let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::RevokeDevice {
        request,
        device: cleo_device,
    })
    .await;
    refused(request, reply, ErrorCode::Forbidden);

    // The practice admin has no device and no key: its commands on the relay's host see ids,
    // roles and sizes, never content or a client's name.
    let documents = p.relay.admin(&["documents"]);
    let listing = String::from_utf8_lossy(&documents.stdout);
    assert!(listing.contains(&doc.to_string()), "{listing}");
    for secret in ["cleo's entry", "ada's comment", "intruder"] {
        assert!(!listing.contains(secret), "{listing}");
    }

    // Leave the document: not the owner (who deletes instead), not a non-member; the member
    // therapist may, and is then refused like anyone else.
    let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::LeaveDocument {
        request,
        doc,
    })
    .await;
    refused(request, reply, ErrorCode::Forbidden);
    for (peer, _) in [&mut p.ben, &mut p.carl, &mut p.dan] {
        let (request, reply) = call(peer, |request| ClientMessage::LeaveDocument {
            request,
            doc,
        })
        .await;
        refused(request, reply, ErrorCode::NotMember);
    }
    let (request, reply) = call(&mut p.ada.0, |request| ClientMessage::LeaveDocument {
        request,
        doc,
    })
    .await;
    done(request, reply);
    let request = p.ada.0.send_subscribe(doc, Seq(0)).await;
    p.ada
        .0
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;

    // The owner reads every access in the document's trail, refusals included.
    let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::GetAudit {
        request,
        doc: Some(doc),
        after: 0,
        limit: 512,
    })
    .await;
    let ServerMessage::Audit {
        request: got,
        events,
        ..
    } = reply
    else {
        panic!("expected the audit trail, got {reply:?}");
    };
    assert_eq!(got, request);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for token in [
        "put-members",
        "refused-put-members",
        "read-members",
        "refused-read-members",
        "refused-read",
        "refused-append",
        "refused-put-keys",
        "refused-read-keys",
        "refused-delete",
        "refused-leave",
        "leave",
    ] {
        assert!(actions.contains(&token), "{token} missing from {actions:?}");
    }
    let by_ben = events
        .iter()
        .filter(|e| e.account == Some(ben_id) && e.action.starts_with("refused-"))
        .count();
    assert!(by_ben >= 4, "Ben's refused attempts: {by_ben}");
    p.relay.assert_no_panic();
}

#[tokio::test]
async fn membership_lists_are_checked_before_they_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = practice(dir.path()).await;
    let doc = p.doc;
    let ada = (&p.ada.1, Role::Therapist);

    // Rollback: serial 2 again, or an older one, is refused and changes nothing.
    for serial in [2, 1] {
        let old = signed_list(&p.cleo.1, doc, serial, &[ada, (&p.ben.1, Role::Therapist)]);
        let (request, reply) = put_membership(&mut p.cleo.0, doc, old).await;
        refused(request, reply, ErrorCode::Conflict);
    }
    let request = p.ben.0.send_subscribe(doc, Seq(0)).await;
    p.ben
        .0
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;

    // Signed by someone else: Dan's list naming himself as owner, sent by Cleo.
    let foreign = SignedMembership::sign(&p.dan.1.identity, doc, 3, 1, &[])
        .unwrap()
        .to_bytes();
    let (request, reply) = put_membership(&mut p.cleo.0, doc, foreign).await;
    let message = refused(request, reply, ErrorCode::Forbidden);
    assert!(message.contains("not signed by this account"), "{message}");

    // A forged signature does not even parse.
    let mut forged = signed_list(&p.cleo.1, doc, 3, &[ada, (&p.carl.1, Role::Therapist)]);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let (request, reply) = put_membership(&mut p.cleo.0, doc, forged).await;
    refused(request, reply, ErrorCode::BadRequest);
    let (request, reply) = put_membership(&mut p.cleo.0, doc, vec![1, 2, 3]).await;
    refused(request, reply, ErrorCode::BadRequest);

    // An identity the relay does not know, named by its short fingerprint.
    let nobody = new_identity();
    let unknown = SignedMembership::sign(
        &p.cleo.1.identity,
        doc,
        3,
        1,
        &[Member {
            identity: nobody.public(),
            role: Role::Therapist,
        }],
    )
    .unwrap()
    .to_bytes();
    let (request, reply) = put_membership(&mut p.cleo.0, doc, unknown).await;
    let message = refused(request, reply, ErrorCode::BadRequest);
    assert!(
        message.contains(&nobody.public().short_fingerprint()),
        "{message}"
    );

    // A member listed in the wrong role (Carl is a therapist account).
    let wrong_role = signed_list(&p.cleo.1, doc, 3, &[(&p.carl.1, Role::Client)]);
    let (request, reply) = put_membership(&mut p.cleo.0, doc, wrong_role).await;
    refused(request, reply, ErrorCode::BadRequest);

    // A list for another document, and a list for a document that does not exist.
    let other = new_doc();
    p.cleo.0.create_document(other).await;
    let (request, reply) =
        put_membership(&mut p.cleo.0, doc, signed_list(&p.cleo.1, other, 3, &[ada])).await;
    refused(request, reply, ErrorCode::BadRequest);
    let missing = new_doc();
    let (request, reply) = put_membership(
        &mut p.cleo.0,
        missing,
        signed_list(&p.cleo.1, missing, 1, &[ada]),
    )
    .await;
    refused(request, reply, ErrorCode::UnknownDocument);

    // None of the refused lists took effect: the stored list is still serial 2, and serial 3
    // (never consumed by a refusal) now brings Carl in.
    let (request, reply) = call(&mut p.ada.0, |request| ClientMessage::GetMembership {
        request,
        doc,
    })
    .await;
    assert_eq!(
        reply,
        ServerMessage::Membership {
            request,
            doc,
            membership: Some(signed_list(&p.cleo.1, doc, 2, &[ada])),
        }
    );
    let (request, reply) = put_membership(
        &mut p.cleo.0,
        doc,
        signed_list(&p.cleo.1, doc, 3, &[ada, (&p.carl.1, Role::Therapist)]),
    )
    .await;
    done(request, reply);
    assert_eq!(p.carl.0.subscribe(doc, Seq(0)).await.head, Seq(0));
    // A document without a list has none to give.
    let (request, reply) = call(&mut p.cleo.0, |request| ClientMessage::GetMembership {
        request,
        doc: other,
    })
    .await;
    assert_eq!(
        reply,
        ServerMessage::Membership {
            request,
            doc: other,
            membership: None,
        }
    );
    p.relay.assert_no_panic();
}
