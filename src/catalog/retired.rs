//! Models their providers retired: not in the catalog, and named in a config only by
//! mistake. A config that names one gets an error pointing at the replacement.

/// One retired model: provider, id, when it went, and what replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retired {
    /// `groq`, `openai`, `together`.
    pub provider: &'static str,
    /// The model id as the provider wrote it.
    pub id: &'static str,
    /// The day it stopped answering (the provider's deprecation page).
    pub date: &'static str,
    /// The model the provider names as its replacement, as `PROVIDER/ID`.
    pub replacement: &'static str,
}

/// Every retired model a config might still name (Groq's deprecations page,
/// https://console.groq.com/docs/deprecations, as quoted in public threads read 2026-12-04).
pub const RETIRED: &[Retired] = &[
    Retired {
        provider: "groq",
        id: "llama-3.1-8b-instant",
        date: "2026-08-16",
        replacement: "groq/openai/gpt-oss-20b",
    },
    Retired {
        provider: "groq",
        id: "llama-3.3-70b-versatile",
        date: "2026-08-16",
        replacement: "groq/openai/gpt-oss-120b",
    },
    Retired {
        provider: "groq",
        id: "meta-llama/llama-4-scout-17b-16e-instruct",
        date: "2026-07-17",
        replacement: "groq/qwen/qwen3.8-27b",
    },
    Retired {
        provider: "groq",
        id: "meta-llama/llama-4-maverick-17b-128e-instruct",
        date: "2026-03-09",
        replacement: "groq/qwen/qwen3.8-27b",
    },
    Retired {
        provider: "groq",
        id: "qwen/qwen3-32b",
        date: "2026-07-17",
        replacement: "groq/qwen/qwen3.8-27b",
    },
    Retired {
        provider: "groq",
        id: "moonshotai/kimi-k2-instruct-0905",
        date: "2026-04-15",
        replacement: "groq/openai/gpt-oss-120b",
    },
    Retired {
        provider: "groq",
        id: "moonshotai/kimi-k2-instruct",
        date: "2025-10-10",
        replacement: "groq/openai/gpt-oss-120b",
    },
    Retired {
        provider: "groq",
        id: "mixtral-8x7b-32768",
        date: "2025-03-20",
        replacement: "groq/openai/gpt-oss-20b",
    },
    Retired {
        provider: "groq",
        id: "llama-3.1-70b-versatile",
        date: "2025-01-24",
        replacement: "groq/openai/gpt-oss-120b",
    },
];

/// The retirement of `provider/id`, if the provider retired it.
pub fn retired(provider: &str, id: &str) -> Option<&'static Retired> {
    RETIRED
        .iter()
        .find(|r| r.provider == provider && r.id == id)
}

impl Retired {
    /// What a config error says about it: `groq/X was retired by groq on DATE; use R`.
    pub fn hint(&self) -> String {
        format!(
            "{}/{} was retired by {} on {}: use {} instead",
            self.provider, self.id, self.provider, self.date, self.replacement
        )
    }
}
