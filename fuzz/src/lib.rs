//! The fuzz targets' checks (`checks.rs`, shared with `tests/never_panic.rs`).

pub mod checks;
