//! OpenAI: the reference dialect. With `include_usage` it sends one extra chunk with
//! `choices: []` and the usage; other chunks carry `usage: null`. Nothing differs from the
//! core.

use super::Quirks;

/// OpenAI's differences (none).
pub const QUIRKS: Quirks = Quirks {
    usage_in_x_groq: false,
    legacy_text_field: false,
};
