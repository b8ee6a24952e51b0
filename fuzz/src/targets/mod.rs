//! The target bodies, one public function per decoder family (see the crate docs).

mod crypto;
mod engine;
mod wire;

pub use crypto::{bundle, certificate, codes, key_envelope, membership, pairing};
pub use engine::engine;
pub use wire::{wire_client, wire_server};
