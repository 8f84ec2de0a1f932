//! The shared vocabulary: which model, which task, which window, which reason.
//!
//! Every layer speaks these types; none of them knows about HTTP, terminals or disks.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Wall-clock time in milliseconds since the Unix epoch. The engine takes it as an argument
/// and never reads a clock; the faces read the clock once per step and pass it down.
pub type Millis = u64;

/// Reads the process's clock as [`Millis`]: the system's, aligned to a shared store's
/// clock when one is in use (see [`crate::clock::align_to_shared`]). Only faces and the
/// router call this.
pub fn now_ms() -> Millis {
    crate::clock::wall_ms()
}

/// A model of one provider, written `groq/llama-3.1-8b-instant` for built-in providers and
/// `custom:local/qwen2.5-7b-instruct` for custom ones. The id may itself contain `/`
/// (`together/meta-llama/Llama-3.3-70B-Instruct-Turbo`): the provider ends at the first `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    /// `groq`, `openai`, `together`, or `custom:NAME`.
    pub provider: String,
    /// The model id as the provider names it.
    pub id: String,
}

impl ModelRef {
    /// Builds a reference from its two parts.
    pub fn new(provider: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.id)
    }
}

/// Why a string is not a model reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a model reference: write PROVIDER/ID (e.g. groq/llama-3.1-8b-instant) or custom:NAME/ID"
)]
pub struct BadModelRef(pub String);

impl FromStr for ModelRef {
    type Err = BadModelRef;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((p, id)) if !p.is_empty() && !id.is_empty() => Ok(Self::new(p, id)),
            _ => Err(BadModelRef(s.to_string())),
        }
    }
}

impl Serialize for ModelRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The wire dialect of a provider: how its headers and error bodies are read. Each has a
/// module in `providers` holding its rules (`providers::rules` picks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Groq: `-requests` headers are per day, `-tokens` per minute; 413 for too large.
    Groq,
    /// OpenAI: `-requests` per minute, `-tokens` per minute; 429 "Request too large".
    OpenAi,
    /// Together: per-second headers (older) or dynamic limits (2026).
    Together,
    /// Any other OpenAI-compatible server: OpenAI's reading, nothing assumed about headers.
    Generic,
}

impl Dialect {
    /// The dialect of a provider name (`custom:…` is [`Dialect::Generic`]).
    pub fn of_provider(provider: &str) -> Self {
        match provider {
            "groq" => Self::Groq,
            "openai" => Self::OpenAi,
            "together" => Self::Together,
            _ => Self::Generic,
        }
    }
}

/// What a chat request is for. `Auto` is resolved to one of the others before routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Pick from the prompt (images → vision, code → code, research words → research, else fast).
    Auto,
    /// Quick answers from small, fast models.
    Fast,
    /// Longer, more careful answers.
    Research,
    /// Programming.
    Code,
    /// Prompts with images.
    Vision,
}

impl Task {
    /// The four tasks that own a pool, in display order.
    pub const POOLS: [Task; 4] = [Task::Fast, Task::Research, Task::Code, Task::Vision];

    /// The lowercase name used in config, flags and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Auto => "auto",
            Task::Fast => "fast",
            Task::Research => "research",
            Task::Code => "code",
            Task::Vision => "vision",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Task::Auto),
            "fast" => Ok(Task::Fast),
            "research" => Ok(Task::Research),
            "code" => Ok(Task::Code),
            "vision" => Ok(Task::Vision),
            other => Err(format!(
                "unknown task `{other}`: use one of auto, fast, research, code, vision"
            )),
        }
    }
}

/// A rate-limit window: what is counted and over how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// Requests per minute.
    Rpm,
    /// Tokens per minute.
    Tpm,
    /// Requests per day.
    Rpd,
    /// Tokens per day.
    Tpd,
    /// Audio seconds per hour.
    Ash,
    /// Audio seconds per day.
    Asd,
}

impl Window {
    /// Every window, in display order.
    pub const ALL: [Window; 6] = [
        Window::Rpm,
        Window::Tpm,
        Window::Rpd,
        Window::Tpd,
        Window::Ash,
        Window::Asd,
    ];

    /// The window's length in milliseconds.
    pub fn span_ms(self) -> Millis {
        match self {
            Window::Rpm | Window::Tpm => 60_000,
            Window::Ash => 3_600_000,
            Window::Rpd | Window::Tpd | Window::Asd => 86_400_000,
        }
    }

    /// What the window counts.
    pub fn unit(self) -> Unit {
        match self {
            Window::Rpm | Window::Rpd => Unit::Requests,
            Window::Tpm | Window::Tpd => Unit::Tokens,
            Window::Ash | Window::Asd => Unit::AudioSeconds,
        }
    }

    /// The lowercase name used in config and events (`rpm`, `tpm`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Rpm => "rpm",
            Window::Tpm => "tpm",
            Window::Rpd => "rpd",
            Window::Tpd => "tpd",
            Window::Ash => "ash",
            Window::Asd => "asd",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a window counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// One per request.
    Requests,
    /// Prompt plus completion tokens.
    Tokens,
    /// Seconds of audio.
    AudioSeconds,
}

/// The limits of one account on one model; `None` is unknown (learned when hit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests per day.
    pub rpd: Option<u64>,
    /// Tokens per day.
    pub tpd: Option<u64>,
    /// Audio seconds per hour.
    pub ash: Option<u64>,
    /// Audio seconds per day.
    pub asd: Option<u64>,
}

