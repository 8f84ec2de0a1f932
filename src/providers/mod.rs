//! Providers: HTTP calls to OpenAI-compatible endpoints, SSE parsing, and reading replies
//! (error bodies, rate-limit headers) into what the engine learns from. A shared core plus
//! one small module per dialect.
//!
//! - [`Client`]: one pooled HTTP client per base URL; [`Client::chat`] streams an answer,
//!   [`Client::list_models`] checks a key, [`Client::transcribe`] uploads audio.
//! - [`ChatStream`] yields [`StreamEvent`]s; [`Assembler`] / [`ChatStream::collect`] fold
//!   them into a [`ChatOutcome`].
//! - [`discover`]: the models of a custom endpoint that declares none, from its `/models`.
//! - [`sse`]: the incremental SSE parser; [`assemble`]: chunks → events → answer.
//! - [`read`]: error bodies → [`crate::engine::Classified`] ([`classify`]), rate-limit
//!   headers → [`crate::engine::RateReading`]s ([`rate_readings`]), [`model_specific`].
//! - [`DialectRules`] and [`rules`]: what a dialect does differently; [`groq`], [`openai`],
//!   [`together`], [`generic`] each implement it with only what differs.
//! - [`CallError`]: every failure, with its [`crate::engine::Classified`] reading.

pub mod assemble;
pub mod check;
pub mod client;
pub mod core;
pub mod dialect;
pub mod discover;
pub mod error;
pub mod generic;
pub mod groq;
pub mod openai;
pub mod read;
pub mod sse;
pub mod together;

pub use assemble::{
    Assembler, ChatOutcome, StreamDecoder, StreamEvent, ToolCall, ToolCallDelta, decode_stream,
};
pub use client::{ChatStream, Client, TranscribeRequest, Transcription};
pub use dialect::{DialectRules, rules};
pub use error::{CallError, ErrorKind};
pub use read::{classify, model_specific, rate_readings, retry_after_ms};

use crate::config::{Defaults, KeyConfig, ProviderConfig};
use crate::model::Dialect;
use crate::secret::ApiKey;
use std::time::Duration;

/// Where to send a call: a provider's base URL and one of its keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The provider name (`groq`, `custom:local`, …).
    pub provider: String,
    /// How its replies are read.
    pub dialect: Dialect,
    /// Base URL without a trailing slash, e.g. `https://api.groq.com/openai/v1`.
    pub base_url: String,
    /// The key sent as `Authorization: Bearer …`; `None` sends no Authorization header.
    pub key: Option<ApiKey>,
}

impl Endpoint {
    /// The endpoint of one provider with one of its keys.
    pub fn new(provider: &ProviderConfig, key: &KeyConfig) -> Self {
        Self {
            provider: provider.name.clone(),
            dialect: Dialect::of_provider(&provider.name),
            base_url: provider.base_url.trim_end_matches('/').to_string(),
            key: key.key.clone(),
        }
    }

    /// `{base_url}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }
}

/// How long each phase of a call may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the connection (TCP + TLS).
    pub connect: Duration,
    /// From sending the request to the reply's headers (after `connect`), and from the
    /// headers to the first part of the answer (a streamed answer's first real event: see
    /// [`StreamDecoder::progress`]); for an upload, counted once it is sent.
    pub first_byte: Duration,
    /// The longest wait between two parts of an answer (keep-alive comments, empty `data:`
    /// lines and chunks with nothing in them are not progress), and the longest stall of an
    /// upload.
    pub idle: Duration,
    /// The longest one whole attempt may take, from sending the request to the last byte of
    /// the answer, however steadily it progresses (for a transcription: upload included).
    pub request: Duration,
}

impl From<&Defaults> for Timeouts {
    fn from(d: &Defaults) -> Self {
        Self {
            connect: d.connect_timeout,
            first_byte: d.first_byte_timeout,
            idle: d.idle_timeout,
            request: d.request_timeout,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::from(&Defaults::default())
    }
}
