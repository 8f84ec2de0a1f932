//! Reading the wire into what the engine learns from: the shared OpenAI-compatible core of
//! every dialect, asking the dialect's [`super::DialectRules`] where it differs. Pure
//! functions, tested against real provider bodies (`tests/learn_fixtures.rs`).
//!
//! - [`classify`]: a failed reply → reason, window, limit, wait, masked message
//!   ([`crate::engine::Classified`]);
//! - [`rate_readings`]: rate-limit headers → per-window [`crate::engine::RateReading`]s with
//!   each dialect's meaning (Groq's `-requests` are per day; Together's older headers per
//!   second);
//! - [`retry_after_ms`]: `retry-after-ms` / `retry-after` (seconds or HTTP date);
//! - [`model_specific`]: whether a refused request names something only some models refuse;
//! - `text`: limits, windows and waits stated in a message's words.

mod classify;
mod headers;
mod text;

pub use classify::{classify, model_specific};
pub use headers::{REQUESTS, RateHeaders, TOKENS, header, rate_readings, reset_ms, retry_after_ms};
