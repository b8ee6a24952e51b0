//! Hex text for public keys: `Display`, `FromStr` and serde as a lowercase hex string. Never
//! used for secrets. (Device ids are the protocol's type, whose text form is the same hex.)

use super::CryptoError;

/// Parses exactly `N` bytes of hex (either case).
pub(crate) fn decode_fixed<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    ::hex::decode_to_slice(text.trim(), &mut out).map_err(|_| CryptoError::BadHex {
        what,
        expected: 2 * N,
    })?;
    Ok(out)
}

/// Implements hex `Display`, `FromStr`, `Serialize` and `Deserialize` for a tuple newtype over
/// `[u8; N]`.
macro_rules! hex_newtype {
    ($name:ident, $len:expr, $what:expr) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&::hex::encode(self.0))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::crypto::CryptoError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::crypto::hex::decode_fixed::<$len>(s, $what).map(Self)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use hex_newtype;

/// Serde helper: a `[u8; 32]` field as a hex string.
pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&::hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::decode_fixed::<32>(&text, "public key").map_err(serde::de::Error::custom)
    }
}
