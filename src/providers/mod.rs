//! Providers: HTTP calls to OpenAI-compatible endpoints, SSE parsing and each dialect's
//! quirks. A shared core plus one small module per dialect.
//!
//! - [`Client`]: one pooled HTTP client per base URL; [`Client::chat`] streams an answer,
//!   [`Client::list_models`] checks a key, [`Client::transcribe`] uploads audio.
//! - [`ChatStream`] yields [`StreamEvent`]s; [`Assembler`] / [`ChatStream::collect`] fold
//!   them into a [`ChatOutcome`].
//! - [`discover`]: the models of a custom endpoint that declares none, from its `/models`.
//! - [`sse`]: the incremental SSE parser; [`assemble`]: chunks → events → answer.
//! - [`groq`], [`openai`], [`together`], [`generic`]: only what differs per dialect.
//! - [`CallError`]: every failure, with the engine's [`crate::engine::Classified`] reading.

pub mod assemble;
pub mod check;
pub mod client;
pub mod core;
pub mod discover;
pub mod error;
pub mod generic;
pub mod groq;
pub mod openai;
pub mod sse;
pub mod together;

pub use assemble::{
    Assembler, ChatOutcome, StreamDecoder, StreamEvent, ToolCall, ToolCallDelta, decode_stream,
};
pub use client::{ChatStream, Client, TranscribeRequest, Transcription};
pub use error::{CallError, ErrorKind};

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
    /// headers to the first bytes of the body; for an upload, counted once it is sent.
    pub first_byte: Duration,
    /// The longest silence inside a body (SSE keep-alive comments count as activity),
    /// and the longest stall of an upload.
    pub idle: Duration,
}

impl From<&Defaults> for Timeouts {
    fn from(d: &Defaults) -> Self {
        Self {
            connect: d.connect_timeout,
            first_byte: d.first_byte_timeout,
            idle: d.idle_timeout,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::from(&Defaults::default())
    }
}

/// What a dialect does differently from the OpenAI-compatible core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quirks {
    /// Usage may (also) sit in `x_groq.usage`.
    pub usage_in_x_groq: bool,
    /// Choices carry a legacy `text` field duplicating `delta.content`: never read it.
    /// (Elsewhere `text` is read only from choices that have no `delta`.)
    pub legacy_text_field: bool,
}

/// The quirks of a dialect.
pub fn quirks(dialect: Dialect) -> &'static Quirks {
    match dialect {
        Dialect::Groq => &groq::QUIRKS,
        Dialect::OpenAi => &openai::QUIRKS,
        Dialect::Together => &together::QUIRKS,
        Dialect::Generic => &generic::QUIRKS,
    }
}
