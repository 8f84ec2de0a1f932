//! OpenAI's wire shapes as `rota serve` reads and writes them: the chat request (what rota
//! takes for itself, what it passes through), the `model` a client names, and the answers
//! (a whole completion, stream chunks, errors).

use crate::config::Config;
use crate::engine::Fleet;
use crate::message::{Message, ToolCall};
use crate::model::{ModelRef, Task, Usage};
use crate::router::ChatRequest;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The pools a client can name, as `rota/<task>` (or bare).
pub const POOLS: [Task; 5] = [
    Task::Auto,
    Task::Fast,
    Task::Research,
    Task::Code,
    Task::Vision,
];

/// What a client's `model` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A pool (`rota/fast`, `fast`), with rotation over its models.
    Pool(Task),
    /// One model, rotating over its accounts and keys.
    Model(ModelRef),
}

/// A chat request read from a client's body.
#[derive(Debug)]
pub struct ChatCall {
    /// What the router runs.
    pub req: ChatRequest,
    /// The client asked for a stream.
    pub stream: bool,
    /// The client asked for the usage chunk at the end of the stream.
    pub include_usage: bool,
}

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What happened and what to do.
    pub message: String,
    /// OpenAI's `type` (`invalid_request_error`, `rate_limit_error`, …).
    pub kind: &'static str,
    /// OpenAI's `code` (`model_not_found`, `rate_limit_exceeded`, …), if any.
    pub code: Option<&'static str>,
    /// The request field at fault, if any.
    pub param: Option<&'static str>,
    /// For a 429: how long until rota has capacity again (`retry-after`).
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    /// A 400 about the request.
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            code: None,
            param,
            retry_after_ms: None,
        }
    }

    /// An error with any status and type.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            code: None,
            param: None,
            retry_after_ms: None,
        }
    }

    /// The answer to a request the router ended with an `error` event of `kind` before
    /// any of its answer was written (a 429 only with rota's wait; 503 without one).
    pub fn failed(kind: &str, message: String, retry_after_ms: Option<u64>) -> Self {
        let (status, openai_kind, code) = match kind {
            // rota's own 429 says when to come back; every candidate refusing with no wait
            // known is the service being unavailable for now.
            "rate_limited" if retry_after_ms.is_some() => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            ),
            "rate_limited" => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("rate_limit_exceeded"),
            ),
            "input" | "context_length" | "request_too_large" | "invalid_request" => {
                (StatusCode::BAD_REQUEST, "invalid_request_error", None)
            }
            "no_credentials" => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("no_credentials"),
            ),
            "config" => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
            _ => (StatusCode::BAD_GATEWAY, "upstream_error", None),
        };
        Self {
            status,
            message,
            kind: openai_kind,
            code,
            param: None,
            retry_after_ms: retry_after_ms.filter(|_| status == StatusCode::TOO_MANY_REQUESTS),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(ms) = self.retry_after_ms {
            // Whole seconds, rounded up, for clients that read only `retry-after`; the exact
            // wait in milliseconds beside it.
            let secs = ms.div_ceil(1000).max(1);
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
            if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
                h.insert("retry-after-ms", v);
            }
        }
        resp
    }
}

/// Reads what a client's `model` names: a pool (`rota/fast`, `fast`), a configured model
/// as `PROVIDER/ID`, or a bare catalog id served by a provider with a key. Anything else is
/// a 404 that lists what exists.
pub fn target(name: &str, config: &Config, fleet: &Fleet) -> Result<Target, ApiError> {
    let bare = name.strip_prefix("rota/").unwrap_or(name);
    if let Some(t) = POOLS.iter().find(|t| t.as_str() == bare) {
        return Ok(Target::Pool(*t));
    }
    let usable = |m: &ModelRef| fleet.model(m).is_some_and(nameable);
    if let Ok(m) = name.parse::<ModelRef>()
        && usable(&m)
    {
        return Ok(Target::Model(m));
    }
    if let Some(m) = config
        .models
        .iter()
        .map(|s| &s.model)
        .find(|m| m.id == name && usable(m))
    {
        return Ok(Target::Model(m.clone()));
    }
    let mut known: Vec<String> = POOLS.iter().map(|t| format!("rota/{t}")).collect();
    known.extend(usable_models(fleet).iter().map(ModelRef::to_string));
    Err(ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "the model `{name}` does not exist or has no key here; use one of: {}",
            known.join(", ")
        ),
        kind: "invalid_request_error",
        code: Some("model_not_found"),
        param: Some("model"),
        retry_after_ms: None,
    })
}

