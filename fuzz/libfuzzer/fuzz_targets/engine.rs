//! libFuzzer entry point of `between_fuzz::engine` (the body and its docs live there).
//!
//! The engine catches one panic on purpose: Automerge's parser panicking on a member's malformed
//! bytes (see `well_formed` in shared/src/sync/engine.rs). libfuzzer-sys's panic hook aborts on
//! every panic, caught or not, so `init` puts the default hook back; a panic that escapes the
//! engine still aborts the run (libfuzzer-sys catches it around each input) and is recorded.
#![no_main]
libfuzzer_sys::fuzz_target!(
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| between_fuzz::engine(data)
);
