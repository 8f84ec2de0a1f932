//! Any other OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, …): OpenAI's
//! shapes, read leniently. Nothing is assumed beyond the core: `x-ratelimit-*-requests`
//! headers, when a server sends them, count per minute.

use super::DialectRules;

/// A generic server's rules (the core's).
#[derive(Debug)]
pub struct Generic;

impl DialectRules for Generic {}
