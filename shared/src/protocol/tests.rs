//! Tests of the wire format: round trips, every decode error, limits at their boundaries, golden
//! bytes, and decoders that never panic on hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ciborium::Value;
use proptest::prelude::*;

use super::limits::*;
use super::strategies::{client_message, server_message};
use super::*;

// ---------------------------------------------------------------------------------------------
// Helpers: hand-built frames, to send what a correct encoder never would.

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(n: u64) -> Value {
    Value::Integer(n.into())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

fn frame(v: u64, msg: Value) -> Vec<u8> {
    cbor(&map(vec![("v", int(v)), ("msg", msg)]))
}

fn push_body(bundle: Value) -> Value {
    map(vec![(
        "push",
        map(vec![
            ("request", int(1)),
            ("doc", Value::Bytes(vec![0xd0; 16])),
            ("bundle", bundle),
        ]),
    )])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first key of the frame's `msg` map: the message's wire name.
fn wire_name(frame: &[u8]) -> String {
    let value: Value = ciborium::from_reader(frame).unwrap();
    let Value::Map(entries) = value else {
        panic!("frame is not a map")
    };
    let msg = entries
        .into_iter()
        .find(|(k, _)| k == &text("msg"))
        .unwrap()
        .1;
    let Value::Map(msg) = msg else {
        panic!("msg is not a map")
    };
    assert_eq!(msg.len(), 1);
    msg[0].0.as_text().unwrap().to_owned()
}

fn assert_malformed(result: Result<ClientMessage, DecodeError>) -> String {
    match result {
        Err(DecodeError::Malformed(text)) => text,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, DecodeError>, expected: &str) {
    match result {
        Err(DecodeError::Invalid { field, .. }) => assert_eq!(field, expected),
        other => panic!("expected Invalid({expected}), got {other:?}"),
    }
}

fn push(bundle: Vec<u8>) -> ClientMessage {
    ClientMessage::Push {
        request: RequestId(1),
        doc: DocId([0xd0; 16]),
        bundle,
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips and names.

proptest! {
    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let bytes = encode_client(&msg).unwrap();
        prop_assert!(bytes.len() <= MAX_FRAME_BYTES);
        prop_assert_eq!(wire_name(&bytes), msg.name());
        prop_assert!(ClientMessage::NAMES.contains(&msg.name()));
        prop_assert_eq!(decode_client(&bytes).unwrap(), msg);
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        let bytes = encode_server(&msg).unwrap();
        prop_assert!(bytes.len() <= MAX_FRAME_BYTES);
        prop_assert_eq!(wire_name(&bytes), msg.name());
        prop_assert!(ServerMessage::NAMES.contains(&msg.name()));
        prop_assert_eq!(decode_server(&bytes).unwrap(), msg);
    }
}

#[test]
fn every_name_is_produced_and_directions_do_not_share_names() {
    // Each listed name is the name of some generated message (so NAMES has no stale entries).
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen_client = std::collections::BTreeSet::new();
    let mut seen_server = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        seen_client.insert(
            client_message()
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .name(),
        );
        seen_server.insert(
            server_message()
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .name(),
        );
    }
    let client: std::collections::BTreeSet<_> = ClientMessage::NAMES.iter().copied().collect();
    let server: std::collections::BTreeSet<_> = ServerMessage::NAMES.iter().copied().collect();
    assert_eq!(seen_client, client);
    assert_eq!(seen_server, server);
    assert_eq!(client.len(), ClientMessage::NAMES.len());
    assert_eq!(server.len(), ServerMessage::NAMES.len());
    assert!(client.is_disjoint(&server));
}

#[test]
fn error_code_names_match_the_wire_and_unknown_codes_decode_as_unknown() {
    for code in ErrorCode::ALL {
        let mut out = Vec::new();
        ciborium::into_writer(code, &mut out).unwrap();
        let value: Value = ciborium::from_reader(&out[..]).unwrap();
        assert_eq!(value, text(code.as_str()));
        assert_eq!(code.to_string(), code.as_str());
    }
    let bytes = frame(
        1,
        map(vec![(
            "error",
            map(vec![
                ("request", Value::Null),
                ("code", text("solar_flare")),
                ("message", text("")),
            ]),
        )]),
    );
    assert_eq!(
        decode_server(&bytes).unwrap(),
        ServerMessage::Error {
            request: None,
            code: ErrorCode::Unknown,
            message: String::new()
        }
    );
}

#[test]
fn fatal_codes() {
    for code in [
        ErrorCode::Malformed,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthenticated,
        ErrorCode::BadSignature,
        ErrorCode::StaleSignIn,
        ErrorCode::UnknownDevice,
        ErrorCode::InviteInvalid,
    ] {
        assert!(code.fatal(), "{code}");
    }
    for code in [
        ErrorCode::PairingNotFound,
        ErrorCode::NotMember,
        ErrorCode::UnknownDocument,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unknown,
    ] {
        assert!(!code.fatal(), "{code}");
    }
}

#[test]
fn message_helpers() {
    let sign_in = ClientMessage::SignIn {
        device: DeviceId([1; 16]),
        timestamp_ms: 0,
        signature: [0; 64],
    };
    assert!(sign_in.allowed_before_sign_in());
    assert_eq!(sign_in.request(), None);
    let take = ClientMessage::TakePairing {
        request: RequestId(9),
        mailbox: Mailbox([2; 32]),
    };
    assert!(take.allowed_before_sign_in());
    assert_eq!(take.request(), Some(RequestId(9)));
    assert!(!push(vec![1]).allowed_before_sign_in());
    assert!(!ClientMessage::Ping { nonce: 1 }.allowed_before_sign_in());
    assert_eq!(
        ServerMessage::Done {
            request: RequestId(3)
        }
        .request(),
        Some(RequestId(3))
    );
}

#[test]
fn error_constructor_cuts_long_messages_at_a_char_boundary() {
    let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES); // two bytes each
    let msg = ServerMessage::error(Some(RequestId(1)), ErrorCode::Internal, long);
    let ServerMessage::Error { message, .. } = &msg else {
        panic!()
    };
    assert_eq!(message.len(), MAX_ERROR_MESSAGE_BYTES);
    assert_eq!(decode_server(&encode_server(&msg).unwrap()).unwrap(), msg);
    let odd = format!("x{}", "é".repeat(MAX_ERROR_MESSAGE_BYTES));
    let ServerMessage::Error { message, .. } = ServerMessage::error(None, ErrorCode::Internal, odd)
    else {
        panic!()
    };
    assert_eq!(message.len(), MAX_ERROR_MESSAGE_BYTES - 1);
}

#[test]
fn decode_error_codes() {
    assert_eq!(
        DecodeError::TooLarge { size: 2, max: 1 }.code(),
        ErrorCode::TooLarge
    );
    assert_eq!(
        DecodeError::UnsupportedVersion {
            got: 2,
            supported: 1
        }
        .code(),
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(
        DecodeError::Malformed(String::new()).code(),
        ErrorCode::Malformed
    );
    assert!(DecodeError::Malformed(String::new()).code().fatal());
}

// ---------------------------------------------------------------------------------------------
// Golden bytes: a change here is a change of the wire format and needs a version decision.

#[test]
fn golden_client_frame() {
    let msg = ClientMessage::Push {
        request: RequestId(7),
        doc: DocId([0x11; 16]),
        bundle: b"sealed".to_vec(),
    };
    let bytes = encode_client(&msg).unwrap();
    // {"v": 1, "msg": {"push": {"request": 7, "doc": h'1111…11', "bundle": h'7365616c6564'}}}
    let golden = concat!(
        "a2617601636d7367",                 // map(2) "v" 1 "msg"
        "a16470757368",                     // map(1) "push"
        "a3677265717565737407",             // map(3) "request" 7
        "63646f6350",                       // "doc" bytes(16)
        "11111111111111111111111111111111", // the doc id
        "6662756e646c6546",                 // "bundle" bytes(6)
        "7365616c6564",                     // "sealed"
    );
    assert_eq!(hex(&bytes), golden);
    assert_eq!(decode_client(&bytes).unwrap(), msg);
}

#[test]
fn golden_server_frame() {
    let msg = ServerMessage::Error {
        request: Some(RequestId(7)),
        code: ErrorCode::NotMember,
        message: "not a member".to_owned(),
    };
    let bytes = encode_server(&msg).unwrap();
    // {"v": 1, "msg": {"error": {"request": 7, "code": "not_member", "message": "not a member"}}}
    let golden = concat!(
        "a2617601636d7367",           // map(2) "v" 1 "msg"
        "a1656572726f72",             // map(1) "error"
        "a3677265717565737407",       // map(3) "request" 7
        "64636f6465",                 // "code"
        "6a6e6f745f6d656d626572",     // "not_member"
        "676d657373616765",           // "message"
        "6c6e6f742061206d656d626572", // "not a member"
    );
    assert_eq!(hex(&bytes), golden);
    assert_eq!(decode_server(&bytes).unwrap(), msg);
}

// ---------------------------------------------------------------------------------------------
// Every DecodeError.

#[test]
fn too_large_is_refused_before_parsing() {
    let bytes = vec![0xff; MAX_FRAME_BYTES + 1]; // not even CBOR: size is checked first
    assert_eq!(
        decode_client(&bytes),
        Err(DecodeError::TooLarge {
            size: MAX_FRAME_BYTES + 1,
            max: MAX_FRAME_BYTES
        })
    );
    assert!(matches!(
        decode_server(&bytes),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn frame_of_exactly_the_limit_is_accepted() {
    // Pad a valid frame with an unknown top-level field until it is exactly MAX_FRAME_BYTES.
    let build = |pad: usize| {
        cbor(&map(vec![
            ("v", int(1)),
            ("msg", push_body(Value::Bytes(vec![1; 8]))),
            ("pad", Value::Bytes(vec![0; pad])),
        ]))
    };
    let mut pad = MAX_FRAME_BYTES - build(0).len();
    while build(pad).len() > MAX_FRAME_BYTES {
        pad -= 1;
    }
    let bytes = build(pad);
    assert_eq!(bytes.len(), MAX_FRAME_BYTES);
    assert_eq!(decode_client(&bytes).unwrap(), push(vec![1; 8]));
    let bytes = build(pad + 1);
    assert_eq!(bytes.len(), MAX_FRAME_BYTES + 1);
    assert!(matches!(
        decode_client(&bytes),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn unsupported_version_is_reported_before_the_body_is_read() {
    fn unsupported<T>(got: u16) -> Result<T, DecodeError> {
        Err(DecodeError::UnsupportedVersion { got, supported: 1 })
    }
    assert_eq!(
        decode_client(&frame(2, push_body(Value::Bytes(vec![1])))),
        unsupported(2)
    );
    assert_eq!(decode_client(&frame(0, map(vec![]))), unsupported(0));
    // Whatever shape a future body has, the version is what is reported.
    for body in [
        int(5),
        text("push"),
        Value::Null,
        Value::Array(vec![int(1), Value::Bytes(vec![2; 40])]),
        Value::Map(vec![(int(1), int(2))]),
        map(vec![("brand_new", map(vec![("x", Value::Float(1.5))]))]),
        map(vec![("push", text("a different push"))]),
    ] {
        assert_eq!(decode_client(&frame(9, body.clone())), unsupported(9));
        assert_eq!(
            decode_server(&frame(u16::MAX.into(), body)),
            unsupported(u16::MAX)
        );
    }
    // Missing body too.
    assert_eq!(
        decode_server(&cbor(&map(vec![("v", int(3))]))),
        unsupported(3)
    );
}

#[test]
fn unknown_messages_are_typed_errors() {
    assert_eq!(
        decode_client(&frame(1, map(vec![("teleport", map(vec![]))]))),
        Err(DecodeError::UnknownMessage {
            name: "teleport".to_owned()
        })
    );
    // A frame sent in the wrong direction.
    let pong = encode_server(&ServerMessage::Pong { nonce: 1 }).unwrap();
    assert_eq!(
        decode_client(&pong),
        Err(DecodeError::UnknownMessage {
            name: "pong".to_owned()
        })
    );
    let ping = encode_client(&ClientMessage::Ping { nonce: 1 }).unwrap();
    assert_eq!(
        decode_server(&ping),
        Err(DecodeError::UnknownMessage {
            name: "ping".to_owned()
        })
    );
    // Long names are cut.
    let long = "x".repeat(10_000);
    let Err(DecodeError::UnknownMessage { name }) =
        decode_client(&frame(1, map(vec![(long.as_str(), map(vec![]))])))
    else {
        panic!()
    };
    assert_eq!(name.len(), 64);
}

#[test]
fn malformed_frames() {
    let ok = encode_client(&push(vec![1, 2, 3])).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("not CBOR", vec![0xff, 0x00]),
        ("reserved additional info", vec![0x1c]),
        ("trailing byte", [ok.clone(), vec![0]].concat()),
        ("two frames", [ok.clone(), ok.clone()].concat()),
        ("not a map", cbor(&Value::Array(vec![int(1)]))),
        (
            "missing v",
            cbor(&map(vec![("msg", push_body(Value::Bytes(vec![1])))])),
        ),
        (
            "v is text",
            cbor(&map(vec![("v", text("1")), ("msg", map(vec![]))])),
        ),
        ("v beyond u16", frame(70_000, map(vec![]))),
        (
            "v negative",
            cbor(&map(vec![
                ("v", Value::Integer((-1).into())),
                ("msg", map(vec![])),
            ])),
        ),
        (
            "duplicate v",
            cbor(&map(vec![
                ("v", int(1)),
                ("v", int(1)),
                ("msg", push_body(Value::Bytes(vec![1]))),
            ])),
        ),
        ("missing msg", cbor(&map(vec![("v", int(1))]))),
        ("msg not a map", frame(1, int(3))),
        ("msg as bare name", frame(1, text("push"))),
        (
            "msg with two entries",
            frame(
                1,
                map(vec![
                    ("ping", map(vec![("nonce", int(1))])),
                    ("push", map(vec![])),
                ]),
            ),
        ),
        (
            "missing field",
            frame(1, map(vec![("push", map(vec![("request", int(1))]))])),
        ),
        (
            "bytes as an array of integers",
            frame(1, push_body(Value::Array(vec![int(1), int(2)]))),
        ),
        ("bytes as text", frame(1, push_body(text("sealed")))),
        (
            "short id",
            frame(
                1,
                map(vec![(
                    "push",
                    map(vec![
                        ("request", int(1)),
                        ("doc", Value::Bytes(vec![0; 15])),
                        ("bundle", Value::Bytes(vec![1])),
                    ]),
                )]),
            ),
        ),
        (
            "long id",
            frame(
                1,
                map(vec![(
                    "create_document",
                    map(vec![
                        ("request", int(1)),
                        ("doc", Value::Bytes(vec![0; 17])),
                    ]),
                )]),
            ),
        ),
        (
            "negative request id",
            frame(
                1,
                map(vec![(
                    "ping",
                    map(vec![("nonce", Value::Integer((-5).into()))]),
                )]),
            ),
        ),
        (
            "float where an integer belongs",
            frame(
                1,
                map(vec![("ping", map(vec![("nonce", Value::Float(1.0))]))]),
            ),
        ),
    ];
    for (what, bytes) in cases {
        let result = decode_client(&bytes);
        assert!(
            matches!(result, Err(DecodeError::Malformed(_))),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn truncated_frames_are_malformed() {
    let ok = encode_client(&ClientMessage::Register {
        invite: vec![1; 16],
        identity: [2; 32],
        certificate: vec![3; 100],
        timestamp_ms: -1,
        signature: [4; 64],
    })
    .unwrap();
    for end in 0..ok.len() {
        assert_malformed(decode_client(&ok[..end]));
    }
}

#[test]
fn hostile_cbor_does_not_exhaust_memory_or_stack() {
    // A byte string claiming 2^62 bytes: must fail on the missing bytes, not allocate them.
    let mut huge = frame(1, map(vec![]));
    huge.truncate(huge.len() - 1); // drop the empty map header (0xa0)
    huge.extend([0xa1, 0x64, b'p', b'u', b's', b'h', 0xa1, 0x66]);
    huge.extend(b"bundle");
    huge.extend([0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    assert_malformed(decode_client(&huge));

    // An array claiming 2^62 elements.
    let mut many = frame(1, map(vec![]));
    many.truncate(many.len() - 1);
    many.extend([0x9b, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    assert_malformed(decode_client(&many));

    // Nesting far beyond the recursion limit, in the body and as the whole frame.
    let mut deep = frame(1, map(vec![]));
    deep.truncate(deep.len() - 1);
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    let text = assert_malformed(decode_client(&deep));
    assert!(text.contains("nested"), "{text}");
    let mut deep_maps = vec![0xa1, 0x61, b'v'];
    for _ in 0..100_000 {
        deep_maps.extend([0xa1, 0x61, b'x']);
    }
    deep_maps.push(0x00);
    assert_malformed(decode_client(&deep_maps));

    // Invalid UTF-8 in a text string.
    let mut bad_utf8 = frame(1, map(vec![]));
    bad_utf8.truncate(bad_utf8.len() - 1);
    bad_utf8.extend([0xa1, 0x62, 0xc3, 0x28, 0xa0]);
    assert_malformed(decode_client(&bad_utf8));
}

#[test]
fn malformed_text_is_short_even_when_the_input_is_long() {
    let long = "9".repeat(100_000);
    let bytes = frame(1, map(vec![("ping", map(vec![("nonce", text(&long))]))]));
    let text = assert_malformed(decode_client(&bytes));
    assert!(text.chars().count() <= 200, "{}", text.len());
}

#[test]
fn field_limits_are_checked_after_parsing() {
    assert_invalid(
        decode_client(&frame(1, push_body(Value::Bytes(vec![])))),
        "push.bundle",
    );
    assert_invalid(
        decode_client(&frame(
            1,
            push_body(Value::Bytes(vec![0; MAX_BUNDLE_BYTES + 1])),
        )),
        "push.bundle",
    );
    let envelope = map(vec![
        ("epoch", int(1)),
        ("recipient", Value::Bytes(vec![0; 16])),
        ("envelope", Value::Bytes(vec![1; 8])),
    ]);
    let put = |envelopes: Vec<Value>| {
        frame(
            1,
            map(vec![(
                "put_key_envelopes",
                map(vec![
                    ("request", int(1)),
                    ("doc", Value::Bytes(vec![0; 16])),
                    ("envelopes", Value::Array(envelopes)),
                ]),
            )]),
        )
    };
    assert_invalid(decode_client(&put(vec![])), "put_key_envelopes.envelopes");
    assert_invalid(
        decode_client(&put(vec![envelope.clone(); MAX_KEY_ENVELOPES + 1])),
        "put_key_envelopes.envelopes",
    );
    assert!(decode_client(&put(vec![envelope; MAX_KEY_ENVELOPES])).is_ok());

    let challenge = |origin: &str, min: u64, max: u64| {
        frame(
            1,
            map(vec![(
                "challenge",
                map(vec![
                    ("challenge", Value::Bytes(vec![0; 32])),
                    ("relay_origin", text(origin)),
                    ("server_time_ms", int(0)),
                    ("min_version", int(min)),
                    ("max_version", int(max)),
                ]),
            )]),
        )
    };
    assert!(decode_server(&challenge(&"o".repeat(MAX_ORIGIN_BYTES), 1, 1)).is_ok());
    assert_invalid(
        decode_server(&challenge(&"o".repeat(MAX_ORIGIN_BYTES + 1), 1, 1)),
        "challenge.relay_origin",
    );
    assert_invalid(
        decode_server(&challenge("", 1, 1)),
        "challenge.relay_origin",
    );
    assert_invalid(
        decode_server(&challenge("wss://r", 2, 1)),
        "challenge.min_version",
    );
}

#[test]
fn unknown_fields_are_skipped() {
    let with_extra = frame(
        1,
        map(vec![(
            "push",
            map(vec![
                ("future", map(vec![("nested", Value::Array(vec![int(1)]))])),
                ("request", int(1)),
                ("doc", Value::Bytes(vec![0xd0; 16])),
                ("bundle", Value::Bytes(vec![7])),
            ]),
        )]),
    );
    assert_eq!(decode_client(&with_extra).unwrap(), push(vec![7]));
    // Keys in any order, top-level extras ignored.
    let reordered = cbor(&map(vec![
        ("hint", text("ignored")),
        ("msg", push_body(Value::Bytes(vec![7]))),
        ("v", int(1)),
    ]));
    assert_eq!(decode_client(&reordered).unwrap(), push(vec![7]));
}

// ---------------------------------------------------------------------------------------------
// Encoding refuses what decoding would refuse; limits at the boundary.

#[test]
fn encode_refuses_invalid_fields() {
    assert!(matches!(
        encode_client(&push(vec![])),
        Err(EncodeError::Invalid {
            field: "push.bundle",
            ..
        })
    ));
    assert!(matches!(
        encode_client(&push(vec![0; MAX_BUNDLE_BYTES + 1])),
        Err(EncodeError::Invalid {
            field: "push.bundle",
            ..
        })
    ));
    assert!(matches!(
        encode_client(&ClientMessage::Register {
            invite: vec![0; MAX_INVITE_BYTES + 1],
            identity: [0; 32],
            certificate: vec![1],
            timestamp_ms: 0,
            signature: [0; 64],
        }),
        Err(EncodeError::Invalid {
            field: "register.invite",
            ..
        })
    ));
    assert!(matches!(
        encode_server(&ServerMessage::Error {
            request: None,
            code: ErrorCode::Internal,
            message: "x".repeat(MAX_ERROR_MESSAGE_BYTES + 1),
        }),
        Err(EncodeError::Invalid {
            field: "error.message",
            ..
        })
    ));
}

#[test]
fn encode_refuses_an_oversized_frame() {
    let msg = push(vec![1; 100]);
    let size = encode_client(&msg).unwrap().len();
    assert_eq!(
        super::codec::encode(&msg, size - 1),
        Err(EncodeError::TooLarge {
            size,
            max: size - 1
        })
    );
    assert!(super::codec::encode(&msg, size).is_ok());
}

#[test]
fn largest_valid_messages_fit_in_a_frame() {
    let doc = DocId([9; 16]);
    let request = RequestId(u64::MAX);
    let client = [
        push(vec![0xff; MAX_BUNDLE_BYTES]),
        ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(u64::MAX),
            part: MAX_SNAPSHOT_PARTS - 1,
            parts: MAX_SNAPSHOT_PARTS,
            snapshot: vec![0xff; MAX_SNAPSHOT_BYTES],
        },
        ClientMessage::PutPairing {
            request,
            mailbox: Mailbox([0xff; 32]),
            payload: vec![0xff; MAX_PAIRING_PAYLOAD_BYTES],
            expires_at_ms: i64::MIN,
        },
        ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: vec![
                KeyEnvelope {
                    epoch: u32::MAX,
                    recipient: DeviceId([0xff; 16]),
                    envelope: vec![0xff; MAX_KEY_ENVELOPE_BYTES],
                };
                MAX_KEY_ENVELOPES
            ],
        },
        ClientMessage::Register {
            invite: vec![0xff; MAX_INVITE_BYTES],
            identity: [0xff; 32],
            certificate: vec![0xff; MAX_CERTIFICATE_BYTES],
            timestamp_ms: i64::MIN,
            signature: [0xff; 64],
        },
    ];
    for msg in client {
        let bytes = encode_client(&msg).unwrap();
        assert!(bytes.len() <= MAX_FRAME_BYTES);
        assert_eq!(decode_client(&bytes).unwrap(), msg);
    }
    let server = [
        ServerMessage::Bundle {
            doc,
            seq: Seq(u64::MAX),
            bundle: vec![0xff; MAX_BUNDLE_BYTES],
        },
        ServerMessage::Snapshot {
            doc,
            covers: Seq(u64::MAX),
            part: MAX_SNAPSHOT_PARTS - 1,
            parts: MAX_SNAPSHOT_PARTS,
            snapshot: vec![0xff; MAX_SNAPSHOT_BYTES],
        },
        ServerMessage::Devices {
            request,
            devices: vec![
                DeviceInfo {
                    device: DeviceId([0xff; 16]),
                    certificate: vec![0xff; MAX_CERTIFICATE_BYTES],
                    registered_at_ms: i64::MIN,
                };
                MAX_DEVICES
            ],
        },
        ServerMessage::KeyEnvelopes {
            request,
            doc,
            envelopes: vec![
                KeyEnvelope {
                    epoch: u32::MAX,
                    recipient: DeviceId([0xff; 16]),
                    envelope: vec![0xff; MAX_KEY_ENVELOPE_BYTES],
                };
                MAX_KEY_ENVELOPES
            ],
        },
        ServerMessage::Error {
            request: Some(request),
            code: ErrorCode::ShuttingDown,
            message: "é".repeat(MAX_ERROR_MESSAGE_BYTES / 2),
        },
        ServerMessage::Audit {
            request,
            doc: Some(doc),
            events: vec![
                AuditEvent {
                    id: u64::MAX,
                    at_ms: i64::MIN,
                    account: Some(AccountId([0xff; 16])),
                    device: Some(DeviceId([0xff; 16])),
                    doc: Some(doc),
                    action: "z".repeat(audit::MAX_ACTION_BYTES),
                };
                MAX_AUDIT_EVENTS
            ],
        },
    ];
    for msg in server {
        let bytes = encode_server(&msg).unwrap();
        assert!(bytes.len() <= MAX_FRAME_BYTES);
        assert_eq!(decode_server(&bytes).unwrap(), msg);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input never panics; whatever decodes re-encodes to the same message.

fn mutate(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for (at, value, kind) in edits {
        if bytes.is_empty() {
            bytes.push(*value);
            continue;
        }
        let i = at.index(bytes.len());
        match kind % 4 {
            0 => bytes[i] = *value,
            1 => bytes[i] ^= 1 << (value % 8),
            2 => bytes.insert(i, *value),
            _ => {
                bytes.remove(i);
            }
        }
    }
    bytes
}

proptest! {
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(msg) = decode_client(&bytes) {
            prop_assert_eq!(decode_client(&encode_client(&msg).unwrap()).unwrap(), msg);
        }
        if let Ok(msg) = decode_server(&bytes) {
            prop_assert_eq!(decode_server(&encode_server(&msg).unwrap()).unwrap(), msg);
        }
    }

    #[test]
    fn decoders_never_panic_on_mutated_client_frames(
        msg in client_message(),
        edits in prop::collection::vec(any::<(prop::sample::Index, u8, u8)>(), 1..6),
    ) {
        let bytes = mutate(encode_client(&msg).unwrap(), &edits);
        if let Ok(decoded) = decode_client(&bytes) {
            prop_assert_eq!(decode_client(&encode_client(&decoded).unwrap()).unwrap(), decoded);
        }
        let _ = decode_server(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_server_frames(
        msg in server_message(),
        edits in prop::collection::vec(any::<(prop::sample::Index, u8, u8)>(), 1..6),
    ) {
        let bytes = mutate(encode_server(&msg).unwrap(), &edits);
        if let Ok(decoded) = decode_server(&bytes) {
            prop_assert_eq!(decode_server(&encode_server(&decoded).unwrap()).unwrap(), decoded);
        }
        let _ = decode_client(&bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Audit events: the limit asked for, the number returned, and tokens only.

fn get_audit_frame(limit: u64) -> Vec<u8> {
    frame(
        1,
        map(vec![(
            "get_audit",
            map(vec![
                ("request", int(1)),
                ("doc", Value::Null),
                ("after", int(0)),
                ("limit", int(limit)),
            ]),
        )]),
    )
}

fn audit_reply_frame(events: Vec<Value>) -> Vec<u8> {
    frame(
        1,
        map(vec![(
            "audit",
            map(vec![
                ("request", int(1)),
                ("doc", Value::Bytes(vec![3; 16])),
                ("events", Value::Array(events)),
            ]),
        )]),
    )
}

fn audit_event_value(action: &str) -> Value {
    map(vec![
        ("id", int(7)),
        ("at_ms", int(1_700_000_000_000)),
        ("account", Value::Bytes(vec![1; 16])),
        ("device", Value::Null),
        ("doc", Value::Bytes(vec![3; 16])),
        ("action", text(action)),
    ])
}

#[test]
fn get_audit_limits_are_checked() {
    assert_eq!(
        decode_client(&get_audit_frame(1)).unwrap(),
        ClientMessage::GetAudit {
            request: RequestId(1),
            doc: None,
            after: 0,
            limit: 1
        }
    );
    assert!(decode_client(&get_audit_frame(MAX_AUDIT_EVENTS as u64)).is_ok());
    assert_invalid(decode_client(&get_audit_frame(0)), "get_audit.limit");
    assert_invalid(
        decode_client(&get_audit_frame(MAX_AUDIT_EVENTS as u64 + 1)),
        "get_audit.limit",
    );
    assert!(matches!(
        encode_client(&ClientMessage::GetAudit {
            request: RequestId(1),
            doc: None,
            after: 0,
            limit: 0
        }),
        Err(EncodeError::Invalid {
            field: "get_audit.limit",
            ..
        })
    ));
}

#[test]
fn audit_replies_carry_tokens_only_and_a_bounded_number_of_events() {
    let ok = decode_server(&audit_reply_frame(vec![audit_event_value("refused-read")])).unwrap();
    match ok {
        ServerMessage::Audit { doc, events, .. } => {
            assert_eq!(doc, Some(DocId([3; 16])));
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].action, "refused-read");
            assert_eq!(events[0].account, Some(AccountId([1; 16])));
            assert_eq!(events[0].device, None);
        }
        other => panic!("expected audit, got {other:?}"),
    }
    // A hostile relay cannot slip names or terminal escapes into what a device prints.
    for bad in ["", "read by Alice", "\u{1b}[2J", "READ"] {
        assert_invalid(
            decode_server(&audit_reply_frame(vec![audit_event_value(bad)])),
            "audit_event.action",
        );
    }
    assert_invalid(
        decode_server(&audit_reply_frame(vec![audit_event_value(
            &"a".repeat(audit::MAX_ACTION_BYTES + 1),
        )])),
        "audit_event.action",
    );
    assert_invalid(
        decode_server(&audit_reply_frame(vec![
            audit_event_value("read");
            MAX_AUDIT_EVENTS + 1
        ])),
        "audit.events",
    );
    assert!(decode_server(&audit_reply_frame(vec![
        audit_event_value("read");
        MAX_AUDIT_EVENTS
    ]))
    .is_ok());
}

// ---------------------------------------------------------------------------------------------
// Sharing: invites, accounts, signed membership, the caseload listing.

fn membership_reply_frame(membership: Value) -> Vec<u8> {
    frame(
        1,
        map(vec![(
            "membership",
            map(vec![
                ("request", int(3)),
                ("doc", Value::Bytes(vec![0x22; 16])),
                ("membership", membership),
            ]),
        )]),
    )
}

fn put_membership_frame(membership: Value) -> Vec<u8> {
    frame(
        1,
        map(vec![(
            "put_membership",
            map(vec![
                ("request", int(3)),
                ("doc", Value::Bytes(vec![0x22; 16])),
                ("membership", membership),
            ]),
        )]),
    )
}

#[test]
fn golden_sharing_frames() {
    let get = ClientMessage::GetAccount {
        request: RequestId(2),
        account: None,
    };
    let bytes = encode_client(&get).unwrap();
    // {"v": 1, "msg": {"get_account": {"request": 2, "account": null}}}
    let golden = concat!(
        "a2617601636d7367",           // map(2) "v" 1 "msg"
        "a16b6765745f6163636f756e74", // map(1) "get_account"
        "a2677265717565737402",       // map(2) "request" 2
        "676163636f756e74f6",         // "account" null
    );
    assert_eq!(hex(&bytes), golden);
    assert_eq!(decode_client(&bytes).unwrap(), get);

    let none = ServerMessage::Membership {
        request: RequestId(3),
        doc: DocId([0x22; 16]),
        membership: None,
    };
    let bytes = encode_server(&none).unwrap();
    // {"v": 1, "msg": {"membership": {"request": 3, "doc": h'2222…22', "membership": null}}}
    let golden = concat!(
        "a2617601636d7367",                 // map(2) "v" 1 "msg"
        "a16a6d656d62657273686970",         // map(1) "membership"
        "a3677265717565737403",             // map(3) "request" 3
        "63646f6350",                       // "doc" bytes(16)
        "22222222222222222222222222222222", // the doc id
        "6a6d656d62657273686970f6",         // "membership" null
    );
    assert_eq!(hex(&bytes), golden);
    assert_eq!(decode_server(&bytes).unwrap(), none);

    // A present membership is a CBOR byte string, like every other byte field.
    let some = ServerMessage::Membership {
        request: RequestId(3),
        doc: DocId([0x22; 16]),
        membership: Some(vec![0xab, 0xcd]),
    };
    let bytes = encode_server(&some).unwrap();
    assert!(hex(&bytes).ends_with("6a6d656d6265727368697042abcd"));
    assert_eq!(decode_server(&bytes).unwrap(), some);
}

#[test]
fn golden_delete_document_frames() {
    let delete = ClientMessage::DeleteDocument {
        request: RequestId(4),
        doc: DocId([0x33; 16]),
    };
    let bytes = encode_client(&delete).unwrap();
    // {"v": 1, "msg": {"delete_document": {"request": 4, "doc": h'3333…33'}}}
    let golden = concat!(
        "a2617601636d7367",                   // map(2) "v" 1 "msg"
        "a16f64656c6574655f646f63756d656e74", // map(1) "delete_document"
        "a2677265717565737404",               // map(2) "request" 4
        "63646f6350",                         // "doc" bytes(16)
        "33333333333333333333333333333333",   // the doc id
    );
    assert_eq!(hex(&bytes), golden);
    assert_eq!(decode_client(&bytes).unwrap(), delete);
    assert_eq!(delete.request(), Some(RequestId(4)));
    assert!(!delete.allowed_before_sign_in());

    // A request on a deleted document is refused with its own (non-fatal) code.
    let refused = ServerMessage::error(Some(RequestId(4)), ErrorCode::DocumentDeleted, "");
    let bytes = encode_server(&refused).unwrap();
    assert!(hex(&bytes).contains("70646f63756d656e745f64656c65746564")); // "document_deleted"
    assert_eq!(decode_server(&bytes).unwrap(), refused);
    assert!(!ErrorCode::DocumentDeleted.fatal());
}

#[test]
fn sharing_field_limits_are_checked() {
    assert_invalid(
        decode_client(&put_membership_frame(Value::Bytes(vec![]))),
        "put_membership.membership",
    );
    assert_invalid(
        decode_client(&put_membership_frame(Value::Bytes(vec![
            1;
            MAX_MEMBERSHIP_BYTES
                + 1
        ]))),
        "put_membership.membership",
    );
    assert!(decode_client(&put_membership_frame(Value::Bytes(
        vec![1; MAX_MEMBERSHIP_BYTES]
    )))
    .is_ok());
    // Bytes only: an array of integers is not a byte string.
    assert_malformed(decode_client(&put_membership_frame(Value::Array(vec![
        int(1),
        int(2),
    ]))));

    assert_invalid(
        decode_server(&membership_reply_frame(Value::Bytes(vec![]))),
        "membership.membership",
    );
    assert_invalid(
        decode_server(&membership_reply_frame(Value::Bytes(vec![
            1;
            MAX_MEMBERSHIP_BYTES
                + 1
        ]))),
        "membership.membership",
    );
    assert!(matches!(
        decode_server(&membership_reply_frame(Value::Array(vec![int(1)]))),
        Err(DecodeError::Malformed(_))
    ));
    assert!(decode_server(&membership_reply_frame(Value::Null)).is_ok());

    let documents = |n: usize| {
        let info = map(vec![
            ("doc", Value::Bytes(vec![1; 16])),
            ("owner", Value::Bytes(vec![2; 16])),
        ]);
        frame(
            1,
            map(vec![(
                "documents",
                map(vec![
                    ("request", int(1)),
                    ("documents", Value::Array(vec![info; n])),
                ]),
            )]),
        )
    };
    assert!(decode_server(&documents(MAX_DOCUMENTS)).is_ok());
    assert_invalid(
        decode_server(&documents(MAX_DOCUMENTS + 1)),
        "documents.documents",
    );

    assert!(matches!(
        encode_client(&ClientMessage::PutMembership {
            request: RequestId(1),
            doc: DocId([0; 16]),
            membership: vec![],
        }),
        Err(EncodeError::Invalid {
            field: "put_membership.membership",
            ..
        })
    ));
}

#[test]
fn largest_sharing_messages_fit_in_a_frame() {
    let request = RequestId(u64::MAX);
    let doc = DocId([0xff; 16]);
    let client = ClientMessage::PutMembership {
        request,
        doc,
        membership: vec![0xff; MAX_MEMBERSHIP_BYTES],
    };
    let bytes = encode_client(&client).unwrap();
    assert!(bytes.len() <= MAX_FRAME_BYTES);
    assert_eq!(decode_client(&bytes).unwrap(), client);
    let server = [
        ServerMessage::Account {
            request,
            account: AccountId([0xff; 16]),
            identity: [0xff; 32],
            devices: vec![
                DeviceInfo {
                    device: DeviceId([0xff; 16]),
                    certificate: vec![0xff; MAX_CERTIFICATE_BYTES],
                    registered_at_ms: i64::MIN,
                };
                MAX_DEVICES
            ],
        },
        ServerMessage::Membership {
            request,
            doc,
            membership: Some(vec![0xff; MAX_MEMBERSHIP_BYTES]),
        },
        ServerMessage::Documents {
            request,
            documents: vec![
                DocumentInfo {
                    doc,
                    owner: AccountId([0xff; 16]),
                };
                MAX_DOCUMENTS
            ],
        },
    ];
    for msg in server {
        let bytes = encode_server(&msg).unwrap();
        assert!(bytes.len() <= MAX_FRAME_BYTES);
        assert_eq!(decode_server(&bytes).unwrap(), msg);
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots in parts.

fn put_snapshot_frame(part_fields: Vec<(&str, Value)>) -> Vec<u8> {
    let mut fields = vec![
        ("request", int(1)),
        ("doc", Value::Bytes(vec![3; 16])),
        ("covers", int(9)),
        ("snapshot", Value::Bytes(vec![7; 4])),
    ];
    fields.extend(part_fields);
    frame(1, map(vec![("put_snapshot", map(fields))]))
}

#[test]
fn a_snapshot_sent_without_part_numbers_is_one_whole_part() {
    assert_eq!(
        decode_client(&put_snapshot_frame(vec![])).unwrap(),
        ClientMessage::PutSnapshot {
            request: RequestId(1),
            doc: DocId([3; 16]),
            covers: Seq(9),
            part: 0,
            parts: 1,
            snapshot: vec![7; 4],
        }
    );
}

#[test]
fn snapshot_part_numbers_are_checked() {
    let parts = |part: u64, parts: u64| vec![("part", int(part)), ("parts", int(parts))];
    assert!(decode_client(&put_snapshot_frame(parts(2, 3))).is_ok());
    let last = u64::from(MAX_SNAPSHOT_PARTS);
    assert!(decode_client(&put_snapshot_frame(parts(last - 1, last))).is_ok());
    assert_invalid(
        decode_client(&put_snapshot_frame(parts(0, 0))),
        "put_snapshot.parts",
    );
    assert_invalid(
        decode_client(&put_snapshot_frame(parts(0, last + 1))),
        "put_snapshot.parts",
    );
    assert_invalid(
        decode_client(&put_snapshot_frame(parts(3, 3))),
        "put_snapshot.part",
    );
    // The relay's side is checked the same way, when encoding as when decoding.
    let reply = ServerMessage::Snapshot {
        doc: DocId([3; 16]),
        covers: Seq(9),
        part: 1,
        parts: 1,
        snapshot: vec![7; 4],
    };
    assert!(matches!(
        encode_server(&reply),
        Err(EncodeError::Invalid {
            field: "snapshot.part",
            ..
        })
    ));
}
