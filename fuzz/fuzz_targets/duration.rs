//! Fuzz target `duration`: see `rota_fuzz::checks::duration` for what the input must satisfy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rota_fuzz::checks::duration(data));
