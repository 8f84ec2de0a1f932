//! The events of one request's life (docs/router.md, "Events"): what `--json` prints, what
//! the TUI draws and what `batch` records. Field order and names are the ones documented
//! there.

use crate::engine::{Candidate, Classified, Decision};
use crate::model::{Reason, Task, Usage, Window};
use serde::Serialize;

/// One event; serialized as one NDJSON line with `event` first.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The task the request runs under, and whether `auto` picked it.
    TaskSelected {
        /// The task.
        task: Task,
        /// Picked by `auto`.
        auto: bool,
    },
    /// A candidate was granted and is being called.
    ModelSelected {
        /// `groq`, `custom:local`, …
        provider: String,
        /// The model id.
        model: String,
        /// Masked key (`…a1b2`).
        key: String,
        /// The key's account.
        account: String,
        /// Tokens reserved for the prompt.
        estimated_tokens: u64,
        /// 1-based attempt number.
        attempt: u32,
    },
    /// A call failed and the router moves on.
    ModelRotation {
        /// `provider/model` that failed.
        from: String,
        /// `provider/model` tried next, or null when none is ready now.
        to: Option<String>,
        /// Masked key that failed.
        key: String,
        /// Why.
        reason: Reason,
        /// The window the provider named.
        window: Option<Window>,
        /// The wait the provider asked for.
        retry_after_ms: Option<u64>,
        /// The limit learned from the reply.
        limit: Option<u64>,
    },
    /// Every candidate is busy; the router waits `wait_ms` for `next`.
    NoModelsAvailable {
        /// The task (`fast`, `code`, …), or `transcription` for the transcription pool.
        task: String,
        /// How long the router waits.
        wait_ms: u64,
        /// `provider/model` that fits after the wait.
        next: String,
    },
    /// A request succeeded after failures.
    RateLimitRecovered {
        /// Provider of the answer.
        provider: String,
        /// Model of the answer.
        model: String,
        /// Attempts it took.
        attempts: u32,
    },
    /// Answer text as it streams.
    Delta {
        /// The piece of text.
        text: String,
    },
    /// A reasoning model's thinking as it streams (never part of the answer, never sent
    /// back in the history).
    Reasoning {
        /// The piece of thinking.
        text: String,
    },
    /// The answer is complete.
    Done {
        /// Provider of the answer.
        provider: String,
        /// Model of the answer.
        model: String,
        /// What the provider counted (or the estimate when it sent no usage).
        usage: Usage,
        /// What rota estimated for the prompt.
        estimated_prompt_tokens: u64,
        /// USD.
        cost_usd: f64,
        /// From the request leaving to the last byte.
        latency_ms: u64,
        /// From the request leaving to the first text or thinking.
        first_token_ms: u64,
        /// Attempts it took.
        attempts: u32,
        /// Why the answer ended as the provider said (`stop`, `length`, `tool_calls`, …);
        /// null when it did not say. `length`: cut at `max_tokens`.
        finish_reason: Option<String>,
        /// The `max_tokens` the answer was allowed (what a cut answer hit).
        max_tokens: u64,
        /// A research answer's sources, numbered as its closing list numbers them (left out
        /// when there are none).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        sources: Vec<String>,
    },
    /// A research step's model asked for a tool.
    ToolCall {
        /// The call's id (as sent back with its result).
        id: String,
        /// `web_search` or `fetch_url`.
        name: String,
        /// The arguments the model wrote: a JSON object (the text itself, as a string, when
        /// it is not JSON).
        arguments: serde_json::Value,
    },
    /// A piece of a tool call the caller's own tools asked for (a request that offers
    /// tools, as `rota serve` passes them through); rota runs none of these.
    ToolCallDelta {
        /// Which call of the answer (0-based), as the provider numbered it.
        index: usize,
        /// The call's id, in the piece that starts it.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The function's name, in the piece that starts it.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// More of the arguments' JSON text.
        arguments: String,
    },
    /// A tool call finished.
    ToolResult {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// Whether it did its job.
        ok: bool,
        /// Size of what the model reads, in bytes.
        bytes: u64,
        /// How long it took.
        latency_ms: u64,
        /// What went wrong (null when it worked).
        error: Option<String>,
        /// How many pages it returned (a search's results; 1 for a page read; 0 when it
        /// failed).
        results: u32,
    },
    /// A research step (one model turn) was answered.
    Step {
        /// 1-based step number.
        n: u32,
        /// Provider of the step's answer.
        provider: String,
        /// Model of the step's answer.
        model: String,
    },
    /// Something the user should know that is not an error (said once).
    Notice {
        /// What, and what to do about it.
        message: String,
    },
    /// A transcription result.
    Transcript {
        /// Provider that transcribed.
        provider: String,
        /// Whisper model.
        model: String,
        /// The text.
        text: String,
        /// File size.
        bytes: u64,
        /// Upload to answer.
        latency_ms: u64,
    },
    /// The request failed (or an answer broke after text was shown).
    Error {
        /// A reason name, or `config`, `input`, `no_credentials`.
        kind: String,
        /// What happened and what to do.
        message: String,
        /// When rota gave up because the next capacity frees later than `max_wait`: how
        /// long until it does (left out otherwise).
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl Event {
    /// The `model_rotation` event after `from` failed as `why` said: `to` is the model the
    /// next decision grants, if it grants one.
    pub fn rotation(from: &Candidate, why: &Classified, next: &Decision) -> Event {
        Event::ModelRotation {
            from: from.model.to_string(),
            to: match next {
                Decision::Grant(g) => Some(g.candidate.model.to_string()),
                _ => None,
            },
            key: from.key.masked.clone(),
            reason: why.reason,
            window: why.window,
            retry_after_ms: why.retry_after_ms,
            limit: why.limit,
        }
    }

    /// The NDJSON line (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"event":"error","kind":"bad_response","message":"{e}"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_field_comes_first() {
        let e = Event::TaskSelected {
            task: Task::Code,
            auto: true,
        };
        assert_eq!(
            e.to_json_line(),
            r#"{"event":"task_selected","task":"code","auto":true}"#
        );
        let r = Event::ModelRotation {
            from: "groq/a".into(),
            to: None,
            key: "…abcd".into(),
            reason: Reason::RateLimited,
            window: Some(Window::Tpm),
            retry_after_ms: Some(1985),
            limit: Some(12000),
        };
        assert!(
            r.to_json_line()
                .starts_with(r#"{"event":"model_rotation","from":"groq/a","to":null"#)
        );
        assert!(
            r.to_json_line()
                .contains(r#""reason":"rate_limited","window":"tpm""#)
        );
    }
}