impl Limits {
    /// The limit of one window.
    pub fn get(&self, w: Window) -> Option<u64> {
        match w {
            Window::Rpm => self.rpm,
            Window::Tpm => self.tpm,
            Window::Rpd => self.rpd,
            Window::Tpd => self.tpd,
            Window::Ash => self.ash,
            Window::Asd => self.asd,
        }
    }

    /// Sets the limit of one window.
    pub fn set(&mut self, w: Window, v: Option<u64>) {
        let slot = match w {
            Window::Rpm => &mut self.rpm,
            Window::Tpm => &mut self.tpm,
            Window::Rpd => &mut self.rpd,
            Window::Tpd => &mut self.tpd,
            Window::Ash => &mut self.ash,
            Window::Asd => &mut self.asd,
        };
        *slot = v;
    }

    /// The windows that have a known limit, with it.
    pub fn known(&self) -> impl Iterator<Item = (Window, u64)> + '_ {
        Window::ALL
            .into_iter()
            .filter_map(|w| self.get(w).map(|l| (w, l)))
    }
}

/// Why a call failed: the `reason` of events and of the ledger. What each one does to the
/// reservation, the key, the model and the provider is the engine's failure policy
/// (`engine::policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// 429 over a window: waiting, then retrying, is right.
    RateLimited,
    /// One request exceeds a window's whole limit: that model can never take it.
    RequestTooLarge,
    /// The prompt does not fit the model's context window.
    ContextLength,
    /// The key is spent (insufficient_quota, credit limit, 402).
    QuotaExhausted,
    /// 401/403: the key is not accepted.
    Auth,
    /// The model was retired by the provider.
    Decommissioned,
    /// 503 or "over capacity": the provider is busy, not the key.
    Overloaded,
    /// Any other 5xx.
    ServerError,
    /// Connect, first byte or idle gap took too long.
    Timeout,
    /// The connection failed or broke.
    Connection,
    /// A malformed body or stream.
    BadResponse,
    /// The provider refused the request itself (a 400, 404, 405, 409 or 422 that is not a
    /// context, model or quota error; another 4xx; a 3xx): sending it again cannot help.
    InvalidRequest,
    /// A 403 that does not deny the key: this account may not use this model.
    ModelDenied,
    /// A failure on rota's side before anything reached the provider: a file it cannot
    /// read, no key configured for the endpoint, a request it cannot build or will not send.
    /// Says nothing about the provider, the model or the key.
    Local,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 14] = [
        Reason::RateLimited,
        Reason::RequestTooLarge,
        Reason::ContextLength,
        Reason::QuotaExhausted,
        Reason::Auth,
        Reason::Decommissioned,
        Reason::Overloaded,
        Reason::ServerError,
        Reason::Timeout,
        Reason::Connection,
        Reason::BadResponse,
        Reason::InvalidRequest,
        Reason::ModelDenied,
        Reason::Local,
    ];

    /// The snake_case name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::RequestTooLarge => "request_too_large",
            Reason::ContextLength => "context_length",
            Reason::QuotaExhausted => "quota_exhausted",
            Reason::Auth => "auth",
            Reason::Decommissioned => "decommissioned",
            Reason::Overloaded => "overloaded",
            Reason::ServerError => "server_error",
            Reason::Timeout => "timeout",
            Reason::Connection => "connection",
            Reason::BadResponse => "bad_response",
            Reason::InvalidRequest => "invalid_request",
            Reason::ModelDenied => "model_denied",
            Reason::Local => "local",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token counts a provider reports (or rota estimated when a stream was cut).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt, after the provider's chat template.
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ref_splits_at_first_slash() {
        let m: ModelRef = "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"
            .parse()
            .unwrap();
        assert_eq!(m.provider, "together");
        assert_eq!(m.id, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
        let c: ModelRef = "custom:local/qwen".parse().unwrap();
        assert_eq!(c.to_string(), "custom:local/qwen");
        assert!("nomodel".parse::<ModelRef>().is_err());
        assert!("/x".parse::<ModelRef>().is_err());
    }

    #[test]
    fn all_lists_every_reason_once_under_its_serialized_name() {
        // A new reason breaks this match until it is placed in `ALL` too.
        let place = |r: Reason| match r {
            Reason::RateLimited => 0,
            Reason::RequestTooLarge => 1,
            Reason::ContextLength => 2,
            Reason::QuotaExhausted => 3,
            Reason::Auth => 4,
            Reason::Decommissioned => 5,
            Reason::Overloaded => 6,
            Reason::ServerError => 7,
            Reason::Timeout => 8,
            Reason::Connection => 9,
            Reason::BadResponse => 10,
            Reason::InvalidRequest => 11,
            Reason::ModelDenied => 12,
            Reason::Local => 13,
        };
        for (i, r) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(place(r), i, "{r}");
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
        }
        assert_eq!(Reason::Local.as_str(), "local");
    }

    #[test]
    fn limits_get_set_roundtrip() {
        let mut l = Limits::default();
        for (i, w) in Window::ALL.into_iter().enumerate() {
            l.set(w, Some(i as u64 + 1));
        }
        for (i, w) in Window::ALL.into_iter().enumerate() {
            assert_eq!(l.get(w), Some(i as u64 + 1));
        }
        assert_eq!(l.known().count(), 6);
    }
}
