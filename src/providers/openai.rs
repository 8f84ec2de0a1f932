//! OpenAI: the reference dialect. With `include_usage` it sends one extra chunk with
//! `choices: []` and the usage; other chunks carry `usage: null`. Replies read as the core
//! reads them.
//!
//! One request quirk: its reasoning models (GPT-5+, the o-series) refuse `max_tokens` and
//! take the answer's length as `max_completion_tokens`.

use super::DialectRules;

/// OpenAI's rules.
#[derive(Debug)]
pub struct OpenAi;

impl DialectRules for OpenAi {
    fn answer_length_field(&self, reasoning: bool) -> &'static str {
        if reasoning {
            "max_completion_tokens"
        } else {
            "max_tokens"
        }
    }
}
