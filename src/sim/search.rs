//! A Tavily-compatible search: `POST /tavily/search` answers any bearer key with
//! deterministic results for the query (their pages served at `/tavily/page/{slug}`),
//! after the scenario's `[search] latency`, or fails with its `[search] status`. The stats
//! count searches and the most that ran at once.

use super::server::Fleet;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Searches served, and how many ran at once.
#[derive(Debug, Default)]
pub struct SearchStats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak: AtomicU64,
}

impl SearchStats {
    /// `{"requests", "peak_concurrency"}`.
    pub fn json(&self) -> Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "peak_concurrency": self.peak.load(Ordering::Relaxed),
        })
    }
}

/// Counts a search in flight until dropped.
struct InFlight<'a>(&'a SearchStats);

impl<'a> InFlight<'a> {
    fn start(s: &'a SearchStats) -> Self {
        s.requests.fetch_add(1, Ordering::Relaxed);
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.peak.fetch_max(now, Ordering::SeqCst);
        Self(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"detail": {"error": message}}).to_string(),
    )
        .into_response();
    if status == 429
        && let Ok(v) = header::HeaderValue::from_str("1")
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// `POST /tavily/search`.
pub async fn search(State(fleet): State<Arc<Fleet>>, headers: HeaderMap, body: Bytes) -> Response {
    let _counted = InFlight::start(&fleet.search_stats);
    let sc = &fleet.scenario.search;
    if !sc.latency.is_zero() {
        fleet.pause(Some(sc.latency)).await;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty());
    if !bearer {
        return error(401, "Unauthorized: missing or invalid API key.");
    }
    if let Some(status) = sc.status {
        let message = match status {
            429 => "Your request has been blocked due to excessive requests.",
            432 => "This request exceeds your plan's set usage limit.",
            433 => "This request exceeds the pay-as-you-go limit.",
            _ => "The search failed.",
        };
        return error(status, message);
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(query) = req.get("query").and_then(Value::as_str) else {
        return error(400, "query is required");
    };
    let n = req
        .get("max_results")
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .clamp(1, 10);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let slug: String = query
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-");
    let results: Vec<Value> = (1..=n)
        .map(|i| {
            json!({
                "title": format!("{query} — source {i}"),
                "url": format!("http://{host}/tavily/page/{slug}-{i}"),
                "content": extract(i, query, sc.extract_chars),
                "score": 1.0 - i as f64 / 20.0,
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"query": query, "results": results}).to_string(),
    )
        .into_response()
}

/// Result `i`'s extract: a sentence, or that sentence repeated to `chars` characters.
fn extract(i: u64, query: &str, chars: usize) -> String {
    let sentence =
        format!("Source {i} on {query}: what the sim knows about it, in a sentence or two.");
    if chars == 0 {
        return sentence;
    }
    let mut out = String::with_capacity(chars + sentence.len());
    while out.chars().count() < chars {
        out.push_str(&sentence);
        out.push(' ');
    }
    out.chars().take(chars).collect()
}

/// `GET /tavily/page/{slug}`: a small HTML page about the slug.
pub async fn page(Path(slug): Path<String>) -> Response {
    let words = slug.replace('-', " ");
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<html><head><title>{words}</title><script>ignored()</script></head>\
             <body><h1>{words}</h1><p>A page of the simulated web about {words}.</p></body></html>"
        ),
    )
        .into_response()
}
