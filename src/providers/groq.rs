//! Groq: what differs from the OpenAI-compatible core.
//!
//! - Its `x-ratelimit-*-requests` headers count requests **per day** (RPD); `-tokens` count
//!   per minute. Nothing reports RPM or TPD.
//! - Groq repeats the same usage up to three times in a stream (`x_groq.usage` on the finish
//!   chunk, a top-level `usage` there, then a `choices: []` chunk); the core keeps the last.
//!   Older Groq streams carry usage only in `x_groq.usage`, so it is read there too.

use super::DialectRules;
use crate::model::Window;

/// Groq's rules.
#[derive(Debug)]
pub struct Groq;

impl DialectRules for Groq {
    fn header_windows(&self) -> (Window, Window) {
        (Window::Rpd, Window::Tpm)
    }

    fn usage_in_x_groq(&self) -> bool {
        true
    }
}
