//! Rate-limit headers: the core's `x-ratelimit-*` names, read with each dialect's meaning
//! (its [`header_windows`](crate::providers::DialectRules::header_windows), and its own
//! headers when the core's are absent).
//!
//! | dialect | `-requests` | `-tokens` | notes |
//! |---|---|---|---|
//! | OpenAI, Generic | RPM | TPM | reset is a Go-style duration (`6m0s`, `20ms`) |
//! | Groq | **RPD** | TPM | nothing reports RPM or TPD |
//! | Together | RPM | TPM | older `x-ratelimit-{limit,remaining,reset}` and `x-tokenlimit-{limit,remaining}` count **per second**: read ×60 as RPM / TPM when the core's names are absent; 2026's `x-ratelimit-reset` is a suggested retry in seconds |

use crate::engine::{Headers, RateReading};
use crate::model::{Dialect, Millis, Window};
use crate::providers::rules;

/// The names of one window's rate-limit headers, as a dialect writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    /// The window's limit.
    pub limit: &'static str,
    /// What remains of it now.
    pub remaining: &'static str,
    /// The time until it is full again, when the dialect sends it.
    pub reset: Option<&'static str>,
}

/// `x-ratelimit-{limit,remaining,reset}-requests`: the request window, in every dialect
/// that sends it (which window that is:
/// [`header_windows`](crate::providers::DialectRules::header_windows)).
pub const REQUESTS: RateHeaders = RateHeaders {
    limit: "x-ratelimit-limit-requests",
    remaining: "x-ratelimit-remaining-requests",
    reset: Some("x-ratelimit-reset-requests"),
};

/// `x-ratelimit-{limit,remaining,reset}-tokens`: the token window.
pub const TOKENS: RateHeaders = RateHeaders {
    limit: "x-ratelimit-limit-tokens",
    remaining: "x-ratelimit-remaining-tokens",
    reset: Some("x-ratelimit-reset-tokens"),
};

impl RateHeaders {
    /// The reading of `window` these headers give, with counts multiplied by `scale` (1,
    /// or 60 for per-second counts read as per-minute); `None` when none of them is present.
    pub fn read(&self, headers: &Headers, window: Window, scale: u64) -> Option<RateReading> {
        let scaled = |name| count(headers, name).map(|n| n.saturating_mul(scale));
        let reading = RateReading {
            window,
            limit: scaled(self.limit),
            remaining: scaled(self.remaining),
            reset_ms: self
                .reset
                .and_then(|name| header(headers, name))
                .and_then(reset_ms),
        };
        let any =
            reading.limit.is_some() || reading.remaining.is_some() || reading.reset_ms.is_some();
        any.then_some(reading)
    }

    /// Writes a reading under these names (the reset only when the dialect sends one): how
    /// the simulator answers in a dialect.
    pub fn write(
        &self,
        limit: u64,
        remaining: u64,
        reset: String,
        out: &mut Vec<(&'static str, String)>,
    ) {
        out.push((self.limit, limit.to_string()));
        out.push((self.remaining, remaining.to_string()));
        if let Some(name) = self.reset {
            out.push((name, reset));
        }
    }
}

/// The value of one header (names are compared case-insensitively), trimmed.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// A count header: a plain non-negative number (decimals are rounded down).
fn count(headers: &Headers, name: &str) -> Option<u64> {
    let v = header(headers, name)?;
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    v.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(|f| f as u64)
}

/// A reset header: a Go-style duration (`1s`, `6m0s`, `20ms`, `1.2s`) or plain seconds, in
/// whole milliseconds (rounded up, so waiting that long is always enough).
pub fn reset_ms(value: &str) -> Option<u64> {
    let v = value.trim();
    let ms = crate::duration::parse_ms(v).or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|s| s * 1000.0)
    })?;
    Some(ms.ceil() as u64)
}

