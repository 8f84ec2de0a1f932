//! Together: what differs from the OpenAI-compatible core.
//!
//! - Rate-limit headers: besides the core's names, older replies carry per-second counts
//!   (`x-ratelimit-{limit,remaining,reset}`, `x-tokenlimit-{limit,remaining}`), read ×60 as
//!   RPM / TPM when the core's names are absent. In 2026 `x-ratelimit-reset` on a 429 is a
//!   suggested retry in seconds, the wait when nothing else states one.
//! - Streams: each choice carries a legacy `text` field duplicating `delta.content` (never
//!   counted twice), usage arrives on the `finish_reason` chunk, and a tool-call stream has
//!   two `finish_reason: "tool_calls"` chunks (the first still holds argument text).
//! - `GET /models` answers a bare JSON array (the core accepts it from every dialect).
//!
//! Its error codes and wording (`credit_limit` on a rate limit, `dynamic_token_limited`,
//! "queries per minute", "over capacity") are read by the core from every dialect, since
//! an OpenAI-compatible proxy may pass them on.

use super::DialectRules;
use super::read::{RateHeaders, header, reset_ms};
use crate::engine::{Headers, RateReading};
use crate::model::{Reason, Window};

/// The older per-second request headers (read as RPM).
pub const PER_SECOND_REQUESTS: RateHeaders = RateHeaders {
    limit: "x-ratelimit-limit",
    remaining: "x-ratelimit-remaining",
    reset: Some(SUGGESTED_RETRY),
};

/// The older per-second token headers (read as TPM); they have no reset.
pub const PER_SECOND_TOKENS: RateHeaders = RateHeaders {
    limit: "x-tokenlimit-limit",
    remaining: "x-tokenlimit-remaining",
    reset: None,
};

/// Per-second counts times this are the per-minute readings.
pub const PER_SECOND_SCALE: u64 = 60;

/// The reset of the per-second request window; on a 429 (2026) a suggested retry in
/// seconds.
const SUGGESTED_RETRY: &str = "x-ratelimit-reset";

/// Together's rules.
#[derive(Debug)]
pub struct Together;

impl DialectRules for Together {
    fn own_readings(&self, headers: &Headers) -> Vec<RateReading> {
        [
            (PER_SECOND_REQUESTS, Window::Rpm),
            (PER_SECOND_TOKENS, Window::Tpm),
        ]
        .iter()
        .filter_map(|(names, window)| names.read(headers, *window, PER_SECOND_SCALE))
        .collect()
    }

    fn implied_wait_ms(&self, reason: Reason, headers: &Headers) -> Option<u64> {
        if reason != Reason::RateLimited {
            return None;
        }
        header(headers, SUGGESTED_RETRY).and_then(reset_ms)
    }

    fn legacy_text_field(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dialect;
    use crate::providers::rate_readings;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn together_per_second_headers_scale_to_per_minute() {
        let hs = h(&[
            ("X-RateLimit-Limit", "10"),
            ("x-ratelimit-remaining", "9"),
            ("x-ratelimit-reset", "1"),
            ("x-tokenlimit-limit", "1000"),
            ("x-tokenlimit-remaining", "800"),
        ]);
        let r = rate_readings(Dialect::Together, &hs);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            RateReading {
                window: Window::Rpm,
                limit: Some(600),
                remaining: Some(540),
                reset_ms: Some(1000)
            }
        );
        assert_eq!(
            r[1],
            RateReading {
                window: Window::Tpm,
                limit: Some(60_000),
                remaining: Some(48_000),
                reset_ms: None
            }
        );
        // Other dialects do not read Together's names.
        assert!(rate_readings(Dialect::OpenAi, &hs).is_empty());
    }
}
