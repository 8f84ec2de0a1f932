//! `web_search` through Tavily: `POST {base}/search` with `Authorization: Bearer tvly-…` and
//! `{"query", "max_results", "search_depth"}`; the answer's `results` are
//! `{title, url, content, score}`. A 429 from Tavily cools web search for the wait it asks
//! (or a minute), like a provider's; every other failure is a result the model can read.

use super::{Source, ToolOutput};
use crate::config::ToolsConfig;
use crate::secret::ApiKey;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest one search may take.
pub const SEARCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long web search rests after a 429 that says no wait.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);
/// The longest a 429 may rest web search (a `retry-after` of a day is not believed).
pub const MAX_COOLDOWN: Duration = Duration::from_secs(3_600);
/// The most of one result's extract the model reads.
const EXTRACT_CHARS: usize = 800;

/// Tavily, with its key, base URL and backoff.
pub struct Tavily {
    key: Option<ApiKey>,
    base: String,
    /// Built on the first search (a client loads its TLS roots: no cost to a start that
    /// never searches).
    http: std::sync::OnceLock<reqwest::Client>,
    cool_until: Mutex<Option<Instant>>,
}

impl Tavily {
    /// Tavily as `[tools]` configures it.
    pub fn new(config: &ToolsConfig) -> Self {
        Self {
            key: config.tavily_key.clone(),
            base: config.tavily_url.trim_end_matches('/').to_string(),
            http: std::sync::OnceLock::new(),
            cool_until: Mutex::new(None),
        }
    }

    /// Searches for `query`; `now` dates a 429's backoff.
    pub async fn search(&self, query: &str, max_results: u64, now: Instant) -> ToolOutput {
        let Some(key) = &self.key else {
            return ToolOutput::failed(
                "web search needs a Tavily key: set TAVILY_API_KEY (or [tools] tavily_key)",
            );
        };
        let resting = self
            .cool_until
            .lock()
            .ok()
            .and_then(|c| *c)
            .filter(|until| *until > now);
        if let Some(until) = resting {
            return ToolOutput::failed(format!(
                "web search is resting after Tavily's rate limit for {} more",
                crate::duration::format(until - now)
            ));
        }
        let body = json!({"query": query, "max_results": max_results, "search_depth": "basic"});
        let sent = self
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default()
            })
            .post(format!("{}/search", self.base))
            .bearer_auth(key.expose())
            .json(&body)
            .timeout(SEARCH_TIMEOUT)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return ToolOutput::failed(format!(
                    "web search timed out after {}",
                    crate::duration::format(SEARCH_TIMEOUT)
                ));
            }
            Err(e) => {
                let why = crate::secret::redact(&e.without_url().to_string(), &[key]);
                return ToolOutput::failed(format!("web search could not reach Tavily ({why})"));
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_COOLDOWN.as_secs_f64())));
        let text = match tokio::time::timeout(SEARCH_TIMEOUT, resp.text()).await {
            Ok(Ok(t)) => t,
            Ok(Err(_)) | Err(_) => String::new(),
        };
        let message = tavily_message(&text, key);
        match status {
            200..=299 => read_results(&text),
            401 | 403 => ToolOutput::failed(format!(
                "Tavily refused the key ({status}{message}): check TAVILY_API_KEY"
            )),
            429 => {
                let wait = retry_after.unwrap_or(DEFAULT_COOLDOWN);
                if let Ok(mut c) = self.cool_until.lock() {
                    *c = Some(now + wait);
                }
                ToolOutput::failed(format!(
                    "Tavily's rate limit ({status}{message}); web search rests for {}",
                    crate::duration::format(wait)
                ))
            }
            432 | 433 => ToolOutput::failed(format!(
                "Tavily's plan limit is reached ({status}{message}): upgrade the plan or wait \
                 for its reset"
            )),
            _ => ToolOutput::failed(format!("Tavily answered {status}{message}")),
        }
    }
}

/// `: <Tavily's message>` from an error body (`{"detail": {"error": …}}` or
/// `{"error": …}`), cleaned for the terminal; empty when there is none.
fn tavily_message(body: &str, key: &ApiKey) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let msg = v
        .pointer("/detail/error")
        .or_else(|| v.get("detail"))
        .or_else(|| v.pointer("/error/message"))
        .or_else(|| v.get("error"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let clean: String = crate::secret::redact(msg, &[key])
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if clean.is_empty() {
        String::new()
    } else {
        format!(": {clean}")
    }
}

/// The results of a 2xx answer as the model reads them, numbered, with their sources.
fn read_results(body: &str) -> ToolOutput {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return ToolOutput::failed(format!("Tavily's answer is not JSON ({e})")),
    };
    let Some(results) = v.get("results").and_then(Value::as_array) else {
        return ToolOutput::failed("Tavily's answer has no `results`");
    };
    let mut content = String::new();
    let mut sources = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let title = r.get("title").and_then(Value::as_str).unwrap_or("");
        let Some(url) = r.get("url").and_then(Value::as_str) else {
            continue;
        };
        let extract: String = r
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(EXTRACT_CHARS)
            .collect();
        content.push_str(&format!("[{}] {title}\n{url}\n{extract}\n\n", i + 1));
        sources.push(Source {
            title: title.to_string(),
            url: url.to_string(),
        });
    }
    if sources.is_empty() {
        content = "no results".to_string();
    }
    ToolOutput {
        ok: true,
        content: content.trim_end().to_string(),
        sources,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_numbered_with_their_sources() {
        let body = r#"{"results":[{"title":"A","url":"https://a.example/x","content":"alpha","score":0.9},
            {"title":"B","url":"https://b.example/y","content":"beta","score":0.5},{"title":"no url"}]}"#;
        let out = read_results(body);
        assert!(out.ok);
        assert_eq!(out.sources.len(), 2);
        assert!(
            out.content.starts_with("[1] A\nhttps://a.example/x\nalpha"),
            "{}",
            out.content
        );
        assert!(!read_results("{").ok);
        assert!(!read_results("{}").ok);
    }

    #[test]
    fn tavily_messages_are_read_and_cleaned() {
        let k = ApiKey::new("tvly-secret-1234");
        assert_eq!(
            tavily_message(
                r#"{"detail":{"error":"Unauthorized: missing or invalid API key."}}"#,
                &k
            ),
            ": Unauthorized: missing or invalid API key."
        );
        assert_eq!(
            tavily_message(
                r#"{"detail":{"error":"bad key tvly-secret-1234\u001b[2J"}}"#,
                &k
            ),
            ": bad key …1234[2J"
        );
        assert_eq!(tavily_message("not json", &k), "");
    }
}
