//! Strict serde helpers for byte fields.
//!
//! Every byte field travels as a CBOR byte string (major type 2). serde's defaults would write
//! `Vec<u8>` and `[u8; N]` as arrays of integers (up to twice the size, and slow to parse), and
//! `serde_bytes` *accepts* arrays of integers on decode. These helpers write byte strings and accept
//! only byte strings, so every message has exactly one encoding.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// `#[serde(with = "fixed")]` for `[u8; N]`: a byte string of exactly `N` bytes.
pub(crate) mod fixed {
    use super::*;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        deserializer.deserialize_bytes(FixedVisitor::<N>)
    }

    struct FixedVisitor<const N: usize>;

    impl<const N: usize> Visitor<'_> for FixedVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a byte string of {N} bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }
    }
}

/// `#[serde(with = "buf")]` for `Vec<u8>`: a byte string of any length (limits are checked by
/// validation after parsing, against the frame size already checked before it).
pub(crate) mod buf {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BufVisitor)
    }

    struct BufVisitor;

    impl Visitor<'_> for BufVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            Ok(v)
        }
    }
}

/// `#[serde(with = "opt_buf")]` for `Option<Vec<u8>>`: nothing, or a byte string as [`buf`].
pub(crate) mod opt_buf {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_some(&Bytes(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(serde::Deserialize)]
        struct Wrapped(#[serde(with = "super::buf")] Vec<u8>);
        Ok(<Option<Wrapped> as serde::Deserialize>::deserialize(deserializer)?.map(|w| w.0))
    }

    struct Bytes<'a>(&'a [u8]);

    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::buf::serialize(self.0, serializer)
        }
    }
}
