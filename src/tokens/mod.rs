//! Token estimates: how many prompt tokens a provider will count for a chat request, and
//! what rota reserves for it.

use serde::Serialize;

/// The estimate of one request for one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// Prompt tokens the provider will count (chat template included).
    pub prompt_tokens: u64,
    /// What rota reserves: prompt + max_tokens (or the task's default).
    pub reserve_tokens: u64,
}

/// Estimates an OpenAI chat-completions request body for `model` (`PROVIDER/ID` or a bare
/// id; `None` uses the body's `model` field). Unknown models get a conservative default.
pub fn estimate_request(body: &serde_json::Value, model: Option<&str>) -> Estimate {
    let _ = model;
    let text = body.to_string();
    let prompt = (text.len() as u64).div_ceil(3);
    let max = body
        .get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(|v| v.as_u64())
        .unwrap_or(1024);
    Estimate {
        prompt_tokens: prompt,
        reserve_tokens: prompt + max,
    }
}
