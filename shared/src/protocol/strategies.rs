//! proptest strategies for every message, with field values anywhere within their limits (byte
//! fields kept short so the tests stay fast; the limits themselves are tested separately).

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;

use super::limits::MAX_SNAPSHOT_PARTS;
use super::*;

fn blob(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=max)
}

fn doc() -> impl Strategy<Value = DocId> {
    any::<[u8; 16]>().prop_map(DocId)
}

fn device() -> impl Strategy<Value = DeviceId> {
    any::<[u8; 16]>().prop_map(DeviceId)
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    any::<[u8; 32]>().prop_map(Mailbox)
}

fn request() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

fn seq() -> impl Strategy<Value = Seq> {
    any::<u64>().prop_map(Seq)
}

/// `(part, parts)` of a snapshot: a valid part number of a valid count.
fn snapshot_part() -> impl Strategy<Value = (u32, u32)> {
    (1..=MAX_SNAPSHOT_PARTS).prop_flat_map(|parts| (0..parts, Just(parts)))
}

fn envelope() -> impl Strategy<Value = KeyEnvelope> {
    (any::<u32>(), device(), blob(200)).prop_map(|(epoch, recipient, envelope)| KeyEnvelope {
        epoch,
        recipient,
        envelope,
    })
}

fn device_info() -> impl Strategy<Value = DeviceInfo> {
    (device(), blob(300), any::<i64>()).prop_map(|(device, certificate, registered_at_ms)| {
        DeviceInfo {
            device,
            certificate,
            registered_at_ms,
        }
    })
}

fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 16]>().prop_map(AccountId)
}

fn audit_event() -> impl Strategy<Value = AuditEvent> {
    (
        any::<u64>(),
        any::<i64>(),
        proptest::option::of(account()),
        proptest::option::of(device()),
        proptest::option::of(doc()),
        "[a-z0-9.:-]{1,64}",
    )
        .prop_map(|(id, at_ms, account, device, doc, action)| AuditEvent {
            id,
            at_ms,
            account,
            device,
            doc,
            action,
        })
}

/// Any valid `ClientMessage`.
pub(super) fn client_message() -> BoxedStrategy<ClientMessage> {
    use ClientMessage as M;
    Union::new(vec![
        (device(), any::<i64>(), any::<[u8; 64]>())
            .prop_map(|(device, timestamp_ms, signature)| M::SignIn {
                device,
                timestamp_ms,
                signature,
            })
            .boxed(),
        (
            blob(MAX_TEST_INVITE),
            any::<[u8; 32]>(),
            blob(300),
            any::<i64>(),
            any::<[u8; 64]>(),
        )
            .prop_map(
                |(invite, identity, certificate, timestamp_ms, signature)| M::Register {
                    invite,
                    identity,
                    certificate,
                    timestamp_ms,
                    signature,
                },
            )
            .boxed(),
        (blob(300), any::<i64>(), any::<[u8; 64]>())
            .prop_map(|(certificate, timestamp_ms, signature)| M::RegisterDevice {
                certificate,
                timestamp_ms,
                signature,
            })
            .boxed(),
        (request(), mailbox())
            .prop_map(|(request, mailbox)| M::TakePairing { request, mailbox })
            .boxed(),
        (request(), mailbox(), blob(300), any::<i64>())
            .prop_map(|(request, mailbox, payload, expires_at_ms)| M::PutPairing {
                request,
                mailbox,
                payload,
                expires_at_ms,
            })
            .boxed(),
        (request(), doc())
            .prop_map(|(request, doc)| M::CreateDocument { request, doc })
            .boxed(),
        (request(), doc(), blob(300))
            .prop_map(|(request, doc, bundle)| M::Push {
                request,
                doc,
                bundle,
            })
            .boxed(),
        (request(), doc(), seq())
            .prop_map(|(request, doc, since)| M::Subscribe {
                request,
                doc,
                since,
            })
            .boxed(),
        (request(), doc())
            .prop_map(|(request, doc)| M::Unsubscribe { request, doc })
            .boxed(),
        (request(), doc(), seq(), snapshot_part(), blob(300))
            .prop_map(
                |(request, doc, covers, (part, parts), snapshot)| M::PutSnapshot {
                    request,
                    doc,
                    covers,
                    part,
                    parts,
                    snapshot,
                },
            )
            .boxed(),
        (request(), doc(), vec(envelope(), 1..5))
            .prop_map(|(request, doc, envelopes)| M::PutKeyEnvelopes {
                request,
                doc,
                envelopes,
            })
            .boxed(),
        (request(), doc())
            .prop_map(|(request, doc)| M::GetKeyEnvelopes { request, doc })
            .boxed(),
        request()
            .prop_map(|request| M::ListDevices { request })
            .boxed(),
        (
            request(),
            proptest::option::of(doc()),
            any::<u64>(),
            1..=u32::try_from(limits::MAX_AUDIT_EVENTS).unwrap_or(u32::MAX),
        )
            .prop_map(|(request, doc, after, limit)| M::GetAudit {
                request,
                doc,
                after,
                limit,
            })
            .boxed(),
        (request(), any::<[u8; 32]>(), any::<i64>())
            .prop_map(|(request, invite_hash, expires_at_ms)| M::CreateInvite {
                request,
                invite_hash,
                expires_at_ms,
            })
            .boxed(),
        (request(), proptest::option::of(account()))
            .prop_map(|(request, account)| M::GetAccount { request, account })
            .boxed(),
        (request(), doc(), blob(limits::MAX_MEMBERSHIP_BYTES))
            .prop_map(|(request, doc, membership)| M::PutMembership {
                request,
                doc,
                membership,
            })
            .boxed(),
        (request(), doc())
            .prop_map(|(request, doc)| M::GetMembership { request, doc })
            .boxed(),
        request()
            .prop_map(|request| M::ListDocuments { request })
            .boxed(),
        (request(), doc())
            .prop_map(|(request, doc)| M::DeleteDocument { request, doc })
            .boxed(),
        (request(), device())
            .prop_map(|(request, device)| M::RevokeDevice { request, device })
            .boxed(),
        (request(), doc())
            .prop_map(|(request, doc)| M::LeaveDocument { request, doc })
            .boxed(),
        any::<u64>().prop_map(|nonce| M::Ping { nonce }).boxed(),
    ])
    .boxed()
}