/// Whether a client can name a fleet model: a chat model, enabled, with a key.
fn nameable(f: &crate::engine::fleet::FleetModel) -> bool {
    f.enabled && !f.accounts.is_empty() && !f.spec.transcription
}

/// Every chat model a client can name: enabled, with a key.
pub fn usable_models(fleet: &Fleet) -> Vec<ModelRef> {
    fleet
        .models
        .iter()
        .filter(|f| nameable(f))
        .map(|f| f.spec.model.clone())
        .collect()
}

/// Whether rota reads a body field itself: the ones only rota sets, and `tools`. Every
/// other field (`parallel_tool_calls` among them) is passed to the provider as written.
fn read_by_rota(field: &str) -> bool {
    field == "tools" || crate::router::chat::ROTA_FIELDS.contains(&field)
}

/// Reads a chat-completions body.
pub fn chat_call(body: &[u8], config: &Config, fleet: &Fleet) -> Result<ChatCall, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON ({e})"), None))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::invalid("the body must be a JSON object", None));
    };
    let Some(model) = obj.get("model").and_then(Value::as_str) else {
        return Err(ApiError::invalid(
            "`model` is required: e.g. rota/auto",
            Some("model"),
        ));
    };
    let target = target(model, config, fleet)?;
    let Some(raw) = obj.get("messages").and_then(Value::as_array) else {
        return Err(ApiError::invalid(
            "`messages` must be an array",
            Some("messages"),
        ));
    };
    if raw.is_empty() {
        return Err(ApiError::invalid("`messages` is empty", Some("messages")));
    }
    let messages: Vec<Message> = raw.iter().map(Message::from).collect();
    if obj.get("n").and_then(Value::as_u64).is_some_and(|n| n != 1) {
        return Err(ApiError::invalid(
            "rota answers with one choice: set `n` to 1",
            Some("n"),
        ));
    }
    let max_tokens = match obj
        .get("max_completion_tokens")
        .or_else(|| obj.get("max_tokens"))
    {
        None | Some(Value::Null) => None,
        Some(n) => {
            let n = n.as_u64().ok_or_else(|| {
                ApiError::invalid("`max_tokens` must be a whole number", Some("max_tokens"))
            })?;
            Some(
                crate::router::check_max_tokens(n, "max_tokens")
                    .map_err(|e| ApiError::invalid(e, Some("max_tokens")))?,
            )
        }
    };
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(t)) => t.clone(),
        Some(_) => return Err(ApiError::invalid("`tools` must be an array", Some("tools"))),
    };
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = v
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !read_by_rota(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (task, model) = match target {
        Target::Pool(t) => (Some(t), None),
        Target::Model(m) => (Some(Task::Fast), Some(m)),
    };
    Ok(ChatCall {
        req: ChatRequest {
            messages,
            task,
            max_tokens,
            tools,
            // A client's `parallel_tool_calls` (true or false) is passed through as written
            // (in `extra`): it restricts no candidate.
            parallel_tool_calls: false,
            continues: false,
            model,
            max_wait: None,
            extra,
        },
        stream,
        include_usage,
    })
}

/// The `model` an answer names: `PROVIDER/ID` of the model that answered.
pub fn answered_by(provider: &str, model: &str) -> String {
    format!("{provider}/{model}")
}

/// A whole `chat.completion`.
#[allow(clippy::too_many_arguments)]
pub fn completion(
    id: &str,
    created: u64,
    model: &str,
    text: &str,
    reasoning: &str,
    calls: &[ToolCall],
    finish_reason: Option<&str>,
    usage: Option<&Usage>,
) -> Value {
    let mut message = json!({"role": "assistant", "content": text});
    if !reasoning.is_empty() {
        message["reasoning_content"] = reasoning.into();
    }
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
        if text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    let mut out = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
    });
    if let Some(u) = usage {
        out["usage"] = usage_json(u);
    }
    out
}