/// Reads the rate-limit headers of any reply with the dialect's meaning. Windows with no
/// header at all are left out.
pub fn rate_readings(dialect: Dialect, headers: &Headers) -> Vec<RateReading> {
    let rules = rules(dialect);
    let (requests, tokens) = rules.header_windows();
    let out: Vec<RateReading> = [(REQUESTS, requests), (TOKENS, tokens)]
        .iter()
        .filter_map(|(names, window)| names.read(headers, *window, 1))
        .collect();
    if out.is_empty() {
        rules.own_readings(headers)
    } else {
        out
    }
}

/// The wait the headers ask for: `retry-after-ms`, else `retry-after` as seconds or as an
/// HTTP date (relative to `now`; a date in the past is 0).
pub fn retry_after_ms(headers: &Headers, now: Millis) -> Option<u64> {
    if let Some(v) = header(headers, "retry-after-ms")
        && let Ok(ms) = v.parse::<f64>()
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(ms.ceil() as u64);
    }
    let v = header(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as u64);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(at_ms.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn six() -> Headers {
        h(&[
            ("x-ratelimit-limit-requests", "14400"),
            ("x-ratelimit-remaining-requests", "14370"),
            ("x-ratelimit-reset-requests", "2m59.56s"),
            ("x-ratelimit-limit-tokens", "6000"),
            ("x-ratelimit-remaining-tokens", "5997"),
            ("x-ratelimit-reset-tokens", "30ms"),
        ])
    }

    #[test]
    fn groq_requests_are_per_day_tokens_per_minute() {
        let r = rate_readings(Dialect::Groq, &six());
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].window, Window::Rpd);
        assert_eq!(r[0].limit, Some(14400));
        assert_eq!(r[0].remaining, Some(14370));
        assert_eq!(r[0].reset_ms, Some(179_560));
        assert_eq!(r[1].window, Window::Tpm);
        assert_eq!(r[1].limit, Some(6000));
        assert_eq!(r[1].remaining, Some(5997));
        assert_eq!(r[1].reset_ms, Some(30));
    }

    #[test]
    fn openai_and_generic_read_requests_as_rpm() {
        for d in [Dialect::OpenAi, Dialect::Generic] {
            let r = rate_readings(d, &six());
            assert_eq!(r[0].window, Window::Rpm);
            assert_eq!(r[1].window, Window::Tpm);
        }
    }

    #[test]
    fn reset_forms() {
        assert_eq!(reset_ms("1s"), Some(1000));
        assert_eq!(reset_ms("6m0s"), Some(360_000));
        assert_eq!(reset_ms("20ms"), Some(20));
        assert_eq!(reset_ms("1.2s"), Some(1200));
        assert_eq!(reset_ms("7"), Some(7000));
        assert_eq!(reset_ms("0.5"), Some(500));
        assert_eq!(reset_ms("soon"), None);
    }

    #[test]
    fn whisper_replies_carry_only_requests() {
        let hs = h(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
        ]);
        let r = rate_readings(Dialect::OpenAi, &hs);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].window, Window::Rpm);
        assert_eq!(r[0].reset_ms, Some(120));
        assert!(rate_readings(Dialect::Groq, &Headers::new()).is_empty());
    }

    #[test]
    fn retry_after_in_every_form() {
        assert_eq!(
            retry_after_ms(&h(&[("retry-after-ms", "644")]), 0),
            Some(644)
        );
        assert_eq!(retry_after_ms(&h(&[("Retry-After", "7")]), 0), Some(7000));
        assert_eq!(retry_after_ms(&h(&[("retry-after", "1.5")]), 0), Some(1500));
        // retry-after-ms wins over retry-after.
        assert_eq!(
            retry_after_ms(&h(&[("retry-after", "7"), ("retry-after-ms", "250")]), 0),
            Some(250)
        );
        // HTTP date, relative to now: Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s.
        let date = h(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(retry_after_ms(&date, 784_111_767_000), Some(10_000));
        assert_eq!(retry_after_ms(&date, 784_111_790_000), Some(0));
        assert_eq!(retry_after_ms(&h(&[("retry-after", "later")]), 0), None);
        assert_eq!(retry_after_ms(&Headers::new(), 0), None);
    }
}