const MAX_TEST_INVITE: usize = 64;

/// Any valid `ServerMessage`.
pub(super) fn server_message() -> BoxedStrategy<ServerMessage> {
    use ServerMessage as M;
    Union::new(vec![
        (
            any::<[u8; 32]>(),
            "\\PC{1,60}",
            any::<i64>(),
            any::<(u16, u16)>(),
        )
            .prop_map(
                |(challenge, relay_origin, server_time_ms, (a, b))| M::Challenge {
                    challenge: Challenge(challenge),
                    relay_origin,
                    server_time_ms,
                    min_version: a.min(b),
                    max_version: a.max(b),
                },
            )
            .boxed(),
        (account(), device())
            .prop_map(|(account, device)| M::Welcome { account, device })
            .boxed(),
        (request(), doc(), seq())
            .prop_map(|(request, doc, seq)| M::Ack { request, doc, seq })
            .boxed(),
        (doc(), seq(), blob(300))
            .prop_map(|(doc, seq, bundle)| M::Bundle { doc, seq, bundle })
            .boxed(),
        (doc(), seq(), snapshot_part(), blob(300))
            .prop_map(|(doc, covers, (part, parts), snapshot)| M::Snapshot {
                doc,
                covers,
                part,
                parts,
                snapshot,
            })
            .boxed(),
        (request(), doc(), seq())
            .prop_map(|(request, doc, head)| M::CaughtUp { request, doc, head })
            .boxed(),
        (request(), blob(300))
            .prop_map(|(request, payload)| M::Pairing { request, payload })
            .boxed(),
        request().prop_map(|request| M::Done { request }).boxed(),
        (request(), doc(), vec(envelope(), 0..5))
            .prop_map(|(request, doc, envelopes)| M::KeyEnvelopes {
                request,
                doc,
                envelopes,
            })
            .boxed(),
        (request(), vec(device_info(), 0..5))
            .prop_map(|(request, devices)| M::Devices { request, devices })
            .boxed(),
        (
            request(),
            proptest::option::of(doc()),
            vec(audit_event(), 0..5),
        )
            .prop_map(|(request, doc, events)| M::Audit {
                request,
                doc,
                events,
            })
            .boxed(),
        (
            request(),
            account(),
            any::<[u8; 32]>(),
            vec(device_info(), 0..5),
        )
            .prop_map(|(request, account, identity, devices)| M::Account {
                request,
                account,
                identity,
                devices,
            })
            .boxed(),
        (
            request(),
            doc(),
            proptest::option::of(blob(limits::MAX_MEMBERSHIP_BYTES)),
        )
            .prop_map(|(request, doc, membership)| M::Membership {
                request,
                doc,
                membership,
            })
            .boxed(),
        (request(), vec((doc(), account()), 0..5))
            .prop_map(|(request, documents)| M::Documents {
                request,
                documents: documents
                    .into_iter()
                    .map(|(doc, owner)| DocumentInfo { doc, owner })
                    .collect(),
            })
            .boxed(),
        (
            proptest::option::of(request()),
            proptest::sample::select(ErrorCode::ALL),
            "\\PC{0,200}",
        )
            .prop_map(|(request, code, message)| M::Error {
                request,
                code,
                message,
            })
            .boxed(),
        any::<u64>().prop_map(|nonce| M::Pong { nonce }).boxed(),
    ])
    .boxed()
}
