//! What `rota status` shows (docs/engine.md, "`rota status`"): every pool, model and key,
//! usage against limits.

use crate::model::{Millis, Task, Window};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// A snapshot of every pool at one instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// When it was taken (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub at: Millis,
    /// Each chat pool's entries in preference order.
    pub pools: BTreeMap<Task, Vec<StatusEntry>>,
    /// The transcription pool's entries in routing order.
    pub transcription: Vec<StatusEntry>,
}

/// One model of one pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusEntry {
    /// `groq`, `custom:local`, …
    pub provider: String,
    /// The model id.
    pub model: String,
    /// The best state over its keys.
    pub state: EntryState,
    /// Milliseconds from `at` until the state changes (cooling, at capacity), else null.
    pub until_ms: Option<u64>,
    /// Each window with a limit or usage: used, limit, whether the limit was learned.
    pub windows: BTreeMap<Window, WindowStatus>,
    /// Per key.
    pub keys: Vec<KeyStatus>,
    /// The last error seen for this model, for the dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Transcription counters (transcription entries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcription: Option<TranscriptionStats>,
}

/// The state of a model or key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Can take a request now.
    Available,
    /// A window is full; frees by itself.
    AtCapacity,
    /// Backing off after an error.
    Cooling,
    /// The account cannot see the model (not in its `GET /models`, or `model_not_found`);
    /// lifted when a later check lists it again.
    Unavailable,
    /// The key or model failed for good (auth, quota).
    Failed,
    /// No key for the provider.
    NoKey,
    /// Disabled in config.
    Disabled,
}

/// Usage of one window of the busiest account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WindowStatus {
    /// Used (granted and reserved) in the window now.
    pub used: u64,
    /// The limit in force, null when unknown.
    pub limit: Option<u64>,
    /// The limit came from a provider's reply, not the catalog or config.
    pub learned: bool,
}

/// One key of a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyStatus {
    /// Masked key.
    pub key: String,
    /// Its account.
    pub account: String,
    /// Its state for this model.
    pub state: EntryState,
    /// Milliseconds from `at` until the state changes, else null.
    pub until_ms: Option<u64>,
}

/// What one transcription provider has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TranscriptionStats {
    /// Requests sent.
    pub requests: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Audio seconds transcribed.
    pub audio_secs: u64,
    /// Failed requests.
    pub failures: u64,
}

fn rfc3339<S: Serializer>(at: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*at))
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-27T01:02:03.456Z`).
pub fn format_rfc3339(at: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(at as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
