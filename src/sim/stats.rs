//! Counters per provider × account × model, read by `GET /sim/stats` and benchmarks.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one account on one model (or of a whole provider).
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests that reached the model (valid key, known model).
    pub requests: AtomicU64,
    /// Answered 200.
    pub ok: AtomicU64,
    /// Tokens (prompt + completion) of successful answers; audio seconds for transcription.
    pub tokens: AtomicU64,
    /// 429s sent.
    pub r429: AtomicU64,
    /// 413s sent.
    pub r413: AtomicU64,
    /// Other error replies (400, 5xx).
    pub errors: AtomicU64,
    /// Faults injected.
    pub faults: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// The counters as JSON (`"429"` and `"413"` are the literal keys).
    pub fn json(&self) -> Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "requests": g(&self.requests),
            "ok": g(&self.ok),
            "tokens": g(&self.tokens),
            "429": g(&self.r429),
            "413": g(&self.r413),
            "errors": g(&self.errors),
            "faults": g(&self.faults),
        })
    }
}

/// Sums counter JSON objects key by key.
pub fn add_into(total: &mut Value, part: &Value) {
    if let (Some(t), Some(p)) = (total.as_object_mut(), part.as_object()) {
        for (k, v) in p {
            let sum = t.get(k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
            t.insert(k.clone(), json!(sum));
        }
    }
}
