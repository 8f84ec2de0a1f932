//! Fuzz target `rate_headers`: see `rota_fuzz::checks::rate_headers` for what the input must satisfy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rota_fuzz::checks::rate_headers(data));
