//! Fuzz target `error_body`: see `rota_fuzz::checks::error_body` for what the input must satisfy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rota_fuzz::checks::error_body(data));
