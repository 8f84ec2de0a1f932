//! Together: what differs from the OpenAI-compatible core.
//!
//! Each choice carries a legacy `text` field duplicating `delta.content` (never counted
//! twice), usage arrives on the `finish_reason` chunk, a tool-call stream has two
//! `finish_reason: "tool_calls"` chunks (the first still holds argument text), and
//! `GET /models` answers a bare JSON array.

use super::Quirks;

/// Together's differences.
pub const QUIRKS: Quirks = Quirks {
    usage_in_x_groq: false,
    legacy_text_field: true,
};
