//! Learning is parsing: what an error body or a set of headers says about limits, as pure
//! functions per dialect, tested against real provider bodies (`tests/learn_fixtures.rs`).
//!
//! - [`classify`]: a failed reply → reason, window, limit, wait, masked message;
//! - [`rate_readings`]: `x-ratelimit-*` headers → per-window readings with each provider's
//!   meaning (Groq's `-requests` are per day; Together's older headers per second);
//! - [`retry_after_ms`]: `retry-after-ms` / `retry-after` (seconds or HTTP date).

mod classify;
mod headers;
mod text;

pub use classify::{classify, model_specific};
pub use headers::{rate_readings, reset_ms, retry_after_ms};
pub use text::mask_keys;
