//! Fuzz targets for every decoder a peer (the relay, another member, whoever typed a code)
//! reaches, as plain functions of `&[u8]`.
//!
//! The same bodies run in two ways:
//! - under libFuzzer, on nightly, through the thin harness in `fuzz/libfuzzer/` (one
//!   `fuzz_target!` per function here) for the long runs recorded in `docs/threat-model.md`;
//! - on stable, in this crate's tests, over the committed seed corpus, every crash input ever
//!   found (`fuzz/regressions/`) and a bounded set of mutations of them, so `cargo test
//!   --workspace` and `.ci/run` catch a regression without nightly.
//!
//! A target passes when it returns. It panics — a finding — when a decoder panics, or when a
//! property that must hold for every input fails (a frame that decodes re-encodes to one that
//! decodes the same; a bundle sealed by a member opens to what was sealed; a certificate
//! re-signed by its owner verifies). Refusing an input is never a finding; that is the decoders'
//! job.
//!
//! Each target decodes as the client's laptop of [`fixture`], holding real keys, so inputs get
//! past the length checks into signature verification, AEAD and HPKE opening and the sync
//! engine. Where a signature would stop every mutated input at the door, a mode of the target
//! re-signs or re-seals the fuzzer's bytes with a fixture key first, so the code behind the
//! signature (decryption, membership rules, Automerge loading) is fuzzed too.

pub mod fixture;
pub mod input;
pub mod seeds;
mod targets;

pub use targets::{
    bundle, certificate, codes, engine, key_envelope, membership, pairing, wire_client, wire_server,
};

/// A fuzz target: decodes one input, panicking only on a finding.
pub type Target = fn(&[u8]);

/// Every target by the name its libFuzzer binary, corpus and regression folders use.
pub const TARGETS: &[(&str, Target)] = &[
    ("wire_client", wire_client),
    ("wire_server", wire_server),
    ("bundle", bundle),
    ("membership", membership),
    ("certificate", certificate),
    ("key_envelope", key_envelope),
    ("codes", codes),
    ("pairing", pairing),
    ("engine", engine),
];
