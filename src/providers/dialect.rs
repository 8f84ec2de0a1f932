//! What a dialect does differently from the OpenAI-compatible core, as one trait, and the
//! one place that picks a dialect's module ([`rules`]).
//!
//! Every method has the core's answer as its default, so a dialect's module states only
//! what differs: [`super::groq`], [`super::openai`], [`super::together`],
//! [`super::generic`]. The readers in [`super::read`] and the stream decoder ask the rules;
//! nothing else matches on a [`Dialect`] to read or write the wire.

use crate::engine::{Headers, RateReading};
use crate::model::{Dialect, Reason, Window};
use std::fmt::Debug;

/// A dialect's rules: how its replies are read and its requests written, where they differ
/// from the OpenAI-compatible core.
pub trait DialectRules: Debug + Sync {
    /// The windows the `x-ratelimit-*-requests` and `x-ratelimit-*-tokens` headers count.
    fn header_windows(&self) -> (Window, Window) {
        (Window::Rpm, Window::Tpm)
    }

    /// Rate readings from headers only this dialect sends, used when the core's
    /// `x-ratelimit-*` names gave none.
    fn own_readings(&self, _headers: &Headers) -> Vec<RateReading> {
        Vec::new()
    }

    /// The wait (ms) a failed reply implies when neither its message nor `retry-after`
    /// states one. Asked only for reasons the failure policy retries.
    fn implied_wait_ms(&self, _reason: Reason, _headers: &Headers) -> Option<u64> {
        None
    }

    /// Whether a chunk's usage may (also) sit in `x_groq.usage`.
    fn usage_in_x_groq(&self) -> bool {
        false
    }

    /// Whether choices carry a legacy `text` field duplicating `delta.content`, never to
    /// be read. (Elsewhere `text` is read only from choices that have no `delta`.)
    fn legacy_text_field(&self) -> bool {
        false
    }

    /// The request field that bounds the answer's length, for a reasoning model or not.
    fn answer_length_field(&self, _reasoning: bool) -> &'static str {
        "max_tokens"
    }
}

/// The rules of a dialect: the one dispatch from a [`Dialect`] to its module.
pub fn rules(dialect: Dialect) -> &'static dyn DialectRules {
    match dialect {
        Dialect::Groq => &super::groq::Groq,
        Dialect::OpenAi => &super::openai::OpenAi,
        Dialect::Together => &super::together::Together,
        Dialect::Generic => &super::generic::Generic,
    }
}
