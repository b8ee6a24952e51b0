//! Encoding and decoding frames.
//!
//! Decoding goes in this order, each step refusing with a typed [`DecodeError`]:
//!
//! 1. size: more than [`MAX_FRAME_BYTES`] is refused before a single byte is parsed;
//! 2. one well-formed CBOR item, read as `{ "v", "msg" }` while the body is only skipped over
//!    (nesting is capped at 256 levels by ciborium, so deep input cannot exhaust the stack);
//! 3. version: `v` must be [`PROTOCOL_VERSION`], checked before the body is interpreted;
//! 4. message name: the one key of the `msg` map must be a message of this direction;
//! 5. the typed parse of the body (unknown fields are skipped);
//! 6. field limits ([`super::limits`]).
//!
//! The first pass (steps 2–4) allocates almost nothing, so a peer cannot make the decoder build a
//! large structure it will then refuse. Decoding never panics, whatever the input: a property test
//! feeds it random and mutated frames, and `docs/protocol.md` says how to fuzz it.

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::{DecodeError, EncodeError, Invalid};
use super::limits::MAX_FRAME_BYTES;
use super::messages::{ClientMessage, ServerMessage};
use super::PROTOCOL_VERSION;

/// Encodes a device's message as one frame.
///
/// Refuses ([`EncodeError::Invalid`]) a message whose fields break their limits, so a device never
/// sends what the relay would refuse.
pub fn encode_client(msg: &ClientMessage) -> Result<Vec<u8>, EncodeError> {
    encode(msg, MAX_FRAME_BYTES)
}

/// Decodes one frame received by the relay. Never panics.
pub fn decode_client(frame: &[u8]) -> Result<ClientMessage, DecodeError> {
    decode(frame)
}

/// Encodes a relay's message as one frame.
///
/// Refuses ([`EncodeError::Invalid`]) a message whose fields break their limits.
pub fn encode_server(msg: &ServerMessage) -> Result<Vec<u8>, EncodeError> {
    encode(msg, MAX_FRAME_BYTES)
}

/// Decodes one frame received by a device. Never panics.
pub fn decode_server(frame: &[u8]) -> Result<ServerMessage, DecodeError> {
    decode(frame)
}

/// What encoding and decoding need from a message enum.
pub(super) trait Message: Serialize + DeserializeOwned {
    const NAMES: &'static [&'static str];
    fn check(&self) -> Result<(), Invalid>;
}

impl Message for ClientMessage {
    const NAMES: &'static [&'static str] = ClientMessage::NAMES;
    fn check(&self) -> Result<(), Invalid> {
        self.validate()
    }
}

impl Message for ServerMessage {
    const NAMES: &'static [&'static str] = ServerMessage::NAMES;
    fn check(&self) -> Result<(), Invalid> {
        self.validate()
    }
}

/// The frame as written.
#[derive(Serialize)]
struct FrameOut<'a, M> {
    v: u16,
    msg: &'a M,
}

/// The frame as read in the second, typed pass.
#[derive(Deserialize)]
struct FrameIn<M> {
    /// Required here too, so the frame keeps its shape; its value was checked in the first pass.
    #[serde(rename = "v")]
    _version: u16,
    msg: M,
}

/// The frame as read in the first pass: the version, and the message's name if it has one.
#[derive(Deserialize)]
struct Head {
    v: u16,
    #[serde(default)]
    msg: MessageName,
}

/// The first key of the `msg` map if it is text; `None` for any other shape. Deserializing it
/// fails only on input that is not well-formed CBOR, never on an unexpected shape, so a frame of a
/// newer version always reaches the version check.
#[derive(Default)]
struct MessageName(Option<String>);

pub(super) fn encode<M: Message>(msg: &M, max: usize) -> Result<Vec<u8>, EncodeError> {
    msg.check()?;
    let mut out = Vec::new();
    ciborium::into_writer(
        &FrameOut {
            v: PROTOCOL_VERSION,
            msg,
        },
        &mut out,
    )
    .map_err(|e| EncodeError::Cbor(e.to_string()))?;
    if out.len() > max {
        return Err(EncodeError::TooLarge {
            size: out.len(),
            max,
        });
    }
    Ok(out)
}

fn decode<M: Message>(frame: &[u8]) -> Result<M, DecodeError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge {
            size: frame.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    let head: Head = parse(frame)?;
    if head.v != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            got: head.v,
            supported: PROTOCOL_VERSION,
        });
    }
    if let Some(name) = head.msg.0 {
        if !M::NAMES.contains(&name.as_str()) {
            return Err(DecodeError::UnknownMessage {
                name: name.chars().take(64).collect(),
            });
        }
    }
    let typed: FrameIn<M> = parse(frame)?;
    typed.msg.check()?;
    Ok(typed.msg)
}

/// Parses exactly one CBOR item covering the whole frame.
fn parse<T: DeserializeOwned>(frame: &[u8]) -> Result<T, DecodeError> {
    let mut rest = frame;
    let value = ciborium::from_reader(&mut rest).map_err(malformed)?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes after the frame",
            rest.len()
        )));
    }
    Ok(value)
}

const MAX_ERROR_TEXT_CHARS: usize = 200;

fn malformed(e: ciborium::de::Error<std::io::Error>) -> DecodeError {
    use ciborium::de::Error;
    let text = match e {
        Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated frame".to_owned()
        }
        Error::Io(e) => format!("read error: {e}"),
        Error::Syntax(offset) => format!("invalid CBOR at byte {offset}"),
        Error::Semantic(Some(offset), msg) => format!("{msg} (at byte {offset})"),
        Error::Semantic(None, msg) => msg,
        Error::RecursionLimitExceeded => "nested too deeply".to_owned(),
    };
    // Parser messages can quote the input (a huge string where a number belongs); keep them short.
    DecodeError::Malformed(text.chars().take(MAX_ERROR_TEXT_CHARS).collect())
}

impl<'de> Deserialize<'de> for MessageName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(NameVisitor { in_map: true })
            .map(MessageName)
    }
}

/// Reads any CBOR value, returning it if it is text and skipping it otherwise. With `in_map`, a map
/// yields its first key the same way (that is where an externally tagged enum keeps its name).
struct NameVisitor {
    in_map: bool,
}

impl<'de> de::DeserializeSeed<'de> for NameVisitor {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any CBOR value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_byte_buf<E: de::Error>(self, _: Vec<u8>) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d).map(|_| None)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d).map(|_| None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_enum(data).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.in_map {
            return IgnoredAny.visit_map(map).map(|_| None);
        }
        let name = match map.next_key_seed(NameVisitor { in_map: false })? {
            Some(name) => {
                map.next_value::<IgnoredAny>()?;
                name
            }
            None => None,
        };
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(name)
    }
}
