//! libFuzzer entry point of `between_fuzz::membership` (the body and its docs live there).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| between_fuzz::membership(data));
