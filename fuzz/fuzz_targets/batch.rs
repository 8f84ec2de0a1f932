//! Fuzz target `batch`: see `rota_fuzz::checks::batch` for what the input must satisfy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rota_fuzz::checks::batch(data));
