//! The research task's tools: rota offers them to the model and runs them itself.
//! `web_search` asks Tavily; `fetch_url` reads one page as text. Every failure becomes a
//! result the model can read (and a notice for the user), never a crash.

pub mod fetch;
pub mod tavily;

use crate::config::ToolsConfig;
use crate::message::ToolCall;
use serde_json::{Value, json};
use std::time::Instant;

/// The web search tool's name.
pub const WEB_SEARCH: &str = "web_search";
/// The page reading tool's name.
pub const FETCH_URL: &str = "fetch_url";

/// A page a tool returned: what a research answer lists as its sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The page's title, when known.
    pub title: String,
    /// Its URL.
    pub url: String,
}

/// What running one tool call produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolOutput {
    /// Whether the tool did its job.
    pub ok: bool,
    /// What the model reads as the tool's result (an error says what went wrong).
    pub content: String,
    /// The pages it returned.
    pub sources: Vec<Source>,
    /// What went wrong, for the user (`None` when it worked).
    pub error: Option<String>,
}

impl ToolOutput {
    /// A failed call: the model reads `message` and the user is told it.
    pub fn failed(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            ok: false,
            content: format!("error: {message}"),
            sources: Vec::new(),
            error: Some(message),
        }
    }
}

/// The tools of one process: their settings, an HTTP client and Tavily's backoff.
pub struct Tools {
    config: ToolsConfig,
    search: tavily::Tavily,
}

impl Tools {
    /// Tools as `[tools]` configures them.
    pub fn new(config: &ToolsConfig) -> Self {
        Self {
            config: config.clone(),
            search: tavily::Tavily::new(config),
        }
    }

    /// Whether `web_search` is offered (a Tavily key is set).
    pub fn can_search(&self) -> bool {
        self.config.tavily_key.is_some()
    }

    /// The tool definitions offered to the model (OpenAI format).
    pub fn schemas(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if self.can_search() {
            out.push(json!({"type": "function", "function": {
                "name": WEB_SEARCH,
                "description": "Search the web. Returns the most relevant pages: title, URL and an extract of each.",
                "parameters": {"type": "object", "properties": {
                    "query": {"type": "string", "description": "What to search for"},
                    "max_results": {"type": "integer", "description": "How many pages (1-10, default 5)"}
                }, "required": ["query"]}
            }}));
        }
        out.push(json!({"type": "function", "function": {
            "name": FETCH_URL,
            "description": "Read one web page (http or https) as plain text.",
            "parameters": {"type": "object", "properties": {
                "url": {"type": "string", "description": "The page's URL"}
            }, "required": ["url"]}
        }}));
        out
    }

    /// Runs one call. Unknown tools and arguments that are not JSON are failed results.
    pub async fn run(&self, call: &ToolCall) -> ToolOutput {
        let args: Value = match serde_json::from_str(&call.function.arguments) {
            Ok(v) => v,
            Err(e) => return ToolOutput::failed(format!("the arguments are not JSON ({e})")),
        };
        match call.function.name.as_str() {
            WEB_SEARCH => {
                let Some(query) = args.get("query").and_then(Value::as_str) else {
                    return ToolOutput::failed("web_search needs a `query` string");
                };
                let max = args
                    .get("max_results")
                    .and_then(Value::as_u64)
                    .unwrap_or(5)
                    .clamp(1, 10);
                self.search.search(query, max, Instant::now()).await
            }
            FETCH_URL => {
                let Some(url) = args.get("url").and_then(Value::as_str) else {
                    return ToolOutput::failed("fetch_url needs a `url` string");
                };
                fetch::fetch(url, self.config.allow_private_urls).await
            }
            other => ToolOutput::failed(format!("there is no tool `{other}`")),
        }
    }
}

/// How a tool call is shown to the user: `searching: <query>`, `reading: <url>` (the
/// argument cleaned for the terminal and cut at 200 characters).
pub fn describe_call(name: &str, arguments: &Value) -> String {
    let arg = |k: &str| {
        arguments
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect::<String>()
    };
    match name {
        WEB_SEARCH => format!("searching: {}", arg("query")),
        FETCH_URL => format!("reading: {}", arg("url")),
        other => format!("calling {other}"),
    }
}

/// A tool call id every provider accepts: `call_` and at most 35 letters, digits, `_` or
/// `-` (some providers take 40 characters at most; Groq's ids have no `call_` prefix).
pub fn normalize_call_id(id: &str, index: usize) -> String {
    let body: String = id
        .strip_prefix("call_")
        .unwrap_or(id)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(35)
        .collect();
    if body.is_empty() {
        format!("call_{index}")
    } else {
        format!("call_{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_become_ones_every_provider_takes() {
        assert_eq!(normalize_call_id("call_abc", 0), "call_abc");
        assert_eq!(normalize_call_id("fc_9x", 1), "call_fc_9x");
        assert_eq!(normalize_call_id("", 2), "call_2");
        assert_eq!(normalize_call_id("!!!", 3), "call_3");
        let long = normalize_call_id(&"x".repeat(100), 0);
        assert_eq!(long.len(), 40);
    }

    #[tokio::test]
    async fn bad_arguments_and_unknown_tools_are_results_not_crashes() {
        let tools = Tools::new(&ToolsConfig::default());
        let call = |name: &str, args: &str| ToolCall {
            id: "a".into(),
            kind: "function".into(),
            function: crate::message::FunctionCall {
                name: name.into(),
                arguments: args.into(),
            },
        };
        let out = tools.run(&call("fetch_url", "{not json")).await;
        assert!(!out.ok && out.content.starts_with("error:"), "{out:?}");
        let out = tools.run(&call("nope", "{}")).await;
        assert!(!out.ok, "{out:?}");
        let out = tools.run(&call("web_search", r#"{"query":"x"}"#)).await;
        assert!(!out.ok && out.error.is_some_and(|e| e.contains("TAVILY_API_KEY")));
        assert_eq!(tools.schemas().len(), 1, "no key: fetch_url only");
    }
}
