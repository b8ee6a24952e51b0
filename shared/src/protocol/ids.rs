//! Fixed-size identifiers and counters carried by the wire protocol.
//!
//! Every id here is an opaque random byte string as the relay sees it: it names a document, device,
//! account or pairing mailbox without saying anything about what is inside. They are newtypes (not
//! aliases) so a `DocId` can never be passed where a `DeviceId` is meant. The byte ids print as
//! lower-case hex and parse from it, for logs and admin commands.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A hex string that is not the right id: wrong length or a non-hex character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} hex digits, got {got:?}")]
pub struct ParseIdError {
    /// How many hex digits the id has.
    pub expected: usize,
    /// The text given (cut to 80 characters).
    pub got: String,
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str(&hex::encode(bytes))
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseIdError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| ParseIdError {
        expected: 2 * N,
        got: s.chars().take(80).collect(),
    })?;
    Ok(out)
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        ///
        /// On the wire: a CBOR byte string of exactly this many bytes. Displayed, and written in
        /// JSON, as lower-case hex.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The short form shown to people: the first 8 hex digits.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex(s).map(Self)
            }
        }

        /// A byte string in the wire's CBOR; its hex text in a human-readable format (JSON),
        /// the form people and scripts read.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    super::bytes::fixed::serialize(&self.0, serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    super::bytes::fixed::deserialize(deserializer).map(Self)
                }
            }
        }
    };
}

byte_id!(
    /// A document's log on the relay: 16 random bytes chosen by the device that creates the
    /// document. It says nothing about the document's content or people.
    DocId,
    16
);

impl DocId {
    /// A fresh random document id (a version-4 UUID's 16 bytes, as documents have always been
    /// named, so its hex is the id's text form inside the document too).
    pub fn random() -> Self {
        Self(*uuid::Uuid::new_v4().as_bytes())
    }
}

/// Inside a homework document the id is kept as its hex text (the form documents have always
/// had), so a document saved before the id was typed reads the same.
impl autosurgeon::Reconcile for DocId {
    type Key<'a> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.str(self.to_string())
    }
}

impl autosurgeon::Hydrate for DocId {
    fn hydrate_string(id: &str) -> Result<Self, autosurgeon::HydrateError> {
        id.parse().map_err(|err: ParseIdError| {
            autosurgeon::HydrateError::unexpected("a document id", err.to_string())
        })
    }
}

byte_id!(
    /// One registered device, fixed when its certificate is made (see `docs/envelope.md`). The
    /// relay uses it to find the device's signing key at sign-in.
    ///
    /// Unlike the other ids it is not drawn at random: it is a hash of the device's signing key
    /// ([`DeviceId::from_signing_key`], in the crypto module), and the same type serves the
    /// certificates, sealed bundles and wrapped keys, so there is one device id in the crate.
    DeviceId,
    16
);

byte_id!(
    /// One account (one person's identity key) on the relay, assigned at registration and returned
    /// in `Welcome`.
    AccountId,
    16
);

byte_id!(
    /// A pairing mailbox: 32 bytes derived on the devices from the pairing code's secret, so the
    /// relay can store and hand out the pairing payload without learning the secret.
    Mailbox,
    32
);

byte_id!(
    /// The relay's fresh random sign-in challenge, signed by the device (with the relay's origin and
    /// a timestamp) to prove it holds its device key.
    Challenge,
    32
);

/// A position in a document's log. The relay numbers bundles 1, 2, 3, … in the order it commits
/// them; `Seq(0)` means "nothing yet" (subscribe since 0 to get the whole log).
///
/// On the wire: a CBOR unsigned integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// Before the first bundle.
    pub const ZERO: Seq = Seq(0);

    /// The next position, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Seq> {
        self.0.checked_add(1).map(Seq)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Chosen by the device for each request; the relay echoes it in the reply (`Ack`, `Done`,
/// `Error`, …) so replies can be matched to requests. Unique per connection is enough.
///
/// On the wire: a CBOR unsigned integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = DocId([0x0f; 16]);
        assert_eq!(id.to_string(), "0f".repeat(16));
        assert_eq!(format!("{id:?}"), format!("DocId({})", "0f".repeat(16)));
        assert_eq!(id.to_string().parse::<DocId>(), Ok(id));
        assert_eq!("0F".repeat(16).parse::<DocId>(), Ok(id));
        let mailbox = Mailbox(std::array::from_fn(|i| i as u8));
        assert_eq!(mailbox.to_string().parse::<Mailbox>(), Ok(mailbox));
    }

    #[test]
    fn json_holds_the_hex_and_cbor_the_bytes() {
        let id = DocId([0xab; 16]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(16)));
        assert_eq!(serde_json::from_str::<DocId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<DocId>("\"doc-1\"").is_err());
        let mut cbor = Vec::new();
        ciborium::into_writer(&id, &mut cbor).unwrap();
        // A 16-byte byte string: major type 2, length 16, then the bytes.
        assert_eq!(cbor[0], 0x50);
        assert_eq!(&cbor[1..], &[0xab; 16]);
        assert_eq!(
            ciborium::from_reader::<DocId, _>(cbor.as_slice()).unwrap(),
            id
        );
    }

    #[test]
    fn bad_hex_is_refused() {
        assert!("0f".repeat(15).parse::<DeviceId>().is_err());
        assert!("0f".repeat(17).parse::<DeviceId>().is_err());
        assert!("zz".repeat(16).parse::<DeviceId>().is_err());
        // Multi-byte characters must not be split or panic.
        assert!("é".repeat(16).parse::<DeviceId>().is_err());
        assert!("".parse::<AccountId>().is_err());
    }

    #[test]
    fn seq_next() {
        assert_eq!(Seq::ZERO.next(), Some(Seq(1)));
        assert_eq!(Seq(u64::MAX).next(), None);
    }
}
