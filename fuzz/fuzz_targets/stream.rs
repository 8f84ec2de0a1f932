//! Fuzz target `stream`: see `rota_fuzz::checks::stream` for what the input must satisfy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rota_fuzz::checks::stream(data));
