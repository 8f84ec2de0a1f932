//! Token estimates: how many prompt tokens a provider will count for a chat request, and
//! what rota reserves for it.
//!
//! Providers count the prompt *after* their chat template, so the estimate renders each
//! model family's template (OpenAI's per-message overhead, Llama 3.x's default system
//! header, each provider's tool block, harmony for gpt-oss, ChatML for Qwen) and counts it
//! with the closest tiktoken encoding. Unknown models get a padded, conservative count.
//! See `docs/estimate.md` for the rules and the calibration.

mod count;
pub mod family;
pub mod image;
mod parse;
mod render;
pub mod split;

use crate::message::Message;
use crate::model::{ModelRef, Task};
use serde::Serialize;
use serde_json::Value;

pub use family::{Encoding, Family, Profile, profile};

/// The estimate of one request for one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// Prompt tokens the provider will count (chat template included).
    pub prompt_tokens: u64,
    /// What rota reserves: prompt + max_tokens (or the task's default).
    pub reserve_tokens: u64,
}

/// The answer budget reserved when a request names no `max_tokens`: fast 1024, code 2048,
/// research 3072, vision 1024 (auto counts as fast).
pub fn default_max_tokens(task: Task) -> u64 {
    match task {
        Task::Auto | Task::Fast | Task::Vision => 1024,
        Task::Code => 2048,
        Task::Research => 3072,
    }
}

/// The longest answer rota reserves for a task when the caller sets no `max_tokens`, where
/// the model and its windows have room (see docs/engine.md, "How long an answer may be"):
/// enough that ordinary answers, a reasoning model's thinking included, are not cut.
pub fn answer_ceiling(task: Task) -> u64 {
    match task {
        Task::Auto | Task::Fast | Task::Vision => 4096,
        Task::Code | Task::Research => 8192,
    }
}

/// Prompt tokens of `messages` and `tools` (OpenAI format) for a model named `PROVIDER/ID`
/// or by a bare id.
pub fn estimate_prompt(model: &str, messages: &[Message], tools: &[Value]) -> u64 {
    let msgs: Vec<parse::Message<'_>> = messages.iter().map(parse::message).collect();
    let tools: Vec<parse::Tool<'_>> = tools.iter().map(parse::tool).collect();
    render::prompt_tokens(profile(model), &msgs, &tools)
}

/// Prompt tokens of `messages` and `tools` for `model`: what the router puts in
/// `Demand::prompt_tokens` (it takes the largest over a pool's models).
pub fn estimate_messages(model: &ModelRef, messages: &[Message], tools: &[Value]) -> u64 {
    estimate_prompt(&model.to_string(), messages, tools)
}

/// What to reserve for a request: prompt estimate + `max_tokens`, or + the task's default.
pub fn reserve_tokens(prompt_tokens: u64, max_tokens: Option<u64>, task: Task) -> u64 {
    prompt_tokens.saturating_add(max_tokens.unwrap_or_else(|| default_max_tokens(task)))
}

/// Estimates an OpenAI chat-completions request body for `model` (`PROVIDER/ID` or a bare
/// id; `None` uses the body's `model` field). Unknown models get a conservative default.
/// Without `max_tokens`/`max_completion_tokens` the reservation uses the fast default.
pub fn estimate_request(body: &Value, model: Option<&str>) -> Estimate {
    let model = model
        .or_else(|| body.get("model").and_then(Value::as_str))
        .unwrap_or("");
    let empty = Vec::new();
    let messages = crate::message::messages_of(body);
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let prompt_tokens = estimate_prompt(model, &messages, tools);
    let max = body
        .get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    Estimate {
        prompt_tokens,
        reserve_tokens: reserve_tokens(prompt_tokens, max, Task::Fast),
    }
}

#[cfg(test)]
mod tests;
