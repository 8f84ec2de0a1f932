//! Groq: what differs from the OpenAI-compatible core.
//!
//! Groq repeats the same usage up to three times in a stream (`x_groq.usage` on the finish
//! chunk, a top-level `usage` there, then a `choices: []` chunk); the core keeps the last.
//! Older Groq streams carry usage only in `x_groq.usage`, so it is read there too.

use super::Quirks;

/// Groq's differences.
pub const QUIRKS: Quirks = Quirks {
    usage_in_x_groq: true,
    legacy_text_field: false,
};