/// OpenAI's `usage` object.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

/// One `chat.completion.chunk` with a `delta` (or a finish reason).
pub fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    })
}

/// The last chunk of a stream whose client asked for usage: no choices, the usage.
pub fn usage_chunk(id: &str, created: u64, model: &str, u: &Usage) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_json(u),
    })
}

/// One server-sent event carrying `v`.
pub fn sse(v: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("data: {v}\n\n"))
}

/// The stream's end.
pub const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> (Config, Fleet) {
        let env = |k: &str| (k == "GROQ_API_KEY").then(|| "gsk_test_0001".to_string());
        let c = crate::config::parse("", "(test)", &env).unwrap();
        let f = Fleet::from_config(&c);
        (c, f)
    }

    #[test]
    fn pools_are_named_with_or_without_the_prefix() {
        let (c, f) = config();
        assert_eq!(target("rota/fast", &c, &f), Ok(Target::Pool(Task::Fast)));
        assert_eq!(target("code", &c, &f), Ok(Target::Pool(Task::Code)));
        assert_eq!(target("rota/auto", &c, &f), Ok(Target::Pool(Task::Auto)));
    }

    #[test]
    fn a_model_is_named_in_full_or_by_its_catalog_id_and_unknown_is_404() {
        let (c, f) = config();
        let first = usable_models(&f);
        let m = first.first().expect("a Groq key gives models");
        assert_eq!(target(&m.to_string(), &c, &f), Ok(Target::Model(m.clone())));
        assert_eq!(target(&m.id, &c, &f), Ok(Target::Model(m.clone())));
        let e = target("gpt-9-ultra", &c, &f).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.code, Some("model_not_found"));
        assert!(e.message.contains("rota/fast") && e.message.contains(&m.to_string()));
        // A provider without a key serves nothing here.
        assert!(target("openai/gpt-4o-mini", &c, &f).is_err());
    }

    #[test]
    fn the_body_keeps_what_it_does_not_read_and_refuses_what_rota_cannot_do() {
        let (c, f) = config();
        let body = json!({
            "model": "rota/fast",
            "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 50,
            "temperature": 0.2, "seed": 7, "stop": ["\n\n"],
            "response_format": {"type": "json_object"},
            "stream": true, "stream_options": {"include_usage": true},
        });
        let call = chat_call(body.to_string().as_bytes(), &c, &f).unwrap();
        assert!(call.stream && call.include_usage);
        assert_eq!(call.req.max_tokens, Some(50));
        assert_eq!(call.req.task, Some(Task::Fast));
        let keys: Vec<&str> = call.req.extra.keys().map(String::as_str).collect();
        assert_eq!(keys, ["response_format", "seed", "stop", "temperature"]);
        let two = json!({"model": "fast", "messages": [{"role": "user", "content": "x"}], "n": 2});
        let e = chat_call(two.to_string().as_bytes(), &c, &f).unwrap_err();
        assert_eq!(e.param, Some("n"));
        assert!(chat_call(b"{not json", &c, &f).is_err());
        let none = json!({"model": "fast", "messages": []});
        assert!(chat_call(none.to_string().as_bytes(), &c, &f).is_err());
    }

    #[test]
    fn a_429_carries_rotas_wait_and_other_failures_their_status() {
        let e = ApiError::failed("rate_limited", "busy".into(), Some(2_500));
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after_ms, Some(2_500));
        assert_eq!(
            ApiError::failed("input", "x".into(), None).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::failed("timeout", "x".into(), Some(5)).status,
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            ApiError::failed("timeout", "x".into(), Some(5)).retry_after_ms,
            None
        );
    }

    #[test]
    fn a_429_says_when_to_come_back_in_seconds_and_milliseconds() {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "busy");
        e.retry_after_ms = Some(1_200);
        let r = e.into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()["retry-after-ms"], "1200");
    }
}
