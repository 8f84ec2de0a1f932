//! Fuzz target `message`: see `rota_fuzz::checks::message` for what the input must satisfy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rota_fuzz::checks::message(data));
