//! Serialises collaborative Automerge text as a plain string in JSON exports, and back.

use autosurgeon::Text;
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(text: &Text, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(text.as_str())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
    String::deserialize(d).map(Text::with_value)
}
