//! The shared OpenAI-compatible core: the wire shapes of chat chunks, whole completions and
//! model lists, and the request body rota sends. Dialects adjust it through their
//! [`DialectRules`].

use super::DialectRules;
use crate::model::Usage;
use serde::Deserialize;
use serde_json::Value;

/// One `chat.completion.chunk` (or a whole `chat.completion`), only the fields rota reads.
/// Unknown fields (`seed` beyond 2^64, `x_groq.seed`, `token_id`, …) are skipped unparsed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireChunk {
    #[serde(default)]
    pub choices: Option<Vec<WireChoice>>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    pub x_groq: Option<WireXGroq>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// Groq's `x_groq` extension object.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireXGroq {
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// One choice of a chunk (`delta`) or of a whole completion (`message`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireChoice {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub delta: Option<WireDelta>,
    #[serde(default)]
    pub message: Option<WireDelta>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A delta (or a whole message): content text, a reasoning model's thinking and tool-call
/// fragments.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireDelta {
    #[serde(default)]
    pub content: Option<Value>,
    /// Thinking as Groq (parsed mode) and OpenRouter send it.
    #[serde(default)]
    pub reasoning: Option<Value>,
    /// Thinking as DeepSeek, vLLM and llama.cpp send it.
    #[serde(default)]
    pub reasoning_content: Option<Value>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
}

/// One tool-call fragment.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireToolCall {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<WireFunction>,
}

/// The `function` part of a tool-call fragment.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireFunction {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// A usage object; extra fields (timings, cached tokens) are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

impl WireUsage {
    /// The usage, or `None` when neither count is present.
    pub fn to_usage(&self) -> Option<Usage> {
        if self.prompt_tokens.is_none() && self.completion_tokens.is_none() {
            return None;
        }
        Some(Usage {
            prompt_tokens: self.prompt_tokens.unwrap_or(0),
            completion_tokens: self.completion_tokens.unwrap_or(0),
        })
    }
}

impl WireChunk {
    /// The usage this chunk reports, reading `x_groq.usage` where the dialect puts it there
    /// (the top-level one wins when both are present: they are the same numbers).
    pub fn usage(&self, rules: &dyn DialectRules) -> Option<Usage> {
        if let Some(u) = self.usage.as_ref().and_then(WireUsage::to_usage) {
            return Some(u);
        }
        if rules.usage_in_x_groq() {
            return self
                .x_groq
                .as_ref()
                .and_then(|x| x.usage.as_ref())
                .and_then(WireUsage::to_usage);
        }
        None
    }
}

/// Text content of a delta: a string, or the text parts of a content array. `""` and
/// `null` are no text.
pub(crate) fn content_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// Tool-call arguments as text: a string as is, an object (some servers) as compact JSON.
pub(crate) fn arguments_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The body rota sends to `/chat/completions`: the caller's body with `stream: true` and
/// `stream_options.include_usage: true` set; everything else (tools, image parts) untouched.
pub fn chat_body(body: &Value) -> Option<Value> {
    let mut out = body.clone();
    let obj = out.as_object_mut()?;
    obj.insert("stream".into(), Value::Bool(true));
    let opts = obj
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Default::default()));
    if !opts.is_object() {
        *opts = Value::Object(Default::default());
    }
    if let Some(o) = opts.as_object_mut() {
        o.insert("include_usage".into(), Value::Bool(true));
    }
    Some(out)
}

/// The model ids of a `GET /models` answer: `{"data": [...]}` or a bare array (Together),
/// whose items are objects with an `id` or plain strings. `None` when it is neither.
/// Both shapes are accepted from every dialect.
pub fn parse_models(body: &str) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(body).ok()?;
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => o.get("data")?.as_array()?,
        _ => return None,
    };
    Some(
        list.iter()
            .filter_map(|m| match m {
                Value::String(s) => Some(s.clone()),
                other => other.get("id").and_then(Value::as_str).map(str::to_string),
            })
            .collect(),
    )
}
