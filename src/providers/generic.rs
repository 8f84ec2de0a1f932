//! Any other OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, …): OpenAI's
//! shapes, read leniently. Nothing is assumed beyond the core.

use super::Quirks;

/// A generic server's differences (none assumed).
pub const QUIRKS: Quirks = Quirks {
    usage_in_x_groq: false,
    legacy_text_field: false,
};
