//! The rotation engine: a pure function of (state, demand, now).
//!
//! It keeps sliding windows per account × model, picks the first candidate of a pool
//! that has headroom in every window, reserves for it, trues the reservation up when the
//! answer arrives, and learns from errors and headers. Nothing here reads the clock, the
//! network or the disk: every function takes `now` and the caller stores the state.
//!
//! The engine does not read the wire: the providers turn error bodies and rate-limit
//! headers into the typed results it consumes ([`Classified`], [`RateReading`]).

pub mod availability;
pub mod fleet;
pub mod policy;
pub mod react;
pub mod report;
pub mod reset;
pub mod select;
pub mod slots;
pub mod state;
pub mod status;
#[cfg(test)]
pub(crate) mod testkit;
pub mod window;

pub use fleet::{Fleet, FleetParts, ProviderParts};
pub use policy::{Mark, Policy, Scope, policy};
pub use react::{
    abandon, complete, complete_transcription, fail, keep, release, restamp, sync_headers,
};
pub use report::status;
pub use reset::{Cleared, ResetScope, reset};
pub use select::{largest_request, reserve};
pub use state::EngineState;
pub use status::{EntryState, KeyStatus, Status, StatusEntry, TranscriptionStats, WindowStatus};

use crate::model::{Millis, ModelRef, Reason, Task, Window};
use serde::{Deserialize, Serialize};

/// Which pool a demand draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pool {
    /// A chat pool (never `Task::Auto`).
    Chat(Task),
    /// The transcription pool: Groq first, then round-robin.
    Transcription,
}

/// One key as the engine knows it: stable across processes, restarts and machines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyRef {
    /// The provider name (`groq`, `custom:local`, …).
    pub provider: String,
    /// The account whose limits the key draws on.
    pub account: String,
    /// The masked key (`…a1b2`, or `none` for a keyless endpoint): what is shown.
    pub masked: String,
    /// The whole key's identity (`ApiKey::fingerprint`): what tells two keys that end in
    /// the same four characters apart. Empty for a keyless endpoint, and in records saved
    /// before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl KeyRef {
    /// A configured key of `provider` as the engine knows it.
    pub fn of(provider: &str, k: &crate::config::KeyConfig) -> Self {
        Self {
            provider: provider.to_string(),
            account: k.account.clone(),
            masked: k.masked(),
            fingerprint: k.fingerprint(),
        }
    }
}

/// A model and a key to call it with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Candidate {
    /// The model.
    pub model: ModelRef,
    /// The key (its provider is the model's provider).
    pub key: KeyRef,
}

/// What one request needs, as the engine sees it. Start from [`Demand::new`] and set what
/// the request needs (struct update syntax: `Demand { prompt_tokens, ..Demand::new(pool) }`).
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// The pool to draw on (never `Task::Auto`: the router resolves it first).
    pub pool: Pool,
    /// Estimated prompt tokens (the largest estimate over the pool's model families).
    pub prompt_tokens: u64,
    /// Tokens reserved for the answer at least (`max_tokens`, or the task's default).
    pub max_tokens: u64,
    /// When set, the grant reserves a longer answer, up to this many tokens, where the
    /// model's output limit, its context window and the account's token windows have room
    /// now (the caller set no `max_tokens`); the grant says what it reserved.
    pub answer_ceiling: Option<u64>,
    /// The request offers tools.
    pub needs_tools: bool,
    /// The request wants several tool calls in one turn (`parallel_tool_calls: true`).
    pub needs_parallel_tools: bool,
    /// Images in the request (more than 0 needs a vision model within its image limits).
    pub images: u32,
    /// Largest image, in bytes.
    pub largest_image_bytes: u64,
    /// Audio seconds, for transcription (what ASH/ASD reserve).
    pub audio_secs: u64,
    /// File size, for transcription upload limits.
    pub file_bytes: u64,
    /// File format by content (`wav`, `mp3`, …), for transcription.
    pub audio_format: Option<String>,
    /// Models ruled out for this request only (too large, context length).
    pub skip_models: Vec<ModelRef>,
    /// Candidates already tried for this request.
    pub tried: Vec<Candidate>,
    /// Only this model of the fleet, whatever the pool lists (a caller that names one).
    pub only: Option<ModelRef>,
}

impl Demand {
    /// A demand on `pool` that needs nothing yet: no tokens, no capability, no audio.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            prompt_tokens: 0,
            max_tokens: 0,
            answer_ceiling: None,
            needs_tools: false,
            needs_parallel_tools: false,
            images: 0,
            largest_image_bytes: 0,
            audio_secs: 0,
            file_bytes: 0,
            audio_format: None,
            skip_models: Vec::new(),
            tried: Vec::new(),
            only: None,
        }
    }
}

/// A reservation the engine granted; hand it back to `complete`, `fail` or `release`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Unique within the state.
    pub id: u64,
    /// Whom to call.
    pub candidate: Candidate,
    /// Tokens reserved (prompt estimate + max_tokens).
    pub tokens: u64,
    /// The answer tokens of `tokens`: the `max_tokens` to send.
    #[serde(default)]
    pub max_tokens: u64,
    /// Audio seconds reserved.
    pub audio_secs: u64,
    /// When it was granted.
    pub at: Millis,
}

/// Why nothing can ever take a demand (as opposed to: not now).
#[derive(Clone, Debug, PartialEq)]
pub enum Unfit {
    /// No enabled provider of the pool has a usable key.
    NoCredentials {
        /// The pool asked for.
        pool: Pool,
    },
    /// The prompt plus answer exceed every candidate's context window or whole window limit.
    TooLarge {
        /// Tokens the request needs.
        needed: u64,
        /// The largest any candidate can take.
        largest: u64,
    },
    /// No candidate has the capability (vision, tools, image size, audio format, file size).
    NoCapableModel {
        /// What was missing, for the user.
        why: String,
    },
    /// Every candidate is disabled (spent keys, retired models) or was tried already.
    Exhausted {
        /// What happened to them, for the user.
        why: String,
    },
}

/// The engine's answer to a demand.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Call this candidate now; the reservation is recorded in the state.
    Grant(Grant),
    /// Nothing fits now; `next` fits at `until` (the exact earliest instant).
    Wait {
        /// The earliest instant a candidate fits.
        until: Millis,
        /// The candidate that fits then.
        next: ModelRef,
    },
    /// Nothing will ever fit.
    Unfit(Unfit),
}

/// What a failed call taught, as the providers read it from the error body and headers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classified {
    /// Why it failed.
    pub reason: Reason,
    /// The window the provider named, if any.
    pub window: Option<Window>,
    /// The limit it stated (or the context window for `context_length`).
    pub limit: Option<u64>,
    /// How long it asked us to wait.
    pub retry_after_ms: Option<u64>,
    /// The provider's message, for the user (keys already masked).
    pub message: String,
}

/// One rate-limit window as a provider's headers describe it right now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateReading {
    /// Which window the header pair describes (with that provider's meaning).
    pub window: Window,
    /// `x-ratelimit-limit-*`.
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining-*`.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset-*`, in ms from now.
    pub reset_ms: Option<u64>,
}

/// Response headers with lowercase names, as the engine reads them.
pub type Headers = Vec<(String, String)>;
