//! Error codes on the wire, and the typed errors of encoding and decoding.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why the relay refused a request or is closing the connection; carried in `ServerMessage::Error`.
///
/// On the wire: a CBOR text string, the variant name in snake_case (`"not_member"`). A code this
/// version does not know decodes as [`Unknown`](Self::Unknown), so the relay can add codes
/// without breaking older devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a valid message (bad CBOR, unknown message, wrong field types or sizes).
    Malformed,
    /// The frame is larger than [`MAX_FRAME_BYTES`](super::limits::MAX_FRAME_BYTES).
    TooLarge,
    /// The frame's protocol version is not one the relay speaks.
    UnsupportedVersion,
    /// A message other than sign-in, registration or `TakePairing` before sign-in.
    Unauthenticated,
    /// A message that is valid but not in this state (a second `SignIn`, say).
    UnexpectedMessage,
    /// A sign-in or registration signature does not verify.
    BadSignature,
    /// A sign-in timestamp too far from the relay's clock.
    StaleSignIn,
    /// `SignIn` from a device the relay does not know.
    UnknownDevice,
    /// The device or its account has been revoked or disabled by the owner or admin.
    DeviceRevoked,
    /// A certificate that does not parse, or is not signed by an identity the relay knows
    /// (`RegisterDevice`), or by the given identity (`Register`).
    BadCertificate,
    /// The invite is unknown, used or expired (deliberately not told apart).
    InviteInvalid,
    /// The identity or device is already registered.
    AlreadyRegistered,
    /// No pairing payload in that mailbox (never put, taken, or expired).
    PairingNotFound,
    /// The thing to create already exists and belongs to someone else (a document id, a mailbox).
    Conflict,
    /// The caller's device is not a member of the document.
    NotMember,
    /// No such document.
    UnknownDocument,
    /// The document was deleted from the relay by its owner; its id is never used again.
    DocumentDeleted,
    /// The caller's role or relationship does not allow this (a client making an invite, a
    /// member changing a membership it does not own, asking about an unrelated account).
    Forbidden,
    /// The request is well-formed but not acceptable (a snapshot covering more than the log, an
    /// expiry in the past, envelopes for a non-member, …).
    BadRequest,
    /// The account's storage quota is used up.
    QuotaExceeded,
    /// Too many messages or connections; slow down.
    RateLimited,
    /// The relay failed (storage error); the request was not carried out and may be retried.
    Internal,
    /// The relay is shutting down; reconnect later.
    ShuttingDown,
    /// A code newer than this version of the protocol knows.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: &'static [ErrorCode] = &[
        Self::Malformed,
        Self::TooLarge,
        Self::UnsupportedVersion,
        Self::Unauthenticated,
        Self::UnexpectedMessage,
        Self::BadSignature,
        Self::StaleSignIn,
        Self::UnknownDevice,
        Self::DeviceRevoked,
        Self::BadCertificate,
        Self::InviteInvalid,
        Self::AlreadyRegistered,
        Self::PairingNotFound,
        Self::Conflict,
        Self::NotMember,
        Self::UnknownDocument,
        Self::DocumentDeleted,
        Self::Forbidden,
        Self::BadRequest,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::Internal,
        Self::ShuttingDown,
        Self::Unknown,
    ];

    /// Whether the relay closes the connection right after sending this code. Protocol violations
    /// and every failed sign-in or registration are fatal; refusals of a single request are not.
    /// For [`Unknown`](Self::Unknown) the device cannot tell, and simply sees whether the
    /// connection closes.
    pub fn fatal(self) -> bool {
        match self {
            Self::Malformed
            | Self::TooLarge
            | Self::UnsupportedVersion
            | Self::Unauthenticated
            | Self::UnexpectedMessage
            | Self::BadSignature
            | Self::StaleSignIn
            | Self::UnknownDevice
            | Self::DeviceRevoked
            | Self::BadCertificate
            | Self::InviteInvalid
            | Self::AlreadyRegistered
            | Self::ShuttingDown => true,
            Self::PairingNotFound
            | Self::Conflict
            | Self::NotMember
            | Self::UnknownDocument
            | Self::DocumentDeleted
            | Self::Forbidden
            | Self::BadRequest
            | Self::QuotaExceeded
            | Self::RateLimited
            | Self::Internal
            | Self::Unknown => false,
        }
    }

    /// The wire name (`"not_member"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::UnsupportedVersion => "unsupported_version",
            Self::Unauthenticated => "unauthenticated",
            Self::UnexpectedMessage => "unexpected_message",
            Self::BadSignature => "bad_signature",
            Self::StaleSignIn => "stale_sign_in",
            Self::UnknownDevice => "unknown_device",
            Self::DeviceRevoked => "device_revoked",
            Self::BadCertificate => "bad_certificate",
            Self::InviteInvalid => "invite_invalid",
            Self::AlreadyRegistered => "already_registered",
            Self::PairingNotFound => "pairing_not_found",
            Self::Conflict => "conflict",
            Self::NotMember => "not_member",
            Self::UnknownDocument => "unknown_document",
            Self::DocumentDeleted => "document_deleted",
            Self::Forbidden => "forbidden",
            Self::BadRequest => "bad_request",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::ShuttingDown => "shutting_down",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why bytes received from a peer are not a message. Decoding never panics; every failure is one of
/// these. [`code`](Self::code) gives the [`ErrorCode`] the relay answers with (always fatal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is larger than the limit; refused before parsing.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The frame's version is not the one this code speaks; the body was not interpreted.
    #[error("protocol version {got} is not supported (this side speaks version {supported})")]
    UnsupportedVersion {
        /// The frame's `v`.
        got: u16,
        /// The version this code speaks.
        supported: u16,
    },
    /// A message this side does not know (a newer message, or one meant for the other direction).
    #[error("unknown message {name:?}")]
    UnknownMessage {
        /// Its wire name, cut to 64 characters.
        name: String,
    },
    /// Not a well-formed frame: bad or truncated CBOR, trailing bytes, a missing field or a field of
    /// the wrong type or fixed length. The text comes from the CBOR parser, cut to 200 characters.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Well-formed, but a field breaks its limit (too long, too many, empty, out of range).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as `message.field` (for example `push.bundle`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl DecodeError {
    /// The code the relay sends before closing the connection.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::TooLarge,
            Self::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            Self::UnknownMessage { .. } | Self::Malformed(_) | Self::Invalid { .. } => {
                ErrorCode::Malformed
            }
        }
    }
}

/// Why a message could not be encoded. Encoding refuses to build a frame the peer would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field breaks its limit.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as `message.field`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The encoded frame would exceed the frame limit.
    #[error("encoded frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The CBOR serializer failed (not expected when writing to memory).
    #[error("CBOR encoding failed: {0}")]
    Cbor(String),
}

/// A field that breaks its limit; becomes [`DecodeError::Invalid`] or [`EncodeError::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) field: &'static str,
    pub(crate) reason: String,
}

impl From<Invalid> for DecodeError {
    fn from(e: Invalid) -> Self {
        Self::Invalid {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<Invalid> for EncodeError {
    fn from(e: Invalid) -> Self {
        Self::Invalid {
            field: e.field,
            reason: e.reason,
        }
    }
}
