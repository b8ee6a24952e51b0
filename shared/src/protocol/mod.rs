//! The wire protocol between a device and the relay: versioned, size-limited, CBOR-encoded
//! messages, one per WebSocket binary frame. Pure data and codec; no IO.
//!
//! A device sends [`ClientMessage`]s and the relay sends [`ServerMessage`]s. Each is carried as the
//! frame `{ "v": PROTOCOL_VERSION, "msg": { "<name>": { fields… } } }`. Encode with
//! [`encode_client`] / [`encode_server`] and decode with [`decode_client`] / [`decode_server`]; a
//! decode failure is a typed [`DecodeError`] whose [`code`](DecodeError::code) is what the relay
//! answers before closing the connection. Everything the relay must not read (bundles,
//! snapshots, certificates, wrapped keys, pairing payloads) is an opaque byte string here, sealed or
//! signed by the crypto module; the ids are random bytes, so no name or content is ever on the wire
//! in the clear. The message flow is described in `docs/protocol.md`.
//!
//! # Why CBOR, and why ciborium
//!
//! - **Self-describing.** Every value carries its type and every field its name, so a decoder
//!   skips fields it does not know: a version can gain optional fields without breaking older
//!   peers, and a frame can be read by generic tools (`cbor.me`, `cbor2diag`) when debugging. A
//!   schema-less positional format (bincode, postcard) would need a version bump for every change.
//! - **Native byte strings.** The bulk of the traffic is ciphertext. JSON would need base64 (a third
//!   larger, and slower); CBOR carries bytes as bytes.
//! - **serde.** The messages are plain Rust enums and structs with derived (de)serialisation, so the
//!   types are the schema and there is no hand-written field-by-field codec to drift out of date,
//!   unlike samod's hand-rolled minicbor codec, and no code generation, unlike protobuf.
//! - **ciborium** is the maintained serde CBOR crate (serde_cbor is archived), pure Rust, and
//!   caps nesting depth (256) so hostile input cannot overflow the stack.
//!
//! ciborium is lenient in places, so this module tightens it: byte fields accept only CBOR byte
//! strings (not arrays of integers), a frame must be exactly one CBOR item, the frame size is
//! checked before parsing and every field's size after it (see [`limits`]).
//!
//! # Versions
//!
//! [`PROTOCOL_VERSION`] is in every frame and is checked before the body is interpreted, giving
//! [`DecodeError::UnsupportedVersion`]. The relay's first frame, `Challenge`, states the range it
//! speaks. Adding a message or a required field, or changing a meaning, bumps the version;
//! adding an optional field or a new [`ErrorCode`] does not.

pub mod audit;
mod bytes;
mod codec;
mod error;
mod ids;
pub mod limits;
mod messages;
mod validate;

#[cfg(test)]
mod strategies;
#[cfg(test)]
mod tests;

pub use codec::{decode_client, decode_server, encode_client, encode_server};
pub use error::{DecodeError, EncodeError, ErrorCode};
pub use ids::{AccountId, Challenge, DeviceId, DocId, Mailbox, ParseIdError, RequestId, Seq};
pub use messages::{
    AuditEvent, ClientMessage, DeviceInfo, DocumentInfo, KeyEnvelope, ServerMessage,
};

/// The protocol version this code speaks, carried as `v` in every frame.
pub const PROTOCOL_VERSION: u16 = 1;
